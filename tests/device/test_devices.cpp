// One test description, every device: each op (forward and backward) runs on the CPU and on
// Vulkan (lavapipe in CI) and the results must agree. Any validation-layer message fails.
#include <kiln/autodiff/ops.hpp>
#include <kiln/loss/loss.hpp>
#include <kiln/nn/attention.hpp>
#include <kiln/nn/conv.hpp>
#include <kiln/nn/norm.hpp>
#include <kiln/nn/activation.hpp>
#include <kiln/nn/sequential.hpp>
#include <kiln/io/safetensors.hpp>
#include <kiln/optim/optim.hpp>
#include <kiln/vulkan.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace kiln;

namespace {

class Devices : public ::testing::Test {
protected:
    void TearDown() override { EXPECT_EQ(vk::context::instance().validation_messages(), 0u); }
};

template <class S>
tensor<float, S> wave(double phase, double scale = 1.0) {
    tensor<float, S> t;
    for (std::size_t i = 0; i < S::size; ++i) t[i] = float(scale * std::sin(phase + 0.37 * double(i)));
    return t;
}

/// Runs f<cpu>() and f<vulkan>() (each returns a host tensor) and compares them.
template <class F>
void same_on_devices(F f, double tol = 1e-5, const char* what = "") {
    auto c = f.template operator()<cpu>();
    auto v = f.template operator()<vulkan>();
    static_assert(std::is_same_v<decltype(c), decltype(v)>);
    for (std::size_t i = 0; i < decltype(c)::size; ++i)
        ASSERT_NEAR(double(v[i]), double(c[i]), tol * (1 + std::fabs(double(c[i])))) << what << " element " << i;
}
#define ON_DEVICES(body, ...) same_on_devices([&]<class D>() { body }, __VA_ARGS__)

}  // namespace

TEST_F(Devices, ElementwiseFusedWithBroadcasting) {
    auto a = wave<shape<3, 37>>(0.1);
    auto row = wave<shape<37>>(0.2);
    auto col = wave<shape<3, 1>>(0.3, 2.0);
    auto pos = eval(abs(a) + 0.25f);
    ON_DEVICES({
        auto x = to<D>(a); auto r = to<D>(row); auto c = to<D>(col);
        return to<cpu>(eval(exp(x * 0.5f) + r * c - sigmoid(x) / (c + 3.f)));
    }, 1e-5, "mixed");
    ON_DEVICES({
        auto x = to<D>(a);
        auto p = to<D>(pos);
        return to<cpu>(eval(log(p) + sqrt(p) + tanh(x) + abs(x) + relu(x) - x + pow(p, 1.5f) + clamp(x, -0.3f, 0.4f)));
    }, 1e-5, "unary");
    ON_DEVICES({
        auto x = to<D>(a); auto r = to<D>(row);
        return to<cpu>(eval(maximum(x, r) + minimum(x, r) * 2.f + pow(to<D>(pos), r) + leaky_relu(x, 0.1f)));
    }, 1e-5, "binary");
    ON_DEVICES({
        auto x = to<D>(a); auto r = to<D>(row);
        return to<cpu>(eval(where(x > r, x, r * 2.f) + where(x <= 0.f, 1.f, 0.f) + where(x == x, 0.5f, 3.f)));
    }, 1e-6, "where");
    ON_DEVICES({ return to<cpu>(eval(transpose(to<D>(a)) * 2.f)); }, 1e-6, "transpose view");
}

TEST_F(Devices, Reductions) {
    auto x = wave<shape<4, 5, 37>>(0.4);
    ON_DEVICES({ return to<cpu>(sum(to<D>(x))); }, 1e-5);
    ON_DEVICES({ return to<cpu>(mean<0>(to<D>(x))); }, 1e-5);
    ON_DEVICES({ return to<cpu>(sum<1, true>(to<D>(x))); }, 1e-5);
    ON_DEVICES({ return to<cpu>(max<-1>(to<D>(x))); }, 0);
    ON_DEVICES({ return to<cpu>(min<0>(to<D>(x))); }, 0);
    ON_DEVICES({ return to<cpu>(argmax<2>(to<D>(x))); }, 0);
    ON_DEVICES({ return to<cpu>(argmin<1, true>(to<D>(x))); }, 0);
    ON_DEVICES({ return to<cpu>(sum<0>(to<D>(x) * 2.f + 1.f)); }, 1e-5);
}

