// Activation layers (torch.nn.ReLU, LeakyReLU, GELU, Sigmoid, Tanh, Softmax, LogSoftmax) and
// Flatten: stateless wrappers of the functions.
#pragma once

#include "../autodiff/ops.hpp"
#include "functional.hpp"
#include "layer.hpp"

namespace kiln::nn {

#define KILN_ACTIVATION_LAYER(cls, fn)                      \
    struct cls : stateless, module<cls> {                  \
        template <class X, class A = use_params>           \
        auto forward(X&& x, A = {}) const {                \
            return kiln::fn(std::forward<X>(x));           \
        }                                                  \
    };
KILN_ACTIVATION_LAYER(relu, relu)
KILN_ACTIVATION_LAYER(gelu, gelu)
KILN_ACTIVATION_LAYER(sigmoid, sigmoid)
KILN_ACTIVATION_LAYER(tanh, tanh)
#undef KILN_ACTIVATION_LAYER

struct leaky_relu : stateless, module<leaky_relu> {
    float negative_slope = 0.01f;
    template <class X, class A = use_params>
    auto forward(X&& x, A = {}) const {
        return kiln::leaky_relu(std::forward<X>(x), negative_slope);
    }
};
template <int Axis = -1>
struct softmax_layer : stateless, module<softmax_layer<Axis>> {
    template <class X, class A = use_params>
    auto forward(X&& x, A = {}) const { return functional::softmax<Axis>(std::forward<X>(x)); }
};
template <int Axis = -1>
struct log_softmax_layer : stateless, module<log_softmax_layer<Axis>> {
    template <class X, class A = use_params>
    auto forward(X&& x, A = {}) const { return functional::log_softmax<Axis>(std::forward<X>(x)); }
};
/// torch.nn.Flatten: merges axes Start..End (default: all but the batch axis).
template <int Start = 1, int End = -1>
struct flatten : stateless, module<flatten<Start, End>> {
    template <class X, class A = use_params>
    auto forward(X&& x, A = {}) const { return kiln::flatten<Start, End>(std::forward<X>(x)); }
};

}  // namespace kiln::nn

namespace kiln::nn {

/// [N, C, H, W] feature maps to [N, H*W, C] tokens: one token per position, its channels as
/// the embedding (how a CNN feeds attention real sequences).
struct to_tokens : stateless, module<to_tokens> {
    template <class X, class A = use_params>
    auto forward(X&& x, A = {}) const {
        using S = typename std::remove_cvref_t<X>::shape_type;
        static_assert(S::rank == 4, "[to_tokens] input must be [N, C, H, W]");
        return kiln::reshape<shape<S::extents[0], S::extents[2] * S::extents[3], S::extents[1]>>(
            kiln::permute<0, 2, 3, 1>(std::forward<X>(x)));
    }
};
/// Mean over axis Axis (e.g. average the tokens of [N, T, E] into [N, E]).
template <int Axis>
struct mean_pool : stateless, module<mean_pool<Axis>> {
    template <class X, class A = use_params>
    auto forward(X&& x, A = {}) const { return kiln::mean<Axis>(std::forward<X>(x)); }
};

}  // namespace kiln::nn
