/* quant.h — tensor element formats: ggml-identical block layouts, fp16/bf16
 * conversion, and one traits entry per supported type (dequantize a row, quantize a
 * row, scalar dot product against the type's activation format).
 *
 * The dot convention follows ggml: a weight row of type T is multiplied with an
 * activation row that was first converted to traits(T)->vec_dot_type (F32 for F32,
 * F16 for F16, BF16 for BF16, Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for
 * the k-quants). Matching this is what makes our logits equal llama.cpp's. */
#ifndef WISP_QUANT_H
#define WISP_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ggml_types.h"

typedef uint16_t wisp_fp16;
typedef uint16_t wisp_bf16;

float wisp_fp16_to_fp32(wisp_fp16 h);
wisp_fp16 wisp_fp32_to_fp16(float f);   /* round to nearest even, as F16C / ggml */
float wisp_bf16_to_fp32(wisp_bf16 h);
wisp_bf16 wisp_fp32_to_bf16(float f);   /* round to nearest even, NaN kept quiet, as ggml */

/* n is the number of elements (a multiple of the type's block size). */
typedef void (*wisp_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*wisp_from_float_fn)(const float *src, void *dst, int64_t n);
/* Dot product of one row x (this type) with one row y (vec_dot_type), n elements. */
typedef float (*wisp_vec_dot_fn)(int64_t n, const void *x, const void *y);
/* Four activation rows at once: out[c] = vec_dot(n, x, y + c*by), c = 0..3. Lets a
 * prefill matmul decode each weight block once for four tokens. */
typedef void (*wisp_vec_dot4_fn)(int64_t n, const void *x, const void *y, size_t by, float out[4]);
/* Four weight rows at once: out[k] = vec_dot(n, x + k*bx, y), k = 0..3. Lets a decode
 * matmul (one token) read each activation block once for four rows. */
typedef void (*wisp_vec_dot_rows4_fn)(int64_t n, const void *x, size_t bx, const void *y, float out[4]);

typedef struct wisp_quant_traits {
    uint32_t type;
    const char *name;
    uint32_t blck_size;
    uint32_t type_size;
    wisp_to_float_fn to_float;      /* dequantize */
    wisp_from_float_fn from_float;  /* quantize (reference rounding, as ggml's quantize_row_*_ref) */
    wisp_vec_dot_fn vec_dot;        /* NULL for activation-only types (Q8_1, Q8_K) */
    uint32_t vec_dot_type;
    /* The fastest build-time choice sits in from_float/vec_dot above (the SIMD128
     * kernels when compiled in; bit-identical results). The scalar kernels stay
     * reachable as the oracle for tests: */
    wisp_from_float_fn from_float_ref;
    wisp_vec_dot_fn vec_dot_ref;
    wisp_vec_dot4_fn vec_dot4;      /* NULL: call vec_dot per token */
    /* Optional faster path (SIMD builds): a matmul converts each vec_dot_type activation
     * row once with act_prep into act_prep_size(n) bytes, then uses vec_dot_p /
     * vec_dot4_p on it. Same results as vec_dot / vec_dot4. A row may also be prepared
     * in pieces of act_prep_unit elements: the piece at element e (a multiple of the
     * unit) starts at byte act_prep_size(e) of the prepared row. */
    size_t (*act_prep_size)(int64_t n);
    void (*act_prep)(const void *y, void *yp, int64_t n);
    wisp_vec_dot_fn vec_dot_p;
    wisp_vec_dot4_fn vec_dot4_p;
    /* fewest tokens per matmul for which the prepared path is faster (it may redo some
     * weight work per row that only pays off when shared by several tokens) */
    uint32_t prep_min_tokens;
    uint32_t act_prep_unit;
    /* four rows against one prepared activation row (NULL: vec_dot_p row by row) */
    wisp_vec_dot_rows4_fn vec_dot_p_rows4;
} wisp_quant_traits;

/* Traits of a type id, or NULL when wisp cannot compute with that type. */
const wisp_quant_traits *wisp_quant_get(uint32_t type);

/* Bytes of a row of n elements of `type` (n a multiple of the block size). */
size_t wisp_row_size(uint32_t type, int64_t n);

/* ---------------------------------------------------------------- block layouts
 * Byte-identical to ggml-common.h (GGUF tensor data is these structs back to back).
 * Rows must be 2-byte aligned (4-byte for block_q8_K, which holds a float). */

