// General matrix multiply for row-major float/double:
//   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C,   op(X) = X or X^T.
//
// Goto/BLIS scheme. For each MC x KC block of op(A) (packed, lives in L3) and each KC x NC
// block of op(B) (packed, lives in L2), a register-blocked micro-kernel keeps an MR x NR tile of
// C in registers while one A micro-panel (MR x KC) stays in L1 and B micro-panels stream from L2.
// Packing makes every micro-kernel load contiguous whatever the transposes and strides, and
// zero-pads ragged edges so the micro-kernel never needs a remainder loop over N.
//
// Threads split C into disjoint rectangles, each one an independent serial GEMM with its own
// thread-local packing buffers: one fork-join per call, nothing shared but the inputs. Every C
// element is computed by one thread with the same K blocks in the same order and the same
// per-element arithmetic wherever its tile sits, so results are bit-identical for any pool size.
#pragma once

#include <algorithm>
#include <cstddef>
#include <new>
#include <type_traits>

#if defined(__AVX__) && !defined(KILN_NO_SIMD)
#include <immintrin.h>
#endif

#include "kiln/core/simd.hpp"
#include "kiln/exec/thread_pool.hpp"

namespace kiln::cpu_kernels {

namespace gemm_detail {

/// Register and cache blocking for element type T on the current instruction set.
template <class T>
struct blocking {
    static constexpr std::size_t w = simd::width<T>;
    static constexpr std::size_t vec_bytes = w * sizeof(T);
    // Two vectors across N with 12 rows uses 24 accumulators + 2 B vectors + 1 broadcast: it
    // fits AVX-512's 32 registers. 16-register ISAs (AVX2, SSE) get 6 rows. The scalar mode has
    // no vectors at all, so a 4x4 tile of plain values is the sensible register block.
    static constexpr std::size_t nv = w == 1 ? 4 : 2;
    static constexpr std::size_t mr = w == 1 ? 4 : (vec_bytes >= 64 ? 12 : 6);
    static constexpr std::size_t nr = nv * w;
    // KC: the A micro-panel (MR x KC) takes half of a 48 KiB L1; longer K blocks also mean
    // fewer read-modify-write passes over C. NC: the B block (KC x NC) takes ~60% of a 1 MiB
    // L2. MC: the A block (MC x KC) a few MiB of L3. Measured on Zen 5; flat near the optimum.
    static constexpr std::size_t kc = std::clamp<std::size_t>(24576 / (mr * sizeof(T)) / 8 * 8, 64, 512);
    static constexpr std::size_t nc = std::max<std::size_t>(nr, 589824 / (kc * sizeof(T)) / nr * nr);
    static constexpr std::size_t mc = std::max<std::size_t>(mr, (std::size_t(4) << 20) / (kc * sizeof(T)) / mr * mr);
};

constexpr std::size_t round_up(std::size_t x, std::size_t m) { return (x + m - 1) / m * m; }
constexpr std::size_t div_up(std::size_t x, std::size_t m) { return (x + m - 1) / m; }

/// A 64-byte aligned scratch area per thread, grown geometrically and never shrunk, so the
/// steady state of repeated GEMM calls performs no heap allocation.
template <class T, int Tag>
class scratch {
public:
    scratch() = default;
    scratch(const scratch&) = delete;
    scratch& operator=(const scratch&) = delete;
    ~scratch() { release(); }

