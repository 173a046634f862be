// 2-D convolution for float/double, NCHW activations and KCRS (PyTorch OIHW) weights, as
// im2col + the packed GEMM:
//   forward          y_n[K, PQ]   = w[K, CRS] * cols_n[CRS, PQ] (+ bias)
//   backward data    dcols[CRS, PQ] = w^T * dy_n, then col2im scatter-adds into dx_n
//   backward weight  dw[K, CRS]   = sum_n dy_n * cols_n^T, dbias[k] = sum_n,pq dy_n[k, pq]
//
// Images are processed in chunks of `nb` images (nb > 1 only when one image's output is too
// small to keep the GEMM busy); a chunk's columns sit side by side in one [CRS, nb*PQ] matrix.
// im2col reads from a zero-padded copy of the image, so its inner loop is a plain (vector)
// copy of Q elements with no bounds tests; col2im accumulates into a padded buffer likewise.
//
// A grouped convolution (groups > 1: input channels c and output channels k meet only within
// one of `groups` equal blocks; depthwise is groups = C) runs as one convolution per group:
// C/groups input and K/groups output channels, weight rows [K/groups, C/groups*R*S] of its own,
// reading and writing images at the full tensors' strides (plan::x_img, plan::y_img).
//
// Threads take whole chunks, each thread using its own slot of the caller's workspace and a
// serial GEMM; a lone chunk runs its GEMM on the executor instead. Every image's result is
// computed by the same arithmetic whichever thread takes it, and the weight gradient is summed
// in a fixed number of groups (a function of the geometry only) added in a fixed order, so all
// results are bit-identical for any thread count.
#pragma once

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <type_traits>

#include "kiln/core/geometry.hpp"
#include "kiln/core/simd.hpp"
#include "kiln/device/cpu/kernels/gemm.hpp"
#include "kiln/exec/thread_pool.hpp"

