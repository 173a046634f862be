// Reductions and arg-reductions against float64 loops, in both shader modes (one workgroup per
// row when inner == 1 and n >= 32, one thread per output otherwise).
#include <limits>

#include "vk_test.hpp"

namespace kiln_vk_test {
namespace {

struct view { std::size_t outer, n, inner; };
const view views[] = {{1, 1, 1}, {3, 17, 1}, {5, 300, 1}, {4, 33, 7}, {2, 257, 3}, {1, 1000, 1}, {9, 31, 1}, {1, 5, 64}};

double ref_reduce(vk::reduce_op op, const std::vector<float>& x, std::size_t off, const view& v, std::size_t o, std::size_t i) {
    double acc = op == vk::reduce_op::sum ? 0.0 : (op == vk::reduce_op::max ? -INFINITY : INFINITY);
    for (std::size_t k = 0; k < v.n; ++k) {
        double e = x[off + (o * v.n + k) * v.inner + i];
        if (op == vk::reduce_op::sum) acc += e;
        else if (std::isnan(e) || std::isnan(acc)) acc = NAN;
        else acc = op == vk::reduce_op::max ? std::max(acc, e) : std::min(acc, e);
    }
    return acc;
}

class reduce : public vk_test {};

TEST_F(reduce, sum_max_min_over_views) {
    for (const view& v : views) {
        const std::size_t in_off = 3, out_off = 2;
        std::vector<float> x = random_vector(in_off + v.outer * v.n * v.inner, 100 + static_cast<std::uint32_t>(v.n), -2.0f, 2.0f);
        auto dx = to_device(x);
        for (vk::reduce_op op : {vk::reduce_op::sum, vk::reduce_op::max, vk::reduce_op::min}) {
            SCOPED_TRACE(testing::Message() << "outer " << v.outer << " n " << v.n << " inner " << v.inner << " op " << int(op));
            vk::device_buffer out((out_off + v.outer * v.inner) * sizeof(float));
            vk::reduce(op, dx, in_off, out, out_off, v.outer, v.n, v.inner);
            std::vector<float> got = to_host(out, v.outer * v.inner, out_off);
            for (std::size_t o = 0; o < v.outer; ++o)
                for (std::size_t i = 0; i < v.inner; ++i)
                    ASSERT_TRUE(close(got[o * v.inner + i], ref_reduce(op, x, in_off, v, o, i), 1e-5, 1e-5)) << o << "," << i;
        }
    }
}

TEST_F(reduce, empty_axis_gives_identity_and_nan_propagates) {
    vk::device_buffer in(16), out(3 * sizeof(float));
    vk::reduce(vk::reduce_op::sum, in, 0, out, 0, 3, 0, 1);
    EXPECT_EQ(to_host(out, 3), std::vector<float>(3, 0.0f));
    vk::reduce(vk::reduce_op::max, in, 0, out, 0, 3, 0, 1);
    EXPECT_EQ(to_host(out, 3), std::vector<float>(3, -INFINITY));
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (std::size_t n : {5u, 100u}) {  // thread mode and row mode
        std::vector<float> x(n, 1.0f);
        x[n / 2] = nan;
        auto dx = to_device(x);
        for (vk::reduce_op op : {vk::reduce_op::max, vk::reduce_op::min, vk::reduce_op::sum}) {
            vk::reduce(op, dx, 0, out, 0, 1, n, 1);
            EXPECT_TRUE(std::isnan(to_host(out, 1)[0])) << "n " << n << " op " << int(op);
        }
    }
}

std::int64_t ref_arg(bool greater, const std::vector<float>& x, std::size_t off, const view& v, std::size_t o, std::size_t i) {
    std::int64_t best = 0;
    double bv = x[off + o * v.n * v.inner + i];
    for (std::size_t k = 1; k < v.n; ++k) {
        double e = x[off + (o * v.n + k) * v.inner + i];
        if (std::isnan(bv)) break;
        if (std::isnan(e) || (greater ? e > bv : e < bv)) {
            bv = e;
            best = static_cast<std::int64_t>(k);
        }
    }
    return best;
}

TEST_F(reduce, argmax_argmin_first_index_and_nan) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (const view& v : views) {
        std::size_t in_off = 1, out_off = 3, count = v.outer * v.n * v.inner;
        // Few distinct values, so ties are common and the first index must win.
        std::vector<float> x(in_off + count);
        std::mt19937 g(static_cast<std::uint32_t>(v.n));
        for (auto& e : x) e = static_cast<float>(g() % 5);
        if (v.n > 3) {
            x[in_off + 2 * v.inner] = nan;  // row 0, k = 2 (for i = 0): NaN wins there
            x[in_off + 3 * v.inner] = nan;
        }
        auto dx = to_device(x);
        for (bool greater : {true, false}) {
            SCOPED_TRACE(testing::Message() << "outer " << v.outer << " n " << v.n << " inner " << v.inner << " greater " << greater);
            vk::device_buffer out((out_off + v.outer * v.inner) * sizeof(std::int64_t));
            vk::arg_reduce(greater, dx, in_off, out, out_off, v.outer, v.n, v.inner);
            std::vector<std::int64_t> got(v.outer * v.inner);
            vk::download(out, got.data(), got.size() * sizeof(std::int64_t), out_off * sizeof(std::int64_t));
            for (std::size_t o = 0; o < v.outer; ++o)
                for (std::size_t i = 0; i < v.inner; ++i)
                    ASSERT_EQ(got[o * v.inner + i], ref_arg(greater, x, in_off, v, o, i)) << o << "," << i;
        }
    }
}

TEST_F(reduce, range_errors) {
    vk::device_buffer in(10 * sizeof(float)), out(4 * sizeof(float));
    EXPECT_THROW(vk::reduce(vk::reduce_op::sum, in, 1, out, 0, 1, 10, 1), kiln::error);  // reads element 10
    EXPECT_THROW(vk::reduce(vk::reduce_op::sum, in, 0, out, 0, 5, 2, 1), kiln::error);   // writes 5 outputs into 4
    EXPECT_THROW(vk::arg_reduce(true, in, 0, out, 0, 3, 3, 1), kiln::error);            // 3 int64 need 24 bytes
    EXPECT_THROW(vk::arg_reduce(true, in, 0, out, 0, 1, 0, 1), kiln::error);            // empty axis
}

}  // namespace
}  // namespace kiln_vk_test
