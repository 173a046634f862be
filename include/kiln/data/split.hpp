// Seeded train/test splits, as scikit-learn's train_test_split: the test set has
// ceil(test_fraction * n) rows, the train set the rest, both in shuffled order. Shuffles use
// kiln::generator (PCG32) and Fisher-Yates with unbiased bounded draws, so a seed gives the same
// split on every platform and compiler (std::shuffle's algorithm is left to the library).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "csv.hpp"

namespace kiln::data {

/// Shuffles v in place with Fisher-Yates driven by g (the same order on every platform).
template <class V>
void shuffle(std::vector<V>& v, generator& g) {
    if (v.size() > 0xFFFFFFFFull) fail("[shuffle] %zu elements is more than PCG32 draws can index", v.size());
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[g.next_below(std::uint32_t(i))]);
}

/// Row indices of a split.
struct split_indices {
    std::vector<std::size_t> train, test;
};

namespace detail {
inline std::size_t test_rows(std::size_t n, double test_fraction) {
    if (!(test_fraction > 0.0 && test_fraction < 1.0))
        fail("[split] test_fraction must be in (0, 1), got %g", test_fraction);
    const auto n_test = static_cast<std::size_t>(std::ceil(test_fraction * double(n)));
    if (n_test >= n) fail("[split] test_fraction %g of %zu rows leaves no rows to train on", test_fraction, n);
    return n_test;
}

// How many of each class go to the test set: floor of the exact share, then the rows still
// missing go one each to the classes with the largest remainders (ties: the larger class, then
// the smaller label), so the total is n_test and every class is within one row of its share.
inline std::vector<std::size_t> allocate_test(const std::vector<std::size_t>& counts, std::size_t n,
                                              std::size_t n_test) {
    std::vector<std::size_t> take(counts.size());
    std::vector<std::pair<double, std::size_t>> rem;
    std::size_t given = 0;
    for (std::size_t c = 0; c < counts.size(); ++c) {
        const double exact = double(n_test) * double(counts[c]) / double(n);
        take[c] = std::min(counts[c], static_cast<std::size_t>(std::floor(exact)));
        given += take[c];
        rem.emplace_back(exact - double(take[c]), c);
    }
    std::stable_sort(rem.begin(), rem.end(), [&](const auto& a, const auto& b) {
        if (a.first != b.first) return a.first > b.first;
        return counts[a.second] > counts[b.second];
    });
    for (std::size_t k = 0; given < n_test; k = (k + 1) % rem.size()) {
        const std::size_t c = rem[k].second;
        if (take[c] < counts[c]) ++take[c], ++given;
    }
    return take;
}
}  // namespace detail

/// Splits rows 0..n_rows-1 into shuffled train and test indices; with `stratify` labels (one
/// per row), each class keeps its proportion in both sets, to within one row.
inline split_indices train_test_split(std::size_t n_rows, double test_fraction, std::uint64_t seed,
                                      std::span<const std::int64_t> stratify = {}) {
    const std::size_t n_test = detail::test_rows(n_rows, test_fraction);
    generator g(seed);
    split_indices s;
    if (stratify.empty()) {
        std::vector<std::size_t> order(n_rows);
        std::iota(order.begin(), order.end(), std::size_t{0});
        shuffle(order, g);
        s.test.assign(order.begin(), order.begin() + std::ptrdiff_t(n_test));
        s.train.assign(order.begin() + std::ptrdiff_t(n_test), order.end());
        return s;
    }
    if (stratify.size() != n_rows) fail("[split] stratify has %zu labels for %zu rows", stratify.size(), n_rows);
    std::map<std::int64_t, std::vector<std::size_t>> by_class;  // ordered: the draws must not depend on hashing
    for (std::size_t i = 0; i < n_rows; ++i) by_class[stratify[i]].push_back(i);
    std::vector<std::size_t> counts;
    for (const auto& [label, rows] : by_class) counts.push_back(rows.size());
    const std::vector<std::size_t> take = detail::allocate_test(counts, n_rows, n_test);
    std::size_t c = 0;
    for (auto& [label, rows] : by_class) {
        shuffle(rows, g);
        s.test.insert(s.test.end(), rows.begin(), rows.begin() + std::ptrdiff_t(take[c]));
        s.train.insert(s.train.end(), rows.begin() + std::ptrdiff_t(take[c]), rows.end());
        ++c;
    }
    // Interleave the classes, so a prefix of either set is not all one class.
    shuffle(s.train, g);
    shuffle(s.test, g);
    return s;
}

/// Splits a table into (train, test) tables; `stratify` keeps its class proportions in both.
template <class T>
std::pair<basic_table<T>, basic_table<T>> train_test_split(const basic_table<T>& t, double test_fraction,
                                                           std::uint64_t seed, bool stratify = false) {
    t.check("split");
    if (stratify && t.labels.empty()) fail("[split] stratify needs class labels; the table has none");
    const split_indices s =
        train_test_split(t.rows(), test_fraction, seed,
                         stratify ? std::span<const std::int64_t>(t.labels) : std::span<const std::int64_t>{});
    return {t.take(s.train), t.take(s.test)};
}

}  // namespace kiln::data
