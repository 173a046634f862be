// let: binds a graph to a name inside another graph, without the heap.
//
//   auto y = let([&] { return relu(x * w); },               // built once, held here
//                [&](const auto& h) { return h * h + h; });  // uses h three times, by reference
//
// The let_graph object owns the first graph and builds the second from a reference to it, so
// the bound graph is walked once however often it is used, and it lives exactly as long as
// the result. A let_graph never moves (it holds references into itself): create it where it
// is stored (return it as a prvalue from a function, or initialise a member with it).
#pragma once

#include <type_traits>
#include <utility>

#include "node.hpp"

namespace kiln {

template <class A, class R>
class let_graph : public ad_base<let_graph<A, R>> {
public:
    using value_t = std::remove_cvref_t<decltype(std::declval<const R&>().value())>;
    using value_type = typename value_t::value_type;
    using shape_type = typename value_t::shape_type;
    using device_type = typename value_t::device_type;

    template <class MakeA, class F>
    let_graph(MakeA&& make_a, F&& f) : a_(make_a()), r_(f(static_cast<const A&>(a_))) {}
    let_graph(const let_graph&) = delete;
    let_graph& operator=(const let_graph&) = delete;

    const value_t& value() const { return r_.value(); }
    void count_uses() const { r_.count_uses(); }
    template <class G>
    void accept(const G& g) const { r_.accept(g); }
    /// The bound graph.
    const A& bound() const { return a_; }

private:
    A a_;
    R r_;
};

/// let_graph of make_a() bound as the argument of f.
template <class MakeA, class F>
auto let(MakeA&& make_a, F&& f) {
    using A = decltype(make_a());
    using R = decltype(f(std::declval<const A&>()));
    return let_graph<A, R>(std::forward<MakeA>(make_a), std::forward<F>(f));
}

}  // namespace kiln