TEST_F(Devices, ShapeOps) {
    auto x = wave<shape<2, 3, 4>>(0.5);
    auto y = wave<shape<2, 1, 4>>(0.6);
    ON_DEVICES({ return to<cpu>(reshape<4, 6>(to<D>(x))); }, 0);
    ON_DEVICES({ return to<cpu>(flatten<1>(to<D>(x))); }, 0);
    ON_DEVICES({ return to<cpu>(unsqueeze<0>(squeeze<1>(to<D>(y)))); }, 0);
    ON_DEVICES({ return to<cpu>(permute<2, 0, 1>(to<D>(x))); }, 0);
    ON_DEVICES({ return to<cpu>(slice<2, 1, 4, 2>(to<D>(x))); }, 0);
    ON_DEVICES({ return to<cpu>(concat<1>(to<D>(x), to<D>(y), to<D>(x))); }, 0);
}

TEST_F(Devices, Matmul) {
    auto a = wave<shape<17, 33>>(0.7);
    auto b = wave<shape<33, 9>>(0.8);
    auto bt = wave<shape<9, 33>>(0.9);
    auto ba = wave<shape<2, 3, 5, 7>>(1.0);
    auto w = wave<shape<7, 4>>(1.1);
    ON_DEVICES({ return to<cpu>(matmul(to<D>(a), to<D>(b))); }, 1e-4);
    ON_DEVICES({ return to<cpu>(matmul(to<D>(a), transpose(to<D>(bt)))); }, 1e-4);
    ON_DEVICES({ return to<cpu>(matmul(transpose(to<D>(a)), to<D>(a))); }, 1e-4);
    ON_DEVICES({ return to<cpu>(matmul(to<D>(ba), to<D>(w))); }, 1e-4);
    ON_DEVICES({ return to<cpu>(matmul(to<D>(wave<shape<1, 1>>(1.2)), to<D>(wave<shape<1, 3>>(1.3)))); }, 1e-5);
}

TEST_F(Devices, CreationAndRandomAreIdentical) {
    ON_DEVICES({ return to<cpu>(eval(zeros<float, shape<3, 3>, D>() + ones<float, shape<3, 3>, D>() * 2.f)); }, 0);
    ON_DEVICES({ return to<cpu>(arange<float, shape<2, 5>, D>(1.f, 0.5f)); }, 0);
    ON_DEVICES({ generator g(3); return to<cpu>(randn<float, shape<40>, D>(g)); }, 0);
    ON_DEVICES({ generator g(4); return to<cpu>(uniform<float, shape<40>, D>(g, -2.f, 2.f)); }, 0);
    tensor<float, shape<2>, vulkan> v{1.5f, 2.5f};
    EXPECT_EQ(sum(v).item(), 4.f);
}

TEST_F(Devices, GradientsAgree) {
    auto xa = wave<shape<4, 6>>(1.4);
    auto wa = wave<shape<6, 3>>(1.5);
    auto ra = wave<shape<3>>(1.6);
    auto grads = [&]<class D>() {
        param<float, shape<4, 6>, D> x(to<D>(xa));
        param<float, shape<6, 3>, D> w(to<D>(wa));
        param<float, shape<3>, D> r(to<D>(ra));
        auto h = tanh(matmul(x, w) + r);
        auto y = sum(h * h + sigmoid(h) * 2.f) + mean(max<1>(exp(x))) + sum(where(x > 0.f, x, x * x));
        backward(y);
        return to<cpu>(concat<0>(reshape<24>(x.grad()), reshape<18>(w.grad()), r.grad()));
    };
    same_on_devices(grads, 1e-4, "grads");
}

