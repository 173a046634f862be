// Batched row-major GEMM, C = alpha op(A) op(B) + beta C, tiled and register-blocked.
// A workgroup computes a BM x BN tile of C; each thread TM x TN values held in registers, as
// TM/4 x TN/4 blocks of 4x4 spread across the tile (rows ty*4.. + i*BM/(TM/4)): neighbouring
// threads then read neighbouring vec4s of shared memory (no bank conflicts) and write
// neighbouring columns of C.
// K advances in BK steps through two shared-memory stages: the next tile is fetched into
// registers while the current one is multiplied, then stored to the other stage, so one
// barrier per step suffices. Loops over TM, TN, BK and the load slots have specialisation
// constant bounds, so the driver unrolls them (explicit [[unroll]] changed nothing on an H100
// and tripled lavapipe's compile time). Tiles are kept k-major in shared memory (op(A) as [k][m], op(B)
// as [k][n]) so the inner loop reads vec4s. VA/VB: the operand's rows and offsets are
// multiples of 4 floats, so whole vec4s are loaded from global memory where they fit.
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

const uint WG = (BM / TM) * (BN / TN);   // equals local_size_x (the host sets both)
const uint LA = BM * BK / 4u / WG;       // 4-float slots of the A tile each thread moves
const uint LB = BN * BK / 4u / WG;

layout(std430, binding = 0) readonly buffer a_buf { float v[]; } a1;
layout(std430, binding = 0) readonly buffer a4_buf { vec4 v[]; } a4;
layout(std430, binding = 1) readonly buffer b_buf { float v[]; } b1;
layout(std430, binding = 1) readonly buffer b4_buf { vec4 v[]; } b4;
layout(std430, binding = 2) buffer c_buf { float v[]; } c;

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
    if (q < cols) x.x = a1.v[i];
    if (q + 1u < cols) x.y = a1.v[i + 1u];
    if (q + 2u < cols) x.z = a1.v[i + 2u];
    if (q + 3u < cols) x.w = a1.v[i + 3u];
    return x;
}
vec4 load4_b(uint base, uint r, uint q, uint rows, uint cols, uint ld) {
    if (r >= rows) return vec4(0.0);
    uint i = base + r * ld + q;
    if (VB && q + 3u < cols) return b4.v[i >> 2];
    vec4 x = vec4(0.0);
    if (q < cols) x.x = b1.v[i];
    if (q + 1u < cols) x.y = b1.v[i + 1u];
    if (q + 2u < cols) x.z = b1.v[i + 2u];
    if (q + 3u < cols) x.w = b1.v[i + 3u];
    return x;
}

void main() {
    const uint tid = gl_LocalInvocationIndex;
    const uint tx = tid % (BN / TN), ty = tid / (BN / TN);
    const uint batch = gl_WorkGroupID.z + p.batch_base;
    const uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
    const uint abase = p.a_off + batch * p.stride_a;
    const uint bbase = p.b_off + batch * p.stride_b;
    const uint cbase = p.c_off + batch * p.stride_c;

    vec4 ra[LA], rb[LB];
    // Row i of the block, columns 4j..4j+3: a vec4 array keeps the element count low enough
    // for drivers to keep it in registers (a float[64] went to local memory on NVIDIA).
    vec4 acc[TM * TN / 4u];
    for (uint i = 0u; i < TM * TN / 4u; ++i) acc[i] = vec4(0.0);

    // Slot s of this thread covers tile element e = tid + s * WG, four floats along the
    // operand's contiguous axis: op(A) is stored [m][k] (row m of A) or, transposed, [k][m].
    const uint nk = (p.K + BK - 1u) / BK;
    for (uint t = 0u; t <= nk; ++t) {
        const uint k0 = t * BK;
        if (t < nk) {
            for (uint s = 0u; s < LA; ++s) {
                uint e = tid + s * WG;
                if (!TA) ra[s] = load4_a(abase, m0 + e / (BK / 4u), k0 + (e % (BK / 4u)) * 4u, p.M, p.K, p.lda);
                else     ra[s] = load4_a(abase, k0 + e / (BM / 4u), m0 + (e % (BM / 4u)) * 4u, p.K, p.M, p.lda);
            }
            for (uint s = 0u; s < LB; ++s) {
                uint e = tid + s * WG;
                if (!TB) rb[s] = load4_b(bbase, k0 + e / (BN / 4u), n0 + (e % (BN / 4u)) * 4u, p.K, p.N, p.ldb);
                else     rb[s] = load4_b(bbase, n0 + e / (BK / 4u), k0 + (e % (BK / 4u)) * 4u, p.N, p.K, p.ldb);
            }
        }
        if (t > 0u) {
            // Multiply the stage loaded last step.
            const uint sta = ((t - 1u) & 1u) * (BK * BM / 4u), stb = ((t - 1u) & 1u) * (BK * BN / 4u);
            for (uint k = 0u; k < BK; ++k) {
                vec4 av[TM / 4u], bv[TN / 4u];
                for (uint i = 0u; i < TM / 4u; ++i) av[i] = sa[sta + k * (BM / 4u) + i * (BM / TM) + ty];
                for (uint j = 0u; j < TN / 4u; ++j) bv[j] = sb[stb + k * (BN / 4u) + j * (BN / TN) + tx];
                for (uint i = 0u; i < TM; ++i)
                    for (uint j = 0u; j < TN / 4u; ++j)
                        acc[i * (TN / 4u) + j] = fma(vec4(av[i / 4u][i % 4u]), bv[j], acc[i * (TN / 4u) + j]);
            }
        }
        if (t < nk) {
            const uint sta = (t & 1u) * (BK * BM / 4u), stb = (t & 1u) * (BK * BN / 4u);
            for (uint s = 0u; s < LA; ++s) {
                uint e = tid + s * WG;
                if (!TA) {
                    uint m = e / (BK / 4u), k = (e % (BK / 4u)) * 4u;
                    for (uint j = 0u; j < 4u; ++j) sa[sta + ((k + j) * BM + m) / 4u][m % 4u] = ra[s][j];
                } else {
                    uint k = e / (BM / 4u), m = (e % (BM / 4u)) * 4u;
                    sa[sta + (k * BM + m) / 4u] = ra[s];
                }
            }
            for (uint s = 0u; s < LB; ++s) {
                uint e = tid + s * WG;
                if (!TB) {
                    uint k = e / (BN / 4u), n = (e % (BN / 4u)) * 4u;
                    sb[stb + (k * BN + n) / 4u] = rb[s];
                } else {
                    uint n = e / (BK / 4u), k = (e % (BK / 4u)) * 4u;
                    for (uint j = 0u; j < 4u; ++j) sb[stb + ((k + j) * BN + n) / 4u][n % 4u] = rb[s][j];
                }
            }
        }
        barrier();
    }

    for (uint i = 0u; i < TM; ++i) {
        uint m = m0 + (i / 4u) * (BM / (TM / 4u)) + ty * 4u + i % 4u;
        if (m >= p.M) continue;
        for (uint j = 0u; j < TN; ++j) {
            uint n = n0 + (j / 4u) * (BN / (TN / 4u)) + tx * 4u + j % 4u;
            if (n >= p.N) continue;
            uint at = cbase + m * p.ldc + n;
            // beta == 0 must not read C (it may hold NaN garbage), as in BLAS.
            float r = p.alpha * acc[i * (TN / 4u) + j / 4u][j % 4u];
            c.v[at] = p.beta == 0.0 ? r : r + p.beta * c.v[at];
        }
    }
}
