// torch.nn.Linear: y = x W^T + b, W [out, in], over the last axis of any input.
//   nn::linear<784, 128>                  Linear(784, 128)
//   nn::linear<784, 128, nn::no_bias>     Linear(784, 128, bias=False): no bias parameter at all
//   nn::linear<784, 128, kiln::vulkan, double, nn::no_bias>   (options in any order, nn/options.hpp)
#pragma once

#include "functional.hpp"
#include "layer.hpp"
#include "options.hpp"

namespace kiln::nn {

/// The layer behind nn::linear (which spells its options).
template <std::size_t In, std::size_t Out, class D, class T, bool Bias>
struct linear_layer : detail::optional_bias<Bias, param<T, shape<Out>, D>>, module<linear_layer<In, Out, D, T, Bias>> {
    static constexpr bool has_bias = Bias;
    param<T, shape<Out, In>, D> weight;

    explicit linear_layer(generator& g = default_generator()) {
        init_fan_in_uniform(weight, In, g);
        if constexpr (Bias) init_fan_in_uniform(this->bias, In, g);
    }
    template <class X, class A = use_params>
    auto forward(X&& x, A a = {}) const {
        detail_check<shape_of_t<X>>();
        if constexpr (Bias)
            return apply_op(linear_op{}, std::forward<X>(x), a(weight), a(this->bias));
        else
            return apply_op(linear_op{}, std::forward<X>(x), a(weight));
    }
    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        f(prefix + "weight", weight);
        if constexpr (Bias) f(prefix + "bias", this->bias);
    }
    void train(bool = true) {}
    static constexpr std::size_t parameters = Out * In + (Bias ? Out : 0);
    /// Forward FLOPs (2 per multiply-add) for an input of shape XS.
    template <class XS>
    static constexpr std::size_t flops() { return 2 * (XS::size / In) * In * Out; }

private:
    template <class S, std::size_t X = S::extents[S::rank - 1]>
    static consteval void detail_check() {
        static_assert(X == In, "[linear] the input's last axis must equal in_features");
    }
};

/// torch.nn.Linear(In, Out); Opts: a device, a value type, nn::no_bias (any order, each optional).
template <std::size_t In, std::size_t Out, class... Opts>
using linear = linear_layer<In, Out, typename detail::layer_options<detail::linear_options_tag, Opts...>::device,
                            typename detail::layer_options<detail::linear_options_tag, Opts...>::value_type,
                            detail::layer_options<detail::linear_options_tag, Opts...>::bias>;

}  // namespace kiln::nn
