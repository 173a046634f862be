// Single-tensor I/O (kiln/io/tensors.hpp): torch's values for every dtype (make_fixture.py),
// round trips through save_tensors, the conversion rules, and an error naming the file and the
// field or offset for every kind of malformed file, never a crash.
#include <kiln/io/tensors.hpp>

#include <gtest/gtest.h>

#include "io_test_util.hpp"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {
using namespace kiln_io_test;
using kiln::shape;
using kiln::tensor;
namespace io = kiln::io;

const std::string fixture = KILN_IO_FIXTURES "/tensors.safetensors";

/// tensors_expected.txt: "<name> <kind>" -> the values torch gives (kind float, double or int).
std::map<std::string, std::vector<std::string>> expected_values() {
    std::map<std::string, std::vector<std::string>> r;
    std::ifstream in(KILN_IO_FIXTURES "/tensors_expected.txt");
    EXPECT_TRUE(in);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream s(line);
        std::string name, dtype, dims, kind, v;
        s >> name >> dtype >> dims >> kind;
        auto& vals = r[name + " " + kind];
        while (s >> v) vals.push_back(v);
    }
    return r;
}
/// Bit-for-bit equality for floats (NaN equals NaN, -0 differs from 0), == for integers.
template <class T>
bool same(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) return std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b));
    else return a == b;
}
template <class T>
T parse(const std::string& s) {
    if constexpr (std::is_floating_point_v<T>) return T(std::strtod(s.c_str(), nullptr));  // hex floats, inf, nan
    else return T(std::strtoll(s.c_str(), nullptr, 10));
}
/// Reads `name` as tensor<T, S> and compares it with torch's values of kind `kind`.
template <class T, class S>
void expect_torch_values(const io::safe_open& f, const std::string& name, const std::string& kind) {
    static const auto expected = expected_values();
    auto it = expected.find(name + " " + kind);
    ASSERT_NE(it, expected.end()) << name << " " << kind;
    ASSERT_EQ(it->second.size(), S::size) << name;
    tensor<T, S> t = f.get_tensor<T, S>(name);
    for (std::size_t i = 0; i < S::size; ++i)
        EXPECT_TRUE(same(t[i], parse<T>(it->second[i]))) << name << " as " << kind << " element " << i << ": kiln " << t[i]
                                                          << ", torch " << it->second[i];
}

/// A model of one buffer "x".
struct one_buffer {
    tensor<float, shape<1>> x;
    template <class F>
    void visit_parameters(const std::string&, F&&) {}
    template <class F>
    void visit_buffers(const std::string& p, F&& f) {
        f(p + "x", x);
    }
};

/// The error of load_tensor<T, S>(path, name).
template <class T, class S>
std::string load_error(const std::string& path, const std::string& name) {
    return error_of([&] { io::load_tensor<T, S>(path, name); });
}
}  // namespace

