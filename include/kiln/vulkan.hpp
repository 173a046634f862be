// Opt-in: the Vulkan device. tensor<float, S, kiln::vulkan>, Net<kiln::vulkan>, to<kiln::vulkan>(t).
// Link kiln::vulkan (CMake) or add the Vulkan headers; the loader is opened at run time.
#pragma once

#include "device/vulkan/ops.hpp"
#include "device/vulkan/tensor.hpp"
#include "device/vulkan/vulkan.hpp"
#include "kiln.hpp"
