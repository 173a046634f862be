// The embedded profile: built with -fno-exceptions -fno-rtti. Inference of a small MLP with
// inline-storage tensors allocates nothing, and runtime errors reach the user's handler.
#include <kiln/core/creation.hpp>
#include <kiln/core/random.hpp>
#include <kiln/ops/primitive/binary.hpp>
#include <kiln/ops/primitive/matmul.hpp>
#include <kiln/ops/primitive/reduce.hpp>
#include <kiln/ops/primitive/unary.hpp>
#include <kiln/nn/activation.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/nn/sequential.hpp>

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

static int g_allocations = 0;
void* operator new(std::size_t n) {
    ++g_allocations;
    if (void* p = std::malloc(n ? n : 1)) return p;
    std::abort();
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    ++g_allocations;
    return std::aligned_alloc(static_cast<std::size_t>(a), (n + static_cast<std::size_t>(a) - 1) / static_cast<std::size_t>(a) * static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }

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
    const int before = g_allocations;
    auto y = m.forward(x);
    auto y2 = m.forward(x * 2.f);
    CHECK(g_allocations == before);
    CHECK(y[0] >= 0 && y[0] < 4 && y2[1] >= 0 && y2[1] < 4);

    // A model type from nn/: predict() is plain tensors, inline storage, no allocation.
    nn::sequential<nn::linear<8, 16>, nn::relu, nn::linear<16, 4>> model;
    const int before_model = g_allocations;
    auto logits = model.predict(x);
    auto cls = argmax<1>(logits);
    CHECK(g_allocations == before_model);
    CHECK(cls[0] >= 0 && cls[0] < 4);

    // Arena storage: large tensors from one caller buffer, still no heap.
    alignas(64) static std::byte buffer[1 << 16];
    arena ar(buffer, sizeof buffer);
    {
        arena_scope scope(ar);
        tensor<float, shape<64, 64>, cpu, arena_storage> a = full<float, shape<64, 64>, cpu, arena_storage>(1.f);
        auto b = matmul(a, a);
        CHECK(b[0] == 64.f);
        CHECK(g_allocations == before);
    }

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

    std::printf("embedded: %s (%d allocations during inference)\n", failures ? "FAILED" : "ok", g_allocations - before);
    return failures ? 1 : 0;
}
