// Image datasets held in memory (uint8 CHW pixels, int64 labels): MNIST and Fashion-MNIST from
// IDX files, CIFAR-10 from its binary batches, subsets and seeded random splits. Every reader
// defect names the file and the byte offset or field. A user's own dataset needs only what the
// `dataset` concept of image.hpp asks: size(), get(i) -> sample<Img>, image_type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include <zlib.h>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "csv.hpp"
#include "idx.hpp"
#include "image.hpp"
#include "split.hpp"

namespace kiln::data {

/// N labelled C x H x W byte images in memory: image i is pixels[i*C*H*W, (i+1)*C*H*W) in CHW
/// order, its label labels[i] in [0, classes).
template <std::size_t C, std::size_t H, std::size_t W>
struct image_dataset {
    using image_type = image<std::uint8_t, C, H, W>;
    static constexpr std::size_t image_bytes = C * H * W;

    std::vector<std::uint8_t> pixels;
    std::vector<std::int64_t> labels;
    std::size_t classes = 0;

    /// Number of images.
    std::size_t size() const { return labels.size(); }
    /// Image i and its label (a copy; safe to call from several threads).
    sample<image_type> get(std::size_t i) const {
        if (i >= size()) fail("[image_dataset] index %zu is out of range for %zu images", i, size());
        if (pixels.size() < (i + 1) * image_bytes)
            fail("[image_dataset] image %zu needs pixels up to byte %zu, the dataset has %zu", i,
                 (i + 1) * image_bytes, pixels.size());
        sample<image_type> s{image_type(uninitialized), labels[i]};
        std::memcpy(s.image.data(), pixels.data() + i * image_bytes, image_bytes);
        return s;
    }
};

/// The images as a table of pixel values (one row per image) with their labels, for the table
/// tools (train_test_split, the table loader).
template <std::size_t C, std::size_t H, std::size_t W>
table as_table(const image_dataset<C, H, W>& d) {
    std::vector<float> px(d.pixels.begin(), d.pixels.end());
    return table::from_features(std::move(px), C * H * W, std::vector<std::int64_t>(d.labels));
}

namespace detail {
inline std::string idx_pick(const std::string& dir, const std::string& stem) {
    std::string gz = dir + "/" + stem + ".gz";
    if (gzFile f = gzopen(gz.c_str(), "rb")) {
        gzclose(f);
        return gz;
    }
    return dir + "/" + stem;
}
}  // namespace detail

/// Loads MNIST-layout IDX files `<dir>/<split>-images-idx3-ubyte[.gz]` and
/// `<split>-labels-idx1-ubyte[.gz]` (split "train" or "t10k"); labels must be below `classes`.
template <std::size_t H = 28, std::size_t W = 28>
image_dataset<1, H, W> load_mnist(const std::string& dir, const std::string& split, unsigned classes = 10) {
    const idx_array images = read_idx(detail::idx_pick(dir, split + "-images-idx3-ubyte"), 3,
                                      {std::uint32_t(H), std::uint32_t(W)});
    const std::string lp = detail::idx_pick(dir, split + "-labels-idx1-ubyte");
    const idx_array labels = read_idx(lp, 1);
    if (images.count() != labels.count())
        fail("[idx] %s: %zu labels for %zu images", lp.c_str(), labels.count(), images.count());
    image_dataset<1, H, W> d;
    d.classes = classes;
    d.labels.resize(labels.values.size());
    for (std::size_t i = 0; i < labels.values.size(); ++i) {
        if (labels.values[i] >= classes)
            fail("[idx] %s: label %u at offset %zu is not below %u classes", lp.c_str(), unsigned(labels.values[i]),
                 8 + i, classes);
        d.labels[i] = labels.values[i];
    }
    d.pixels = images.values;
    return d;
}

/// Fashion-MNIST: the same files and layout as MNIST (split "train" or "t10k").
inline image_dataset<1, 28, 28> load_fashion_mnist(const std::string& dir, const std::string& split) {
    return load_mnist<28, 28>(dir, split);
}

namespace detail {
inline constexpr std::size_t cifar_record = 1 + 3 * 32 * 32;

// Appends one CIFAR-10 binary batch: records of 1 label byte and 3072 pixel bytes (R, G, B
// planes of 32 x 32), which is already CHW.
inline void append_cifar_batch(image_dataset<3, 32, 32>& d, const std::string& path) {
    const std::vector<std::uint8_t> bytes = read_all(path, "cifar10");
    const char* p = path.c_str();
    if (bytes.empty()) fail("[cifar10] %s: empty file (expected records of %zu bytes)", p, cifar_record);
    if (bytes.size() % cifar_record != 0) {
        const std::size_t rec = bytes.size() / cifar_record;
        fail("[cifar10] %s: %zu bytes is not a whole number of %zu-byte records: record %zu at offset %zu is "
             "truncated (%zu of %zu bytes)",
             p, bytes.size(), cifar_record, rec, rec * cifar_record, bytes.size() - rec * cifar_record, cifar_record);
    }
    const std::size_t n = bytes.size() / cifar_record;
    const std::size_t first = d.labels.size();
    d.labels.resize(first + n);
    d.pixels.resize((first + n) * (cifar_record - 1));
    for (std::size_t r = 0; r < n; ++r) {
        const std::uint8_t* rec = bytes.data() + r * cifar_record;
        if (rec[0] >= 10)
            fail("[cifar10] %s: label %u at offset %zu (record %zu) is not below 10 classes", p, unsigned(rec[0]),
                 r * cifar_record, r);
        d.labels[first + r] = rec[0];
        std::memcpy(d.pixels.data() + (first + r) * (cifar_record - 1), rec + 1, cifar_record - 1);
    }
}
}  // namespace detail

/// CIFAR-10 from `<dir>/data_batch_1.bin` .. `data_batch_5.bin` (train) or `test_batch.bin`.
inline image_dataset<3, 32, 32> load_cifar10(const std::string& dir, bool train) {
    image_dataset<3, 32, 32> d;
    d.classes = 10;
    if (train) {
        for (int k = 1; k <= 5; ++k) detail::append_cifar_batch(d, dir + "/data_batch_" + std::to_string(k) + ".bin");
    } else {
        detail::append_cifar_batch(d, dir + "/test_batch.bin");
    }
    return d;
}

/// The samples of a dataset at the given indices, in that order (a view: the dataset must
/// outlive it). For validation splits and for training on part of a set.
template <dataset D>
class subset {
public:
    using image_type = typename D::image_type;