    T* get(std::size_t n) {
        if (n > cap_) {
            release();
            std::size_t cap = std::max(n, cap_ + cap_ / 2);
            p_ = static_cast<T*>(::operator new(cap * sizeof(T), std::align_val_t{64}));
            cap_ = cap;
        }
        return p_;
    }

private:
    void release() {
        if (p_) ::operator delete(p_, std::align_val_t{64});
        p_ = nullptr;
        cap_ = 0;
    }
    T* p_ = nullptr;
    std::size_t cap_ = 0;
};

template <class T>
T* a_scratch(std::size_t n) {
    thread_local scratch<T, 0> s;
    return s.get(n);
}
template <class T>
T* b_scratch(std::size_t n) {
    thread_local scratch<T, 1> s;
    return s.get(n);
}
/// For gemm()'s transposed product (C^T, see swap_operands).
template <class T>
T* ct_scratch(std::size_t n) {
    thread_local scratch<T, 3> s;
    return s.get(n);
}
/// For prepack_a (below): the calling thread's, lent to its pool's threads during one call.
template <class T>
T* prepack_scratch(std::size_t n) {
    thread_local scratch<T, 2> s;
    return s.get(n);
}

// ---------------------------------------------------------------------------------------------
// Packing. A B micro-panel is k-major with NR values per k (NV aligned vector loads). An A
// micro-panel holds MR rows in one of two layouts, whichever is a plain copy of the source:
//  - row layout (A not transposed): row r at r*KC, k contiguous;
//  - k layout (A transposed): MR values per k.
// Either way the micro-kernel's broadcast addresses differ by compile-time constants. Rows and
// columns past the matrix edge are zero so the micro-kernel always runs a full tile. Every A
// micro-panel occupies MR*KC elements.

/// Columns per register transpose tile of pack_b's transposed path (one AVX register's worth;
/// nr is a multiple of it on every instruction set but the scalar mode, where it is 1).
template <class T>
inline constexpr std::size_t transpose_block =
    blocking<T>::w == 1 ? 1 : std::min<std::size_t>(blocking<T>::nr, 32 / sizeof(T));

template <class T>
void pack_a(bool trans, const T* A, std::size_t lda, std::size_t i0, std::size_t p0, std::size_t m,
            std::size_t kc, T* dst) {
    constexpr std::size_t mr = blocking<T>::mr, KC = blocking<T>::kc;
    for (std::size_t ir = 0; ir < m; ir += mr, dst += mr * KC) {
        const std::size_t rows = std::min(mr, m - ir);
        if (!trans) {
            for (std::size_t r = 0; r < rows; ++r) {
                const T* src = A + (i0 + ir + r) * lda + p0;
                std::copy(src, src + kc, dst + r * KC);
            }
            for (std::size_t r = rows; r < mr; ++r) std::fill(dst + r * KC, dst + r * KC + kc, T(0));
        } else if (rows == mr) {  // a fixed-size copy per k: unrolled into vector moves
            for (std::size_t k = 0; k < kc; ++k) {
                const T* src = A + (p0 + k) * lda + i0 + ir;
                T* d = dst + k * mr;
#pragma GCC unroll 16
                for (std::size_t r = 0; r < mr; ++r) d[r] = src[r];
            }
        } else {
            for (std::size_t k = 0; k < kc; ++k) {
                const T* src = A + (p0 + k) * lda + i0 + ir;
                T* d = dst + k * mr;
                std::size_t r = 0;
                for (; r < rows; ++r) d[r] = src[r];
                for (; r < mr; ++r) d[r] = T(0);
            }
        }
    }
}

/// dst[k * ld_dst + c] = src[c * ld_src + k] for c < 8 (float) / 4 (double) and k < kc: a block
/// of columns of the transposed source, 8x8 (4x4) tiles at a time in registers where AVX is
/// available. Pure data movement: the values are copied, never touched.
template <class T>
inline void transpose_cols(const T* src, std::size_t ld_src, std::size_t kc, T* dst, std::size_t ld_dst) {
    std::size_t k = 0;
#if defined(__AVX__) && !defined(KILN_NO_SIMD)
    if constexpr (std::is_same_v<T, float>) {
        static_assert(transpose_block<T> == 8);
        for (; k + 8 <= kc; k += 8) {
            const float* s = src + k;
            const __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + ld_src),
                         r2 = _mm256_loadu_ps(s + 2 * ld_src), r3 = _mm256_loadu_ps(s + 3 * ld_src),
                         r4 = _mm256_loadu_ps(s + 4 * ld_src), r5 = _mm256_loadu_ps(s + 5 * ld_src),
                         r6 = _mm256_loadu_ps(s + 6 * ld_src), r7 = _mm256_loadu_ps(s + 7 * ld_src);
            const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1),
                         t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3),
                         t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
                         t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
            const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
                         u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
                         u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
                         u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            float* d = dst + k * ld_dst;
            _mm256_storeu_ps(d + 0 * ld_dst, _mm256_permute2f128_ps(u0, u4, 0x20));
            _mm256_storeu_ps(d + 1 * ld_dst, _mm256_permute2f128_ps(u1, u5, 0x20));
            _mm256_storeu_ps(d + 2 * ld_dst, _mm256_permute2f128_ps(u2, u6, 0x20));
            _mm256_storeu_ps(d + 3 * ld_dst, _mm256_permute2f128_ps(u3, u7, 0x20));
            _mm256_storeu_ps(d + 4 * ld_dst, _mm256_permute2f128_ps(u0, u4, 0x31));
            _mm256_storeu_ps(d + 5 * ld_dst, _mm256_permute2f128_ps(u1, u5, 0x31));
            _mm256_storeu_ps(d + 6 * ld_dst, _mm256_permute2f128_ps(u2, u6, 0x31));
            _mm256_storeu_ps(d + 7 * ld_dst, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
    } else if constexpr (std::is_same_v<T, double>) {
        static_assert(transpose_block<T> == 4);
        for (; k + 4 <= kc; k += 4) {
            const double* s = src + k;
            const __m256d r0 = _mm256_loadu_pd(s), r1 = _mm256_loadu_pd(s + ld_src),
                          r2 = _mm256_loadu_pd(s + 2 * ld_src), r3 = _mm256_loadu_pd(s + 3 * ld_src);
            const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1),
                          t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
            double* d = dst + k * ld_dst;
            _mm256_storeu_pd(d + 0 * ld_dst, _mm256_permute2f128_pd(t0, t2, 0x20));
            _mm256_storeu_pd(d + 1 * ld_dst, _mm256_permute2f128_pd(t1, t3, 0x20));
            _mm256_storeu_pd(d + 2 * ld_dst, _mm256_permute2f128_pd(t0, t2, 0x31));
            _mm256_storeu_pd(d + 3 * ld_dst, _mm256_permute2f128_pd(t1, t3, 0x31));
        }
    }
#endif
    for (; k < kc; ++k)
        for (std::size_t c = 0; c < transpose_block<T>; ++c) dst[k * ld_dst + c] = src[c * ld_src + k];
}

