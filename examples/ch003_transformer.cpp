// Seed chapter 003, "a simple Transformer", in kiln: sinusoidal positional encoding, multi-head
// self-attention, feed-forward blocks, encoder layers and decoder layers with real
// encoder-decoder (cross) attention and a causal mask, stacked and trained with Adam and MSE.
//
// The task: given 12 samples of a sine wave (random frequency, phase and amplitude), predict the
// next 12 (teacher forcing: the decoder sees the target shifted by one). A model that has
// learnt nothing scores the variance of the targets; the run asserts it does much better.
//
// usage: ch003_transformer [steps]
#include "support.hpp"
#include <kiln/kiln.hpp>
#include <kiln/loss/loss.hpp>
#include <kiln/nn/attention.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/optim/optim.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace kiln;

constexpr std::size_t B = 32, S = 12, E = 32, Heads = 4, FF = 64;
using seq = tensor<float, shape<B, S, 1>>;

struct transformer {
    nn::linear<1, E> src_proj, tgt_proj;
    nn::positional_encoding<S, E> pe;
    nn::transformer_encoder_layer<E, Heads, FF> enc1, enc2;
    nn::transformer_decoder_layer<E, Heads, FF> dec1, dec2;
    nn::linear<E, 1> out;
    tensor<float, shape<S, S>> causal = nn::causal_mask<S>();

    template <class F>
    void visit_parameters(const std::string& p, F&& f) {
        nn::visit_members(p, f, "src_proj", src_proj, "tgt_proj", tgt_proj, "encoder.layers.0", enc1, "encoder.layers.1",
                          enc2, "decoder.layers.0", dec1, "decoder.layers.1", dec2, "out", out);
    }
    void train(bool on) {
        enc1.train(on);
        enc2.train(on);
        dec1.train(on);
        dec2.train(on);
    }
};

/// A batch of waves: src = samples 0..S-1, tgt_in = samples S-1..2S-2, tgt = samples S..2S-1.
static void make_batch(generator& g, seq& src, seq& tgt_in, seq& tgt) {
    for (std::size_t b = 0; b < B; ++b) {
        const float freq = 0.15f + 0.35f * g.next_float(), phase = 6.2831853f * g.next_float();
        const float amp = 0.5f + 0.5f * g.next_float();
        auto at = [&](std::size_t t) { return amp * std::sin(freq * float(t) + phase); };
        for (std::size_t t = 0; t < S; ++t) {
            src(b, t, 0) = at(t);
            tgt_in(b, t, 0) = at(S - 1 + t);
            tgt(b, t, 0) = at(S + t);
        }
    }
}

static int run_main(int argc, char** argv) {
    const int steps = argc > 1 ? std::atoi(argv[1]) : 300;
    manual_seed(0);
    transformer model;
    optim::adam opt(model, {.lr = 2e-3});
    generator g(1);
    seq src, tgt_in, tgt;
    std::printf("Transformer: %zu parameters, 2 encoder + 2 decoder layers, d_model %zu, %zu heads\n",
                nn::parameter_count(model), E, Heads);
    double first = 0, last = 0, baseline = 0;
    for (int step = 1; step <= steps; ++step) {
        make_batch(g, src, tgt_in, tgt);
        // Named stages: each layer's graph is built in place and referenced by the next.
        auto x = model.pe.forward(model.src_proj.forward(src));
        auto h1 = model.enc1.forward(x);
        auto memory = model.enc2.forward(h1);
        auto y = model.pe.forward(model.tgt_proj.forward(tgt_in));
        auto d1 = model.dec1.forward(y, memory, nn::use_params{}, &model.causal);
        auto d2 = model.dec2.forward(d1, memory, nn::use_params{}, &model.causal);
        auto pred = model.out.forward(d2);
        auto l = loss::mse(pred, tgt);
        opt.zero_grad();
        backward(l);
        opt.step();
        const double v = l.value().item();
        if (step == 1) {
            first = v;
            baseline = mean(tgt * tgt).item();
        }
        if (step % 50 == 0 || step == 1) std::printf("step %4d  mse %.5f\n", step, v);
        last = v;
    }
    // Held-out batches, no graph and no dropout.
    model.train(false);
    generator held(99);
    double test = 0, var = 0;
    for (int k = 0; k < 8; ++k) {
        make_batch(held, src, tgt_in, tgt);
        auto x = eval(model.src_proj.forward(src, nn::use_values{}) + model.pe.pe);
        auto memory = model.enc2.forward(model.enc1.forward(x, nn::use_values{}), nn::use_values{});
        auto y = eval(model.tgt_proj.forward(tgt_in, nn::use_values{}) + model.pe.pe);
        auto d = model.dec2.forward(model.dec1.forward(y, memory, nn::use_values{}, &model.causal), memory,
                                    nn::use_values{}, &model.causal);
        auto pred = model.out.forward(d, nn::use_values{});
        test += mean((pred - tgt) * (pred - tgt)).item();
        var += mean(tgt * tgt).item();
    }
    test /= 8;
    var /= 8;
    std::printf("train mse %.5f -> %.5f; held-out mse %.5f vs %.5f for predicting zeros (%.1fx better)\n", first, last,
                test, var, var / test);
    (void)baseline;
    if (!(test < var / 10)) {
        std::printf("FAILED: expected the held-out error to be at least 10x below the variance\n");
        return 1;
    }
    return 0;
}

int main(int argc, char** argv) { return kiln_examples::guarded(argc, argv, run_main); }