#define WISP_QK4_0 32
#define WISP_QK4_1 32
#define WISP_QK5_0 32
#define WISP_QK5_1 32
#define WISP_QK8_0 32
#define WISP_QK8_1 32
#define WISP_QK_K 256
#define WISP_K_SCALE_SIZE 12

/* 2 + 16 = 18 bytes / 32 = 4.5 bpw. x = d * (q - 8), q in 0..15; element j in the low
 * nibble of qs[j], element j+16 in the high nibble. */
typedef struct { wisp_fp16 d; uint8_t qs[WISP_QK4_0 / 2]; } block_q4_0;
_Static_assert(sizeof(block_q4_0) == 2 + WISP_QK4_0 / 2, "block_q4_0 size");

/* 2 + 2 + 16 = 20 bytes / 32 = 5 bpw. x = d * q + m, q in 0..15 (nibbles as Q4_0). */
typedef struct { wisp_fp16 d; wisp_fp16 m; uint8_t qs[WISP_QK4_1 / 2]; } block_q4_1;
_Static_assert(sizeof(block_q4_1) == 4 + WISP_QK4_1 / 2, "block_q4_1 size");

/* 2 + 4 + 16 = 22 bytes / 32 = 5.5 bpw. x = d * (q - 16), q in 0..31; low 4 bits as
 * Q4_0, bit j of qh (little-endian u32) is the 5th bit of element j. */
typedef struct { wisp_fp16 d; uint8_t qh[4]; uint8_t qs[WISP_QK5_0 / 2]; } block_q5_0;
_Static_assert(sizeof(block_q5_0) == 2 + 4 + WISP_QK5_0 / 2, "block_q5_0 size");

/* 2 + 2 + 4 + 16 = 24 bytes / 32 = 6 bpw. x = d * q + m, q in 0..31 (bits as Q5_0). */
typedef struct { wisp_fp16 d; wisp_fp16 m; uint8_t qh[4]; uint8_t qs[WISP_QK5_1 / 2]; } block_q5_1;
_Static_assert(sizeof(block_q5_1) == 4 + 4 + WISP_QK5_1 / 2, "block_q5_1 size");

/* 2 + 32 = 34 bytes / 32 = 8.5 bpw. x = d * q, q in -127..127. */
typedef struct { wisp_fp16 d; int8_t qs[WISP_QK8_0]; } block_q8_0;
_Static_assert(sizeof(block_q8_0) == 2 + WISP_QK8_0, "block_q8_0 size");

/* 2 + 2 + 32 = 36 bytes / 32 = 9 bpw (activations of Q4_1/Q5_1). x = d * q;
 * s = d * sum(q) (d as float before fp16 rounding), so the weight's m term is one multiply. */
typedef struct { wisp_fp16 d; wisp_fp16 s; int8_t qs[WISP_QK8_1]; } block_q8_1;
_Static_assert(sizeof(block_q8_1) == 4 + WISP_QK8_1, "block_q8_1 size");

/* 16 + 64 + 2 + 2 = 84 bytes / 256 = 2.625 bpw. 16 sub-blocks of 16; scales[i] low
 * nibble = scale, high nibble = min; x = d*sc*q - dmin*m, q in 0..3. qs: each 128
 * elements use 32 bytes, element 32*k + l of that half at bits 2k of qs[l]. */
typedef struct {
    uint8_t scales[WISP_QK_K / 16];
    uint8_t qs[WISP_QK_K / 4];
    wisp_fp16 d;
    wisp_fp16 dmin;
} block_q2_K;
_Static_assert(sizeof(block_q2_K) == 2 * 2 + WISP_QK_K / 16 + WISP_QK_K / 4, "block_q2_K size");

/* 32 + 64 + 12 + 2 = 110 bytes / 256 = 3.4375 bpw. 16 sub-blocks of 16 with 6-bit
 * signed scales (stored +32, packed in 12 bytes); x = d*(sc-32)*(q - 4*!hbit), q low
 * 2 bits as Q2_K, hmask bit k of byte l is the high bit of element 32*k + l. */
typedef struct {
    uint8_t hmask[WISP_QK_K / 8];
    uint8_t qs[WISP_QK_K / 4];
    uint8_t scales[12];
    wisp_fp16 d;
} block_q3_K;
_Static_assert(sizeof(block_q3_K) == 2 + WISP_QK_K / 4 + WISP_QK_K / 8 + 12, "block_q3_K size");

