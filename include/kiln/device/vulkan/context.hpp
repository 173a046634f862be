// The one lazily created Vulkan context: device, memory, pipelines and the command recorder,
// plus the transfer and sync entry points. Not thread-safe: drive it from one thread.
#pragma once

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "command.hpp"

namespace kiln::vk {

class context {
public:
    /// The context, created on first use; fails with "[vulkan] no Vulkan device found: ..." when
    /// there is no loader, driver or usable device, or when KILN_VULKAN_DEVICE names none.
    static context& instance() {
        context* c = slot().get();
        if (c) return *c;
        std::string err;
        c = create(err);
        if (!c) fail("%s", err.c_str());
        return *c;
    }
    /// True when instance() would succeed; never fails (a failed probe is retried next call).
    static bool available() {
        if (slot()) return true;
        std::string err;
        return create(err) != nullptr;
    }
    /// The context if one exists, else nullptr (creates nothing).
    static context* current() { return slot().get(); }
    /// Destroys the context (after VK_ERROR_DEVICE_LOST, or to pick another device); the next
    /// use creates a new one. Work recorded but not yet submitted is dropped, and buffers from
    /// the old context become inert (freeing them is a no-op).
    static void reset() {
        slot().reset();
        ++generation_counter();
    }

    const char* device_name() const { return core_.props.deviceName; }
    /// "discrete GPU", "integrated GPU", "CPU", ...
    const char* device_type() const { return detail::device_type_name(core_.props.deviceType); }
    bool is_cpu() const { return core_.props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU; }
    /// Whether elementwise programs are compiled per expression (elementwise_jit.comp): on GPUs,
    /// not on CPU devices (lavapipe compiles each pipeline with LLVM, slowly, and its interpreter
    /// has no local-memory penalty). KILN_VULKAN_EW_JIT=0 or 1 overrides; read when the context starts.
    bool ew_jit() const { return ew_jit_; }
    /// Validation warnings and errors reported since the context was created.
    std::size_t validation_messages() const { return detail::validation_count().load() - core_.validation_at_start; }
    bool validation_enabled() const { return core_.validation; }
    bool push_descriptors() const { return core_.push_descriptors; }
    /// Streaming multiprocessors where the driver reports them (NVIDIA), else 0.
    std::uint32_t compute_units() const { return core_.compute_units; }
    const VkPhysicalDeviceLimits& limits() const { return core_.props.limits; }
    std::size_t max_buffer_bytes() const { return core_.props.limits.maxStorageBufferRange; }
    /// Device bytes held by live buffers, and held from the driver.
    std::size_t memory_in_use() const { return alloc_.in_use(); }
    std::size_t memory_reserved() const { return alloc_.reserved(); }
    /// Bytes of freed large (dedicated) allocations kept for reuse (counted in memory_reserved).
    std::size_t memory_spare() const { return alloc_.spare_bytes(); }
    std::size_t pipeline_count() const { return pipes_.size(); }
    /// The file the driver's compiled pipelines persist in ("" when off), and whether it held usable data at start.
    const std::string& pipeline_cache_path() const { return pipes_.path(); }
    bool pipeline_cache_loaded() const { return pipes_.loaded(); }
    std::size_t dispatch_count() const { return rec_.dispatch_count(); }
    std::size_t barrier_count() const { return rec_.barrier_count(); }
    std::size_t submit_count() const { return rec_.submit_count(); }

    // Runtime internals (kernels.hpp).
    detail::recorder& recorder() { return rec_; }
    detail::allocator& memory() { return alloc_; }
    detail::device_core& core() { return core_; }
    std::uint64_t generation() const { return generation_; }

    context(const context&) = delete;
    context& operator=(const context&) = delete;
    ~context() = default;

private:
    // Members are built in order and destroyed in reverse: the recorder drains the GPU before
    // the pipelines, memory and device go.
    struct core_holder {
        detail::device_core core;
    };
    explicit context(std::unique_ptr<core_holder> h)
        : holder_(std::move(h)), core_(holder_->core), alloc_(core_), pipes_(core_), rec_(core_, alloc_, pipes_),
          generation_(++generation_counter()) {
        const char* e = std::getenv("KILN_VULKAN_EW_JIT");
        ew_jit_ = e && *e ? std::strcmp(e, "0") != 0 : !is_cpu();
    }

    static std::unique_ptr<context>& slot() {
        static std::unique_ptr<context> c;
        return c;
    }
    static std::uint64_t& generation_counter() {
        static std::uint64_t g = 0;
        return g;
    }
    static context* create(std::string& err) {
        auto h = std::make_unique<core_holder>();
        err = h->core.init();
        if (!err.empty()) return nullptr;
        slot().reset(new context(std::move(h)));
        return slot().get();
    }

    std::unique_ptr<core_holder> holder_;
    detail::device_core& core_;
    detail::allocator alloc_;
    detail::pipeline_cache pipes_;
    detail::recorder rec_;
    std::uint64_t generation_;
    bool ew_jit_ = false;
};

namespace detail {
inline allocation acquire_buffer(std::size_t bytes, std::uint64_t& generation) {
    context& c = context::instance();
    generation = c.generation();
    return c.memory().allocate(bytes);
}
inline void release_buffer(const allocation& a, std::uint64_t generation) {
    // Buffers that outlive their context (reset, or static destruction order) own nothing.
    context* c = context::current();
    if (!c || c->generation() != generation) return;
    if (a.dedicated) {
        c->memory().forget_dedicated_use(a.size);
        c->recorder().defer_free(a.buffer, a.dedicated, a.size);
    } else {
        c->memory().release_range(a);
    }
}
inline void check_range(const device_buffer& b, std::size_t offset, std::size_t bytes, const char* what) {
    if (offset > b.bytes() || bytes > b.bytes() - offset)
        fail("[vulkan] %s: bytes [%zu, %zu) are outside a buffer of %zu bytes", what, offset, offset + bytes, b.bytes());
}
}  // namespace detail

/// Copies `bytes` from host memory into dst at byte offset dst_offset. src is read before this
/// returns; the copy is ordered after earlier recorded work that touches dst.
inline void upload(device_buffer& dst, const void* src, std::size_t bytes, std::size_t dst_offset = 0) {
    if (!bytes) return;
    detail::check_range(dst, dst_offset, bytes, "upload");
    context::instance().recorder().upload(dst.where(), dst_offset, src, bytes);
}
/// Copies `bytes` at byte offset src_offset of src to host memory; submits all recorded work and waits.
inline void download(const device_buffer& src, void* dst, std::size_t bytes, std::size_t src_offset = 0) {
    if (!bytes) return;
    detail::check_range(src, src_offset, bytes, "download");
    context::instance().recorder().download(src.where(), src_offset, dst, bytes);
}
/// Submits everything recorded so far and waits for it.
inline void synchronize() { context::instance().recorder().synchronize(); }

/// GPU time between start() and stop(), from timestamp queries (for benchmarks).
class gpu_timer {
public:
    void start() { a_ = context::instance().recorder().timestamp(); }
    void stop() { b_ = context::instance().recorder().timestamp(); }
    /// Seconds between the two marks; synchronizes.
    double seconds() { return context::instance().recorder().elapsed(a_, b_); }

private:
    std::uint32_t a_ = 0, b_ = 0;
};

}  // namespace kiln::vk
