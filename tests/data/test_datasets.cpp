// Image datasets: MNIST-layout IDX and CIFAR-10 binary readers (files written here, including
// every kind of malformed file), subsets, random_split, and a user-defined dataset.
#include <kiln/data/datasets.hpp>

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace data = kiln::data;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& sub) {
    fs::path d = fs::temp_directory_path() / ("kiln_datasets_" + std::to_string(::getpid())) / sub;
    fs::remove_all(d);  // a fresh directory per test, also under --gtest_repeat
    fs::create_directories(d);
    return d;
}
std::string write(const fs::path& path, const std::vector<std::uint8_t>& bytes, bool gz = false) {
    if (gz) {
        gzFile f = gzopen(path.c_str(), "wb");
        gzwrite(f, bytes.data(), unsigned(bytes.size()));
        gzclose(f);
    } else {
        std::ofstream(path, std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    }
    return path.string();
}
std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const kiln::error& e) {
        return e.what();
    }
    return "no error";
}
std::vector<std::uint8_t> idx_header(std::vector<std::uint32_t> dims) {
    std::vector<std::uint8_t> h{0, 0, 8, std::uint8_t(dims.size())};
    for (auto d : dims)
        for (int s = 24; s >= 0; s -= 8) h.push_back(std::uint8_t(d >> s));
    return h;
}
// n images of h x w whose pixel k of image i is (i * 16 + k) & 255, and labels i % classes.
void write_mnist(const fs::path& dir, const std::string& split, std::uint32_t n, std::uint32_t h, std::uint32_t w,
                 bool gz = false, unsigned classes = 10) {
    auto img = idx_header({n, h, w});
    for (std::uint32_t i = 0; i < n; ++i)
        for (std::uint32_t k = 0; k < h * w; ++k) img.push_back(std::uint8_t(i * 16 + k));
    auto lab = idx_header({n});
    for (std::uint32_t i = 0; i < n; ++i) lab.push_back(std::uint8_t(i % classes));
    write(dir / (split + "-images-idx3-ubyte" + (gz ? ".gz" : "")), img, gz);
    write(dir / (split + "-labels-idx1-ubyte" + (gz ? ".gz" : "")), lab, gz);
}
// A CIFAR-10 batch of n records: label (first + r) % 10, pixel k of record r is (first + r + k) & 255.
std::vector<std::uint8_t> cifar_records(std::size_t first, std::size_t n) {
    std::vector<std::uint8_t> b;
    for (std::size_t r = first; r < first + n; ++r) {
        b.push_back(std::uint8_t(r % 10));
        for (std::size_t k = 0; k < 3072; ++k) b.push_back(std::uint8_t(r + k));
    }
    return b;
}

}  // namespace

TEST(Mnist, LoadsPlainAndGzipIntoTypedImages) {
    for (bool gz : {false, true}) {
        auto dir = temp_dir(gz ? "mnist_gz" : "mnist");
        write_mnist(dir, "train", 5, 2, 3, gz);
        const data::image_dataset<1, 2, 3> d = data::load_mnist<2, 3>(dir.string(), "train");
        ASSERT_EQ(d.size(), 5u);
        EXPECT_EQ(d.classes, 10u);
        const auto s = d.get(3);
        static_assert(std::is_same_v<decltype(s.image), data::image<std::uint8_t, 1, 2, 3>>);
        EXPECT_EQ(s.label, 3);
        EXPECT_EQ(s.image(0, 0, 0), 48);
        EXPECT_EQ(s.image(0, 1, 2), 53);
    }
}

TEST(Mnist, FashionMnistIs28By28) {
    auto dir = temp_dir("fashion");
    write_mnist(dir, "t10k", 2, 28, 28, true);
    const auto d = data::load_fashion_mnist(dir.string(), "t10k");
    static_assert(std::is_same_v<decltype(d), const data::image_dataset<1, 28, 28>>);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d.get(1).image(0, 27, 27), std::uint8_t(16 + 783));
    EXPECT_EQ(d.get(1).label, 1);
    const data::table t = data::as_table(d);
    EXPECT_EQ(t.rows(), 2u);
    EXPECT_EQ(t.cols(), 784u);
    EXPECT_EQ(t.labels[1], 1);
}

