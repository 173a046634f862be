// tensor<T, Shape, Device, Storage>: a value-semantic, compile-time shaped array. On the CPU
// it is also a leaf of kiln's expression templates; assignment from an expression evaluates
// it in one fused pass (core/assign.hpp).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <type_traits>

#include "assign.hpp"
#include "device.hpp"
#include "error.hpp"
#include "expr.hpp"
#include "shape.hpp"
#include "storage.hpp"

// The CPU backend (device_ops<cpu>). cpu is every tensor's default device, so whoever can make
// a tensor gets its kernels here; ops only call device_ops<Device> and never include a backend.
#include "../device/cpu/ops.hpp"

namespace kiln {

/// Tag for constructing a tensor without initialising its elements.
struct uninitialized_t {
    explicit uninitialized_t() = default;
};
inline constexpr uninitialized_t uninitialized{};

namespace detail {
template <class T, std::size_t R>
struct nested_list {
    using type = std::initializer_list<typename nested_list<T, R - 1>::type>;
};
template <class T>
struct nested_list<T, 1> {
    using type = std::initializer_list<T>;
};
template <class T>
struct nested_list<T, 0> {
    using type = T;
};
}  // namespace detail

template <class T, class S, class Device = cpu, class Storage = auto_storage>
class tensor;

namespace detail {
template <class T, class S, class D, class St>
struct is_tensor_leaf<tensor<T, S, D, St>> : std::true_type {};
}  // namespace detail

template <class E>
concept tensor_type = detail::is_tensor_leaf<std::remove_cvref_t<E>>::value;

/// The CPU tensor: host memory in the Storage policy's buffer; a leaf of the expression templates.
template <class T, class S, class Storage>
class tensor<T, S, cpu, Storage> : public expr_base<tensor<T, S, cpu, Storage>> {
    static_assert(is_shape<S>::value, "[tensor] the second template argument must be kiln::shape<...>");

public:
    using value_type = T;
    using shape_type = S;
    using device_type = cpu;
    using storage_type = Storage;
    using init_list = typename detail::nested_list<T, S::rank == 0 ? 1 : S::rank>::type;
    static constexpr std::size_t rank = S::rank;
    static constexpr std::size_t size = S::size;
    static constexpr bool simd = simd::vectorised<T>;
    static constexpr bool flat = true;

    /// Zero-filled.
    tensor() { fill(T{}); }
    explicit tensor(uninitialized_t) {}
    /// Nested braces in row-major order: tensor<float, shape<2, 2>> t{{1, 2}, {3, 4}}.
    tensor(init_list values) {
        std::size_t pos = 0;
        fill_from(values, std::integral_constant<std::size_t, 0>{}, pos);
    }
    /// Evaluates an expression of the same shape.
    template <expression E>
        requires(!std::is_same_v<std::remove_cvref_t<E>, tensor>)
    tensor(const E& e) {  // NOLINT: implicit like xtensor containers
        assign(*this, e);
    }
    tensor(const tensor&) = default;
    tensor(tensor&&) noexcept = default;
    tensor& operator=(const tensor&) = default;
    tensor& operator=(tensor&&) noexcept = default;

    template <expression E>
        requires(!std::is_same_v<std::remove_cvref_t<E>, tensor>)
    tensor& operator=(const E& e) {
        assign(*this, e);
        return *this;
    }

    T* data() { return buf_.data(); }
    const T* data() const { return buf_.data(); }
    T* begin() { return data(); }
    T* end() { return data() + size; }
    const T* begin() const { return data(); }
    const T* end() const { return data() + size; }

    /// Flat (row-major) element i.
    T& operator[](std::size_t i) { return data()[i]; }
    const T& operator[](std::size_t i) const { return data()[i]; }

    /// Element at a full index; unchecked.
    template <class... I>
        requires(sizeof...(I) == rank && (std::is_integral_v<I> && ...))
    T& operator()(I... idx) { return data()[offset(idx...)]; }
    template <class... I>
        requires(sizeof...(I) == rank && (std::is_integral_v<I> && ...))
    const T& operator()(I... idx) const { return data()[offset(idx...)]; }

    /// Element at a full index; an index out of range is reported, never read.
    template <class... I>
        requires(sizeof...(I) == rank && (std::is_integral_v<I> && ...))
    T& at(I... idx) {
        check_index(idx...);
        return data()[offset(idx...)];
    }
    template <class... I>
        requires(sizeof...(I) == rank && (std::is_integral_v<I> && ...))
    const T& at(I... idx) const {
        check_index(idx...);
        return data()[offset(idx...)];
    }

