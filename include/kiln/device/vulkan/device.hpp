// Instance, physical-device choice, logical device and compute queue. Creation reports failure
// as a message instead of calling kiln::fail, so context::available() can probe without
// exceptions (it must also work under -fno-exceptions).
#pragma once

#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "loader.hpp"

namespace kiln::vk::detail {

/// Reports a failed Vulkan call; VK_ERROR_DEVICE_LOST gets its own message because nothing
/// recorded or allocated survives it.
inline void check(VkResult r, const char* what) {
    if (r == VK_SUCCESS) return;
    if (r == VK_ERROR_DEVICE_LOST)
        fail("[vulkan] device lost (VK_ERROR_DEVICE_LOST) in %s: the driver reset the GPU, every device "
             "buffer is gone; call kiln::vk::context::reset() and recreate them", what);
    fail("[vulkan] %s failed: %s", what, result_name(r));
}

inline std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

inline const char* device_type_name(VkPhysicalDeviceType t) {
    switch (t) {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
        case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
        default: return "other";
    }
}

/// True when KILN_VULKAN_VALIDATION asks for the validation layer ("1", "on", "sync"...).
inline bool env_flag(const char* name) {
    const char* v = std::getenv(name);
    return v && *v && std::string(v) != "0" && lower(v) != "off" && lower(v) != "false";
}

/// Validation messages counted over the whole process (kept across context::reset(), so a
/// test can also check what the layer reports while the device is destroyed).
inline std::atomic<std::size_t>& validation_count() {
    static std::atomic<std::size_t> n{0};
    return n;
}

struct device_core {
    VkInstance instance = VK_NULL_HANDLE;
    VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
    VkPhysicalDevice physical = VK_NULL_HANDLE;
    VkDevice device = VK_NULL_HANDLE;
    VkQueue queue = VK_NULL_HANDLE;
    std::uint32_t queue_family = 0;
    VkPhysicalDeviceProperties props{};
    VkPhysicalDeviceMemoryProperties memory{};
    bool push_descriptors = false;
    bool validation = false;
    std::uint32_t timestamp_bits = 0;
    std::uint32_t compute_units = 0;  // SMs where the driver says (VK_NV_shader_sm_builtins), else 0
    double timeout_s = 60.0;
    std::size_t validation_at_start = validation_count().load();

    device_core() = default;
    device_core(const device_core&) = delete;
    device_core& operator=(const device_core&) = delete;
    ~device_core() { destroy(); }

    void destroy() {
        auto& f = api();
        if (device) f.vkDestroyDevice(device, nullptr);
        if (messenger) f.vkDestroyDebugUtilsMessengerEXT(instance, messenger, nullptr);
        if (instance) f.vkDestroyInstance(instance, nullptr);
        device = VK_NULL_HANDLE;
        messenger = VK_NULL_HANDLE;
        instance = VK_NULL_HANDLE;
    }

    static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                     VkDebugUtilsMessageTypeFlagsEXT type,
                                                     const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
        // Loader chatter (GENERAL) about other ICDs is not a kiln bug; validation and
        // performance findings at warning level or above are.
        bool counted = (severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) &&
                       (type & (VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT));
        if (counted) {
            (void)user;
            validation_count().fetch_add(1);
            std::fprintf(stderr, "[vulkan] validation: %s\n", data && data->pMessage ? data->pMessage : "(no text)");
        }
        return VK_FALSE;
    }

    /// Creates everything; returns "" or the reason it could not (objects already made are freed).
    std::string init() {
        std::string err = init_steps();
        if (!err.empty()) destroy();
        return err;
    }

private:
    static bool has_extension(const std::vector<VkExtensionProperties>& v, const char* name) {
        for (auto& e : v)
            if (std::strcmp(e.extensionName, name) == 0) return true;
        return false;
    }

