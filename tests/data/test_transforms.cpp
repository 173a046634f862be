// Image transforms: each deterministic op against torchvision 0.14 (fixtures written by
// make_transform_fixtures.py), the random ones' parameter draws (bounds, statistics, fallback,
// determinism) and that applying a random transform equals its deterministic op on the drawn
// parameters; bad runtime parameters are kiln::error.
#include <gtest/gtest.h>

#include <kiln/data/transforms.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace kiln;
using namespace kiln::data;

namespace {

struct reference {
    std::size_t c = 0, h = 0, w = 0;
    std::vector<float> v;
};

const std::map<std::string, reference>& fixtures() {
    static const std::map<std::string, reference> m = [] {
        std::map<std::string, reference> out;
        std::ifstream in(std::string(KILN_DATA_FIXTURES) + "/transforms_torchvision.txt");
        std::string line;
        while (std::getline(in, line)) {
            if (line.empty() || line[0] == '#') continue;
            std::istringstream ss(line);
            std::string name;
            reference r;
            ss >> name >> r.c >> r.h >> r.w;
            r.v.resize(r.c * r.h * r.w);
            for (auto& x : r.v) ss >> x;
            out[name] = std::move(r);
        }
        return out;
    }();
    return m;
}

const reference& ref(const std::string& name) {
    auto it = fixtures().find(name);
    if (it == fixtures().end()) throw std::runtime_error("missing fixture " + name);
    return it->second;
}

template <class T, std::size_t C, std::size_t H, std::size_t W>
image<T, C, H, W> load(const std::string& name) {
    const reference& r = ref(name);
    EXPECT_EQ(r.c, C);
    EXPECT_EQ(r.h, H);
    EXPECT_EQ(r.w, W);
    image<T, C, H, W> img;
    for (std::size_t i = 0; i < img.size; ++i) img.data()[i] = T(r.v[i]);
    return img;
}

// Max |kiln - torchvision| over the image, after checking the fixture's shape; printed so the
// report can quote it.
template <class Img>
double max_error(const Img& got, const std::string& name) {
    const reference& r = ref(name);
    using tr = kiln::data::detail::image_traits<Img>;
    EXPECT_EQ(r.c, tr::channels);
    EXPECT_EQ(r.h, tr::height);
    EXPECT_EQ(r.w, tr::width);
    double e = 0;
    for (std::size_t i = 0; i < got.size && i < r.v.size(); ++i) e = std::max(e, std::abs(double(got.data()[i]) - double(r.v[i])));
    std::printf("  %-20s max |kiln - torchvision| = %.3g\n", name.c_str(), e);
    return e;
}

template <class A, class B>
bool same(const A& a, const B& b) {
    static_assert(std::is_same_v<std::remove_cvref_t<A>, std::remove_cvref_t<B>>);
    for (std::size_t i = 0; i < a.size; ++i)
        if (a.data()[i] != b.data()[i]) return false;
    return true;
}

const auto u8_rgb = [] { return load<std::uint8_t, 3, 7, 9>("u8_rgb"); };
const auto u8_gray = [] { return load<std::uint8_t, 1, 6, 5>("u8_gray"); };
const auto rgb = [] { return to_tensor{}(u8_rgb()); };
const auto gray = [] { return to_tensor{}(u8_gray()); };
constexpr double tol = 1e-5;

}  // namespace

TEST(Transforms, ToTensorAndNormalizeMatchTorchvision) {
    EXPECT_LE(max_error(rgb(), "to_tensor_rgb"), 0.0);
    EXPECT_LE(max_error(gray(), "to_tensor_gray"), 0.0);
    const normalize n{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
    static_assert(std::is_same_v<decltype(n), const normalize<3>>);
    EXPECT_LE(max_error(n(rgb()), "normalize_rgb"), tol);
    const normalize<3> designated{.mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}};
    EXPECT_TRUE(same(designated(rgb()), n(rgb())));
}

