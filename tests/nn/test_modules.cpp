// User modules written the way PyTorch users write them: a forward that names intermediates and
// returns the result, modules composed of modules, residuals, layer outputs used as
// temporaries, a module called twice in a step, graphs returned from functions and stored.
// Gradients against central differences; CTest also runs this file under ASan + UBSan.
#include <kiln/autodiff/gradcheck.hpp>
#include <kiln/kiln.hpp>
#include <kiln/loss/loss.hpp>
#include <kiln/nn/activation.hpp>
#include <kiln/nn/attention.hpp>
#include <kiln/nn/dropout.hpp>
#include <kiln/nn/linear.hpp>
#include <kiln/nn/sequential.hpp>

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cstddef>
#include <string>
#include <vector>

using namespace kiln;

namespace {
using T = double;

// The issue's example: named intermediate returned, the access policy threaded through.
struct issue_net {
    nn::linear<4, 8, cpu, T> fc1;
    nn::linear<8, 3, cpu, T> fc2;
    template <class X, class A = nn::use_params>
    auto forward(const X& x, A a = {}) const {
        auto h = relu(fc1.forward(x, a));
        return fc2.forward(h, a);  // the returned graph uses h, which ends here
    }
    KILN_MODULE(fc1, fc2)
};

// The seeds' style: nn::module gives model(x); one line lists the members.
struct block : nn::module<block> {
    nn::linear<6, 6, cpu, T> fc;
    auto forward(const auto& x) const {
        auto h = tanh(fc(x));
        return h;
    }
    KILN_MODULE(fc)
};
struct residual_net : nn::module<residual_net> {
    nn::linear<4, 6, cpu, T> stem;
    block f;
    nn::linear<6, 3, cpu, T> head;
    auto forward(const auto& x) const {
        auto s = stem(x);
        auto h = s + f(s);  // s used twice
        return head(h);
    }
    KILN_MODULE(stem, f, head)
};
struct twice_net : nn::module<twice_net> {
    nn::linear<4, 4, cpu, T> fc;
    auto forward(const auto& x) const {
        auto a = fc(x);
        auto b = fc(tanh(a));  // the same weights twice in one step
        return a * b;
    }
    KILN_MODULE(fc)
};
struct local_constant_net : nn::module<local_constant_net> {
    nn::linear<4, 3, cpu, T> fc;
    auto forward(const auto& x) const {
        tensor<T, shape<3>> shift{0.5, -1.0, 2.0};  // dies here; the graph keeps its own copy
        auto y = fc(x) * shift;
        return y;
    }
    KILN_MODULE(fc)
};
struct deep_net : nn::module<deep_net> {
    std::array<block, 3> blocks;
    param<T, shape<6>> scale{full<T, shape<6>>(1.5)};
    auto forward(const auto& x) const {
        node<T, shape<2, 6>> h = blocks[0](x);  // a named type: reassign in a loop
        for (std::size_t i = 1; i < blocks.size(); ++i) h = blocks[i](h);
        return h * scale;
    }
    KILN_MODULE(blocks, scale)
};

template <class S>
tensor<T, S> inputs(std::uint64_t seed) {
    generator g(seed);
    return uniform<T, S>(g, -1.0, 1.0);
}
const tensor<int, shape<2>> labels{2, 0};

struct holder {
    node<T, shape<2, 3>> out;
};
holder run_stored(const residual_net& m, const tensor<T, shape<2, 4>>& x) {
    return {m(x)};  // every handle inside m's forward is gone when this returns
}
}  // namespace

TEST(Modules, NamedIntermediateReturnedFromForward) {
    issue_net m;
    const auto x = inputs<shape<2, 4>>(1);
    EXPECT_GRADS([&](auto&...) { return loss::cross_entropy(m.forward(x), labels); }, m.fc1.weight, m.fc1.bias,
                 m.fc2.weight);
    // A training loop as users write it.
    T first = 0, last = 0;
    for (int step = 0; step < 20; ++step) {
        auto out = m.forward(x);
        auto l = loss::cross_entropy(out, labels);
        nn::zero_grad(m);
        backward(l);
        nn::visit_parameters(m, [](const std::string&, auto& p) { p.value() = p.value() - 0.5 * p.grad(); });
        (step == 0 ? first : last) = l.value().item();
    }
    EXPECT_LT(last, first * 0.5);
    // Inference through the same forward (plain tensors) agrees with the graph's value.
    auto graph_out = m.forward(x);
    auto plain = m.forward(x, nn::use_values{});
    for (std::size_t i = 0; i < plain.size; ++i) EXPECT_DOUBLE_EQ(plain[i], graph_out.value()[i]);
}

TEST(Modules, ComposedModulesWithResidual) {
    residual_net m;
    const auto x = inputs<shape<2, 4>>(2);
    EXPECT_GRADS([&](auto&...) { return loss::cross_entropy(m(x), labels); }, m.stem.weight, m.stem.bias,
                 m.f.fc.weight, m.f.fc.bias, m.head.weight);
    std::vector<std::string> names;
    nn::visit_parameters(m, [&](const std::string& n, auto&) { names.push_back(n); });
    EXPECT_EQ(names, (std::vector<std::string>{"stem.weight", "stem.bias", "f.fc.weight", "f.fc.bias", "head.weight",
                                               "head.bias"}));
    // predict: no graph, same numbers.
    auto p = m.predict(x);
    auto g = m(x);
    for (std::size_t i = 0; i < p.size; ++i) EXPECT_DOUBLE_EQ(p[i], g.value()[i]);
}

TEST(Modules, ModuleCalledTwiceAndLocalConstants) {
    twice_net m;
    const auto x = inputs<shape<2, 4>>(3);
    EXPECT_GRADS([&](auto&...) { return sum(m(x)); }, m.fc.weight, m.fc.bias);
    local_constant_net c;
    EXPECT_GRADS([&](auto&...) { return loss::cross_entropy(c(x), labels); }, c.fc.weight, c.fc.bias);
}

