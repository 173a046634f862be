#include <kiln/kiln.hpp>

#include "test_util.hpp"

using namespace kiln;
using test::expect_close;

namespace {
template <class S, class T = float>
tensor<T, S> wave(double phase) {
    tensor<T, S> t;
    for (std::size_t i = 0; i < S::size; ++i) t[i] = static_cast<T>(std::sin(phase + 0.7 * double(i)));
    return t;
}
/// float64 reference of [M, K] x [K, N] at flat offsets, with optional transposed storage.
template <class A, class B>
std::vector<double> ref_mm(const A& a, const B& b, size_t M, size_t K, size_t N, bool ta = false, bool tb = false,
                           size_t oa = 0, size_t ob = 0) {
    std::vector<double> c(M * N);
    for (size_t i = 0; i < M; ++i)
        for (size_t j = 0; j < N; ++j) {
            double s = 0;
            for (size_t k = 0; k < K; ++k)
                s += double(a[oa + (ta ? k * M + i : i * K + k)]) * double(b[ob + (tb ? j * K + k : k * N + j)]);
            c[i * N + j] = s;
        }
    return c;
}
}  // namespace

TEST(Matmul, HandComputed) {
    tensor<float, shape<2, 3>> a{{1, 2, 3}, {4, 5, 6}};
    tensor<float, shape<3, 2>> b{{7, 8}, {9, 10}, {11, 12}};
    expect_close(matmul(a, b), {58, 64, 139, 154});
}

template <std::size_t M, std::size_t K, std::size_t N>
void check_sizes() {
    auto a = wave<shape<M, K>, double>(0.1);
    auto b = wave<shape<K, N>, double>(0.2);
    expect_close(matmul(a, b), ref_mm(a, b, M, K, N), 1e-12, 1e-12);
    auto af = wave<shape<M, K>>(0.3);
    auto bf = wave<shape<K, N>>(0.4);
    expect_close(matmul(af, bf), ref_mm(af, bf, M, K, N), 1e-5, 1e-5 * K);
}

TEST(Matmul, OddSizes) {
    check_sizes<1, 1, 1>();
    check_sizes<3, 17, 33>();
    check_sizes<17, 3, 1>();
    check_sizes<33, 257, 17>();
    check_sizes<257, 33, 3>();
    check_sizes<64, 64, 64>();
}

TEST(Matmul, TransposedOperandsWithoutCopies) {
    auto a = wave<shape<17, 33>>(0.5);   // used as a^T: [33, 17]
    auto b = wave<shape<5, 17>>(0.6);    // used as b^T: [17, 5]
    auto c = matmul(transpose(a), transpose(b));
    static_assert(std::is_same_v<decltype(c)::shape_type, shape<33, 5>>);
    expect_close(c, ref_mm(a, b, 33, 17, 5, true, true), 1e-5, 1e-4);
    auto x = wave<shape<33, 17>>(0.7);
    expect_close(matmul(x, transpose(b)), ref_mm(x, b, 33, 17, 5, false, true), 1e-5, 1e-4);
    auto y = wave<shape<17, 9>>(0.8);
    expect_close(matmul(transpose(a), y), ref_mm(a, y, 33, 17, 9, true, false), 1e-5, 1e-4);
}

TEST(Matmul, BatchedAndBroadcast) {
    auto a = wave<shape<2, 3, 4, 5>>(0.1);
    auto b = wave<shape<3, 5, 6>>(0.2);
    auto c = matmul(a, b);
    static_assert(std::is_same_v<decltype(c)::shape_type, shape<2, 3, 4, 6>>);
    for (size_t i = 0; i < 2; ++i)
        for (size_t j = 0; j < 3; ++j) {
            auto ref = ref_mm(a, b, 4, 5, 6, false, false, (i * 3 + j) * 20, j * 30);
            for (size_t k = 0; k < 24; ++k) EXPECT_NEAR(c[(i * 3 + j) * 24 + k], ref[k], 1e-5);
        }
    auto w = wave<shape<5, 6>>(0.3);  // shared weight
    auto d = matmul(a, w);
    for (size_t k = 0; k < 24; ++k) EXPECT_NEAR(d[5 * 24 + k], ref_mm(a, w, 4, 5, 6, false, false, 5 * 20)[k], 1e-5);
}

TEST(Matmul, VectorOperands) {
    tensor<float, shape<3>> v{1, 2, 3};
    tensor<float, shape<3, 2>> m{{1, 2}, {3, 4}, {5, 6}};
    auto vm = matmul(v, m);
    static_assert(std::is_same_v<decltype(vm)::shape_type, shape<2>>);
    expect_close(vm, {22, 28});
    auto mv = matmul(transpose(m), v);
    static_assert(std::is_same_v<decltype(mv)::shape_type, shape<2>>);
    expect_close(mv, {22, 28});
    EXPECT_EQ(matmul(v, v).item(), 14);
}
