// The differentiable versions of kiln's ops: the same names, chosen by overload when an
// operand is a param or a node. Each wraps a primitive (forward and vjp from ops/) in an
// ad_node. Comparisons give plain (constant) expressions: they have no gradient.
#pragma once

#include <array>

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

template <class Op>
struct ad_unary {
    static constexpr const char* name = Op::name;
    Op op;
    template <class X>
    auto forward(const X& x) const { return make_unary(op, x); }
    template <std::size_t, class G, class Y, class X>
    auto vjp(const G& g, const Y& y, const X& x) const { return op.vjp(g, y, x); }
};
template <class Op>
struct ad_binary {
    static constexpr const char* name = Op::name;
    template <class A, class B>
    auto forward(const A& a, const B& b) const { return make_binary<binary_expr>(Op{}, a, b); }
    template <std::size_t I, class G, class Y, class A, class B>
    decltype(auto) vjp(const G& g, const Y& y, const A& a, const B& b) const { return Op::template vjp<I>(g, y, a, b); }
};
/// The condition as a boolean expression (off the CPU it is kept as a 0/1 float mask: devices
/// hold floats).
template <class C>
decltype(auto) as_condition(const C& c) {
    if constexpr (std::is_same_v<value_of_t<C>, bool>)
        return (c);
    else
        return c != value_of_t<C>(0);
}
struct ad_where {
    static constexpr const char* name = "where";
    template <class C, class A, class B>
    auto forward(const C& c, const A& a, const B& b) const { return kiln::where(as_condition(c), a, b); }
    template <std::size_t I, class G, class Y, class C, class A, class B>
    auto vjp(const G& g, const Y&, const C& c, const A&, const B&) const {
        static_assert(I != 0, "[where] the condition has no gradient");
        if constexpr (I == 1) return kiln::where(as_condition(c), g, 0); else return kiln::where(as_condition(c), 0, g);
    }
};

template <class S, std::size_t A, bool Keep>
using keep_shape_t = reduced_shape_t<S, A, true>;

