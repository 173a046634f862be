// torch.nn's attention options in kiln: separate key/value inputs, kdim/vdim, boolean and
// additive attn_mask (2-D and torch's 3-D [B * H, Sq, Sk]), key_padding_mask, need_weights
// (averaged over heads or per head), and the transformer layers' norm_first, gelu,
// layer_norm_eps and decoder masks. Forward values, attention weights and gradients against
// torch 1.13 in float64 (make_attention_fixtures.py wrote fixtures/torch_attention_options.txt;
// parameters are loaded by their state_dict names), central differences, the inference path
// (use_values: plain tensors, no graph), and the behaviour of a fully masked row.
#include <kiln/autodiff/gradcheck.hpp>
#include <kiln/kiln.hpp>
#include <kiln/nn/attention.hpp>

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace kiln;

namespace {

constexpr std::size_t B = 2, SQ = 3, SK = 4, E = 8, H = 2, FF = 16;
using record = kiln::test::fixture_record;

/// label -> tensor name -> values (strtod reads the -inf of additive masks).
const std::map<std::string, record>& fixtures() {
    static const std::map<std::string, record> all =
        kiln::test::read_fixture_records((std::filesystem::path(__FILE__).parent_path() / "fixtures" / "torch_attention_options.txt").string());
    return all;
}

bool has(const std::string& label, const std::string& name) {
    const auto c = fixtures().find(label);
    return c != fixtures().end() && c->second.count(name);
}
const std::vector<double>& values(const std::string& label, const std::string& name) {
    static const std::vector<double> none;
    if (!has(label, name)) {
        ADD_FAILURE() << label << ": no tensor " << name;
        return none;
    }
    return fixtures().at(label).at(name);
}

template <class Tensor>
void load(Tensor& t, const std::vector<double>& v) {
    ASSERT_EQ(v.size(), Tensor::shape_type::size);
    for (std::size_t i = 0; i < v.size(); ++i) t[i] = static_cast<typename Tensor::value_type>(v[i]);
}
template <class Tensor>
Tensor fixture_tensor(const std::string& label, const std::string& name) {
    using V = typename Tensor::value_type;
    Tensor t;
    const auto& v = values(label, name);
    EXPECT_EQ(v.size(), Tensor::shape_type::size) << label << " " << name;
    for (std::size_t i = 0; i < std::min(v.size(), Tensor::shape_type::size); ++i) {
        if constexpr (std::is_same_v<V, bool>)
            t[i] = v[i] != 0;  // torch's True: masked
        else
            t[i] = static_cast<V>(v[i]);
    }
    return t;
}

double max_error_seen = 0;  // over every comparison with torch, printed at the end
/// Largest |kiln - torch| of t against fixture tensor `name`; fails above 1e-10.
template <class Tensor>
void expect_matches(const Tensor& t, const std::string& label, const std::string& name) {
    const auto& v = values(label, name);
    ASSERT_EQ(v.size(), Tensor::shape_type::size) << label << " " << name;
    double err = 0;
    for (std::size_t i = 0; i < v.size(); ++i) err = std::max(err, std::abs(double(t[i]) - v[i]));
    max_error_seen = std::max(max_error_seen, err);
    EXPECT_LT(err, 1e-10) << label << " " << name;
}

/// Loads every parameter by its torch name, and checks that kiln has exactly torch's parameters.
template <class M>
void load_parameters(M& m, const std::string& label) {
    static const std::set<std::string> not_parameters = {
        "q", "k", "v", "x", "mem", "seed", "y", "w", "attn_mask", "key_padding_mask", "src_mask", "src_key_padding_mask",
        "tgt_mask", "memory_mask", "tgt_key_padding_mask", "memory_key_padding_mask"};
    std::set<std::string> kiln_names, torch_names;
    nn::visit_parameters(m, [&](const std::string& name, auto& p) {
        kiln_names.insert(name);
        load(p.value(), values(label, name));
    });
    for (const auto& [name, v] : fixtures().at(label))
        if (!not_parameters.count(name) && !name.ends_with(".grad")) torch_names.insert(name);
    EXPECT_EQ(kiln_names, torch_names) << label;
}
template <class M>
void expect_parameter_grads(M& m, const std::string& label) {
    nn::visit_parameters(m, [&](const std::string& name, auto& p) { expect_matches(p.grad(), label, name + ".grad"); });
}

using attn_t = nn::multi_head_attention<E, H, cpu, double>;
using attn_opts = nn::attention_options<double, B, H, SQ, SK>;

/// One MultiheadAttention case: output, weights, gradients, the inference path, and (for
/// AverageHeads) forward() and the module call agreeing with forward_with_weights.
template <bool AverageHeads = true, std::size_t KD = E, std::size_t VD = E>
void mha_case(const std::string& label, const attn_opts& o) {
    nn::multi_head_attention<E, H, cpu, double, KD, VD> attn;
    load_parameters(attn, label);
    var<double, shape<B, SQ, E>> q;
    var<double, shape<B, SK, KD>> k;
    var<double, shape<B, SK, VD>> v;
    load(q.value(), values(label, "q"));
    load(k.value(), values(label, "k"));
    load(v.value(), values(label, "v"));
    auto [y, w] = attn.template forward_with_weights<AverageHeads>(q, k, v, o);
    expect_matches(y.value(), label, "y");
    expect_matches(w.value(), label, "w");
    backward(y, fixture_tensor<tensor<double, shape<B, SQ, E>>>(label, "seed"));
    expect_matches(q.grad(), label, "q.grad");
    expect_matches(k.grad(), label, "k.grad");
    expect_matches(v.grad(), label, "v.grad");
    expect_parameter_grads(attn, label);

    auto [yv, wv] = attn.template forward_with_weights<AverageHeads>(q.value(), k.value(), v.value(), o, nn::use_values{});
    static_assert(!ad_expression<decltype(yv)> && !ad_expression<decltype(wv)>, "use_values builds no graph");
    expect_matches(yv, label, "y");
    expect_matches(wv, label, "w");
    if constexpr (AverageHeads && KD == E && VD == E) {
        expect_matches(attn.forward(q, k, v, o).value(), label, "y");
        expect_matches(attn(q, k, v, o).value(), label, "y");
        expect_matches(attn.forward(q.value(), k.value(), v.value(), o, nn::use_values{}), label, "y");
    }
}

template <class Shape>
tensor<bool, Shape> bool_mask(const std::string& label, const std::string& name) {
    return fixture_tensor<tensor<bool, Shape>>(label, name);
}
template <class Shape>
tensor<double, Shape> float_mask(const std::string& label, const std::string& name) {
    return fixture_tensor<tensor<double, Shape>>(label, name);
}

}  // namespace