TEST_F(Devices, LayersAndLossesAgree) {
    auto xa = wave<shape<2, 3, 8>>(1.7);
    auto run = [&]<class D>() {
        manual_seed(9);
        nn::transformer_encoder_layer<8, 2, 16, D> enc;
        enc.train(false);
        nn::linear<8, 4, D> head;
        param<float, shape<2, 3, 8>, D> x(to<D>(xa));
        tensor<int, shape<6>> labels{0, 1, 2, 3, 1, 0};
        auto h = enc.forward(x);
        auto logits = head.forward(reshape<6, 8>(h));
        auto l = loss::cross_entropy(logits, labels, 0.1);
        backward(l);
        return to<cpu>(concat<0>(reshape<48>(x.grad()), reshape<32>(head.weight.grad()),
                                 reshape<64>(enc.self_attn.out_proj.weight.grad()), reshape<1>(l.value())));
    };
    same_on_devices(run, 2e-4, "encoder + linear + cross-entropy");
    auto bn = [&]<class D>() {
        nn::batch_norm<3, D> norm;
        param<float, shape<4, 3, 2, 2>, D> x(to<D>(wave<shape<4, 3, 2, 2>>(1.8)));
        auto y = norm.forward(x);
        backward(y, to<D>(wave<shape<4, 3, 2, 2>>(1.9)));
        return to<cpu>(concat<0>(reshape<48>(x.grad()), norm.weight.grad(), norm.running_var));
    };
    same_on_devices(bn, 1e-4, "batch norm");
}

TEST_F(Devices, TrainingStepsAgree) {
    auto xa = wave<shape<8, 6>>(2.0);
    tensor<int, shape<8>> labels{0, 1, 2, 0, 1, 2, 0, 1};
    auto train = [&]<class D>(auto make_opt) {
        manual_seed(11);
        nn::sequential<nn::linear<6, 16, D>, nn::relu, nn::linear<16, 3, D>> model;
        auto opt = make_opt(model);
        const auto x = to<D>(xa);
        for (int step = 0; step < 5; ++step) {
            auto out = model(x);
            auto l = loss::cross_entropy(out, labels);
            opt.zero_grad();
            backward(l);
            opt.step();
        }
        return to<cpu>(concat<0>(reshape<96>(model.head.weight.value()), model.tail.tail.head.bias.value()));
    };
    auto adamw = [](auto& m) { return optim::adamw(m, {.lr = 1e-2, .weight_decay = 0.1, .amsgrad = true}); };
    auto sgd = [](auto& m) { return optim::sgd(m, {.lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 1e-3}); };
    same_on_devices([&]<class D>() { return train.template operator()<D>(adamw); }, 1e-4, "adamw");
    same_on_devices([&]<class D>() { return train.template operator()<D>(sgd); }, 1e-4, "sgd");
}

TEST_F(Devices, EveryOpsGradientAgrees) {
    auto xa = wave<shape<3, 8>>(2.1);
    auto pa = eval(abs(wave<shape<3, 8>>(2.2)) + 0.3f);
    auto ra = wave<shape<8>>(2.3);
    auto grads = [&]<class D>() {
        param<float, shape<3, 8>, D> x(to<D>(xa));
        param<float, shape<3, 8>, D> p(to<D>(pa));
        param<float, shape<8>, D> r(to<D>(ra));
        auto y = sum(log(p) + sqrt(p) + pow(p, 1.5f) + abs(x) + clamp(x, -0.4f, 0.5f) + gelu(x) + erf(x) +
                     leaky_relu(x, 0.2f) - x / p) +
                 sum(maximum(x, r) * 2.f + minimum(x, r)) + sum(min<1>(x * p)) + sum(pow(p, r)) +
                 sum(permute<1, 0>(x) * 3.f) + sum(slice<1, 2, 7, 2>(x * x)) + sum(concat<0>(x, p) * 0.5f) +
                 mean(relu(x) * tanh(p));
        backward(y);
        return to<cpu>(concat<0>(reshape<24>(x.grad()), reshape<24>(p.grad()), r.grad()));
    };
    same_on_devices(grads, 2e-4, "every op");
}

