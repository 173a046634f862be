#include <kiln/kiln.hpp>

#include <sstream>
#include <xtensor/xmath.hpp>

#include "test_util.hpp"

using namespace kiln;

TEST(Shape, ConstexprFacts) {
    using S = shape<2, 3, 4>;
    static_assert(S::rank == 3 && S::size == 24 && S::inner == 4 && S::outer == 6);
    static_assert(S::strides[0] == 12 && S::strides[1] == 4 && S::strides[2] == 1);
    static_assert(shape<>::rank == 0 && shape<>::size == 1);
    static_assert(std::is_same_v<broadcast_shape_t<add_op, shape<4, 1, 3>, shape<5, 1>>, shape<4, 5, 3>>);
    static_assert(std::is_same_v<broadcast_shape_t<add_op, shape<>, shape<2, 2>>, shape<2, 2>>);
}

TEST(Tensor, NestedInitializerListsAreRowMajor) {
    tensor<float, shape<2, 3>> t{{1, 2, 3}, {4, 5, 6}};
    EXPECT_EQ(t(0, 0), 1);
    EXPECT_EQ(t(0, 2), 3);
    EXPECT_EQ(t(1, 0), 4);
    EXPECT_EQ(t[5], 6);
    tensor<int, shape<2, 2, 2>> u{{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}};
    EXPECT_EQ(u(1, 0, 1), 6);
}

TEST(Tensor, WrongInitializerLengthNamesExpectedAndGiven) {
    try {
        tensor<float, shape<2, 3>> t{{1, 2, 3}, {4, 5}};
        FAIL() << "no error";
    } catch (const kiln::error& e) {
        EXPECT_STREQ(e.what(), "[tensor] initializer list: axis 1 expects 3 elements, got 2");
    }
    EXPECT_THROW((tensor<float, shape<2, 3>>{{1, 2, 3}}), kiln::error);
    tensor<float, shape<4>> v;
    std::vector<float> buf(5, 1.f);
    try {
        v.copy_from(buf.data(), buf.size());
        FAIL() << "no error";
    } catch (const kiln::error& e) {
        EXPECT_STREQ(e.what(), "[tensor] copy_from: expected 4 elements, got 5");
    }
}

TEST(Tensor, CheckedIndexing) {
    tensor<float, shape<2, 3>> t;
    t.at(1, 2) = 7;
    EXPECT_EQ(t[5], 7);
    EXPECT_THROW(t.at(2, 0), kiln::error);
    EXPECT_THROW(t.at(0, -1), kiln::error);
}

TEST(Tensor, StoragePolicies) {
    // small: inline; large: heap, 64-byte aligned, off the stack
    tensor<float, shape<4, 4>> small;
    static_assert(sizeof(small) >= 64);
    auto big = std::make_unique<tensor<float, shape<8192, 1024>>>();
    static_assert(sizeof(tensor<float, shape<8192, 1024>>) <= 64);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(big->data()) % 64, 0u);
    EXPECT_EQ((*big)[8192 * 1024 - 1], 0.0f);
    // copies are deep, moves steal
    tensor<float, shape<100, 100>> a = full<float, shape<100, 100>>(2.f);
    auto b = a;
    b[0] = 3;
    EXPECT_EQ(a[0], 2);
    const float* p = a.data();
    auto c = std::move(a);
    EXPECT_EQ(c.data(), p);
}

TEST(Tensor, ArenaStorage) {
    alignas(64) static std::byte buf[4096];
    arena ar(buf, sizeof buf);
    {
        arena_scope scope(ar);
        tensor<float, shape<16>, cpu, arena_storage> t;
        EXPECT_GE(reinterpret_cast<std::byte*>(t.data()), buf);
        EXPECT_LT(reinterpret_cast<std::byte*>(t.data()), buf + sizeof buf);
        EXPECT_EQ(ar.used(), 64u);
        tensor<float, shape<16>, cpu, arena_storage> u = t + 1.f;  // results of expressions live there too
        EXPECT_EQ(u[3], 1.f);
        auto r = eval(u * 2.f);
        static_assert(std::is_same_v<decltype(r)::storage_type, arena_storage>);
        EXPECT_THROW((tensor<float, shape<2048>, cpu, arena_storage>{}), kiln::error);
    }
    EXPECT_THROW((tensor<float, shape<2>, cpu, arena_storage>{}), kiln::error);  // no scope
}

TEST(Tensor, Creation) {
    auto z = zeros<float, shape<2, 2>>();
    auto o = ones<double, shape<3>>();
    auto f = full<int, shape<2>>(7);
    auto r = arange<float, shape<2, 3>>(1.f, 0.5f);
    test::expect_close(z, {0, 0, 0, 0});
    test::expect_close(o, {1, 1, 1});
    EXPECT_EQ(f[1], 7);
    test::expect_close(r, {1, 1.5, 2, 2.5, 3, 3.5});
    auto ol = ones_like(r);
    test::expect_close(ol, {1, 1, 1, 1, 1, 1});
}

TEST(Tensor, PrintsLikePyTorch) {
    tensor<float, shape<2, 2>> t{{1, 2.5f}, {-3, 4}};
    std::ostringstream os;
    os << t;
    EXPECT_EQ(os.str(), "tensor([[1, 2.5],\n        [-3, 4]])");
    std::ostringstream os2;
    os2 << tensor<int, shape<3>>{1, 2, 3} << ' ' << sum(t);
    EXPECT_EQ(os2.str(), "tensor([1, 2, 3]) tensor(4.5)");
}

TEST(Tensor, XtensorFunctionsWorkOnIt) {
    tensor<double, shape<2, 3>> t{{1, 2, 3}, {4, 5, 6}};
    auto v = xt_view(t);
    EXPECT_DOUBLE_EQ(xt::sum(v)(), 21.0);
    EXPECT_DOUBLE_EQ(xt::amax(v)(), 6.0);
    v(0, 0) = 10;  // a view: writes reach the tensor
    EXPECT_EQ(t(0, 0), 10);
    assign_xt(t, xt::sqrt(xt_view(t)) * 2.0);
    EXPECT_DOUBLE_EQ(t(1, 0), 4.0);
    xt::xtensor<double, 2> wrong = xt::zeros<double>({3, 2});
    EXPECT_THROW(assign_xt(t, wrong), kiln::error);
}

TEST(Tensor, ErrorHandlerCanBeReplaced) {
    static int calls = 0;
    auto old = set_error_handler([](const char* msg) {
        ++calls;
        throw std::runtime_error(std::string("custom: ") + msg);
    });
    tensor<float, shape<2>> t;
    EXPECT_THROW(t.at(5), std::runtime_error);
    EXPECT_EQ(calls, 1);
    set_error_handler(old);
    EXPECT_THROW(t.at(5), kiln::error);
}
