// The embedded profile: built with -fno-exceptions -fno-rtti. Inference of a small MLP with
// inline-storage tensors allocates nothing; its training steps run in a graph buffer whose size
// is a compile-time constant and allocate nothing either; runtime errors reach the user's handler.
#include <kiln/core/creation.hpp>
#include <kiln/core/random.hpp>
#include <kiln/ops/primitive/binary.hpp>
#include <kiln/ops/primitive/matmul.hpp>
#include <kiln/ops/primitive/reduce.hpp>
#include <kiln/ops/primitive/unary.hpp>
#include <kiln/nn/activation.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/nn/sequential.hpp>
#include <kiln/loss/loss.hpp>

#include <csetjmp>
#include <cstdio>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>

#include "../alloc_counter.hpp"

static int failures = 0;
#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            std::printf("FAILED %s:%d: %s\n", __FILE__, __LINE__, #c);        \
            ++failures;                                                       \
        }                                                                     \
    } while (0)

using namespace kiln;

struct tiny_mlp {
    tensor<float, shape<8, 16>> w1;
    tensor<float, shape<16>> b1;
    tensor<float, shape<16, 4>> w2;
    tensor<float, shape<4>> b2;
    auto forward(const tensor<float, shape<2, 8>>& x) const {
        tensor<float, shape<2, 16>> h = relu(matmul(x, w1) + b1);
        return argmax<1>(matmul(h, w2) + b2);
    }
};

static std::jmp_buf g_jump;
static char g_message[256];

int main() {
    generator g(1);
    tiny_mlp m{rand<float, shape<8, 16>>(g), rand<float, shape<16>>(g), randn<float, shape<16, 4>>(g),
               zeros<float, shape<4>>()};
    tensor<float, shape<2, 8>> x = rand<float, shape<2, 8>>(g);
    (void)m.forward(x);  // warm-up: the thread's GEMM packing scratch grows once
    const int before = g_allocations;
    auto y = m.forward(x);
    auto y2 = m.forward(x * 2.f);
    CHECK(g_allocations == before);
    CHECK(y[0] >= 0 && y[0] < 4 && y2[1] >= 0 && y2[1] < 4);

    // A model type from nn/: predict() is plain tensors, inline storage, no allocation.
    // The first GEMM grows the thread's packing scratch once (aligned operator new, which this
    // test now counts too); every later call reuses it.
    nn::sequential<nn::linear<8, 16>, nn::relu, nn::linear<16, 4>> model;
    (void)model.predict(x);
    const int before_model = g_allocations;
    auto logits = model.predict(x);
    auto cls = argmax<1>(logits);
    CHECK(g_allocations == before_model);
    CHECK(cls[0] >= 0 && cls[0] < 4);

    // Arena storage: large tensors from one caller buffer, still no heap.
    alignas(64) static std::byte buffer[1 << 16];
    arena ar(buffer, sizeof buffer);
    {
        tensor<float, shape<64, 64>> warm = full<float, shape<64, 64>>(1.f);
        (void)matmul(warm, warm);  // the scratch for this size, once
    }
    const int before_arena = g_allocations;
    {
        arena_scope scope(ar);
        tensor<float, shape<64, 64>, cpu, arena_storage> a = full<float, shape<64, 64>, cpu, arena_storage>(1.f);
        auto b = matmul(a, a);
        CHECK(b[0] == 64.f);
        CHECK(g_allocations == before_arena);
    }

    // Training in a buffer the application gives: its size is known at compile time, and the
    // steps allocate nothing (the graph's nodes live in the buffer, small values inline).
    using net_t = nn::sequential<nn::linear<8, 16>, nn::relu, nn::linear<16, 4>>;
    using loss_t = decltype(loss::cross_entropy(std::declval<node<float, shape<2, 4>>>(), tensor<int, shape<2>>{}));
    constexpr std::size_t step_bytes = net_t::graph_bytes<shape<2, 8>>() + graph_bytes_v<loss_t>;
    static_assert(step_bytes > 0 && step_bytes < (1 << 16), "a training step of the tiny MLP fits 64 KiB");
    alignas(64) static std::byte graph_buffer[step_bytes];
    net_t net;
    const tensor<int, shape<2>> labels{1, 3};
    float first_loss = 0, last_loss = 0;
    int step_allocations = 0;
    {
        graph_buffer_scope graph_scope(graph_buffer, sizeof graph_buffer);
        for (int step = 0; step < 30; ++step) {
            const int before_step = g_allocations;
            auto out = net(x);
            auto l = loss::cross_entropy(out, labels);
            nn::zero_grad(net);
            backward(l);
            nn::visit_parameters(net, [](const std::string&, auto& p) { p.value() = p.value() - 0.1f * p.grad(); });
            (step == 0 ? first_loss : last_loss) = l.value().item();
            if (step > 0) step_allocations += g_allocations - before_step;  // the first builds the names' strings
        }
    }
    std::printf("training step in a %zu-byte graph buffer: loss %.4f -> %.4f, %d allocations in 29 steps\n", step_bytes,
                first_loss, last_loss, step_allocations);
    CHECK(last_loss < first_loss * 0.5f);

    // Errors go to the handler; it must not return, so it jumps back here.
    set_error_handler([](const char* msg) {
        std::strncpy(g_message, msg, sizeof g_message - 1);
        std::longjmp(g_jump, 1);
    });
    if (setjmp(g_jump) == 0) {
        tensor<float, shape<3>> t;
        t.at(3) = 1;
        CHECK(false);
    }
    CHECK(std::strcmp(g_message, "[tensor] index 3 out of range for axis 0 of extent 3") == 0);
    // A graph buffer too small for the step: the message names the bytes.
    if (setjmp(g_jump) == 0) {
        graph_buffer_scope graph_scope(graph_buffer, 256);
        auto out = net(x);
        CHECK(false);
    }
    CHECK(std::strstr(g_message, "[autodiff] the graph buffer of 256 bytes is too small") != nullptr);

    std::printf("embedded: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
