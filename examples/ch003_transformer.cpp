// Seed chapter 003, "a simple Transformer", in kiln: sinusoidal positional encoding, multi-head
// self-attention, feed-forward blocks, encoder layers and decoder layers with real
// encoder-decoder (cross) attention and a causal mask, stacked into the seed's Transformer
// module and trained with Adam. The seed regresses random numbers with MSE; here the model does
// a sequence-to-sequence task whose answer a user can check: token embeddings in, vocabulary
// logits out, cross-entropy. The chapter's own configuration (d_model 512, 8 heads, ff 2048,
// 6 + 6 layers, MSE head on random features) is ch003_chapter_config.cpp: a few timed steps.
//
// The task: reverse a sequence of S = 10 random digits (7 3 0 9 ... -> ... 9 0 3 7). The
// vocabulary is the 10 digits plus a BOS token that starts the decoder's input. Training uses
// teacher forcing: the decoder sees BOS and the true reversed sequence shifted by one, and
// predicts every next digit at once (the causal mask hides the future); Adam's learning rate is
// annealed along a cosine over the run. Evaluation decodes greedily, one digit at a time, on
// sequences from another random stream, and counts exact sequences (all 10 digits right) and
// single digits. The run fails unless >= 98% of the held-out sequences come back exactly
// reversed.
//
// usage: ch003_transformer [steps]
#include "support.hpp"
#include <kiln/kiln.hpp>
#include <kiln/loss/loss.hpp>
#include <kiln/nn/attention.hpp>
#include <kiln/nn/embedding.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/optim/optim.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>

using namespace kiln;

constexpr std::size_t B = 64, S = 10, Digits = 10, V = Digits + 1, E = 64, Heads = 4, FF = 128, Layers = 2;
constexpr int bos = int(Digits);  // the decoder's start token
using tokens = tensor<int, shape<B, S>>;
using hidden = node<float, shape<B, S, E>>;

/// The seed's Transformer: an encoder stack over the source tokens, a decoder stack over the
/// target tokens that attends to the encoder's output (memory), and a projection to logits.
struct transformer : nn::module<transformer> {
    nn::embedding<V, E> src_embed, tgt_embed;
    nn::positional_encoding<S, E> pos;
    std::array<nn::transformer_encoder_layer<E, Heads, FF>, Layers> encoder;
    std::array<nn::transformer_decoder_layer<E, Heads, FF>, Layers> decoder;
    nn::linear<E, V> out;
    tensor<float, shape<S, S>> causal = nn::causal_mask<S>();  // target position i sees 0..i

    /// src [B, S] tokens -> memory [B, S, E].
    hidden encode(const tokens& src) const {
        hidden x = pos(src_embed(src));
        for (const auto& layer : encoder) x = layer(x);
        return x;
    }
    /// tgt [B, S] tokens and memory -> logits [B, S, V]: masked self-attention over the target,
    /// cross-attention to the memory.
    auto decode(const tokens& tgt, const hidden& memory) const {
        hidden y = pos(tgt_embed(tgt));
        for (const auto& layer : decoder) y = layer(y, memory, {.tgt_mask = &causal});
        return out(y);
    }
    auto forward(const tokens& src, const tokens& tgt) const {
        auto memory = encode(src);
        auto logits = decode(tgt, memory);
        return logits;
    }
    KILN_MODULE(src_embed, tgt_embed, encoder, decoder, out)  // encoder.0.self_attn.in_proj_weight, ...
};

/// B random digit sequences, their reversals, and the decoder's input: BOS, then the reversal
/// shifted right by one (teacher forcing).
struct batch {
    tokens src, tgt_in;
    tensor<int, shape<B * S>> labels;  // the reversals, flat, for cross_entropy
};
static batch make_batch(generator& g) {
    batch b;
    for (std::size_t i = 0; i < B; ++i) {
        for (std::size_t t = 0; t < S; ++t) b.src(i, t) = int(g.next_below(Digits));
        for (std::size_t t = 0; t < S; ++t) {
            b.labels[i * S + t] = b.src(i, S - 1 - t);
            b.tgt_in(i, t) = t == 0 ? bos : b.src(i, S - t);
        }
    }
    return b;
}

