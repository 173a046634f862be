// Classification metrics with scikit-learn's definitions and argument order (y_true, y_pred):
// accuracy, precision, recall, F1 (binary for one positive label, or macro / micro / weighted
// averages) and the confusion matrix (rows: true class, columns: predicted class). A confusion
// matrix can accumulate batch after batch, counting only each batch's first `valid` rows, so an
// epoch's metrics count every sample once however the loader padded its last batch.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <ranges>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"

namespace kiln::data {

/// Integer class labels: std::vector<int>, std::span<const std::int64_t>, an argmax tensor, ...
template <class R>
concept label_range = std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
    std::is_integral_v<std::ranges::range_value_t<R>>;

/// Count every element of a label range (the default `valid`).
inline constexpr std::size_t all_rows = std::numeric_limits<std::size_t>::max();

/// How per-class scores combine, as scikit-learn's `average` argument.
enum class average {
    binary,    // the score of class pos_label alone (at most two classes present)
    macro,     // unweighted mean over the classes present in y_true or y_pred
    micro,     // from the counts summed over classes (equals accuracy for single-label data)
    weighted,  // mean over present classes weighted by each class's count in y_true
};

/// Options of precision, recall and f1.
struct score_options {
    average avg = average::binary;
    std::int64_t pos_label = 1;    // the positive class for average::binary
    std::size_t valid = all_rows;  // count only the first `valid` pairs (a padded batch)
};

/// Counts of (true class, predicted class) pairs over a fixed number of classes.
class confusion_matrix {
public:
    /// An all-zero matrix for classes 0 .. classes-1.
    explicit confusion_matrix(std::size_t classes) : n_(classes), counts_(classes * classes, 0) {
        if (classes == 0) fail("[metrics] confusion_matrix needs at least one class");
        if (classes > 65536)
            fail("[metrics] confusion_matrix of %zu classes is too large (labels are 0 .. classes-1)", classes);
    }

    /// Adds the first `valid` (true, predicted) pairs; every label must be in [0, classes).
    template <label_range R1, label_range R2>
    confusion_matrix& update(const R1& y_true, const R2& y_pred, std::size_t valid = all_rows) {
        const std::size_t nt = std::ranges::size(y_true), np = std::ranges::size(y_pred);
        if (nt != np) fail("[metrics] y_true has %zu labels, y_pred %zu", nt, np);
        if (valid != all_rows && valid > nt) fail("[metrics] valid count %zu exceeds the %zu labels given", valid, nt);
        const std::size_t n = valid == all_rows ? nt : valid;
        const auto* t = std::ranges::data(y_true);
        const auto* p = std::ranges::data(y_pred);
        for (std::size_t i = 0; i < n; ++i) {
            const auto a = static_cast<long long>(t[i]), b = static_cast<long long>(p[i]);
            if (a < 0 || static_cast<unsigned long long>(a) >= n_)
                fail("[metrics] y_true[%zu] = %lld is not a class in [0, %zu)", i, a, n_);
            if (b < 0 || static_cast<unsigned long long>(b) >= n_)
                fail("[metrics] y_pred[%zu] = %lld is not a class in [0, %zu)", i, b, n_);
            ++counts_[std::size_t(a) * n_ + std::size_t(b)];
        }
        return *this;
    }

