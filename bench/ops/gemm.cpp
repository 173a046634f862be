// kiln::cpu_kernels::gemm vs OpenBLAS cblas_sgemm, square float matrices, 1 and 2 threads.
// Each library runs in its own phase (all kiln cases, then all OpenBLAS cases): OpenBLAS
// workers keep spinning after a call and would steal the core from kiln's pool if the two
// were interleaved. The GFLOPS counter is a wall-clock rate; at the end a table pairs the
// (median, when repeated) GFLOP/s of both libraries and prints kiln/OpenBLAS.
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kiln/device/cpu/kernels/gemm.hpp"
#include "kiln/exec/thread_pool.hpp"

namespace {

const std::vector<long> sizes = {64, 128, 256, 512, 1024, 2048};
const std::vector<long> thread_counts = {1, 2};

struct operands {
    std::vector<float> a, b, c;
    explicit operands(std::size_t n) : a(n * n), b(n * n), c(n * n, 0.0f) {
        std::mt19937 rng(42);
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        for (auto& x : a) x = u(rng);
        for (auto& x : b) x = u(rng);
    }
};

void set_gflops(benchmark::State& state, std::size_t n) {
    state.counters["GFLOPS"] = benchmark::Counter(2.0 * double(n) * double(n) * double(n) / 1e9,
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

void bm_kiln(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    kiln::exec::thread_pool pool(static_cast<std::size_t>(state.range(1)));
    operands m(n);
    for (auto _ : state) {
        kiln::cpu_kernels::gemm(false, false, n, n, n, 1.0f, m.a.data(), n, m.b.data(), n, 0.0f, m.c.data(), n, pool);
        benchmark::DoNotOptimize(m.c.data());
        benchmark::ClobberMemory();
    }
    set_gflops(state, n);
}

void bm_openblas(benchmark::State& state) {
    const auto n = static_cast<int>(state.range(0));
    openblas_set_num_threads(static_cast<int>(state.range(1)));
    operands m(static_cast<std::size_t>(n));
    for (auto _ : state) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, m.a.data(), n, m.b.data(), n,
                    0.0f, m.c.data(), n);
        benchmark::DoNotOptimize(m.c.data());
        benchmark::ClobberMemory();
    }
    set_gflops(state, static_cast<std::size_t>(n));
}

// Console output as usual, plus a kiln/OpenBLAS table once everything has run.
class ratio_reporter : public benchmark::ConsoleReporter {
public:
    ratio_reporter() : ConsoleReporter(isatty(STDOUT_FILENO) ? OO_ColorTabular : OO_Tabular) {}
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const auto& r : runs) {
            if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median") continue;
            auto it = r.counters.find("GFLOPS");
            if (it == r.counters.end()) continue;
            const std::string name = r.run_name.function_name;
            const std::string args = r.run_name.args;  // "size/threads"
            gflops_[{args, name}].push_back(it->second.value);
        }
    }
    void Finalize() override {
        ConsoleReporter::Finalize();
        std::printf("\n%-8s %-8s %12s %14s %8s\n", "size", "threads", "kiln GF/s", "OpenBLAS GF/s", "ratio");
        for (long n : sizes)
            for (long t : thread_counts) {
                const std::string args = std::to_string(n) + "/" + std::to_string(t);
                const double k = median(args, "kiln"), o = median(args, "openblas");
                if (std::isnan(k) && std::isnan(o)) continue;
                std::printf("%-8ld %-8ld %12.1f %14.1f %8.3f\n", n, t, k, o, k / o);
            }
    }

private:
    double median(const std::string& args, const std::string& lib) const {
        auto it = gflops_.find({args, lib});
        if (it == gflops_.end() || it->second.empty()) return NAN;
        auto v = it->second;  // one value per repetition unless aggregates were reported
        std::sort(v.begin(), v.end());
        return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
    }
    std::map<std::pair<std::string, std::string>, std::vector<double>> gflops_;
};

void register_phase(const char* name, void (*fn)(benchmark::State&)) {
    for (long t : thread_counts)
        for (long n : sizes)
            benchmark::RegisterBenchmark(name, fn)->Args({n, t})->ArgNames({"", ""})->UseRealTime()->Unit(
                benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    // OpenBLAS picks its kernels from the CPU it recognises (OPENBLAS_CORETYPE overrides it).
    benchmark::AddCustomContext("openblas", openblas_get_config());
    benchmark::AddCustomContext("kiln simd", kiln::simd::arch_name());
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    register_phase("kiln", bm_kiln);
    register_phase("openblas", bm_openblas);
    ratio_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return 0;
}
