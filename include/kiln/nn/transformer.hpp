// Transformer encoder and decoder layers (torch.nn.TransformerEncoderLayer /
// TransformerDecoderLayer, batch_first) built from attention.hpp's multi-head attention.
//
// transformer_encoder_layer<E, H, FF, Options...> / transformer_decoder_layer<E, H, FF, Options...>
//   Options, in any order, each optional: a device (kiln::cpu, kiln::vulkan), a value type
//   (float), the activation nn::relu (default) or nn::gelu (torch's "gelu": the exact, erf
//   one; any stateless activation layer works), nn::norm_first (pre-norm; default post-norm).
//   So <E, H, FF, D, T> means what it did. Values at construction (torch's keyword arguments):
//     nn::transformer_encoder_layer<64, 4, 256, nn::gelu, nn::norm_first> enc({.dropout = 0.2f, .layer_norm_eps = 1e-6});
//   defaults as torch: dropout 0.1, layer_norm_eps 1e-5 (the members stay public: norm1.eps, dropout1.p).
//   enc(x) / enc(x, {.src_mask = &m, .src_key_padding_mask = &pad})
//   dec(tgt, memory, {.tgt_mask = &causal, .memory_mask = &mm, .tgt_key_padding_mask = &tp,
//                     .memory_key_padding_mask = &mp})
//   enc.predict(x), enc.forward(x, use_values{}), enc.forward(x, opts, use_values{}): plain
//   tensors, no graph. The older spellings enc.forward(x, a, &mask) and
//   dec.forward(x, memory, a, &tgt_mask) still work.
#pragma once

#include "attention.hpp"

namespace kiln::nn {

/// torch.nn.TransformerEncoderLayer (batch_first=True): self-attention, then the feed-forward
/// block linear2(dropout(activation(linear1(x)))), each with a residual and a layer norm
/// (after, or before with nn::norm_first). Options: see the top of this file.
template <std::size_t E, std::size_t H, std::size_t FF, class... Opts>
struct transformer_encoder_layer : module<transformer_encoder_layer<E, H, FF, Opts...>> {
    using config = detail::transformer_layer_config<Opts...>;
    using D = typename config::device;
    using T = typename config::value_type;
    using activation_type = typename config::activation;
    static constexpr bool norm_first = config::pre_norm;

    multi_head_attention<E, H, D, T> self_attn;
    linear<E, FF, D, T> linear1;
    linear<FF, E, D, T> linear2;
    layer_norm<E, D, T> norm1, norm2;
    dropout dropout_ff{0.1f}, dropout1{0.1f}, dropout2{0.1f};
    activation_type activation{};
    static constexpr std::size_t parameters = decltype(self_attn)::parameters + (E * FF + FF) + (FF * E + E) + 4 * E;
    template <class XS>
    static constexpr std::size_t flops() {
        return decltype(self_attn)::template flops<XS>() + 2 * 2 * (XS::size / E) * E * FF;
    }
    template <class X>
    using options_for = encoder_options<T, detail::extent_or_1<shape_of_t<X>, 0>, H, detail::extent_or_1<shape_of_t<X>, 1>, D>;

    transformer_encoder_layer() = default;
    /// torch's TransformerEncoderLayer(..., dropout=, layer_norm_eps=).
    explicit transformer_encoder_layer(const transformer_layer_options& o) {
        dropout_ff.p = dropout1.p = dropout2.p = o.dropout;
        norm1.eps = norm2.eps = T(o.layer_norm_eps);
    }

