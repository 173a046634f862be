// Every differentiable op against float64 central differences (kiln::check_gradients).
#include <kiln/autodiff/gradcheck.hpp>
#include <kiln/autodiff/ops.hpp>
#include <kiln/kiln.hpp>

#include <gtest/gtest.h>

#include "test_util.hpp"

using namespace kiln;

namespace {
template <class S>
using p64 = param<double, S>;

template <class S>
p64<S> make(std::uint64_t seed, double lo = -1, double hi = 1) {
    generator g(seed);
    return p64<S>(uniform<double, S>(g, lo, hi));
}
/// sum(y * w) with fixed weights w, so every element of the Jacobian is exercised.
template <class Y>
auto project(Y&& y) {
    using S = typename std::remove_cvref_t<Y>::shape_type;
    generator g(99);
    return sum(std::forward<Y>(y) * uniform<double, S>(g, 0.5, 1.5));
}
}  // namespace

TEST(Autodiff, ChapterExampleGivesSevenNine) {
    var<float, shape<2>> x{2, 3};
    auto y = sum(x * x + 3 * x);
    backward(y);
    EXPECT_EQ(x.grad()[0], 7);
    EXPECT_EQ(x.grad()[1], 9);
    backward(y);  // gradients accumulate
    EXPECT_EQ(x.grad()[1], 18);
    x.zero_grad();
    EXPECT_EQ(x.grad()[1], 0);
}

TEST(Autodiff, UnaryOps) {
    auto x = make<shape<3, 5>>(1);
    auto pos = make<shape<3, 5>>(2, 0.2, 2.0);
    EXPECT_GRADS([](auto& a) { return project(exp(a)); }, x);
    EXPECT_GRADS([](auto& a) { return project(log(a)); }, pos);
    EXPECT_GRADS([](auto& a) { return project(sqrt(a)); }, pos);
    EXPECT_GRADS([](auto& a) { return project(tanh(a)); }, x);
    EXPECT_GRADS([](auto& a) { return project(sigmoid(a)); }, x);
    EXPECT_GRADS([](auto& a) { return project(relu(a)); }, x);  // no element within eps of 0
    EXPECT_GRADS([](auto& a) { return project(abs(a)); }, x);
    EXPECT_GRADS([](auto& a) { return project(-a); }, x);
    EXPECT_GRADS([](auto& a) { return project(pow(a, 3.0)); }, x);
    EXPECT_GRADS([](auto& a) { return project(pow(a, 1.5)); }, pos);
    EXPECT_GRADS([](auto& a) { return project(clamp(a, -0.5, 0.5)); }, x);
}

TEST(Autodiff, BinaryOpsWithBroadcasting) {
    auto a = make<shape<4, 5>>(3);
    auto row = make<shape<5>>(4);
    auto col = make<shape<4, 1>>(5, 0.5, 1.5);
    auto cube = make<shape<2, 1, 5>>(6);
    EXPECT_GRADS([](auto& x, auto& y) { return project(x + y); }, a, row);
    EXPECT_GRADS([](auto& x, auto& y) { return project(x - y); }, a, col);
    EXPECT_GRADS([](auto& x, auto& y) { return project(x * y); }, cube, a);
    EXPECT_GRADS([](auto& x, auto& y) { return project(x / y); }, a, col);
    EXPECT_GRADS([](auto& x, auto& y) { return project(maximum(x, y)); }, a, row);
    EXPECT_GRADS([](auto& x, auto& y) { return project(minimum(x, y)); }, a, row);
    EXPECT_GRADS([](auto& x, auto& y) { return project(pow(x, y)); }, col, row);
    EXPECT_GRADS([](auto& x) { return project(2.0 * x - 1 + x / 4.0); }, a);
    tensor<double, shape<5>> k{1, 2, 3, 4, 5};  // a constant operand
    EXPECT_GRADS([&](auto& x) { return project(x * k + k); }, a);
}

TEST(Autodiff, WhereAndComparisons) {
    auto a = make<shape<3, 4>>(7);
    auto b = make<shape<4>>(8);
    EXPECT_GRADS([](auto& x, auto& y) { return project(where(x > y, x * 2.0, y)); }, a, b);
    EXPECT_GRADS([](auto& x) { return project(where(x < 0.0, 0.0, x)); }, a);
}