TEST(AttentionOptions, SeparateKeyAndValue) { mha_case("mha_separate_kv", {}); }

TEST(AttentionOptions, BooleanAndAdditiveMasks) {
    const auto bm = bool_mask<shape<SQ, SK>>("mha_bool_mask", "attn_mask");
    mha_case("mha_bool_mask", {.attn_mask = &bm});
    const auto fm = float_mask<shape<SQ, SK>>("mha_float_mask", "attn_mask");
    mha_case("mha_float_mask", {.attn_mask = fm});  // a reference works as well as a pointer
    const auto bm3 = bool_mask<shape<B * H, SQ, SK>>("mha_bool_mask_3d", "attn_mask");
    mha_case("mha_bool_mask_3d", {.attn_mask = &bm3});
}

TEST(AttentionOptions, KeyPaddingMask) {
    const auto pad = bool_mask<shape<B, SK>>("mha_key_padding", "key_padding_mask");
    mha_case("mha_key_padding", {.key_padding_mask = &pad});
    const auto bm = bool_mask<shape<SQ, SK>>("mha_bool_mask_padding", "attn_mask");
    const auto pad2 = bool_mask<shape<B, SK>>("mha_bool_mask_padding", "key_padding_mask");
    mha_case("mha_bool_mask_padding", {.attn_mask = &bm, .key_padding_mask = &pad2});
    const auto fm = float_mask<shape<SQ, SK>>("mha_float_mask_padding", "attn_mask");
    const auto pad3 = bool_mask<shape<B, SK>>("mha_float_mask_padding", "key_padding_mask");
    mha_case("mha_float_mask_padding", {.attn_mask = &fm, .key_padding_mask = &pad3});
    const auto fm3 = float_mask<shape<B * H, SQ, SK>>("mha_float_mask_3d_padding", "attn_mask");
    const auto pad4 = bool_mask<shape<B, SK>>("mha_float_mask_3d_padding", "key_padding_mask");
    mha_case("mha_float_mask_3d_padding", {.attn_mask = &fm3, .key_padding_mask = &pad4});
}

