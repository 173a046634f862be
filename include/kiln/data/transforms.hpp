// Image transforms with torchvision's names and arithmetic, typed on the image shape: each is a
// small struct called as t(img, g) on a CHW image (image.hpp), and its output shape is a
// compile-time function of the input shape and the transform's template arguments, so a crop
// that cannot fit is a compile error. Random transforms draw only from the generator passed in
// and expose params(...) (the draw) and apply(img, params) (the deterministic op), so a test or
// a user can replay them. compose{t1, t2, ...} chains transforms. Geometric transforms (flip,
// crops, padding, rotation, resize) take any element type; colour ones take floats.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "image.hpp"

namespace kiln::data {

/// A closed interval of floats, [lo, hi] (RandomResizedCrop's scale and ratio).
struct range {
    float lo = 0.0f, hi = 0.0f;
};

/// A window of an image: rows [top, top + height), columns [left, left + width).
struct crop_box {
    std::size_t top = 0, left = 0, height = 0, width = 0;
};

/// The transform concept: t(img, g) maps an image of type Img to an image.
template <class T, class Img>
concept transform = image_tensor<Img> && requires(const T& t, const Img& img, generator& g) {
    { t(img, g) } -> image_tensor;
};

namespace detail {
template <class In>
using traits_t = image_traits<std::remove_cvref_t<In>>;
template <class In>
using value_t = typename traits_t<In>::value_type;

template <class Op, class InShape, class OutShape, char Axis, std::size_t In, std::size_t Out>
consteval void check_window_axis() {
    static_assert(Out <= In, "[crop] the output window is larger than the (padded) input image along this axis");
}
/// Fails to compile, naming both shapes, when an OutShape window does not fit in InShape.
template <class Op, class InShape, class OutShape>
consteval void check_window() {
    check_window_axis<Op, InShape, OutShape, 'H', InShape::extent(1), OutShape::extent(1)>();
    check_window_axis<Op, InShape, OutShape, 'W', InShape::extent(2), OutShape::extent(2)>();
}
template <class Op, std::size_t Channels, std::size_t ImageChannels>
consteval void check_channels() {
    static_assert(Channels == ImageChannels, "[normalize] mean/std have a different channel count than the image");
}
template <std::size_t Height, std::size_t Width>
consteval void check_nonempty() {
    static_assert(Height > 0 && Width > 0, "[resize] the output size must be positive");
}

/// a * b rounded to float on its own: the double product is exact, so no build (FMA
/// contraction, -march) can fuse it into a following add, and results match torch bit for bit.
inline float mul(float a, float b) { return float(double(a) * double(b)); }

/// One axis of torch's upsample_bilinear (align_corners=False): two taps and their weights.
struct linear_tap {
    std::size_t i0 = 0, i1 = 0;
    float w0 = 1.0f, w1 = 0.0f;
};
inline linear_tap linear_source(std::size_t dst, std::size_t in, std::size_t out) {
    if (in == out) return {dst, dst, 1.0f, 0.0f};
    const float scale = float(in) / float(out);
    const float src = std::max(mul(scale, float(dst) + 0.5f) - 0.5f, 0.0f);
    const auto i0 = std::min(std::size_t(src), in - 1);
    const float w1 = std::min(std::max(src - float(i0), 0.0f), 1.0f);
    return {i0, i0 + (i0 + 1 < in ? 1 : 0), 1.0f - w1, w1};
}

/// Integers come back from float arithmetic as torchvision does: rounded half to even.
template <class T>
T from_float(float v) {
    if constexpr (std::is_floating_point_v<T>) return T(v);
    else return T(std::nearbyint(v));
}

/// Bilinear resize of the window `box` of img to OH x OW (torchvision's resized_crop).
template <std::size_t OH, std::size_t OW, class In>
auto resize_window(const In& img, crop_box box) {
    using tr = traits_t<In>;
    using T = typename tr::value_type;
    constexpr std::size_t C = tr::channels, H = tr::height, W = tr::width;
    if (box.height == 0 || box.width == 0 || box.top + box.height > H || box.left + box.width > W)
        fail("[resized_crop] box (top %zu, left %zu, height %zu, width %zu) is empty or outside the %zu x %zu image",
             box.top, box.left, box.height, box.width, H, W);
    linear_tap xs[OW];
    for (std::size_t j = 0; j < OW; ++j) xs[j] = linear_source(j, box.width, OW);
    image<T, C, OH, OW> out(uninitialized);
    const T* src = img.data();
    T* dst = out.data();
    for (std::size_t c = 0; c < C; ++c)
        for (std::size_t i = 0; i < OH; ++i) {
            const linear_tap y = linear_source(i, box.height, OH);
            const T* r0 = src + (c * H + box.top + y.i0) * W + box.left;
            const T* r1 = src + (c * H + box.top + y.i1) * W + box.left;
            for (std::size_t j = 0; j < OW; ++j) {
                const linear_tap& x = xs[j];
                const float top = mul(x.w0, float(r0[x.i0])) + mul(x.w1, float(r0[x.i1]));
                const float bottom = mul(x.w0, float(r1[x.i0])) + mul(x.w1, float(r1[x.i1]));
                *dst++ = from_float<T>(mul(top, y.w0) + mul(bottom, y.w1));
            }
        }
    return out;
}

/// Copies the OH x OW window at (top, left) of img padded by `pad` zeros on every side.
template <std::size_t OH, std::size_t OW, class In>
auto padded_window(const In& img, std::size_t pad, std::size_t top, std::size_t left) {
    using tr = traits_t<In>;
    using T = typename tr::value_type;
    constexpr std::size_t C = tr::channels, H = tr::height, W = tr::width;
    image<T, C, OH, OW> out(uninitialized);
    T* dst = out.data();
    for (std::size_t c = 0; c < C; ++c)
        for (std::size_t i = 0; i < OH; ++i) {
            const std::size_t si = top + i;  // row in the padded image
            const bool row_in = si >= pad && si - pad < H;
            const T* row = img.data() + (c * H + (row_in ? si - pad : 0)) * W;
            for (std::size_t j = 0; j < OW; ++j) {
                const std::size_t sj = left + j;
                *dst++ = (row_in && sj >= pad && sj - pad < W) ? row[sj - pad] : T(0);
            }
        }
    return out;
}

inline void check_factor(const char* op, const char* what, float v) {
    if (!(v >= 0.0f)) fail("[%s] %s must be >= 0, got %g", op, what, double(v));
}
}  // namespace detail

// --- deterministic ops (torchvision.transforms.functional) ------------------------------------

/// Mirrors each row (F.hflip).
template <image_tensor In>
auto hflip(const In& img) {
    using tr = detail::traits_t<In>;
    constexpr std::size_t W = tr::width;
    image<typename tr::value_type, tr::channels, tr::height, W> out(uninitialized);
    for (std::size_t r = 0; r < tr::channels * tr::height; ++r)
        for (std::size_t j = 0; j < W; ++j) out.data()[r * W + j] = img.data()[r * W + W - 1 - j];
    return out;
}

/// Rotates counter-clockwise by `degrees` about the image centre, nearest neighbour, zeros
/// outside (F.rotate(img, degrees, NEAREST, fill=0) without expand).
template <image_tensor In>
auto rotate(const In& img, float degrees) {
    using tr = detail::traits_t<In>;
    using T = typename tr::value_type;
    constexpr std::size_t C = tr::channels, H = tr::height, W = tr::width;
    // torchvision's inverse affine matrix (in double), then its float grid: base pixel centres
    // relative to the centre, times theta / (size / 2), then grid_sample's unnormalisation.
    const double rot = -double(degrees) * 0.017453292519943295;
    const float hw = float(W) * 0.5f, hh = float(H) * 0.5f;
    const float ax = float(std::cos(rot)) / hw, bx = float(std::sin(rot)) / hw;
    const float ay = float(-std::sin(rot)) / hh, by = float(std::cos(rot)) / hh;
    image<T, C, H, W> out(uninitialized);
    for (std::size_t i = 0; i < H; ++i) {
        const float yb = float(i) - float(H) * 0.5f + 0.5f;
        for (std::size_t j = 0; j < W; ++j) {
            const float xb = float(j) - float(W) * 0.5f + 0.5f;
            const float gx = detail::mul(xb, ax) + detail::mul(yb, bx), gy = detail::mul(xb, ay) + detail::mul(yb, by);
            const float sx = std::nearbyint(detail::mul(gx + 1.0f, hw) - 0.5f), sy = std::nearbyint(detail::mul(gy + 1.0f, hh) - 0.5f);
            const bool in = sx >= 0.0f && sx < float(W) && sy >= 0.0f && sy < float(H);
            const std::size_t src = in ? std::size_t(sy) * W + std::size_t(sx) : 0;
            for (std::size_t c = 0; c < C; ++c) out.data()[(c * H + i) * W + j] = in ? img.data()[c * H * W + src] : T(0);
        }
    }
    return out;
}

/// Scales by `factor` and clamps to [0, 1] (F.adjust_brightness on a float image).
template <image_tensor In>
auto adjust_brightness(const In& img, float factor) {
    static_assert(std::is_floating_point_v<detail::value_t<In>>, "[adjust_brightness] needs a float image (apply to_tensor first)");
    detail::check_factor("adjust_brightness", "factor", factor);
    std::remove_cvref_t<decltype(hflip(img))> out(uninitialized);
    for (std::size_t i = 0; i < out.size; ++i) out.data()[i] = std::clamp(factor * img.data()[i], 0.0f, 1.0f);
    return out;
}

/// Blends with the mean of the grayscale image and clamps to [0, 1] (F.adjust_contrast).
template <image_tensor In>
auto adjust_contrast(const In& img, float factor) {
    using tr = detail::traits_t<In>;
    static_assert(std::is_floating_point_v<typename tr::value_type>, "[adjust_contrast] needs a float image (apply to_tensor first)");
    static_assert(tr::channels == 1 || tr::channels == 3, "[adjust_contrast] needs 1 (gray) or 3 (RGB) channels");
    detail::check_factor("adjust_contrast", "factor", factor);
    constexpr std::size_t HW = tr::height * tr::width;
    const float* p = img.data();
    double sum = 0.0;
    for (std::size_t i = 0; i < HW; ++i)
        sum += tr::channels == 1 ? p[i] : detail::mul(0.2989f, p[i]) + detail::mul(0.587f, p[HW + i]) + detail::mul(0.114f, p[2 * HW + i]);
    const float blended_mean = float(1.0 - double(factor)) * float(sum / double(HW));
    std::remove_cvref_t<decltype(hflip(img))> out(uninitialized);
    for (std::size_t i = 0; i < out.size; ++i) out.data()[i] = std::clamp(detail::mul(factor, p[i]) + blended_mean, 0.0f, 1.0f);
    return out;
}

/// Crops `box` and resizes it bilinearly to OH x OW (F.resized_crop, antialias=False).
template <std::size_t OH, std::size_t OW, image_tensor In>
auto resized_crop(const In& img, crop_box box) {
    detail::check_nonempty<OH, OW>();
    return detail::resize_window<OH, OW>(img, box);
}

// --- transforms --------------------------------------------------------------------------------

/// Returns its input.
struct identity {
    template <image_tensor In>
    auto operator()(const In& img, generator&) const { return std::remove_cvref_t<In>(img); }
};

/// uint8 to float in [0, 1], x / 255 (ToTensor on a CHW image).
struct to_tensor {
    template <image_tensor In>
    auto operator()(const In& img) const {
        using tr = detail::traits_t<In>;
        static_assert(std::is_same_v<typename tr::value_type, std::uint8_t>, "[to_tensor] expects a uint8 image");
        image<float, tr::channels, tr::height, tr::width> out(uninitialized);
        for (std::size_t i = 0; i < out.size; ++i) out.data()[i] = float(img.data()[i]) / 255.0f;
        return out;
    }
    template <image_tensor In>
    auto operator()(const In& img, generator&) const { return (*this)(img); }
};

/// (x - mean[c]) / std[c] per channel (Normalize); std must not be 0.
template <std::size_t C>
struct normalize {
    std::array<float, C> mean{}, std{};

