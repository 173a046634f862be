// Reverse-mode autodiff by dual expression types. A differentiable op on a param (or on another
// node) builds ad_node<Op, Operands...>: a small handle to the op's *body*, which holds the op,
// edges to its operands and its forward value, and lives in this thread's graph arena
// (arena.hpp). backward() walks the graph's type at compile time: each op's vjp (next to its
// forward in ops/) returns the operands' adjoints as lazy expressions, so elementwise backward
// chains fuse into one pass where they land.
//
// Lifetimes: a graph owns what it uses. Handles are counted by their arena generation, so a
// named intermediate, a graph returned from a function, stored in a member or used as a
// temporary stays valid while any handle reaches it, and copying a handle copies a pointer.
// Edges between bodies are raw pointers inside the generation. Constant operands (plain
// tensors, expressions) are evaluated and owned by the body, so a local tensor used in a
// forward cannot dangle either. Params are referenced: a model must outlive its graphs.
//
// Shared subexpressions: a node used twice is reached twice. A first pass counts each node's
// uses in this graph (descending into a node only on its first visit); the second pass sends
// adjoints: a node with one use forwards its (lazy) adjoint straight on, a node with several
// accumulates them in its own buffer and propagates once, after the last. Work is linear in the
// graph size, never exponential in depth. No tape, no virtual call, no allocator call per op
// beyond the values' own storage (bodies come from the arena's reused chunks).
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
#include "arena.hpp"

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
    // A graph that still holds this param (a handle alive) would read freed memory in backward:
    // that ends the program with this message (a destructor may not throw) instead.
    ~param() {
        if (use_.live())
            fail("[autodiff] a param is destroyed while a graph that uses it is still held: keep the model "
                 "alive until the graphs built from it (and their handles) are gone");
    }
    /// Called by the graph for each node that references this param.
    void note_graph_use(detail::graph_generation* g) const { use_.note(g); }

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
    mutable detail::graph_use use_;
};

/// An input that needs a gradient (PyTorch's requires_grad=True): a param by another name.
template <class T, class S, class D = cpu>
using var = param<T, S, D>;

