// where(cond, a, b): a where cond holds, else b; the three broadcast together.
#pragma once

#include <cstddef>
#include <type_traits>

#include "../../core/expr.hpp"
#include "binary.hpp"  // operator!= (a 0/1 mask as a condition)

namespace kiln {

struct where_op;  // the op tag, after where() below

/// Elementwise cond ? a : b; a and b may be numbers.
template <expression C, class A, class B>
    requires detail::operand<A> && detail::operand<B>
constexpr auto where(C&& c, A&& a, B&& b) {
    using T = detail::binary_value_t<A, B>;
    using cc = detail::closure_t<C&&>;
    using ca = detail::operand_closure_t<T, A&&>;
    using cb = detail::operand_closure_t<T, B&&>;
    using S0 = broadcast_shape_t<where_op, shape_of_t<ca>, shape_of_t<cb>>;
    using S = broadcast_shape_t<where_op, shape_of_t<cc>, S0>;
    detail::check_devices<where_op, typename std::remove_cvref_t<cc>::device_type,
                          typename std::remove_cvref_t<ca>::device_type, typename std::remove_cvref_t<cb>::device_type>();
    using pc = detail::presented_t<cc, S>;
    using pa = detail::presented_t<ca, S>;
    using pb = detail::presented_t<cb, S>;
    return where_expr<pc, pa, pb, T>{{},
                                     detail::present<cc, S>(std::forward<C>(c)),
                                     detail::present<ca, S>(detail::to_closure<std::remove_cvref_t<ca>>(std::forward<A>(a))),
                                     detail::present<cb, S>(detail::to_closure<std::remove_cvref_t<cb>>(std::forward<B>(b)))};
}

/// Converts elements to U lazily.
template <class U, expression E>
constexpr auto astype(E&& e) {
    using c = detail::closure_t<E&&>;
    return cast_expr<U, c>{{}, c(std::forward<E>(e))};
}

namespace detail {
/// The condition as a boolean expression (off the CPU it is kept as a 0/1 float mask: devices
/// hold floats).
template <class C>
decltype(auto) as_condition(const C& c) {
    if constexpr (std::is_same_v<value_of_t<C>, bool>)
        return (c);
    else
        return c != value_of_t<C>(0);
}
}  // namespace detail

/// where(c, a, b) as an op: operands (c, a, b), c a condition or a 0/1 mask; c has no gradient.
struct where_op {
    static constexpr const char* name = "where";
    template <class C, class A, class B>
    auto forward(const C& c, const A& a, const B& b) const { return kiln::where(detail::as_condition(c), a, b); }
    template <std::size_t I, class G, class Y, class C, class A, class B>
    auto vjp(const G& g, const Y&, const C& c, const A&, const B&) const {
        static_assert(I != 0, "[where] the condition has no gradient");
        if constexpr (I == 1)
            return kiln::where(detail::as_condition(c), g, 0);
        else
            return kiln::where(detail::as_condition(c), 0, g);
    }
};

}  // namespace kiln
