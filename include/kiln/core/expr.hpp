// The expression layer. Every expression E exposes, in its own shape:
//   value_type, shape_type, storage_type (of its first tensor leaf, void if none)
//   static bool simd   - load() is available
//   static bool flat   - no broadcast inside: element (0, i) is flat element i, so the
//                        assigner may walk all elements as one row
//   get(row, j)        - element j of row `row` (rows have shape_type::inner elements)
//   load(row, j)       - simd::width elements starting there (never crosses a row)
// Broadcasting is explicit: binary ops wrap an operand whose shape differs from the result
// in broadcast_expr, which maps result coordinates to the operand's with compile-time strides.
// Closure rule: lvalue tensors are held by reference, rvalues (temporaries) by value.
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

#include "device.hpp"
#include "shape.hpp"
#include "simd.hpp"

namespace kiln {

/// CRTP base of every kiln expression.
template <class D>
struct expr_base {
    constexpr const D& self() const { return static_cast<const D&>(*this); }
};

/// Anything derived from expr_base (tensors and lazy nodes).
template <class E>
concept expression = std::is_base_of_v<expr_base<std::remove_cvref_t<E>>, std::remove_cvref_t<E>>;

template <class E>
using shape_of_t = typename std::remove_cvref_t<E>::shape_type;
template <class E>
using value_of_t = typename std::remove_cvref_t<E>::value_type;

namespace detail {

template <class E>
struct is_tensor_leaf : std::false_type {};

/// How a node stores an operand: lvalue tensors by const reference, everything else by value.
template <class E>
using closure_t = std::conditional_t<std::is_lvalue_reference_v<E> && is_tensor_leaf<std::remove_cvref_t<E>>::value,
                                     const std::remove_cvref_t<E>&, std::remove_cvref_t<E>>;

template <class... S>
struct first_storage {
    using type = void;
};
template <class S, class... R>
struct first_storage<S, R...> {
    using type = std::conditional_t<std::is_void_v<S>, typename first_storage<R...>::type, S>;
};
template <class... E>
using storage_of_t = typename first_storage<typename std::remove_cvref_t<E>::storage_type...>::type;

template <class E>
concept has_load_mask = requires(const E& e) { e.load_mask(std::size_t{}, std::size_t{}); };

}  // namespace detail

/// A scalar operand (weakly typed: it takes the other operand's value type).
template <class T>
struct scalar_expr : expr_base<scalar_expr<T>> {
    using value_type = T;
    using shape_type = shape<>;
    using storage_type = void;
    using device_type = void;
    static constexpr bool simd = simd::vectorised<T>;
    static constexpr bool flat = true;
    T v;
    constexpr explicit scalar_expr(T x) : v(x) {}
    T get(std::size_t, std::size_t) const { return v; }
    auto load(std::size_t, std::size_t) const { return simd::splat(v); }
};

/// Presents E (of shape Src) in the larger shape Out.
template <class E, class Out>
struct broadcast_expr : expr_base<broadcast_expr<E, Out>> {
    using child_t = std::remove_cvref_t<E>;
    using value_type = typename child_t::value_type;
    using shape_type = Out;
    using storage_type = typename child_t::storage_type;
    using device_type = typename child_t::device_type;
    using src = typename child_t::shape_type;
    // A one-element source is always splatted: in a flat walk its (0, j) is not element j.
    static constexpr bool inner_bcast = src::inner != Out::inner || src::rank == 0 || src::size == 1;
    static constexpr bool simd = child_t::simd;
    static constexpr bool flat = src::size == 1;

    E e;

