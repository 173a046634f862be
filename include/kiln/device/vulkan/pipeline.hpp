// Lazy pipelines: one VkPipelineCache and a map from (shader, specialisation constants) to a
// compute pipeline, built on first use. What kiln knows at compile time enters as
// specialisation constants, so the driver compiles each variant with it folded in, the way the
// CPU kernels are instantiated per shape: GEMM tiles, transposes and vector alignment, the
// convolution and pooling geometry, and (on GPUs) each elementwise expression's program. GEMM
// sizes and elementwise extents stay run-time parameters: one tile's pipeline serves every
// size, and split-K slices and batched views vary them within one op.
//
// The driver's compiled pipelines persist between runs in a file (KILN_VULKAN_PIPELINE_CACHE:
// a directory; default $XDG_CACHE_HOME/kiln or ~/.cache/kiln; "0" turns it off), one per
// device and driver, read when the context starts and written (temp file, then rename) when
// it ends, if new pipelines were built. Data whose header does not name this device, driver
// and pipeline-cache UUID is ignored, like a missing file; a cache that cannot be written costs
// nothing but the next start's compile time.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "device.hpp"

namespace kiln::vk::detail {

/// A compute shader embedded as SPIR-V, with its interface: `bindings` storage buffers at
/// set 0, bindings 0..n-1, and a push-constant block of `push_bytes`.
struct shader_info {
    const char* name;
    const std::uint32_t* code;
    std::size_t code_bytes;
    std::uint32_t bindings;
    std::uint32_t push_bytes;
};

/// Specialisation constants (constant_id i = v[i]); a fixed array so a lookup allocates nothing.
struct spec_constants {
    static constexpr std::uint32_t max = 67;  // elementwise_jit.comp: 3 + 64 instructions
    std::uint32_t v[max] = {};
    std::uint32_t n = 0;
    spec_constants() = default;
    spec_constants(std::initializer_list<std::uint32_t> l) {
        if (l.size() > max) fail("[vulkan] internal: too many specialisation constants");
        for (std::uint32_t x : l) v[n++] = x;
    }
    friend bool operator<(const spec_constants& a, const spec_constants& b) {
        if (a.n != b.n) return a.n < b.n;
        for (std::uint32_t i = 0; i < a.n; ++i)
            if (a.v[i] != b.v[i]) return a.v[i] < b.v[i];
        return false;
    }
};

struct pipeline_entry {
    VkPipeline pipeline = VK_NULL_HANDLE;
    VkPipelineLayout layout = VK_NULL_HANDLE;
    VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
};

class pipeline_cache {
public:
    explicit pipeline_cache(device_core& core) : core_(core), path_(cache_path(core.props)) {
        std::vector<unsigned char> data = read_cache(path_, core.props);
        auto ci = make<VkPipelineCacheCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO);
        ci.initialDataSize = data.size();
        ci.pInitialData = data.empty() ? nullptr : data.data();
        loaded_ = !data.empty();
        check(api().vkCreatePipelineCache(core.device, &ci, nullptr, &cache_), "vkCreatePipelineCache");
    }
    pipeline_cache(const pipeline_cache&) = delete;
    pipeline_cache& operator=(const pipeline_cache&) = delete;
    ~pipeline_cache() {
        auto& f = api();
        for (auto& [k, e] : pipelines_) f.vkDestroyPipeline(core_.device, e.pipeline, nullptr);
        for (auto& [k, l] : layouts_) {
            f.vkDestroyPipelineLayout(core_.device, l.layout, nullptr);
            f.vkDestroyDescriptorSetLayout(core_.device, l.set_layout, nullptr);
        }
        for (auto& [k, m] : modules_) f.vkDestroyShaderModule(core_.device, m, nullptr);
        if (built_) save();
        f.vkDestroyPipelineCache(core_.device, cache_, nullptr);
    }

    /// The cache file ("" when persistence is off) and whether it held usable data at start.
    const std::string& path() const { return path_; }
    bool loaded() const { return loaded_; }

    /// The pipeline for `s` with these specialisation constants (constant_id i = spec[i]).
    const pipeline_entry& get(const shader_info& s, const spec_constants& spec) {
        key k{&s, spec};
        if (auto it = pipelines_.find(k); it != pipelines_.end()) return it->second;
        pipeline_entry e = layout_for(s);
        VkShaderModule mod = module_for(s);
        VkSpecializationMapEntry map[spec_constants::max];
        for (std::uint32_t i = 0; i < spec.n; ++i) map[i] = {i, i * 4u, 4u};
        VkSpecializationInfo si{spec.n, map, spec.n * 4u, spec.v};
        auto ci = make<VkComputePipelineCreateInfo>(VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO);
        ci.stage = make<VkPipelineShaderStageCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO);
        ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
        ci.stage.module = mod;
        ci.stage.pName = "main";
        ci.stage.pSpecializationInfo = spec.n ? &si : nullptr;
        ci.layout = e.layout;
        VkResult r = api().vkCreateComputePipelines(core_.device, cache_, 1, &ci, nullptr, &e.pipeline);
        if (r != VK_SUCCESS) {
            if (r == VK_ERROR_DEVICE_LOST) check(r, "vkCreateComputePipelines");
            fail("[vulkan] could not build the compute pipeline for shader '%s' (specialisation %s) on %s: %s",
                 s.name, spec_text(spec).c_str(), core_.props.deviceName, result_name(r));
        }
        built_ = true;
        return pipelines_.emplace(std::move(k), e).first->second;
    }

    std::size_t size() const { return pipelines_.size(); }

