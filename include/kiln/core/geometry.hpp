// The geometry of 2-D convolution and pooling: plain descriptions the ops build from their
// compile-time shapes and every device's kernels read (the CPU's, Vulkan's specialisation
// constants), so ops never name a backend to describe their work.
#pragma once

#include <cstddef>

namespace kiln {

/// Shape of a 2-D convolution. Build it with designated initializers and call with_output()
/// to derive the output size P x Q, e.g.
///   auto g = conv2d_geometry{.N = 64, .C = 3, .H = 32, .W = 32, .K = 64, .R = 3, .S = 3,
///                            .pad_h = 1, .pad_w = 1}.with_output();
struct conv2d_geometry {
    std::size_t N = 1, C = 1, H = 1, W = 1;  // input: images, channels, height, width
    std::size_t K = 1;                       // output channels
    std::size_t R = 1, S = 1;                // kernel height, width
    std::size_t stride_h = 1, stride_w = 1;
    std::size_t pad_h = 0, pad_w = 0;        // zeros added on both sides
    std::size_t dil_h = 1, dil_w = 1;
    std::size_t groups = 1;                  // weight [K, C/groups, R, S]; C and K multiples of it
    std::size_t P = 0, Q = 0;                // output height, width (derived)

    /// Output extent of one axis (0 when the dilated kernel does not fit the padded input).
    static constexpr std::size_t out_extent(std::size_t in, std::size_t k, std::size_t stride, std::size_t pad,
                                            std::size_t dil) {
        const std::size_t span = dil * (k - 1) + 1;
        return in + 2 * pad < span ? 0 : (in + 2 * pad - span) / stride + 1;
    }
    /// A copy with P and Q computed from the other fields.
    constexpr conv2d_geometry with_output() const {
        conv2d_geometry g = *this;
        g.P = out_extent(H, R, stride_h, pad_h, dil_h);
        g.Q = out_extent(W, S, stride_w, pad_w, dil_w);
        return g;
    }
    /// Nonzero strides, dilations and kernel, groups dividing C and K, and P, Q matching the other fields.
    constexpr bool valid() const {
        return R > 0 && S > 0 && stride_h > 0 && stride_w > 0 && dil_h > 0 && dil_w > 0 && groups > 0 &&
               C % groups == 0 && K % groups == 0 &&
               P == out_extent(H, R, stride_h, pad_h, dil_h) && Q == out_extent(W, S, stride_w, pad_w, dil_w);
    }
};

/// Shape of a 2-D pooling. Build with designated initializers, then with_output():
///   auto g = pool2d_geometry{.N = 64, .C = 64, .H = 32, .W = 32, .R = 2, .S = 2}.with_output();
struct pool2d_geometry {
    std::size_t N = 1, C = 1, H = 1, W = 1;
    std::size_t R = 1, S = 1;                // window height, width
    std::size_t stride_h = 0, stride_w = 0;  // 0: the window size (torch's default)
    std::size_t pad_h = 0, pad_w = 0;        // torch requires pad <= window / 2
    std::size_t dil_h = 1, dil_w = 1;
    bool ceil_mode = false;
    std::size_t P = 0, Q = 0;                // output height, width (derived)

    static constexpr std::size_t out_extent(std::size_t in, std::size_t k, std::size_t stride, std::size_t pad,
                                            std::size_t dil, bool ceil) {
        const std::size_t span = dil * (k - 1) + 1;
        if (in + 2 * pad < span) return 0;
        const std::size_t room = in + 2 * pad - span;
        std::size_t out = (ceil ? (room + stride - 1) / stride : room / stride) + 1;
        // torch: the last window must start inside the input or the left padding.
        if (ceil && (out - 1) * stride >= in + pad) --out;
        return out;
    }
    /// A copy with zero strides replaced by the window size and P, Q computed.
    constexpr pool2d_geometry with_output() const {
        pool2d_geometry g = *this;
        if (g.stride_h == 0) g.stride_h = R;
        if (g.stride_w == 0) g.stride_w = S;
        g.P = out_extent(H, R, g.stride_h, pad_h, dil_h, ceil_mode);
        g.Q = out_extent(W, S, g.stride_w, pad_w, dil_w, ceil_mode);
        return g;
    }
    /// Nonzero window, strides and dilations, and P, Q matching the other fields.
    constexpr bool valid() const {
        return R > 0 && S > 0 && stride_h > 0 && stride_w > 0 && dil_h > 0 && dil_w > 0 &&
               P == out_extent(H, R, stride_h, pad_h, dil_h, ceil_mode) &&
               Q == out_extent(W, S, stride_w, pad_w, dil_w, ceil_mode);
    }
};

}  // namespace kiln
