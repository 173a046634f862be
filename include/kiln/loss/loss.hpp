// Losses (mean over the batch). Each takes the number of valid rows, so the padded rows of a
// last partial batch (data/loader.hpp) count for nothing and every sample counts once.
#pragma once

#include <cstdint>
#include <type_traits>

#include "../nn/functional.hpp"

namespace kiln::loss {

namespace detail {
/// 1 for rows < valid, else 0, shaped [B, 1, ...] to broadcast over a row.
template <class T, class S, class D>
auto row_mask(std::size_t valid) {
    constexpr std::size_t rows = S::rank ? S::extents[0] : 1, per_row = S::size / rows;
    tensor<T, shape<rows, per_row>> m;
    for (std::size_t i = 0; i < rows && i < valid; ++i)
        for (std::size_t j = 0; j < per_row; ++j) m(i, j) = T(1);
    return to<D>(reshape<S>(m));
}
inline std::size_t check_valid(std::size_t valid, std::size_t rows, const char* who) {
    if (valid == 0 || valid > rows) kiln::fail("[%s] valid rows must be in 1..%zu, got %zu", who, rows, valid);
    return valid;
}
/// A mean over valid rows of an elementwise loss op Op<T, S, D>{mask, 1 / count}.
template <template <class, class, class> class Op, class P, class Q>
auto masked_mean_loss(const char* who, P&& p, Q&& q, std::size_t valid) {
    using PT = std::remove_cvref_t<P>;
    using S = typename PT::shape_type;
    using T = typename PT::value_type;
    using D = typename PT::device_type;
    constexpr std::size_t rows = S::rank ? S::extents[0] : 1;
    if (valid == ~std::size_t{0}) valid = rows;
    check_valid(valid, rows, who);
    return apply_op(Op<T, S, D>{row_mask<T, S, D>(valid), T(1) / T(valid * (S::size / rows))}, std::forward<P>(p),
                    std::forward<Q>(q));
}
}  // namespace detail

/// Cross-entropy of logits [B, C] against integer class labels; label smoothing as in PyTorch.
template <class T, std::size_t B, std::size_t C, class D>
struct cross_entropy_op {
    static constexpr const char* name = "cross_entropy";
    tensor<T, shape<B, C>, D> target;  // smoothed one-hot, zero on padded rows
    tensor<T, shape<B, 1>, D> mask;
    T inv_valid;
    template <class X>
    auto forward(const X& x) const {
        return eval(sum(target * log_softmax_op<-1>{}.forward(x)) * -inv_valid);
    }
    template <std::size_t, class G, class Y, class X>
    auto vjp(const G& g, const Y&, const X& x) const {
        return eval((softmax_op<-1>{}.forward(x) * mask - target) * broadcast_to<shape<B, C>>(eval(g * inv_valid)));
    }
};

/// Mean cross-entropy of logits [B, C] and labels (any integer tensor [B]); rows >= valid are padding.
template <class X, class L>
auto cross_entropy(X&& logits, const L& labels, double label_smoothing = 0.0, std::size_t valid = ~std::size_t{0}) {
    using XT = std::remove_cvref_t<X>;
    using S = typename XT::shape_type;
    using T = typename XT::value_type;
    using D = typename XT::device_type;
    static_assert(S::rank == 2, "[cross_entropy] logits must be [batch, classes]");
    constexpr std::size_t B = S::extents[0], C = S::extents[1];
    static_assert(std::is_same_v<typename L::shape_type, shape<B>>, "[cross_entropy] labels must be [batch]");
    if (valid == ~std::size_t{0}) valid = B;
    detail::check_valid(valid, B, "cross_entropy");
    tensor<T, shape<B, C>> target;
    tensor<T, shape<B, 1>> mask;
    const T eps = T(label_smoothing);
    for (std::size_t i = 0; i < valid; ++i) {
        const auto y = static_cast<long long>(labels[i]);
        if (y < 0 || y >= static_cast<long long>(C))
            kiln::fail("[cross_entropy] label %lld of row %zu is not a class in 0..%zu", y, i, C - 1);
        for (std::size_t c = 0; c < C; ++c) target(i, c) = eps / T(C);
        target(i, static_cast<std::size_t>(y)) += T(1) - eps;
        mask(i, 0) = T(1);
    }
    return apply_op(cross_entropy_op<T, B, C, D>{to<D>(target), to<D>(mask), T(1) / T(valid)}, std::forward<X>(logits));
}

/// Mean squared error (torch.nn.MSELoss, reduction mean over valid rows).
template <class T, class S, class D>
struct mse_op {
    static constexpr const char* name = "mse";
    tensor<T, S, D> mask;
    T inv_n;
    template <class P, class Q>
    auto forward(const P& p, const Q& q) const { return eval(sum((p - q) * (p - q) * mask) * inv_n); }
    template <std::size_t I, class G, class Y, class P, class Q>
    auto vjp(const G& g, const Y&, const P& p, const Q& q) const {
        auto k = eval(g * (2 * inv_n));
        if constexpr (I == 0) return eval((p - q) * mask * broadcast_to<S>(k));
        else return eval((q - p) * mask * broadcast_to<S>(k));
    }
};
template <class P, class Q>
auto mse(P&& pred, Q&& target, std::size_t valid = ~std::size_t{0}) {
    return detail::masked_mean_loss<mse_op>("mse", std::forward<P>(pred), std::forward<Q>(target), valid);
}

/// Binary cross-entropy on probabilities (torch.nn.BCELoss: log clamped at -100).
template <class T, class S, class D>
struct bce_op {
    static constexpr const char* name = "bce";
    tensor<T, S, D> mask;
    T inv_n;
    template <class P, class Q>
    auto forward(const P& p, const Q& t) const {
        return eval(sum((t * maximum(log(p), T(-100)) + (1 - t) * maximum(log(1 - p), T(-100))) * mask) * -inv_n);
    }
    template <std::size_t I, class G, class Y, class P, class Q>
    auto vjp(const G& g, const Y&, const P& p, const Q& t) const {
        static_assert(I == 0, "[bce] targets take no gradient");
        return eval((p - t) / maximum(p * (1 - p), T(1e-12)) * mask * broadcast_to<S>(eval(g * inv_n)));
    }
};
template <class P, class Q>
auto bce(P&& prob, Q&& target, std::size_t valid = ~std::size_t{0}) {
    return detail::masked_mean_loss<bce_op>("bce", std::forward<P>(prob), std::forward<Q>(target), valid);
}

/// Binary cross-entropy on logits, stable for any logit size (torch.nn.BCEWithLogitsLoss).
template <class T, class S, class D>
struct bce_with_logits_op {
    static constexpr const char* name = "bce_with_logits";
    tensor<T, S, D> mask;
    T inv_n;
    template <class Z, class Q>
    auto forward(const Z& z, const Q& t) const {
        return eval(sum((maximum(z, T(0)) - z * t + log(1 + exp(-abs(z)))) * mask) * inv_n);
    }
    template <std::size_t I, class G, class Y, class Z, class Q>
    auto vjp(const G& g, const Y&, const Z& z, const Q& t) const {
        static_assert(I == 0, "[bce_with_logits] targets take no gradient");
        return eval((sigmoid(z) - t) * mask * broadcast_to<S>(eval(g * inv_n)));
    }
};
template <class Z, class Q>
auto bce_with_logits(Z&& logits, Q&& target, std::size_t valid = ~std::size_t{0}) {
    return detail::masked_mean_loss<bce_with_logits_op>("bce_with_logits", std::forward<Z>(logits),
                                                        std::forward<Q>(target), valid);
}

}  // namespace kiln::loss
