// safetensors save/load: interop with a file torch wrote (make_fixture.py), round trips with
// optimizer state, atomic writes, and a precise error for every kind of bad file.
#include <kiln/io/safetensors.hpp>
#include <kiln/optim/optim.hpp>

#include <gtest/gtest.h>

#include "io_test_util.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace {
using namespace kiln_io_test;
using kiln::param;
using kiln::shape;
using kiln::tensor;

/// torch's nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)): members "0" and "2".
struct linear_4_3 {
    param<float, shape<3, 4>> weight;
    param<float, shape<3>> bias;
};
struct linear_3_2 {
    param<float, shape<2, 3>> weight;
    param<float, shape<2>> bias;
};
struct sequential {
    linear_4_3 l0;
    linear_3_2 l2;
    template <class F>
    void visit_parameters(const std::string& p, F&& f) {
        f(p + "0.weight", l0.weight);
        f(p + "0.bias", l0.bias);
        f(p + "2.weight", l2.weight);
        f(p + "2.bias", l2.bias);
    }
};

/// A model with a buffer, for round trips and mismatch reports.
struct net {
    param<float, shape<2, 3>> w;
    param<float, shape<2>> b;
    tensor<float, shape<2>> running_mean;
    template <class F>
    void visit_parameters(const std::string& p, F&& f) {
        f(p + "fc.weight", w);
        f(p + "fc.bias", b);
    }
    template <class F>
    void visit_buffers(const std::string& p, F&& f) {
        f(p + "bn.running_mean", running_mean);
    }
};

/// A file holding net's three tensors with the given values (all F32).
std::string net_file(const std::string& name, float w0 = 1.f, float running0 = 0.5f) {
    std::string h = R"({"fc.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                    R"("fc.bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]},)"
                    R"("bn.running_mean":{"dtype":"F32","shape":[2],"data_offsets":[32,40]}})";
    return write_raw(name, h, raw_bytes<float>({w0, 2, 3, 4, 5, 6, 7, 8, running0, 9}));
}
void fill(net& m, float base) {
    for (std::size_t i = 0; i < 6; ++i) m.w.value()[i] = base + float(i);
    for (std::size_t i = 0; i < 2; ++i) m.b.value()[i] = base * 2 + float(i), m.running_mean[i] = base * 3 + float(i);
}
bool unchanged(net& m, float base) {
    net ref;
    fill(ref, base);
    return std::equal(m.w.value().begin(), m.w.value().end(), ref.w.value().begin()) &&
           std::equal(m.b.value().begin(), m.b.value().end(), ref.b.value().begin()) &&
           std::equal(m.running_mean.begin(), m.running_mean.end(), ref.running_mean.begin());
}
/// The error loading `path` into a net; the net must come out unchanged.
std::string load_error(const std::string& path) {
    net m;
    fill(m, 0.25f);
    std::string e = error_of([&] { kiln::io::load(path, m); });
    EXPECT_TRUE(unchanged(m, 0.25f)) << "a failed load modified the model: " << e;
    return e;
}
}  // namespace

TEST(SafetensorsInterop, ReproducesTorchOutput) {
    sequential m;
    kiln::io::load(KILN_IO_FIXTURES "/sequential.safetensors", m);
    std::ifstream in(KILN_IO_FIXTURES "/sequential_io.txt");
    ASSERT_TRUE(in);
    std::string line, tag, version;
    std::getline(in, line);
    std::istringstream(line) >> tag >> version;
    EXPECT_EQ(tag, "torch");
    std::vector<float> x, y;
    std::size_t rows = 0, xc = 0, yc = 0;
    for (auto* v : {&x, &y}) {
        std::getline(in, line);
        std::istringstream s(line);
        std::size_t cols;
        s >> tag >> rows >> cols;
        (v == &x ? xc : yc) = cols;
        v->resize(rows * cols);
        for (auto& e : *v) s >> e;
    }
    ASSERT_EQ(xc, 4u);
    ASSERT_EQ(yc, 2u);
    ASSERT_EQ(rows, 5u);
    for (std::size_t r = 0; r < rows; ++r) {
        float h[3];
        for (std::size_t j = 0; j < 3; ++j) {
            float acc = m.l0.bias.value()[j];
            for (std::size_t k = 0; k < 4; ++k) acc += x[r * 4 + k] * m.l0.weight.value()(j, k);
            h[j] = acc > 0 ? acc : 0;
        }
        for (std::size_t j = 0; j < 2; ++j) {
            float acc = m.l2.bias.value()[j];
            for (std::size_t k = 0; k < 3; ++k) acc += h[k] * m.l2.weight.value()(j, k);
            EXPECT_NEAR(acc, y[r * 2 + j], 1e-6) << "row " << r << " output " << j << " (torch " << version << ")";
        }
    }
}