TEST(AttentionOptions, PerHeadWeightsAndKdimVdim) {
    const auto pad = bool_mask<shape<B, SK>>("mha_per_head_weights", "key_padding_mask");
    mha_case<false>("mha_per_head_weights", {.key_padding_mask = &pad});
    const auto pad2 = bool_mask<shape<B, SK>>("mha_kdim_vdim", "key_padding_mask");
    mha_case<true, 5, 6>("mha_kdim_vdim", {.key_padding_mask = &pad2});
    using mha56 = nn::multi_head_attention<E, H, cpu, double, 5, 6>;
    EXPECT_EQ(nn::parameter_count(*std::make_unique<mha56>()), mha56::parameters);
    EXPECT_EQ(mha56::parameters, std::size_t(8 * 8 + 8 * 5 + 8 * 6 + 24 + 8 * 8 + 8));
}

TEST(AttentionOptions, MaskedGradientsAgainstCentralDifferences) {
    generator g{5};
    attn_t attn(g);
    param<double, shape<B, SQ, E>> q{uniform<double, shape<B, SQ, E>>(g, -1.0, 1.0)};
    param<double, shape<B, SK, E>> k{uniform<double, shape<B, SK, E>>(g, -1.0, 1.0)};
    param<double, shape<B, SK, E>> v{uniform<double, shape<B, SK, E>>(g, -1.0, 1.0)};
    const auto w = uniform<double, shape<B, SQ, E>>(g, 0.5, 1.5);
    const auto ww = uniform<double, shape<B, SQ, SK>>(g, 0.5, 1.5);
    tensor<bool, shape<SQ, SK>> bm{{false, true, false, true}, {false, false, true, true}, {true, false, false, false}};
    tensor<bool, shape<B, SK>> pad{{false, false, false, true}, {false, true, false, false}};
    tensor<double, shape<B * H, SQ, SK>> fm3 = uniform<double, shape<B * H, SQ, SK>>(g, -2.0, 1.0);
    EXPECT_GRADS([&](auto& a, auto& b, auto& c) { return sum(attn(a, b, c, {.attn_mask = &bm, .key_padding_mask = &pad}) * w); },
                 q, k, v);
    EXPECT_GRADS([&](auto& a, auto& b, auto& c) { return sum(attn(a, b, c, {.attn_mask = &fm3, .key_padding_mask = &pad}) * w); },
                 q, k, v);
    EXPECT_GRADS(
        [&](auto&) {
            auto [y, weights] = attn.forward_with_weights(q, k, v, {.attn_mask = &bm});
            return sum(y * w) + sum(weights * ww);
        },
        attn.in_proj_weight);
}