    template <image_tensor In>
    auto operator()(const In& img) const {
        using tr = detail::traits_t<In>;
        static_assert(std::is_floating_point_v<typename tr::value_type>, "[normalize] needs a float image (apply to_tensor first)");
        detail::check_channels<normalize, C, tr::channels>();
        constexpr std::size_t HW = tr::height * tr::width;
        std::remove_cvref_t<decltype(hflip(img))> out(uninitialized);
        for (std::size_t c = 0; c < C; ++c) {
            if (std[c] == 0.0f) fail("[normalize] std[%zu] is 0", c);
            for (std::size_t i = 0; i < HW; ++i) out.data()[c * HW + i] = (img.data()[c * HW + i] - mean[c]) / std[c];
        }
        return out;
    }
    template <image_tensor In>
    auto operator()(const In& img, generator&) const { return (*this)(img); }
};
template <std::size_t C>
normalize(const float (&)[C], const float (&)[C]) -> normalize<C>;

/// Bilinear resize to OH x OW (Resize, align_corners=False, antialias=False).
template <std::size_t OH, std::size_t OW>
struct resize {
    template <image_tensor In>
    auto operator()(const In& img) const {
        using tr = detail::traits_t<In>;
        detail::check_nonempty<OH, OW>();
        return detail::resize_window<OH, OW>(img, {0, 0, tr::height, tr::width});
    }
    template <image_tensor In>
    auto operator()(const In& img, generator&) const { return (*this)(img); }
};

/// The central OH x OW window, offsets rounded half to even as torchvision does (CenterCrop).
template <std::size_t OH, std::size_t OW>
struct center_crop {
    template <image_tensor In>
    auto operator()(const In& img) const {
        using tr = detail::traits_t<In>;
        detail::check_window<center_crop, shape<tr::channels, tr::height, tr::width>, shape<tr::channels, OH, OW>>();
        const auto top = std::size_t(std::nearbyint(double(tr::height - OH) / 2.0));
        const auto left = std::size_t(std::nearbyint(double(tr::width - OW) / 2.0));
        return detail::padded_window<OH, OW>(img, 0, top, left);
    }
    template <image_tensor In>
    auto operator()(const In& img, generator&) const { return (*this)(img); }
};

/// A random window of area scale x the image's and aspect ratio in `ratio` (log-uniform),
/// resized to OH x OW (RandomResizedCrop, bilinear, antialias=False).
template <std::size_t OH, std::size_t OW>
struct random_resized_crop {
    range scale{0.08f, 1.0f}, ratio{3.0f / 4.0f, 4.0f / 3.0f};