TEST(SafetensorsInterop, WritesTheSameBytesAsTheReferenceWriter) {
    sequential m;
    kiln::io::load(KILN_IO_FIXTURES "/sequential.safetensors", m);
    std::string out = tmp("resaved.safetensors");
    kiln::io::save(out, m);
    EXPECT_EQ(bytes_of(out), bytes_of(KILN_IO_FIXTURES "/sequential.safetensors"));
}

TEST(Safetensors, RoundTripWithBuffers) {
    net a, b;
    fill(a, 1.5f);
    std::string path = tmp("roundtrip.safetensors");
    kiln::io::save(path, a);
    kiln::io::load(path, b);
    EXPECT_TRUE(unchanged(b, 1.5f));
    EXPECT_TRUE(temp_leftovers(temp_dir()).empty());
    // The data starts 8-byte aligned, like files safetensors itself writes.
    auto bytes = bytes_of(path);
    std::uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    EXPECT_EQ(n % 8, 0u);
    EXPECT_EQ(bytes.size(), 8 + n + 40);
}

TEST(Safetensors, RoundTripWithOptimizerState) {
    net a;
    fill(a, 0.5f);
    kiln::optim::adam opt(a, {.lr = 0.1, .amsgrad = true});
    auto train = [](net& m, auto& o, int steps) {
        for (int s = 0; s < steps; ++s) {
            for (std::size_t i = 0; i < 6; ++i) m.w.grad()[i] = m.w.value()[i] - float(i);
            for (std::size_t i = 0; i < 2; ++i) m.b.grad()[i] = 2 * m.b.value()[i];
            o.step();
        }
    };
    train(a, opt, 3);
    std::string path = tmp("ckpt.safetensors");
    kiln::io::save(path, a, opt);

    net b;
    kiln::optim::adam opt_b(b, {.lr = 0.1, .amsgrad = true});
    kiln::io::load(path, b, opt_b);
    EXPECT_EQ(opt_b.steps(), 3u);
    train(a, opt, 2);
    train(b, opt_b, 2);
    for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(a.w.value()[i], b.w.value()[i]);
    for (std::size_t i = 0; i < 2; ++i) EXPECT_EQ(a.b.value()[i], b.b.value()[i]);

    net c;  // a model-only load of a checkpoint ignores the optimizer.* tensors
    kiln::io::load(path, c);
    // A load with an optimizer from a model-only file says what is wrong, once.
    std::string model_only = tmp("model_only.safetensors");
    kiln::io::save(model_only, a);
    kiln::optim::sgd sgd(c, {.lr = 0.1, .momentum = 0.9});
    EXPECT_EQ(error_of([&] { kiln::io::load(model_only, c, sgd); }),
              "[safetensors] " + model_only +
                  ": the file holds no optimizer state (no optimizer.* tensors): was it saved without the optimizer?");
    // An adam checkpoint does not load into sgd: each problem is named.
    std::string e = error_of([&] { kiln::io::load(path, c, sgd); });
    EXPECT_NE(e.find("missing optimizer.momentum_buffer.fc.weight (the optimizer expects F32 [6])"), std::string::npos) << e;
    EXPECT_NE(e.find("unexpected optimizer.exp_avg.fc.bias (F32 [2]), which the model and optimizer do not have"),
              std::string::npos) << e;
}

TEST(Safetensors, AtomicWrites) {
    net m;
    fill(m, 2.f);
    // A missing directory: the error names the path, and nothing is left behind.
    std::string bad = (temp_dir() / "no_such_dir" / "m.safetensors").string();
    std::string e = error_of([&] { kiln::io::save(bad, m); });
    EXPECT_EQ(e.rfind("[safetensors] " + bad + ": cannot create the temporary file " + bad + ".tmp-", 0), 0u) << e;
    EXPECT_NE(e.find("No such file or directory"), std::string::npos) << e;
    EXPECT_FALSE(fs::exists(temp_dir() / "no_such_dir"));
    // A late failure (the target is a directory, so the rename fails): the temporary file is
    // removed and the directory untouched.
    fs::path dir = temp_dir() / "a_directory";
    fs::create_directories(dir / "inside");
    e = error_of([&] { kiln::io::save(dir.string(), m); });
    EXPECT_EQ(e.rfind("[safetensors] " + dir.string() + ": renaming into place " + dir.string() + ".tmp-", 0), 0u) << e;
    EXPECT_TRUE(fs::is_directory(dir / "inside"));
    EXPECT_TRUE(temp_leftovers(temp_dir()).empty());
    // Overwriting an existing file replaces it whole.
    std::string path = tmp("overwrite.safetensors");
    std::ofstream(path) << "old contents";
    kiln::io::save(path, m);
    net back;
    kiln::io::load(path, back);
    EXPECT_TRUE(unchanged(back, 2.f));
    EXPECT_TRUE(temp_leftovers(temp_dir()).empty());
}

