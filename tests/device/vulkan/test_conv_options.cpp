// The layer options on Vulkan against the CPU: grouped (and depthwise) convolution, non-square
// kernel/stride/padding/dilation, bias=False, ceil_mode pooling; outputs and all gradients.
// (The CPU is checked against torch in tests/nn/test_layer_options.cpp.)
#include <kiln/nn/conv.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/vulkan.hpp>

#include <cmath>

#include "vk_test.hpp"

using namespace kiln;

namespace {

class ConvOptions : public kiln_vk_test::vk_test {};

template <class S>
tensor<float, S> wave(double phase) {
    tensor<float, S> t;
    for (std::size_t i = 0; i < S::size; ++i) t[i] = float(std::sin(phase + 0.37 * double(i)));
    return t;
}

/// Runs f<cpu>() and f<vulkan>() (each returns a host tensor) and compares them.
template <class F>
void same_on_devices(F f, double tol, const char* what) {
    auto c = f.template operator()<cpu>();
    auto v = f.template operator()<vulkan>();
    double worst = 0;
    for (std::size_t i = 0; i < decltype(c)::size; ++i) {
        EXPECT_TRUE(kiln_vk_test::close(v[i], c[i], tol, tol)) << what << ", element " << i;
        worst = std::max(worst, std::fabs(double(v[i]) - double(c[i])));
    }
    std::printf("[vulkan vs cpu] %-40s max |difference| %.3g\n", what, worst);
}

/// A convolution layer's output and the gradients of x, weight (and bias) for sum(y * wave).
template <class Layer, class XS, class D>
auto conv_run(double phase) {
    manual_seed(7);
    Layer c;
    param<float, XS, D> x(to<D>(wave<XS>(phase)));
    auto y = c.forward(x);
    using YS = shape_of_t<decltype(y)>;
    backward(sum(y * to<D>(wave<YS>(phase + 0.1))));
    using WS = typename std::remove_cvref_t<decltype(c.weight)>::shape_type;
    auto out = concat<0>(reshape<shape<YS::size>>(y.value()), reshape<shape<XS::size>>(x.grad()),
                         reshape<shape<WS::size>>(c.weight.grad()));
    if constexpr (Layer::has_bias)
        return to<cpu>(concat<0>(out, c.bias.grad()));
    else
        return to<cpu>(out);
}

}  // namespace

TEST_F(ConvOptions, GroupedConvolution) {
    same_on_devices([]<class D>() { return conv_run<nn::conv2d<4, 6, 3, 1, 1, 1, D, nn::groups<2>>, shape<2, 4, 6, 5>, D>(0.3); },
                    1e-4, "conv2d groups=2");
    same_on_devices(
        []<class D>() { return conv_run<nn::conv2d<4, 8, hw{3, 2}, hw{2, 1}, hw{1, 0}, 1, D, nn::groups<4>>, shape<2, 4, 7, 6>, D>(0.7); },
        1e-4, "conv2d depthwise x2, non-square");
    same_on_devices(
        []<class D>() { return conv_run<nn::conv2d<6, 4, 1, 1, 0, 1, D, nn::groups<2>, nn::no_bias>, shape<3, 6, 4, 4>, D>(1.1); },
        1e-4, "conv2d 1x1 groups=2 bias=False");
}

TEST_F(ConvOptions, NonSquareAndBiasFree) {
    same_on_devices(
        []<class D>() {
            return conv_run<nn::conv2d<3, 4, hw{3, 5}, hw{1, 2}, hw{1, 2}, hw{2, 1}, D>, shape<2, 3, 8, 9>, D>(1.3);
        },
        1e-4, "conv2d (3,5) stride (1,2) pad (1,2) dil (2,1)");
    same_on_devices([]<class D>() { return conv_run<nn::conv2d<3, 4, 3, 2, 1, 1, D, nn::no_bias>, shape<2, 3, 7, 7>, D>(1.7); },
                    1e-4, "conv2d bias=False");
    same_on_devices(
        []<class D>() {
            manual_seed(8);
            nn::linear<5, 3, D, nn::no_bias> l;
            param<float, shape<4, 5>, D> x(to<D>(wave<shape<4, 5>>(1.9)));
            auto y = l.forward(x);
            backward(sum(y * to<D>(wave<shape<4, 3>>(2.0))));
            return to<cpu>(concat<0>(reshape<shape<12>>(y.value()), reshape<shape<20>>(x.grad()),
                                     reshape<shape<15>>(l.weight.grad())));
        },
        1e-5, "linear bias=False");
}

TEST_F(ConvOptions, CeilModeAndNonSquarePooling) {
    same_on_devices(
        []<class D>() {
            param<float, shape<2, 3, 8, 10>, D> x(to<D>(wave<shape<2, 3, 8, 10>>(2.2)));
            auto m = nn::max_pool2d<3, 2, 1, nn::ceil_mode>{}.forward(x);
            auto a = nn::avg_pool2d<3, 2, 1, nn::ceil_mode>{}.forward(x);
            auto e = nn::avg_pool2d<3, 2, 1, false, nn::ceil_mode>{}.forward(x);
            auto n = nn::max_pool2d<hw{3, 2}, hw{2, 3}, hw{1, 1}, nn::dilation<hw{2, 1}>, nn::ceil_mode>{}.forward(x);
            auto s = nn::avg_pool2d<hw{2, 3}, hw{2, 2}, hw{1, 0}, nn::ceil_mode>{}.forward(x);
            using MS = shape_of_t<decltype(m)>;
            using NS = shape_of_t<decltype(n)>;
            using SS = shape_of_t<decltype(s)>;
            static_assert(std::is_same_v<MS, shape<2, 3, 5, 6>>);
            auto l = sum(m * to<D>(wave<MS>(2.3))) + sum(a * to<D>(wave<MS>(2.4))) + sum(e * to<D>(wave<MS>(2.5))) +
                     sum(n * to<D>(wave<NS>(2.6))) + sum(s * to<D>(wave<SS>(2.7)));
            backward(l);
            return to<cpu>(concat<0>(reshape<shape<MS::size>>(m.value()), reshape<shape<MS::size>>(a.value()),
                                     reshape<shape<MS::size>>(e.value()), reshape<shape<NS::size>>(n.value()),
                                     reshape<shape<SS::size>>(s.value()), reshape<shape<480>>(x.grad())));
        },
        1e-5, "max/avg pooling ceil_mode, non-square, dilated");
}
