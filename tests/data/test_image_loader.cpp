// The image loader: batch counts and padding, drop_last, seeded shuffles per epoch, batches that
// do not depend on the worker count, every sample once per epoch, early break, exceptions from
// the dataset or the transform reaching the consumer, destruction in the middle of an epoch, and
// the chain of transforms.hpp.
#include <kiln/data/datasets.hpp>
#include <kiln/data/loader.hpp>
#include <kiln/data/transforms.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

namespace data = kiln::data;

namespace {

// n images of 1 x 4 x 4 whose pixels all equal their index (mod 256), label index % 7. Fetching
// index `throw_at` throws while `armed`.
struct index_dataset {
    using image_type = data::image<std::uint8_t, 1, 4, 4>;
    std::size_t n = 0;
    std::size_t throw_at = ~std::size_t{0};
    std::atomic<bool>* armed = nullptr;
    std::size_t size() const { return n; }
    data::sample<image_type> get(std::size_t i) const {
        if (i == throw_at && armed && armed->load()) kiln::fail("[index_dataset] sample %zu is unreadable", i);
        data::sample<image_type> s;
        s.image.fill(std::uint8_t(i));
        s.label = std::int64_t(i % 7);
        return s;
    }
};

// Bytes to floats; deterministic.
struct to_float {
    template <class In>
    auto operator()(const In& in, kiln::generator&) const {
        kiln::tensor<float, typename In::shape_type> out(kiln::uninitialized);
        for (std::size_t k = 0; k < In::shape_type::size; ++k) out[k] = float(in[k]);
        return out;
    }
};
// Bytes to floats plus uniform noise: random, so it shows which generator each sample got.
struct jitter {
    template <class In>
    auto operator()(const In& in, kiln::generator& g) const {
        kiln::tensor<float, typename In::shape_type> out(kiln::uninitialized);
        for (std::size_t k = 0; k < In::shape_type::size; ++k) out[k] = float(in[k]) + g.next_float();
        return out;
    }
};
// The top-left 2 x 2 corner, as floats: the transform's output shape sets the batch's.
struct corner {
    template <class In>
    data::image<float, 1, 2, 2> operator()(const In& in, kiln::generator&) const {
        data::image<float, 1, 2, 2> out;
        for (std::size_t i = 0; i < 2; ++i)
            for (std::size_t j = 0; j < 2; ++j) out(0, i, j) = float(in(0, i, j));
        return out;
    }
};
// Throws on the image of index `at` (pixels equal the index); sleeps `us` per image.
struct faulty {
    float at = -1;
    int us = 0;
    template <class In>
    auto operator()(const In& in, kiln::generator& g) const {
        if (us > 0) std::this_thread::sleep_for(std::chrono::microseconds(us));
        if (float(in[0]) == at) kiln::fail("[faulty] cannot transform image %g", double(at));
        return jitter{}(in, g);
    }
};

struct epoch_batches {
    std::vector<std::vector<float>> x;
    std::vector<std::vector<std::int64_t>> y;
    std::vector<std::size_t> valid;
    std::vector<std::vector<std::size_t>> indices;
    bool operator==(const epoch_batches&) const = default;
};

template <class Loader>
epoch_batches run_epoch(Loader& loader) {
    epoch_batches e;
    for (const auto& b : loader) {
        e.x.emplace_back(b.x.begin(), b.x.end());
        e.y.emplace_back(b.y.begin(), b.y.end());
        e.valid.push_back(b.valid);
        e.indices.push_back(b.indices);
    }
    return e;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const kiln::error& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

// The loader keeps a reference to its dataset: a temporary is refused at compile time.
template <class D>
concept loads_temporary = requires(D&& d) { data::data_loader<4>(std::move(d), to_float{}); };
static_assert(!loads_temporary<index_dataset>);
static_assert(!std::is_constructible_v<data::image_loader<4, index_dataset, to_float>, index_dataset&&, to_float>);

TEST(ImageLoader, BatchCountPaddingAndDropLast) {
    const index_dataset d{10};
    auto loader = data::data_loader<4>(d, to_float{});
    using batch = std::remove_cvref_t<decltype(*loader.begin())>;
    static_assert(std::is_same_v<batch, data::image_batch<4, 1, 4, 4>>);
    static_assert(std::is_same_v<decltype(batch::x), kiln::tensor<float, kiln::shape<4, 1, 4, 4>>>);
    static_assert(std::is_same_v<decltype(batch::y), kiln::tensor<std::int64_t, kiln::shape<4>>>);
    EXPECT_EQ(loader.size(), 3u);
    const epoch_batches e = run_epoch(loader);
    ASSERT_EQ(e.valid, (std::vector<std::size_t>{4, 4, 2}));
    EXPECT_EQ(e.indices[2], (std::vector<std::size_t>{8, 9}));
    for (std::size_t k = 0; k < 16; ++k) {
        EXPECT_EQ(e.x[2][k], 8.0f);
        EXPECT_EQ(e.x[2][16 + k], 9.0f);
        EXPECT_EQ(e.x[2][32 + k], 0.0f);  // padding rows are zeros
        EXPECT_EQ(e.x[2][48 + k], 0.0f);
    }
    EXPECT_EQ(e.y[2], (std::vector<std::int64_t>{1, 2, 0, 0}));
    EXPECT_EQ(e.y[0], (std::vector<std::int64_t>{0, 1, 2, 3}));

    auto dropping = data::data_loader<4>(d, to_float{}, {.drop_last = true, .workers = 2});
    EXPECT_EQ(dropping.size(), 2u);
    const epoch_batches f = run_epoch(dropping);
    EXPECT_EQ(f.valid, (std::vector<std::size_t>{4, 4}));
    EXPECT_EQ(f.indices[1], (std::vector<std::size_t>{4, 5, 6, 7}));

    const index_dataset empty{0};
    auto none = data::data_loader<4>(empty, to_float{}, {.workers = 2});
    EXPECT_EQ(none.size(), 0u);
    EXPECT_EQ(run_epoch(none).valid.size(), 0u);
}

TEST(ImageLoader, TheTransformSetsTheImageShape) {
    const index_dataset d{5};
    auto loader = data::data_loader<2>(d, corner{}, {.workers = 1});
    static_assert(std::is_same_v<decltype(loader)::batch_type, data::image_batch<2, 1, 2, 2>>);
    const epoch_batches e = run_epoch(loader);
    ASSERT_EQ(e.x.size(), 3u);
    EXPECT_EQ(e.x[1], (std::vector<float>{2, 2, 2, 2, 3, 3, 3, 3}));
}

TEST(ImageLoader, ShuffleDependsOnSeedAndEpochOnly) {
    const index_dataset d{37};
    const data::image_loader_options o{.shuffle = true, .seed = 5};
    auto a = data::data_loader<8>(d, jitter{}, o);
    auto b = data::data_loader<8>(d, jitter{}, o);
    const epoch_batches a0 = run_epoch(a), a1 = run_epoch(a);
    EXPECT_EQ(a.epoch(), 2u);
    EXPECT_EQ(run_epoch(b), a0);
    EXPECT_EQ(run_epoch(b), a1);
    EXPECT_NE(a0.indices, a1.indices);
    b.set_epoch(0);
    EXPECT_EQ(run_epoch(b), a0);
    auto c = data::data_loader<8>(d, jitter{}, {.shuffle = true, .seed = 6});
    EXPECT_NE(run_epoch(c).indices, a0.indices);
    // Without shuffling the order is the dataset's, but augmentations still change by epoch.
    auto s = data::data_loader<8>(d, jitter{}, {.seed = 5});
    const epoch_batches s0 = run_epoch(s), s1 = run_epoch(s);
    EXPECT_EQ(s0.indices, s1.indices);
    EXPECT_EQ(s0.indices[0], (std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7}));
    EXPECT_NE(s0.x, s1.x);
}

TEST(ImageLoader, SampleGeneratorReplaysAnAugmentation) {
    const index_dataset d{20};
    auto loader = data::data_loader<6>(d, jitter{}, {.shuffle = true, .seed = 9, .workers = 2});
    run_epoch(loader);
    const epoch_batches e = run_epoch(loader);  // epoch 1
    const std::size_t i = e.indices[1][3];
    kiln::generator g = data::sample_generator(9, 1, i);
    const auto want = jitter{}(d.get(i).image, g);
    EXPECT_EQ(std::vector<float>(e.x[1].begin() + 3 * 16, e.x[1].begin() + 4 * 16),
              std::vector<float>(want.begin(), want.end()));
}

TEST(ImageLoader, BatchesAreTheSameForAnyWorkerCount) {
    const index_dataset d{45};
    auto reference = data::data_loader<4>(d, jitter{}, {.shuffle = true, .seed = 3});
    const epoch_batches r0 = run_epoch(reference), r1 = run_epoch(reference);
    for (std::size_t workers : {1u, 3u})
        for (std::size_t prefetch : {0u, 1u, 5u}) {
            auto l = data::data_loader<4>(d, jitter{},
                                          {.shuffle = true, .seed = 3, .workers = workers, .prefetch = prefetch});
            EXPECT_EQ(run_epoch(l), r0) << workers << " workers, prefetch " << prefetch;
            EXPECT_EQ(run_epoch(l), r1) << workers << " workers, prefetch " << prefetch;
        }
}

TEST(ImageLoader, EverySampleOncePerEpoch) {
    const index_dataset d{103};
    auto loader = data::data_loader<8>(d, to_float{}, {.shuffle = true, .seed = 1, .workers = 3, .prefetch = 2});
    for (int epoch = 0; epoch < 3; ++epoch) {
        std::vector<int> seen(d.size(), 0);
        std::size_t batches = 0;
        for (const auto& b : loader) {
            ++batches;
            for (std::size_t r = 0; r < b.valid; ++r) {
                const std::size_t i = b.indices[r];
                ++seen[i];
                EXPECT_EQ(b.y[r], std::int64_t(i % 7));
                EXPECT_EQ(b.x(r, 0, 3, 3), float(i));
            }
        }
        EXPECT_EQ(batches, 13u);
        EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; })) << "epoch " << epoch;
    }
}

