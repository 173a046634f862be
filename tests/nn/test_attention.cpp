// Attention and transformer layers: gradients against float64 central differences, causal
// masking, and inference (use_values) agreeing with the training graph.
#include <kiln/autodiff/gradcheck.hpp>
#include <kiln/kiln.hpp>
#include <kiln/nn/attention.hpp>

#include <gtest/gtest.h>

#include "test_util.hpp"

using namespace kiln;

namespace {
struct fixture {
    generator g{1};
    param<double, shape<2, 3, 8>> x{uniform<double, shape<2, 3, 8>>(g, -1.0, 1.0)};
    param<double, shape<2, 4, 8>> mem{uniform<double, shape<2, 4, 8>>(g, -1.0, 1.0)};
    tensor<double, shape<2, 3, 8>> w = uniform<double, shape<2, 3, 8>>(g, 0.5, 1.5);
};
}  // namespace

TEST(Attention, MultiHeadGradientsAndMask) {
    fixture f;
    manual_seed(3);
    nn::multi_head_attention<8, 2, cpu, double> mha;
    auto mask = nn::causal_mask<3, double>();
    EXPECT_GRADS([&](auto& in) { return sum(mha.forward(in, in) * f.w); }, f.x);
    EXPECT_GRADS([&](auto& in) { return sum(mha.forward(in, in, nn::use_params{}, &mask) * f.w); }, f.x);
    EXPECT_GRADS([&](auto& q, auto& kv) { return sum(mha.forward(q, kv) * f.w); }, f.x, f.mem);  // cross-attention
    EXPECT_GRADS([&](auto&) { return sum(mha.forward(f.x.value(), f.x.value()) * f.w); }, mha.in_proj_weight);
    EXPECT_GRADS([&](auto&) { return sum(mha.forward(f.x.value(), f.x.value()) * f.w); }, mha.out_proj.weight);
    // The mask hides the future: the first query's output ignores later keys.
    auto a = mha.forward(f.x.value(), f.x.value(), nn::use_values{}, &mask);
    auto changed = f.x.value();
    for (std::size_t e = 0; e < 8; ++e) changed(0, 2, e) += 1.0;
    auto b = mha.forward(changed, changed, nn::use_values{}, &mask);
    for (std::size_t e = 0; e < 8; ++e) EXPECT_DOUBLE_EQ(a(0, 0, e), b(0, 0, e));
}

TEST(Attention, EncoderAndDecoderLayers) {
    fixture f;
    manual_seed(4);
    nn::transformer_encoder_layer<8, 2, 16, cpu, double> enc;
    nn::transformer_decoder_layer<8, 2, 16, cpu, double> dec;
    enc.train(false);  // dropout off: deterministic for finite differences
    dec.train(false);
    auto mask = nn::causal_mask<3, double>();
    EXPECT_GRADS([&](auto& in) { return sum(enc(in) * f.w); }, f.x);
    EXPECT_GRADS(
        [&](auto& in, auto& m) {
            auto o = dec.forward(in, m, nn::use_params{}, &mask);  // a named graph may be returned from
            return sum(o * f.w);
        },
        f.x, f.mem);
    auto graph = enc.forward(f.x);
    auto plain = enc.forward(f.x.value(), nn::use_values{});
    EXPECT_LT(sum(abs(plain - graph.value())).item(), 1e-12);
    std::vector<std::string> names;
    nn::visit_parameters(dec, [&](const std::string& n, auto&) { names.push_back(n); });
    EXPECT_EQ(names.front(), "self_attn.in_proj_weight");
    EXPECT_EQ(names[4], "multihead_attn.in_proj_weight");
    EXPECT_EQ(names.back(), "norm3.bias");
}

TEST(Attention, PositionalEncodingMatchesFormula) {
    nn::positional_encoding<5, 6> pe;
    EXPECT_FLOAT_EQ(pe.pe(0, 0), 0.f);
    EXPECT_FLOAT_EQ(pe.pe(0, 1), 1.f);
    EXPECT_NEAR(pe.pe(3, 2), std::sin(3.0 / std::pow(10000.0, 2.0 / 6)), 1e-6);
    EXPECT_NEAR(pe.pe(4, 5), std::cos(4.0 / std::pow(10000.0, 4.0 / 6)), 1e-6);
}
