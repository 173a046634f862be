// [2, 3] + [2, 4]: axis 1 has extents 3 and 4, neither 1.
#include <kiln/ops/primitive/binary.hpp>
#include <kiln/core/tensor.hpp>

int main() {
    kiln::tensor<float, kiln::shape<2, 3>> a;
#ifdef KILN_CONTROL
    kiln::tensor<float, kiln::shape<2, 1>> b;
#else
    kiln::tensor<float, kiln::shape<2, 4>> b;
#endif
    auto c = kiln::eval(a + b);
    return static_cast<int>(c[0]);
}
