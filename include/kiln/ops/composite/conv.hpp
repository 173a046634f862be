// conv2d (NCHW, weights OIHW like PyTorch: [K, C/groups, R, S]), max_pool2d and avg_pool2d as
// op tags with their vjps; the kernels come from device_ops<Device> (im2col + the packed GEMM on
// the CPU). A device without these kernels fails to compile here, naming what to add.
//
// Window sizes, strides, paddings and dilations are kiln::hw values: hw{3, 5} is torch's (3, 5)
// (height, width), and a plain number converts to hw{n, n}, so conv2d_op<1, 0, 1> still reads
// as before. Shape errors are static_asserts that name the op and show the extents.
#pragma once

#include <cstdint>

#include "../../core/geometry.hpp"
#include "../../core/tensor.hpp"
#include "../primitive/reduce.hpp"
#include "normalization.hpp"  // detail::sum_except_channel

namespace kiln {

/// A (height, width) pair for kernel sizes, strides, paddings and dilations: hw{3, 5} is torch's
/// kernel_size=(3, 5); one number n means hw{n, n}.
struct hw {
    std::size_t h = 0, w = 0;
    constexpr hw() = default;
    constexpr hw(std::size_t both) : h(both), w(both) {}  // NOLINT: a number is a square window
    constexpr hw(std::size_t height, std::size_t width) : h(height), w(width) {}
    friend constexpr bool operator==(const hw&, const hw&) = default;
};

namespace detail {
template <class D>
concept has_conv_kernels = requires { device_ops<D>::max_pool_keeps_argmax; };

/// Output extent of one axis; the checks below make sure the window fits first.
constexpr std::size_t conv_out(std::size_t in, std::size_t k, std::size_t stride, std::size_t pad, std::size_t dil) {
    return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1;
}
template <class D>
consteval void check_conv_device() {
    static_assert(has_conv_kernels<D>, "[conv2d] this device has no convolution/pooling kernels yet: add them to "
                                       "device_ops<Device> (device/<device>/ops.hpp)");
}

// Shape rules, one comparison per assert, the extents as template parameters (so the
// instantiation line shows the numbers). Axis is 'H' or 'W'.
template <char Axis, std::size_t Kernel, std::size_t Stride, std::size_t Dilation>
consteval void check_window_nonzero() {
    static_assert(Kernel > 0, "[conv2d/pool2d] the kernel size must be positive");
    static_assert(Stride > 0, "[conv2d/pool2d] the stride must be positive");
    static_assert(Dilation > 0, "[conv2d/pool2d] the dilation must be positive");
}
template <char Axis, std::size_t Input, std::size_t Padding, std::size_t Kernel, std::size_t Dilation>
consteval void check_conv_window() {
    static_assert(Dilation * (Kernel - 1) + 1 <= Input + 2 * Padding,
                  "[conv2d] the (dilated) kernel is larger than the padded input");
}
template <std::size_t InputChannels, std::size_t Groups>
consteval void check_conv_in_groups() {
    static_assert(Groups > 0, "[conv2d] groups must be positive");
    static_assert(InputChannels % Groups == 0, "[conv2d] in_channels must be divisible by groups");
}
template <std::size_t OutputChannels, std::size_t Groups>
consteval void check_conv_out_groups() {
    static_assert(OutputChannels % Groups == 0, "[conv2d] out_channels must be divisible by groups");
}
template <std::size_t InputChannels, std::size_t Groups, std::size_t WeightInChannels>
consteval void check_conv_weight_channels() {
    static_assert(InputChannels / Groups == WeightInChannels,
                  "[conv2d] input channels / groups must equal the weight's axis 1 ([out, in/groups, kh, kw])");
}
template <std::size_t OutputChannels, std::size_t BiasSize>
consteval void check_conv_bias() {
    static_assert(OutputChannels == BiasSize, "[conv2d] the bias must have out_channels elements");
}
template <std::size_t XRank, std::size_t WRank>
consteval void check_conv_ranks() {
    static_assert(XRank == 4, "[conv2d] the input must be [N, C, H, W]");
    static_assert(WRank == 4, "[conv2d] the weight must be [out, in/groups, kh, kw]");
}
template <char Axis, std::size_t Input, std::size_t Padding, std::size_t Kernel, std::size_t Dilation>
consteval void check_pool_window() {
    static_assert(Dilation * (Kernel - 1) + 1 <= Input + 2 * Padding,
                  "[pool2d] the (dilated) window is larger than the padded input");
    // torch: "pad should be at most half of effective kernel size"
    static_assert(2 * Padding <= Dilation * (Kernel - 1) + 1, "[pool2d] padding must be at most half the window");
}
template <std::size_t XRank>
consteval void check_pool_rank() {
    static_assert(XRank == 4, "[pool2d] the input must be [N, C, H, W]");
}

template <class XS, class WS, hw Stride, hw Pad, hw Dil, std::size_t Groups>
consteval bool check_conv_shapes() {
    check_conv_ranks<XS::rank, WS::rank>();
    if constexpr (XS::rank == 4 && WS::rank == 4) {
        check_window_nonzero<'H', WS::extents[2], Stride.h, Dil.h>();
        check_window_nonzero<'W', WS::extents[3], Stride.w, Dil.w>();
        check_conv_in_groups<XS::extents[1], Groups>();
        if constexpr (Groups > 0) {
            check_conv_out_groups<WS::extents[0], Groups>();
            check_conv_weight_channels<XS::extents[1], Groups, WS::extents[1]>();
        }
        check_conv_window<'H', XS::extents[2], Pad.h, WS::extents[2], Dil.h>();
        check_conv_window<'W', XS::extents[3], Pad.w, WS::extents[3], Dil.w>();
    }
    return true;
}
}  // namespace detail

/// y = conv2d(x, w) (+ b) with x [N, C, H, W], w [K, C/Groups, R, S], b [K]; stride, padding
/// and dilation per axis. apply_op(conv2d_op<...>{}, x, w) is the bias-free form.
template <hw Stride, hw Pad, hw Dil, std::size_t Groups = 1>
struct conv2d_op {
    static constexpr const char* name = "conv2d";
    template <class XS, class WS>
    static constexpr conv2d_geometry geometry() {
        return conv2d_geometry{.N = XS::extents[0], .C = XS::extents[1], .H = XS::extents[2],
                                            .W = XS::extents[3], .K = WS::extents[0], .R = WS::extents[2],
                                            .S = WS::extents[3], .stride_h = Stride.h, .stride_w = Stride.w,
                                            .pad_h = Pad.h, .pad_w = Pad.w, .dil_h = Dil.h, .dil_w = Dil.w,
                                            .groups = Groups}
            .with_output();
    }
    template <class X, class W, bool = detail::check_conv_shapes<shape_of_t<X>, shape_of_t<W>, Stride, Pad, Dil, Groups>()>
    using out_shape =
        shape<shape_of_t<X>::extents[0], shape_of_t<W>::extents[0],
              detail::conv_out(shape_of_t<X>::extents[2], shape_of_t<W>::extents[2], Stride.h, Pad.h, Dil.h),
              detail::conv_out(shape_of_t<X>::extents[3], shape_of_t<W>::extents[3], Stride.w, Pad.w, Dil.w)>;

