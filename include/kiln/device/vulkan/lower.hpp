// Lowers a kiln expression type to the postfix program of the elementwise shader, so a whole
// fused expression (broadcasts, transposes, where, comparisons) runs as one dispatch. Each op
// tag maps to an opcode here: an op without one is a compile error naming it.
#pragma once

#include <array>
#include <cstdint>

#include "../../ops/primitive/binary.hpp"
#include "../../ops/primitive/movement.hpp"
#include "../../ops/primitive/unary.hpp"
#include "tensor.hpp"

namespace kiln::vk_lower {

template <class Op>
struct opcode {
    static_assert(sizeof(Op) == 0, "[vulkan] this elementwise op has no Vulkan opcode yet: add it to "
                                   "device/vulkan/lower.hpp and shaders/elementwise.comp");
};
#define KILN_VK_OPCODE(tag, code) \
    template <>                   \
    struct opcode<tag> {          \
        static constexpr vk::ew_opcode value = vk::code; \
    };
KILN_VK_OPCODE(neg_op, ew_neg)
KILN_VK_OPCODE(exp_op, ew_exp)
KILN_VK_OPCODE(log_op, ew_log)
KILN_VK_OPCODE(sqrt_op, ew_sqrt)
KILN_VK_OPCODE(tanh_op, ew_tanh)
KILN_VK_OPCODE(abs_op, ew_abs)
KILN_VK_OPCODE(sigmoid_op, ew_sigmoid)
KILN_VK_OPCODE(relu_op, ew_relu)
KILN_VK_OPCODE(erf_op, ew_erf)
KILN_VK_OPCODE(add_op, ew_add)
KILN_VK_OPCODE(sub_op, ew_sub)
KILN_VK_OPCODE(mul_op, ew_mul)
KILN_VK_OPCODE(div_op, ew_div)
KILN_VK_OPCODE(maximum_op, ew_maximum)
KILN_VK_OPCODE(minimum_op, ew_minimum)
KILN_VK_OPCODE(pow_op, ew_pow)
KILN_VK_OPCODE(less_op, ew_lt)
KILN_VK_OPCODE(less_equal_op, ew_le)
KILN_VK_OPCODE(greater_op, ew_gt)
KILN_VK_OPCODE(greater_equal_op, ew_ge)
KILN_VK_OPCODE(equal_op, ew_eq)
KILN_VK_OPCODE(not_equal_op, ew_ne)
#undef KILN_VK_OPCODE

/// For each axis of the node being lowered: the output axis it follows, or -1 (broadcast).
using axis_map = std::array<int, vk::ew_program::max_rank>;

struct program_builder {
    vk::ew_program p;
    const vk::device_buffer* leaves[vk::ew_program::max_leaves] = {};
    std::uint32_t n_consts = 0;

