// Gradient clipping by total norm (torch.nn.utils.clip_grad_norm_ semantics).
//
//   float norm = kiln::optim::clip_grad_norm(model, 1.0);     // before opt.step()
//   float norm = kiln::optim::clip_grad_norm(opt, 1.0);       // the same, via the optimizer's
//                                                             // slots (no name building)
//
// The total norm is the norm of all gradients taken together (norm_type 2 by default; any
// p > 0, 0 (count of non-zeros) and infinity (largest magnitude) work). When it exceeds
// max_norm every gradient is scaled by max_norm / (total + 1e-6); the total before clipping is
// returned. Gradients on a device (Vulkan) are reduced and scaled there; each one's part of the
// norm is read back (a sync point per tensor). With error_if_nonfinite, a NaN or infinite total
// is reported instead of spreading NaN through the gradients.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <type_traits>

#include "sgd.hpp"

namespace kiln::optim {

namespace detail {

template <class X>
concept has_slots = requires(X& x) { x.slots(); };

/// Calls host(float* grad, std::size_t n) for every gradient on the CPU, and device(part,
/// scale) for every gradient elsewhere, with part(p) = grad_norm_part of order p and
/// scale(coef) = grad *= coef, both run on the gradient's device.
template <class X, class H, class Dv>
void for_each_grad(X& x, H&& host, Dv&& device) {
    if constexpr (has_slots<X>) {
        for (const auto& s : x.slots()) host(s.grad, s.size);
        for (const auto& d : x.device_slots()) device(d.grad_norm_part, d.scale_grad);
    } else {
        nn::visit_parameters(x, [&](const std::string&, auto& p) {
            using P = std::remove_cvref_t<decltype(p)>;
            static_assert(std::is_same_v<typename P::value_type, float>, "[clip_grad_norm] gradients must be float tensors");
            if constexpr (std::is_same_v<typename P::device_type, cpu>)
                host(p.grad().data(), P::shape_type::size);
            else
                device([&p](double norm_type) { return grad_norm_part(p.grad(), norm_type); },
                       [&p](float coef) { p.grad() = p.grad() * coef; });
        });
    }
}

/// Sum of squares: float SIMD lanes over chunks, accumulated in double across chunks.
inline double sum_of_squares(const float* g, std::size_t n) {
    constexpr std::size_t chunk = 1024;
    double total = 0;
    for (std::size_t c = 0; c < n; c += chunk) {
        const std::size_t m = n - c < chunk ? n - c : chunk;
        simd::batch<float> acc(0.f);
        float tail = 0;
        for_lanes(m, [&](std::size_t i, auto z) {
            using V = decltype(z);
            V v = detail::lane_load<V>(g + c + i);
            if constexpr (std::is_same_v<V, float>)
                tail += v * v;
            else
                acc = acc + v * v;
        });
        total += double(simd::reduce_add(acc)) + double(tail);
    }
    return total;
}

}  // namespace detail

/// Scales all gradients of `x` (a model, or an optimizer's parameters) so that their total
/// norm is at most max_norm; returns the total norm before scaling.
template <class X>
float clip_grad_norm(X& x, double max_norm, double norm_type = 2, bool error_if_nonfinite = false) {
    const double inf = std::numeric_limits<double>::infinity();
    if (!(norm_type >= 0)) fail("[clip_grad_norm] invalid norm_type %g", norm_type);
    double acc = 0;
    bool saw_nan = false;  // the largest magnitude of a NaN is NaN (fmax would skip it)
    auto device_part = [&](const auto& part, const auto&) {
        const double v = part(norm_type);
        if (norm_type == inf) {
            acc = std::fmax(acc, v);
            saw_nan |= std::isnan(v);
        } else {
            acc += v;
        }
    };
    detail::for_each_grad(x, [&](const float* g, std::size_t n) {
        if (norm_type == 2) {
            acc += detail::sum_of_squares(g, n);
        } else if (norm_type == inf) {
            for (std::size_t i = 0; i < n; ++i) {
                acc = std::fmax(acc, std::fabs(double(g[i])));
                saw_nan |= std::isnan(g[i]);
            }
        } else if (norm_type == 0) {
            for (std::size_t i = 0; i < n; ++i) acc += g[i] != 0;
        } else if (norm_type == 1) {
            for (std::size_t i = 0; i < n; ++i) acc += std::fabs(double(g[i]));
        } else {
            for (std::size_t i = 0; i < n; ++i) acc += std::pow(std::fabs(double(g[i])), norm_type);
        }
    }, device_part);
    double total_d = saw_nan ? std::numeric_limits<double>::quiet_NaN() : acc;
    if (norm_type == 2)
        total_d = std::sqrt(acc);
    else if (norm_type != inf && norm_type != 0 && norm_type != 1)
        total_d = std::pow(acc, 1 / norm_type);
    const float total = float(total_d);
    if (error_if_nonfinite && !std::isfinite(total))
        fail("[clip_grad_norm] the total norm of order %g of the gradients is non-finite (%g), so they cannot be clipped",
             norm_type, double(total));
    const float coef = float(max_norm) / (total + 1e-6f);
    if (coef < 1.f || std::isnan(coef)) {  // torch multiplies by min(coef, 1); a factor of 1 changes nothing
        detail::for_each_grad(x, [&](float* g, std::size_t n) {
            float* __restrict p = g;
            detail::for_lanes(n, [&](std::size_t i, auto z) {
                using V = decltype(z);
                detail::lane_store(p + i, detail::lane_load<V>(p + i) * V(coef));
            });
        }, [&](const auto&, const auto& scale) { scale(coef); });
    }
    return total;
}

}  // namespace kiln::optim
