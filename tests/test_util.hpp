// Helpers shared by the tests: compare a tensor against a float64 reference.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <vector>

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

}  // namespace kiln::test
