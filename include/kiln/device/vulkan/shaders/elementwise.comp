// Fused elementwise interpreter: every output element runs the same small postfix program over
// up to 8 strided (broadcast) leaves, so a whole expression costs one dispatch and one pass
// over memory. The program lives in a parameter buffer (it is too large for push constants);
// its layout must match kiln::vk::detail::ew_params (checked by static_assert there).
#version 450

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer leaf0 { float v[]; } l0;
layout(std430, binding = 1) readonly buffer leaf1 { float v[]; } l1;
layout(std430, binding = 2) readonly buffer leaf2 { float v[]; } l2;
layout(std430, binding = 3) readonly buffer leaf3 { float v[]; } l3;
layout(std430, binding = 4) readonly buffer leaf4 { float v[]; } l4;
layout(std430, binding = 5) readonly buffer leaf5 { float v[]; } l5;
layout(std430, binding = 6) readonly buffer leaf6 { float v[]; } l6;
layout(std430, binding = 7) readonly buffer leaf7 { float v[]; } l7;
layout(std430, binding = 8) buffer result { float v[]; } dst;
layout(std430, binding = 9) readonly buffer program {
    uint rank;
    uint n_leaves;
    uint n_code;
    uint contiguous;         // bit j: leaf j is read at leaf_offset[j] + i (no index arithmetic)
    uint extents[6];
    uint leaf_offset[8];
    uint leaf_strides[48];   // [leaf][axis]
    uint code[64];           // (opcode << 24) | arg
    float consts[16];
} prog;

// Opcodes: kiln::vk::ew_opcode.
const uint LEAF = 1u, CONST = 2u, NEG = 3u, EXP = 4u, LOG = 5u, SQRT = 6u, TANH = 7u, ABS = 8u, SIGMOID = 9u,
           RELU = 10u, POW_CONST = 11u, CLAMP = 12u, ADD = 13u, SUB = 14u, MUL = 15u, DIV = 16u, MAXIMUM = 17u,
           MINIMUM = 18u, POW = 19u, LT = 20u, LE = 21u, GT = 22u, GE = 23u, EQ = 24u, NE = 25u, WHERE = 26u,
           SQUARE = 27u, RECIPROCAL = 28u, SIGN = 29u, ERF = 30u;

layout(push_constant) uniform push {
    uint out_offset;
    uint total;
} pc;

float load_leaf(uint j, uint idx) {
    switch (j) {
        case 0: return l0.v[idx];
        case 1: return l1.v[idx];
        case 2: return l2.v[idx];
        case 3: return l3.v[idx];
        case 4: return l4.v[idx];
        case 5: return l5.v[idx];
        case 6: return l6.v[idx];
        default: return l7.v[idx];
    }
}

// pow with C semantics for negative bases and integer exponents (GLSL's is undefined there).
float kpow(float a, float b) {
    if (b == 0.0) return 1.0;
    if (isnan(a) || isnan(b)) return a + b;
    if (a == 0.0) return b > 0.0 ? 0.0 : 1.0 / 0.0;
    float r = exp2(b * log2(abs(a)));
    if (a < 0.0) {
        if (floor(b) != b) return 0.0 / 0.0;
        if (mod(b, 2.0) != 0.0) r = -r;
    }
    return r;
}

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint rank = prog.rank, n_code = prog.n_code, contiguous = prog.contiguous;
    for (uint i = gl_GlobalInvocationID.x; i < pc.total; i += stride) {
        // Output coordinates, innermost axis last (row-major).
        uint c[6] = uint[6](0u, 0u, 0u, 0u, 0u, 0u);
        uint rem = i;
        for (int k = 5; k >= 0; --k) {
            if (uint(k) < rank) {
                uint e = prog.extents[k];
                c[k] = rem % e;
                rem /= e;
            }
        }
        float st[16];
        int sp = 0;
        for (uint p = 0u; p < n_code; ++p) {
            uint ins = prog.code[p];
            uint op = ins >> 24;
            uint arg = ins & 0xFFFFFFu;
            if (op <= CONST) {
                float v;
                if (op == LEAF) {
                    uint idx = prog.leaf_offset[arg];
                    if ((contiguous & (1u << arg)) != 0u) {
                        idx += i;
                    } else {
                        for (uint k = 0u; k < 6u; ++k)
                            if (k < rank) idx += c[k] * prog.leaf_strides[arg * 6u + k];
                    }
                    v = load_leaf(arg, idx);
                } else {
                    v = prog.consts[arg];
                }
                st[sp++] = v;
                continue;
            }
            if (op >= ADD && op <= NE) {  // binary and compare: pop b, pop a
                float b = st[--sp];
                float a = st[sp - 1];
                float r;
                switch (op) {
                    case ADD: r = a + b; break;
                    case SUB: r = a - b; break;
                    case MUL: r = a * b; break;
                    case DIV: r = a / b; break;
                    case MAXIMUM: r = (a >= b || isnan(a)) ? a : b; break;  // maximum: a on ties, NaN wins
                    case MINIMUM: r = (a <= b || isnan(a)) ? a : b; break;  // minimum
                    case POW: r = kpow(a, b); break;
                    case LT: r = a < b ? 1.0 : 0.0; break;
                    case LE: r = a <= b ? 1.0 : 0.0; break;
                    case GT: r = a > b ? 1.0 : 0.0; break;
                    case GE: r = a >= b ? 1.0 : 0.0; break;
                    case EQ: r = a == b ? 1.0 : 0.0; break;
                    default: r = (a == b) ? 0.0 : 1.0; break;          // ne: true for NaN
                }
                st[sp - 1] = r;
                continue;
            }
            if (op == WHERE) {  // where: pop b, pop a, pop c
                float b = st[--sp];
                float a = st[--sp];
                float cnd = st[sp - 1];
                st[sp - 1] = (cnd == 0.0) ? b : a;
                continue;
            }
            float x = st[sp - 1];
            float r;
            switch (op) {
                case NEG: r = -x; break;
                case EXP: r = exp(x); break;
                case LOG: r = log(x); break;
                case SQRT: r = sqrt(x); break;
                case TANH: r = tanh(clamp(x, -15.0, 15.0)); break;   // clamp keeps exp-based tanh finite
                case ABS: r = abs(x); break;
                case SIGMOID: r = 1.0 / (1.0 + exp(-x)); break;
                // relu and clamp keep NaN; the explicit isnan stops a driver from turning the
                // selects into min/max instructions that drop it (seen on NVIDIA).
                case RELU: r = isnan(x) ? x : max(x, 0.0); break;
                case POW_CONST: r = kpow(x, prog.consts[arg]); break;
                case CLAMP: r = isnan(x) ? x : min(max(x, prog.consts[arg]), prog.consts[arg + 1u]); break;
                case SQUARE: r = x * x; break;
                case RECIPROCAL: r = 1.0 / x; break;
                case ERF: {  // Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, below float rounding
                    float t = 1.0 / (1.0 + 0.3275911 * abs(x));
                    float y = 1.0 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t +
                                     0.254829592) * t * exp(-x * x);
                    r = x < 0.0 ? -y : y;
                    break;
                }
                default: r = x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : x); break;  // sign keeps 0, -0, NaN
            }
            st[sp - 1] = r;
        }
        dst.v[pc.out_offset + i] = st[0];
    }
}
