// Convolution and pooling helpers on NCHW tensors, one mode per pipeline (MODE):
//   0 im2col:       out[(c*R + r)*S + s][n*P*Q + p*Q + q] = x[n, c, p*sh - ph + r*dh, q*sw - pw + s*dw] (0 outside)
//   1 col2im:       out[n, c, h, w] = sum of the col entries that im2col copies from (h, w) (gather: no atomics)
//   2 max pool:     out[n, c, p, q] = max over the window's taps inside the input; a NaN wins, ties keep the first
//   3 max pool vjp: out = dx[n, c, h, w] = sum of dy[p, q] over the windows whose winner (found again from x,
//                   by mode 2's rule) is (h, w)
//   4 avg pool:     out[n, c, p, q] = sum of the window's taps inside the input / divisor
//   5 avg pool vjp: out = dx[n, c, h, w] = sum of dy[p, q] / divisor over the windows holding (h, w)
// The divisor counts the taps inside the padded input (FLAG_INCLUDE_PAD) or inside the input.
// a is x (modes 0, 2, 3, 4), col (1) or dy (5); b is dy in mode 3. Every output element is
// written by one invocation, summing in a fixed order, so results are deterministic.
#version 450

layout(local_size_x = 256) in;
layout(constant_id = 0) const uint MODE = 0;

layout(std430, binding = 0) readonly buffer a_buf { float v[]; } a;
layout(std430, binding = 1) readonly buffer b_buf { float v[]; } b;
layout(std430, binding = 2) writeonly buffer o_buf { float v[]; } o;

layout(push_constant) uniform push {
    uint N, C, H, W;
    uint R, S, sh, sw;
    uint ph, pw, dh, dw;
    uint P, Q, include_pad, total;
} pc;

// Window taps r in [0, R) of output row p inside [lo, hi): counted for the divisor.
uint count_taps(int origin, uint k, uint dil, int lo, int hi) {
    uint n = 0u;
    for (uint r = 0u; r < k; ++r) {
        int h = origin + int(r * dil);
        if (h >= lo && h < hi) ++n;
    }
    return n;
}

float divisor(uint p, uint q) {
    int padh = pc.include_pad != 0u ? int(pc.ph) : 0, padw = pc.include_pad != 0u ? int(pc.pw) : 0;
    uint rows = count_taps(int(p * pc.sh) - int(pc.ph), pc.R, pc.dh, -padh, int(pc.H) + padh);
    uint cols = count_taps(int(q * pc.sw) - int(pc.pw), pc.S, pc.dw, -padw, int(pc.W) + padw);
    return float(rows * cols);
}

// Flat input index (within the plane) of the max of window (p, q); -1 for a window without taps.
int window_argmax(uint plane, uint p, uint q) {
    int h0 = int(p * pc.sh) - int(pc.ph), w0 = int(q * pc.sw) - int(pc.pw);
    float m = uintBitsToFloat(0xFF800000u);  // -inf
    int best = -1, first = -1;
    for (uint r = 0u; r < pc.R; ++r) {
        int h = h0 + int(r * pc.dh);
        if (h < 0 || h >= int(pc.H)) continue;
        for (uint s = 0u; s < pc.S; ++s) {
            int w = w0 + int(s * pc.dw);
            if (w < 0 || w >= int(pc.W)) continue;
            int i = h * int(pc.W) + w;
            if (first < 0) first = i;
            float x = a.v[plane * pc.H * pc.W + uint(i)];
            if (x > m || isnan(x)) { m = x; best = i; }
        }
    }
    return best >= 0 ? best : first;
}

void main() {
    uint step = gl_NumWorkGroups.x * 256u;
    uint PQ = pc.P * pc.Q, NPQ = pc.N * PQ;
    for (uint t = gl_GlobalInvocationID.x; t < pc.total; t += step) {
        if (MODE == 0u) {  // t over [C*R*S, N*P*Q]
            uint row = t / NPQ, col = t % NPQ;
            uint c = row / (pc.R * pc.S), r = (row / pc.S) % pc.R, s = row % pc.S;
            uint n = col / PQ, p = (col / pc.Q) % pc.P, q = col % pc.Q;
            int h = int(p * pc.sh + r * pc.dh) - int(pc.ph), w = int(q * pc.sw + s * pc.dw) - int(pc.pw);
            bool inside = h >= 0 && h < int(pc.H) && w >= 0 && w < int(pc.W);
            o.v[t] = inside ? a.v[((n * pc.C + c) * pc.H + uint(h)) * pc.W + uint(w)] : 0.0;
        } else if (MODE == 1u || MODE == 3u || MODE == 5u) {  // t over [N, C, H, W]
            uint w = t % pc.W, h = (t / pc.W) % pc.H, plane = t / (pc.H * pc.W);
            uint n = plane / pc.C, c = plane % pc.C;
            float acc = 0.0;
            for (uint r = 0u; r < pc.R; ++r) {
                int hp = int(h + pc.ph) - int(r * pc.dh);
                if (hp < 0) break;
                if (uint(hp) % pc.sh != 0u) continue;
                uint p = uint(hp) / pc.sh;
                if (p >= pc.P) continue;
                for (uint s = 0u; s < pc.S; ++s) {
                    int wq = int(w + pc.pw) - int(s * pc.dw);
                    if (wq < 0) break;
                    if (uint(wq) % pc.sw != 0u) continue;
                    uint q = uint(wq) / pc.sw;
                    if (q >= pc.Q) continue;
                    if (MODE == 1u)
                        acc += a.v[((c * pc.R + r) * pc.S + s) * NPQ + n * PQ + p * pc.Q + q];
                    else if (MODE == 3u) {
                        if (window_argmax(plane, p, q) == int(h * pc.W + w)) acc += b.v[plane * PQ + p * pc.Q + q];
                    } else {
                        float d = divisor(p, q);
                        if (d > 0.0) acc += a.v[plane * PQ + p * pc.Q + q] / d;
                    }
                }
            }
            o.v[t] = acc;
        } else {  // modes 2 and 4, t over [N, C, P, Q]
            uint q = t % pc.Q, p = (t / pc.Q) % pc.P, plane = t / PQ;
            int h0 = int(p * pc.sh) - int(pc.ph), w0 = int(q * pc.sw) - int(pc.pw);
            float m = uintBitsToFloat(0xFF800000u), acc = 0.0;
            for (uint r = 0u; r < pc.R; ++r) {
                int h = h0 + int(r * pc.dh);
                if (h < 0 || h >= int(pc.H)) continue;
                for (uint s = 0u; s < pc.S; ++s) {
                    int w = w0 + int(s * pc.dw);
                    if (w < 0 || w >= int(pc.W)) continue;
                    float x = a.v[(plane * pc.H + uint(h)) * pc.W + uint(w)];
                    if (x > m || isnan(x)) m = x;
                    acc += x;
                }
            }
            if (MODE == 2u) {
                o.v[t] = m;
            } else {
                float d = divisor(p, q);
                o.v[t] = d > 0.0 ? acc / d : 0.0;
            }
        }
    }
}
