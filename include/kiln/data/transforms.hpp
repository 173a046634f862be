// Image transforms for [C, H, W] float images (torchvision's names): ToTensor (bytes to [0, 1]),
// Normalize, RandomHorizontalFlip, RandomCrop with zero padding, and RandomResizedCrop
// (nearest-neighbour resize). Random ones draw from a kiln::generator, so runs are reproducible.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "../core/random.hpp"

namespace kiln::data {

/// Bytes 0..255 to floats in [0, 1] (torchvision's ToTensor).
inline void to_tensor(const std::uint8_t* src, float* dst, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = float(src[i]) * (1.0f / 255.0f);
}

/// (x - mean[c]) / std[c] per channel, in place.
inline void normalize(float* img, std::size_t c, std::size_t hw, const float* mean, const float* stddev) {
    for (std::size_t k = 0; k < c; ++k)
        for (std::size_t i = 0; i < hw; ++i) img[k * hw + i] = (img[k * hw + i] - mean[k]) / stddev[k];
}

/// Mirrors the image left-right with probability p.
inline void random_horizontal_flip(float* img, std::size_t c, std::size_t h, std::size_t w, generator& g, float p = 0.5f) {
    if (g.next_float() >= p) return;
    for (std::size_t k = 0; k < c * h; ++k)
        for (std::size_t j = 0; j < w / 2; ++j) std::swap(img[k * w + j], img[k * w + w - 1 - j]);
}

/// Pads by `pad` zeros on every side and crops an h x w window at a random place.
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

/// A random area (scale of the image, aspect ratio in ratio range) resized back to h x w.
inline void random_resized_crop(float* img, std::size_t c, std::size_t h, std::size_t w, generator& g,
                                float scale_lo = 0.08f, float scale_hi = 1.0f, float ratio_lo = 3.f / 4, float ratio_hi = 4.f / 3) {
    std::size_t ch = h, cw = w, y0 = 0, x0 = 0;
    for (int attempt = 0; attempt < 10; ++attempt) {  // torchvision's rejection loop, then the whole image
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
            for (std::size_t j = 0; j < w; ++j)
                out[(k * h + i) * w + j] = img[(k * h + y0 + i * ch / h) * w + x0 + j * cw / w];
    std::copy(out.begin(), out.end(), img);
}

}  // namespace kiln::data
