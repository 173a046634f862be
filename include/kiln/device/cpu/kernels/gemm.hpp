// General matrix multiply for row-major float/double:
//   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C,   op(X) = X or X^T.
//
// Layout follows the BLIS/Goto scheme: a KC x NC block of op(B) is packed once per (jc, pc)
// and shared by all threads (it lives in L3/L2), each thread packs its own MC x KC block of
// op(A) (L2), and the micro-kernel keeps an MR x NR tile of C in registers while streaming
// one A micro-panel (L2) against one B micro-panel (L1). Packing makes every micro-kernel load
// contiguous and aligned whatever the transposes and strides are, and zero-pads the ragged
// edges so the micro-kernel never needs a remainder loop.
//
// Determinism: every C element is produced by exactly one micro-kernel call per K block, with
// K blocks visited in the same order and the same tile grid for any thread count (threads only
// decide which MR-aligned row blocks they take), so results are bit-identical for any pool.
#pragma once

#include <algorithm>
#include <cstddef>
#include <new>

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
    // KC: one B micro-panel (KC x NR) should take about half of a 48 KiB L1 so it survives
    // the A stream. MC: the packed A block (MC x KC) should sit comfortably in a 1 MiB L2.
    // NC: the packed B block only needs to fit the shared L3.
#ifndef KILN_GEMM_KCB
#define KILN_GEMM_KCB 49152
#endif
#ifndef KILN_GEMM_MCB
#define KILN_GEMM_MCB 393216
#endif
#ifndef KILN_GEMM_NC
#define KILN_GEMM_NC 3072
#endif
#ifndef KILN_GEMM_NBB
#define KILN_GEMM_NBB 589824
#endif
#ifndef KILN_GEMM_MB
#define KILN_GEMM_MB 3072
#endif
    static constexpr std::size_t kc = std::max<std::size_t>(64, KILN_GEMM_KCB / (nr * sizeof(T)) / 8 * 8);
    static constexpr std::size_t mc = std::max<std::size_t>(mr, KILN_GEMM_MCB / (kc * sizeof(T)) / mr * mr);
    static constexpr std::size_t nc = std::max<std::size_t>(nr, KILN_GEMM_NC / nr * nr);
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

// ---------------------------------------------------------------------------------------------
// Packing. A B micro-panel is k-major with NR values per k (NV aligned vector loads). An A
// micro-panel holds MR rows in one of two layouts, whichever is a plain copy of the source:
//  - row layout (A not transposed): row r at r*KC, k contiguous;
//  - k layout (A transposed): MR values per k.
// Either way the micro-kernel's broadcast addresses differ by compile-time constants. Rows and
// columns past the matrix edge are zero so the micro-kernel always runs a full tile. Every A
// micro-panel occupies MR*KC elements.

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

