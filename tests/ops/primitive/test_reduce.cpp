#include <kiln/kiln.hpp>

#include "test_util.hpp"

using namespace kiln;
using test::expect_close;

namespace {
template <class S, class T = float>
tensor<T, S> wave() {
    tensor<T, S> t;
    for (std::size_t i = 0; i < S::size; ++i) t[i] = static_cast<T>(std::sin(0.37 * double(i)) * 10);
    return t;
}
/// Reference reduction over axis a of a [d0, d1, d2] tensor with f (init from first element).
template <class Tn, class F>
std::vector<double> ref_axis(const Tn& t, std::array<size_t, 3> d, size_t a, F f) {
    std::vector<double> out;
    size_t outer = 1, inner = 1;
    for (size_t i = 0; i < a; ++i) outer *= d[i];
    for (size_t i = a + 1; i < 3; ++i) inner *= d[i];
    for (size_t o = 0; o < outer; ++o)
        for (size_t i = 0; i < inner; ++i) {
            double acc = t[o * d[a] * inner + i];
            for (size_t k = 1; k < d[a]; ++k) acc = f(acc, double(t[(o * d[a] + k) * inner + i]));
            out.push_back(acc);
        }
    return out;
}
}  // namespace

TEST(Reduce, AllElements) {
    auto x = wave<shape<7, 53>, double>();
    double s = 0, mx = -1e9, mn = 1e9;
    for (double v : x) {
        s += v;
        mx = std::max(mx, v);
        mn = std::min(mn, v);
    }
    EXPECT_NEAR(sum(x).item(), s, 1e-11);
    EXPECT_NEAR(mean(x).item(), s / x.size, 1e-13);
    EXPECT_EQ(max(x).item(), mx);
    EXPECT_EQ(min(x).item(), mn);
    EXPECT_EQ(x[argmax(x).item()], mx);
    EXPECT_EQ(x[argmin(x).item()], mn);
    auto f = wave<shape<1000>>();  // float accumulation stays close to the float64 sum
    double fs = 0;
    for (float v : f) fs += v;
    EXPECT_NEAR(sum(f).item(), fs, 1e-3);
}

TEST(Reduce, EveryAxisWithAndWithoutKeepdims) {
    auto x = wave<shape<3, 5, 37>>();
    std::array<size_t, 3> d{3, 5, 37};
    auto add = [](double a, double b) { return a + b; };
    auto mx = [](double a, double b) { return std::max(a, b); };
    auto mn = [](double a, double b) { return std::min(a, b); };
    expect_close(sum<0>(x), ref_axis(x, d, 0, add), 1e-5, 1e-5);
    expect_close(sum<1>(x), ref_axis(x, d, 1, add), 1e-5, 1e-5);
    expect_close(sum<2>(x), ref_axis(x, d, 2, add), 1e-5, 1e-5);
    expect_close(sum<-1>(x), ref_axis(x, d, 2, add), 1e-5, 1e-5);
    static_assert(std::is_same_v<decltype(sum<1>(x))::shape_type, shape<3, 37>>);
    static_assert(std::is_same_v<decltype(sum<1, true>(x))::shape_type, shape<3, 1, 37>>);
    static_assert(std::is_same_v<decltype(sum<-1, true>(x))::shape_type, shape<3, 5, 1>>);
    expect_close(max<0>(x), ref_axis(x, d, 0, mx), 0, 0);
    expect_close(max<2, true>(x), ref_axis(x, d, 2, mx), 0, 0);
    expect_close(min<1>(x), ref_axis(x, d, 1, mn), 0, 0);
    auto m = mean<1>(x);
    auto r = ref_axis(x, d, 1, add);
    for (auto& v : r) v /= 5;
    expect_close(m, r, 1e-5, 1e-5);
}

TEST(Reduce, ArgmaxFirstOnTiesAndPerAxis) {
    tensor<float, shape<2, 4>> t{{1, 5, 5, 2}, {7, 0, 7, 7}};
    auto a = argmax<1>(t);
    static_assert(std::is_same_v<decltype(a)::value_type, std::int64_t>);
    EXPECT_EQ(a[0], 1);
    EXPECT_EQ(a[1], 0);
    auto b = argmax<0>(t);
    EXPECT_EQ(b[0], 1);
    EXPECT_EQ(b[1], 0);
    EXPECT_EQ(b[3], 1);
    EXPECT_EQ(argmin<1>(t)[1], 1);
    tensor<float, shape<3>> n{1, NAN, 3};
    EXPECT_EQ(argmax(n).item(), 1);  // NaN is never hidden
}

TEST(Reduce, OfExpressions) {
    auto x = wave<shape<4, 9>>();
    auto s = sum<0>(x * x + 1.f);
    std::vector<double> ref(9, 0);
    for (size_t i = 0; i < 36; ++i) ref[i % 9] += double(x[i]) * x[i] + 1;
    expect_close(s, ref, 1e-5, 1e-5);
}
