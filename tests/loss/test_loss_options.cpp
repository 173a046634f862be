// torch.nn's loss options: reduction (mean, sum, none), ignore_index, class weights with label
// smoothing, BCE's weight, BCE-with-logits' pos_weight, each with kiln's valid-row count. Values
// and gradients against torch (make_fixtures.py wrote fixtures/torch_losses.txt, in float64),
// central differences, the short call forms, and bad input (all rows ignored, labels out of range).
#include <kiln/autodiff/gradcheck.hpp>
#include <kiln/kiln.hpp>
#include <kiln/loss/loss.hpp>

#include <gtest/gtest.h>

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
using loss::reduction;

namespace {

struct fixture_case {
    std::string label, loss, reduction;
    std::map<std::string, double> opts;                  // eps, ignore, valid
    std::map<std::string, std::vector<double>> tensors;  // x, labels/target, weight, ..., y, x.grad
    const std::vector<double>& at(const std::string& name) const {
        static const std::vector<double> none;
        const auto t = tensors.find(name);
        if (t == tensors.end()) {
            ADD_FAILURE() << label << ": no tensor " << name;
            return none;
        }
        return t->second;
    }
    bool has(const std::string& name) const { return tensors.count(name) != 0; }
};

/// Every case of fixtures/torch_losses.txt, in file order.
const std::vector<fixture_case>& fixtures() {
    static const std::vector<fixture_case> all = [] {
        std::vector<fixture_case> v;
        const auto path = std::filesystem::path(__FILE__).parent_path() / "fixtures" / "torch_losses.txt";
        std::ifstream file(path);
        EXPECT_TRUE(file) << "cannot open " << path;
        std::string line;
        while (std::getline(file, line)) {
            std::istringstream in(line);
            std::string tag;
            in >> tag;
            if (tag == "case") {
                fixture_case c;
                in >> c.label >> c.loss >> c.reduction;
                for (std::string kv; in >> kv;) {
                    const auto eq = kv.find('=');
                    c.opts[kv.substr(0, eq)] = std::stod(kv.substr(eq + 1));
                }
                v.push_back(std::move(c));
            } else if (tag == "end" || tag == "torch" || tag.empty()) {
                continue;
            } else {
                std::size_t n = 0;
                in >> n;
                std::vector<double> vals(n);
                for (auto& e : vals) in >> e;
                EXPECT_TRUE(in) << v.back().label << " " << tag << ": expected " << n << " values";
                v.back().tensors[tag] = std::move(vals);
            }
        }
        return v;
    }();
    return all;
}

template <class Tensor>
Tensor load(const std::vector<double>& v) {
    Tensor t;
    EXPECT_EQ(v.size(), Tensor::size);
    for (std::size_t i = 0; i < v.size() && i < Tensor::size; ++i) t[i] = static_cast<typename Tensor::value_type>(v[i]);
    return t;
}

/// max over elements of |got - want| / max(1, |want|).
template <class Tensor>
double max_error(const Tensor& got, const std::vector<double>& want) {
    EXPECT_EQ(want.size(), Tensor::size);
    double e = 0;
    for (std::size_t i = 0; i < want.size() && i < Tensor::size; ++i)
        e = std::max(e, std::fabs(double(got[i]) - want[i]) / std::max(1.0, std::fabs(want[i])));
    return e;
}

/// What one case gave: the largest error of the value and of the gradient against torch, and
/// the central-difference check's (double only).
struct outcome {
    double value = 0, grad = 0, numeric = 0;
};

/// The loss of fixture case c on x, with reduction R: reduction::none is seeded with c's seed
/// (padded rows' seed is 7, which must reach nothing).
template <reduction R, class Make, class X>
outcome check(const fixture_case& c, Make&& make, X& x, bool gradcheck) {
    using T = typename X::value_type;
    outcome o;
    x.zero_grad();
    {
        auto l = make(x);
        o.value = max_error(l.value(), c.at("y"));
        if constexpr (R == reduction::none) backward(l, load<tensor<T, shape_of_t<decltype(l.value())>>>(c.at("seed")));
        else backward(l);
    }
    o.grad = max_error(x.grad(), c.at("x.grad"));
    if (gradcheck) {
        if constexpr (R == reduction::none) {
            const auto s = load<tensor<T, shape_of_t<decltype(make(x).value())>>>(c.at("seed"));
            auto r = check_gradients([&](auto& p) { return sum(make(p) * s); }, x);
            o.numeric = r.max_error;
        } else {
            auto r = check_gradients([&](auto& p) { return make(p); }, x);
            o.numeric = r.max_error;
        }
    }
    return o;
}

template <reduction R, class T>
outcome run_cross_entropy(const fixture_case& c, bool gradcheck) {
    param<T, shape<6, 4>> x(load<tensor<T, shape<6, 4>>>(c.at("x")));
    const auto labels = load<tensor<int, shape<6>>>(c.at("labels"));
    loss::cross_entropy_options<T, 4> opt{.label_smoothing = c.opts.at("eps"),
                                          .ignore_index = static_cast<long long>(c.opts.at("ignore")),
                                          .valid = static_cast<std::size_t>(c.opts.at("valid"))};
    if (c.has("weight")) opt.weight = load<tensor<double, shape<4>>>(c.at("weight"));  // any value type
    return check<R>(c, [&](auto& p) { return loss::cross_entropy<R>(p, labels, opt); }, x, gradcheck);
}

/// A weight tensor of the shape its value count names: [3] (the last axis), [4, 1] (per row), [4, 3].
template <class T, class F>
void with_weight(const std::vector<double>& v, F&& f) {
    if (v.size() == 3) f(load<tensor<T, shape<3>>>(v));
    else if (v.size() == 4) f(load<tensor<T, shape<4, 1>>>(v));
    else f(load<tensor<T, shape<4, 3>>>(v));
}

template <reduction R, class T>
outcome run_elementwise(const fixture_case& c, bool gradcheck) {
    using S = shape<4, 3>;
    param<T, S> x(load<tensor<T, S>>(c.at("x")));
    const auto t = load<tensor<T, S>>(c.at("target"));
    const auto valid = static_cast<std::size_t>(c.opts.at("valid"));
    if (c.loss == "mse")
        return check<R>(c, [&](auto& p) { return loss::mse<R>(p, t, {.valid = valid}); }, x, gradcheck);
    if (c.loss == "bce") {
        loss::bce_options<T, S> opt{.valid = valid};
        if (c.has("weight")) with_weight<T>(c.at("weight"), [&](const auto& w) { opt.weight = w; });
        return check<R>(c, [&](auto& p) { return loss::bce<R>(p, t, opt); }, x, gradcheck);
    }
    loss::bce_with_logits_options<T, S> opt{.valid = valid};
    if (c.has("weight")) with_weight<T>(c.at("weight"), [&](const auto& w) { opt.weight = w; });
    if (c.has("pos_weight")) opt.pos_weight = load<tensor<T, shape<3>>>(c.at("pos_weight"));
    return check<R>(c, [&](auto& p) { return loss::bce_with_logits<R>(p, t, opt); }, x, gradcheck);
}

template <reduction R, class T>
outcome run_case(const fixture_case& c, bool gradcheck) {
    return c.loss == "cross_entropy" ? run_cross_entropy<R, T>(c, gradcheck) : run_elementwise<R, T>(c, gradcheck);
}

/// Every fixture case in value type T, against torch within tol (relative to max(1, |torch|));
/// prints the largest errors per loss.
template <class T>
void match_torch(double tol) {
    ASSERT_GT(fixtures().size(), 40u);
    std::map<std::string, outcome> worst;
    for (const auto& c : fixtures()) {
        SCOPED_TRACE(c.label);
        // central differences are meaningless at probabilities of exactly 0 or 1
        const bool gradcheck = std::is_same_v<T, double> && c.label.find("clamp") == std::string::npos;
        outcome o = c.reduction == "mean"  ? run_case<reduction::mean, T>(c, gradcheck)
                    : c.reduction == "sum" ? run_case<reduction::sum, T>(c, gradcheck)
                                           : run_case<reduction::none, T>(c, gradcheck);
        EXPECT_LE(o.value, tol) << "value";
        EXPECT_LE(o.grad, tol) << "gradient";
        EXPECT_LE(o.numeric, 1e-6) << "central differences";
        auto& w = worst[c.loss];
        w = {std::max(w.value, o.value), std::max(w.grad, o.grad), std::max(w.numeric, o.numeric)};
    }
    for (const auto& [loss, w] : worst)
        std::printf("[ %s ] %-16s max error vs torch: value %.3g, gradient %.3g; central differences %.3g\n",
                    sizeof(T) == 8 ? "double" : "float", loss.c_str(), w.value, w.grad, w.numeric);
}

}  // namespace