TEST(Autodiff, Reductions) {
    auto x = make<shape<3, 4, 5>>(9);
    EXPECT_GRADS([](auto& a) { return sum(a * a); }, x);
    EXPECT_GRADS([](auto& a) { return mean(a * a); }, x);
    EXPECT_GRADS([](auto& a) { return project(sum<1>(a)); }, x);
    EXPECT_GRADS([](auto& a) { return project(sum<-1, true>(a)); }, x);
    EXPECT_GRADS([](auto& a) { return project(mean<0>(a)); }, x);
    EXPECT_GRADS([](auto& a) { return project(max<2>(a)); }, x);
    EXPECT_GRADS([](auto& a) { return project(min<0, true>(a)); }, x);
    EXPECT_GRADS([](auto& a) { return max(a) * 3.0; }, x);
    EXPECT_GRADS([](auto& a) { return min(a); }, x);
}

TEST(Autodiff, MaxSplitsTiesEvenly) {
    param<double, shape<4>> x{1, 3, 3, 2};
    backward(max(x));
    EXPECT_DOUBLE_EQ(x.grad()[1], 0.5);
    EXPECT_DOUBLE_EQ(x.grad()[2], 0.5);
    EXPECT_DOUBLE_EQ(x.grad()[0], 0.0);
}

TEST(Autodiff, Matmul) {
    auto a = make<shape<3, 4>>(10);
    auto b = make<shape<4, 5>>(11);
    auto ba = make<shape<2, 3, 4>>(12);
    EXPECT_GRADS([](auto& x, auto& y) { return project(matmul(x, y)); }, a, b);
    EXPECT_GRADS([](auto& x, auto& y) { return project(matmul(x, y)); }, ba, b);  // shared weight
    auto c = make<shape<5, 4>>(13);
    EXPECT_GRADS([](auto& x, auto& y) { return project(matmul(x, transpose(y))); }, a, c);
}

TEST(Autodiff, ShapeOps) {
    auto x = make<shape<2, 3, 4>>(14);
    auto y = make<shape<2, 2, 4>>(15);
    EXPECT_GRADS([](auto& a) { return project(reshape<6, 4>(a)); }, x);
    EXPECT_GRADS([](auto& a) { return project(flatten<1>(a)); }, x);
    EXPECT_GRADS([](auto& a) { return project(squeeze<1>(unsqueeze<1>(a))); }, x);
    EXPECT_GRADS([](auto& a) { return project(transpose(a)); }, x);
    EXPECT_GRADS([](auto& a) { return project(permute<2, 0, 1>(a)); }, x);
    EXPECT_GRADS([](auto& a) { return project(slice<1, 1, 3>(a)); }, x);
    EXPECT_GRADS([](auto& a) { return project(slice<2, 0, 4, 3>(a)); }, x);
    EXPECT_GRADS([](auto& a, auto& b) { return project(concat<1>(a, b)); }, x, y);
    EXPECT_GRADS([](auto& a, auto& b) { return project(concat<1>(b, a * 2.0, b)); }, x, y);
}

TEST(Autodiff, SharedSubexpressionsAreWalkedOnce) {
    // A chain where each node is used three times: a tree walk would visit 3^depth paths.
    auto forward = [](const auto& a) {
        auto g1 = eval(tanh(a));
        for (int i = 0; i < 5; ++i) g1 = tanh(g1 * g1 + g1);
        return sum(g1 * g1 + g1).item();
    };
    param<double, shape<3>> x{0.1, 0.2, 0.3};
    auto h1 = tanh(x);
    auto h2 = tanh(h1 * h1 + h1);
    auto h3 = tanh(h2 * h2 + h2);
    auto h4 = tanh(h3 * h3 + h3);
    auto h5 = tanh(h4 * h4 + h4);
    auto h6 = tanh(h5 * h5 + h5);
    auto y = sum(h6 * h6 + h6);
    EXPECT_NEAR(y.value().item(), forward(x.value()), 1e-12);
    backward(y);
    for (std::size_t k = 0; k < 3; ++k) {
        auto p = x.value(), m = x.value();
        p[k] += 1e-6;
        m[k] -= 1e-6;
        EXPECT_NEAR(x.grad()[k], (forward(p) - forward(m)) / 2e-6, 1e-6);
    }
}

TEST(Autodiff, NoGradAndDetach) {
    param<double, shape<2>> x{1, 2};
    {
        no_grad ng;
        auto y = sum(x * x);
        backward(y);
    }
    EXPECT_EQ(x.grad()[0], 0);
    auto z = sum(x * detach(x));  // d/dx of x * c = c
    backward(z);
    EXPECT_EQ(x.grad()[0], 1);
    EXPECT_EQ(x.grad()[1], 2);
}
