// Command recording. Kernels append dispatches to the current command buffer; it is submitted
// at sync points (download, synchronize) or when a batch grows large, with at most two batches
// in flight. Barriers are inserted only on real hazards: the recorder remembers which byte
// ranges were read and written since the last barrier and adds one (a global memory barrier,
// which then covers everything before it) only when a new command reads or writes a range an
// earlier one wrote, or writes a range an earlier one read. The sets survive submissions: a
// barrier's first scope includes earlier submissions on the same queue, so a batch's first
// reader of last batch's output still gets its barrier.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "memory.hpp"
#include "pipeline.hpp"

namespace kiln::vk::detail {

/// One storage-buffer binding of a dispatch and how the shader uses it.
struct binding {
    VkBuffer buffer = VK_NULL_HANDLE;
    VkDeviceSize offset = 0;
    VkDeviceSize range = 0;
    bool write = false;
    bool tracked = true;   // false for per-batch host-written parameter memory
};

class recorder {
public:
    static constexpr std::uint32_t frames_in_flight = 2;
    static constexpr std::uint32_t max_batch = 256;          // dispatches before an early submit
    static constexpr VkDeviceSize params_bytes = 256 << 10;  // per-frame kernel parameter memory
    static constexpr std::uint32_t query_count = 256;

    recorder(device_core& core, allocator& alloc, pipeline_cache& pipes) : core_(core), alloc_(alloc), pipes_(pipes) {
        auto& f = api();
        auto pci = make<VkCommandPoolCreateInfo>(VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO);
        pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
        pci.queueFamilyIndex = core.queue_family;
        check(f.vkCreateCommandPool(core.device, &pci, nullptr, &pool_), "vkCreateCommandPool");
        param_align_ = std::max<VkDeviceSize>(64, core.props.limits.minStorageBufferOffsetAlignment);
        for (auto& fr : frames_) {
            auto ai = make<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
            ai.commandPool = pool_;
            ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
            ai.commandBufferCount = 1;
            check(f.vkAllocateCommandBuffers(core.device, &ai, &fr.cmd), "vkAllocateCommandBuffers");
            auto fci = make<VkFenceCreateInfo>(VK_STRUCTURE_TYPE_FENCE_CREATE_INFO);
            check(f.vkCreateFence(core.device, &fci, nullptr, &fr.fence), "vkCreateFence");
            fr.params = alloc.make_host(params_bytes, "kernel parameters");
            if (!core.push_descriptors) {
                // Fallback without VK_KHR_push_descriptor: one pool per frame, reset when the
                // frame's fence has signalled, so sets are never freed one by one.
                VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, max_batch * 10};
                auto dci = make<VkDescriptorPoolCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO);
                dci.maxSets = max_batch;
                dci.poolSizeCount = 1;
                dci.pPoolSizes = &ps;
                check(f.vkCreateDescriptorPool(core.device, &dci, nullptr, &fr.pool), "vkCreateDescriptorPool");
            }
        }
        if (core.timestamp_bits) {
            auto qci = make<VkQueryPoolCreateInfo>(VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO);
            qci.queryType = VK_QUERY_TYPE_TIMESTAMP;
            qci.queryCount = query_count;
            check(f.vkCreateQueryPool(core.device, &qci, nullptr, &queries_), "vkCreateQueryPool");
            if (const char* e = std::getenv("KILN_VULKAN_PROFILE"); e && *e && std::strcmp(e, "0") != 0) {
                qci.queryCount = frames_in_flight * profile_slots;
                check(f.vkCreateQueryPool(core.device, &qci, nullptr, &profile_pool_), "vkCreateQueryPool");
            }
        }
    }
    recorder(const recorder&) = delete;
    recorder& operator=(const recorder&) = delete;
    ~recorder() {
        auto& f = api();
        // Drain quietly: a destructor must not throw, and after device loss there is nothing to wait for.
        for (auto& fr : frames_) {
            if (fr.recording) f.vkEndCommandBuffer(fr.cmd);
            if (fr.in_flight) f.vkWaitForFences(core_.device, 1, &fr.fence, VK_TRUE, timeout_ns());
        }
        f.vkDeviceWaitIdle(core_.device);
        collect_garbage(true);
        for (auto& fr : frames_) {
            f.vkDestroyFence(core_.device, fr.fence, nullptr);
            if (fr.pool) f.vkDestroyDescriptorPool(core_.device, fr.pool, nullptr);
            alloc_.destroy_host(fr.params);
        }
        alloc_.destroy_host(staging_);
        if (queries_) f.vkDestroyQueryPool(core_.device, queries_, nullptr);
        if (profile_pool_) {
            f.vkDestroyQueryPool(core_.device, profile_pool_, nullptr);
            std::fprintf(stderr, "%s", profile_report().c_str());
        }
        f.vkDestroyCommandPool(core_.device, pool_, nullptr);
    }

    /// Copies `bytes` of kernel parameters into this batch's host-visible memory; returns the
    /// binding that shows them to the shader.
    binding params(const void* data, std::size_t bytes) {
        begin();
        frame& fr = frames_[cur_];
        VkDeviceSize at = (fr.params_used + param_align_ - 1) / param_align_ * param_align_;
        if (at + bytes > fr.params.size) {
            submit();
            begin();
            at = 0;
        }
        frame& g = frames_[cur_];
        std::memcpy(g.params.data + at, data, bytes);
        if (!g.params.coherent) flush_host(g.params, at, bytes);
        g.params_used = at + bytes;
        return binding{g.params.buffer, at, bytes, false, false};
    }

    /// Records one dispatch. Bindings are in binding order; `params` bindings (untracked) must
    /// come from params() of the same batch.
    void dispatch(const shader_info& s, const spec_constants& spec, const binding* b, std::uint32_t nb,
                  const void* push, std::uint32_t gx, std::uint32_t gy = 1, std::uint32_t gz = 1) {
        const pipeline_entry& p = pipes_.get(s, spec);  // may fail: do it before recording anything
        auto& f = api();
        begin();
        frame* fr = &frames_[cur_];
        VkDescriptorSet set = VK_NULL_HANDLE;
        if (!core_.push_descriptors) {
            auto ai = make<VkDescriptorSetAllocateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO);
            ai.descriptorPool = fr->pool;
            ai.descriptorSetCount = 1;
            ai.pSetLayouts = &p.set_layout;
            VkResult r = f.vkAllocateDescriptorSets(core_.device, &ai, &set);
            if (r == VK_ERROR_OUT_OF_POOL_MEMORY || r == VK_ERROR_FRAGMENTED_POOL) {
                for (std::uint32_t i = 0; i < nb; ++i)
                    if (!b[i].tracked) fail("[vulkan] internal: descriptor pool exhausted with parameters pending");
                submit();
                begin();
                fr = &frames_[cur_];
                ai.descriptorPool = fr->pool;
                r = f.vkAllocateDescriptorSets(core_.device, &ai, &set);
            }
            check(r, "vkAllocateDescriptorSets");
        }
        track(b, nb);
        VkDescriptorBufferInfo infos[16];
        VkWriteDescriptorSet writes[16];
        for (std::uint32_t i = 0; i < nb; ++i) {
            infos[i] = {b[i].buffer, b[i].offset, b[i].range};
            writes[i] = make<VkWriteDescriptorSet>(VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET);
            writes[i].dstSet = set;
            writes[i].dstBinding = i;
            writes[i].descriptorCount = 1;
            writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
            writes[i].pBufferInfo = &infos[i];
        }
        f.vkCmdBindPipeline(fr->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p.pipeline);
        if (core_.push_descriptors) {
            f.vkCmdPushDescriptorSetKHR(fr->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p.layout, 0, nb, writes);
        } else {
            f.vkUpdateDescriptorSets(core_.device, nb, writes, 0, nullptr);
            f.vkCmdBindDescriptorSets(fr->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p.layout, 0, 1, &set, 0, nullptr);
        }
        if (s.push_bytes) f.vkCmdPushConstants(fr->cmd, p.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, s.push_bytes, push);
        f.vkCmdDispatch(fr->cmd, gx, gy, gz);
        if (profile_pool_ && fr->labels.size() + 1 < profile_slots) {
            std::string label = s.name;
            const std::uint32_t shown = std::min<std::uint32_t>(spec.n, 3);
            for (std::uint32_t i = 0; i < shown; ++i) {
                label += i ? ',' : '[';
                label += std::to_string(spec.v[i]);
            }
            if (shown) label += ']';
            f.vkCmdWriteTimestamp(fr->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, profile_pool_,
                                  profile_base(*fr) + 1 + static_cast<std::uint32_t>(fr->labels.size()));
            fr->labels.push_back(std::move(label));
        }
        ++dispatches_;
        if (++fr->commands >= max_batch) submit();
    }

    /// Device -> device copy of `bytes` (vkCmdCopyBuffer: no shader), ordered like a dispatch.
    void copy(const allocation& src, VkDeviceSize src_offset, const allocation& dst, VkDeviceSize dst_offset, VkDeviceSize bytes) {
        begin();
        binding b[2] = {{src.buffer, src.offset + src_offset, bytes, false}, {dst.buffer, dst.offset + dst_offset, bytes, true}};
        track(b, 2);
        VkBufferCopy c{src.offset + src_offset, dst.offset + dst_offset, bytes};
        api().vkCmdCopyBuffer(frames_[cur_].cmd, src.buffer, dst.buffer, 1, &c);
        if (++frames_[cur_].commands >= max_batch) submit();
    }

    /// Host -> device through the staging buffer; returns before the GPU copies (src is
    /// consumed at once, so the caller may reuse it).
    void upload(const allocation& dst, VkDeviceSize dst_offset, const void* src, std::size_t bytes) {
        const auto* p = static_cast<const unsigned char*>(src);
        while (bytes) {
            VkDeviceSize at = 0, n = 0;
            reserve_staging(bytes, at, n);
            std::memcpy(staging_.data + at, p, n);
            if (!staging_.coherent) flush_host(staging_, at, n);
            binding b{dst.buffer, dst.offset + dst_offset, n, true};
            begin();
            track(&b, 1);
            VkBufferCopy c{at, dst.offset + dst_offset, n};
            api().vkCmdCopyBuffer(frames_[cur_].cmd, staging_.buffer, dst.buffer, 1, &c);
            if (++frames_[cur_].commands >= max_batch) submit();
            p += n;
            bytes -= static_cast<std::size_t>(n);
            dst_offset += n;
        }
    }

    /// Device -> host: submits everything recorded and waits, chunk by chunk.
    void download(const allocation& src, VkDeviceSize src_offset, void* dst, std::size_t bytes) {
        auto* p = static_cast<unsigned char*>(dst);
        while (bytes) {
            VkDeviceSize at = 0, n = 0;
            reserve_staging(bytes, at, n);
            binding b{src.buffer, src.offset + src_offset, n, false};
            begin();
            track(&b, 1);
            VkBufferCopy c{src.offset + src_offset, at, n};
            auto& f = api();
            f.vkCmdCopyBuffer(frames_[cur_].cmd, src.buffer, staging_.buffer, 1, &c);
            auto mb = make<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
            mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
            mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
            f.vkCmdPipelineBarrier(frames_[cur_].cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0,
                                   nullptr, 0, nullptr);
            synchronize();
            if (!staging_.coherent) {
                auto r = make<VkMappedMemoryRange>(VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE);
                r.memory = staging_.memory;
                r.size = VK_WHOLE_SIZE;
                check(f.vkInvalidateMappedMemoryRanges(core_.device, 1, &r), "vkInvalidateMappedMemoryRanges");
            }
            std::memcpy(p, staging_.data + at, n);
            p += n;
            bytes -= static_cast<std::size_t>(n);
            src_offset += n;
        }
    }

    /// Submits the open batch (if any) and waits for every batch in flight.
    void synchronize() {
        submit();
        for (std::uint32_t i = 0; i < frames_in_flight; ++i) wait(frames_[i]);
        staging_used_ = 0;
        collect_garbage(false);
    }

    /// Frees a dedicated allocation once no batch that may use it is still running.
    void defer_free(VkBuffer b, VkDeviceMemory m, VkDeviceSize size) {
        garbage_.push_back({b, m, size, frames_[cur_].recording ? serial_ + 1 : serial_});
        if (!any_in_flight() && !frames_[cur_].recording) collect_garbage(false);
    }

    /// Records a timestamp after all earlier work; returns its query slot.
    std::uint32_t timestamp() {
        if (!queries_) fail("[vulkan] %s has no timestamp support on its compute queue", core_.props.deviceName);
        begin();
        std::uint32_t q = next_query_++ % query_count;
        auto& f = api();
        f.vkCmdResetQueryPool(frames_[cur_].cmd, queries_, q, 1);
        f.vkCmdWriteTimestamp(frames_[cur_].cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, q);
        return q;
    }
    /// Seconds between two timestamps (synchronizes first).
    double elapsed(std::uint32_t a, std::uint32_t b) {
        synchronize();
        std::uint64_t t[2] = {};
        check(api().vkGetQueryPoolResults(core_.device, queries_, a, 1, 8, &t[0], 8, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
              "vkGetQueryPoolResults");
        check(api().vkGetQueryPoolResults(core_.device, queries_, b, 1, 8, &t[1], 8, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
              "vkGetQueryPoolResults");
        std::uint64_t mask = core_.timestamp_bits >= 64 ? ~0ull : ((1ull << core_.timestamp_bits) - 1);
        std::uint64_t ticks = (t[1] - t[0]) & mask;
        return static_cast<double>(ticks) * core_.props.limits.timestampPeriod * 1e-9;
    }

    /// With KILN_VULKAN_PROFILE=1: GPU time per kernel (shader name and its first specialisation
    /// constants), each dispatch charged the time since the previous one in its batch finished
    /// (so waits at barriers and transfers count too), summed over finished batches. The report
    /// is also printed to stderr when the context is destroyed.
    struct profile_entry {
        std::size_t count = 0;
        double seconds = 0;
    };
    bool profiling() const { return profile_pool_ != VK_NULL_HANDLE; }
    const std::map<std::string, profile_entry>& profile() const { return profile_; }
    std::string profile_report() const {
        std::vector<std::pair<std::string, profile_entry>> rows(profile_.begin(), profile_.end());
        std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
        double total = 0;
        for (const auto& r : rows) total += r.second.seconds;
        std::string out = "[vulkan] profile (KILN_VULKAN_PROFILE): kernel, dispatches, total ms, share\n";
        char line[256];
        for (const auto& r : rows) {
            std::snprintf(line, sizeof line, "  %-28s %8zu %10.3f %5.1f%%\n", r.first.c_str(), r.second.count, r.second.seconds * 1e3,
                          total > 0 ? 100 * r.second.seconds / total : 0.0);
            out += line;
        }
        return out;
    }
    std::size_t dispatch_count() const { return dispatches_; }
    std::size_t barrier_count() const { return barriers_; }
    std::size_t submit_count() const { return submits_; }

private:
    struct frame {
        VkCommandBuffer cmd = VK_NULL_HANDLE;
        VkFence fence = VK_NULL_HANDLE;
        VkDescriptorPool pool = VK_NULL_HANDLE;
        host_buffer params;
        VkDeviceSize params_used = 0;
        std::uint32_t commands = 0;
        std::uint64_t serial = 0;
        bool recording = false, in_flight = false;
        std::vector<std::string> labels;  // profiling: one per dispatch timed
    };
    struct range {
        VkBuffer buffer;
        VkDeviceSize begin, end;
    };
    struct dead {
        VkBuffer buffer;
        VkDeviceMemory memory;
        VkDeviceSize size;
        std::uint64_t after;  // free once this serial has completed
    };

    std::uint64_t timeout_ns() const { return static_cast<std::uint64_t>(core_.timeout_s * 1e9); }
    bool any_in_flight() const {
        for (auto& fr : frames_)
            if (fr.in_flight) return true;
        return false;
    }

    void begin() {
        frame& fr = frames_[cur_];
        if (fr.recording) return;
        wait(fr);
        auto& f = api();
        check(f.vkResetCommandBuffer(fr.cmd, 0), "vkResetCommandBuffer");
        if (fr.pool) check(f.vkResetDescriptorPool(core_.device, fr.pool, 0), "vkResetDescriptorPool");
        auto bi = make<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
        bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
        check(f.vkBeginCommandBuffer(fr.cmd, &bi), "vkBeginCommandBuffer");
        if (profile_pool_) {
            f.vkCmdResetQueryPool(fr.cmd, profile_pool_, profile_base(fr), profile_slots);
            f.vkCmdWriteTimestamp(fr.cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, profile_pool_, profile_base(fr));
            fr.labels.clear();
        }
        fr.params_used = 0;
        fr.commands = 0;
        fr.recording = true;
    }

    void submit() {
        frame& fr = frames_[cur_];
        if (!fr.recording) return;
        auto& f = api();
        fr.recording = false;
        check(f.vkEndCommandBuffer(fr.cmd), "vkEndCommandBuffer");
        check(f.vkResetFences(core_.device, 1, &fr.fence), "vkResetFences");
        auto si = make<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
        si.commandBufferCount = 1;
        si.pCommandBuffers = &fr.cmd;
        check(f.vkQueueSubmit(core_.queue, 1, &si, fr.fence), "vkQueueSubmit");
        fr.in_flight = true;
        fr.serial = ++serial_;
        ++submits_;
        cur_ = (cur_ + 1) % frames_in_flight;
    }

    void wait(frame& fr) {
        if (!fr.in_flight) return;
        VkResult r = api().vkWaitForFences(core_.device, 1, &fr.fence, VK_TRUE, timeout_ns());
        if (r == VK_TIMEOUT)
            fail("[vulkan] the GPU did not finish within %g s (KILN_VULKAN_TIMEOUT) on %s: a kernel is hung or far too "
                 "large; the context is unusable, call kiln::vk::context::reset()", core_.timeout_s, core_.props.deviceName);
        check(r, "vkWaitForFences");
        fr.in_flight = false;
        if (profile_pool_ && !fr.labels.empty()) {
            std::vector<std::uint64_t> t(fr.labels.size() + 1);
            check(api().vkGetQueryPoolResults(core_.device, profile_pool_, profile_base(fr), static_cast<std::uint32_t>(t.size()),
                                              t.size() * 8, t.data(), 8, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
                  "vkGetQueryPoolResults");
            const std::uint64_t mask = core_.timestamp_bits >= 64 ? ~0ull : ((1ull << core_.timestamp_bits) - 1);
            for (std::size_t i = 0; i < fr.labels.size(); ++i) {
                auto& e = profile_[fr.labels[i]];
                e.count += 1;
                e.seconds += double((t[i + 1] - t[i]) & mask) * core_.props.limits.timestampPeriod * 1e-9;
            }
            fr.labels.clear();
        }
        completed_ = std::max(completed_, fr.serial);
    }

    void collect_garbage(bool all) {
        std::size_t keep = 0;
        for (auto& g : garbage_) {
            if (all || g.after <= completed_) alloc_.free_dedicated(g.buffer, g.memory, g.size);
            else garbage_[keep++] = g;
        }
        garbage_.resize(keep);
    }

    static bool overlaps(const std::vector<range>& set, const range& r) {
        for (auto& s : set)
            if (s.buffer == r.buffer && s.begin < r.end && r.begin < s.end) return true;
        return false;
    }

    // Read-after-write, write-after-write and write-after-read need a barrier; nothing else.
    void track(const binding* b, std::uint32_t nb) {
        bool hazard = reads_.size() + writes_.size() > 512;  // bound the linear scans
        for (std::uint32_t i = 0; i < nb && !hazard; ++i) {
            if (!b[i].tracked) continue;
            range r{b[i].buffer, b[i].offset, b[i].offset + b[i].range};
            hazard = overlaps(writes_, r) || (b[i].write && overlaps(reads_, r));
        }
        if (hazard) {
            auto mb = make<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
            mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
            mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                               VK_ACCESS_TRANSFER_WRITE_BIT;
            const VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
            api().vkCmdPipelineBarrier(frames_[cur_].cmd, st, st, 0, 1, &mb, 0, nullptr, 0, nullptr);
            reads_.clear();
            writes_.clear();
            ++barriers_;
        }
        for (std::uint32_t i = 0; i < nb; ++i) {
            if (!b[i].tracked) continue;
            range r{b[i].buffer, b[i].offset, b[i].offset + b[i].range};
            (b[i].write ? writes_ : reads_).push_back(r);
        }
    }

    void flush_host(const host_buffer& h, VkDeviceSize, VkDeviceSize) {
        auto r = make<VkMappedMemoryRange>(VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE);
        r.memory = h.memory;
        r.size = VK_WHOLE_SIZE;
        check(api().vkFlushMappedMemoryRanges(core_.device, 1, &r), "vkFlushMappedMemoryRanges");
    }

    // A staging window of up to `bytes` (at least a useful chunk). The staging buffer grows to
    // 64 MiB; it is reused from the start only once everything in flight has finished.
    void reserve_staging(std::size_t bytes, VkDeviceSize& at, VkDeviceSize& n) {
        const VkDeviceSize max_staging = VkDeviceSize(64) << 20, chunk_min = VkDeviceSize(1) << 20;
        VkDeviceSize want = std::min<VkDeviceSize>(bytes, max_staging);
        if (staging_.size < max_staging && staging_.size - std::min(staging_.size, staging_used_) < want) {
            synchronize();
            VkDeviceSize size = std::max<VkDeviceSize>(staging_.size * 2, VkDeviceSize(4) << 20);
            while (size < want && size < max_staging) size *= 2;
            alloc_.destroy_host(staging_);
            staging_ = alloc_.make_host(std::min(size, max_staging), "staging");
        }
        at = (staging_used_ + 15) / 16 * 16;
        if (at >= staging_.size || staging_.size - at < std::min(want, chunk_min)) {
            synchronize();
            at = 0;
        }
        n = std::min<VkDeviceSize>(want, staging_.size - at);
        staging_used_ = at + n;
    }

    device_core& core_;
    allocator& alloc_;
    pipeline_cache& pipes_;
    VkCommandPool pool_ = VK_NULL_HANDLE;
    static constexpr std::uint32_t profile_slots = max_batch + 2;
    std::uint32_t profile_base(const frame& fr) const { return static_cast<std::uint32_t>(&fr - frames_) * profile_slots; }

    VkQueryPool queries_ = VK_NULL_HANDLE, profile_pool_ = VK_NULL_HANDLE;
    std::map<std::string, profile_entry> profile_;
    frame frames_[frames_in_flight];
    std::uint32_t cur_ = 0, next_query_ = 0;
    VkDeviceSize param_align_ = 64, staging_used_ = 0;
    host_buffer staging_;
    std::vector<range> reads_, writes_;
    std::vector<dead> garbage_;
    std::uint64_t serial_ = 0, completed_ = 0;
    std::size_t dispatches_ = 0, barriers_ = 0, submits_ = 0;
};

}  // namespace kiln::vk::detail
