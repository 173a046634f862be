// conv.comp: im2col against a host loop, col2im as its exact adjoint, and the argument checks.
// (Pooling and convolution as ops are compared with the CPU in tests/device/test_devices.cpp.)
#include "vk_test.hpp"

#include <string>

using namespace kiln_vk_test;

namespace {

// N=2, C=3, 7x6 input, 3x2 window, strides 2x1, padding 1x0, dilation 1x2.
vk::window_geometry geometry() {
    vk::window_geometry g{2, 3, 7, 6, 3, 2, 2, 1, 1, 0, 1, 2, 0, 0};
    g.P = (g.H + 2 * g.ph - g.dh * (g.R - 1) - 1) / g.sh + 1;
    g.Q = (g.W + 2 * g.pw - g.dw * (g.S - 1) - 1) / g.sw + 1;
    return g;
}

class Window : public vk_test {};

}  // namespace

TEST_F(Window, Im2colMatchesHostLoop) {
    const auto g = geometry();
    const std::size_t image = g.N * g.C * g.H * g.W, npq = g.N * g.P * g.Q, rows = g.C * g.R * g.S;
    auto x = random_vector(image, 1);
    auto dx = to_device(x);
    vk::device_buffer col(rows * npq * sizeof(float));
    vk::window_kernel(vk::window_op::im2col, g, dx, nullptr, col);
    auto got = to_host(col, rows * npq);
    for (std::size_t c = 0; c < g.C; ++c)
        for (std::size_t r = 0; r < g.R; ++r)
            for (std::size_t s = 0; s < g.S; ++s)
                for (std::size_t n = 0; n < g.N; ++n)
                    for (std::size_t p = 0; p < g.P; ++p)
                        for (std::size_t q = 0; q < g.Q; ++q) {
                            long h = long(p * g.sh + r * g.dh) - long(g.ph), w = long(q * g.sw + s * g.dw) - long(g.pw);
                            float want = h >= 0 && h < long(g.H) && w >= 0 && w < long(g.W)
                                             ? x[((n * g.C + c) * g.H + std::size_t(h)) * g.W + std::size_t(w)]
                                             : 0.0f;
                            std::size_t i = ((c * g.R + r) * g.S + s) * npq + (n * g.P + p) * g.Q + q;
                            ASSERT_EQ(got[i], want) << "row " << (c * g.R + r) * g.S + s << " column " << i % npq;
                        }
}

TEST_F(Window, Col2imIsTheAdjointOfIm2col) {
    const auto g = geometry();
    const std::size_t image = g.N * g.C * g.H * g.W, cols = g.C * g.R * g.S * g.N * g.P * g.Q;
    auto x = random_vector(image, 2), c = random_vector(cols, 3);
    auto dx = to_device(x), dc = to_device(c);
    vk::device_buffer col(cols * sizeof(float)), img(image * sizeof(float));
    vk::window_kernel(vk::window_op::im2col, g, dx, nullptr, col);
    vk::window_kernel(vk::window_op::col2im, g, dc, nullptr, img);
    auto ax = to_host(col, cols), atc = to_host(img, image);
    double lhs = 0, rhs = 0;  // <im2col(x), c> == <x, col2im(c)>
    for (std::size_t i = 0; i < cols; ++i) lhs += double(ax[i]) * c[i];
    for (std::size_t i = 0; i < image; ++i) rhs += double(x[i]) * atc[i];
    EXPECT_NEAR(lhs, rhs, 1e-4 * (1 + std::fabs(lhs)));
}

TEST_F(Window, ChecksItsArguments) {
    const auto g = geometry();
    const std::size_t image = g.N * g.C * g.H * g.W, pooled = g.N * g.C * g.P * g.Q;
    vk::device_buffer x(image * sizeof(float)), small((pooled - 1) * sizeof(float)), y(pooled * sizeof(float));
    vk::fill(x, 0, image, 1.0f);
    try {
        vk::window_kernel(vk::window_op::max_pool, g, x, nullptr, small);
        ADD_FAILURE() << "an undersized output was accepted";
    } catch (const kiln::error& e) {
        EXPECT_NE(std::string(e.what()).find("max_pool2d"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("the output"), std::string::npos) << e.what();
    }
    EXPECT_THROW(vk::window_kernel(vk::window_op::max_pool_vjp, g, x, nullptr, x), kiln::error);  // no dy
    EXPECT_THROW(vk::window_kernel(vk::window_op::max_pool_vjp, g, x, &y, x), kiln::error);       // dx aliases x
    auto zero = g;
    zero.sh = 0;
    EXPECT_THROW(vk::window_kernel(vk::window_op::avg_pool, zero, x, nullptr, y), kiln::error);
}