TEST(LossOptions, MatchTorchInDouble) { match_torch<double>(1e-12); }

TEST(LossOptions, MatchTorchInFloat) { match_torch<float>(2e-5); }

TEST(LossOptions, ShortFormsAreTheOptions) {
    generator g(3);
    const auto z = uniform<double, shape<5, 3>>(g, -2.0, 2.0);
    tensor<int, shape<5>> y{2, 0, 1, 2, 1};
    EXPECT_EQ(loss::cross_entropy(z, y).item(), loss::cross_entropy(z, y, {}).item());
    EXPECT_EQ(loss::cross_entropy(z, y, 0.1).item(), loss::cross_entropy(z, y, {.label_smoothing = 0.1}).item());
    EXPECT_EQ(loss::cross_entropy(z, y, 0.0, 3).item(), loss::cross_entropy(z, y, {.valid = 3}).item());
    EXPECT_EQ(loss::cross_entropy<reduction::sum>(z, y, 0.1, 4).item(),
              loss::cross_entropy<reduction::sum>(z, y, {.label_smoothing = 0.1, .ignore_index = -100, .valid = 4}).item());
    // none: per row, shape [B]; its mean is the mean, its sum the sum
    const auto rows = loss::cross_entropy<reduction::none>(z, y, 0.1);
    static_assert(std::is_same_v<shape_of_t<decltype(rows)>, shape<5>>);
    EXPECT_NEAR(mean(rows).item(), loss::cross_entropy(z, y, 0.1).item(), 1e-15);
    EXPECT_NEAR(sum(rows).item(), loss::cross_entropy<reduction::sum>(z, y, 0.1).item(), 1e-14);
    const auto p = uniform<double, shape<5, 3>>(g, 0.1, 0.9), t = uniform<double, shape<5, 3>>(g, 0.0, 1.0);
    EXPECT_EQ(loss::mse(p, t, 2).item(), loss::mse(p, t, {.valid = 2}).item());
    EXPECT_EQ(loss::bce(p, t, 2).item(), loss::bce(p, t, {.valid = 2}).item());
    EXPECT_EQ(loss::bce_with_logits(z, t, 2).item(), loss::bce_with_logits(z, t, {.valid = 2}).item());
    static_assert(std::is_same_v<shape_of_t<decltype(loss::bce<reduction::none>(p, t))>, shape<5, 3>>);
    // a weight of ones is no weight; a [C] pos_weight of ones is none
    const auto ones = full<float, shape<3>>(1.f);
    EXPECT_NEAR(loss::cross_entropy(z, y, {.label_smoothing = 0.2, .weight = ones}).item(),
                loss::cross_entropy(z, y, 0.2).item(), 1e-15);
    EXPECT_NEAR(loss::bce_with_logits(z, t, {.weight = ones, .pos_weight = ones}).item(),
                loss::bce_with_logits(z, t).item(), 1e-15);
}

