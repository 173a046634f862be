// sequential<Layers...>: layers stored head/tail (never std::tuple + get<I>: 16x slower to
// compile), output shape deduced at compile time, parameters named "0.weight", "1.bias", ...
//
// The training forward erases each layer's graph type into a node<T, S, D> (autodiff/node.hpp)
// before the next layer: backward crosses a layer through one function pointer, so a graph's
// type depth is the number of ops in one layer, never the depth of the model. get<I>(model)
// reaches layer I (`get<2>(model).p = 0.25f`).
#pragma once

#include <string>
#include <type_traits>
#include <utility>

#include "layer.hpp"

namespace kiln::nn {

template <class... L>
struct sequential;

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

    /// A training forward pass: the graph of every layer, as a node<T, S, D>.
    template <class X>
    auto operator()(X&& x) const {
        auto y = as_node(head.forward(std::forward<X>(x)));
        if constexpr (sizeof...(Tail) == 0)
            return y;
        else
            return tail(std::move(y));
    }
    /// The same, spelled as a layer (a sequential nests inside another model).
    template <class X, class A = use_params>
    auto forward(X&& x, A a = {}) const {
        if constexpr (std::is_same_v<A, use_values>)
            return predict(x);
        else
            return (*this)(std::forward<X>(x));
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
    /// Graph arena bytes of a training forward on inputs of shape In (see graph_bytes_v): the
    /// nodes of every layer and the node that erases each layer's type. A constant.
    template <class In, class T = float, bool FromInput = true>
    static constexpr std::size_t graph_bytes() {
        using X = std::conditional_t<FromInput, tensor<T, In, device_type>, node<T, In, device_type>>;
        using G = decltype(std::declval<const Head&>().forward(std::declval<const X&>()));
        using N = decltype(as_node(std::declval<G>()));
        std::size_t n = graph_bytes_v<G> + graph_bytes_v<N>;
        if constexpr (sizeof...(Tail) > 0) n += sequential<Tail...>::template graph_bytes<typename N::shape_type, T, false>();
        return n;
    }
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

namespace detail {
template <std::size_t I, class S>
constexpr auto& layer_at(S& s) {
    if constexpr (I == 0)
        return s.head;
    else
        return layer_at<I - 1>(s.tail);
}
}  // namespace detail

/// Layer I of a sequential (torch: model[I]); an index past the end is a compile error.
template <std::size_t I, class... L>
auto& get(sequential<L...>& s) {
    static_assert(I < sizeof...(L), "[sequential] get<I>: the index is past the last layer");
    return detail::layer_at<I>(s);
}
template <std::size_t I, class... L>
const auto& get(const sequential<L...>& s) {
    static_assert(I < sizeof...(L), "[sequential] get<I>: the index is past the last layer");
    return detail::layer_at<I>(s);
}

/// The output shape of model M for inputs of shape In (deduced at compile time).
template <class M, class In, class T = float>
using output_shape_t = typename decltype(std::declval<const M&>().predict(
    std::declval<const tensor<T, In, typename detail::layer_device<M, cpu>::type>&>()))::shape_type;

}  // namespace kiln::nn
