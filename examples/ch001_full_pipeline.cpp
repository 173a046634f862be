// Seed chapter 001, "the full pipeline", in kiln, on Fashion-MNIST (Debian's
// dataset-fashion-mnist; the seed's CIFAR-10 is not packaged): a data pipeline with training
// augmentation (RandomResizedCrop-style crop, RandomHorizontalFlip, ToTensor, Normalize) and
// test data that gets only ToTensor + Normalize; a plain CNN trained with Adam; a test loop in
// which every test image counts once; saving the trained model and loading it back; and an
// export (safetensors with PyTorch's names) that the equivalent torch.nn.Sequential loads.
//
// The same program trains on the GPU when the device is vulkan: the model type is the only
// thing that changes (nn layers take the device as a template parameter).
//
// usage: ch001_full_pipeline [data-dir] [epochs] [export.safetensors | -] [cpu | vulkan]
#include "support.hpp"
#include <kiln/data/idx.hpp>
#include <kiln/data/loader.hpp>
#include <kiln/data/transforms.hpp>
#include <kiln/io/safetensors.hpp>
#include <kiln/kiln.hpp>
#include <kiln/loss/loss.hpp>
#include <kiln/nn/activation.hpp>
#include <kiln/nn/conv.hpp>
#include <kiln/nn/dropout.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/nn/sequential.hpp>
#include <kiln/optim/optim.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

using namespace kiln;

constexpr std::size_t B = 64, H = 28, W = 28, pixels = H * W;
// torch: Conv2d(1,32,3,p=1) ReLU MaxPool2d(2) Conv2d(32,64,3,p=1) ReLU MaxPool2d(2) Flatten
//        Linear(3136,128) ReLU Dropout(0.25) Linear(128,10)
template <class D>
using cnn = nn::sequential<nn::conv2d<1, 32, 3, 1, 1, 1, D>, nn::relu, nn::max_pool2d<2>, nn::conv2d<32, 64, 3, 1, 1, 1, D>,
                           nn::relu, nn::max_pool2d<2>, nn::flatten<>, nn::linear<64 * 7 * 7, 128, D>, nn::relu,
                           nn::dropout, nn::linear<128, 10, D>>;

constexpr float pixel_mean = 0.2860f, pixel_std = 0.3530f;  // Fashion-MNIST training set statistics


/// ToTensor + (training only: augmentation) + Normalize, into an [B, 1, 28, 28] batch.
static void prepare(const tensor<float, shape<B, pixels>>& raw, std::size_t valid, bool train, generator& g,
                    tensor<float, shape<B, 1, H, W>>& x) {
    for (std::size_t n = 0; n < B; ++n) {
        float* img = x.data() + n * pixels;
        for (std::size_t i = 0; i < pixels; ++i) img[i] = raw(n, i) * (1.0f / 255.0f);  // ToTensor
        if (train && n < valid) {
            data::random_resized_crop(img, 1, H, W, g, 0.8f, 1.0f);
            data::random_horizontal_flip(img, 1, H, W, g);
        }
        data::normalize(img, 1, pixels, &pixel_mean, &pixel_std);
    }
}

template <class Model, class D = typename Model::device_type>
static double test_accuracy(const Model& model, const data::table& test, generator& g) {
    data::loader<B, pixels> batches(test);
    tensor<float, shape<B, 1, H, W>> x;
    std::size_t correct = 0;
    for (const auto& b : batches) {
        prepare(b.x, b.valid, false, g, x);
        auto pred = to<cpu>(argmax<1>(model.predict(to<D>(x))));
        for (std::size_t i = 0; i < b.valid; ++i) correct += pred[i] == b.y[i];
    }
    return double(correct) / double(test.rows());
}

template <class D>
int run(const data::table& train, const data::table& test, int epochs, const std::string& export_path) {
    using cnn = ::cnn<D>;
    manual_seed(0);
    cnn model;
    get<9>(model).p = 0.25f;  // model[9] is the dropout
    static_assert(cnn::parameters == 421642);
    constexpr std::size_t graph_bytes = cnn::template graph_bytes<shape<B, 1, H, W>>();
    std::printf("CNN: %zu parameters, %.1f MFLOP per image forward, %zu bytes of graph nodes per step "
                "(a compile-time constant; activations above 4 KiB are held outside it)\n",
                cnn::parameters, double(cnn::template flops<shape<1, 1, H, W>>()) / 1e6, graph_bytes);
    optim::adam opt(model, {.lr = 1e-3});
    data::loader<B, pixels> batches(train, {.shuffle = true, .seed = 1});
    generator aug(2);
    tensor<float, shape<B, 1, H, W>> x;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
        model.train();
        const auto t0 = std::chrono::steady_clock::now();
        double total = 0;
        for (const auto& b : batches) {
            prepare(b.x, b.valid, true, aug, x);
            const auto xd = to<D>(x);
            auto out = model(xd);
            auto l = loss::cross_entropy(out, b.y, 0.0, b.valid);
            opt.zero_grad();
            backward(l);
            opt.step();
            total += l.value().item() * double(b.valid);
        }
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        model.eval_mode();
        std::printf("epoch %d  train loss %.4f  test accuracy %.4f  (%.1f s, graph arena %zu bytes a step)\n", epoch,
                    total / double(train.rows()), test_accuracy(model, test, aug), secs,
                    graph_memory().last_step_bytes);
    }

    // Save, load into a fresh model, check it predicts the same.
    const auto path = (std::filesystem::temp_directory_path() / "kiln_ch001.safetensors").string();
    io::save(path, model);
    cnn restored;
    io::load(path, restored);
    restored.eval_mode();
    const double acc = test_accuracy(model, test, aug), acc2 = test_accuracy(restored, test, aug);
    std::printf("saved to %s and loaded back: test accuracy %.4f (original %.4f)\n", path.c_str(), acc2, acc);
    if (!export_path.empty()) {
        io::save(export_path, model);
        std::printf("exported %s: load it in PyTorch with safetensors.torch.load_file into the nn.Sequential above\n",
                    export_path.c_str());
    }
    std::filesystem::remove(path);
    if (acc < 0.85 || acc2 != acc) {
        std::printf("FAILED: expected test accuracy >= 0.85 and an identical reloaded model\n");
        return 1;
    }
    return 0;
}

static int run_main(int argc, char** argv) {
    const std::string dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    const int epochs = argc > 2 ? std::atoi(argv[2]) : 3;
    const std::string export_path = argc > 3 && std::strcmp(argv[3], "-") != 0 ? argv[3] : "";
    const bool on_vulkan = argc > 4 && std::strcmp(argv[4], "vulkan") == 0;
    const auto train = data::as_table(data::load_mnist(dir, "train"));
    const auto test = data::as_table(data::load_mnist(dir, "t10k"));
    std::printf("Fashion-MNIST: %zu training, %zu test images\n", train.rows(), test.rows());
    return kiln_examples::on_device(on_vulkan, [&]<class D>() { return run<D>(train, test, epochs, export_path); });
}

int main(int argc, char** argv) { return kiln_examples::guarded(argc, argv, run_main); }