namespace kiln::cpu_kernels {

using kiln::conv2d_geometry;  // core/geometry.hpp: the device-neutral description

namespace conv_detail {

// Workspace slots: at most this many threads work on one call. Reduction groups of the weight
// gradient: a constant (not the thread count) so the summation order never depends on threads.
inline constexpr std::size_t max_slots = 8;
inline constexpr std::size_t max_groups = 8;
// Images are batched until a chunk has this many output columns: below ~256 the GEMM's packing
// and edge tiles cost more than the arithmetic (the seed model's layers have PQ >= 256).
inline constexpr std::size_t target_cols = 256;

constexpr std::size_t div_up(std::size_t a, std::size_t b) { return (a + b - 1) / b; }
constexpr std::size_t round_up(std::size_t a, std::size_t b) { return div_up(a, b) * b; }

/// One group of a (grouped) convolution as a convolution of its own.
constexpr conv2d_geometry group_geometry(const conv2d_geometry& g) {
    conv2d_geometry s = g;
    const std::size_t G = std::max<std::size_t>(g.groups, 1);
    s.C = g.C / G;
    s.K = g.K / G;
    s.groups = 1;
    return s;
}

/// How a geometry is cut into chunks and how the workspace is laid out (in elements):
/// slots x [cols | gathered | padded], then one [dw partial | dbias partial] per reduction
/// group but the first (every group when dw_t: group 0 needs one too).
struct plan {
    std::size_t crs, pq, chw, kpq;  // one group's: im2col rows, outputs per channel, image, output image
    std::size_t x_img, y_img;       // distance between images in x and y (all groups)
    std::size_t nb, chunks, slots, groups;
    std::size_t hp, wp;       // padded input extent
    bool direct;              // 1x1, stride 1, no padding, one image per chunk: cols == x
    bool padded;              // im2col/col2im need the padded copy
    bool dw_t;                // the weight gradient GEMM computes dw^T (see backward_weight_group)
    std::size_t cols, gathered, pad, slot;
    std::size_t partial;      // one group's dw + dbias
};

constexpr plan make_plan(const conv2d_geometry& full) {
    const conv2d_geometry g = group_geometry(full);  // sizes below are one group's
    plan p{};
    p.x_img = full.C * full.H * full.W;
    p.y_img = full.K * full.P * full.Q;
    p.crs = g.C * g.R * g.S;
    p.pq = g.P * g.Q;
    p.chw = g.C * g.H * g.W;
    p.kpq = g.K * p.pq;
    p.nb = p.pq == 0 ? 1 : std::clamp<std::size_t>(div_up(target_cols, p.pq), 1, std::max<std::size_t>(g.N, 1));
    p.chunks = div_up(g.N, p.nb);
    p.slots = std::clamp<std::size_t>(p.chunks, 1, max_slots);
    p.groups = std::clamp<std::size_t>(p.chunks, 1, max_groups);
    p.hp = g.H + 2 * g.pad_h;
    p.wp = g.W + 2 * g.pad_w;
    p.direct = p.nb == 1 && g.R == 1 && g.S == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 &&
               g.pad_w == 0;
    p.padded = !p.direct && (g.pad_h > 0 || g.pad_w > 0);
    p.cols = p.direct ? 0 : p.crs * p.nb * p.pq;
    p.gathered = p.nb > 1 ? p.kpq * p.nb : 0;
    p.pad = p.padded ? g.C * p.hp * p.wp : 0;
    // Whole cache lines per slot, so threads never write the same line.
    p.slot = round_up(p.cols + p.gathered + p.pad, 16);
    p.partial = round_up(g.K * p.crs + g.K, 16);
    // dw^T = cols * dy^T packs cols as op(A) (straight from the image when a chunk is one
    // image, see use_implicit) and transposes dy, the smaller operand when CRS > K; with one
    // image per chunk it wins even when CRS < K, as it never builds cols (the seed model's
    // layer 1, CRS = 27, K = 64: 3.2 -> 2.5 ms).
    p.dw_t = p.crs > g.K || (p.nb == 1 && !p.direct);
    return p;
}

template <class T>
inline void copy_n(const T* src, T* dst, std::size_t n) {
    constexpr std::size_t w = simd::width<T>;
    std::size_t i = 0;
    for (; i + w <= n; i += w) simd::store(dst + i, simd::load(src + i));
    for (; i < n; ++i) dst[i] = src[i];
}

/// dst[i] += src[i]
template <class T>
inline void add_n(const T* src, T* dst, std::size_t n) {
    constexpr std::size_t w = simd::width<T>;
    std::size_t i = 0;
    for (; i + w <= n; i += w) simd::store(dst + i, simd::load(dst + i) + simd::load(src + i));
    for (; i < n; ++i) dst[i] += src[i];
}

/// dst[i] = src[i] + v
template <class T>
inline void copy_add_n(const T* src, T* dst, std::size_t n, T v) {
    constexpr std::size_t w = simd::width<T>;
    const simd::batch<T> vv = simd::splat(v);
    std::size_t i = 0;
    for (; i + w <= n; i += w) simd::store(dst + i, simd::load(src + i) + vv);
    for (; i < n; ++i) dst[i] = src[i] + v;
}

template <class T>
inline T sum_n(const T* src, std::size_t n) {
    constexpr std::size_t w = simd::width<T>;
    simd::batch<T> acc = simd::splat(T(0));
    std::size_t i = 0;
    for (; i + w <= n; i += w) acc += simd::load(src + i);
    T s = simd::reduce_add(acc);
    for (; i < n; ++i) s += src[i];
    return s;
}

/// One image [C, H, W] into [C, hp, wp] with zero borders. (One fill per channel: GCC turns
/// per-row border loops into thousands of tiny memset calls, 10x the cost.)
template <class T>
void pad_image(const conv2d_geometry& g, const plan& p, const T* x, T* xp) {
    for (std::size_t c = 0; c < g.C; ++c) {
        T* dst = xp + c * p.hp * p.wp;
        std::fill(dst, dst + p.hp * p.wp, T(0));
        dst += g.pad_h * p.wp + g.pad_w;
        for (std::size_t h = 0; h < g.H; ++h, dst += p.wp) copy_n(x + (c * g.H + h) * g.W, dst, g.W);
    }
}

/// cols[(c,r,s), (p,q)] = xp[c, p*sh + r*dh, q*sw + s*dw] for one (padded) image; row stride ldc.
/// The output-size formula keeps every index inside the padded image.
template <class T>
void im2col(const conv2d_geometry& g, const T* xp, std::size_t hp, std::size_t wp, T* cols, std::size_t ldc) {
    T* row = cols;
    for (std::size_t c = 0; c < g.C; ++c)
        for (std::size_t r = 0; r < g.R; ++r)
            for (std::size_t s = 0; s < g.S; ++s, row += ldc) {
                const T* src = xp + (c * hp + r * g.dil_h) * wp + s * g.dil_w;
                T* dst = row;
                for (std::size_t i = 0; i < g.P; ++i, dst += g.Q, src += g.stride_h * wp) {
                    if (g.stride_w == 1)
                        copy_n(src, dst, g.Q);
                    else
                        for (std::size_t q = 0; q < g.Q; ++q) dst[q] = src[q * g.stride_w];
                }
            }
}

/// The adjoint of im2col: xp[c, p*sh + r*dh, q*sw + s*dw] += cols[(c,r,s), (p,q)], into a zeroed
/// xp. Each element of xp receives its terms in (r, s) order, a fixed order.
template <class T>
void col2im(const conv2d_geometry& g, const T* cols, std::size_t ldc, T* xp, std::size_t hp, std::size_t wp) {
    const T* row = cols;
    for (std::size_t c = 0; c < g.C; ++c)
        for (std::size_t r = 0; r < g.R; ++r)
            for (std::size_t s = 0; s < g.S; ++s, row += ldc) {
                T* dst = xp + (c * hp + r * g.dil_h) * wp + s * g.dil_w;
                const T* src = row;
                for (std::size_t i = 0; i < g.P; ++i, src += g.Q, dst += g.stride_h * wp) {
                    if (g.stride_w == 1)
                        add_n(src, dst, g.Q);
                    else
                        for (std::size_t q = 0; q < g.Q; ++q) dst[q * g.stride_w] += src[q];
                }
            }
}

/// Row i = (c, r, s) of one image's im2col matrix (column j = p*Q + q) read in order from the
/// image xp (padded or not) of extent hp x wp: take(n, dst) writes the next n elements, as
/// im2col would have written them.
template <class T>
struct cols_row {
    const conv2d_geometry& g;
    const T* xr;  // the row's element (p, q) is xr[p * stride_h * wp + q * stride_w]
    std::size_t wp, p, q;

