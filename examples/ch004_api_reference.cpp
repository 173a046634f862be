// Seed chapter 004, "API reference", in kiln: tensor creation and ops, then autograd.
// (Modules, optimizers, losses, save/load and device choice join as those parts land.)
#include <kiln/autodiff/ops.hpp>
#include <kiln/kiln.hpp>

#include <iostream>

using namespace kiln;

int main() {
    // 1. Tensors: creation, addition, matmul with a transpose.
    generator gen(0);
    auto a = rand<float, shape<2, 3>>(gen);  // mlx.rand(2, 3)
    auto b = zeros<float, shape<3, 3>>();    // mlx.zeros(3, 3)
    auto c = ones<float, shape<2, 3>>();     // mlx.ones(2, 3)
    tensor<float, shape<2, 3>> sum_ab = a + c;
    auto product = matmul(a, transpose(c));  // [2, 3] x [3, 2] -> [2, 2]
    std::cout << "a =\n" << a << "\na + ones =\n" << sum_ab << "\na @ ones^T =\n" << product << '\n';
    std::cout << "zeros(3, 3) sums to " << sum(b).item() << '\n';
    // Shapes are types: matmul(a, b.T) with b [3, 3] works, matmul(a, a) does not compile:
    //   error: static assertion failed: [matmul] lhs columns must equal rhs rows
    //          [with ... L = shape<2, 3>; R = shape<2, 3>; K1 = 3; K2 = 2]

    // 2. Autograd: y = sum(x^2 + 3x), dy/dx = 2x + 3.
    var<float, shape<2>> x{2.0f, 3.0f};  // requires_grad
    auto y = sum(x * x + 3 * x);
    backward(y);
    std::cout << "y = " << y.value().item() << ", x.grad = " << x.grad() << '\n';  // [7, 9]
    return x.grad()[0] == 7 && x.grad()[1] == 9 ? 0 : 1;
}