TEST(Transforms, ResizeMatchesTorchvisionBilinear) {
    EXPECT_LE(max_error(resize<5, 4>{}(rgb()), "resize_5x4"), tol);
    EXPECT_LE(max_error(resize<11, 13>{}(rgb()), "resize_11x13"), tol);
    EXPECT_LE(max_error(resize<4, 13>{}(rgb()), "resize_4x13"), tol);
    EXPECT_LE(max_error(resize<7, 9>{}(rgb()), "resize_7x9"), 0.0);
    // uint8 rounds the float result half to even, as torchvision does; torch's float kernel
    // differs from ours in the last bit, which moves an exact .5 tie (3 of 180 pixels here).
    const auto u8 = resize<5, 12>{}(u8_rgb());
    const auto as_float = resize<5, 12>{}(load<float, 3, 7, 9>("u8_rgb"));
    EXPECT_LE(max_error(u8, "u8_resize_5x12"), 1.0);
    int off = 0;
    for (std::size_t i = 0; i < u8.size; ++i)
        if (float(u8.data()[i]) != ref("u8_resize_5x12").v[i]) {
            ++off;
            EXPECT_NEAR(as_float.data()[i] - std::floor(as_float.data()[i]), 0.5f, 1e-4f) << "pixel " << i << " is not a tie";
        }
    EXPECT_LE(off, 3);
}

TEST(Transforms, CenterCropMatchesTorchvision) {
    EXPECT_LE(max_error(center_crop<4, 5>{}(rgb()), "center_crop_4x5"), 0.0);  // top offset 1.5 rounds to 2
    EXPECT_LE(max_error(center_crop<3, 6>{}(rgb()), "center_crop_3x6"), 0.0);  // left offset 1.5 rounds to 2
    EXPECT_LE(max_error(center_crop<3, 2>{}(u8_gray()), "u8_center_crop_3x2"), 0.0);
    EXPECT_TRUE(same(center_crop<7, 9>{}(rgb()), rgb()));
}

TEST(Transforms, FlipMatchesTorchvision) {
    EXPECT_LE(max_error(hflip(rgb()), "hflip"), 0.0);
    EXPECT_LE(max_error(hflip(u8_gray()), "u8_hflip"), 0.0);
    generator g(1);
    EXPECT_TRUE(same(random_horizontal_flip{.p = 1.0f}(rgb(), g), hflip(rgb())));
    EXPECT_TRUE(same(random_horizontal_flip{.p = 0.0f}(u8_rgb(), g), u8_rgb()));
}

TEST(Transforms, RotateMatchesTorchvisionNearest) {
    EXPECT_LE(max_error(rotate(rgb(), 30.0f), "rotate_30"), 0.0);
    EXPECT_LE(max_error(rotate(rgb(), -17.5f), "rotate_m17_5"), 0.0);
    EXPECT_LE(max_error(rotate(gray(), 123.0f), "rotate_gray_123"), 0.0);
    EXPECT_LE(max_error(rotate(u8_rgb(), 45.0f), "u8_rotate_45"), 0.0);
    EXPECT_TRUE(same(rotate(rgb(), 0.0f), rgb()));
}

TEST(Transforms, BrightnessAndContrastMatchTorchvision) {
    EXPECT_LE(max_error(adjust_brightness(rgb(), 0.6f), "brightness_0_6"), tol);
    EXPECT_LE(max_error(adjust_brightness(rgb(), 1.4f), "brightness_1_4"), tol);
    EXPECT_LE(max_error(adjust_contrast(rgb(), 0.5f), "contrast_0_5"), tol);
    EXPECT_LE(max_error(adjust_contrast(rgb(), 1.7f), "contrast_1_7"), tol);
    EXPECT_LE(max_error(adjust_contrast(gray(), 1.3f), "contrast_gray_1_3"), tol);
}