TEST(Safetensors, ModelMismatchesAreAllReported) {
    std::string p = tmp("mismatch.safetensors");
    std::string h = R"({"fc.weight":{"dtype":"F32","shape":[3,2],"data_offsets":[0,24]},)"
                    R"("fc.bias":{"dtype":"I64","shape":[2],"data_offsets":[24,40]},)"
                    R"("extra":{"dtype":"F32","shape":[1],"data_offsets":[40,44]}})";
    write_raw("mismatch.safetensors", h, std::string(44, '\0'));
    EXPECT_EQ(load_error(p), "[safetensors] " + p + ": 4 problems:"
                             "\n  fc.weight has shape [3, 2], the model expects [2, 3]"
                             "\n  fc.bias has dtype I64, the model expects F32 (F32, F64, F16 and BF16 convert)"
                             "\n  missing bn.running_mean (the model expects F32 [2])"
                             "\n  unexpected extra (F32 [1]), which the model does not have");
    // A file of another model: every name is reported.
    net n;
    std::string e = error_of([&] { kiln::io::load(KILN_IO_FIXTURES "/sequential.safetensors", n); });
    EXPECT_NE(e.find("missing fc.weight (the model expects F32 [2, 3])"), std::string::npos) << e;
    EXPECT_NE(e.find("unexpected 0.weight (F32 [3, 4])"), std::string::npos) << e;
}

TEST(Safetensors, ReadsOtherFloatDtypes) {
    // fc.weight as F16, fc.bias as BF16, bn.running_mean as F64.
    std::string h = R"({"fc.weight":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},)"
                    R"("fc.bias":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]},)"
                    R"("bn.running_mean":{"dtype":"F64","shape":[2],"data_offsets":[16,32]},)"
                    R"("__metadata__":{"format":"pt"}})";
    // F16: 1, -2, 0.5, 65504 (max), 2^-24 (smallest subnormal), -0; BF16: 1.5, -3; F64: 0.1, -1e10
    std::string data = raw_bytes<std::uint16_t>({0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000}) +
                       raw_bytes<std::uint16_t>({0x3FC0, 0xC040}) + raw_bytes<double>({0.1, -1e10});
    net m;
    kiln::io::load(write_raw("dtypes.safetensors", h, data), m);
    const float w[] = {1.f, -2.f, 0.5f, 65504.f, std::ldexp(1.f, -24), -0.f};
    for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(m.w.value()[i], w[i]) << i;
    EXPECT_TRUE(std::signbit(m.w.value()[5]));
    EXPECT_EQ(m.b.value()[0], 1.5f);
    EXPECT_EQ(m.b.value()[1], -3.f);
    EXPECT_EQ(m.running_mean[0], 0.1f);
    EXPECT_EQ(m.running_mean[1], -1e10f);
}

TEST(Safetensors, NonFiniteValuesAreRefused) {
    std::string p = net_file("nan.safetensors", std::nanf(""));
    EXPECT_EQ(load_error(p), "[safetensors] " + p + ": fc.weight holds 1 non-finite value, the first (nan) at element 0");
    std::string h = R"({"fc.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                    R"("fc.bias":{"dtype":"F16","shape":[2],"data_offsets":[24,28]},)"
                    R"("bn.running_mean":{"dtype":"F64","shape":[2],"data_offsets":[28,44]}})";
    const float inf = INFINITY;
    p = write_raw("inf.safetensors", h,
                  raw_bytes<float>({1, 2, 3, -inf, 5, inf}) + raw_bytes<std::uint16_t>({0x3C00, 0x7E00}) +
                      raw_bytes<double>({1e300, 0}));
    EXPECT_EQ(load_error(p), "[safetensors] " + p + ": 3 problems:"
                             "\n  fc.weight holds 2 non-finite values, the first (-inf) at element 3"
                             "\n  fc.bias holds 1 non-finite value, the first (nan) at element 1"
                             "\n  bn.running_mean holds 1 non-finite value, the first (1e+300, beyond the float range) at element 0");
}