/* 2 + 2 + 12 + 128 = 144 bytes / 256 = 4.5 bpw. 8 sub-blocks of 32 with 6-bit scale
 * and min (packed as get_scale_min_k4); x = d*sc*q - dmin*m, q in 0..15; each 64
 * elements = 32 bytes, low nibbles the first 32, high nibbles the next 32. */
typedef struct {
    wisp_fp16 d;
    wisp_fp16 dmin;
    uint8_t scales[WISP_K_SCALE_SIZE];
    uint8_t qs[WISP_QK_K / 2];
} block_q4_K;
_Static_assert(sizeof(block_q4_K) == 2 * 2 + WISP_K_SCALE_SIZE + WISP_QK_K / 2, "block_q4_K size");

/* 2 + 2 + 12 + 32 + 128 = 176 bytes / 256 = 5.5 bpw. As Q4_K plus a 5th bit: bit 2k
 * (low nibbles) / 2k+1 (high nibbles) of qh[l] for the k-th 64-element chunk. */
typedef struct {
    wisp_fp16 d;
    wisp_fp16 dmin;
    uint8_t scales[WISP_K_SCALE_SIZE];
    uint8_t qh[WISP_QK_K / 8];
    uint8_t qs[WISP_QK_K / 2];
} block_q5_K;
_Static_assert(sizeof(block_q5_K) == 2 * 2 + WISP_K_SCALE_SIZE + WISP_QK_K / 8 + WISP_QK_K / 2,
               "block_q5_K size");

/* 128 + 64 + 16 + 2 = 210 bytes / 256 = 6.5625 bpw. 16 sub-blocks of 16 with int8
 * scales; x = d*sc*(q - 32), q in 0..63: low 4 bits in ql, high 2 bits in qh. */
typedef struct {
    uint8_t ql[WISP_QK_K / 2];
    uint8_t qh[WISP_QK_K / 4];
    int8_t scales[WISP_QK_K / 16];
    wisp_fp16 d;
} block_q6_K;
_Static_assert(sizeof(block_q6_K) == WISP_QK_K / 16 + 3 * WISP_QK_K / 4 + 2, "block_q6_K size");

/* 4 + 256 + 32 = 292 bytes / 256 = 9.125 bpw (activations of the k-quants only).
 * x = d * q; bsums[i] = sum of qs[16i .. 16i+15], so the k-quants' min terms cost 16 MACs. */
typedef struct {
    float d;
    int8_t qs[WISP_QK_K];
    int16_t bsums[WISP_QK_K / 16];
} block_q8_K;
_Static_assert(sizeof(block_q8_K) == 4 + WISP_QK_K + WISP_QK_K / 16 * 2, "block_q8_K size");

/* ---------------------------------------------------------------- inline conversions
 * The exported wisp_fp16_to_fp32 & co. call these; kernels use them directly so hot
 * loops have no cross-file calls. Pure bit manipulation: exact, thread-safe, no tables. */

static inline uint32_t wisp_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}
static inline float wisp_f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

/* Exact. NaN payloads are kept (not quieted), so every half survives a round trip
 * through fp32 except that signalling NaNs come back quiet. Three candidate results
 * and a select, no NaN arithmetic: compilers vectorise it, and wasm's NaN
 * canonicalisation cannot touch it. */
static inline float wisp_fp16_to_fp32_inline(wisp_fp16 h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t nonsign = h & 0x7fffu;
    const uint32_t exp = nonsign >> 10;
    const uint32_t normal = (nonsign << 13) + (112u << 23);          /* rebias 15 -> 127 */
    const uint32_t special = (nonsign << 13) | 0x7f800000u;         /* inf / NaN */
    const uint32_t sub = wisp_f32_bits((float)nonsign * 5.9604644775390625e-8f); /* mant * 2^-24 */
    /* select with masks, not ?:, so GCC's -O2 vectoriser sees no control flow */
    const uint32_t is_sub = 0u - (uint32_t)(exp == 0);
    const uint32_t is_special = 0u - (uint32_t)(exp == 31);
    const uint32_t r = (sub & is_sub) | (special & is_special) | (normal & ~(is_sub | is_special));
    return wisp_f32_from_bits(sign | r);
}

/* Every half's fp32 bits (wisp_fp16_to_fp32_inline of each of the 65536 values, NaN
 * payloads kept), filled before main / at wasm instantiation (quant.c). The SIMD kernels
 * convert the weights' block scales with it: one load instead of a dozen operations per
 * scale, 15-20% of a decode matmul's time in V8. 256 KiB, read sparsely (a model's scales
 * cluster in a few binades). */
