// Elementwise unary primitives. One op tag = name + one body serving scalars and SIMD batches
// (operator()) + forward(x), the lazy expression + vjp<0>(g, y, x): the adjoint of x given the
// adjoint g of the result y = op(x), as a lazy expression (autodiff/ops.hpp applies the tag to
// graph nodes; ties and kinks are documented per op).
#pragma once

#include <cmath>
#include <cstddef>
#include <type_traits>

#include "../../core/expr.hpp"
#include "../../core/simd.hpp"
#include "binary.hpp"
#include "where.hpp"

namespace kiln {

struct neg_op {
    static constexpr const char* name = "neg";
    template <class V> V operator()(V x) const { return -x; }
    template <class X> constexpr auto forward(const X& x) const { return detail::make_unary(*this, x); }
    template <std::size_t I, class G, class Y, class X> static auto vjp(const G& g, const Y&, const X&) { return -g; }
};
struct exp_op {
    static constexpr const char* name = "exp";
    template <class V> V operator()(V x) const { return simd::exp(x); }
    template <class X> constexpr auto forward(const X& x) const { return detail::make_unary(*this, x); }
    template <std::size_t I, class G, class Y, class X> static auto vjp(const G& g, const Y& y, const X&) { return g * y; }
};
struct log_op {
    static constexpr const char* name = "log";
    template <class V> V operator()(V x) const { return simd::log(x); }
    template <class X> constexpr auto forward(const X& x) const { return detail::make_unary(*this, x); }
    template <std::size_t I, class G, class Y, class X> static auto vjp(const G& g, const Y&, const X& x) { return g / x; }
};
struct sqrt_op {
    static constexpr const char* name = "sqrt";
    template <class V> V operator()(V x) const { return simd::sqrt(x); }
    template <class X> constexpr auto forward(const X& x) const { return detail::make_unary(*this, x); }
    template <std::size_t I, class G, class Y, class X> static auto vjp(const G& g, const Y& y, const X&) { return g * 0.5 / y; }
};
struct tanh_op {
    static constexpr const char* name = "tanh";
    template <class V> V operator()(V x) const { return simd::tanh(x); }
    template <class X> constexpr auto forward(const X& x) const { return detail::make_unary(*this, x); }
    template <std::size_t I, class G, class Y, class X> static auto vjp(const G& g, const Y& y, const X&) { return g * (1 - y * y); }
};
struct abs_op {
    static constexpr const char* name = "abs";
    template <class V> V operator()(V x) const { return simd::abs(x); }
    template <class X> constexpr auto forward(const X& x) const { return detail::make_unary(*this, x); }
    /// sign(x) * g; 0 at x == 0 like PyTorch.
    template <std::size_t I, class G, class Y, class X> static auto vjp(const G& g, const Y&, const X& x) {
        return where(x > 0, g, where(x < 0, -g, 0));
    }
};
struct erf_op {
    static constexpr const char* name = "erf";
    template <class V> V operator()(V x) const { return simd::erf(x); }
    template <class X> constexpr auto forward(const X& x) const { return detail::make_unary(*this, x); }
    template <std::size_t I, class G, class Y, class X> static auto vjp(const G& g, const Y&, const X& x) {
        return g * 1.1283791670955126 * exp(-(x * x));
    }
};
struct sigmoid_op {
    static constexpr const char* name = "sigmoid";
    template <class V> V operator()(V x) const { return V(1) / (V(1) + simd::exp(-x)); }
    template <class X> constexpr auto forward(const X& x) const { return detail::make_unary(*this, x); }
    template <std::size_t I, class G, class Y, class X> static auto vjp(const G& g, const Y& y, const X&) { return g * y * (1 - y); }
};
struct relu_op {
    static constexpr const char* name = "relu";
    template <class V> V operator()(V x) const { return simd::max(x, V(0)); }
    template <class X> constexpr auto forward(const X& x) const { return detail::make_unary(*this, x); }
    /// 0 at x == 0, like PyTorch.
    template <std::size_t I, class G, class Y, class X> static auto vjp(const G& g, const Y&, const X& x) { return where(x > 0, g, 0); }
};
/// x for x > 0, slope * x otherwise.
template <class T>
struct leaky_relu_op {
    static constexpr const char* name = "leaky_relu";
    T slope;
    template <class V> V operator()(V x) const { return simd::select(x > V(0), x, x * V(slope)); }
    template <class X> constexpr auto forward(const X& x) const { return detail::make_unary(*this, x); }
    template <std::size_t I, class G, class Y, class X> auto vjp(const G& g, const Y&, const X& x) const { return where(x > 0, g, g * slope); }
};
/// Exact GELU, x * Phi(x) with the erf form (PyTorch's default approximate='none').
struct gelu_op {
    static constexpr const char* name = "gelu";
    template <class V> V operator()(V x) const { return V(0.5) * x * (V(1) + simd::erf(x * V(0.7071067811865476))); }
    template <class X> constexpr auto forward(const X& x) const { return detail::make_unary(*this, x); }
    template <std::size_t I, class G, class Y, class X> static auto vjp(const G& g, const Y&, const X& x) {
        return g * (0.5 * (1 + erf(x * 0.7071067811865476)) + x * 0.3989422804014327 * exp(x * x * -0.5));
    }
};
/// x ** p for a scalar exponent p.
template <class T>
struct pow_scalar_op {
    static constexpr const char* name = "pow";
    T p;
    template <class V> V operator()(V x) const { return simd::pow(x, V(p)); }
    template <class X> constexpr auto forward(const X& x) const { return detail::make_unary(*this, x); }
    template <std::size_t I, class G, class Y, class X> auto vjp(const G& g, const Y&, const X& x) const { return g * p * pow(x, p - T(1)); }
};
template <class T>
struct clamp_op {
    static constexpr const char* name = "clamp";
    T lo, hi;
    template <class V> V operator()(V x) const { return simd::min(simd::max(x, V(lo)), V(hi)); }
    template <class X> constexpr auto forward(const X& x) const { return detail::make_unary(*this, x); }
    /// g where lo <= x <= hi (the bounds included, like PyTorch), else 0.
    template <std::size_t I, class G, class Y, class X> auto vjp(const G& g, const Y&, const X& x) const {
        return where(x < lo, 0, where(x > hi, 0, g));
    }
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
KILN_UNARY_FN(erf)
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
/// max(x, 0) + slope * min(x, 0).
template <expression E>
constexpr auto leaky_relu(E&& e, value_of_t<E> slope = value_of_t<E>(0.01)) {
    return detail::make_unary(leaky_relu_op<value_of_t<E>>{slope}, std::forward<E>(e));
}
/// Gaussian error linear unit (exact, erf form).
template <expression E>
constexpr auto gelu(E&& e) {
    return detail::make_unary(gelu_op{}, std::forward<E>(e));
}
/// Limits every element to [lo, hi].
template <expression E>
constexpr auto clamp(E&& e, value_of_t<E> lo, value_of_t<E> hi) {
    return detail::make_unary(clamp_op<value_of_t<E>>{lo, hi}, std::forward<E>(e));
}

}  // namespace kiln
