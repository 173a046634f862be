// kiln's assigner for fixed shapes: one fused pass, SIMD over the inner axis with every
// stride a compile-time constant. xtensor 0.24 falls off its SIMD path on broadcasts (3x
// slower than a plain loop here), so kiln evaluates its own expressions.
#pragma once

#include <cstddef>
#include <type_traits>

#include "device.hpp"
#include "expr.hpp"
#include "shape.hpp"
#include "simd.hpp"

namespace kiln {

namespace detail {
template <class E, class T>
inline void eval_row(T* out, const E& e, std::size_t row, std::size_t n) {
    std::size_t vec_end = 0;
    if constexpr (E::simd && std::is_same_v<typename E::value_type, T>) {
        constexpr std::size_t w = simd::width<T>;
        vec_end = n - n % w;
        for (std::size_t j = 0; j < vec_end; j += w) simd::store(out + j, e.load(row, j));
    }
    for (std::size_t j = vec_end; j < n; ++j) out[j] = static_cast<T>(e.get(row, j));
}
}  // namespace detail

/// Writes expression e into dst (same shape); elementwise expressions may alias dst.
template <class Dst, expression E>
void assign(Dst& dst, const E& e) {
    using DS = typename Dst::shape_type;
    using ES = shape_of_t<E>;
    detail::check_same_shape<assign_op, DS, ES>();
    using D = typename Dst::device_type;
    detail::check_devices<assign_op, D, typename std::remove_cvref_t<E>::device_type>();
    if constexpr (!std::is_same_v<D, cpu>) {
        device_ops<D>::assign(dst, e);
    } else {
        using T = typename Dst::value_type;
        using expr_t = std::remove_cvref_t<E>;
        T* out = dst.data();
        if constexpr (expr_t::flat) {
            detail::eval_row(out, e, 0, DS::size);
        } else {
            for (std::size_t r = 0; r < DS::outer; ++r) detail::eval_row(out + r * DS::inner, e, r, DS::inner);
        }
    }
}

}  // namespace kiln
