#include <kiln/kiln.hpp>

#include <limits>

#include "test_util.hpp"

using namespace kiln;
using test::expect_close;

namespace {
template <class S, class T = float>
tensor<T, S> seq(double start, double step = 1.0) {
    tensor<T, S> t;
    for (std::size_t i = 0; i < S::size; ++i) t[i] = static_cast<T>(start + step * double(i));
    return t;
}

/// Reference numpy broadcast of f over two flat row-major operands of (padded) 3-D shapes.
template <class F>
std::vector<double> bcast3(const std::vector<double>& a, std::array<size_t, 3> sa, const std::vector<double>& b,
                           std::array<size_t, 3> sb, F f) {
    std::array<size_t, 3> so;
    for (int i = 0; i < 3; ++i) so[i] = std::max(sa[i], sb[i]);
    std::vector<double> out;
    for (size_t i = 0; i < so[0]; ++i)
        for (size_t j = 0; j < so[1]; ++j)
            for (size_t k = 0; k < so[2]; ++k) {
                auto at = [](const std::vector<double>& v, std::array<size_t, 3> s, size_t i, size_t j, size_t k) {
                    return v[(s[0] == 1 ? 0 : i) * s[1] * s[2] + (s[1] == 1 ? 0 : j) * s[2] + (s[2] == 1 ? 0 : k)];
                };
                out.push_back(f(at(a, sa, i, j, k), at(b, sb, i, j, k)));
            }
    return out;
}
template <class Tn>
std::vector<double> vec(const Tn& t) { return std::vector<double>(t.begin(), t.end()); }
}  // namespace

TEST(Binary, SameShapeArithmetic) {
    auto a = seq<shape<3, 19>>(-5, 0.25);
    auto b = seq<shape<3, 19>>(1, 0.5);
    auto add = [](double x, double y) { return x + y; };
    auto mul = [](double x, double y) { return x * y; };
    auto div = [](double x, double y) { return x / y; };
    expect_close(eval(a + b), bcast3(vec(a), {1, 3, 19}, vec(b), {1, 3, 19}, add));
    expect_close(eval(a - b), bcast3(vec(a), {1, 3, 19}, vec(b), {1, 3, 19}, [](double x, double y) { return x - y; }));
    expect_close(eval(a * b), bcast3(vec(a), {1, 3, 19}, vec(b), {1, 3, 19}, mul));
    expect_close(eval(a / b), bcast3(vec(a), {1, 3, 19}, vec(b), {1, 3, 19}, div));
    expect_close(eval(maximum(a, b)), bcast3(vec(a), {1, 3, 19}, vec(b), {1, 3, 19}, [](double x, double y) { return std::max(x, y); }));
    expect_close(eval(minimum(a, b)), bcast3(vec(a), {1, 3, 19}, vec(b), {1, 3, 19}, [](double x, double y) { return std::min(x, y); }));
}

TEST(Binary, ScalarsAreWeaklyTyped) {
    auto a = seq<shape<5>>(1);
    auto r = eval(2 * a - 1.5 + a / 2);
    static_assert(std::is_same_v<decltype(r)::value_type, float>);
    expect_close(r, {1, 3.5, 6, 8.5, 11});
    auto p = eval(pow(a, a));
    expect_close(p, {1, 4, 27, 256, 3125}, 1e-6);
    tensor<double, shape<2>> d{1, 2};
    tensor<float, shape<2>> f{0.5f, 0.25f};
    auto m = eval(d + f);  // tensor-tensor promotion like numpy
    static_assert(std::is_same_v<decltype(m)::value_type, double>);
    expect_close(m, {1.5, 2.25});
}

