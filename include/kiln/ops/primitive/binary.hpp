// Elementwise binary primitives with numpy broadcasting, checked at compile time per axis.
#pragma once

#include <cstddef>
#include <type_traits>

#include "../../core/expr.hpp"
#include "../../core/simd.hpp"

namespace kiln {

// Each op tag is the whole op: name, the elementwise body (operator(), scalars and SIMD
// batches alike), forward(a, b) building the lazy expression with the broadcast shape rule
// (make_binary), and vjp<I>(g, y, a, b), operand I's adjoint given the adjoint g of y = op(a, b),
// as a lazy expression. autodiff/ops.hpp applies the same tags to graph nodes.

struct add_op {
    static constexpr const char* name = "add";
    template <class V> V operator()(V a, V b) const { return a + b; }
    template <class A, class B>
    constexpr auto forward(const A& a, const B& b) const { return detail::make_binary<binary_expr>(*this, a, b); }
    template <std::size_t I, class G, class Y, class A, class B> static decltype(auto) vjp(const G& g, const Y&, const A&, const B&) { return (g); }
};
struct sub_op {
    static constexpr const char* name = "sub";
    template <class V> V operator()(V a, V b) const { return a - b; }
    template <class A, class B>
    constexpr auto forward(const A& a, const B& b) const { return detail::make_binary<binary_expr>(*this, a, b); }
    template <std::size_t I, class G, class Y, class A, class B> static decltype(auto) vjp(const G& g, const Y&, const A&, const B&) {
        if constexpr (I == 0) return (g); else return -g;
    }
};
struct mul_op {
    static constexpr const char* name = "mul";
    template <class V> V operator()(V a, V b) const { return a * b; }
    template <class A, class B>
    constexpr auto forward(const A& a, const B& b) const { return detail::make_binary<binary_expr>(*this, a, b); }
    template <std::size_t I, class G, class Y, class A, class B> static auto vjp(const G& g, const Y&, const A& a, const B& b) {
        if constexpr (I == 0) return g * b; else return g * a;
    }
};
struct div_op {
    static constexpr const char* name = "div";
    template <class V> V operator()(V a, V b) const { return a / b; }
    template <class A, class B>
    constexpr auto forward(const A& a, const B& b) const { return detail::make_binary<binary_expr>(*this, a, b); }
    template <std::size_t I, class G, class Y, class A, class B> static auto vjp(const G& g, const Y& y, const A&, const B& b) {
        if constexpr (I == 0) return g / b; else return -g * y / b;
    }
};
/// Ties pick the first operand.
struct maximum_op {
    static constexpr const char* name = "maximum";
    template <class V> V operator()(V a, V b) const { return simd::select(a < b, b, a); }
    template <class A, class B>
    constexpr auto forward(const A& a, const B& b) const { return detail::make_binary<binary_expr>(*this, a, b); }
    /// Ties send the gradient to a (the operand the forward picked).
    template <std::size_t I, class G, class Y, class A, class B> static auto vjp(const G& g, const Y&, const A& a, const B& b) {
        if constexpr (I == 0) return where(a >= b, g, 0); else return where(a >= b, 0, g);
    }
};
/// Ties pick the first operand.
struct minimum_op {
    static constexpr const char* name = "minimum";
    template <class V> V operator()(V a, V b) const { return simd::select(b < a, b, a); }
    template <class A, class B>
    constexpr auto forward(const A& a, const B& b) const { return detail::make_binary<binary_expr>(*this, a, b); }
    /// Ties send the gradient to a (the operand the forward picked).
    template <std::size_t I, class G, class Y, class A, class B> static auto vjp(const G& g, const Y&, const A& a, const B& b) {
        if constexpr (I == 0) return where(a <= b, g, 0); else return where(a <= b, 0, g);
    }
};
struct pow_op {
    static constexpr const char* name = "pow";
    template <class V> V operator()(V a, V b) const { return simd::pow(a, b); }
    template <class A, class B>
    constexpr auto forward(const A& a, const B& b) const { return detail::make_binary<binary_expr>(*this, a, b); }
    /// d/da = b a^(b-1); d/db = y log(a) (defined for a > 0).
    template <std::size_t I, class G, class Y, class A, class B> static auto vjp(const G& g, const Y& y, const A& a, const B& b) {
        if constexpr (I == 0) return g * b * pow(a, b - 1); else return g * y * log(a);
    }
};

#define KILN_COMPARE_OP(tag, sym)                                          \
    struct tag {                                                           \
        static constexpr const char* name = #tag;                          \
        template <class V> auto operator()(V a, V b) const { return a sym b; } \
    };
KILN_COMPARE_OP(less_op, <)
KILN_COMPARE_OP(less_equal_op, <=)
KILN_COMPARE_OP(greater_op, >)
KILN_COMPARE_OP(greater_equal_op, >=)
KILN_COMPARE_OP(equal_op, ==)
KILN_COMPARE_OP(not_equal_op, !=)
#undef KILN_COMPARE_OP

namespace detail {
/// At least one expression; the other may be a number.
template <class A, class B>
concept binary_operands = (expression<A> && operand<B>) || (operand<A> && expression<B>);
}  // namespace detail

#define KILN_BINARY(sym, tag)                                                              \
    template <class A, class B>                                                            \
        requires detail::binary_operands<A, B>                                             \
    constexpr auto operator sym(A&& a, B&& b) {                                            \
        return detail::make_binary<binary_expr>(tag{}, std::forward<A>(a), std::forward<B>(b)); \
    }
KILN_BINARY(+, add_op)
KILN_BINARY(-, sub_op)
KILN_BINARY(*, mul_op)
KILN_BINARY(/, div_op)
#undef KILN_BINARY

#define KILN_COMPARE(sym, tag)                                                              \
    template <class A, class B>                                                             \
        requires detail::binary_operands<A, B>                                              \
    constexpr auto operator sym(A&& a, B&& b) {                                             \
        return detail::make_binary<compare_expr>(tag{}, std::forward<A>(a), std::forward<B>(b)); \
    }
KILN_COMPARE(<, less_op)
KILN_COMPARE(<=, less_equal_op)
KILN_COMPARE(>, greater_op)
KILN_COMPARE(>=, greater_equal_op)
KILN_COMPARE(==, equal_op)
KILN_COMPARE(!=, not_equal_op)
#undef KILN_COMPARE

/// Elementwise larger of a and b (a on ties).
template <class A, class B>
    requires detail::binary_operands<A, B>
constexpr auto maximum(A&& a, B&& b) {
    return detail::make_binary<binary_expr>(maximum_op{}, std::forward<A>(a), std::forward<B>(b));
}
/// Elementwise smaller of a and b (a on ties).
template <class A, class B>
    requires detail::binary_operands<A, B>
constexpr auto minimum(A&& a, B&& b) {
    return detail::make_binary<binary_expr>(minimum_op{}, std::forward<A>(a), std::forward<B>(b));
}
/// Elementwise a ** b.
template <class A, class B>
    requires detail::binary_operands<A, B> && expression<B>
constexpr auto pow(A&& a, B&& b) {
    return detail::make_binary<binary_expr>(pow_op{}, std::forward<A>(a), std::forward<B>(b));
}

}  // namespace kiln

// The vjps above call where(), unary minus and log(): those headers build on this one, so they
// come last (either order of inclusion leaves all three complete before any vjp is instantiated).
#include "unary.hpp"
#include "where.hpp"
