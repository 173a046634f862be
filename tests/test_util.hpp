// Helpers shared by the tests: compare a tensor against a float64 reference, check gradients,
// read PyTorch fixture files.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

/// check_gradients (kiln/autodiff/gradcheck.hpp) of f with respect to the params, as a gtest check.
#define EXPECT_GRADS(f, ...)                                      \
    do {                                                          \
        auto r_ = check_gradients(f, __VA_ARGS__);                \
        EXPECT_TRUE(r_.ok) << r_.max_error << " at " << r_.worst; \
    } while (0)

namespace kiln::test {

/// Every element of t within atol + rtol * |ref| of the double reference (flat, row-major).
template <class Tensor>
void expect_close(const Tensor& t, const std::vector<double>& ref, double rtol = 1e-6, double atol = 1e-6) {
    ASSERT_EQ(ref.size(), Tensor::size);
    for (std::size_t i = 0; i < ref.size(); ++i) {
        double got = static_cast<double>(t[i]);
        if (std::isnan(ref[i])) {
            EXPECT_TRUE(std::isnan(got)) << "element " << i;
        } else {
            EXPECT_NEAR(got, ref[i], atol + rtol * std::fabs(ref[i])) << "element " << i;
        }
    }
}

/// Applies f to every element of t, in double.
template <class Tensor, class F>
std::vector<double> map_ref(const Tensor& t, F f) {
    std::vector<double> r(Tensor::size);
    for (std::size_t i = 0; i < Tensor::size; ++i) r[i] = f(static_cast<double>(t[i]));
    return r;
}

/// label -> tensor name -> values, from a fixture file of "case LABEL", "NAME N v1 .. vN" and
/// "end" lines (strtod reads inf and nan); an unreadable file or short row fails the test.
using fixture_record = std::map<std::string, std::vector<double>>;
inline std::map<std::string, fixture_record> read_fixture_records(const std::string& path) {
    std::map<std::string, fixture_record> m;
    std::ifstream file(path);
    EXPECT_TRUE(file) << "cannot open " << path;
    std::string line, label;
    while (std::getline(file, line)) {
        std::istringstream in(line);
        std::string tag;
        in >> tag;
        if (tag == "case") {
            in >> label;
        } else if (tag == "end" || tag == "torch" || tag.empty()) {
            continue;
        } else {
            std::size_t n = 0;
            in >> n;
            std::vector<double> v(n);
            std::string tok;
            for (auto& e : v) {
                in >> tok;
                e = std::strtod(tok.c_str(), nullptr);
            }
            EXPECT_TRUE(in) << label << " " << tag << ": expected " << n << " values";
            m[label][tag] = std::move(v);
        }
    }
    return m;
}

}  // namespace kiln::test
