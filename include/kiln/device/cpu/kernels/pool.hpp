// 2-D max and average pooling for float/double on NCHW tensors, with torch.nn.MaxPool2d /
// AvgPool2d semantics: kernel, stride (0 = kernel size), padding, dilation, ceil_mode.
//  - max: padding acts as -inf (padded taps are skipped); ties keep the first tap in window
//    order and a NaN wins (like torch); argmax holds h*W + w within the input plane.
//  - avg: the divisor counts the taps inside the padded input (count_include_pad, torch's
//    default) or only those inside the input; a window's taps beyond the padding (ceil_mode)
//    never count, as in torch.
// Every (image, channel) plane is independent, so threads split planes and the results are
// bit-identical for any thread count. Nothing is allocated.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "kiln/core/geometry.hpp"
#include "kiln/core/simd.hpp"
#include "kiln/exec/thread_pool.hpp"

namespace kiln::cpu_kernels {

using kiln::pool2d_geometry;  // core/geometry.hpp: the device-neutral description

namespace pool_detail {

/// Taps k in [k0, k1) of a window starting at `start` land inside [lo, hi).
struct tap_range {
    std::size_t k0, k1;
};
inline tap_range taps(std::ptrdiff_t start, std::size_t dil, std::size_t k, std::ptrdiff_t lo, std::ptrdiff_t hi) {
    const auto d = static_cast<std::ptrdiff_t>(dil);
    if (d == 1) {  // the usual case, without divisions
        const std::ptrdiff_t k1 = std::clamp<std::ptrdiff_t>(hi - start, 0, static_cast<std::ptrdiff_t>(k));
        const std::ptrdiff_t k0 = std::clamp<std::ptrdiff_t>(lo - start, 0, k1);
        return {static_cast<std::size_t>(k0), static_cast<std::size_t>(k1)};
    }
    std::ptrdiff_t k0 = start >= lo ? 0 : (lo - start + d - 1) / d;
    std::ptrdiff_t k1 = start >= hi ? 0 : (hi - start + d - 1) / d;
    k1 = std::min<std::ptrdiff_t>(k1, static_cast<std::ptrdiff_t>(k));
    k0 = std::min(k0, k1);
    return {static_cast<std::size_t>(k0), static_cast<std::size_t>(k1)};
}

/// Window origin of output row i / column j (may be negative: padding).
inline std::ptrdiff_t origin(std::size_t i, std::size_t stride, std::size_t pad) {
    return static_cast<std::ptrdiff_t>(i * stride) - static_cast<std::ptrdiff_t>(pad);
}

/// The average's divisor is rows(i) * cols(j): the taps of output row i (column j) inside the
/// padded input (count_include_pad) or inside the input.
inline std::size_t avg_rows(const pool2d_geometry& g, std::size_t i, bool count_include_pad) {
    const auto p = static_cast<std::ptrdiff_t>(count_include_pad ? g.pad_h : 0);
    const tap_range t = taps(origin(i, g.stride_h, g.pad_h), g.dil_h, g.R, -p, static_cast<std::ptrdiff_t>(g.H) + p);
    return t.k1 - t.k0;
}
inline std::size_t avg_cols(const pool2d_geometry& g, std::size_t j, bool count_include_pad) {
    const auto p = static_cast<std::ptrdiff_t>(count_include_pad ? g.pad_w : 0);
    const tap_range t = taps(origin(j, g.stride_w, g.pad_w), g.dil_w, g.S, -p, static_cast<std::ptrdiff_t>(g.W) + p);
    return t.k1 - t.k0;
}

/// Calls f(plane_begin, plane_end) over the N*C planes, with chunks of ~64K elements (enough
/// to hide a fork-join, small enough to share among threads).
template <class Ex, class F>
void over_planes(const pool2d_geometry& g, Ex& ex, F&& f) {
    const std::size_t planes = g.N * g.C, per = std::max<std::size_t>(g.H * g.W + g.P * g.Q, 1);
    ex.parallel_for(planes, std::max<std::size_t>(1, (std::size_t(1) << 16) / per), f);
}

// Outputs are computed a block at a time (whole output rows when they are short, else part
// of one row), taps outermost: for each tap the block's input values are gathered into a
// contiguous buffer, `fill` where the tap falls outside the input, and then combined into the
// block with whole vectors. Every output still sees its taps in window order, the hot loop
// has no bounds logic and no data-dependent branch (a max comparison is a coin toss on real
// data), and per-tap work is amortised over many outputs even for 16-wide rows.
inline constexpr std::size_t block = 256;    // lanes; a multiple of every SIMD width
inline constexpr std::size_t max_table = 64;  // kernel taps whose offsets are precomputed

/// Per-call tables: the output columns each kernel column s reaches inside the input, and the
/// input offset (r*dil_h*W + s*dil_w) of each tap t = r*S + s. Computed on the fly past max_table.
struct tap_tables {
    tap_range cols[max_table];
    std::ptrdiff_t offs[max_table];
    explicit tap_tables(const pool2d_geometry& g) {
        for (std::size_t s = 0; s < std::min(g.S, max_table); ++s) cols[s] = cols_of(g, s);
        for (std::size_t t = 0; t < std::min(g.R * g.S, max_table); ++t) offs[t] = offset_of(g, t);
    }
    static tap_range cols_of(const pool2d_geometry& g, std::size_t s) {
        // j*stride_w + off inside [0, W)
        const std::ptrdiff_t off = static_cast<std::ptrdiff_t>(s * g.dil_w) - static_cast<std::ptrdiff_t>(g.pad_w);
        const auto st = static_cast<std::ptrdiff_t>(g.stride_w), W = static_cast<std::ptrdiff_t>(g.W);
        std::ptrdiff_t j0 = off >= 0 ? 0 : (-off + st - 1) / st;
        std::ptrdiff_t j1 = off >= W ? 0 : (W - off + st - 1) / st;
        j1 = std::min(j1, static_cast<std::ptrdiff_t>(g.Q));
        return {static_cast<std::size_t>(std::min(j0, j1)), static_cast<std::size_t>(j1)};
    }
    static std::ptrdiff_t offset_of(const pool2d_geometry& g, std::size_t t) {
        return static_cast<std::ptrdiff_t>((t / g.S) * g.dil_h * g.W + (t % g.S) * g.dil_w);
    }
    tap_range col(const pool2d_geometry& g, std::size_t s) const { return s < max_table ? cols[s] : cols_of(g, s); }
    std::ptrdiff_t offset(const pool2d_geometry& g, std::size_t t) const {
        return t < max_table ? offs[t] : offset_of(g, t);
    }
};

/// A block: output rows [i0, i0 + nr) x columns [jb, jb + n); lane l = row * n + column.
struct out_block {
    std::size_t i0, nr, jb, n;
};

/// Visits the blocks of one plane in order.
template <class F>
void for_each_block(const pool2d_geometry& g, F&& f) {
    const std::size_t n = std::min(block, g.Q), rows = std::max<std::size_t>(1, block / std::max<std::size_t>(g.Q, 1));
    for (std::size_t i0 = 0; i0 < g.P; i0 += rows)
        for (std::size_t jb = 0; jb < g.Q; jb += n)
            f(out_block{i0, std::min(rows, g.P - i0), jb, std::min(n, g.Q - jb)});
}

/// Calls f(buf, t) for each tap t = r*S + s that reaches the input from some output of block b,
/// in window order, with buf[l] = the tap's value for lane l (`fill` outside the input and for
/// the padding lanes up to a multiple of the SIMD width).
template <class T, class F>
void for_each_tap(const pool2d_geometry& g, const tap_tables& tt, const T* xp, const out_block& b, T fill, T* buf,
                  F&& f) {
    constexpr std::size_t w = simd::width<T>;
    const std::size_t lanes = b.nr * b.n;
    std::fill(buf + lanes, buf + (lanes + w - 1) / w * w, fill);
    const auto H = static_cast<std::ptrdiff_t>(g.H), W = static_cast<std::ptrdiff_t>(g.W);
    const auto sw = static_cast<std::ptrdiff_t>(g.stride_w);
    for (std::size_t r = 0; r < g.R; ++r)
        for (std::size_t s = 0; s < g.S; ++s) {
            const tap_range jr = tt.col(g, s);
            const std::size_t l1 = std::clamp(jr.k1, b.jb, b.jb + b.n) - b.jb;
            const std::size_t l0 = std::min(std::clamp(jr.k0, b.jb, b.jb + b.n) - b.jb, l1);
            if (l0 == l1) continue;
            bool any = false;
            for (std::size_t ri = 0; ri < b.nr; ++ri) {
                T* d = buf + ri * b.n;
                const std::ptrdiff_t h =
                    origin(b.i0 + ri, g.stride_h, g.pad_h) + static_cast<std::ptrdiff_t>(r * g.dil_h);
                if (h < 0 || h >= H) {
                    std::fill(d, d + b.n, fill);
                    continue;
                }
                any = true;
                // Input of lane (ri, l): row h, column (jb + l)*sw + s*dil_w - pad_w; inside for l in [l0, l1).
                const T* src = xp + h * W + static_cast<std::ptrdiff_t>(b.jb) * sw +
                               static_cast<std::ptrdiff_t>(s * g.dil_w) - static_cast<std::ptrdiff_t>(g.pad_w);
                // (Fills are usually empty; unguarded, each one is a libc memset call.)
                if (l0 > 0) std::fill(d, d + l0, fill);
                if (sw == 1)
                    std::copy(src + l0, src + l1, d + l0);
                else
                    for (std::size_t l = l0; l < l1; ++l) {
#if defined(__GNUC__)
                        // Keeps GCC from vectorising this into AVX-512 gathers, 5x slower on Zen 5.
                        __asm__("" : "+r"(l));
#endif
                        d[l] = src[static_cast<std::ptrdiff_t>(l) * sw];
                    }
                if (l1 < b.n) std::fill(d + l1, d + b.n, fill);
            }
            if (any) f(static_cast<const T*>(buf), r * g.S + s);
        }
}

/// Max pooling of one plane. A tap replaces the running max when it is larger or NaN (torch's
/// rule), so ties keep the first tap. The running argmax is the tap number, turned into an
/// input index at the end. Outside taps are -inf and never replace anything, so only a window
/// of -inf values ends without a tap; like torch's, its argmax is then its first inside tap.
template <class T>
void max_plane(const pool2d_geometry& g, const tap_tables& tt, const T* xp, T* yp, std::int32_t* ap) {
    using batch = simd::batch<T>;
    constexpr std::size_t w = simd::width<T>;
    const T ninf = -std::numeric_limits<T>::infinity();
    const auto W = static_cast<std::ptrdiff_t>(g.W);
    alignas(64) T buf[block], m[block], a[block];
    for_each_block(g, [&](const out_block& b) {
        const std::size_t nv = (b.nr * b.n + w - 1) / w * w;
        std::fill(m, m + nv, ninf);
        std::fill(a, a + nv, T(-1));
        for_each_tap(g, tt, xp, b, ninf, buf, [&](const T* v, std::size_t t) {
            const batch tap = simd::splat(static_cast<T>(t));
            for (std::size_t l = 0; l < nv; l += w) {
                const batch x = simd::load(v + l);
                batch mm = simd::load(m + l), aa = simd::load(a + l);
                const auto gt = x > mm;
                mm = simd::select(gt, x, mm);
                aa = simd::select(gt, tap, aa);
                // x == x is false only for NaN (xsimd's != is ordered: false for NaN too).
                const auto number = x == x;
                simd::store(m + l, simd::select(number, mm, x));
                simd::store(a + l, simd::select(number, aa, tap));
            }
        });
        for (std::size_t ri = 0; ri < b.nr; ++ri) {
            const std::size_t i = b.i0 + ri, o = i * g.Q + b.jb;
            std::copy(m + ri * b.n, m + ri * b.n + b.n, yp + o);
            if (!ap) continue;
            const std::ptrdiff_t h0 = origin(i, g.stride_h, g.pad_h);
            for (std::size_t l = 0; l < b.n; ++l) {
                const std::ptrdiff_t w0 = origin(b.jb + l, g.stride_w, g.pad_w);
                const T t = a[ri * b.n + l];
                std::ptrdiff_t idx = t >= T(0) ? h0 * W + w0 + tt.offset(g, static_cast<std::size_t>(t)) : -1;
                if (idx < 0) {  // rare: no tap replaced -inf
                    const tap_range rh = taps(h0, g.dil_h, g.R, 0, static_cast<std::ptrdiff_t>(g.H));
                    const tap_range rw = taps(w0, g.dil_w, g.S, 0, W);
                    if (rh.k0 < rh.k1 && rw.k0 < rw.k1)
                        idx = (h0 + static_cast<std::ptrdiff_t>(rh.k0 * g.dil_h)) * W + w0 +
                              static_cast<std::ptrdiff_t>(rw.k0 * g.dil_w);
                }
                ap[o + l] = static_cast<std::int32_t>(idx);
            }
        }
    });
}

/// The common case: 2x2 windows, stride 2, no padding or dilation, every window inside the
/// input (floor mode, or ceil mode where it changes nothing). Windows are disjoint and need no
/// gathering, so one plain pass over the input does; GCC vectorises the loops below (stride-2
/// loads, branch-free selects).
inline bool is_2x2_stride2(const pool2d_geometry& g) {
    return g.R == 2 && g.S == 2 && g.stride_h == 2 && g.stride_w == 2 && g.pad_h == 0 && g.pad_w == 0 &&
           g.dil_h == 1 && g.dil_w == 1 && 2 * g.P <= g.H && 2 * g.Q <= g.W;
}

/// max_plane for is_2x2_stride2 geometries, with the same rule and so the same results,
/// bit for bit: taps in window order (x[2i][2j], x[2i][2j+1], x[2i+1][2j], x[2i+1][2j+1]), a tap
/// replaces the running max when it is larger or NaN. The first tap starts the max (the
/// generic path's -inf start ends the same way: a first tap of -inf that nothing replaces is
/// also its fallback index).
template <class T>
void max_plane_2x2(const pool2d_geometry& g, const T* xp, T* yp, std::int32_t* ap) {
    const std::size_t W = g.W, Q = g.Q;
    const auto Wi = static_cast<std::int32_t>(W);
    for (std::size_t i = 0; i < g.P; ++i) {
        const T* __restrict r0 = xp + 2 * i * W;
        const T* __restrict r1 = r0 + W;
        T* __restrict y = yp + i * Q;
        if (!ap) {
            for (std::size_t j = 0; j < Q; ++j) {
                T m = r0[2 * j], v = r0[2 * j + 1];
                m = v > m || v != v ? v : m;
                v = r1[2 * j];
                m = v > m || v != v ? v : m;
                v = r1[2 * j + 1];
                y[j] = v > m || v != v ? v : m;
            }
            continue;
        }
        std::int32_t* __restrict a = ap + i * Q;
        const auto base = static_cast<std::int32_t>(2 * i * W);
        for (std::size_t j = 0; j < Q; ++j) {
            T m = r0[2 * j], v = r0[2 * j + 1];
            std::int32_t t = 0;
            bool u = v > m || v != v;
            m = u ? v : m;
            t = u ? 1 : t;
            v = r1[2 * j];
            u = v > m || v != v;
            m = u ? v : m;
            t = u ? Wi : t;
            v = r1[2 * j + 1];
            u = v > m || v != v;
            y[j] = u ? v : m;
            a[j] = base + 2 * static_cast<std::int32_t>(j) + (u ? Wi + 1 : t);
        }
    }
}

/// max_pool2d_backward of one plane for is_2x2_stride2 geometries: the windows are disjoint, so
/// every input element gets 0 + dy of its window's output if it is the argmax, else 0 (the
/// generic scatter's zero-fill-then-add, bit for bit: -0 becomes +0 the same way); each
/// element is written once.
template <class T>
void max_plane_2x2_backward(const pool2d_geometry& g, const T* dyp, const std::int32_t* ap, T* dxp) {
    const std::size_t W = g.W, Q = g.Q;
    for (std::size_t i = 0; i < g.P; ++i) {
        const T* __restrict dy = dyp + i * Q;
        const std::int32_t* __restrict a = ap + i * Q;
        for (std::size_t di = 0; di < 2; ++di) {
            const std::size_t h = 2 * i + di;
            T* __restrict dx = dxp + h * W;
            const auto base = static_cast<std::int32_t>(h * W);
            for (std::size_t j = 0; j < Q; ++j) {
                const std::int32_t e = base + 2 * static_cast<std::int32_t>(j);
                const T v = T(0) + dy[j];
                dx[2 * j] = a[j] == e ? v : T(0);
                dx[2 * j + 1] = a[j] == e + 1 ? v : T(0);
            }
            if (2 * Q < W) std::fill(dx + 2 * Q, dx + W, T(0));
        }
    }
    if (2 * g.P < g.H) std::fill(dxp + 2 * g.P * W, dxp + g.H * W, T(0));
}

/// Average pooling of one plane: window sums in window order (outside taps add 0), / divisor.
template <class T>
void avg_plane(const pool2d_geometry& g, const tap_tables& tt, const T* xp, T* yp, bool count_include_pad) {
    constexpr std::size_t w = simd::width<T>;
    alignas(64) T buf[block], acc[block];
    std::size_t cols[block];
    for_each_block(g, [&](const out_block& b) {
        const std::size_t nv = (b.nr * b.n + w - 1) / w * w;
        std::fill(acc, acc + nv, T(0));
        for_each_tap(g, tt, xp, b, T(0), buf, [&](const T* v, std::size_t) {
            for (std::size_t l = 0; l < nv; l += w) simd::store(acc + l, simd::load(acc + l) + simd::load(v + l));
        });
        for (std::size_t l = 0; l < b.n; ++l) cols[l] = avg_cols(g, b.jb + l, count_include_pad);
        for (std::size_t ri = 0; ri < b.nr; ++ri) {
            const std::size_t rows = avg_rows(g, b.i0 + ri, count_include_pad);
            T* y = yp + (b.i0 + ri) * g.Q + b.jb;
            for (std::size_t l = 0; l < b.n; ++l) {
                const std::size_t div = rows * cols[l];
                y[l] = div == 0 ? T(0) : acc[ri * b.n + l] / static_cast<T>(div);
            }
        }
    });
}

/// The adjoint of avg_plane: each tap's share dy / divisor is added to the input, taps outermost
/// (a fixed order for every element).
template <class T>
void avg_plane_backward(const pool2d_geometry& g, const tap_tables& tt, const T* dyp, T* dxp, bool count_include_pad) {
    alignas(64) T share[block];
    std::size_t cols[block];
    const auto H = static_cast<std::ptrdiff_t>(g.H), W = static_cast<std::ptrdiff_t>(g.W);
    const auto sw = static_cast<std::ptrdiff_t>(g.stride_w);
    std::fill(dxp, dxp + g.H * g.W, T(0));
    for_each_block(g, [&](const out_block& b) {
        for (std::size_t l = 0; l < b.n; ++l) cols[l] = avg_cols(g, b.jb + l, count_include_pad);
        for (std::size_t ri = 0; ri < b.nr; ++ri) {
            const std::size_t rows = avg_rows(g, b.i0 + ri, count_include_pad);
            const T* dy = dyp + (b.i0 + ri) * g.Q + b.jb;
            for (std::size_t l = 0; l < b.n; ++l) {
                const std::size_t div = rows * cols[l];
                share[ri * b.n + l] = div == 0 ? T(0) : dy[l] / static_cast<T>(div);
            }
        }
        for (std::size_t r = 0; r < g.R; ++r)
            for (std::size_t s = 0; s < g.S; ++s) {
                const tap_range jr = tt.col(g, s);
                const std::size_t l1 = std::clamp(jr.k1, b.jb, b.jb + b.n) - b.jb;
                const std::size_t l0 = std::min(std::clamp(jr.k0, b.jb, b.jb + b.n) - b.jb, l1);
                for (std::size_t ri = 0; ri < b.nr; ++ri) {
                    const std::ptrdiff_t h =
                        origin(b.i0 + ri, g.stride_h, g.pad_h) + static_cast<std::ptrdiff_t>(r * g.dil_h);
                    if (h < 0 || h >= H) continue;
                    T* d = dxp + h * W + static_cast<std::ptrdiff_t>(b.jb) * sw +
                           static_cast<std::ptrdiff_t>(s * g.dil_w) - static_cast<std::ptrdiff_t>(g.pad_w);
                    const T* v = share + ri * b.n;
                    for (std::size_t l = l0; l < l1; ++l) d[static_cast<std::ptrdiff_t>(l) * sw] += v[l];
                }
            }
    });
}

}  // namespace pool_detail

/// y[N,C,P,Q] = max over each window of x[N,C,H,W]; argmax[N,C,P,Q] (nullable) = h*W + w of
/// the chosen tap (-1 for a window with no tap inside the input: y is then -inf).
template <class T, class Ex>
void max_pool2d_forward(const pool2d_geometry& g, const T* x, T* y, std::int32_t* argmax, Ex& ex) {
    assert(g.valid() && "pool2d_geometry: call with_output()");
    if (pool_detail::is_2x2_stride2(g)) {
        pool_detail::over_planes(g, ex, [&](std::size_t b, std::size_t e) {
            for (std::size_t pl = b; pl < e; ++pl)
                pool_detail::max_plane_2x2(g, x + pl * g.H * g.W, y + pl * g.P * g.Q,
                                           argmax ? argmax + pl * g.P * g.Q : nullptr);
        });
        return;
    }
    const pool_detail::tap_tables tt(g);
    pool_detail::over_planes(g, ex, [&](std::size_t b, std::size_t e) {
        for (std::size_t pl = b; pl < e; ++pl)
            pool_detail::max_plane(g, tt, x + pl * g.H * g.W, y + pl * g.P * g.Q,
                                   argmax ? argmax + pl * g.P * g.Q : nullptr);
    });
}

/// dx[N,C,H,W] = sum of dy over the outputs whose argmax points at each element (overwritten).
template <class T, class Ex>
void max_pool2d_backward(const pool2d_geometry& g, const T* dy, const std::int32_t* argmax, T* dx, Ex& ex) {
    assert(g.valid() && "pool2d_geometry: call with_output()");
    if (pool_detail::is_2x2_stride2(g)) {
        pool_detail::over_planes(g, ex, [&](std::size_t b, std::size_t e) {
            for (std::size_t pl = b; pl < e; ++pl)
                pool_detail::max_plane_2x2_backward(g, dy + pl * g.P * g.Q, argmax + pl * g.P * g.Q,
                                                    dx + pl * g.H * g.W);
        });
        return;
    }
    pool_detail::over_planes(g, ex, [&](std::size_t b, std::size_t e) {
        for (std::size_t pl = b; pl < e; ++pl) {
            T* dxp = dx + pl * g.H * g.W;
            const T* dyp = dy + pl * g.P * g.Q;
            const std::int32_t* ap = argmax + pl * g.P * g.Q;
            std::fill(dxp, dxp + g.H * g.W, T(0));
            for (std::size_t o = 0; o < g.P * g.Q; ++o)
                if (ap[o] >= 0) dxp[ap[o]] += dyp[o];
        }
    });
}

/// y[N,C,P,Q] = sum over each window / divisor (see the top of this file).
template <class T, class Ex>
void avg_pool2d_forward(const pool2d_geometry& g, const T* x, T* y, bool count_include_pad, Ex& ex) {
    assert(g.valid() && "pool2d_geometry: call with_output()");
    const pool_detail::tap_tables tt(g);
    pool_detail::over_planes(g, ex, [&](std::size_t b, std::size_t e) {
        for (std::size_t pl = b; pl < e; ++pl)
            pool_detail::avg_plane(g, tt, x + pl * g.H * g.W, y + pl * g.P * g.Q, count_include_pad);
    });
}

/// dx[N,C,H,W] = sum over the windows containing each element of dy / divisor (overwritten).
template <class T, class Ex>
void avg_pool2d_backward(const pool2d_geometry& g, const T* dy, T* dx, bool count_include_pad, Ex& ex) {
    assert(g.valid() && "pool2d_geometry: call with_output()");
    const pool_detail::tap_tables tt(g);
    pool_detail::over_planes(g, ex, [&](std::size_t b, std::size_t e) {
        for (std::size_t pl = b; pl < e; ++pl)
            pool_detail::avg_plane_backward(g, tt, dy + pl * g.P * g.Q, dx + pl * g.H * g.W, count_include_pad);
    });
}

/// Same kernels on kiln::exec::default_pool(); count_include_pad defaults to torch's true.
template <class T>
void max_pool2d_forward(const pool2d_geometry& g, const T* x, T* y, std::int32_t* argmax) {
    max_pool2d_forward(g, x, y, argmax, exec::default_pool());
}
template <class T>
void max_pool2d_backward(const pool2d_geometry& g, const T* dy, const std::int32_t* argmax, T* dx) {
    max_pool2d_backward(g, dy, argmax, dx, exec::default_pool());
}
template <class T>
void avg_pool2d_forward(const pool2d_geometry& g, const T* x, T* y, bool count_include_pad = true) {
    avg_pool2d_forward(g, x, y, count_include_pad, exec::default_pool());
}
template <class T>
void avg_pool2d_backward(const pool2d_geometry& g, const T* dy, T* dx, bool count_include_pad = true) {
    avg_pool2d_backward(g, dy, dx, count_include_pad, exec::default_pool());
}

}  // namespace kiln::cpu_kernels
