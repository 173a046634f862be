// Reductions over a [outer, n, inner] view: out[o, i] = R_k in[o, k, i], R in {sum, max, min}.
// ROW (inner == 1 and a long n): one workgroup per row, a strided partial per thread, then a
// shared-memory tree. Otherwise one thread per output walks k; neighbouring threads read
// neighbouring i, so loads coalesce. max/min propagate NaN.
#version 450

layout(local_size_x = 256) in;
layout(constant_id = 0) const uint OP = 0u;      // 0 sum, 1 max, 2 min
layout(constant_id = 1) const bool ROW = false;

layout(std430, binding = 0) readonly buffer src_buf { float v[]; } src;
layout(std430, binding = 1) writeonly buffer dst_buf { float v[]; } dst;

layout(push_constant) uniform push {
    uint in_offset;
    uint out_offset;
    uint outer;
    uint n;
    uint inner;
} pc;

shared float part[256];

float identity() {
    return OP == 0u ? 0.0 : (OP == 1u ? -1.0 / 0.0 : 1.0 / 0.0);
}
float combine(float acc, float x) {
    if (OP == 0u) return acc + x;
    if (OP == 1u) return (x > acc || isnan(x)) ? x : acc;
    return (x < acc || isnan(x)) ? x : acc;
}

void main() {
    if (ROW) {
        uint t = gl_LocalInvocationID.x;
        for (uint row = gl_WorkGroupID.x; row < pc.outer; row += gl_NumWorkGroups.x) {
            uint base = pc.in_offset + row * pc.n;
            float acc = identity();
            for (uint k = t; k < pc.n; k += 256u) acc = combine(acc, src.v[base + k]);
            part[t] = acc;
            barrier();
            for (uint s = 128u; s > 0u; s >>= 1) {
                if (t < s) part[t] = combine(part[t], part[t + s]);
                barrier();
            }
            if (t == 0u) dst.v[pc.out_offset + row] = part[0];
            barrier();
        }
    } else {
        uint total = pc.outer * pc.inner;
        uint stride = gl_NumWorkGroups.x * 256u;
        for (uint idx = gl_GlobalInvocationID.x; idx < total; idx += stride) {
            uint o = idx / pc.inner, i = idx % pc.inner;
            uint base = pc.in_offset + o * pc.n * pc.inner + i;
            float acc = identity();
            for (uint k = 0u; k < pc.n; ++k) acc = combine(acc, src.v[base + k * pc.inner]);
            dst.v[pc.out_offset + idx] = acc;
        }
    }
}
