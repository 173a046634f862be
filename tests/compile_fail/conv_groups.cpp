// conv2d with 6 input channels in 4 groups: 6 is not a multiple of 4.
#include <kiln/kiln.hpp>
#include <kiln/nn/conv.hpp>

int main() {
#ifdef KILN_CONTROL
    kiln::nn::conv2d<6, 4, 3, 1, 1, 1, kiln::nn::groups<2>> conv;
#else
    kiln::nn::conv2d<6, 4, 3, 1, 1, 1, kiln::nn::groups<4>> conv;
#endif
    kiln::tensor<float, kiln::shape<1, 6, 5, 5>> x;
    auto y = conv.forward(x, kiln::nn::use_values{});
    return static_cast<int>(y[0]);
}
