// sequential<Layers...>: layers stored head/tail (never std::tuple + get<I>: 16x slower to
// compile), output shape deduced at compile time, parameters named "0.weight", "1.bias", ...
//
// Training forward returns a chain of per-layer graphs built in place. Between two layers a
// boundary leaf holds the previous layer's output and, once its adjoint is complete, sends it
// into the previous graph through one function pointer. So each graph's type depth is the
// number of ops in one layer, never the depth of the model, and nothing is heap-allocated
// beyond the values themselves.
#pragma once

#include <string>
#include <type_traits>
#include <utility>

#include "layer.hpp"

namespace kiln::nn {

/// A graph leaf whose value is another graph's output; backward continues into that graph.
template <class V>
class boundary : public ad_base<boundary<V>> {
public:
    using value_type = typename V::value_type;
    using shape_type = typename V::shape_type;
    using device_type = typename V::device_type;

    template <class G>
    explicit boundary(const G& upstream)
        : value_(&upstream.value()), up_(&upstream), send_([](const void* up, const V& g) {
              const G& u = *static_cast<const G*>(up);
              u.count_uses();
              u.accept(g);
          }) {}
    boundary(const boundary&) = delete;
    boundary& operator=(const boundary&) = delete;

    const V& value() const { return *value_; }
    void count_uses() const { ++pending_; }
    template <class Gr>
    void accept(const Gr& g) const {
        if (pending_ == 1 && !adjoint_) {  // the only use: no copy of a ready tensor
            pending_ = 0;
            if constexpr (std::is_same_v<Gr, V>) {
                send_(up_, g);
            } else {
                V a(g);
                send_(up_, a);
            }
            return;
        }
        if (!adjoint_)
            adjoint_.emplace(g);
        else
            *adjoint_ = *adjoint_ + g;
        if (--pending_ == 0) {
            V a = std::move(*adjoint_);
            adjoint_.reset();
            send_(up_, a);
        }
    }

private:
    const V* value_;
    const void* up_;
    void (*send_)(const void*, const V&);
    mutable int pending_ = 0;
    mutable std::optional<V> adjoint_;
};

template <class... L>
struct sequential;

namespace detail {
template <class G>
using graph_value_t = std::remove_cvref_t<decltype(std::declval<const G&>().value())>;

/// The graphs of layers L... applied to an input of type X, built in place, never moved.
template <class X, class... L>
struct chain;
template <class X, class L>
struct chain<X, L> : ad_base<chain<X, L>> {
    using graph_t = decltype(std::declval<const L&>().forward(std::declval<X>()));
    using last_t = graph_t;
    graph_t g;
    template <class Seq>
    chain(const Seq& s, X x) : g(s.head.forward(std::forward<X>(x))) {}
    chain(const chain&) = delete;
    const auto& value() const { return g.value(); }
    const graph_t& last() const { return g; }
    void count_uses() const { g.count_uses(); }
    template <class Gr>
    void accept(const Gr& a) const { g.accept(a); }
};
template <class X, class L, class... Rest>
struct chain<X, L, Rest...> {
    using graph_t = decltype(std::declval<const L&>().forward(std::declval<X>()));
    graph_t g;
    boundary<graph_value_t<graph_t>> b;
    chain<const boundary<graph_value_t<graph_t>>&, Rest...> rest;
    using last_t = typename decltype(rest)::last_t;
    template <class Seq>
    chain(const Seq& s, X x) : g(s.head.forward(std::forward<X>(x))), b(g), rest(s.tail, b) {}
    chain(const chain&) = delete;
    const auto& last() const { return rest.last(); }
};
}  // namespace detail

/// The graph of a whole forward pass: a differentiable value like any node.
template <class X, class... L>
class forward_graph : public ad_base<forward_graph<X, L...>> {
public:
    template <class Seq>
    forward_graph(const Seq& s, X x) : c_(s, std::forward<X>(x)) {}
    forward_graph(const forward_graph&) = delete;
    using value_t = detail::graph_value_t<typename detail::chain<X, L...>::last_t>;
    const value_t& value() const { return c_.last().value(); }
    using value_type = typename value_t::value_type;
    using shape_type = typename value_t::shape_type;
    using device_type = typename value_t::device_type;
    void count_uses() const { c_.last().count_uses(); }
    template <class Gr>
    void accept(const Gr& a) const { c_.last().accept(a); }

private:
    detail::chain<X, L...> c_;
};

template <>
struct sequential<> {};

namespace detail {
/// The device a layer's parameters live on (its `weight`'s, or its own device_type), else F.
template <class L, class F>
struct layer_device {
    using type = F;
};
template <class L, class F>
    requires requires { typename L::device_type; }
struct layer_device<L, F> {
    using type = typename L::device_type;
};
template <class L, class F>
    requires(!requires { typename L::device_type; } && requires(L& l) { l.weight; })
struct layer_device<L, F> {
    using type = typename std::remove_cvref_t<decltype(std::declval<L&>().weight)>::device_type;
};
}  // namespace detail

template <class Head, class... Tail>
struct sequential<Head, Tail...> {
    /// The device of the first layer with parameters (cpu for a model without any).
    using device_type = typename detail::layer_device<
        Head, typename std::conditional_t<sizeof...(Tail) == 0, std::type_identity<cpu>,
                                          detail::layer_device<sequential<Tail...>, cpu>>::type>::type;
    Head head;
    sequential<Tail...> tail;

