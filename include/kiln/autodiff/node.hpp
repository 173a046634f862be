// Reverse-mode autodiff by dual expression types. A differentiable op on a param (or on an
// other node) builds ad_node<Op, Children...>, which holds its operands (lvalues by reference,
// temporaries by value), computes and keeps its forward value. backward() walks this type at
// compile time: each op's vjp (next to its forward in ops/) returns the operands' adjoints as
// lazy expressions, so elementwise backward chains fuse into one pass where they land.
//
// Lifetimes: named nodes and params are held by reference (that is what makes sharing cheap),
// temporaries by value. So `auto y = f(x * x + 3 * x)` owns its whole graph, while a node
// that names another (`auto h = tanh(x); auto y = h * h;`) must not outlive h: keep named
// intermediates alive until backward, as with any reference.
//
// Shared subexpressions: a named node used twice is reached twice. A first pass counts each
// node's uses in this graph (descending into a node only on its first visit); the second pass
// sends adjoints: a node with one use forwards its (lazy) adjoint straight on, a node with
// several accumulates them in its own buffer and propagates once, after the last. Work is
// linear in the graph size, never exponential in depth. No tape, no virtual call, no heap per
// op beyond the values' own storage.
#pragma once

#include <cstddef>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../core/creation.hpp"
#include "../core/tensor.hpp"
#include "../ops/primitive/binary.hpp"
#include "../ops/primitive/reduce.hpp"

namespace kiln {

/// CRTP base of every differentiable expression (params and nodes).
template <class D>
struct ad_base {
    const D& self() const { return static_cast<const D&>(*this); }
};

template <class E>
concept ad_expression = std::is_base_of_v<ad_base<std::remove_cvref_t<E>>, std::remove_cvref_t<E>>;

namespace detail {
/// Lazy adjoint expressions deeper than this are evaluated before travelling on.
inline constexpr std::size_t max_lazy_depth = 4;

inline bool& no_grad_flag() {
    static thread_local bool on = false;
    return on;
}

/// How a node holds an operand: differentiable lvalues by reference (so their gradient and
/// use count are shared), temporaries by value; constants by kiln's usual closure rule.
template <class X>
using ad_closure_t = std::conditional_t<
    ad_expression<X>,
    std::conditional_t<std::is_lvalue_reference_v<X>, const std::remove_cvref_t<X>&, std::remove_cvref_t<X>>,
    std::conditional_t<expression<X>, closure_t<X>, std::remove_cvref_t<X>>>;

/// The forward value of an operand: a node's or param's tensor, or the constant itself.
template <class X>
decltype(auto) value_of(const X& x) {
    if constexpr (ad_expression<X>)
        return x.value();
    else
        return (x);
}

/// Sums adjoint g (of a broadcast result shape) down to shape S.
template <class S, class G>
decltype(auto) unbroadcast(G&& g) {
    using GS = shape_of_t<G>;
    if constexpr (std::is_same_v<GS, S>) {
        if constexpr (std::is_lvalue_reference_v<G>)
            return (g);
        else
            return std::remove_cvref_t<G>(std::move(g));  // a temporary: keep it alive by value
    } else if constexpr (GS::rank > S::rank) {
        return unbroadcast<S>(sum<0>(g));  // a leading axis S does not have
    } else {
        constexpr std::size_t axis = [] {
            for (std::size_t i = 0; i < S::rank; ++i)
                if (S::extents[i] == 1 && GS::extents[i] != 1) return i;
            return S::rank;
        }();
        static_assert(axis < S::rank, "[autodiff] adjoint shape does not broadcast to the operand shape");
        return unbroadcast<S>(sum<int(axis), true>(g));
    }
}
}  // namespace detail

/// Operations made inside a no_grad scope record no graph: backward() stops at them.
class no_grad {
public:
    no_grad() : prev_(detail::no_grad_flag()) { detail::no_grad_flag() = true; }
    ~no_grad() { detail::no_grad_flag() = prev_; }
    no_grad(const no_grad&) = delete;
    no_grad& operator=(const no_grad&) = delete;

private:
    bool prev_;
};

/// A trainable tensor: its value and the gradient backward() accumulates into.
template <class T, class S, class D = cpu>
class param : public ad_base<param<T, S, D>> {
public:
    using value_type = T;
    using shape_type = S;
    using device_type = D;
    using tensor_type = tensor<T, S, D>;

    param() = default;
    explicit param(tensor_type v) : value_(std::move(v)) {}
    param(typename tensor_type::init_list v) : value_(v) {}
    template <expression E>
    explicit param(const E& e) : value_(e) {}
    // A param's identity is its gradient: copies would silently split it.
    param(const param&) = delete;
    param& operator=(const param&) = delete;
    param(param&&) noexcept = default;
    param& operator=(param&&) noexcept = default;

    const tensor_type& value() const { return value_; }
    tensor_type& value() { return value_; }
    const tensor_type& grad() const { return grad_; }
    /// Writable gradient (writing through it counts as a nonzero gradient).
    tensor_type& grad() {
        grad_is_zero_ = false;
        return grad_;
    }
    void zero_grad() {
        grad_.fill(T(0));
        grad_is_zero_ = true;
    }