struct ad_sum_all {
    static constexpr const char* name = "sum";
    template <class X> auto forward(const X& x) const { return sum(x); }
    template <std::size_t, class G, class Y, class X>
    auto vjp(const G& g, const Y&, const X&) const { return broadcast_to<shape_of_t<X>>(materialize(g)); }
};
struct ad_mean_all {
    static constexpr const char* name = "mean";
    template <class X> auto forward(const X& x) const { return mean(x); }
    template <std::size_t, class G, class Y, class X>
    auto vjp(const G& g, const Y&, const X&) const {
        using T = value_of_t<X>;
        return broadcast_to<shape_of_t<X>>(materialize(g)) * (T(1) / T(shape_of_t<X>::size));
    }
};
template <int Axis, bool Keep, bool Mean>
struct ad_sum_axis {
    static constexpr const char* name = "sum";
    template <class X> auto forward(const X& x) const {
        if constexpr (Mean) return mean<Axis, Keep>(x); else return sum<Axis, Keep>(x);
    }
    template <std::size_t, class G, class Y, class X>
    auto vjp(const G& g, const Y&, const X&) const {
        using S = shape_of_t<X>;
        using T = value_of_t<X>;
        constexpr std::size_t a = normalize_axis<Axis, S::rank>();
        auto gb = broadcast_to<S>(reshape<keep_shape_t<S, a, Keep>>(g));
        if constexpr (Mean) return gb * (T(1) / T(S::extents[a])); else return gb;
    }
};
/// max/min: the adjoint is split evenly among the elements equal to the extreme (like torch.amax).
template <int Axis, bool Keep, bool All, class Kind>
struct ad_extreme {
    static constexpr const char* name = "max/min";
    template <class X> auto forward(const X& x) const {
        if constexpr (All) {
            if constexpr (std::is_same_v<Kind, reduce_max>) return max(x); else return min(x);
        } else {
            if constexpr (std::is_same_v<Kind, reduce_max>) return max<Axis, Keep>(x); else return min<Axis, Keep>(x);
        }
    }
    template <std::size_t, class G, class Y, class X>
    auto vjp(const G& g, const Y& y, const X& x) const {
        using S = shape_of_t<X>;
        using T = value_of_t<X>;
        if constexpr (All) {
            auto hit = eval(where(x == broadcast_to<S>(y), T(1), T(0)));
            auto share = eval(materialize(g) / sum(hit));
            return eval(hit * broadcast_to<S>(share));
        } else {
            constexpr std::size_t a = normalize_axis<Axis, S::rank>();
            using KS = keep_shape_t<S, a, Keep>;
            auto yk = reshape<KS>(y);
            auto hit = eval(where(x == broadcast_to<S>(yk), T(1), T(0)));
            auto share = eval(reshape<KS>(g) / sum<int(a), true>(hit));
            return eval(hit * broadcast_to<S>(share));
        }
    }
};
struct ad_matmul {
    static constexpr const char* name = "matmul";
    template <class A, class B> auto forward(const A& a, const B& b) const {
        static_assert(shape_of_t<A>::rank >= 2 && shape_of_t<B>::rank >= 2,
                      "[matmul] autodiff needs operands of rank >= 2: reshape a vector to [1, K] or [K, 1]");
        return matmul(a, b);
    }
    template <std::size_t I, class G, class Y, class A, class B>
    auto vjp(const G& g, const Y&, const A& a, const B& b) const {
        if constexpr (I == 0) return matmul(g, transpose(b)); else return matmul(transpose(a), g);
    }
};
template <class S2>
struct ad_reshape {
    static constexpr const char* name = "reshape";
    template <class X> auto forward(const X& x) const { return reshape<S2>(x); }
    template <std::size_t, class G, class Y, class X>
    auto vjp(const G& g, const Y&, const X&) const { return reshape<shape_of_t<X>>(g); }
};
struct ad_transpose {
    static constexpr const char* name = "transpose";
    template <class X> auto forward(const X& x) const { return transpose(x); }
    template <std::size_t, class G, class Y, class X>
    auto vjp(const G& g, const Y&, const X&) const { return transpose(g); }
};
template <std::size_t... P>
struct ad_permute {
    static constexpr const char* name = "permute";
    template <class X> auto forward(const X& x) const { return permute<P...>(x); }
    template <std::size_t, class G, class Y, class X>
    auto vjp(const G& g, const Y&, const X&) const {
        constexpr std::array<std::size_t, sizeof...(P)> p{P...};
        return [&]<std::size_t... K>(std::index_sequence<K...>) {
            constexpr auto inv = [&] {
                std::array<std::size_t, sizeof...(P)> q{};
                for (std::size_t i = 0; i < p.size(); ++i) q[p[i]] = i;
                return q;
            }();
            return permute<inv[K]...>(g);
        }(std::make_index_sequence<sizeof...(P)>{});
    }
};
template <int Axis, std::size_t Begin, std::size_t End, std::size_t Step>
struct ad_slice {
    static constexpr const char* name = "slice";
    template <class X> auto forward(const X& x) const { return slice<Axis, Begin, End, Step>(x); }
    template <std::size_t, class G, class Y, class X>
    auto vjp(const G& g, const Y&, const X&) const { return unslice<Axis, Begin, End, Step, shape_of_t<X>>(g); }
};
template <int Axis>
struct ad_concat {
    static constexpr const char* name = "concat";
    template <class... X> auto forward(const X&... x) const { return concat<Axis>(x...); }
    template <std::size_t I, class G, class Y, class... X>
    auto vjp(const G& g, const Y&, const X&...) const {
        constexpr std::size_t rank = shape_of_t<G>::rank;
        constexpr std::size_t a = normalize_axis<Axis, rank>();
        constexpr std::array<std::size_t, sizeof...(X)> ext{shape_of_t<X>::extents[a]...};
        constexpr std::size_t begin = [&] {
            std::size_t o = 0;
            for (std::size_t i = 0; i < I; ++i) o += ext[i];
            return o;
        }();
        return slice<int(a), begin, begin + ext[I]>(g);
    }
};
}  // namespace detail

#define KILN_AD_BINARY(sym, tag)                                                                  \
    template <class A, class B>                                                                   \
        requires detail::ad_binary_operands<A, B>                                                 \
    auto operator sym(A&& a, B&& b) {                                                             \
        return detail::make_node(detail::ad_binary<tag>{}, std::forward<A>(a), std::forward<B>(b)); \
    }
KILN_AD_BINARY(+, add_op)
KILN_AD_BINARY(-, sub_op)
KILN_AD_BINARY(*, mul_op)
KILN_AD_BINARY(/, div_op)
#undef KILN_AD_BINARY

template <class A, class B>
    requires detail::ad_binary_operands<A, B>
auto maximum(A&& a, B&& b) {
    return detail::make_node(detail::ad_binary<maximum_op>{}, std::forward<A>(a), std::forward<B>(b));
}
template <class A, class B>
    requires detail::ad_binary_operands<A, B>
auto minimum(A&& a, B&& b) {
    return detail::make_node(detail::ad_binary<minimum_op>{}, std::forward<A>(a), std::forward<B>(b));
}
template <class A, class B>
    requires detail::ad_binary_operands<A, B> && (!std::is_arithmetic_v<std::remove_cvref_t<B>>)
