// One training step of bench/models.cpp's models on the Vulkan device, timed from the host
// (the step is recorded, submitted and finished: the loss is read back, as a training loop
// that logs it does). Standalone (no libbenchmark), so the binary can be carried to a GPU
// machine like bench/gemm_vulkan's (bench/gemm_vulkan_h100.md says how); models_torch_cuda.py
// times the same steps with PyTorch on CUDA for the comparison.
//
//   models_vulkan [--steps=N]     prints "<model> <median ms> <min ms> <final loss>"
#include <kiln/loss/loss.hpp>
#include <kiln/nn/activation.hpp>
#include <kiln/nn/conv.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/nn/sequential.hpp>
#include <kiln/optim/optim.hpp>
#include <kiln/vulkan.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace {

constexpr std::size_t batch = 64;
using D = kiln::vulkan;
using mlp = kiln::nn::sequential<kiln::nn::linear<784, 128, D>, kiln::nn::relu, kiln::nn::linear<128, 10, D>>;
using cnn = kiln::nn::sequential<kiln::nn::conv2d<3, 64, 3, 1, 1, 1, D>, kiln::nn::relu, kiln::nn::max_pool2d<2>,
                                 kiln::nn::conv2d<64, 128, 3, 1, 1, 1, D>, kiln::nn::relu, kiln::nn::max_pool2d<2>,
                                 kiln::nn::flatten<>, kiln::nn::linear<8192, 1024, D>, kiln::nn::relu,
                                 kiln::nn::linear<1024, 10, D>>;

template <class Model, class InShape, class Opt, class Options>
void run(const char* name, Options o, int steps) {
    kiln::generator g{7};
    auto model = std::make_unique<Model>();
    const auto x = kiln::to<D>(kiln::randn<float, InShape>(g));
    kiln::tensor<int, kiln::shape<batch>> y;
    for (std::size_t i = 0; i < batch; ++i) y[i] = int(g.next_below(10));
    Opt opt(*model, o);
    auto step = [&] {
        opt.zero_grad();
        auto out = (*model)(x);
        auto l = kiln::loss::cross_entropy(out, y);
        kiln::backward(l);
        opt.step();
        return l.value().item();
    };
    for (int i = 0; i < 5; ++i) step();  // pipelines, memory blocks
    auto& ctx = kiln::vk::context::instance();
    const std::size_t d0 = ctx.dispatch_count(), s0 = ctx.submit_count(), r0 = ctx.memory_reserved();
    step();
    const std::size_t dispatches = ctx.dispatch_count() - d0, submits = ctx.submit_count() - s0;
    const bool grew = ctx.memory_reserved() != r0;
    std::vector<double> ms;
    float loss = 0;
    for (int i = 0; i < steps; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        loss = step();
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%-4s %9.3f %9.3f %9.4f   %zu dispatches, %zu submits a step; device memory %s\n", name, ms[ms.size() / 2],
                ms.front(), double(loss), dispatches, submits, grew ? "grew during a step" : "steady");
}

}  // namespace

int main(int argc, char** argv) {
    int steps = 30;
    for (int i = 1; i < argc; ++i)
        if (std::strncmp(argv[i], "--steps=", 8) == 0) steps = std::max(1, std::atoi(argv[i] + 8));
    std::printf("kiln Vulkan training steps on %s, batch %zu (ms: median, min of %d; final loss)\n",
                kiln::vk::context::instance().device_name(), batch, steps);
    run<mlp, kiln::shape<batch, 784>, kiln::optim::sgd<mlp>>("mlp", kiln::optim::sgd_options{.lr = 0.01}, steps);
    run<cnn, kiln::shape<batch, 3, 32, 32>, kiln::optim::adam<cnn>>("cnn", kiln::optim::adam_options{.lr = 1e-3}, steps);
    kiln::vk::context::reset();  // before the driver's exit handlers (bench/gemm_vulkan_h100.md)
    return 0;
}