    /// The single element of a one-element tensor.
    T item() const
        requires(size == 1)
    {
        return data()[0];
    }

    void fill(T v) {
        T* p = data();
        for (std::size_t i = 0; i < size; ++i) p[i] = v;
    }

    /// Copies `n` elements from `src` (row-major); n must equal size.
    void copy_from(const T* src, std::size_t n) {
        if (n != size) fail("[tensor] copy_from: expected %zu elements, got %zu", size, n);
        for (std::size_t i = 0; i < size; ++i) data()[i] = src[i];
    }

    // Expression-leaf interface.
    T get(std::size_t row, std::size_t j) const { return data()[row * S::inner + j]; }
    auto load(std::size_t row, std::size_t j) const { return simd::load(data() + row * S::inner + j); }

private:
    template <class... I>
    static constexpr std::size_t offset(I... idx) {
        std::size_t o = 0, k = 0;
        ((o += static_cast<std::size_t>(idx) * S::strides[k++]), ...);
        return o;
    }
    template <class... I>
    static void check_index(I... idx) {
        std::size_t k = 0;
        (
            [&](auto i) {
                if (i < 0 || static_cast<std::size_t>(i) >= S::extents[k])
                    fail("[tensor] index %lld out of range for axis %zu of extent %zu",
                         static_cast<long long>(i), k, S::extents[k]);
                ++k;
            }(idx),
            ...);
    }
    template <class L, std::size_t Axis>
    void fill_from(const L& list, std::integral_constant<std::size_t, Axis>, std::size_t& pos) {
        if constexpr (rank == 0) {
            if (list.size() != 1) fail("[tensor] initializer list: a scalar needs 1 element, got %zu", list.size());
            data()[0] = *list.begin();
        } else {
            if (list.size() != S::extents[Axis])
                fail("[tensor] initializer list: axis %zu expects %zu elements, got %zu", Axis, S::extents[Axis],
                     list.size());
            for (const auto& v : list) {
                if constexpr (Axis + 1 == rank)
                    data()[pos++] = v;
                else
                    fill_from(v, std::integral_constant<std::size_t, Axis + 1>{}, pos);
            }
        }
    }

    typename Storage::template buffer<T, S::size> buf_;
};

namespace detail {
template <class D>
using device_or_cpu_t = std::conditional_t<std::is_void_v<D>, cpu, D>;
}

/// The device expression E computes on (cpu for numbers alone).
template <class E>
using device_of_t = detail::device_or_cpu_t<typename std::remove_cvref_t<E>::device_type>;

/// The tensor type that holds the value of expression E.
template <class E, class Storage = void>
using eval_t = tensor<value_of_t<E>, shape_of_t<E>, device_of_t<E>,
                      std::conditional_t<std::is_void_v<Storage>,
                                         std::conditional_t<std::is_void_v<typename std::remove_cvref_t<E>::storage_type>,
                                                            auto_storage, typename std::remove_cvref_t<E>::storage_type>,
                                         Storage>>;

/// A copy of t on device Dst (the same device: a plain copy).
template <class Dst, class T, class S, class D, class St>
auto to(const tensor<T, S, D, St>& t) {
    if constexpr (std::is_same_v<Dst, D>)
        return t;
    else if constexpr (std::is_same_v<D, cpu>)
        return device_ops<Dst>::from_host(t);
    else if constexpr (std::is_same_v<Dst, cpu>)
        return device_ops<D>::to_host(t);
    else
        return to<Dst>(to<cpu>(t));
}

/// Evaluates an expression into a new tensor (a tensor passes through unchanged).
template <expression E>
auto eval(E&& e) {
    if constexpr (tensor_type<E>)
        return std::remove_cvref_t<E>(std::forward<E>(e));
    else
        return eval_t<E>(e);
}

namespace detail {
/// A tensor holding e's value: e itself when it is a tensor, else a fresh evaluation.
template <expression E>
decltype(auto) materialize(const E& e) {
    if constexpr (tensor_type<E>)
        return (e);
    else
        return eval(e);
}

/// A new tensor of shape S2 on the device and storage of tensor `like`.
template <class T, class S2, class Like>
using like_t = tensor<T, S2, typename std::remove_cvref_t<Like>::device_type, typename std::remove_cvref_t<Like>::storage_type>;
}  // namespace detail

}  // namespace kiln
