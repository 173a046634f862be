// Image loader throughput against the training step it feeds. The CIFAR-style augmentation chain
// (pad 4 + random 32x32 crop, horizontal flip, to_tensor, color jitter (brightness, contrast),
// normalize; transforms.hpp) runs over
// synthetic 3x32x32 byte images in data_loader<64> at workers = 0, 1, 2; beside it, one
// training step (forward, cross-entropy, backward, Adam) of two CNNs on a 64-image batch with
// kiln's pool at 2 threads (KILN_NUM_THREADS=2, set here unless given):
//   ch001: the chapter-001 / bench_models CNN (Conv 3->64, Conv 64->128, Linear 8192->1024, 10)
//   light: Conv 3->16, Conv 16->32 (k3 p1, ReLU, MaxPool 2 each), Linear 2048->10
// and the light CNN fed by the loader (workers = 1): the step plus what the loader could not
// hide. The rounds alternate the cases; each figure is the median of the rounds, with min..max.
// The target: loader images/s >= 5 x the training step's images/s.
//
//   bench_loader [rounds=3]
#include <kiln/data/datasets.hpp>
#include <kiln/data/loader.hpp>
#include <kiln/data/transforms.hpp>
#include <kiln/kiln.hpp>
#include <kiln/loss/loss.hpp>
#include <kiln/nn/activation.hpp>
#include <kiln/nn/conv.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/nn/sequential.hpp>
#include <kiln/optim/optim.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace data = kiln::data;
namespace nn = kiln::nn;

namespace {

constexpr std::size_t batch = 64, images = 64 * 256;

// CIFAR-10 training augmentation as in torchvision's usual recipe (color jitter works on floats,
// so it follows to_tensor).
const auto chain = data::compose{data::pad_random_crop<4>{}, data::random_horizontal_flip{}, data::to_tensor{},
                                 data::color_jitter{0.4f, 0.4f},
                                 data::normalize<3>{{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}}};

data::image_dataset<3, 32, 32> synthetic() {
    data::image_dataset<3, 32, 32> d;
    kiln::generator g(1);
    d.classes = 10;
    d.pixels.resize(images * 3 * 32 * 32);
    for (auto& p : d.pixels) p = std::uint8_t(g.next_u32());
    d.labels.resize(images);
    for (auto& l : d.labels) l = g.next_below(10);
    return d;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

using ch001_cnn = nn::sequential<nn::conv2d<3, 64, 3, 1, 1>, nn::relu, nn::max_pool2d<2>, nn::conv2d<64, 128, 3, 1, 1>,
                                 nn::relu, nn::max_pool2d<2>, nn::flatten<>, nn::linear<8192, 1024>, nn::relu,
                                 nn::linear<1024, 10>>;
using light_cnn = nn::sequential<nn::conv2d<3, 16, 3, 1, 1>, nn::relu, nn::max_pool2d<2>, nn::conv2d<16, 32, 3, 1, 1>,
                                 nn::relu, nn::max_pool2d<2>, nn::flatten<>, nn::linear<2048, 10>>;

template <class Model>
struct trainer {
    std::unique_ptr<Model> model = std::make_unique<Model>();
    kiln::optim::adam<Model> opt{*model, kiln::optim::adam_options{}};
    kiln::tensor<int, kiln::shape<batch>> y;
    float step(const kiln::tensor<float, kiln::shape<batch, 3, 32, 32>>& x) {
        opt.zero_grad();
        auto out = (*model)(x);
        auto l = kiln::loss::cross_entropy(out, y);
        kiln::backward(l);
        opt.step();
        return l.value().item();
    }
};

// images/s of one epoch of the loader (the consumer only touches each batch).
double loader_rate(const data::image_dataset<3, 32, 32>& d, std::size_t workers) {
    auto loader = data::data_loader<batch>(d, chain, {.shuffle = true, .seed = 1, .workers = workers, .prefetch = 4});
    volatile float sink = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& b : loader) sink = sink + b.x[0];
    return double(d.size()) / seconds_since(t0);
}

// images/s of training steps on a fixed batch.
template <class Model>
double train_rate(int steps) {
    static trainer<Model> t;
    kiln::generator g(7);
    const auto x = kiln::randn<float, kiln::shape<batch, 3, 32, 32>>(g);
    for (std::size_t i = 0; i < batch; ++i) t.y[i] = int(g.next_below(10));
    t.step(x);  // warm-up: workspaces, optimizer state
    const auto t0 = std::chrono::steady_clock::now();
    for (int s = 0; s < steps; ++s) t.step(x);
    return double(steps * batch) / seconds_since(t0);
}

// images/s of training steps fed by the loader: the step plus the part of loading not overlapped.
double fed_rate(const data::image_dataset<3, 32, 32>& d, std::size_t workers, int steps) {
    static trainer<light_cnn> t;
    auto loader = data::data_loader<batch>(d, chain, {.shuffle = true, .seed = 2, .workers = workers, .prefetch = 2});
    int s = -1;  // the first step is a warm-up
    auto t0 = std::chrono::steady_clock::now();
    for (const auto& b : loader) {
        for (std::size_t i = 0; i < batch; ++i) t.y[i] = int(b.y[i]);
        t.step(b.x);
        if (++s == 0) t0 = std::chrono::steady_clock::now();
        if (s == steps) break;
    }
    return double(steps * batch) / seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
    setenv("KILN_NUM_THREADS", "2", 0);  // before kiln's pool starts
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 3;
    const auto d = synthetic();
    std::vector<std::pair<std::string, std::function<double()>>> cases = {
        {"loader, workers = 0", [&] { return loader_rate(d, 0); }},
        {"loader, workers = 1", [&] { return loader_rate(d, 1); }},
        {"loader, workers = 2", [&] { return loader_rate(d, 2); }},
        {"train step, ch001 CNN", [] { return train_rate<ch001_cnn>(3); }},
        {"train step, light CNN", [] { return train_rate<light_cnn>(20); }},
        {"light CNN fed by loader (1 worker)", [&] { return fed_rate(d, 1, 20); }},
    };
    std::map<std::string, std::vector<double>> rates;
    for (int r = 0; r < rounds; ++r)
        for (auto& [name, f] : cases) rates[name].push_back(f());
    std::printf("batch %zu, 3x32x32, %zu images, kiln threads %s, %d rounds (median, min..max)\n", batch, images,
                std::getenv("KILN_NUM_THREADS"), rounds);
    std::map<std::string, double> median;
    for (auto& [name, f] : cases) {
        auto v = rates[name];
        std::sort(v.begin(), v.end());
        median[name] = v[v.size() / 2];
        std::printf("  %-36s %10.0f images/s  (%.0f..%.0f)\n", name.c_str(), median[name], v.front(), v.back());
    }
    for (const char* model : {"ch001 CNN", "light CNN"}) {
        const double train = median[std::string("train step, ") + model];
        for (int w : {0, 1, 2}) {
            const double ratio = median["loader, workers = " + std::to_string(w)] / train;
            std::printf("  loader (workers = %d) / %s step: %6.1fx  (target >= 5x: %s)\n", w, model, ratio,
                        ratio >= 5 ? "met" : "NOT met");
        }
    }
    return 0;
}