template <class T>
void pack_b(bool trans, const T* B, std::size_t ldb, std::size_t p0, std::size_t j0, std::size_t n,
            std::size_t kc, T* dst) {
    constexpr std::size_t nr = blocking<T>::nr, nv = blocking<T>::nv, w = blocking<T>::w;
    for (std::size_t jr = 0; jr < n; jr += nr, dst += nr * kc) {
        const std::size_t cols = std::min(nr, n - jr);
        if (!trans && cols == nr) {
            for (std::size_t k = 0; k < kc; ++k) {
                const T* src = B + (p0 + k) * ldb + j0 + jr;
                for (std::size_t v = 0; v < nv; ++v) simd::store(dst + k * nr + v * w, simd::load(src + v * w));
            }
        } else if (!trans) {
            for (std::size_t k = 0; k < kc; ++k) {
                const T* src = B + (p0 + k) * ldb + j0 + jr;
                T* d = dst + k * nr;
                std::size_t c = 0;
                for (; c < cols; ++c) d[c] = src[c];
                for (; c < nr; ++c) d[c] = T(0);
            }
        } else {
            for (std::size_t c = 0; c < cols; ++c) {
                const T* src = B + (j0 + jr + c) * ldb + p0;
                for (std::size_t k = 0; k < kc; ++k) dst[k * nr + c] = src[k];
            }
            for (std::size_t c = cols; c < nr; ++c)
                for (std::size_t k = 0; k < kc; ++k) dst[k * nr + c] = T(0);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Micro-kernel: acc[MR][NV] = sum over k < kc of a(:,k) * b(k,:), in k order.

template <class T>
struct tile_acc {
    static constexpr std::size_t mr = blocking<T>::mr, nv = blocking<T>::nv;
    simd::batch<T> v[mr][nv];
};

template <class T, bool a_k_layout>
inline __attribute__((always_inline)) void micro_kernel(std::size_t kc, const T* __restrict a,
                                                        const T* __restrict b, tile_acc<T>& out,
                                                        const T* c, std::size_t ldc, std::size_t m) {
    using batch = simd::batch<T>;
    constexpr std::size_t mr = blocking<T>::mr, nv = blocking<T>::nv, nr = blocking<T>::nr;
    constexpr std::size_t w = blocking<T>::w, KC = blocking<T>::kc;
    constexpr std::size_t a_rs = a_k_layout ? 1 : KC, a_ks = a_k_layout ? mr : 1;
    batch acc[mr][nv];
#pragma GCC unroll 16
    for (std::size_t r = 0; r < mr; ++r)
#pragma GCC unroll 4
        for (std::size_t v = 0; v < nv; ++v) acc[r][v] = simd::splat(T(0));
#ifndef KILN_NO_CPF
    // C rows are far apart (often a multiple of 4 KiB) and usually not cached; start fetching
    // them now so the update after the K loop does not stall on memory.
    for (std::size_t r = 0; r < m; ++r) {
        __builtin_prefetch(c + r * ldc, 1, 3);
        __builtin_prefetch(c + r * ldc + nr - 1, 1, 3);
    }
#endif

#pragma GCC unroll 4
    for (std::size_t k = 0; k < kc; ++k) {
        batch bv[nv];
#pragma GCC unroll 4
        for (std::size_t v = 0; v < nv; ++v) bv[v] = simd::load(b + k * nr + v * w);
#pragma GCC unroll 16
        for (std::size_t r = 0; r < mr; ++r) {
            const batch ar = simd::splat(a[r * a_rs + k * a_ks]);
#pragma GCC unroll 4
            for (std::size_t v = 0; v < nv; ++v) acc[r][v] = simd::fma(ar, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 16
    for (std::size_t r = 0; r < mr; ++r)
#pragma GCC unroll 4
        for (std::size_t v = 0; v < nv; ++v) out.v[r][v] = acc[r][v];
}

/// Writes alpha*acc (+ beta*C) to a full MR x NR tile at c with row stride ldc.
template <class T>
inline void store_tile(const tile_acc<T>& acc, T* c, std::size_t ldc, T alpha, T beta, bool beta_zero) {
    using batch = simd::batch<T>;
    constexpr std::size_t mr = blocking<T>::mr, nv = blocking<T>::nv, w = blocking<T>::w;
    const batch va = simd::splat(alpha), vb = simd::splat(beta);
    for (std::size_t r = 0; r < mr; ++r) {
        T* cr = c + r * ldc;
        for (std::size_t v = 0; v < nv; ++v) {
            const batch s = va * acc.v[r][v];
            simd::store(cr + v * w, beta_zero ? s : simd::fma(vb, simd::load(cr + v * w), s));
        }
    }
}

/// One MR x NR tile of C, of which only the top-left m x n part is inside the matrix. Edge
/// tiles go through a local full tile so they use exactly the arithmetic of interior tiles.
template <class T, bool a_k_layout>
inline void compute_tile(std::size_t kc, const T* a, const T* b, T* c, std::size_t ldc, std::size_t m,
                         std::size_t n, T alpha, T beta, bool beta_zero) {
    constexpr std::size_t mr = blocking<T>::mr, nr = blocking<T>::nr;
    tile_acc<T> acc;
    micro_kernel<T, a_k_layout>(kc, a, b, acc, c, ldc, m);
    if (m == mr && n == nr) {
        store_tile(acc, c, ldc, alpha, beta, beta_zero);
        return;
    }
    alignas(64) T tmp[mr * nr];
    if (!beta_zero)
        for (std::size_t r = 0; r < m; ++r)
            for (std::size_t j = 0; j < n; ++j) tmp[r * nr + j] = c[r * ldc + j];
    else
        std::fill(tmp, tmp + mr * nr, T(0));
    store_tile(acc, tmp, nr, alpha, beta, beta_zero);
    for (std::size_t r = 0; r < m; ++r)
        for (std::size_t j = 0; j < n; ++j) c[r * ldc + j] = tmp[r * nr + j];
}

/// All tiles of an m x nc block of C from a packed A block and a packed B block. Columns are
/// the outer loop so one B micro-panel stays in L1 while the A block streams from L2.
template <class T, bool a_k_layout>
void macro_kernel(std::size_t m, std::size_t n, std::size_t kc, const T* ap, const T* bp, T* c,
                  std::size_t ldc, T alpha, T beta, bool beta_zero) {
    constexpr std::size_t mr = blocking<T>::mr, nr = blocking<T>::nr;
    for (std::size_t jr = 0; jr < n; jr += nr) {
        const std::size_t nn = std::min(nr, n - jr);
        for (std::size_t ir = 0; ir < m; ir += mr)
            compute_tile<T, a_k_layout>(kc, ap + ir * blocking<T>::kc, bp + jr * kc, c + ir * ldc + jr, ldc, std::min(mr, m - ir), nn,
                         alpha, beta, beta_zero);
    }
}

template <class T, bool a_k_layout>
void macro_kernel2(std::size_t m, std::size_t n, std::size_t kc, const T* ap, const T* bp, T* c,
                  std::size_t ldc, T alpha, T beta, bool beta_zero) {
    constexpr std::size_t mr = blocking<T>::mr, nr = blocking<T>::nr;
    for (std::size_t ir = 0; ir < m; ir += mr) {
        const std::size_t mm = std::min(mr, m - ir);
        for (std::size_t jr = 0; jr < n; jr += nr)
            compute_tile<T, a_k_layout>(kc, ap + ir * blocking<T>::kc, bp + jr * kc, c + ir * ldc + jr, ldc, mm, std::min(nr, n - jr),
                         alpha, beta, beta_zero);
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

/// Tiny products: packing and threading would cost more than the arithmetic. Each C element is
/// one dot product in K order; B's row is vectorised across N when it is contiguous.
template <class T>
void small_gemm(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
                std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc) {
    using batch = simd::batch<T>;
    constexpr std::size_t w = simd::width<T>;
    auto a_at = [&](std::size_t i, std::size_t k) { return ta ? A[k * lda + i] : A[i * lda + k]; };
    const batch va = simd::splat(alpha), vb = simd::splat(beta);
    for (std::size_t i = 0; i < M; ++i) {
        T* c = C + i * ldc;
        std::size_t j = 0;
        if (!tb) {
            for (; j + w <= N; j += w) {
                batch acc = simd::splat(T(0));
                for (std::size_t k = 0; k < K; ++k)
                    acc = simd::fma(simd::splat(a_at(i, k)), simd::load(B + k * ldb + j), acc);
                const batch s = va * acc;
                simd::store(c + j, beta == T(0) ? s : simd::fma(vb, simd::load(c + j), s));
            }
        }
        for (; j < N; ++j) {
            T acc = T(0);
            for (std::size_t k = 0; k < K; ++k) acc += a_at(i, k) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
            c[j] = beta == T(0) ? alpha * acc : alpha * acc + beta * c[j];
        }
    }
}

/// Blocked, packed GEMM over `threads` workers of ex (threads == 1: ex must be serial-like).
template <class T, class Exec>
void blocked_gemm(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
                  std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc, Exec& ex,
                  std::size_t threads) {
    using bl = blocking<T>;
    constexpr std::size_t mr = bl::mr, nr = bl::nr;

    // Row blocks: at most MC rows each, and a multiple of the thread count so every thread
    // gets work of similar size. Rounding to MR keeps the tile grid independent of threads.
    std::size_t nblocks = div_up(M, bl::mc);
    if (threads > 1) nblocks = round_up(std::max(nblocks, threads), threads);
    const std::size_t mc = round_up(div_up(M, nblocks), mr);
    nblocks = div_up(M, mc);

    // Equal K blocks: a short last block would pay a full C read-modify-write for little work.
    const std::size_t kc_max = div_up(K, div_up(K, bl::kc));
    const std::size_t nc_max = std::min(bl::nc, round_up(N, nr));
    T* bp = b_scratch<T>(kc_max * nc_max);
    const std::size_t a_size = bl::kc * round_up(mc, mr);

    for (std::size_t jc = 0; jc < N; jc += bl::nc) {
        const std::size_t nc = std::min(bl::nc, N - jc);
        const std::size_t panels = div_up(nc, nr);
        for (std::size_t pc = 0; pc < K; pc += kc_max) {
            const std::size_t kc = std::min(kc_max, K - pc);
            // Later K blocks accumulate onto what the first one wrote.
            const bool first = pc == 0;
            const T beta_k = first ? beta : T(1);
            const bool beta_zero = first && beta == T(0);

            const std::size_t pgrain = std::max<std::size_t>(1, div_up(panels, threads));
            ex.parallel_for(panels, pgrain, [&](std::size_t p0, std::size_t p1) {
                const std::size_t j0 = p0 * nr, j1 = std::min(nc, p1 * nr);
                pack_b(tb, B, ldb, pc, jc + j0, j1 - j0, kc, bp + j0 * kc);
            });
            ex.parallel_for(nblocks, 1, [&](std::size_t b0, std::size_t b1) {
                T* ap = a_scratch<T>(a_size);
                for (std::size_t blk = b0; blk < b1; ++blk) {
                    const std::size_t ic = blk * mc, m = std::min(mc, M - ic);
                    pack_a(ta, A, lda, ic, pc, m, kc, ap);
                    if (ta) macro_kernel<T, true>(m, nc, kc, ap, bp, C + ic * ldc + jc, ldc, alpha, beta_k, beta_zero);
                    else macro_kernel<T, false>(m, nc, kc, ap, bp, C + ic * ldc + jc, ldc, alpha, beta_k, beta_zero);
                }
            });
        }
    }
}

template <class T, class Exec>
void blocked_gemm2(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
                  std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc, Exec& ex,
                  std::size_t threads) {
    using bl = blocking<T>;
    constexpr std::size_t mr = bl::mr, nr = bl::nr;
    const std::size_t kc_max = div_up(K, div_up(K, bl::kc));
    const std::size_t NB = std::max<std::size_t>(nr, KILN_GEMM_NBB / (bl::kc * sizeof(T)) / nr * nr);
    const std::size_t MB = KILN_GEMM_MB / mr * mr;
    std::size_t nblocks = div_up(N, NB);
    if (threads > 1) nblocks = round_up(std::max(nblocks, threads), threads);
    const std::size_t nb = round_up(div_up(N, nblocks), nr);
    nblocks = div_up(N, nb);
    const std::size_t mb_max = std::min(MB, round_up(M, mr));
    T* ap = a_scratch<T>(bl::kc * mb_max);
    const std::size_t b_size = kc_max * nb;
    for (std::size_t ic = 0; ic < M; ic += MB) {
        const std::size_t mb = std::min(MB, M - ic);
        const std::size_t panels = div_up(mb, mr);
        for (std::size_t pc = 0; pc < K; pc += kc_max) {
            const std::size_t kc = std::min(kc_max, K - pc);
            const bool first = pc == 0;
            const T beta_k = first ? beta : T(1);
            const bool beta_zero = first && beta == T(0);
            const std::size_t pgrain = std::max<std::size_t>(1, div_up(panels, threads));
            ex.parallel_for(panels, pgrain, [&](std::size_t p0, std::size_t p1) {
                const std::size_t i0 = p0 * mr, i1 = std::min(mb, p1 * mr);
                pack_a(ta, A, lda, ic + i0, pc, i1 - i0, kc, ap + i0 * bl::kc);
            });
            ex.parallel_for(nblocks, 1, [&](std::size_t b0, std::size_t b1) {
                T* bp = b_scratch<T>(b_size);
                for (std::size_t blk = b0; blk < b1; ++blk) {
                    const std::size_t jc = blk * nb, n = std::min(nb, N - jc);
                    pack_b(tb, B, ldb, pc, jc, n, kc, bp);
                    if (ta) macro_kernel2<T, true>(mb, n, kc, ap, bp, C + ic * ldc + jc, ldc, alpha, beta_k, beta_zero);
                    else macro_kernel2<T, false>(mb, n, kc, ap, bp, C + ic * ldc + jc, ldc, alpha, beta_k, beta_zero);
                }
            });
        }
    }
}

// Below this many multiply-adds the unpacked loop wins; below the second, a fork-join round
// trip costs more than the second thread saves.
inline constexpr std::size_t small_flops = 24 * 24 * 24;
inline constexpr std::size_t parallel_flops = 96 * 96 * 96;

}  // namespace gemm_detail

/// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, all row-major; op(X) = trans ? X^T : X.
/// lda/ldb/ldc are the row strides of A, B and C as stored. beta == 0 overwrites C without
/// reading it. Results are bit-identical for any executor size.
template <class T, class Exec>
void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
          std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc, Exec& ex) {
    namespace d = gemm_detail;
    if (M == 0 || N == 0) return;
    if (K == 0 || alpha == T(0)) {
        d::scale_c(M, N, beta, C, ldc);
        return;
    }
    const std::size_t work = M * N * K;
    if (work <= d::small_flops) {
        d::small_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const std::size_t threads = work >= d::parallel_flops ? ex.size() : 1;
    if (threads <= 1) {
        exec::serial s;
#ifdef KILN_GEMM_V2
        d::blocked_gemm2(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, s, 1);
    } else {
        d::blocked_gemm2(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ex, threads);
#else
        d::blocked_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, s, 1);
    } else {
        d::blocked_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ex, threads);
#endif
    }
}

/// Same, on kiln::exec::default_pool().
template <class T>
void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
          std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc) {
    gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, exec::default_pool());
}

}  // namespace kiln::cpu_kernels