TEST(Safetensors, CorruptFilesGetClearErrors) {
    auto expect = [](const std::string& path, const std::string& msg) {
        EXPECT_EQ(load_error(path), "[safetensors] " + path + ": " + msg);
    };
    std::string p = tmp("short.safetensors");
    std::ofstream(p) << "abc";
    expect(p, "the file is 3 bytes, shorter than the 8-byte header length");
    p = tmp("missing_file.safetensors");
    expect(p, "cannot open: No such file or directory");
    expect(write_raw("len.safetensors", "{}", "", 1000), "the header length 1000 goes beyond the end of the file (10 bytes)");
    expect(write_raw("json.safetensors", R"({"a": )", ""),
           "the header (6 bytes) is not valid JSON: parse error at line 1, column 7: syntax error while parsing value - "
           "unexpected end of input; expected '[', '{', or a literal, in a");
    expect(write_raw("array.safetensors", "[1, 2]", ""), "the header is not a JSON object (it is array)");
    expect(write_raw("entry.safetensors", R"({"fc.weight": 3})", ""), "fc.weight is not an object: 3");
    expect(write_raw("nodtype.safetensors", R"({"fc.weight":{"shape":[1],"data_offsets":[0,4]}})", "abcd"),
           "fc.weight has no dtype");
    expect(write_raw("noshape.safetensors", R"({"fc.weight":{"dtype":"F32","data_offsets":[0,4]}})", "abcd"),
           "fc.weight has no shape");
    expect(write_raw("nooffsets.safetensors", R"({"fc.weight":{"dtype":"F32","shape":[1]}})", "abcd"),
           "fc.weight has no data_offsets");
    expect(write_raw("badshape.safetensors", R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "abcd"),
           "x has a shape that is not an array of non-negative integers: [-1]");
    expect(write_raw("badoffsets.safetensors", R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", "abcd"),
           "x has data_offsets that are not two non-negative integers: [0]");
    expect(write_raw("dtype.safetensors", R"({"x":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}})", "abcd"),
           "x has unknown dtype Q4");
    expect(write_raw("range.safetensors", R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "abcd"),
           "x has data_offsets [0, 8] outside the data section of 4 bytes");
    expect(write_raw("reversed.safetensors", R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})", "abcd"),
           "x has data_offsets [4, 0] outside the data section of 4 bytes");
    expect(write_raw("size.safetensors", R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "abcd"),
           "x has data_offsets [0, 4] (4 bytes), but F32 [2] needs 8");
    expect(write_raw("overlap.safetensors",
                     R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                     "abcdefgh"),
           "b (bytes 4..8) overlaps a (bytes 0..8)");
    expect(write_raw("hole.safetensors",
                     R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                     "abcdefghijkl"),
           "bytes 4..8 of the data section belong to no tensor");
    std::string good = R"({"fc.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                       R"("fc.bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]},)"
                       R"("bn.running_mean":{"dtype":"F32","shape":[2],"data_offsets":[32,40]}})";
    expect(write_raw("trailing.safetensors", good, std::string(40, '\0') + "garbage"),
           "7 bytes of trailing data after the last tensor (the data section is 47 bytes, the tensors end at 40)");
    // Several structural problems at once are all listed.
    p = write_raw("several.safetensors", R"({"a":{"dtype":"F32"},"b":{"shape":[1],"data_offsets":[0,4]},"__metadata__":1})", "abcd");
    EXPECT_EQ(load_error(p), "[safetensors] " + p + ": 4 problems:"
                             "\n  __metadata__ is not an object: 1"
                             "\n  a has no shape\n  a has no data_offsets\n  b has no dtype");
    // And a good file loads (the helpers are right).
    net m;
    kiln::io::load(net_file("good.safetensors"), m);
    EXPECT_EQ(m.w.value()[0], 1.f);
    EXPECT_EQ(m.running_mean[1], 9.f);
}

TEST(Safetensors, ManyProblemsAreCapped) {
    std::string h = "{";
    for (int i = 0; i < 60; ++i) {
        if (i) h += ',';
        h += "\"t";
        h += std::to_string(i);
        h += R"(":{"dtype":"F32"})";
    }
    h += "}";
    std::string p = write_raw("many.safetensors", h, "");
    std::string e = load_error(p);
    EXPECT_EQ(e.rfind("[safetensors] " + p + ": 120 problems:", 0), 0u) << e;
    EXPECT_NE(e.find(" more"), std::string::npos) << e;
    EXPECT_LT(e.size(), 1024u);
}
