// Losses with torch.nn's options. Each loss is one graph node with a hand-written vjp.
//
//   loss::cross_entropy(logits, labels)                                  // mean over the batch
//   loss::cross_entropy(logits, labels, {.label_smoothing = 0.1, .ignore_index = 0,
//                                        .weight = class_weights, .valid = b.valid})
//   loss::cross_entropy<loss::reduction::none>(logits, labels)           // per row, shape [B]
//   loss::bce_with_logits<loss::reduction::sum>(z, t, {.pos_weight = pw})
//
// The reduction is a template argument (default mean) because it decides the result's shape:
// a scalar for mean and sum, the loss's own shape ([B] for cross_entropy) for none. Every other
// option is a field of the loss's options struct, in designated-initialiser order; the short
// forms (label_smoothing, valid) keep working. Weights are constants (no gradient), given as
// tensors on any device; they must broadcast to the loss's shape (a compile error says so).
//
// `valid`: rows >= valid of a padded last batch (data/loader.hpp) count for nothing (not even
// their labels are checked): they add 0 to a sum, are 0 in a 'none' result, get no gradient and
// are not in a mean's denominator, so every sample counts once.
//
// Means follow torch exactly: elementwise losses divide by the number of valid elements (weights
// do not change it); cross_entropy divides by the sum of weight[label] over counted rows (valid
// and not ignore_index; the row count without class weights). When that is 0 (every row ignored)
// torch returns nan; kiln reports it through kiln::fail instead (reduction::sum gives 0 there).
#pragma once

#include <cstdint>
#include <optional>
#include <type_traits>

#include "../nn/functional.hpp"

