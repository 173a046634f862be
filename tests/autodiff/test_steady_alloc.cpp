// Steady-state training steps allocate nothing: after a warm-up, a step of a CNN (tensors far
// above the 4 KiB inline size), of a user module with named intermediates and a layer norm, and
// of a transformer encoder layer with dropout, each with Adam, calls operator new zero times.
// Node bodies come from the graph arena's reused chunks, large values from the block cache
// (core/storage.hpp), GEMM scratch grows once per thread. Its own binary: it replaces operator new.
#include <kiln/kiln.hpp>
#include <kiln/loss/loss.hpp>
#include <kiln/nn/activation.hpp>
#include <kiln/nn/attention.hpp>
#include <kiln/nn/conv.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/nn/norm.hpp>
#include <kiln/nn/sequential.hpp>
#include <kiln/optim/optim.hpp>
#include <gtest/gtest.h>

#include "../alloc_counter.hpp"

using namespace kiln;

namespace {

/// Heap calls per step once warm (steps 0 and 1 size every cache).
template <class Step>
int allocations_per_step(Step&& step) {
    for (int i = 0; i < 2; ++i) step();
    const int before = g_allocations;
    for (int i = 0; i < 5; ++i) step();
    return g_allocations - before;
}

struct mlp_block : nn::module<mlp_block> {
    nn::linear<64, 128> fc1;
    nn::layer_norm<128> norm;
    nn::linear<128, 10> fc2;
    auto forward(const auto& x) const {
        auto h = relu(norm(fc1(x)));
        auto r = h + h * 0.5f;  // a residual-like reuse of h
        return fc2(r);
    }
    KILN_MODULE(fc1, norm, fc2)
};

}  // namespace

TEST(SteadyState, CnnStepAllocatesNothing) {
    using cnn = nn::sequential<nn::conv2d<1, 8, 3, 1, 1>, nn::relu, nn::max_pool2d<2>, nn::flatten<>,
                               nn::linear<512, 10>>;
    cnn model;
    optim::adam<cnn> opt(model, {.lr = 1e-3});
    generator g(1);
    const auto x = randn<float, shape<16, 1, 16, 16>>(g);
    tensor<int, shape<16>> y;
    for (std::size_t i = 0; i < 16; ++i) y[i] = int(i % 10);
    float last = 0;
    const int n = allocations_per_step([&] {
        opt.zero_grad();
        auto l = loss::cross_entropy(model(x), y);
        backward(l);
        opt.step();
        last = l.value().item();
    });
    EXPECT_EQ(n, 0);
    EXPECT_TRUE(last == last);
}

TEST(SteadyState, UserModuleStepAllocatesNothing) {
    mlp_block model;
    optim::adam<mlp_block> opt(model, {.lr = 1e-3});
    generator g(2);
    const auto x = randn<float, shape<32, 64>>(g);
    tensor<int, shape<32>> y;
    for (std::size_t i = 0; i < 32; ++i) y[i] = int(i % 10);
    const int n = allocations_per_step([&] {
        opt.zero_grad();
        auto out = model(x);
        auto l = loss::cross_entropy(out, y);
        backward(l);
        opt.step();
    });
    EXPECT_EQ(n, 0);
}

TEST(SteadyState, TransformerLayerStepAllocatesNothing) {
    nn::transformer_encoder_layer<32, 4, 64> layer;
    optim::adam<decltype(layer)> opt(layer, {.lr = 1e-3});
    generator g(3);
    const auto x = randn<float, shape<8, 16, 32>>(g);
    const auto t = randn<float, shape<8, 16, 32>>(g);
    const int n = allocations_per_step([&] {
        opt.zero_grad();
        auto l = loss::mse(layer(x), t);
        backward(l);
        opt.step();
    });
    EXPECT_EQ(n, 0);
}
