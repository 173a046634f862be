// strided_copy against index loops; fill and the counter-based random fills (Philox4x32-10
// checked against Random123's known answers, then the device against this host Philox).
#include <array>
#include <numeric>

#include "vk_test.hpp"

namespace kiln_vk_test {
namespace {

std::array<std::uint32_t, 4> philox(std::array<std::uint32_t, 4> c, std::array<std::uint32_t, 2> k) {
    for (int r = 0; r < 10; ++r) {
        std::uint64_t p0 = std::uint64_t(0xD2511F53u) * c[0], p1 = std::uint64_t(0xCD9E8D57u) * c[2];
        c = {std::uint32_t(p1 >> 32) ^ c[1] ^ k[0], std::uint32_t(p1), std::uint32_t(p0 >> 32) ^ c[3] ^ k[1], std::uint32_t(p0)};
        k[0] += 0x9E3779B9u;
        k[1] += 0xBB67AE85u;
    }
    return c;
}

// Host copy with the kernel's definition.
std::vector<float> ref_copy(const std::vector<float>& in, std::size_t in_base, const std::uint32_t* is, std::vector<float> out,
                            std::size_t out_base, const std::uint32_t* os, const std::uint32_t* ext, std::uint32_t rank) {
    std::size_t total = 1;
    for (std::uint32_t k = 0; k < rank; ++k) total *= ext[k];
    for (std::size_t t = 0; t < total; ++t) {
        std::size_t rem = t, si = in_base, di = out_base;
        for (int k = static_cast<int>(rank) - 1; k >= 0; --k) {
            std::size_t c = rem % ext[k];
            rem /= ext[k];
            si += c * is[k];
            di += c * os[k];
        }
        out[di] = in[si];
    }
    return out;
}

class copy_fill : public vk_test {};

void check_copy(std::size_t in_size, std::size_t in_base, std::vector<std::uint32_t> is, std::size_t out_size, std::size_t out_base,
                std::vector<std::uint32_t> os, std::vector<std::uint32_t> ext) {
    std::vector<float> in = random_vector(in_size, 31), out = random_vector(out_size, 32);
    auto di = to_device(in), dout = to_device(out);
    auto rank = static_cast<std::uint32_t>(ext.size());
    vk::strided_copy(di, in_base, is.data(), dout, out_base, os.data(), ext.data(), rank);
    EXPECT_EQ(to_host(dout, out_size), ref_copy(in, in_base, is.data(), out, out_base, os.data(), ext.data(), rank));
}

TEST_F(copy_fill, transpose_permute_slice_broadcast) {
    check_copy(17 * 33, 0, {1, 33}, 33 * 17, 0, {17, 1}, {33, 17});  // materialise a transpose
    // Permute a [2, 3, 4, 5] tensor to [5, 3, 2, 4] (output dense).
    check_copy(120, 0, {1, 20, 60, 5}, 120, 0, {24, 8, 4, 1}, {5, 3, 2, 4});
    check_copy(10 * 12, 2 * 12 + 3, {12, 1}, 5 * 7, 0, {7, 1}, {5, 7});  // slice rows 2..6, columns 3..9
    check_copy(7, 0, {0, 1}, 4 * 7 + 3, 3, {7, 1}, {4, 7});              // broadcast a row four times
    check_copy(1, 0, {}, 2, 1, {}, {});                                  // rank 0: one element
    check_copy(2 * 3 * 1 * 2 * 3 * 2, 0, {36, 12, 12, 6, 2, 1}, 72, 0, {1, 2, 6, 6, 12, 36}, {2, 3, 1, 2, 3, 2});  // rank 6
}

TEST_F(copy_fill, concat_into_one_buffer) {
    // Two copies write disjoint halves of one output: the second must not be lost.
    std::vector<float> a = random_vector(6 * 4, 33), b = random_vector(6 * 5, 34);
    auto da = to_device(a), db = to_device(b);
    vk::device_buffer out(6 * 9 * sizeof(float));
    std::uint32_t ea[] = {6, 4}, eb[] = {6, 5}, sa[] = {4, 1}, sb[] = {5, 1}, so[] = {9, 1};
    vk::strided_copy(da, 0, sa, out, 0, so, ea, 2);
    vk::strided_copy(db, 0, sb, out, 4, so, eb, 2);
    std::vector<float> got = to_host(out, 54);
    for (int r = 0; r < 6; ++r)
        for (int c = 0; c < 9; ++c) ASSERT_EQ(got[r * 9 + c], c < 4 ? a[r * 4 + c] : b[r * 5 + c - 4]) << r << "," << c;
    std::uint32_t one[] = {8}, unit[] = {1};
    EXPECT_THROW(vk::strided_copy(out, 0, unit, out, 4, unit, one, 1), kiln::error);  // overlapping ranges
    EXPECT_THROW(vk::strided_copy(da, 20, unit, out, 0, unit, one, 1), kiln::error);  // reads past the end
}

TEST_F(copy_fill, fill_and_offsets) {
    std::vector<float> h(100, -1.0f);
    auto d = to_device(h);
    vk::fill(d, 10, 37, 2.5f);
    std::vector<float> got = to_host(d, 100);
    for (int i = 0; i < 100; ++i) ASSERT_EQ(got[i], (i >= 10 && i < 47) ? 2.5f : -1.0f) << i;
    EXPECT_THROW(vk::fill(d, 90, 11, 0.0f), kiln::error);
}

TEST_F(copy_fill, philox_known_answers) {
    // Random123's kat_vectors for philox4x32-10.
    EXPECT_EQ(philox({0, 0, 0, 0}, {0, 0}), (std::array<std::uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
    EXPECT_EQ(philox({~0u, ~0u, ~0u, ~0u}, {~0u, ~0u}), (std::array<std::uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
    EXPECT_EQ(philox({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
              (std::array<std::uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST_F(copy_fill, uniform_is_philox_and_layout_independent) {
    const std::size_t n = 5000;
    const std::uint64_t seed = 0x123456789abcdefULL;
    vk::device_buffer a(n * sizeof(float)), b((n + 7) * sizeof(float));
    vk::random_uniform(a, 0, n, seed, -2.0f, 3.0f);
    vk::random_uniform(b, 7, n, seed, -2.0f, 3.0f);  // another offset: the same stream
    std::vector<float> ga = to_host(a, n), gb = to_host(b, n, 7);
    EXPECT_EQ(ga, gb);
    for (std::size_t i = 0; i < n; ++i) {
        auto w = philox({static_cast<std::uint32_t>(i), 0, 0, 0}, {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)});
        float u = static_cast<float>(w[0] >> 8) * 0x1.0p-24f;
        ASSERT_NEAR(ga[i], -2.0 + 5.0 * u, 1e-6) << i;  // the device may round 5u before adding
        ASSERT_GE(ga[i], -2.0f);
        ASSERT_LE(ga[i], 3.0f);
    }
    vk::random_uniform(b, 0, n, seed + 1, -2.0f, 3.0f);
    EXPECT_NE(to_host(b, n), ga);  // another seed, another stream
}

TEST_F(copy_fill, uniform_and_normal_moments) {
    const std::size_t n = 200000;
    vk::device_buffer d(n * sizeof(float));
    auto moments = [&](std::vector<double>& m) {
        std::vector<float> h = to_host(d, n);
        double mean = std::accumulate(h.begin(), h.end(), 0.0) / n, v = 0, s3 = 0, s4 = 0;
        for (float x : h) {
            double e = x - mean;
            v += e * e;
            s3 += e * e * e;
            s4 += e * e * e * e;
        }
        v /= n;
        m = {mean, v, s3 / n / std::pow(v, 1.5), s4 / n / (v * v)};
    };
    std::vector<double> m;
    vk::random_uniform(d, 0, n, 42, 1.0f, 3.0f);
    moments(m);
    EXPECT_NEAR(m[0], 2.0, 0.01);
    EXPECT_NEAR(m[1], 4.0 / 12.0, 0.005);
    EXPECT_NEAR(m[3], 1.8, 0.02);  // uniform kurtosis
    vk::random_normal(d, 0, n, 42, 0.5f, 2.0f);
    moments(m);
    EXPECT_NEAR(m[0], 0.5, 0.02);
    EXPECT_NEAR(std::sqrt(m[1]), 2.0, 0.02);
    EXPECT_NEAR(m[2], 0.0, 0.03);
    EXPECT_NEAR(m[3], 3.0, 0.06);
    std::vector<float> first = to_host(d, 64);
    vk::random_normal(d, 0, n, 42, 0.5f, 2.0f);
    EXPECT_EQ(to_host(d, 64), first);  // reproducible
    // Host Box-Muller on the same Philox words agrees to float rounding.
    for (std::uint32_t i = 0; i < 64; ++i) {
        auto w = philox({i, 0, 0, 0}, {42, 0});
        double u1 = ((w[0] >> 8) + 1) * 0x1.0p-24, u2 = (w[1] >> 8) * 0x1.0p-24;
        double z = 0.5 + 2.0 * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
        ASSERT_NEAR(first[i], z, 1e-4 * (1 + std::fabs(z))) << i;
    }
}

TEST_F(copy_fill, grid_stride_beyond_one_dispatch_row) {
    // 65535 workgroups x 256 threads cover 16.7M elements; more takes the grid-stride loop.
    const std::size_t n = (std::size_t(65535) * 256) + 1000;
    vk::device_buffer d(n * sizeof(float));
    vk::fill(d, 0, n, 1.0f);
    vk::fill(d, n - 3, 3, 7.0f);
    std::vector<float> tail = to_host(d, 2000, n - 2000);
    for (std::size_t i = 0; i < 1997; ++i) ASSERT_EQ(tail[i], 1.0f) << i;
    for (std::size_t i = 1997; i < 2000; ++i) ASSERT_EQ(tail[i], 7.0f) << i;
}

// Axes dense in both operands merge; a single dense run becomes a buffer copy (no shader), also
// at offsets, and a broadcast (stride 0) still goes through the copy kernel.
TEST_F(copy_fill, dense_copies_are_buffer_copies) {
    auto h = random_vector(200, 9);
    auto src = to_device(h);
    vk::device_buffer out(200 * sizeof(float));
    vk::fill(out, 0, 200, -1.0f);
    const std::size_t before = ctx().dispatch_count();
    const std::uint32_t ext[3] = {2, 5, 6}, str[3] = {30, 6, 1};
    vk::strided_copy(src, 7, str, out, 100, str, ext, 3);  // 60 floats from 7 to 100
    EXPECT_EQ(ctx().dispatch_count(), before);              // a vkCmdCopyBuffer, not a dispatch
    auto got = to_host(out, 200);
    for (std::size_t i = 0; i < 200; ++i) EXPECT_EQ(got[i], i >= 100 && i < 160 ? h[7 + i - 100] : -1.0f) << i;
    const std::uint32_t bext[2] = {3, 4}, bin[2] = {0, 1}, bout[2] = {4, 1};  // a row repeated 3 times
    vk::strided_copy(src, 0, bin, out, 0, bout, bext, 2);
    EXPECT_EQ(ctx().dispatch_count(), before + 1);
    got = to_host(out, 12);
    for (std::size_t i = 0; i < 12; ++i) EXPECT_EQ(got[i], h[i % 4]) << i;
}

}  // namespace
}  // namespace kiln_vk_test
