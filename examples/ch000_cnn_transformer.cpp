// Seed chapter 000, "CNN + Transformer image classifier", in kiln, on Fashion-MNIST (the
// seed's CIFAR-10 is not packaged in Debian). A convolutional feature extractor turns each
// image into a 7x7 map of 32 channels; each of the 49 positions becomes a real token (not a
// flat vector posing as a sequence), tokens get positional encodings and go through multi-head
// self-attention (a transformer encoder layer); their mean feeds the classifier. Training
// augmentation (random resized crop, horizontal flip, normalize) applies to training images
// only; Adam with cross-entropy, ReduceLROnPlateau on the validation loss, early stopping.
//
// The same program trains on the GPU with `vulkan` as third argument (the model type is
// model_t<vulkan>; everything else is unchanged).
//
// usage: ch000_cnn_transformer [data-dir] [max-epochs] [cpu | vulkan]
#include "support.hpp"
#include <kiln/data/idx.hpp>
#include <kiln/data/loader.hpp>
#include <kiln/data/split.hpp>
#include <kiln/data/transforms.hpp>
#include <kiln/kiln.hpp>
#include <kiln/loss/loss.hpp>
#include <kiln/nn/activation.hpp>
#include <kiln/nn/attention.hpp>
#include <kiln/nn/conv.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/nn/sequential.hpp>
#include <kiln/optim/optim.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace kiln;

constexpr std::size_t B = 64, H = 28, W = 28, pixels = H * W, E = 32, T = 49;

// The seed's three modules, as PyTorch writes them: members, a forward that names what it
// computes, and one line listing the members (their names become the checkpoint's names).

/// CNNModule: two convolutions extract local features, [B, 1, 28, 28] -> [B, 32, 7, 7].
template <class D>
struct cnn_module : nn::module<cnn_module<D>> {
    nn::conv2d<1, 16, 3, 1, 1, 1, D> conv1;
    nn::conv2d<16, E, 3, 1, 1, 1, D> conv2;
    nn::max_pool2d<2> pool;
    auto forward(const auto& x) const {
        auto h = pool(relu(conv1(x)));
        return pool(relu(conv2(h)));
    }
    KILN_MODULE(conv1, conv2)
};

/// TransformerModule: each of the 49 positions of the feature map is a token (its channels
/// the embedding), with positional encodings, through multi-head self-attention; the tokens'
/// mean feeds the classifier.
template <class D>
struct transformer_module : nn::module<transformer_module<D>> {
    nn::positional_encoding<T, E, D> pos;
    nn::transformer_encoder_layer<E, 4, 64, D> encoder;
    nn::linear<E, 10, D> fc;
    auto forward(const auto& features) const {
        auto tokens = pos(nn::to_tokens{}(features));  // [B, 49, 32]
        auto h = encoder(tokens);
        return fc(mean<1>(h));                          // [B, 10]
    }
    KILN_MODULE(encoder, fc)
};

/// CNN_Transformer_Model: the CNN's features go through the transformer.
template <class D>
struct cnn_transformer_model : nn::module<cnn_transformer_model<D>> {
    cnn_module<D> cnn;
    transformer_module<D> transformer;
    auto forward(const auto& x) const {
        auto features = cnn(x);
        return transformer(features);
    }
    KILN_MODULE(cnn, transformer)
};
template <class D>
using model_t = cnn_transformer_model<D>;

constexpr float pixel_mean = 0.2860f, pixel_std = 0.3530f;

static void prepare(const tensor<float, shape<B, pixels>>& raw, std::size_t valid, bool train, generator& g,
                    tensor<float, shape<B, 1, H, W>>& x) {
    for (std::size_t n = 0; n < B; ++n) {
        float* img = x.data() + n * pixels;
        for (std::size_t i = 0; i < pixels; ++i) img[i] = raw(n, i) * (1.0f / 255.0f);
        if (train && n < valid) {
            data::random_resized_crop(img, 1, H, W, g, 0.8f, 1.0f);
            data::random_horizontal_flip(img, 1, H, W, g);
        }
        data::normalize(img, 1, pixels, &pixel_mean, &pixel_std);
    }
}

