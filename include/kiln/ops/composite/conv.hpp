// conv2d (NCHW, weights OIHW like PyTorch), max_pool2d and avg_pool2d as op tags with their
// vjps; the kernels come from device_ops<Device> (im2col + the packed GEMM on the CPU).
// A device without these kernels fails to compile here, naming what to add.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "../../core/tensor.hpp"
#include "../primitive/reduce.hpp"
#include "normalization.hpp"  // detail::sum_except_channel

namespace kiln {

namespace detail {
template <class D>
concept has_conv_kernels = requires { device_ops<D>::max_pool_keeps_argmax; };

constexpr std::size_t conv_out(std::size_t in, std::size_t k, std::size_t stride, std::size_t pad, std::size_t dil) {
    return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1;
}
template <class D>
consteval void check_conv_device() {
    static_assert(has_conv_kernels<D>, "[conv2d] this device has no convolution/pooling kernels yet: add them to "
                                       "device_ops<Device> (device/<device>/ops.hpp)");
}
}  // namespace detail

/// y = conv2d(x, w) + b with x [N, C, H, W], w [K, C, R, S], b [K]; stride, padding, dilation per axis.
template <std::size_t Stride, std::size_t Pad, std::size_t Dil>
struct conv2d_op {
    static constexpr const char* name = "conv2d";
    template <class XS, class WS>
    static constexpr cpu_kernels::conv2d_geometry geometry() {
        return cpu_kernels::conv2d_geometry{.N = XS::extents[0], .C = XS::extents[1], .H = XS::extents[2],
                                            .W = XS::extents[3], .K = WS::extents[0], .R = WS::extents[2],
                                            .S = WS::extents[3], .stride_h = Stride, .stride_w = Stride,
                                            .pad_h = Pad, .pad_w = Pad, .dil_h = Dil, .dil_w = Dil}
            .with_output();
    }
    template <class X, class W>
    using out_shape = shape<shape_of_t<X>::extents[0], shape_of_t<W>::extents[0],
                            detail::conv_out(shape_of_t<X>::extents[2], shape_of_t<W>::extents[2], Stride, Pad, Dil),
                            detail::conv_out(shape_of_t<X>::extents[3], shape_of_t<W>::extents[3], Stride, Pad, Dil)>;

    template <class X, class W, class B>
    auto forward(const X& x, const W& w, const B& b) const {
        using XS = shape_of_t<X>;
        using WS = shape_of_t<W>;
        static_assert(XS::rank == 4 && WS::rank == 4, "[conv2d] input [N, C, H, W] and weight [K, C, R, S]");
        static_assert(XS::extents[1] == WS::extents[1], "[conv2d] input channels must equal the weight's in_channels");
        using D = device_of_t<X>;
        detail::check_conv_device<D>();
        const auto& xv = detail::materialize(x);
        const auto& wv = detail::materialize(w);
        const auto& bv = detail::materialize(b);
        tensor<value_of_t<X>, out_shape<X, W>, D> y(uninitialized);
        device_ops<D>::conv2d_forward(geometry<XS, WS>(), xv, wv, &bv, y);
        return y;
    }
    template <std::size_t I, class G, class Y, class X, class W, class B>
    auto vjp(const G& g, const Y&, const X& x, const W& w, const B&) const {
        using XS = shape_of_t<X>;
        using WS = shape_of_t<W>;
        using D = device_of_t<X>;
        const auto& gv = detail::materialize(g);
        if constexpr (I == 0) {
            tensor<value_of_t<X>, XS, D> dx(uninitialized);
            device_ops<D>::conv2d_backward_data(geometry<XS, WS>(), gv, detail::materialize(w), dx);
            return dx;
        } else if constexpr (I == 1) {
            tensor<value_of_t<X>, WS, D> dw(uninitialized);
            device_ops<D>::conv2d_backward_weight(geometry<XS, WS>(), detail::materialize(x), gv, dw);
            return dw;
        } else {
            return reshape<shape<WS::extents[0]>>(detail::sum_except_channel(gv));
        }
    }
};

/// max_pool2d / avg_pool2d over [N, C, H, W] (PyTorch semantics; max ties: first in the window).
template <std::size_t K, std::size_t Stride, std::size_t Pad, bool Max, bool IncludePad = true>
struct pool2d_op {
    static constexpr const char* name = Max ? "max_pool2d" : "avg_pool2d";
    std::shared_ptr<std::vector<std::int32_t>> argmax = std::make_shared<std::vector<std::int32_t>>();

    template <class XS>
    static constexpr cpu_kernels::pool2d_geometry geometry() {
        return cpu_kernels::pool2d_geometry{.N = XS::extents[0], .C = XS::extents[1], .H = XS::extents[2],
                                            .W = XS::extents[3], .R = K, .S = K, .stride_h = Stride,
                                            .stride_w = Stride, .pad_h = Pad, .pad_w = Pad}
            .with_output();
    }
    template <class XS>
    using out_shape = shape<XS::extents[0], XS::extents[1], geometry<XS>().P, geometry<XS>().Q>;

    template <class X>
    auto forward(const X& x) const {
        using XS = shape_of_t<X>;
        static_assert(XS::rank == 4, "[pool2d] input must be [N, C, H, W]");
        using D = device_of_t<X>;
        detail::check_conv_device<D>();
        const auto& xv = detail::materialize(x);
        tensor<value_of_t<X>, out_shape<XS>, D> y(uninitialized);
        if constexpr (Max) {
            // A device that keeps the winners' indices gets a buffer for them; one that does not
            // finds them again from x in the backward pass.
            std::int32_t* idx = nullptr;
            if constexpr (device_ops<D>::max_pool_keeps_argmax) {
                argmax->resize(out_shape<XS>::size);
                idx = argmax->data();
            }
            device_ops<D>::max_pool2d_forward(geometry<XS>(), xv, y, idx);
        } else {
            device_ops<D>::avg_pool2d_forward(geometry<XS>(), xv, y, IncludePad);
        }
        return y;
    }
    template <std::size_t, class G, class Y, class X>
    auto vjp(const G& g, const Y&, const X& x) const {
        using XS = shape_of_t<X>;
        using D = device_of_t<X>;
        tensor<value_of_t<X>, XS, D> dx(uninitialized);
        if constexpr (Max)
            device_ops<D>::max_pool2d_backward(geometry<XS>(), detail::materialize(x), detail::materialize(g),
                                               argmax->data(), dx);
        else
            device_ops<D>::avg_pool2d_backward(geometry<XS>(), detail::materialize(g), dx, IncludePad);
        return dx;
    }
};

}  // namespace kiln