template <class T>
void pack_b(bool trans, const T* B, std::size_t ldb, std::size_t p0, std::size_t j0, std::size_t n,
            std::size_t kc, T* dst) {
    constexpr std::size_t nr = blocking<T>::nr, nv = blocking<T>::nv, w = blocking<T>::w;
    constexpr std::size_t tb = transpose_block<T>;
    if (!trans) {
        // Row k of the block is read once, left to right, across all its full panels (one
        // contiguous run per k: 2x faster than panel by panel, which walks down K with a
        // stride of ldb for a few cache lines at a time and defeats the prefetchers).
        const std::size_t full = n / nr;
        for (std::size_t k = 0; k < kc; ++k) {
            const T* src = B + (p0 + k) * ldb + j0;
            T* d = dst + k * nr;
            for (std::size_t jp = 0; jp < full; ++jp)
                for (std::size_t v = 0; v < nv; ++v)
                    simd::store(d + jp * nr * kc + v * w, simd::load(src + jp * nr + v * w));
        }
        if (const std::size_t cols = n - full * nr; cols > 0) {
            T* dp = dst + full * nr * kc;
            for (std::size_t k = 0; k < kc; ++k) {
                const T* src = B + (p0 + k) * ldb + j0 + full * nr;
                T* d = dp + k * nr;
                std::size_t c = 0;
                for (; c < cols; ++c) d[c] = src[c];
                for (; c < nr; ++c) d[c] = T(0);
            }
        }
        return;
    }
    // A transpose: column c of a panel is row j0 + jr + c of B (k contiguous). Whole groups of
    // `tb` columns go through register tiles, reading each of their rows from p0 to p0 + kc in
    // one go; the rest (a ragged panel's last columns) element by element, then zero padding.
    for (std::size_t jr = 0; jr < n; jr += nr, dst += nr * kc) {
        const std::size_t cols = std::min(nr, n - jr), full = cols / tb * tb;
        for (std::size_t c = 0; c < full; c += tb) transpose_cols(B + (j0 + jr + c) * ldb + p0, ldb, kc, dst + c, nr);
        for (std::size_t c = full; c < cols; ++c) {
            const T* src = B + (j0 + jr + c) * ldb + p0;
            for (std::size_t k = 0; k < kc; ++k) dst[k * nr + c] = src[k];
        }
        for (std::size_t k = 0; k < kc; ++k)
            for (std::size_t c = cols; c < nr; ++c) dst[k * nr + c] = T(0);
    }
}

