// Multi-head attention (torch.nn.MultiheadAttention, batch_first), sinusoidal positional
// encoding, with torch's options and parameter names; the transformer layers built from them are
// in transformer.hpp (included at the end).
// Inputs are [batch, sequence, features].
//
// multi_head_attention<E, H, Device = cpu, T = float, KDim = E, VDim = E>
//   y = attn(query, key, value);                            // [B, Sq, E] from [B, Sq, E], [B, Sk, KDim], [B, Sk, VDim]
//   y = attn(q, k, v, {.attn_mask = &m, .key_padding_mask = &pad});
//   auto [y, w] = attn.forward_with_weights(q, k, v, {...});  // w: [B, Sq, Sk], averaged over heads
//   auto [y, w] = attn.forward_with_weights<false>(q, k, v); // w: [B, H, Sq, Sk] (average_attn_weights=False)
//   attn.forward(q, kv, use_values{}, &mask)                 // the older spelling (keys = values = kv) still works
// Parameters as torch's state_dict: in_proj_weight [3E, E] and in_proj_bias [3E] when
// KDim == VDim == E; otherwise q_proj_weight [E, E], k_proj_weight [E, KDim], v_proj_weight
// [E, VDim] and in_proj_bias; then out_proj.weight, out_proj.bias.
//
// Masks, as torch (each optional; pass a pointer or the tensor itself, nullptr for none):
//   attn_mask         [Sq, Sk] for every batch and head, or [B * H, Sq, Sk] (torch's 3-D layout,
//                     batch-major). tensor<bool, ...> (on the CPU for every device): true = may
//                     NOT attend. tensor<T, ..., Device>: added to the scores (-inf hides).
//   key_padding_mask  [B, Sk]. bool: true = this key is padding, ignore it. T: added.
// Both given: combined like torch (a masked position of either is masked). Masks are copied
// into the graph (it owns them), so masks that are locals or temporaries are fine.
// A query row whose every key is masked: torch returns nan. kiln returns attention weights of
// 0 for that row (the row attends to nothing), so its output is out_proj.bias, and no gradient
// flows through its scores. Masks cost work only when given: without them the forward does
// exactly the unmasked softmax.
// Not supported: torch's dropout on the attention weights (MultiheadAttention(dropout=p); the
// transformer layers below do not drop attention weights either), bias=False, add_bias_kv,
// add_zero_attn.
//
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
#include <type_traits>

#include "../autodiff/ops.hpp"
#include "activation.hpp"
#include "dropout.hpp"
#include "functional.hpp"
#include "linear.hpp"
#include "norm.hpp"
#include "options.hpp"

namespace kiln::nn {

/// use_params or use_values: how a forward reads its parameters.
template <class A>
concept access_policy = std::is_same_v<A, use_params> || std::is_same_v<A, use_values>;

/// An attn_mask argument: a pointer to (or the) [Sq, Sk] or [B * H, Sq, Sk] mask, boolean
/// (true = masked) or additive (T, on the layer's device); empty by default.
template <class T, std::size_t B, std::size_t H, std::size_t Sq, std::size_t Sk, class D = cpu>
class attn_mask_arg {
public:
    using bool_2d = tensor<bool, shape<Sq, Sk>>;
    using float_2d = tensor<T, shape<Sq, Sk>, D>;
    using bool_3d = tensor<bool, shape<B * H, Sq, Sk>>;
    using float_3d = tensor<T, shape<B * H, Sq, Sk>, D>;

    attn_mask_arg() = default;
    attn_mask_arg(std::nullptr_t) {}
    attn_mask_arg(const bool_2d* m) : b2_(m) {}
    attn_mask_arg(const float_2d* m) : f2_(m) {}
    attn_mask_arg(const bool_3d* m) : b3_(m) {}
    attn_mask_arg(const float_3d* m) : f3_(m) {}
    attn_mask_arg(const bool_2d& m) : b2_(&m) {}
    attn_mask_arg(const float_2d& m) : f2_(&m) {}
    attn_mask_arg(const bool_3d& m) : b3_(&m) {}
    attn_mask_arg(const float_3d& m) : f3_(&m) {}

    explicit operator bool() const { return b2_ || f2_ || b3_ || f3_; }
    const bool_2d* bool_2d_mask() const { return b2_; }
    const float_2d* float_2d_mask() const { return f2_; }
    const bool_3d* bool_3d_mask() const { return b3_; }
    const float_3d* float_3d_mask() const { return f3_; }

private:
    const bool_2d* b2_ = nullptr;
    const float_2d* f2_ = nullptr;
    const bool_3d* b3_ = nullptr;
    const float_3d* f3_ = nullptr;
};

/// A key_padding_mask argument: [B, Sk], boolean (true = padding, ignored) or additive.
template <class T, std::size_t B, std::size_t Sk, class D = cpu>
class padding_mask_arg {
public:
    using bool_mask = tensor<bool, shape<B, Sk>>;
    using float_mask = tensor<T, shape<B, Sk>, D>;

