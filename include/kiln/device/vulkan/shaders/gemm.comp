// Batched row-major GEMM, C = alpha op(A) op(B) + beta C, tiled and register-blocked.
// A workgroup computes a BM x BN tile of C; each thread TM x TN values (TM, TN in {4, 8}) held
// in registers as TM/4 x TN/4 blocks of 4x4 spread across the tile (rows ty*4.. + i*BM/(TM/4)):
// neighbouring threads then read neighbouring vec4s of shared memory and write neighbouring
// columns of C.
// The accumulators are 16 named vec4 variables (c<row><column block>) updated by macros, never
// an array: the earlier vec4[16] accumulator array of the 8x8 tile was placed in local memory
// by the NVIDIA driver (256 bytes per invocation, per VK_KHR_pipeline_executable_properties;
// about 2 TFLOP/s on an H100), and named variables cannot be indexed at run time whatever the
// driver unrolls. The same holds for the global-to-shared staging registers (ra0..ra3,
// rb0..rb3). The macros always run the 8x8 pattern: with TM or TN = 4 the unused half reads
// repeated values and is never stored, so the driver removes it.
// K advances in BK steps through two shared-memory stages: the next tile is fetched into
// registers while the current one is multiplied, then stored to the other stage, so one
// barrier per step suffices. The loop is peeled (stage 0 stored first, a steady loop with no
// branches, the last stage multiplied after it): on an H100 the driver schedules that
// branch-free body 12% faster than one loop whose load, multiply and store parts are guarded
// (35.7k -> 40.3k GFLOP/s at 4096), and with two stages per iteration, so that every
// shared-memory offset is a constant, 2.5% faster again (41.3k). Tiles are kept k-major in shared memory (op(A) as [k][m], op(B)
// as [k][n]) so the inner loop reads vec4s. VA/VB: the operand's rows and offsets are
// multiples of 4 floats, so whole vec4s are loaded from global memory where they fit; VC: the
// same for C (vec4 stores).
// OPT bit 0: threads of one 32-wide subgroup cover a 4 x 8 block of thread tiles (fewer
// distinct shared-memory vec4s per read). Bit 1: operands whose k axis is contiguous in memory
// (A not transposed, B transposed) are transposed into shared memory through scalar stores;
// XOR-swizzling the vec4 column by k spreads those stores over all 32 banks.
#version 450

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BM = 64u;
layout(constant_id = 2) const uint BN = 64u;
layout(constant_id = 3) const uint BK = 16u;
layout(constant_id = 4) const uint TM = 4u;
layout(constant_id = 5) const uint TN = 4u;
layout(constant_id = 6) const bool TA = false;
layout(constant_id = 7) const bool TB = false;
layout(constant_id = 8) const bool VA = false;
layout(constant_id = 9) const bool VB = false;
layout(constant_id = 10) const bool VC = false;
layout(constant_id = 11) const uint OPT = 0u;

const uint GX = BN / TN;                 // threads along n
const uint GY = BM / TM;                 // threads along m
const uint WG = GX * GY;                 // equals local_size_x (the host sets both)
const uint LA = BM * BK / 4u / WG;       // 4-float slots of the A tile each thread moves (<= 4)
const uint LB = BN * BK / 4u / WG;
const uint KQ = BK / 4u;                 // vec4s along k
const bool WARP_MAP = (OPT & 1u) != 0u && GX % 8u == 0u && GY % 4u == 0u;
const bool SWA = (OPT & 2u) != 0u && !TA && BM % 32u == 0u;
const bool SWB = (OPT & 2u) != 0u && TB && BN % 32u == 0u;
const uint SWK = 32u / BK;               // swizzle step per k quad (BK in {8, 16, 32})
const uint GY1 = TM > 4u ? GY : 0u;      // vec4 offsets of the second row and column blocks
const uint GX1 = TN > 4u ? GX : 0u;      // (0 where absent)

