// Reductions: sum, mean, max, min over all elements or one axis (keepdims optional), argmax
// and argmin. They are kernels that write their output (device/cpu/kernels/reduce.hpp).
#pragma once

#include <cstdint>
#include <type_traits>

#include "../../core/tensor.hpp"
#include "../../device/cpu/ops.hpp"

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

/// A tensor holding e's value: e itself when it is a tensor, else a fresh evaluation.
template <expression E>
decltype(auto) materialize(const E& e) {
    if constexpr (tensor_type<E>)
        return (e);
    else
        return eval(e);
}

/// A new tensor of shape S2 on the device and storage of tensor `like`.
template <class T, class S2, class Like>
using like_t = tensor<T, S2, typename std::remove_cvref_t<Like>::device_type, typename std::remove_cvref_t<Like>::storage_type>;

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

}  // namespace kiln
