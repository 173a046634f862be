// reshape of 6 elements into a shape of 8.
#include <kiln/ops/primitive/movement.hpp>

int main() {
    kiln::tensor<float, kiln::shape<2, 3>> a;
#ifdef KILN_CONTROL
    auto b = kiln::reshape<3, 2>(a);
#else
    auto b = kiln::reshape<2, 4>(a);
#endif
    return static_cast<int>(b[0]);
}
