// conv2d and pooling layers: forward against direct float64 loops, gradients against central
// differences, and a small CNN learning a toy task.
#include <kiln/autodiff/gradcheck.hpp>
#include <kiln/kiln.hpp>
#include <kiln/loss/loss.hpp>
#include <kiln/nn/activation.hpp>
#include <kiln/nn/conv.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/nn/sequential.hpp>

#include <gtest/gtest.h>

#include "test_util.hpp"

using namespace kiln;

namespace {
}  // namespace

TEST(ConvLayers, ForwardMatchesDirectLoops) {
    manual_seed(2);
    nn::conv2d<2, 3, 3, 2, 1, 1, cpu, double> conv;  // stride 2, padding 1
    generator g(5);
    auto x = uniform<double, shape<2, 2, 5, 6>>(g, -1.0, 1.0);
    auto y = conv.forward(x, nn::use_values{});
    static_assert(std::is_same_v<decltype(y)::shape_type, shape<2, 3, 3, 3>>);
    for (std::size_t n = 0; n < 2; ++n)
        for (std::size_t k = 0; k < 3; ++k)
            for (std::size_t p = 0; p < 3; ++p)
                for (std::size_t q = 0; q < 3; ++q) {
                    double s = conv.bias.value()[k];
                    for (std::size_t c = 0; c < 2; ++c)
                        for (std::size_t r = 0; r < 3; ++r)
                            for (std::size_t t = 0; t < 3; ++t) {
                                long h = long(p * 2 + r) - 1, w = long(q * 2 + t) - 1;
                                if (h >= 0 && h < 5 && w >= 0 && w < 6)
                                    s += x(n, c, std::size_t(h), std::size_t(w)) * conv.weight.value()(k, c, r, t);
                            }
                    EXPECT_NEAR(y(n, k, p, q), s, 1e-12);
                }
    auto m = nn::max_pool2d<2>{}.forward(x, nn::use_values{});
    static_assert(std::is_same_v<decltype(m)::shape_type, shape<2, 2, 2, 3>>);
    EXPECT_EQ(m(1, 1, 1, 2), std::max({x(1, 1, 2, 4), x(1, 1, 2, 5), x(1, 1, 3, 4), x(1, 1, 3, 5)}));
    auto a = nn::avg_pool2d<3, 1, 1>{}.forward(x, nn::use_values{});
    EXPECT_NEAR(a(0, 0, 0, 0), (x(0, 0, 0, 0) + x(0, 0, 0, 1) + x(0, 0, 1, 0) + x(0, 0, 1, 1)) / 9.0, 1e-12);
}

TEST(ConvLayers, Gradients) {
    manual_seed(3);
    nn::conv2d<2, 3, 3, 1, 1, 1, cpu, double> conv;
    nn::conv2d<2, 2, 3, 2, 2, 2, cpu, double> dilated;
    generator g(6);
    param<double, shape<2, 2, 6, 5>> x(uniform<double, shape<2, 2, 6, 5>>(g, -1.0, 1.0));
    auto w = uniform<double, shape<2, 3, 6, 5>>(g, 0.5, 1.5);
    EXPECT_GRADS([&](auto& in) { return sum(conv.forward(in) * w); }, x);
    EXPECT_GRADS([&](auto&) { return sum(conv.forward(x.value()) * w); }, conv.weight);
    EXPECT_GRADS([&](auto&) { return sum(conv.forward(x.value()) * w); }, conv.bias);
    auto wd = uniform<double, shape<2, 2, 3, 3>>(g, 0.5, 1.5);
    EXPECT_GRADS([&](auto& in) { return sum(dilated.forward(in) * wd); }, x);
    EXPECT_GRADS([&](auto&) { return sum(dilated.forward(x.value()) * wd); }, dilated.weight);
    auto wp = uniform<double, shape<2, 2, 3, 2>>(g, 0.5, 1.5);
    EXPECT_GRADS([&](auto& in) { return sum(nn::max_pool2d<2>{}.forward(in) * wp); }, x);
    auto wa = uniform<double, shape<2, 2, 4, 3>>(g, 0.5, 1.5);
    EXPECT_GRADS([&](auto& in) { return sum(nn::avg_pool2d<2, 2, 1>{}.forward(in) * wa); }, x);
}

TEST(ConvLayers, SmallCnnLearns) {
    manual_seed(4);
    nn::sequential<nn::conv2d<1, 4, 3, 1, 1>, nn::relu, nn::max_pool2d<2>, nn::flatten<>, nn::linear<4 * 4 * 4, 2>> cnn;
    // class 0: bright left half, class 1: bright right half
    tensor<float, shape<8, 1, 8, 8>> x;
    tensor<int, shape<8>> y;
    generator g(7);
    for (std::size_t n = 0; n < 8; ++n) {
        y[n] = int(n % 2);
        for (std::size_t h = 0; h < 8; ++h)
            for (std::size_t w = 0; w < 8; ++w) x(n, 0, h, w) = ((w < 4) == (n % 2 == 0) ? 1.f : 0.f) + 0.1f * g.next_float();
    }
    float first = 0, last = 0;
    for (int it = 0; it < 30; ++it) {
        auto out = cnn(x);
        auto l = loss::cross_entropy(out, y);
        nn::zero_grad(cnn);
        backward(l);
        nn::visit_parameters(cnn, [](const std::string&, auto& p) { p.value() = p.value() - 0.2f * p.grad(); });
        (it == 0 ? first : last) = l.value().item();
    }
    EXPECT_LT(last, first * 0.3f);
    auto pred = argmax<1>(cnn.predict(x));
    for (std::size_t n = 0; n < 8; ++n) EXPECT_EQ(pred[n], y[n]);
}

TEST(ConvLayers, ParameterAndFlopCountsAreConstants) {
    using net = nn::sequential<nn::conv2d<3, 64, 3, 1, 1>, nn::relu, nn::max_pool2d<2>, nn::conv2d<64, 128, 3, 1, 1>,
                               nn::relu, nn::max_pool2d<2>, nn::flatten<>, nn::linear<8192, 1024>, nn::relu,
                               nn::linear<1024, 10>>;
    static_assert(net::parameters == (64 * 3 * 9 + 64) + (128 * 64 * 9 + 128) + (8192 * 1024 + 1024) + (1024 * 10 + 10));
    constexpr std::size_t f = net::flops<shape<64, 3, 32, 32>>();
    static_assert(f == 2ull * 64 * (64 * 3 * 9 * 32 * 32 + 128 * 64 * 9 * 16 * 16 + 8192 * 1024 + 1024 * 10));
    EXPECT_EQ(f, 2ull * 64 * 29042688);  // 3.7 GFLOP forward per batch
}
