// Stochastic gradient descent (torch.optim.SGD semantics), and the machinery every kiln
// optimizer shares: the parameter slots collected once from the model, flat aligned state
// buffers and the lane loop the update kernels run in.
//
//   kiln::optim::sgd opt(model, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
//   for (...) { opt.zero_grad(); kiln::backward(loss(model, x, y)); opt.step(); }
//
// The optimizer keeps raw pointers into the model's parameters: the model must outlive the
// optimizer and must not be moved or copied while it is in use. Float parameters only: on the
// CPU they are updated by SIMD lane loops, on a device (Vulkan) by fused device expressions
// with their state kept there (device_update.hpp). A parameter that the model visits twice
// (tied weights) is updated once, under the first name.
//
// State: visit_state(f) calls f(std::string name, float* data, std::size_t n) for every state
// array ("momentum_buffer.fc1.weight", ...) and for the step counter ("step", n = 1, a float
// as in torch). The pointers are writable, so the same call serves to save and to restore.
// The state of parameters on another device (Vulkan) is visited through a host copy: with the
// three-argument f, whatever f writes there is copied back to the device when f returns; an f
// that also takes a fourth argument, std::function<void()> write_back, gets that copy-back to
// call later instead (empty for host arrays), and the host copy lives as long as write_back.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/simd.hpp"
#include "../nn/module.hpp"
#include "device_update.hpp"

namespace kiln::optim {

/// One trainable tensor as an optimizer sees it: flat float spans of its value and gradient.
struct param_slot {
    std::string name;
    float* value;
    float* grad;
    std::size_t size;
    std::size_t offset;  ///< where this parameter's state starts in each flat state buffer
};

namespace detail {

/// State offsets are rounded up to this many floats (64 bytes): every slot starts aligned.
inline constexpr std::size_t state_align = 16;

/// A zero-filled, 64-byte aligned float array that never reallocates.
class float_buffer {
public:
    float_buffer() = default;
    explicit float_buffer(std::size_t n) : n_(n) {
        if (n == 0) return;
        std::size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
        p_ = static_cast<float*>(std::aligned_alloc(64, bytes));
        if (!p_) fail("[optim] out of memory allocating %zu bytes of optimizer state", bytes);
        std::memset(p_, 0, bytes);
    }
    float_buffer(float_buffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
    float_buffer& operator=(float_buffer&& o) noexcept {
        std::swap(p_, o.p_);
        std::swap(n_, o.n_);
        return *this;
    }
    float_buffer(const float_buffer&) = delete;
    float_buffer& operator=(const float_buffer&) = delete;
    ~float_buffer() { std::free(p_); }

    float* data() { return p_; }
    const float* data() const { return p_; }
    std::size_t size() const { return n_; }
    void zero() {
        if (p_) std::memset(p_, 0, n_ * sizeof(float));
    }

private:
    float* p_ = nullptr;
    std::size_t n_ = 0;
};

/// The parameters of m as slots (visited once, here); `total` gets the state length needed.
/// Parameters on another device become device_slots (updated by fused device expressions).
template <class Model>
std::vector<param_slot> collect_slots(Model& m, std::size_t& total, std::vector<device_slot>* device = nullptr) {
    std::vector<param_slot> slots;
    total = 0;
    nn::visit_parameters(m, [&](const std::string& name, auto& p) {
        using P = std::remove_cvref_t<decltype(p)>;
        static_assert(std::is_same_v<typename P::value_type, float>, "[optim] kiln's optimizers update float parameters");
        if constexpr (!std::is_same_v<typename P::device_type, cpu>) {
            if (!device) fail("[optim] %s lives on a device this optimizer cannot update", name.c_str());
            device->push_back(make_device_slot(name, p));
            return;
        } else {
        float* v = p.value().data();
        for (const auto& s : slots)
            if (s.value == v) return;  // tied weight: already listed
        std::size_t n = P::shape_type::size;
        slots.push_back(param_slot{name, v, p.grad().data(), n, total});
        total += (n + state_align - 1) / state_align * state_align;
        }
    });
    return slots;
}

template <class V>
inline V lane_load(const float* p) {
    if constexpr (std::is_same_v<V, float>)
        return *p;
    else
        return V::load_unaligned(p);
}
template <class V>
inline void lane_store(float* p, const V& v) {
    if constexpr (std::is_same_v<V, float>)
        *p = v;
    else
        v.store_unaligned(p);
}

/// Calls f(i, V{}) over [0, n): V = simd::batch<float> for full batches, float for the tail.
/// One generic body thus serves both, and the hot loop is vectorised at any -O level.
template <class F>
inline void for_lanes(std::size_t n, F&& f) {
    using B = simd::batch<float>;
    constexpr std::size_t w = B::size;
    std::size_t i = 0;
    for (; i + w <= n; i += w) f(i, B{});
    for (; i < n; ++i) f(i, float{});
}

/// What every optimizer has: its slots, learning rate, step counter and zero_grad.
class optimizer_base {
public:
    double lr() const { return lr_; }
    void set_lr(double lr) { lr_ = lr; }
    /// Completed steps (torch's state["step"]).
    std::size_t steps() const { return static_cast<std::size_t>(step_); }
    const std::vector<param_slot>& slots() const { return slots_; }
    void zero_grad() {
        for (auto& s : slots_) std::memset(s.grad, 0, s.size * sizeof(float));
        for (auto& d : device_slots_) d.zero_grad();
    }
    /// Parameters on a device other than the CPU (their state lives there too).
    const std::vector<device_slot>& device_slots() const { return device_slots_; }

protected:
    template <class Model>
    explicit optimizer_base(Model& m, double lr) : lr_(lr) {
        slots_ = collect_slots(m, state_size_, &device_slots_);
    }
    /// f(name, data, n[, write_back]) as visit_state's comment says.
    template <class F>
    static void visit_one(F& f, const std::string& name, float* data, std::size_t n, std::function<void()> write_back) {
        if constexpr (std::is_invocable_v<F&, const std::string&, float*, std::size_t, std::function<void()>>) {
            f(name, data, n, std::move(write_back));
        } else {
            f(name, data, n);
            if (write_back) write_back();
        }
    }
    /// Visits "<kind>.<param name>" over state buffer b and the device parameters' state array `which`.
    template <class F>
    void visit_buffer(const char* kind, int which, float_buffer& b, F& f) {
        for (auto& s : slots_) visit_one(f, std::string(kind) + "." + s.name, b.data() + s.offset, s.size, {});
        for (auto& d : device_slots_)
            d.visit_state(which, [&](float* data, std::size_t n, std::function<void()> write_back) {
                visit_one(f, std::string(kind) + "." + d.name, data, n, std::move(write_back));
            });
    }
    template <class F>
    void visit_step(F& f) {
        visit_one(f, "step", &step_, 1, {});
    }