    cols_row(const conv2d_geometry& geo, const T* xp, std::size_t hp, std::size_t w_p, std::size_t i, std::size_t j)
        : g(geo), wp(w_p), p(j / geo.Q), q(j % geo.Q) {
        const std::size_t rs = g.R * g.S, c = i / rs, r = i % rs / g.S, s = i % g.S;
        xr = xp + (c * hp + r * g.dil_h) * wp + s * g.dil_w;
    }
    void take(std::size_t len, T* dst) {
        while (len > 0) {
            const std::size_t n = std::min(g.Q - q, len);
            const T* src = xr + p * g.stride_h * wp + q * g.stride_w;
            // (copy_n only with vectors: in the scalar mode GCC warns about its tail loop here.)
            if constexpr (simd::width<T> > 1) {
                if (g.stride_w == 1) {
                    copy_n(src, dst, n);
                } else {
                    for (std::size_t k = 0; k < n; ++k) dst[k] = src[k * g.stride_w];
                }
            } else {
                for (std::size_t k = 0; k < n; ++k) dst[k] = src[k * g.stride_w];
            }
            dst += n;
            len -= n;
            q += n;
            if (q == g.Q) {
                q = 0;
                ++p;
            }
        }
    }
};

/// Implicit im2col: the GEMM's packers for one image's im2col matrix, straight from the
/// (padded) image, so the [CRS, PQ] matrix is never written and read back. pack_b packs it as
/// op(B) (the forward's y = w * cols), pack_a as op(A) in the row layout (the weight gradient's
/// dw^T = cols * dy^T); zero padding as gemm_detail::pack_b / pack_a write it.
template <class T>
struct cols_packer {
    const conv2d_geometry& g;
    const T* xp;
    std::size_t hp, wp;