    /// torchvision's get_params for an h x w image: 10 tries, then a central crop whose aspect
    /// ratio is clamped to `ratio`.
    crop_box params(std::size_t h, std::size_t w, generator& g) const {
        if (!(scale.lo > 0.0f && scale.lo <= scale.hi && scale.hi <= 1.0f))
            fail("[random_resized_crop] scale must satisfy 0 < lo <= hi <= 1, got (%g, %g)", double(scale.lo), double(scale.hi));
        if (!(ratio.lo > 0.0f && ratio.lo <= ratio.hi))
            fail("[random_resized_crop] ratio must satisfy 0 < lo <= hi, got (%g, %g)", double(ratio.lo), double(ratio.hi));
        const double area = double(h) * double(w);
        const double log_lo = std::log(double(ratio.lo)), log_hi = std::log(double(ratio.hi));
        for (int attempt = 0; attempt < 10; ++attempt) {
            const double target = area * (scale.lo + (double(scale.hi) - scale.lo) * g.next_double());
            const double aspect = std::exp(log_lo + (log_hi - log_lo) * g.next_double());
            const auto cw = std::size_t(std::nearbyint(std::sqrt(target * aspect)));
            const auto ch = std::size_t(std::nearbyint(std::sqrt(target / aspect)));
            if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
                const std::size_t top = g.next_below(std::uint32_t(h - ch + 1));
                return {top, g.next_below(std::uint32_t(w - cw + 1)), ch, cw};
            }
        }
        const double in_ratio = double(w) / double(h);
        std::size_t ch = h, cw = w;
        if (in_ratio < ratio.lo) ch = std::size_t(std::nearbyint(double(w) / ratio.lo));
        else if (in_ratio > ratio.hi) cw = std::size_t(std::nearbyint(double(h) * ratio.hi));
        return {(h - ch) / 2, (w - cw) / 2, ch, cw};
    }
    /// The crop and resize for a drawn box.
    template <image_tensor In>
    static auto apply(const In& img, crop_box box) { return resized_crop<OH, OW>(img, box); }
    template <image_tensor In>
    auto operator()(const In& img, generator& g) const {
        using tr = detail::traits_t<In>;
        return apply(img, params(tr::height, tr::width, g));
    }
};

