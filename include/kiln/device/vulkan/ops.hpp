// device_ops<vulkan>: the Vulkan side of the device interface the ops call. Everything is
// recorded into the runtime's command stream; only transfers to the host synchronise.
#pragma once

#include <algorithm>
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
    // Convolution (im2col + the GEMM) and pooling, NCHW. `G` is the conv/pool geometry the ops
    // pass (kiln::conv2d_geometry / pool2d_geometry, core/geometry.hpp).
    template <class G>
    static vk::window_geometry window(const G& g, bool include_pad = true) {
        return {g.N, g.C, g.H, g.W, g.R, g.S, g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dil_h, g.dil_w, g.P, g.Q, include_pad};
    }
    /// y[n] = w [K, CRS] x col[:, n] (+ b): col = im2col(x) as [CRS, N*P*Q], one batched GEMM
    /// over the images, starting from the broadcast bias (beta = 1). With groups, the GEMM per
    /// group: weight rows [K/groups, C/groups*R*S] times that group's rows of col (contiguous).
    template <class G, class X, class W, class B, class Y>
    static void conv2d_forward(const G& g, const X& x, const W& w, const B* b, Y& y) {
        const std::size_t crs = g.C * g.R * g.S, pq = g.P * g.Q, npq = g.N * pq;
        const std::size_t groups = g.groups, kg = g.K / groups, crsg = crs / groups;
        if (g.N * g.K * pq == 0) return;
        vk::device_buffer col(std::max<std::size_t>(crs * npq, 1) * sizeof(float));
        vk::window_kernel(vk::window_op::im2col, window(g), x.buffer(), nullptr, col);
        if (b) {  // y[n, k, pq] = b[k]
            const std::uint32_t in_strides[3] = {0, 1, 0}, out_strides[3] = {std::uint32_t(g.K * pq), std::uint32_t(pq), 1},
                                extents[3] = {std::uint32_t(g.N), std::uint32_t(g.K), std::uint32_t(pq)};
            vk::strided_copy(b->buffer(), 0, in_strides, y.buffer(), 0, out_strides, extents, 3);
        }
        for (std::size_t i = 0; i < groups; ++i)
            vk::gemm(false, false, kg, pq, crsg, 1.0f, w.buffer(), i * kg * crsg, crsg, 0, col, i * crsg * npq, npq, pq,
                     b ? 1.0f : 0.0f, y.buffer(), i * kg * pq, pq, g.K * pq, g.N);
    }
    /// dx = col2im(w^T x dy[n]) with the column gradients of all images in one [CRS, N*P*Q] buffer.
    template <class G, class DY, class W, class DX>
    static void conv2d_backward_data(const G& g, const DY& dy, const W& w, DX& dx) {
        const std::size_t crs = g.C * g.R * g.S, pq = g.P * g.Q, npq = g.N * pq;
        const std::size_t groups = g.groups, kg = g.K / groups, crsg = crs / groups;
        if (g.N * g.C * g.H * g.W == 0) return;
        vk::device_buffer col(std::max<std::size_t>(crs * npq, 1) * sizeof(float));
        for (std::size_t i = 0; i < groups; ++i)
            vk::gemm(true, false, crsg, pq, kg, 1.0f, w.buffer(), i * kg * crsg, crsg, 0, dy.buffer(), i * kg * pq, pq,
                     g.K * pq, 0.0f, col, i * crsg * npq, npq, pq, g.N);
        vk::window_kernel(vk::window_op::col2im, window(g), col, nullptr, dx.buffer());
    }
    /// dw [K, CRS] = dy as [K, N*P*Q] x im2col(x)^T: one GEMM (per group) whose inner dimension
    /// runs over all images.
    template <class G, class X, class DY, class DW>
    static void conv2d_backward_weight(const G& g, const X& x, const DY& dy, DW& dw) {
        const std::size_t crs = g.C * g.R * g.S, pq = g.P * g.Q, npq = g.N * pq;
        const std::size_t groups = g.groups, kg = g.K / groups, crsg = crs / groups;
        if (g.K * crs == 0) return;
        vk::device_buffer col(std::max<std::size_t>(crs * npq, 1) * sizeof(float));
        vk::device_buffer dyt(std::max<std::size_t>(g.K * npq, 1) * sizeof(float));
        vk::window_kernel(vk::window_op::im2col, window(g), x.buffer(), nullptr, col);
        const std::uint32_t in_strides[3] = {std::uint32_t(pq), std::uint32_t(g.K * pq), 1},
                            out_strides[3] = {std::uint32_t(npq), std::uint32_t(pq), 1},
                            extents[3] = {std::uint32_t(g.K), std::uint32_t(g.N), std::uint32_t(pq)};
        vk::strided_copy(dy.buffer(), 0, in_strides, dyt, 0, out_strides, extents, 3);  // [N, K, PQ] -> [K, N, PQ]
        for (std::size_t i = 0; i < groups; ++i)
            vk::gemm(false, true, kg, crsg, npq, 1.0f, dyt, i * kg * npq, npq, 0, col, i * crsg * npq, npq, 0, 0.0f,
                     dw.buffer(), i * kg * crsg, crsg, 0, 1);
    }
    /// The winners are found again from x in the backward pass (no index buffer to keep).
    static constexpr bool max_pool_keeps_argmax = false;
    template <class G, class X, class Y>
    static void max_pool2d_forward(const G& g, const X& x, Y& y, std::int32_t*) {
        vk::window_kernel(vk::window_op::max_pool, window(g), x.buffer(), nullptr, y.buffer());
    }
    template <class G, class X, class DY, class DX>
    static void max_pool2d_backward(const G& g, const X& x, const DY& dy, const std::int32_t*, DX& dx) {
        vk::window_kernel(vk::window_op::max_pool_vjp, window(g), x.buffer(), &dy.buffer(), dx.buffer());
    }
    template <class G, class X, class Y>
    static void avg_pool2d_forward(const G& g, const X& x, Y& y, bool include_pad) {
        vk::window_kernel(vk::window_op::avg_pool, window(g, include_pad), x.buffer(), nullptr, y.buffer());
    }
    template <class G, class DY, class DX>
    static void avg_pool2d_backward(const G& g, const DY& dy, DX& dx, bool include_pad) {
        vk::window_kernel(vk::window_op::avg_pool_vjp, window(g, include_pad), dy.buffer(), nullptr, dx.buffer());
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
