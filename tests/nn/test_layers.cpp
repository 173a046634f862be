// Every layer through one generic checker: gradients of its parameters and its input against
// float64 central differences, plus forward values against hand-computed references.
#include <kiln/autodiff/gradcheck.hpp>
#include <kiln/kiln.hpp>
#include <kiln/loss/loss.hpp>
#include <kiln/nn/activation.hpp>
#include <kiln/nn/dropout.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/nn/norm.hpp>
#include <kiln/nn/sequential.hpp>

#include <gtest/gtest.h>

using namespace kiln;

namespace {
/// Checks d sum(layer(x) * w) / d(params, x) for a layer of double parameters.
template <class L, class S>
void check_layer(L& layer, std::uint64_t seed = 1) {
    generator g(seed);
    param<double, S> x(uniform<double, S>(g, -1.0, 1.0));
    using Out = typename decltype(layer.forward(x.value(), nn::use_values{}))::shape_type;
    auto w = uniform<double, Out>(g, 0.5, 1.5);
    auto f = [&](auto& in) { return sum(layer.forward(in) * w); };
    auto r = check_gradients(f, x);
    EXPECT_TRUE(r.ok) << "input: " << r.max_error << " at " << r.worst;
    std::size_t k = 0;
    nn::visit_parameters(layer, [&](const std::string& name, auto& p) {
        auto rp = check_gradients([&](auto&) { return sum(layer.forward(x.value()) * w); }, p);
        EXPECT_TRUE(rp.ok) << name << ": " << rp.max_error << " at " << rp.worst;
        ++k;
    });
}
}  // namespace

TEST(Layers, LinearMatchesHandComputation) {
    nn::linear<3, 2> l;
    l.weight.value() = tensor<float, shape<2, 3>>{{1, 2, 3}, {4, 5, 6}};
    l.bias.value() = tensor<float, shape<2>>{0.5f, -1};
    tensor<float, shape<1, 3>> x{{1, 0, -1}};
    auto y = l.forward(x, nn::use_values{});
    EXPECT_FLOAT_EQ(y(0, 0), 1 - 3 + 0.5f);
    EXPECT_FLOAT_EQ(y(0, 1), 4 - 6 - 1);
    // torch's default init: U(-1/sqrt(in), 1/sqrt(in))
    nn::linear<100, 50> big;
    for (float v : big.weight.value()) EXPECT_LE(std::fabs(v), 0.1f);
}

TEST(Layers, GradientsOfEveryLayer) {
    nn::linear<5, 4, cpu, double> lin;
    check_layer<decltype(lin), shape<3, 5>>(lin);
    nn::linear<5, 4, cpu, double> lin3;
    check_layer<decltype(lin3), shape<2, 3, 5>>(lin3);
    nn::relu r;
    check_layer<decltype(r), shape<3, 5>>(r);
    nn::gelu ge;
    check_layer<decltype(ge), shape<3, 5>>(ge);
    nn::leaky_relu lr;
    check_layer<decltype(lr), shape<3, 5>>(lr);
    nn::softmax_layer<> sm;
    check_layer<decltype(sm), shape<3, 5>>(sm);
    nn::log_softmax_layer<> lsm;
    check_layer<decltype(lsm), shape<3, 5>>(lsm);
    nn::flatten<> fl;
    check_layer<decltype(fl), shape<2, 3, 4>>(fl);
    nn::layer_norm<5, cpu, double> ln;
    ln.weight.value() = tensor<double, shape<5>>{1, 2, 3, 0.5, -1};
    check_layer<decltype(ln), shape<3, 5>>(ln);
    nn::batch_norm<3, cpu, double> bn;
    bn.weight.value() = tensor<double, shape<3>>{1, 2, 0.5};
    check_layer<decltype(bn), shape<4, 3, 2, 2>>(bn);
    check_layer<decltype(bn), shape<6, 3>>(bn);
    bn.train(false);
    check_layer<decltype(bn), shape<4, 3, 2, 2>>(bn);
}

TEST(Layers, BatchNormRunningStatistics) {
    nn::batch_norm<2> bn;
    tensor<float, shape<4, 2>> x{{1, 10}, {2, 20}, {3, 30}, {4, 40}};
    auto y = eval(bn.forward(x, nn::use_params{}).value());
    EXPECT_NEAR(sum<0>(y)[0], 0.0, 1e-5);                               // normalised per channel
    EXPECT_NEAR(bn.running_mean[0], 0.1 * 2.5, 1e-6);                    // momentum 0.1
    EXPECT_NEAR(bn.running_var[1], 0.9 + 0.1 * (500.0 / 3.0), 1e-3);     // unbiased variance
    EXPECT_EQ(bn.num_batches_tracked[0], 1);
    bn.train(false);
    auto z = bn.forward(x, nn::use_values{});
    EXPECT_NEAR(z(0, 0), (1 - 0.25) / std::sqrt(0.9 + 0.1 * (5.0 / 3.0) + 1e-5), 1e-5);
}

TEST(Layers, DropoutTrainAndEval) {
    nn::dropout d{0.25f};
    auto x = ones<float, shape<1000>>();
    param<float, shape<1000>> px(x);
    auto y = d.forward(px);
    std::size_t zeros = 0;
    for (float v : y.value()) {
        EXPECT_TRUE(v == 0.f || std::fabs(v - 1 / 0.75f) < 1e-6);
        zeros += v == 0.f;
    }
    EXPECT_NEAR(double(zeros) / 1000, 0.25, 0.05);
    d.train(false);
    auto z = d.forward(px);
    for (float v : z.value()) EXPECT_EQ(v, 1.f);
}

TEST(Layers, SequentialNamesShapesAndTraining) {
    manual_seed(1);
    nn::sequential<nn::linear<4, 8>, nn::relu, nn::linear<8, 3>> model;
    static_assert(std::is_same_v<nn::output_shape_t<decltype(model), shape<5, 4>>, shape<5, 3>>);
    std::vector<std::string> names;
    nn::visit_parameters(model, [&](const std::string& n, auto&) { names.push_back(n); });
    EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
    EXPECT_EQ(nn::parameter_count(model), 4u * 8 + 8 + 8 * 3 + 3);
    static_assert(decltype(model)::parameters == 4 * 8 + 8 + 8 * 3 + 3);
    static_assert(decltype(model)::flops<shape<5, 4>>() == 2 * 5 * (4 * 8 + 8 * 3));
    generator g(3);
    auto x = rand<float, shape<5, 4>>(g);
    tensor<int, shape<5>> y{0, 1, 2, 1, 0};
    float first = 0, last = 0;
    for (int it = 0; it < 100; ++it) {
        auto out = model(x);
        auto l = loss::cross_entropy(out, y);
        nn::zero_grad(model);
        backward(l);
        (it == 0 ? first : last) = l.value().item();
        nn::visit_parameters(model, [](const std::string&, auto& p) { p.value() = p.value() - 0.5f * p.grad(); });
    }
    EXPECT_LT(last, first * 0.2f);
    auto pred = argmax<1>(model.predict(x));
    for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(pred[i], y[i]);
}