/// Mirrors the image with probability p (RandomHorizontalFlip). The template argument only
/// exists for the legacy call form below: write random_horizontal_flip{.p = ...} (g++; clang
/// before 17 needs random_horizontal_flip<>{...}), and random_horizontal_flip<> as a type.
template <class Legacy = void>
struct random_horizontal_flip {
    float p = 0.5f;

    /// Whether to flip: one uniform draw below p.
    bool params(generator& g) const {
        if (!(p >= 0.0f && p <= 1.0f)) fail("[random_horizontal_flip] p must be in [0, 1], got %g", double(p));
        return g.next_float() < p;
    }
    template <image_tensor In>
    static auto apply(const In& img, bool flip) { return flip ? hflip(img) : std::remove_cvref_t<decltype(hflip(img))>(img); }
    template <image_tensor In>
    auto operator()(const In& img, generator& g) const { return apply(img, params(g)); }
};
random_horizontal_flip() -> random_horizontal_flip<>;
random_horizontal_flip(float) -> random_horizontal_flip<>;

/// Rotates by an angle uniform in [-degrees, degrees] (RandomRotation, nearest, fill 0).
struct random_rotation {
    float degrees = 0.0f;

    /// The angle in degrees.
    float params(generator& g) const {
        detail::check_factor("random_rotation", "degrees", degrees);
        return -degrees + 2.0f * degrees * g.next_float();
    }
    template <image_tensor In>
    static auto apply(const In& img, float angle) { return rotate(img, angle); }
    template <image_tensor In>
    auto operator()(const In& img, generator& g) const { return apply(img, params(g)); }
};