    void pack_b(std::size_t p0, std::size_t j0, std::size_t n, std::size_t kc, T* dst) const {
        constexpr std::size_t nr = gemm_detail::blocking<T>::nr;
        for (std::size_t k = 0; k < kc; ++k) {
            cols_row<T> row(g, xp, hp, wp, p0 + k, j0);
            for (std::size_t jr = 0; jr < n; jr += nr) {
                const std::size_t len = std::min(nr, n - jr);
                T* d = dst + jr * kc + k * nr;
                row.take(len, d);
                if (len < nr) std::fill(d + len, d + nr, T(0));
            }
        }
    }
    void pack_a(std::size_t i0, std::size_t p0, std::size_t m, std::size_t kc, T* dst) const {
        constexpr std::size_t mr = gemm_detail::blocking<T>::mr, KC = gemm_detail::blocking<T>::kc;
        for (std::size_t ir = 0; ir < m; ir += mr, dst += mr * KC) {
            const std::size_t rows = std::min(mr, m - ir);
            for (std::size_t r = 0; r < rows; ++r) cols_row<T>(g, xp, hp, wp, i0 + ir + r, p0).take(kc, dst + r * KC);
            for (std::size_t r = rows; r < mr; ++r) std::fill(dst + r * KC, dst + r * KC + kc, T(0));
        }
    }
};

/// The packer for image n of a one-image chunk (padding it into the workspace if needed).
template <class T>
cols_packer<T> implicit_cols(const conv2d_geometry& g, const plan& p, const T* x, std::size_t n, T* ws) {
    const T* xi = x + n * p.x_img;
    if (!p.padded) return {g, xi, g.H, g.W};
    T* xp = ws + p.cols + p.gathered;
    pad_image(g, p, xi, xp);
    return {g, xp, p.hp, p.wp};
}

/// Whether a chunk's GEMM packs from the image instead of a built im2col matrix: one image,
/// not a direct 1x1 convolution, and a product gemm() would run as one serial blocked GEMM
/// (so the results are gemm()'s, bit for bit, whichever way a chunk is computed).
template <class T, class Ex>
bool use_implicit(const plan& p, bool tb, std::size_t M, std::size_t N, std::size_t K, Ex& gex) {
    return p.nb == 1 && !p.direct && gemm_detail::runs_blocked_serial<T>(tb, M, N, K, gex.size());
}

/// cols for images [n0, n0 + nb) side by side, row stride nb*PQ; returns the matrix to use
/// (x itself for a direct 1x1 convolution).
template <class T>
const T* build_cols(const conv2d_geometry& g, const plan& p, const T* x, std::size_t n0, std::size_t nb, T* ws) {
    if (p.direct) return x + n0 * p.x_img;
    T* cols = ws;
    T* xp = ws + p.cols + p.gathered;
    for (std::size_t i = 0; i < nb; ++i) {
        const T* xi = x + (n0 + i) * p.x_img;
        if (p.padded) pad_image(g, p, xi, xp);
        im2col(g, p.padded ? xp : xi, p.padded ? p.hp : g.H, p.padded ? p.wp : g.W, cols + i * p.pq, nb * p.pq);
    }
    return cols;
}

/// dy for images [n0, n0 + nb) as one [K, nb*PQ] matrix (a copy only when nb > 1).
template <class T>
const T* gather_dy(const plan& p, std::size_t K, const T* dy, std::size_t n0, std::size_t nb, T* ws) {
    if (nb == 1) return dy + n0 * p.y_img;
    T* out = ws + p.cols;
    for (std::size_t i = 0; i < nb; ++i)
        for (std::size_t k = 0; k < K; ++k)
            copy_n(dy + (n0 + i) * p.y_img + k * p.pq, out + k * nb * p.pq + i * p.pq, p.pq);
    return out;
}

/// w packed once per call as the forward GEMM's op(A) (K x CRS) and the backward data GEMM's
/// (w^T, CRS x K), for every chunk that runs a serial blocked GEMM (see use_blocked); nullptr
/// when there is one chunk (nothing to share).
template <class T>
const T* prepack_w(const conv2d_geometry& g, const plan& p, const T* w, bool transposed) {
    if (p.chunks <= 1) return nullptr;
    const std::size_t M = transposed ? p.crs : g.K, K = transposed ? g.K : p.crs;
    T* dst = gemm_detail::prepack_scratch<T>(gemm_detail::prepacked_a_size<T>(M, K));
    gemm_detail::prepack_a(transposed, w, p.crs, M, K, dst);
    return dst;
}

/// Whether a chunk's product runs as one serial blocked GEMM (gemm()'s results, bit for bit).
template <class T, class Ex>
bool use_blocked(bool tb, std::size_t M, std::size_t N, std::size_t K, Ex& gex) {
    return gemm_detail::runs_blocked_serial<T>(tb, M, N, K, gex.size());
}

template <class T, class Ex>
void forward_chunk(const conv2d_geometry& g, const plan& p, std::size_t chunk, const T* x, const T* w,
                   const T* wpack, const T* bias, T* y, T* ws, Ex& gex) {
    const std::size_t n0 = chunk * p.nb, nb = std::min(p.nb, g.N - n0), ld = nb * p.pq;
    const bool blocked = use_blocked<T>(false, g.K, ld, p.crs, gex);
    auto pack_w = [&](std::size_t i0, std::size_t p0, std::size_t m, std::size_t kc, T* dst) {
        if (wpack) return gemm_detail::prepacked_a_block(wpack, g.K, p.crs, i0, p0);
        gemm_detail::pack_a(false, w, p.crs, i0, p0, m, kc, dst);
        return static_cast<const T*>(dst);
    };
    T* out = nb == 1 ? y + n0 * p.y_img : ws + p.cols;  // several images: [K, nb*PQ], scattered below
    if (blocked && nb == 1 && !p.direct) {
        const cols_packer<T> cp = implicit_cols(g, p, x, n0, ws);
        gemm_detail::blocked_gemm_with<T>(
            false, g.K, ld, p.crs, T(1), pack_w,
            [&](std::size_t p0, std::size_t j0, std::size_t n, std::size_t kc, T* dst) { cp.pack_b(p0, j0, n, kc, dst); },
            T(0), out, ld);
    } else {
        const T* cols = build_cols(g, p, x, n0, nb, ws);
        if (blocked)
            gemm_detail::blocked_gemm_with<T>(
                false, g.K, ld, p.crs, T(1), pack_w,
                [&](std::size_t p0, std::size_t j0, std::size_t n, std::size_t kc, T* dst) {
                    gemm_detail::pack_b(false, cols, ld, p0, j0, n, kc, dst);
                },
                T(0), out, ld);
        else
            gemm<T>(false, false, g.K, ld, p.crs, T(1), w, p.crs, cols, ld, T(0), out, ld, gex);
    }
    if (nb == 1) {
        if (bias)
            for (std::size_t k = 0; k < g.K; ++k) copy_add_n(out + k * p.pq, out + k * p.pq, p.pq, bias[k]);
        return;
    }
    for (std::size_t i = 0; i < nb; ++i)
        for (std::size_t k = 0; k < g.K; ++k)
            copy_add_n(out + k * ld + i * p.pq, y + (n0 + i) * p.y_img + k * p.pq, p.pq, bias ? bias[k] : T(0));
}

template <class T, class Ex>
void backward_data_chunk(const conv2d_geometry& g, const plan& p, std::size_t chunk, const T* dy, const T* w,
                         const T* wpack, T* dx, T* ws, Ex& gex) {
    const std::size_t n0 = chunk * p.nb, nb = std::min(p.nb, g.N - n0), ld = nb * p.pq;
    const T* dyc = gather_dy(p, g.K, dy, n0, nb, ws);
    T* dcols = p.direct ? dx + n0 * p.x_img : ws;
    if (wpack && use_blocked<T>(false, p.crs, ld, g.K, gex))
        gemm_detail::blocked_gemm_with<T>(
            true, p.crs, ld, g.K, T(1),
            [&](std::size_t i0, std::size_t p0, std::size_t, std::size_t, T*) {
                return gemm_detail::prepacked_a_block(wpack, p.crs, g.K, i0, p0);
            },
            [&](std::size_t p0, std::size_t j0, std::size_t n, std::size_t kc, T* dst) {
                gemm_detail::pack_b(false, dyc, ld, p0, j0, n, kc, dst);
            },
            T(0), dcols, ld);
    else
        gemm<T>(true, false, p.crs, ld, g.K, T(1), w, p.crs, dyc, ld, T(0), dcols, ld, gex);
    if (p.direct) return;
    T* xp = ws + p.cols + p.gathered;
    for (std::size_t i = 0; i < nb; ++i) {
        T* dxi = dx + (n0 + i) * p.x_img;
        T* acc = p.padded ? xp : dxi;
        std::fill(acc, acc + (p.padded ? p.pad : p.chw), T(0));
        col2im(g, dcols + i * p.pq, ld, acc, p.padded ? p.hp : g.H, p.padded ? p.wp : g.W);
        if (p.padded)
            for (std::size_t c = 0; c < g.C; ++c)
                for (std::size_t h = 0; h < g.H; ++h)
                    copy_n(xp + (c * p.hp + h + g.pad_h) * p.wp + g.pad_w, dxi + (c * g.H + h) * g.W, g.W);
    }
}

/// One reduction group: chunks [c0, c1) summed into dw (dw^T if p.dw_t) and dbias (both
/// overwritten) in chunk order.
template <class T, class Ex>
void backward_weight_group(const conv2d_geometry& g, const plan& p, std::size_t c0, std::size_t c1, const T* x,
                           const T* dy, T* dw, T* dbias, T* ws, Ex& gex) {
    for (std::size_t chunk = c0; chunk < c1; ++chunk) {
        const std::size_t n0 = chunk * p.nb, nb = std::min(p.nb, g.N - n0), ld = nb * p.pq;
        const T* dyc = gather_dy(p, g.K, dy, n0, nb, ws);
        const bool first = chunk == c0;
        // dw^T = cols * dy^T when p.dw_t (see make_plan): the GEMM then transposes (packs) dy
        // instead of cols (12% faster on the seed model's layer 2) and can pack cols from the image.
        const bool implicit = p.dw_t && use_implicit<T>(p, true, p.crs, g.K, ld, gex);
        const T* cols = implicit ? nullptr : build_cols(g, p, x, n0, nb, ws);
        if (implicit) {
            const cols_packer<T> cp = implicit_cols(g, p, x, n0, ws);
            gemm_detail::blocked_gemm_with<T>(
                false, p.crs, g.K, ld, T(1),
                [&](std::size_t i0, std::size_t p0, std::size_t m, std::size_t kc, T* dst) {
                    cp.pack_a(i0, p0, m, kc, dst);
                    return static_cast<const T*>(dst);
                },
                [&](std::size_t p0, std::size_t j0, std::size_t n, std::size_t kc, T* dst) {
                    gemm_detail::pack_b(true, dyc, ld, p0, j0, n, kc, dst);
                },
                first ? T(0) : T(1), dw, g.K);
        } else if (p.dw_t)
            gemm<T>(false, true, p.crs, g.K, ld, T(1), cols, ld, dyc, ld, first ? T(0) : T(1), dw, g.K, gex);
        else
            gemm<T>(false, true, g.K, p.crs, ld, T(1), dyc, ld, cols, ld, first ? T(0) : T(1), dw, p.crs, gex);
        if (dbias)
            for (std::size_t k = 0; k < g.K; ++k) {
                const T s = sum_n(dyc + k * ld, ld);
                dbias[k] = first ? s : dbias[k] + s;
            }
    }
}

/// Runs f(task, slot) for every task in [0, tasks) on up to `slots` threads; a thread keeps one
/// slot and pulls tasks from a shared counter, so load balances while results stay per-task.
template <class Ex, class F>
void run_tasks(Ex& ex, std::size_t slots, std::size_t tasks, F&& f) {
    std::atomic<std::size_t> next{0};
    ex.parallel_for(slots, 1, [&](std::size_t s0, std::size_t s1) {
        for (std::size_t s = s0; s < s1; ++s)
            for (std::size_t t; (t = next.fetch_add(1, std::memory_order_relaxed)) < tasks;) f(t, s);
    });
}

template <class Ex>
std::size_t slots_for(const plan& p, Ex& ex) {
    return std::min<std::size_t>(p.slots, std::max<std::size_t>(ex.size(), 1));
}

}  // namespace conv_detail

/// Elements of T the caller must provide as `workspace` to any conv2d_* kernel of this
/// geometry (the same buffer serves all three; it may be reused across calls, never shared
/// between concurrent calls). Depends on the geometry only, not on the thread count.
constexpr std::size_t conv2d_workspace_size(const conv2d_geometry& g) {
    const conv_detail::plan p = conv_detail::make_plan(g);
    return p.slots * p.slot + (p.dw_t ? p.groups : p.groups - 1) * p.partial;
}

namespace conv_detail {

// One group's convolution: g is group_geometry(full), p = make_plan(full); x, w, y (dx, dy,
// dw) point at the group's first channel, images p.x_img / p.y_img apart.
template <class T, class Ex>
void forward_group(const conv2d_geometry& g, const plan& p, const T* x, const T* w, const T* bias, T* y, T* workspace,
                   Ex& ex) {
    const T* wpack = prepack_w(g, p, w, false);
    if (p.chunks == 1 || ex.size() <= 1) {
        for (std::size_t c = 0; c < p.chunks; ++c) forward_chunk(g, p, c, x, w, wpack, bias, y, workspace, ex);
        return;
    }
    run_tasks(ex, slots_for(p, ex), p.chunks, [&](std::size_t c, std::size_t s) {
        exec::serial ser;
        forward_chunk(g, p, c, x, w, wpack, bias, y, workspace + s * p.slot, ser);
    });
}

template <class T, class Ex>
void backward_data_group(const conv2d_geometry& g, const plan& p, const T* dy, const T* w, T* dx, T* workspace, Ex& ex) {
    const T* wpack = prepack_w(g, p, w, true);
    if (p.chunks == 1 || ex.size() <= 1) {
        for (std::size_t c = 0; c < p.chunks; ++c) backward_data_chunk(g, p, c, dy, w, wpack, dx, workspace, ex);
        return;
    }
    run_tasks(ex, slots_for(p, ex), p.chunks, [&](std::size_t c, std::size_t s) {
        exec::serial ser;
        backward_data_chunk(g, p, c, dy, w, wpack, dx, workspace + s * p.slot, ser);
    });
}

template <class T, class Ex>
void backward_weight_conv_group(const conv2d_geometry& g, const plan& p, const T* x, const T* dy, T* dw, T* dbias,
                                T* workspace, Ex& ex) {
    // Reduction group j sums chunks [j*chunks/groups, (j+1)*chunks/groups) into a partial after
    // the slots (group 0 straight into dw and dbias, unless dw^T is computed); the partials are
    // added below in group order.
    T* partials = workspace + p.slots * p.slot;
    auto partial = [&](std::size_t j) { return partials + (p.dw_t ? j : j - 1) * p.partial; };
    auto group = [&](std::size_t j, T* ws, auto& gex) {
        T* dwj = j == 0 && !p.dw_t ? dw : partial(j);
        T* dbj = !dbias ? nullptr : j == 0 ? dbias : dwj + g.K * p.crs;
        backward_weight_group(g, p, j * p.chunks / p.groups, (j + 1) * p.chunks / p.groups, x, dy, dwj, dbj, ws, gex);
    };
    if (p.groups == 1 || ex.size() <= 1) {
        for (std::size_t j = 0; j < p.groups; ++j) group(j, workspace, ex);
    } else {
        run_tasks(ex, slots_for(p, ex), p.groups, [&](std::size_t j, std::size_t s) {
            exec::serial ser;
            group(j, workspace + s * p.slot, ser);
        });
    }
    for (std::size_t j = 1; j < p.groups; ++j)
        if (dbias) add_n(partial(j) + g.K * p.crs, dbias, g.K);
    if (!p.dw_t) {
        for (std::size_t j = 1; j < p.groups; ++j) add_n(partial(j), dw, g.K * p.crs);
        return;
    }
    // dw[k, i] = sum over groups of dw^T_j[i, k], in group order: the partials are added into
    // group 0's with whole vectors (each element gets the same additions in the same order as
    // a sum per element), then that one is transposed into dw (0.5 -> ~0.1 ms on layer 2).
    for (std::size_t j = 1; j < p.groups; ++j) add_n(partial(j), partial(0), g.K * p.crs);
    gemm_detail::transpose_into(static_cast<const T*>(partial(0)), g.K, g.K, p.crs, dw, p.crs);
}

}  // namespace conv_detail

/// y[N,K,P,Q] = conv(x[N,C,H,W], w[K,C/groups,R,S]) + bias[K] (bias may be nullptr; it and
/// dbias below are not deduced, so a literal nullptr works).
template <class T, class Ex>
void conv2d_forward(const conv2d_geometry& g, const T* x, const T* w, std::type_identity_t<const T>* bias, T* y,
                    T* workspace, Ex& ex) {
    assert(g.valid() && "conv2d_geometry: call with_output()");
    namespace d = conv_detail;
    const d::plan p = d::make_plan(g);
    if (g.N == 0 || p.kpq == 0) return;
    const conv2d_geometry gg = d::group_geometry(g);
    for (std::size_t i = 0; i < g.groups; ++i)
        d::forward_group(gg, p, x + i * p.chw, w + i * gg.K * p.crs, bias ? bias + i * gg.K : nullptr,
                         y + i * p.kpq, workspace, ex);
}

/// dx[N,C,H,W] = the gradient of sum(dy * conv(x, w)) with respect to x (overwritten).
template <class T, class Ex>
void conv2d_backward_data(const conv2d_geometry& g, const T* dy, const T* w, T* dx, T* workspace, Ex& ex) {
    assert(g.valid() && "conv2d_geometry: call with_output()");
    namespace d = conv_detail;
    const d::plan p = d::make_plan(g);
    if (g.N == 0 || p.chw == 0) return;
    if (p.pq == 0) {  // no output position touches the input
        std::fill(dx, dx + g.N * p.x_img, T(0));
        return;
    }
    const conv2d_geometry gg = d::group_geometry(g);
    for (std::size_t i = 0; i < g.groups; ++i)
        d::backward_data_group(gg, p, dy + i * p.kpq, w + i * gg.K * p.crs, dx + i * p.chw, workspace, ex);
}

/// dw[K,C/groups,R,S] = sum over images of dy_n * cols(x_n)^T and dbias[K] = sum of dy over
/// N, P, Q (dbias may be nullptr); both overwritten.
template <class T, class Ex>
void conv2d_backward_weight(const conv2d_geometry& g, const T* x, const T* dy, T* dw, std::type_identity_t<T>* dbias,
                            T* workspace, Ex& ex) {
    assert(g.valid() && "conv2d_geometry: call with_output()");
    namespace d = conv_detail;
    const d::plan p = d::make_plan(g);
    if (g.N == 0 || p.pq == 0) {
        std::fill(dw, dw + g.K * p.crs, T(0));
        if (dbias) std::fill(dbias, dbias + g.K, T(0));
        return;
    }
    const conv2d_geometry gg = d::group_geometry(g);
    for (std::size_t i = 0; i < g.groups; ++i)
        d::backward_weight_conv_group(gg, p, x + i * p.chw, dy + i * p.kpq, dw + i * gg.K * p.crs,
                                      dbias ? dbias + i * gg.K : nullptr, workspace, ex);
}

/// Same kernels on kiln::exec::default_pool().
template <class T>
void conv2d_forward(const conv2d_geometry& g, const T* x, const T* w, std::type_identity_t<const T>* bias, T* y,
                    T* workspace) {
    conv2d_forward(g, x, w, bias, y, workspace, exec::default_pool());
}
template <class T>
void conv2d_backward_data(const conv2d_geometry& g, const T* dy, const T* w, T* dx, T* workspace) {
    conv2d_backward_data(g, dy, w, dx, workspace, exec::default_pool());
}
template <class T>
void conv2d_backward_weight(const conv2d_geometry& g, const T* x, const T* dy, T* dw, std::type_identity_t<T>* dbias,
                            T* workspace) {
    conv2d_backward_weight(g, x, dy, dw, dbias, workspace, exec::default_pool());
}

}  // namespace kiln::cpu_kernels
