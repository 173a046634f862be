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

/// A device parameter with its state, updated through type-erased closures built once.
struct device_slot {
    std::string name;
    std::function<void(const rule_params&)> step;
    std::function<void()> zero_grad;
};

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
    d.step = [&p, st](const rule_params& r) {
        auto& w = p.value();
        const T g = r.maximize ? T(-p.grad()) : T(p.grad());
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
