// Early stopping on a validation metric: stop when it has not improved by more than
// min_delta for `patience` epochs in a row. It remembers the best value and the epoch that
// gave it (epochs count the should_stop calls from 0), and says whether the last call improved
// (the moment to save a checkpoint).
//
//   kiln::optim::early_stopping stop({.patience = 5, .min_delta = 1e-4});
//   for (int epoch = 0; ; ++epoch) {
//       double loss = validate();
//       if (stop.improved_on(loss)) save_checkpoint();   // or: stop.should_stop(loss); stop.improved()
//       if (stop.stopped()) break;
//   }
#pragma once

#include <cstddef>
#include <limits>

#include "schedule.hpp"

namespace kiln::optim {

struct early_stopping_options {
    std::size_t patience = 10;
    double min_delta = 0;  ///< an improvement must beat the best by more than this
    optim::mode mode = optim::mode::min;
};

class early_stopping {
public:
    explicit early_stopping(early_stopping_options o = {}) : o_(o) { reset(); }

    /// Records this epoch's metric; true when training should stop (no improvement by more
    /// than min_delta in the last `patience` epochs). A NaN metric is never an improvement.
    bool should_stop(double metric) {
        const std::size_t epoch = epochs_++;
        improved_ = o_.mode == mode::min ? metric < best_ - o_.min_delta : metric > best_ + o_.min_delta;
        if (improved_) {
            best_ = metric;
            best_epoch_ = epoch;
            wait_ = 0;
        } else {
            ++wait_;
        }
        if (wait_ >= o_.patience && !improved_) stopped_ = true;
        return stopped_;
    }
    /// should_stop(metric), returning whether this metric improved instead.
    bool improved_on(double metric) {
        should_stop(metric);
        return improved_;
    }

    /// Whether the last should_stop call improved on the best value.
    bool improved() const { return improved_; }
    /// Whether a should_stop call has returned true (it stays true until reset()).
    bool stopped() const { return stopped_; }
    /// The best metric so far (+inf in min mode, -inf in max mode before the first call).
    double best() const { return best_; }
    /// The epoch (0-based should_stop call) of the best metric; 0 before the first call.
    std::size_t best_epoch() const { return best_epoch_; }
    /// Epochs since the best one.
    std::size_t epochs_without_improvement() const { return wait_; }
    /// should_stop calls so far.
    std::size_t epochs() const { return epochs_; }

    void reset() {
        best_ = o_.mode == mode::min ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
        best_epoch_ = 0;
        epochs_ = wait_ = 0;
        improved_ = stopped_ = false;
    }

private:
    early_stopping_options o_;
    double best_;
    std::size_t best_epoch_, epochs_, wait_;
    bool improved_, stopped_;
};

}  // namespace kiln::optim