namespace kiln::loss {

/// How a loss reduces its values (torch's `reduction`): a template argument of every loss.
enum class reduction { mean, sum, none };

/// The default valid-row count: every row counts.
inline constexpr std::size_t all_rows = ~std::size_t{0};

/// A constant weight for a loss of shape S: any tensor (any value type, any device) whose shape
/// broadcasts to S by numpy's rules, kept on the host in S. Empty by default (no weighting).
template <class T, class S>
class weight_tensor {
public:
    weight_tensor() = default;
    template <class U, class W, class D, class St>
    weight_tensor(const tensor<U, W, D, St>& w) {  // NOLINT: implicit, so `.weight = w` reads naturally
        const auto host = to<cpu>(w);
        tensor<T, W> cast(uninitialized);
        for (std::size_t i = 0; i < W::size; ++i) cast[i] = static_cast<T>(host[i]);
        values_.emplace(broadcast_to<S>(cast));
    }
    bool empty() const { return !values_.has_value(); }
    /// Element i of the weight broadcast to S (1 when empty).
    T operator[](std::size_t i) const { return values_ ? (*values_)[i] : T(1); }

private:
    std::optional<tensor<T, S>> values_;
};

/// cross_entropy's options (torch.nn.CrossEntropyLoss's, less reduction).
template <class T, std::size_t C>
struct cross_entropy_options {
    double label_smoothing = 0.0;     // in [0, 1]: the target mixes in label_smoothing / C of each class
    long long ignore_index = -100;    // rows with this label count for nothing (may be a class in 0..C-1)
    weight_tensor<T, shape<C>> weight{};  // class weights [C]
    std::size_t valid = all_rows;     // rows >= valid are padding
};
/// mse's options.
struct mse_options {
    std::size_t valid = all_rows;
};
/// bce's options: weight rescales each element's loss (torch.nn.BCELoss's weight).
template <class T, class S>
struct bce_options {
    weight_tensor<T, S> weight{};
    std::size_t valid = all_rows;
};
/// bce_with_logits's options: weight as bce's; pos_weight multiplies the positive term
/// (torch.nn.BCEWithLogitsLoss: a [C] pos_weight broadcasts over the last axis).
template <class T, class S>
struct bce_with_logits_options {
    weight_tensor<T, S> weight{};
    weight_tensor<T, S> pos_weight{};
    std::size_t valid = all_rows;
};

namespace detail {
template <class X>
using value_t = typename std::remove_cvref_t<X>::value_type;
template <class X>
using shape_t = typename std::remove_cvref_t<X>::shape_type;
template <class X>
using device_t = typename std::remove_cvref_t<X>::device_type;
template <class S>
inline constexpr std::size_t rows_of = S::rank ? S::extents[0] : 1;
template <class S>
inline constexpr std::size_t classes_of = S::rank == 2 ? S::extents[1] : 1;

inline std::size_t check_valid(std::size_t valid, std::size_t rows, const char* who) {
    if (valid == all_rows) valid = rows;
    if (valid == 0 || valid > rows) kiln::fail("[%s] valid rows must be in 1..%zu, got %zu", who, rows, valid);
    return valid;
}

/// The result of a loss whose elementwise values are `l` (already multiplied by the constant
/// per-element factor): their sum times `scale`, or themselves for reduction::none.
template <reduction R, class L, class T>
auto reduce(const L& l, T scale) {
    if constexpr (R == reduction::none) return eval(l);
    else return eval(sum(l) * scale);
}
/// The adjoint of an elementwise loss of shape S: dl (d loss_e / d x_e) times the constant factor
/// `coef` times the upstream gradient g (a scalar times `scale`, or of shape S for reduction::none).
template <reduction R, class S, class DL, class K, class G, class T>
auto adjoint(const DL& dl, const K& coef, const G& g, T scale) {
    if constexpr (R == reduction::none) return eval(dl * coef * g);
    else return eval(dl * coef * broadcast_to<S>(eval(g * scale)));
}

/// mask(rows < valid) * weight, for an elementwise loss of shape S, on device D.
template <class T, class S, class D>
auto element_factor(std::size_t valid, const weight_tensor<T, S>& weight) {
    tensor<T, S> k;  // zero: padded rows
    const std::size_t n = valid * (S::size / rows_of<S>);
    for (std::size_t i = 0; i < n; ++i) k[i] = weight[i];
    return to<D>(k);
}
/// 1 / (valid elements) for a mean, else 1.
template <reduction R, class T, class S>
T element_scale(std::size_t valid) {
    return R == reduction::mean ? T(1) / T(valid * (S::size / rows_of<S>)) : T(1);
}
}  // namespace detail

/// Cross-entropy of logits [B, C] against integer labels, as torch 1.13 defines it with every
/// option. A counted row i (i < valid, label y != ignore_index) has the loss
///   -sum_c a_c log_softmax(x_i)_c,   a_c = (1 - eps) w[y] [c == y] + eps / C w[c]
/// (w = 1 without class weights); other rows 0. The mean divides by sum of w[y] over counted rows.
template <class T, std::size_t B, std::size_t C, class D, reduction R>
struct cross_entropy_op {
    static constexpr const char* name = "cross_entropy";
    tensor<T, shape<B, C>, D> target;  // a (above) per row; zero on rows that do not count
    tensor<T, shape<B, 1>, D> total;   // sum_c a_c per row: softmax's factor in the gradient
    T scale;                           // 1 / (sum of w[y] over counted rows) for a mean, else 1
    template <class X>
    auto forward(const X& x) const {
        auto lp = log_softmax_op<-1>{}.forward(x);
        if constexpr (R == reduction::none) return eval(sum<1>(target * lp) * T(-1));
        else return eval(sum(target * lp) * -scale);
    }
    template <std::size_t, class G, class Y, class X>
    auto vjp(const G& g, const Y&, const X& x) const {
        if constexpr (R == reduction::none)
            return eval((softmax_op<-1>{}.forward(x) * total - target) * reshape<B, 1>(g));
        else
            return eval((softmax_op<-1>{}.forward(x) * total - target) * broadcast_to<shape<B, C>>(eval(g * scale)));
    }
};

/// Cross-entropy of logits [B, C] and labels (any integer tensor [B], on the host) with torch's
/// options; the reduction (default mean) is the template argument.
template <reduction R = reduction::mean, class X, class L>
auto cross_entropy(X&& logits, const L& labels,
                   const cross_entropy_options<detail::value_t<X>, detail::classes_of<detail::shape_t<X>>>& opt) {
    using S = detail::shape_t<X>;
    using T = detail::value_t<X>;
    using D = detail::device_t<X>;
    static_assert(S::rank == 2, "[cross_entropy] logits must be [batch, classes]");
    constexpr std::size_t B = S::extents[0], C = S::extents[1];
    static_assert(std::is_same_v<typename L::shape_type, shape<B>>, "[cross_entropy] labels must be [batch]");
    const std::size_t valid = detail::check_valid(opt.valid, B, "cross_entropy");
    if (!(opt.label_smoothing >= 0.0 && opt.label_smoothing <= 1.0))
        kiln::fail("[cross_entropy] label_smoothing must be in [0, 1], got %g", opt.label_smoothing);
    tensor<T, shape<B, C>> target;
    tensor<T, shape<B, 1>> total;
    const T eps = T(opt.label_smoothing);
    T smooth_total = 0;  // sum_c eps / C w[c], the same for every counted row
    for (std::size_t c = 0; c < C; ++c) smooth_total += eps / T(C) * opt.weight[c];
    T weight_sum = 0;
    std::size_t counted = 0;
    for (std::size_t i = 0; i < valid; ++i) {
        const auto y = static_cast<long long>(labels[i]);
        if (y == opt.ignore_index) continue;
        if (y < 0 || y >= static_cast<long long>(C))
            kiln::fail("[cross_entropy] label %lld of row %zu is not a class in 0..%zu", y, i, C - 1);
        const T wy = opt.weight[static_cast<std::size_t>(y)];
        for (std::size_t c = 0; c < C; ++c) target(i, c) = eps / T(C) * opt.weight[c];
        target(i, static_cast<std::size_t>(y)) += (T(1) - eps) * wy;
        total(i, 0) = (T(1) - eps) * wy + smooth_total;
        weight_sum += wy;
        ++counted;
    }
    T scale = T(1);
    if constexpr (R == reduction::mean) {
        if (counted == 0)
            kiln::fail("[cross_entropy] the mean has no rows: all %zu valid rows have ignore_index %lld (torch "
                       "returns nan); skip the batch or use reduction::sum",
                       valid, opt.ignore_index);
        if (weight_sum == T(0))
            kiln::fail("[cross_entropy] the mean divides by the class weights of the %zu counted rows' labels, "
                       "which sum to 0 (torch returns nan or inf)",
                       counted);
        scale = T(1) / weight_sum;
    }
    return apply_op(cross_entropy_op<T, B, C, D, R>{to<D>(target), to<D>(total), scale}, std::forward<X>(logits));
}
/// The short form: cross_entropy(logits, labels[, label_smoothing[, valid]]).
template <reduction R = reduction::mean, class X, class L>
auto cross_entropy(X&& logits, const L& labels, double label_smoothing = 0.0, std::size_t valid = all_rows) {
    return cross_entropy<R>(std::forward<X>(logits), labels, {.label_smoothing = label_smoothing, .valid = valid});
}

/// Mean squared error (torch.nn.MSELoss).
template <class T, class S, class D, reduction R>
struct mse_op {
    static constexpr const char* name = "mse";
    tensor<T, S, D> mask;  // 1 on valid rows
    T scale;
    template <class P, class Q>
    auto forward(const P& p, const Q& q) const { return detail::reduce<R>((p - q) * (p - q) * mask, scale); }
    template <std::size_t I, class G, class Y, class P, class Q>
    auto vjp(const G& g, const Y&, const P& p, const Q& q) const {
        if constexpr (I == 0) return detail::adjoint<R, S>((p - q) * T(2), mask, g, scale);
        else return detail::adjoint<R, S>((q - p) * T(2), mask, g, scale);
    }
};
template <reduction R = reduction::mean, class P, class Q>
auto mse(P&& pred, Q&& target, const mse_options& opt) {
    using S = detail::shape_t<P>;
    using T = detail::value_t<P>;
    using D = detail::device_t<P>;
    const std::size_t valid = detail::check_valid(opt.valid, detail::rows_of<S>, "mse");
    return apply_op(mse_op<T, S, D, R>{detail::element_factor<T, S, D>(valid, {}), detail::element_scale<R, T, S>(valid)},
                    std::forward<P>(pred), std::forward<Q>(target));
}
template <reduction R = reduction::mean, class P, class Q>
auto mse(P&& pred, Q&& target, std::size_t valid = all_rows) {
    return mse<R>(std::forward<P>(pred), std::forward<Q>(target), mse_options{.valid = valid});
}

/// Binary cross-entropy on probabilities (torch.nn.BCELoss: each log clamped at -100).
template <class T, class S, class D, reduction R>
struct bce_op {
    static constexpr const char* name = "bce";
    tensor<T, S, D> factor;  // weight on valid rows, 0 on padding
    T scale;
    template <class P, class Q>
    auto forward(const P& p, const Q& t) const {
        return detail::reduce<R>((t * maximum(log(p), T(-100)) + (1 - t) * maximum(log(1 - p), T(-100))) * factor * T(-1),
                                 scale);
    }
    template <std::size_t I, class G, class Y, class P, class Q>
    auto vjp(const G& g, const Y&, const P& p, const Q& t) const {
        static_assert(I == 0, "[bce] targets take no gradient");
        // torch's epsilon is the float 1e-12, also in double
        return detail::adjoint<R, S>((p - t) / maximum(p * (1 - p), T(1e-12f)), factor, g, scale);
    }
};
template <reduction R = reduction::mean, class P, class Q>
auto bce(P&& prob, Q&& target, const bce_options<detail::value_t<P>, detail::shape_t<P>>& opt) {
    using S = detail::shape_t<P>;
    using T = detail::value_t<P>;
    using D = detail::device_t<P>;
    const std::size_t valid = detail::check_valid(opt.valid, detail::rows_of<S>, "bce");
    return apply_op(bce_op<T, S, D, R>{detail::element_factor<T, S, D>(valid, opt.weight),
                                       detail::element_scale<R, T, S>(valid)},
                    std::forward<P>(prob), std::forward<Q>(target));
}
template <reduction R = reduction::mean, class P, class Q>
auto bce(P&& prob, Q&& target, std::size_t valid = all_rows) {
    return bce<R>(std::forward<P>(prob), std::forward<Q>(target), {.valid = valid});
}

/// Binary cross-entropy on logits z, stable for any logit size (torch.nn.BCEWithLogitsLoss):
///   l = (1 - t) z + (1 + (pos_weight - 1) t) (max(-z, 0) + log(1 + exp(-|z|)))
/// which without pos_weight is max(z, 0) - z t + log(1 + exp(-|z|)).
template <class T, class S, class D, reduction R>
struct bce_with_logits_op {
    static constexpr const char* name = "bce_with_logits";
    tensor<T, S, D> factor;                    // weight on valid rows, 0 on padding
    std::optional<tensor<T, S, D>> pos_weight;  // none: all ones
    T scale;
    template <class Z, class Q>
    auto forward(const Z& z, const Q& t) const {
        if (!pos_weight) return detail::reduce<R>((maximum(z, T(0)) - z * t + log(1 + exp(-abs(z)))) * factor, scale);
        const auto& pw = *pos_weight;
        return detail::reduce<R>(
            ((1 - t) * z + (1 + (pw - 1) * t) * (maximum(-z, T(0)) + log(1 + exp(-abs(z))))) * factor, scale);
    }
    template <std::size_t I, class G, class Y, class Z, class Q>
    auto vjp(const G& g, const Y&, const Z& z, const Q& t) const {
        static_assert(I == 0, "[bce_with_logits] targets take no gradient");
        if (!pos_weight) return detail::adjoint<R, S>(sigmoid(z) - t, factor, g, scale);
        const auto& pw = *pos_weight;
        return detail::adjoint<R, S>((1 + (pw - 1) * t) * sigmoid(z) - pw * t, factor, g, scale);
    }
};
template <reduction R = reduction::mean, class Z, class Q>
auto bce_with_logits(Z&& logits, Q&& target, const bce_with_logits_options<detail::value_t<Z>, detail::shape_t<Z>>& opt) {
    using S = detail::shape_t<Z>;
    using T = detail::value_t<Z>;
    using D = detail::device_t<Z>;
    const std::size_t valid = detail::check_valid(opt.valid, detail::rows_of<S>, "bce_with_logits");
    std::optional<tensor<T, S, D>> pw;
    if (!opt.pos_weight.empty()) {
        tensor<T, S> host(uninitialized);
        for (std::size_t i = 0; i < S::size; ++i) host[i] = opt.pos_weight[i];
        pw.emplace(to<D>(host));
    }
    return apply_op(bce_with_logits_op<T, S, D, R>{detail::element_factor<T, S, D>(valid, opt.weight), std::move(pw),
                                                   detail::element_scale<R, T, S>(valid)},
                    std::forward<Z>(logits), std::forward<Q>(target));
}
template <reduction R = reduction::mean, class Z, class Q>
auto bce_with_logits(Z&& logits, Q&& target, std::size_t valid = all_rows) {
    return bce_with_logits<R>(std::forward<Z>(logits), std::forward<Q>(target), {.valid = valid});
}

}  // namespace kiln::loss