layout(std430, binding = 0) readonly buffer a_buf { float v[]; } a1;
layout(std430, binding = 0) readonly buffer a4_buf { vec4 v[]; } a4;
layout(std430, binding = 1) readonly buffer b_buf { float v[]; } b1;
layout(std430, binding = 1) readonly buffer b4_buf { vec4 v[]; } b4;
layout(std430, binding = 2) buffer c_buf { float v[]; } c1;
layout(std430, binding = 2) buffer c4_buf { vec4 v[]; } c4;

layout(push_constant) uniform push {
    uint M, N, K;
    uint lda, ldb, ldc;
    uint a_off, b_off, c_off;
    uint stride_a, stride_b, stride_c;
    float alpha, beta;
    uint batch_base;
} p;

shared vec4 sa[2u * BK * BM / 4u];
shared vec4 sb[2u * BK * BN / 4u];

// Four consecutive elements along the contiguous axis of a row-major operand: row r, columns
// q..q+3 of a rows x cols matrix at `base` with leading dimension ld. Zero outside.
vec4 load4_a(uint base, uint r, uint q, uint rows, uint cols, uint ld) {
    if (r >= rows) return vec4(0.0);
    uint i = base + r * ld + q;
    if (VA && q + 3u < cols) return a4.v[i >> 2];
    vec4 x = vec4(0.0);
    for (uint j = 0u; j < 4u && q + j < cols; ++j) x[j] = a1.v[i + j];
    return x;
}
vec4 load4_b(uint base, uint r, uint q, uint rows, uint cols, uint ld) {
    if (r >= rows) return vec4(0.0);
    uint i = base + r * ld + q;
    if (VB && q + 3u < cols) return b4.v[i >> 2];
    vec4 x = vec4(0.0);
    for (uint j = 0u; j < 4u && q + j < cols; ++j) x[j] = b1.v[i + j];
    return x;
}

// Swizzle of the vec4 column in shared-memory row k (0 unless enabled for that operand).
uint swa(uint k) { return SWA ? ((k >> 2) * SWK) & 7u : 0u; }
uint swb(uint k) { return SWB ? ((k >> 2) * SWK) & 7u : 0u; }

// One element of C (row m, column n): alpha acc + beta C, never reading C when beta == 0
// (it may hold NaN garbage), as in BLAS.
void store1(uint at, float v) {
    float r = p.alpha * v;
    c1.v[at] = p.beta == 0.0 ? r : r + p.beta * c1.v[at];
}
void store4(uint cbase, uint m, uint n, vec4 v) {
    if (m >= p.M) return;
    uint at = cbase + m * p.ldc + n;
    if (VC && n + 3u < p.N) {
        vec4 r = p.alpha * v;
        c4.v[at >> 2] = p.beta == 0.0 ? r : r + p.beta * c4.v[at >> 2];
        return;
    }
    for (uint j = 0u; j < 4u && n + j < p.N; ++j) store1(at + j, v[j]);
}

// Slot s of this thread covers tile element e = tid + s * WG, four floats along the operand's
// contiguous axis: op(A) is read as row m of A (k contiguous) or, transposed, row k (m
// contiguous).
#define LOAD_A(s, r)                                                                                   \
    if (s < LA) {                                                                                      \
        uint e = tid + s * WG;                                                                         \
        if (!TA) r = load4_a(abase, m0 + e / KQ, k0 + (e % KQ) * 4u, p.M, p.K, p.lda);                 \
        else     r = load4_a(abase, k0 + e / (BM / 4u), m0 + (e % (BM / 4u)) * 4u, p.K, p.M, p.lda);   \
    }
#define LOAD_B(s, r)                                                                                   \
    if (s < LB) {                                                                                      \
        uint e = tid + s * WG;                                                                         \
        if (!TB) r = load4_b(bbase, k0 + e / (BN / 4u), n0 + (e % (BN / 4u)) * 4u, p.K, p.N, p.ldb);   \
        else     r = load4_b(bbase, n0 + e / KQ, k0 + (e % KQ) * 4u, p.N, p.K, p.ldb);                 \
    }