// ---------------------------------------------------------------------------------------------
// Micro-kernel: the top-left rows x (nv vectors) part of an MR x NR tile, acc = sum over
// k < kc of a(:,k) * b(k,:) in k order, then C = alpha*acc (+ beta*C). Ragged tiles at the
// bottom/right edges run a smaller variant instead of multiplying padding; every C element
// still sees the same operations in the same order, whichever variant computes it.

template <class T, bool a_k_layout, std::size_t rows, std::size_t nv>
inline void tile_kernel(std::size_t kc, const T* __restrict a, const T* __restrict b, T* c, std::size_t ldc,
                        std::size_t m, std::size_t n, T alpha, T beta, bool beta_zero) {
    using batch = simd::batch<T>;
    constexpr std::size_t mr = blocking<T>::mr, nr = blocking<T>::nr, w = blocking<T>::w;
    constexpr std::size_t KC = blocking<T>::kc, cols = nv * w;
    constexpr std::size_t a_rs = a_k_layout ? 1 : KC, a_ks = a_k_layout ? mr : 1;
    batch acc[rows][nv];
#pragma GCC unroll 16
    for (std::size_t r = 0; r < rows; ++r)
#pragma GCC unroll 4
        for (std::size_t v = 0; v < nv; ++v) acc[r][v] = simd::splat(T(0));

#pragma GCC unroll 4
    for (std::size_t k = 0; k < kc; ++k) {
        batch bv[nv];
#pragma GCC unroll 4
        for (std::size_t v = 0; v < nv; ++v) bv[v] = simd::load(b + k * nr + v * w);
#pragma GCC unroll 16
        for (std::size_t r = 0; r < rows; ++r) {
            const batch ar = simd::splat(a[r * a_rs + k * a_ks]);
#pragma GCC unroll 4
            for (std::size_t v = 0; v < nv; ++v) acc[r][v] = simd::fma(ar, bv[v], acc[r][v]);
        }
    }

    // Ragged tiles are finished in a full local tile so they share the interior arithmetic.
    const bool full = m == rows && n == cols;
    alignas(64) T tmp[rows * cols];
    T* dst = c;
    std::size_t ld = ldc;
    if (!full) {
        dst = tmp;
        ld = cols;
        std::fill(tmp, tmp + rows * cols, T(0));
        if (!beta_zero)
            for (std::size_t r = 0; r < m; ++r)
                for (std::size_t j = 0; j < n; ++j) tmp[r * cols + j] = c[r * ldc + j];
    }
    const batch va = simd::splat(alpha), vb = simd::splat(beta);
#pragma GCC unroll 16
    for (std::size_t r = 0; r < rows; ++r)
#pragma GCC unroll 4
        for (std::size_t v = 0; v < nv; ++v) {
            T* p = dst + r * ld + v * w;
            const batch s = va * acc[r][v];
            simd::store(p, beta_zero ? s : simd::fma(vb, simd::load(p), s));
        }
    if (!full)
        for (std::size_t r = 0; r < m; ++r)
            for (std::size_t j = 0; j < n; ++j) c[r * ldc + j] = tmp[r * cols + j];
}