TEST(AttentionOptions, FullyMaskedRowsAttendToNothing) {
    // torch gives nan for a query whose every key is masked; kiln gives that row attention
    // weights 0, so its output is out_proj.bias and no gradient flows through its scores.
    generator g{6};
    attn_t attn(g);
    attn.out_proj.bias.value() = uniform<double, shape<E>>(g, -1.0, 1.0);
    param<double, shape<B, SQ, E>> q{uniform<double, shape<B, SQ, E>>(g, -1.0, 1.0)};
    param<double, shape<B, SK, E>> kv{uniform<double, shape<B, SK, E>>(g, -1.0, 1.0)};
    tensor<bool, shape<SQ, SK>> bm{{false, true, false, true}, {true, true, true, true}, {false, false, false, false}};
    tensor<bool, shape<B, SK>> pad{{false, false, false, false}, {true, true, true, true}};  // batch 1: all padding
    tensor<double, shape<SQ, SK>> fm = where(bm, -std::numeric_limits<double>::infinity(), 0.0);
    auto check = [&](const auto& y, const auto& w) {
        for (std::size_t b = 0; b < B; ++b)
            for (std::size_t i = 0; i < SQ; ++i) {
                const bool empty = b == 1 || i == 1;
                double wsum = 0;
                for (std::size_t j = 0; j < SK; ++j) wsum += w(b, i, j);
                EXPECT_NEAR(wsum, empty ? 0.0 : 1.0, 1e-12) << b << " " << i;
                for (std::size_t e = 0; e < E; ++e) {
                    EXPECT_TRUE(std::isfinite(y(b, i, e)));
                    if (empty) {
                        EXPECT_DOUBLE_EQ(y(b, i, e), attn.out_proj.bias.value()(e));
                    }
                }
            }
    };
    {
        auto [y, w] = attn.forward_with_weights(q, kv, kv, {.attn_mask = &bm, .key_padding_mask = &pad});
        check(y.value(), w.value());
        backward(sum(y * y));
        for (std::size_t e = 0; e < E; ++e) {
            EXPECT_EQ(q.grad()(0, 1, e), 0.0);  // the masked query's scores get no gradient
            EXPECT_TRUE(std::isfinite(q.grad()(0, 0, e)) && q.grad()(0, 0, e) != 0.0);
            EXPECT_EQ(q.grad()(1, 0, e), 0.0);
        }
    }
    auto [yv, wv] = attn.forward_with_weights(q.value(), kv.value(), kv.value(), {.attn_mask = &fm, .key_padding_mask = &pad},
                                              nn::use_values{});  // additive -inf: the same
    check(yv, wv);
    EXPECT_GRADS([&](auto& a, auto& b) { return sum(attn(a, b, b, {.attn_mask = &bm, .key_padding_mask = &pad})); }, q, kv);
}

TEST(AttentionOptions, OlderSpellingsStillMeanTheSame) {
    generator g{7};
    attn_t attn(g);
    param<double, shape<B, SQ, E>> q{uniform<double, shape<B, SQ, E>>(g, -1.0, 1.0)};
    param<double, shape<B, SQ, E>> kv{uniform<double, shape<B, SQ, E>>(g, -1.0, 1.0)};
    const auto causal = nn::causal_mask<SQ, double>();
    const auto old_style = attn.forward(q, kv, nn::use_params{}, &causal);
    const auto new_style = attn(q, kv, kv, {.attn_mask = &causal});
    EXPECT_LT(max(abs(old_style.value() - new_style.value())).item(), 1e-15);
    const auto plain = attn.forward(q.value(), kv.value(), nn::use_values{}, &causal);
    EXPECT_LT(max(abs(plain - new_style.value())).item(), 1e-15);
    EXPECT_LT(max(abs(attn.predict(q.value(), kv.value(), kv.value()) - attn.forward(q, kv).value())).item(), 1e-15);
}

namespace {
using enc_t = nn::transformer_encoder_layer<E, H, FF, cpu, double>;
using enc_gelu_t = nn::transformer_encoder_layer<E, H, FF, double, nn::gelu, nn::norm_first>;
using enc_opts = nn::encoder_options<double, B, H, SK>;

template <class Layer>
void encoder_case(const std::string& label, Layer& enc, const enc_opts& o) {
    enc.train(false);
    load_parameters(enc, label);
    var<double, shape<B, SK, E>> x;
    load(x.value(), values(label, "x"));
    auto y = enc(x, o);
    expect_matches(y.value(), label, "y");
    backward(y, fixture_tensor<tensor<double, shape<B, SK, E>>>(label, "seed"));
    expect_matches(x.grad(), label, "x.grad");
    expect_parameter_grads(enc, label);
    auto plain = enc.forward(x.value(), o, nn::use_values{});
    static_assert(!ad_expression<decltype(plain)>, "use_values builds no graph");
    expect_matches(plain, label, "y");
}
}  // namespace

