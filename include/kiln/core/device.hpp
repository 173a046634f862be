// Devices are policy types: a tensor's (and a model's) template argument picks where it lives
// and which kernels run. Ops talk to a device only through device_ops<Device>, which each
// device specialises (device/cpu/ops.hpp, device/vulkan/ops.hpp); ops never name a backend.
// The CPU's comes with core/tensor.hpp (cpu is the default device), Vulkan's with
// <kiln/vulkan.hpp>.
#pragma once

#include <type_traits>

namespace kiln {

/// Host memory, xsimd kernels, the thread-pool executor.
struct cpu {
    static constexpr const char* name = "cpu";
};
/// A Vulkan compute device (include <kiln/device/vulkan/vulkan.hpp>).
struct vulkan {
    static constexpr const char* name = "vulkan";
};

/// The kernels of device D; the primary template is left undefined on purpose.
template <class D>
struct device_ops;

// Reduction kinds every device implements.
struct reduce_sum {};
struct reduce_max {};
struct reduce_min {};

namespace detail {
/// The device of a node's operands: the first that is not `void` (numbers go with anything).
template <class... D>
struct common_device {
    using type = void;
};
template <class D, class... R>
struct common_device<D, R...> {
    using type = std::conditional_t<std::is_void_v<D>, typename common_device<R...>::type, D>;
};

template <class Op, class A, class B>
consteval void check_same_device() {
    static_assert(std::is_same_v<A, B>, "[device] operands live on different devices: copy one with kiln::to<Device>(t)");
}
/// Every operand on the same device (or a number).
template <class Op, class... D>
consteval void check_devices() {
    using c = typename common_device<D...>::type;
    (check_same_device<Op, std::conditional_t<std::is_void_v<D>, c, D>, c>(), ...);
}
}  // namespace detail

template <class... D>
using common_device_t = typename detail::common_device<D...>::type;

}  // namespace kiln
