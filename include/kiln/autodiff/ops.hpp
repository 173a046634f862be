// The differentiable versions of kiln's ops: the same names, chosen by overload when an
// operand is a param or a node. Each only routes: it builds an ad_node of the op's tag, whose
// forward and vjp live with the op in ops/primitive/. Comparisons give plain (constant)
// expressions: they have no gradient.
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

#include "../ops/primitive/binary.hpp"
#include "../ops/primitive/matmul.hpp"
#include "../ops/primitive/movement.hpp"
#include "../ops/primitive/reduce.hpp"
#include "../ops/primitive/unary.hpp"
#include "../ops/primitive/where.hpp"
#include "node.hpp"

namespace kiln {

namespace detail {

template <class X>
concept ad_operand = ad_expression<X> || expression<X> || std::is_arithmetic_v<std::remove_cvref_t<X>>;
template <class A, class B>
concept ad_binary_operands = (ad_expression<A> || ad_expression<B>) && ad_operand<A> && ad_operand<B>;

/// A value for a constant expression: lvalues by reference, temporaries copied out.
template <class X>
decltype(auto) value_fwd(X&& x) {
    if constexpr (!ad_expression<X>)
        return std::forward<X>(x);
    else if constexpr (std::is_lvalue_reference_v<X>)
        return x.value();
    else
        return typename std::remove_cvref_t<X>::value_t(x.value());
}

}  // namespace detail

#define KILN_AD_BINARY(fn, tag)                                                 \
    template <class A, class B>                                                 \
        requires detail::ad_binary_operands<A, B>                               \
    auto fn(A&& a, B&& b) {                                                     \
        return detail::make_node(tag{}, std::forward<A>(a), std::forward<B>(b)); \
    }
KILN_AD_BINARY(operator+, add_op)
KILN_AD_BINARY(operator-, sub_op)
KILN_AD_BINARY(operator*, mul_op)
KILN_AD_BINARY(operator/, div_op)
KILN_AD_BINARY(maximum, maximum_op)
KILN_AD_BINARY(minimum, minimum_op)
#undef KILN_AD_BINARY

template <class A, class B>
    requires detail::ad_binary_operands<A, B> && (!std::is_arithmetic_v<std::remove_cvref_t<B>>)
auto pow(A&& a, B&& b) {
    return detail::make_node(pow_op{}, std::forward<A>(a), std::forward<B>(b));
}

// Comparisons of values: constants, no gradient.
#define KILN_AD_COMPARE(sym)                                                  \
    template <class A, class B>                                               \
        requires detail::ad_binary_operands<A, B>                             \
    auto operator sym(A&& a, B&& b) {                                         \
        return detail::value_fwd(std::forward<A>(a)) sym detail::value_fwd(std::forward<B>(b)); \
    }
KILN_AD_COMPARE(<)
KILN_AD_COMPARE(<=)
KILN_AD_COMPARE(>)
KILN_AD_COMPARE(>=)
KILN_AD_COMPARE(==)
KILN_AD_COMPARE(!=)
#undef KILN_AD_COMPARE

#define KILN_AD_UNARY(fn)                                                   \
    template <ad_expression E>                                              \
    auto fn(E&& e) {                                                        \
        return detail::make_node(fn##_op{}, std::forward<E>(e));            \
    }
KILN_AD_UNARY(exp)
KILN_AD_UNARY(log)
KILN_AD_UNARY(sqrt)
KILN_AD_UNARY(tanh)
KILN_AD_UNARY(erf)
KILN_AD_UNARY(abs)
KILN_AD_UNARY(sigmoid)
KILN_AD_UNARY(relu)
KILN_AD_UNARY(gelu)
#undef KILN_AD_UNARY

template <ad_expression E>
auto operator-(E&& e) {
    return detail::make_node(neg_op{}, std::forward<E>(e));
}
template <ad_expression E>
auto pow(E&& e, typename std::remove_cvref_t<E>::value_type p) {
    return detail::make_node(pow_scalar_op<typename std::remove_cvref_t<E>::value_type>{p}, std::forward<E>(e));
}
template <ad_expression E>
auto leaky_relu(E&& e, typename std::remove_cvref_t<E>::value_type slope = 0.01) {
    return detail::make_node(leaky_relu_op<typename std::remove_cvref_t<E>::value_type>{slope}, std::forward<E>(e));
}
template <ad_expression E>
auto clamp(E&& e, typename std::remove_cvref_t<E>::value_type lo, typename std::remove_cvref_t<E>::value_type hi) {
    return detail::make_node(clamp_op<typename std::remove_cvref_t<E>::value_type>{lo, hi}, std::forward<E>(e));
}

/// where(cond, a, b) with a or b differentiable; cond is a constant (e.g. a comparison). Off the
/// CPU a boolean condition is stored as a 0/1 float mask (devices hold floats).
template <expression C, class A, class B>
    requires detail::ad_binary_operands<A, B>
auto where(C&& c, A&& a, B&& b) {
    if constexpr (std::is_same_v<value_of_t<C>, bool> && !std::is_same_v<device_of_t<C>, cpu>)
        return detail::make_node(where_op{}, kiln::where(c, 1.0f, 0.0f), std::forward<A>(a), std::forward<B>(b));
    else
        return detail::make_node(where_op{}, std::forward<C>(c), std::forward<A>(a), std::forward<B>(b));
}

template <ad_expression E>
auto sum(E&& e) { return detail::make_node(sum_op{}, std::forward<E>(e)); }
template <int Axis, bool Keepdims = false, ad_expression E>
auto sum(E&& e) { return detail::make_node(sum_axis_op<Axis, Keepdims>{}, std::forward<E>(e)); }
template <ad_expression E>
auto mean(E&& e) { return detail::make_node(mean_op{}, std::forward<E>(e)); }
template <int Axis, bool Keepdims = false, ad_expression E>
auto mean(E&& e) { return detail::make_node(mean_axis_op<Axis, Keepdims>{}, std::forward<E>(e)); }
template <ad_expression E>
auto max(E&& e) { return detail::make_node(extreme_op<reduce_max>{}, std::forward<E>(e)); }
template <int Axis, bool Keepdims = false, ad_expression E>
auto max(E&& e) { return detail::make_node(extreme_axis_op<reduce_max, Axis, Keepdims>{}, std::forward<E>(e)); }
template <ad_expression E>
auto min(E&& e) { return detail::make_node(extreme_op<reduce_min>{}, std::forward<E>(e)); }
template <int Axis, bool Keepdims = false, ad_expression E>
auto min(E&& e) { return detail::make_node(extreme_axis_op<reduce_min, Axis, Keepdims>{}, std::forward<E>(e)); }

template <class A, class B>
    requires detail::ad_binary_operands<A, B> && (!std::is_arithmetic_v<std::remove_cvref_t<A>>) &&
             (!std::is_arithmetic_v<std::remove_cvref_t<B>>)
auto matmul(A&& a, B&& b) {
    return detail::make_node(matmul_op{}, std::forward<A>(a), std::forward<B>(b));
}

template <shape_type S2, ad_expression E>
auto reshape(E&& e) { return detail::make_node(reshape_to_op<S2>{}, std::forward<E>(e)); }
template <std::size_t... D, ad_expression E>
auto reshape(E&& e) { return reshape<shape<D...>>(std::forward<E>(e)); }
template <int Start = 0, int End = -1, ad_expression E>
auto flatten(E&& e) {
    using S = typename std::remove_cvref_t<E>::shape_type;
    constexpr std::size_t s = detail::normalize_axis<Start, S::rank>(), t = detail::normalize_axis<End, S::rank>();
    return reshape<detail::shape_from_array_t<detail::flatten_extents<S, s, t>()>>(std::forward<E>(e));
}
template <int Axis, ad_expression E>
auto squeeze(E&& e) {
    using S = typename std::remove_cvref_t<E>::shape_type;
    return reshape<detail::shape_from_array_t<detail::squeeze_extents<S, detail::normalize_axis<Axis, S::rank>()>()>>(
        std::forward<E>(e));
}
template <int Axis, ad_expression E>
auto unsqueeze(E&& e) {
    using S = typename std::remove_cvref_t<E>::shape_type;
    return reshape<detail::shape_from_array_t<detail::unsqueeze_extents<S, detail::normalize_axis<Axis, S::rank + 1>()>()>>(
        std::forward<E>(e));
}
template <ad_expression E>
auto transpose(E&& e) { return detail::make_node(transpose_op{}, std::forward<E>(e)); }
template <std::size_t... P, ad_expression E>
auto permute(E&& e) { return detail::make_node(permute_op<P...>{}, std::forward<E>(e)); }
template <int Axis, std::size_t Begin, std::size_t End, std::size_t Step = 1, ad_expression E>
auto slice(E&& e) { return detail::make_node(slice_op<Axis, Begin, End, Step>{}, std::forward<E>(e)); }
template <int Axis, class... E>
    requires(ad_expression<E> || ...)
auto concat(E&&... e) { return detail::make_node(concat_axis_op<Axis>{}, std::forward<E>(e)...); }

}  // namespace kiln
