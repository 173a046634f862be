// torch.nn.Embedding: a lookup table of Num vectors of Dim values, indexed by integer tokens.
//   nn::embedding<11, 64> tok;                 Embedding(11, 64): weight [11, 64], N(0, 1) init
//   auto e = tok(ids);                         ids: tensor<int, shape<B, S>> -> node [B, S, 64]
//   auto v = tok.forward(ids, nn::use_values{});   plain tensor, no graph
//   nn::embedding<1000, 32, kiln::vulkan, double>  device and value type (the indices stay
//                                               integers on any device; they are read on the host)
// Indices: any integer value type, any static shape [..] (rank 0 too), giving [.., Dim]. An
// index outside 0..Num-1 (negative ones included) is a runtime error naming the index, its
// position and Num (torch raises IndexError there), never a read out of bounds.
//
// The forward is one_hot(ids) [N, Num] @ weight [Num, Dim] (N = number of indices), reshaped:
// the gradient reaches the weight through matmul's vjp (one_hot^T @ g: each row of weight gets
// the sum of the gradients of the positions that picked it) and the graph owns the one-hot
// constant. That costs N * Num * Dim multiply-adds where a gather costs N * Dim: right for the
// small vocabularies of the examples, a gather op is the step for large ones.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>

#include "../autodiff/ops.hpp"
#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../ops/primitive/matmul.hpp"
#include "../ops/primitive/movement.hpp"
#include "layer.hpp"

namespace kiln::nn {

namespace detail {
/// shape<D..., Last>.
template <class S, std::size_t Last>
struct append_extent;
template <std::size_t... D, std::size_t Last>
struct append_extent<shape<D...>, Last> {
    using type = shape<D..., Last>;
};
}  // namespace detail

/// torch.nn.Embedding(NumEmbeddings, Dim) on device D with values T.
template <std::size_t NumEmbeddings, std::size_t Dim, class D = cpu, class T = float>
struct embedding : module<embedding<NumEmbeddings, Dim, D, T>> {
    static_assert(NumEmbeddings > 0 && Dim > 0, "[embedding] num_embeddings and embedding_dim must be positive");
    static constexpr std::size_t num_embeddings = NumEmbeddings, embedding_dim = Dim;
    static constexpr std::size_t parameters = NumEmbeddings * Dim;
    param<T, shape<NumEmbeddings, Dim>, D> weight;

    /// torch's init: weight ~ N(0, 1).
    explicit embedding(generator& g = default_generator()) {
        weight.value() = randn<T, shape<NumEmbeddings, Dim>, D>(g);
    }

    /// indices [..] of integers -> [.., Dim]: row indices[i] of the weight at each position.
    template <class I, class S, class DI, class St, class A = use_params>
    auto forward(const tensor<I, S, DI, St>& indices, A a = {}) const {
        static_assert(std::is_integral_v<I> && !std::is_same_v<I, bool>, "[embedding] indices must be integers");
        using out_shape = typename detail::append_extent<S, Dim>::type;
        return reshape<out_shape>(matmul(one_hot(indices), a(weight)));
    }
    /// The [N, Num] one-hot matrix of the indices, on device D; out-of-range indices are errors.
    template <class I, class S, class DI, class St>
    static tensor<T, shape<S::size, NumEmbeddings>, D> one_hot(const tensor<I, S, DI, St>& indices) {
        const auto host = to<cpu>(indices);
        tensor<T, shape<S::size, NumEmbeddings>> m;  // zeros
        for (std::size_t i = 0; i < S::size; ++i) {
            const I k = host[i];
            bool in_range;
            if constexpr (std::is_signed_v<I>)
                in_range = k >= 0 && static_cast<unsigned long long>(k) < NumEmbeddings;
            else
                in_range = static_cast<unsigned long long>(k) < NumEmbeddings;
            if (!in_range) {
                if constexpr (std::is_signed_v<I>)
                    kiln::fail("[embedding] index %lld at position %zu is out of range: num_embeddings is %zu (valid "
                               "indices 0..%zu)",
                               static_cast<long long>(k), i, NumEmbeddings, NumEmbeddings - 1);
                else
                    kiln::fail("[embedding] index %llu at position %zu is out of range: num_embeddings is %zu (valid "
                               "indices 0..%zu)",
                               static_cast<unsigned long long>(k), i, NumEmbeddings, NumEmbeddings - 1);
            }
            m(i, static_cast<std::size_t>(k)) = T(1);
        }
        return to<D>(m);
    }

    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        f(prefix + "weight", weight);
    }
    void train(bool = true) {}
    /// Forward FLOPs (2 per multiply-add of the one-hot product) for indices of shape IS.
    template <class IS>
    static constexpr std::size_t flops() { return 2 * IS::size * NumEmbeddings * Dim; }
};

}  // namespace kiln::nn
