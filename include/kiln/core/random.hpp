// Seeded random numbers that give the same stream on every platform: PCG32 integers, uniform
// floats from the top bits, normals by Box-Muller in double precision (std::log/cos/sqrt, so
// normals match wherever libm is correctly rounded for them, as glibc's are in practice).
#pragma once

#include <cmath>
#include <cstdint>

#include "tensor.hpp"

namespace kiln {

/// PCG-XSH-RR 32-bit generator (O'Neill 2014).
class generator {
public:
    explicit generator(std::uint64_t seed = 0x853c49e6748fea9bULL, std::uint64_t stream = 0xda3e39cb94b95bdbULL) {
        inc_ = (stream << 1u) | 1u;
        next_u32();
        state_ += seed;
        next_u32();
    }
    std::uint32_t next_u32() {
        std::uint64_t old = state_;
        state_ = old * 6364136223846793005ULL + inc_;
        auto xorshifted = static_cast<std::uint32_t>(((old >> 18u) ^ old) >> 27u);
        auto rot = static_cast<std::uint32_t>(old >> 59u);
        return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
    }
    /// Uniform in [0, 1).
    float next_float() { return static_cast<float>(next_u32() >> 8) * 0x1.0p-24f; }
    double next_double() {
        std::uint64_t hi = next_u32() >> 5, lo = next_u32() >> 6;
        return static_cast<double>(hi * 67108864ULL + lo) * 0x1.0p-53;
    }
    /// Standard normal.
    double next_normal() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        double u1 = next_double(), u2 = next_double();
        while (u1 <= 0.0) u1 = next_double();
        double r = std::sqrt(-2.0 * std::log(u1)), t = 6.283185307179586 * u2;
        spare_ = r * std::sin(t);
        has_spare_ = true;
        return r * std::cos(t);
    }
    /// Uniform integer in [0, n) without modulo bias.
    std::uint32_t next_below(std::uint32_t n) {
        std::uint32_t threshold = (0u - n) % n;
        for (;;) {
            std::uint32_t r = next_u32();
            if (r >= threshold) return r % n;
        }
    }

private:
    std::uint64_t state_ = 0, inc_ = 0;
    double spare_ = 0;
    bool has_spare_ = false;
};

// Random tensors for any device are drawn on the host and copied, so a seed gives the same
// numbers on every device (device-side generation is for dropout masks and the like).

/// The generator layers draw their initial weights from (torch.manual_seed's counterpart).
inline generator& default_generator() {
    static generator g(0);
    return g;
}
/// Reseeds the default generator.
inline void manual_seed(std::uint64_t seed) { default_generator() = generator(seed); }

/// Uniform samples in [lo, hi).
template <class T, shape_type S, class D = cpu, class St = auto_storage>
tensor<T, S, D, St> uniform(generator& g, T lo = T(0), T hi = T(1)) {
    if constexpr (std::is_same_v<D, cpu>) {
        tensor<T, S, D, St> t(uninitialized);
        for (auto& v : t) v = lo + (hi - lo) * static_cast<T>(std::is_same_v<T, float> ? g.next_float() : g.next_double());
        return t;
    } else {
        return to<D>(uniform<T, S>(g, lo, hi));
    }
}
/// Uniform samples in [0, 1).
template <class T, shape_type S, class D = cpu, class St = auto_storage>
tensor<T, S, D, St> rand(generator& g) { return uniform<T, S, D, St>(g); }
/// Normal samples with the given mean and standard deviation.
template <class T, shape_type S, class D = cpu, class St = auto_storage>
tensor<T, S, D, St> randn(generator& g, T mean = T(0), T stddev = T(1)) {
    if constexpr (std::is_same_v<D, cpu>) {
        tensor<T, S, D, St> t(uninitialized);
        for (auto& v : t) v = mean + stddev * static_cast<T>(g.next_normal());
        return t;
    } else {
        return to<D>(randn<T, S>(g, mean, stddev));
    }
}

}  // namespace kiln
