// matmul of [2, 3] by [4, 5]: inner extents 3 and 4 differ.
#include <kiln/ops/primitive/matmul.hpp>

int main() {
    kiln::tensor<float, kiln::shape<2, 3>> a;
#ifdef KILN_CONTROL
    kiln::tensor<float, kiln::shape<3, 5>> b;
#else
    kiln::tensor<float, kiln::shape<4, 5>> b;
#endif
    auto c = kiln::matmul(a, b);
    return static_cast<int>(c[0]);
}
