// Mini-batches of a table as fixed-shape tensors, like PyTorch's DataLoader: the model's batch
// size B and feature count F are compile-time, the table's rows are not. The last batch of an
// epoch is not dropped: rows past its `valid` count are zero padding, so a loss or metric that
// counts only the first `valid` rows sees every sample exactly once per epoch.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <numeric>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "csv.hpp"
#include "split.hpp"

namespace kiln::data {

/// How a loader walks its table.
struct loader_options {
    bool shuffle = false;    // a new seeded order every epoch
    std::uint64_t seed = 0;  // epoch e's order depends only on (seed, e)
};

/// A batch: features x [B, F], labels y [B]; rows at and after `valid` are padding (zeros).
template <std::size_t B, std::size_t F, class T = float, class Y = std::int64_t>
struct batch {
    tensor<T, shape<B, F>> x;
    tensor<Y, shape<B>> y;
    std::size_t valid = 0;          // real rows in this batch: B except perhaps in the last one
    std::vector<std::size_t> rows;  // the table rows in this batch, `valid` of them
};

/// Iterates a table of T in mini-batches of B rows of F features; Y integral takes the table's
/// class labels, Y floating its real-valued targets. Holds a reference: the table must outlive it.
template <std::size_t B, std::size_t F, class T = float, class Y = std::int64_t>
class loader {
    static_assert(B > 0, "[loader] the batch size B must be positive");
    static_assert(std::is_arithmetic_v<Y>, "[loader] labels are integers (classes) or floating (targets)");

public:
    using batch_type = batch<B, F, T, Y>;

    /// Checks that the table has F columns and the labels Y asks for.
    loader(const basic_table<T>& t, loader_options opt = {}) : t_(&t), opt_(opt) {
        t.check("loader");
        if (t.cols() != F)
            fail("[loader] the model takes F = %zu features per row, the table has %zu columns", F, t.cols());
        rows_ = t.rows();
        if constexpr (std::is_integral_v<Y>) {
            if (t.labels.size() != rows_)
                fail("[loader] integer labels Y need the table's class labels; it has %zu for %zu rows%s",
                     t.labels.size(), rows_,
                     t.targets.empty() ? "" : " (it has real-valued targets: use a floating Y)");
        } else {
            if (t.targets.size() != rows_)
                fail("[loader] floating labels Y need the table's real-valued targets; it has %zu for %zu rows%s",
                     t.targets.size(), rows_, t.labels.empty() ? "" : " (it has class labels: use an integer Y)");
        }
        order_.resize(rows_);
        std::iota(order_.begin(), order_.end(), std::size_t{0});
    }
    loader(const basic_table<T>&& t, loader_options opt = {}) = delete;  // would dangle

    /// Batches per epoch: ceil(rows / B).
    std::size_t size() const { return (rows_ + B - 1) / B; }
    /// Rows per epoch.
    std::size_t rows() const { return rows_; }
    /// The epoch the next begin() starts (0 first; each begin() advances it).
    std::size_t epoch() const { return epoch_; }
    /// Makes the next begin() start epoch e (to resume, or to replay an epoch's order).
    void set_epoch(std::size_t e) { epoch_ = e; }

    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = batch_type;
        using difference_type = std::ptrdiff_t;
        using pointer = const batch_type*;
        using reference = const batch_type&;

        iterator() = default;
        const batch_type& operator*() const { return l_->current_; }
        const batch_type* operator->() const { return &l_->current_; }
        iterator& operator++() {
            if (++index_ < l_->size()) l_->load(index_);
            return *this;
        }
        void operator++(int) { ++*this; }
        bool operator==(const iterator& o) const { return index_ == o.index_; }

    private:
        friend class loader;
        iterator(loader* l, std::size_t index) : l_(l), index_(index) {}
        loader* l_ = nullptr;
        std::size_t index_ = 0;
    };

    /// Starts an epoch: orders the rows (shuffled if asked) and loads the first batch.
    iterator begin() {
        std::iota(order_.begin(), order_.end(), std::size_t{0});
        if (opt_.shuffle) {
            // A stream per epoch: the order of epoch e does not depend on how earlier epochs ran.
            generator g(opt_.seed, epoch_);
            data::shuffle(order_, g);
        }
        ++epoch_;
        if (size() > 0) load(0);
        return iterator(this, 0);
    }
    iterator end() { return iterator(this, size()); }

    /// Batch i of the current epoch's order (filled in the loader's one batch buffer).
    const batch_type& get(std::size_t i) {
        if (i >= size()) fail("[loader] batch %zu is out of range for %zu batches", i, size());
        load(i);
        return current_;
    }

private:
    void load(std::size_t i) {
        batch_type& b = current_;
        const std::size_t first = i * B;
        b.valid = std::min(B, rows_ - first);
        b.rows.assign(order_.begin() + std::ptrdiff_t(first), order_.begin() + std::ptrdiff_t(first + b.valid));
        for (std::size_t r = 0; r < b.valid; ++r) {
            const std::size_t src = b.rows[r];
            const T* row = t_->features.data() + src * F;
            for (std::size_t j = 0; j < F; ++j) b.x(r, j) = row[j];
            if constexpr (std::is_integral_v<Y>)
                b.y[r] = static_cast<Y>(t_->labels[src]);
            else
                b.y[r] = static_cast<Y>(t_->targets[src]);
        }
        // Padding is zeros, not stale rows of the previous batch: a loss summed over all B rows
        // by mistake then stays finite and deterministic.
        for (std::size_t r = b.valid; r < B; ++r) {
            for (std::size_t j = 0; j < F; ++j) b.x(r, j) = T(0);
            b.y[r] = Y(0);
        }
    }
    const basic_table<T>* t_;
    loader_options opt_;
    std::size_t rows_ = 0, epoch_ = 0;
    std::vector<std::size_t> order_;
    batch_type current_;
};

}  // namespace kiln::data
