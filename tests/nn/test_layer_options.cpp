// torch.nn's layer options as kiln template arguments: bias=False (linear, conv2d), non-square
// kernel/stride/padding/dilation, groups (2 and depthwise), ceil_mode pooling. Forward values
// and gradients against torch (make_fixtures.py wrote fixtures/torch_layer_options.txt, in
// float64), central differences, parameter names and counts, and dropout's constructor.
#include <kiln/autodiff/gradcheck.hpp>
#include <kiln/kiln.hpp>
#include <kiln/nn/activation.hpp>
#include <kiln/nn/conv.hpp>
#include <kiln/nn/dropout.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/nn/sequential.hpp>

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace kiln;

namespace {

using record = kiln::test::fixture_record;

/// label -> tensor name -> values, from fixtures/torch_layer_options.txt.
const std::map<std::string, record>& fixtures() {
    static const std::map<std::string, record> all =
        kiln::test::read_fixture_records((std::filesystem::path(__FILE__).parent_path() / "fixtures" / "torch_layer_options.txt").string());
    return all;
}

const std::vector<double>& values(const std::string& label, const std::string& name) {
    static const std::vector<double> none;
    const auto c = fixtures().find(label);
    if (c == fixtures().end()) {
        ADD_FAILURE() << "no fixture case " << label;
        return none;
    }
    const auto t = c->second.find(name);
    if (t == c->second.end()) {
        ADD_FAILURE() << label << ": no tensor " << name;
        return none;
    }
    return t->second;
}

template <class Tensor>
void load(Tensor& t, const std::vector<double>& v) {
    ASSERT_EQ(v.size(), Tensor::size);
    for (std::size_t i = 0; i < v.size(); ++i) t[i] = static_cast<typename Tensor::value_type>(v[i]);
}

/// max over elements of |got - ref| / max(1, |ref|)
template <class Tensor>
double max_error(const Tensor& t, const std::vector<double>& ref) {
    EXPECT_EQ(ref.size(), Tensor::size);
    double e = 0;
    for (std::size_t i = 0; i < std::min<std::size_t>(ref.size(), Tensor::size); ++i) {
        const double d = std::fabs(static_cast<double>(t[i]) - ref[i]) / std::max(1.0, std::fabs(ref[i]));
        e = std::isnan(d) ? INFINITY : std::max(e, d);
    }
    return e;
}

template <class L>
concept has_weight = requires(L& l) { l.weight; };
template <class L>
concept has_bias_member = requires(L& l) { l.bias; };

/// Runs `layer` on the fixture's x with its weight and bias, backpropagates sum(y * seed) and
/// compares y and every gradient with torch's; returns the largest error seen.
template <class T, class XS, class Layer>
double check_against_torch(const std::string& label, Layer layer, double tol) {
    param<T, XS> x;
    load(x.value(), values(label, "x"));
    if constexpr (has_weight<Layer>) {
        load(layer.weight.value(), values(label, "weight"));
        layer.weight.zero_grad();
        if constexpr (Layer::has_bias) {
            load(layer.bias.value(), values(label, "bias"));
            layer.bias.zero_grad();
        }
    }
    x.zero_grad();
    auto y = layer.forward(x);
    using YS = typename decltype(y)::shape_type;
    tensor<T, YS> seed;
    load(seed, values(label, "seed"));
    auto l = sum(y * seed);
    backward(l);
    double worst = 0;
    auto expect = [&](const auto& t, const std::string& name) {
        const double e = max_error(t, values(label, name));
        EXPECT_LE(e, tol) << label << ": " << name;
        worst = std::max(worst, e);
    };
    expect(y.value(), "y");
    expect(x.grad(), "x.grad");
    if constexpr (has_weight<Layer>) {
        expect(layer.weight.grad(), "weight.grad");
        if constexpr (Layer::has_bias) expect(layer.bias.grad(), "bias.grad");
    }
    // Inference (plain tensors, no graph) computes the same values.
    EXPECT_LE(max_error(layer.forward(x.value(), nn::use_values{}), values(label, "y")), tol) << label << ": predict";
    return worst;
}

/// Every fixture case in value type T; prints the largest error against torch per case.
template <class T>
void all_cases(double tol) {
    const char* type = sizeof(T) == 8 ? "double" : "float";
    auto run = [&](const char* label, double e) { std::printf("[torch] %-30s %-6s max error %.3g\n", label, type, e); };
    run("linear_no_bias", check_against_torch<T, shape<4, 5>>("linear_no_bias", nn::linear<5, 3, T, nn::no_bias>{}, tol));
    run("linear_no_bias_3d",
        check_against_torch<T, shape<2, 3, 4>>("linear_no_bias_3d", nn::linear<4, 6, nn::no_bias, T>{}, tol));
    run("conv_no_bias",
        check_against_torch<T, shape<2, 2, 5, 6>>("conv_no_bias", nn::conv2d<2, 3, 3, 1, 1, 1, T, nn::no_bias>{}, tol));
    run("conv_nonsquare", check_against_torch<T, shape<2, 3, 7, 9>>(
                              "conv_nonsquare", nn::conv2d<3, 4, hw{3, 5}, hw{1, 2}, hw{1, 2}, 1, cpu, T>{}, tol));
    run("conv_nonsquare_dilated",
        check_against_torch<T, shape<1, 2, 8, 7>>("conv_nonsquare_dilated",
                                                  nn::conv2d<2, 3, hw{2, 3}, hw{2, 1}, hw{0, 2}, hw{2, 1}, T>{}, tol));
    run("conv_groups2", check_against_torch<T, shape<2, 4, 5, 5>>(
                            "conv_groups2", nn::conv2d<4, 6, 3, 1, 1, 1, T, nn::groups<2>>{}, tol));
    run("conv_groups2_batched",
        check_against_torch<T, shape<5, 4, 3, 3>>(
            "conv_groups2_batched", nn::conv2d<4, 6, hw{2, 1}, 1, 0, 1, nn::groups<2>, nn::no_bias, T>{}, tol));
    run("conv_groups2_1x1", check_against_torch<T, shape<3, 4, 4, 4>>(
                                "conv_groups2_1x1", nn::conv2d<4, 6, 1, 1, 0, 1, T, nn::groups<2>>{}, tol));
    run("conv_depthwise", check_against_torch<T, shape<2, 4, 6, 6>>(
                              "conv_depthwise", nn::conv2d<4, 4, 3, 2, 1, 1, T, nn::groups<4>>{}, tol));
    run("conv_depthwise_x2_nonsquare",
        check_against_torch<T, shape<2, 3, 5, 7>>(
            "conv_depthwise_x2_nonsquare",
            nn::conv2d<3, 6, hw{3, 1}, hw{1, 2}, hw{1, 0}, 1, T, nn::groups<3>, nn::no_bias>{}, tol));
    run("max_pool_ceil",
        check_against_torch<T, shape<2, 2, 8, 10>>("max_pool_ceil", nn::max_pool2d<3, 2, 1, nn::ceil_mode>{}, tol));
    run("max_pool_ceil_nonsquare",
        check_against_torch<T, shape<1, 2, 5, 8>>("max_pool_ceil_nonsquare",
                                                  nn::max_pool2d<hw{2, 3}, hw{2, 2}, 0, nn::ceil_mode>{}, tol));
    run("max_pool_ceil_dilated",
        check_against_torch<T, shape<1, 2, 8, 9>>(
            "max_pool_ceil_dilated",
            nn::max_pool2d<hw{3, 2}, hw{2, 3}, hw{1, 1}, nn::dilation<hw{2, 1}>, nn::ceil_mode>{}, tol));
    run("avg_pool_ceil",
        check_against_torch<T, shape<2, 2, 8, 10>>("avg_pool_ceil", nn::avg_pool2d<3, 2, 1, nn::ceil_mode>{}, tol));
    run("avg_pool_ceil_exclude_pad",
        check_against_torch<T, shape<2, 2, 8, 10>>("avg_pool_ceil_exclude_pad",
                                                  nn::avg_pool2d<3, 2, 1, false, nn::ceil_mode>{}, tol));
    run("avg_pool_ceil_nonsquare",
        check_against_torch<T, shape<1, 2, 5, 8>>("avg_pool_ceil_nonsquare",
                                                  nn::avg_pool2d<hw{2, 3}, hw{2, 2}, hw{1, 0}, nn::ceil_mode>{}, tol));
    run("avg_pool_nonsquare", check_against_torch<T, shape<1, 2, 5, 6>>(
                                  "avg_pool_nonsquare", nn::avg_pool2d<hw{3, 2}, hw{1, 2}, hw{1, 1}>{}, tol));
}

template <class S>
param<double, S> random_input(std::uint64_t seed) {
    generator g(seed);
    return param<double, S>(uniform<double, S>(g, -1.0, 1.0));
}

}  // namespace