TEST(AttentionOptions, EncoderLayerAgainstTorch) {
    enc_t plain_layer;
    encoder_case("encoder_default", plain_layer, {});
    expect_matches(plain_layer.predict(fixture_tensor<tensor<double, shape<B, SK, E>>>("encoder_default", "x")),
                   "encoder_default", "y");
    enc_t masked;
    const auto m = bool_mask<shape<SK, SK>>("encoder_masks", "src_mask");
    const auto pad = bool_mask<shape<B, SK>>("encoder_masks", "src_key_padding_mask");
    encoder_case("encoder_masks", masked, {.src_mask = &m, .src_key_padding_mask = &pad});
    enc_t additive;
    const auto fm = float_mask<shape<SK, SK>>("encoder_float_mask", "src_mask");
    encoder_case("encoder_float_mask", additive, {.src_mask = &fm});
    enc_gelu_t pre({.dropout = 0.0f, .layer_norm_eps = 1e-3});
    const auto m2 = bool_mask<shape<SK, SK>>("encoder_norm_first_gelu", "src_mask");
    const auto pad2 = bool_mask<shape<B, SK>>("encoder_norm_first_gelu", "src_key_padding_mask");
    encoder_case("encoder_norm_first_gelu", pre, {.src_mask = &m2, .src_key_padding_mask = &pad2});
}

namespace {
using dec_t = nn::transformer_decoder_layer<E, H, FF, cpu, double>;
using dec_gelu_t = nn::transformer_decoder_layer<E, H, FF, nn::norm_first, nn::gelu, double>;
using dec_opts = nn::decoder_options<double, B, H, SQ, SK>;

template <class Layer>
void decoder_case(const std::string& label, Layer& dec, const dec_opts& o) {
    dec.train(false);
    load_parameters(dec, label);
    var<double, shape<B, SQ, E>> x;
    var<double, shape<B, SK, E>> mem;
    load(x.value(), values(label, "x"));
    load(mem.value(), values(label, "mem"));
    auto y = dec(x, mem, o);
    expect_matches(y.value(), label, "y");
    backward(y, fixture_tensor<tensor<double, shape<B, SQ, E>>>(label, "seed"));
    expect_matches(x.grad(), label, "x.grad");
    expect_matches(mem.grad(), label, "mem.grad");
    expect_parameter_grads(dec, label);
    auto plain = dec.forward(x.value(), mem.value(), o, nn::use_values{});
    static_assert(!ad_expression<decltype(plain)>, "use_values builds no graph");
    expect_matches(plain, label, "y");
}
struct decoder_masks {
    tensor<bool, shape<SQ, SQ>> tgt;
    tensor<double, shape<SQ, SK>> memory;
    tensor<bool, shape<B, SQ>> tgt_pad;
    tensor<bool, shape<B, SK>> memory_pad;
    explicit decoder_masks(const std::string& label)
        : tgt(bool_mask<shape<SQ, SQ>>(label, "tgt_mask")),
          memory(float_mask<shape<SQ, SK>>(label, "memory_mask")),
          tgt_pad(bool_mask<shape<B, SQ>>(label, "tgt_key_padding_mask")),
          memory_pad(bool_mask<shape<B, SK>>(label, "memory_key_padding_mask")) {}
    dec_opts options() const {
        return {.tgt_mask = &tgt, .memory_mask = &memory, .tgt_key_padding_mask = &tgt_pad, .memory_key_padding_mask = &memory_pad};
    }
};
}  // namespace

TEST(AttentionOptions, DecoderLayerAgainstTorch) {
    dec_t plain_layer;
    decoder_case("decoder_default", plain_layer, {});
    dec_t masked;
    decoder_masks m("decoder_masks");
    decoder_case("decoder_masks", masked, m.options());
    dec_gelu_t pre({.dropout = 0.0f, .layer_norm_eps = 1e-3});
    decoder_masks m2("decoder_norm_first_gelu");
    decoder_case("decoder_norm_first_gelu", pre, m2.options());
}

