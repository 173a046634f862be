// graph_bytes_v<G>: the graph arena bytes a graph type's nodes take, a compile-time constant
// (shapes are types). Included by node.hpp.
#pragma once

#include <cstddef>
#include <type_traits>

#include "node.hpp"

namespace kiln {

namespace detail {
template <class X>
struct graph_bytes_of;
}
/// The graph arena bytes the nodes of graph type G take, at most (a constant: shapes are types).
/// A node<T, S, D> counts only itself (its history is not in its type), and an operand shared by
/// several ops counts once per use: an upper bound. Values larger than the inline limit of
/// auto_storage live on the heap and are not counted.
template <class G>
inline constexpr std::size_t graph_bytes_v = detail::graph_bytes_of<std::remove_cvref_t<G>>::value;


namespace detail {
/// Arena bytes one body of type B takes at most (alignment padding and its cleanup record).
template <class B>
constexpr std::size_t body_bytes() {
    std::size_t n = sizeof(B) + alignof(B) - 1;
    if (!std::is_trivially_destructible_v<B>) n += sizeof(graph_cleanup) + alignof(graph_cleanup) - 1;
    return n;
}
template <class X>
struct graph_bytes_of : std::integral_constant<std::size_t, 0> {};  // params, constants
template <class Op, class... C>
struct graph_bytes_of<ad_node<Op, C...>>
    : std::integral_constant<std::size_t, (body_bytes<typename ad_node<Op, C...>::body_type>() + ... +
                                           graph_bytes_of<C>::value)> {};
template <class T, class S, class D>
struct graph_bytes_of<node<T, S, D>>
    : std::integral_constant<std::size_t, body_bytes<typename node<T, S, D>::body_type>()> {};
}  // namespace detail

}  // namespace kiln