TEST(Mnist, MalformedFilesNameTheFileAndOffset) {
    auto dir = temp_dir("mnist_bad");
    auto load = [&] { data::load_mnist<2, 2>(dir.string(), "x"); };
    const std::string ip = (dir / "x-images-idx3-ubyte").string(), lp = (dir / "x-labels-idx1-ubyte").string();
    // Missing file.
    EXPECT_EQ(error_of(load), "[idx] " + ip + ": cannot open (No such file or directory)");
    write_mnist(dir, "x", 3, 2, 2);
    EXPECT_EQ(error_of(load), "no error");
    const auto good = idx_header({3, 2, 2});
    // Empty file.
    write(ip, {});
    EXPECT_EQ(error_of(load), "[idx] " + ip + ": empty file (expected a 4-byte IDX magic at offset 0)");
    // Wrong magic.
    auto bad = good;
    bad[1] = 7;
    write(ip, bad);
    EXPECT_EQ(error_of(load), "[idx] " + ip + ": expected magic 0x0000 at offset 0, found 0x0007");
    // Truncated header at every field: the magic, then each of the three dimensions.
    for (std::size_t len = 1; len < 4; ++len) {
        write(ip, std::vector<std::uint8_t>(good.begin(), good.begin() + std::ptrdiff_t(len)));
        EXPECT_EQ(error_of(load), "[idx] " + ip + ": truncated header: need 4 bytes at offset 0, file has " +
                                      std::to_string(len));
    }
    for (std::size_t len = 4; len < 16; ++len) {
        write(ip, std::vector<std::uint8_t>(good.begin(), good.begin() + std::ptrdiff_t(len)));
        EXPECT_EQ(error_of(load), "[idx] " + ip + ": truncated header: need 16 bytes for 3 dimensions, file has " +
                                      std::to_string(len));
    }
    // Truncated data.
    auto img = good;
    img.insert(img.end(), 11, 0);
    write(ip, img);
    EXPECT_EQ(error_of(load), "[idx] " + ip + ": expected 12 data bytes from offset 16, found 11 (file truncated)");
    // Wrong image size.
    img = idx_header({3, 2, 3});
    img.insert(img.end(), 18, 0);
    write(ip, img);
    EXPECT_EQ(error_of(load), "[idx] " + ip + ": dimension 2 at offset 12 is 3, expected 2");
    // Count mismatch between images and labels.
    img = idx_header({2, 2, 2});
    img.insert(img.end(), 8, 0);
    write(ip, img);
    EXPECT_EQ(error_of(load), "[idx] " + lp + ": 3 labels for 2 images");
    // A label out of range, and a truncated label file.
    auto lab = idx_header({2});
    lab.push_back(1);
    lab.push_back(10);
    write(lp, lab);
    EXPECT_EQ(error_of(load), "[idx] " + lp + ": label 10 at offset 9 is not below 10 classes");
    lab.pop_back();
    write(lp, lab);
    EXPECT_EQ(error_of(load), "[idx] " + lp + ": expected 2 data bytes from offset 8, found 1 (file truncated)");
}

TEST(Cifar10, ReadsRecordsAsChwPlanes) {
    auto dir = temp_dir("cifar");
    for (int k = 1; k <= 5; ++k) write(dir / ("data_batch_" + std::to_string(k) + ".bin"), cifar_records(3 * (k - 1), 3));
    write(dir / "test_batch.bin", cifar_records(100, 2));
    const data::image_dataset<3, 32, 32> train = data::load_cifar10(dir.string(), true);
    ASSERT_EQ(train.size(), 15u);
    EXPECT_EQ(train.classes, 10u);
    for (std::size_t i : {0u, 4u, 14u}) {
        const auto s = train.get(i);
        EXPECT_EQ(s.label, std::int64_t(i % 10));
        EXPECT_EQ(s.image(0, 0, 0), std::uint8_t(i));                        // R plane first
        EXPECT_EQ(s.image(1, 0, 0), std::uint8_t(i + 1024));                 // then G
        EXPECT_EQ(s.image(2, 31, 31), std::uint8_t(i + 2 * 1024 + 1023));  // B last, row-major
    }
    const auto test = data::load_cifar10(dir.string(), false);
    ASSERT_EQ(test.size(), 2u);
    EXPECT_EQ(test.get(1).label, 1);
    EXPECT_EQ(test.get(1).image(0, 0, 5), std::uint8_t(106));
}

