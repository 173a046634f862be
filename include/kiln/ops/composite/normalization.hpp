// Normalisation ops with hand-written vjps (one graph node each): batch norm over every axis
// but the channel axis 1, layer norm over the last axis.
#pragma once

#include <utility>

#include "../primitive/binary.hpp"
#include "../primitive/reduce.hpp"
#include "../primitive/movement.hpp"
#include "../primitive/unary.hpp"

namespace kiln {

namespace detail {
template <std::size_t Axis, class E>
auto sum_rest(const E& e) {
    using S = shape_of_t<E>;
    if constexpr (Axis >= S::rank)
        return eval(e);
    else
        return sum_rest<Axis + 1>(sum<int(Axis), true>(e));
}
/// Sum over every axis except 1, keeping dims: [N, C, ...] -> [1, C, 1, ...].
template <class E>
auto sum_except_channel(const E& e) {
    return sum_rest<2>(sum<0, true>(e));
}
}  // namespace detail

/// Batch norm: in training, normalise with the batch's mean and biased variance; otherwise
/// with the running statistics (RM, RV: tensors [C]). Then gamma * x_hat + beta.
template <class T, class RS>
struct batch_norm_op {
    static constexpr const char* name = "batch_norm";
    T eps;
    bool training;
    const RS* running_mean;
    const RS* running_var;

    template <class X>
    auto stats(const X& x) const {  // mean and 1/std, shaped [1, C, 1, ...]
        using S = shape_of_t<X>;
        constexpr T m = T(S::size / S::extents[1]);
        auto mean = eval(detail::sum_except_channel(x) * (T(1) / m));
        using CS = shape_of_t<decltype(mean)>;
        if (training) {
            auto invstd = eval(1 / sqrt(detail::sum_except_channel((x - mean) * (x - mean)) * (T(1) / m) + eps));
            return std::pair{mean, invstd};
        }
        return std::pair{eval(reshape<CS>(*running_mean)), eval(1 / sqrt(reshape<CS>(*running_var) + eps))};
    }
    template <class X, class G, class B>
    auto forward(const X& x, const G& gamma, const B& beta) const {
        auto [mean, invstd] = stats(x);
        using CS = shape_of_t<decltype(mean)>;
        return eval((x - mean) * invstd * reshape<CS>(gamma) + reshape<CS>(beta));
    }
    template <std::size_t I, class Gr, class Y, class X, class G, class B>
    auto vjp(const Gr& g, const Y&, const X& x, const G& gamma, const B&) const {
        using S = shape_of_t<X>;
        constexpr T m = T(S::size / S::extents[1]);
        auto [mean, invstd] = stats(x);
        using CS = shape_of_t<decltype(mean)>;
        auto xhat = eval((x - mean) * invstd);
        auto gm = eval(g);
        if constexpr (I == 0) {
            auto dxhat = eval(gm * reshape<CS>(gamma));
            if (!training) return eval(dxhat * invstd);
            auto s1 = detail::sum_except_channel(dxhat);
            auto s2 = detail::sum_except_channel(dxhat * xhat);
            return eval((dxhat * m - s1 - xhat * s2) * (invstd * (T(1) / m)));
        } else if constexpr (I == 1) {
            return reshape<shape_of_t<G>>(detail::sum_except_channel(gm * xhat));
        } else {
            return reshape<shape_of_t<G>>(detail::sum_except_channel(gm));
        }
    }
};

/// Layer norm over the last axis: gamma * (x - mean) / sqrt(var + eps) + beta.
template <class T>
struct layer_norm_op {
    static constexpr const char* name = "layer_norm";
    T eps;
    template <class X, class G, class B>
    auto forward(const X& x, const G& gamma, const B& beta) const {
        using S = shape_of_t<X>;
        constexpr T n = T(S::extents[S::rank - 1]);
        auto mean = eval(sum<-1, true>(x) * (T(1) / n));
        auto var = eval(sum<-1, true>((x - mean) * (x - mean)) * (T(1) / n));
        return eval((x - mean) / sqrt(var + eps) * gamma + beta);
    }
    template <std::size_t I, class Gr, class Y, class X, class G, class B>
    auto vjp(const Gr& g, const Y&, const X& x, const G& gamma, const B&) const {
        using S = shape_of_t<X>;
        constexpr std::size_t F = S::extents[S::rank - 1], rows = S::size / F;
        constexpr T n = T(F);
        auto mean = eval(sum<-1, true>(x) * (T(1) / n));
        auto invstd = eval(1 / sqrt(sum<-1, true>((x - mean) * (x - mean)) * (T(1) / n) + eps));
        auto xhat = eval((x - mean) * invstd);
        auto gm = eval(g);
        if constexpr (I == 0) {
            auto dxhat = eval(gm * gamma);
            auto s1 = sum<-1, true>(dxhat);
            auto s2 = sum<-1, true>(dxhat * xhat);
            return eval((dxhat * n - s1 - xhat * s2) * (invstd * (T(1) / n)));
        } else if constexpr (I == 1) {
            return sum<0>(reshape<shape<rows, F>>(eval(gm * xhat)));
        } else {
            return sum<0>(reshape<shape<rows, F>>(gm));
        }
    }
};

}  // namespace kiln