TEST(LoadTensor, ReadsWhatTorchWrote) {
    io::safe_open f(fixture);
    EXPECT_EQ(f.keys(), (std::vector<std::string>{"bfloat", "byte", "double", "half", "int", "long", "mask", "scalar", "single"}));
    EXPECT_EQ(f.metadata(), (io::metadata_map{{"format", "pt"}, {"source", "make_fixture.py"}}));
    EXPECT_TRUE(f.contains("half"));
    EXPECT_FALSE(f.contains("hal"));
    EXPECT_EQ(f.info("half").dtype, "F16");
    EXPECT_EQ(f.info("half").shape, (std::vector<std::uint64_t>{4, 7}));
    EXPECT_EQ(f.info("scalar").shape, std::vector<std::uint64_t>{});
    EXPECT_EQ(f.info("byte").begin, 0u);
    EXPECT_EQ(f.info("half").begin, 6u);  // unaligned data: read byte by byte

    // F16 and BF16 (subnormals, extremes, +-0, +-inf, NaN) as torch's .float() and .double().
    expect_torch_values<float, shape<4, 7>>(f, "half", "float");
    expect_torch_values<double, shape<4, 7>>(f, "half", "double");
    expect_torch_values<float, shape<4, 7>>(f, "bfloat", "float");
    expect_torch_values<double, shape<4, 7>>(f, "bfloat", "double");
    expect_torch_values<float, shape<2, 3>>(f, "single", "float");
    expect_torch_values<double, shape<2, 3>>(f, "single", "double");
    // F64 -> float rounds to nearest like torch (a float subnormal, an underflow to 0, 3.4e38).
    expect_torch_values<float, shape<3, 3>>(f, "double", "float");
    expect_torch_values<double, shape<3, 3>>(f, "double", "double");
    expect_torch_values<float, shape<>>(f, "scalar", "float");
    // Integers: their own type, wider ones, and floats when exact.
    expect_torch_values<std::int64_t, shape<6>>(f, "long", "int");
    expect_torch_values<double, shape<6>>(f, "long", "int");  // up to 2^53
    expect_torch_values<std::int32_t, shape<2, 2>>(f, "int", "int");
    expect_torch_values<std::int64_t, shape<2, 2>>(f, "int", "int");
    expect_torch_values<double, shape<2, 2>>(f, "int", "int");
    expect_torch_values<std::uint8_t, shape<2, 3>>(f, "byte", "int");
    expect_torch_values<float, shape<2, 3>>(f, "byte", "int");
    expect_torch_values<std::int16_t, shape<2, 3>>(f, "byte", "int");
    expect_torch_values<std::uint8_t, shape<4>>(f, "mask", "int");
    expect_torch_values<float, shape<4>>(f, "mask", "int");

    // load_tensor is safe_open + get_tensor.
    auto h = io::load_tensor<float, shape<4, 7>>(fixture, "half");
    EXPECT_EQ(h(2, 2), 65504.f);
    EXPECT_EQ(h(2, 3), std::ldexp(1.f, -24));
    EXPECT_EQ((io::load_tensor<float, shape<>>(fixture, "scalar").item()), 3.25f);
}

TEST(LoadTensor, ConversionsThatLoseValuesAreErrors) {
    const std::string p = fixture;
    const std::string pre = "[safetensors] " + p + ": ";
    // long holds -2^40, +-2^24 and 2^53.
    EXPECT_EQ((load_error<float, shape<6>>(p, "long")),
              pre + "long (I64, read as F32) holds 2 values that F32 cannot hold exactly (beyond 2^24), the first (-1099511627776) at element 0");
    EXPECT_EQ((load_error<std::int32_t, shape<6>>(p, "long")),
              pre + "long (I64, read as I32) holds 2 values outside the range of I32, the first (-1099511627776) at element 0");
    EXPECT_EQ((load_error<std::uint8_t, shape<2, 2>>(p, "int")),
              pre + "int (I32, read as U8) holds 3 values outside the range of U8, the first (-2147483648) at element 0");
    EXPECT_EQ((load_error<std::int8_t, shape<2, 3>>(p, "byte")),
              pre + "byte (U8, read as I8) holds 3 values outside the range of I8, the first (128) at element 3");
    // A float dtype never reads into an integer tensor; both problems are reported at once.
    EXPECT_EQ((load_error<std::int64_t, shape<3, 2>>(p, "single")),
              pre + "2 problems:\n  single has dtype F32, which does not convert to I64 (an integer tensor reads only integer "
                    "dtypes and BOOL: a float would be truncated)\n  single has shape [2, 3], expected [3, 2]");
    EXPECT_EQ((load_error<float, shape<7, 4>>(p, "half")), pre + "half has shape [4, 7], expected [7, 4]");
    EXPECT_EQ((load_error<float, shape<1>>(p, "scalar")), pre + "scalar has shape [], expected [1]");
    EXPECT_EQ((load_error<float, shape<2>>(p, "nothing")),
              pre + "no tensor named nothing (the file has 9: bfloat, byte, double, half, int, long, mask, scalar, single)");

    // F64 beyond float's range; F8 reads into nothing; NaN and infinities are kept.
    std::string h = R"({"big":{"dtype":"F64","shape":[3],"data_offsets":[0,24]},)"
                    R"("f8":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[24,26]},)"
                    R"("nonfinite":{"dtype":"F32","shape":[2],"data_offsets":[26,34]}})";
    std::string f = write_raw("convert.safetensors", h,
                              raw_bytes<double>({1.0, -1e300, 1e39}) + "ab" + raw_bytes<float>({-INFINITY, NAN}));
    EXPECT_EQ((load_error<float, shape<3>>(f, "big")),
              "[safetensors] " + f + ": big (F64, read as F32) holds 2 values beyond the float range, the first (-1e+300) at element 1");
    EXPECT_EQ((io::load_tensor<double, shape<3>>(f, "big")[2]), 1e39);
    EXPECT_EQ((load_error<float, shape<2>>(f, "f8")),
              "[safetensors] " + f + ": f8 has dtype F8_E4M3, which does not convert to F32 (kiln reads no F8 dtype)");
    auto nf = io::load_tensor<float, shape<2>>(f, "nonfinite");
    EXPECT_EQ(nf[0], -INFINITY);
    EXPECT_TRUE(std::isnan(nf[1]));
}

