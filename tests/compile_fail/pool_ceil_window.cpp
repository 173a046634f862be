// max_pool2d with a 4 x 4 window on a 3 x 3 input padded by 0 (ceil_mode does not change that).
#include <kiln/kiln.hpp>
#include <kiln/nn/conv.hpp>

int main() {
#ifdef KILN_CONTROL
    kiln::tensor<float, kiln::shape<1, 1, 4, 4>> x;
#else
    kiln::tensor<float, kiln::shape<1, 1, 3, 3>> x;
#endif
    auto y = kiln::nn::max_pool2d<4, 2, 0, kiln::nn::ceil_mode>{}.forward(x);
    return static_cast<int>(y[0]);
}
