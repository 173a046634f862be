// torch.nn.BatchNorm1d/2d (one type: channel axis 1 of [N, C] or [N, C, H, W]) and LayerNorm.
#pragma once

#include <cstdint>

#include "../autodiff/ops.hpp"
#include "../ops/composite/normalization.hpp"
#include "layer.hpp"

namespace kiln::nn {

template <std::size_t C, class D = cpu, class T = float>
struct batch_norm : module<batch_norm<C, D, T>> {
    param<T, shape<C>, D> weight{full<T, shape<C>, D>(T(1))};
    param<T, shape<C>, D> bias;
    tensor<T, shape<C>, D> running_mean;
    tensor<T, shape<C>, D> running_var = full<T, shape<C>, D>(T(1));
    tensor<std::int64_t, shape<>> num_batches_tracked;
    static constexpr std::size_t parameters = 2 * C;
    T eps = T(1e-5);
    T momentum = T(0.1);
    bool training_ = true;

    template <class X, class A = use_params>
    auto forward(X&& x, A a = {}) const {
        using S = typename std::remove_cvref_t<X>::shape_type;
        static_assert(S::rank >= 2 && S::extents[1] == C, "[batch_norm] input must be [N, C, ...] with C channels");
        const bool train_now = training_ && !std::is_same_v<A, use_values>;
        if (train_now) update_running(kiln::detail::value_of(x));
        return apply_op(batch_norm_op<T, tensor<T, shape<C>, D>>{eps, train_now, &running_mean, &running_var},
                        std::forward<X>(x), a(weight), a(bias));
    }
    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        f(prefix + "weight", weight);
        f(prefix + "bias", bias);
    }
    template <class F>
    void visit_buffers(const std::string& prefix, F&& f) {
        f(prefix + "running_mean", running_mean);
        f(prefix + "running_var", running_var);
        f(prefix + "num_batches_tracked", num_batches_tracked);
    }
    void train(bool on = true) { training_ = on; }

private:
    template <class V>
    void update_running(const V& x) const {
        using S = shape_of_t<V>;
        constexpr T m = T(S::size / C);
        auto mean = eval(kiln::detail::sum_except_channel(x) * (T(1) / m));
        auto var = eval(kiln::detail::sum_except_channel((x - mean) * (x - mean)) * (T(1) / (m > 1 ? m - 1 : 1)));
        auto& self = const_cast<batch_norm&>(*this);  // running statistics are state, not graph
        self.running_mean = running_mean * (1 - momentum) + reshape<shape<C>>(mean) * momentum;
        self.running_var = running_var * (1 - momentum) + reshape<shape<C>>(var) * momentum;
        self.num_batches_tracked[0] += 1;
    }
};

template <std::size_t F, class D = cpu, class T = float>
struct layer_norm : module<layer_norm<F, D, T>> {
    param<T, shape<F>, D> weight{full<T, shape<F>, D>(T(1))};
    param<T, shape<F>, D> bias;
    static constexpr std::size_t parameters = 2 * F;
    T eps = T(1e-5);

    template <class X, class A = use_params>
    auto forward(X&& x, A a = {}) const {
        using S = typename std::remove_cvref_t<X>::shape_type;
        static_assert(S::extents[S::rank - 1] == F, "[layer_norm] the last axis must have normalized_shape elements");
        return apply_op(layer_norm_op<T>{eps}, std::forward<X>(x), a(weight), a(bias));
    }
    template <class F2>
    void visit_parameters(const std::string& prefix, F2&& f) {
        f(prefix + "weight", weight);
        f(prefix + "bias", bias);
    }
    void train(bool = true) {}
};

}  // namespace kiln::nn