/// Greedy decoding without teacher forcing: memory once, then the decoder S times, each time
/// writing the argmax at position t into the input at t + 1 (positions after t are BOS; the
/// causal mask keeps them from mattering).
static tensor<int, shape<B, S>> greedy_decode(const transformer& model, const tokens& src) {
    no_grad off;
    const hidden memory = model.encode(src);
    tokens tgt_in;
    tgt_in.fill(bos);
    tensor<int, shape<B, S>> result;
    for (std::size_t t = 0; t < S; ++t) {
        auto logits = model.decode(tgt_in, memory);
        const auto next = argmax<2>(logits.value());  // [B, S]
        for (std::size_t i = 0; i < B; ++i) {
            result(i, t) = int(next(i, t));
            if (t + 1 < S) tgt_in(i, t + 1) = result(i, t);
        }
    }
    return result;
}

static int run_main(int argc, char** argv) {
    const int steps = argc > 1 ? std::atoi(argv[1]) : 400;
    manual_seed(0);
    transformer model;
    optim::adam opt(model, {.lr = 1e-3});
    optim::cosine_annealing schedule(opt, std::size_t(steps));  // stepped once per training step
    std::printf("Transformer: %zu parameters; %zu encoder + %zu decoder layers, d_model %zu, %zu heads, "
                "feed-forward %zu; vocabulary %zu (10 digits + BOS)\n",
                nn::parameter_count(model), Layers, Layers, E, Heads, FF, V);
    std::printf("task: reverse %zu random digits; batches of %zu, %d steps\n", S, B, steps);

    generator train_stream(1);
    const auto t0 = std::chrono::steady_clock::now();
    model.train();
    for (int step = 1; step <= steps; ++step) {
        const batch b = make_batch(train_stream);
        auto logits = model(b.src, b.tgt_in);  // [B, S, V]
        auto l = loss::cross_entropy(reshape<shape<B * S, V>>(logits), b.labels);
        opt.zero_grad();
        backward(l);
        opt.step();
        schedule.step();
        if (step % 100 == 0 || step == 1) {
            const auto pred = argmax<2>(logits.value());
            std::size_t right = 0;
            for (std::size_t k = 0; k < B * S; ++k) right += pred[k] == b.labels[k];
            std::printf("step %4d  loss %.4f  teacher-forced token accuracy %.3f  (%.1f s)\n", step, l.value().item(),
                        double(right) / double(B * S),
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
    }
    std::printf("graph arena: %zu bytes of nodes a training step (values above 4 KiB are held outside it)\n",
                graph_memory().last_step_bytes);

    // Held-out sequences from another stream, decoded greedily (no teacher forcing, no dropout).
    model.eval_mode();
    generator test_stream(2);
    constexpr int test_batches = 16;
    std::size_t exact = 0, digits = 0;
    for (int k = 0; k < test_batches; ++k) {
        const batch b = make_batch(test_stream);
        const auto pred = greedy_decode(model, b.src);
        for (std::size_t i = 0; i < B; ++i) {
            std::size_t right = 0;
            for (std::size_t t = 0; t < S; ++t) right += pred(i, t) == b.labels[i * S + t];
            digits += right;
            exact += right == S;
        }
        if (k == 0) {
            std::printf("example: ");
            for (std::size_t t = 0; t < S; ++t) std::printf("%d", b.src(0, t));
            std::printf(" -> ");
            for (std::size_t t = 0; t < S; ++t) std::printf("%d", pred(0, t));
            std::printf("\n");
        }
    }
    const double n = double(test_batches * B);
    const double exact_acc = double(exact) / n, token_acc = double(digits) / (n * S);
    std::printf("held-out, greedy decoding: exact-sequence accuracy %.4f (%zu of %d), token accuracy %.4f (%.1f s "
                "in all)\n",
                exact_acc, exact, test_batches * int(B), token_acc,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (!(exact_acc >= 0.98)) {
        std::printf("FAILED: expected at least 98%% of the held-out sequences reversed exactly\n");
        return 1;
    }
    return 0;
}

int main(int argc, char** argv) { return kiln_examples::guarded(argc, argv, run_main); }
