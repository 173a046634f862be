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
    /// Forward FLOPs for a batch of `rows` images of H x W (given at the call site's shape).
    template <std::size_t H, std::size_t W>
    static constexpr std::size_t flops_for(std::size_t rows = 1) {
        return 2 * rows * Out * In * K * K * kiln::detail::conv_out(H, K, Stride, Pad, Dil) * kiln::detail::conv_out(W, K, Stride, Pad, Dil);
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