auto pow(A&& a, B&& b) {
    return detail::make_node(detail::ad_binary<pow_op>{}, std::forward<A>(a), std::forward<B>(b));
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
        return detail::make_node(detail::ad_unary<fn##_op>{}, std::forward<E>(e)); \
    }
KILN_AD_UNARY(exp)
KILN_AD_UNARY(log)
KILN_AD_UNARY(sqrt)
KILN_AD_UNARY(tanh)
KILN_AD_UNARY(erf)
KILN_AD_UNARY(abs)
KILN_AD_UNARY(sigmoid)
KILN_AD_UNARY(relu)
#undef KILN_AD_UNARY

template <ad_expression E>
auto operator-(E&& e) {
    return detail::make_node(detail::ad_unary<neg_op>{}, std::forward<E>(e));
}
template <ad_expression E>
auto pow(E&& e, typename std::remove_cvref_t<E>::value_type p) {
    return detail::make_node(detail::ad_unary<pow_scalar_op<typename std::remove_cvref_t<E>::value_type>>{{p}},
                             std::forward<E>(e));
}
template <ad_expression E>
auto leaky_relu(E&& e, typename std::remove_cvref_t<E>::value_type slope = 0.01) {
    return detail::make_node(detail::ad_unary<leaky_relu_op<typename std::remove_cvref_t<E>::value_type>>{{slope}},
                             std::forward<E>(e));
}
template <ad_expression E>
auto gelu(E&& e) {
    return detail::make_node(detail::ad_unary<gelu_op>{}, std::forward<E>(e));
}
template <ad_expression E>
auto clamp(E&& e, typename std::remove_cvref_t<E>::value_type lo, typename std::remove_cvref_t<E>::value_type hi) {
    return detail::make_node(detail::ad_unary<clamp_op<typename std::remove_cvref_t<E>::value_type>>{{lo, hi}},
                             std::forward<E>(e));
}

/// where(cond, a, b) with a or b differentiable; cond is a constant (e.g. a comparison).
template <expression C, class A, class B>
    requires detail::ad_binary_operands<A, B>
auto where(C&& c, A&& a, B&& b) {
    if constexpr (std::is_same_v<value_of_t<C>, bool> && !std::is_same_v<device_of_t<C>, cpu>)
        return detail::make_node(detail::ad_where{}, kiln::where(c, 1.0f, 0.0f), std::forward<A>(a), std::forward<B>(b));
    else
        return detail::make_node(detail::ad_where{}, std::forward<C>(c), std::forward<A>(a), std::forward<B>(b));
}

template <ad_expression E>
auto sum(E&& e) { return detail::make_node(detail::ad_sum_all{}, std::forward<E>(e)); }
template <int Axis, bool Keepdims = false, ad_expression E>
auto sum(E&& e) { return detail::make_node(detail::ad_sum_axis<Axis, Keepdims, false>{}, std::forward<E>(e)); }
template <ad_expression E>
auto mean(E&& e) { return detail::make_node(detail::ad_mean_all{}, std::forward<E>(e)); }
template <int Axis, bool Keepdims = false, ad_expression E>
auto mean(E&& e) { return detail::make_node(detail::ad_sum_axis<Axis, Keepdims, true>{}, std::forward<E>(e)); }
template <ad_expression E>
auto max(E&& e) { return detail::make_node(detail::ad_extreme<0, false, true, reduce_max>{}, std::forward<E>(e)); }
template <int Axis, bool Keepdims = false, ad_expression E>
auto max(E&& e) { return detail::make_node(detail::ad_extreme<Axis, Keepdims, false, reduce_max>{}, std::forward<E>(e)); }
template <ad_expression E>
auto min(E&& e) { return detail::make_node(detail::ad_extreme<0, false, true, reduce_min>{}, std::forward<E>(e)); }
template <int Axis, bool Keepdims = false, ad_expression E>
auto min(E&& e) { return detail::make_node(detail::ad_extreme<Axis, Keepdims, false, reduce_min>{}, std::forward<E>(e)); }

template <class A, class B>
    requires detail::ad_binary_operands<A, B> && (!std::is_arithmetic_v<std::remove_cvref_t<A>>) &&
             (!std::is_arithmetic_v<std::remove_cvref_t<B>>)
auto matmul(A&& a, B&& b) {
    return detail::make_node(detail::ad_matmul{}, std::forward<A>(a), std::forward<B>(b));
}

template <shape_type S2, ad_expression E>
auto reshape(E&& e) { return detail::make_node(detail::ad_reshape<S2>{}, std::forward<E>(e)); }
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
auto transpose(E&& e) { return detail::make_node(detail::ad_transpose{}, std::forward<E>(e)); }
template <std::size_t... P, ad_expression E>
auto permute(E&& e) { return detail::make_node(detail::ad_permute<P...>{}, std::forward<E>(e)); }
template <int Axis, std::size_t Begin, std::size_t End, std::size_t Step = 1, ad_expression E>
auto slice(E&& e) { return detail::make_node(detail::ad_slice<Axis, Begin, End, Step>{}, std::forward<E>(e)); }
template <int Axis, class... E>
    requires(ad_expression<E> || ...)
auto concat(E&&... e) { return detail::make_node(detail::ad_concat<Axis>{}, std::forward<E>(e)...); }

}  // namespace kiln
