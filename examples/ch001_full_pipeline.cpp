// Seed chapter 001, "the full pipeline", in kiln, on Fashion-MNIST (Debian's
// dataset-fashion-mnist; the seed's CIFAR-10 is not packaged): the seeds' data pipeline
// (a dataset, torchvision-style transforms in a compose, a DataLoader preparing batches on a
// worker thread) with training augmentation (padded random crop, flip, ToTensor, Normalize) and
// test data that gets only ToTensor + Normalize; a plain CNN trained with Adam and a cosine
// learning-rate schedule, a progress bar per epoch and the training curves as an SVG; a test loop in
// which every test image counts once; saving the trained model and loading it back; and an
// export (safetensors with PyTorch's names) that the equivalent torch.nn.Sequential loads.
//
// The same program trains on the GPU when the device is vulkan: the model type is the only
// thing that changes (nn layers take the device as a template parameter).
//
// usage: ch001_full_pipeline [data-dir] [epochs] [export.safetensors | -] [cpu | vulkan]
#include "support.hpp"
#include <kiln/data/datasets.hpp>
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
#include <kiln/optim/schedule.hpp>
#include <kiln/util/plot.hpp>
#include <kiln/util/progress.hpp>

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

constexpr double min_accuracy = 0.91;  // the chapter's target on the 10,000 test images
constexpr float pixel_mean = 0.2860f, pixel_std = 0.3530f;  // Fashion-MNIST training set statistics

// torchvision's pipelines, typed on the image shape: training images get a padded random crop
// and a flip before ToTensor and Normalize; test images only ToTensor and Normalize.
inline auto train_transform() {
    return data::compose{data::pad_random_crop<2>{}, data::random_horizontal_flip<>{}, data::to_tensor{},
                         data::normalize<1>{.mean = {pixel_mean}, .std = {pixel_std}}};
}
inline auto test_transform() {
    return data::compose{data::to_tensor{}, data::normalize<1>{.mean = {pixel_mean}, .std = {pixel_std}}};
}

template <class Model, class DS, class D = typename Model::device_type>
static double test_accuracy(const Model& model, const DS& test) {
    auto batches = data::data_loader<B>(test, test_transform(), {.workers = 1});
    std::size_t correct = 0;
    for (const auto& b : batches) {
        auto pred = to<cpu>(argmax<1>(model.predict(to<D>(b.x))));
        for (std::size_t i = 0; i < b.valid; ++i) correct += pred[i] == b.y[i];
    }
    return double(correct) / double(test.size());
}

template <class D, class DS>
int run(const DS& train, const DS& test, int epochs, const std::string& export_path, const std::string& curves_path) {
    using cnn = ::cnn<D>;
    manual_seed(0);
    cnn model;
    get<9>(model).p = 0.25f;  // model[9] is the dropout
    static_assert(cnn::parameters == 421642);
    constexpr std::size_t graph_bytes = cnn::template graph_bytes<shape<B, 1, H, W>>();
    std::printf("CNN: %zu parameters, %.1f MFLOP per image forward, %zu bytes of graph nodes per step "
                "(a compile-time constant; activations above 4 KiB are held outside it)\n",
                cnn::parameters, double(cnn::template flops<shape<1, 1, H, W>>()) / 1e6, graph_bytes);
    // The DataLoader: shuffled from a seed, augmentation prepared on a worker thread while the
    // step runs, the same batches whatever the worker count.
    auto batches = data::data_loader<B>(train, train_transform(), {.shuffle = true, .seed = 1, .workers = 1});
    optim::adam opt(model, {.lr = 2e-3});
    optim::cosine_annealing schedule(opt, batches.size() * std::size_t(epochs));  // stepped every step
    training_curves curves;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
        model.train();
        char label[32];
        std::snprintf(label, sizeof label, "epoch %d/%d", epoch, epochs);
        progress_bar bar(batches.size(), {.label = label, .unit = "img"});
        double total = 0;
        std::size_t correct = 0, seen = 0, step = 0;
        for (const auto& b : batches) {
            auto out = model(to<D>(b.x));
            auto l = loss::cross_entropy(out, b.y, 0.0, b.valid);
            opt.zero_grad();
            backward(l);
            opt.step();
            schedule.step();
            const double lv = l.value().item();
            auto pred = to<cpu>(argmax<1>(out.value()));
            std::size_t ok = 0;
            for (std::size_t i = 0; i < b.valid; ++i) ok += pred[i] == b.y[i];
            total += lv * double(b.valid);
            correct += ok;
            seen += b.valid;
            bar.update(++step, {{"loss", lv}, {"acc", double(ok) / double(b.valid)}}, b.valid);
        }
        model.eval_mode();
        const double acc = test_accuracy(model, test);
        std::printf("epoch %d  train loss %.4f  train acc %.4f  test accuracy %.4f  (graph arena %zu bytes a step)\n",
                    epoch, total / double(seen), double(correct) / double(seen), acc, graph_memory().last_step_bytes);
        curves.add_epoch({{"train loss", total / double(seen)}, {"train acc", double(correct) / double(seen)},
                          {"test acc", acc}});
        curves.write_svg(curves_path, "Chapter 001: CNN on Fashion-MNIST");
    }
    std::printf("training curves: %s\n", curves_path.c_str());

    // Save, load into a fresh model, check it predicts the same.
    const auto path = (std::filesystem::temp_directory_path() / "kiln_ch001.safetensors").string();
    io::save(path, model);
    cnn restored;
    io::load(path, restored);
    restored.eval_mode();
    const double acc = test_accuracy(model, test), acc2 = test_accuracy(restored, test);
    std::printf("saved to %s and loaded back: test accuracy %.4f (original %.4f)\n", path.c_str(), acc2, acc);
    if (!export_path.empty()) {
        io::save(export_path, model);
        std::printf("exported %s: load it in PyTorch with safetensors.torch.load_file into the nn.Sequential above\n",
                    export_path.c_str());
    }
    std::filesystem::remove(path);
    if (acc < min_accuracy || acc2 != acc) {
        std::printf("FAILED: expected test accuracy >= %.2f and an identical reloaded model\n", min_accuracy);
        return 1;
    }
    return 0;
}

static int run_main(int argc, char** argv) {
    const std::string dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    const int epochs = argc > 2 ? std::atoi(argv[2]) : 3;
    const std::string export_path = argc > 3 && std::strcmp(argv[3], "-") != 0 ? argv[3] : "";
    const bool on_vulkan = argc > 4 && std::strcmp(argv[4], "vulkan") == 0;
    const auto train = data::load_fashion_mnist(dir, "train");
    const auto test = data::load_fashion_mnist(dir, "t10k");
    std::printf("Fashion-MNIST: %zu training, %zu test images\n", train.size(), test.size());
    const std::string curves_path =
        (export_path.empty() ? std::filesystem::path(".") : std::filesystem::path(export_path).parent_path()) /
        "ch001_curves.svg";
    return kiln_examples::on_device(on_vulkan,
                                    [&]<class D>() { return run<D>(train, test, epochs, export_path, curves_path); });
}

int main(int argc, char** argv) { return kiln_examples::guarded(argc, argv, run_main); }