namespace detail {
template <class Op>
constexpr const char* op_name() {
    if constexpr (requires { Op::name; })
        return Op::name;
    else
        return "op";
}

/// What every graph handle is: a counted pointer to a body in a generation of this thread's
/// graph arena. Copies are cheap and share the body; the generation lives while any does.
template <class Body>
class graph_handle {
public:
    using body_type = Body;
    graph_handle() = default;
    graph_handle(const graph_handle& o) noexcept : b_(o.b_), g_(o.g_), id_(o.id_), name_(o.name_) {
        if (g_) graph_arena::retain(g_);
    }
    graph_handle(graph_handle&& o) noexcept : b_(o.b_), g_(o.g_), id_(o.id_), name_(o.name_) {
        o.b_ = nullptr;
        o.g_ = nullptr;
    }
    graph_handle& operator=(graph_handle o) noexcept {
        std::swap(b_, o.b_);
        std::swap(g_, o.g_);
        std::swap(id_, o.id_);
        std::swap(name_, o.name_);
        return *this;
    }
    ~graph_handle() {
        if (g_) this_thread_graph_arena().release(g_);
    }
    /// The body; an empty handle or one whose step was reset is an error naming the op.
    const Body& body() const {
        if (!b_) fail("[autodiff] %s: this graph handle is empty (default-constructed or moved from)", name_);
        if (g_->id != id_)
            fail("[autodiff] %s: this node belongs to a step whose graph buffer was reset by a newer step; "
                 "use it before the next step starts, or keep a copy of its value()",
                 name_);
        return *b_;
    }
    graph_generation* generation() const { return g_; }
    /// The op that made the node (for a node<T, S, D>: the op of the graph it erased).
    const char* op_name() const { return name_; }

protected:
    graph_handle(const Body* b, graph_generation* g) : b_(b), g_(g), id_(g->id), name_(b->op_name()) {
        graph_arena::retain(g);
    }

private:
    const Body* b_ = nullptr;
    graph_generation* g_ = nullptr;
    std::uint64_t id_ = 0;
    const char* name_ = "node";
};

template <class X>
concept graph_handle_type = ad_expression<X> && requires { typename X::body_type; };

/// Generation g keeps generation `from` (an operand's, older) alive until g is freed.
inline void keep_alive(graph_generation* g, graph_generation* from, const char* what) {
    if (from == g) return;
    graph_arena::retain(from);
    this_thread_graph_arena().on_free(
        g, [](void* p) { this_thread_graph_arena().release(static_cast<graph_generation*>(p)); }, from, what);
}

template <class X, bool = expression<X>>
struct constant_store {
    using type = X;
};
template <class X>
struct constant_store<X, true> {
    using type = decltype(eval(std::declval<const X&>()));
};
/// How a body refers to an operand of type X. Constants (tensors, expressions, numbers) are
/// evaluated and owned, so nothing a graph needs can die before it.
template <class X>
struct edge {
    static constexpr bool differentiable = false;
    using stored_t = typename constant_store<X>::type;
    stored_t v;
    template <class Y>
    edge(Y&& y, graph_generation*, const char*) : v(materialize_constant(std::forward<Y>(y))) {}
    const stored_t& value() const { return v; }

private:
    template <class Y>
    static stored_t materialize_constant(Y&& y) {
        if constexpr (expression<X>)
            return eval(std::forward<Y>(y));
        else
            return std::forward<Y>(y);
    }
};
/// A param (a leaf): referenced; the model outlives its graphs.
template <class T, class S, class D>
struct edge<param<T, S, D>> {
    static constexpr bool differentiable = true;
    const param<T, S, D>* p;
    edge(const param<T, S, D>& x, graph_generation* g, const char*) : p(&x) { x.note_graph_use(g); }
    const auto& value() const { return p->value(); }
    void count_uses() const {}
    template <class G>
    void accept(const G& g) const { p->accept(g); }
};
/// Another node: a raw pointer to its body (its generation kept alive if it is another).
template <class X>
    requires graph_handle_type<X>
struct edge<X> {
    static constexpr bool differentiable = true;
    const typename X::body_type* b;
    edge(const X& x, graph_generation* g, const char* what) : b(&x.body()) { keep_alive(g, x.generation(), what); }
    const auto& value() const { return b->value(); }
    void count_uses() const { b->count_uses(); }
    template <class G>
    void accept(const G& g) const { b->accept(g); }
};

/// The use count and adjoint buffer every body has; Derived::propagate(adjoint) sends it on.
template <class Derived, class V>
class adjoint_slot {
public:
    void count_uses() const {
        if (self().detached_) return;
        if (pending_++ == 0) self().count_children();
    }
    template <class G>
    void accept(const G& g) const {
        if (self().detached_) return;
        if (pending_ == 1 && !adjoint_) {  // the only use: pass the lazy adjoint straight through
            pending_ = 0;
            self().propagate(g);
            return;
        }
        if (!adjoint_)
            adjoint_.emplace(g);
        else
            *adjoint_ = *adjoint_ + g;
        if (--pending_ == 0) {
            V a = std::move(*adjoint_);
            adjoint_.reset();
            self().propagate(a);
        }
    }

private:
    const Derived& self() const { return static_cast<const Derived&>(*this); }
    mutable int pending_ = 0;
    mutable std::optional<V> adjoint_;
};

/// The body of op Op applied to operands of types C...: edges, forward value, adjoint slot.
template <class Op, class... C>
class node_body : public adjoint_slot<node_body<Op, C...>,
                                      eval_t<decltype(std::declval<const Op&>().forward(std::declval<const edge<C>&>().value()...))>> {
    using forward_t = decltype(std::declval<const Op&>().forward(std::declval<const edge<C>&>().value()...));
    friend class adjoint_slot<node_body, eval_t<forward_t>>;

public:
    using value_t = eval_t<forward_t>;
    static constexpr const char* name() { return detail::op_name<Op>(); }
    const char* op_name() const { return name(); }

    template <class... X>
    node_body(graph_generation* g, Op op, X&&... x)
        : op_(op), ch_(edge<C>(std::forward<X>(x), g, name())...), value_(compute()), detached_(no_grad_flag()) {}
    node_body(const node_body&) = delete;
    node_body& operator=(const node_body&) = delete;

    const value_t& value() const { return value_; }

private:
    value_t compute() const {
        return std::apply([&](const auto&... c) { return value_t(op_.forward(c.value()...)); }, ch_);
    }
    void count_children() const {
        std::apply([](const auto&... c) { (count_child(c), ...); }, ch_);
    }
    template <class E>
    static void count_child(const E& c) {
        if constexpr (E::differentiable) c.count_uses();
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
        using child_t = std::tuple_element_t<I, std::tuple<C...>>;
        if constexpr (edge<child_t>::differentiable) {
            std::apply(
                [&](const auto&... c) {
                    decltype(auto) adj = op_.template vjp<I>(g, value_, c.value()...);
                    using adj_t = decltype(adj);
                    // Deep lazy adjoints are evaluated here: fusion within a few ops, but type
                    // size (compile time) stays bounded however long the chain of ops is.
                    if constexpr (expr_depth_v<adj_t> > max_lazy_depth)
                        std::get<I>(ch_).accept(unbroadcast<typename child_t::shape_type>(eval(adj)));
                    else
                        std::get<I>(ch_).accept(unbroadcast<typename child_t::shape_type>(std::forward<adj_t>(adj)));
                },
                ch_);
        }
    }

    Op op_;
    std::tuple<edge<C>...> ch_;
    value_t value_;
    bool detached_;
};

struct adopt_body_t {
    explicit adopt_body_t() = default;
};
inline constexpr adopt_body_t adopt_body{};

/// Places a body of type B in the current generation and returns handle type H over it.
template <class H, class B, class... A>
H emplace_body(A&&... a) {
    auto& arena = this_thread_graph_arena();
    graph_generation* g = arena.current();
    void* mem = arena.allocate(g, sizeof(B), alignof(B), B::name());
    auto* b = ::new (mem) B(g, std::forward<A>(a)...);
    if constexpr (!std::is_trivially_destructible_v<B>)
        arena.on_free(g, [](void* p) { static_cast<B*>(p)->~B(); }, b, B::name());
    return H(adopt_body, b, g);
}
}  // namespace detail

