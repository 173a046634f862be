// argmax / argmin over a [outer, n, inner] view, written as int64 (two uint words, little
// endian). The first index wins ties and a NaN counts as the extreme (the first NaN wins), so
// the answer does not depend on how the work is split. Same two modes as reduce.comp.
#version 450

layout(local_size_x = 256) in;
layout(constant_id = 0) const bool GREATER = true;
layout(constant_id = 1) const bool ROW = false;

layout(std430, binding = 0) readonly buffer src_buf { float v[]; } src;
layout(std430, binding = 1) writeonly buffer dst_buf { uint v[]; } dst;

layout(push_constant) uniform push {
    uint in_offset;
    uint out_offset;   // in int64 elements
    uint outer;
    uint n;
    uint inner;
} pc;

shared float part_v[256];
shared uint part_i[256];

// True when (vb, ib) should replace (va, ia).
bool better(float va, uint ia, float vb, uint ib) {
    bool na = isnan(va), nb = isnan(vb);
    if (na || nb) return (na != nb) ? nb : ib < ia;
    if (vb == va) return ib < ia;
    return GREATER ? vb > va : vb < va;
}

void store(uint at, uint idx) {
    dst.v[2u * (pc.out_offset + at)] = idx;
    dst.v[2u * (pc.out_offset + at) + 1u] = 0u;
}

void main() {
    if (ROW) {
        uint t = gl_LocalInvocationID.x;
        for (uint row = gl_WorkGroupID.x; row < pc.outer; row += gl_NumWorkGroups.x) {
            uint base = pc.in_offset + row * pc.n;
            float bv = 0.0;
            uint bi = 0xFFFFFFFFu;
            for (uint k = t; k < pc.n; k += 256u) {
                float x = src.v[base + k];
                if (bi == 0xFFFFFFFFu || better(bv, bi, x, k)) { bv = x; bi = k; }
            }
            part_v[t] = bv;
            part_i[t] = bi;
            barrier();
            for (uint s = 128u; s > 0u; s >>= 1) {
                if (t < s) {
                    uint oi = part_i[t + s];
                    if (oi != 0xFFFFFFFFu && (part_i[t] == 0xFFFFFFFFu || better(part_v[t], part_i[t], part_v[t + s], oi))) {
                        part_v[t] = part_v[t + s];
                        part_i[t] = oi;
                    }
                }
                barrier();
            }
            if (t == 0u) store(row, part_i[0] == 0xFFFFFFFFu ? 0u : part_i[0]);
            barrier();
        }
    } else {
        uint total = pc.outer * pc.inner;
        uint stride = gl_NumWorkGroups.x * 256u;
        for (uint idx = gl_GlobalInvocationID.x; idx < total; idx += stride) {
            uint o = idx / pc.inner, i = idx % pc.inner;
            uint base = pc.in_offset + o * pc.n * pc.inner + i;
            float bv = src.v[base];
            uint bi = 0u;
            for (uint k = 1u; k < pc.n; ++k) {
                float x = src.v[base + k * pc.inner];
                if (better(bv, bi, x, k)) { bv = x; bi = k; }
            }
            store(idx, bi);
        }
    }
}