    // Autodiff protocol (see the file comment).
    void count_uses() const {}
    template <class G>
    void accept(const G& g) const {
        if (grad_is_zero_)  // after zero_grad the first gradient is written, not added
            grad_ = g;
        else
            grad_ = grad_ + g;
        grad_is_zero_ = false;
    }

private:
    tensor_type value_;
    mutable tensor_type grad_;
    mutable bool grad_is_zero_ = true;
};

/// An input that needs a gradient (PyTorch's requires_grad=True): a param by another name.
template <class T, class S, class D = cpu>
using var = param<T, S, D>;

/// A node of the forward graph: op Op applied to children C... (closure types).
template <class Op, class... C>
class ad_node : public ad_base<ad_node<Op, C...>> {
    using forward_t = decltype(std::declval<const Op&>().forward(detail::value_of(std::declval<const std::remove_cvref_t<C>&>())...));

public:
    using value_t = eval_t<forward_t>;
    using value_type = typename value_t::value_type;
    using shape_type = typename value_t::shape_type;
    using device_type = typename value_t::device_type;

    template <class... X>
    explicit ad_node(Op op, X&&... x)
        : op_(op), ch_(std::forward<X>(x)...), value_(compute()), detached_(detail::no_grad_flag()) {}

    const value_t& value() const { return value_; }

    void count_uses() const {
        if (detached_) return;
        if (pending_++ == 0) for_each_child([](const auto& c) { c.count_uses(); });
    }
    template <class G>
    void accept(const G& g) const {
        if (detached_) return;
        if (pending_ == 1 && !adjoint_) {  // the only use: pass the lazy adjoint straight through
            pending_ = 0;
            propagate(g);
            return;
        }
        if (!adjoint_)
            adjoint_.emplace(g);
        else
            *adjoint_ = *adjoint_ + g;
        if (--pending_ == 0) {
            value_t a = std::move(*adjoint_);
            adjoint_.reset();
            propagate(a);
        }
    }

private:
    value_t compute() const {
        return std::apply([&](const auto&... c) { return value_t(op_.forward(detail::value_of(c)...)); }, ch_);
    }
    template <class F>
    void for_each_child(F&& f) const {
        std::apply([&](const auto&... c) { (visit(f, c), ...); }, ch_);
    }
    template <class F, class X>
    static void visit(F& f, const X& x) {
        if constexpr (ad_expression<X>) f(x);
    }
    template <class G>
    void propagate(const G& g) const {
        propagate_each(g, std::index_sequence_for<C...>{});
    }
    template <class G, std::size_t... I>
    void propagate_each(const G& g, std::index_sequence<I...>) const {
        (propagate_one<I>(g), ...);
    }
    template <std::size_t I, class G>
    void propagate_one(const G& g) const {
        using child_t = std::remove_cvref_t<std::tuple_element_t<I, std::tuple<C...>>>;
        if constexpr (ad_expression<child_t>) {
            std::apply(
                [&](const auto&... c) {
                    decltype(auto) adj = op_.template vjp<I>(g, value_, detail::value_of(c)...);
                    using adj_t = decltype(adj);
                    // Deep lazy adjoints are evaluated here: fusion within a few ops, but type
                    // size (compile time) stays bounded however long the chain of ops is.
                    if constexpr (expr_depth_v<adj_t> > detail::max_lazy_depth)
                        std::get<I>(ch_).accept(detail::unbroadcast<typename child_t::shape_type>(eval(adj)));
                    else
                        std::get<I>(ch_).accept(detail::unbroadcast<typename child_t::shape_type>(std::forward<adj_t>(adj)));
                },
                ch_);
        }
    }

    Op op_;
    std::tuple<C...> ch_;
    value_t value_;
    bool detached_;
    mutable int pending_ = 0;
    mutable std::optional<value_t> adjoint_;
};

namespace detail {
template <class X>
consteval void check_movable_operand() {
    static_assert(std::is_lvalue_reference_v<X> || std::is_move_constructible_v<std::remove_cvref_t<X>>,
                  "[autodiff] a let/layer graph cannot be moved into an expression: name it first "
                  "(auto h = layer.forward(x);) or bind it with kiln::let");
}
template <class Op, class... X>
auto make_node(Op op, X&&... x) {
    (check_movable_operand<X&&>(), ...);
    return ad_node<Op, ad_closure_t<X&&>...>(op, std::forward<X>(x)...);
}
template <class S>
consteval void check_scalar_output() {
    static_assert(S::size == 1, "[backward] the output is not a scalar: pass a seed tensor of its shape, backward(y, seed)");
}
}  // namespace detail

/// Applies op tag Op (forward(xs...) and vjp<I>(g, y, xs...)): a graph node when any operand
/// is differentiable, else the evaluated forward value. Composite ops are written with it.
template <class Op, class... X>
auto apply_op(Op op, X&&... x) {
    if constexpr ((ad_expression<X> || ...))
        return detail::make_node(op, std::forward<X>(x)...);
    else
        return eval(op.forward(x...));
}

/// Gradients of scalar y with respect to every param it depends on (accumulated into grad()).
template <ad_expression Y>
void backward(const Y& y) {
    using S = typename Y::shape_type;
    detail::check_scalar_output<S>();
    y.count_uses();
    y.accept(full<typename Y::value_type, S, typename Y::device_type>(typename Y::value_type(1)));
}
/// Vector-Jacobian product: backpropagates `seed` (y's shape) from y.
template <ad_expression Y, expression G>
void backward(const Y& y, const G& seed) {
    detail::check_same_shape<assign_op, typename Y::shape_type, shape_of_t<G>>();
    y.count_uses();
    y.accept(seed);
}

/// The value of e as a constant: operations on it record no gradient (stop-gradient).
template <ad_expression E>
const auto& detach(const E& e) {
    return e.value();
}

}  // namespace kiln