TEST(LossOptions, GraphsOwnTheirOptions) {
    // The loss node keeps what it needs by value: weights and labels may die before backward().
    generator g(4);
    param<double, shape<4, 3>> z(uniform<double, shape<4, 3>>(g, -2.0, 2.0));
    auto make = [](auto& p) {
        tensor<double, shape<3>> w{0.5, 2.0, 1.5};
        tensor<int, shape<4>> y{0, 2, -100, 1};
        return loss::cross_entropy(p, y, {.label_smoothing = 0.1, .weight = w, .valid = 3});
    };
    auto l = make(z);
    const double v = l.value().item();
    backward(l);
    EXPECT_NEAR(make(z.value()).item(), v, 0.0);
    for (std::size_t c = 0; c < 3; ++c) {
        EXPECT_EQ(z.grad()(2, c), 0.0);  // ignored
        EXPECT_EQ(z.grad()(3, c), 0.0);  // padding
    }
    auto r = check_gradients(make, z);
    EXPECT_TRUE(r.ok) << r.max_error << " at " << r.worst;
}

TEST(LossOptions, AllRowsIgnored) {
    // torch's mean is nan (0 / 0); kiln says why instead. sum and none are well defined: 0.
    param<double, shape<3, 4>> z(full<double, shape<3, 4>>(0.5));
    tensor<int, shape<3>> y{-100, -100, 2};
    EXPECT_THROW(loss::cross_entropy(z, y, {.valid = 2}), kiln::error);
    EXPECT_THROW(loss::cross_entropy(z.value(), tensor<int, shape<3>>{-1, -1, -1}, {.ignore_index = -1}), kiln::error);
    auto s = loss::cross_entropy<reduction::sum>(z, y, {.label_smoothing = 0.3, .valid = 2});
    EXPECT_EQ(s.value().item(), 0.0);
    backward(s);
    for (double e : z.grad()) EXPECT_EQ(e, 0.0);
    const auto none = loss::cross_entropy<reduction::none>(z.value(), y, {.valid = 2});
    for (double e : none) EXPECT_EQ(e, 0.0);
    // class weights whose counted labels sum to 0: torch divides by 0 as well
    EXPECT_THROW(loss::cross_entropy(z.value(), y, {.weight = tensor<double, shape<4>>{1, 1, 0, 1}}), kiln::error);
    try {
        loss::cross_entropy(z.value(), y, {.valid = 2});
    } catch (const kiln::error& e) {
        EXPECT_NE(std::string(e.what()).find("ignore_index -100"), std::string::npos) << e.what();
    }
}

