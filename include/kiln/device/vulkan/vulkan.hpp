// kiln's Vulkan compute runtime: the one header to include.
//
//   kiln::vk::device_buffer x(n * sizeof(float));
//   kiln::vk::upload(x, host, n * sizeof(float));
//   kiln::vk::gemm(...); kiln::vk::elementwise(...);   // recorded, not yet run
//   kiln::vk::download(y, host, bytes);                 // submits and waits
//
// Environment: KILN_VULKAN_DEVICE=<index | part of the name> picks a device (default: discrete
// GPU, then integrated, then CPU); KILN_VULKAN_VALIDATION=1 turns on the Khronos validation
// layer with synchronization validation (=core: without it) and counts its warnings and errors
// (VK_INSTANCE_LAYERS naming the layer does the same); KILN_VULKAN_TIMEOUT=<seconds> bounds
// fence waits (default 60); KILN_VULKAN_MEMORY_LIMIT_MB caps kiln's device memory;
// KILN_VULKAN_LOADER=<path> names the loader library; KILN_VULKAN_NO_PUSH_DESCRIPTORS=1 forces
// descriptor pools; KILN_VULKAN_GEMM_CONFIG=<index> forces a GEMM tile (tuning).
//
// The loader is opened at run time, so link only the Vulkan headers (and libdl on old glibc):
// target kiln::vulkan from cmake/kiln_vulkan.cmake.
#pragma once

#include "kernels.hpp"
