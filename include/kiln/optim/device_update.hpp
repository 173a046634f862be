// Optimizer updates for parameters that live on a device other than the CPU (Vulkan): the same
// rules as the CPU lane loops, written as kiln expressions, so each state array is updated by
// one fused dispatch on the device, with its state kept there. No host round trip in a step.
#pragma once

#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "../core/tensor.hpp"
#include "../ops/primitive/binary.hpp"
#include "../ops/primitive/reduce.hpp"
#include "../ops/primitive/unary.hpp"
#include "../ops/primitive/where.hpp"

namespace kiln::optim::detail {

/// Everything a step needs to know, for every rule.
struct rule_params {
    enum kind_t { sgd, adam } kind = sgd;
    float lr = 0, wd = 0;
    bool maximize = false;
    // sgd
    float momentum = 0, dampening = 0;
    bool nesterov = false, first = false;
    // adam / adamw
    float b1 = 0, b2 = 0, eps = 0, step_size = 0, bc2_sqrt = 1, decay = 1;
    bool decoupled = false, amsgrad = false;
};

/// Receives one state array as a host copy: its data, length, and the closure that copies the
/// host data back to the device (call it after writing, e.g. when restoring a checkpoint).
using state_visitor = std::function<void(float* data, std::size_t n, std::function<void()> write_back)>;

/// A device parameter with its state, updated through type-erased closures built once.
struct device_slot {
    std::string name;
    std::function<void(const rule_params&)> step;
    std::function<void()> zero_grad;
    /// State array `which` (0: momentum / exp_avg, 1: exp_avg_sq, 2: max_exp_avg_sq), created
    /// as zeros when no step has made it yet, downloaded and handed to the visitor.
    std::function<void(int which, const state_visitor&)> visit_state;
    /// This gradient's part of a total norm of order p (see grad_norm_part), one sync.
    std::function<double(double p)> grad_norm_part;
    /// grad *= coef on the device.
    std::function<void(float coef)> scale_grad;
};

/// The part of a gradient's norm of order p that adds up across tensors: the sum of |g|^p (the
/// count of non-zeros for p = 0), or the largest |g| for p = inf (NaN when any element is NaN).
/// Computed on the gradient's device; reading the result is a sync point.
template <class G>
double grad_norm_part(const G& g, double p) {
    if (p == 2) return double(sum(g * g).item());
    if (p == 1) return double(sum(abs(g)).item());
    if (p == 0) return double(sum(where(g != 0.f, 1.f, 0.f)).item());
    if (std::isinf(p)) return double(max(abs(g)).item());
    return double(sum(pow(abs(g), float(p))).item());
}

template <class P>
device_slot make_device_slot(const std::string& name, P& p) {
    using T = typename P::tensor_type;
    struct state {
        std::optional<T> s1, s2, s3;  // momentum / exp_avg, exp_avg_sq, max_exp_avg_sq
    };
    auto st = std::make_shared<state>();
    device_slot d;
    d.name = name;
    d.zero_grad = [&p] { p.zero_grad(); };
    d.grad_norm_part = [&p](double norm_type) { return grad_norm_part(p.grad(), norm_type); };
    d.scale_grad = [&p](float coef) { p.grad() = p.grad() * coef; };
    d.visit_state = [st](int which, const state_visitor& f) {
        std::optional<T>& s = which == 0 ? st->s1 : which == 1 ? st->s2 : st->s3;
        if (!s) s.emplace();
        using H = tensor<float, typename T::shape_type, cpu>;
        auto host = std::make_shared<H>(to<cpu>(*s));
        f(host->data(), T::size, [st, which, host] {
            std::optional<T>& t = which == 0 ? st->s1 : which == 1 ? st->s2 : st->s3;
            *t = to<typename T::device_type>(*host);
        });
    };
    d.step = [&p, st](const rule_params& r) {
        auto& w = p.value();
        std::optional<T> negated;  // a copy only when maximizing
        if (r.maximize) negated.emplace(-p.grad());
        const T& g = r.maximize ? *negated : p.grad();
        if (r.kind == rule_params::sgd) {
            const T d0 = r.wd != 0 ? T(g + w * r.wd) : g;
            if (r.momentum != 0) {
                if (!st->s1 || r.first)
                    st->s1.emplace(d0);
                else
                    *st->s1 = *st->s1 * r.momentum + d0 * (1 - r.dampening);
                if (r.nesterov)
                    w = w - (d0 + *st->s1 * r.momentum) * r.lr;
                else
                    w = w - *st->s1 * r.lr;
            } else {
                w = w - d0 * r.lr;
            }
            return;
        }
        if (!st->s1) {
            st->s1.emplace();
            st->s2.emplace();
        }
        const T gi = (!r.decoupled && r.wd != 0) ? T(g + w * r.wd) : g;
        if (r.decoupled && r.wd != 0) w = w * r.decay;
        *st->s1 = *st->s1 * r.b1 + gi * (1 - r.b1);
        *st->s2 = *st->s2 * r.b2 + gi * gi * (1 - r.b2);
        const T* v = &*st->s2;
        if (r.amsgrad) {
            if (!st->s3) st->s3.emplace();
            *st->s3 = maximum(*st->s3, *st->s2);
            v = &*st->s3;
        }
        w = w - *st->s1 / (sqrt(*v) / r.bc2_sqrt + r.eps) * r.step_size;
    };
    return d;
}

}  // namespace kiln::optim::detail
