// Fork-join executors. `serial` runs everything on the caller; `thread_pool` keeps fixed
// workers and splits a range into chunks that depend on the grain only, never on the thread
// count, so kernels that reduce per chunk give bit-identical results for any pool size.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln::exec {

/// Runs f(begin, end) over [0, n) on the calling thread, chunk by chunk like the pool does.
struct serial {
    static constexpr std::size_t size() { return 1; }
    template <class F>
    void parallel_for(std::size_t n, std::size_t grain, F&& f) const {
        if (grain == 0) grain = 1;
        for (std::size_t b = 0; b < n; b += grain) f(b, b + grain < n ? b + grain : n);
    }
};

namespace detail {
inline thread_local bool in_worker = false;
}

/// Fixed set of workers; the calling thread works too. parallel_for allocates nothing.
class thread_pool {
public:
    /// threads == 0 means: KILN_NUM_THREADS if set, else std::thread::hardware_concurrency().
    explicit thread_pool(std::size_t threads = 0) {
        if (threads == 0) threads = default_threads();
        size_ = threads;
        workers_.reserve(threads - 1);
        for (std::size_t i = 0; i + 1 < threads; ++i) workers_.emplace_back([this] { work(); });
    }
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;
    ~thread_pool() {
        {
            std::lock_guard<std::mutex> lk(m_);
            stop_ = true;
        }
        cv_.notify_all();
        for (auto& w : workers_) w.join();
    }

    /// Number of threads that run chunks (workers plus the caller).
    std::size_t size() const { return size_; }

    /// Calls f(begin, end) for chunks [k*grain, min(n, (k+1)*grain)) of [0, n); returns when all ran.
    template <class F>
    void parallel_for(std::size_t n, std::size_t grain, F&& f) {
        if (grain == 0) grain = 1;
        const std::size_t chunks = (n + grain - 1) / grain;
        if (chunks == 0) return;
        if (chunks == 1 || size_ == 1 || detail::in_worker) {  // nested calls run inline
            serial{}.parallel_for(n, grain, f);
            return;
        }
        std::lock_guard<std::mutex> one_job(submit_);
        using fn_t = std::remove_reference_t<F>;
        {
            // Workers register under m_, so none can start on the job while it is written;
            // a late one from the previous job must have left before we overwrite it.
            std::lock_guard<std::mutex> lk(m_);
            while (active_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
            job_ = {[](void* ctx, std::size_t b, std::size_t e) { (*static_cast<fn_t*>(ctx))(b, e); },
                    const_cast<void*>(static_cast<const void*>(&f)), n, grain, chunks};
            next_.store(0, std::memory_order_relaxed);
            done_.store(0, std::memory_order_relaxed);
            ++generation_;
        }
        cv_.notify_all();
        detail::in_worker = true;
        run_chunks();
        detail::in_worker = false;
        // Wait for the chunks other threads took; spin briefly, then yield.
        for (unsigned spins = 0; done_.load(std::memory_order_acquire) != chunks; ++spins)
            if (spins > 1024) std::this_thread::yield();
        // Every worker must have left run_chunks before the job (on our stack) goes away.
        while (active_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    }

    /// KILN_NUM_THREADS if set, else the hardware threads; always 1 when built with
    /// KILN_NO_THREADS (the embedded profile: no thread is ever started, nothing allocated).
    static std::size_t default_threads() {
#if defined(KILN_NO_THREADS)
        return 1;
#endif
        if (const char* s = std::getenv("KILN_NUM_THREADS")) {
            char* end = nullptr;
            long v = std::strtol(s, &end, 10);
            if (end != s && v > 0 && v <= 1024) return static_cast<std::size_t>(v);
        }
        unsigned hc = std::thread::hardware_concurrency();
        return hc == 0 ? 1 : hc;
    }

private:
    struct job {
        void (*call)(void*, std::size_t, std::size_t) = nullptr;
        void* ctx = nullptr;
        std::size_t n = 0, grain = 1, chunks = 0;
    };

    void run_chunks() {
        for (;;) {
            std::size_t k = next_.fetch_add(1, std::memory_order_relaxed);
            if (k >= job_.chunks) return;
            std::size_t b = k * job_.grain, e = b + job_.grain < job_.n ? b + job_.grain : job_.n;
            job_.call(job_.ctx, b, e);
            done_.fetch_add(1, std::memory_order_acq_rel);
        }
    }

    void work() {
        detail::in_worker = true;
        std::size_t seen = 0;
        for (;;) {
            {
                std::unique_lock<std::mutex> lk(m_);
                cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
                if (stop_) return;
                seen = generation_;
                active_.fetch_add(1, std::memory_order_acq_rel);
            }
            run_chunks();
            active_.fetch_sub(1, std::memory_order_acq_rel);
        }
    }

    std::size_t size_ = 1;
    std::vector<std::thread> workers_;
    std::mutex m_, submit_;
    std::condition_variable cv_;
    std::size_t generation_ = 0;
    bool stop_ = false;
    job job_;
    std::atomic<std::size_t> next_{0}, done_{0}, active_{0};
};

/// The process-wide pool kernels use unless given another executor.
inline thread_pool& default_pool() {
    static thread_pool pool;
    return pool;
}

}  // namespace kiln::exec
