// torch.nn.Conv2d (weight [out, in/groups, kh, kw], bias [out]), MaxPool2d and AvgPool2d.
//
// Sizes are kiln::hw values: a number is square, hw{h, w} is torch's (h, w) tuple.
//   nn::conv2d<3, 16, 3, 1, 1>                               Conv2d(3, 16, 3, stride=1, padding=1)
//   nn::conv2d<3, 16, hw{3, 5}, hw{1, 2}, hw{1, 2}>          kernel_size=(3, 5), stride=(1, 2), padding=(1, 2)
//   nn::conv2d<3, 16, 3, 1, 1, hw{2, 1}, nn::no_bias>        dilation=(2, 1), bias=False
//   nn::conv2d<32, 32, 3, 1, 1, 1, nn::groups<32>>           groups=32 (depthwise)
//   nn::conv2d<In, Out, K, Stride, Pad, Dil, D, T>            a device and value type, as before
// (After the dilation: a device, a value type, nn::no_bias, nn::groups<G>, in any order; see
// nn/options.hpp.)
//   nn::max_pool2d<2>                                        MaxPool2d(2)
//   nn::max_pool2d<3, 2, 1, nn::ceil_mode>                   MaxPool2d(3, 2, 1, ceil_mode=True)
//   nn::max_pool2d<hw{3, 2}, hw{2, 1}, 0, nn::dilation<2>>   kernel (3, 2), stride (2, 1), dilation 2
//   nn::avg_pool2d<3, 2, 1, false, nn::ceil_mode>            AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)
// Pooling options after the padding are values, in any order: nn::ceil_mode, nn::dilation<D>
// (max only, as in torch), and for avg_pool2d a bool, count_include_pad (true by default).
#pragma once

#include "../ops/composite/conv.hpp"
#include "layer.hpp"
#include "options.hpp"

namespace kiln::nn {

using kiln::hw;

/// The layer behind nn::conv2d (which spells its options).
template <std::size_t In, std::size_t Out, hw K, hw Stride, hw Pad, hw Dil, std::size_t Groups, bool Bias, class D,
          class T>
struct conv2d_layer : detail::optional_bias<Bias, param<T, shape<Out>, D>>,
                      module<conv2d_layer<In, Out, K, Stride, Pad, Dil, Groups, Bias, D, T>> {
private:
    static constexpr bool checked_ = [] {
        kiln::detail::check_conv_in_groups<In, Groups>();
        if constexpr (Groups > 0) kiln::detail::check_conv_out_groups<Out, Groups>();
        kiln::detail::check_window_nonzero<'H', K.h, Stride.h, Dil.h>();
        kiln::detail::check_window_nonzero<'W', K.w, Stride.w, Dil.w>();
        return true;
    }();
    static constexpr std::size_t in_per_group = In / (Groups > 0 ? Groups : 1);
    static constexpr std::size_t fan_in = in_per_group * K.h * K.w;

public:
    static constexpr bool has_bias = Bias;
    static constexpr std::size_t groups = Groups;
    param<T, shape<Out, in_per_group, K.h, K.w>, D> weight;

    explicit conv2d_layer(generator& g = default_generator()) {
        static_assert(checked_);
        init_fan_in_uniform(weight, fan_in, g);
        if constexpr (Bias) init_fan_in_uniform(this->bias, fan_in, g);
    }
    template <class X, class A = use_params>
    auto forward(X&& x, A a = {}) const {
        using op = conv2d_op<Stride, Pad, Dil, Groups>;
        if constexpr (Bias)
            return apply_op(op{}, std::forward<X>(x), a(weight), a(this->bias));
        else
            return apply_op(op{}, std::forward<X>(x), a(weight));
    }
    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        f(prefix + "weight", weight);
        if constexpr (Bias) f(prefix + "bias", this->bias);
    }
    void train(bool = true) {}
    static constexpr std::size_t parameters = Out * fan_in + (Bias ? Out : 0);
    /// Forward FLOPs (2 per multiply-add) for an input of shape XS = [N, C, H, W].
    template <class XS>
    static constexpr std::size_t flops() {
        return 2 * XS::extents[0] * Out * fan_in * kiln::detail::conv_out(XS::extents[2], K.h, Stride.h, Pad.h, Dil.h) *
               kiln::detail::conv_out(XS::extents[3], K.w, Stride.w, Pad.w, Dil.w);
    }
};

