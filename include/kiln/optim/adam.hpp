// Adam and AdamW (torch.optim.Adam / torch.optim.AdamW semantics, bias correction included,
// amsgrad optional). See sgd.hpp for what the optimizers share (slots, state visiting, the
// lifetime rule: the model outlives the optimizer and stays where it is).
//
//   kiln::optim::adamw opt(model, {.lr = 3e-4, .weight_decay = 0.05});
//
// Per step t (from 1), with g the gradient:
//   adam:  g += wd * p                      (L2 penalty in the gradient)
//   adamw: p *= 1 - lr * wd                 (decoupled weight decay)
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
//   v_hat = amsgrad ? (v_max = max(v_max, v)) : v
//   p -= lr / (1 - beta1^t) * m / (sqrt(v_hat) / sqrt(1 - beta2^t) + eps)
//
// State names: "exp_avg.<param>", "exp_avg_sq.<param>", "max_exp_avg_sq.<param>" (amsgrad)
// and "step".
#pragma once

#include <array>
#include <cmath>

#include "sgd.hpp"

namespace kiln::optim {

/// torch.optim.Adam's arguments.
struct adam_options {
    double lr = 1e-3;
    std::array<double, 2> betas = {0.9, 0.999};
    double eps = 1e-8;
    double weight_decay = 0;
    bool amsgrad = false;
    bool maximize = false;
};

/// torch.optim.AdamW's arguments (the same as Adam's, but weight decay defaults to 1e-2).
struct adamw_options {
    double lr = 1e-3;
    std::array<double, 2> betas = {0.9, 0.999};
    double eps = 1e-8;
    double weight_decay = 1e-2;
    bool amsgrad = false;
    bool maximize = false;
};

namespace detail {

/// The Adam update shared by adam (Decoupled = false) and adamw (Decoupled = true).
template <bool Decoupled>
class adam_core : public optimizer_base {
public:
    const adam_options& options() const { return o_; }

    void step() {
        step_ += 1;
        const double t = step_;
        const double bc1 = 1 - std::pow(o_.betas[0], t);
        const double bc2 = 1 - std::pow(o_.betas[1], t);
        const float step_size = float(lr_ / bc1), bc2_sqrt = float(std::sqrt(bc2));
        const float b1 = float(o_.betas[0]), b2 = float(o_.betas[1]);
        const float c1 = float(1 - o_.betas[0]), c2 = float(1 - o_.betas[1]);
        const float eps = float(o_.eps), wd = float(o_.weight_decay);
        const float decay = float(1 - lr_ * o_.weight_decay);
        const bool use_wd = o_.weight_decay != 0, amsgrad = o_.amsgrad, maximize = o_.maximize;
        for (auto& s : slots_) {
            float* __restrict p = s.value;
            const float* __restrict g = s.grad;
            float* __restrict m = exp_avg_.data() + s.offset;
            float* __restrict v = exp_avg_sq_.data() + s.offset;
            float* __restrict vmax = amsgrad ? max_exp_avg_sq_.data() + s.offset : nullptr;
            for_lanes(s.size, [&](std::size_t i, auto z) {
                using V = decltype(z);
                V gi = detail::lane_load<V>(g + i);
                if (maximize) gi = -gi;
                V pi = detail::lane_load<V>(p + i);
                if constexpr (Decoupled) {
                    if (use_wd) pi = pi * V(decay);
                } else {
                    if (use_wd) gi = gi + V(wd) * pi;
                }
                V mi = detail::lane_load<V>(m + i) * V(b1) + V(c1) * gi;
                V vi = detail::lane_load<V>(v + i) * V(b2) + V(c2) * gi * gi;
                detail::lane_store(m + i, mi);
                detail::lane_store(v + i, vi);
                if (amsgrad) {
                    vi = simd::max(detail::lane_load<V>(vmax + i), vi);
                    detail::lane_store(vmax + i, vi);
                }
                V denom = simd::sqrt(vi) / V(bc2_sqrt) + V(eps);
                detail::lane_store(p + i, pi + V(-step_size) * (mi / denom));
            });
        }
        if (!device_slots_.empty()) {
            detail::rule_params r;
            r.kind = detail::rule_params::adam;
            r.wd = wd;
            r.maximize = maximize;
            r.b1 = b1;
            r.b2 = b2;
            r.eps = eps;
            r.step_size = step_size;
            r.bc2_sqrt = bc2_sqrt;
            r.decay = decay;
            r.decoupled = Decoupled;
            r.amsgrad = amsgrad;
            for (auto& d : device_slots_) d.step(r);
        }
    }

    /// "exp_avg.<param>", "exp_avg_sq.<param>", "max_exp_avg_sq.<param>" (amsgrad), "step".
    template <class F>
    void visit_state(F&& f) {
        visit_buffer("exp_avg", 0, exp_avg_, f);
        visit_buffer("exp_avg_sq", 1, exp_avg_sq_, f);
        if (o_.amsgrad) visit_buffer("max_exp_avg_sq", 2, max_exp_avg_sq_, f);
        visit_step(f);
    }

protected:
    template <class Model>
    adam_core(Model& m, const adam_options& o) : optimizer_base(m, o.lr), o_(o) {
        const char* who = Decoupled ? "[adamw]" : "[adam]";
        if (!(o.lr >= 0)) fail("%s invalid learning rate: %g", who, o.lr);
        if (!(o.eps >= 0)) fail("%s invalid epsilon value: %g", who, o.eps);
        for (int i = 0; i < 2; ++i)
            if (!(o.betas[i] >= 0 && o.betas[i] < 1)) fail("%s invalid beta parameter at index %d: %g", who, i, o.betas[i]);
        if (!(o.weight_decay >= 0)) fail("%s invalid weight_decay value: %g", who, o.weight_decay);
        exp_avg_ = float_buffer(state_size_);
        exp_avg_sq_ = float_buffer(state_size_);
        if (o.amsgrad) max_exp_avg_sq_ = float_buffer(state_size_);
    }

    adam_options o_;
    float_buffer exp_avg_, exp_avg_sq_, max_exp_avg_sq_;
};

}  // namespace detail

/// Adam with L2 weight decay added to the gradient (torch.optim.Adam).
template <class Model>
class adam : public detail::adam_core<false> {
public:
    explicit adam(Model& m, adam_options o = {}) : adam_core(m, o), model_(&m) {}
    Model& model() { return *model_; }

private:
    Model* model_;
};

/// Adam with decoupled weight decay (torch.optim.AdamW).
template <class Model>
class adamw : public detail::adam_core<true> {
public:
    explicit adamw(Model& m, adamw_options o = {})
        : adam_core(m, adam_options{o.lr, o.betas, o.eps, o.weight_decay, o.amsgrad, o.maximize}), model_(&m) {}
    Model& model() { return *model_; }

private:
    Model* model_;
};

template <class Model>
adam(Model&, adam_options) -> adam<Model>;
template <class Model>
adam(Model&) -> adam<Model>;
template <class Model>
adamw(Model&, adamw_options) -> adamw<Model>;
template <class Model>
adamw(Model&) -> adamw<Model>;

}  // namespace kiln::optim