TEST(LossOptions, BadInput) {
    const auto z = full<double, shape<3, 4>>(0.5);
    // a label out of range is reported unless it is ignore_index or on a padded row
    EXPECT_THROW(loss::cross_entropy(z, tensor<int, shape<3>>{0, 4, 1}), kiln::error);
    EXPECT_THROW(loss::cross_entropy(z, tensor<int, shape<3>>{0, -1, 1}, {.ignore_index = -100}), kiln::error);
    EXPECT_THROW(loss::cross_entropy(z, tensor<int, shape<3>>{0, 1, -100}, {.ignore_index = 3}), kiln::error);
    EXPECT_NO_THROW(loss::cross_entropy(z, tensor<int, shape<3>>{0, -1, 1}, {.ignore_index = -1}));
    EXPECT_NO_THROW(loss::cross_entropy(z, tensor<int, shape<3>>{0, 1, 99}, {.valid = 2}));
    try {
        loss::cross_entropy(z, tensor<int, shape<3>>{0, 4, 1}, {.weight = full<double, shape<4>>(2.0)});
        ADD_FAILURE() << "no error";
    } catch (const kiln::error& e) {
        EXPECT_NE(std::string(e.what()).find("label 4 of row 1 is not a class in 0..3"), std::string::npos) << e.what();
    }
    // label smoothing outside [0, 1] and valid counts outside 1..rows
    const tensor<int, shape<3>> y{0, 1, 2};
    EXPECT_THROW(loss::cross_entropy(z, y, -0.1), kiln::error);
    EXPECT_THROW(loss::cross_entropy(z, y, 1.5), kiln::error);
    EXPECT_THROW(loss::cross_entropy(z, y, {.valid = 0}), kiln::error);
    EXPECT_THROW(loss::cross_entropy<reduction::none>(z, y, {.valid = 4}), kiln::error);
    EXPECT_THROW(loss::mse<reduction::sum>(z, z, 4), kiln::error);
    EXPECT_THROW(loss::bce(z, z, {.valid = 0}), kiln::error);
    EXPECT_THROW(loss::bce_with_logits<reduction::none>(z, z, {.valid = 5}), kiln::error);
}