/// Mean loss and accuracy over a table (no augmentation, every row counted once).
template <class D>
static std::pair<double, double> evaluate(const model_t<D>& model, const data::table& t, generator& g) {
    data::loader<B, pixels> batches(t);
    tensor<float, shape<B, 1, H, W>> x;
    double loss_sum = 0;
    std::size_t correct = 0;
    for (const auto& b : batches) {
        prepare(b.x, b.valid, false, g, x);
        auto logits = model.predict(to<D>(x));
        loss_sum += loss::cross_entropy(logits, b.y, 0.0, b.valid).item() * double(b.valid);
        auto pred = to<cpu>(argmax<1>(logits));
        for (std::size_t i = 0; i < b.valid; ++i) correct += pred[i] == b.y[i];
    }
    return {loss_sum / double(t.rows()), double(correct) / double(t.rows())};
}


template <class D>
int run(const data::table& train, const data::table& val, const data::table& test, int max_epochs) {
    using model_t = ::model_t<D>;
    manual_seed(0);
    model_t model;
    std::printf("CNN + Transformer: %zu parameters, %zu tokens of %zu channels per image\n", nn::parameter_count(model), T, E);
    optim::adam opt(model, {.lr = 2e-3});
    optim::reduce_lr_on_plateau plateau(opt, {.factor = 0.5, .patience = 0});
    optim::early_stopping stopper({.patience = 2});
    data::loader<B, pixels> batches(train, {.shuffle = true, .seed = 1});
    generator aug(2);
    tensor<float, shape<B, 1, H, W>> x;
    for (int epoch = 1; epoch <= max_epochs; ++epoch) {
        model.train();
        const auto t0 = std::chrono::steady_clock::now();
        double total = 0;
        for (const auto& b : batches) {
            prepare(b.x, b.valid, true, aug, x);
            const auto xd = to<D>(x);
            auto out = model(xd);
            auto l = loss::cross_entropy(out, b.y, 0.05, b.valid);  // a little label smoothing
            opt.zero_grad();
            backward(l);
            opt.step();
            total += l.value().item() * double(b.valid);
        }
        model.eval_mode();
        const auto [val_loss, val_acc] = evaluate(model, val, aug);
        plateau.step(val_loss);
        std::printf("epoch %d  train loss %.4f  val loss %.4f  val acc %.4f  lr %.2g  (%.1f s, graph arena %zu bytes a step)\n",
                    epoch, total / double(train.rows()), val_loss, val_acc, opt.lr(),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                    graph_memory().peak_step_bytes);
        if (stopper.should_stop(val_loss)) break;
    }
    const auto [test_loss, test_acc] = evaluate(model, test, aug);
    std::printf("test loss %.4f  test accuracy %.4f (%zu images)\n", test_loss, test_acc, test.rows());
    if (test_acc < 0.80) {
        std::printf("FAILED: expected test accuracy >= 0.80\n");
        return 1;
    }
    return 0;
}

static int run_main(int argc, char** argv) {
    const std::string dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    const int max_epochs = argc > 2 ? std::atoi(argv[2]) : 3;
    const bool on_vulkan = argc > 3 && std::strcmp(argv[3], "vulkan") == 0;
    auto [train, val] = data::train_test_split(data::as_table(data::load_mnist(dir, "train")), 1.0 / 12, 3, true);
    const auto test = data::as_table(data::load_mnist(dir, "t10k"));
    std::printf("Fashion-MNIST: %zu train, %zu validation, %zu test images\n", train.rows(), val.rows(), test.rows());
    return kiln_examples::on_device(on_vulkan, [&]<class D>() { return run<D>(train, val, test, max_epochs); });
}

int main(int argc, char** argv) { return kiln_examples::guarded(argc, argv, run_main); }
