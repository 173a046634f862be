// The runtime: device choice, memory sub-allocation, transfers, hazard tracking (barriers only
// where needed, and always where needed), batching, the descriptor-pool fallback, timers and
// every error path that can be provoked on lavapipe.
#include <cstdlib>
#include <string>

#include "vk_test.hpp"

#include <sys/stat.h>

#include <cstdio>

namespace kiln_vk_test {
namespace {

// After the last test, destroy the device so the layer reports leaked objects, and require
// that it never spoke during the whole run.
class validation_environment : public ::testing::Environment {
public:
    void TearDown() override {
        kiln::vk::context::reset();
        EXPECT_EQ(kiln::vk::detail::validation_count().load(), 0u) << "validation messages during the run (see stderr)";
    }
};
[[maybe_unused]] ::testing::Environment* const validation_env = ::testing::AddGlobalTestEnvironment(new validation_environment);

/// Runs f with an environment variable set on a fresh context, then restores both.
template <class F>
void with_env(const char* name, const char* value, F f) {
    vk::context::reset();
    setenv(name, value, 1);
    try {
        f();
    } catch (...) {
        unsetenv(name);
        vk::context::reset();
        throw;
    }
    unsetenv(name);
    vk::context::reset();
}

std::string error_of(void (*f)()) {
    try {
        f();
    } catch (const kiln::error& e) {
        return e.what();
    }
    return "(no error)";
}

/// x <- x * 1.01 + 1, in place.
void step(vk::device_buffer& x, std::uint32_t n) {
    vk::ew_program p;
    p.rank = 1;
    p.extents[0] = n;
    p.n_leaves = 1;
    p.leaf_strides[0][0] = 1;
    p.consts[0] = 1.01f;
    p.consts[1] = 1.0f;
    for (std::uint32_t c : {vk::ew_op(vk::ew_leaf, 0), vk::ew_op(vk::ew_const, 0), vk::ew_op(vk::ew_mul), vk::ew_op(vk::ew_const, 1),
                            vk::ew_op(vk::ew_add)})
        p.code[p.n_code++] = c;
    const vk::device_buffer* l[] = {&x};
    vk::elementwise(p, l, x);
}

class runtime : public vk_test {};

TEST_F(runtime, context_describes_the_device) {
    EXPECT_TRUE(vk::context::available());
    EXPECT_GT(std::string(ctx().device_name()).size(), 0u);
    EXPECT_GE(ctx().max_buffer_bytes(), 1u << 27);
    std::printf("device: %s (%s), push descriptors %d, validation %d\n", ctx().device_name(), ctx().device_type(),
                ctx().push_descriptors(), ctx().validation_enabled());
}

TEST_F(runtime, upload_download_round_trip_with_offsets) {
    std::vector<float> h = random_vector(1000, 1);
    vk::device_buffer d(1000 * sizeof(float));
    vk::upload(d, h.data(), 600 * sizeof(float));
    vk::upload(d, h.data() + 600, 400 * sizeof(float), 600 * sizeof(float));
    EXPECT_EQ(to_host(d, 1000), h);
    EXPECT_EQ(to_host(d, 10, 990), std::vector<float>(h.begin() + 990, h.end()));
    EXPECT_THROW(vk::upload(d, h.data(), 8, 3997), kiln::error);
    EXPECT_THROW(vk::download(d, h.data(), 4004), kiln::error);
}

TEST_F(runtime, large_transfers_are_chunked_through_staging) {
    // 100 MiB: larger than the 64 MiB staging buffer and than half a block (dedicated memory).
    const std::size_t n = std::size_t(25) << 20;
    std::vector<float> h(n);
    for (std::size_t i = 0; i < n; ++i) h[i] = static_cast<float>(i % 100003);
    vk::device_buffer d(n * sizeof(float));
    vk::upload(d, h.data(), n * sizeof(float));
    std::vector<float> back(n);
    vk::download(d, back.data(), n * sizeof(float));
    EXPECT_TRUE(back == h);
}

TEST_F(runtime, buffers_share_blocks) {
    vk::synchronize();
    std::size_t in_use = ctx().memory_in_use();
    {
        std::vector<vk::device_buffer> many;
        for (int i = 0; i < 100; ++i) many.emplace_back(1000 + i);
        std::size_t reserved = ctx().memory_reserved();
        for (int i = 0; i < 100; ++i) many.emplace_back(3000);
        EXPECT_EQ(ctx().memory_reserved(), reserved) << "small buffers must come from the existing block";
        EXPECT_GE(ctx().memory_in_use(), in_use + 100 * 1000 + 100 * 3000);
        vk::device_buffer moved = std::move(many[0]);
        EXPECT_TRUE(many[0].empty());
        EXPECT_EQ(moved.bytes(), 1000u);
    }
    EXPECT_EQ(ctx().memory_in_use(), in_use);
}

TEST_F(runtime, independent_dispatches_get_no_barrier) {
    vk::device_buffer a(4096), b(4096), c(4096);
    vk::fill(a, 0, 1024, 1.0f);
    vk::fill(a, 0, 1024, 1.0f);  // write-after-write on a: one barrier, which also clears history
    std::size_t barriers = ctx().barrier_count();
    vk::fill(b, 0, 1024, 2.0f);
    vk::fill(c, 0, 1024, 3.0f);
    vk::random_uniform(b, 0, 10, 1, 0, 1);  // b again: a hazard
    EXPECT_EQ(ctx().barrier_count(), barriers + 1);
}

TEST_F(runtime, dependent_chain_without_sync_is_ordered) {
    // 300 in-place steps: each reads what the last wrote, and the chain crosses batch submits.
    const std::uint32_t n = 1000;
    std::vector<float> h = random_vector(n, 2);
    auto d = to_device(h);
    std::size_t submits = ctx().submit_count(), barriers = ctx().barrier_count();
    for (int s = 0; s < 300; ++s) step(d, n);
    EXPECT_GE(ctx().barrier_count() - barriers, 299u);
    EXPECT_GE(ctx().submit_count() - submits, 1u) << "a long batch is submitted early";
    std::vector<float> got = to_host(d, n);
    for (std::uint32_t i = 0; i < n; ++i) {
        float want = h[i];
        for (int s = 0; s < 300; ++s) want = want * 1.01f + 1.0f;
        ASSERT_TRUE(close(got[i], want, 1e-3, 1e-4)) << i;
    }
}

TEST_F(runtime, write_after_read_waits_for_the_reader) {
    const std::uint32_t n = 2048;
    std::vector<float> h = random_vector(n, 3);
    auto a = to_device(h);
    vk::device_buffer b(n * sizeof(float));
    std::uint32_t ext[] = {n}, unit[] = {1};
    vk::strided_copy(a, 0, unit, b, 0, unit, ext, 1);  // reads a
    std::size_t barriers = ctx().barrier_count();
    vk::fill(a, 0, n, 0.0f);  // overwrites a: must wait for the copy
    EXPECT_EQ(ctx().barrier_count(), barriers + 1);
    EXPECT_EQ(to_host(b, n), h);
}

TEST_F(runtime, freed_memory_is_reused_safely_while_in_flight) {
    const std::uint32_t n = 4096;
    vk::device_buffer out(n * sizeof(float));
    std::vector<float> fresh = random_vector(n, 4);
    for (int round = 0; round < 3; ++round) {
        {
            vk::device_buffer t(n * sizeof(float));
            vk::fill(t, 0, n, 5.0f);
            std::uint32_t ext[] = {n}, unit[] = {1};
            vk::strided_copy(t, 0, unit, out, 0, unit, ext, 1);
        }  // t freed with its copy still recorded
        vk::device_buffer u(n * sizeof(float));  // likely the same range
        vk::upload(u, fresh.data(), n * sizeof(float));
        EXPECT_EQ(to_host(out, n), std::vector<float>(n, 5.0f));
        EXPECT_EQ(to_host(u, n), fresh);
    }
    {
        vk::device_buffer big(std::size_t(40) << 20);  // dedicated: freed only after the GPU is done
        vk::fill(big, 0, 1 << 20, 1.0f);
    }
    vk::synchronize();
}

TEST_F(runtime, large_temporaries_reuse_their_memory) {
    {
        vk::device_buffer big(std::size_t(40) << 20);  // dedicated (over half a block)
        vk::fill(big, 0, 1 << 20, 1.0f);
    }
    vk::synchronize();  // the GPU is done with it: kept for reuse, not freed
    const std::size_t reserved = ctx().memory_reserved();
    EXPECT_GE(ctx().memory_spare(), std::size_t(40) << 20);
    for (int i = 0; i < 3; ++i) {
        {
            vk::device_buffer big(std::size_t(36) << 20);  // within 1.25x of the kept one: no driver allocation
            vk::fill(big, 0, 1 << 20, 2.0f);
            EXPECT_EQ(to_host(big, 1)[0], 2.0f);
        }
        vk::synchronize();
        EXPECT_EQ(ctx().memory_reserved(), reserved);
    }
}

TEST_F(runtime, profile_times_every_kernel) {
    with_env("KILN_VULKAN_PROFILE", "1", [] {
        auto& rec = vk::context::instance().recorder();
        ASSERT_TRUE(rec.profiling());
        vk::device_buffer a(64 * 64 * 4), c(64 * 64 * 4);
        for (int i = 0; i < 3; ++i) {
            vk::fill(a, 0, 64 * 64, 1.0f);
            vk::gemm(false, false, 64, 64, 64, 1.0f, a, 0, 64, 0, a, 0, 64, 0, 0.0f, c, 0, 64, 0);
        }
        EXPECT_EQ(to_host(c, 1)[0], 64.0f);  // a sync point: the batch's timestamps are read
        std::size_t fills = 0, gemms = 0;
        for (const auto& [label, e] : rec.profile()) {
            EXPECT_GE(e.seconds, 0.0) << label;
            if (label == "fill") fills += e.count;
            if (label.rfind("gemm[", 0) == 0) gemms += e.count;
        }
        EXPECT_EQ(fills, 3u);
        EXPECT_EQ(gemms, 3u);
        EXPECT_NE(rec.profile_report().find("fill"), std::string::npos);
    });
    EXPECT_FALSE(vk::context::instance().recorder().profiling());
}

TEST_F(runtime, pipeline_cache_persists_between_contexts) {
    char dir[] = "/tmp/kiln_pipelines_XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    const std::string sub = std::string(dir) + "/a/b";  // created on save
    auto work = [] {
        vk::device_buffer a(32 * 32 * 4), c(32 * 32 * 4);
        vk::fill(a, 0, 32 * 32, 1.0f);
        vk::gemm(false, false, 32, 32, 32, 1.0f, a, 0, 32, 0, a, 0, 32, 0, 0.0f, c, 0, 32, 0);
        EXPECT_EQ(to_host(c, 1)[0], 32.0f);
    };
    std::string path;
    with_env("KILN_VULKAN_PIPELINE_CACHE", sub.c_str(), [&] {
        EXPECT_FALSE(vk::context::instance().pipeline_cache_loaded());
        path = vk::context::instance().pipeline_cache_path();
        EXPECT_EQ(path.rfind(sub + "/vulkan-pipelines-", 0), 0u) << path;
        work();
    });  // the context ends: the cache is written
    struct stat st{};
    ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
    EXPECT_GE(st.st_size, 32);
    with_env("KILN_VULKAN_PIPELINE_CACHE", sub.c_str(), [&] {
        EXPECT_TRUE(vk::context::instance().pipeline_cache_loaded());
        work();
    });
    // A damaged file is ignored (and replaced), never trusted.
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fputs("not a pipeline cache, but longer than its 32-byte header", f);
    std::fclose(f);
    with_env("KILN_VULKAN_PIPELINE_CACHE", sub.c_str(), [&] {
        EXPECT_FALSE(vk::context::instance().pipeline_cache_loaded());
        work();
    });
    with_env("KILN_VULKAN_PIPELINE_CACHE", "0", [] { EXPECT_EQ(vk::context::instance().pipeline_cache_path(), ""); });
}

TEST_F(runtime, gpu_timer_measures) {
    vk::device_buffer a(128 * 128 * 4), c(128 * 128 * 4);
    vk::fill(a, 0, 128 * 128, 1.0f);
    vk::gpu_timer t;
    t.start();
    vk::gemm(false, false, 128, 128, 128, 1.0f, a, 0, 128, 0, a, 0, 128, 0, 0.0f, c, 0, 128, 0);
    t.stop();
    double s = t.seconds();
    EXPECT_GT(s, 0.0);
    EXPECT_LT(s, 10.0);
    EXPECT_EQ(to_host(c, 1)[0], 128.0f);
}

TEST_F(runtime, descriptor_pool_fallback) {
    with_env("KILN_VULKAN_NO_PUSH_DESCRIPTORS", "1", [] {
        ASSERT_FALSE(vk::context::instance().push_descriptors());
        const std::uint32_t n = 500;
        std::vector<float> h = random_vector(n, 5);
        auto d = to_device(h);
        for (int s = 0; s < 600; ++s) step(d, n);  // more dispatches than one pool holds
        vk::device_buffer sum(sizeof(float)), c(25 * sizeof(float));
        vk::reduce(vk::reduce_op::sum, d, 0, sum, 0, 1, n, 1);
        vk::gemm(false, true, 5, 5, 100, 1.0f, d, 0, 100, 0, d, 0, 100, 0, 0.0f, c, 0, 5, 0);
        std::vector<float> got = to_host(d, n);
        double total = 0;
        for (std::uint32_t i = 0; i < n; ++i) {
            float want = h[i];
            for (int s = 0; s < 600; ++s) want = want * 1.01f + 1.0f;
            ASSERT_TRUE(close(got[i], want, 1e-2, 1e-3)) << i;
            total += got[i];
        }
        EXPECT_TRUE(close(to_host(sum, 1)[0], total, 1e-2, 1e-5));
    });
}

TEST_F(runtime, device_selection_by_name_and_index) {
    with_env("KILN_VULKAN_DEVICE", "no-such-gpu", [] {
        EXPECT_FALSE(vk::context::available());
        std::string e = error_of([] { vk::context::instance(); });
        EXPECT_NE(e.find("[vulkan] KILN_VULKAN_DEVICE=no-such-gpu names no usable device"), std::string::npos) << e;
        EXPECT_NE(e.find("0: llvmpipe"), std::string::npos) << "the message lists the devices: " << e;
    });
    with_env("KILN_VULKAN_DEVICE", "LLVMPIPE", [] { EXPECT_NE(std::string(vk::context::instance().device_name()).find("llvmpipe"), std::string::npos); });
    with_env("KILN_VULKAN_DEVICE", "0", [] { EXPECT_TRUE(vk::context::available()); });
    with_env("KILN_VULKAN_DEVICE", "7", [] { EXPECT_FALSE(vk::context::available()); });
}

TEST_F(runtime, buffer_larger_than_a_storage_range_is_refused) {
    std::size_t too_big = ctx().max_buffer_bytes() + 4;
    try {
        vk::device_buffer b(too_big);
        ADD_FAILURE() << "no error";
    } catch (const kiln::error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("[vulkan] a buffer of " + std::to_string(too_big) + " bytes exceeds"), std::string::npos) << m;
        EXPECT_NE(m.find("maxStorageBufferRange " + std::to_string(ctx().max_buffer_bytes())), std::string::npos) << m;
    }
}

TEST_F(runtime, out_of_device_memory_says_how_much) {
    with_env("KILN_VULKAN_MEMORY_LIMIT_MB", "64", [] {
        vk::device_buffer a(std::size_t(24) << 20), b(std::size_t(24) << 20);
        try {
            vk::device_buffer c(std::size_t(24) << 20);
            ADD_FAILURE() << "no error";
        } catch (const kiln::error& e) {
            std::string m = e.what();
            EXPECT_NE(m.find("[vulkan] out of device memory: requested 25165824 bytes"), std::string::npos) << m;
            EXPECT_NE(m.find("50331648 bytes in use"), std::string::npos) << m;
        }
    });
}

// Failures that leave no usable context run in a child process (death tests re-run the binary).
TEST(runtime_death, no_loader) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    auto child = [] {
        setenv("KILN_VULKAN_LOADER", "/nonexistent/libvulkan.so.1", 1);
        if (vk::context::available()) std::_Exit(1);
        try {
            vk::context::instance();
        } catch (const kiln::error& e) {
            std::fprintf(stderr, "%s\n", e.what());
            std::_Exit(3);
        }
        std::_Exit(2);
    };
    EXPECT_EXIT(child(), ::testing::ExitedWithCode(3),
                "\\[vulkan\\] no Vulkan device found: install mesa-vulkan-drivers .* GPU driver \\(the Vulkan loader could not be opened");
}

