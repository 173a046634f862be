// Reduction kernels over a [outer, n, inner] view of contiguous memory. Rows stream through
// the cache (never a strided walk down a column: xtensor's axis-0 sum is 47x slower that way),
// and the order of additions is fixed, so results do not depend on threads or call site.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../../core/device.hpp"
#include "../../../core/simd.hpp"

namespace kiln::cpu_kernels {

/// How each reduction kind of the device interface combines values.
template <class Kind>
struct reducer;
template <>
struct reducer<reduce_sum> {
    template <class V> static V combine(V a, V b) { return a + b; }
    template <class T> static T finish(const simd::batch<T>& b) { return simd::reduce_add(b); }
};
template <>
struct reducer<reduce_max> {
    template <class V> static V combine(V a, V b) { return simd::max(a, b); }
    template <class T> static T finish(const simd::batch<T>& b) { return simd::reduce_max(b); }
};
template <>
struct reducer<reduce_min> {
    template <class V> static V combine(V a, V b) { return simd::min(a, b); }
    template <class T> static T finish(const simd::batch<T>& b) { return simd::reduce_min(b); }
};

// Inlined into a reduction to one element (inner == 1), GCC 12 still analyses the dead
// inner > 1 branch against the one-element output and warns that its loop would overflow it.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Waggressive-loop-optimizations"
#endif
/// out[o, i] = R over k of in[o, k, i]; n >= 1.
template <class R, class T>
void reduce(const T* in, T* out, std::size_t outer, std::size_t n, std::size_t inner) {
    constexpr bool vec = simd::vectorised<T>;
    for (std::size_t o = 0; o < outer; ++o) {
        const T* src = in + o * n * inner;
        T* dst = out + o * inner;
        if (inner == 1) {
            std::size_t k = 0;
            T acc = src[0];
            if constexpr (vec) {
                constexpr std::size_t w = simd::width<T>;
                if (n >= 4 * w) {  // four accumulators hide the add latency
                    auto a0 = simd::load(src), a1 = simd::load(src + w), a2 = simd::load(src + 2 * w),
                         a3 = simd::load(src + 3 * w);
                    for (k = 4 * w; k + 4 * w <= n; k += 4 * w) {
                        a0 = R::combine(a0, simd::load(src + k));
                        a1 = R::combine(a1, simd::load(src + k + w));
                        a2 = R::combine(a2, simd::load(src + k + 2 * w));
                        a3 = R::combine(a3, simd::load(src + k + 3 * w));
                    }
                    acc = R::template finish<T>(R::combine(R::combine(a0, a1), R::combine(a2, a3)));
                } else {
                    k = 1;
                }
            } else {
                k = 1;
            }
            for (; k < n; ++k) acc = R::combine(acc, src[k]);
            dst[0] = acc;
        } else {
            for (std::size_t i = 0; i < inner; ++i) dst[i] = src[i];
            for (std::size_t k = 1; k < n; ++k) {
                const T* row = src + k * inner;
                std::size_t i = 0;
                if constexpr (vec) {
                    constexpr std::size_t w = simd::width<T>;
                    for (; i + w <= inner; i += w)
                        simd::store(dst + i, R::combine(simd::load(dst + i), simd::load(row + i)));
                }
                for (; i < inner; ++i) dst[i] = R::combine(dst[i], row[i]);
            }
        }
    }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/// out[o, i] = index k of the largest (Greater) or smallest in[o, k, i]; the first on ties;
/// a NaN counts as the extreme so it is never hidden.
template <bool Greater, class T>
void arg_reduce(const T* in, std::int64_t* out, std::size_t outer, std::size_t n, std::size_t inner) {
    for (std::size_t o = 0; o < outer; ++o)
        for (std::size_t i = 0; i < inner; ++i) {
            const T* p = in + o * n * inner + i;
            std::size_t best = 0;
            T bv = p[0];
            for (std::size_t k = 1; k < n && bv == bv; ++k) {
                T v = p[k * inner];
                if (v != v || (Greater ? v > bv : v < bv)) {
                    bv = v;
                    best = k;
                }
            }
            out[o * inner + i] = static_cast<std::int64_t>(best);
        }
}

}  // namespace kiln::cpu_kernels