    /// Checks every index against the dataset's size.
    subset(const D& d, std::vector<std::size_t> indices) : d_(&d), indices_(std::move(indices)) {
        const std::size_t n = d.size();
        for (std::size_t k = 0; k < indices_.size(); ++k)
            if (indices_[k] >= n)
                fail("[subset] index %zu (position %zu) is out of range for a dataset of %zu samples", indices_[k], k, n);
    }
    subset(const D&& d, std::vector<std::size_t> indices) = delete;  // would dangle

    std::size_t size() const { return indices_.size(); }
    /// Sample i of the subset: the dataset's sample indices()[i].
    auto get(std::size_t i) const {
        if (i >= indices_.size()) fail("[subset] index %zu is out of range for %zu samples", i, indices_.size());
        return d_->get(indices_[i]);
    }
    const std::vector<std::size_t>& indices() const { return indices_; }
    const D& base() const { return *d_; }

private:
    const D* d_;
    std::vector<std::size_t> indices_;
};

/// Splits a dataset at random into (train, validation) subsets, validation of n_val samples; the
/// same seed gives the same split on every platform (torch.utils.data.random_split's role).
template <dataset D>
std::pair<subset<D>, subset<D>> random_split(const D& d, std::size_t n_val, std::uint64_t seed) {
    const std::size_t n = d.size();
    if (n_val > n) fail("[random_split] n_val = %zu is more than the dataset's %zu samples", n_val, n);
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    generator g(seed);
    shuffle(order, g);
    std::vector<std::size_t> val(order.begin(), order.begin() + std::ptrdiff_t(n_val));
    std::vector<std::size_t> train(order.begin() + std::ptrdiff_t(n_val), order.end());
    return {subset<D>(d, std::move(train)), subset<D>(d, std::move(val))};
}
template <dataset D>
void random_split(const D&& d, std::size_t n_val, std::uint64_t seed) = delete;  // the subsets would dangle

}  // namespace kiln::data