TEST(Transforms, ResizedCropAndPaddedCropMatchTorchvision) {
    const crop_box box{.top = 1, .left = 2, .height = 5, .width = 6};
    EXPECT_LE(max_error(resized_crop<8, 8>(rgb(), box), "resized_crop_8x8"), tol);
    EXPECT_LE(max_error(random_resized_crop<3, 4>::apply(rgb(), box), "resized_crop_3x4"), tol);
    EXPECT_LE(max_error(pad_random_crop<2>::apply(rgb(), {3, 1, 7, 9}), "pad_crop_2_3_1"), 0.0);
    EXPECT_LE(max_error(pad_random_crop<2>::apply(u8_gray(), {0, 4, 6, 5}), "u8_pad_crop_2_0_4"), 0.0);
}

TEST(Transforms, RandomResizedCropParamsAreInRangeAndUniform) {
    const random_resized_crop<8, 8> t{.scale = {0.2f, 0.5f}};
    generator g(7);
    constexpr int n = 4000;
    double frac = 0, log_aspect = 0, pos = 0;
    for (int k = 0; k < n; ++k) {
        const crop_box b = t.params(200, 200, g);
        ASSERT_LE(b.top + b.height, 200u);
        ASSERT_LE(b.left + b.width, 200u);
        const double f = double(b.height * b.width) / (200.0 * 200.0), a = double(b.width) / double(b.height);
        // rounding each side to a whole pixel moves area and ratio a little past the bounds
        ASSERT_GE(f, 0.2 * 0.99);
        ASSERT_LE(f, 0.5 * 1.01);
        ASSERT_GE(a, 0.75 * 0.98);
        ASSERT_LE(a, 4.0 / 3.0 * 1.02);
        frac += f;
        log_aspect += std::log(a);
        pos += b.height < 200 ? double(b.top) / double(200 - b.height) : 0.5;
    }
    EXPECT_NEAR(frac / n, 0.35, 0.01);       // scale is uniform
    EXPECT_NEAR(log_aspect / n, 0.0, 0.02);  // log(ratio) is uniform on a symmetric range
    EXPECT_NEAR(pos / n, 0.5, 0.02);         // the window's place is uniform
}

TEST(Transforms, RandomResizedCropFallsBackToTheClampedCentralCrop) {
    generator g(3);
    // Every try is too wide (area 100 with ratio >= 2 needs a side > 10): central crop at ratio 2.
    const crop_box tall = random_resized_crop<4, 4>{.scale = {1.0f, 1.0f}, .ratio = {2.0f, 3.0f}}.params(10, 10, g);
    EXPECT_EQ(tall.top, 2u);
    EXPECT_EQ(tall.left, 0u);
    EXPECT_EQ(tall.height, 5u);
    EXPECT_EQ(tall.width, 10u);
    const crop_box wide = random_resized_crop<4, 4>{.scale = {1.0f, 1.0f}, .ratio = {0.25f, 0.5f}}.params(10, 10, g);
    EXPECT_EQ(wide.top, 0u);
    EXPECT_EQ(wide.left, 2u);
    EXPECT_EQ(wide.height, 10u);
    EXPECT_EQ(wide.width, 5u);
    // Every try rounds to an empty window; the image's own ratio 1.6 is in range: the whole image.
    const crop_box whole = random_resized_crop<4, 4>{.scale = {0.001f, 0.001f}, .ratio = {1.0f, 2.0f}}.params(5, 8, g);
    EXPECT_EQ(whole.top, 0u);
    EXPECT_EQ(whole.left, 0u);
    EXPECT_EQ(whole.height, 5u);
    EXPECT_EQ(whole.width, 8u);
}

