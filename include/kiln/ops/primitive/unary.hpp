// Elementwise unary primitives. One op tag = name + one body serving scalars and SIMD batches.
// Gradients (vjp) live beside each op in autodiff/ once it lands.
#pragma once

#include <cmath>
#include <type_traits>

#include "../../core/expr.hpp"
#include "../../core/simd.hpp"

namespace kiln {

struct neg_op {
    static constexpr const char* name = "neg";
    template <class V> V operator()(V x) const { return -x; }
};
struct exp_op {
    static constexpr const char* name = "exp";
    template <class V> V operator()(V x) const { return simd::exp(x); }
};
struct log_op {
    static constexpr const char* name = "log";
    template <class V> V operator()(V x) const { return simd::log(x); }
};
struct sqrt_op {
    static constexpr const char* name = "sqrt";
    template <class V> V operator()(V x) const { return simd::sqrt(x); }
};
struct tanh_op {
    static constexpr const char* name = "tanh";
    template <class V> V operator()(V x) const { return simd::tanh(x); }
};
struct abs_op {
    static constexpr const char* name = "abs";
    template <class V> V operator()(V x) const { return simd::abs(x); }
};
struct sigmoid_op {
    static constexpr const char* name = "sigmoid";
    template <class V> V operator()(V x) const { return V(1) / (V(1) + simd::exp(-x)); }
};
struct relu_op {
    static constexpr const char* name = "relu";
    template <class V> V operator()(V x) const { return simd::max(x, V(0)); }
};
/// x ** p for a scalar exponent p.
template <class T>
struct pow_scalar_op {
    static constexpr const char* name = "pow";
    T p;
    template <class V> V operator()(V x) const { return simd::pow(x, V(p)); }
};
template <class T>
struct clamp_op {
    static constexpr const char* name = "clamp";
    T lo, hi;
    template <class V> V operator()(V x) const { return simd::min(simd::max(x, V(lo)), V(hi)); }
};

#define KILN_UNARY_FN(fn)                                     \
    template <expression E>                                   \
    constexpr auto fn(E&& e) {                                \
        return detail::make_unary(fn##_op{}, std::forward<E>(e)); \
    }
KILN_UNARY_FN(exp)
KILN_UNARY_FN(log)
KILN_UNARY_FN(sqrt)
KILN_UNARY_FN(tanh)
KILN_UNARY_FN(abs)
KILN_UNARY_FN(sigmoid)
KILN_UNARY_FN(relu)
#undef KILN_UNARY_FN

template <expression E>
constexpr auto operator-(E&& e) {
    return detail::make_unary(neg_op{}, std::forward<E>(e));
}
/// e ** p elementwise.
template <expression E>
constexpr auto pow(E&& e, value_of_t<E> p) {
    return detail::make_unary(pow_scalar_op<value_of_t<E>>{p}, std::forward<E>(e));
}
/// Limits every element to [lo, hi].
template <expression E>
constexpr auto clamp(E&& e, value_of_t<E> lo, value_of_t<E> hi) {
    return detail::make_unary(clamp_op<value_of_t<E>>{lo, hi}, std::forward<E>(e));
}

}  // namespace kiln
