// Seed chapter 003 at the chapter's own size: Transformer(d_model=512, num_heads=8, ff_dim=2048,
// 6 encoder + 6 decoder layers), a linear head to one value per position, MSE against random
// targets, Adam(lr=0.001): the seed's section 8, a few steps of it, timed. (ch003_transformer
// trains a small model of the same layers on a task whose answer can be checked; this program
// shows the full configuration compiles, runs and learns, and what one step costs.)
//
// As the seed: x = randn(32, 10, 512) features (no embedding; d_model is the feature size) and
// y = randn(32, 10, 1), one fixed batch trained on every step; the layers are post-norm with no
// dropout; the encoder's output is the decoder's input ("編碼器輸出作為解碼器的輸入"). Unlike the
// seed, the decoder's second attention is real cross-attention to that output (the memory), the
// sinusoidal positional encoding the chapter builds is added to x, and each stack ends with a
// layer norm as torch.nn.Transformer's does, so the parameter count can be checked against
// torch.nn.Transformer(512, 8, 6, 6, 2048) + Linear(512, 1).
//
// The seed's Adam(lr=0.001) with no warm-up is rough on a 12-layer post-norm stack: the loss
// jumps (to about 100 at step 3) before it settles back near 1 (by step 7; 8 steps by
// default). torch does the same: torch.nn.Transformer given this program's initial weights, x
// and y printed the same losses, to 4 digits, for 6 steps.
//
// usage: ch003_chapter_config [steps]   (KILN_NUM_THREADS sets the threads)
#include "support.hpp"
#include <kiln/kiln.hpp>
#include <kiln/loss/loss.hpp>
#include <kiln/nn/attention.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/nn/norm.hpp>
#include <kiln/optim/optim.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace kiln;

constexpr std::size_t B = 32, S = 10, E = 512, Heads = 8, FF = 2048, Layers = 6;
using features = tensor<float, shape<B, S, E>>;
using hidden = node<float, shape<B, S, E>>;

/// The seed's Transformer(512, 8, 2048, 6, 6) with its Linear(d_model, 1) head.
struct transformer : nn::module<transformer> {
    nn::positional_encoding<S, E> pos;
    std::array<nn::transformer_encoder_layer<E, Heads, FF>, Layers> encoder;
    std::array<nn::transformer_decoder_layer<E, Heads, FF>, Layers> decoder;
    nn::layer_norm<E> encoder_norm, decoder_norm;  // torch.nn.Transformer's, after each stack
    nn::linear<E, 1> dense;

    transformer() {  // the seed's layers have no dropout (torch's default is 0.1)
        for (auto& l : encoder) l.dropout_ff.p = l.dropout1.p = l.dropout2.p = 0;
        for (auto& l : decoder) l.dropout_ff.p = l.dropout1.p = l.dropout2.p = l.dropout3.p = 0;
    }
    /// x [B, S, E] -> [B, S, 1]: the encoder stack, then the decoder stack on its output,
    /// cross-attending to it.
    auto forward(const features& x) const {
        hidden memory = encoder[0](pos(x));  // x + pe is data (no gradient): the graph starts here
        for (std::size_t i = 1; i < Layers; ++i) memory = encoder[i](memory);
        memory = encoder_norm(memory);
        hidden y = memory;
        for (const auto& layer : decoder) y = layer(y, memory);
        return dense(decoder_norm(y));
    }
    KILN_MODULE(encoder, decoder, encoder_norm, decoder_norm, dense)  // encoder.0.self_attn.in_proj_weight, ...
};

static int run_main(int argc, char** argv) {
    const int steps = argc > 1 ? std::atoi(argv[1]) : 8;
    if (steps < 1) {
        std::fprintf(stderr, "[ch003_chapter_config] steps must be at least 1\n");
        return 1;
    }
    manual_seed(0);
    transformer model;
    optim::adam opt(model, {.lr = 1e-3});
    // torch.nn.Transformer(512, 8, 6, 6, 2048) has 44,140,544 parameters (sum(p.numel()) in
    // torch 1.13 and 2.x); the head Linear(512, 1) adds 513.
    constexpr std::size_t torch_count = 44'140'544 + 513;
    const std::size_t count = nn::parameter_count(model);
    std::printf("Transformer: %zu parameters (torch.nn.Transformer(512, 8, 6, 6, 2048) + Linear(512, 1): %zu); "
                "%zu encoder + %zu decoder layers, d_model %zu, %zu heads, feed-forward %zu\n",
                count, torch_count, Layers, Layers, E, Heads, FF);

    generator data(1);
    const features x = randn<float, shape<B, S, E>>(data);
    const tensor<float, shape<B, S, 1>> y = randn<float, shape<B, S, 1>>(data);
    std::printf("one batch as the seed's: x [%zu, %zu, %zu], y [%zu, %zu, 1], MSE, Adam(lr 0.001); %d steps, %zu "
                "thread(s) (the seed's lr, no warm-up: the loss jumps before it settles, as torch's does)\n",
                B, S, E, B, S, steps, exec::default_pool().size());

    model.train();
    std::vector<double> times;
    for (int step = 1; step <= steps; ++step) {
        const auto t0 = std::chrono::steady_clock::now();
        auto l = loss::mse(model(x), y);
        opt.zero_grad();
        backward(l);
        opt.step();
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        times.push_back(dt);
        std::printf("step %d  loss %.4f  (%.2f s)\n", step, l.value().item(), dt);
    }
    std::sort(times.begin(), times.end());
    std::printf("median step (forward, backward, Adam): %.2f s; graph arena: %zu bytes of nodes a training step\n",
                times[times.size() / 2], graph_memory().last_step_bytes);
    if (count != torch_count) {
        std::printf("FAILED: expected torch's parameter count\n");
        return 1;
    }
    return 0;
}

int main(int argc, char** argv) { return kiln_examples::guarded(argc, argv, run_main); }