TEST(SaveTensors, RoundTrips) {
    tensor<float, shape<2, 3>> a{{1.5f, -2, 3}, {4, 5, NAN}};
    tensor<double, shape<4>> b{0.1, -1e300, 1e-310, -0.0};
    tensor<std::int64_t, shape<2>> c{-(std::int64_t(1) << 62), 7};
    tensor<std::int32_t, shape<1, 1, 3>> d{{{-1, 0, 1}}};
    tensor<std::uint8_t, shape<5>> e{0, 1, 2, 254, 255};
    tensor<std::int8_t, shape<3>> g{-128, 0, 127};
    tensor<std::int16_t, shape<2>> h{-32768, 32767};
    tensor<float, shape<>> s{2.5f};
    const std::string path = tmp("tensors_roundtrip.safetensors");
    io::save_tensors(path, {{"a", a}, {"b", b}, {"c", c}, {"d", d}, {"e", e}, {"g", g}, {"h", h}, {"s", s}},
                     {{"note", "kiln"}});
    EXPECT_TRUE(temp_leftovers(temp_dir()).empty());

    io::safe_open f(path);
    EXPECT_EQ(f.keys(), (std::vector<std::string>{"a", "b", "c", "d", "e", "g", "h", "s"}));
    EXPECT_EQ(f.metadata(), (io::metadata_map{{"format", "pt"}, {"note", "kiln"}}));
    const char* dtypes[] = {"F32", "F64", "I64", "I32", "U8", "I8", "I16", "F32"};
    for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(f.tensors()[i].dtype, dtypes[i]) << f.tensors()[i].name;
    EXPECT_EQ(f.info("d").shape, (std::vector<std::uint64_t>{1, 1, 3}));
    auto a2 = f.get_tensor<float, shape<2, 3>>("a");
    for (std::size_t i = 0; i < 6; ++i) EXPECT_TRUE(same(a[i], a2[i])) << i;
    auto b2 = f.get_tensor<double, shape<4>>("b");
    for (std::size_t i = 0; i < 4; ++i) EXPECT_TRUE(same(b[i], b2[i])) << i;
    EXPECT_EQ((f.get_tensor<std::int64_t, shape<2>>("c")[0]), c[0]);
    EXPECT_EQ((f.get_tensor<std::int32_t, shape<1, 1, 3>>("d")(0, 0, 2)), 1);
    EXPECT_EQ((f.get_tensor<std::uint8_t, shape<5>>("e")[4]), 255);
    EXPECT_EQ((f.get_tensor<std::int8_t, shape<3>>("g")[0]), -128);
    EXPECT_EQ((f.get_tensor<std::int16_t, shape<2>>("h")[1]), 32767);
    EXPECT_EQ((f.get_tensor<float, shape<>>("s").item()), 2.5f);
    EXPECT_EQ((f.get_tensor<double, shape<1, 1, 3>>("d")[0]), -1.0);  // I32 -> double

    // The data starts 8-byte aligned, like safetensors' own files; io::load reads the same format.
    auto bytes = bytes_of(path);
    std::uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    EXPECT_EQ(n % 8, 0u);
    EXPECT_EQ(bytes.size(), 8 + n + 24 + 32 + 16 + 12 + 5 + 3 + 4 + 4);

    // Overwriting replaces the file whole (the open reader keeps its own mapping).
    io::save_tensors(path, {{"only", e}});
    EXPECT_EQ(io::safe_open(path).keys(), std::vector<std::string>{"only"});
    EXPECT_EQ((f.get_tensor<std::uint8_t, shape<5>>("e")[3]), 254);
    // No tensors at all is a valid file.
    io::save_tensors(path, std::vector<io::named_tensor>{});
    EXPECT_TRUE(io::safe_open(path).keys().empty());
    EXPECT_EQ((load_error<float, shape<1>>(path, "x")), "[safetensors] " + path + ": no tensor named x (the file has 0)");
}

