// Batched GEMM against float64 loops: every tile configuration, every transpose pair, odd
// sizes, padded leading dimensions, offsets (vec4 and scalar load paths), batches, beta.
#include <limits>

#include "kiln/device/cpu/kernels/gemm.hpp"
#include "vk_test.hpp"

namespace kiln_vk_test {
namespace {

struct gemm_case {
    bool ta, tb;
    std::size_t M, N, K;
    std::size_t pad = 0;    // extra floats per row of every operand
    std::size_t off = 0;    // element offset of every operand
    std::size_t batch = 1;
    float alpha = 1.0f, beta = 0.0f;
};

void check_gemm(const gemm_case& g, double tol = 1e-4) {
    SCOPED_TRACE(testing::Message() << "ta " << g.ta << " tb " << g.tb << " M " << g.M << " N " << g.N << " K " << g.K << " pad "
                                    << g.pad << " off " << g.off << " batch " << g.batch << " alpha " << g.alpha << " beta " << g.beta);
    std::size_t ar = g.ta ? g.K : g.M, ac = g.ta ? g.M : g.K, br = g.tb ? g.N : g.K, bc = g.tb ? g.K : g.N;
    std::size_t lda = ac + g.pad, ldb = bc + g.pad, ldc = g.N + g.pad;
    std::size_t sa = ar * lda + 3, sb = br * ldb + 1, sc = g.M * ldc + 2;  // odd batch strides
    std::vector<float> A = random_vector(g.off + g.batch * sa, 1), B = random_vector(g.off + g.batch * sb, 2),
                       C = random_vector(g.off + g.batch * sc, 3);
    auto dA = to_device(A), dB = to_device(B), dC = to_device(C);
    vk::gemm(g.ta, g.tb, g.M, g.N, g.K, g.alpha, dA, g.off, lda, sa, dB, g.off, ldb, sb, g.beta, dC, g.off, ldc, sc, g.batch);
    std::vector<float> got = to_host(dC, C.size());
    for (std::size_t b = 0; b < g.batch; ++b)
        for (std::size_t m = 0; m < g.M; ++m)
            for (std::size_t n = 0; n < g.N; ++n) {
                double acc = 0, mag = 0;
                for (std::size_t k = 0; k < g.K; ++k) {
                    double a = A[g.off + b * sa + (g.ta ? k * lda + m : m * lda + k)];
                    double x = B[g.off + b * sb + (g.tb ? n * ldb + k : k * ldb + n)];
                    acc += a * x;
                    mag += std::fabs(a * x);
                }
                std::size_t ci = g.off + b * sc + m * ldc + n;
                double want = g.alpha * acc + (g.beta == 0.0f ? 0.0 : g.beta * C[ci]);
                ASSERT_TRUE(close(got[ci], want, tol * (1 + mag), 0)) << "b " << b << " m " << m << " n " << n;
            }
    // Padding between rows and between batches is untouched.
    for (std::size_t i = 0; i < g.off; ++i) ASSERT_EQ(got[i], C[i]);
    for (std::size_t b = 0; b < g.batch; ++b)
        for (std::size_t m = 0; m < g.M; ++m)
            for (std::size_t n = g.N; n < ldc; ++n) ASSERT_EQ(got[g.off + b * sc + m * ldc + n], C[g.off + b * sc + m * ldc + n]);
}

class gemm : public vk_test {
protected:
    void TearDown() override {
        vk::detail::gemm_forced_config() = -1;
        vk_test::TearDown();
    }
};

TEST_F(gemm, every_tile_and_transpose) {
    for (std::size_t cfg = 0; cfg < vk::detail::gemm_config_count; ++cfg) {
        if (!vk::detail::gemm_config_fits(vk::detail::gemm_configs[cfg], ctx().limits())) continue;
        vk::detail::gemm_forced_config() = static_cast<int>(cfg);
        SCOPED_TRACE(testing::Message() << "config " << cfg);
        for (bool ta : {false, true})
            for (bool tb : {false, true}) {
                check_gemm({ta, tb, 33, 17, 19});                       // ragged everywhere, scalar loads (19, 17 odd)
                check_gemm({ta, tb, 36, 40, 24, 4, 8, 1, 0.5f, 2.0f});  // vec4 loads, padded rows, offset, beta
                check_gemm({ta, tb, 1, 1, 1});
            }
    }
}

TEST_F(gemm, odd_sizes_with_automatic_tiles) {
    for (std::size_t s : {1u, 3u, 17u, 33u, 64u, 129u, 257u}) check_gemm({false, false, s, s, s});
    check_gemm({false, false, 257, 3, 33});
    check_gemm({true, false, 3, 257, 17});
    check_gemm({false, true, 1, 200, 256});  // a GEMV row
    check_gemm({true, true, 200, 1, 5});
    check_gemm({false, false, 100, 100, 1000}, 2e-4);  // long K
}

TEST_F(gemm, batches_and_beta) {
    check_gemm({false, false, 17, 33, 9, 1, 1, 3, 1.5f, -0.5f});
    check_gemm({true, true, 20, 12, 16, 0, 4, 5, 1.0f, 1.0f});
    check_gemm({false, true, 64, 64, 32, 0, 0, 2, 2.0f, 0.0f});
}

TEST_F(gemm, beta_zero_ignores_nan_and_k_zero_scales) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> A(12, 1.0f), B(12, 2.0f), C(9, nan);
    auto dA = to_device(A), dB = to_device(B), dC = to_device(C);
    vk::gemm(false, false, 3, 3, 4, 1.0f, dA, 0, 4, 0, dB, 0, 3, 0, 0.0f, dC, 0, 3, 0);
    EXPECT_EQ(to_host(dC, 9), std::vector<float>(9, 8.0f));
    vk::gemm(false, false, 3, 3, 0, 1.0f, dA, 0, 4, 0, dB, 0, 3, 0, 0.5f, dC, 0, 3, 0);  // K = 0: C = beta C
    EXPECT_EQ(to_host(dC, 9), std::vector<float>(9, 4.0f));
}

TEST_F(gemm, matches_the_cpu_kernel) {
    const std::size_t M = 65, N = 70, K = 129;
    std::vector<float> A = random_vector(M * K, 7), B = random_vector(K * N, 8), want(M * N, 0.0f);
    kiln::cpu_kernels::gemm<float>(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, want.data(), N);
    auto dA = to_device(A), dB = to_device(B);
    vk::device_buffer dC(M * N * sizeof(float));
    vk::gemm(false, false, M, N, K, 1.0f, dA, 0, K, 0, dB, 0, N, 0, 0.0f, dC, 0, N, 0);
    std::vector<float> got = to_host(dC, M * N);
    for (std::size_t i = 0; i < M * N; ++i) ASSERT_NEAR(got[i], want[i], 1e-4f) << i;
}

TEST_F(gemm, tile_choice_follows_the_shape) {
    using vk::detail::pick_gemm_config;
    std::size_t last = vk::detail::gemm_config_count - 1;
    EXPECT_EQ(pick_gemm_config(1, 1, 1), last);      // no large tile for a 1x1 product
    EXPECT_EQ(pick_gemm_config(1, 4096, 1), last);   // nor for a skinny one
    EXPECT_EQ(pick_gemm_config(4096, 4096, 1), 0u);  // large products take the large tile
    // 256x4096 and 1024x1024 have the same work and tile count: which large tile wins depends
    // on the device's SM count, so only "not the smallest tile" is a device-independent fact.
    EXPECT_LT(pick_gemm_config(256, 4096, 1), last);
    EXPECT_LE(pick_gemm_config(256, 256, 1), pick_gemm_config(32, 32, 1));
}

TEST_F(gemm, argument_errors) {
    vk::device_buffer A(16 * sizeof(float)), B(16 * sizeof(float)), C(16 * sizeof(float));
    EXPECT_THROW(vk::gemm(false, false, 4, 4, 5, 1, A, 0, 5, 0, B, 0, 4, 0, 0, C, 0, 4, 0), kiln::error);  // A too small
    EXPECT_THROW(vk::gemm(false, false, 4, 4, 4, 1, A, 0, 3, 0, B, 0, 4, 0, 0, C, 0, 4, 0), kiln::error);  // lda < K
    EXPECT_THROW(vk::gemm(false, false, 2, 2, 2, 1, A, 0, 2, 0, B, 0, 2, 0, 0, A, 2, 2, 0), kiln::error);  // C overlaps A
    try {
        vk::gemm(false, false, 4, 4, 4, 1, A, 0, 4, 0, B, 0, 4, 0, 0, C, 1, 4, 0);
        ADD_FAILURE() << "no error";
    } catch (const kiln::error& e) {
        EXPECT_STREQ(e.what(), "[vulkan] gemm: C reads or writes elements [1, 16] of a buffer of 16 floats");
    }
}

}  // namespace
}  // namespace kiln_vk_test

namespace kiln_vk_test {
// Few tiles and a long k: the product is cut into slices of k summed afterwards (split-K),
// including a shorter last slice (k not a multiple of the slice) and every transpose.
TEST_F(gemm, long_k_is_split) {
    using vk::detail::pick_gemm_split;
    EXPECT_EQ(pick_gemm_split(4096, 4096, 4096), 1u);  // enough tiles already
    EXPECT_EQ(pick_gemm_split(16, 24, 256), 1u);       // k too short to pay
    EXPECT_GT(pick_gemm_split(16, 24, 5003), 1u);
    for (bool ta : {false, true})
        for (bool tb : {false, true}) check_gemm({ta, tb, 16, 24, 5003}, 2e-4);
    check_gemm({false, true, 9, 7, 2048, 3, 5}, 2e-4);  // padded rows, offsets (scalar loads)
    check_gemm({false, false, 16, 24, 5003, 0, 0, 1, 2.0f}, 2e-4);  // alpha != 1: not split, still right
}
}  // namespace kiln_vk_test