/// One tile with m <= MR valid rows and n <= NR valid columns, using the smallest row and
/// vector count variant that covers them.
template <class T, bool a_k_layout, std::size_t nv>
inline void tile_rows(std::size_t kc, const T* a, const T* b, T* c, std::size_t ldc, std::size_t m,
                      std::size_t n, T alpha, T beta, bool beta_zero) {
    constexpr std::size_t mr = blocking<T>::mr;
    constexpr std::size_t r1 = mr / 3 > 0 ? mr / 3 : 1, r2 = 2 * mr / 3 > r1 ? 2 * mr / 3 : r1;
    if (m > r2)
        tile_kernel<T, a_k_layout, mr, nv>(kc, a, b, c, ldc, m, n, alpha, beta, beta_zero);
    else if (m > r1)
        tile_kernel<T, a_k_layout, r2, nv>(kc, a, b, c, ldc, m, n, alpha, beta, beta_zero);
    else
        tile_kernel<T, a_k_layout, r1, nv>(kc, a, b, c, ldc, m, n, alpha, beta, beta_zero);
}

template <class T, bool a_k_layout>
inline void compute_tile(std::size_t kc, const T* a, const T* b, T* c, std::size_t ldc, std::size_t m,
                         std::size_t n, T alpha, T beta, bool beta_zero) {
    constexpr std::size_t nv = blocking<T>::nv, half = nv / 2 * blocking<T>::w;
    if (n > half)
        tile_rows<T, a_k_layout, nv>(kc, a, b, c, ldc, m, n, alpha, beta, beta_zero);
    else
        tile_rows<T, a_k_layout, nv / 2>(kc, a, b, c, ldc, m, n, alpha, beta, beta_zero);
}

/// All tiles of an m x n block of C from a packed A block and a packed B block. Rows are the
/// outer loop so one A micro-panel stays in L1 while the B block streams from L2.
template <class T, bool a_k_layout>
void macro_kernel(std::size_t m, std::size_t n, std::size_t kc, const T* ap, const T* bp, T* c,
                  std::size_t ldc, T alpha, T beta, bool beta_zero) {
    constexpr std::size_t mr = blocking<T>::mr, nr = blocking<T>::nr, KC = blocking<T>::kc;
    for (std::size_t ir = 0; ir < m; ir += mr) {
        const std::size_t mm = std::min(mr, m - ir);
        for (std::size_t jr = 0; jr < n; jr += nr)
            compute_tile<T, a_k_layout>(kc, ap + ir * KC, bp + jr * kc, c + ir * ldc + jr, ldc, mm,
                                        std::min(nr, n - jr), alpha, beta, beta_zero);
    }
}

// ---------------------------------------------------------------------------------------------

/// C = beta * C, with beta == 0 writing zeros regardless of what C holds.
template <class T>
void scale_c(std::size_t M, std::size_t N, T beta, T* C, std::size_t ldc) {
    if (beta == T(1)) return;
    for (std::size_t i = 0; i < M; ++i) {
        T* c = C + i * ldc;
        if (beta == T(0))
            std::fill(c, c + N, T(0));
        else
            for (std::size_t j = 0; j < N; ++j) c[j] *= beta;
    }
}

