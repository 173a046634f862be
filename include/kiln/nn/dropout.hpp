// torch.nn.Dropout: in training, zeroes each element with probability p and scales the rest
// by 1/(1-p); in evaluation (and in predict()) it is the identity.
// An aggregate, so nn::dropout{0.25} (torch's Dropout(0.25)), nn::dropout{.p = 0.25f} and
// `nn::dropout d; d.p = 0.25f;` all work; that is also why it has no nn::module base (a base
// would take the first initializer) and spells out the call syntax itself.
#pragma once

#include "../autodiff/ops.hpp"
#include "layer.hpp"

namespace kiln::nn {

struct dropout {
    float p = 0.5f;
    generator* gen = &default_generator();
    bool training_ = true;

    template <class X, class A = use_params>
    auto forward(X&& x, A = {}) const {
        if constexpr (std::is_same_v<A, use_values>) {
            return std::forward<X>(x) * 1;  // inference: identity
        } else {
            using XT = std::remove_cvref_t<X>;
            using T = typename XT::value_type;
            using S = typename XT::shape_type;
            tensor<T, S> mask;
            const T keep = T(1) / (T(1) - T(p));
            if (training_ && p > 0)
                for (auto& m : mask) m = gen->next_float() < p ? T(0) : keep;
            else
                mask.fill(T(1));
            return std::forward<X>(x) * to<typename XT::device_type>(mask);
        }
    }
    /// forward(x): drop(x), like a module.
    template <class X>
    auto operator()(X&& x) const {
        return forward(std::forward<X>(x));
    }
    template <class F>
    void visit_parameters(const std::string&, F&&) {}
    void train(bool on = true) { training_ = on; }
};

}  // namespace kiln::nn
