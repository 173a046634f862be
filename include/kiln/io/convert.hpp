// Element conversion from a stored safetensors dtype into a kiln element type, each value
// checked where the conversion could change it (io/safetensors.hpp, io/tensors.hpp).
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

namespace kiln::io::detail {

struct dtype_info {
    const char* name;
    std::size_t size;
};
inline constexpr dtype_info dtypes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
                                         {"I16", 2}, {"I8", 1},  {"U64", 8}, {"U32", 4},  {"U16", 2}, {"U8", 1},
                                         {"BOOL", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}};
inline const dtype_info* find_dtype(const std::string& name) {
    for (const auto& d : dtypes)
        if (name == d.name) return &d;
    return nullptr;
}

/// The safetensors dtype of element type T.
template <class T>
constexpr const char* dtype_name() {
    if constexpr (std::is_same_v<T, float>) return "F32";
    else if constexpr (std::is_same_v<T, double>) return "F64";
    else if constexpr (std::is_same_v<T, std::int64_t>) return "I64";
    else if constexpr (std::is_same_v<T, std::int32_t>) return "I32";
    else if constexpr (std::is_same_v<T, std::int16_t>) return "I16";
    else if constexpr (std::is_same_v<T, std::int8_t>) return "I8";
    else if constexpr (std::is_same_v<T, std::uint8_t>) return "U8";
    else static_assert(sizeof(T) == 0, "[safetensors] unsupported element type");
}

template <class Src>
inline Src read_unaligned(const unsigned char* p) {
    Src v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0) {
        float f = std::ldexp(float(mant), -24);  // zero or subnormal
        return sign ? -f : f;
    }
    std::uint32_t bits = exp == 31 ? sign | 0x7f800000u | (mant << 13) : sign | ((exp + 112) << 23) | (mant << 13);
    return std::bit_cast<float>(bits);
}
template <class Src, class As, class F>
inline void for_each_as(const unsigned char* p, std::size_t n, F&& f) {
    for (std::size_t i = 0; i < n; ++i) f(i, As(read_unaligned<Src>(p + sizeof(Src) * i)));
}
/// Calls f(i, value) for each element of a source of dtype d: a double for float dtypes, an
/// int64_t for signed ones, a uint64_t for unsigned ones and BOOL (0 or 1). The dtype is
/// dispatched once, outside the loop; F8 dtypes are not read (nothing converts from them).
template <class F>
inline void for_each_element(const std::string& d, const unsigned char* p, std::size_t n, F&& f) {
    using i64 = std::int64_t;
    using u64 = std::uint64_t;
    if (d == "F32") for_each_as<float, double>(p, n, f);
    else if (d == "F64") for_each_as<double, double>(p, n, f);
    else if (d == "F16") for_each_as<std::uint16_t, std::uint16_t>(p, n, [&](std::size_t i, std::uint16_t h) { f(i, double(half_to_float(h))); });
    else if (d == "BF16")  // the top half of an F32
        for_each_as<std::uint16_t, std::uint32_t>(p, n, [&](std::size_t i, std::uint32_t b) { f(i, double(std::bit_cast<float>(b << 16))); });
    else if (d == "I64") for_each_as<i64, i64>(p, n, f);
    else if (d == "I32") for_each_as<std::int32_t, i64>(p, n, f);
    else if (d == "I16") for_each_as<std::int16_t, i64>(p, n, f);
    else if (d == "I8") for_each_as<std::int8_t, i64>(p, n, f);
    else if (d == "U64") for_each_as<u64, u64>(p, n, f);
    else if (d == "U32") for_each_as<std::uint32_t, u64>(p, n, f);
    else if (d == "U16") for_each_as<std::uint16_t, u64>(p, n, f);
    else if (d == "U8") for_each_as<std::uint8_t, u64>(p, n, f);
    else if (d == "BOOL") for_each_as<std::uint8_t, u64>(p, n, [&](std::size_t i, u64 b) { f(i, u64(b != 0)); });
}
inline bool is_float_dtype(const std::string& d) { return d == "F32" || d == "F64" || d == "F16" || d == "BF16"; }
inline bool is_int_dtype(const std::string& d) { return d[0] == 'I' || d[0] == 'U' || d == "BOOL"; }

/// Whether a tensor of element type T may be read from a stored dtype `have` by load_tensor:
/// floating-point T reads every float and integer dtype and BOOL; integer T reads the integer
/// dtypes and BOOL, never a float one (that would truncate). F8 dtypes read into nothing.
template <class T>
bool reads_into(const std::string& have) {
    return is_int_dtype(have) || (std::is_floating_point_v<T> && is_float_dtype(have));
}

/// Converts n elements of dtype `have` at src into dst, which must be allowed (reads_into).
/// Each value is checked where the conversion could change it: a finite float beyond T's
/// range (F64 -> float), an integer T cannot hold exactly (beyond 2^24 for float, 2^53 for
/// double) or out of an integer T's range. NaN and infinities convert as they are. Returns ""
/// or the problem ("holds 2 values outside the range of I32, the first (3000000000) at element 4").
template <class T>
std::string convert_into(T* dst, const std::string& have, const unsigned char* src, std::size_t n) {
    if (have == dtype_name<T>()) {
        std::memcpy(dst, src, n * sizeof(T));
        return {};
    }
    std::size_t bad = 0, first = 0;
    std::string first_value;
    for_each_element(have, src, n, [&](std::size_t i, auto v) {
        using V = decltype(v);
        bool ok = true;
        if constexpr (std::is_floating_point_v<V> && std::is_floating_point_v<T>) {
            ok = !std::isfinite(v) || std::isfinite(T(v));
        } else if constexpr (std::is_floating_point_v<T>) {  // an integer into float or double
            constexpr V limit = V(1) << std::numeric_limits<T>::digits;
            ok = v <= limit && (std::is_unsigned_v<V> || v >= V(-limit));
        } else if constexpr (std::is_integral_v<V>) {
            ok = std::in_range<T>(v);
        }  // a float into an integer is never asked for (reads_into)
        if (!ok && bad++ == 0) {
            first = i;
            if constexpr (std::is_floating_point_v<V>) {
                char buf[32];
                std::snprintf(buf, sizeof buf, "%g", double(v));
                first_value = buf;
            } else {
                first_value = std::to_string(v);
            }
        }
        dst[i] = T(v);
    });
    if (bad == 0) return {};
    const std::string why = !std::is_floating_point_v<T> ? std::string("outside the range of ") + dtype_name<T>()
                            : is_float_dtype(have)       ? "beyond the float range"
                            : std::is_same_v<T, float>   ? "that F32 cannot hold exactly (beyond 2^24)"
                                                         : "that F64 cannot hold exactly (beyond 2^53)";
    return "holds " + std::to_string(bad) + (bad > 1 ? " values " : " value ") + why + ", the first (" + first_value +
           ") at element " + std::to_string(first);
}

}  // namespace kiln::io::detail