TEST(ImageLoader, EarlyBreakThenAFullEpoch) {
    const index_dataset d{64};
    for (std::size_t workers : {0u, 1u, 3u}) {
        auto loader = data::data_loader<4>(d, jitter{}, {.seed = 2, .workers = workers, .prefetch = 2});
        std::size_t n = 0;
        for (const auto& b : loader) {
            EXPECT_EQ(b.valid, 4u);
            if (++n == 2) break;
        }
        EXPECT_EQ(n, 2u);
        EXPECT_EQ(run_epoch(loader).valid.size(), 16u);  // a break leaves nothing behind
        loader.begin();  // started and abandoned before its end: the destructor joins
    }
}

TEST(ImageLoader, ExceptionsReachTheConsumerAtTheirBatch) {
    std::atomic<bool> armed{true};
    const index_dataset d{40, 13, &armed};  // index 13 is in batch 3 (batches of 4, no shuffle)
    for (std::size_t workers : {0u, 1u, 3u}) {
        armed = true;
        auto loader = data::data_loader<4>(d, jitter{}, {.workers = workers, .prefetch = 3});
        std::size_t got = 0;
        const std::string err = error_of([&] {
            for (const auto& b : loader) got += b.valid > 0;
        });
        EXPECT_EQ(err, "[index_dataset] sample 13 is unreadable") << workers << " workers";
        EXPECT_EQ(got, 3u) << workers << " workers";
        armed = false;  // the loader is usable again afterwards
        EXPECT_EQ(run_epoch(loader).valid.size(), 10u);

        // From the transform, in the first batch: begin() itself throws.
        auto first = data::data_loader<4>(d, faulty{2.0f}, {.workers = workers});
        EXPECT_EQ(error_of([&] { run_epoch(first); }), "[faulty] cannot transform image 2");
        // A failure in a batch the consumer never reaches is dropped with the loader.
        auto later = data::data_loader<4>(d, faulty{30.0f}, {.workers = workers, .prefetch = 8});
        for (const auto& b : later) {
            EXPECT_EQ(b.valid, 4u);
            std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the workers reach batch 7
            break;
        }
    }
}

