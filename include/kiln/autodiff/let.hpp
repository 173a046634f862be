// let: binds a graph to a name inside another graph.
//
//   auto y = let([&] { return relu(x * w); },               // built once
//                [&](const auto& h) { return h * h + h; });  // uses h three times
//
// Since graphs own what they use (node.hpp), this is the same as naming the graph:
// `auto h = relu(x * w); auto y = h * h + h;`. It stays for code written before that.
#pragma once

#include <utility>

#include "node.hpp"

namespace kiln {

/// f(make_a()): the graph f builds from the bound graph.
template <class MakeA, class F>
auto let(MakeA&& make_a, F&& f) {
    const auto a = make_a();
    return f(a);
}

}  // namespace kiln