    std::string init_steps() {
        const char* no_device = "[vulkan] no Vulkan device found: install mesa-vulkan-drivers for a CPU device (lavapipe) "
                                "or a GPU driver";
        if (const std::string& e = open_loader(); !e.empty()) return std::string(no_device) + " (" + e + ")";
        auto& f = api();
        if (const char* t = std::getenv("KILN_VULKAN_TIMEOUT")) timeout_s = std::atof(t) > 0 ? std::atof(t) : timeout_s;

        // Validation: our flag, or the user's VK_INSTANCE_LAYERS naming the layer; either way we
        // want the messenger so the count is real.
        const char* user_layers = std::getenv("VK_INSTANCE_LAYERS");
        bool want_layer = env_flag("KILN_VULKAN_VALIDATION");
        validation = want_layer || (user_layers && std::strstr(user_layers, "VK_LAYER_KHRONOS_validation"));
        std::uint32_t n = 0;
        f.vkEnumerateInstanceLayerProperties(&n, nullptr);
        std::vector<VkLayerProperties> layers(n);
        f.vkEnumerateInstanceLayerProperties(&n, layers.data());
        bool layer_present = false;
        for (auto& l : layers) layer_present |= std::strcmp(l.layerName, "VK_LAYER_KHRONOS_validation") == 0;
        if (want_layer && !layer_present)
            return "[vulkan] KILN_VULKAN_VALIDATION is set but VK_LAYER_KHRONOS_validation is not installed "
                   "(Debian: apt-get install vulkan-validationlayers)";
        std::vector<VkExtensionProperties> iext;
        auto add_exts = [&](const char* layer) {
            std::uint32_t m = 0;
            f.vkEnumerateInstanceExtensionProperties(layer, &m, nullptr);
            std::size_t at = iext.size();
            iext.resize(at + m);
            f.vkEnumerateInstanceExtensionProperties(layer, &m, iext.data() + at);
        };
        add_exts(nullptr);
        if (validation && layer_present) add_exts("VK_LAYER_KHRONOS_validation");
        std::vector<const char*> exts, enabled_layers;
        bool debug_utils = validation && has_extension(iext, VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
        if (debug_utils) exts.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
        const char* mode = std::getenv("KILN_VULKAN_VALIDATION");
        bool sync_validation = validation && !(mode && lower(mode) == "core");
        bool features_ext = sync_validation && has_extension(iext, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
        if (features_ext) exts.push_back(VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
        if (want_layer) enabled_layers.push_back("VK_LAYER_KHRONOS_validation");

        auto app = make<VkApplicationInfo>(VK_STRUCTURE_TYPE_APPLICATION_INFO);
        app.pApplicationName = "kiln";
        app.pEngineName = "kiln";
        app.apiVersion = VK_API_VERSION_1_1;
        auto mci = make<VkDebugUtilsMessengerCreateInfoEXT>(VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT);
        mci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
        mci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                          VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
        mci.pfnUserCallback = &on_message;
        mci.pUserData = this;
        // Synchronization validation checks the hazard tracker: a missing barrier is reported.
        VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
        auto vf = make<VkValidationFeaturesEXT>(VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT);
        vf.enabledValidationFeatureCount = 1;
        vf.pEnabledValidationFeatures = enables;
        auto ici = make<VkInstanceCreateInfo>(VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO);
        ici.pApplicationInfo = &app;
        ici.enabledExtensionCount = static_cast<std::uint32_t>(exts.size());
        ici.ppEnabledExtensionNames = exts.data();
        ici.enabledLayerCount = static_cast<std::uint32_t>(enabled_layers.size());
        ici.ppEnabledLayerNames = enabled_layers.data();
        const void** tail = &ici.pNext;
        if (debug_utils) { *tail = &mci; tail = const_cast<const void**>(&mci.pNext); }
        if (features_ext) *tail = &vf;
        VkResult r = f.vkCreateInstance(&ici, nullptr, &instance);
        if (r != VK_SUCCESS) {
            instance = VK_NULL_HANDLE;
            return std::string(no_device) + " (vkCreateInstance: " + result_name(r) + ")";
        }
        load_instance_functions(instance);
        if (debug_utils && f.vkCreateDebugUtilsMessengerEXT) {
            mci.pNext = nullptr;
            f.vkCreateDebugUtilsMessengerEXT(instance, &mci, nullptr, &messenger);
        }
        return pick_and_create(no_device);
    }

    std::string pick_and_create(const char* no_device) {
        auto& f = api();
        std::uint32_t n = 0;
        VkResult r = f.vkEnumeratePhysicalDevices(instance, &n, nullptr);
        std::vector<VkPhysicalDevice> devs(n);
        if (r == VK_SUCCESS && n) r = f.vkEnumeratePhysicalDevices(instance, &n, devs.data());
        if (r != VK_SUCCESS && r != VK_INCOMPLETE) return std::string(no_device) + " (vkEnumeratePhysicalDevices: " + result_name(r) + ")";
        devs.resize(n);
        // A usable device speaks Vulkan 1.1 and has a compute queue; rank discrete > integrated
        // > virtual > CPU > other.
        struct cand { VkPhysicalDevice d; VkPhysicalDeviceProperties p; std::uint32_t family; int rank; bool usable; };
        std::vector<cand> cands;
        for (auto d : devs) {
            cand c{d, {}, 0, 9, false};
            f.vkGetPhysicalDeviceProperties(d, &c.p);
            std::uint32_t qn = 0;
            f.vkGetPhysicalDeviceQueueFamilyProperties(d, &qn, nullptr);
            std::vector<VkQueueFamilyProperties> q(qn);
            f.vkGetPhysicalDeviceQueueFamilyProperties(d, &qn, q.data());
            // Prefer a compute-only family (the async-compute queue on discrete GPUs).
            int best = -1;
            for (std::uint32_t i = 0; i < qn; ++i) {
                if (!(q[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
                if (best < 0 || (!(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) && (q[best].queueFlags & VK_QUEUE_GRAPHICS_BIT))) best = static_cast<int>(i);
            }
            c.usable = best >= 0 && c.p.apiVersion >= VK_API_VERSION_1_1;
            c.family = best >= 0 ? static_cast<std::uint32_t>(best) : 0;
            switch (c.p.deviceType) {
                case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: c.rank = 0; break;
                case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: c.rank = 1; break;
                case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: c.rank = 2; break;
                case VK_PHYSICAL_DEVICE_TYPE_CPU: c.rank = 3; break;
                default: c.rank = 4;
            }
            cands.push_back(c);
        }
        std::string listing;
        for (std::size_t i = 0; i < cands.size(); ++i) {
            char line[400];
            std::snprintf(line, sizeof line, "%s%zu: %s (%s%s)", i ? "; " : "", i, cands[i].p.deviceName,
                          device_type_name(cands[i].p.deviceType), cands[i].usable ? "" : ", no Vulkan 1.1 compute");
            listing += line;
        }
        int chosen = -1;
        const char* want = std::getenv("KILN_VULKAN_DEVICE");
        bool named = want && *want;
        for (std::size_t i = 0; i < cands.size(); ++i) {
            if (!cands[i].usable) continue;
            if (named) {
                std::string w = want;
                bool digits = w.find_first_not_of("0123456789") == std::string::npos;
                bool match = digits ? std::strtoull(w.c_str(), nullptr, 10) == i
                                    : lower(cands[i].p.deviceName).find(lower(w)) != std::string::npos;
                if (!match) continue;
            }
            if (chosen < 0 || cands[i].rank < cands[static_cast<std::size_t>(chosen)].rank) chosen = static_cast<int>(i);
        }
        if (chosen < 0) {
            if (named)
                return std::string("[vulkan] KILN_VULKAN_DEVICE=") + want + " names no usable device (an index or part of a name); devices: " +
                       (listing.empty() ? "none" : listing);
            return std::string(no_device) + (listing.empty() ? "" : "; devices without Vulkan 1.1 compute: " + listing);
        }
        const cand& c = cands[static_cast<std::size_t>(chosen)];
        physical = c.d;
        props = c.p;
        queue_family = c.family;
        f.vkGetPhysicalDeviceMemoryProperties(physical, &memory);
        std::uint32_t qn = 0;
        f.vkGetPhysicalDeviceQueueFamilyProperties(physical, &qn, nullptr);
        std::vector<VkQueueFamilyProperties> q(qn);
        f.vkGetPhysicalDeviceQueueFamilyProperties(physical, &qn, q.data());
        timestamp_bits = q[queue_family].timestampValidBits;

        std::uint32_t en = 0;
        f.vkEnumerateDeviceExtensionProperties(physical, nullptr, &en, nullptr);
        std::vector<VkExtensionProperties> dext(en);
        f.vkEnumerateDeviceExtensionProperties(physical, nullptr, &en, dext.data());
        push_descriptors = has_extension(dext, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME) && !env_flag("KILN_VULKAN_NO_PUSH_DESCRIPTORS");
        if (has_extension(dext, VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME) && f.vkGetPhysicalDeviceProperties2) {
            auto sm = make<VkPhysicalDeviceShaderSMBuiltinsPropertiesNV>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV);
            auto p2 = make<VkPhysicalDeviceProperties2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2);
            p2.pNext = &sm;
            f.vkGetPhysicalDeviceProperties2(physical, &p2);
            compute_units = sm.shaderSMCount;
        }
        float priority = 1.0f;
        auto qci = make<VkDeviceQueueCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO);
        qci.queueFamilyIndex = queue_family;
        qci.queueCount = 1;
        qci.pQueuePriorities = &priority;
        const char* dev_exts[] = {VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME};
        auto dci = make<VkDeviceCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO);
        dci.queueCreateInfoCount = 1;
        dci.pQueueCreateInfos = &qci;
        dci.enabledExtensionCount = push_descriptors ? 1u : 0u;
        dci.ppEnabledExtensionNames = dev_exts;
        VkResult r2 = f.vkCreateDevice(physical, &dci, nullptr, &device);
        if (r2 != VK_SUCCESS) {
            device = VK_NULL_HANDLE;
            return std::string("[vulkan] vkCreateDevice failed for ") + props.deviceName + ": " + result_name(r2);
        }
        if (const char* missing = load_device_functions(device, push_descriptors))
            return std::string("[vulkan] the driver for ") + props.deviceName + " lacks " + missing;
        if (push_descriptors && !api().vkCmdPushDescriptorSetKHR) push_descriptors = false;
        f.vkGetDeviceQueue(device, queue_family, 0, &queue);
        return std::string();
    }
};

}  // namespace kiln::vk::detail