TEST(LayerOptions, MatchTorchInDouble) { all_cases<double>(1e-12); }
TEST(LayerOptions, MatchTorchInFloat) { all_cases<float>(1e-5); }

TEST(LayerOptions, ShapesFollowTorch) {
    using x_t = tensor<float, shape<2, 4, 7, 9>>;
    using conv = nn::conv2d<4, 8, hw{3, 5}, hw{1, 2}, hw{1, 2}, 1, nn::groups<2>, nn::no_bias>;
    static_assert(std::is_same_v<std::remove_cvref_t<decltype(std::declval<conv&>().weight.value())>::shape_type,
                                 shape<8, 2, 3, 5>>);
    static_assert(std::is_same_v<decltype(std::declval<conv&>().forward(std::declval<x_t>(), nn::use_values{}))::shape_type,
                                 shape<2, 8, 7, 5>>);
    // ceil_mode: H 8 -> 5 (floor: 4), W 10 -> 6 (floor: 5) with k 3, s 2, p 1; the rule that
    // drops a last window starting in the right padding: H 5, k 2, s 2, p 1 -> 3, not 4.
    using x8_t = tensor<float, shape<2, 4, 8, 10>>;
    static_assert(std::is_same_v<decltype(nn::max_pool2d<3, 2, 1, nn::ceil_mode>{}.forward(std::declval<x8_t>()))::shape_type,
                                 shape<2, 4, 5, 6>>);
    static_assert(std::is_same_v<decltype(nn::max_pool2d<3, 2, 1>{}.forward(std::declval<x8_t>()))::shape_type,
                                 shape<2, 4, 4, 5>>);
    static_assert(std::is_same_v<decltype(nn::avg_pool2d<2, 2, 1, nn::ceil_mode>{}.forward(
                                     std::declval<tensor<float, shape<1, 1, 5, 5>>>()))::shape_type,
                                 shape<1, 1, 3, 3>>);
    // The square spellings are the same types as before.
    static_assert(std::is_same_v<nn::conv2d<3, 4, 3, 2, 1, 2, cpu, float>, nn::conv2d<3, 4, 3, 2, 1, 2>>);
    static_assert(std::is_same_v<nn::conv2d<3, 4, 3>, nn::conv2d<3, 4, hw{3, 3}, hw{1, 1}, hw{0, 0}, hw{1, 1}>>);
    static_assert(std::is_same_v<nn::linear<4, 8, cpu, float>, nn::linear<4, 8>>);
    static_assert(std::is_same_v<nn::linear<4, 8, double, nn::no_bias>, nn::linear<4, 8, nn::no_bias, cpu, double>>);
}