    /// Number of classes (rows and columns).
    std::size_t classes() const { return n_; }
    /// Count of samples of true class t predicted as class p.
    std::int64_t operator()(std::size_t t, std::size_t p) const { return counts_[t * n_ + p]; }
    /// Row-major counts, classes() x classes().
    const std::vector<std::int64_t>& counts() const { return counts_; }
    /// Number of samples counted.
    std::int64_t total() const {
        std::int64_t s = 0;
        for (std::int64_t c : counts_) s += c;
        return s;
    }
    /// Samples of true class c (the row sum, scikit-learn's "support").
    std::int64_t support(std::size_t c) const {
        std::int64_t s = 0;
        for (std::size_t p = 0; p < n_; ++p) s += counts_[c * n_ + p];
        return s;
    }
    /// Samples predicted as class c (the column sum).
    std::int64_t predicted(std::size_t c) const {
        std::int64_t s = 0;
        for (std::size_t t = 0; t < n_; ++t) s += counts_[t * n_ + c];
        return s;
    }
    /// Zeroes every count (a new epoch).
    void reset() { std::fill(counts_.begin(), counts_.end(), 0); }

private:
    std::size_t n_;
    std::vector<std::int64_t> counts_;
};

namespace detail {
template <label_range R1, label_range R2>
std::size_t classes_of(const R1& y_true, const R2& y_pred, std::size_t valid) {
    long long m = 0;
    const std::size_t nt = std::ranges::size(y_true), np = std::ranges::size(y_pred);
    const std::size_t n = std::min(valid == all_rows ? nt : valid, std::min(nt, np));
    for (std::size_t i = 0; i < n; ++i)
        m = std::max({m, static_cast<long long>(std::ranges::data(y_true)[i]),
                      static_cast<long long>(std::ranges::data(y_pred)[i])});
    return std::size_t(m) + 1;
}

inline double ratio(std::int64_t num, std::int64_t den) { return den == 0 ? 0.0 : double(num) / double(den); }

enum class score_kind { precision, recall, f1 };

// Per-class score from the counts; 0 where it is 0/0, as scikit-learn's zero_division default.
inline double class_score(const confusion_matrix& cm, std::size_t c, score_kind k) {
    const std::int64_t tp = cm(c, c), fp = cm.predicted(c) - tp, fn = cm.support(c) - tp;
    switch (k) {
        case score_kind::precision:
            return ratio(tp, tp + fp);
        case score_kind::recall:
            return ratio(tp, tp + fn);
        case score_kind::f1:
            return ratio(2 * tp, 2 * tp + fp + fn);
    }
    return 0.0;
}

inline double score(const confusion_matrix& cm, score_kind k, const score_options& o, const char* name) {
    const std::size_t n = cm.classes();
    std::vector<std::size_t> present;  // scikit-learn averages over labels seen in y_true or y_pred
    for (std::size_t c = 0; c < n; ++c)
        if (cm.support(c) != 0 || cm.predicted(c) != 0) present.push_back(c);
    switch (o.avg) {
        case average::binary: {
            if (present.size() > 2)
                fail("[metrics] %s: average::binary needs at most 2 classes, the labels have %zu (use average::macro)",
                     name, present.size());
            const auto pos = static_cast<long long>(o.pos_label);
            if (pos < 0 || static_cast<unsigned long long>(pos) >= n ||
                (present.size() == 2 && std::find(present.begin(), present.end(), std::size_t(pos)) == present.end()))
                fail("[metrics] %s: pos_label %lld is not one of the labels", name, pos);
            return class_score(cm, std::size_t(o.pos_label), k);
        }
        case average::macro: {
            double s = 0;
            for (std::size_t c : present) s += class_score(cm, c, k);
            return present.empty() ? 0.0 : s / double(present.size());
        }
        case average::micro: {
            // Summed over classes, false positives and false negatives are both the off-diagonal
            // total, so micro precision = recall = F1 = accuracy.
            std::int64_t tp = 0;
            for (std::size_t c = 0; c < n; ++c) tp += cm(c, c);
            return ratio(tp, cm.total());
        }
        case average::weighted: {
            double s = 0;
            for (std::size_t c : present) s += double(cm.support(c)) * class_score(cm, c, k);
            return cm.total() == 0 ? 0.0 : s / double(cm.total());
        }
    }
    return 0.0;
}
}  // namespace detail

/// The confusion matrix of the first `valid` pairs, over classes 0 .. max label (or `classes`).
template <label_range R1, label_range R2>
confusion_matrix make_confusion_matrix(const R1& y_true, const R2& y_pred, std::size_t valid = all_rows,
                                       std::size_t classes = 0) {
    confusion_matrix cm(classes ? classes : detail::classes_of(y_true, y_pred, valid));
    cm.update(y_true, y_pred, valid);
    return cm;
}

namespace detail {
// Binary scores of a label range leave room for pos_label even if no sample has it (score 0).
template <label_range R1, label_range R2>
confusion_matrix matrix_for(const R1& y_true, const R2& y_pred, const score_options& o) {
    std::size_t classes = classes_of(y_true, y_pred, o.valid);
    if (o.avg == average::binary && o.pos_label >= 0 && std::size_t(o.pos_label) >= classes)
        classes = std::size_t(o.pos_label) + 1;
    return make_confusion_matrix(y_true, y_pred, o.valid, classes);
}
}  // namespace detail

/// Fraction of samples whose prediction equals the truth.
inline double accuracy(const confusion_matrix& cm) {
    std::int64_t tp = 0;
    for (std::size_t c = 0; c < cm.classes(); ++c) tp += cm(c, c);
    return detail::ratio(tp, cm.total());
}
/// Precision tp / (tp + fp), averaged as o.avg says.
inline double precision(const confusion_matrix& cm, const score_options& o = {}) {
    return detail::score(cm, detail::score_kind::precision, o, "precision");
}
/// Recall tp / (tp + fn), averaged as o.avg says.
inline double recall(const confusion_matrix& cm, const score_options& o = {}) {
    return detail::score(cm, detail::score_kind::recall, o, "recall");
}
/// F1, the harmonic mean of precision and recall, averaged as o.avg says.
inline double f1(const confusion_matrix& cm, const score_options& o = {}) {
    return detail::score(cm, detail::score_kind::f1, o, "f1");
}

/// Fraction of the first `valid` samples whose prediction equals the truth.
template <label_range R1, label_range R2>
double accuracy(const R1& y_true, const R2& y_pred, std::size_t valid = all_rows) {
    const std::size_t nt = std::ranges::size(y_true), np = std::ranges::size(y_pred);
    if (nt != np) fail("[metrics] y_true has %zu labels, y_pred %zu", nt, np);
    if (valid != all_rows && valid > nt) fail("[metrics] valid count %zu exceeds the %zu labels given", valid, nt);
    const std::size_t n = valid == all_rows ? nt : valid;
    std::size_t hit = 0;
    for (std::size_t i = 0; i < n; ++i)
        hit += static_cast<long long>(std::ranges::data(y_true)[i]) ==
               static_cast<long long>(std::ranges::data(y_pred)[i]);
    return n == 0 ? 0.0 : double(hit) / double(n);
}
/// Precision of y_pred against y_true (scikit-learn's precision_score).
template <label_range R1, label_range R2>
double precision(const R1& y_true, const R2& y_pred, const score_options& o = {}) {
    return precision(detail::matrix_for(y_true, y_pred, o), o);
}
/// Recall of y_pred against y_true (recall_score).
template <label_range R1, label_range R2>
double recall(const R1& y_true, const R2& y_pred, const score_options& o = {}) {
    return recall(detail::matrix_for(y_true, y_pred, o), o);
}
/// F1 of y_pred against y_true (f1_score).
template <label_range R1, label_range R2>
double f1(const R1& y_true, const R2& y_pred, const score_options& o = {}) {
    return f1(detail::matrix_for(y_true, y_pred, o), o);
}

}  // namespace kiln::data