TEST_F(Devices, ConvolutionAndPoolingAgree) {
    // Strided, padded, dilated convolution: output, and the gradients of input, weight and bias.
    auto xa = wave<shape<2, 3, 9, 8>>(2.4);
    auto conv = [&]<class D>() {
        manual_seed(5);
        nn::conv2d<3, 4, 3, 2, 1, 2, D> c;
        param<float, shape<2, 3, 9, 8>, D> x(to<D>(xa));
        auto y = c.forward(x);
        using YS = shape_of_t<decltype(y)>;
        static_assert(std::is_same_v<YS, shape<2, 4, 4, 3>>);
        backward(y, to<D>(wave<YS>(2.5)));
        return to<cpu>(concat<0>(reshape<96>(y.value()), reshape<432>(x.grad()), reshape<108>(c.weight.grad()),
                                 c.bias.grad()));
    };
    same_on_devices(conv, 1e-4, "conv2d stride 2 pad 1 dilation 2");

    // Pooling with overlapping windows and padding, and ties (values rounded to tenths): the
    // max's gradient must reach the same (first) winner on both devices.
    auto pa = eval(wave<shape<2, 3, 7, 7>>(2.6) * 10.f);
    for (std::size_t i = 0; i < decltype(pa)::size; ++i) pa[i] = std::round(pa[i]) / 10.f;
    auto pools = [&]<class D>() {
        param<float, shape<2, 3, 7, 7>, D> x(to<D>(pa));
        auto m = nn::max_pool2d<3, 2, 1>{}.forward(x);
        auto a = nn::avg_pool2d<3, 2, 1>{}.forward(x);
        auto e = nn::avg_pool2d<2, 2, 1, false>{}.forward(x);
        using MS = shape_of_t<decltype(m)>;
        using ES = shape_of_t<decltype(e)>;
        auto l = sum(m * to<D>(wave<MS>(2.7))) + sum(a * to<D>(wave<MS>(2.8))) + sum(e * to<D>(wave<ES>(2.9)));
        backward(l);
        return to<cpu>(concat<0>(reshape<MS::size>(m.value()), reshape<MS::size>(a.value()),
                                 reshape<ES::size>(e.value()), reshape<294>(x.grad())));
    };
    same_on_devices(pools, 1e-5, "max / avg pooling");

    // A NaN wins its window; -inf windows keep -inf.
    auto na = wave<shape<1, 1, 4, 4>>(3.0);
    na[5] = std::numeric_limits<float>::quiet_NaN();
    na[10] = na[11] = na[14] = na[15] = -std::numeric_limits<float>::infinity();
    auto m_cpu = to<cpu>(eval(nn::max_pool2d<2>{}.forward(na)));
    auto m_vk = to<cpu>(eval(nn::max_pool2d<2>{}.forward(to<vulkan>(na))));
    EXPECT_TRUE(std::isnan(m_cpu[0]) && std::isnan(m_vk[0]));
    EXPECT_EQ(m_vk[3], -std::numeric_limits<float>::infinity());
    EXPECT_EQ(m_vk[1], m_cpu[1]);
    EXPECT_EQ(m_vk[2], m_cpu[2]);
}

TEST_F(Devices, ConvNetTrainingStepsAgree) {
    auto xa = wave<shape<4, 3, 8, 8>>(3.1);
    tensor<int, shape<4>> labels{0, 2, 1, 2};
    auto train = [&]<class D>() {
        manual_seed(13);
        nn::sequential<nn::conv2d<3, 6, 3, 1, 1, 1, D>, nn::relu, nn::max_pool2d<2>, nn::conv2d<6, 8, 3, 1, 1, 1, D>,
                       nn::relu, nn::avg_pool2d<2>, nn::flatten<>, nn::linear<32, 3, D>>
            model;
        using M = decltype(model);
        static_assert(std::is_same_v<typename M::device_type, D>);
        static_assert(M::template flops<shape<4, 3, 8, 8>>() == 2 * 4 * 64 * (6 * 27 + 8 * 54 / 4) + 2 * 4 * 32 * 3);
        auto opt = optim::adam(model, {.lr = 1e-2});
        const auto x = to<D>(xa);
        float last = 0;
        for (int step = 0; step < 4; ++step) {
            auto out = model(x);
            auto l = loss::cross_entropy(out, labels);
            opt.zero_grad();
            backward(l);
            opt.step();
            last = l.value().item();
        }
        return to<cpu>(concat<0>(reshape<162>(model.head.weight.value()), model.head.bias.value(),
                                 to<D>(tensor<float, shape<1>>{last})));
    };
    same_on_devices(train, 2e-4, "conv net, 4 Adam steps");
}