TEST(Transforms, RandomTransformsEqualTheirOpOnTheDrawnParams) {
    const auto img = rgb();
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        generator a(seed), b(seed);
        const random_resized_crop<5, 6> rrc{};
        EXPECT_TRUE(same(rrc(img, a), resized_crop<5, 6>(img, rrc.params(7, 9, b))));
        const random_horizontal_flip flip{};
        EXPECT_TRUE(same(flip(img, a), flip.params(b) ? hflip(img) : img));
        const random_rotation rot{.degrees = 40.0f};
        EXPECT_TRUE(same(rot(u8_rgb(), a), rotate(u8_rgb(), rot.params(b))));
        const color_jitter cj{.brightness = 0.4f, .contrast = 0.4f};
        const auto d = cj.params(b);
        const auto manual = d.contrast_first ? adjust_brightness(adjust_contrast(img, d.contrast_factor), d.brightness_factor)
                                             : adjust_contrast(adjust_brightness(img, d.brightness_factor), d.contrast_factor);
        EXPECT_TRUE(same(cj(img, a), manual));
        const pad_random_crop<3> prc{};
        EXPECT_TRUE(same(prc(u8_gray(), a), pad_random_crop<3>::apply(u8_gray(), prc.params(6, 5, b))));
        EXPECT_EQ(a.next_u32(), b.next_u32());  // the same number of draws
    }
    generator a(5), b(5);
    EXPECT_TRUE(same(random_resized_crop<4, 4>{}(img, a), random_resized_crop<4, 4>{}(img, b)));  // a seed decides
}

TEST(Transforms, RandomParamsHaveTheRightDistribution) {
    generator g(11);
    const random_horizontal_flip flip{.p = 0.3f};
    const random_rotation rot{.degrees = 15.0f};
    const color_jitter cj{.brightness = 0.5f, .contrast = 0.2f};
    constexpr int n = 10000;
    int flips = 0, contrast_first = 0;
    double angle = 0;
    int seen[5][5] = {};
    for (int k = 0; k < n; ++k) {
        flips += flip.params(g);
        const float a = rot.params(g);
        ASSERT_GE(a, -15.0f);
        ASSERT_LE(a, 15.0f);
        angle += a;
        const auto d = cj.params(g);
        ASSERT_GE(d.brightness_factor, 0.5f);
        ASSERT_LE(d.brightness_factor, 1.5f);
        ASSERT_GE(d.contrast_factor, 0.8f);
        ASSERT_LE(d.contrast_factor, 1.2f);
        contrast_first += d.contrast_first;
        const crop_box b = pad_random_crop<2>::params(6, 5, g);
        ASSERT_LE(b.top, 4u);
        ASSERT_LE(b.left, 4u);
        EXPECT_EQ(b.height, 6u);
        EXPECT_EQ(b.width, 5u);
        ++seen[b.top][b.left];
    }
    EXPECT_NEAR(flips / double(n), 0.3, 0.015);
    EXPECT_NEAR(angle / n, 0.0, 0.3);
    EXPECT_NEAR(contrast_first / double(n), 0.5, 0.02);
    for (auto& row : seen)
        for (int s : row) EXPECT_GT(s, 250);  // every one of the 25 windows, about 400 each
    // Brightness 1.5 > 1: the factor range starts at 0, not below.
    const auto d = color_jitter{.brightness = 1.5f}.params(g);
    EXPECT_GE(d.brightness_factor, 0.0f);
    EXPECT_EQ(d.contrast_factor, 1.0f);
}

TEST(Transforms, ComposeChainsAndChangesTheType) {
    const compose train{pad_random_crop<2>{}, random_horizontal_flip{}, to_tensor{},
                        normalize{{0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}}};
    generator a(9), b(9);
    const auto x = train(u8_rgb(), a);
    static_assert(std::is_same_v<std::remove_cvref_t<decltype(x)>, image<float, 3, 7, 9>>);
    const auto manual = normalize{{0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}}(
        to_tensor{}(random_horizontal_flip{}(pad_random_crop<2>{}(u8_rgb(), b), b)));
    EXPECT_TRUE(same(x, manual));

    const compose eval{to_tensor{}, resize<9, 9>{}, center_crop<4, 4>{}, identity{}};
    const auto y = eval(u8_rgb(), a);
    static_assert(std::is_same_v<std::remove_cvref_t<decltype(y)>, image<float, 3, 4, 4>>);
    EXPECT_TRUE(same(y, center_crop<4, 4>{}(resize<9, 9>{}(rgb()))));
    const compose nested{eval, random_rotation{.degrees = 10.0f}, color_jitter{.brightness = 0.2f}};
    static_assert(std::is_same_v<std::remove_cvref_t<decltype(nested(u8_rgb(), a))>, image<float, 3, 4, 4>>);
    EXPECT_TRUE(same(compose<>{}(rgb(), a), rgb()));

    static_assert(transform<decltype(train), image<std::uint8_t, 3, 7, 9>>);
    static_assert(transform<random_resized_crop<24, 24>, image<float, 1, 28, 28>>);
    static_assert(!transform<int, image<float, 1, 28, 28>>);
}