#define STORE_A(s, r)                                                                                  \
    if (s < LA) {                                                                                      \
        uint e = tid + s * WG;                                                                         \
        if (!TA) {                                                                                     \
            uint m = e / KQ, k = (e % KQ) * 4u;                                                        \
            uint q = ((m >> 2) ^ swa(k)) + sta + k * (BM / 4u), l = m & 3u;                            \
            sa[q][l] = r.x;                                                                            \
            sa[q + BM / 4u][l] = r.y;                                                                  \
            sa[q + 2u * (BM / 4u)][l] = r.z;                                                           \
            sa[q + 3u * (BM / 4u)][l] = r.w;                                                           \
        } else {                                                                                       \
            uint k = e / (BM / 4u);                                                                    \
            sa[sta + k * (BM / 4u) + ((e % (BM / 4u)) ^ swa(k))] = r;                                  \
        }                                                                                              \
    }
#define STORE_B(s, r)                                                                                  \
    if (s < LB) {                                                                                      \
        uint e = tid + s * WG;                                                                         \
        if (!TB) {                                                                                     \
            uint k = e / (BN / 4u);                                                                    \
            sb[stb + k * (BN / 4u) + ((e % (BN / 4u)) ^ swb(k))] = r;                                  \
        } else {                                                                                       \
            uint n = e / KQ, k = (e % KQ) * 4u;                                                        \
            uint q = ((n >> 2) ^ swb(k)) + stb + k * (BN / 4u), l = n & 3u;                            \
            sb[q][l] = r.x;                                                                            \
            sb[q + BN / 4u][l] = r.y;                                                                  \
            sb[q + 2u * (BN / 4u)][l] = r.z;                                                           \
            sb[q + 3u * (BN / 4u)][l] = r.w;                                                           \
        }                                                                                              \
    }

// Row i of the thread tile gains a * (b0, b1). No branches: with TN == 4 (TM == 4) the second
// column (the last four rows) is computed from a repeated load and never stored, and the driver
// drops it; the SPIR-V stays small (lavapipe and the validation layer are slow on large ones).
#define FMA_ROW(i, a)                        \
    c##i##0 = fma(vec4(a), b0, c##i##0);     \
    c##i##1 = fma(vec4(a), b1, c##i##1);

// One k of the stage at (sta, stb): read TM + TN values, TM * TN fused multiply-adds.
#define STEP(k)                                                                    \
    {                                                                              \
        const uint ka = sta + (k) * (BM / 4u), kb = stb + (k) * (BN / 4u);         \
        const uint fa = swa(k), fb = swb(k);                                       \
        vec4 a0 = sa[ka + (ty ^ fa)], b0 = sb[kb + (tx ^ fb)];                     \
        vec4 a1 = sa[ka + ((GY1 + ty) ^ fa)], b1 = sb[kb + ((GX1 + tx) ^ fb)];     \
        FMA_ROW(0, a0.x) FMA_ROW(1, a0.y) FMA_ROW(2, a0.z) FMA_ROW(3, a0.w)        \
        FMA_ROW(4, a1.x) FMA_ROW(5, a1.y) FMA_ROW(6, a1.z) FMA_ROW(7, a1.w)        \
    }