    std::vector<param_slot> slots_;
    std::vector<device_slot> device_slots_;
    std::size_t state_size_ = 0;
    double lr_;
    float step_ = 0;  // a float like torch's state["step"]: exact up to 2^24 steps
};

}  // namespace detail

/// torch.optim.SGD's arguments (torch 2.x default lr).
struct sgd_options {
    double lr = 1e-3;
    double momentum = 0;
    double dampening = 0;
    bool nesterov = false;
    double weight_decay = 0;
    bool maximize = false;
};

/// SGD with optional momentum, dampening, Nesterov momentum and L2 weight decay:
///   d = g + wd * p;  buf = step == 0 ? d : momentum * buf + (1 - dampening) * d;
///   d = nesterov ? d + momentum * buf : buf;  p -= lr * d.
template <class Model>
class sgd : public detail::optimizer_base {
public:
    explicit sgd(Model& m, sgd_options o = {}) : optimizer_base(m, o.lr), model_(&m), o_(o) {
        if (o.lr < 0) fail("[sgd] invalid learning rate: %g", o.lr);
        if (o.momentum < 0) fail("[sgd] invalid momentum value: %g", o.momentum);
        if (o.weight_decay < 0) fail("[sgd] invalid weight_decay value: %g", o.weight_decay);
        if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
            fail("[sgd] nesterov momentum requires a momentum and zero dampening (momentum %g, dampening %g)",
                 o.momentum, o.dampening);
        if (o.momentum != 0) momentum_ = detail::float_buffer(state_size_);
    }

    const sgd_options& options() const { return o_; }
    Model& model() { return *model_; }

    void step() {
        const float lr = float(lr_), wd = float(o_.weight_decay), mom = float(o_.momentum);
        const float damp1 = float(1 - o_.dampening);
        const bool first = step_ == 0, use_wd = o_.weight_decay != 0, use_mom = o_.momentum != 0;
        const bool nesterov = o_.nesterov, maximize = o_.maximize;
        for (auto& s : slots_) {
            float* __restrict p = s.value;
            const float* __restrict g = s.grad;
            float* __restrict buf = use_mom ? momentum_.data() + s.offset : nullptr;
            detail::for_lanes(s.size, [&](std::size_t i, auto v) {
                using V = decltype(v);
                V d = detail::lane_load<V>(g + i);
                if (maximize) d = -d;
                if (use_wd) d = d + V(wd) * detail::lane_load<V>(p + i);
                if (use_mom) {
                    V b = first ? d : detail::lane_load<V>(buf + i) * V(mom) + V(damp1) * d;
                    detail::lane_store(buf + i, b);
                    d = nesterov ? d + V(mom) * b : b;
                }
                detail::lane_store(p + i, detail::lane_load<V>(p + i) + V(-lr) * d);
            });
        }
        if (!device_slots_.empty()) {
            detail::rule_params r;
            r.kind = detail::rule_params::sgd;
            r.lr = lr;
            r.wd = wd;
            r.maximize = maximize;
            r.momentum = mom;
            r.dampening = float(o_.dampening);
            r.nesterov = nesterov;
            r.first = first;
            for (auto& d : device_slots_) d.step(r);
        }
        step_ += 1;
    }

    /// "momentum_buffer.<param>" for each parameter (when momentum != 0), then "step".
    template <class F>
    void visit_state(F&& f) {
        if (o_.momentum != 0) visit_buffer("momentum_buffer", 0, momentum_, f);
        visit_step(f);
    }

private:
    Model* model_;
    sgd_options o_;
    detail::float_buffer momentum_;
};

template <class Model>
sgd(Model&, sgd_options) -> sgd<Model>;
template <class Model>
sgd(Model&) -> sgd<Model>;

}  // namespace kiln::optim