TEST(LayerOptions, BiasFalseHasNoBiasParameter) {
    auto names = [](auto& layer) {
        std::vector<std::string> n;
        layer.visit_parameters("", [&](const std::string& s, auto&) { n.push_back(s); });
        return n;
    };
    nn::linear<4, 8, nn::no_bias> lin;
    nn::linear<4, 8> lin_b;
    nn::conv2d<4, 8, 3, 1, 1, 1, nn::no_bias, nn::groups<2>> conv;
    nn::conv2d<4, 8, hw{3, 1}, 1, hw{1, 0}, 1, nn::groups<4>> conv_b;
    EXPECT_EQ(names(lin), std::vector<std::string>{"weight"});
    EXPECT_EQ(names(lin_b), (std::vector<std::string>{"weight", "bias"}));
    EXPECT_EQ(names(conv), std::vector<std::string>{"weight"});
    EXPECT_EQ(names(conv_b), (std::vector<std::string>{"weight", "bias"}));
    static_assert(!has_bias_member<decltype(lin)> && has_bias_member<decltype(lin_b)>);
    static_assert(!has_bias_member<decltype(conv)> && has_bias_member<decltype(conv_b)>);
    static_assert(decltype(lin)::parameters == 32 && decltype(lin_b)::parameters == 40);
    static_assert(decltype(conv)::parameters == 8 * 2 * 9 && decltype(conv_b)::parameters == 8 * 1 * 3 + 8);
    static_assert(decltype(conv)::flops<shape<1, 4, 5, 5>>() == 2 * 8 * 2 * 9 * 25);

    nn::sequential<nn::linear<4, 8, nn::no_bias>, nn::relu, nn::linear<8, 3>> model;
    std::vector<std::string> seq;
    std::size_t count = 0;
    nn::visit_parameters(model, [&](const std::string& s, auto& p) {
        seq.push_back(s);
        count += p.value().size;
    });
    EXPECT_EQ(seq, (std::vector<std::string>{"0.weight", "2.weight", "2.bias"}));  // torch's state_dict keys
    EXPECT_EQ(count, 4u * 8 + 8 * 3 + 3);
    static_assert(decltype(model)::parameters == 4 * 8 + 8 * 3 + 3);
}

