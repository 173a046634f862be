#include <kiln/kiln.hpp>

#include "test_util.hpp"

using namespace kiln;
using test::expect_close;

TEST(Movement, ReshapeFlattenSqueezeUnsqueeze) {
    auto x = arange<float, shape<2, 3, 4>>();
    auto r = reshape<6, 4>(x);
    static_assert(std::is_same_v<decltype(r)::shape_type, shape<6, 4>>);
    EXPECT_EQ(r(5, 3), 23);
    static_assert(std::is_same_v<decltype(flatten(x))::shape_type, shape<24>>);
    static_assert(std::is_same_v<decltype(flatten<1>(x))::shape_type, shape<2, 12>>);
    static_assert(std::is_same_v<decltype(flatten<0, 1>(x))::shape_type, shape<6, 4>>);
    auto u = unsqueeze<1>(x);
    static_assert(std::is_same_v<decltype(u)::shape_type, shape<2, 1, 3, 4>>);
    static_assert(std::is_same_v<decltype(unsqueeze<-1>(x))::shape_type, shape<2, 3, 4, 1>>);
    auto s = squeeze<1>(u);
    static_assert(std::is_same_v<decltype(s)::shape_type, shape<2, 3, 4>>);
    EXPECT_EQ(s[17], 17);
}

TEST(Movement, TransposeIsLazyAndComposable) {
    tensor<float, shape<2, 3>> a{{1, 2, 3}, {4, 5, 6}};
    tensor<float, shape<3, 2>> t = transpose(a);
    expect_close(t, {1, 4, 2, 5, 3, 6});
    tensor<float, shape<3, 2>> t2 = transpose(a * 2.f) + 1.f;
    expect_close(t2, {3, 9, 5, 11, 7, 13});
    auto b = arange<float, shape<2, 2, 3>>();
    tensor<float, shape<2, 3, 2>> bt = transpose(b);
    EXPECT_EQ(bt(1, 2, 0), b(1, 0, 2));
    EXPECT_EQ(bt(0, 1, 1), b(0, 1, 1));
    EXPECT_EQ(bt(1, 0, 1), b(1, 1, 0));
}

TEST(Movement, Permute) {
    auto x = arange<float, shape<2, 3, 4>>();
    auto p = permute<2, 0, 1>(x);
    static_assert(std::is_same_v<decltype(p)::shape_type, shape<4, 2, 3>>);
    for (size_t i = 0; i < 2; ++i)
        for (size_t j = 0; j < 3; ++j)
            for (size_t k = 0; k < 4; ++k) EXPECT_EQ(p(k, i, j), x(i, j, k));
}

TEST(Movement, Slice) {
    auto x = arange<float, shape<4, 6>>();
    auto s = slice<1, 1, 5, 2>(x);
    static_assert(std::is_same_v<decltype(s)::shape_type, shape<4, 2>>);
    expect_close(s, {1, 3, 7, 9, 13, 15, 19, 21});
    auto r = slice<0, 2, 4>(x);
    expect_close(r, {12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23});
    auto l = slice<-1, 5, 6>(x);
    expect_close(l, {5, 11, 17, 23});
}

TEST(Movement, Concat) {
    tensor<float, shape<2, 2>> a{{1, 2}, {3, 4}};
    tensor<float, shape<2, 1>> b{{5}, {6}};
    tensor<float, shape<1, 2>> c{{7, 8}};
    auto h = concat<1>(a, b);
    static_assert(std::is_same_v<decltype(h)::shape_type, shape<2, 3>>);
    expect_close(h, {1, 2, 5, 3, 4, 6});
    auto v = concat<0>(a, c, c);
    static_assert(std::is_same_v<decltype(v)::shape_type, shape<4, 2>>);
    expect_close(v, {1, 2, 3, 4, 7, 8, 7, 8});
    auto e = concat<-1>(a * 2.f, b);
    expect_close(e, {2, 4, 5, 6, 8, 6});
}
