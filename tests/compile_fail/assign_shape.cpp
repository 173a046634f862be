// assigning a [3, 2] expression into a [2, 3] tensor.
#include <kiln/ops/primitive/binary.hpp>
#include <kiln/core/tensor.hpp>

int main() {
    kiln::tensor<float, kiln::shape<3, 2>> a;
#ifdef KILN_CONTROL
    kiln::tensor<float, kiln::shape<3, 2>> b = a * 2.0f;
#else
    kiln::tensor<float, kiln::shape<2, 3>> b = a * 2.0f;
#endif
    return static_cast<int>(b[0]);
}
