// Multi-head attention (torch.nn.MultiheadAttention, batch_first, packed in_proj), sinusoidal
// positional encoding, and transformer encoder/decoder layers (post-norm, ReLU feed-forward,
// PyTorch's parameter names). Inputs are [batch, sequence, embed].
#pragma once

#include <cmath>
#include <limits>

#include "../autodiff/let.hpp"
#include "../autodiff/ops.hpp"
#include "dropout.hpp"
#include "functional.hpp"
#include "linear.hpp"
#include "norm.hpp"

namespace kiln::nn {

template <std::size_t E, std::size_t H, class D = cpu, class T = float>
struct multi_head_attention : module<multi_head_attention<E, H, D, T>> {
    static_assert(E % H == 0, "[multi_head_attention] embed_dim must be divisible by num_heads");
    static constexpr std::size_t head_dim = E / H;
    param<T, shape<3 * E, E>, D> in_proj_weight;
    param<T, shape<3 * E>, D> in_proj_bias;
    linear<E, E, D, T> out_proj;
    static constexpr std::size_t parameters = 4 * E * E + 4 * E;
    /// Forward FLOPs of self-attention over XS = [B, S, E]: projections and the two products.
    template <class XS>
    static constexpr std::size_t flops() {
        constexpr std::size_t B = XS::extents[0], S = XS::extents[1];
        return 2 * B * S * E * E * 4 + 2 * 2 * B * S * S * E;
    }

    explicit multi_head_attention(generator& g = default_generator()) : out_proj(g) {
        // torch: xavier_uniform_ on in_proj_weight, zero in_proj_bias and out_proj.bias
        const T bound = std::sqrt(T(6) / T(E + 3 * E));
        in_proj_weight.value() = uniform<T, shape<3 * E, E>, D>(g, -bound, bound);
        out_proj.bias.value().fill(T(0));
    }

    /// Attention of queries q [B, Sq, E] over keys/values kv [B, Sk, E]; mask [Sq, Sk] is
    /// added to the scores (use -inf, e.g. causal_mask(), to hide positions). Pass named
    /// (lvalue) inputs: they are used several times.
    template <class Q, class KV, class A = use_params, class M = tensor<T, shape<1, 1>, D>>
    auto forward(const Q& q, const KV& kv, A a = {}, const M* mask = nullptr) const {
        using QS = shape_of_t<Q>;
        using KS = shape_of_t<KV>;
        static_assert(QS::rank == 3 && QS::extents[2] == E, "[multi_head_attention] queries must be [B, S, embed_dim]");
        static_assert(KS::rank == 3 && KS::extents[2] == E && KS::extents[0] == QS::extents[0],
                      "[multi_head_attention] keys/values must be [B, S, embed_dim] with the queries' batch");
        constexpr std::size_t B = QS::extents[0], Sq = QS::extents[1], Sk = KS::extents[1];
        const auto& w = a(in_proj_weight);
        const auto& b = a(in_proj_bias);
        auto split = [](auto&& t, auto s) {  // [B, S, E] -> [B, H, S, head_dim]
            constexpr std::size_t S = decltype(s)::value;
            return permute<0, 2, 1, 3>(reshape<shape<B, S, H, head_dim>>(std::forward<decltype(t)>(t)));
        };
        auto qh = split(functional::linear(q, slice<0, 0, E>(w), slice<0, 0, E>(b)), std::integral_constant<std::size_t, Sq>{});
        auto kh = split(functional::linear(kv, slice<0, E, 2 * E>(w), slice<0, E, 2 * E>(b)), std::integral_constant<std::size_t, Sk>{});
        auto vh = split(functional::linear(kv, slice<0, 2 * E, 3 * E>(w), slice<0, 2 * E, 3 * E>(b)), std::integral_constant<std::size_t, Sk>{});
        const T scale = T(1) / std::sqrt(T(head_dim));
        auto scores = [&] {
            if constexpr (std::is_same_v<M, tensor<T, shape<1, 1>, D>>)
                return matmul(std::move(qh), transpose(std::move(kh))) * scale;
            else
                return matmul(std::move(qh), transpose(std::move(kh))) * scale + *mask;
        }();
        auto ctx = matmul(functional::softmax<-1>(std::move(scores)), std::move(vh));  // [B, H, Sq, hd]
        return out_proj.forward(reshape<shape<B, Sq, E>>(permute<0, 2, 1, 3>(std::move(ctx))), a);
    }
    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        f(prefix + "in_proj_weight", in_proj_weight);
        f(prefix + "in_proj_bias", in_proj_bias);
        out_proj.visit_parameters(prefix + "out_proj.", f);
    }
    void train(bool = true) {}
};

/// [S, S] mask with -inf above the diagonal: position i attends to positions <= i.
template <std::size_t S, class T = float, class D = cpu>
tensor<T, shape<S, S>, D> causal_mask() {
    tensor<T, shape<S, S>> m;
    for (std::size_t i = 0; i < S; ++i)
        for (std::size_t j = i + 1; j < S; ++j) m(i, j) = -std::numeric_limits<T>::infinity();
    return to<D>(m);
}