/// Brightness and contrast factors uniform in [max(0, 1 - b), 1 + b] (ColorJitter without
/// saturation and hue); 0 leaves that adjustment out. The two are applied in a random order,
/// as torchvision's random permutation does.
struct color_jitter {
    float brightness = 0.0f, contrast = 0.0f;

    struct draw {
        bool contrast_first = false;
        float brightness_factor = 1.0f, contrast_factor = 1.0f;
    };
    /// The order, then the brightness factor, then the contrast factor.
    draw params(generator& g) const {
        detail::check_factor("color_jitter", "brightness", brightness);
        detail::check_factor("color_jitter", "contrast", contrast);
        draw d;
        d.contrast_first = g.next_below(2) == 1;
        const auto factor = [&g](float v) { return std::max(0.0f, 1.0f - v) + (1.0f + v - std::max(0.0f, 1.0f - v)) * g.next_float(); };
        if (brightness > 0.0f) d.brightness_factor = factor(brightness);
        if (contrast > 0.0f) d.contrast_factor = factor(contrast);
        return d;
    }
    /// Applies a drawn jitter (an adjustment whose range is 0 is skipped).
    template <image_tensor In>
    auto apply(const In& img, const draw& d) const {
        using out_t = std::remove_cvref_t<decltype(hflip(img))>;
        out_t out(img);
        for (int step = 0; step < 2; ++step) {
            if ((step == 0) != d.contrast_first) {
                if (brightness > 0.0f) out = adjust_brightness(out, d.brightness_factor);
            } else if (contrast > 0.0f) {
                out = adjust_contrast(out, d.contrast_factor);
            }
        }
        return out;
    }
    template <image_tensor In>
    auto operator()(const In& img, generator& g) const { return apply(img, params(g)); }
};