/// A node of the forward graph: a handle to op Op applied to operands of types C... Copy it,
/// name it, return it, store it: the graph it reaches stays alive while any handle does.
template <class Op, class... C>
class ad_node : public ad_base<ad_node<Op, C...>>, public detail::graph_handle<detail::node_body<Op, C...>> {
    using base = detail::graph_handle<detail::node_body<Op, C...>>;

public:
    using value_t = typename detail::node_body<Op, C...>::value_t;
    using value_type = typename value_t::value_type;
    using shape_type = typename value_t::shape_type;
    using device_type = typename value_t::device_type;

    ad_node() = default;
    ad_node(detail::adopt_body_t, const typename base::body_type* b, detail::graph_generation* g) : base(b, g) {}

    /// The forward value (a temporary handle gives a copy, so it cannot dangle).
    const value_t& value() const& { return this->body().value(); }
    value_t value() const&& { return this->body().value(); }
    void count_uses() const { this->body().count_uses(); }
    template <class G>
    void accept(const G& g) const { this->body().accept(g); }
};

namespace detail {
/// The body of a node<T, S, D>: another graph's output with that graph's type erased, so type
/// depth stops here (layers and modules return these). Backward goes on through one pointer.
template <class V>
class erased_body : public adjoint_slot<erased_body<V>, V> {
    friend class adjoint_slot<erased_body, V>;

public:
    using value_t = V;
    static constexpr const char* name() { return "node"; }
    const char* op_name() const { return up_name_; }

    template <class G>
    erased_body(graph_generation* g, const G& up) : detached_(no_grad_flag()) {
        if constexpr (graph_handle_type<G>) {
            const auto* b = &up.body();
            keep_alive(g, up.generation(), name());
            up_name_ = up.op_name();
            bind(b);
        } else {
            up_name_ = "param";
            up.note_graph_use(g);
            bind(&up);
        }
    }
    erased_body(const erased_body&) = delete;
    erased_body& operator=(const erased_body&) = delete;
    const V& value() const { return *value_; }

private:
    template <class U>
    void bind(const U* u) {
        value_ = &u->value();
        up_ = u;
        count_ = [](const void* p) { static_cast<const U*>(p)->count_uses(); };
        send_ = [](const void* p, const V& a) { static_cast<const U*>(p)->accept(a); };
    }
    void count_children() const { count_(up_); }
    template <class G>
    void propagate(const G& g) const {
        if constexpr (std::is_same_v<G, V>)
            send_(up_, g);
        else
            send_(up_, V(g));
    }

