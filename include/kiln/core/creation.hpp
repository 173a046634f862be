// Tensor creation: zeros, ones, full, arange. Random creation is in random.hpp.
#pragma once

#include "tensor.hpp"

namespace kiln {

template <class T, shape_type S, class D = cpu, class St = auto_storage>
tensor<T, S, D, St> full(T value) {
    tensor<T, S, D, St> t(uninitialized);
    t.fill(value);
    return t;
}
template <class T, shape_type S, class D = cpu, class St = auto_storage>
tensor<T, S, D, St> zeros() { return full<T, S, D, St>(T(0)); }
template <class T, shape_type S, class D = cpu, class St = auto_storage>
tensor<T, S, D, St> ones() { return full<T, S, D, St>(T(1)); }
/// start, start + step, ... in row-major order over the whole shape.
template <class T, shape_type S, class D = cpu, class St = auto_storage>
tensor<T, S, D, St> arange(T start = T(0), T step = T(1)) {
    if constexpr (std::is_same_v<D, cpu>) {
        tensor<T, S, D, St> t(uninitialized);
        for (std::size_t i = 0; i < S::size; ++i) t[i] = start + static_cast<T>(i) * step;
        return t;
    } else {
        return to<D>(arange<T, S>(start, step));
    }
}
/// A tensor with e's shape and element type, filled with value.
template <expression E>
auto full_like(const E&, value_of_t<E> value) { return full<value_of_t<E>, shape_of_t<E>>(value); }
template <expression E>
auto zeros_like(const E& e) { return full_like(e, value_of_t<E>(0)); }
template <expression E>
auto ones_like(const E& e) { return full_like(e, value_of_t<E>(1)); }

}  // namespace kiln
