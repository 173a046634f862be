// Learning-rate schedules with torch.optim.lr_scheduler semantics. Each drives any optimizer
// that has lr() and set_lr(double): construct it after the optimizer (the optimizer's lr then
// is the base lr), call step() once per epoch, after that epoch's optimizer steps.
//
//   kiln::optim::cosine_annealing sched(opt, /*T_max=*/50, /*eta_min=*/1e-5);
//   for (int epoch = 0; epoch < 50; ++epoch) { train_one_epoch(); sched.step(); }
//
//   kiln::optim::reduce_lr_on_plateau plateau(opt, {.mode = kiln::optim::mode::min, .patience = 3});
//   plateau.step(validation_loss);
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <limits>
#include <numbers>

#include "../core/error.hpp"

namespace kiln::optim {

/// Whether a smaller (loss) or a larger (accuracy) metric is better.
enum class mode { min, max };

/// Anything a schedule can drive.
template <class O>
concept lr_settable = requires(O& o, double v) {
    { o.lr() } -> std::convertible_to<double>;
    o.set_lr(v);
};

/// lr = base_lr * gamma^(epoch / step_size) (torch.optim.lr_scheduler.StepLR).
template <lr_settable Opt>
class step_lr {
public:
    step_lr(Opt& opt, std::size_t step_size, double gamma = 0.1) : opt_(&opt), step_size_(step_size), gamma_(gamma) {
        if (step_size == 0) fail("[step_lr] step_size must be positive");
    }
    /// Ends an epoch: at every step_size-th epoch the lr is multiplied by gamma (torch's
    /// chainable form, so it composes with other changes to the lr).
    void step() {
        ++epoch_;
        if (epoch_ % step_size_ == 0) opt_->set_lr(opt_->lr() * gamma_);
    }
    std::size_t last_epoch() const { return epoch_; }
    double last_lr() const { return opt_->lr(); }

private:
    Opt* opt_;
    std::size_t step_size_;
    double gamma_;
    std::size_t epoch_ = 0;
};

/// Cosine annealing from the base lr down to eta_min over T_max epochs, back up over the next
/// T_max (torch.optim.lr_scheduler.CosineAnnealingLR, same recursive formula, so the same
/// doubles): lr_t = eta_min + (base - eta_min) * (1 + cos(pi * t / T_max)) / 2.
template <lr_settable Opt>
class cosine_annealing {
public:
    cosine_annealing(Opt& opt, std::size_t T_max, double eta_min = 0)
        : opt_(&opt), base_(opt.lr()), t_max_(T_max), eta_min_(eta_min) {
        if (T_max == 0) fail("[cosine_annealing] T_max must be positive");
    }
    void step() {
        ++epoch_;
        const double pi = std::numbers::pi, t = double(epoch_), T = double(t_max_);
        const double lr = opt_->lr();
        double next;
        if ((epoch_ - 1 + t_max_) % (2 * t_max_) == 0)  // torch: (t - 1 - T_max) % (2 T_max) == 0
            next = lr + (base_ - eta_min_) * (1 - std::cos(pi / T)) / 2;
        else
            next = (1 + std::cos(pi * t / T)) / (1 + std::cos(pi * (t - 1) / T)) * (lr - eta_min_) + eta_min_;
        opt_->set_lr(next);
    }
    std::size_t last_epoch() const { return epoch_; }
    double last_lr() const { return opt_->lr(); }

private:
    Opt* opt_;
    double base_;
    std::size_t t_max_;
    double eta_min_;
    std::size_t epoch_ = 0;
};

/// Whether reduce_lr_on_plateau's threshold is relative to the best value or absolute.
enum class threshold_mode { rel, abs };

/// torch.optim.lr_scheduler.ReduceLROnPlateau's arguments.
struct plateau_options {
    optim::mode mode = optim::mode::min;
    double factor = 0.1;
    std::size_t patience = 10;
    double threshold = 1e-4;
    optim::threshold_mode threshold_mode = optim::threshold_mode::rel;
    std::size_t cooldown = 0;
    double min_lr = 0;
    double eps = 1e-8;  ///< changes smaller than this are not made
};

/// Multiplies the lr by factor when the metric has not improved for more than `patience`
/// epochs, then waits `cooldown` epochs before counting again (torch semantics: improvement
/// means below best * (1 - threshold) in min/rel mode, best - threshold in min/abs mode, and
/// the mirror images for max; a NaN metric never improves).
template <lr_settable Opt>
class reduce_lr_on_plateau {
public:
    reduce_lr_on_plateau(Opt& opt, plateau_options o = {}) : opt_(&opt), o_(o) {
        if (!(o.factor < 1)) fail("[reduce_lr_on_plateau] factor should be < 1.0, got %g", o.factor);
        best_ = worst();
    }
    /// Ends an epoch whose metric was `metric`.
    void step(double metric) {
        ++epoch_;
        if (is_better(metric, best_)) {
            best_ = metric;
            bad_epochs_ = 0;
        } else {
            ++bad_epochs_;
        }
        if (cooldown_counter_ > 0) {
            --cooldown_counter_;
            bad_epochs_ = 0;
        }
        if (bad_epochs_ > o_.patience) {
            double old_lr = opt_->lr();
            double new_lr = std::max(old_lr * o_.factor, o_.min_lr);
            if (old_lr - new_lr > o_.eps) opt_->set_lr(new_lr);
            cooldown_counter_ = o_.cooldown;
            bad_epochs_ = 0;
        }
    }
    double best() const { return best_; }
    std::size_t num_bad_epochs() const { return bad_epochs_; }
    bool in_cooldown() const { return cooldown_counter_ > 0; }
    std::size_t last_epoch() const { return epoch_; }
    double last_lr() const { return opt_->lr(); }

private:
    double worst() const {
        return o_.mode == mode::min ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
    }
    bool is_better(double a, double best) const {
        const bool rel = o_.threshold_mode == threshold_mode::rel;
        if (o_.mode == mode::min) return rel ? a < best * (1 - o_.threshold) : a < best - o_.threshold;
        return rel ? a > best * (o_.threshold + 1) : a > best + o_.threshold;
    }

    Opt* opt_;
    plateau_options o_;
    double best_;
    std::size_t bad_epochs_ = 0, cooldown_counter_ = 0, epoch_ = 0;
};

}  // namespace kiln::optim
