// tensor<T, Shape, vulkan>: elements in device memory (float32, or int64 for indices). Work on
// it is recorded, not run; reading it (to<cpu>, item(), printing) is a sync point.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "../../core/tensor.hpp"
#include "kernels.hpp"

namespace kiln {

template <class T, class S, class Storage>
class tensor<T, S, vulkan, Storage> : public expr_base<tensor<T, S, vulkan, Storage>> {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, std::int64_t>,
                  "[vulkan] tensors hold float (or int64 indices); convert on the host first");

public:
    using value_type = T;
    using shape_type = S;
    using device_type = vulkan;
    using storage_type = Storage;
    using init_list = typename detail::nested_list<T, S::rank == 0 ? 1 : S::rank>::type;
    static constexpr std::size_t rank = S::rank;
    static constexpr std::size_t size = S::size;
    static constexpr bool simd = false;
    static constexpr bool flat = true;
    /// 32-bit words per element.
    static constexpr std::size_t words = sizeof(T) / sizeof(float);

    /// Zero-filled.
    tensor() : buf_(bytes()) { fill(T(0)); }
    explicit tensor(uninitialized_t) : buf_(bytes()) {}
    tensor(init_list values) : tensor(uninitialized) {
        tensor<T, S, cpu> host(values);
        vk::upload(buf_, host.data(), size * sizeof(T));
    }
    template <expression E>
        requires(!std::is_same_v<std::remove_cvref_t<E>, tensor>)
    tensor(const E& e) : tensor(uninitialized) {  // NOLINT: implicit like the CPU tensor
        assign(*this, e);
    }
    tensor(const tensor& o) : tensor(uninitialized) { copy_words(o); }
    tensor(tensor&&) noexcept = default;
    tensor& operator=(const tensor& o) {
        if (this != &o) copy_words(o);
        return *this;
    }
    tensor& operator=(tensor&&) noexcept = default;
    template <expression E>
        requires(!std::is_same_v<std::remove_cvref_t<E>, tensor>)
    tensor& operator=(const E& e) {
        assign(*this, e);
        return *this;
    }

    /// Sets every element to v (recorded).
    void fill(T v) {
        if constexpr (std::is_same_v<T, float>)
            vk::fill(buf_, 0, size, v);
        else if (v == 0)
            vk::fill(buf_, 0, size * words, 0.0f);
        else
            *this = to_device(tensor<T, S, cpu>(full_host(v)));
    }
    /// The single element (a sync point).
    T item() const
        requires(size == 1)
    {
        T v{};
        vk::download(buf_, &v, sizeof(T));
        return v;
    }

    const vk::device_buffer& buffer() const { return buf_; }
    vk::device_buffer& buffer() { return buf_; }

private:
    static std::size_t bytes() { return (size == 0 ? 1 : size) * sizeof(T); }
    void copy_words(const tensor& o) {
        const std::uint32_t one = 1, n = static_cast<std::uint32_t>(size * words);
        vk::strided_copy(o.buf_, 0, &one, buf_, 0, &one, &n, 1);
    }
    static tensor<T, S, cpu> full_host(T v) {
        tensor<T, S, cpu> h(uninitialized);
        h.fill(v);
        return h;
    }
    static tensor to_device(const tensor<T, S, cpu>& h) {
        tensor t(uninitialized);
        vk::upload(t.buf_, h.data(), size * sizeof(T));
        return t;
    }

    vk::device_buffer buf_;
};

}  // namespace kiln
