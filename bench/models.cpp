// One training step of two models, kiln beside libtorch, at 1 and 2 threads; reports
// libtorch time / kiln time (kiln's speed-up) against the targets of the issue.
//
//   mlp: Linear 784->128, ReLU, Linear 128->10; batch 64; cross-entropy; SGD (lr 0.01).
//   cnn: the chapter-001 CNN (Conv 3->64 k3 p1, ReLU, MaxPool 2, Conv 64->128 k3 p1, ReLU,
//        MaxPool 2, Flatten, Linear 8192->1024, ReLU, Linear 1024->10) on 3x32x32, batch 64,
//        cross-entropy, Adam (lr 1e-3).
// A step is zero_grad, forward, loss, backward, optimizer step, in both libraries.
//
// Run without --phase, the program is a driver: for each thread count and each library it
// starts itself again (one fresh process per phase, so kiln's pool, OpenBLAS's pool and
// libtorch's OpenMP pool never meet), with KILN_NUM_THREADS / OMP_NUM_THREADS /
// OPENBLAS_NUM_THREADS set to the count and OMP_WAIT_POLICY=passive; Google Benchmark flags are
// passed on (default: --benchmark_repetitions=5 --benchmark_report_aggregates_only=true).
// The children send their medians back through a pipe and the driver prints the table.
//
//   bench_models                              # 1 and 2 threads, both libraries, table
//   bench_models --threads=1                  # one thread count
//   bench_models --phase=kiln --threads=2     # one phase by hand (no table)
//   bench_models --malloc-keep                # both libraries with glibc malloc keeping freed
//                                             # memory (no page faults in the steady state)
//
// Both libraries allocate their activations and gradients afresh every step; glibc returns
// large blocks to the kernel on free, so each step faults its memory in again. Where page
// faults are dear (a VM: ~12 us per 4 KiB page was measured here) that dominates both steps.
// --malloc-keep sets GLIBC_TUNABLES (mmap threshold 32 MiB, trim threshold 4 GB, top pad
// 256 MiB) in both children to show the steps without that cost.
#include <benchmark/benchmark.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <kiln/kiln.hpp>
#include <kiln/loss/loss.hpp>
#include <kiln/nn/activation.hpp>
#include <kiln/nn/conv.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/nn/sequential.hpp>
#include <kiln/optim/optim.hpp>
#include <torch/torch.h>

extern "C" void openblas_set_num_threads(int);
extern char** environ;