    template <class X, class W, class... B>
    auto forward(const X& x, const W& w, const B&... b) const {
        static_assert(sizeof...(B) <= 1, "[conv2d] operands are x, weight and an optional bias");
        using XS = shape_of_t<X>;
        using WS = shape_of_t<W>;
        static_assert(detail::check_conv_shapes<XS, WS, Stride, Pad, Dil, Groups>());
        (detail::check_conv_bias<WS::extents[0], shape_of_t<B>::size>(), ...);
        using D = device_of_t<X>;
        detail::check_conv_device<D>();
        const auto& xv = detail::materialize(x);
        const auto& wv = detail::materialize(w);
        tensor<value_of_t<X>, out_shape<X, W>, D> y(uninitialized);
        if constexpr (sizeof...(B) == 1) {
            const auto& bv = detail::materialize(b...);
            device_ops<D>::conv2d_forward(geometry<XS, WS>(), xv, wv, &bv, y);
        } else {
            device_ops<D>::conv2d_forward(geometry<XS, WS>(), xv, wv, static_cast<const std::remove_cvref_t<decltype(wv)>*>(nullptr), y);
        }
        return y;
    }
    template <std::size_t I, class G, class Y, class X, class W, class... B>
    auto vjp(const G& g, const Y&, const X& x, const W& w, const B&...) const {
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

/// max_pool2d / avg_pool2d over [N, C, H, W] with torch's semantics: window K, stride, padding
/// (-inf for max; counted in avg's divisor when IncludePad), dilation (max only in torch) and
/// ceil_mode (the last window must start inside the input or its left padding). Max ties:
/// the first tap in the window.
template <hw K, hw Stride, hw Pad, bool Max, bool IncludePad = true, hw Dil = 1, bool Ceil = false>
struct pool2d_op {
    static constexpr const char* name = Max ? "max_pool2d" : "avg_pool2d";
    mutable detail::cached_buffer<std::int32_t> argmax;  // the winners' indices, forward to vjp

    template <class XS>
    static consteval bool check() {
        detail::check_pool_rank<XS::rank>();
        if constexpr (XS::rank == 4) {
            detail::check_window_nonzero<'H', K.h, Stride.h, Dil.h>();
            detail::check_window_nonzero<'W', K.w, Stride.w, Dil.w>();
            detail::check_pool_window<'H', XS::extents[2], Pad.h, K.h, Dil.h>();
            detail::check_pool_window<'W', XS::extents[3], Pad.w, K.w, Dil.w>();
        }
        return true;
    }
    template <class XS>
    static constexpr pool2d_geometry geometry() {
        return pool2d_geometry{.N = XS::extents[0], .C = XS::extents[1], .H = XS::extents[2],
                                            .W = XS::extents[3], .R = K.h, .S = K.w, .stride_h = Stride.h,
                                            .stride_w = Stride.w, .pad_h = Pad.h, .pad_w = Pad.w, .dil_h = Dil.h,
                                            .dil_w = Dil.w, .ceil_mode = Ceil}
            .with_output();
    }
    template <class XS, bool = check<XS>()>
    using out_shape = shape<XS::extents[0], XS::extents[1], geometry<XS>().P, geometry<XS>().Q>;

    template <class X>
    auto forward(const X& x) const {
        using XS = shape_of_t<X>;
        static_assert(check<XS>());
        using D = device_of_t<X>;
        detail::check_conv_device<D>();
        const auto& xv = detail::materialize(x);
        tensor<value_of_t<X>, out_shape<XS>, D> y(uninitialized);
        if constexpr (Max) {
            // A device that keeps the winners' indices gets a buffer for them; one that does not
            // finds them again from x in the backward pass.
            std::int32_t* idx = nullptr;
            if constexpr (device_ops<D>::max_pool_keeps_argmax) {
                argmax.resize(out_shape<XS>::size);
                idx = argmax.data();
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
                                               argmax.data(), dx);
        else
            device_ops<D>::avg_pool2d_backward(geometry<XS>(), detail::materialize(g), dx, IncludePad);
        return dx;
    }
};

}  // namespace kiln