/// torch.nn.Conv2d(In, Out, K, Stride, Pad, Dil); Opts: a device, a value type, nn::no_bias,
/// nn::groups<G> (any order, each optional).
template <std::size_t In, std::size_t Out, hw K, hw Stride = 1, hw Pad = 0, hw Dil = 1, class... Opts>
using conv2d = conv2d_layer<In, Out, K, Stride, Pad, Dil, detail::layer_options<detail::conv2d_options_tag, Opts...>::groups,
                            detail::layer_options<detail::conv2d_options_tag, Opts...>::bias,
                            typename detail::layer_options<detail::conv2d_options_tag, Opts...>::device,
                            typename detail::layer_options<detail::conv2d_options_tag, Opts...>::value_type>;

/// Pooling's ceil_mode=True: the output size rounds up, the last window starting inside the
/// input or its left padding (torch's rule).
struct ceil_mode_t {};
inline constexpr ceil_mode_t ceil_mode{};
/// Pooling's dilation (max_pool2d only, like torch): nn::dilation<2>, nn::dilation<hw{2, 1}>.
struct dilation_t {
    hw value;
};
template <hw Dil>
inline constexpr dilation_t dilation{Dil};

namespace detail {
template <class O>
inline constexpr bool is_pool_option = std::is_same_v<O, ceil_mode_t> || std::is_same_v<O, dilation_t> ||
                                       std::is_same_v<O, bool>;
template <bool Max, class Option>
consteval void check_pool_option() {
    static_assert(is_pool_option<Option>,
                  "[pool2d] unknown option: expected nn::ceil_mode, nn::dilation<D> or (avg_pool2d) a bool, "
                  "count_include_pad");
    static_assert(!Max || !std::is_same_v<Option, bool>, "[max_pool2d] count_include_pad is an avg_pool2d option");
    static_assert(Max || !std::is_same_v<Option, dilation_t>, "[avg_pool2d] torch's AvgPool2d has no dilation");
}
constexpr bool pool_false_bool(bool b) { return !b; }
template <class O>
constexpr bool pool_false_bool(O) { return false; }
// (hw | option) keeps the last nn::dilation<D> seen: a fold over the options.
constexpr hw operator|(hw, dilation_t o) { return o.value; }
template <class O>
constexpr hw operator|(hw d, O) { return d; }

template <bool Max, auto... Opts>
struct pool_options {
    static constexpr bool checked = (check_pool_option<Max, std::remove_cv_t<decltype(Opts)>>(), ..., true);
    static constexpr bool ceil = (std::is_same_v<std::remove_cv_t<decltype(Opts)>, ceil_mode_t> || ... || false);
    static constexpr bool include_pad = !(pool_false_bool(Opts) || ... || false);
    static constexpr hw dil = (hw(1) | ... | Opts);
};
}  // namespace detail

/// torch.nn.MaxPool2d(K, Stride = K, Pad); Opts: nn::ceil_mode, nn::dilation<D>.
template <hw K, hw Stride = K, hw Pad = 0, auto... Opts>
struct max_pool2d : stateless, module<max_pool2d<K, Stride, Pad, Opts...>> {
    using options = detail::pool_options<true, Opts...>;
    template <class X, class A = use_params>
    auto forward(X&& x, A = {}) const {
        static_assert(options::checked);
        return apply_op(pool2d_op<K, Stride, Pad, true, true, options::dil, options::ceil>{}, std::forward<X>(x));
    }
};
/// torch.nn.AvgPool2d(K, Stride = K, Pad); Opts: a bool count_include_pad (default true), nn::ceil_mode.
template <hw K, hw Stride = K, hw Pad = 0, auto... Opts>
struct avg_pool2d : stateless, module<avg_pool2d<K, Stride, Pad, Opts...>> {
    using options = detail::pool_options<false, Opts...>;
    template <class X, class A = use_params>
    auto forward(X&& x, A = {}) const {
        static_assert(options::checked);
        return apply_op(pool2d_op<K, Stride, Pad, false, options::include_pad, 1, options::ceil>{},
                        std::forward<X>(x));
    }
};

}  // namespace kiln::nn