    padding_mask_arg() = default;
    padding_mask_arg(std::nullptr_t) {}
    padding_mask_arg(const bool_mask* m) : b_(m) {}
    padding_mask_arg(const float_mask* m) : f_(m) {}
    padding_mask_arg(const bool_mask& m) : b_(&m) {}
    padding_mask_arg(const float_mask& m) : f_(&m) {}

    explicit operator bool() const { return b_ || f_; }
    const bool_mask* bool_padding() const { return b_; }
    const float_mask* float_padding() const { return f_; }

private:
    const bool_mask* b_ = nullptr;
    const float_mask* f_ = nullptr;
};

/// multi_head_attention's options (torch's keyword arguments of MultiheadAttention.forward).
template <class T, std::size_t B, std::size_t H, std::size_t Sq, std::size_t Sk, class D = cpu>
struct attention_options {
    attn_mask_arg<T, B, H, Sq, Sk, D> attn_mask{};
    padding_mask_arg<T, B, Sk, D> key_padding_mask{};
};
/// transformer_encoder_layer's options (TransformerEncoderLayer.forward's).
template <class T, std::size_t B, std::size_t H, std::size_t S, class D = cpu>
struct encoder_options {
    attn_mask_arg<T, B, H, S, S, D> src_mask{};
    padding_mask_arg<T, B, S, D> src_key_padding_mask{};
};
/// transformer_decoder_layer's options (TransformerDecoderLayer.forward's).
template <class T, std::size_t B, std::size_t H, std::size_t St, std::size_t Ss, class D = cpu>
struct decoder_options {
    attn_mask_arg<T, B, H, St, St, D> tgt_mask{};
    attn_mask_arg<T, B, H, St, Ss, D> memory_mask{};
    padding_mask_arg<T, B, St, D> tgt_key_padding_mask{};
    padding_mask_arg<T, B, Ss, D> memory_key_padding_mask{};
};

/// What forward_with_weights returns: `auto [y, w] = attn.forward_with_weights(q, k, v);`.
template <class O, class W>
struct attention_result {
    O output;
    W weights;
};

/// Values of the transformer layers' constructor (torch's keyword arguments).
struct transformer_layer_options {
    float dropout = 0.1f;          // every dropout of the layer (not the attention weights)
    double layer_norm_eps = 1e-5;  // eps of every layer_norm
};

/// Transformer layer option: pre-norm (torch's norm_first=True).
struct norm_first {
    static constexpr bool transformer_option = true;
};

namespace detail {
/// Extent I of S, or 1 past its rank (so a wrong rank reaches the layer's static_assert).
template <class S, std::size_t I>
inline constexpr std::size_t extent_or_1 = [] {
    if constexpr (I < S::rank)
        return S::extents[I];
    else
        return std::size_t(1);
}();

/// The masks of one attention call, additive and on the device, shared by the graph's op.
template <class T, std::size_t B, std::size_t H, std::size_t Sq, std::size_t Sk, class D>
struct attention_masks {
    std::shared_ptr<const tensor<T, shape<1, 1, Sq, Sk>, D>> shared;   // attn_mask [Sq, Sk]
    std::shared_ptr<const tensor<T, shape<B, H, Sq, Sk>, D>> per_head;  // attn_mask [B * H, Sq, Sk]
    std::shared_ptr<const tensor<T, shape<B, 1, 1, Sk>, D>> padding;    // key_padding_mask
    bool any() const { return shared || per_head || padding; }