TEST(SaveTensors, RefusesBadNamesAndPaths) {
    tensor<float, shape<2>> a{1, 2};
    const std::string path = tmp("bad_names.safetensors");
    EXPECT_EQ(error_of([&] { io::save_tensors(path, {{"x", a}, {"y", a}, {"x", a}}); }),
              "[safetensors] " + path + ": two tensors are named x");
    EXPECT_EQ(error_of([&] { io::save_tensors(path, {{"__metadata__", a}}); }),
              "[safetensors] " + path + ": a tensor cannot be named __metadata__");
    EXPECT_FALSE(fs::exists(path));
    const std::string bad = (temp_dir() / "no_such_dir" / "t.safetensors").string();
    std::string e = error_of([&] { io::save_tensors(bad, {{"a", a}}); });
    EXPECT_EQ(e.rfind("[safetensors] " + bad + ": cannot create the temporary file " + bad + ".tmp-", 0), 0u) << e;
    EXPECT_TRUE(temp_leftovers(temp_dir()).empty());
}

// Every malformed file: an error naming the file and the field or offset, the same from
// safe_open, load_tensor and the model loader (one parser), never a crash or a foreign
// exception. (test_safetensors.cpp has more structural cases through the model loader.)
TEST(LoadTensor, MalformedFilesGetClearErrors) {
    struct bad_file {
        const char* file;
        std::string header, data;
        long long len;  ///< the header length written; -1: the header's own
        std::string error;
    };
    const std::string x4 = R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
    std::string deep_at = "x";
    for (int i = 0; i < 63; ++i) deep_at += "[0]";
    const std::string cut_array = "syntax error while parsing array - unexpected end of input; expected ']', in x.shape[1]";
    const bad_file cases[] = {
        // Truncated: no length, no header, a length past the end, a header or the data cut short.
        {"empty", "", "", -3, "the file is 0 bytes, shorter than the 8-byte header length"},
        {"len0", "", "1234567", -1, "the header (0 bytes) is not valid JSON: parse error at line 1, column 1: syntax error while "
                                    "parsing value - unexpected end of input; expected '[', '{', or a literal"},
        {"len", x4, "abcd", 1 << 20, "the header length 1048576 goes beyond the end of the file (66 bytes)"},
        {"len_max", x4, "abcd", -2, "the header length 18446744073709551614 goes beyond the end of the file (66 bytes)"},
        {"cut_header", x4.substr(0, 30), "", -1, "the header (30 bytes) is not valid JSON: parse error at line 1, column 31: " + cut_array},
        {"cut_data", x4, "ab", -1, "x has data_offsets [0, 4] outside the data section of 2 bytes"},
        // Bad JSON, with where it is.
        {"comma", R"({"x":{"dtype":"F32",}})", "", -1, "the header (22 bytes) is not valid JSON: parse error at line 1, column 21: syntax "
                                                   "error while parsing object key - unexpected '}'; expected string literal, in x.dtype"},
        {"utf8", "{\"x\xff\":1}", "", -1, "the header (8 bytes) is not valid JSON: parse error at line 1, column 4: syntax error while "
                                          "parsing object key - invalid string: ill-formed UTF-8 byte; last read: '\"x\xFF'; expected string literal"},
        // Numbers beyond double's range (nlohmann's out_of_range.406) name the field.
        {"huge_shape", R"({"x":{"dtype":"F32","shape":[1e999],"data_offsets":[0,4]}})", "abcd", -1,
         "the header (58 bytes) is not valid JSON: number overflow parsing '1e999' at byte 29 of the header, in x.shape[0]"},
        {"huge_offset", R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,-1E400]}})", "abcd", -1,
         "the header (59 bytes) is not valid JSON: number overflow parsing '-1E400' at byte 50 of the header, in x.data_offsets[1]"},
        {"huge_meta", R"({"__metadata__":{"n":1e309},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", "abcd", -1,
         "the header (81 bytes) is not valid JSON: number overflow parsing '1e309' at byte 21 of the header, in __metadata__.n"},
        // Integers too large for 64 bits, or not integers; a byte count that overflows.
        {"big_int", R"({"x":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,4]}})", "abcd", -1,
         "x has a shape that is not an array of non-negative integers: [1.8446744073709552e+19]"},
        {"float_offset", R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}})", "abcd", -1,
         "x has data_offsets that are not two non-negative integers: [0,4.0]"},
        {"bytes_overflow", R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", "abcd", -1,
         "x has data_offsets [0, 4] (4 bytes), but F32 [4294967296, 4294967296] needs more"},
        // Deep nesting stops at 64 levels instead of recursing; names given twice.
        {"deep", "{\"x\":" + std::string(100000, '[') + std::string(100000, ']') + "}", "", -1,
         "the header (200006 bytes) nests deeper than 64 levels, in " + deep_at},
        {"dup", x4.substr(0, x4.size() - 1) + "," + x4.substr(1), "abcdabcd", -1, "the header (107 bytes) names x twice"},
        {"dup_field", R"({"x":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}})", "abcd", -1,
         "the header (68 bytes) names x.dtype twice"},
        // Offsets and byte counts.
        {"overlap", R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"U8","shape":[6],"data_offsets":[2,8]}})",
         "abcdefgh", -1, "y (bytes 2..8) overlaps x (bytes 0..4)"},
        {"count", R"({"x":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}})", "abcd", -1, "x has data_offsets [0, 4] (4 bytes), but F16 [3] needs 6"},
        {"hole", R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", "abcdefgh", -1, "bytes 0..4 of the data section belong to no tensor"},
    };
    for (const auto& c : cases) {
        const std::string name = std::string(c.file) + ".safetensors";
        const std::string path = c.len == -3 ? tmp(name) : write_raw(name, c.header, c.data, c.len);
        if (c.len == -3) std::ofstream(path).flush();  // an empty file
        const std::string want = "[safetensors] " + path + ": " + c.error;
        EXPECT_EQ((load_error<float, shape<1>>(path, "x")), want);
        EXPECT_EQ(error_of([&] { io::safe_open f(path); }), want);
        one_buffer m;
        EXPECT_EQ(error_of([&] { io::load(path, m); }), want);
    }
    // A good file with the name missing.
    std::string p = write_raw("other.safetensors", R"({"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", "abcd");
    EXPECT_EQ((load_error<float, shape<1>>(p, "x")), "[safetensors] " + p + ": no tensor named x (the file has 1: y)");
}

TEST(LoadTensor, ManyTensorsListTheFirstNames) {
    tensor<float, shape<1>> a{1};
    std::vector<io::named_tensor> many;
    std::vector<std::string> names;
    for (int i = 0; i < 200; ++i) names.push_back("layer." + std::to_string(1000 + i) + ".weight");
    for (const auto& n : names) many.emplace_back(n, a);
    const std::string path = tmp("many.safetensors");
    io::save_tensors(path, many);
    std::string e = load_error<float, shape<1>>(path, "layer.1.weight");
    EXPECT_EQ(e.rfind("[safetensors] " + path + ": no tensor named layer.1.weight (the file has 200: layer.1000.weight, ", 0), 0u) << e;
    EXPECT_NE(e.find(", ...)"), std::string::npos) << e;
    EXPECT_LT(e.size(), 1024u);
    EXPECT_EQ(io::safe_open(path).keys(), names);
}
