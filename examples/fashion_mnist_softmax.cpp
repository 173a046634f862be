// A demo that does real work with kiln's foundation alone: softmax regression on
// Fashion-MNIST, gradients written by hand with kiln's fused expressions, transposed-operand
// matmuls and axis reductions. (The chapter examples use autodiff and layers instead.)
//
// usage: fashion_mnist_softmax [data-dir] [epochs]    (data-dir defaults to Debian's copy)
#include "support.hpp"
#include <kiln/data/idx.hpp>
#include <kiln/kiln.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

using namespace kiln;

constexpr std::size_t batch = 100, features = 784, classes = 10;
using batch_x = tensor<float, shape<batch, features>>;

static void load_batch(const data::image_dataset<1, 28, 28>& d, const std::vector<std::size_t>& order, std::size_t first,
                       batch_x& x, tensor<float, shape<batch, classes>>& onehot, std::vector<int>& labels) {
    onehot.fill(0);
    labels.resize(batch);
    for (std::size_t b = 0; b < batch; ++b) {
        const std::size_t i = order[first + b];
        const std::uint8_t* px = d.pixels.data() + i * features;
        for (std::size_t k = 0; k < features; ++k) x(b, k) = px[k] * (1.0f / 255.0f);
        labels[b] = int(d.labels[i]);
        onehot(b, static_cast<std::size_t>(labels[b])) = 1;
    }
}

static int run_main(int argc, char** argv) {
    const std::string dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    const int epochs = argc > 2 ? std::atoi(argv[2]) : 3;
    const auto train = data::load_mnist(dir, "train");
    const auto test = data::load_mnist(dir, "t10k");
    std::printf("Fashion-MNIST: %zu train, %zu test images from %s\n", train.size(), test.size(), dir.c_str());

    generator gen(0);
    tensor<float, shape<features, classes>> w = randn<float, shape<features, classes>>(gen, 0.f, 0.01f);
    tensor<float, shape<classes>> bias;
    batch_x x(uninitialized);
    tensor<float, shape<batch, classes>> onehot;
    std::vector<int> labels;
    const float lr = 0.1f;

    std::vector<std::size_t> order(train.size());
    std::iota(order.begin(), order.end(), 0);
    auto t0 = std::chrono::steady_clock::now();
    for (int epoch = 1; epoch <= epochs; ++epoch) {
        for (std::size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[gen.next_below(std::uint32_t(i + 1))]);
        double loss = 0;
        for (std::size_t first = 0; first + batch <= order.size(); first += batch) {
            load_batch(train, order, first, x, onehot, labels);
            auto logits = eval(matmul(x, w) + bias);
            auto m = max<1, true>(logits);
            tensor<float, shape<batch, classes>> e = exp(logits - m);
            auto z = sum<1, true>(e);
            loss += sum(log(z) + m - sum<1, true>(logits * onehot)).item() / batch;
            // d loss / d logits = (softmax - onehot) / batch
            tensor<float, shape<batch, classes>> g = (e / z - onehot) * (1.0f / batch);
            w = w - lr * matmul(transpose(x), g);
            bias = bias - lr * sum<0>(g);
        }
        std::printf("epoch %d  train loss %.4f\n", epoch, loss / double(order.size() / batch));
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    std::vector<std::size_t> test_order(test.size());
    std::iota(test_order.begin(), test_order.end(), 0);
    std::size_t correct = 0, seen = 0;
    for (std::size_t first = 0; first + batch <= test.size(); first += batch) {
        load_batch(test, test_order, first, x, onehot, labels);
        auto pred = argmax<1>(matmul(x, w) + bias);
        for (std::size_t b = 0; b < batch; ++b) correct += pred[b] == labels[b];
        seen += batch;
    }
    const double acc = double(correct) / double(seen);
    std::printf("test accuracy %.4f on %zu images (training took %.2f s)\n", acc, seen, secs);
    if (acc < 0.80) {
        std::printf("FAILED: expected test accuracy >= 0.80\n");
        return 1;
    }
    return 0;
}

int main(int argc, char** argv) { return kiln_examples::guarded(argc, argv, run_main); }
