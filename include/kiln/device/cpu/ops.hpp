// device_ops<cpu>: the CPU's side of the device interface the ops call.
#pragma once

#include <cstdint>
#include <cstring>

#include "../../core/device.hpp"
#include "../../exec/thread_pool.hpp"
#include <vector>

#include "kernels/conv.hpp"
#include "kernels/gemm.hpp"
#include "kernels/pool.hpp"
#include "kernels/reduce.hpp"

namespace kiln {

template <>
struct device_ops<cpu> {
    /// out[o, i] = R over k of in[o, k, i].
    template <class R, class In, class Out>
    static void reduce(const In& in, Out& out, std::size_t outer, std::size_t n, std::size_t inner) {
        cpu_kernels::reduce<cpu_kernels::reducer<R>>(in.data(), out.data(), outer, n, inner);
    }
    /// out[o, i] = index of the extreme in[o, k, i] (first on ties).
    template <bool Greater, class In, class Out>
    static void arg_reduce(const In& in, Out& out, std::size_t outer, std::size_t n, std::size_t inner) {
        cpu_kernels::arg_reduce<Greater>(in.data(), out.data(), outer, n, inner);
    }
    /// C_b = op(A_b) op(B_b) for b < batch, operands at offset + b * stride (elements).
    template <class A, class B, class C>
    static void gemm(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, const A& a, std::size_t a_off,
                     std::size_t lda, std::size_t stride_a, const B& b, std::size_t b_off, std::size_t ldb,
                     std::size_t stride_b, C& c, std::size_t c_off, std::size_t ldc, std::size_t stride_c,
                     std::size_t batch) {
        using T = typename C::value_type;
        for (std::size_t i = 0; i < batch; ++i)
            cpu_kernels::gemm<T>(ta, tb, M, N, K, T(1), a.data() + a_off + i * stride_a, lda,
                                 b.data() + b_off + i * stride_b, ldb, T(0), c.data() + c_off + i * stride_c, ldc,
                                 exec::default_pool());
    }
    /// out[out_base + sum c_k out_strides[k]] = in[in_base + sum c_k in_strides[k]], c over extents.
    template <class In, class Out>
    static void strided_copy(const In& in, std::size_t in_base, const std::uint32_t* in_strides, Out& out,
                             std::size_t out_base, const std::uint32_t* out_strides, const std::uint32_t* extents,
                             std::uint32_t rank) {
        using T = typename Out::value_type;
        const T* src = in.data();
        T* dst = out.data();
        if (rank == 0) {
            dst[out_base] = src[in_base];
            return;
        }
        std::size_t rows = 1;
        for (std::uint32_t k = 0; k + 1 < rank; ++k) rows *= extents[k];
        const std::size_t n = extents[rank - 1], si = in_strides[rank - 1], so = out_strides[rank - 1];
        std::uint32_t idx[8] = {};
        for (std::size_t r = 0; r < rows; ++r) {
            std::size_t ib = in_base, ob = out_base;
            for (std::uint32_t k = 0; k + 1 < rank; ++k) {
                ib += idx[k] * std::size_t(in_strides[k]);
                ob += idx[k] * std::size_t(out_strides[k]);
            }
            if (si == 1 && so == 1)
                std::memcpy(dst + ob, src + ib, n * sizeof(T));
            else
                for (std::size_t j = 0; j < n; ++j) dst[ob + j * so] = src[ib + j * si];
            for (std::uint32_t k = rank - 1; k-- > 0;) {  // odometer over the outer axes
                if (++idx[k] < extents[k]) break;
                idx[k] = 0;
            }
        }
    }

    // Convolution and pooling (NCHW). The workspace grows once per thread and is reused.
    template <class T>
    static T* workspace(std::size_t n) {
        static thread_local std::vector<T> ws;
        if (ws.size() < n) ws.resize(n);
        return ws.data();
    }
    template <class X, class W, class B, class Y>
    static void conv2d_forward(const cpu_kernels::conv2d_geometry& g, const X& x, const W& w, const B* b, Y& y) {
        using T = typename Y::value_type;
        cpu_kernels::conv2d_forward(g, x.data(), w.data(), b ? b->data() : static_cast<const T*>(nullptr), y.data(),
                                    workspace<T>(cpu_kernels::conv2d_workspace_size(g)), exec::default_pool());
    }
    template <class G, class W, class DX>
    static void conv2d_backward_data(const cpu_kernels::conv2d_geometry& g, const G& dy, const W& w, DX& dx) {
        using T = typename DX::value_type;
        cpu_kernels::conv2d_backward_data(g, dy.data(), w.data(), dx.data(),
                                          workspace<T>(cpu_kernels::conv2d_workspace_size(g)), exec::default_pool());
    }
    template <class X, class G, class DW>
    static void conv2d_backward_weight(const cpu_kernels::conv2d_geometry& g, const X& x, const G& dy, DW& dw) {
        using T = typename DW::value_type;
        cpu_kernels::conv2d_backward_weight(g, x.data(), dy.data(), dw.data(), static_cast<T*>(nullptr),
                                            workspace<T>(cpu_kernels::conv2d_workspace_size(g)), exec::default_pool());
    }
    /// max_pool2d_forward records each winner's index in `argmax` for the backward pass.
    static constexpr bool max_pool_keeps_argmax = true;
    template <class X, class Y>
    static void max_pool2d_forward(const cpu_kernels::pool2d_geometry& g, const X& x, Y& y, std::int32_t* argmax) {
        cpu_kernels::max_pool2d_forward(g, x.data(), y.data(), argmax, exec::default_pool());
    }
    template <class X, class G, class DX>
    static void max_pool2d_backward(const cpu_kernels::pool2d_geometry& g, const X&, const G& dy,
                                    const std::int32_t* argmax, DX& dx) {
        cpu_kernels::max_pool2d_backward(g, dy.data(), argmax, dx.data(), exec::default_pool());
    }
    template <class X, class Y>
    static void avg_pool2d_forward(const cpu_kernels::pool2d_geometry& g, const X& x, Y& y, bool include_pad) {
        cpu_kernels::avg_pool2d_forward(g, x.data(), y.data(), include_pad, exec::default_pool());
    }
    template <class G, class DX>
    static void avg_pool2d_backward(const cpu_kernels::pool2d_geometry& g, const G& dy, DX& dx, bool include_pad) {
        cpu_kernels::avg_pool2d_backward(g, dy.data(), dx.data(), include_pad, exec::default_pool());
    }
};

}  // namespace kiln
