// Per-column standardisation, as scikit-learn's StandardScaler: z = (x - mean) / scale with
// the population standard deviation (ddof 0). Statistics are accumulated in double whatever
// the table's type, so float tables of many rows get float64-accurate means and variances.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <ranges>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "csv.hpp"

namespace kiln::data {

/// Row-major feature values: a contiguous range of float or double (std::vector, std::span, ...).
template <class R>
concept feature_range = std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
    std::is_floating_point_v<std::ranges::range_value_t<R>>;

/// Removes each column's mean and divides by its standard deviation (1 for constant columns).
class standard_scaler {
public:
    /// Learns per-column mean and scale from row-major features (vector, span, ...) of `cols` columns.
    template <feature_range R>
    standard_scaler& fit(const R& x, std::size_t cols) {
        fit_impl(std::ranges::data(x), std::ranges::size(x), cols);
        return *this;
    }
    /// Learns per-column mean and scale from a table's features.
    template <class T>
    standard_scaler& fit(const basic_table<T>& t) {
        t.check("scaler");
        fit_impl(t.features.data(), t.features.size(), t.cols());
        return *this;
    }

    /// Standardises row-major features in place.
    template <feature_range R>
    void transform_in_place(R&& x, std::size_t cols) const {
        apply(std::ranges::data(x), std::ranges::size(x), cols, "transform", false);
    }
    /// Undoes transform in place.
    template <feature_range R>
    void inverse_transform_in_place(R&& x, std::size_t cols) const {
        apply(std::ranges::data(x), std::ranges::size(x), cols, "inverse_transform", true);
    }

    /// Standardised copy of row-major features.
    template <feature_range R>
    auto transform(const R& x, std::size_t cols) const {
        std::vector<std::ranges::range_value_t<R>> out(std::ranges::begin(x), std::ranges::end(x));
        apply(out.data(), out.size(), cols, "transform", false);
        return out;
    }
    /// The table with standardised features (pass an rvalue to reuse its storage).
    template <class T>
    basic_table<T> transform(basic_table<T> t) const {
        t.check("scaler");
        apply(t.features.data(), t.features.size(), t.cols(), "transform", false);
        return t;
    }
    /// Copy of row-major features mapped back to the original units.
    template <feature_range R>
    auto inverse_transform(const R& x, std::size_t cols) const {
        std::vector<std::ranges::range_value_t<R>> out(std::ranges::begin(x), std::ranges::end(x));
        apply(out.data(), out.size(), cols, "inverse_transform", true);
        return out;
    }
    /// The table with its features mapped back to the original units.
    template <class T>
    basic_table<T> inverse_transform(basic_table<T> t) const {
        t.check("scaler");
        apply(t.features.data(), t.features.size(), t.cols(), "inverse_transform", true);
        return t;
    }

    /// fit then transform, on row-major features.
    template <feature_range R>
    auto fit_transform(const R& x, std::size_t cols) {
        return fit(x, cols).transform(x, cols);
    }
    /// fit then transform, on a table.
    template <class T>
    basic_table<T> fit_transform(basic_table<T> t) {
        fit(t);
        return transform(std::move(t));
    }

    /// Whether fit has been called.
    bool fitted() const { return !mean_.empty(); }
    /// Per-column means (scikit-learn's mean_).
    const std::vector<double>& mean() const { return mean_; }
    /// Per-column population variances (var_).
    const std::vector<double>& var() const { return var_; }
    /// Per-column divisors: the standard deviation, or 1 for a constant column (scale_).
    const std::vector<double>& scale() const { return scale_; }
    /// Number of rows fit saw (n_samples_seen_).
    std::size_t rows_seen() const { return rows_seen_; }

private:
    template <class T>
    void fit_impl(const T* x, std::size_t size, std::size_t cols) {
        if (cols == 0) fail("[scaler] fit: 0 columns");
        if (size % cols != 0)
            fail("[scaler] fit: %zu values are not a whole number of rows of %zu columns", size, cols);
        const std::size_t n = size / cols;
        if (n == 0) fail("[scaler] fit: no rows (a scaler needs at least one row to learn from)");
        std::vector<double> mean(cols, 0.0), var(cols, 0.0), scale(cols);
        // Two passes (mean, then squared deviations) rather than a sum of squares, which cancels
        // catastrophically for columns whose mean is large next to their spread.
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < cols; ++j) mean[j] += double(x[i * cols + j]);
        const double dn = double(n), eps = std::numeric_limits<double>::epsilon();
        for (double& m : mean) m /= dn;
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < cols; ++j) {
                const double d = double(x[i * cols + j]) - mean[j];
                var[j] += d * d;
            }
        for (std::size_t j = 0; j < cols; ++j) {
            var[j] /= dn;
            // scikit-learn's test for a constant column (_is_constant_feature): a variance within
            // rounding error of 0. Dividing by its root would blow rounding noise up, so scale 1.
            const double bound = dn * eps * var[j] + (dn * mean[j] * eps) * (dn * mean[j] * eps);
            scale[j] = var[j] <= bound ? 1.0 : std::sqrt(var[j]);
        }
        mean_ = std::move(mean), var_ = std::move(var), scale_ = std::move(scale);
        rows_seen_ = n;
    }
    template <class T>
    void apply(T* x, std::size_t size, std::size_t cols, const char* op, bool inverse) const {
        if (!fitted()) fail("[scaler] %s called before fit", op);
        if (cols != mean_.size()) fail("[scaler] %s: fitted on %zu columns, got %zu", op, mean_.size(), cols);
        if (size % cols != 0)
            fail("[scaler] %s: %zu values are not a whole number of rows of %zu columns", op, size, cols);
        for (std::size_t i = 0; i < size; ++i) {
            const std::size_t j = i % cols;
            x[i] =
                static_cast<T>(inverse ? double(x[i]) * scale_[j] + mean_[j] : (double(x[i]) - mean_[j]) / scale_[j]);
        }
    }

    std::vector<double> mean_, var_, scale_;
    std::size_t rows_seen_ = 0;
};

}  // namespace kiln::data
