// The functional API (torch.nn.functional): each works on tensors and on graph nodes alike.
#pragma once

#include "../autodiff/ops.hpp"
#include "../ops/composite/activation.hpp"
#include "../ops/composite/linear.hpp"

namespace kiln::nn::functional {

/// softmax along Axis (default: the last).
template <int Axis = -1, class X>
auto softmax(X&& x) { return apply_op(softmax_op<Axis>{}, std::forward<X>(x)); }
/// log(softmax(x)) along Axis, computed stably.
template <int Axis = -1, class X>
auto log_softmax(X&& x) { return apply_op(log_softmax_op<Axis>{}, std::forward<X>(x)); }
/// x W^T + b with W [out, in] (torch.nn.functional.linear).
template <class X, class W, class B>
auto linear(X&& x, W&& w, B&& b) {
    return apply_op(linear_op{}, std::forward<X>(x), std::forward<W>(w), std::forward<B>(b));
}

}  // namespace kiln::nn::functional
