// Compile-time probe: one expression of 50 elementwise ops over params (forward + backward).
// Timed by bench/compile/measure.sh; docs/benchmarks.md records the seconds.
#include <kiln/autodiff/ops.hpp>
#include <kiln/kiln.hpp>

#include <cstdio>

using namespace kiln;

int main() {
    generator g(1);
    param<float, shape<64, 32>> x(uniform<float, shape<64, 32>>(g, -1.f, 1.f));
    param<float, shape<64, 32>> y(uniform<float, shape<64, 32>>(g, -1.f, 1.f));
    param<float, shape<32>> b(uniform<float, shape<32>>(g, -1.f, 1.f));
    auto e = sum(((abs(((((relu(((((sigmoid(((((tanh(((((exp(((((abs(((((relu(((((sigmoid(((((tanh(((((exp(((x * y) + 0.5f)) - b) / 2.0f) * y) + 0.5f)) - b) / 2.0f) * y) + 0.5f)) - b) / 2.0f) * y) + 0.5f)) - b) / 2.0f) * y) + 0.5f)) - b) / 2.0f) * y) + 0.5f)) - b) / 2.0f) * y) + 0.5f)) - b) / 2.0f) * y) + 0.5f)) - b) / 2.0f) * y) + 0.5f)) - b) / 2.0f) * y) + 0.5f)) - b) / 2.0f));
    backward(e);
    std::printf("value %g, grad %g %g %g\n", double(e.value().item()), double(x.grad()[0]), double(y.grad()[0]),
                double(b.grad()[0]));
    return 0;
}
