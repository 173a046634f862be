// Device memory: large blocks (one VkDeviceMemory and one VkBuffer spanning it), carved into
// buffers by a first-fit free list, so a training step's many tensors cost no driver allocation
// each (Kompute's one-allocation-per-tensor is what we avoid). A request larger than half a
// block gets its own dedicated allocation. Every device_buffer is then (VkBuffer, offset, size),
// which is also the key the hazard tracker compares ranges on.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "device.hpp"

namespace kiln::vk {

namespace detail {

/// Where a device_buffer lives: a range of a block's VkBuffer, or a dedicated buffer.
struct allocation {
    VkBuffer buffer = VK_NULL_HANDLE;
    VkDeviceSize offset = 0;
    VkDeviceSize size = 0;                       // reserved bytes (rounded up)
    std::uint32_t block = 0;                     // index into the block list when not dedicated
    VkDeviceMemory dedicated = VK_NULL_HANDLE;   // set for dedicated allocations
};

/// Host-visible memory mapped for the lifetime of the context (staging and kernel parameters).
struct host_buffer {
    VkBuffer buffer = VK_NULL_HANDLE;
    VkDeviceMemory memory = VK_NULL_HANDLE;
    VkDeviceSize size = 0;
    unsigned char* data = nullptr;
    bool coherent = true;
};

class allocator {
public:
    static constexpr VkDeviceSize default_block = VkDeviceSize(64) << 20;

