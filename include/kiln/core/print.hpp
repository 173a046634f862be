// Printing in PyTorch's layout: tensor([[1, 2], [3, 4]]). Kept out of tensor.hpp so embedded
// builds need no iostreams.
#pragma once

#include <cstdio>
#include <ostream>
#include <type_traits>

#include "tensor.hpp"

namespace kiln {

namespace detail {
template <class T>
void print_value(std::ostream& os, T v) {
    char buf[48];
    if constexpr (std::is_same_v<T, bool>)
        std::snprintf(buf, sizeof buf, "%s", v ? "True" : "False");
    else if constexpr (std::is_floating_point_v<T>)
        std::snprintf(buf, sizeof buf, "%.4g", static_cast<double>(v));
    else if constexpr (std::is_signed_v<T>)
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    else
        std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(v));
    os << buf;
}
template <class S, class T>
void print_axis(std::ostream& os, const T* p, std::size_t axis, std::size_t indent) {
    if (axis == S::rank) {
        print_value(os, *p);
        return;
    }
    os << '[';
    for (std::size_t i = 0; i < S::extents[axis]; ++i) {
        if (i) {
            os << ',';
            if (axis + 1 < S::rank) {
                for (std::size_t k = axis + 1; k < S::rank; ++k) os << '\n';
                for (std::size_t k = 0; k < indent + axis + 1; ++k) os << ' ';
            } else {
                os << ' ';
            }
        }
        print_axis<S>(os, p + i * S::strides[axis], axis + 1, indent);
    }
    os << ']';
}
}  // namespace detail

/// Writes tensor([...]) with 4 significant digits.
template <class T, class S, class D, class St>
std::ostream& operator<<(std::ostream& os, const tensor<T, S, D, St>& t) {
    if constexpr (!std::is_same_v<D, cpu>) {
        return os << to<cpu>(t);  // device tensors print through a host copy
    } else {
        os << "tensor(";
        detail::print_axis<S>(os, t.data(), 0, 7);
        return os << ')';
    }
}

}  // namespace kiln