TEST(Transforms, BadRuntimeParametersFail) {
    generator g(0);
    const auto img = rgb();
    using rrc = random_resized_crop<4, 4>;
    EXPECT_THROW((rrc{.scale = {0.0f, 1.0f}}(img, g)), kiln::error);
    EXPECT_THROW((rrc{.scale = {0.5f, 0.2f}}(img, g)), kiln::error);
    EXPECT_THROW((rrc{.scale = {0.5f, 1.5f}}(img, g)), kiln::error);
    EXPECT_THROW((rrc{.ratio = {0.0f, 1.0f}}(img, g)), kiln::error);
    EXPECT_THROW((rrc{.ratio = {-1.0f, 1.0f}}(img, g)), kiln::error);
    EXPECT_THROW((rrc{.ratio = {2.0f, 1.0f}}(img, g)), kiln::error);
    EXPECT_THROW((normalize{{0.5f, 0.5f, 0.5f}, {0.2f, 0.0f, 0.2f}}(img)), kiln::error);
    EXPECT_THROW(random_horizontal_flip{.p = -0.1f}(img, g), kiln::error);
    EXPECT_THROW(random_horizontal_flip{.p = 1.5f}(img, g), kiln::error);
    EXPECT_THROW(random_rotation{.degrees = -1.0f}(img, g), kiln::error);
    EXPECT_THROW(color_jitter{.brightness = -0.1f}(img, g), kiln::error);
    EXPECT_THROW(color_jitter{.contrast = -0.1f}(img, g), kiln::error);
    EXPECT_THROW(adjust_brightness(img, -1.0f), kiln::error);
    EXPECT_THROW((resized_crop<4, 4>(img, {5, 0, 3, 3})), kiln::error);  // rows 5..7 of 7
    EXPECT_THROW((resized_crop<4, 4>(img, {0, 0, 0, 3})), kiln::error);
    EXPECT_THROW((pad_random_crop<1>::apply(img, {3, 0, 7, 9})), kiln::error);
    try {
        random_horizontal_flip{.p = 2.0f}(img, g);
    } catch (const kiln::error& e) {
        EXPECT_STREQ(e.what(), "[random_horizontal_flip] p must be in [0, 1], got 2");
    }
}

TEST(Transforms, LegacyRawPointerCallsStillWork) {
    float buf[2 * 2 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    const float mean[2] = {1, 2}, stddev[2] = {2, 4};
    data::normalize(buf, 2, 6, mean, stddev);
    EXPECT_FLOAT_EQ(buf[0], 0.0f);
    EXPECT_FLOAT_EQ(buf[6], (7.0f - 2.0f) / 4.0f);
    float row[3] = {1, 2, 3};
    generator g(0);
    data::random_horizontal_flip(row, 1, 1, 3, g, 1.0f);
    EXPECT_EQ(row[0], 3.0f);
    EXPECT_EQ(row[2], 1.0f);
    float img[16];
    for (int i = 0; i < 16; ++i) img[i] = float(i);
    data::random_resized_crop(img, 1, 4, 4, g, 1.0f, 1.0f, 1.0f, 1.0f);  // the whole image
    EXPECT_EQ(img[5], 5.0f);
    data::random_crop(img, 1, 4, 4, 0, g);
    EXPECT_EQ(img[5], 5.0f);
    const std::uint8_t bytes[2] = {0, 255};
    float out[2];
    data::legacy::to_tensor(bytes, out, 2);
    EXPECT_EQ(out[1], 1.0f);
}