    explicit allocator(device_core& core) : core_(core) {
        const auto& lim = core.props.limits;
        align_ = std::max<VkDeviceSize>(256, lim.minStorageBufferOffsetAlignment);
        max_range_ = lim.maxStorageBufferRange;
        // Probe which memory types a storage buffer may use, then prefer device-local ones.
        VkBuffer probe = make_buffer(4096);
        VkMemoryRequirements req;
        api().vkGetBufferMemoryRequirements(core.device, probe, &req);
        api().vkDestroyBuffer(core.device, probe, nullptr);
        type_bits_ = req.memoryTypeBits;
        // Plain device-local first (not the small host-visible BAR window of a discrete GPU), then
        // any device-local type (unified memory, lavapipe), then anything.
        device_type_ = pick_type(type_bits_, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
        if (device_type_ == UINT32_MAX) device_type_ = pick_type(type_bits_, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
        if (device_type_ == UINT32_MAX) device_type_ = pick_type(type_bits_, 0, 0);
        heap_size_ = core.memory.memoryHeaps[core.memory.memoryTypes[device_type_].heapIndex].size;
        block_size_ = std::min<VkDeviceSize>({default_block, VkDeviceSize(max_range_) / align_ * align_, heap_size_ / 4});
        block_size_ = std::max<VkDeviceSize>(block_size_, VkDeviceSize(1) << 20);
        // KILN_VULKAN_MEMORY_LIMIT_MB caps what kiln takes from the heap (a shared GPU, or tests
        // of the out-of-memory path).
        if (const char* s = std::getenv("KILN_VULKAN_MEMORY_LIMIT_MB"); s && std::atoll(s) > 0)
            limit_ = std::min<VkDeviceSize>(heap_size_, VkDeviceSize(std::atoll(s)) << 20);
        else
            limit_ = heap_size_;
        block_size_ = std::min(block_size_, std::max<VkDeviceSize>(limit_ / 4 / align_ * align_, align_));
        spare_cap_ = std::min<VkDeviceSize>(VkDeviceSize(1) << 30, limit_ / 8);
    }
    allocator(const allocator&) = delete;
    allocator& operator=(const allocator&) = delete;
    ~allocator() {
        release_spares();
        for (auto& b : blocks_) {
            api().vkDestroyBuffer(core_.device, b.buffer, nullptr);
            api().vkFreeMemory(core_.device, b.memory, nullptr);
        }
    }

    /// Bytes handed out to live buffers (reserved sizes).
    std::size_t in_use() const { return static_cast<std::size_t>(in_use_); }
    /// Bytes held from the driver (blocks plus dedicated allocations).
    std::size_t reserved() const { return static_cast<std::size_t>(reserved_); }
    std::size_t block_count() const { return blocks_.size(); }
    VkDeviceSize block_size() const { return block_size_; }
    VkDeviceSize alignment() const { return align_; }

    allocation allocate(std::size_t bytes) {
        // Rounded up to the alignment, but never past what one descriptor may cover.
        VkDeviceSize want = std::min<VkDeviceSize>((VkDeviceSize(bytes) + align_ - 1) / align_ * align_, max_range_);
        if (bytes > max_range_)
            fail("[vulkan] a buffer of %zu bytes exceeds what one storage buffer can address on %s "
                 "(maxStorageBufferRange %u bytes); split the tensor", bytes, core_.props.deviceName, max_range_);
        if (want > block_size_ / 2) return allocate_dedicated(bytes, want);
        for (std::uint32_t i = 0; i < blocks_.size(); ++i)
            if (auto off = take(blocks_[i], want); off != VkDeviceSize(-1)) return finish(i, off, want);
        add_block(bytes);
        auto off = take(blocks_.back(), want);
        return finish(static_cast<std::uint32_t>(blocks_.size() - 1), off, want);
    }

    /// Returns a block range to its free list (dedicated memory is freed by the caller once the
    /// GPU is done with it). Immediate reuse is safe on the GPU timeline: the hazard tracker
    /// compares byte ranges, so the next user of the range waits behind the last one.
    void release_range(const allocation& a) {
        in_use_ -= a.size;
        auto& fl = blocks_[a.block].free;
        auto it = std::lower_bound(fl.begin(), fl.end(), std::make_pair(a.offset, VkDeviceSize(0)));
        it = fl.insert(it, {a.offset, a.size});
        // Coalesce with the neighbours so large requests keep fitting.
        if (it + 1 != fl.end() && it->first + it->second == (it + 1)->first) {
            it->second += (it + 1)->second;
            fl.erase(it + 1);
        }
        if (it != fl.begin() && (it - 1)->first + (it - 1)->second == it->first) {
            (it - 1)->second += it->second;
            fl.erase(it);
        }
    }
    /// Takes back a dedicated allocation the GPU is done with. It is kept for reuse while the
    /// kept ones total at most spare_cap_ bytes (a training step frees and requests the same
    /// large temporaries every step: im2col buffers, split-K partials; vkAllocateMemory costs
    /// about a millisecond for tens of MiB), else freed.
    void free_dedicated(VkBuffer b, VkDeviceMemory m, VkDeviceSize size) {
        if (spare_bytes_ + size <= spare_cap_) {
            spare_.push_back({b, m, size});
            spare_bytes_ += size;
            return;
        }
        destroy_dedicated(b, m, size);
    }
    /// Frees every kept dedicated allocation (before reporting out of memory, and at exit).
    void release_spares() {
        for (auto& d : spare_) destroy_dedicated(d.buffer, d.memory, d.size);
        spare_.clear();
        spare_bytes_ = 0;
    }
    /// Bytes of dedicated allocations kept for reuse.
    std::size_t spare_bytes() const { return static_cast<std::size_t>(spare_bytes_); }
    void forget_dedicated_use(VkDeviceSize size) { in_use_ -= size; }

    /// Mapped host memory; cached first (downloads read it), coherent preferred.
    host_buffer make_host(VkDeviceSize size, const char* what) {
        host_buffer h;
        h.size = size;
        h.buffer = make_buffer(size);
        VkMemoryRequirements req;
        api().vkGetBufferMemoryRequirements(core_.device, h.buffer, &req);
        const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT, hc = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
        std::uint32_t t = pick_type(req.memoryTypeBits, hv | hc | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
        if (t == UINT32_MAX) t = pick_type(req.memoryTypeBits, hv | hc, 0);
        if (t == UINT32_MAX) t = pick_type(req.memoryTypeBits, hv, 0);
        if (t == UINT32_MAX) fail("[vulkan] %s has no host-visible memory for %s", core_.props.deviceName, what);
        h.coherent = core_.memory.memoryTypes[t].propertyFlags & hc;
        auto mai = make<VkMemoryAllocateInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO);
        mai.allocationSize = req.size;
        mai.memoryTypeIndex = t;
        VkResult r = api().vkAllocateMemory(core_.device, &mai, nullptr, &h.memory);
        if (r != VK_SUCCESS) {
            api().vkDestroyBuffer(core_.device, h.buffer, nullptr);
            fail("[vulkan] out of host-visible memory: %s needs %llu bytes (%s)", what,
                 static_cast<unsigned long long>(size), result_name(r));
        }
        check(api().vkBindBufferMemory(core_.device, h.buffer, h.memory, 0), "vkBindBufferMemory");
        void* p = nullptr;
        check(api().vkMapMemory(core_.device, h.memory, 0, VK_WHOLE_SIZE, 0, &p), "vkMapMemory");
        h.data = static_cast<unsigned char*>(p);
        return h;
    }
    void destroy_host(host_buffer& h) {
        if (!h.buffer) return;
        api().vkUnmapMemory(core_.device, h.memory);
        api().vkDestroyBuffer(core_.device, h.buffer, nullptr);
        api().vkFreeMemory(core_.device, h.memory, nullptr);
        h = host_buffer{};
    }

private:
    struct block {
        VkDeviceMemory memory = VK_NULL_HANDLE;
        VkBuffer buffer = VK_NULL_HANDLE;
        VkDeviceSize size = 0;
        std::vector<std::pair<VkDeviceSize, VkDeviceSize>> free;  // (offset, size), sorted by offset
    };

    VkBuffer make_buffer(VkDeviceSize size) {
        auto bci = make<VkBufferCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO);
        bci.size = size;
        bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
        bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
        VkBuffer b = VK_NULL_HANDLE;
        check(api().vkCreateBuffer(core_.device, &bci, nullptr, &b), "vkCreateBuffer");
        return b;
    }
    std::uint32_t pick_type(std::uint32_t bits, VkMemoryPropertyFlags need, VkMemoryPropertyFlags avoid) const {
        for (std::uint32_t i = 0; i < core_.memory.memoryTypeCount; ++i) {
            auto fl = core_.memory.memoryTypes[i].propertyFlags;
            if ((bits >> i & 1u) && (fl & need) == need && !(fl & avoid)) return i;
        }
        return UINT32_MAX;
    }
    [[noreturn]] void out_of_memory(std::size_t bytes, VkDeviceSize asked, VkResult r) {
        fail("[vulkan] out of device memory: requested %zu bytes (a %llu-byte allocation), %zu bytes in use by kiln "
             "(%zu reserved in %zu blocks of %llu) on %s, heap %llu bytes, limit %llu (%s)",
             bytes, static_cast<unsigned long long>(asked), in_use(), reserved(), blocks_.size(),
             static_cast<unsigned long long>(block_size_), core_.props.deviceName,
             static_cast<unsigned long long>(heap_size_), static_cast<unsigned long long>(limit_), result_name(r));
    }
    // Allocates memory of exactly `size` bytes with a buffer over it; returns false on OOM.
    VkResult make_memory(VkDeviceSize size, VkBuffer& buf, VkDeviceMemory& mem) {
        buf = make_buffer(size);
        VkMemoryRequirements req;
        api().vkGetBufferMemoryRequirements(core_.device, buf, &req);
        auto mai = make<VkMemoryAllocateInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO);
        mai.allocationSize = req.size;
        mai.memoryTypeIndex = device_type_;
        VkResult r = reserved_ + req.size > limit_ ? VK_ERROR_OUT_OF_DEVICE_MEMORY
                                                   : api().vkAllocateMemory(core_.device, &mai, nullptr, &mem);
        if (r != VK_SUCCESS) {
            api().vkDestroyBuffer(core_.device, buf, nullptr);
            buf = VK_NULL_HANDLE;
            if (r == VK_ERROR_DEVICE_LOST) check(r, "vkAllocateMemory");
            return r;
        }
        check(api().vkBindBufferMemory(core_.device, buf, mem, 0), "vkBindBufferMemory");
        reserved_ += req.size;
        return VK_SUCCESS;
    }
    void add_block(std::size_t bytes) {
        block b;
        b.size = block_size_;
        VkResult r = make_memory(b.size, b.buffer, b.memory);
        if (r != VK_SUCCESS && !spare_.empty()) {
            release_spares();
            r = make_memory(b.size, b.buffer, b.memory);
        }
        if (r != VK_SUCCESS) out_of_memory(bytes, b.size, r);
        b.free.push_back({0, b.size});
        blocks_.push_back(std::move(b));
    }
    allocation allocate_dedicated(std::size_t bytes, VkDeviceSize want) {
        allocation a;
        // A kept allocation of at least `want` and at most 1.25x it, the smallest such.
        std::size_t pick = spare_.size();
        for (std::size_t i = 0; i < spare_.size(); ++i)
            if (spare_[i].size >= want && spare_[i].size - want <= want / 4 && (pick == spare_.size() || spare_[i].size < spare_[pick].size))
                pick = i;
        if (pick < spare_.size()) {
            a.buffer = spare_[pick].buffer;
            a.dedicated = spare_[pick].memory;
            a.size = spare_[pick].size;
            spare_bytes_ -= a.size;
            spare_.erase(spare_.begin() + static_cast<std::ptrdiff_t>(pick));
            in_use_ += a.size;
            return a;
        }
        VkResult r = make_memory(want, a.buffer, a.dedicated);
        if (r != VK_SUCCESS && !spare_.empty()) {
            release_spares();
            r = make_memory(want, a.buffer, a.dedicated);
        }
        if (r != VK_SUCCESS) out_of_memory(bytes, want, r);
        a.size = want;
        in_use_ += want;
        return a;
    }
    static VkDeviceSize take(block& b, VkDeviceSize want) {
        for (auto it = b.free.begin(); it != b.free.end(); ++it) {
            if (it->second < want) continue;
            VkDeviceSize off = it->first;
            it->first += want;
            it->second -= want;
            if (it->second == 0) b.free.erase(it);
            return off;
        }
        return VkDeviceSize(-1);
    }
    allocation finish(std::uint32_t i, VkDeviceSize off, VkDeviceSize want) {
        in_use_ += want;
        return allocation{blocks_[i].buffer, off, want, i, VK_NULL_HANDLE};
    }

