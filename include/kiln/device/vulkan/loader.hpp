// The Vulkan loader is opened at run time (dlopen), not linked: a program built with kiln's
// Vulkan device then starts on a machine without libvulkan.so.1 and gets kiln's error message
// from the first Vulkan call instead of a dynamic-linker failure before main, and
// context::available() can answer false. Device-level functions are fetched with
// vkGetDeviceProcAddr, which skips the loader's per-call trampoline.
#pragma once

#include <cstdlib>
#include <cstring>
#include <string>

#include <vulkan/vulkan.h>

#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#else
#include <dlfcn.h>
#endif

#include "kiln/core/error.hpp"

namespace kiln::vk::detail {

/// Entry points kiln uses, named as in the Vulkan headers. Members stay null until loaded.
struct api_table {
    // Global (no instance).
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr = nullptr;
    PFN_vkCreateInstance vkCreateInstance = nullptr;
    PFN_vkEnumerateInstanceExtensionProperties vkEnumerateInstanceExtensionProperties = nullptr;
    PFN_vkEnumerateInstanceLayerProperties vkEnumerateInstanceLayerProperties = nullptr;
    PFN_vkEnumerateInstanceVersion vkEnumerateInstanceVersion = nullptr;
    // Instance.
    PFN_vkDestroyInstance vkDestroyInstance = nullptr;
    PFN_vkEnumeratePhysicalDevices vkEnumeratePhysicalDevices = nullptr;
    PFN_vkGetPhysicalDeviceProperties vkGetPhysicalDeviceProperties = nullptr;
    PFN_vkGetPhysicalDeviceProperties2 vkGetPhysicalDeviceProperties2 = nullptr;
    PFN_vkGetPhysicalDeviceQueueFamilyProperties vkGetPhysicalDeviceQueueFamilyProperties = nullptr;
    PFN_vkGetPhysicalDeviceMemoryProperties vkGetPhysicalDeviceMemoryProperties = nullptr;
    PFN_vkEnumerateDeviceExtensionProperties vkEnumerateDeviceExtensionProperties = nullptr;
    PFN_vkCreateDevice vkCreateDevice = nullptr;
    PFN_vkGetDeviceProcAddr vkGetDeviceProcAddr = nullptr;
    PFN_vkCreateDebugUtilsMessengerEXT vkCreateDebugUtilsMessengerEXT = nullptr;
    PFN_vkDestroyDebugUtilsMessengerEXT vkDestroyDebugUtilsMessengerEXT = nullptr;
    // Device.
    PFN_vkDestroyDevice vkDestroyDevice = nullptr;
    PFN_vkGetDeviceQueue vkGetDeviceQueue = nullptr;
    PFN_vkDeviceWaitIdle vkDeviceWaitIdle = nullptr;
    PFN_vkQueueSubmit vkQueueSubmit = nullptr;
    PFN_vkCreateBuffer vkCreateBuffer = nullptr;
    PFN_vkDestroyBuffer vkDestroyBuffer = nullptr;
    PFN_vkGetBufferMemoryRequirements vkGetBufferMemoryRequirements = nullptr;
    PFN_vkAllocateMemory vkAllocateMemory = nullptr;
    PFN_vkFreeMemory vkFreeMemory = nullptr;
    PFN_vkBindBufferMemory vkBindBufferMemory = nullptr;
    PFN_vkMapMemory vkMapMemory = nullptr;
    PFN_vkUnmapMemory vkUnmapMemory = nullptr;
    PFN_vkFlushMappedMemoryRanges vkFlushMappedMemoryRanges = nullptr;
    PFN_vkInvalidateMappedMemoryRanges vkInvalidateMappedMemoryRanges = nullptr;
    PFN_vkCreateShaderModule vkCreateShaderModule = nullptr;
    PFN_vkDestroyShaderModule vkDestroyShaderModule = nullptr;
    PFN_vkCreatePipelineCache vkCreatePipelineCache = nullptr;
    PFN_vkDestroyPipelineCache vkDestroyPipelineCache = nullptr;
    PFN_vkGetPipelineCacheData vkGetPipelineCacheData = nullptr;
    PFN_vkCreateComputePipelines vkCreateComputePipelines = nullptr;
    PFN_vkDestroyPipeline vkDestroyPipeline = nullptr;
    PFN_vkCreatePipelineLayout vkCreatePipelineLayout = nullptr;
    PFN_vkDestroyPipelineLayout vkDestroyPipelineLayout = nullptr;
    PFN_vkCreateDescriptorSetLayout vkCreateDescriptorSetLayout = nullptr;
    PFN_vkDestroyDescriptorSetLayout vkDestroyDescriptorSetLayout = nullptr;
    PFN_vkCreateDescriptorPool vkCreateDescriptorPool = nullptr;
    PFN_vkDestroyDescriptorPool vkDestroyDescriptorPool = nullptr;
    PFN_vkResetDescriptorPool vkResetDescriptorPool = nullptr;
    PFN_vkAllocateDescriptorSets vkAllocateDescriptorSets = nullptr;
    PFN_vkUpdateDescriptorSets vkUpdateDescriptorSets = nullptr;
    PFN_vkCreateCommandPool vkCreateCommandPool = nullptr;
    PFN_vkDestroyCommandPool vkDestroyCommandPool = nullptr;
    PFN_vkAllocateCommandBuffers vkAllocateCommandBuffers = nullptr;
    PFN_vkResetCommandBuffer vkResetCommandBuffer = nullptr;
    PFN_vkBeginCommandBuffer vkBeginCommandBuffer = nullptr;
    PFN_vkEndCommandBuffer vkEndCommandBuffer = nullptr;
    PFN_vkCreateFence vkCreateFence = nullptr;
    PFN_vkDestroyFence vkDestroyFence = nullptr;
    PFN_vkResetFences vkResetFences = nullptr;
    PFN_vkWaitForFences vkWaitForFences = nullptr;
    PFN_vkCreateQueryPool vkCreateQueryPool = nullptr;
    PFN_vkDestroyQueryPool vkDestroyQueryPool = nullptr;
    PFN_vkGetQueryPoolResults vkGetQueryPoolResults = nullptr;
    PFN_vkCmdResetQueryPool vkCmdResetQueryPool = nullptr;
    PFN_vkCmdWriteTimestamp vkCmdWriteTimestamp = nullptr;
    PFN_vkCmdBindPipeline vkCmdBindPipeline = nullptr;
    PFN_vkCmdBindDescriptorSets vkCmdBindDescriptorSets = nullptr;
    PFN_vkCmdPushConstants vkCmdPushConstants = nullptr;
    PFN_vkCmdPushDescriptorSetKHR vkCmdPushDescriptorSetKHR = nullptr;
    PFN_vkCmdDispatch vkCmdDispatch = nullptr;
    PFN_vkCmdPipelineBarrier vkCmdPipelineBarrier = nullptr;
    PFN_vkCmdCopyBuffer vkCmdCopyBuffer = nullptr;
};

/// A zeroed Vulkan info struct with its sType set (spares -Wmissing-field-initializers).
template <class T>
T make(VkStructureType type) {
    T v{};
    v.sType = type;
    return v;
}

/// The one table (Vulkan entry points are process-wide once the loader is open).
inline api_table& api() {
    static api_table t;
    return t;
}

template <class F>
void load_instance_fn(F& f, VkInstance instance, const char* name) {
    f = reinterpret_cast<F>(api().vkGetInstanceProcAddr(instance, name));
}
template <class F>
void load_device_fn(F& f, VkDevice device, const char* name) {
    f = reinterpret_cast<F>(api().vkGetDeviceProcAddr(device, name));
}

/// Opens the loader once. Returns an empty string on success, else why it failed.
/// KILN_VULKAN_LOADER=<path> names a loader library explicitly (also how tests simulate a
/// machine without one).
inline const std::string& open_loader() {
    static const std::string status = [] {
        std::string tried;
        const char* forced = std::getenv("KILN_VULKAN_LOADER");
#if defined(_WIN32)
        const char* names[] = {forced ? forced : "vulkan-1.dll"};
#elif defined(__APPLE__)
        const char* names[] = {forced ? forced : "libvulkan.1.dylib", forced ? nullptr : "libMoltenVK.dylib"};
#else
        const char* names[] = {forced ? forced : "libvulkan.so.1", forced ? nullptr : "libvulkan.so"};
#endif
        void* proc = nullptr;
        for (const char* n : names) {
            if (!n) continue;
            if (!tried.empty()) tried += ", ";
            tried += n;
#if defined(_WIN32)
            HMODULE h = LoadLibraryA(n);
            if (h) proc = reinterpret_cast<void*>(GetProcAddress(h, "vkGetInstanceProcAddr"));
#else
            // Never dlclose: drivers register atexit handlers and threads that outlive us.
            void* h = dlopen(n, RTLD_NOW | RTLD_LOCAL);
            if (h) proc = dlsym(h, "vkGetInstanceProcAddr");
#endif
            if (proc) break;
        }
        if (!proc) return "the Vulkan loader could not be opened (tried " + tried + ")";
        auto& t = api();
        t.vkGetInstanceProcAddr = reinterpret_cast<PFN_vkGetInstanceProcAddr>(proc);
        load_instance_fn(t.vkCreateInstance, nullptr, "vkCreateInstance");
        load_instance_fn(t.vkEnumerateInstanceExtensionProperties, nullptr, "vkEnumerateInstanceExtensionProperties");
        load_instance_fn(t.vkEnumerateInstanceLayerProperties, nullptr, "vkEnumerateInstanceLayerProperties");
        load_instance_fn(t.vkEnumerateInstanceVersion, nullptr, "vkEnumerateInstanceVersion");
        if (!t.vkCreateInstance || !t.vkEnumerateInstanceExtensionProperties || !t.vkEnumerateInstanceLayerProperties)
            return std::string("the Vulkan loader lacks vkCreateInstance");
        return std::string();
    }();
    return status;
}

inline void load_instance_functions(VkInstance i) {
    auto& t = api();
    load_instance_fn(t.vkDestroyInstance, i, "vkDestroyInstance");
    load_instance_fn(t.vkEnumeratePhysicalDevices, i, "vkEnumeratePhysicalDevices");
    load_instance_fn(t.vkGetPhysicalDeviceProperties, i, "vkGetPhysicalDeviceProperties");
    load_instance_fn(t.vkGetPhysicalDeviceProperties2, i, "vkGetPhysicalDeviceProperties2");
    load_instance_fn(t.vkGetPhysicalDeviceQueueFamilyProperties, i, "vkGetPhysicalDeviceQueueFamilyProperties");
    load_instance_fn(t.vkGetPhysicalDeviceMemoryProperties, i, "vkGetPhysicalDeviceMemoryProperties");
    load_instance_fn(t.vkEnumerateDeviceExtensionProperties, i, "vkEnumerateDeviceExtensionProperties");
    load_instance_fn(t.vkCreateDevice, i, "vkCreateDevice");
    load_instance_fn(t.vkGetDeviceProcAddr, i, "vkGetDeviceProcAddr");
    load_instance_fn(t.vkCreateDebugUtilsMessengerEXT, i, "vkCreateDebugUtilsMessengerEXT");
    load_instance_fn(t.vkDestroyDebugUtilsMessengerEXT, i, "vkDestroyDebugUtilsMessengerEXT");
}

/// Fetches device functions; returns the name of the first missing one, or nullptr.
inline const char* load_device_functions(VkDevice d, bool push_descriptors) {
    auto& t = api();
#define KILN_VK_LOAD(name)                      \
    load_device_fn(t.name, d, #name);           \
    if (!t.name) return #name;
    KILN_VK_LOAD(vkDestroyDevice) KILN_VK_LOAD(vkGetDeviceQueue) KILN_VK_LOAD(vkDeviceWaitIdle)
    KILN_VK_LOAD(vkQueueSubmit) KILN_VK_LOAD(vkCreateBuffer) KILN_VK_LOAD(vkDestroyBuffer)
    KILN_VK_LOAD(vkGetBufferMemoryRequirements) KILN_VK_LOAD(vkAllocateMemory) KILN_VK_LOAD(vkFreeMemory)
    KILN_VK_LOAD(vkBindBufferMemory) KILN_VK_LOAD(vkMapMemory) KILN_VK_LOAD(vkUnmapMemory)
    KILN_VK_LOAD(vkFlushMappedMemoryRanges) KILN_VK_LOAD(vkInvalidateMappedMemoryRanges)
    KILN_VK_LOAD(vkCreateShaderModule) KILN_VK_LOAD(vkDestroyShaderModule)
    KILN_VK_LOAD(vkCreatePipelineCache) KILN_VK_LOAD(vkDestroyPipelineCache) KILN_VK_LOAD(vkGetPipelineCacheData)
    KILN_VK_LOAD(vkCreateComputePipelines) KILN_VK_LOAD(vkDestroyPipeline)
    KILN_VK_LOAD(vkCreatePipelineLayout) KILN_VK_LOAD(vkDestroyPipelineLayout)
    KILN_VK_LOAD(vkCreateDescriptorSetLayout) KILN_VK_LOAD(vkDestroyDescriptorSetLayout)
    KILN_VK_LOAD(vkCreateDescriptorPool) KILN_VK_LOAD(vkDestroyDescriptorPool)
    KILN_VK_LOAD(vkResetDescriptorPool) KILN_VK_LOAD(vkAllocateDescriptorSets)
    KILN_VK_LOAD(vkUpdateDescriptorSets) KILN_VK_LOAD(vkCreateCommandPool) KILN_VK_LOAD(vkDestroyCommandPool)
    KILN_VK_LOAD(vkAllocateCommandBuffers) KILN_VK_LOAD(vkResetCommandBuffer)
    KILN_VK_LOAD(vkBeginCommandBuffer) KILN_VK_LOAD(vkEndCommandBuffer) KILN_VK_LOAD(vkCreateFence)
    KILN_VK_LOAD(vkDestroyFence) KILN_VK_LOAD(vkResetFences) KILN_VK_LOAD(vkWaitForFences)
    KILN_VK_LOAD(vkCreateQueryPool) KILN_VK_LOAD(vkDestroyQueryPool) KILN_VK_LOAD(vkGetQueryPoolResults)
    KILN_VK_LOAD(vkCmdResetQueryPool) KILN_VK_LOAD(vkCmdWriteTimestamp) KILN_VK_LOAD(vkCmdBindPipeline)
    KILN_VK_LOAD(vkCmdBindDescriptorSets) KILN_VK_LOAD(vkCmdPushConstants) KILN_VK_LOAD(vkCmdDispatch)
    KILN_VK_LOAD(vkCmdPipelineBarrier) KILN_VK_LOAD(vkCmdCopyBuffer)
#undef KILN_VK_LOAD
    t.vkCmdPushDescriptorSetKHR = nullptr;
    if (push_descriptors) load_device_fn(t.vkCmdPushDescriptorSetKHR, d, "vkCmdPushDescriptorSetKHR");
    return nullptr;
}

/// VkResult as its enumerator name, for error messages.
inline const char* result_name(VkResult r) {
    switch (r) {
        case VK_SUCCESS: return "VK_SUCCESS";
        case VK_NOT_READY: return "VK_NOT_READY";
        case VK_TIMEOUT: return "VK_TIMEOUT";
        case VK_INCOMPLETE: return "VK_INCOMPLETE";
        case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
        case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
        case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
        case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
        case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
        case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
        case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
        case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
        case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
        case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
        case VK_ERROR_FRAGMENTED_POOL: return "VK_ERROR_FRAGMENTED_POOL";
        case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
        case VK_ERROR_INVALID_SHADER_NV: return "VK_ERROR_INVALID_SHADER_NV";
        default: return "VkResult (unnamed)";
    }
}

}  // namespace kiln::vk::detail
