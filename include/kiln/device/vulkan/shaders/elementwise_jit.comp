// The fused elementwise program of elementwise.comp, specialised: the instructions, their
// count, the output rank and which leaves are contiguous are specialisation constants, so the
// driver compiles each expression into straight-line code (the interpreter's loop, its opcode
// switches and its stack array fold away; the stack lives in registers). One pipeline per
// distinct expression, built once and cached: for GPUs, where elementwise.comp's interpreter
// keeps its stack in local memory. CPU devices (lavapipe) keep the interpreter, whose one
// pipeline compiles once. Same bindings and parameter block as elementwise.comp.
#version 450
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x = 256) in;

layout(constant_id = 0) const uint N_CODE = 1u;
layout(constant_id = 1) const uint CONTIG = 0u;  // bit j: leaf j is read at leaf_offset[j] + i
layout(constant_id = 2) const uint RANK = 1u;
#define K(i) layout(constant_id = 3 + i) const uint K##i = 0u;
K(0) K(1) K(2) K(3) K(4) K(5) K(6) K(7) K(8) K(9) K(10) K(11) K(12) K(13) K(14) K(15)
K(16) K(17) K(18) K(19) K(20) K(21) K(22) K(23) K(24) K(25) K(26) K(27) K(28) K(29) K(30) K(31)
K(32) K(33) K(34) K(35) K(36) K(37) K(38) K(39) K(40) K(41) K(42) K(43) K(44) K(45) K(46) K(47)
K(48) K(49) K(50) K(51) K(52) K(53) K(54) K(55) K(56) K(57) K(58) K(59) K(60) K(61) K(62) K(63)
#undef K
uint code_at(uint p) {  // K<p>; folds to a constant once p is one
    switch (p) {
        case 0u: return K0;
        case 1u: return K1;
        case 2u: return K2;
        case 3u: return K3;
        case 4u: return K4;
        case 5u: return K5;
        case 6u: return K6;
        case 7u: return K7;
        case 8u: return K8;
        case 9u: return K9;
        case 10u: return K10;
        case 11u: return K11;
        case 12u: return K12;
        case 13u: return K13;
        case 14u: return K14;
        case 15u: return K15;
        case 16u: return K16;
        case 17u: return K17;
        case 18u: return K18;
        case 19u: return K19;
        case 20u: return K20;
        case 21u: return K21;
        case 22u: return K22;
        case 23u: return K23;
        case 24u: return K24;
        case 25u: return K25;
        case 26u: return K26;
        case 27u: return K27;
        case 28u: return K28;
        case 29u: return K29;
        case 30u: return K30;
        case 31u: return K31;
        case 32u: return K32;
        case 33u: return K33;
        case 34u: return K34;
        case 35u: return K35;
        case 36u: return K36;
        case 37u: return K37;
        case 38u: return K38;
        case 39u: return K39;
        case 40u: return K40;
        case 41u: return K41;
        case 42u: return K42;
        case 43u: return K43;
        case 44u: return K44;
        case 45u: return K45;
        case 46u: return K46;
        case 47u: return K47;
        case 48u: return K48;
        case 49u: return K49;
        case 50u: return K50;
        case 51u: return K51;
        case 52u: return K52;
        case 53u: return K53;
        case 54u: return K54;
        case 55u: return K55;
        case 56u: return K56;
        case 57u: return K57;
        case 58u: return K58;
        case 59u: return K59;
        case 60u: return K60;
        case 61u: return K61;
        case 62u: return K62;
        default: return K63;
    }
}

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

// One instruction; with `ins` a constant every branch but one folds away.
void step(uint ins, inout float st[16], inout int sp, uint i, uint c[6]) {
    uint op = ins >> 24;
    uint arg = ins & 0xFFFFFFu;
    if (op == LEAF) {
        uint idx = prog.leaf_offset[arg];
        if ((CONTIG & (1u << arg)) != 0u) {
            idx += i;
        } else {
            for (uint k = 0u; k < RANK; ++k) idx += c[k] * prog.leaf_strides[arg * 6u + k];
        }
        st[sp++] = load_leaf(arg, idx);
        return;
    }
    if (op == CONST) {
        st[sp++] = prog.consts[arg];
        return;
    }
    if (op >= ADD && op <= NE) {
        float b = st[--sp];
        float a = st[sp - 1];
        float r;
        if (op == ADD) r = a + b;
        else if (op == SUB) r = a - b;
        else if (op == MUL) r = a * b;
        else if (op == DIV) r = a / b;
        else if (op == MAXIMUM) r = (a >= b || isnan(a)) ? a : b;
        else if (op == MINIMUM) r = (a <= b || isnan(a)) ? a : b;
        else if (op == POW) r = kpow(a, b);
        else if (op == LT) r = a < b ? 1.0 : 0.0;
        else if (op == LE) r = a <= b ? 1.0 : 0.0;
        else if (op == GT) r = a > b ? 1.0 : 0.0;
        else if (op == GE) r = a >= b ? 1.0 : 0.0;
        else if (op == EQ) r = a == b ? 1.0 : 0.0;
        else r = (a == b) ? 0.0 : 1.0;
        st[sp - 1] = r;
        return;
    }
    if (op == WHERE) {
        float b = st[--sp];
        float a = st[--sp];
        st[sp - 1] = (st[sp - 1] == 0.0) ? b : a;
        return;
    }
    float x = st[sp - 1];
    float r;
    if (op == NEG) r = -x;
    else if (op == EXP) r = exp(x);
    else if (op == LOG) r = log(x);
    else if (op == SQRT) r = sqrt(x);
    else if (op == TANH) r = tanh(clamp(x, -15.0, 15.0));
    else if (op == ABS) r = abs(x);
    else if (op == SIGMOID) r = 1.0 / (1.0 + exp(-x));
    else if (op == RELU) r = isnan(x) ? x : max(x, 0.0);
    else if (op == POW_CONST) r = kpow(x, prog.consts[arg]);
    else if (op == CLAMP) r = isnan(x) ? x : min(max(x, prog.consts[arg]), prog.consts[arg + 1u]);
    else if (op == SQUARE) r = x * x;
    else if (op == RECIPROCAL) r = 1.0 / x;
    else if (op == ERF) {
        float t = 1.0 / (1.0 + 0.3275911 * abs(x));
        float y = 1.0 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t *
                        exp(-x * x);
        r = x < 0.0 ? -y : y;
    } else r = x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : x);
    st[sp - 1] = r;
}

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    const uint all = (1u << 8) - 1u;
    for (uint i = gl_GlobalInvocationID.x; i < pc.total; i += stride) {
        uint c[6] = uint[6](0u, 0u, 0u, 0u, 0u, 0u);
        if ((CONTIG | ~((1u << prog.n_leaves) - 1u)) != ~0u) {  // some leaf needs coordinates
            uint rem = i;
            for (int k = int(RANK) - 1; k >= 0; --k) {
                uint e = prog.extents[k];
                c[k] = rem % e;
                rem /= e;
            }
        }
        float st[16];
        int sp = 0;
        // Unrolled by the driver once N_CODE is known: code_at(p) is then a constant.
        [[unroll]] for (uint p = 0u; p < N_CODE; ++p) step(code_at(p), st, sp, i, c);
        dst.v[pc.out_offset + i] = st[0];
    }
}
