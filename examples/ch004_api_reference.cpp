// Seed chapter 004, "API reference", in kiln: tensors, autograd, modules, optimizers, losses,
// train/eval loops, save/load, and hardware acceleration by choosing the device type.
//
// usage: ch004_api_reference [cpu|vulkan]
#include "support.hpp"
#include <kiln/io/safetensors.hpp>
#include <kiln/kiln.hpp>
#include <kiln/loss/loss.hpp>
#include <kiln/nn/activation.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/nn/sequential.hpp>
#include <kiln/optim/optim.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

using namespace kiln;

// 3. Modules: SimpleMLP(128 -> 64 -> 10) for any device D, written as the seed writes it.
template <class D>
struct simple_mlp : nn::module<simple_mlp<D>> {
    nn::linear<128, 64, D> fc1;
    nn::linear<64, 10, D> fc2;
    auto forward(const auto& x) const {
        auto h = fc1(x);
        h = relu(h);
        return fc2(h);
    }
    KILN_MODULE(fc1, fc2)  // parameters, with PyTorch's names: fc1.weight, fc1.bias, ...
};

template <class D>
int train_on() {
    std::cout << "\n== training on " << D::name << " ==\n";
    manual_seed(0);
    simple_mlp<D> model;
    generator gen(1);
    auto input = rand<float, shape<32, 128>, D>(gen);  // 32 samples of 128 features
    tensor<int, shape<32>> labels;
    for (std::size_t i = 0; i < 32; ++i) labels[i] = int(i % 10);
    auto target = randn<float, shape<32, 10>, D>(gen);

    // 4. Optimizers: SGD, then Adam. 5. Losses: MSE, cross-entropy. 6. Training loop.
    optim::sgd sgd(model, {.lr = 0.01});
    for (int epoch = 0; epoch < 3; ++epoch) {
        auto output = model(input);
        auto loss = loss::mse(output, target);
        sgd.zero_grad();
        backward(loss);
        sgd.step();
        std::cout << "sgd epoch " << epoch << " mse " << loss.value().item() << '\n';
    }
    optim::adam adam(model, {.lr = 1e-3});
    float first = 0, last = 0;
    for (int epoch = 0; epoch < 50; ++epoch) {
        auto output = model(input);
        auto loss = loss::cross_entropy(output, labels);
        adam.zero_grad();
        backward(loss);
        adam.step();
        (epoch == 0 ? first : last) = loss.value().item();
    }
    std::cout << "adam cross-entropy " << first << " -> " << last << '\n';
    // Evaluation loop: plain tensors out, no gradient kept.
    auto pred = argmax<1>(model.predict(input));
    std::size_t correct = 0;
    auto host_pred = to<cpu>(pred);
    for (std::size_t i = 0; i < 32; ++i) correct += host_pred[i] == labels[i];
    std::cout << "train accuracy " << double(correct) / 32 << '\n';

    // Save and load (safetensors, PyTorch's names: fc1.weight, fc1.bias, ...).
    const auto path = (std::filesystem::temp_directory_path() / "kiln_ch004.safetensors").string();
    io::save(path, model);
    simple_mlp<D> restored;
    io::load(path, restored);
    std::filesystem::remove(path);
    const float diff = sum(abs(restored.fc2.weight.value() - model.fc2.weight.value())).item();
    std::cout << "saved and loaded: max difference " << diff << '\n';
    return last < first && diff == 0 ? 0 : 1;
}

static int run_main(int argc, char** argv) {
    // 1. Tensors: creation, addition, matmul with a transpose.
    generator gen(0);
    auto a = rand<float, shape<2, 3>>(gen);  // mlx.rand(2, 3)
    auto b = zeros<float, shape<3, 3>>();    // mlx.zeros(3, 3)
    auto c = ones<float, shape<2, 3>>();     // mlx.ones(2, 3)
    tensor<float, shape<2, 3>> sum_ac = a + c;
    auto product = matmul(a, transpose(b));  // [2, 3] x [3, 3]^T -> [2, 3]
    std::cout << "a =\n" << a << "\na + ones =\n" << sum_ac << "\na @ zeros^T =\n" << product << '\n';
    // Shapes are types: matmul(a, a) does not compile:
    //   error: static assertion failed: [matmul] lhs columns must equal rhs rows
    //          [with ... L = shape<2, 3>; R = shape<2, 3>; K1 = 3; K2 = 2]

    // 2. Autograd: y = sum(x^2 + 3x), dy/dx = 2x + 3.
    var<float, shape<2>> x{2.0f, 3.0f};  // requires_grad
    auto y = sum(x * x + 3 * x);
    backward(y);
    std::cout << "y = " << y.value().item() << ", x.grad = " << x.grad() << '\n';  // [7, 9]
    if (!(x.grad()[0] == 7 && x.grad()[1] == 9)) return 1;

    // 7. Hardware acceleration: the same model type on another device.
    const bool want_vulkan = argc > 1 && std::strcmp(argv[1], "vulkan") == 0;
    int rc = train_on<cpu>();
#if KILN_EXAMPLES_VULKAN
    if (want_vulkan || (argc == 1 && vk::context::available())) rc |= train_on<vulkan>();
#else
    if (want_vulkan) {
        std::printf("this build has no Vulkan device (configured with -DKILN_VULKAN=OFF)\n");
        return 1;
    }
#endif
    return rc;
}

int main(int argc, char** argv) { return kiln_examples::guarded(argc, argv, run_main); }
