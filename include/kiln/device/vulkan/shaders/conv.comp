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

// The geometry is specialised: kiln's shapes are compile-time, so each convolution or pooling
// layer gets its own pipeline with every division by a constant.
layout(constant_id = 1) const uint N = 1u;
layout(constant_id = 2) const uint C = 1u;
layout(constant_id = 3) const uint H = 1u;
layout(constant_id = 4) const uint W = 1u;
layout(constant_id = 5) const uint R = 1u;
layout(constant_id = 6) const uint S = 1u;
layout(constant_id = 7) const uint SH = 1u;
layout(constant_id = 8) const uint SW = 1u;
layout(constant_id = 9) const uint PH = 0u;
layout(constant_id = 10) const uint PW = 0u;
layout(constant_id = 11) const uint DH = 1u;
layout(constant_id = 12) const uint DW = 1u;
layout(constant_id = 13) const uint P = 1u;
layout(constant_id = 14) const uint Q = 1u;
layout(constant_id = 15) const uint INCLUDE_PAD = 1u;
layout(constant_id = 16) const uint TOTAL = 1u;

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
    int padh = INCLUDE_PAD != 0u ? int(PH) : 0, padw = INCLUDE_PAD != 0u ? int(PW) : 0;
    uint rows = count_taps(int(p * SH) - int(PH), R, DH, -padh, int(H) + padh);
    uint cols = count_taps(int(q * SW) - int(PW), S, DW, -padw, int(W) + padw);
    return float(rows * cols);
}

// Flat input index (within the plane) of the max of window (p, q); -1 for a window without taps.
int window_argmax(uint plane, uint p, uint q) {
    int h0 = int(p * SH) - int(PH), w0 = int(q * SW) - int(PW);
    float m = uintBitsToFloat(0xFF800000u);  // -inf
    int best = -1, first = -1;
    for (uint r = 0u; r < R; ++r) {
        int h = h0 + int(r * DH);
        if (h < 0 || h >= int(H)) continue;
        for (uint s = 0u; s < S; ++s) {
            int w = w0 + int(s * DW);
            if (w < 0 || w >= int(W)) continue;
            int i = h * int(W) + w;
            if (first < 0) first = i;
            float x = a.v[plane * H * W + uint(i)];
            if (x > m || isnan(x)) { m = x; best = i; }
        }
    }
    return best >= 0 ? best : first;
}

void main() {
    uint step = gl_NumWorkGroups.x * 256u;
    uint PQ = P * Q, NPQ = N * PQ;
    for (uint t = gl_GlobalInvocationID.x; t < TOTAL; t += step) {
        if (MODE == 0u) {  // t over [C*R*S, N*P*Q]
            uint row = t / NPQ, col = t % NPQ;
            uint c = row / (R * S), r = (row / S) % R, s = row % S;
            uint n = col / PQ, p = (col / Q) % P, q = col % Q;
            int h = int(p * SH + r * DH) - int(PH), w = int(q * SW + s * DW) - int(PW);
            bool inside = h >= 0 && h < int(H) && w >= 0 && w < int(W);
            o.v[t] = inside ? a.v[((n * C + c) * H + uint(h)) * W + uint(w)] : 0.0;
        } else if (MODE == 1u || MODE == 3u || MODE == 5u) {  // t over [N, C, H, W]
            uint w = t % W, h = (t / W) % H, plane = t / (H * W);
            uint n = plane / C, c = plane % C;
            float acc = 0.0;
            for (uint r = 0u; r < R; ++r) {
                int hp = int(h + PH) - int(r * DH);
                if (hp < 0) break;
                if (uint(hp) % SH != 0u) continue;
                uint p = uint(hp) / SH;
                if (p >= P) continue;
                for (uint s = 0u; s < S; ++s) {
                    int wq = int(w + PW) - int(s * DW);
                    if (wq < 0) break;
                    if (uint(wq) % SW != 0u) continue;
                    uint q = uint(wq) / SW;
                    if (q >= Q) continue;
                    if (MODE == 1u)
                        acc += a.v[((c * R + r) * S + s) * NPQ + n * PQ + p * Q + q];
                    else if (MODE == 3u) {
                        if (window_argmax(plane, p, q) == int(h * W + w)) acc += b.v[plane * PQ + p * Q + q];
                    } else {
                        float d = divisor(p, q);
                        if (d > 0.0) acc += a.v[plane * PQ + p * Q + q] / d;
                    }
                }
            }
            o.v[t] = acc;
        } else {  // modes 2 and 4, t over [N, C, P, Q]
            uint q = t % Q, p = (t / Q) % P, plane = t / PQ;
            int h0 = int(p * SH) - int(PH), w0 = int(q * SW) - int(PW);
            float m = uintBitsToFloat(0xFF800000u), acc = 0.0;
            for (uint r = 0u; r < R; ++r) {
                int h = h0 + int(r * DH);
                if (h < 0 || h >= int(H)) continue;
                for (uint s = 0u; s < S; ++s) {
                    int w = w0 + int(s * DW);
                    if (w < 0 || w >= int(W)) continue;
                    float x = a.v[(plane * H + uint(h)) * W + uint(w)];
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