TEST(Cifar10, MalformedFilesNameTheFileAndOffset) {
    auto dir = temp_dir("cifar_bad");
    const std::string p = (dir / "test_batch.bin").string();
    auto load = [&] { data::load_cifar10(dir.string(), false); };
    EXPECT_EQ(error_of(load), "[cifar10] " + p + ": cannot open (No such file or directory)");
    write(p, {});
    EXPECT_EQ(error_of(load), "[cifar10] " + p + ": empty file (expected records of 3073 bytes)");
    auto b = cifar_records(0, 2);
    b.resize(3073 + 100);
    write(p, b);
    EXPECT_EQ(error_of(load), "[cifar10] " + p +
                                  ": 3173 bytes is not a whole number of 3073-byte records: record 1 at offset 3073 "
                                  "is truncated (100 of 3073 bytes)");
    b = cifar_records(0, 3);
    b[2 * 3073] = 12;
    write(p, b);
    EXPECT_EQ(error_of(load), "[cifar10] " + p + ": label 12 at offset 6146 (record 2) is not below 10 classes");
    // A training set with a batch missing names the file.
    for (int k : {1, 2, 4, 5}) write(dir / ("data_batch_" + std::to_string(k) + ".bin"), cifar_records(0, 1));
    EXPECT_EQ(error_of([&] { data::load_cifar10(dir.string(), true); }),
              "[cifar10] " + (dir / "data_batch_3.bin").string() + ": cannot open (No such file or directory)");
}

TEST(ImageDataset, GetChecksItsIndex) {
    data::image_dataset<1, 2, 2> d;
    d.pixels.assign(8, 1);
    d.labels = {0, 1};
    EXPECT_EQ(error_of([&] { d.get(2); }), "[image_dataset] index 2 is out of range for 2 images");
    d.pixels.resize(5);
    EXPECT_EQ(error_of([&] { d.get(1); }), "[image_dataset] image 1 needs pixels up to byte 8, the dataset has 5");
}

namespace {
// A user's own dataset: images computed on the fly, nothing stored.
struct ramp_dataset {
    using image_type = data::image<std::uint8_t, 1, 2, 2>;
    std::size_t n = 0;
    std::size_t size() const { return n; }
    data::sample<image_type> get(std::size_t i) const {
        data::sample<image_type> s;
        s.image.fill(std::uint8_t(i));
        s.label = std::int64_t(i % 3);
        return s;
    }
};
}  // namespace

static_assert(data::dataset<ramp_dataset>);
static_assert(data::dataset<data::image_dataset<3, 32, 32>>);
static_assert(data::dataset<data::subset<ramp_dataset>>);
static_assert(!data::dataset<int>);
static_assert(!data::dataset<std::vector<int>>);
// Views of a temporary would dangle: subset and random_split refuse rvalues.
static_assert(!std::is_constructible_v<data::subset<ramp_dataset>, ramp_dataset&&, std::vector<std::size_t>>);
template <class D>
concept splits_temporary = requires(D&& d) { data::random_split(std::move(d), 1, 0); };
static_assert(!splits_temporary<ramp_dataset>);

TEST(Subset, ViewsTheChosenIndices) {
    const ramp_dataset d{10};
    const data::subset<ramp_dataset> s(d, {7, 2, 2});
    ASSERT_EQ(s.size(), 3u);
    EXPECT_EQ(s.get(0).image(0, 1, 1), 7);
    EXPECT_EQ(s.get(2).label, 2);
    EXPECT_EQ(error_of([&] { data::subset<ramp_dataset>(d, {1, 10}); }),
              "[subset] index 10 (position 1) is out of range for a dataset of 10 samples");
    EXPECT_EQ(error_of([&] { s.get(3); }), "[subset] index 3 is out of range for 3 samples");
}

TEST(Subset, RandomSplitIsSeededAndDisjoint) {
    const ramp_dataset d{50};
    auto [train, val] = data::random_split(d, 12, 42);
    EXPECT_EQ(train.size(), 38u);
    EXPECT_EQ(val.size(), 12u);
    std::set<std::size_t> all(train.indices().begin(), train.indices().end());
    all.insert(val.indices().begin(), val.indices().end());
    EXPECT_EQ(all.size(), 50u);
    EXPECT_EQ(*all.rbegin(), 49u);
    auto [train2, val2] = data::random_split(d, 12, 42);
    EXPECT_EQ(val.indices(), val2.indices());
    EXPECT_EQ(train.indices(), train2.indices());
    auto [train3, val3] = data::random_split(d, 12, 43);
    EXPECT_NE(val.indices(), val3.indices());
    EXPECT_EQ(val.get(0).image(0, 0, 0), std::uint8_t(val.indices()[0]));
    auto [none, every] = data::random_split(d, 50, 1);
    EXPECT_EQ(none.size(), 0u);
    EXPECT_EQ(every.size(), 50u);
    EXPECT_EQ(error_of([&] { data::random_split(d, 51, 1); }),
              "[random_split] n_val = 51 is more than the dataset's 50 samples");
    // A subset of a subset.
    auto [a, b] = data::random_split(val, 2, 3);
    EXPECT_EQ(a.size(), 10u);
    EXPECT_EQ(b.get(1).label, val.get(b.indices()[1]).label);
}
