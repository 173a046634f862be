// Layer options in types, torch's keyword arguments as template arguments:
//   nn::linear<4, 8, nn::no_bias>                         Linear(4, 8, bias=False)
//   nn::conv2d<32, 32, 3, 1, 1, 1, nn::groups<32>>        Conv2d(32, 32, 3, 1, 1, 1, groups=32)
//   nn::conv2d<3, 16, 3, 1, 1, 1, kiln::vulkan, nn::no_bias>
// After a layer's sizes come, in any order: a device (kiln::cpu, the default, or kiln::vulkan),
// a floating-point value type (float by default), nn::no_bias (or nn::with_bias<B>) and, for
// conv2d, nn::groups<G>. So the older spellings linear<In, Out, D, T> and conv2d<..., D, T> mean
// what they did. Pooling options are values (nn::ceil_mode, nn::dilation<2>): see nn/conv.hpp.
#pragma once

#include <concepts>
#include <cstddef>
#include <type_traits>

#include "../core/device.hpp"

namespace kiln::nn {

/// Whether the layer has a bias parameter (torch's bias=True/False); nn::no_bias is the usual spelling.
template <bool B>
struct with_bias {
    static constexpr bool layer_option = true;
    static constexpr bool value = B;
};
/// torch's bias=False: no bias parameter at all (none visited, saved or loaded).
using no_bias = with_bias<false>;

/// conv2d's groups: input and output channels split into G blocks that only see each other
/// (weight [out, in/G, kh, kw]); G = in_channels is a depthwise convolution.
template <std::size_t G>
struct groups {
    static constexpr bool layer_option = true;
    static constexpr std::size_t value = G;
};

namespace detail {
template <class O>
concept layer_option = requires { O::layer_option; };
template <class O>
concept device_option = std::is_class_v<O> && !layer_option<O> && requires {
    { O::name } -> std::convertible_to<const char*>;
};
template <class O>
inline constexpr bool is_bias_option = false;
template <bool B>
inline constexpr bool is_bias_option<with_bias<B>> = true;
template <class O>
inline constexpr bool is_groups_option = false;
template <std::size_t G>
inline constexpr bool is_groups_option<groups<G>> = true;

template <class Layer, class Option>
consteval void check_option() {
    static_assert(device_option<Option> || std::is_floating_point_v<Option> || is_bias_option<Option> ||
                      is_groups_option<Option>,
                  "[nn] unknown layer option: expected a device (kiln::cpu, kiln::vulkan), a floating-point value "
                  "type, nn::no_bias / nn::with_bias<B> or (conv2d) nn::groups<G>");
    static_assert(Layer::takes_groups || !is_groups_option<Option>, "[nn] groups is an option of conv2d only");
}
template <class Layer, std::size_t Devices, std::size_t ValueTypes, std::size_t BiasOptions, std::size_t GroupOptions>
consteval void check_option_counts() {
    static_assert(Devices <= 1, "[nn] more than one device given");
    static_assert(ValueTypes <= 1, "[nn] more than one value type given");
    static_assert(BiasOptions <= 1, "[nn] more than one bias option given");
    static_assert(GroupOptions <= 1, "[nn] more than one groups option given");
}

template <class Default, template <class> class Pred, class... O>
struct first_of {
    using type = Default;
};
template <class Default, template <class> class Pred, class O, class... R>
struct first_of<Default, Pred, O, R...> {
    using type = std::conditional_t<Pred<O>::value, O, typename first_of<Default, Pred, R...>::type>;
};
template <class O>
struct is_device_pred : std::bool_constant<device_option<O>> {};
template <class O>
struct is_bias_pred : std::bool_constant<is_bias_option<O>> {};
template <class O>
struct is_groups_pred : std::bool_constant<is_groups_option<O>> {};

/// The options of one layer (Layer: a tag with `takes_groups`), checked.
template <class Layer, class... Opts>
struct layer_options {
    static constexpr bool checked = [] {
        (check_option<Layer, Opts>(), ...);
        check_option_counts<Layer, (std::size_t(device_option<Opts>) + ... + 0),
                            (std::size_t(std::is_floating_point_v<Opts>) + ... + 0),
                            (std::size_t(is_bias_option<Opts>) + ... + 0),
                            (std::size_t(is_groups_option<Opts>) + ... + 0)>();
        return true;
    }();
    // (Through `checked`, so naming the device runs the checks.)
    using device = std::conditional_t<checked, typename first_of<cpu, is_device_pred, Opts...>::type, void>;
    using value_type = typename first_of<float, std::is_floating_point, Opts...>::type;
    static constexpr bool bias = first_of<with_bias<true>, is_bias_pred, Opts...>::type::value;
    static constexpr std::size_t groups = first_of<nn::groups<1>, is_groups_pred, Opts...>::type::value;
};

struct linear_options_tag {
    static constexpr bool takes_groups = false;
};
struct conv2d_options_tag {
    static constexpr bool takes_groups = true;
};

/// The bias member, present only when the layer has one.
template <bool Bias, class P>
struct optional_bias {};
template <class P>
struct optional_bias<true, P> {
    P bias;
};
}  // namespace detail

}  // namespace kiln::nn
