// softmax and log_softmax along an axis, as op tags (forward + vjp) that nn/functional.hpp
// applies to tensors or graph nodes. The max is subtracted first, so large logits are safe.
#pragma once

#include "../primitive/binary.hpp"
#include "../primitive/reduce.hpp"
#include "../primitive/unary.hpp"

namespace kiln {

template <int Axis>
struct softmax_op {
    static constexpr const char* name = "softmax";
    template <class X>
    auto forward(const X& x) const {
        auto e = eval(exp(x - max<Axis, true>(x)));
        return eval(e / sum<Axis, true>(e));
    }
    template <std::size_t, class G, class Y, class X>
    auto vjp(const G& g, const Y& y, const X&) const {
        return y * (g - sum<Axis, true>(g * y));
    }
};

template <int Axis>
struct log_softmax_op {
    static constexpr const char* name = "log_softmax";
    template <class X>
    auto forward(const X& x) const {
        auto m = max<Axis, true>(x);
        auto s = sum<Axis, true>(exp(x - m));
        return eval(x - m - log(s));
    }
    template <std::size_t, class G, class Y, class X>
    auto vjp(const G& g, const Y& y, const X&) const {
        return g - exp(y) * sum<Axis, true>(g);
    }
};

}  // namespace kiln
