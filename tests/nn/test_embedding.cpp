// nn::embedding (torch.nn.Embedding): forward against a hand-computed table lookup, gradients of
// the weight against float64 central differences (repeated and unused rows included), and
// out-of-range indices as errors that name the index and num_embeddings.
#include <kiln/autodiff/gradcheck.hpp>
#include <kiln/kiln.hpp>
#include <kiln/loss/loss.hpp>
#include <kiln/nn/embedding.hpp>
#include <kiln/nn/linear.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace kiln;

namespace {
/// weight[r][c] = 10 r + c: a looked-up value names its row and column.
template <std::size_t Num, std::size_t Dim>
void fill_table(nn::embedding<Num, Dim, cpu, double>& e) {
    for (std::size_t r = 0; r < Num; ++r)
        for (std::size_t c = 0; c < Dim; ++c) e.weight.value()(r, c) = 10.0 * double(r) + double(c);
}

/// The message of the kiln::error f throws ("" if none).
template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const kiln::error& e) {
        return e.what();
    }
    return "";
}

struct token_classifier : nn::module<token_classifier> {
    nn::embedding<5, 4, cpu, double> tok;
    nn::linear<4, 3, cpu, double> head;
    auto forward(const auto& ids) const {
        auto e = tok(ids);  // [6, 4]
        return head(e);     // [6, 3]
    }
    KILN_MODULE(tok, head)
};
}  // namespace

TEST(Embedding, LooksUpRowsOfAnyIndexShape) {
    nn::embedding<4, 3, cpu, double> emb;
    fill_table(emb);
    const tensor<int, shape<2, 3>> ids{{3, 0, 3}, {1, 2, 0}};
    auto y = emb.forward(ids, nn::use_values{});
    static_assert(std::is_same_v<decltype(y)::shape_type, shape<2, 3, 3>>);
    std::vector<double> ref;
    for (int k : {3, 0, 3, 1, 2, 0})
        for (int c = 0; c < 3; ++c) ref.push_back(10.0 * k + c);
    test::expect_close(y, ref, 0, 0);
    // The graph's value is the same; so are predict and module call syntax.
    auto g = emb(ids);
    static_assert(std::is_same_v<decltype(g), node<double, shape<2, 3, 3>>>);
    test::expect_close(g.value(), ref, 0, 0);
    test::expect_close(emb.predict(ids), ref, 0, 0);
    // Other integer types and ranks: [4] of int64 -> [4, 3], a scalar index -> [3].
    const tensor<std::int64_t, shape<4>> v{2, 2, 1, 3};
    auto yv = emb.forward(v, nn::use_values{});
    static_assert(std::is_same_v<decltype(yv)::shape_type, shape<4, 3>>);
    EXPECT_EQ(yv(0, 1), 21.0);
    EXPECT_EQ(yv(3, 2), 32.0);
    tensor<std::uint8_t, shape<>> s;
    s[0] = 1;
    auto ys = emb.forward(s, nn::use_values{});
    static_assert(std::is_same_v<decltype(ys)::shape_type, shape<3>>);
    test::expect_close(ys, {10, 11, 12}, 0, 0);
}

TEST(Embedding, TorchNamesAndInit) {
    nn::embedding<11, 64> emb;
    std::vector<std::string> names;
    nn::visit_parameters(emb, [&](const std::string& n, auto&) { names.push_back(n); });
    EXPECT_EQ(names, std::vector<std::string>{"weight"});
    EXPECT_EQ(nn::parameter_count(emb), 11u * 64u);
    static_assert(decltype(emb)::parameters == 11 * 64);
    // torch: N(0, 1)
    double m = 0, m2 = 0;
    for (float w : emb.weight.value()) {
        m += w;
        m2 += double(w) * w;
    }
    m /= 11 * 64;
    const double sd = std::sqrt(m2 / (11 * 64) - m * m);
    EXPECT_NEAR(m, 0.0, 0.12);
    EXPECT_NEAR(sd, 1.0, 0.1);
}

TEST(Embedding, GradientOfTheWeight) {
    manual_seed(7);
    nn::embedding<5, 3, cpu, double> emb;
    // Row 3 picked three times (gradients add up), row 4 never (gradient zero).
    const tensor<int, shape<2, 3>> ids{{3, 0, 3}, {1, 2, 3}};
    generator g(2);
    const auto w = uniform<double, shape<2, 3, 3>>(g, 0.5, 1.5);
    EXPECT_GRADS([&](auto&) { return sum(emb(ids) * w); }, emb.weight);
    // d sum(emb(ids) * w) / d weight[r] = sum of w at the positions that picked r.
    emb.weight.zero_grad();
    backward(sum(emb(ids) * w));
    for (std::size_t c = 0; c < 3; ++c) {
        EXPECT_DOUBLE_EQ(emb.weight.grad()(3, c), w(0, 0, c) + w(0, 2, c) + w(1, 2, c));
        EXPECT_DOUBLE_EQ(emb.weight.grad()(0, c), w(0, 1, c));
        EXPECT_DOUBLE_EQ(emb.weight.grad()(4, c), 0.0);
    }
    // Through a module with a loss: the embedding's and the linear's parameters.
    token_classifier m;
    const tensor<int, shape<6>> tokens{4, 1, 1, 0, 2, 4};
    const tensor<int, shape<6>> labels{0, 2, 2, 1, 0, 1};
    EXPECT_GRADS([&](auto&...) { return loss::cross_entropy(m(tokens), labels); }, m.tok.weight, m.head.weight,
                 m.head.bias);
    std::vector<std::string> names;
    nn::visit_parameters(m, [&](const std::string& n, auto&) { names.push_back(n); });
    EXPECT_EQ(names, (std::vector<std::string>{"tok.weight", "head.weight", "head.bias"}));
}

TEST(Embedding, OutOfRangeIndexIsAnError) {
    nn::embedding<4, 3> emb;
    const std::string high = error_of([&] { (void)emb.forward(tensor<int, shape<3>>{0, 4, 1}, nn::use_values{}); });
    EXPECT_NE(high.find("[embedding] index 4 at position 1 is out of range: num_embeddings is 4"), std::string::npos)
        << high;
    const std::string neg = error_of([&] { (void)emb(tensor<std::int64_t, shape<2, 2>>{{0, 1}, {2, -1}}); });
    EXPECT_NE(neg.find("index -1 at position 3"), std::string::npos) << neg;
    EXPECT_NE(neg.find("num_embeddings is 4"), std::string::npos) << neg;
    const std::string big = error_of([&] { (void)emb.forward(tensor<std::size_t, shape<1>>{1000}, nn::use_values{}); });
    EXPECT_NE(big.find("index 1000 at position 0"), std::string::npos) << big;
    // The largest valid index is fine.
    EXPECT_EQ(error_of([&] { (void)emb.forward(tensor<int, shape<1>>{3}, nn::use_values{}); }), "");
}