    struct spare {
        VkBuffer buffer;
        VkDeviceMemory memory;
        VkDeviceSize size;
    };
    void destroy_dedicated(VkBuffer b, VkDeviceMemory m, VkDeviceSize size) {
        api().vkDestroyBuffer(core_.device, b, nullptr);
        api().vkFreeMemory(core_.device, m, nullptr);
        reserved_ -= size;
    }

    device_core& core_;
    std::vector<block> blocks_;
    std::vector<spare> spare_;
    VkDeviceSize spare_bytes_ = 0, spare_cap_ = 0;
    VkDeviceSize align_ = 256, block_size_ = default_block, heap_size_ = 0, limit_ = 0, in_use_ = 0, reserved_ = 0;
    std::uint32_t max_range_ = 0, type_bits_ = 0, device_type_ = 0;
};

// Defined in context.hpp (the owner of the allocator and of the GPU timeline).
allocation acquire_buffer(std::size_t bytes, std::uint64_t& generation);
void release_buffer(const allocation& a, std::uint64_t generation);

}  // namespace detail

/// Memory on the device, sub-allocated from large blocks. Move-only; freeing is safe while
/// recorded work still uses it (the range is reused only behind a barrier).
class device_buffer {
public:
    device_buffer() = default;
    /// Allocates `bytes` (contents undefined); fails with "[vulkan] out of device memory: ...".
    explicit device_buffer(std::size_t bytes) : bytes_(bytes) {
        if (bytes) a_ = detail::acquire_buffer(bytes, generation_);
    }
    device_buffer(device_buffer&& o) noexcept : a_(o.a_), bytes_(o.bytes_), generation_(o.generation_) { o.forget(); }
    device_buffer& operator=(device_buffer&& o) noexcept {
        if (this != &o) {
            reset();
            a_ = o.a_;
            bytes_ = o.bytes_;
            generation_ = o.generation_;
            o.forget();
        }
        return *this;
    }
    device_buffer(const device_buffer&) = delete;
    device_buffer& operator=(const device_buffer&) = delete;
    ~device_buffer() { reset(); }

    /// Size in bytes as requested.
    std::size_t bytes() const { return bytes_; }
    /// Size in floats.
    std::size_t floats() const { return bytes_ / sizeof(float); }
    bool empty() const { return bytes_ == 0; }
    /// Frees the memory now (the object becomes empty).
    void reset() {
        if (a_.buffer) detail::release_buffer(a_, generation_);
        forget();
    }
    /// Where the buffer lives (runtime internals).
    const detail::allocation& where() const { return a_; }

private:
    void forget() {
        a_ = detail::allocation{};
        bytes_ = 0;
        generation_ = 0;
    }
    detail::allocation a_{};
    std::size_t bytes_ = 0;
    std::uint64_t generation_ = 0;
};

}  // namespace kiln::vk