TEST(AttentionOptions, LayerGradientsAgainstCentralDifferences) {
    generator g{8};
    manual_seed(8);
    enc_gelu_t enc({.layer_norm_eps = 1e-3});
    dec_gelu_t dec;
    enc.train(false);
    dec.train(false);
    param<double, shape<B, SK, E>> x{uniform<double, shape<B, SK, E>>(g, -1.0, 1.0)};
    param<double, shape<B, SQ, E>> t{uniform<double, shape<B, SQ, E>>(g, -1.0, 1.0)};
    const auto w = uniform<double, shape<B, SK, E>>(g, 0.5, 1.5);
    const auto wt = uniform<double, shape<B, SQ, E>>(g, 0.5, 1.5);
    tensor<bool, shape<SK, SK>> m{{false, true, false, false}, {false, false, true, false}, {false, false, false, true}, {true, false, false, false}};
    tensor<bool, shape<B, SK>> pad{{false, false, false, true}, {false, false, true, true}};
    const auto causal = nn::causal_mask<SQ, double>();
    EXPECT_GRADS([&](auto& in) { return sum(enc(in, {.src_mask = &m, .src_key_padding_mask = &pad}) * w); }, x);
    EXPECT_GRADS([&](auto&) { return sum(enc(x, {.src_mask = &m}) * w); }, enc.linear1.weight);
    EXPECT_GRADS(
        [&](auto& in, auto& mem) {
            auto h = enc(mem, {.src_key_padding_mask = &pad});  // named intermediates are fine
            return sum(dec(in, h, {.tgt_mask = &causal, .memory_key_padding_mask = &pad}) * wt);
        },
        t, x);
}

TEST(AttentionOptions, TransformerOptionsAndDefaults) {
    static_assert(enc_gelu_t::norm_first && !enc_t::norm_first);
    static_assert(std::is_same_v<enc_gelu_t::activation_type, nn::gelu> && std::is_same_v<enc_t::activation_type, nn::relu>);
    static_assert(std::is_same_v<enc_gelu_t::T, double> && std::is_same_v<enc_gelu_t::D, cpu>);
    static_assert(std::is_same_v<nn::transformer_encoder_layer<E, H, FF>::T, float>);
    enc_t defaults;
    EXPECT_FLOAT_EQ(defaults.dropout1.p, 0.1f);
    EXPECT_DOUBLE_EQ(defaults.norm1.eps, 1e-5);
    dec_t custom({.dropout = 0.25f, .layer_norm_eps = 1e-6});
    EXPECT_FLOAT_EQ(custom.dropout3.p, 0.25f);
    EXPECT_FLOAT_EQ(custom.dropout_ff.p, 0.25f);
    EXPECT_DOUBLE_EQ(custom.norm3.eps, 1e-6);
    EXPECT_EQ(nn::parameter_count(custom), dec_t::parameters);
    // The older spellings: forward(x, a, &mask) / forward(x, memory, a, &tgt_mask).
    defaults.train(false);
    custom.train(false);
    generator g{9};
    const auto x = uniform<double, shape<B, SQ, E>>(g, -1.0, 1.0);
    const auto mem = uniform<double, shape<B, SK, E>>(g, -1.0, 1.0);
    const auto causal = nn::causal_mask<SQ, double>();
    EXPECT_LT(max(abs(defaults.forward(x, nn::use_values{}, &causal) - defaults(x, {.src_mask = &causal}).value())).item(), 1e-14);
    EXPECT_LT(max(abs(custom.forward(x, mem, nn::use_values{}, &causal) - custom(x, mem, {.tgt_mask = causal}).value())).item(),
              1e-14);
    EXPECT_LT(max(abs(custom.predict(x, mem) - custom(x, mem).value())).item(), 1e-14);
}

TEST(AttentionOptions, ZZReportMaxErrorAgainstTorch) {
    std::printf("max |kiln - torch| over all attention fixtures: %.3g\n", max_error_seen);
    EXPECT_LT(max_error_seen, 1e-10);
}
