// Shared pieces of layers: how a forward reads its parameters (as graph leaves when training,
// as plain tensors for inference) and PyTorch's default initialisation.
#pragma once

#include <cmath>
#include <string>

#include "../autodiff/node.hpp"
#include "../core/random.hpp"
#include "module.hpp"

namespace kiln::nn {

/// U(-bound, bound) with bound = 1/sqrt(fan_in): torch's kaiming_uniform_(a=sqrt(5)) for
/// Linear/Conv weights, and its default bias init.
template <class P>
void init_fan_in_uniform(P& p, std::size_t fan_in, generator& g = default_generator()) {
    using T = typename P::value_type;
    const T bound = T(1) / std::sqrt(T(fan_in));
    p.value() = uniform<T, typename P::shape_type, typename P::device_type>(g, -bound, bound);
}

/// Layers without parameters or state.
struct stateless {
    template <class F>
    void visit_parameters(const std::string&, F&&) {}
    void train(bool = true) {}
};

}  // namespace kiln::nn