    /// x [B, S, E]; src_mask [S, S] or [B * H, S, S]; src_key_padding_mask [B, S].
    template <class X, class A = use_params>
        requires access_policy<A>
    auto forward(const X& x, const options_for<X>& o, A a = {}) const {
        auto sa = [&](const auto& h) {
            return dropout1.forward(self_attn.forward(h, h, h, {.attn_mask = o.src_mask, .key_padding_mask = o.src_key_padding_mask}, a), a);
        };
        auto ff = [&](const auto& h) {
            return dropout2.forward(linear2.forward(dropout_ff.forward(activation.forward(linear1.forward(h, a)), a), a), a);
        };
        if constexpr (norm_first) {
            auto n1 = detail::settle(norm1.forward(x, a));
            auto h = detail::settle(x + sa(n1));
            auto n2 = detail::settle(norm2.forward(h, a));
            return detail::settle(h + ff(n2));
        } else {
            auto h = detail::settle(norm1.forward(x + sa(x), a));
            return detail::settle(norm2.forward(h + ff(h), a));
        }
    }
    /// forward(x), forward(x, use_values{}), and the older forward(x, a, &mask) (mask [S, S]).
    template <class X, access_policy A = use_params, class M = detail::no_mask>
    auto forward(const X& x, A a = {}, const M* mask = nullptr) const {
        options_for<X> o;
        if constexpr (!std::is_same_v<M, detail::no_mask>) o.src_mask = mask;
        return forward(x, o, a);
    }
    using module<transformer_encoder_layer>::operator();
    /// enc(x, {.src_mask = &m, .src_key_padding_mask = &pad}).
    template <class X>
    auto operator()(const X& x, const options_for<X>& o) const {
        return as_node(forward(x, o));
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

/// torch.nn.TransformerDecoderLayer (batch_first=True): masked self-attention, cross-attention
/// over the encoder's memory, then the feed-forward block; residuals and layer norms as the
/// encoder's. Options: see the top of this file.
template <std::size_t E, std::size_t H, std::size_t FF, class... Opts>
struct transformer_decoder_layer : module<transformer_decoder_layer<E, H, FF, Opts...>> {
    using config = detail::transformer_layer_config<Opts...>;
    using D = typename config::device;
    using T = typename config::value_type;
    using activation_type = typename config::activation;
    static constexpr bool norm_first = config::pre_norm;

    multi_head_attention<E, H, D, T> self_attn, multihead_attn;
    linear<E, FF, D, T> linear1;
    linear<FF, E, D, T> linear2;
    layer_norm<E, D, T> norm1, norm2, norm3;
    dropout dropout_ff{0.1f}, dropout1{0.1f}, dropout2{0.1f}, dropout3{0.1f};
    activation_type activation{};
    static constexpr std::size_t parameters =
        2 * decltype(self_attn)::parameters + (E * FF + FF) + (FF * E + E) + 6 * E;
    template <class X, class Mem>
    using options_for = decoder_options<T, detail::extent_or_1<shape_of_t<X>, 0>, H, detail::extent_or_1<shape_of_t<X>, 1>,
                                        detail::extent_or_1<shape_of_t<Mem>, 1>, D>;

    transformer_decoder_layer() = default;
    /// torch's TransformerDecoderLayer(..., dropout=, layer_norm_eps=).
    explicit transformer_decoder_layer(const transformer_layer_options& o) {
        dropout_ff.p = dropout1.p = dropout2.p = dropout3.p = o.dropout;
        norm1.eps = norm2.eps = norm3.eps = T(o.layer_norm_eps);
    }

    /// x [B, St, E] target, memory [B, Ss, E]; tgt_mask [St, St] (e.g. causal_mask()),
    /// memory_mask [St, Ss] (both masks also [B * H, ...]), key padding masks [B, St] and [B, Ss].
    template <class X, class Mem, class A = use_params>
        requires access_policy<A>
    auto forward(const X& x, const Mem& memory, const options_for<X, Mem>& o, A a = {}) const {
        auto sa = [&](const auto& h) {
            return dropout1.forward(self_attn.forward(h, h, h, {.attn_mask = o.tgt_mask, .key_padding_mask = o.tgt_key_padding_mask}, a), a);
        };
        auto ca = [&](const auto& h) {
            return dropout2.forward(
                multihead_attn.forward(h, memory, memory, {.attn_mask = o.memory_mask, .key_padding_mask = o.memory_key_padding_mask}, a), a);
        };
        auto ff = [&](const auto& h) {
            return dropout3.forward(linear2.forward(dropout_ff.forward(activation.forward(linear1.forward(h, a)), a), a), a);
        };
        if constexpr (norm_first) {
            auto n1 = detail::settle(norm1.forward(x, a));
            auto h1 = detail::settle(x + sa(n1));
            auto n2 = detail::settle(norm2.forward(h1, a));
            auto h2 = detail::settle(h1 + ca(n2));
            auto n3 = detail::settle(norm3.forward(h2, a));
            return detail::settle(h2 + ff(n3));
        } else {
            auto h1 = detail::settle(norm1.forward(x + sa(x), a));
            auto h2 = detail::settle(norm2.forward(h1 + ca(h1), a));
            return detail::settle(norm3.forward(h2 + ff(h2), a));
        }
    }
    /// forward(x, memory), forward(x, memory, use_values{}), and the older
    /// forward(x, memory, a, &tgt_mask).
    template <class X, class Mem, access_policy A = use_params, class M = detail::no_mask>
    auto forward(const X& x, const Mem& memory, A a = {}, const M* tgt_mask = nullptr) const {
        options_for<X, Mem> o;
        if constexpr (!std::is_same_v<M, detail::no_mask>) o.tgt_mask = tgt_mask;
        return forward(x, memory, o, a);
    }
    using module<transformer_decoder_layer>::operator();
    /// dec(tgt, memory, {.tgt_mask = &causal, .memory_key_padding_mask = &pad, ...}).
    template <class X, class Mem>
    auto operator()(const X& x, const Mem& memory, const options_for<X, Mem>& o) const {
        return as_node(forward(x, memory, o));
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