extern uint32_t wisp_fp16_table[65536];
static inline float wisp_fp16_to_fp32_table(wisp_fp16 h) { return wisp_f32_from_bits(wisp_fp16_table[h]); }

/* Round to nearest, ties to even, like F16C's VCVTPS2PH with imm 0 (what ggml uses on
 * x86). Overflow (|f| >= 65520) gives inf; NaN stays NaN (payload top bits kept, quiet). */
static inline wisp_fp16 wisp_fp32_to_fp16_inline(float f) {
    const uint32_t x = wisp_f32_bits(f);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    const uint32_t a = x & 0x7fffffffu;
    if (a >= 0x7f800000u) {
        if (a == 0x7f800000u) return (wisp_fp16)(sign | 0x7c00u);
        return (wisp_fp16)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    }
    if (a >= 0x477ff000u) return (wisp_fp16)(sign | 0x7c00u); /* >= 65520: rounds up past 65504 */
    if (a >= 0x38800000u) {                                     /* normal half (>= 2^-14) */
        /* rebias the exponent, then round the 13 dropped mantissa bits; a carry
         * correctly bumps the exponent */
        const uint32_t r = a - (112u << 23);
        const uint32_t h = (r + 0x0fffu + ((r >> 13) & 1u)) >> 13;
        return (wisp_fp16)(sign | h);
    }
    if (a <= 0x33000000u) return sign; /* <= 2^-25: rounds to zero (2^-25 ties to even 0) */
    /* subnormal half: value / 2^-24 = m * 2^(e - 126) with 1 <= 126 - e <= 24 */
    {
        const uint32_t e = a >> 23;
        const uint32_t m = (a & 0x7fffffu) | 0x800000u;
        const uint32_t shift = 126u - e;
        const uint32_t q = m >> shift;
        const uint32_t rem = m & ((1u << shift) - 1u);
        const uint32_t half = 1u << (shift - 1u);
        const uint32_t h = q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);
        return (wisp_fp16)(sign | h);
    }
}

static inline float wisp_bf16_to_fp32_inline(wisp_bf16 h) {
    return wisp_f32_from_bits((uint32_t)h << 16);
}

/* ggml_compute_fp32_to_bf16: NaN -> quiet NaN (top bits kept), else round to nearest
 * even (subnormals rounded, not flushed; overflow to inf falls out of the carry). */
static inline wisp_bf16 wisp_fp32_to_bf16_inline(float f) {
    const uint32_t u = wisp_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (wisp_bf16)((u >> 16) | 64u);
    return (wisp_bf16)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

/* ---------------------------------------------------------------- k-quant kernels
 * Defined in quant_k.c and reached through the traits table; declared here so the
 * table (quant.c) and tests can name them. Same contracts as the traits fields. */
void wisp_dequantize_row_q2_K(const void *src, float *dst, int64_t n);
void wisp_dequantize_row_q3_K(const void *src, float *dst, int64_t n);
void wisp_dequantize_row_q4_K(const void *src, float *dst, int64_t n);
void wisp_dequantize_row_q5_K(const void *src, float *dst, int64_t n);
void wisp_dequantize_row_q6_K(const void *src, float *dst, int64_t n);
void wisp_dequantize_row_q8_K(const void *src, float *dst, int64_t n);
void wisp_quantize_row_q2_K(const float *src, void *dst, int64_t n);
void wisp_quantize_row_q3_K(const float *src, void *dst, int64_t n);
void wisp_quantize_row_q4_K(const float *src, void *dst, int64_t n);
void wisp_quantize_row_q5_K(const float *src, void *dst, int64_t n);
void wisp_quantize_row_q6_K(const float *src, void *dst, int64_t n);
void wisp_quantize_row_q8_K(const float *src, void *dst, int64_t n);
float wisp_vec_dot_q2_K_q8_K(int64_t n, const void *x, const void *y);
float wisp_vec_dot_q3_K_q8_K(int64_t n, const void *x, const void *y);
float wisp_vec_dot_q4_K_q8_K(int64_t n, const void *x, const void *y);
float wisp_vec_dot_q5_K_q8_K(int64_t n, const void *x, const void *y);
float wisp_vec_dot_q6_K_q8_K(int64_t n, const void *x, const void *y);

#endif