/// Pads P zeros on every side and crops a random OH x OW window, by default the input size
/// (RandomCrop(size, padding=P)).
template <std::size_t P, std::size_t OH = 0, std::size_t OW = 0>
struct pad_random_crop {
    /// The window in padded coordinates for an h x w input (top drawn first, as torchvision).
    static crop_box params(std::size_t h, std::size_t w, generator& g) {
        const std::size_t oh = OH ? OH : h, ow = OW ? OW : w;
        if (oh > h + 2 * P || ow > w + 2 * P)
            fail("[pad_random_crop] a %zu x %zu window does not fit a %zu x %zu image padded by %zu", oh, ow, h, w, P);
        const std::size_t top = g.next_below(std::uint32_t(h + 2 * P - oh + 1));
        return {top, g.next_below(std::uint32_t(w + 2 * P - ow + 1)), oh, ow};
    }
    /// The window `box` (in padded coordinates) of the padded image.
    template <image_tensor In>
    static auto apply(const In& img, crop_box box) {
        using tr = detail::traits_t<In>;
        constexpr std::size_t oh = OH ? OH : tr::height, ow = OW ? OW : tr::width;
        detail::check_window<pad_random_crop, shape<tr::channels, tr::height + 2 * P, tr::width + 2 * P>, shape<tr::channels, oh, ow>>();
        if (box.top + oh > tr::height + 2 * P || box.left + ow > tr::width + 2 * P)
            fail("[pad_random_crop] window at (%zu, %zu) is outside the padded image", box.top, box.left);
        return detail::padded_window<oh, ow>(img, P, box.top, box.left);
    }
    template <image_tensor In>
    auto operator()(const In& img, generator& g) const {
        using tr = detail::traits_t<In>;
        return apply(img, params(tr::height, tr::width, g));
    }
};

/// Applies transforms in order (Compose); stored head/tail, built as compose{t1, t2, ...}.
template <class... Ts>
struct compose;
template <>
struct compose<> {
    template <image_tensor In>
    auto operator()(const In& img, generator&) const { return std::remove_cvref_t<In>(img); }
};
template <class T, class... Rest>
struct compose<T, Rest...> {
    T head{};
    compose<Rest...> tail{};

    compose() = default;
    explicit compose(T first, Rest... rest) : head(std::move(first)), tail(std::move(rest)...) {}
    template <image_tensor In>
    auto operator()(const In& img, generator& g) const {
        if constexpr (sizeof...(Rest) == 0) return head(img, g);
        else return tail(head(img, g), g);
    }
};
template <class... Ts>
compose(Ts...) -> compose<Ts...>;

// --- legacy raw-pointer API, removed when the examples move to compose{} ------------------------
// data::normalize(img, c, hw, mean, std), data::random_horizontal_flip(img, c, h, w, g) and
// data::random_resized_crop(img, c, h, w, g, ...) still work in place on float buffers: each
// deduces (through the guides below) a specialization whose constructor does the old work.

namespace legacy {
/// Bytes 0..255 to floats in [0, 1] (was data::to_tensor(src, dst, n)).
inline void to_tensor(const std::uint8_t* src, float* dst, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = float(src[i]) * (1.0f / 255.0f);
}
}  // namespace legacy

namespace detail {
struct legacy_call {};
}  // namespace detail

template <>
struct normalize<0> {
    /// (x - mean[c]) / std[c] per channel, in place.
    normalize(float* img, std::size_t c, std::size_t hw, const float* mean, const float* stddev) {
        for (std::size_t k = 0; k < c; ++k)
            for (std::size_t i = 0; i < hw; ++i) img[k * hw + i] = (img[k * hw + i] - mean[k]) / stddev[k];
    }
};
normalize(float*, std::size_t, std::size_t, const float*, const float*) -> normalize<0>;

