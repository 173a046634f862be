// Constant and random fills. Random values come from Philox4x32-10 keyed by the seed with the
// element index as counter, so element i gets the same value whatever the dispatch layout or
// the offset of the fill. Normals by Box-Muller from the first two words.
#version 450

layout(local_size_x = 256) in;

layout(std430, binding = 0) writeonly buffer dst_buf { float v[]; } dst;

layout(push_constant) uniform push {
    uint offset;
    uint n;
    uint mode;       // 0 constant a, 1 uniform [a, b), 2 normal (mean a, stddev b)
    uint seed_lo;
    uint seed_hi;
    float a;
    float b;
} pc;

uvec4 philox(uvec4 ctr, uvec2 key) {
    for (int r = 0; r < 10; ++r) {
        uint hi0, lo0, hi1, lo1;
        umulExtended(0xD2511F53u, ctr.x, hi0, lo0);
        umulExtended(0xCD9E8D57u, ctr.z, hi1, lo1);
        ctr = uvec4(hi1 ^ ctr.y ^ key.x, lo1, hi0 ^ ctr.w ^ key.y, lo0);
        key += uvec2(0x9E3779B9u, 0xBB67AE85u);
    }
    return ctr;
}

void main() {
    uint stride = gl_NumWorkGroups.x * 256u;
    for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += stride) {
        float r;
        if (pc.mode == 0u) {
            r = pc.a;
        } else {
            uvec4 w = philox(uvec4(i, 0u, 0u, 0u), uvec2(pc.seed_lo, pc.seed_hi));
            if (pc.mode == 1u) {
                r = pc.a + (pc.b - pc.a) * (float(w.x >> 8) * 5.9604645e-8);
            } else {
                float u1 = float((w.x >> 8) + 1u) * 5.9604645e-8;   // (0, 1]: log stays finite
                float u2 = float(w.y >> 8) * 5.9604645e-8;
                r = pc.a + pc.b * sqrt(-2.0 * log(u1)) * cos(6.2831853 * u2);
            }
        }
        dst.v[pc.offset + i] = r;
    }
}
