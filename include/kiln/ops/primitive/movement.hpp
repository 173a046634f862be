// Shape ops. reshape/flatten/squeeze/unsqueeze/permute/slice/concat write a new tensor;
// transpose(x) is a lazy view that matmul consumes without copying (a transposed GEMM operand)
// and that any elementwise expression can read. The op tags at the end pair each with its vjp
// (flatten, squeeze and unsqueeze are reshapes).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "../../core/tensor.hpp"

namespace kiln {

/// The same elements in shape S2 (sizes must match: a compile error names both shapes).
template <shape_type S2, expression E>
auto reshape(const E& e) {
    using S = shape_of_t<E>;
    detail::check_same_size<reshape_op, S, S2, S::size, S2::size>();
    const auto& src = detail::materialize(e);
    detail::like_t<value_of_t<E>, S2, decltype(src)> out(uninitialized);
    const std::uint32_t one = 1, n = static_cast<std::uint32_t>(S::size);
    device_ops<device_of_t<E>>::strided_copy(src, 0, &one, out, 0, &one, &n, 1);
    return out;
}
template <std::size_t... D, expression E>
auto reshape(const E& e) { return reshape<shape<D...>>(e); }

namespace detail {
template <class S, std::size_t Start, std::size_t End>
consteval auto flatten_extents() {
    static_assert(Start <= End, "[flatten] start axis must not come after end axis");
    std::array<std::size_t, S::rank - (End - Start)> out{};
    std::size_t k = 0, prod = 1;
    for (std::size_t i = 0; i < S::rank; ++i) {
        if (i < Start || i > End) {
            out[k++] = S::extents[i];
        } else {
            prod *= S::extents[i];
            if (i == End) out[k++] = prod;
        }
    }
    return out;
}
template <class S, std::size_t A>
consteval auto squeeze_extents() {
    static_assert(S::extents[A] == 1, "[squeeze] the axis must have extent 1");
    std::array<std::size_t, S::rank - 1> out{};
    for (std::size_t i = 0, k = 0; i < S::rank; ++i)
        if (i != A) out[k++] = S::extents[i];
    return out;
}
template <class S, std::size_t A>
consteval auto unsqueeze_extents() {
    std::array<std::size_t, S::rank + 1> out{};
    for (std::size_t i = 0, k = 0; i <= S::rank; ++i) out[i] = i == A ? 1 : S::extents[k++];
    return out;
}
}  // namespace detail

/// Merges axes Start..End (inclusive; negative counts from the end) into one, like torch.flatten.
template <int Start = 0, int End = -1, expression E>
auto flatten(const E& e) {
    using S = shape_of_t<E>;
    if constexpr (S::rank == 0) {
        return reshape<shape<1>>(e);
    } else {
        constexpr std::size_t s = detail::normalize_axis<Start, S::rank>(), t = detail::normalize_axis<End, S::rank>();
        return reshape<detail::shape_from_array_t<detail::flatten_extents<S, s, t>()>>(e);
    }
}
/// Removes axis Axis, which must have extent 1.
template <int Axis, expression E>
auto squeeze(const E& e) {
    using S = shape_of_t<E>;
    return reshape<detail::shape_from_array_t<detail::squeeze_extents<S, detail::normalize_axis<Axis, S::rank>()>()>>(e);
}
/// Inserts an axis of extent 1 before position Axis (negative counts from the end of the result).
template <int Axis, expression E>
auto unsqueeze(const E& e) {
    using S = shape_of_t<E>;
    return reshape<detail::shape_from_array_t<
        detail::unsqueeze_extents<S, detail::normalize_axis<Axis, S::rank + 1>()>()>>(e);
}

/// Lazy swap of the last two axes of E.
template <class E>
struct transpose_expr : expr_base<transpose_expr<E>> {
    using child_t = std::remove_cvref_t<E>;
    using src = typename child_t::shape_type;
    static_assert(src::rank >= 2, "[transpose] needs at least 2 axes");
    static constexpr std::size_t M = src::extents[src::rank - 2], N = src::extents[src::rank - 1];
    using value_type = typename child_t::value_type;
    using shape_type = detail::shape_from_array_t<[] {
        auto a = src::extents;
        std::swap(a[src::rank - 2], a[src::rank - 1]);
        return a;
    }()>;
    using storage_type = typename child_t::storage_type;
    using device_type = typename child_t::device_type;
    static constexpr bool simd = false;
    static constexpr bool flat = false;
    E e;
    /// Result row = b * N + r (batch b, row r); element j reads child (b * M + j, r).
    value_type get(std::size_t row, std::size_t j) const { return e.get(row / N * M + j, row % N); }
};

template <class E>
struct expr_depth<transpose_expr<E>> : std::integral_constant<std::size_t, 1 + expr_depth_v<E>> {};

/// Swaps the last two axes (x.mT in PyTorch; x.T for a matrix), lazily.
template <expression E>
constexpr auto transpose(E&& e) {
    using c = detail::closure_t<E&&>;
    return transpose_expr<c>{{}, c(std::forward<E>(e))};
}

namespace detail {
template <class S>
constexpr std::array<std::uint32_t, S::rank> u32_extents() {
    std::array<std::uint32_t, S::rank> a{};
    for (std::size_t i = 0; i < S::rank; ++i) a[i] = static_cast<std::uint32_t>(S::extents[i]);
    return a;
}
template <class S>
constexpr std::array<std::uint32_t, S::rank> u32_strides() {
    std::array<std::uint32_t, S::rank> a{};
    for (std::size_t i = 0; i < S::rank; ++i) a[i] = static_cast<std::uint32_t>(S::strides[i]);
    return a;
}
/// Writes out[c] = in[base + sum_k c_k * InStrides[k]] for every index c of out's shape.
template <auto InStrides, std::size_t Base, class In, class Out>
void gather(const In& in, Out& out) {
    using O = typename Out::shape_type;
    static constexpr auto ext = u32_extents<O>();
    static constexpr auto ostr = u32_strides<O>();
    static constexpr auto istr = InStrides;
    device_ops<typename Out::device_type>::strided_copy(in, Base, istr.data(), out, 0, ostr.data(), ext.data(),
                                                         static_cast<std::uint32_t>(O::rank));
}
}  // namespace detail

/// Reorders axes: result axis k is input axis P[k] (torch.permute).
template <std::size_t... P, expression E>
auto permute(const E& e) {
    using S = shape_of_t<E>;
    static_assert(sizeof...(P) == S::rank, "[permute] give one axis per input axis");
    static_assert([] {
        std::array<bool, S::rank> seen{};
        for (std::size_t p : {P...}) {
            if (p >= S::rank || seen[p]) return false;
            seen[p] = true;
        }
        return true;
    }(), "[permute] axes must be a permutation of 0..rank-1");
    using O = shape<S::extents[P]...>;
    constexpr std::array<std::uint32_t, S::rank> in_strides{static_cast<std::uint32_t>(S::strides[P])...};
    const auto& src = detail::materialize(e);
    detail::like_t<value_of_t<E>, O, decltype(src)> out(uninitialized);
    detail::gather<in_strides, 0>(src, out);
    return out;
}

/// Elements Begin, Begin+Step, ... before End along Axis (a copy).
template <int Axis, std::size_t Begin, std::size_t End, std::size_t Step = 1, expression E>
auto slice(const E& e) {
    using S = shape_of_t<E>;
    constexpr std::size_t a = detail::normalize_axis<Axis, S::rank>();
    static_assert(Step > 0, "[slice] step must be positive");
    static_assert(Begin < End && End <= S::extents[a], "[slice] need Begin < End <= extent of the axis");
    using O = detail::shape_from_array_t<[] {
        auto x = S::extents;
        x[a] = (End - Begin + Step - 1) / Step;
        return x;
    }()>;
    constexpr auto in_strides = [] {
        auto s = detail::u32_strides<S>();
        s[a] *= Step;
        return s;
    }();
    const auto& src = detail::materialize(e);
    detail::like_t<value_of_t<E>, O, decltype(src)> out(uninitialized);
    detail::gather<in_strides, Begin * S::strides[a]>(src, out);
    return out;
}

/// Zeros of shape S with g written at the slice<Axis, Begin, End, Step> positions (slice's vjp).
template <int Axis, std::size_t Begin, std::size_t End, std::size_t Step, shape_type S, expression G>
auto unslice(const G& g) {
    constexpr std::size_t a = detail::normalize_axis<Axis, S::rank>();
    using GS = shape_of_t<G>;
    const auto& src = detail::materialize(g);
    detail::like_t<value_of_t<G>, S, decltype(src)> out;  // zero-filled
    static constexpr auto ext = detail::u32_extents<GS>();
    static constexpr auto istr = detail::u32_strides<GS>();
    static constexpr auto ostr = [] {
        auto s = detail::u32_strides<S>();
        s[a] *= Step;
        return s;
    }();
    device_ops<device_of_t<G>>::strided_copy(src, 0, istr.data(), out, Begin * S::strides[a], ostr.data(), ext.data(),
                                             std::uint32_t(S::rank));
    return out;
}

namespace detail {
template <class S0, std::size_t A, class... S>
consteval auto concat_extents() {
    auto out = S0::extents;
    out[A] = (S::extents[A] + ...);
    return out;
}
template <class Op, class L, class R, std::size_t Axis, std::size_t A, std::size_t B>
consteval void check_concat_axis() {
    static_assert(A == B, "[concat] extents must match on every axis but the concat axis");
}
template <class Op, std::size_t Ax, class L, class R>
consteval void check_concat() {
    static_assert(L::rank == R::rank, "[concat] operands must have the same rank");
    static_for<L::rank>([](auto i) {
        if constexpr (i != Ax) check_concat_axis<Op, L, R, i, L::extents[i], R::extents[i]>();
    });
}
}  // namespace detail

/// Joins tensors along Axis; the other extents must match.
template <int Axis, expression E0, expression... E>
auto concat(const E0& e0, const E&... es) {
    using S0 = shape_of_t<E0>;
    constexpr std::size_t a = detail::normalize_axis<Axis, S0::rank>();
    (detail::check_concat<concat_op, a, S0, shape_of_t<E>>(), ...);
    using O = detail::shape_from_array_t<detail::concat_extents<S0, a, S0, shape_of_t<E>...>()>;
    using T = value_of_t<E0>;
    using D = device_of_t<E0>;
    (detail::check_same_device<concat_op, D, device_of_t<E>>(), ...);
    tensor<T, O, D> out(uninitialized);
    std::size_t offset = 0;  // where this operand starts along the concat axis, in elements
    auto copy_one = [&](const auto& x) {
        using SX = shape_of_t<decltype(x)>;
        const auto& src = detail::materialize(x);
        static constexpr auto ext = detail::u32_extents<SX>();
        static constexpr auto istr = detail::u32_strides<SX>();
        static constexpr auto ostr = detail::u32_strides<O>();
        device_ops<D>::strided_copy(src, 0, istr.data(), out, offset, ostr.data(), ext.data(), std::uint32_t(SX::rank));
        offset += SX::extents[a] * O::strides[a];
    };
    copy_one(e0);
    (copy_one(es), ...);
    return out;
}

// Op tags: forward + vjp<I>(g, y, xs...), applied to graph nodes by autodiff/ops.hpp.

/// reshape<S2>; the adjoint is g reshaped back.
template <shape_type S2>
struct reshape_to_op {
    static constexpr const char* name = "reshape";
    template <class X>
    auto forward(const X& x) const { return reshape<S2>(x); }
    template <std::size_t I, class G, class Y, class X>
    auto vjp(const G& g, const Y&, const X&) const { return reshape<shape_of_t<X>>(g); }
};
/// transpose (the last two axes); its own adjoint.
struct transpose_op {
    static constexpr const char* name = "transpose";
    template <class X>
    auto forward(const X& x) const { return transpose(x); }
    template <std::size_t I, class G, class Y, class X>
    auto vjp(const G& g, const Y&, const X&) const { return transpose(g); }
};
/// permute<P...>; the adjoint is g permuted by the inverse permutation.
template <std::size_t... P>
struct permute_op {
    static constexpr const char* name = "permute";
    template <class X>
    auto forward(const X& x) const { return permute<P...>(x); }
    template <std::size_t I, class G, class Y, class X>
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
/// slice<Axis, Begin, End, Step>; the adjoint is g written back at the sliced positions.
template <int Axis, std::size_t Begin, std::size_t End, std::size_t Step>
struct slice_op {
    static constexpr const char* name = "slice";
    template <class X>
    auto forward(const X& x) const { return slice<Axis, Begin, End, Step>(x); }
    template <std::size_t I, class G, class Y, class X>
    auto vjp(const G& g, const Y&, const X&) const { return unslice<Axis, Begin, End, Step, shape_of_t<X>>(g); }
};
/// concat<Axis>(xs...); operand I's adjoint is its slice of g.
template <int Axis>
struct concat_axis_op {
    static constexpr const char* name = "concat";
    template <class... X>
    auto forward(const X&... x) const { return concat<Axis>(x...); }
    template <std::size_t I, class G, class Y, class... X>
    auto vjp(const G& g, const Y&, const X&...) const {
        constexpr std::size_t rank = shape_of_t<G>::rank;
        constexpr std::size_t a = detail::normalize_axis<Axis, rank>();
        constexpr std::array<std::size_t, sizeof...(X)> ext{shape_of_t<X>::extents[a]...};
        constexpr std::size_t begin = [&] {
            std::size_t o = 0;
            for (std::size_t i = 0; i < I; ++i) o += ext[i];
            return o;
        }();
        return slice<int(a), begin, begin + ext[I]>(g);
    }
};

}  // namespace kiln
