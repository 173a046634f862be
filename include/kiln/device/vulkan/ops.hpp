// device_ops<vulkan>: the Vulkan side of the device interface the ops call. Everything is
// recorded into the runtime's command stream; only transfers to the host synchronise.
#pragma once

#include <cstdint>
#include <type_traits>

#include "../../core/device.hpp"
#include "kernels.hpp"
#include "lower.hpp"
#include "tensor.hpp"

namespace kiln {

template <>
struct device_ops<vulkan> {
    /// dst = e, one fused dispatch (a plain copy when e is a tensor).
    template <class Dst, class E>
    static void assign(Dst& dst, const E& e) {
        vk_lower::evaluate(dst, e);
    }
    template <class R, class In, class Out>
    static void reduce(const In& in, Out& out, std::size_t outer, std::size_t n, std::size_t inner) {
        constexpr vk::reduce_op op = std::is_same_v<R, reduce_sum>   ? vk::reduce_op::sum
                                     : std::is_same_v<R, reduce_max> ? vk::reduce_op::max
                                                                     : vk::reduce_op::min;
        vk::reduce(op, in.buffer(), 0, out.buffer(), 0, outer, n, inner);
    }
    template <bool Greater, class In, class Out>
    static void arg_reduce(const In& in, Out& out, std::size_t outer, std::size_t n, std::size_t inner) {
        vk::arg_reduce(Greater, in.buffer(), 0, out.buffer(), 0, outer, n, inner);
    }
    template <class A, class B, class C>
    static void gemm(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, const A& a, std::size_t a_off,
                     std::size_t lda, std::size_t stride_a, const B& b, std::size_t b_off, std::size_t ldb,
                     std::size_t stride_b, C& c, std::size_t c_off, std::size_t ldc, std::size_t stride_c,
                     std::size_t batch) {
        vk::gemm(ta, tb, M, N, K, 1.0f, a.buffer(), a_off, lda, stride_a, b.buffer(), b_off, ldb, stride_b, 0.0f,
                 c.buffer(), c_off, ldc, stride_c, batch);
    }
    template <class In, class Out>
    static void strided_copy(const In& in, std::size_t in_base, const std::uint32_t* in_strides, Out& out,
                             std::size_t out_base, const std::uint32_t* out_strides, const std::uint32_t* extents,
                             std::uint32_t rank) {
        static_assert(sizeof(typename In::value_type) == sizeof(float), "[vulkan] shape ops move float tensors");
        if (rank == 0) {
            const std::uint32_t one = 1;
            vk::strided_copy(in.buffer(), in_base, &one, out.buffer(), out_base, &one, &one, 1);
            return;
        }
        vk::strided_copy(in.buffer(), in_base, in_strides, out.buffer(), out_base, out_strides, extents, rank);
    }
    /// A device copy of a host tensor.
    template <class T, class S, class St>
    static tensor<T, S, vulkan> from_host(const tensor<T, S, cpu, St>& h) {
        tensor<T, S, vulkan> t(uninitialized);
        vk::upload(t.buffer(), h.data(), S::size * sizeof(T));
        return t;
    }
    /// A host copy of a device tensor (waits for the work that produces it).
    template <class T, class S, class St>
    static tensor<T, S, cpu> to_host(const tensor<T, S, vulkan, St>& d) {
        tensor<T, S, cpu> h(uninitialized);
        vk::download(d.buffer(), h.data(), S::size * sizeof(T));
        return h;
    }
};

/// Submits all recorded device work and waits for it.
inline void synchronize() { vk::synchronize(); }

}  // namespace kiln
