// kiln::cpu_kernels::gemm against a naive long-double reference: every shape class the blocked
// kernel distinguishes (empty, tiny unpacked path, edge tiles, several K/M/N blocks), all
// transposes, alpha/beta, padded strides, and bit-identical results across thread counts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kiln/device/cpu/kernels/gemm.hpp"
#include "kiln/exec/thread_pool.hpp"

namespace {

using kiln::cpu_kernels::gemm;

/// A rows x cols row-major matrix with row stride ld >= cols. The storage ends right after the
/// last element so a sanitizer sees any read past it; padding between rows is NaN so any read
/// of it poisons the result.
template <class T>
struct strided {
    std::size_t rows = 0, cols = 0, ld = 0;
    std::vector<T> data;
    strided(std::size_t r, std::size_t c, std::size_t pad, std::mt19937& rng) : rows(r), cols(c), ld(c + pad) {
        data.assign(r == 0 ? 0 : (r - 1) * ld + c, std::numeric_limits<T>::quiet_NaN());
        std::uniform_real_distribution<double> u(-1.0, 1.0);
        for (std::size_t i = 0; i < r; ++i)
            for (std::size_t j = 0; j < c; ++j) at(i, j) = static_cast<T>(u(rng));
    }
    T& at(std::size_t i, std::size_t j) { return data[i * ld + j]; }
    T at(std::size_t i, std::size_t j) const { return data[i * ld + j]; }
    const T* ptr() const { return data.data(); }
    T* ptr() { return data.data(); }
};

struct problem {
    bool ta, tb;
    std::size_t M, N, K;
    double alpha, beta;
    std::size_t pad;  // extra elements per row of A, B and C
};

template <class T>
void check(const problem& p, std::uint32_t seed = 1) {
    SCOPED_TRACE(::testing::Message() << (sizeof(T) == 4 ? "float" : "double") << " ta=" << p.ta
                                      << " tb=" << p.tb << " M=" << p.M << " N=" << p.N << " K=" << p.K
                                      << " alpha=" << p.alpha << " beta=" << p.beta << " pad=" << p.pad);
    std::mt19937 rng(seed);
    strided<T> A(p.ta ? p.K : p.M, p.ta ? p.M : p.K, p.pad, rng);
    strided<T> B(p.tb ? p.N : p.K, p.tb ? p.K : p.N, p.pad + 1, rng);
    strided<T> C(p.M, p.N, p.pad + 2, rng);
    if (p.beta == 0.0)  // beta == 0 must overwrite, never read, what C holds
        for (std::size_t i = 0; i < p.M; ++i)
            for (std::size_t j = 0; j < p.N; ++j) C.at(i, j) = std::numeric_limits<T>::quiet_NaN();
    const strided<T> C0 = C;

    gemm<T>(p.ta, p.tb, p.M, p.N, p.K, T(p.alpha), A.ptr(), A.ld, B.ptr(), B.ld, T(p.beta), C.ptr(), C.ld);

    const long double eps = std::numeric_limits<T>::epsilon();
    for (std::size_t i = 0; i < p.M; ++i)
        for (std::size_t j = 0; j < p.N; ++j) {
            long double dot = 0, mag = 0;
            for (std::size_t k = 0; k < p.K; ++k) {
                const long double a = p.ta ? A.at(k, i) : A.at(i, k);
                const long double b = p.tb ? B.at(j, k) : B.at(k, j);
                dot += a * b;
                mag += std::fabs(a * b);
            }
            long double ref = p.alpha * dot, scale = std::fabs(p.alpha) * mag;
            if (p.beta != 0.0) {
                ref += p.beta * static_cast<long double>(C0.at(i, j));
                scale += std::fabs(p.beta * static_cast<long double>(C0.at(i, j)));
            }
            // Standard forward error bound for a length-K dot product plus the alpha/beta update.
            const long double tol = 2.0L * static_cast<long double>(p.K + 3) * eps * scale + 1e-30L;
            const long double got = C.at(i, j);
            ASSERT_TRUE(std::isfinite(static_cast<double>(got))) << "at (" << i << ", " << j << ")";
            ASSERT_LE(std::fabs(got - ref), tol) << "at (" << i << ", " << j << ") got " << static_cast<double>(got)
                                                 << " want " << static_cast<double>(ref);
        }
    // Row padding of C belongs to the caller.
    for (std::size_t i = 0; i + 1 < p.M; ++i)
        for (std::size_t j = p.N; j < C.ld; ++j) ASSERT_TRUE(std::isnan(C.at(i, j)));
}

template <class T>
void shape_sweep() {
    const std::size_t small[] = {0, 1, 3, 17, 33};
    for (bool ta : {false, true})
        for (bool tb : {false, true})
            for (std::size_t M : small)
                for (std::size_t N : small)
                    for (std::size_t K : small) check<T>({ta, tb, M, N, K, 1.0, 0.0, (M + N + K) % 3});
}

template <class T>
void large_shapes() {
    // Edge tiles in both directions, M taller than one A block (MC), K longer than one K block
    // (KC), and N wider than one B block (NC).
    const problem cases[] = {
        {false, false, 64, 64, 64, 1.0, 0.0, 0},   {false, false, 257, 33, 64, 1.0, 0.0, 1},
        {false, true, 64, 257, 17, 1.0, 1.0, 2},   {true, false, 33, 64, 257, -0.5, 2.0, 0},
        {true, true, 257, 17, 33, 1.5, 0.0, 3},    {false, false, 257, 257, 64, 0.75, -1.0, 1},
        {true, false, 13, 40, 1100, 1.0, 0.5, 0},  {false, true, 29, 19, 1100, 1.0, 0.0, 5},
        {false, false, 5, 3100, 3, 1.0, 1.0, 0},   {true, true, 4, 3200, 20, -1.0, 0.0, 2},
        {false, false, 2100, 3, 5, 1.0, 0.0, 0},   {true, false, 2100, 20, 7, 1.0, 2.0, 1},
        {true, true, 1, 257, 257, 2.0, 0.0, 1},
        {false, false, 257, 1, 257, 1.0, -1.0, 0},
    };
    for (const auto& p : cases) check<T>(p);
}

template <class T>
void alpha_beta() {
    const double ab[][2] = {{1.0, 0.0}, {1.0, 1.0}, {-2.0, 0.5}, {0.5, -1.5}, {0.0, 3.0}, {0.0, 0.0}, {3.0, 0.0}};
    for (const auto& v : ab)
        for (bool ta : {false, true})
            for (bool tb : {false, true}) {
                check<T>({ta, tb, 17, 33, 3, v[0], v[1], 1});    // unpacked path (unless tb)
                check<T>({ta, tb, 33, 50, 41, v[0], v[1], 2});   // packed path, edge tiles
                check<T>({ta, tb, 33, 17, 600, v[0], v[1], 0});  // two K blocks
            }
}

TEST(Gemm, ShapesFloat) { shape_sweep<float>(); }
TEST(Gemm, ShapesDouble) { shape_sweep<double>(); }
TEST(Gemm, LargeFloat) { large_shapes<float>(); }
TEST(Gemm, LargeDouble) { large_shapes<double>(); }
TEST(Gemm, AlphaBetaFloat) { alpha_beta<float>(); }
TEST(Gemm, AlphaBetaDouble) { alpha_beta<double>(); }

TEST(Gemm, ZeroKScalesC) {
    std::vector<float> c = {1.0f, 2.0f, 3.0f, 4.0f};
    gemm<float>(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 2.0f, c.data(), 2);
    EXPECT_EQ(c, (std::vector<float>{2.0f, 4.0f, 6.0f, 8.0f}));
    c.assign(4, std::numeric_limits<float>::quiet_NaN());
    gemm<float>(false, false, 2, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.0f, c.data(), 2);
    EXPECT_EQ(c, (std::vector<float>(4, 0.0f)));
}

TEST(Gemm, IdentityIsExact) {
    const std::size_t n = 70;
    std::vector<double> eye(n * n, 0.0), x(n * n), y(n * n, -1.0);
    for (std::size_t i = 0; i < n; ++i) eye[i * n + i] = 1.0;
    for (std::size_t i = 0; i < n * n; ++i) x[i] = static_cast<double>(i % 97) - 40.0;
    gemm<double>(false, false, n, n, n, 1.0, eye.data(), n, x.data(), n, 0.0, y.data(), n);
    EXPECT_EQ(x, y);
    gemm<double>(false, true, n, n, n, 1.0, x.data(), n, eye.data(), n, 0.0, y.data(), n);
    EXPECT_EQ(x, y);
}

template <class T>
void same_bits_for_any_thread_count(const problem& p) {
    SCOPED_TRACE(::testing::Message() << "M=" << p.M << " N=" << p.N << " K=" << p.K << " ta=" << p.ta
                                      << " tb=" << p.tb);
    std::mt19937 rng(7);
    const strided<T> A(p.ta ? p.K : p.M, p.ta ? p.M : p.K, p.pad, rng);
    const strided<T> B(p.tb ? p.N : p.K, p.tb ? p.K : p.N, p.pad, rng);
    const strided<T> C0(p.M, p.N, p.pad, rng);
    auto run = [&](auto& ex) {
        strided<T> C = C0;
        gemm<T>(p.ta, p.tb, p.M, p.N, p.K, T(p.alpha), A.ptr(), A.ld, B.ptr(), B.ld, T(p.beta), C.ptr(), C.ld, ex);
        return C.data;
    };
    kiln::exec::serial s;
    const std::vector<T> ref = run(s);
    for (std::size_t threads : {1, 2, 3}) {
        kiln::exec::thread_pool pool(threads);
        const std::vector<T> got = run(pool);
        ASSERT_EQ(got.size(), ref.size());
        ASSERT_EQ(0, std::memcmp(got.data(), ref.data(), ref.size() * sizeof(T)))
            << threads << " threads differ from serial";
    }
}

TEST(Gemm, BitIdenticalAcrossThreads) {
    // Just above the size where the kernel starts using the pool, so the test stays fast even
    // unoptimised; row bands, column bands and both, with one K longer than a K block.
    const problem cases[] = {
        {false, false, 161, 161, 161, 1.0, 0.5, 1}, {true, false, 300, 40, 350, -1.0, 0.0, 0},
        {false, true, 97, 515, 90, 0.5, 1.0, 2},    {true, true, 1000, 40, 110, 1.0, 0.0, 0},
        {false, false, 100, 70, 600, 1.0, 0.0, 3},  {false, true, 20, 1100, 1000, 1.0, 0.5, 1},
    };
    for (const auto& p : cases) {
        same_bits_for_any_thread_count<float>(p);
        same_bits_for_any_thread_count<double>(p);
    }
}

// op(B) = B^T is packed by register transposes of 8 (float) / 4 (double) columns with
// scalar leftovers: every remainder of N against those tiles and the panel width, and of K
// against the tile height and a K block, with padded (NaN-poisoned) rows of B.
template <class T>
void transposed_pack_edges() {
    for (std::size_t N : {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 49, 65})
        for (std::size_t K : {1, 3, 7, 8, 9, 13, 600})
            for (bool ta : {false, true}) check<T>({ta, true, 45, N, K, 1.0, 0.0, (N + K) % 3});
}

TEST(Gemm, TransposedPackEdgesFloat) { transposed_pack_edges<float>(); }
TEST(Gemm, TransposedPackEdgesDouble) { transposed_pack_edges<double>(); }

// A tall op(B) packed row by row across several panels: N wider than one B block (NC) with a
// ragged last panel, K longer than one K block; both transposes, against the reference.
TEST(Gemm, WideBPanels) {
    for (bool tb : {false, true}) {
        check<float>({false, tb, 13, 1000, 530, 1.0, 0.0, 1});
        check<double>({true, tb, 13, 700, 300, 1.0, 1.0, 2});
    }
}

// Short products with a large op(B) = B^T run as C^T = B * A^T and are transposed back: with
// beta (C is transposed in first), padded strides, ragged edges against the transpose tiles;
// and the results are those of the same product computed the plain way, bit for bit.
TEST(Gemm, SwappedOperandsForWideTransposedB) {
    check<float>({false, true, 5, 3000, 400, 1.0, 0.0, 1});
    check<float>({false, true, 13, 1100, 1000, -0.5, 1.5, 2});
    check<double>({false, true, 7, 2049, 600, 2.0, -1.0, 0});
    for (std::size_t M : {1, 9, 64}) {
        std::mt19937 rng(11);
        const std::size_t N = 1027, K = 1030;
        const strided<float> A(M, K, 1, rng), B(N, K, 2, rng), C0(M, N, 3, rng);
        strided<float> C = C0, ref = C0;
        kiln::exec::serial s;
        gemm<float>(false, true, M, N, K, 1.0f, A.ptr(), A.ld, B.ptr(), B.ld, 0.5f, C.ptr(), C.ld, s);
        // The plain way: B^T made explicit, so the product is an untransposed one.
        std::vector<float> bt(K * N);
        for (std::size_t j = 0; j < N; ++j)
            for (std::size_t k = 0; k < K; ++k) bt[k * N + j] = B.at(j, k);
        gemm<float>(false, false, M, N, K, 1.0f, A.ptr(), A.ld, bt.data(), N, 0.5f, ref.ptr(), ref.ld, s);
        EXPECT_EQ(0, std::memcmp(C.ptr(), ref.ptr(), C.data.size() * sizeof(float))) << "M=" << M;
    }
}

TEST(Gemm, RepeatedCallsReuseScratch) {
    // Alternating sizes exercise growing the per-thread packing buffers while keeping results right.
    for (std::size_t n : {20, 90, 40, 130, 33}) check<float>({false, false, n, n + 1, n + 2, 1.0, 0.0, 0}, 3);
}

}  // namespace