void main() {
    const uint tid = gl_LocalInvocationIndex;
    uint tx, ty;
    if (WARP_MAP) {
        // 32 consecutive invocations cover 4 rows x 8 columns of thread tiles.
        const uint lane = tid % 32u, w = tid / 32u;
        tx = (w % (GX / 8u)) * 8u + lane % 8u;
        ty = (w / (GX / 8u)) * 4u + lane / 8u;
    } else {
        tx = tid % GX;
        ty = tid / GX;
    }
    const uint batch = gl_WorkGroupID.z + p.batch_base;
    const uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
    const uint abase = p.a_off + batch * p.stride_a;
    const uint bbase = p.b_off + batch * p.stride_b;
    const uint cbase = p.c_off + batch * p.stride_c;

    const vec4 z = vec4(0.0);
    vec4 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
    vec4 c40 = z, c41 = z, c50 = z, c51 = z, c60 = z, c61 = z, c70 = z, c71 = z;
    vec4 ra0 = z, ra1 = z, ra2 = z, ra3 = z, rb0 = z, rb1 = z, rb2 = z, rb3 = z;

    const uint nk = (p.K + BK - 1u) / BK;
    if (nk > 0u) {
        {   // prologue: stage 0
            const uint k0 = 0u;
            LOAD_A(0u, ra0) LOAD_A(1u, ra1) LOAD_A(2u, ra2) LOAD_A(3u, ra3)
            LOAD_B(0u, rb0) LOAD_B(1u, rb1) LOAD_B(2u, rb2) LOAD_B(3u, rb3)
            const uint sta = 0u, stb = 0u;
            STORE_A(0u, ra0) STORE_A(1u, ra1) STORE_A(2u, ra2) STORE_A(3u, ra3)
            STORE_B(0u, rb0) STORE_B(1u, rb1) STORE_B(2u, rb2) STORE_B(3u, rb3)
        }
        barrier();
#define STAGE_STEP(t, cs, ss)                                                                  \
        {                                                                                      \
            const uint k0 = (t) * BK;                                                          \
            LOAD_A(0u, ra0) LOAD_A(1u, ra1) LOAD_A(2u, ra2) LOAD_A(3u, ra3)                    \
            LOAD_B(0u, rb0) LOAD_B(1u, rb1) LOAD_B(2u, rb2) LOAD_B(3u, rb3)                    \
            {                                                                                  \
                const uint sta = (cs) * (BK * BM / 4u), stb = (cs) * (BK * BN / 4u);           \
                for (uint k = 0u; k < BK; k += 4u) {                                           \
                    STEP(k) STEP(k + 1u) STEP(k + 2u) STEP(k + 3u)                             \
                }                                                                              \
            }                                                                                  \
            {                                                                                  \
                const uint sta = (ss) * (BK * BM / 4u), stb = (ss) * (BK * BN / 4u);           \
                STORE_A(0u, ra0) STORE_A(1u, ra1) STORE_A(2u, ra2) STORE_A(3u, ra3)            \
                STORE_B(0u, rb0) STORE_B(1u, rb1) STORE_B(2u, rb2) STORE_B(3u, rb3)            \
            }                                                                                  \
            barrier();                                                                         \
        }
        // Two stages per iteration, so the shared-memory offsets are constants.
        uint t = 1u;
        for (; t + 1u < nk; t += 2u) {
            STAGE_STEP(t, 0u, 1u)
            STAGE_STEP(t + 1u, 1u, 0u)
        }
        if (t < nk) STAGE_STEP(t, 0u, 1u)
#undef STAGE_STEP
        {   // epilogue: the last stage
            const uint sta = ((nk - 1u) & 1u) * (BK * BM / 4u), stb = ((nk - 1u) & 1u) * (BK * BN / 4u);
            for (uint k = 0u; k < BK; k += 4u) {
                STEP(k) STEP(k + 1u) STEP(k + 2u) STEP(k + 3u)
            }
        }
    }

    // Row i of the thread tile is row m0 + (i / 4) * 4 GY + ty * 4 + i % 4 of C; its column
    // blocks start at n0 + tx * 4 and n0 + 4 GX + tx * 4. The switch picks named registers (no
    // array).
    const uint nc = n0 + tx * 4u;
    for (uint i = 0u; i < TM; ++i) {
        vec4 v0, v1;
        switch (i) {
            case 0u: v0 = c00; v1 = c01; break;
            case 1u: v0 = c10; v1 = c11; break;
            case 2u: v0 = c20; v1 = c21; break;
            case 3u: v0 = c30; v1 = c31; break;
            case 4u: v0 = c40; v1 = c41; break;
            case 5u: v0 = c50; v1 = c51; break;
            case 6u: v0 = c60; v1 = c61; break;
            default: v0 = c70; v1 = c71; break;
        }
        const uint m = m0 + (i / 4u) * 4u * GY + ty * 4u + i % 4u;
        store4(cbase, m, nc, v0);
        if (TN > 4u) store4(cbase, m, nc + 4u * GX, v1);
    }
}
