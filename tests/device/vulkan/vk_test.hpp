// Shared by the Vulkan tests: a fixture that fails (never skips) without a device and fails any
// test during which the validation layer spoke, plus host <-> device helpers.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include "kiln/device/vulkan/vulkan.hpp"

namespace kiln_vk_test {

namespace vk = kiln::vk;

class vk_test : public ::testing::Test {
protected:
    void SetUp() override {
        // instance() throws kiln::error with the reason when there is no device: gtest reports
        // it as a failure, so CI without lavapipe goes red instead of skipping.
        vk::context& c = vk::context::instance();
        if (std::getenv("KILN_VULKAN_VALIDATION") || std::getenv("VK_INSTANCE_LAYERS")) {
            ASSERT_TRUE(c.validation_enabled()) << "validation was requested but is not active";
        }
        before_ = vk::detail::validation_count().load();
    }
    void TearDown() override {
        if (vk::context::current()) vk::synchronize();  // let the layer see all work
        EXPECT_EQ(vk::detail::validation_count().load() - before_, 0u) << "validation messages during this test (see stderr)";
    }
    static vk::context& ctx() { return vk::context::instance(); }

private:
    std::size_t before_ = 0;
};

inline vk::device_buffer to_device(const std::vector<float>& h, std::size_t extra_floats = 0) {
    vk::device_buffer b((h.size() + extra_floats) * sizeof(float));
    vk::upload(b, h.data(), h.size() * sizeof(float));
    return b;
}
inline std::vector<float> to_host(const vk::device_buffer& b, std::size_t n, std::size_t offset = 0) {
    std::vector<float> h(n);
    vk::download(b, h.data(), n * sizeof(float), offset * sizeof(float));
    return h;
}
inline std::vector<float> random_vector(std::size_t n, std::uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
    std::mt19937 g(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(g);
    return v;
}
/// |got - want| <= abs_tol + rel_tol * |want|, NaN matching NaN, infinities matching exactly.
inline ::testing::AssertionResult close(double got, double want, double abs_tol, double rel_tol) {
    if (std::isnan(want) && std::isnan(got)) return ::testing::AssertionSuccess();
    if (std::isinf(want) && got == want) return ::testing::AssertionSuccess();
    if (std::fabs(got - want) <= abs_tol + rel_tol * std::fabs(want)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "got " << got << ", want " << want;
}

}  // namespace kiln_vk_test