/// The sinusoidal table of "Attention Is All You Need": pe[p, 2i] = sin(p / 10000^(2i/E)),
/// pe[p, 2i+1] = cos(...). Added to [B, S, E] inputs.
template <std::size_t S, std::size_t E, class D = cpu, class T = float>
struct positional_encoding : stateless, module<positional_encoding<S, E, D, T>> {
    tensor<T, shape<S, E>, D> pe;
    positional_encoding() {
        tensor<T, shape<S, E>> t;
        for (std::size_t p = 0; p < S; ++p)
            for (std::size_t i = 0; i < E; i += 2) {
                const double div = std::pow(10000.0, double(i) / double(E));
                t(p, i) = T(std::sin(double(p) / div));
                if (i + 1 < E) t(p, i + 1) = T(std::cos(double(p) / div));
            }
        pe = to<D>(t);
    }
    template <class X, class A = use_params>
    auto forward(X&& x, A = {}) const {
        return std::forward<X>(x) + pe;
    }
};

/// torch.nn.TransformerEncoderLayer (batch_first=True, norm_first=False, activation=relu).
template <std::size_t E, std::size_t H, std::size_t FF, class D = cpu, class T = float>
struct transformer_encoder_layer : module<transformer_encoder_layer<E, H, FF, D, T>> {
    multi_head_attention<E, H, D, T> self_attn;
    linear<E, FF, D, T> linear1;
    linear<FF, E, D, T> linear2;
    layer_norm<E, D, T> norm1, norm2;
    dropout dropout_ff{0.1f}, dropout1{0.1f}, dropout2{0.1f};
    static constexpr std::size_t parameters = decltype(self_attn)::parameters + (E * FF + FF) + (FF * E + E) + 4 * E;
    template <class XS>
    static constexpr std::size_t flops() {
        return decltype(self_attn)::template flops<XS>() + 2 * 2 * (XS::size / E) * E * FF;
    }

    /// x [B, S, E] (named: it is used several times); mask [S, S] optional.
    template <class X, class A = use_params, class M = tensor<T, shape<1, 1>, D>>
    auto forward(const X& x, A a = {}, const M* mask = nullptr) const {
        auto ff = [&](const auto& h) {
            return dropout2.forward(linear2.forward(dropout_ff.forward(kiln::relu(linear1.forward(h, a)), a), a), a);
        };
        if constexpr (std::is_same_v<A, use_values>) {
            auto h = eval(norm1.forward(x + self_attn.forward(x, x, a, mask), a));
            return eval(norm2.forward(h + ff(h), a));
        } else {
            return let([&] { return norm1.forward(x + dropout1.forward(self_attn.forward(x, x, a, mask), a), a); },
                       [&](const auto& h) { return norm2.forward(h + ff(h), a); });
        }
    }
    template <class F>
    void visit_parameters(const std::string& p, F&& f) {
        visit_members(p, f, "self_attn", self_attn, "linear1", linear1, "linear2", linear2, "norm1", norm1, "norm2", norm2);
    }
    void train(bool on = true) {
        dropout_ff.train(on);
        dropout1.train(on);
        dropout2.train(on);
    }
};

/// torch.nn.TransformerDecoderLayer (batch_first=True, norm_first=False): masked self-attention,
/// then real cross-attention over the encoder's memory, then the feed-forward block.
template <std::size_t E, std::size_t H, std::size_t FF, class D = cpu, class T = float>
struct transformer_decoder_layer : module<transformer_decoder_layer<E, H, FF, D, T>> {
    multi_head_attention<E, H, D, T> self_attn, multihead_attn;
    linear<E, FF, D, T> linear1;
    linear<FF, E, D, T> linear2;
    layer_norm<E, D, T> norm1, norm2, norm3;
    dropout dropout_ff{0.1f}, dropout1{0.1f}, dropout2{0.1f}, dropout3{0.1f};

    /// x [B, St, E] target, memory [B, Ss, E]; tgt_mask [St, St] (e.g. causal_mask()).
    template <class X, class Mem, class A = use_params, class M = tensor<T, shape<1, 1>, D>>
    auto forward(const X& x, const Mem& memory, A a = {}, const M* tgt_mask = nullptr) const {
        auto ff = [&](const auto& h) {
            return dropout3.forward(linear2.forward(dropout_ff.forward(kiln::relu(linear1.forward(h, a)), a), a), a);
        };
        if constexpr (std::is_same_v<A, use_values>) {
            auto h1 = eval(norm1.forward(x + self_attn.forward(x, x, a, tgt_mask), a));
            auto h2 = eval(norm2.forward(h1 + multihead_attn.forward(h1, memory, a), a));
            return eval(norm3.forward(h2 + ff(h2), a));
        } else {
            return let([&] { return norm1.forward(x + dropout1.forward(self_attn.forward(x, x, a, tgt_mask), a), a); },
                       [&](const auto& h1) {
                           return let([&] { return norm2.forward(h1 + dropout2.forward(multihead_attn.forward(h1, memory, a), a), a); },
                                      [&](const auto& h2) { return norm3.forward(h2 + ff(h2), a); });
                       });
        }
    }
    template <class F>
    void visit_parameters(const std::string& p, F&& f) {
        visit_members(p, f, "self_attn", self_attn, "multihead_attn", multihead_attn, "linear1", linear1, "linear2",
                      linear2, "norm1", norm1, "norm2", norm2, "norm3", norm3);
    }
    void train(bool on = true) {
        dropout_ff.train(on);
        dropout1.train(on);
        dropout2.train(on);
        dropout3.train(on);
    }
};

}  // namespace kiln::nn
