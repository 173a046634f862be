#include <kiln/kiln.hpp>

#include <cstdio>

int main() {
    kiln::tensor<float, kiln::shape<2, 2>> a{{1, 2}, {3, 4}};
    auto c = kiln::matmul(a, kiln::transpose(a));  // [[5, 11], [11, 25]]
    float s = kiln::sum(c + 1.0f).item();
    std::printf("sum %g\n", s);
    return s == 56.0f ? 0 : 1;
}
