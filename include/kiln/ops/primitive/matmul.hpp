// matmul: [.., M, K] x [.., K, N] -> [.., M, N] with batch axes broadcast, 1-D operands
// promoted as in torch.matmul, and transposed operands (transpose(x)) fed to the GEMM with a
// transpose flag instead of being copied. matmul_op (at the end) is the op with its vjp.
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>

#include "../../core/tensor.hpp"
#include "movement.hpp"

namespace kiln {

namespace detail {

template <class Op, class L, class R, std::size_t K1, std::size_t K2>
consteval void check_inner() {
    static_assert(K1 == K2, "[matmul] lhs columns must equal rhs rows");
}

/// The tensor and transpose flag a matmul operand reduces to.
template <class E>
struct gemm_operand {
    static constexpr bool trans = false;
    static decltype(auto) get(const E& e) { return materialize(e); }
};
template <class E>
struct gemm_operand<transpose_expr<E>> {
    static constexpr bool trans = true;
    static decltype(auto) get(const transpose_expr<E>& t) { return materialize(t.e); }
};

template <class S>
consteval auto batch_extents() {
    std::array<std::size_t, S::rank - 2> a{};
    for (std::size_t i = 0; i + 2 < S::rank; ++i) a[i] = S::extents[i];
    return a;
}
template <class S>
using batch_shape_t = shape_from_array_t<batch_extents<S>()>;

template <class B, std::size_t M, std::size_t N>
consteval auto with_matrix_extents() {
    std::array<std::size_t, B::rank + 2> a{};
    for (std::size_t i = 0; i < B::rank; ++i) a[i] = B::extents[i];
    a[B::rank] = M;
    a[B::rank + 1] = N;
    return a;
}
template <class B, std::size_t M, std::size_t N>
using with_matrix_t = shape_from_array_t<with_matrix_extents<B, M, N>()>;

/// Row offset (in matrices) of operand batch shape BS for result batch index b of shape O.
template <class O, class BS>
std::size_t batch_offset(std::size_t b) {
    std::size_t off = 0;
    constexpr std::size_t pad = O::rank - BS::rank;
    static_for<O::rank>([&](auto i) {
        if constexpr (i >= pad) {
            if constexpr (BS::extents[i - pad] != 1) off += (b / O::strides[i]) % O::extents[i] * BS::strides[i - pad];
        }
    });
    return off;
}

}  // namespace detail

/// Matrix product with torch.matmul's rules.
template <expression A, expression B>
auto matmul(const A& a, const B& b) {
    using SA = shape_of_t<A>;
    using SB = shape_of_t<B>;
    static_assert(SA::rank >= 1 && SB::rank >= 1, "[matmul] operands need at least one axis");
    if constexpr (SA::rank == 1 && SB::rank == 1) {
        return reshape<shape<>>(matmul(reshape<shape<1, SA::extents[0]>>(a), reshape<shape<SB::extents[0], 1>>(b)));
    } else if constexpr (SA::rank == 1) {
        return squeeze<-2>(matmul(reshape<shape<1, SA::extents[0]>>(a), b));
    } else if constexpr (SB::rank == 1) {
        return squeeze<-1>(matmul(a, reshape<shape<SB::extents[0], 1>>(b)));
    } else {
        using T = std::common_type_t<value_of_t<A>, value_of_t<B>>;
        static_assert(std::is_same_v<value_of_t<A>, value_of_t<B>>, "[matmul] operands must have the same element type");
        constexpr std::size_t M = SA::extents[SA::rank - 2], K = SA::extents[SA::rank - 1];
        constexpr std::size_t K2 = SB::extents[SB::rank - 2], N = SB::extents[SB::rank - 1];
        detail::check_inner<matmul_op, SA, SB, K, K2>();
        using BA = detail::batch_shape_t<SA>;
        using BB = detail::batch_shape_t<SB>;
        using BO = broadcast_shape_t<matmul_op, BA, BB>;
        using OA = detail::gemm_operand<std::remove_cvref_t<A>>;
        using OB = detail::gemm_operand<std::remove_cvref_t<B>>;
        const auto& ta = OA::get(a);
        const auto& tb = OB::get(b);
        // a transposed operand is stored [.., K, M]: its row stride is M
        constexpr std::size_t lda = OA::trans ? M : K, ldb = OB::trans ? K2 : N;
        using D = device_of_t<A>;
        detail::check_same_device<matmul_op, D, device_of_t<B>>();
        detail::like_t<T, detail::with_matrix_t<BO, M, N>, decltype(ta)> out(uninitialized);
        if constexpr (std::is_same_v<BA, BO> && (std::is_same_v<BB, BO> || BB::size == 1)) {
            // one batched call: rhs batch stride 0 when it is shared (a weight)
            device_ops<D>::gemm(OA::trans, OB::trans, M, N, K, ta, 0, lda, M * K, tb, 0, ldb, BB::size == 1 ? 0 : K * N,
                                out, 0, N, M * N, BO::size);
        } else {
            for (std::size_t bi = 0; bi < BO::size; ++bi)
                device_ops<D>::gemm(OA::trans, OB::trans, M, N, K, ta, detail::batch_offset<BO, BA>(bi) * M * K, lda, 0,
                                    tb, detail::batch_offset<BO, BB>(bi) * K * N, ldb, 0, out, bi * M * N, N, 0, 1);
        }
        return out;
    }
}

/// matmul as an op (operands of rank >= 2): dA = g B^T, dB = A^T g, the transposes fed to the
/// GEMM as flags.
struct matmul_op {
    static constexpr const char* name = "matmul";
    template <class A, class B>
    auto forward(const A& a, const B& b) const {
        static_assert(shape_of_t<A>::rank >= 2 && shape_of_t<B>::rank >= 2,
                      "[matmul] autodiff needs operands of rank >= 2: reshape a vector to [1, K] or [K, 1]");
        return matmul(a, b);
    }
    template <std::size_t I, class G, class Y, class A, class B>
    auto vjp(const G& g, const Y&, const A& a, const B& b) const {
        if constexpr (I == 0) return matmul(g, transpose(b)); else return matmul(transpose(a), g);
    }
};

}  // namespace kiln