TEST(Modules, LayerOutputsAsTemporaries) {
    nn::transformer_encoder_layer<8, 2, 16, cpu, T> enc;
    enc.train(false);  // dropout off, so finite differences see one function
    param<T, shape<2, 3, 8>> x(inputs<shape<2, 3, 8>>(4));
    const auto w = inputs<shape<2, 3, 8>>(5);
    EXPECT_GRADS([&](auto& in) { return sum(enc(in) * w); }, x);
    EXPECT_GRADS([&](auto&) { return sum(enc.forward(x) * w); }, enc.linear1.weight);
}

TEST(Modules, ArraysOfModulesAndReassignedNodes) {
    deep_net m;
    const auto x = inputs<shape<2, 6>>(6);
    EXPECT_GRADS([&](auto&...) { return sum(m(x) * m(x)); }, m.blocks[0].fc.weight, m.blocks[2].fc.bias, m.scale);
    std::vector<std::string> names;
    nn::visit_parameters(m, [&](const std::string& n, auto&) { names.push_back(n); });
    ASSERT_EQ(names.size(), 7u);
    EXPECT_EQ(names[0], "blocks.0.fc.weight");
    EXPECT_EQ(names[5], "blocks.2.fc.bias");
    EXPECT_EQ(names[6], "scale");
}

TEST(Modules, GraphsReturnedAndStored) {
    residual_net m;
    const auto x = inputs<shape<2, 4>>(7);
    nn::zero_grad(m);
    backward(sum(m(x) * m(x)));
    const auto expected = eval(m.stem.weight.grad());
    nn::zero_grad(m);
    holder h = run_stored(m, x);
    holder copy = h;  // handles share the graph
    backward(sum(h.out * copy.out));
    for (std::size_t i = 0; i < expected.size; ++i) EXPECT_NEAR(m.stem.weight.grad()[i], expected[i], 1e-12);
}

TEST(Modules, SequentialIndexingAndCallSyntax) {
    nn::sequential<nn::linear<4, 8, cpu, T>, nn::dropout, nn::linear<8, 3, cpu, T>> s;
    get<1>(s).p = 0.25f;
    EXPECT_EQ(s.tail.head.p, 0.25f);
    get<1>(s).train(false);
    const auto x = inputs<shape<2, 4>>(8);
    auto a = s(x);
    auto b = get<2>(s)(relu(get<0>(s)(x)) * 1.0);  // layers are callable too
    auto c = get<2>(s)(get<0>(s)(x));
    (void)b;
    for (std::size_t i = 0; i < a.value().size; ++i) EXPECT_DOUBLE_EQ(a.value()[i], c.value()[i]);
}

TEST(GraphArena, HandlesKeptAcrossStepsAndSteadyState) {
    residual_net m;
    const auto x = inputs<shape<2, 4>>(9);
    auto first = m(x);
    const auto first_value = eval(first.value());
    backward(sum(first));
    node<T, shape<2, 3>> kept = m(x);
    std::size_t chunks_after_warmup = 0;
    for (int step = 0; step < 30; ++step) {
        kept = m(x);  // the last step's graph stays alive until this assignment
        backward(sum(kept));
        if (step == 3) chunks_after_warmup = graph_memory().chunk_allocations;
    }
    EXPECT_EQ(graph_memory().chunk_allocations, chunks_after_warmup);  // no allocator calls for nodes
    EXPECT_GT(graph_memory().last_step_bytes, 0u);
    for (std::size_t i = 0; i < first_value.size; ++i) EXPECT_EQ(first.value()[i], first_value[i]);
}

TEST(GraphArena, UseAfterResetIsAClearError) {
    residual_net m;
    const auto x = inputs<shape<2, 4>>(10);
    alignas(64) static std::byte buffer[1 << 16];
    {
        graph_buffer_scope scope(buffer, sizeof buffer);
        auto out1 = m(x);
        backward(sum(out1));
        auto out2 = m(x);  // a new step: the buffer now holds this one
        EXPECT_NO_THROW(out2.value());
        try {
            (void)out1.value();
            ADD_FAILURE() << "a reset handle was read";
        } catch (const error& e) {
            EXPECT_NE(std::string(e.what()).find("[autodiff] linear: this node belongs to a step whose graph buffer was reset"),
                      std::string::npos)
                << e.what();
        }
        EXPECT_THROW(backward(sum(out1)), error);
    }
    {
        graph_buffer_scope scope(buffer, 512);
        try {
            auto out = m(x);
            ADD_FAILURE() << "a 512-byte buffer held a whole graph";
        } catch (const error& e) {
            EXPECT_NE(std::string(e.what()).find("the graph buffer of 512 bytes is too small"), std::string::npos)
                << e.what();
        }
    }
    node<T, shape<2, 3>> empty;
    EXPECT_THROW((void)empty.value(), error);
    // Back on the chunk pool, graphs work as before.
    EXPECT_NO_THROW(backward(sum(m(x))));
}

TEST(GraphArenaDeathTest, ModelDestroyedWhileItsGraphIsHeld) {
    const auto x = inputs<shape<2, 4>>(11);
    {  // the model outlives its graph: fine
        residual_net m;
        auto out = m(x);
        backward(sum(out));
    }
    auto model_dies_first = [&] {
        node<T, shape<2, 3>> out;
        {
            residual_net m;
            out = m(x);
        }  // the graph still references m's params: a clear end, not a read of freed memory
        backward(sum(out));
    };
    EXPECT_DEATH(model_dies_first(), "a param is destroyed while a graph that uses it is still held");
}
