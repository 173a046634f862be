// Autodiff overhead: forward + backward of a 784-256-128-10 MLP (batch 128, cross-entropy)
// through kiln's graph (nn::sequential + loss::cross_entropy + backward) against the same math
// written by hand with kiln's kernels, in the same run. Reports graph / hand-written.
#include <benchmark/benchmark.h>

#include <kiln/kiln.hpp>
#include <kiln/loss/loss.hpp>
#include <kiln/nn/activation.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/nn/sequential.hpp>

using namespace kiln;

namespace {
constexpr std::size_t B = 128;
using mlp = nn::sequential<nn::linear<784, 256>, nn::relu, nn::linear<256, 128>, nn::relu, nn::linear<128, 10>>;

struct fixture {
    mlp model;
    tensor<float, shape<B, 784>> x;
    tensor<int, shape<B>> y;
    tensor<float, shape<B, 10>> onehot;
    fixture() {
        generator g(5);
        x = rand<float, shape<B, 784>>(g);
        for (std::size_t i = 0; i < B; ++i) {
            y[i] = int(g.next_below(10));
            onehot(i, std::size_t(y[i])) = 1;
        }
    }
};
fixture& data() {
    static fixture f;
    return f;
}

void graph(benchmark::State& state) {
    auto& f = data();
    for (auto _ : state) {
        auto out = f.model(f.x);
        auto l = loss::cross_entropy(out, f.y);
        nn::zero_grad(f.model);
        backward(l);
        benchmark::DoNotOptimize(f.model.head.weight.grad().data());
    }
}

void hand_written(benchmark::State& state) {
    auto& f = data();
    auto& l1 = f.model.head;
    auto& l2 = f.model.tail.tail.head;
    auto& l3 = f.model.tail.tail.tail.tail.head;
    for (auto _ : state) {
        // forward
        tensor<float, shape<B, 256>> z1 = matmul(f.x, transpose(l1.weight.value())) + l1.bias.value();
        tensor<float, shape<B, 256>> h1 = relu(z1);
        tensor<float, shape<B, 128>> z2 = matmul(h1, transpose(l2.weight.value())) + l2.bias.value();
        tensor<float, shape<B, 128>> h2 = relu(z2);
        tensor<float, shape<B, 10>> z3 = matmul(h2, transpose(l3.weight.value())) + l3.bias.value();
        auto m = max<1, true>(z3);
        tensor<float, shape<B, 10>> e = exp(z3 - m);
        auto s = sum<1, true>(e);
        benchmark::DoNotOptimize(sum(log(s) + m - sum<1, true>(z3 * f.onehot)).item());
        // backward
        tensor<float, shape<B, 10>> g3 = (e / s - f.onehot) * (1.0f / B);
        l3.weight.grad() = matmul(transpose(g3), h2);
        l3.bias.grad() = sum<0>(g3);
        tensor<float, shape<B, 128>> g2 = where(z2 > 0.f, matmul(g3, l3.weight.value()), 0.f);
        l2.weight.grad() = matmul(transpose(g2), h1);
        l2.bias.grad() = sum<0>(g2);
        tensor<float, shape<B, 256>> g1 = where(z1 > 0.f, matmul(g2, l2.weight.value()), 0.f);
        l1.weight.grad() = matmul(transpose(g1), f.x);
        l1.bias.grad() = sum<0>(g1);
        benchmark::DoNotOptimize(l1.weight.grad().data());
    }
}
}  // namespace

BENCHMARK(hand_written)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(graph)->Unit(benchmark::kMillisecond)->MinTime(1.0);

BENCHMARK_MAIN();