    void emit(vk::ew_opcode op, std::uint32_t arg = 0) {
        if (p.n_code >= vk::ew_program::max_code)
            fail("[vulkan] expression too large for one dispatch (> %u instructions): evaluate part of it first with eval()",
                 vk::ew_program::max_code);
        p.code[p.n_code++] = vk::ew_op(op, arg);
    }
    std::uint32_t constant(float v) {
        for (std::uint32_t i = 0; i < n_consts; ++i)
            if (p.consts[i] == v) return i;
        if (n_consts >= vk::ew_program::max_consts)
            fail("[vulkan] expression has more than %u distinct constants: evaluate part of it first with eval()",
                 vk::ew_program::max_consts);
        p.consts[n_consts] = v;
        return n_consts++;
    }
    std::uint32_t leaf(const vk::device_buffer& b, const std::uint32_t* strides) {
        for (std::uint32_t k = 0; k < p.n_leaves; ++k) {
            bool same = leaves[k] == &b;
            for (std::uint32_t a = 0; same && a < p.rank; ++a) same = p.leaf_strides[k][a] == strides[a];
            if (same) return k;
        }
        if (p.n_leaves >= vk::ew_program::max_leaves)
            fail("[vulkan] expression reads more than %u tensors: evaluate part of it first with eval()",
                 vk::ew_program::max_leaves);
        const std::uint32_t k = p.n_leaves++;
        leaves[k] = &b;
        for (std::uint32_t a = 0; a < vk::ew_program::max_rank; ++a) p.leaf_strides[k][a] = strides[a];
        return k;
    }
};

template <class T, class S, class St>
void lower(const tensor<T, S, vulkan, St>& t, program_builder& b, const axis_map& m) {
    static_assert(std::is_same_v<T, float>, "[vulkan] elementwise expressions work on float tensors");
    std::uint32_t strides[vk::ew_program::max_rank] = {};
    for (std::size_t j = 0; j < S::rank; ++j)
        if (m[j] >= 0) strides[m[j]] += static_cast<std::uint32_t>(S::strides[j]);
    b.emit(vk::ew_leaf, b.leaf(t.buffer(), strides));
}
template <class T>
void lower(const scalar_expr<T>& s, program_builder& b, const axis_map&) {
    b.emit(vk::ew_const, b.constant(static_cast<float>(s.v)));
}
template <class E, class Out>
void lower(const broadcast_expr<E, Out>& n, program_builder& b, const axis_map& m) {
    using src = typename broadcast_expr<E, Out>::src;
    axis_map c{};
    c.fill(-1);
    for (std::size_t i = 0; i < src::rank; ++i) c[i] = src::extents[i] == 1 ? -1 : m[i + Out::rank - src::rank];
    lower(n.e, b, c);
}
template <class E>
void lower(const transpose_expr<E>& n, program_builder& b, const axis_map& m) {
    constexpr std::size_t r = shape_of_t<E>::rank;
    axis_map c = m;
    std::swap(c[r - 2], c[r - 1]);
    lower(n.e, b, c);
}
template <class Op, class E>
void lower(const unary_expr<Op, E>& n, program_builder& b, const axis_map& m) {
    lower(n.e, b, m);
    if constexpr (requires { n.op.p; }) {  // pow with a scalar exponent
        b.emit(vk::ew_pow_const, b.constant(float(n.op.p)));
    } else if constexpr (requires { n.op.lo; }) {  // clamp: two consecutive constants
        if (b.n_consts + 2 > vk::ew_program::max_consts)
            fail("[vulkan] expression has more than %u distinct constants: evaluate part of it first with eval()",
                 vk::ew_program::max_consts);
        b.p.consts[b.n_consts] = float(n.op.lo);
        b.p.consts[b.n_consts + 1] = float(n.op.hi);
        b.emit(vk::ew_clamp, b.n_consts);
        b.n_consts += 2;
    } else if constexpr (requires { n.op.slope; }) {  // leaky_relu: x > 0 ? x : slope * x
        b.emit(vk::ew_const, b.constant(0.0f));
        b.emit(vk::ew_gt);
        lower(n.e, b, m);
        lower(n.e, b, m);
        b.emit(vk::ew_const, b.constant(float(n.op.slope)));
        b.emit(vk::ew_mul);
        b.emit(vk::ew_where);
    } else if constexpr (std::is_same_v<Op, gelu_op>) {  // 0.5 x (1 + erf(x / sqrt(2))); x is pushed
        lower(n.e, b, m);
        b.emit(vk::ew_const, b.constant(0.7071067811865476f));
        b.emit(vk::ew_mul);
        b.emit(vk::ew_erf);
        b.emit(vk::ew_const, b.constant(1.0f));
        b.emit(vk::ew_add);
        b.emit(vk::ew_mul);
        b.emit(vk::ew_const, b.constant(0.5f));
        b.emit(vk::ew_mul);
    } else {
        b.emit(opcode<Op>::value);
    }
}
template <class Op, class A, class B, class T>
void lower(const binary_expr<Op, A, B, T>& n, program_builder& b, const axis_map& m) {
    lower(n.a, b, m);
    lower(n.b, b, m);
    b.emit(opcode<Op>::value);
}
template <class Op, class A, class B, class T>
void lower(const compare_expr<Op, A, B, T>& n, program_builder& b, const axis_map& m) {
    lower(n.a, b, m);
    lower(n.b, b, m);
    b.emit(opcode<Op>::value);
}
template <class C, class A, class B, class T>
void lower(const where_expr<C, A, B, T>& n, program_builder& b, const axis_map& m) {
    lower(n.c, b, m);
    lower(n.a, b, m);
    lower(n.b, b, m);
    b.emit(vk::ew_where);
}
template <class U, class E>
void lower(const cast_expr<U, E>& n, program_builder& b, const axis_map& m) {
    static_assert(std::is_same_v<U, float> && std::is_same_v<value_of_t<E>, float>,
                  "[vulkan] only float tensors are evaluated on the device");
    lower(n.e, b, m);
}

/// Records one dispatch computing expression e into out (the same shape).
template <class Out, class E>
void evaluate(Out& out, const E& e) {
    using S = typename Out::shape_type;
    static_assert(S::rank <= vk::ew_program::max_rank, "[vulkan] elementwise expressions have at most 6 axes");
    program_builder b;
    b.p.rank = S::rank == 0 ? 1 : static_cast<std::uint32_t>(S::rank);
    for (std::size_t a = 0; a < S::rank; ++a) b.p.extents[a] = static_cast<std::uint32_t>(S::extents[a]);
    if constexpr (S::rank == 0) b.p.extents[0] = 1;
    axis_map m{};
    for (std::size_t a = 0; a < m.size(); ++a) m[a] = a < S::rank ? int(a) : -1;
    lower(e, b, m);
    vk::elementwise(b.p, b.leaves, out.buffer(), 0);
}

}  // namespace kiln::vk_lower