    const V* value_ = nullptr;
    const void* up_ = nullptr;
    void (*count_)(const void*) = nullptr;
    void (*send_)(const void*, const V&) = nullptr;
    const char* up_name_ = "node";
    bool detached_;
};
}  // namespace detail

/// A graph value of known element type, shape and device whose history is erased from its type:
/// PyTorch's Tensor with requires_grad. Any graph converts to it (`node<float, shape<64, 10>>
/// out = model(x);`); a layer or module that returns one keeps type depth per layer.
template <class T, class S, class D = cpu>
class node : public ad_base<node<T, S, D>>, public detail::graph_handle<detail::erased_body<tensor<T, S, D>>> {
    using base = detail::graph_handle<detail::erased_body<tensor<T, S, D>>>;

public:
    using value_t = tensor<T, S, D>;
    using value_type = T;
    using shape_type = S;
    using device_type = D;

    node() = default;
    node(detail::adopt_body_t, const typename base::body_type* b, detail::graph_generation* g) : base(b, g) {}
    /// Erases graph g's type (g: any node or param with this value type).
    template <ad_expression G>
        requires(!std::is_same_v<std::remove_cvref_t<G>, node>)
    node(const G& g) : node(make(g)) {}

    const value_t& value() const& { return this->body().value(); }
    value_t value() const&& { return this->body().value(); }
    void count_uses() const { this->body().count_uses(); }
    template <class G>
    void accept(const G& g) const { this->body().accept(g); }

private:
    template <class G>
    static node make(const G& g) {
        detail::check_same_shape<assign_op, S, typename G::shape_type>();
        static_assert(std::is_same_v<typename G::value_type, T> && std::is_same_v<typename G::device_type, D>,
                      "[node] the graph's element type or device differs from the node's");
        static_assert(std::is_same_v<std::remove_cvref_t<decltype(g.value())>, value_t>,
                      "[node] the graph's value is stored differently (storage policy) from node's tensor");
        return detail::emplace_body<node, typename base::body_type>(g);
    }
};

/// node<...> of the same element type, shape and device as graph G.
template <class G>
using node_of_t = node<typename std::remove_cvref_t<G>::value_type, typename std::remove_cvref_t<G>::shape_type,
                       typename std::remove_cvref_t<G>::device_type>;

/// g as a node<T, S, D> (its type erased); a plain tensor or number passes through unchanged.
template <class G>
auto as_node(G&& g) {
    if constexpr (ad_expression<G>) {
        if constexpr (std::is_same_v<std::remove_cvref_t<G>, node_of_t<G>>)
            return std::remove_cvref_t<G>(std::forward<G>(g));
        else
            return node_of_t<G>(g);
    } else {
        return std::forward<G>(g);
    }
}

namespace detail {
template <class Op, class... X>
auto make_node(Op op, X&&... x) {
    using node_t = ad_node<Op, std::remove_cvref_t<X>...>;
    return emplace_body<node_t, typename node_t::body_type>(op, std::forward<X>(x)...);
}
/// backward() ran on y's graph: the next node starts a new step (generation).
template <class Y>
void end_step(const Y& y) {
    if constexpr (graph_handle_type<Y>) this_thread_graph_arena().close(y.generation());
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
    detail::end_step(y);
}
/// Vector-Jacobian product: backpropagates `seed` (y's shape) from y.
template <ad_expression Y, expression G>
void backward(const Y& y, const G& seed) {
    detail::check_same_shape<assign_op, typename Y::shape_type, shape_of_t<G>>();
    y.count_uses();
    y.accept(seed);
    detail::end_step(y);
}

/// The value of e as a constant: operations on it record no gradient (stop-gradient).
template <ad_expression E>
const auto& detach(const E& e) {
    return e.value();
}
/// detach of a temporary graph: a copy of its value.
template <ad_expression E>
    requires(!std::is_lvalue_reference_v<E>)
auto detach(E&& e) {
    return eval(e.value());
}

}  // namespace kiln

#include "graph_bytes.hpp"