TEST(ImageLoader, DestroyedInTheMiddleOfAnEpoch) {
    const index_dataset d{400};
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t workers : {1u, 3u}) {
        auto loader = data::data_loader<4>(d, faulty{-1.0f, 2000}, {.workers = workers, .prefetch = 4});
        auto it = loader.begin();
        EXPECT_EQ(it->valid, 4u);
        ++it;
        EXPECT_EQ(it->indices[0], 4u);
    }  // 100 batches of 8 ms would take 0.8 s / workers; the destructor stops after those in hand
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(s, 0.5);
}

TEST(ImageLoader, LoadsASubsetAndAUserDataset) {
    const index_dataset d{30};
    auto [train, val] = data::random_split(d, 10, 4);
    auto loader = data::data_loader<4>(val, to_float{}, {.workers = 2});
    std::vector<std::size_t> seen;
    for (const auto& b : loader)
        for (std::size_t r = 0; r < b.valid; ++r) {
            // indices are positions in the subset; the pixels say which base sample it was
            EXPECT_EQ(b.x(r, 0, 0, 0), float(val.indices()[b.indices[r]]));
            seen.push_back(b.indices[r]);
        }
    std::vector<std::size_t> want(10);
    std::iota(want.begin(), want.end(), std::size_t{0});
    EXPECT_EQ(seen, want);
}

TEST(ImageLoader, WithTheTransformsOfTransformsHpp) {
    data::image_dataset<3, 8, 8> d;
    d.classes = 10;
    for (std::size_t i = 0; i < 11; ++i) {
        for (std::size_t k = 0; k < 3 * 64; ++k) d.pixels.push_back(std::uint8_t(i * 13 + k));
        d.labels.push_back(std::int64_t(i % 10));
    }
    const auto chain = data::compose{data::pad_random_crop<2>{}, data::random_horizontal_flip{}, data::to_tensor{},
                                     data::random_resized_crop<4, 6>{},
                                     data::normalize<3>{{0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}}};
    auto serial = data::data_loader<4>(d, chain, {.shuffle = true, .seed = 8});
    static_assert(std::is_same_v<decltype(serial)::batch_type, data::image_batch<4, 3, 4, 6>>);
    auto threaded = data::data_loader<4>(d, chain, {.shuffle = true, .seed = 8, .workers = 3, .prefetch = 1});
    const epoch_batches e = run_epoch(serial);
    EXPECT_EQ(run_epoch(threaded), e);
    ASSERT_EQ(e.valid, (std::vector<std::size_t>{4, 4, 3}));
    const std::size_t i = e.indices[2][1];
    kiln::generator g = data::sample_generator(8, 0, i);
    const auto want = chain(d.get(i).image, g);
    EXPECT_EQ(std::vector<float>(e.x[2].begin() + 72, e.x[2].begin() + 144), std::vector<float>(want.begin(), want.end()));
}
