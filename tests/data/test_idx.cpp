#include <kiln/data/idx.hpp>

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using kiln::data::load_mnist;
using kiln::data::read_idx;

namespace {
namespace fs = std::filesystem;

fs::path temp_dir() {
    fs::path d = fs::temp_directory_path() / ("kiln_idx_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
}
std::vector<std::uint8_t> header(std::uint8_t type, std::vector<std::uint32_t> dims) {
    std::vector<std::uint8_t> h{0, 0, type, std::uint8_t(dims.size())};
    for (auto d : dims)
        for (int s = 24; s >= 0; s -= 8) h.push_back(std::uint8_t(d >> s));
    return h;
}
std::string write(const std::string& name, const std::vector<std::uint8_t>& bytes, bool gz) {
    auto path = (temp_dir() / name).string();
    if (gz) {
        gzFile f = gzopen(path.c_str(), "wb");
        gzwrite(f, bytes.data(), unsigned(bytes.size()));
        gzclose(f);
    } else {
        std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    }
    return path;
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

TEST(Idx, ReadsPlainAndGzip) {
    auto bytes = header(8, {2, 2, 3});
    for (int i = 0; i < 12; ++i) bytes.push_back(std::uint8_t(i));
    for (bool gz : {false, true}) {
        auto a = read_idx(write(gz ? "ok.gz" : "ok", bytes, gz), 3, {2, 3});
        EXPECT_EQ(a.count(), 2u);
        EXPECT_EQ(a.item_size(), 6u);
        EXPECT_EQ(a.values[11], 11);
    }
}

TEST(Idx, MalformedFilesGetPreciseErrors) {
    auto p = write("short", {0, 0, 8}, false);
    EXPECT_EQ(error_of([&] { read_idx(p, 1); }), "[idx] " + p + ": truncated header: need 4 bytes at offset 0, file has 3");
    p = write("magic", {1, 0, 8, 1, 0, 0, 0, 0}, false);
    EXPECT_EQ(error_of([&] { read_idx(p, 1); }), "[idx] " + p + ": expected magic 0x0000 at offset 0, found 0x0100");
    p = write("type", header(0x0D, {1}), false);
    EXPECT_EQ(error_of([&] { read_idx(p, 1); }),
              "[idx] " + p + ": element type 0x0d at offset 2 is not supported (expected 0x08, unsigned byte)");
    p = write("rank", header(8, {1, 1}), false);
    EXPECT_EQ(error_of([&] { read_idx(p, 1); }), "[idx] " + p + ": expected 1 dimensions at offset 3, found 2");
    auto h = header(8, {3, 28, 28});
    h.resize(10);
    p = write("hdr", h, true);
    EXPECT_EQ(error_of([&] { read_idx(p, 3, {28, 28}); }),
              "[idx] " + p + ": truncated header: need 16 bytes for 3 dimensions, file has 10");
    p = write("dims", header(8, {1, 27, 28}), false);
    EXPECT_EQ(error_of([&] { read_idx(p, 3, {28, 28}); }), "[idx] " + p + ": dimension 1 at offset 8 is 27, expected 28");
    auto t = header(8, {5});
    t.push_back(1);
    p = write("trunc.gz", t, true);
    EXPECT_EQ(error_of([&] { read_idx(p, 1); }),
              "[idx] " + p + ": expected 5 data bytes from offset 8, found 1 (file truncated)");
    auto l = header(8, {1});
    l.push_back(1);
    l.push_back(2);
    p = write("long", l, false);
    EXPECT_EQ(error_of([&] { read_idx(p, 1); }),
              "[idx] " + p + ": expected 1 data bytes from offset 8, found 2 (file has trailing bytes)");
    p = (temp_dir() / "missing").string();
    EXPECT_EQ(error_of([&] { read_idx(p, 1); }), "[idx] " + p + ": cannot open (No such file or directory)");
}

TEST(Idx, CorruptGzipIsReported) {
    auto bytes = header(8, {4000});
    for (int i = 0; i < 4000; ++i) bytes.push_back(std::uint8_t(i * 7));
    auto p = write("bad.gz", bytes, true);
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(30);
    f.write("\xff\xff\xff\xff\xff\xff", 6);
    f.close();
    EXPECT_NE(error_of([&] { read_idx(p, 1); }).find("corrupt compressed data"), std::string::npos);
}

TEST(Idx, DatasetChecksLabelsAgainstImages) {
    auto dir = temp_dir() / "ds";
    fs::create_directories(dir);
    auto img = header(8, {2, 2, 2});
    img.insert(img.end(), 8, 0);
    write("ds/x-images-idx3-ubyte", img, false);
    auto lab = header(8, {2});
    lab.push_back(3);
    lab.push_back(10);
    auto lp = write("ds/x-labels-idx1-ubyte.gz", lab, true);
    EXPECT_EQ(error_of([&] { load_mnist<2, 2>(dir.string(), "x"); }),
              "[idx] " + lp + ": label 10 at offset 9 is not below 10 classes");
    lab = header(8, {3});
    lab.insert(lab.end(), 3, 1);
    lp = write("ds/x-labels-idx1-ubyte.gz", lab, true);
    EXPECT_EQ(error_of([&] { load_mnist<2, 2>(dir.string(), "x"); }), "[idx] " + lp + ": 3 labels for 2 images");
    lab = header(8, {2});
    lab.insert(lab.end(), 2, 1);
    write("ds/x-labels-idx1-ubyte.gz", lab, true);
    auto d = load_mnist<2, 2>(dir.string(), "x");
    EXPECT_EQ(d.size(), 2u);
}