    template <class Dst, class Src>
    static std::shared_ptr<const Dst> additive(const Src& m) {
        if constexpr (std::is_same_v<value_of_t<Src>, bool>) {
            tensor<T, typename Dst::shape_type> t;
            for (std::size_t i = 0; i < Dst::shape_type::size; ++i)
                t[i] = m[i] ? -std::numeric_limits<T>::infinity() : T(0);
            return std::make_shared<const Dst>(to<D>(t));
        } else {
            return std::make_shared<const Dst>(reshape<typename Dst::shape_type>(m));
        }
    }
    attention_masks() = default;
    attention_masks(const attn_mask_arg<T, B, H, Sq, Sk, D>& a, const padding_mask_arg<T, B, Sk, D>& p) {
        using shared_t = tensor<T, shape<1, 1, Sq, Sk>, D>;
        using head_t = tensor<T, shape<B, H, Sq, Sk>, D>;
        using pad_t = tensor<T, shape<B, 1, 1, Sk>, D>;
        if (a.bool_2d_mask()) shared = additive<shared_t>(*a.bool_2d_mask());
        if (a.float_2d_mask()) shared = additive<shared_t>(*a.float_2d_mask());
        if (a.bool_3d_mask()) per_head = additive<head_t>(*a.bool_3d_mask());
        if (a.float_3d_mask()) per_head = additive<head_t>(*a.float_3d_mask());
        if (p.bool_padding()) padding = additive<pad_t>(*p.bool_padding());
        if (p.float_padding()) padding = additive<pad_t>(*p.float_padding());
    }
};

/// Softmax over the last axis of the scores with the masks added first. Without masks it is
/// softmax_op's work exactly. With masks, a row that is masked everywhere gets weights 0 (not
/// torch's nan). The vjp is softmax's: masked entries have y = 0, so they get no gradient.
template <class Masks>
struct masked_softmax_op {
    static constexpr const char* name = "softmax";
    Masks masks;

