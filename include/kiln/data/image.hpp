// Images, samples and the dataset concept shared by the image datasets, transforms and loader.
// Images are CHW tensors typed on their shape: a transform that changes the size changes the type.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../core/tensor.hpp"

namespace kiln::data {

/// A C x H x W image of T (uint8 as read, float after to_tensor).
template <class T, std::size_t C, std::size_t H, std::size_t W>
using image = kiln::tensor<T, kiln::shape<C, H, W>>;

/// One labelled image.
template <class Img>
struct sample {
    Img image;
    std::int64_t label = 0;
};

/// A dataset a loader can iterate: `size()` samples, `get(i)` returns sample i by value
/// (0 <= i < size()), and `image_type` names the image type of its samples. `get` must be safe
/// to call from several threads at once (const, no shared mutable state), because a loader's
/// workers call it concurrently.
template <class D>
concept dataset = requires(const D& d, std::size_t i) {
    { d.size() } -> std::convertible_to<std::size_t>;
    { d.get(i) };
    typename D::image_type;
};

namespace detail {
template <class Img>
struct image_traits : std::false_type {};
template <class T, std::size_t C, std::size_t H, std::size_t W, class St>
struct image_traits<kiln::tensor<T, kiln::shape<C, H, W>, kiln::cpu, St>> : std::true_type {
    using value_type = T;
    static constexpr std::size_t channels = C, height = H, width = W;
};
}  // namespace detail

/// A CHW image tensor on the CPU, of any element type.
template <class Img>
concept image_tensor = detail::image_traits<std::remove_cvref_t<Img>>::value;

}  // namespace kiln::data
