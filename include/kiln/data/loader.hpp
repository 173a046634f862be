// Mini-batches of a table as fixed-shape tensors, like PyTorch's DataLoader: the model's batch
// size B and feature count F are compile-time, the table's rows are not. The last batch of an
// epoch is not dropped: rows past its `valid` count are zero padding, so a loss or metric that
// counts only the first `valid` rows sees every sample exactly once per epoch.
//
// The image loader (data_loader<B>(dataset, transform, options), below) does the same for a
// dataset of images passed through a transform, optionally on worker threads that prepare
// batches ahead of the training step.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <iterator>
#include <mutex>
#include <numeric>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "csv.hpp"
#include "image.hpp"
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

// ------------------------------------------------------------------------------ image loader
//
// Batches of a dataset's images passed through a transform (data_loader<B>(ds, t, options)).
// Workers prepare whole batches: batch j goes to one worker, which fills all its rows into its
// own slot of a ring of max(prefetch, workers) + 1 batches (the one the consumer holds and those
// ahead of it). Whole batches need no synchronisation inside a batch and keep each worker's
// writes in one contiguous buffer; the ring bounds memory and lets `workers` batches progress at
// once. Batches reach the consumer in order, and each sample's random transform draws from its
// own generator seeded from (seed, epoch, dataset index), so the batches are the same for any
// worker count. An exception thrown while preparing batch j is re-thrown to the consumer when it
// reaches batch j, as with workers = 0.

/// How an image loader walks its dataset.
struct image_loader_options {
    bool shuffle = false;      // a new seeded order every epoch
    std::uint64_t seed = 0;    // epoch e's order and augmentations depend only on (seed, e)
    bool drop_last = false;    // drop a last batch shorter than B (else it is zero-padded)
    std::size_t workers = 0;   // threads preparing batches; 0: prepare in the calling thread
    std::size_t prefetch = 2;  // batches prepared ahead of the one in use (at least `workers`)
};

/// A batch of images x [B, C, H, W] and labels y [B]; rows from `valid` on are zeros.
template <std::size_t B, std::size_t C, std::size_t H, std::size_t W>
struct image_batch {
    tensor<float, shape<B, C, H, W>> x;
    tensor<std::int64_t, shape<B>> y;
    std::size_t valid = 0;             // real rows: B except perhaps in the last batch
    std::vector<std::size_t> indices;  // the dataset indices of the valid rows
};

namespace detail {
inline std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}
template <class Img>
consteval bool is_float_image() {
    if constexpr (image_tensor<Img>)
        return std::is_same_v<typename image_traits<Img>::value_type, float>;
    else
        return false;
}
}  // namespace detail

/// The generator the loader hands the transform for dataset sample `index` in epoch `epoch`.
inline generator sample_generator(std::uint64_t seed, std::uint64_t epoch, std::uint64_t index) {
    using detail::splitmix64;
    return generator(splitmix64(splitmix64(splitmix64(seed) ^ epoch) ^ index));
}

/// Iterates a dataset in batches of B transformed images. Holds a reference to the dataset (it
/// must outlive the loader) and a copy of the transform, which workers call concurrently.
template <std::size_t B, dataset D, class T>
class image_loader {
    static_assert(B > 0, "[data_loader] the batch size B must be positive");
    using in_image = typename D::image_type;
    using out_image = std::remove_cvref_t<std::invoke_result_t<const T&, const in_image&, generator&>>;
    static_assert(detail::is_float_image<out_image>(),
                  "[data_loader] the transform must return a float CHW image, tensor<float, shape<C, H, W>> "
                  "(end the transform with to_tensor{})");
    using traits = detail::image_traits<std::conditional_t<detail::is_float_image<out_image>(), out_image,
                                                           image<float, 1, 1, 1>>>;

public:
    static constexpr std::size_t channels = traits::channels, height = traits::height, width = traits::width;
    using batch_type = image_batch<B, channels, height, width>;

    image_loader(const D& d, T t, image_loader_options opt = {}) : d_(&d), t_(std::move(t)), opt_(opt) {}
    image_loader(const D&& d, T t, image_loader_options opt = {}) = delete;  // would dangle
    image_loader(const image_loader&) = delete;
    image_loader& operator=(const image_loader&) = delete;
    /// Stops and joins the workers, also in the middle of an epoch.
    ~image_loader() { stop_workers(); }

    /// Batches per epoch: ceil(samples / B), or floor with drop_last.
    std::size_t size() const {
        const std::size_t n = d_->size();
        return opt_.drop_last ? n / B : (n + B - 1) / B;
    }
    /// The epoch the next begin() starts (0 first; each begin() advances it).
    std::size_t epoch() const { return epoch_; }
    /// Makes the next begin() start epoch e (to resume, or to replay an epoch).
    void set_epoch(std::size_t e) { epoch_ = e; }

    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = batch_type;
        using difference_type = std::ptrdiff_t;
        using pointer = const batch_type*;
        using reference = const batch_type&;

        iterator() = default;
        const batch_type& operator*() const { return l_->slot_of(index_).b; }
        const batch_type* operator->() const { return &l_->slot_of(index_).b; }
        /// Moves to the next batch, waiting for it; re-throws what preparing it threw.
        iterator& operator++() {
            if (++index_ < l_->batches_) l_->advance(index_);
            return *this;
        }
        void operator++(int) { ++*this; }
        bool operator==(const iterator& o) const { return index_ == o.index_; }