/// Tiny products with contiguous rows of op(B) at least one vector wide, where packing and
/// edge tiles cost more than the arithmetic: four rows of C at a time (rows past M repeat the
/// last one and are not stored), one vector of columns at a time; the last vector overlaps the
/// previous one instead of running a scalar tail, and stores only its new columns.
template <class T>
void small_gemm(bool ta, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A, std::size_t lda,
                const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc) {
    using batch = simd::batch<T>;
    constexpr std::size_t w = simd::width<T>, rb = 4;
    const batch va = simd::splat(alpha), vb = simd::splat(beta);
    const std::size_t as = ta ? lda : 1;
    for (std::size_t i0 = 0; i0 < M; i0 += rb) {
        const std::size_t rows = std::min(rb, M - i0);
        const T* a[rb];  // row r of op(A) is a[r][k * as]
        for (std::size_t r = 0; r < rb; ++r) {
            const std::size_t i = std::min(i0 + r, M - 1);
            a[r] = ta ? A + i : A + i * lda;
        }
        for (std::size_t done = 0; done < N;) {
            const std::size_t j = std::min(done, N - w);
            batch acc[rb];
            for (auto& x : acc) x = simd::splat(T(0));
            for (std::size_t k = 0; k < K; ++k) {
                const batch bk = simd::load(B + k * ldb + j);
                for (std::size_t r = 0; r < rb; ++r) acc[r] = simd::fma(simd::splat(a[r][k * as]), bk, acc[r]);
            }
            for (std::size_t r = 0; r < rows; ++r) {
                T* c = C + (i0 + r) * ldc + j;
                const batch s = va * acc[r];
                const batch v = beta == T(0) ? s : simd::fma(vb, simd::load(c), s);
                if (j == done) {
                    simd::store(c, v);
                } else {
                    alignas(64) T tmp[w];
                    simd::store(tmp, v);
                    std::copy(tmp + (done - j), tmp + w, c + (done - j));
                }
            }
            done = j + w;
        }
    }
}

// Below this many multiply-adds the unpacked loop wins (measured +15-30% at 20^3-40^3, even at
// 48^3); below the second, waking the pool costs more than a second thread saves (two
// threads measured: a loss at 64^3, +25% at 96^3).
inline constexpr std::size_t small_flops = 40 * 40 * 40;
inline constexpr std::size_t parallel_flops = 80 * 80 * 80;

/// Length of the K blocks of a product with K terms: equal blocks, a function of K only (a short
/// last block would pay a full C pass for little work, and every caller, any thread split,
/// must use the same blocks).
template <class T>
constexpr std::size_t k_block(std::size_t K) {
    return div_up(K, div_up(K, blocking<T>::kc));
}

/// op(A) packed whole, once, for many products with the same A (a convolution's weights,
/// image after image): every MC x KC block blocked_gemm_with visits, in one buffer of
/// prepacked_a_size elements; prepacked_a_block gives the block to return from a pack_a.
template <class T>
constexpr std::size_t prepacked_a_stride(std::size_t M) {
    return round_up(std::min(blocking<T>::mc, M), blocking<T>::mr) * blocking<T>::kc;
}
template <class T>
constexpr std::size_t prepacked_a_size(std::size_t M, std::size_t K) {
    return M == 0 || K == 0 ? 0 : div_up(M, blocking<T>::mc) * div_up(K, k_block<T>(K)) * prepacked_a_stride<T>(M);
}
template <class T>
void prepack_a(bool ta, const T* A, std::size_t lda, std::size_t M, std::size_t K, T* dst) {
    const std::size_t kb = k_block<T>(K), stride = prepacked_a_stride<T>(M);
    for (std::size_t ic = 0; ic < M; ic += blocking<T>::mc)
        for (std::size_t pc = 0; pc < K; pc += kb, dst += stride)
            pack_a(ta, A, lda, ic, pc, std::min(blocking<T>::mc, M - ic), std::min(kb, K - pc), dst);
}
template <class T>
const T* prepacked_a_block(const T* pre, std::size_t M, std::size_t K, std::size_t ic, std::size_t pc) {
    const std::size_t kb = k_block<T>(K);
    return pre + (ic / blocking<T>::mc * div_up(K, kb) + pc / kb) * prepacked_a_stride<T>(M);
}

