// The only header that includes xsimd. Everything else in kiln talks to kiln::simd.
// Define KILN_NO_SIMD to get a one-lane scalar "batch" (used to prove kernels are correct
// without vector instructions, and for targets xsimd does not know).
#pragma once

#include <cmath>
#include <cstddef>
#include <type_traits>

#if !defined(KILN_NO_SIMD)
#include <xsimd/xsimd.hpp>
#endif

namespace kiln::simd {

#if !defined(KILN_NO_SIMD)

template <class T>
using batch = xsimd::batch<T>;
template <class T>
using batch_bool = xsimd::batch_bool<T>;

/// Name of the instruction set the batches use ("avx512bw", "avx2", "sse2", ...).
inline const char* arch_name() { return xsimd::default_arch::name(); }

#define KILN_SIMD_UNARY(fn) \
    template <class T, class A> inline xsimd::batch<T, A> fn(const xsimd::batch<T, A>& x) { return xsimd::fn(x); }
KILN_SIMD_UNARY(abs)
KILN_SIMD_UNARY(exp)
KILN_SIMD_UNARY(log)
KILN_SIMD_UNARY(sqrt)
KILN_SIMD_UNARY(tanh)
KILN_SIMD_UNARY(erf)
#undef KILN_SIMD_UNARY
#define KILN_SIMD_BINARY(fn) \
    template <class T, class A> inline xsimd::batch<T, A> fn(const xsimd::batch<T, A>& x, const xsimd::batch<T, A>& y) { return xsimd::fn(x, y); }
KILN_SIMD_BINARY(max)
KILN_SIMD_BINARY(min)
KILN_SIMD_BINARY(pow)
#undef KILN_SIMD_BINARY
template <class T, class A>
inline xsimd::batch<T, A> fma(const xsimd::batch<T, A>& a, const xsimd::batch<T, A>& b, const xsimd::batch<T, A>& c) {
    return xsimd::fma(a, b, c);
}
template <class T, class A>
inline xsimd::batch<T, A> select(const xsimd::batch_bool<T, A>& c, const xsimd::batch<T, A>& a, const xsimd::batch<T, A>& b) {
    return xsimd::select(c, a, b);
}

template <class T>
inline T reduce_add(const batch<T>& b) { return xsimd::hadd(b); }
// xsimd 8.1 has no reduce_max/min: go through memory (only used at the end of a reduction).
template <class T>
inline T reduce_max(const batch<T>& b) {
    alignas(64) T v[batch<T>::size];
    b.store_aligned(v);
    T m = v[0];
    for (std::size_t i = 1; i < batch<T>::size; ++i) m = v[i] > m ? v[i] : m;
    return m;
}
template <class T>
inline T reduce_min(const batch<T>& b) {
    alignas(64) T v[batch<T>::size];
    b.store_aligned(v);
    T m = v[0];
    for (std::size_t i = 1; i < batch<T>::size; ++i) m = v[i] < m ? v[i] : m;
    return m;
}

#else  // KILN_NO_SIMD: one lane, plain C++

template <class T>
struct batch_bool {
    bool v;
    static constexpr std::size_t size = 1;
};

template <class T>
struct batch {
    using value_type = T;
    static constexpr std::size_t size = 1;
    T v{};
    batch() = default;
    batch(T x) : v(x) {}  // NOLINT: implicit splat like xsimd
    static batch load_unaligned(const T* p) { return batch(*p); }
    static batch load_aligned(const T* p) { return batch(*p); }
    void store_unaligned(T* p) const { *p = v; }
    void store_aligned(T* p) const { *p = v; }
    T get(std::size_t) const { return v; }
    friend batch operator+(batch a, batch b) { return a.v + b.v; }
    friend batch operator-(batch a, batch b) { return a.v - b.v; }
    friend batch operator*(batch a, batch b) { return a.v * b.v; }
    friend batch operator/(batch a, batch b) { return a.v / b.v; }
    friend batch operator-(batch a) { return -a.v; }
    batch& operator+=(batch b) { v += b.v; return *this; }
    batch& operator-=(batch b) { v -= b.v; return *this; }
    batch& operator*=(batch b) { v *= b.v; return *this; }
    batch& operator/=(batch b) { v /= b.v; return *this; }
    friend batch_bool<T> operator<(batch a, batch b) { return {a.v < b.v}; }
    friend batch_bool<T> operator<=(batch a, batch b) { return {a.v <= b.v}; }
    friend batch_bool<T> operator>(batch a, batch b) { return {a.v > b.v}; }
    friend batch_bool<T> operator>=(batch a, batch b) { return {a.v >= b.v}; }
    friend batch_bool<T> operator==(batch a, batch b) { return {a.v == b.v}; }
    friend batch_bool<T> operator!=(batch a, batch b) { return {a.v != b.v}; }
};

inline const char* arch_name() { return "scalar"; }

template <class T> inline batch<T> abs(batch<T> a) { return std::abs(a.v); }
template <class T> inline batch<T> exp(batch<T> a) { return std::exp(a.v); }
template <class T> inline batch<T> log(batch<T> a) { return std::log(a.v); }
template <class T> inline batch<T> sqrt(batch<T> a) { return std::sqrt(a.v); }
template <class T> inline batch<T> tanh(batch<T> a) { return std::tanh(a.v); }
template <class T> inline batch<T> erf(batch<T> a) { return std::erf(a.v); }
template <class T> inline batch<T> pow(batch<T> a, batch<T> b) { return std::pow(a.v, b.v); }
template <class T> inline batch<T> max(batch<T> a, batch<T> b) { return a.v < b.v ? b.v : a.v; }
template <class T> inline batch<T> min(batch<T> a, batch<T> b) { return b.v < a.v ? b.v : a.v; }
template <class T> inline batch<T> fma(batch<T> a, batch<T> b, batch<T> c) { return a.v * b.v + c.v; }
template <class T> inline batch<T> select(batch_bool<T> c, batch<T> a, batch<T> b) { return c.v ? a : b; }
template <class T> inline T reduce_add(const batch<T>& b) { return b.v; }
template <class T> inline T reduce_max(const batch<T>& b) { return b.v; }
template <class T> inline T reduce_min(const batch<T>& b) { return b.v; }

#endif

// Scalar twins of the batch functions, so one op body serves T and batch<T>.
#define KILN_SIMD_SCALAR_UNARY(fn)                              \
    inline float fn(float x) { return std::fn(x); }             \
    inline double fn(double x) { return std::fn(x); }
KILN_SIMD_SCALAR_UNARY(exp)
KILN_SIMD_SCALAR_UNARY(log)
KILN_SIMD_SCALAR_UNARY(sqrt)
KILN_SIMD_SCALAR_UNARY(tanh)
KILN_SIMD_SCALAR_UNARY(abs)
KILN_SIMD_SCALAR_UNARY(erf)
#undef KILN_SIMD_SCALAR_UNARY
inline float pow(float a, float b) { return std::pow(a, b); }
inline double pow(double a, double b) { return std::pow(a, b); }
inline float max(float a, float b) { return a < b ? b : a; }
inline double max(double a, double b) { return a < b ? b : a; }
inline float min(float a, float b) { return b < a ? b : a; }
inline double min(double a, double b) { return b < a ? b : a; }
inline float fma(float a, float b, float c) { return a * b + c; }
inline double fma(double a, double b, double c) { return a * b + c; }
template <class T>
inline T select(bool c, T a, T b) { return c ? a : b; }

/// True when kiln vectorises element type T (float and double).
template <class T>
inline constexpr bool vectorised = std::is_same_v<T, float> || std::is_same_v<T, double>;

/// Lanes of a batch of T.
template <class T>
inline constexpr std::size_t width = batch<T>::size;

template <class T>
inline batch<T> load(const T* p) { return batch<T>::load_unaligned(p); }
template <class T>
inline void store(T* p, const batch<T>& b) { b.store_unaligned(p); }
template <class T>
inline batch<T> splat(T v) { return batch<T>(v); }

}  // namespace kiln::simd
