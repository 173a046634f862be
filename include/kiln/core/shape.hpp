// shape<D...>: every extent a template argument, so rank, size and strides are constants and
// shape mismatches are compile errors.
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>

namespace kiln {

// Tags naming ops in shape-check errors (complete definitions live with the ops where they have any).
struct assign_op;
struct reshape_op;
struct matmul_op;
struct concat_op;

/// A row-major shape known at compile time; shape<> is a scalar.
template <std::size_t... D>
struct shape {
    static constexpr std::size_t rank = sizeof...(D);
    static constexpr std::array<std::size_t, rank> extents{D...};
    static constexpr std::size_t size = (std::size_t{1} * ... * D);
    /// Extent of the last axis (1 for a scalar): kernels vectorise over it.
    static constexpr std::size_t inner = rank == 0 ? 1 : extents[rank == 0 ? 0 : rank - 1];
    /// Number of rows of `inner` elements.
    static constexpr std::size_t outer = inner == 0 ? 0 : size / inner;
    static constexpr std::array<std::size_t, rank> strides = [] {
        std::array<std::size_t, rank> s{};
        std::size_t acc = 1;
        for (std::size_t i = rank; i-- > 0;) {
            s[i] = acc;
            acc *= extents[i];
        }
        return s;
    }();
    static constexpr std::size_t extent(std::size_t axis) { return extents[axis]; }
};

template <class S>
struct is_shape : std::false_type {};
template <std::size_t... D>
struct is_shape<shape<D...>> : std::true_type {};
template <class S>
concept shape_type = is_shape<S>::value;

namespace detail {

template <std::size_t... I, class F>
constexpr void static_for_impl(std::index_sequence<I...>, F&& f) {
    (f(std::integral_constant<std::size_t, I>{}), ...);
}
/// Calls f(integral_constant<size_t, i>) for i in [0, N).
template <std::size_t N, class F>
constexpr void static_for(F&& f) {
    static_for_impl(std::make_index_sequence<N>{}, f);
}

/// shape<A[I]...> from a constexpr array.
template <auto Arr, class Seq = std::make_index_sequence<Arr.size()>>
struct shape_from_array;
template <auto Arr, std::size_t... I>
struct shape_from_array<Arr, std::index_sequence<I...>> {
    using type = shape<Arr[I]...>;
};
template <auto Arr>
using shape_from_array_t = typename shape_from_array<Arr>::type;

/// Normalises a possibly negative axis of a rank-R shape (Python style).
template <int Axis, std::size_t R>
consteval std::size_t normalize_axis() {
    static_assert(Axis < static_cast<int>(R) && Axis >= -static_cast<int>(R),
                  "[axis] axis out of range for the tensor's rank");
    return Axis < 0 ? static_cast<std::size_t>(Axis + static_cast<int>(R)) : static_cast<std::size_t>(Axis);
}

// Broadcasting, checked per axis so the error names the op, both shapes, the axis and extents.
template <class Op, class L, class R, std::size_t Axis, std::size_t A, std::size_t B>
consteval std::size_t broadcast_axis() {
    static_assert(A == B || A == 1 || B == 1,
                  "[broadcast] operand extents differ on this axis and neither is 1");
    return A == 1 ? B : A;
}

template <class Op, class L, class R>
consteval auto broadcast_extents() {
    constexpr std::size_t rank = L::rank > R::rank ? L::rank : R::rank;
    std::array<std::size_t, rank> out{};
    static_for<rank>([&](auto i) {
        constexpr std::size_t a = i + L::rank >= rank ? L::extents[i + L::rank - rank] : 1;
        constexpr std::size_t b = i + R::rank >= rank ? R::extents[i + R::rank - rank] : 1;
        out[i] = broadcast_axis<Op, L, R, i, a, b>();
    });
    return out;
}

}  // namespace detail

/// The numpy broadcast of two shapes; a compile error naming Op and both shapes if they clash.
template <class Op, class L, class R>
using broadcast_shape_t = detail::shape_from_array_t<detail::broadcast_extents<Op, L, R>()>;

namespace detail {
/// Used by reshape-like ops: sizes must agree.
template <class Op, class From, class To, std::size_t FromSize, std::size_t ToSize>
consteval void check_same_size() {
    static_assert(FromSize == ToSize, "[reshape] the new shape must have as many elements as the old");
}
template <class Op, class L, class R>
consteval void check_same_shape() {
    static_assert(std::is_same_v<L, R>, "[assign] destination and source shapes differ");
}
}  // namespace detail

}  // namespace kiln
