// Strided copy, rank <= 6: out[out_base + sum c_k out_strides[k]] = in[in_base + sum c_k in_strides[k]]
// for every coordinate c within extents. Materialises permutes, slices, concats and broadcasts.
#version 450

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer src_buf { float v[]; } src;
layout(std430, binding = 1) writeonly buffer dst_buf { float v[]; } dst;

layout(push_constant) uniform push {
    uint in_base;
    uint out_base;
    uint rank;
    uint total;
    uint in_strides[6];
    uint out_strides[6];
    uint extents[6];
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * 256u;
    for (uint t = gl_GlobalInvocationID.x; t < pc.total; t += stride) {
        uint rem = t, si = pc.in_base, di = pc.out_base;
        for (int k = 5; k >= 0; --k) {
            if (uint(k) < pc.rank) {
                uint e = pc.extents[k];
                uint c = rem % e;
                rem /= e;
                si += c * pc.in_strides[k];
                di += c * pc.out_strides[k];
            }
        }
        dst.v[di] = src.v[si];
    }
}