TEST(Binary, BroadcastCorners) {
    auto add = [](double x, double y) { return x + y; };
    auto m = seq<shape<4, 37>>(0, 0.5);
    auto row = seq<shape<37>>(100);
    auto col = seq<shape<4, 1>>(-10, -1);
    auto one = seq<shape<1, 1>>(7);
    auto cube = seq<shape<2, 1, 37>>(3);
    expect_close(eval(m + row), bcast3(vec(m), {1, 4, 37}, vec(row), {1, 1, 37}, add));       // bias add
    expect_close(eval(m + col), bcast3(vec(m), {1, 4, 37}, vec(col), {1, 4, 1}, add));        // inner axis broadcast
    expect_close(eval(col + row), bcast3(vec(col), {1, 4, 1}, vec(row), {1, 1, 37}, add));    // outer product shape
    expect_close(eval(one + m), bcast3(vec(one), {1, 1, 1}, vec(m), {1, 4, 37}, add));        // size-1 operand
    expect_close(eval(cube * m), bcast3(vec(cube), {2, 1, 37}, vec(m), {1, 4, 37},
                                        [](double x, double y) { return x * y; }));           // rank promotion
    expect_close(eval((m + row) * col - one), [&] {
        auto t = bcast3(vec(m), {1, 4, 37}, vec(row), {1, 1, 37}, add);
        t = bcast3(t, {1, 4, 37}, vec(col), {1, 4, 1}, [](double x, double y) { return x * y; });
        return bcast3(t, {1, 4, 37}, vec(one), {1, 1, 1}, [](double x, double y) { return x - y; });
    }());
}

TEST(Binary, ComparisonsAndWhere) {
    auto a = seq<shape<2, 20>>(-10);
    auto b = seq<shape<20>>(10, -1);
    tensor<bool, shape<2, 20>> lt = a < b;
    for (std::size_t i = 0; i < 40; ++i) EXPECT_EQ(lt[i], a[i] < b[i % 20]) << i;
    tensor<bool, shape<2, 20>> eq = a == 0.f;
    EXPECT_TRUE(eq[10]);
    EXPECT_FALSE(eq[11]);
    auto w = eval(where(a > b, a, b * 2.f));
    for (std::size_t i = 0; i < 40; ++i) EXPECT_EQ(w[i], a[i] > b[i % 20] ? a[i] : 2 * b[i % 20]) << i;
    auto w2 = eval(where(lt, 1.0f, 0.0f));  // a bool tensor as condition, two numbers
    for (std::size_t i = 0; i < 40; ++i) EXPECT_EQ(w2[i], lt[i] ? 1.f : 0.f);
    auto g = eval(where(a >= 0.f, a, 0.f) + where(a != a, 1.f, 0.f));
    for (std::size_t i = 0; i < 40; ++i) EXPECT_EQ(g[i], std::max(a[i], 0.f));
}

TEST(Binary, AliasingAssignmentIsElementwiseSafe) {
    auto a = seq<shape<3, 17>>(1);
    auto row = seq<shape<17>>(0);
    auto ref = bcast3(vec(a), {1, 3, 17}, vec(row), {1, 1, 17}, [](double x, double y) { return x * 2 + y; });
    a = a * 2.f + row;
    expect_close(a, ref);
    tensor<int, shape<3>> i{1, 2, 3};
    auto c = eval(astype<float>(i) / 2);
    expect_close(c, {0.5, 1, 1.5});
}

TEST(Binary, OneElementOperandIsSplattedNotReadPastItsEnd) {
    // The arena is NaN-filled: reading past a one-element tensor would show up as NaN.
    alignas(64) static float buf[1024];
    for (float& v : buf) v = std::numeric_limits<float>::quiet_NaN();
    arena ar(buf, sizeof buf);
    arena_scope scope(ar);
    tensor<float, shape<1>, cpu, arena_storage> b{5.f};
    // [4, 37, 1]: the last extents match, so only the one-element rule splats b.
    tensor<float, shape<4, 37, 1>> m = arange<float, shape<4, 37, 1>>();
    tensor<float, shape<4, 37, 1>> r = m + b;
    for (std::size_t i = 0; i < r.size; ++i) EXPECT_EQ(r[i], float(i) + 5.f) << i;
    tensor<float, shape<1, 1>, cpu, arena_storage> c{{2.f}};
    tensor<float, shape<4, 37, 1>> r2 = m * c;
    for (std::size_t i = 0; i < r2.size; ++i) EXPECT_EQ(r2[i], float(i) * 2.f) << i;
}
