// Compile-time probe: a full MLP training step (784-256-128-10, batch 128): forward,
// cross-entropy by hand, backward, SGD update. Timed by bench/compile/measure.sh.
#include <kiln/autodiff/ops.hpp>
#include <kiln/kiln.hpp>

#include <cstdio>

using namespace kiln;

template <std::size_t In, std::size_t Out>
struct dense {
    param<float, shape<In, Out>> w;
    param<float, shape<Out>> b;
    explicit dense(generator& g) : w(randn<float, shape<In, Out>>(g, 0.f, 0.05f)) {}
};

int main() {
    generator g(2);
    dense<784, 256> l1(g);
    dense<256, 128> l2(g);
    dense<128, 10> l3(g);
    auto x = rand<float, shape<128, 784>>(g);
    auto onehot = zeros<float, shape<128, 10>>();
    for (std::size_t i = 0; i < 128; ++i) onehot(i, i % 10) = 1;
    for (int step = 0; step < 3; ++step) {
        auto h1 = relu(matmul(x, l1.w) + l1.b);
        auto h2 = relu(matmul(h1, l2.w) + l2.b);
        auto z = matmul(h2, l3.w) + l3.b;
        auto m = max<1, true>(detach(z));
        auto loss = mean(log(sum<1, true>(exp(z - m))) + m - sum<1, true>(z * onehot));
        backward(loss);
        std::printf("step %d loss %.4f\n", step, double(loss.value().item()));
        l1.w.value() = l1.w.value() - 0.1f * l1.w.grad();
        l1.b.value() = l1.b.value() - 0.1f * l1.b.grad();
        l2.w.value() = l2.w.value() - 0.1f * l2.w.grad();
        l2.b.value() = l2.b.value() - 0.1f * l2.b.grad();
        l3.w.value() = l3.w.value() - 0.1f * l3.w.grad();
        l3.b.value() = l3.b.value() - 0.1f * l3.b.grad();
        l1.w.zero_grad(); l1.b.zero_grad(); l2.w.zero_grad(); l2.b.zero_grad(); l3.w.zero_grad(); l3.b.zero_grad();
    }
    return 0;
}
