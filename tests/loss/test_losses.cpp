// Losses: values against float64 formulas (PyTorch's definitions), gradients against central
// differences, label smoothing, and padded rows (valid counts) that must count for nothing.
#include <kiln/autodiff/gradcheck.hpp>
#include <kiln/kiln.hpp>
#include <kiln/loss/loss.hpp>

#include <gtest/gtest.h>

#include "test_util.hpp"

using namespace kiln;

namespace {
double ce_ref(const tensor<double, shape<4, 3>>& z, const tensor<int, shape<4>>& y, double eps, std::size_t valid) {
    double total = 0;
    for (std::size_t i = 0; i < valid; ++i) {
        double m = std::max({z(i, 0), z(i, 1), z(i, 2)}), s = 0;
        for (std::size_t c = 0; c < 3; ++c) s += std::exp(z(i, c) - m);
        const double lse = m + std::log(s);
        double row = 0;
        for (std::size_t c = 0; c < 3; ++c) row += -(z(i, c) - lse) * (eps / 3 + (int(c) == y[i] ? 1 - eps : 0));
        total += row;
    }
    return total / double(valid);
}
}  // namespace

TEST(Losses, CrossEntropyValuesSmoothingAndPadding) {
    generator g(1);
    param<double, shape<4, 3>> z(uniform<double, shape<4, 3>>(g, -3.0, 3.0));
    tensor<int, shape<4>> y{2, 0, 1, 2};
    EXPECT_NEAR(loss::cross_entropy(z.value(), y).item(), ce_ref(z.value(), y, 0, 4), 1e-12);
    EXPECT_NEAR(loss::cross_entropy(z.value(), y, 0.1).item(), ce_ref(z.value(), y, 0.1, 4), 1e-12);
    EXPECT_NEAR(loss::cross_entropy(z.value(), y, 0.0, 3).item(), ce_ref(z.value(), y, 0, 3), 1e-12);
    EXPECT_GRADS([&](auto& p) { return loss::cross_entropy(p, y, 0.1); }, z);
    EXPECT_GRADS([&](auto& p) { return loss::cross_entropy(p, y, 0.0, 2); }, z);
    // padded rows get no gradient
    z.zero_grad();
    backward(loss::cross_entropy(z, y, 0.0, 2));
    for (std::size_t c = 0; c < 3; ++c) EXPECT_EQ(z.grad()(3, c), 0.0);
    // large logits stay finite (log-sum-exp with the max subtracted)
    tensor<float, shape<1, 2>> big{{1000.f, -1000.f}};
    tensor<int, shape<1>> one{1};
    EXPECT_NEAR(loss::cross_entropy(big, one).item(), 2000.f, 1e-2);
    // bad labels are reported, not read out of bounds
    tensor<int, shape<4>> bad{0, 3, 1, 1};
    EXPECT_THROW(loss::cross_entropy(z.value(), bad), kiln::error);
    EXPECT_THROW(loss::cross_entropy(z.value(), y, 0.0, 5), kiln::error);
}

TEST(Losses, MseBceAndBceWithLogits) {
    generator g(2);
    param<double, shape<3, 2>> p(uniform<double, shape<3, 2>>(g, 0.1, 0.9));
    param<double, shape<3, 2>> z(uniform<double, shape<3, 2>>(g, -4.0, 4.0));
    tensor<double, shape<3, 2>> t{{1, 0}, {0, 1}, {1, 1}};
    auto q = uniform<double, shape<3, 2>>(g, -1.0, 1.0);
    double mse = 0, bce = 0, bcel = 0, mse2 = 0;
    for (std::size_t i = 0; i < 6; ++i) {
        const double d = p.value()[i] - q[i];
        mse += d * d;
        if (i < 4) mse2 += d * d;
        bce += -(t[i] * std::log(p.value()[i]) + (1 - t[i]) * std::log(1 - p.value()[i]));
        const double s = 1 / (1 + std::exp(-z.value()[i]));
        bcel += -(t[i] * std::log(s) + (1 - t[i]) * std::log(1 - s));
    }
    EXPECT_NEAR(loss::mse(p.value(), q).item(), mse / 6, 1e-12);
    EXPECT_NEAR(loss::mse(p.value(), q, 2).item(), mse2 / 4, 1e-12);  // rows 0..1 of 3
    EXPECT_NEAR(loss::bce(p.value(), t).item(), bce / 6, 1e-12);
    EXPECT_NEAR(loss::bce_with_logits(z.value(), t).item(), bcel / 6, 1e-12);
    EXPECT_GRADS([&](auto& a) { return loss::mse(a, q); }, p);
    EXPECT_GRADS([&](auto& a) { return loss::bce(a, t); }, p);
    EXPECT_GRADS([&](auto& a) { return loss::bce_with_logits(a, t, 2); }, z);
    tensor<float, shape<1, 1>> huge{{80.f}}, zero_t{{0.f}};
    EXPECT_NEAR(loss::bce_with_logits(huge, zero_t).item(), 80.f, 1e-3);  // no overflow
}