template <>
struct random_horizontal_flip<detail::legacy_call> {
    /// Mirrors the image left-right with probability p, in place.
    random_horizontal_flip(float* img, std::size_t c, std::size_t h, std::size_t w, generator& g, float p = 0.5f) {
        if (g.next_float() >= p) return;
        for (std::size_t k = 0; k < c * h; ++k)
            for (std::size_t j = 0; j < w / 2; ++j) std::swap(img[k * w + j], img[k * w + w - 1 - j]);
    }
};
random_horizontal_flip(float*, std::size_t, std::size_t, std::size_t, generator&) -> random_horizontal_flip<detail::legacy_call>;
random_horizontal_flip(float*, std::size_t, std::size_t, std::size_t, generator&, float) -> random_horizontal_flip<detail::legacy_call>;

template <>
struct random_resized_crop<0, 0> {
    /// A random area (scale range, aspect ratio in ratio range) resized back to h x w (nearest), in place.
    random_resized_crop(float* img, std::size_t c, std::size_t h, std::size_t w, generator& g, float scale_lo = 0.08f,
                        float scale_hi = 1.0f, float ratio_lo = 3.f / 4, float ratio_hi = 4.f / 3) {
        std::size_t ch = h, cw = w, y0 = 0, x0 = 0;
        for (int attempt = 0; attempt < 10; ++attempt) {
            const float area = float(h * w) * (scale_lo + (scale_hi - scale_lo) * g.next_float());
            const float logr = std::log(ratio_lo) + (std::log(ratio_hi) - std::log(ratio_lo)) * g.next_float();
            const float r = std::exp(logr);
            const auto tw = std::size_t(std::lround(std::sqrt(area * r))), th = std::size_t(std::lround(std::sqrt(area / r)));
            if (tw > 0 && th > 0 && tw <= w && th <= h) {
                ch = th;
                cw = tw;
                y0 = g.next_below(std::uint32_t(h - th + 1));
                x0 = g.next_below(std::uint32_t(w - tw + 1));
                break;
            }
        }
        std::vector<float> out(c * h * w);
        for (std::size_t k = 0; k < c; ++k)
            for (std::size_t i = 0; i < h; ++i)
                for (std::size_t j = 0; j < w; ++j) out[(k * h + i) * w + j] = img[(k * h + y0 + i * ch / h) * w + x0 + j * cw / w];
        std::copy(out.begin(), out.end(), img);
    }
};
random_resized_crop(float*, std::size_t, std::size_t, std::size_t, generator&) -> random_resized_crop<0, 0>;
random_resized_crop(float*, std::size_t, std::size_t, std::size_t, generator&, float) -> random_resized_crop<0, 0>;
random_resized_crop(float*, std::size_t, std::size_t, std::size_t, generator&, float, float) -> random_resized_crop<0, 0>;
random_resized_crop(float*, std::size_t, std::size_t, std::size_t, generator&, float, float, float) -> random_resized_crop<0, 0>;
random_resized_crop(float*, std::size_t, std::size_t, std::size_t, generator&, float, float, float, float) -> random_resized_crop<0, 0>;

/// Pads by `pad` zeros on every side and crops an h x w window at a random place, in place.
inline void random_crop(float* img, std::size_t c, std::size_t h, std::size_t w, std::size_t pad, generator& g) {
    const long dy = long(g.next_below(std::uint32_t(2 * pad + 1))) - long(pad);
    const long dx = long(g.next_below(std::uint32_t(2 * pad + 1))) - long(pad);
    std::vector<float> out(c * h * w, 0.0f);
    for (std::size_t k = 0; k < c; ++k)
        for (std::size_t i = 0; i < h; ++i)
            for (std::size_t j = 0; j < w; ++j) {
                const long si = long(i) + dy, sj = long(j) + dx;
                if (si >= 0 && si < long(h) && sj >= 0 && sj < long(w)) out[(k * h + i) * w + j] = img[(k * h + si) * w + sj];
            }
    std::copy(out.begin(), out.end(), img);
}

}  // namespace kiln::data
