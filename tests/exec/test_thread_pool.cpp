#include <kiln/exec/thread_pool.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <vector>

using namespace kiln::exec;

TEST(ThreadPool, CoversEveryIndexOnceWithFixedChunks) {
    for (std::size_t threads : {1u, 2u, 3u}) {
        thread_pool pool(threads);
        EXPECT_EQ(pool.size(), threads);
        for (std::size_t n : {0u, 1u, 7u, 1000u}) {
            std::vector<int> hits(n, 0);
            std::vector<std::pair<std::size_t, std::size_t>> chunks(n + 1);
            std::atomic<std::size_t> nchunks{0};
            pool.parallel_for(n, 7, [&](std::size_t b, std::size_t e) {
                for (std::size_t i = b; i < e; ++i) ++hits[i];
                EXPECT_EQ(b % 7, 0u);
                EXPECT_EQ(e, std::min(n, b + 7));
                ++nchunks;
            });
            for (int h : hits) EXPECT_EQ(h, 1);
            EXPECT_EQ(nchunks.load(), (n + 6) / 7);
        }
    }
}

TEST(ThreadPool, ChunkedReductionIsBitIdenticalForAnyThreadCount) {
    std::vector<float> data(100003);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = 1.0f / float(i + 1) * (i % 3 ? 1.f : -1.f);
    auto reduce = [&](auto& ex) {
        std::vector<float> partial((data.size() + 999) / 1000);
        ex.parallel_for(data.size(), 1000, [&](std::size_t b, std::size_t e) {
            float s = 0;
            for (std::size_t i = b; i < e; ++i) s += data[i];
            partial[b / 1000] = s;
        });
        float s = 0;
        for (float p : partial) s += p;
        return s;
    };
    serial ser;
    float r = reduce(ser);
    for (std::size_t t : {1u, 2u, 3u}) {
        thread_pool pool(t);
        for (int rep = 0; rep < 20; ++rep) EXPECT_EQ(reduce(pool), r);
    }
}

TEST(ThreadPool, NestedCallsRunInlineAndEnvironmentSetsSize) {
    thread_pool pool(2);
    std::atomic<int> count{0};
    pool.parallel_for(4, 1, [&](std::size_t, std::size_t) {
        pool.parallel_for(4, 1, [&](std::size_t, std::size_t) { ++count; });
    });
    EXPECT_EQ(count.load(), 16);
    setenv("KILN_NUM_THREADS", "3", 1);
    EXPECT_EQ(thread_pool::default_threads(), 3u);
    setenv("KILN_NUM_THREADS", "junk", 1);
    EXPECT_GE(thread_pool::default_threads(), 1u);
    setenv("KILN_NUM_THREADS", "2", 1);
}