TEST_F(Devices, CheckpointsAndClippingWork) {
    // Train 3 steps, save model + Adam state, load into a fresh model and optimizer, train 2 more
    // on both: the restored run continues exactly, on each device, and the devices agree.
    auto xa = wave<shape<8, 6>>(3.2);
    tensor<int, shape<8>> labels{0, 1, 2, 0, 1, 2, 0, 1};
    auto run = [&]<class D>() {
        using net = nn::sequential<nn::linear<6, 16, D>, nn::relu, nn::linear<16, 3, D>>;
        const auto x = to<D>(xa);
        auto train = [&](net& m, auto& opt, int steps, float clip) {
            float norm = 0;
            for (int s = 0; s < steps; ++s) {
                auto out = m(x);
                auto l = loss::cross_entropy(out, labels);
                opt.zero_grad();
                backward(l);
                norm = optim::clip_grad_norm(opt, clip);
                opt.step();
            }
            return norm;
        };
        manual_seed(17);
        net a;
        optim::adam opt_a(a, {.lr = 1e-2, .amsgrad = true});
        train(a, opt_a, 3, 0.5f);
        const std::string path = ::testing::TempDir() + "kiln_device_ckpt.safetensors";
        io::save(path, a, opt_a);
        net b;
        optim::adam opt_b(b, {.lr = 1e-2, .amsgrad = true});
        io::load(path, b, opt_b);
        EXPECT_EQ(opt_b.steps(), 3u);
        const float na = train(a, opt_a, 2, 0.5f), nb = train(b, opt_b, 2, 0.5f);
        EXPECT_EQ(na, nb);
        auto wa = to<cpu>(a.head.weight.value()), wb = to<cpu>(b.head.weight.value());
        for (std::size_t i = 0; i < decltype(wa)::size; ++i) EXPECT_EQ(wa[i], wb[i]) << "weight " << i;
        // Every norm order through the model: the total, and the gradients scaled in place.
        tensor<float, shape<6>> norms;
        const double orders[] = {2, 1, 0, 3, std::numeric_limits<double>::infinity()};
        for (int k = 0; k < 5; ++k) {
            auto out = a(x);
            auto l = loss::cross_entropy(out, labels);
            opt_a.zero_grad();
            backward(l);
            norms[k] = optim::clip_grad_norm(a, 0.05, orders[k]);
        }
        norms[5] = to<cpu>(sum(a.head.weight.grad() * a.head.weight.grad())).item();
        return to<cpu>(concat<0>(reshape<96>(a.head.weight.value()), to<D>(norms)));
    };
    same_on_devices(run, 1e-4, "checkpoint + clip_grad_norm");
}

TEST_F(Devices, EveryLayerAndLossAgrees) {
    // The layers and losses not covered above, forward and backward: activations, dropout in
    // training (its mask is drawn on the host: the same on every device), 2-d batch norm with
    // running statistics, layer norm, mse, bce and bce_with_logits.
    auto xa = wave<shape<4, 3, 2, 5>>(3.3);
    auto ta = eval(abs(wave<shape<4, 30>>(3.4)));
    auto run = [&]<class D>() {
        manual_seed(21);
        nn::batch_norm<3, D> bn;
        nn::layer_norm<30, D> ln;
        nn::dropout drop{.p = 0.3f};
        nn::leaky_relu leaky;
        leaky.negative_slope = 0.05f;
        param<float, shape<4, 3, 2, 5>, D> x(to<D>(xa));
        auto h = bn.forward(x);
        auto f = nn::flatten<>{}.forward(h);
        auto n = ln.forward(f);
        auto d = drop.forward(n);
        auto a = nn::gelu{}.forward(d) + nn::tanh{}.forward(d) + leaky.forward(d) +
                 nn::softmax_layer<>{}.forward(d) + nn::log_softmax_layer<>{}.forward(d);
        auto p = nn::sigmoid{}.forward(a);
        const auto t = to<D>(eval(ta / (ta + 1.f)));
        auto l = loss::mse(a, t) + loss::bce(p, t, 3) + loss::bce_with_logits(a, t);
        backward(l);
        return to<cpu>(concat<0>(reshape<120>(x.grad()), reshape<120>(a.value()), ln.weight.grad(), bn.weight.grad(),
                                 bn.running_mean, reshape<1>(l.value())));
    };
    same_on_devices(run, 2e-4, "activations, dropout, norms, losses");
}