TEST(LayerOptions, GradientsBiasFalse) {
    nn::linear<5, 3, double, nn::no_bias> lin;
    auto x = random_input<shape<4, 5>>(11);
    generator g(12);
    auto wl = uniform<double, shape<4, 3>>(g, 0.5, 1.5);
    EXPECT_GRADS([&](auto& in) { return sum(lin.forward(in) * wl); }, x);
    EXPECT_GRADS([&](auto&) { return sum(lin.forward(x.value()) * wl); }, lin.weight);

    nn::conv2d<2, 3, 3, 2, 1, 1, double, nn::no_bias> conv;
    auto xc = random_input<shape<2, 2, 6, 5>>(13);
    auto wc = uniform<double, shape<2, 3, 3, 3>>(g, 0.5, 1.5);
    EXPECT_GRADS([&](auto& in) { return sum(conv.forward(in) * wc); }, xc);
    EXPECT_GRADS([&](auto&) { return sum(conv.forward(xc.value()) * wc); }, conv.weight);
}

TEST(LayerOptions, GradientsNonSquareConv) {
    nn::conv2d<2, 3, hw{3, 5}, hw{1, 2}, hw{1, 2}, hw{2, 1}, double> conv;  // y [2, 3, 4, 4]
    auto x = random_input<shape<2, 2, 6, 8>>(21);
    generator g(22);
    auto w = uniform<double, shape<2, 3, 4, 4>>(g, 0.5, 1.5);
    EXPECT_GRADS([&](auto& in) { return sum(conv.forward(in) * w); }, x);
    EXPECT_GRADS([&](auto&) { return sum(conv.forward(x.value()) * w); }, conv.weight);
    EXPECT_GRADS([&](auto&) { return sum(conv.forward(x.value()) * w); }, conv.bias);
}

TEST(LayerOptions, GradientsGroups) {
    generator g(31);
    nn::conv2d<4, 6, 3, 1, 1, 1, double, nn::groups<2>> grouped;  // y [2, 6, 5, 4]
    auto x = random_input<shape<2, 4, 5, 4>>(32);
    auto w = uniform<double, shape<2, 6, 5, 4>>(g, 0.5, 1.5);
    EXPECT_GRADS([&](auto& in) { return sum(grouped.forward(in) * w); }, x);
    EXPECT_GRADS([&](auto&) { return sum(grouped.forward(x.value()) * w); }, grouped.weight);
    EXPECT_GRADS([&](auto&) { return sum(grouped.forward(x.value()) * w); }, grouped.bias);

    nn::conv2d<4, 8, hw{3, 2}, hw{2, 1}, hw{1, 0}, 1, double, nn::groups<4>> depthwise;  // y [2, 8, 3, 3]
    auto wd = uniform<double, shape<2, 8, 3, 3>>(g, 0.5, 1.5);
    EXPECT_GRADS([&](auto& in) { return sum(depthwise.forward(in) * wd); }, x);
    EXPECT_GRADS([&](auto&) { return sum(depthwise.forward(x.value()) * wd); }, depthwise.weight);
    EXPECT_GRADS([&](auto&) { return sum(depthwise.forward(x.value()) * wd); }, depthwise.bias);
}

TEST(LayerOptions, GradientsCeilModePooling) {
    generator g(41);
    auto x = random_input<shape<2, 2, 8, 10>>(42);
    auto wm = uniform<double, shape<2, 2, 5, 6>>(g, 0.5, 1.5);
    EXPECT_GRADS([&](auto& in) { return sum(nn::max_pool2d<3, 2, 1, nn::ceil_mode>{}.forward(in) * wm); }, x);
    EXPECT_GRADS([&](auto& in) { return sum(nn::avg_pool2d<3, 2, 1, nn::ceil_mode>{}.forward(in) * wm); }, x);
    EXPECT_GRADS([&](auto& in) { return sum(nn::avg_pool2d<3, 2, 1, false, nn::ceil_mode>{}.forward(in) * wm); }, x);
    auto wn = uniform<double, shape<2, 2, 4, 5>>(g, 0.5, 1.5);  // rows (8-2)/2+1 = 4, cols ceil((10-3)/2)+1 = 5
    EXPECT_GRADS([&](auto& in) { return sum(nn::max_pool2d<hw{2, 3}, 2, 0, nn::ceil_mode>{}.forward(in) * wn); }, x);
    EXPECT_GRADS([&](auto& in) { return sum(nn::avg_pool2d<hw{2, 3}, 2, 0, nn::ceil_mode>{}.forward(in) * wn); }, x);
}