    /// A training forward pass: the graph of every layer (keep x alive until backward).
    template <class X>
    forward_graph<const X&, Head, Tail...> operator()(const X& x) const {
        return forward_graph<const X&, Head, Tail...>(*this, x);
    }
    /// Inference: plain tensors, no graph (each layer's output is evaluated once).
    template <class X>
    auto predict(const X& x) const {
        auto y = eval(head.forward(x, use_values{}));
        if constexpr (sizeof...(Tail) == 0)
            return y;
        else
            return tail.predict(y);
    }
    template <class F>
    void visit_parameters(const std::string& prefix, F&& f) {
        visit_from(0, prefix, f);
    }
    template <class F>
    void visit_buffers(const std::string& prefix, F&& f) {
        visit_buffers_from(0, prefix, f);
    }
    void train(bool on = true) {
        training_ = on;
        head.train(on);
        if constexpr (sizeof...(Tail) > 0) tail.train(on);
    }
    void eval_mode() { train(false); }
    bool training() const { return training_; }
    /// Trainable scalars (a compile-time constant).
    static constexpr std::size_t parameters = [] {
        std::size_t n = 0;
        if constexpr (requires { Head::parameters; }) n += Head::parameters;
        if constexpr (sizeof...(Tail) > 0) n += sequential<Tail...>::parameters;
        return n;
    }();
    /// Forward FLOPs (2 per multiply-add of the linear, convolution and attention layers) for
    /// an input of shape In; each layer's input shape is deduced at compile time.
    template <class In>
    static constexpr std::size_t flops() {
        std::size_t f = 0;
        if constexpr (requires { Head::template flops<In>(); }) f += Head::template flops<In>();
        if constexpr (sizeof...(Tail) > 0) {
            using Next = typename decltype(std::declval<const Head&>().forward(
                std::declval<const tensor<float, In, device_type>&>(), use_values{}))::shape_type;
            f += sequential<Tail...>::template flops<Next>();
        }
        return f;
    }

    template <class F>
    void visit_from(std::size_t index, const std::string& prefix, F& f) {
        head.visit_parameters(prefix + std::to_string(index) + ".", f);
        if constexpr (sizeof...(Tail) > 0) tail.visit_from(index + 1, prefix, f);
    }
    template <class F>
    void visit_buffers_from(std::size_t index, const std::string& prefix, F& f) {
        if constexpr (has_buffers<Head>) head.visit_buffers(prefix + std::to_string(index) + ".", f);
        if constexpr (sizeof...(Tail) > 0) tail.visit_buffers_from(index + 1, prefix, f);
    }

private:
    bool training_ = true;
};

/// The output shape of model M for inputs of shape In (deduced at compile time).
template <class M, class In, class T = float>
using output_shape_t = typename decltype(std::declval<const M&>().predict(
    std::declval<const tensor<T, In, typename detail::layer_device<M, cpu>::type>&>()))::shape_type;

}  // namespace kiln::nn
