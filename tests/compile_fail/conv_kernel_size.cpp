// conv2d with a (3, 7) kernel on a 5 x 5 input padded by (1, 0): the kernel is wider than 5.
#include <kiln/kiln.hpp>
#include <kiln/nn/conv.hpp>

int main() {
    using kiln::hw;
#ifdef KILN_CONTROL
    kiln::nn::conv2d<2, 4, hw{3, 7}, 1, hw{1, 1}> conv;
#else
    kiln::nn::conv2d<2, 4, hw{3, 7}, 1, hw{1, 0}> conv;
#endif
    kiln::tensor<float, kiln::shape<1, 2, 5, 5>> x;
    auto y = conv.forward(x, kiln::nn::use_values{});
    return static_cast<int>(y[0]);
}