/// Serial blocked GEMM on the calling thread's packing buffers, with the packing done by the
/// caller's functions: pack_a(i0, p0, m, kc, dst) writes the MC x KC block of op(A) at (i0, p0)
/// like pack_a (the k layout if ta, else the row layout) and returns dst, or returns the block
/// packed earlier (prepacked_a_block); pack_b(p0, j0, n, kc, dst) the KC x NC
/// block of op(B) at (p0, j0) like pack_b. A caller that can produce op(A) or op(B) on the fly
/// (a convolution's im2col matrix) packs straight from its source; results are those of the
/// plain GEMM on the matrices the packers describe, bit for bit.
template <class T, class PackA, class PackB>
void blocked_gemm_with(bool ta, std::size_t M, std::size_t N, std::size_t K, T alpha, PackA&& pack_a_fn,
                       PackB&& pack_b_fn, T beta, T* C, std::size_t ldc) {
    using bl = blocking<T>;
    constexpr std::size_t mr = bl::mr, nr = bl::nr;
    const std::size_t kc_max = k_block<T>(K);
    T* ap = a_scratch<T>(bl::kc * std::min(bl::mc, round_up(M, mr)));
    T* bp = b_scratch<T>(kc_max * std::min(bl::nc, round_up(N, nr)));
    for (std::size_t ic = 0; ic < M; ic += bl::mc) {
        const std::size_t mc = std::min(bl::mc, M - ic);
        for (std::size_t pc = 0; pc < K; pc += kc_max) {
            const std::size_t kc = std::min(kc_max, K - pc);
            // Later K blocks accumulate onto what the first one wrote.
            const bool first = pc == 0;
            const T beta_k = first ? beta : T(1);
            const bool beta_zero = first && beta == T(0);
            const T* a = pack_a_fn(ic, pc, mc, kc, ap);
            for (std::size_t jc = 0; jc < N; jc += bl::nc) {
                const std::size_t nc = std::min(bl::nc, N - jc);
                pack_b_fn(pc, jc, nc, kc, bp);
                T* c = C + ic * ldc + jc;
                if (ta)
                    macro_kernel<T, true>(mc, nc, kc, a, bp, c, ldc, alpha, beta_k, beta_zero);
                else
                    macro_kernel<T, false>(mc, nc, kc, a, bp, c, ldc, alpha, beta_k, beta_zero);
            }
        }
    }
}

/// Serial blocked GEMM on the calling thread's packing buffers.
template <class T>
void blocked_gemm(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
                  std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc) {
    blocked_gemm_with<T>(
        ta, M, N, K, alpha,
        [&](std::size_t i0, std::size_t p0, std::size_t m, std::size_t kc, T* dst) {
            pack_a(ta, A, lda, i0, p0, m, kc, dst);
            return static_cast<const T*>(dst);
        },
        [&](std::size_t p0, std::size_t j0, std::size_t n, std::size_t kc, T* dst) {
            pack_b(tb, B, ldb, p0, j0, n, kc, dst);
        },
        beta, C, ldc);
}

/// Whether gemm() would run this product as one serial blocked_gemm (neither the unpacked
/// small-product loop nor a thread split): then blocked_gemm_with gives gemm()'s results.
template <class T>
constexpr bool runs_blocked_serial(bool tb, std::size_t M, std::size_t N, std::size_t K, std::size_t threads) {
    const std::size_t work = M * N * K;
    if (M == 0 || N == 0 || K == 0) return false;
    if (work <= small_flops && !tb && N >= simd::width<T>) return false;
    return work < parallel_flops || threads <= 1;
}

}  // namespace gemm_detail