TEST(LayerOptions, DropoutTakesP) {
    nn::dropout a{0.25};
    EXPECT_FLOAT_EQ(a.p, 0.25f);
    nn::dropout b;
    EXPECT_FLOAT_EQ(b.p, 0.5f);
    b.p = 0.1f;
    EXPECT_FLOAT_EQ(b.p, 0.1f);
    nn::dropout c{.p = 0.3f};
    EXPECT_FLOAT_EQ(c.p, 0.3f);
}

TEST(LayerOptions, GroupedKernelEqualsOneConvolutionPerGroup) {
    // Big enough for several chunks on the thread pool (P*Q = 256 per image) and, in the second
    // geometry, for several images per chunk. Each group's slice of x, w, y run through an
    // ungrouped convolution must give the grouped kernel's results bit for bit.
    namespace ck = cpu_kernels;
    for (const auto& full : {ck::conv2d_geometry{.N = 5, .C = 6, .H = 16, .W = 18, .K = 4, .R = 3, .S = 5, .stride_h = 1,
                                                 .stride_w = 1, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1, .groups = 2}
                                 .with_output(),
                             ck::conv2d_geometry{.N = 7, .C = 6, .H = 5, .W = 4, .K = 12, .R = 2, .S = 3, .stride_h = 1,
                                                 .stride_w = 2, .pad_h = 0, .pad_w = 1, .dil_h = 2, .dil_w = 1, .groups = 6}
                                 .with_output()}) {
        ASSERT_TRUE(full.valid());
        const std::size_t G = full.groups, cg = full.C / G, kg = full.K / G, hw_in = full.H * full.W,
                          pq = full.P * full.Q, rs = full.R * full.S;
        generator gen(51);
        auto draw = [&](std::size_t n) {
            std::vector<double> v(n);
            for (auto& e : v) e = gen.next_float() * 2 - 1;
            return v;
        };
        const auto x = draw(full.N * full.C * hw_in), w = draw(full.K * cg * rs), b = draw(full.K),
                   dy = draw(full.N * full.K * pq);
        std::vector<double> y(dy.size()), dx(x.size()), dw(w.size()), db(b.size());
        std::vector<double> ws(ck::conv2d_workspace_size(full));
        ck::conv2d_forward(full, x.data(), w.data(), b.data(), y.data(), ws.data());
        ck::conv2d_backward_data(full, dy.data(), w.data(), dx.data(), ws.data());
        ck::conv2d_backward_weight(full, x.data(), dy.data(), dw.data(), db.data(), ws.data());

        ck::conv2d_geometry one = full;
        one.C = cg;
        one.K = kg;
        one.groups = 1;
        std::vector<double> ws1(ck::conv2d_workspace_size(one));
        for (std::size_t g = 0; g < G; ++g) {
            std::vector<double> xg(full.N * cg * hw_in), dyg(full.N * kg * pq);
            for (std::size_t n = 0; n < full.N; ++n) {
                std::copy_n(x.begin() + std::ptrdiff_t((n * full.C + g * cg) * hw_in), cg * hw_in,
                            xg.begin() + std::ptrdiff_t(n * cg * hw_in));
                std::copy_n(dy.begin() + std::ptrdiff_t((n * full.K + g * kg) * pq), kg * pq,
                            dyg.begin() + std::ptrdiff_t(n * kg * pq));
            }
            const double* wg = w.data() + g * kg * cg * rs;
            std::vector<double> yg(dyg.size()), dxg(xg.size()), dwg(kg * cg * rs), dbg(kg);
            ck::conv2d_forward(one, xg.data(), wg, b.data() + g * kg, yg.data(), ws1.data());
            ck::conv2d_backward_data(one, dyg.data(), wg, dxg.data(), ws1.data());
            ck::conv2d_backward_weight(one, xg.data(), dyg.data(), dwg.data(), dbg.data(), ws1.data());
            for (std::size_t n = 0; n < full.N; ++n) {
                for (std::size_t i = 0; i < kg * pq; ++i)
                    ASSERT_EQ(y[(n * full.K + g * kg) * pq + i], yg[n * kg * pq + i]) << "y, group " << g;
                for (std::size_t i = 0; i < cg * hw_in; ++i)
                    ASSERT_EQ(dx[(n * full.C + g * cg) * hw_in + i], dxg[n * cg * hw_in + i]) << "dx, group " << g;
            }
            for (std::size_t i = 0; i < dwg.size(); ++i) ASSERT_EQ(dw[g * kg * cg * rs + i], dwg[i]) << "dw, group " << g;
            for (std::size_t i = 0; i < kg; ++i) ASSERT_EQ(db[g * kg + i], dbg[i]) << "dbias, group " << g;
        }
    }
}