namespace {

constexpr std::size_t batch = 64;

struct target {
    const char* model;
    double speedup;  // wanted libtorch time / kiln time
};
constexpr target targets[] = {{"mlp", 1.3}, {"cnn", 2.0}};

long minor_faults() {
    rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_minflt;
}

/// Times steps; the "faults" counter is minor page faults per step (memory touched afresh).
template <class Step>
void run_steps(benchmark::State& state, Step&& step) {
    for (int i = 0; i < 2; ++i) step();  // warm-up: workspaces, optimizer state, first touch
    const long f0 = minor_faults();
    for (auto _ : state) benchmark::DoNotOptimize(step());
    state.counters["faults"] = benchmark::Counter(double(minor_faults() - f0), benchmark::Counter::kAvgIterations);
}

/// Microseconds per 4 KiB page fault: best of 5 rounds of faulting in a fresh 64 MiB mapping.
double fault_us() {
    const std::size_t n = std::size_t(64) << 20;
    double best = 1e30;
    for (int r = 0; r < 5; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        void* m = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return 0;
        volatile char* p = static_cast<char*>(m);
        for (std::size_t i = 0; i < n; i += 4096) p[i] = 1;
        munmap(m, n);
        best = std::min(best, std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    return best / double(n / 4096);
}

// ---------------------------------------------------------------------------------------- kiln

using kiln_mlp = kiln::nn::sequential<kiln::nn::linear<784, 128>, kiln::nn::relu, kiln::nn::linear<128, 10>>;
using kiln_cnn = kiln::nn::sequential<kiln::nn::conv2d<3, 64, 3, 1, 1>, kiln::nn::relu, kiln::nn::max_pool2d<2>,
                                      kiln::nn::conv2d<64, 128, 3, 1, 1>, kiln::nn::relu, kiln::nn::max_pool2d<2>,
                                      kiln::nn::flatten<>, kiln::nn::linear<8192, 1024>, kiln::nn::relu,
                                      kiln::nn::linear<1024, 10>>;

template <class Model, class InShape, class Opt, class Options>
struct kiln_case {
    kiln::generator g{7};
    std::unique_ptr<Model> model = std::make_unique<Model>();  // layers draw from kiln's default generator
    kiln::tensor<float, InShape> x = kiln::randn<float, InShape>(g);
    kiln::tensor<int, kiln::shape<batch>> y;
    Opt opt;
    explicit kiln_case(Options o) : opt(*model, o) {
        for (std::size_t i = 0; i < batch; ++i) y[i] = int(g.next_below(10));
    }
    float step() {
        opt.zero_grad();
        auto out = (*model)(x);
        auto l = kiln::loss::cross_entropy(out, y);
        kiln::backward(l);
        opt.step();
        return l.value().item();
    }
};
using kiln_mlp_case = kiln_case<kiln_mlp, kiln::shape<batch, 784>, kiln::optim::sgd<kiln_mlp>, kiln::optim::sgd_options>;
using kiln_cnn_case =
    kiln_case<kiln_cnn, kiln::shape<batch, 3, 32, 32>, kiln::optim::adam<kiln_cnn>, kiln::optim::adam_options>;

template <class Case, class Options>
void bm_kiln(benchmark::State& state, Options o) {
    Case c(o);
    run_steps(state, [&] { return c.step(); });
}

// ------------------------------------------------------------------------------------ libtorch

struct torch_case {
    torch::nn::Sequential model;
    torch::Tensor x, y;
    std::unique_ptr<torch::optim::Optimizer> opt;
    float step() {
        opt->zero_grad();
        auto out = model->forward(x);
        auto l = torch::nn::functional::cross_entropy(out, y);
        l.backward();
        opt->step();
        return l.item<float>();
    }
};

torch_case torch_mlp() {
    torch::manual_seed(7);
    torch_case c;
    c.model = torch::nn::Sequential(torch::nn::Linear(784, 128), torch::nn::ReLU(), torch::nn::Linear(128, 10));
    c.x = torch::randn({long(batch), 784});
    c.y = torch::randint(10, {long(batch)}, torch::kLong);
    c.opt = std::make_unique<torch::optim::SGD>(c.model->parameters(), torch::optim::SGDOptions(0.01));
    return c;
}

torch_case torch_cnn() {
    namespace nn = torch::nn;
    torch::manual_seed(7);
    torch_case c;
    c.model = nn::Sequential(nn::Conv2d(nn::Conv2dOptions(3, 64, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                             nn::Conv2d(nn::Conv2dOptions(64, 128, 3).padding(1)), nn::ReLU(), nn::MaxPool2d(2),
                             nn::Flatten(), nn::Linear(8192, 1024), nn::ReLU(), nn::Linear(1024, 10));
    c.x = torch::randn({long(batch), 3, 32, 32});
    c.y = torch::randint(10, {long(batch)}, torch::kLong);
    c.opt = std::make_unique<torch::optim::Adam>(c.model->parameters(), torch::optim::AdamOptions(1e-3));
    return c;
}

void bm_torch(benchmark::State& state, torch_case (*make)()) {
    torch_case c = make();
    run_steps(state, [&] { return c.step(); });
}

// ------------------------------------------------------------------------------- child phase

/// Console output as usual; the median (or the single run) of each benchmark also goes to fd.
class pipe_reporter : public benchmark::ConsoleReporter {
public:
    explicit pipe_reporter(int fd)
        : ConsoleReporter(isatty(STDOUT_FILENO) ? OO_ColorTabular : OO_Tabular), fd_(fd) {}
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const auto& r : runs) {
            const bool single = r.run_type == Run::RT_Iteration && r.repetitions <= 1;
            if (r.error_occurred || !(single || r.aggregate_name == "median")) continue;
            if (fd_ >= 0) dprintf(fd_, "%s %.17g\n", r.run_name.function_name.c_str(), r.GetAdjustedRealTime());
        }
        ConsoleReporter::ReportRuns(runs);
    }

private:
    int fd_;
};

int run_phase(const std::string& phase, int threads, int fd, int argc, char** argv) {
    const std::string suffix = "/threads:" + std::to_string(threads);
    if (phase == "kiln") {
        if (kiln::exec::default_pool().size() != std::size_t(threads))
            std::fprintf(stderr, "warning: kiln's pool has %zu threads, not %d (set KILN_NUM_THREADS)\n",
                         kiln::exec::default_pool().size(), threads);
        benchmark::RegisterBenchmark(("mlp/kiln" + suffix).c_str(), bm_kiln<kiln_mlp_case, kiln::optim::sgd_options>,
                                     kiln::optim::sgd_options{.lr = 0.01})
            ->Unit(benchmark::kMillisecond)->UseRealTime();
        benchmark::RegisterBenchmark(("cnn/kiln" + suffix).c_str(), bm_kiln<kiln_cnn_case, kiln::optim::adam_options>,
                                     kiln::optim::adam_options{.lr = 1e-3})
            ->Unit(benchmark::kMillisecond)->UseRealTime();
    } else if (phase == "torch") {
        torch::set_num_threads(threads);
        openblas_set_num_threads(threads);
        benchmark::RegisterBenchmark(("mlp/libtorch" + suffix).c_str(), bm_torch, torch_mlp)
            ->Unit(benchmark::kMillisecond)->UseRealTime();
        benchmark::RegisterBenchmark(("cnn/libtorch" + suffix).c_str(), bm_torch, torch_cnn)
            ->Unit(benchmark::kMillisecond)->UseRealTime();
    } else {
        std::fprintf(stderr, "unknown --phase=%s (kiln or torch)\n", phase.c_str());
        return 2;
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
    pipe_reporter rep(fd);
    benchmark::RunSpecifiedBenchmarks(&rep);
    benchmark::Shutdown();
    return 0;
}

// ------------------------------------------------------------------------------------ driver

/// Runs this program as one phase; adds "name median_ms" lines it reports to results.
bool spawn_phase(const char* phase, int threads, bool malloc_keep, const std::vector<std::string>& bench_args,
                 std::map<std::string, double>& results) {
    int p[2];
    if (pipe(p) != 0) return false;
    const std::string n = std::to_string(threads);
    std::vector<std::string> args = {"bench_models", std::string("--phase=") + phase, "--threads=" + n,
                                     "--result-fd=" + std::to_string(p[1])};
    args.insert(args.end(), bench_args.begin(), bench_args.end());
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {  // the parent's environment less what is set below
        const std::string s = *e;
        bool ours = false;
        for (const char* k : {"KILN_NUM_THREADS=", "OMP_NUM_THREADS=", "OPENBLAS_NUM_THREADS=", "OMP_WAIT_POLICY="})
            ours = ours || s.rfind(k, 0) == 0;
        ours = ours || (malloc_keep && s.rfind("GLIBC_TUNABLES=", 0) == 0);
        if (!ours) env.push_back(s);
    }
    for (const char* k : {"KILN_NUM_THREADS=", "OMP_NUM_THREADS=", "OPENBLAS_NUM_THREADS="}) env.push_back(k + n);
    env.push_back("OMP_WAIT_POLICY=passive");
    if (malloc_keep)
        env.push_back("GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4000000000:"
                      "glibc.malloc.top_pad=268435456");
    auto ptrs = [](std::vector<std::string>& v) {
        std::vector<char*> r;
        for (auto& s : v) r.push_back(s.data());
        r.push_back(nullptr);
        return r;
    };
    auto argv = ptrs(args), envp = ptrs(env);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    std::fflush(stdout);
    pid_t pid;
    const int err = posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (err != 0) {
        close(p[0]);
        std::fprintf(stderr, "cannot start /proc/self/exe: %s\n", std::strerror(err));
        return false;
    }
    std::string text;
    char buf[4096];
    for (ssize_t k; (k = read(p[0], buf, sizeof buf)) > 0;) text.append(buf, std::size_t(k));
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    char name[256];
    double ms;
    for (const char* s = text.c_str(); std::sscanf(s, "%255s %lf", name, &ms) == 2;) {
        results[name] = ms;
        s = std::strchr(s, '\n');
        if (!s) break;
        ++s;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int drive(int argc, char** argv, const std::vector<int>& thread_counts, bool malloc_keep) {
    std::vector<std::string> bench_args(argv + 1, argv + argc);
    bool reps = false;
    for (const auto& a : bench_args) reps = reps || a.rfind("--benchmark_repetitions", 0) == 0;
    if (!reps) {
        bench_args.push_back("--benchmark_repetitions=5");
        bench_args.push_back("--benchmark_report_aggregates_only=true");
    }
    std::map<std::string, double> r;
    bool ok = true;
    const double us_before = fault_us();
    for (int t : thread_counts)
        for (const char* phase : {"kiln", "torch"}) ok = spawn_phase(phase, t, malloc_keep, bench_args, r) && ok;

    std::printf("\nOne training step, median wall time (ms); speed-up = libtorch / kiln%s\n",
                malloc_keep ? " (--malloc-keep: glibc malloc keeps freed memory)" : "");
    std::printf("page fault cost: %.2f us per 4 KiB page before the runs, %.2f after\n", us_before, fault_us());
    std::printf("%-6s %7s %10s %12s %9s %7s %5s\n", "model", "threads", "kiln ms", "libtorch ms", "speed-up",
                "target", "met");
    for (const auto& tg : targets)
        for (int t : thread_counts) {
            const std::string s = "/threads:" + std::to_string(t);
            auto k = r.find(std::string(tg.model) + "/kiln" + s), l = r.find(std::string(tg.model) + "/libtorch" + s);
            if (k == r.end() || l == r.end()) continue;
            const double up = l->second / k->second;
            std::printf("%-6s %7d %10.3f %12.3f %8.2fx %6.1fx %5s\n", tg.model, t, k->second, l->second, up,
                        tg.speedup, up >= tg.speedup ? "yes" : "no");
        }
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::string phase;
    std::vector<int> thread_counts = {1, 2};
    int fd = -1;
    bool malloc_keep = false;
    std::vector<char*> rest = {argv[0]};
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a.rfind("--phase=", 0) == 0) {
            phase = a.substr(8);
        } else if (a.rfind("--threads=", 0) == 0) {
            thread_counts.clear();
            for (const char* s = argv[i] + 10;;) {  // --threads=1,2
                char* end;
                const long v = std::strtol(s, &end, 10);
                if (end == s) break;
                thread_counts.push_back(int(v));
                if (*end != ',') break;
                s = end + 1;
            }
        } else if (a == "--malloc-keep") {
            malloc_keep = true;
        } else if (a.rfind("--result-fd=", 0) == 0) {
            fd = std::atoi(argv[i] + 12);
        } else {
            rest.push_back(argv[i]);
        }
    }
    int n = int(rest.size());
    rest.push_back(nullptr);
    if (phase.empty()) return drive(n, rest.data(), thread_counts, malloc_keep);
    if (thread_counts.size() != 1 || thread_counts[0] < 1) {
        std::fprintf(stderr, "--phase needs one --threads=N\n");
        return 2;
    }
    return run_phase(phase, thread_counts[0], fd, n, rest.data());
}
