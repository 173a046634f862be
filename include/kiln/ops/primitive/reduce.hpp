// Reductions: sum, mean, max, min over all elements or one axis (keepdims optional), argmax
// and argmin. They are kernels that write their output (device_ops<Device>::reduce); the op
// tags at the end pair each with its vjp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../../core/tensor.hpp"
#include "binary.hpp"
#include "movement.hpp"  // reshape (the axis reductions' vjps)
#include "where.hpp"

namespace kiln {

namespace detail {

/// Shape S with axis A removed (or set to 1 when Keep).
template <class S, std::size_t A, bool Keep>
consteval auto reduced_extents() {
    constexpr std::size_t r = Keep ? S::rank : S::rank - 1;
    std::array<std::size_t, r> out{};
    std::size_t k = 0;
    for (std::size_t i = 0; i < S::rank; ++i) {
        if (i == A) {
            if (Keep) out[k++] = 1;
        } else {
            out[k++] = S::extents[i];
        }
    }
    return out;
}
template <class S, std::size_t A, bool Keep>
using reduced_shape_t = shape_from_array_t<reduced_extents<S, A, Keep>()>;

template <class R, class S, std::size_t A, bool Keep, class E>
auto reduce_axis(const E& e) {
    using T = value_of_t<E>;
    static_assert(S::extents[A] > 0, "[reduce] cannot reduce an axis of extent 0");
    const auto& src = materialize(e);
    like_t<T, reduced_shape_t<S, A, Keep>, decltype(src)> out(uninitialized);
    constexpr std::size_t n = S::extents[A];
    constexpr std::size_t inner = S::strides[A];
    device_ops<device_of_t<E>>::template reduce<R>(src, out, S::size / (n * inner), n, inner);
    return out;
}

template <class R, class E>
auto reduce_all(const E& e) {
    using T = value_of_t<E>;
    static_assert(shape_of_t<E>::size > 0, "[reduce] cannot reduce an empty tensor");
    const auto& src = materialize(e);
    like_t<T, shape<>, decltype(src)> out(uninitialized);
    device_ops<device_of_t<E>>::template reduce<R>(src, out, 1, shape_of_t<E>::size, 1);
    return out;
}

}  // namespace detail

/// Sum of all elements (a 0-d tensor; .item() gives the number).
template <expression E>
auto sum(const E& e) { return detail::reduce_all<reduce_sum>(e); }
/// Sum over axis Axis (negative counts from the end).
template <int Axis, bool Keepdims = false, expression E>
auto sum(const E& e) {
    using S = shape_of_t<E>;
    return detail::reduce_axis<reduce_sum, S, detail::normalize_axis<Axis, S::rank>(), Keepdims>(e);
}

/// Mean of all elements.
template <expression E>
auto mean(const E& e) {
    auto s = sum(e);
    s = s * (value_of_t<E>(1) / static_cast<value_of_t<E>>(shape_of_t<E>::size));
    return s;
}
/// Mean over axis Axis.
template <int Axis, bool Keepdims = false, expression E>
auto mean(const E& e) {
    using S = shape_of_t<E>;
    auto s = sum<Axis, Keepdims>(e);
    s = s * (value_of_t<E>(1) / static_cast<value_of_t<E>>(S::extents[detail::normalize_axis<Axis, S::rank>()]));
    return s;
}

/// Largest element.
template <expression E>
auto max(const E& e) { return detail::reduce_all<reduce_max>(e); }
template <int Axis, bool Keepdims = false, expression E>
auto max(const E& e) {
    using S = shape_of_t<E>;
    return detail::reduce_axis<reduce_max, S, detail::normalize_axis<Axis, S::rank>(), Keepdims>(e);
}
/// Smallest element.
template <expression E>
auto min(const E& e) { return detail::reduce_all<reduce_min>(e); }
template <int Axis, bool Keepdims = false, expression E>
auto min(const E& e) {
    using S = shape_of_t<E>;
    return detail::reduce_axis<reduce_min, S, detail::normalize_axis<Axis, S::rank>(), Keepdims>(e);
}

namespace detail {
template <bool Greater, int Axis, bool Keep, class E>
auto arg_axis(const E& e) {
    using S = shape_of_t<E>;
    constexpr std::size_t a = normalize_axis<Axis, S::rank>();
    const auto& src = materialize(e);
    like_t<std::int64_t, reduced_shape_t<S, a, Keep>, decltype(src)> out(uninitialized);
    constexpr std::size_t n = S::extents[a], inner = S::strides[a];
    device_ops<device_of_t<E>>::template arg_reduce<Greater>(src, out, S::size / (n * inner), n, inner);
    return out;
}
template <bool Greater, class E>
auto arg_all(const E& e) {
    const auto& src = materialize(e);
    like_t<std::int64_t, shape<>, decltype(src)> out(uninitialized);
    device_ops<device_of_t<E>>::template arg_reduce<Greater>(src, out, 1, shape_of_t<E>::size, 1);
    return out;
}
}  // namespace detail

/// Flat index of the largest element (first on ties), as int64 like PyTorch.
template <expression E>
auto argmax(const E& e) { return detail::arg_all<true>(e); }
template <int Axis, bool Keepdims = false, expression E>
auto argmax(const E& e) { return detail::arg_axis<true, Axis, Keepdims>(e); }
/// Flat index of the smallest element (first on ties).
template <expression E>
auto argmin(const E& e) { return detail::arg_all<false>(e); }
template <int Axis, bool Keepdims = false, expression E>
auto argmin(const E& e) { return detail::arg_axis<false, Axis, Keepdims>(e); }

// Op tags: forward + vjp<0>(g, y, x), applied to graph nodes by autodiff/ops.hpp. argmax and
// argmin have no gradient.

/// Sum of all elements; the adjoint is g broadcast back to x's shape.
struct sum_op {
    static constexpr const char* name = "sum";
    template <class X>
    auto forward(const X& x) const { return sum(x); }
    template <std::size_t I, class G, class Y, class X>
    auto vjp(const G& g, const Y&, const X&) const { return broadcast_to<shape_of_t<X>>(detail::materialize(g)); }
};
/// Mean of all elements.
struct mean_op {
    static constexpr const char* name = "mean";
    template <class X>
    auto forward(const X& x) const { return mean(x); }
    template <std::size_t I, class G, class Y, class X>
    auto vjp(const G& g, const Y&, const X&) const {
        using T = value_of_t<X>;
        return broadcast_to<shape_of_t<X>>(detail::materialize(g)) * (T(1) / T(shape_of_t<X>::size));
    }
};

namespace detail {
/// g (the adjoint of a reduction of x over Axis, keepdims or not) broadcast back to x's shape.
template <int Axis, class X, class G>
auto unreduce(const G& g) {
    using S = shape_of_t<X>;
    constexpr std::size_t a = normalize_axis<Axis, S::rank>();
    return broadcast_to<S>(reshape<reduced_shape_t<S, a, true>>(g));
}
}  // namespace detail

/// Sum over axis Axis (keepdims when Keep).
template <int Axis, bool Keep>
struct sum_axis_op {
    static constexpr const char* name = "sum";
    template <class X>
    auto forward(const X& x) const { return sum<Axis, Keep>(x); }
    template <std::size_t I, class G, class Y, class X>
    auto vjp(const G& g, const Y&, const X&) const { return detail::unreduce<Axis, X>(g); }
};
/// Mean over axis Axis (keepdims when Keep).
template <int Axis, bool Keep>
struct mean_axis_op {
    static constexpr const char* name = "mean";
    template <class X>
    auto forward(const X& x) const { return mean<Axis, Keep>(x); }
    template <std::size_t I, class G, class Y, class X>
    auto vjp(const G& g, const Y&, const X&) const {
        using S = shape_of_t<X>;
        using T = value_of_t<X>;
        return detail::unreduce<Axis, X>(g) * (T(1) / T(S::extents[detail::normalize_axis<Axis, S::rank>()]));
    }
};

/// max (Kind = reduce_max) or min (reduce_min) of all elements. The adjoint is split evenly among
/// the elements equal to the extreme (like torch.amax).
template <class Kind>
struct extreme_op {
    static constexpr const char* name = std::is_same_v<Kind, reduce_max> ? "max" : "min";
    template <class X>
    auto forward(const X& x) const {
        if constexpr (std::is_same_v<Kind, reduce_max>) return max(x); else return min(x);
    }
    template <std::size_t I, class G, class Y, class X>
    auto vjp(const G& g, const Y& y, const X& x) const {
        using S = shape_of_t<X>;
        using T = value_of_t<X>;
        auto hit = eval(where(x == broadcast_to<S>(y), T(1), T(0)));
        auto share = eval(detail::materialize(g) / sum(hit));
        return eval(hit * broadcast_to<S>(share));
    }
};
/// max or min over axis Axis (keepdims when Keep); ties share the adjoint as in extreme_op.
template <class Kind, int Axis, bool Keep>
struct extreme_axis_op {
    static constexpr const char* name = std::is_same_v<Kind, reduce_max> ? "max" : "min";
    template <class X>
    auto forward(const X& x) const {
        if constexpr (std::is_same_v<Kind, reduce_max>) return max<Axis, Keep>(x); else return min<Axis, Keep>(x);
    }
    template <std::size_t I, class G, class Y, class X>
    auto vjp(const G& g, const Y& y, const X& x) const {
        using S = shape_of_t<X>;
        using T = value_of_t<X>;
        constexpr std::size_t a = detail::normalize_axis<Axis, S::rank>();
        using KS = detail::reduced_shape_t<S, a, true>;
        auto yk = reshape<KS>(y);
        auto hit = eval(where(x == broadcast_to<S>(yk), T(1), T(0)));
        auto share = eval(reshape<KS>(g) / sum<int(a), true>(hit));
        return eval(hit * broadcast_to<S>(share));
    }
};

}  // namespace kiln