namespace gemm_detail {

/// A short, wide product with a large transposed B (a linear layer's forward, x * W^T, with a
/// small batch) is computed as C^T = B * A^T: the large operand is then packed as op(A), by
/// plain row copies, instead of through a transpose (Linear 8192->1024 at batch 64: 7.4 ->
/// ~6.7 ms). Every C element still sees the same products (a*b == b*a) added in the same order.
inline bool swap_operands(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K) {
    return tb && !ta && N >= 4 * M && N * K >= (std::size_t(1) << 20);
}

/// dst[i, j] = src[j, i] for an m x n dst (row strides ld_dst, ld_src).
template <class T>
void transpose_into(const T* src, std::size_t ld_src, std::size_t m, std::size_t n, T* dst, std::size_t ld_dst) {
    constexpr std::size_t tb = transpose_block<T>;
    std::size_t j = 0;
    for (; j + tb <= n; j += tb) transpose_cols(src + j * ld_src, ld_src, m, dst + j, ld_dst);
    for (; j < n; ++j)
        for (std::size_t i = 0; i < m; ++i) dst[i * ld_dst + j] = src[j * ld_src + i];
}

}  // namespace gemm_detail

/// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, all row-major; op(X) = trans ? X^T : X.
/// lda/ldb/ldc are the row strides of A, B and C as stored. beta == 0 overwrites C without
/// reading it. Results are bit-identical for any executor size.
template <class T, class Exec>
void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
          std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc, Exec& ex) {
    namespace d = gemm_detail;
    using bl = d::blocking<T>;
    if (M == 0 || N == 0) return;
    if (K == 0 || alpha == T(0)) {
        d::scale_c(M, N, beta, C, ldc);
        return;
    }
    if (d::swap_operands(trans_a, trans_b, M, N, K)) {
        // C^T = op(B)^T * op(A)^T = B * A^T (B as stored, not transposed), into scratch.
        T* ct = d::ct_scratch<T>(N * M);
        if (beta != T(0)) d::transpose_into(C, ldc, N, M, ct, M);
        gemm(false, true, N, M, K, alpha, B, ldb, A, lda, beta, ct, M, ex);
        d::transpose_into(ct, M, M, N, C, ldc);
        return;
    }
    const std::size_t work = M * N * K;
    if (work <= d::small_flops && !trans_b && N >= simd::width<T>) {
        d::small_gemm(trans_a, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const std::size_t threads = work >= d::parallel_flops ? ex.size() : 1;
    if (threads <= 1) {
        d::blocked_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    // A gm x gn grid of C rectangles, one per thread. Row bands are preferred (measured ~5%
    // faster than column bands at 1024-2048 on two cores: each thread's A block is half as big);
    // the price is that every band packs all of op(B), which is K*N copies against M*N*K/threads
    // multiply-adds. Columns are split only for short C. Cuts fall on tile boundaries.
    const std::size_t n_tiles = d::div_up(N, bl::nr), m_tiles = d::div_up(M, bl::mr);
    const std::size_t gm = std::clamp<std::size_t>(m_tiles / 4, 1, threads);
    const std::size_t gn = std::min(n_tiles, d::div_up(threads, gm));
    const std::size_t nb = d::div_up(n_tiles, gn) * bl::nr, mb = d::div_up(m_tiles, gm) * bl::mr;
    const std::size_t parts_n = d::div_up(N, nb), parts = d::div_up(M, mb) * parts_n;
    ex.parallel_for(parts, 1, [&](std::size_t p0, std::size_t p1) {
        for (std::size_t p = p0; p < p1; ++p) {
            const std::size_t i0 = p / parts_n * mb, j0 = p % parts_n * nb;
            const std::size_t m = std::min(mb, M - i0), n = std::min(nb, N - j0);
            d::blocked_gemm(trans_a, trans_b, m, n, K, alpha, trans_a ? A + i0 : A + i0 * lda, lda,
                            trans_b ? B + j0 * ldb : B + j0, ldb, beta, C + i0 * ldc + j0, ldc);
        }
    });
}

/// Same, on kiln::exec::default_pool().
template <class T>
void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
          std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc) {
    gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, exec::default_pool());
}

}  // namespace kiln::cpu_kernels
