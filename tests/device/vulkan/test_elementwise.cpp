// The fused elementwise interpreter against a float64 interpreter of the same program.
#include <limits>

#include "vk_test.hpp"

namespace kiln_vk_test {
namespace {

using vk::ew_op;
using vk::ew_program;

double ref_pow(double a, double b) { return std::pow(a, b); }

/// Evaluates p in double precision on host leaves (same strides and offsets as the device).
std::vector<double> reference(const ew_program& p, const std::vector<const std::vector<float>*>& leaves) {
    std::size_t total = 1;
    for (std::uint32_t k = 0; k < p.rank; ++k) total *= p.extents[k];
    std::vector<double> out(total);
    for (std::size_t i = 0; i < total; ++i) {
        std::size_t c[6] = {}, rem = i;
        for (int k = static_cast<int>(p.rank) - 1; k >= 0; --k) {
            c[k] = rem % p.extents[k];
            rem /= p.extents[k];
        }
        std::vector<double> st;
        auto pop = [&] { double v = st.back(); st.pop_back(); return v; };
        for (std::uint32_t pc = 0; pc < p.n_code; ++pc) {
            std::uint32_t op = p.code[pc] >> 24, arg = p.code[pc] & 0xFFFFFF;
            if (op == vk::ew_leaf) {
                std::size_t idx = p.leaf_offset[arg];
                for (std::uint32_t k = 0; k < p.rank; ++k) idx += c[k] * p.leaf_strides[arg][k];
                st.push_back((*leaves[arg])[idx]);
            } else if (op == vk::ew_const) {
                st.push_back(p.consts[arg]);
            } else if (op == vk::ew_where) {
                double b = pop(), a = pop(), cnd = pop();
                st.push_back(cnd != 0 ? a : b);
            } else if (op >= vk::ew_add && op <= vk::ew_ne) {
                double b = pop(), a = pop(), r = 0;
                switch (op) {
                    case vk::ew_add: r = a + b; break;
                    case vk::ew_sub: r = a - b; break;
                    case vk::ew_mul: r = a * b; break;
                    case vk::ew_div: r = a / b; break;
                    case vk::ew_maximum: r = (a >= b || std::isnan(a)) ? a : b; break;
                    case vk::ew_minimum: r = (a <= b || std::isnan(a)) ? a : b; break;
                    case vk::ew_pow: r = ref_pow(a, b); break;
                    case vk::ew_lt: r = a < b; break;
                    case vk::ew_le: r = a <= b; break;
                    case vk::ew_gt: r = a > b; break;
                    case vk::ew_ge: r = a >= b; break;
                    case vk::ew_eq: r = a == b; break;
                    default: r = a != b; break;
                }
                st.push_back(r);
            } else {
                double x = pop(), r = 0;
                switch (op) {
                    case vk::ew_neg: r = -x; break;
                    case vk::ew_exp: r = std::exp(x); break;
                    case vk::ew_log: r = std::log(x); break;
                    case vk::ew_sqrt: r = std::sqrt(x); break;
                    case vk::ew_tanh: r = std::tanh(x); break;
                    case vk::ew_abs: r = std::fabs(x); break;
                    case vk::ew_sigmoid: r = 1.0 / (1.0 + std::exp(-x)); break;
                    case vk::ew_relu: r = x < 0 ? 0.0 : x; break;
                    case vk::ew_pow_const: r = ref_pow(x, p.consts[arg]); break;
                    case vk::ew_clamp: r = x < p.consts[arg] ? p.consts[arg] : (x > p.consts[arg + 1] ? p.consts[arg + 1] : x); break;
                    case vk::ew_square: r = x * x; break;
                    case vk::ew_reciprocal: r = 1.0 / x; break;
                    default: r = x > 0 ? 1.0 : (x < 0 ? -1.0 : x); break;
                }
                st.push_back(r);
            }
        }
        out[i] = st.back();
    }
    return out;
}

/// Contiguous 1-D program over n elements with the given code and leaf count.
ew_program flat(std::uint32_t n, std::uint32_t leaves, std::initializer_list<std::uint32_t> code) {
    ew_program p;
    p.rank = 1;
    p.extents[0] = n;
    p.n_leaves = leaves;
    for (std::uint32_t j = 0; j < leaves; ++j) p.leaf_strides[j][0] = 1;
    for (std::uint32_t c : code) p.code[p.n_code++] = c;
    return p;
}

void run_and_compare(const ew_program& p, const std::vector<std::vector<float>>& host, double rel = 2e-6, double abs = 1e-6,
                     std::size_t out_offset = 0) {
    std::vector<vk::device_buffer> dev;
    for (auto& h : host) dev.push_back(to_device(h));
    std::vector<const vk::device_buffer*> ptrs;
    std::vector<const std::vector<float>*> hp;
    for (std::size_t j = 0; j < host.size(); ++j) {
        ptrs.push_back(&dev[j]);
        hp.push_back(&host[j]);
    }
    std::vector<double> want = reference(p, hp);
    vk::device_buffer out((out_offset + want.size()) * sizeof(float));
    vk::elementwise(p, ptrs.data(), out, out_offset);
    std::vector<float> got = to_host(out, want.size(), out_offset);
    for (std::size_t i = 0; i < want.size(); ++i) ASSERT_TRUE(close(got[i], want[i], abs, rel)) << "element " << i;
}

class elementwise : public vk_test {};

TEST_F(elementwise, every_unary_opcode) {
    const std::uint32_t n = 1001;  // not a multiple of the workgroup size
    std::vector<float> any = random_vector(n, 1, -4.0f, 4.0f), positive = random_vector(n, 2, 0.01f, 9.0f);
    any[0] = 0.0f;
    any[1] = -0.0f;
    any[2] = 30.0f;  // tanh and sigmoid saturate
    any[3] = -30.0f;
    for (vk::ew_opcode op : {vk::ew_neg, vk::ew_exp, vk::ew_tanh, vk::ew_abs, vk::ew_sigmoid, vk::ew_relu, vk::ew_square, vk::ew_sign}) {
        SCOPED_TRACE(static_cast<int>(op));
        run_and_compare(flat(n, 1, {ew_op(vk::ew_leaf, 0), ew_op(op)}), {any});
    }
    for (vk::ew_opcode op : {vk::ew_log, vk::ew_sqrt, vk::ew_reciprocal}) {
        SCOPED_TRACE(static_cast<int>(op));
        run_and_compare(flat(n, 1, {ew_op(vk::ew_leaf, 0), ew_op(op)}), {positive});
    }
    ew_program pc = flat(n, 1, {ew_op(vk::ew_leaf, 0), ew_op(vk::ew_pow_const, 1)});
    pc.consts[1] = 2.5f;
    run_and_compare(pc, {positive}, 1e-5);
    pc.consts[1] = 3.0f;  // integer exponent: negative bases keep their sign
    run_and_compare(pc, {any}, 1e-5, 1e-5);
    ew_program cl = flat(n, 1, {ew_op(vk::ew_leaf, 0), ew_op(vk::ew_clamp, 2)});
    cl.consts[2] = -1.5f;
    cl.consts[3] = 0.25f;
    run_and_compare(cl, {any});
}

TEST_F(elementwise, every_binary_and_compare_opcode) {
    const std::uint32_t n = 777;
    std::vector<float> a = random_vector(n, 3, -3.0f, 3.0f), b = random_vector(n, 4, -3.0f, 3.0f);
    for (std::uint32_t i = 0; i < n; i += 7) b[i] = a[i];  // ties for compares and maximum/minimum
    for (std::uint32_t i = 3; i < n; i += 11) b[i] = 0.5f;
    for (vk::ew_opcode op : {vk::ew_add, vk::ew_sub, vk::ew_mul, vk::ew_div, vk::ew_maximum, vk::ew_minimum, vk::ew_lt, vk::ew_le,
                             vk::ew_gt, vk::ew_ge, vk::ew_eq, vk::ew_ne}) {
        SCOPED_TRACE(static_cast<int>(op));
        run_and_compare(flat(n, 2, {ew_op(vk::ew_leaf, 0), ew_op(vk::ew_leaf, 1), ew_op(op)}), {a, b});
    }
    std::vector<float> pos = random_vector(n, 5, 0.1f, 4.0f), ints(n);
    for (std::uint32_t i = 0; i < n; ++i) ints[i] = static_cast<float>(static_cast<int>(i % 7) - 3);
    run_and_compare(flat(n, 2, {ew_op(vk::ew_leaf, 0), ew_op(vk::ew_leaf, 1), ew_op(vk::ew_pow)}), {pos, b}, 1e-5);
    run_and_compare(flat(n, 2, {ew_op(vk::ew_leaf, 0), ew_op(vk::ew_leaf, 1), ew_op(vk::ew_pow)}), {a, ints}, 1e-5, 1e-6);
}

TEST_F(elementwise, where_and_constants) {
    const std::uint32_t n = 300;
    std::vector<float> c(n), a = random_vector(n, 6), b = random_vector(n, 7);
    for (std::uint32_t i = 0; i < n; ++i) c[i] = (i % 3 == 0) ? 0.0f : (i % 3 == 1 ? 1.0f : -2.0f);
    run_and_compare(flat(n, 3, {ew_op(vk::ew_leaf, 0), ew_op(vk::ew_leaf, 1), ew_op(vk::ew_leaf, 2), ew_op(vk::ew_where)}), {c, a, b});
    // where(a > 0, a * 2, exp(b) - 1): a relu-like select fed by a compare.
    ew_program p = flat(n, 2, {ew_op(vk::ew_leaf, 0), ew_op(vk::ew_const, 0), ew_op(vk::ew_gt), ew_op(vk::ew_leaf, 0),
                               ew_op(vk::ew_const, 1), ew_op(vk::ew_mul), ew_op(vk::ew_leaf, 1), ew_op(vk::ew_exp),
                               ew_op(vk::ew_const, 2), ew_op(vk::ew_sub), ew_op(vk::ew_where)});
    p.consts[0] = 0.0f;
    p.consts[1] = 2.0f;
    p.consts[2] = 1.0f;
    run_and_compare(p, {a, b});
    ew_program k = flat(5, 0, {ew_op(vk::ew_const, 4)});  // no leaves at all
    k.consts[4] = 3.25f;
    run_and_compare(k, {});
}

TEST_F(elementwise, nan_semantics) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> a = {nan, 1.0f, nan, 2.0f, -1.0f}, b = {1.0f, nan, nan, 2.0f, 3.0f};
    for (vk::ew_opcode op : {vk::ew_maximum, vk::ew_minimum, vk::ew_ne, vk::ew_eq, vk::ew_lt})
        run_and_compare(flat(5, 2, {ew_op(vk::ew_leaf, 0), ew_op(vk::ew_leaf, 1), ew_op(op)}), {a, b});
    run_and_compare(flat(5, 1, {ew_op(vk::ew_leaf, 0), ew_op(vk::ew_relu)}), {a});
    std::vector<float> cnd = {nan, 0.0f, 1.0f, 0.0f, 2.0f};  // NaN condition is "true" (c != 0)
    run_and_compare(flat(5, 3, {ew_op(vk::ew_leaf, 0), ew_op(vk::ew_leaf, 1), ew_op(vk::ew_leaf, 2), ew_op(vk::ew_where)}), {cnd, a, b});
}

TEST_F(elementwise, broadcasting_strides_and_offsets) {
    // out[i, j] = x[i, j] * row[j] + col[i] - s, with x read through an offset and a transposed
    // view, row/col broadcast along one axis each, and s a broadcast scalar.
    const std::uint32_t M = 17, N = 33;
    std::vector<float> xt = random_vector(5 + M * N, 8), row = random_vector(N, 9), col = random_vector(3 + M, 10), s = {0.75f};
    ew_program p;
    p.rank = 2;
    p.extents[0] = M;
    p.extents[1] = N;
    p.n_leaves = 4;
    p.leaf_offset[0] = 5;  // xt is stored [N][M]: read it transposed
    p.leaf_strides[0][0] = 1;
    p.leaf_strides[0][1] = M;
    p.leaf_strides[1][0] = 0;
    p.leaf_strides[1][1] = 1;
    p.leaf_offset[2] = 3;
    p.leaf_strides[2][0] = 1;
    p.leaf_strides[2][1] = 0;
    for (std::uint32_t c : {ew_op(vk::ew_leaf, 0), ew_op(vk::ew_leaf, 1), ew_op(vk::ew_mul), ew_op(vk::ew_leaf, 2), ew_op(vk::ew_add),
                            ew_op(vk::ew_leaf, 3), ew_op(vk::ew_sub)})
        p.code[p.n_code++] = c;
    run_and_compare(p, {xt, row, col, s}, 2e-6, 1e-6, 11);
}

TEST_F(elementwise, rank_six_and_eight_leaves) {
    const std::uint32_t ext[6] = {2, 3, 1, 5, 2, 3};
    std::size_t total = 180;
    ew_program p;
    p.rank = 6;
    for (int k = 0; k < 6; ++k) p.extents[k] = ext[k];
    p.n_leaves = 8;
    std::vector<std::vector<float>> host;
    for (std::uint32_t j = 0; j < 8; ++j) {
        // Leaf j: a permuted dense layout (reverse axis order for odd j), some axes broadcast.
        std::size_t s = 1;
        for (int k = 5; k >= 0; --k) {
            int axis = (j % 2) ? 5 - k : k;
            bool broadcast = (axis + j) % 4 == 0;
            p.leaf_strides[j][axis] = broadcast ? 0 : static_cast<std::uint32_t>(s);
            if (!broadcast) s *= ext[axis];
        }
        host.push_back(random_vector(s + j, 20 + j, 0.5f, 1.5f));
        p.leaf_offset[j] = j;
    }
    // ((((l0 + l1) * l2 - l3) / l4) max l5) min l6 + sqrt(l7)
    for (std::uint32_t c : {ew_op(vk::ew_leaf, 0), ew_op(vk::ew_leaf, 1), ew_op(vk::ew_add), ew_op(vk::ew_leaf, 2), ew_op(vk::ew_mul),
                            ew_op(vk::ew_leaf, 3), ew_op(vk::ew_sub), ew_op(vk::ew_leaf, 4), ew_op(vk::ew_div), ew_op(vk::ew_leaf, 5),
                            ew_op(vk::ew_maximum), ew_op(vk::ew_leaf, 6), ew_op(vk::ew_minimum), ew_op(vk::ew_leaf, 7),
                            ew_op(vk::ew_sqrt), ew_op(vk::ew_add)})
        p.code[p.n_code++] = c;
    run_and_compare(p, host, 2e-6, 1e-6, 0);
    (void)total;
}

TEST_F(elementwise, deepest_stack) {
    // 16 values on the stack at once, then folded: the limit the shader's stack holds.
    ew_program p = flat(40, 1, {});
    for (int i = 0; i < 16; ++i) p.code[p.n_code++] = ew_op(vk::ew_leaf, 0);
    for (int i = 0; i < 15; ++i) p.code[p.n_code++] = ew_op(vk::ew_add);
    run_and_compare(p, {random_vector(40, 11)});
    p.code[p.n_code++] = ew_op(vk::ew_leaf, 0);  // 17 deep is refused
    EXPECT_THROW(
        {
            std::vector<float> h(40);
            auto d = to_device(h);
            const vk::device_buffer* l[] = {&d};
            ew_program q = flat(40, 1, {});
            for (int i = 0; i < 17; ++i) q.code[q.n_code++] = ew_op(vk::ew_leaf, 0);
            for (int i = 0; i < 16; ++i) q.code[q.n_code++] = ew_op(vk::ew_add);
            vk::elementwise(q, l, d);
        },
        kiln::error);
}

TEST_F(elementwise, output_aliases_input) {
    const std::uint32_t n = 4099;
    std::vector<float> a = random_vector(n, 12), b = random_vector(n, 13);
    auto da = to_device(a), db = to_device(b);
    const vk::device_buffer* l[] = {&da, &db};
    ew_program p = flat(n, 2, {ew_op(vk::ew_leaf, 0), ew_op(vk::ew_leaf, 1), ew_op(vk::ew_mul), ew_op(vk::ew_leaf, 0), ew_op(vk::ew_add)});
    vk::elementwise(p, l, da);  // a = a * b + a, in place
    std::vector<float> got = to_host(da, n);
    for (std::uint32_t i = 0; i < n; ++i) ASSERT_TRUE(close(got[i], double(a[i]) * b[i] + a[i], 1e-6, 2e-6)) << i;
}

TEST_F(elementwise, bad_programs_are_reported) {
    std::vector<float> h(8, 1.0f);
    auto d = to_device(h);
    const vk::device_buffer* l[] = {&d};
    auto message = [&](const ew_program& p) {
        try {
            vk::elementwise(p, l, d);
        } catch (const kiln::error& e) {
            return std::string(e.what());
        }
        return std::string("(no error)");
    };
    EXPECT_NE(message(flat(8, 1, {ew_op(vk::ew_leaf, 0), ew_op(vk::ew_add)})).find("pops an empty stack"), std::string::npos);
    EXPECT_NE(message(flat(8, 1, {ew_op(vk::ew_leaf, 1)})).find("out-of-range argument"), std::string::npos);
    EXPECT_NE(message(flat(8, 1, {(63u << 24)})).find("unknown opcode 63"), std::string::npos);
    EXPECT_NE(message(flat(8, 1, {ew_op(vk::ew_leaf, 0), ew_op(vk::ew_leaf, 0)})).find("leaves 2 values"), std::string::npos);
    EXPECT_NE(message(flat(9, 1, {ew_op(vk::ew_leaf, 0)})).find("[vulkan] elementwise: the output reads or writes elements [0, 8] of a buffer of 8 floats"),
              std::string::npos);
    ew_program shifted = flat(8, 1, {ew_op(vk::ew_leaf, 0)});
    shifted.leaf_offset[0] = 1;
    vk::device_buffer big(64 * sizeof(float));
    try {
        vk::elementwise(shifted, l, big);
        ADD_FAILURE() << "no error";
    } catch (const kiln::error& e) {
        EXPECT_NE(std::string(e.what()).find("a leaf reads or writes elements [1, 8]"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace kiln_vk_test