    template <class X>
    auto forward(const X& x) const {
        using R = eval_t<X>;
        using T = value_of_t<X>;
        if (!masks.any()) {
            R e = exp(x - max<-1, true>(x));
            return R(e / sum<-1, true>(e));
        }
        auto add_padding = [&](const auto& s) -> R {
            if (masks.padding) return R(s + *masks.padding);
            return R(s);
        };
        R z = masks.shared ? add_padding(x + *masks.shared) : masks.per_head ? add_padding(x + *masks.per_head) : add_padding(x);
        // max over a fully masked row is -inf: shift by the lowest finite number instead, so its
        // exps are exp(-inf) = 0; a row with any visible key has sum >= 1 (its max gives exp(0)).
        R e = exp(z - maximum(max<-1, true>(z), std::numeric_limits<T>::lowest()));
        return R(e / maximum(sum<-1, true>(e), T(1)));
    }
    template <std::size_t, class G, class Y, class X>
    auto vjp(const G& g, const Y& y, const X&) const {
        return y * (g - sum<-1, true>(g * y));
    }
};

/// A graph stays a graph (a handle); a plain expression is evaluated (inference).
template <class X>
auto settle(X&& x) {
    if constexpr (ad_expression<X>)
        return std::remove_cvref_t<X>(std::forward<X>(x));
    else
        return eval(std::forward<X>(x));
}

/// The input projections: packed (in_proj_weight) when key and value have the embedding size.
template <std::size_t E, std::size_t KD, std::size_t VD, class D, class T, bool Packed = (KD == E && VD == E)>
struct attention_projections {
    param<T, shape<3 * E, E>, D> in_proj_weight;
    template <class A>
    auto q_weight(A a) const { return slice<0, 0, E>(a(in_proj_weight)); }
    template <class A>
    auto k_weight(A a) const { return slice<0, E, 2 * E>(a(in_proj_weight)); }
    template <class A>
    auto v_weight(A a) const { return slice<0, 2 * E, 3 * E>(a(in_proj_weight)); }
    void init_projections(generator& g) {  // torch: xavier_uniform_ on the packed [3E, E]
        const T bound = std::sqrt(T(6) / T(E + 3 * E));
        in_proj_weight.value() = uniform<T, shape<3 * E, E>, D>(g, -bound, bound);
    }
    template <class F>
    void visit_projections(const std::string& prefix, F& f) {
        f(prefix + "in_proj_weight", in_proj_weight);
    }
};
template <std::size_t E, std::size_t KD, std::size_t VD, class D, class T>
struct attention_projections<E, KD, VD, D, T, false> {
    param<T, shape<E, E>, D> q_proj_weight;
    param<T, shape<E, KD>, D> k_proj_weight;
    param<T, shape<E, VD>, D> v_proj_weight;
    template <class A>
    decltype(auto) q_weight(A a) const { return a(q_proj_weight); }
    template <class A>
    decltype(auto) k_weight(A a) const { return a(k_proj_weight); }
    template <class A>
    decltype(auto) v_weight(A a) const { return a(v_proj_weight); }
    void init_projections(generator& g) {  // torch: xavier_uniform_ on each
        auto xavier = [&](auto& p, std::size_t fan_in) {
            using P = std::remove_cvref_t<decltype(p)>;
            const T bound = std::sqrt(T(6) / T(E + fan_in));
            p.value() = uniform<T, typename P::shape_type, D>(g, -bound, bound);
        };
        xavier(q_proj_weight, E);
        xavier(k_proj_weight, KD);
        xavier(v_proj_weight, VD);
    }
    template <class F>
    void visit_projections(const std::string& prefix, F& f) {
        f(prefix + "q_proj_weight", q_proj_weight);
        f(prefix + "k_proj_weight", k_proj_weight);
        f(prefix + "v_proj_weight", v_proj_weight);
    }
};

struct no_mask {};

template <class O>
struct is_activation_option : std::bool_constant<std::is_base_of_v<stateless, O> && !device_option<O>> {};
template <class O>
concept transformer_flag = requires { O::transformer_option; };

/// The options of a transformer layer, checked.
template <class... Opts>
struct transformer_layer_config {
    static constexpr bool checked = [] {
        static_assert(((device_option<Opts> || std::is_floating_point_v<Opts> || is_activation_option<Opts>::value ||
                        transformer_flag<Opts>) &&
                       ...),
                      "[transformer] unknown option: expected a device (kiln::cpu, kiln::vulkan), a floating-point "
                      "value type, an activation (nn::relu, nn::gelu) or nn::norm_first");
        static_assert((std::size_t(device_option<Opts>) + ... + 0) <= 1, "[transformer] more than one device given");
        static_assert((std::size_t(std::is_floating_point_v<Opts>) + ... + 0) <= 1,
                      "[transformer] more than one value type given");
        static_assert((std::size_t(is_activation_option<Opts>::value) + ... + 0) <= 1,
                      "[transformer] more than one activation given");
        return true;
    }();
    using device = std::conditional_t<checked, typename first_of<cpu, is_device_pred, Opts...>::type, void>;
    using value_type = typename first_of<float, std::is_floating_point, Opts...>::type;
    using activation = typename first_of<nn::relu, is_activation_option, Opts...>::type;
    static constexpr bool pre_norm = (std::is_same_v<Opts, nn::norm_first> || ...);
};
}  // namespace detail

template <std::size_t E, std::size_t H, class D = cpu, class T = float, std::size_t KDim = E, std::size_t VDim = E>
struct multi_head_attention : detail::attention_projections<E, KDim, VDim, D, T>,
                              module<multi_head_attention<E, H, D, T, KDim, VDim>> {
    static_assert(E % H == 0, "[multi_head_attention] embed_dim must be divisible by num_heads");
    static constexpr std::size_t head_dim = E / H;
    static constexpr std::size_t kdim = KDim, vdim = VDim;
    param<T, shape<3 * E>, D> in_proj_bias;
    linear<E, E, D, T> out_proj;
    static constexpr std::size_t parameters = E * E + E * KDim + E * VDim + 3 * E + E * E + E;
    /// Forward FLOPs of self-attention over XS = [B, S, E]: projections and the two products.
    template <class XS>
    static constexpr std::size_t flops() {
        constexpr std::size_t B = XS::extents[0], S = XS::extents[1];
        return 2 * B * S * E * (E + KDim + VDim + E) + 2 * 2 * B * S * S * E;
    }
    /// The options type for queries Q and keys K (what `{.attn_mask = ...}` initialises).
    template <class Q, class K>
    using options_for = attention_options<T, detail::extent_or_1<shape_of_t<Q>, 0>, H, detail::extent_or_1<shape_of_t<Q>, 1>,
                                          detail::extent_or_1<shape_of_t<K>, 1>, D>;

    explicit multi_head_attention(generator& g = default_generator()) : out_proj(g) {
        // torch: xavier_uniform_ on the input projections, zero in_proj_bias and out_proj.bias
        this->init_projections(g);
        out_proj.bias.value().fill(T(0));
    }

    /// torch's attn(query, key, value, attn_mask=, key_padding_mask=)[0]: query [B, Sq, E],
    /// key [B, Sk, KDim], value [B, Sk, VDim] -> [B, Sq, E].
    template <class Q, class K, class V, class A = use_params>
        requires(!access_policy<V> && access_policy<A>)
    auto forward(const Q& q, const K& k, const V& v, const options_for<Q, K>& o = {}, A a = {}) const {
        return run<false, true>(q, k, v, o, a);
    }
    template <class Q, class K, class V, access_policy A>
        requires(!access_policy<V>)
    auto forward(const Q& q, const K& k, const V& v, A a) const {
        return run<false, true>(q, k, v, options_for<Q, K>{}, a);
    }
    /// The older spelling: keys and values both kv; mask [Sq, Sk] added to the scores (or bool).
    template <class Q, class KV, access_policy A = use_params, class M = detail::no_mask>
    auto forward(const Q& q, const KV& kv, A a = {}, const M* mask = nullptr) const {
        options_for<Q, KV> o;
        if constexpr (!std::is_same_v<M, detail::no_mask>) o.attn_mask = mask;
        return run<false, true>(q, kv, kv, o, a);
    }
    /// torch's need_weights=True: {output, weights}; weights [B, Sq, Sk] averaged over heads,
    /// or [B, H, Sq, Sk] per head with AverageHeads = false (average_attn_weights=False).
    template <bool AverageHeads = true, class Q, class K, class V, class A = use_params>
        requires(!access_policy<V> && access_policy<A>)
    auto forward_with_weights(const Q& q, const K& k, const V& v, const options_for<Q, K>& o = {}, A a = {}) const {
        return run<true, AverageHeads>(q, k, v, o, a);
    }
    /// attn(q, k, v, {.attn_mask = ...}): module call syntax with options.
    using module<multi_head_attention>::operator();
    template <class Q, class K, class V>
        requires(!access_policy<V>)
    auto operator()(const Q& q, const K& k, const V& v, const options_for<Q, K>& o) const {
        return as_node(forward(q, k, v, o));
    }

    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        this->visit_projections(prefix, f);
        f(prefix + "in_proj_bias", in_proj_bias);
        out_proj.visit_parameters(prefix + "out_proj.", f);
    }
    void train(bool = true) {}

private:
    template <bool Weights, bool AverageHeads, class Q, class K, class V, class O, class A>
    auto run(const Q& q, const K& k, const V& v, const O& o, A a) const {
        using QS = shape_of_t<Q>;
        using KS = shape_of_t<K>;
        using VS = shape_of_t<V>;
        static_assert(QS::rank == 3 && QS::extents[2] == E, "[multi_head_attention] query must be [B, Sq, embed_dim]");
        static_assert(KS::rank == 3 && KS::extents[2] == KDim && KS::extents[0] == QS::extents[0],
                      "[multi_head_attention] key must be [B, Sk, kdim] with the query's batch");
        static_assert(VS::rank == 3 && VS::extents[2] == VDim && VS::extents[0] == QS::extents[0] &&
                          VS::extents[1] == KS::extents[1],
                      "[multi_head_attention] value must be [B, Sk, vdim] with the key's batch and length");
        constexpr std::size_t B = QS::extents[0], Sq = QS::extents[1], Sk = KS::extents[1];
        const auto& b = a(in_proj_bias);
        auto split = [](auto&& t, auto s) {  // [B, S, E] -> [B, H, S, head_dim]
            constexpr std::size_t S = decltype(s)::value;
            return permute<0, 2, 1, 3>(reshape<shape<B, S, H, head_dim>>(std::forward<decltype(t)>(t)));
        };
        auto qh = split(functional::linear(q, this->q_weight(a), slice<0, 0, E>(b)), std::integral_constant<std::size_t, Sq>{});
        auto kh = split(functional::linear(k, this->k_weight(a), slice<0, E, 2 * E>(b)), std::integral_constant<std::size_t, Sk>{});
        auto vh = split(functional::linear(v, this->v_weight(a), slice<0, 2 * E, 3 * E>(b)), std::integral_constant<std::size_t, Sk>{});
        const T scale = T(1) / std::sqrt(T(head_dim));
        using masks_t = detail::attention_masks<T, B, H, Sq, Sk, D>;
        masks_t masks = (o.attn_mask || o.key_padding_mask) ? masks_t(o.attn_mask, o.key_padding_mask) : masks_t();
        auto attn = apply_op(detail::masked_softmax_op<masks_t>{std::move(masks)},
                             matmul(std::move(qh), transpose(std::move(kh))) * scale);  // [B, H, Sq, Sk]
        auto ctx = matmul(attn, std::move(vh));                                            // [B, H, Sq, hd]
        auto out = out_proj.forward(reshape<shape<B, Sq, E>>(permute<0, 2, 1, 3>(std::move(ctx))), a);
        if constexpr (!Weights) {
            return out;
        } else if constexpr (AverageHeads) {
            auto w = detail::settle(mean<1>(attn));
            return attention_result<decltype(as_node(out)), decltype(as_node(w))>{as_node(out), as_node(w)};
        } else {
            return attention_result<decltype(as_node(out)), decltype(as_node(attn))>{as_node(out), as_node(attn)};
        }
    }
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

}  // namespace kiln::nn

#include "transformer.hpp"
