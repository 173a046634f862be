// xtensor interop: every CPU tensor is viewable as an xtensor container (a fixed-shape
// adaptor over its memory, no copy), so any xtensor function works on it, and any xtensor
// expression can be assigned into a tensor after a runtime shape check.
//
// Why a view and not inheritance: a tensor derived from an xtensor container makes
// argument-dependent lookup find xtensor's unconstrained operator templates, which beat
// kiln's on non-const lvalues and silently drop the compile-time shape checks.
#pragma once

#include <xtensor/xadapt.hpp>
#include <xtensor/xfixed.hpp>

#include "error.hpp"
#include "tensor.hpp"

namespace kiln {

namespace detail {
template <class S>
struct xshape_of;
template <std::size_t... D>
struct xshape_of<shape<D...>> {
    using type = xt::xshape<D...>;
};
}  // namespace detail

/// An xtensor fixed-shape adaptor over t's elements (writes go to t).
template <class T, class S, class D, class St>
auto xt_view(tensor<T, S, D, St>& t) {
    return xt::adapt(t.data(), typename detail::xshape_of<S>::type{});
}
template <class T, class S, class D, class St>
auto xt_view(const tensor<T, S, D, St>& t) {
    return xt::adapt(t.data(), typename detail::xshape_of<S>::type{});
}

/// Evaluates an xtensor expression into t; its shape must equal t's (checked at run time,
/// since xtensor shapes may be dynamic).
template <class T, class S, class D, class St, class XE>
void assign_xt(tensor<T, S, D, St>& t, const xt::xexpression<XE>& xe) {
    const auto& e = xe.derived_cast();
    bool same = e.dimension() == S::rank;
    for (std::size_t i = 0; same && i < S::rank; ++i) same = static_cast<std::size_t>(e.shape()[i]) == S::extents[i];
    if (!same) {
        char got[128] = {0};
        std::size_t n = 0;
        for (std::size_t i = 0; i < e.dimension() && n + 24 < sizeof got; ++i)
            n += static_cast<std::size_t>(std::snprintf(got + n, sizeof got - n, i ? ", %zu" : "%zu", static_cast<std::size_t>(e.shape()[i])));
        fail("[xtensor] assign: expression of shape (%s) into a tensor of %zu elements in %zu axes", got, S::size, S::rank);
    }
    auto v = xt_view(t);
    v = e;
}

}  // namespace kiln