    /// The child's row for result row `row`: sum over result outer axes of index * row-stride.
    static std::size_t src_row(std::size_t row) {
        if constexpr (src::size == 1 || src::rank <= 1) {
            return 0;
        } else {
            std::size_t r = 0;
            constexpr std::size_t off = Out::rank - src::rank;
            detail::static_for<Out::rank - 1>([&](auto i) {
                if constexpr (i >= off) {
                    constexpr std::size_t ext = src::extents[i - off];
                    if constexpr (ext != 1) {
                        constexpr std::size_t out_rows_stride = Out::strides[i] / Out::inner;
                        constexpr std::size_t src_rows_stride = src::strides[i - off] / src::inner;
                        r += (row / out_rows_stride) % Out::extents[i] * src_rows_stride;
                    }
                }
            });
            return r;
        }
    }
    value_type get(std::size_t row, std::size_t j) const {
        return e.get(src_row(row), inner_bcast ? 0 : j);
    }
    auto load(std::size_t row, std::size_t j) const {
        if constexpr (inner_bcast)
            return simd::splat(e.get(src_row(row), 0));
        else
            return e.load(src_row(row), j);
    }
    auto load_mask(std::size_t row, std::size_t j) const
        requires detail::has_load_mask<child_t>
    {
        static_assert(!inner_bcast, "[where] a broadcast comparison along the last axis is evaluated per element");
        return e.load_mask(src_row(row), j);
    }
};

namespace detail {
/// The member type that holds operand X (already a closure type) presented in shape Out.
template <class C, class Out>
using presented_t = std::conditional_t<std::is_same_v<shape_of_t<C>, Out>, C, broadcast_expr<C, Out>>;

/// Builds the presented_t<C, Out> for x; returns a reference for lvalue tensors.
template <class C, class Out, class X>
constexpr presented_t<C, Out> present(X&& x) {
    if constexpr (std::is_same_v<shape_of_t<C>, Out>)
        return std::forward<X>(x);
    else
        return broadcast_expr<C, Out>{{}, C(std::forward<X>(x))};
}
}  // namespace detail

namespace detail {
template <class S, class Out, std::size_t Axis, std::size_t A, std::size_t B>
consteval void check_broadcast_to_axis() {
    static_assert(A == B || A == 1, "[broadcast_to] each source extent must equal the target's or be 1");
}
template <class S, class Out>
consteval void check_broadcast_to() {
    static_assert(S::rank <= Out::rank, "[broadcast_to] the source has more axes than the target");
    static_for<S::rank>([](auto i) {
        check_broadcast_to_axis<S, Out, i, S::extents[i], Out::extents[i + Out::rank - S::rank]>();
    });
}
}  // namespace detail

/// e presented (lazily) in the larger shape Out by numpy broadcasting.
template <shape_type Out, expression E>
constexpr auto broadcast_to(E&& e) {
    using c = detail::closure_t<E&&>;
    detail::check_broadcast_to<shape_of_t<E>, Out>();
    if constexpr (std::is_same_v<shape_of_t<E>, Out>)
        return std::remove_cvref_t<c>(std::forward<E>(e));
    else
        return broadcast_expr<c, Out>{{}, c(std::forward<E>(e))};
}

/// op(x) elementwise; Op holds any parameters (clamp bounds, pow exponent).
template <class Op, class E>
struct unary_expr : expr_base<unary_expr<Op, E>> {
    using child_t = std::remove_cvref_t<E>;
    using value_type = decltype(std::declval<Op>()(std::declval<typename child_t::value_type>()));
    using shape_type = typename child_t::shape_type;
    using storage_type = typename child_t::storage_type;
    using device_type = typename child_t::device_type;
    static constexpr bool simd = child_t::simd && simd::vectorised<value_type> &&
                                 std::is_same_v<value_type, typename child_t::value_type>;
    static constexpr bool flat = child_t::flat;
    Op op;
    E e;
    value_type get(std::size_t r, std::size_t j) const { return op(e.get(r, j)); }
    auto load(std::size_t r, std::size_t j) const { return op(e.load(r, j)); }
};

/// op(a, b) elementwise over the broadcast shape S (operands already presented in S).
template <class Op, class A, class B, class T>
struct binary_expr : expr_base<binary_expr<Op, A, B, T>> {
    using a_t = std::remove_cvref_t<A>;
    using b_t = std::remove_cvref_t<B>;
    using value_type = T;
    using shape_type = typename a_t::shape_type;
    using storage_type = detail::storage_of_t<a_t, b_t>;
    using device_type = common_device_t<typename a_t::device_type, typename b_t::device_type>;
    static constexpr bool simd = a_t::simd && b_t::simd && simd::vectorised<T> &&
                                 std::is_same_v<typename a_t::value_type, T> &&
                                 std::is_same_v<typename b_t::value_type, T>;
    static constexpr bool flat = a_t::flat && b_t::flat;
    Op op;
    A a;
    B b;
    T get(std::size_t r, std::size_t j) const { return op(T(a.get(r, j)), T(b.get(r, j))); }
    auto load(std::size_t r, std::size_t j) const { return op(a.load(r, j), b.load(r, j)); }
};

/// A comparison: bool elements; as a where() condition it also gives SIMD masks.
template <class Op, class A, class B, class T>
struct compare_expr : expr_base<compare_expr<Op, A, B, T>> {
    using a_t = std::remove_cvref_t<A>;
    using b_t = std::remove_cvref_t<B>;
    using value_type = bool;
    using operand_type = T;
    using shape_type = typename a_t::shape_type;
    using storage_type = detail::storage_of_t<a_t, b_t>;
    using device_type = common_device_t<typename a_t::device_type, typename b_t::device_type>;
    static constexpr bool simd = false;  // bool results are stored per element
    static constexpr bool mask_simd = a_t::simd && b_t::simd && simd::vectorised<T> &&
                                      std::is_same_v<typename a_t::value_type, T> &&
                                      std::is_same_v<typename b_t::value_type, T>;
    static constexpr bool flat = a_t::flat && b_t::flat;
    Op op;
    A a;
    B b;
    bool get(std::size_t r, std::size_t j) const { return op(T(a.get(r, j)), T(b.get(r, j))); }
    auto load_mask(std::size_t r, std::size_t j) const { return op(a.load(r, j), b.load(r, j)); }
};

/// cond ? a : b elementwise.
template <class C, class A, class B, class T>
struct where_expr : expr_base<where_expr<C, A, B, T>> {
    using c_t = std::remove_cvref_t<C>;
    using a_t = std::remove_cvref_t<A>;
    using b_t = std::remove_cvref_t<B>;
    using value_type = T;
    using shape_type = typename a_t::shape_type;
    using storage_type = detail::storage_of_t<a_t, b_t, c_t>;
    using device_type = common_device_t<typename c_t::device_type, typename a_t::device_type, typename b_t::device_type>;
    static constexpr bool mask_ok = [] {
        if constexpr (requires { c_t::mask_simd; })
            return c_t::mask_simd && std::is_same_v<typename c_t::operand_type, T>;
        else if constexpr (requires { c_t::child_t::mask_simd; })  // broadcast of a comparison
            return c_t::child_t::mask_simd && !c_t::inner_bcast &&
                   std::is_same_v<typename c_t::child_t::operand_type, T>;
        else
            return false;
    }();
    static constexpr bool simd = mask_ok && a_t::simd && b_t::simd && simd::vectorised<T> &&
                                 std::is_same_v<typename a_t::value_type, T> &&
                                 std::is_same_v<typename b_t::value_type, T>;
    static constexpr bool flat = c_t::flat && a_t::flat && b_t::flat;
    C c;
    A a;
    B b;
    T get(std::size_t r, std::size_t j) const { return c.get(r, j) ? T(a.get(r, j)) : T(b.get(r, j)); }
    auto load(std::size_t r, std::size_t j) const { return simd::select(c.load_mask(r, j), a.load(r, j), b.load(r, j)); }
};

/// Element type conversion.
template <class U, class E>
struct cast_expr : expr_base<cast_expr<U, E>> {
    using child_t = std::remove_cvref_t<E>;
    using value_type = U;
    using shape_type = typename child_t::shape_type;
    using storage_type = typename child_t::storage_type;
    using device_type = typename child_t::device_type;
    static constexpr bool simd = child_t::simd && std::is_same_v<U, typename child_t::value_type>;
    static constexpr bool flat = child_t::flat;
    E e;
    U get(std::size_t r, std::size_t j) const { return static_cast<U>(e.get(r, j)); }
    auto load(std::size_t r, std::size_t j) const { return e.load(r, j); }
};

/// Number of lazy operations stacked in expression type E (0 for tensors and numbers).
template <class E>
struct expr_depth : std::integral_constant<std::size_t, 0> {};
template <class E>
inline constexpr std::size_t expr_depth_v = expr_depth<std::remove_cvref_t<E>>::value;
template <class E, class Out>
struct expr_depth<broadcast_expr<E, Out>> : expr_depth<std::remove_cvref_t<E>> {};
template <class Op, class E>
struct expr_depth<unary_expr<Op, E>> : std::integral_constant<std::size_t, 1 + expr_depth_v<E>> {};
template <class U, class E>
struct expr_depth<cast_expr<U, E>> : std::integral_constant<std::size_t, 1 + expr_depth_v<E>> {};
template <class Op, class A, class B, class T>
struct expr_depth<binary_expr<Op, A, B, T>>
    : std::integral_constant<std::size_t, 1 + (expr_depth_v<A> > expr_depth_v<B> ? expr_depth_v<A> : expr_depth_v<B>)> {};
template <class Op, class A, class B, class T>
struct expr_depth<compare_expr<Op, A, B, T>>
    : std::integral_constant<std::size_t, 1 + (expr_depth_v<A> > expr_depth_v<B> ? expr_depth_v<A> : expr_depth_v<B>)> {};
template <class C, class A, class B, class T>
struct expr_depth<where_expr<C, A, B, T>>
    : std::integral_constant<std::size_t, 1 + (expr_depth_v<C> > expr_depth_v<A>
                                                    ? (expr_depth_v<C> > expr_depth_v<B> ? expr_depth_v<C> : expr_depth_v<B>)
                                                    : (expr_depth_v<A> > expr_depth_v<B> ? expr_depth_v<A> : expr_depth_v<B>))> {};

namespace detail {

/// The closure type that holds operand X: expressions by the closure rule, numbers as scalars of T.
template <class T, class X>
struct operand_closure {
    using type = scalar_expr<T>;
};
template <class T, expression X>
struct operand_closure<T, X> {
    using type = closure_t<X>;
};
template <class T, class X>
using operand_closure_t = typename operand_closure<T, X>::type;

template <class C, class X>
constexpr decltype(auto) to_closure(X&& x) {
    if constexpr (expression<X>)
        return std::forward<X>(x);
    else
        return C(static_cast<typename C::value_type>(x));
}

template <class X>
struct operand_info {  // a number: weakly typed
    using type = std::remove_cvref_t<X>;
    static constexpr bool weak = true;
};
template <expression X>
struct operand_info<X> {
    using type = value_of_t<X>;
    static constexpr bool weak = false;
};
/// Result element type of a binary op: numbers are weak (they take the tensor's type).
template <class A, class B, class IA = operand_info<A>, class IB = operand_info<B>>
using binary_value_t =
    std::conditional_t<IA::weak && !IB::weak, typename IB::type,
                       std::conditional_t<IB::weak && !IA::weak, typename IA::type,
                                          std::common_type_t<typename IA::type, typename IB::type>>>;

template <class X>
concept operand = expression<X> || std::is_arithmetic_v<std::remove_cvref_t<X>>;

template <class Op, class A, class B>
using binary_shape_t = broadcast_shape_t<Op, shape_of_t<A>, shape_of_t<B>>;

/// Builds binary_expr / compare_expr with both operands presented in the broadcast shape.
template <template <class, class, class, class> class Node, class Op, class A, class B>
constexpr auto make_binary(Op op, A&& a, B&& b) {
    using T = binary_value_t<A, B>;
    using ca = operand_closure_t<T, A&&>;
    using cb = operand_closure_t<T, B&&>;
    using S = broadcast_shape_t<Op, shape_of_t<ca>, shape_of_t<cb>>;
    check_devices<Op, typename std::remove_cvref_t<ca>::device_type, typename std::remove_cvref_t<cb>::device_type>();
    using pa = presented_t<ca, S>;
    using pb = presented_t<cb, S>;
    return Node<Op, pa, pb, T>{{}, op, present<ca, S>(to_closure<std::remove_cvref_t<ca>>(std::forward<A>(a))),
                               present<cb, S>(to_closure<std::remove_cvref_t<cb>>(std::forward<B>(b)))};
}

template <class Op, class E>
constexpr auto make_unary(Op op, E&& e) {
    using c = closure_t<E&&>;
    return unary_expr<Op, c>{{}, op, c(std::forward<E>(e))};
}

}  // namespace detail
}  // namespace kiln
