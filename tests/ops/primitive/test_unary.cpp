#include <kiln/kiln.hpp>

#include "test_util.hpp"

using namespace kiln;
using test::expect_close;
using test::map_ref;

namespace {
// 37 elements: two full AVX-512 batches plus a tail, covering negative, zero and positive values.
template <class T>
tensor<T, shape<37>> sample() {
    tensor<T, shape<37>> t;
    for (std::size_t i = 0; i < 37; ++i) t[i] = static_cast<T>(-3.0 + 6.0 * double(i) / 36.0);
    return t;
}
}  // namespace

template <class T>
class Unary : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Unary, Types);

TYPED_TEST(Unary, MatchesFloat64Reference) {
    using T = TypeParam;
    const double tol = std::is_same_v<T, float> ? 2e-6 : 1e-13;
    auto x = sample<T>();
    tensor<T, shape<37>> pos = abs(x) + T(0.1);
    expect_close(eval(exp(x)), map_ref(x, [](double v) { return std::exp(v); }), tol, tol);
    expect_close(eval(log(pos)), map_ref(pos, [](double v) { return std::log(v); }), tol, tol);
    expect_close(eval(sqrt(pos)), map_ref(pos, [](double v) { return std::sqrt(v); }), tol, tol);
    expect_close(eval(tanh(x)), map_ref(x, [](double v) { return std::tanh(v); }), tol, tol);
    expect_close(eval(abs(x)), map_ref(x, [](double v) { return std::fabs(v); }), 0, 0);
    expect_close(eval(-x), map_ref(x, [](double v) { return -v; }), 0, 0);
    expect_close(eval(sigmoid(x)), map_ref(x, [](double v) { return 1 / (1 + std::exp(-v)); }), tol, tol);
    expect_close(eval(relu(x)), map_ref(x, [](double v) { return v > 0 ? v : 0; }), 0, 0);
    expect_close(eval(pow(pos, T(1.5))), map_ref(pos, [](double v) { return std::pow(v, 1.5); }), tol * 4, tol);
    expect_close(eval(clamp(x, T(-1), T(2))), map_ref(x, [](double v) { return std::min(2.0, std::max(-1.0, v)); }), 0, 0);
}

TEST(Unary, SpecialValues) {
    tensor<float, shape<4>> x{0.f, -0.f, 1e30f, -1e30f};
    expect_close(eval(sigmoid(x)), {0.5, 0.5, 1.0, 0.0}, 1e-7, 1e-7);
    expect_close(eval(tanh(x)), {0, 0, 1, -1}, 1e-7, 1e-7);
    tensor<float, shape<2>> neg{-1.f, 0.f};
    auto l = eval(log(neg));
    EXPECT_TRUE(std::isnan(l[0]));
    EXPECT_TRUE(std::isinf(l[1]) && l[1] < 0);
}

TEST(Unary, FusedChainIsOnePassAndMatches) {
    auto x = sample<float>();
    tensor<float, shape<37>> y = exp(-x * x) * 2.f + sigmoid(x);
    expect_close(y, map_ref(x, [](double v) { return std::exp(-v * v) * 2 + 1 / (1 + std::exp(-v)); }), 3e-6, 3e-6);
}
