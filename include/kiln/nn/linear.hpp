// torch.nn.Linear: y = x W^T + b, W [out, in], over the last axis of any input.
#pragma once

#include "functional.hpp"
#include "layer.hpp"

namespace kiln::nn {

template <std::size_t In, std::size_t Out, class D = cpu, class T = float>
struct linear {
    param<T, shape<Out, In>, D> weight;
    param<T, shape<Out>, D> bias;

    explicit linear(generator& g = default_generator()) {
        init_fan_in_uniform(weight, In, g);
        init_fan_in_uniform(bias, In, g);
    }
    template <class X, class A = use_params>
    auto forward(X&& x, A a = {}) const {
        detail_check<shape_of_t<X>>();
        return functional::linear(std::forward<X>(x), a(weight), a(bias));
    }
    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        f(prefix + "weight", weight);
        f(prefix + "bias", bias);
    }
    void train(bool = true) {}
    static constexpr std::size_t parameters = Out * In + Out;
    /// Forward FLOPs (2 per multiply-add) for an input of shape XS.
    template <class XS>
    static constexpr std::size_t flops() { return 2 * (XS::size / In) * In * Out; }

private:
    template <class S, std::size_t X = S::extents[S::rank - 1]>
    static consteval void detail_check() {
        static_assert(X == In, "[linear] the input's last axis must equal in_features");
    }
};

}  // namespace kiln::nn
