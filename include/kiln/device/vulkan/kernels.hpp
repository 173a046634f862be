// The kernels: each call checks its arguments on the host (an out-of-range index on a GPU is
// silent corruption, so every range is checked here), then records one or more dispatches.
// Offsets and strides are in elements. Push-constant and parameter structs mirror the GLSL
// blocks; static_asserts pin their layouts to the shaders' std430 offsets.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "context.hpp"
#include "spirv/arg_reduce.hpp"
#include "spirv/conv.hpp"
#include "spirv/copy.hpp"
#include "spirv/elementwise.hpp"
#include "spirv/elementwise_jit.hpp"
#include "spirv/fill.hpp"
#include "spirv/gemm.hpp"
#include "spirv/reduce.hpp"

namespace kiln::vk {

/// A postfix program evaluated per output element by one dispatch (see ew_opcode).
struct ew_program {
    static constexpr std::uint32_t max_rank = 6, max_leaves = 8, max_code = 64, max_consts = 16;
    std::uint32_t rank = 0;                                 // output rank <= 6
    std::uint32_t extents[max_rank] = {};                   // output extents (first `rank` used)
    std::uint32_t n_leaves = 0;
    std::uint32_t leaf_offset[max_leaves] = {};             // element offset of each leaf in its buffer
    std::uint32_t leaf_strides[max_leaves][max_rank] = {};  // per OUTPUT axis, 0 = broadcast
    std::uint32_t n_code = 0;
    std::uint32_t code[max_code] = {};                      // (opcode << 24) | arg
    float consts[max_consts] = {};
};

enum ew_opcode : std::uint32_t {
    ew_leaf = 1,  // push leaf[arg]
    ew_const,     // push consts[arg]
    ew_neg, ew_exp, ew_log, ew_sqrt, ew_tanh, ew_abs, ew_sigmoid, ew_relu,  // unary: pop x, push f(x)
    ew_pow_const,  // pop x, push pow(x, consts[arg])
    ew_clamp,      // pop x, push clamp(x, consts[arg], consts[arg+1])
    ew_add, ew_sub, ew_mul, ew_div, ew_maximum, ew_minimum, ew_pow,  // pop b, pop a, push f(a, b)
    ew_lt, ew_le, ew_gt, ew_ge, ew_eq, ew_ne,                        // compare: push 1.0 or 0.0
    ew_where,                                                        // pop b, pop a, pop c: c != 0 ? a : b
    ew_square, ew_reciprocal, ew_sign, ew_erf
};

/// One instruction word.
constexpr std::uint32_t ew_op(ew_opcode op, std::uint32_t arg = 0) { return (static_cast<std::uint32_t>(op) << 24) | arg; }

enum class reduce_op { sum, max, min };

namespace detail {

// --- Shader interfaces ------------------------------------------------------------------
struct ew_params {  // elementwise.comp `program` (std430)
    std::uint32_t rank, n_leaves, n_code, contiguous;
    std::uint32_t extents[6];
    std::uint32_t leaf_offset[8];
    std::uint32_t leaf_strides[48];
    std::uint32_t code[64];
    float consts[16];
};
static_assert(offsetof(ew_params, extents) == 16 && offsetof(ew_params, leaf_offset) == 40 &&
              offsetof(ew_params, leaf_strides) == 72 && offsetof(ew_params, code) == 264 &&
              offsetof(ew_params, consts) == 520 && sizeof(ew_params) == 584, "ew_params must match elementwise.comp");
struct ew_push { std::uint32_t out_offset, total; };
static_assert(sizeof(ew_push) == 8, "ew_push must match elementwise.comp");

struct reduce_push { std::uint32_t in_offset, out_offset, outer, n, inner; };  // reduce.comp, arg_reduce.comp
static_assert(sizeof(reduce_push) == 20 && offsetof(reduce_push, inner) == 16, "reduce_push must match reduce.comp");

struct gemm_push {  // gemm.comp
    std::uint32_t M, N, K, lda, ldb, ldc, a_off, b_off, c_off, stride_a, stride_b, stride_c;
    float alpha, beta;
    std::uint32_t batch_base;
};
static_assert(offsetof(gemm_push, alpha) == 48 && offsetof(gemm_push, batch_base) == 56 && sizeof(gemm_push) == 60,
              "gemm_push must match gemm.comp");

struct copy_push {  // copy.comp
    std::uint32_t in_base, out_base, rank, total;
    std::uint32_t in_strides[6], out_strides[6], extents[6];
};
static_assert(offsetof(copy_push, in_strides) == 16 && offsetof(copy_push, out_strides) == 40 &&
              offsetof(copy_push, extents) == 64 && sizeof(copy_push) == 88, "copy_push must match copy.comp");

struct fill_push {  // fill.comp
    std::uint32_t offset, n, mode, seed_lo, seed_hi;
    float a, b;
};
static_assert(offsetof(fill_push, a) == 20 && sizeof(fill_push) == 28, "fill_push must match fill.comp");

inline const shader_info elementwise_shader{"elementwise", spirv::elementwise, sizeof(spirv::elementwise), 10, sizeof(ew_push)};
inline const shader_info elementwise_jit_shader{"elementwise_jit", spirv::elementwise_jit, sizeof(spirv::elementwise_jit), 10,
                                                sizeof(ew_push)};
inline const shader_info reduce_shader{"reduce", spirv::reduce, sizeof(spirv::reduce), 2, sizeof(reduce_push)};
inline const shader_info arg_reduce_shader{"arg_reduce", spirv::arg_reduce, sizeof(spirv::arg_reduce), 2, sizeof(reduce_push)};
inline const shader_info gemm_shader{"gemm", spirv::gemm, sizeof(spirv::gemm), 3, sizeof(gemm_push)};
inline const shader_info copy_shader{"copy", spirv::copy, sizeof(spirv::copy), 2, sizeof(copy_push)};
inline const shader_info fill_shader{"fill", spirv::fill, sizeof(spirv::fill), 1, sizeof(fill_push)};
inline const shader_info conv_shader{"conv", spirv::conv, sizeof(spirv::conv), 3, 0};  // geometry: specialisation

// --- Helpers ------------------------------------------------------------------------------
inline binding bind(const device_buffer& b, bool write) {
    const allocation& a = b.where();
    return binding{a.buffer, a.offset, a.size, write, true};
}
inline std::uint32_t u32(std::size_t v, const char* what, const char* op) {
    if (v > 0xFFFFFFFFull) fail("[vulkan] %s: %s = %zu does not fit the kernels' 32-bit indices", op, what, v);
    return static_cast<std::uint32_t>(v);
}
/// Fails unless floats [first, last] lie inside b.
inline void check_floats(const device_buffer& b, std::size_t first, std::size_t last, const char* op, const char* name) {
    if (b.empty() || last < first || last >= b.floats())
        fail("[vulkan] %s: %s reads or writes elements [%zu, %zu] of a buffer of %zu floats", op, name, first, last, b.floats());
}
/// Workgroups for a grid-stride loop over n items, 256 per group.
inline std::uint32_t groups_for(std::size_t n) {
    std::size_t cap = std::min<std::size_t>(65535, context::instance().limits().maxComputeWorkGroupCount[0]);
    return static_cast<std::uint32_t>(std::max<std::size_t>(1, std::min(cap, (n + 255) / 256)));
}
inline bool same_memory(const device_buffer& a, const device_buffer& b) { return a.where().buffer == b.where().buffer &&
    a.where().offset < b.where().offset + b.where().size && b.where().offset < a.where().offset + a.where().size; }

/// GEMM tile shapes. threads = (bm/tm)*(bn/tn); tm, tn in {4, 8}; each thread moves at most 4
/// whole 4-float slots of each tile (bm*bk and bn*bk divisible by 4*threads). `opt` is
/// gemm.comp's OPT (bit 0: 4x8 thread blocks per subgroup, bit 1: swizzled shared memory for
/// transposing stores). `wgs` is how many workgroups of the tile one compute unit holds at once
/// (from the registers an H100 gives it: 65536 / (registers x threads)), `speed` its throughput
/// relative to the first tile with the unit full, calibrated on an H100, where the pick below
/// picked the fastest measured tile at every size from 256 to 4096 (bench/gemm_vulkan_h100.md).
/// KILN_VULKAN_GEMM_CONFIGS (a brace list) replaces the table, for tuning.
struct gemm_config {
    std::uint32_t bm, bn, bk, tm, tn, opt, wgs;
    double speed;
};
#ifndef KILN_VULKAN_GEMM_CONFIGS
#define KILN_VULKAN_GEMM_CONFIGS                                                            \
    {64, 128, 8, 8, 8, 0, 4, 1.00},   /* 128 threads, 12 KiB shared: large products */       \
    {64, 128, 16, 8, 8, 0, 3, 0.94},  /* 128 threads, 24 KiB: 3 workgroups a unit */          \
    {128, 64, 16, 8, 4, 3, 2, 0.90},  /* 256 threads, 24 KiB: one tile per unit (1024^2) */   \
    {64, 64, 16, 4, 4, 3, 3, 0.70},   /* 256 threads, 16 KiB */                               \
    {32, 32, 16, 4, 4, 3, 11, 0.65},  /* 64 threads, 8 KiB: small and skinny products */
#endif
inline constexpr gemm_config gemm_configs[] = {KILN_VULKAN_GEMM_CONFIGS};
inline constexpr std::size_t gemm_config_count = sizeof(gemm_configs) / sizeof(gemm_configs[0]);
consteval bool gemm_configs_valid() {
    for (auto c : gemm_configs) {
        std::uint32_t t = (c.bm / c.tm) * (c.bn / c.tn);
        if ((c.tm != 4 && c.tm != 8) || (c.tn != 4 && c.tn != 8) || (c.bk != 8 && c.bk != 16 && c.bk != 32)) return false;
        if (c.bm % c.tm || c.bn % c.tn || c.bm % 4 || c.bn % 4 || c.wgs == 0) return false;
        if ((c.bm * c.bk) % (4 * t) || (c.bn * c.bk) % (4 * t)) return false;
        if (c.bm * c.bk / (4 * t) > 4 || c.bn * c.bk / (4 * t) > 4) return false;
    }
    return true;
}
static_assert(gemm_configs_valid(), "every GEMM tile must split into at most 4 whole vec4 slots per thread");

/// -1 picks the tile from the shape; an index forces one (tests and tuning;
/// KILN_VULKAN_GEMM_CONFIG sets the initial value).
inline int& gemm_forced_config() {
    static int forced = [] {
        const char* e = std::getenv("KILN_VULKAN_GEMM_CONFIG");
        return e && *e ? std::atoi(e) : -1;
    }();
    return forced;
}
inline bool gemm_config_fits(const gemm_config& c, const VkPhysicalDeviceLimits& lim) {
    std::uint32_t threads = (c.bm / c.tm) * (c.bn / c.tn);
    std::uint32_t shared = 2 * c.bk * (c.bm + c.bn) * 4;
    return threads <= lim.maxComputeWorkGroupInvocations && threads <= lim.maxComputeWorkGroupSize[0] &&
           shared <= lim.maxComputeSharedMemorySize;
}
/// The tile with the least estimated time. Each compute unit gets ceil(tiles / units) tiles of
/// the grid, run `wgs` at a time in waves; a wave takes its resident tiles' work divided by the
/// unit's throughput, `speed` when at least 16 subgroups (warps) are resident and lower with
/// fewer ((warps / 16)^0.3: a unit with one 4-warp workgroup hides latency poorly). So a product
/// of about one tile per unit (1024^2 on 132 SMs) gets a 256-thread tile, large ones the fastest
/// tile, a size whose waves would leave units idle (3072) a tile with other waves, and small or
/// skinny ones the 32x32 tile.
struct gemm_pick {
    std::size_t config;
    double cost;  // per-unit multiply-adds per step of k, over throughput (relative)
};
inline gemm_pick pick_gemm_tile(std::size_t M, std::size_t N, std::size_t batch) {
    context& ctx = context::instance();
    int forced = gemm_forced_config();
    if (forced >= 0 && static_cast<std::size_t>(forced) < gemm_config_count) return {static_cast<std::size_t>(forced), 0};
    // SMs where the driver says; a guess for other GPUs; a few "units" for a CPU device.
    double units = ctx.compute_units() ? ctx.compute_units() : (ctx.is_cpu() ? 4 : 64);
    std::size_t best = gemm_config_count - 1;
    double best_cost = 0;
    for (std::size_t i = 0; i < gemm_config_count; ++i) {
        const gemm_config& c = gemm_configs[i];
        if (!gemm_config_fits(c, ctx.limits())) continue;
        double tiles = double((M + c.bm - 1) / c.bm) * double((N + c.bn - 1) / c.bn) * double(batch);
        double per_unit = std::ceil(tiles / units), waves = std::ceil(per_unit / c.wgs), resident = std::min<double>(per_unit, c.wgs);
        double warps = resident * (c.bm / c.tm) * (c.bn / c.tn) / 32.0;
        double cost = waves * resident * c.bm * c.bn / (c.speed * std::pow(std::min(1.0, warps / 16.0), 0.3));
        if (best_cost == 0 || cost < best_cost) {
            best = i;
            best_cost = cost;
        }
    }
    return {best, best_cost};
}
inline std::size_t pick_gemm_config(std::size_t M, std::size_t N, std::size_t batch) { return pick_gemm_tile(M, N, batch).config; }

/// Split-K: how many slices of k a single product is cut into, each slice a batch entry of one
/// dispatch, summed by a reduction afterwards. A product with few tiles and a long k (a conv
/// weight gradient: 128 x 576 with k = N*P*Q = 16384; Linear 8192 -> 1024 at batch 64) would
/// otherwise run on a few compute units. The estimate: the tile cost above times the k of a
/// slice, plus reading the S partial products (~35 multiply-add times per float and unit, from
/// an H100's 7.6 bytes per clock and unit against its multiply-add rate) and a dispatch
/// (~3 us). Slices keep k >= 128. Returns 1 when splitting does not pay (or a tile is forced).
inline std::size_t pick_gemm_split(std::size_t M, std::size_t N, std::size_t K) {
    if (gemm_forced_config() >= 0 || K < 512) return 1;
    context& ctx = context::instance();
    double units = ctx.compute_units() ? ctx.compute_units() : (ctx.is_cpu() ? 4 : 64);
    std::size_t best = 1;
    double best_cost = pick_gemm_tile(M, N, 1).cost * double(K);
    for (std::size_t s = 2; s <= 64 && K / s >= 128; s *= 2) {
        double cost = pick_gemm_tile(M, N, s).cost * std::ceil(double(K) / double(s)) + 35.0 * double(s * M * N) / units + 420e3;
        if (cost < best_cost) {
            best = s;
            best_cost = cost;
        }
    }
    return best;
}

// Validates an elementwise program and returns its maximal stack depth.
inline void check_program(const ew_program& p) {
    if (p.rank > ew_program::max_rank || p.n_leaves > ew_program::max_leaves || p.n_code == 0 || p.n_code > ew_program::max_code)
        fail("[vulkan] elementwise: program has rank %u, %u leaves, %u instructions (limits 6, 8, 1..64)", p.rank, p.n_leaves, p.n_code);
    int depth = 0;
    for (std::uint32_t i = 0; i < p.n_code; ++i) {
        std::uint32_t op = p.code[i] >> 24, arg = p.code[i] & 0xFFFFFFu;
        int pops = 0;
        bool ok = true;
        if (op == ew_leaf) ok = arg < p.n_leaves;
        else if (op == ew_const) ok = arg < ew_program::max_consts;
        else if (op == ew_pow_const) { ok = arg < ew_program::max_consts; pops = 1; }
        else if (op == ew_clamp) { ok = arg + 1 < ew_program::max_consts; pops = 1; }
        else if ((op >= ew_neg && op <= ew_relu) || (op >= ew_square && op <= ew_erf)) pops = 1;
        else if (op >= ew_add && op <= ew_ne) pops = 2;
        else if (op == ew_where) pops = 3;
        else fail("[vulkan] elementwise: instruction %u has unknown opcode %u", i, op);
        if (!ok) fail("[vulkan] elementwise: instruction %u (opcode %u) has out-of-range argument %u", i, op, arg);
        if (depth < pops) fail("[vulkan] elementwise: instruction %u (opcode %u) pops an empty stack", i, op);
        depth = depth - pops + 1;
        if (depth > 16) fail("[vulkan] elementwise: the program needs a stack deeper than 16");
    }
    if (depth != 1) fail("[vulkan] elementwise: the program leaves %d values on the stack instead of 1", depth);
}

}  // namespace detail

/// Evaluates `p` for every output element, writing prod(extents) contiguous floats to out at
/// out_offset. `leaves` holds p.n_leaves buffers; out may alias a leaf read at the same index.
inline void elementwise(const ew_program& p, const device_buffer* const* leaves, device_buffer& out, std::size_t out_offset = 0) {
    using namespace detail;
    check_program(p);
    std::size_t total = 1;
    for (std::uint32_t k = 0; k < p.rank; ++k) total *= p.extents[k];
    if (total == 0) return;
    check_floats(out, out_offset, out_offset + total - 1, "elementwise", "the output");
    ew_params prm{};
    prm.rank = p.rank;
    prm.n_leaves = p.n_leaves;
    prm.n_code = p.n_code;
    std::size_t dense[6] = {};  // row-major strides of the output
    for (std::size_t k = p.rank, s = 1; k-- > 0; s *= p.extents[k]) dense[k] = s;
    binding b[10];
    for (std::uint32_t j = 0; j < p.n_leaves; ++j) {
        if (!leaves || !leaves[j]) fail("[vulkan] elementwise: leaf %u is null", j);
        std::size_t last = p.leaf_offset[j];
        bool contiguous = true;
        for (std::uint32_t k = 0; k < p.rank; ++k) {
            last += std::size_t(p.extents[k] - 1) * p.leaf_strides[j][k];
            contiguous &= p.extents[k] == 1 || p.leaf_strides[j][k] == dense[k];
            prm.leaf_strides[j * 6 + k] = p.leaf_strides[j][k];
        }
        check_floats(*leaves[j], p.leaf_offset[j], last, "elementwise", "a leaf");
        prm.leaf_offset[j] = p.leaf_offset[j];
        prm.contiguous |= contiguous ? 1u << j : 0u;
        b[j] = bind(*leaves[j], false);
    }
    for (std::uint32_t j = p.n_leaves; j < 8; ++j) b[j] = binding{out.where().buffer, out.where().offset, out.where().size, false, false};
    for (std::uint32_t k = 0; k < 6; ++k) prm.extents[k] = k < p.rank ? p.extents[k] : 1;
    for (std::uint32_t i = 0; i < 64; ++i) prm.code[i] = p.code[i];
    for (std::uint32_t i = 0; i < 16; ++i) prm.consts[i] = p.consts[i];
    b[8] = bind(out, true);
    auto& rec = context::instance().recorder();
    b[9] = rec.params(&prm, sizeof prm);
    ew_push pc{u32(out_offset, "out_offset", "elementwise"), u32(total, "size", "elementwise")};
    if (context::instance().ew_jit()) {
        spec_constants spec;
        spec.n = 3 + p.n_code;
        spec.v[0] = p.n_code;
        spec.v[1] = prm.contiguous;
        spec.v[2] = p.rank;
        for (std::uint32_t i = 0; i < p.n_code; ++i) spec.v[3 + i] = p.code[i];
        rec.dispatch(elementwise_jit_shader, spec, b, 10, &pc, groups_for(total));
        return;
    }
    rec.dispatch(elementwise_shader, {}, b, 10, &pc, groups_for(total));
}

/// out[o, i] = R_k in[o, k, i] over the [outer, n, inner] view at in_offset; n == 0 gives the
/// identity (0, -inf, +inf). max and min propagate NaN.
inline void reduce(reduce_op op, const device_buffer& in, std::size_t in_offset, device_buffer& out, std::size_t out_offset,
                   std::size_t outer, std::size_t n, std::size_t inner) {
    using namespace detail;
    std::size_t outputs = outer * inner;
    if (outputs == 0) return;
    if (n) check_floats(in, in_offset, in_offset + outer * n * inner - 1, "reduce", "the input");
    check_floats(out, out_offset, out_offset + outputs - 1, "reduce", "the output");
    if (n && same_memory(in, out)) fail("[vulkan] reduce: the output must not share memory with the input");
    bool row = inner == 1 && n >= 32;
    reduce_push pc{u32(in_offset, "in_offset", "reduce"), u32(out_offset, "out_offset", "reduce"), u32(outer, "outer", "reduce"),
                   u32(n, "n", "reduce"), u32(inner, "inner", "reduce")};
    binding b[2] = {n ? bind(in, false) : bind(out, false), bind(out, true)};
    if (!n) b[0].tracked = false;
    std::uint32_t groups = row ? static_cast<std::uint32_t>(std::min<std::size_t>(outer, 65535)) : groups_for(outputs);
    context::instance().recorder().dispatch(reduce_shader, {static_cast<std::uint32_t>(op), row ? 1u : 0u}, b, 2, &pc, groups);
}

/// Index of the largest (greater) or smallest element along n, as int64 at out_offset (in int64
/// elements) of out_i64; ties give the first index, and NaN counts as the extreme.
inline void arg_reduce(bool greater, const device_buffer& in, std::size_t in_offset, device_buffer& out_i64, std::size_t out_offset,
                       std::size_t outer, std::size_t n, std::size_t inner) {
    using namespace detail;
    std::size_t outputs = outer * inner;
    if (outputs == 0) return;
    if (n == 0) fail("[vulkan] arg_reduce: the reduced axis is empty (n = 0)");
    check_floats(in, in_offset, in_offset + outer * n * inner - 1, "arg_reduce", "the input");
    check_floats(out_i64, 2 * out_offset, 2 * (out_offset + outputs) - 1, "arg_reduce", "the int64 output");
    if (same_memory(in, out_i64)) fail("[vulkan] arg_reduce: the output must not share memory with the input");
    bool row = inner == 1 && n >= 32;
    reduce_push pc{u32(in_offset, "in_offset", "arg_reduce"), u32(out_offset, "out_offset", "arg_reduce"),
                   u32(outer, "outer", "arg_reduce"), u32(n, "n", "arg_reduce"), u32(inner, "inner", "arg_reduce")};
    binding b[2] = {bind(in, false), bind(out_i64, true)};
    std::uint32_t groups = row ? static_cast<std::uint32_t>(std::min<std::size_t>(outer, 65535)) : groups_for(outputs);
    context::instance().recorder().dispatch(arg_reduce_shader, {greater ? 1u : 0u, row ? 1u : 0u}, b, 2, &pc, groups);
}

/// Batched row-major GEMM: C_b = alpha op(A_b) op(B_b) + beta C_b for b < batch, with
/// X_b = X + x_off + b * stride_x; op transposes when its flag is set. C must not overlap A or B;
/// beta == 0 ignores C's old contents (NaN included). A single product with few tiles and a
/// long k (alpha 1, beta 0, C's rows contiguous) is computed as slices of k summed afterwards
/// (pick_gemm_split): the sum's order then differs from one pass over k, within rounding.
inline void gemm(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha, const device_buffer& A, std::size_t a_off,
                 std::size_t lda, std::size_t stride_a, const device_buffer& B, std::size_t b_off, std::size_t ldb, std::size_t stride_b,
                 float beta, device_buffer& C, std::size_t c_off, std::size_t ldc, std::size_t stride_c, std::size_t batch = 1) {
    using namespace detail;
    if (M == 0 || N == 0 || batch == 0) return;
    std::size_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    if ((K && lda < ac) || (K && ldb < bc) || ldc < N)
        fail("[vulkan] gemm: leading dimensions lda=%zu, ldb=%zu, ldc=%zu are smaller than the rows they hold (%zu, %zu, %zu)",
             lda, ldb, ldc, ac, bc, N);
    std::size_t a_last = a_off + (batch - 1) * stride_a + (ar - 1) * lda + ac - 1;
    std::size_t b_last = b_off + (batch - 1) * stride_b + (br - 1) * ldb + bc - 1;
    std::size_t c_last = c_off + (batch - 1) * stride_c + (M - 1) * ldc + N - 1;
    if (K) {
        check_floats(A, a_off, a_last, "gemm", "A");
        check_floats(B, b_off, b_last, "gemm", "B");
    }
    check_floats(C, c_off, c_last, "gemm", "C");
    auto overlap = [&](const device_buffer& X, std::size_t lo, std::size_t hi) {
        return K && X.where().buffer == C.where().buffer && X.where().offset == C.where().offset && lo <= c_last && c_off <= hi;
    };
    if (overlap(A, a_off, a_last) || overlap(B, b_off, b_last)) fail("[vulkan] gemm: C overlaps A or B");
    const char* op = "gemm";
    gemm_push pc{u32(M, "M", op), u32(N, "N", op), u32(K, "K", op), u32(lda, "lda", op), u32(ldb, "ldb", op), u32(ldc, "ldc", op),
                 u32(a_off, "a_off", op), u32(b_off, "b_off", op), u32(c_off, "c_off", op), u32(stride_a, "stride_a", op),
                 u32(stride_b, "stride_b", op), u32(stride_c, "stride_c", op), alpha, beta, 0};
    if (K) {
        u32(a_last, "A's last index", op);
        u32(b_last, "B's last index", op);
    }
    u32(c_last, "C's last index", op);
    // Few tiles and a long k: slices of k as batch entries into scratch, then their sum into C.
    if (std::size_t split = batch == 1 && alpha == 1.0f && beta == 0.0f && ldc == N ? pick_gemm_split(M, N, K) : 1; split > 1) {
        const std::size_t chunk = ((K + split - 1) / split + 15) / 16 * 16;  // a multiple of 16: vec4 loads stay aligned
        const std::size_t full = K / chunk, rest = K - full * chunk, parts = full + (rest ? 1 : 0), mn = M * N;
        device_buffer partial(parts * mn * sizeof(float));
        gemm(ta, tb, M, N, chunk, 1.0f, A, a_off, lda, ta ? chunk * lda : chunk, B, b_off, ldb, tb ? chunk : chunk * ldb, 0.0f,
             partial, 0, N, mn, full);
        if (rest) {  // the shorter last slice (split again if that pays)
            const std::size_t k0 = full * chunk;
            gemm(ta, tb, M, N, rest, 1.0f, A, a_off + (ta ? k0 * lda : k0), lda, 0, B, b_off + (tb ? k0 : k0 * ldb), ldb, 0, 0.0f,
                 partial, full * mn, N, 0, 1);
        }
        reduce(reduce_op::sum, partial, 0, C, c_off, 1, parts, mn);
        return;
    }
    const gemm_config& c = gemm_configs[pick_gemm_config(M, N, batch)];
    bool va = a_off % 4 == 0 && lda % 4 == 0 && (batch == 1 || stride_a % 4 == 0);
    bool vb = b_off % 4 == 0 && ldb % 4 == 0 && (batch == 1 || stride_b % 4 == 0);
    bool vc = c_off % 4 == 0 && ldc % 4 == 0 && (batch == 1 || stride_c % 4 == 0);
    spec_constants spec = {(c.bm / c.tm) * (c.bn / c.tn), c.bm, c.bn, c.bk, c.tm, c.tn, ta, tb, va, vb, vc, c.opt};
    context& ctx = context::instance();
    const auto& lim = ctx.limits();
    std::size_t gx = (N + c.bn - 1) / c.bn, gy = (M + c.bm - 1) / c.bm;
    if (gx > lim.maxComputeWorkGroupCount[0] || gy > lim.maxComputeWorkGroupCount[1])
        fail("[vulkan] gemm: %zu x %zu is too large for one dispatch grid on %s", M, N, ctx.device_name());
    // With K == 0, A and B are never read; bind C in their slots untracked.
    binding b[3] = {K ? bind(A, false) : bind(C, false), K ? bind(B, false) : bind(C, false), bind(C, true)};
    if (!K) b[0].tracked = b[1].tracked = false;
    for (std::size_t z = 0; z < batch; z += lim.maxComputeWorkGroupCount[2]) {
        pc.batch_base = static_cast<std::uint32_t>(z);
        std::size_t gz = std::min<std::size_t>(batch - z, lim.maxComputeWorkGroupCount[2]);
        ctx.recorder().dispatch(gemm_shader, spec, b, 3, &pc, static_cast<std::uint32_t>(gx), static_cast<std::uint32_t>(gy),
                                static_cast<std::uint32_t>(gz));
    }
}

/// out[out_base + sum c_k out_strides[k]] = in[in_base + sum c_k in_strides[k]] for every c in
/// extents (rank <= 6). in and out must not overlap.
inline void strided_copy(const device_buffer& in, std::size_t in_base, const std::uint32_t* in_strides, device_buffer& out,
                         std::size_t out_base, const std::uint32_t* out_strides, const std::uint32_t* extents, std::uint32_t rank) {
    using namespace detail;
    if (rank > 6) fail("[vulkan] strided_copy: rank %u exceeds 6", rank);
    copy_push pc{};
    std::size_t total = 1, in_last = in_base, out_last = out_base;
    for (std::uint32_t k = 0; k < rank; ++k) {
        total *= extents[k];
        if (extents[k] == 0) continue;
        in_last += std::size_t(extents[k] - 1) * in_strides[k];
        out_last += std::size_t(extents[k] - 1) * out_strides[k];
        pc.in_strides[k] = in_strides[k];
        pc.out_strides[k] = out_strides[k];
        pc.extents[k] = extents[k];
    }
    if (total == 0) return;
    check_floats(in, in_base, in_last, "strided_copy", "the input");
    check_floats(out, out_base, out_last, "strided_copy", "the output");
    if (in.where().buffer == out.where().buffer && in.where().offset == out.where().offset && in_base <= out_last && out_base <= in_last)
        fail("[vulkan] strided_copy: input and output ranges overlap in one buffer");
    // Merge axes that are contiguous in both (row-major runs); one dense run is a plain buffer copy.
    std::uint32_t ext[6], ist[6], ost[6], r = 0;
    for (std::uint32_t k = 0; k < rank; ++k) {
        if (extents[k] == 1) continue;
        if (r > 0 && ist[r - 1] == in_strides[k] * extents[k] && ost[r - 1] == out_strides[k] * extents[k]) {
            ext[r - 1] *= extents[k];
            ist[r - 1] = in_strides[k];
            ost[r - 1] = out_strides[k];
            continue;
        }
        ext[r] = extents[k], ist[r] = in_strides[k], ost[r] = out_strides[k], ++r;
    }
    if (r == 0 || (r == 1 && ist[0] == 1 && ost[0] == 1)) {
        context::instance().recorder().copy(in.where(), in_base * sizeof(float), out.where(), out_base * sizeof(float),
                                            total * sizeof(float));
        return;
    }
    for (std::uint32_t k = 0; k < 6; ++k) {
        pc.extents[k] = k < r ? ext[k] : 0;
        pc.in_strides[k] = k < r ? ist[k] : 0;
        pc.out_strides[k] = k < r ? ost[k] : 0;
    }
    rank = r;
    pc.in_base = u32(in_base, "in_base", "strided_copy");
    pc.out_base = u32(out_base, "out_base", "strided_copy");
    pc.rank = rank;
    pc.total = u32(total, "size", "strided_copy");
    binding b[2] = {bind(in, false), bind(out, true)};
    context::instance().recorder().dispatch(copy_shader, {}, b, 2, &pc, groups_for(total));
}

namespace detail {
inline void fill_impl(device_buffer& out, std::size_t offset, std::size_t n, std::uint32_t mode, std::uint64_t seed, float a, float b,
                      const char* op) {
    if (n == 0) return;
    check_floats(out, offset, offset + n - 1, op, "the output");
    fill_push pc{u32(offset, "offset", op), u32(n, "n", op), mode, static_cast<std::uint32_t>(seed),
                 static_cast<std::uint32_t>(seed >> 32), a, b};
    binding bd = bind(out, true);
    context::instance().recorder().dispatch(fill_shader, {}, &bd, 1, &pc, groups_for(n));
}
}  // namespace detail

/// Sets n floats at offset to value.
inline void fill(device_buffer& out, std::size_t offset, std::size_t n, float value) {
    detail::fill_impl(out, offset, n, 0, 0, value, 0, "fill");
}
/// Uniform samples in [lo, hi): element i (counted from offset) is Philox4x32-10(counter i, key seed).
inline void random_uniform(device_buffer& out, std::size_t offset, std::size_t n, std::uint64_t seed, float lo, float hi) {
    detail::fill_impl(out, offset, n, 1, seed, lo, hi, "random_uniform");
}
/// Normal samples (Box-Muller on the same counter-based stream).
inline void random_normal(device_buffer& out, std::size_t offset, std::size_t n, std::uint64_t seed, float mean, float stddev) {
    detail::fill_impl(out, offset, n, 2, seed, mean, stddev, "random_normal");
}

/// Geometry of a convolution or pooling window over NCHW planes (conv.comp's push block): N
/// images of C channels of H x W, an R x S window with strides, zero padding and dilation per
/// axis, P x Q outputs; include_pad picks average pooling's divisor.
struct window_geometry {
    std::size_t N, C, H, W, R, S, sh, sw, ph, pw, dh, dw, P, Q;
    bool include_pad = true;
};

/// The modes of conv.comp (see the shader for what each computes).
enum class window_op : std::uint32_t { im2col, col2im, max_pool, max_pool_vjp, avg_pool, avg_pool_vjp };

/// Records one conv.comp dispatch: `a` (and `b` for max_pool_vjp) in, `out` written. The element
/// counts of every operand are checked against the geometry.
inline void window_kernel(window_op op, const window_geometry& g, const device_buffer& a, const device_buffer* b, device_buffer& out) {
    using namespace detail;
    const char* name = op == window_op::im2col ? "im2col" : op == window_op::col2im ? "col2im"
                     : op == window_op::max_pool ? "max_pool2d" : op == window_op::max_pool_vjp ? "max_pool2d backward"
                     : op == window_op::avg_pool ? "avg_pool2d" : "avg_pool2d backward";
    if (g.R == 0 || g.S == 0 || g.sh == 0 || g.sw == 0 || g.dh == 0 || g.dw == 0)
        fail("[vulkan] %s: window %zux%zu, stride %zux%zu and dilation %zux%zu must be nonzero", name, g.R, g.S, g.sh, g.sw, g.dh, g.dw);
    const std::size_t image = g.N * g.C * g.H * g.W, pooled = g.N * g.C * g.P * g.Q, col = g.C * g.R * g.S * g.N * g.P * g.Q;
    std::size_t in = 0, total = 0;
    switch (op) {
        case window_op::im2col: in = image, total = col; break;
        case window_op::col2im: in = col, total = image; break;
        case window_op::max_pool: case window_op::avg_pool: in = image, total = pooled; break;
        case window_op::max_pool_vjp: in = image, total = image; break;
        case window_op::avg_pool_vjp: in = pooled, total = image; break;
    }
    if (total == 0) return;
    if (in) check_floats(a, 0, in - 1, name, "the input");
    if (op == window_op::max_pool_vjp) {
        if (!b) fail("[vulkan] %s: the output gradient is missing", name);
        if (pooled) check_floats(*b, 0, pooled - 1, name, "the output gradient");
    }
    check_floats(out, 0, total - 1, name, "the output");
    if (same_memory(a, out) || (b && same_memory(*b, out))) fail("[vulkan] %s: the output must not share memory with an input", name);
    u32(std::max(total, in), "size", name);
    // Mode, then the geometry in conv.comp's constant_id order: one pipeline per layer shape.
    const spec_constants spec = {static_cast<std::uint32_t>(op), u32(g.N, "N", name), u32(g.C, "C", name), u32(g.H, "H", name),
                                 u32(g.W, "W", name), u32(g.R, "R", name), u32(g.S, "S", name), u32(g.sh, "stride", name),
                                 u32(g.sw, "stride", name), u32(g.ph, "padding", name), u32(g.pw, "padding", name),
                                 u32(g.dh, "dilation", name), u32(g.dw, "dilation", name), u32(g.P, "P", name),
                                 u32(g.Q, "Q", name), g.include_pad ? 1u : 0u, static_cast<std::uint32_t>(total)};
    binding bd[3] = {bind(a, false), b ? bind(*b, false) : bind(a, false), bind(out, true)};
    if (!b) bd[1].tracked = false;
    context::instance().recorder().dispatch(conv_shader, spec, bd, 3, nullptr, groups_for(total));
}

}  // namespace kiln::vk