TEST(runtime_death, no_driver) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    auto child = [] {
        setenv("VK_DRIVER_FILES", "/nonexistent/icd.json", 1);
        setenv("VK_ICD_FILENAMES", "/nonexistent/icd.json", 1);
        try {
            vk::context::instance();
        } catch (const kiln::error& e) {
            std::fprintf(stderr, "%s\n", e.what());
            std::_Exit(3);
        }
        std::_Exit(2);
    };
    EXPECT_EXIT(child(), ::testing::ExitedWithCode(3), "\\[vulkan\\] no Vulkan device found: install mesa-vulkan-drivers");
}

TEST(runtime_death, fence_wait_times_out) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    auto child = [] {
        setenv("KILN_VULKAN_TIMEOUT", "0.000001", 1);
        try {
            vk::device_buffer a(256 * 256 * 4 * 8), c(256 * 256 * 4 * 8);
            vk::fill(a, 0, 256 * 256 * 8, 1.0f);
            vk::gemm(false, false, 256, 256, 256, 1.0f, a, 0, 256, 65536, a, 0, 256, 65536, 0.0f, c, 0, 256, 65536, 8);
            vk::synchronize();
        } catch (const kiln::error& e) {
            std::fprintf(stderr, "%s\n", e.what());
            std::_Exit(3);
        }
        std::_Exit(2);
    };
    EXPECT_EXIT(child(), ::testing::ExitedWithCode(3), "\\[vulkan\\] the GPU did not finish within 1e-06 s");
}

}  // namespace
}  // namespace kiln_vk_test