private:
    using key = std::pair<const shader_info*, spec_constants>;
    struct layouts {
        VkDescriptorSetLayout set_layout;
        VkPipelineLayout layout;
    };

    static std::string spec_text(const spec_constants& spec) {
        std::string t = "[";
        for (std::uint32_t i = 0; i < spec.n; ++i) t += (i ? ", " : "") + std::to_string(spec.v[i]);
        return t + "]";
    }
    VkShaderModule module_for(const shader_info& s) {
        if (auto it = modules_.find(s.name); it != modules_.end()) return it->second;
        auto ci = make<VkShaderModuleCreateInfo>(VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO);
        ci.codeSize = s.code_bytes;
        ci.pCode = s.code;
        VkShaderModule m = VK_NULL_HANDLE;
        VkResult r = api().vkCreateShaderModule(core_.device, &ci, nullptr, &m);
        if (r != VK_SUCCESS) fail("[vulkan] could not load shader '%s' on %s: %s", s.name, core_.props.deviceName, result_name(r));
        modules_.emplace(s.name, m);
        return m;
    }
    // Pipelines with the same binding count and push size share one layout, so switching
    // between them keeps pushed descriptors and constants compatible.
    pipeline_entry layout_for(const shader_info& s) {
        auto k = std::make_pair(s.bindings, s.push_bytes);
        auto it = layouts_.find(k);
        if (it == layouts_.end()) {
            std::vector<VkDescriptorSetLayoutBinding> b(s.bindings);
            for (std::uint32_t i = 0; i < s.bindings; ++i)
                b[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
            auto dci = make<VkDescriptorSetLayoutCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO);
            dci.flags = core_.push_descriptors ? VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR : 0;
            dci.bindingCount = s.bindings;
            dci.pBindings = b.data();
            layouts l{};
            check(api().vkCreateDescriptorSetLayout(core_.device, &dci, nullptr, &l.set_layout), "vkCreateDescriptorSetLayout");
            VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, s.push_bytes};
            auto lci = make<VkPipelineLayoutCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO);
            lci.setLayoutCount = 1;
            lci.pSetLayouts = &l.set_layout;
            lci.pushConstantRangeCount = s.push_bytes ? 1u : 0u;
            lci.pPushConstantRanges = &range;
            check(api().vkCreatePipelineLayout(core_.device, &lci, nullptr, &l.layout), "vkCreatePipelineLayout");
            it = layouts_.emplace(k, l).first;
        }
        pipeline_entry e;
        e.layout = it->second.layout;
        e.set_layout = it->second.set_layout;
        return e;
    }

    // VkPipelineCacheHeaderVersionOne: length, version, vendor, device, UUID (32 bytes).
    static bool header_matches(const unsigned char* d, std::size_t n, const VkPhysicalDeviceProperties& p) {
        if (n < 32) return false;
        std::uint32_t w[4];
        std::memcpy(w, d, sizeof w);
        return w[0] >= 32 && w[0] <= n && w[1] == VK_PIPELINE_CACHE_HEADER_VERSION_ONE && w[2] == p.vendorID &&
               w[3] == p.deviceID && std::memcmp(d + 16, p.pipelineCacheUUID, VK_UUID_SIZE) == 0;
    }
    static std::string cache_path(const VkPhysicalDeviceProperties& p) {
        std::string dir;
        if (const char* e = std::getenv("KILN_VULKAN_PIPELINE_CACHE"); e) {
            if (!*e || std::strcmp(e, "0") == 0) return "";
            dir = e;
        } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
            dir = std::string(x) + "/kiln";
        } else if (const char* h = std::getenv("HOME"); h && *h) {
            dir = std::string(h) + "/.cache/kiln";
        } else {
            return "";
        }
        char name[96];
        std::snprintf(name, sizeof name, "/vulkan-pipelines-%04x-%04x-%08x.bin", p.vendorID, p.deviceID, p.driverVersion);
        return dir + name;
    }
    static std::vector<unsigned char> read_cache(const std::string& path, const VkPhysicalDeviceProperties& p) {
        std::vector<unsigned char> d;
        if (path.empty()) return d;
        std::FILE* f = std::fopen(path.c_str(), "rb");
        if (!f) return d;
        unsigned char buf[1 << 16];
        for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0 && d.size() < (std::size_t(1) << 30);)
            d.insert(d.end(), buf, buf + n);
        std::fclose(f);
        if (!header_matches(d.data(), d.size(), p)) d.clear();  // another device or driver, or damaged
        return d;
    }
    // Best effort: the directories are created, the data written to a temp file and renamed over
    // the old one, so a crash or a full disk never leaves a half-written cache.
    void save() const {
        if (path_.empty()) return;
        std::size_t n = 0;
        if (api().vkGetPipelineCacheData(core_.device, cache_, &n, nullptr) != VK_SUCCESS || n == 0) return;
        std::vector<unsigned char> d(n);
        if (api().vkGetPipelineCacheData(core_.device, cache_, &n, d.data()) != VK_SUCCESS) return;
        for (std::size_t i = 1; i < path_.size(); ++i)
            if (path_[i] == '/') ::mkdir(path_.substr(0, i).c_str(), 0755);
        const std::string tmp = path_ + ".tmp" + std::to_string(::getpid());
        std::FILE* f = std::fopen(tmp.c_str(), "wb");
        if (!f) return;
        const bool ok = std::fwrite(d.data(), 1, n, f) == n;
        if (std::fclose(f) != 0 || !ok || std::rename(tmp.c_str(), path_.c_str()) != 0) std::remove(tmp.c_str());
    }

    device_core& core_;
    std::string path_;
    bool loaded_ = false, built_ = false;
    VkPipelineCache cache_ = VK_NULL_HANDLE;
    std::map<key, pipeline_entry> pipelines_;
    std::map<std::pair<std::uint32_t, std::uint32_t>, layouts> layouts_;
    std::map<std::string, VkShaderModule> modules_;
};

}  // namespace kiln::vk::detail