    private:
        friend class image_loader;
        iterator(image_loader* l, std::size_t index) : l_(l), index_(index) {}
        image_loader* l_ = nullptr;
        std::size_t index_ = 0;
    };

    /// Starts an epoch (ending one still running): orders the samples, starts the workers and
    /// waits for the first batch.
    iterator begin() {
        stop_workers();
        run_epoch_ = epoch_++;
        samples_ = d_->size();
        batches_ = size();
        order_.resize(samples_);
        std::iota(order_.begin(), order_.end(), std::size_t{0});
        if (opt_.shuffle) {
            generator g(opt_.seed, run_epoch_);
            data::shuffle(order_, g);
        }
        const std::size_t ring = opt_.workers == 0 ? 1 : std::max(opt_.prefetch, opt_.workers) + 1;
        if (slots_.size() != ring) slots_ = std::vector<slot>(ring);
        for (auto& s : slots_) s.id = none, s.error = nullptr;
        next_ = released_ = 0;
        stop_ = failed_ = false;
        if (opt_.workers > 0 && batches_ > 0) {
#if KILN_HAS_EXCEPTIONS
            try {
                for (std::size_t w = 0; w < opt_.workers; ++w) threads_.emplace_back([this] { work(); });
            } catch (...) {  // a thread that could not start: join those that did
                stop_workers();
                throw;
            }
#else
            for (std::size_t w = 0; w < opt_.workers; ++w) threads_.emplace_back([this] { work(); });
#endif
        }
        if (batches_ > 0) advance(0);
        return iterator(this, 0);
    }
    iterator end() { return iterator(this, batches_); }

private:
    static constexpr std::size_t none = ~std::size_t{0};
    struct slot {
        batch_type b;
        std::size_t id = none;  // the batch it holds, once prepared
        std::exception_ptr error;
    };

    slot& slot_of(std::size_t k) { return slots_[k % slots_.size()]; }

    void fill(batch_type& b, std::size_t k) const {
        constexpr std::size_t n = channels * height * width;
        const std::size_t first = k * B;
        b.valid = std::min(B, samples_ - first);
        b.indices.assign(order_.begin() + std::ptrdiff_t(first), order_.begin() + std::ptrdiff_t(first + b.valid));
        for (std::size_t r = 0; r < b.valid; ++r) {
            const std::size_t i = b.indices[r];
            const auto s = d_->get(i);
            generator g = sample_generator(opt_.seed, run_epoch_, i);
            const out_image img = t_(s.image, g);
            std::memcpy(b.x.data() + r * n, img.data(), n * sizeof(float));
            b.y[r] = static_cast<std::int64_t>(s.label);
        }
        // Padding is zeros, never rows of an earlier batch.
        if (b.valid < B) {
            std::memset(b.x.data() + b.valid * n, 0, (B - b.valid) * n * sizeof(float));
            for (std::size_t r = b.valid; r < B; ++r) b.y[r] = 0;
        }
    }

    // Makes batch k current: prepares it here (no workers) or waits for the worker that does.
    void advance(std::size_t k) {
        if (opt_.workers == 0) {
            slots_[0].id = none;
            fill(slots_[0].b, k);
            slots_[0].id = k;
            return;
        }
        std::unique_lock lk(m_);
        released_ = k;  // batches before k are done with: their slots may be refilled
        work_cv_.notify_all();
        slot& s = slot_of(k);
        ready_cv_.wait(lk, [&] { return s.id == k; });
        if (s.error) std::rethrow_exception(s.error);
    }

    void work() {
        const std::size_t ring = slots_.size();
        std::unique_lock lk(m_);
        for (;;) {
            work_cv_.wait(lk, [&] { return stop_ || failed_ || next_ >= batches_ || next_ < released_ + ring; });
            if (stop_ || failed_ || next_ >= batches_) return;
            const std::size_t k = next_++;
            slot& s = slot_of(k);
            lk.unlock();
            std::exception_ptr error;
#if KILN_HAS_EXCEPTIONS
            try {
                fill(s.b, k);
            } catch (...) {
                error = std::current_exception();
            }
#else
            fill(s.b, k);  // kiln::fail aborts without exceptions
#endif
            lk.lock();
            s.error = error;
            s.id = k;
            if (error) failed_ = true;  // later batches would never be used: stop claiming them
            ready_cv_.notify_all();
        }
    }

    void stop_workers() {
        {
            std::lock_guard lk(m_);
            stop_ = true;
        }
        work_cv_.notify_all();
        for (auto& t : threads_) t.join();
        threads_.clear();
    }

    const D* d_;
    T t_;
    image_loader_options opt_;
    std::size_t epoch_ = 0, run_epoch_ = 0, samples_ = 0, batches_ = 0;
    std::vector<std::size_t> order_;
    std::vector<slot> slots_;
    std::vector<std::thread> threads_;
    std::mutex m_;
    std::condition_variable work_cv_, ready_cv_;
    std::size_t next_ = 0, released_ = 0;  // next batch to claim; batches before released_ are free
    bool stop_ = false, failed_ = false;
};

/// A loader of B-image batches of `d` through `transform` (see image_loader).
template <std::size_t B, dataset D, class T>
image_loader<B, D, std::decay_t<T>> data_loader(const D& d, T&& transform, image_loader_options opt = {}) {
    return image_loader<B, D, std::decay_t<T>>(d, std::forward<T>(transform), opt);
}
template <std::size_t B, dataset D, class T>
void data_loader(const D&& d, T&& transform, image_loader_options opt = {}) = delete;  // the loader would dangle

}  // namespace kiln::data
