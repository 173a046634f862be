// Convolution and pooling kernels against naive float64 loops over every odd-size class
// (1x1 images, kernels wider than the image with padding, strides, dilations, ragged chunks),
// plus: the adjoint (dot-product) identity and finite differences for the gradients, outputs
// and workspace pre-filled with NaN (anything read before written poisons the result), and
// bit-identical results for 1, 2 and 3 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kiln/device/cpu/kernels/conv.hpp"
#include "kiln/device/cpu/kernels/pool.hpp"
#include "kiln/exec/thread_pool.hpp"

namespace {

namespace ck = kiln::cpu_kernels;
using ck::conv2d_geometry;
using ck::pool2d_geometry;
using kiln::exec::thread_pool;

template <class T>
constexpr double unit_roundoff = std::numeric_limits<T>::epsilon() / 2;

template <class T>
std::vector<T> random_vec(std::size_t n, std::mt19937& rng, double lo = -1.0, double hi = 1.0) {
    std::uniform_real_distribution<double> u(lo, hi);
    std::vector<T> v(n);
    for (auto& e : v) e = static_cast<T>(u(rng));
    return v;
}

template <class T>
std::vector<T> nan_vec(std::size_t n) {
    return std::vector<T>(n, std::numeric_limits<T>::quiet_NaN());
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

template <class T>
double dot(const std::vector<T>& a, const std::vector<T>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += double(a[i]) * double(b[i]);
    return s;
}

/// The pools every threaded check runs on: results must not depend on which one.
thread_pool& pool(std::size_t threads) {
    static thread_pool p1(1), p2(2), p3(3);
    return threads == 1 ? p1 : threads == 2 ? p2 : p3;
}

// ---------------------------------------------------------------------------------------------
// Convolution

/// Direct float64 convolution and both gradients, with the sums of |terms| for error bounds.
struct conv_ref {
    std::vector<double> y, dx, dw, db, y_abs, dx_abs, dw_abs, db_abs;
    std::size_t dx_terms = 0, dw_terms = 0;
};

template <class T>
conv_ref naive_conv(const conv2d_geometry& g, const std::vector<T>& x, const std::vector<T>& w,
                    const std::vector<T>& b, const std::vector<T>& dy) {
    conv_ref r;
    r.y.assign(g.N * g.K * g.P * g.Q, 0.0);
    r.y_abs = r.y;
    r.dx.assign(g.N * g.C * g.H * g.W, 0.0);
    r.dx_abs = r.dx;
    r.dw.assign(g.K * g.C * g.R * g.S, 0.0);
    r.dw_abs = r.dw;
    r.db.assign(g.K, 0.0);
    r.db_abs = r.db;
    for (std::size_t n = 0; n < g.N; ++n)
        for (std::size_t k = 0; k < g.K; ++k)
            for (std::size_t p = 0; p < g.P; ++p)
                for (std::size_t q = 0; q < g.Q; ++q) {
                    const std::size_t yi = ((n * g.K + k) * g.P + p) * g.Q + q;
                    const double d = dy[yi];
                    r.y[yi] = b[k];
                    r.y_abs[yi] = std::fabs(double(b[k]));
                    r.db[k] += d;
                    r.db_abs[k] += std::fabs(d);
                    for (std::size_t c = 0; c < g.C; ++c)
                        for (std::size_t i = 0; i < g.R; ++i)
                            for (std::size_t j = 0; j < g.S; ++j) {
                                const long h = long(p * g.stride_h + i * g.dil_h) - long(g.pad_h);
                                const long v = long(q * g.stride_w + j * g.dil_w) - long(g.pad_w);
                                if (h < 0 || h >= long(g.H) || v < 0 || v >= long(g.W)) continue;
                                const std::size_t xi = ((n * g.C + c) * g.H + h) * g.W + v;
                                const std::size_t wi = ((k * g.C + c) * g.R + i) * g.S + j;
                                r.y[yi] += double(w[wi]) * double(x[xi]);
                                r.y_abs[yi] += std::fabs(double(w[wi]) * double(x[xi]));
                                r.dx[xi] += double(w[wi]) * d;
                                r.dx_abs[xi] += std::fabs(double(w[wi]) * d);
                                r.dw[wi] += double(x[xi]) * d;
                                r.dw_abs[wi] += std::fabs(double(x[xi]) * d);
                            }
                }
    r.dx_terms = g.K * g.R * g.S;
    r.dw_terms = g.N * g.P * g.Q + 1;
    return r;
}

/// |got - ref| within the worst-case rounding bound of a sum of `terms` products.
template <class T>
void expect_near_bound(const char* what, const std::vector<T>& got, const std::vector<double>& ref,
                       const std::vector<double>& abs, std::size_t terms) {
    ASSERT_EQ(got.size(), ref.size()) << what;
    const double gamma = 2.0 * double(terms + 2) * unit_roundoff<T>;
    std::size_t bad = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
        const double err = std::fabs(double(got[i]) - ref[i]);
        if (!(err <= gamma * abs[i] + 1e-300) && ++bad <= 5)
            ADD_FAILURE() << what << "[" << i << "] = " << double(got[i]) << ", expected " << ref[i]
                          << " (bound " << gamma * abs[i] << ")";
    }
}

/// All three kernels on one executor; outputs and workspace start as NaN.
template <class T>
struct conv_out {
    std::vector<T> y, dx, dw, db;
};

template <class T, class Ex>
conv_out<T> run_conv(const conv2d_geometry& g, const std::vector<T>& x, const std::vector<T>& w,
                     const std::vector<T>& b, const std::vector<T>& dy, Ex& ex, bool with_bias = true) {
    conv_out<T> o{nan_vec<T>(g.N * g.K * g.P * g.Q), nan_vec<T>(g.N * g.C * g.H * g.W),
                  nan_vec<T>(g.K * g.C * g.R * g.S), nan_vec<T>(g.K)};
    std::vector<T> ws = nan_vec<T>(ck::conv2d_workspace_size(g));
    ck::conv2d_forward(g, x.data(), w.data(), with_bias ? b.data() : nullptr, o.y.data(), ws.data(), ex);
    ck::conv2d_backward_data(g, dy.data(), w.data(), o.dx.data(), ws.data(), ex);
    ck::conv2d_backward_weight(g, x.data(), dy.data(), o.dw.data(), with_bias ? o.db.data() : nullptr, ws.data(), ex);
    return o;
}

template <class T>
void check_conv(const conv2d_geometry& g, bool threads, std::uint32_t seed = 7) {
    SCOPED_TRACE(::testing::Message() << (sizeof(T) == 4 ? "float" : "double") << " N=" << g.N << " C=" << g.C
                                      << " HxW=" << g.H << "x" << g.W << " K=" << g.K << " RxS=" << g.R << "x"
                                      << g.S << " stride=" << g.stride_h << "," << g.stride_w << " pad=" << g.pad_h
                                      << "," << g.pad_w << " dil=" << g.dil_h << "," << g.dil_w);
    ASSERT_TRUE(g.valid());
    std::mt19937 rng(seed);
    const auto x = random_vec<T>(g.N * g.C * g.H * g.W, rng);
    const auto w = random_vec<T>(g.K * g.C * g.R * g.S, rng);
    const auto b = random_vec<T>(g.K, rng);
    const auto dy = random_vec<T>(g.N * g.K * g.P * g.Q, rng);
    const conv_ref ref = naive_conv(g, x, w, b, dy);

    const conv_out<T> o = run_conv(g, x, w, b, dy, pool(1));
    expect_near_bound("y", o.y, ref.y, ref.y_abs, g.C * g.R * g.S + 1);
    expect_near_bound("dx", o.dx, ref.dx, ref.dx_abs, ref.dx_terms);
    expect_near_bound("dw", o.dw, ref.dw, ref.dw_abs, ref.dw_terms);
    expect_near_bound("db", o.db, ref.db, ref.db_abs, ref.dw_terms);

    // The executor overload with a serial executor and the default pool agree bit for bit.
    kiln::exec::serial ser;
    const conv_out<T> s = run_conv(g, x, w, b, dy, ser);
    EXPECT_TRUE(same_bits(o.y, s.y) && same_bits(o.dx, s.dx) && same_bits(o.dw, s.dw) && same_bits(o.db, s.db));
    if (threads)
        for (std::size_t t : {2, 3}) {
            const conv_out<T> m = run_conv(g, x, w, b, dy, pool(t));
            EXPECT_TRUE(same_bits(o.y, m.y)) << t << " threads: y";
            EXPECT_TRUE(same_bits(o.dx, m.dx)) << t << " threads: dx";
            EXPECT_TRUE(same_bits(o.dw, m.dw)) << t << " threads: dw";
            EXPECT_TRUE(same_bits(o.db, m.db)) << t << " threads: db";
        }

    // Adjoint identity: <dy, conv(x, w)> = <backward_data(dy), x> = <backward_weight(x, dy), w>.
    const conv_out<T> nb = run_conv(g, x, w, b, dy, pool(1), false);
    const double lhs = dot(dy, nb.y), via_x = dot(nb.dx, x), via_w = dot(nb.dw, w);
    double scale = 0;
    for (std::size_t i = 0; i < dy.size(); ++i) scale += std::fabs(double(dy[i])) * ref.y_abs[i];
    const double terms = double(g.C * g.R * g.S + ref.dx_terms + ref.dw_terms + 4);
    const double tol = 4.0 * terms * unit_roundoff<T> * scale + 1e-300;
    EXPECT_NEAR(lhs, via_x, tol);
    EXPECT_NEAR(lhs, via_w, tol);
    EXPECT_TRUE(std::isnan(nb.db[0]) || g.K == 0) << "dbias == nullptr must leave db alone";
}

TEST(Conv2d, LiteralNullptrBias) {
    const auto g = conv2d_geometry{.N = 2, .C = 3, .H = 5, .W = 5, .K = 2, .R = 3, .S = 3}.with_output();
    std::vector<float> x(2 * 3 * 25, 1.0f), w(2 * 3 * 9, 1.0f), y(2 * 2 * 9), dw(w.size());
    std::vector<float> ws(ck::conv2d_workspace_size(g));
    ck::conv2d_forward(g, x.data(), w.data(), nullptr, y.data(), ws.data());
    EXPECT_EQ(y[0], 27.0f);
    ck::conv2d_backward_weight(g, x.data(), y.data(), dw.data(), nullptr, ws.data());
    EXPECT_EQ(dw[0], 2 * 9 * 27.0f);
}

conv2d_geometry geom(std::size_t N, std::size_t C, std::size_t H, std::size_t W, std::size_t K, std::size_t R,
                     std::size_t S, std::size_t sh, std::size_t sw, std::size_t ph, std::size_t pw, std::size_t dh,
                     std::size_t dw) {
    return conv2d_geometry{.N = N, .C = C, .H = H, .W = W, .K = K, .R = R, .S = S, .stride_h = sh,
                           .stride_w = sw, .pad_h = ph, .pad_w = pw, .dil_h = dh, .dil_w = dw}
        .with_output();
}

/// Every combination of the odd sizes the kernels must handle.
template <class T>
void conv_sweep(bool small) {
    struct hw { std::size_t h, w; };
    const std::vector<hw> spatial = small ? std::vector<hw>{{1, 1}, {5, 7}, {7, 5}}
                                          : std::vector<hw>{{1, 1}, {5, 5}, {7, 7}, {32, 32}, {5, 32}, {7, 1}};
    const hw kernels[] = {{1, 1}, {3, 3}, {5, 5}, {3, 5}};
    const hw strides[] = {{1, 1}, {2, 2}, {2, 1}};
    const hw pads[] = {{0, 0}, {1, 1}, {2, 2}, {0, 2}};
    const hw dils[] = {{1, 1}, {2, 2}, {1, 2}};
    std::size_t tested = 0;
    for (hw sp : spatial)
        for (hw k : kernels)
            for (hw st : strides)
                for (hw pd : pads)
                    for (hw dl : dils)
                        for (std::size_t C : {1, 3})
                            for (std::size_t K : {1, 4}) {
                                const auto g = geom(2, C, sp.h, sp.w, K, k.h, k.w, st.h, st.w, pd.h, pd.w, dl.h, dl.w);
                                if (g.P == 0 || g.Q == 0) continue;
                                check_conv<T>(g, false, std::uint32_t(tested));
                                ++tested;
                                if (::testing::Test::HasFailure()) return;
                            }
    EXPECT_GT(tested, small ? 300u : 1500u);
}

TEST(Conv2d, SweepFloat) { conv_sweep<float>(false); }
TEST(Conv2d, SweepDouble) { conv_sweep<double>(true); }

// Shapes that exercise each path of the planner: several images per chunk with a ragged last
// chunk, uneven weight-gradient groups, a lone chunk whose GEMM runs threaded, the direct
// 1x1 path, and the seed model's layers (scaled down in N).
TEST(Conv2d, ChunkingAndThreads) {
    const conv2d_geometry cases[] = {
        geom(13, 3, 7, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1),       // nb = 6: chunks of 6, 6, 1
        geom(70, 2, 5, 5, 3, 3, 3, 2, 2, 1, 1, 1, 1),       // PQ = 9: nb = 29
        geom(11, 3, 32, 32, 4, 3, 3, 1, 1, 1, 1, 1, 1),     // 11 chunks in 8 groups
        geom(1, 8, 32, 32, 64, 3, 3, 1, 1, 1, 1, 1, 1),     // one chunk, threaded GEMM
        geom(3, 64, 16, 16, 32, 1, 1, 1, 1, 0, 0, 1, 1),    // direct 1x1
        geom(9, 5, 6, 6, 8, 1, 1, 1, 1, 0, 0, 1, 1),        // 1x1 batched through im2col
        geom(4, 3, 32, 32, 64, 3, 3, 1, 1, 1, 1, 1, 1),     // seed layer 1
        geom(2, 64, 16, 16, 32, 3, 3, 1, 1, 1, 1, 1, 1),    // seed layer 2 (fewer K)
        geom(17, 4, 9, 11, 5, 3, 2, 2, 3, 1, 2, 2, 1),      // everything uneven
        // Lone chunks: serial, the GEMM packs straight from the image (implicit im2col);
        // threaded, from the built im2col matrix. Two K blocks (CRS = 576 > KC) and dw^T;
        // strides and dilations with several B blocks (PQ = 1400 > NC) and ragged panels.
        geom(1, 64, 16, 16, 32, 3, 3, 1, 1, 1, 1, 1, 1),
        geom(1, 3, 72, 41, 8, 3, 2, 2, 1, 1, 0, 2, 1),
        geom(2, 40, 19, 23, 6, 3, 3, 1, 1, 0, 1, 1, 2),
    };
    for (const auto& g : cases) {
        check_conv<float>(g, true);
        check_conv<double>(g, true);
    }
}

TEST(Conv2d, WorkspaceDependsOnGeometryOnly) {
    const auto g = geom(64, 64, 16, 16, 128, 3, 3, 1, 1, 1, 1, 1, 1);
    // 8 slots of [576 x 256 columns + an 18 x 18 x 64 padded image] + 8 partial dw^T/dbias.
    EXPECT_EQ(ck::conv2d_workspace_size(g), 8 * (576 * 256 + 64 * 18 * 18) + 8 * (128 * 576 + 128));
}

// Central differences of L = <g, conv(x, w, b)> (exact for a linear map, up to rounding).
TEST(Conv2d, FiniteDifferences) {
    for (const auto& g : {geom(2, 3, 7, 5, 4, 3, 3, 2, 1, 1, 2, 1, 2), geom(3, 2, 6, 6, 3, 5, 5, 1, 1, 2, 2, 1, 1)}) {
        std::mt19937 rng(3);
        auto x = random_vec<double>(g.N * g.C * g.H * g.W, rng);
        auto w = random_vec<double>(g.K * g.C * g.R * g.S, rng);
        auto b = random_vec<double>(g.K, rng);
        const auto gy = random_vec<double>(g.N * g.K * g.P * g.Q, rng);
        kiln::exec::serial ser;
        const auto grad = run_conv(g, x, w, b, gy, ser);
        auto loss = [&] { return dot(gy, run_conv(g, x, w, b, gy, ser).y); };
        auto fd = [&](std::vector<double>& v, std::size_t i) {
            const double h = 1e-3, v0 = v[i];
            v[i] = v0 + h;
            const double up = loss();
            v[i] = v0 - h;
            const double down = loss();
            v[i] = v0;
            return (up - down) / (2 * h);
        };
        for (std::size_t i = 0; i < x.size(); i += 7) EXPECT_NEAR(fd(x, i), grad.dx[i], 1e-9) << "dx " << i;
        for (std::size_t i = 0; i < w.size(); i += 5) EXPECT_NEAR(fd(w, i), grad.dw[i], 1e-9) << "dw " << i;
        for (std::size_t i = 0; i < b.size(); ++i) EXPECT_NEAR(fd(b, i), grad.db[i], 1e-9) << "db " << i;
    }
}

// ---------------------------------------------------------------------------------------------
// Pooling

/// torch's max pooling, written tap by tap: the first inside tap, then any larger one or NaN.
template <class T>
void naive_max_pool(const pool2d_geometry& g, const std::vector<T>& x, std::vector<T>& y,
                    std::vector<std::int32_t>& am) {
    y.assign(g.N * g.C * g.P * g.Q, T(0));
    am.assign(y.size(), -1);
    for (std::size_t pl = 0; pl < g.N * g.C; ++pl)
        for (std::size_t p = 0; p < g.P; ++p)
            for (std::size_t q = 0; q < g.Q; ++q) {
                T m = -std::numeric_limits<T>::infinity();
                long best = -1;
                for (std::size_t i = 0; i < g.R; ++i)
                    for (std::size_t j = 0; j < g.S; ++j) {
                        const long h = long(p * g.stride_h + i * g.dil_h) - long(g.pad_h);
                        const long v = long(q * g.stride_w + j * g.dil_w) - long(g.pad_w);
                        if (h < 0 || h >= long(g.H) || v < 0 || v >= long(g.W)) continue;
                        const T val = x[pl * g.H * g.W + h * g.W + v];
                        if (best < 0 || val > m || std::isnan(val)) {
                            m = val;
                            best = h * long(g.W) + v;
                        }
                    }
                y[(pl * g.P + p) * g.Q + q] = m;
                am[(pl * g.P + p) * g.Q + q] = std::int32_t(best);
            }
}

/// Average pooling and its gradient in float64; the divisor counts taps by brute force.
template <class T>
void naive_avg_pool(const pool2d_geometry& g, const std::vector<T>& x, const std::vector<T>& dy, bool include_pad,
                    std::vector<double>& y, std::vector<double>& dx) {
    y.assign(g.N * g.C * g.P * g.Q, 0.0);
    dx.assign(g.N * g.C * g.H * g.W, 0.0);
    for (std::size_t pl = 0; pl < g.N * g.C; ++pl)
        for (std::size_t p = 0; p < g.P; ++p)
            for (std::size_t q = 0; q < g.Q; ++q) {
                double sum = 0;
                std::size_t count = 0;
                for (int pass = 0; pass < 2; ++pass)
                    for (std::size_t i = 0; i < g.R; ++i)
                        for (std::size_t j = 0; j < g.S; ++j) {
                            const long h = long(p * g.stride_h + i * g.dil_h) - long(g.pad_h);
                            const long v = long(q * g.stride_w + j * g.dil_w) - long(g.pad_w);
                            const bool inside = h >= 0 && h < long(g.H) && v >= 0 && v < long(g.W);
                            const bool in_pad = h < long(g.H + g.pad_h) && v < long(g.W + g.pad_w);
                            const std::size_t yi = (pl * g.P + p) * g.Q + q;
                            if (pass == 0) {
                                count += include_pad ? in_pad : inside;
                                if (inside) sum += x[pl * g.H * g.W + h * g.W + v];
                            } else if (inside && count > 0) {
                                dx[pl * g.H * g.W + h * g.W + v] += double(dy[yi]) / double(count);
                            }
                            if (pass == 0 && i + 1 == g.R && j + 1 == g.S) y[yi] = count ? sum / double(count) : 0.0;
                        }
            }
}

pool2d_geometry pgeom(std::size_t N, std::size_t C, std::size_t H, std::size_t W, std::size_t R, std::size_t S,
                      std::size_t sh, std::size_t sw, std::size_t ph, std::size_t pw, std::size_t dh, std::size_t dw,
                      bool ceil) {
    return pool2d_geometry{.N = N, .C = C, .H = H, .W = W, .R = R, .S = S, .stride_h = sh, .stride_w = sw,
                           .pad_h = ph, .pad_w = pw, .dil_h = dh, .dil_w = dw, .ceil_mode = ceil}
        .with_output();
}

template <class T>
void check_pool(const pool2d_geometry& g, bool threads, std::uint32_t seed) {
    SCOPED_TRACE(::testing::Message() << (sizeof(T) == 4 ? "float" : "double") << " N=" << g.N << " C=" << g.C
                                      << " HxW=" << g.H << "x" << g.W << " RxS=" << g.R << "x" << g.S
                                      << " stride=" << g.stride_h << "," << g.stride_w << " pad=" << g.pad_h << ","
                                      << g.pad_w << " dil=" << g.dil_h << "," << g.dil_w << " ceil=" << g.ceil_mode);
    std::mt19937 rng(seed);
    // Few distinct values, so windows hold ties and the first-tap rule is exercised.
    std::vector<T> x(g.N * g.C * g.H * g.W);
    std::uniform_int_distribution<int> small(-2, 2);
    for (auto& v : x) v = T(small(rng));
    const auto dy = random_vec<T>(g.N * g.C * g.P * g.Q, rng);

    std::vector<T> y_ref;
    std::vector<std::int32_t> am_ref;
    naive_max_pool(g, x, y_ref, am_ref);
    // Each dx element sums a few dy in output order, the order the kernel uses: exact match.
    std::vector<T> dx_ref(x.size(), T(0));
    for (std::size_t o = 0; o < y_ref.size(); ++o)
        if (am_ref[o] >= 0) dx_ref[o / (g.P * g.Q) * g.H * g.W + std::size_t(am_ref[o])] += dy[o];

    auto run_max = [&](auto& ex, std::vector<T>& y, std::vector<std::int32_t>& am, std::vector<T>& dx) {
        y = nan_vec<T>(y_ref.size());
        am.assign(y_ref.size(), 12345);
        dx = nan_vec<T>(x.size());
        ck::max_pool2d_forward(g, x.data(), y.data(), am.data(), ex);
        ck::max_pool2d_backward(g, dy.data(), am.data(), dx.data(), ex);
    };
    std::vector<T> y, dx;
    std::vector<std::int32_t> am;
    run_max(pool(1), y, am, dx);
    EXPECT_TRUE(same_bits(y, y_ref)) << "max forward";
    EXPECT_EQ(am, am_ref) << "argmax";
    EXPECT_TRUE(same_bits(dx, dx_ref)) << "max backward";
    if (threads)
        for (std::size_t t : {2, 3}) {
            std::vector<T> y2, dx2;
            std::vector<std::int32_t> am2;
            run_max(pool(t), y2, am2, dx2);
            EXPECT_TRUE(same_bits(y, y2) && am == am2 && same_bits(dx, dx2)) << t << " threads: max";
        }

    for (bool include_pad : {true, false}) {
        std::vector<double> ya_ref, dxa_ref;
        naive_avg_pool(g, x, dy, include_pad, ya_ref, dxa_ref);
        auto run_avg = [&](auto& ex, std::vector<T>& ya, std::vector<T>& dxa) {
            ya = nan_vec<T>(ya_ref.size());
            dxa = nan_vec<T>(x.size());
            ck::avg_pool2d_forward(g, x.data(), ya.data(), include_pad, ex);
            ck::avg_pool2d_backward(g, dy.data(), dxa.data(), include_pad, ex);
        };
        std::vector<T> ya, dxa;
        run_avg(pool(1), ya, dxa);
        const double tol = 4.0 * double(g.R * g.S + 2) * unit_roundoff<T> * 2.0 * double(g.R * g.S);
        for (std::size_t i = 0; i < ya.size(); ++i)
            ASSERT_NEAR(double(ya[i]), ya_ref[i], tol) << "avg y " << i << " include_pad=" << include_pad;
        for (std::size_t i = 0; i < dxa.size(); ++i)
            ASSERT_NEAR(double(dxa[i]), dxa_ref[i], tol) << "avg dx " << i << " include_pad=" << include_pad;
        if (threads)
            for (std::size_t t : {2, 3}) {
                std::vector<T> ya2, dxa2;
                run_avg(pool(t), ya2, dxa2);
                EXPECT_TRUE(same_bits(ya, ya2) && same_bits(dxa, dxa2)) << t << " threads: avg";
            }
    }
}

template <class T>
void pool_sweep() {
    struct hw { std::size_t h, w; };
    const hw spatial[] = {{1, 1}, {5, 5}, {7, 7}, {32, 32}, {5, 7}, {1, 6}};
    const hw kernels[] = {{1, 1}, {2, 2}, {3, 3}, {5, 5}, {2, 3}};
    const hw strides[] = {{0, 0}, {1, 1}, {2, 2}, {1, 2}};
    std::size_t tested = 0;
    for (hw sp : spatial)
        for (hw k : kernels)
            for (hw st : strides)
                for (std::size_t pad : {0, 1, 2})
                    for (std::size_t dil : {1, 2})
                        for (bool ceil : {false, true})
                            for (std::size_t C : {1, 3}) {
                                // torch allows padding up to half the window only.
                                const std::size_t ph = std::min(pad, k.h / 2), pw = std::min(pad, k.w / 2);
                                const auto g = pgeom(2, C, sp.h, sp.w, k.h, k.w, st.h, st.w, ph, pw, dil, dil, ceil);
                                if (g.P == 0 || g.Q == 0) continue;
                                check_pool<T>(g, false, std::uint32_t(tested++));
                                if (::testing::Test::HasFailure()) return;
                            }
    EXPECT_GT(tested, 1000u);
}

TEST(Pool2d, SweepFloat) { pool_sweep<float>(); }
TEST(Pool2d, SweepDouble) { pool_sweep<double>(); }

TEST(Pool2d, Threads) {
    for (const auto& g : {pgeom(16, 64, 32, 32, 2, 2, 0, 0, 0, 0, 1, 1, false),
                          pgeom(5, 7, 33, 17, 3, 3, 2, 2, 1, 1, 1, 1, true)}) {
        check_pool<float>(g, true, 1);
        check_pool<double>(g, true, 2);
    }
}

// Past the kernels' precomputed tables (more than 64 taps or window columns) and rows wider
// than one block of outputs (256).
TEST(Pool2d, LargeWindowsAndWideRows) {
    check_pool<float>(pgeom(1, 2, 20, 21, 9, 9, 1, 2, 4, 3, 1, 1, false), false, 3);
    check_pool<float>(pgeom(1, 1, 3, 70, 1, 66, 1, 1, 0, 33, 1, 1, false), false, 4);
    check_pool<double>(pgeom(2, 2, 5, 600, 2, 2, 1, 2, 1, 1, 1, 1, true), true, 5);
}

TEST(Pool2d, Geometry) {
    // torch: MaxPool2d(2) on 7x7 gives 3x3, with ceil_mode 4x4; (5, k3, s2, p1, ceil) gives 3.
    EXPECT_EQ(pgeom(1, 1, 7, 7, 2, 2, 0, 0, 0, 0, 1, 1, false).P, 3u);
    EXPECT_EQ(pgeom(1, 1, 7, 7, 2, 2, 0, 0, 0, 0, 1, 1, true).P, 4u);
    EXPECT_EQ(pgeom(1, 1, 5, 5, 3, 3, 2, 2, 1, 1, 1, 1, true).P, 3u);
    EXPECT_EQ(pgeom(1, 1, 6, 6, 3, 3, 2, 2, 1, 1, 1, 1, true).P, 4u);
    EXPECT_EQ(pgeom(1, 1, 6, 6, 3, 3, 2, 2, 0, 0, 1, 1, true).P, 3u);
    EXPECT_EQ(pgeom(1, 1, 5, 5, 2, 2, 2, 2, 1, 1, 1, 1, true).P, 3u);  // a 4th window would start in the padding
}

TEST(Pool2d, NanAndInfinity) {
    const auto g = pgeom(1, 1, 2, 4, 2, 2, 0, 0, 0, 0, 1, 1, false);  // two windows of 2x2
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> x = {-inf, -inf, 1.0f, nan, -inf, -inf, nan, 5.0f};
    std::vector<float> y(2);
    std::vector<std::int32_t> am(2);
    kiln::exec::serial ser;
    ck::max_pool2d_forward(g, x.data(), y.data(), am.data(), ser);
    EXPECT_EQ(y[0], -inf);
    EXPECT_EQ(am[0], 0);   // all -inf: the first tap, like torch
    EXPECT_TRUE(std::isnan(y[1]));
    EXPECT_EQ(am[1], 6);   // NaN wins; a later NaN replaces an earlier one (torch's rule)
}


// The 2x2 / stride-2 / no-padding fast path against the generic tap kernel (called directly)
// and the generic scatter backward, bit for bit: odd sizes (the last row / column unused),
// ties, -0, infinities and NaNs anywhere (several in one window), dy with -0 and NaN, and the
// forward without argmax.
template <class T>
void pool_2x2_matches_generic(std::size_t H, std::size_t W, std::uint32_t seed) {
    const auto g = pgeom(2, 3, H, W, 2, 2, 0, 0, 0, 0, 1, 1, false);
    SCOPED_TRACE(::testing::Message() << (sizeof(T) == 4 ? "float" : "double") << " HxW=" << H << "x" << W);
    ASSERT_TRUE(ck::pool_detail::is_2x2_stride2(g));
    const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
    const T values[] = {-inf, T(-1), T(-0.0), T(0), T(1), T(2), inf, nan};
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> pick(0, 7);
    std::vector<T> x(g.N * g.C * g.H * g.W), dy(g.N * g.C * g.P * g.Q);
    for (auto& v : x) v = values[pick(rng)];
    for (auto& v : dy) v = values[pick(rng)];

    // Generic: the tap kernel plane by plane, then zero-fill and scatter-add.
    std::vector<T> y_ref = nan_vec<T>(dy.size()), dx_ref(x.size(), T(0));
    std::vector<std::int32_t> am_ref(dy.size(), 12345);
    const ck::pool_detail::tap_tables tt(g);
    for (std::size_t pl = 0; pl < g.N * g.C; ++pl)
        ck::pool_detail::max_plane(g, tt, x.data() + pl * g.H * g.W, y_ref.data() + pl * g.P * g.Q,
                                   am_ref.data() + pl * g.P * g.Q);
    for (std::size_t o = 0; o < dy.size(); ++o)
        dx_ref[o / (g.P * g.Q) * g.H * g.W + std::size_t(am_ref[o])] += dy[o];
    std::vector<T> y_naive;
    std::vector<std::int32_t> am_naive;
    naive_max_pool(g, x, y_naive, am_naive);
    EXPECT_TRUE(same_bits(y_ref, y_naive));
    EXPECT_EQ(am_ref, am_naive);

    for (std::size_t t : {1, 2, 3}) {
        std::vector<T> y = nan_vec<T>(dy.size()), y2 = nan_vec<T>(dy.size()), dx = nan_vec<T>(x.size());
        std::vector<std::int32_t> am(dy.size(), 12345);
        ck::max_pool2d_forward(g, x.data(), y.data(), am.data(), pool(t));
        ck::max_pool2d_forward(g, x.data(), y2.data(), static_cast<std::int32_t*>(nullptr), pool(t));
        ck::max_pool2d_backward(g, dy.data(), am.data(), dx.data(), pool(t));
        EXPECT_TRUE(same_bits(y, y_ref)) << t << " threads: forward";
        EXPECT_TRUE(same_bits(y2, y_ref)) << t << " threads: forward without argmax";
        EXPECT_EQ(am, am_ref) << t << " threads: argmax";
        EXPECT_TRUE(same_bits(dx, dx_ref)) << t << " threads: backward";
    }
}

TEST(Pool2d, FastPath2x2MatchesGeneric) {
    std::uint32_t seed = 10;
    for (std::size_t H : {2, 3, 8, 9})
        for (std::size_t W : {2, 3, 17, 32, 33, 70}) {
            pool_2x2_matches_generic<float>(H, W, seed++);
            pool_2x2_matches_generic<double>(H, W, seed++);
        }
    // Not the fast path: ceil mode with an odd size (a window hangs over the edge), padding.
    EXPECT_FALSE(ck::pool_detail::is_2x2_stride2(pgeom(1, 1, 5, 5, 2, 2, 0, 0, 0, 0, 1, 1, true)));
    EXPECT_TRUE(ck::pool_detail::is_2x2_stride2(pgeom(1, 1, 6, 6, 2, 2, 0, 0, 0, 0, 1, 1, true)));
    EXPECT_FALSE(ck::pool_detail::is_2x2_stride2(pgeom(1, 1, 6, 6, 2, 2, 0, 0, 1, 1, 1, 1, false)));
    EXPECT_FALSE(ck::pool_detail::is_2x2_stride2(pgeom(1, 1, 6, 6, 2, 2, 1, 1, 0, 0, 1, 1, false)));
}

TEST(Pool2d, FastPath2x2NanRules) {
    // One 2x4 plane, two windows: [1, nan; nan, 5] and [3, 3; 3, 3].
    const auto g = pgeom(1, 1, 2, 4, 2, 2, 0, 0, 0, 0, 1, 1, false);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> x = {1.0f, nan, 3.0f, 3.0f, nan, 5.0f, 3.0f, 3.0f};
    std::vector<float> y(2), dx(8);
    std::vector<std::int32_t> am(2);
    kiln::exec::serial ser;
    ck::max_pool2d_forward(g, x.data(), y.data(), am.data(), ser);
    EXPECT_TRUE(std::isnan(y[0]));
    EXPECT_EQ(am[0], 4);  // the later NaN
    EXPECT_EQ(y[1], 3.0f);
    EXPECT_EQ(am[1], 2);  // ties: the first tap
    const std::vector<float> dy = {-0.0f, 7.0f};
    ck::max_pool2d_backward(g, dy.data(), am.data(), dx.data(), ser);
    EXPECT_EQ(dx, (std::vector<float>{0, 0, 7, 0, 0, 0, 0, 0}));
    EXPECT_FALSE(std::signbit(dx[4]));  // 0 + -0 = +0, as the generic scatter gives
}

}  // namespace
