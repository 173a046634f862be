// torch.nn.Conv2d (weight [out, in, k, k], bias [out]), MaxPool2d and AvgPool2d.
#pragma once

#include "../ops/composite/conv.hpp"
#include "layer.hpp"

namespace kiln::nn {

template <std::size_t In, std::size_t Out, std::size_t K, std::size_t Stride = 1, std::size_t Pad = 0,
          std::size_t Dil = 1, class D = cpu, class T = float>
struct conv2d {
    param<T, shape<Out, In, K, K>, D> weight;
    param<T, shape<Out>, D> bias;

    explicit conv2d(generator& g = default_generator()) {
        init_fan_in_uniform(weight, In * K * K, g);
        init_fan_in_uniform(bias, In * K * K, g);
    }
    template <class X, class A = use_params>
    auto forward(X&& x, A a = {}) const {
        return apply_op(conv2d_op<Stride, Pad, Dil>{}, std::forward<X>(x), a(weight), a(bias));
    }
    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        f(prefix + "weight", weight);
        f(prefix + "bias", bias);
    }
    void train(bool = true) {}
    static constexpr std::size_t parameters = Out * In * K * K + Out;
    /// Forward FLOPs (2 per multiply-add) for an input of shape XS = [N, C, H, W].
    template <class XS>
    static constexpr std::size_t flops() {
        return 2 * XS::extents[0] * Out * In * K * K * kiln::detail::conv_out(XS::extents[2], K, Stride, Pad, Dil) *
               kiln::detail::conv_out(XS::extents[3], K, Stride, Pad, Dil);
    }
};

template <std::size_t K, std::size_t Stride = K, std::size_t Pad = 0>
struct max_pool2d : stateless {
    template <class X, class A = use_params>
    auto forward(X&& x, A = {}) const {
        return apply_op(pool2d_op<K, Stride, Pad, true>{}, std::forward<X>(x));
    }
};
template <std::size_t K, std::size_t Stride = K, std::size_t Pad = 0, bool CountIncludePad = true>
struct avg_pool2d : stateless {
    template <class X, class A = use_params>
    auto forward(X&& x, A = {}) const {
        return apply_op(pool2d_op<K, Stride, Pad, false, CountIncludePad>{}, std::forward<X>(x));
    }
};

}  // namespace kiln::nn
