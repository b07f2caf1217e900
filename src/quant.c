/* quant.c — fp16/bf16 conversion, the float types and the 32-element quants (Q4_0 Q4_1
 * Q5_0 Q5_1 Q8_0 Q8_1), and the traits table. K-quants live in quant_k.c.
 *
 * Every kernel reproduces ggml's reference/generic scalar code operation for operation
 * (same integer sums, same float multiply order), because these are the oracle the SIMD
 * kernels are checked against and what makes our logits equal llama.cpp's. */
#include "quant.h"

#include <math.h>
#include <string.h>

#include "ggml_types.h"
#include "kernels_simd128.h"

/* a*b + c must round twice, as in ggml's C; clang would otherwise fuse it on FMA
 * targets (GCC in ISO C mode already defaults to -ffp-contract=off). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* ---------------------------------------------------------------- fp16 / bf16 */

uint32_t wisp_fp16_table[65536];

/* Runs before main natively, and in wasm when the module is instantiated (Emscripten's
 * __wasm_call_ctors, on the main thread, before any pthread starts): no kernel can run
 * before it, and nothing writes the table afterwards. */
__attribute__((constructor)) static void fp16_table_init(void) {
    for (uint32_t h = 0; h < 65536; h++) wisp_fp16_table[h] = wisp_f32_bits(wisp_fp16_to_fp32_inline((wisp_fp16)h));
}

float wisp_fp16_to_fp32(wisp_fp16 h) { return wisp_fp16_to_fp32_inline(h); }
wisp_fp16 wisp_fp32_to_fp16(float f) { return wisp_fp32_to_fp16_inline(f); }
float wisp_bf16_to_fp32(wisp_bf16 h) { return wisp_bf16_to_fp32_inline(h); }
wisp_bf16 wisp_fp32_to_bf16(float f) { return wisp_fp32_to_bf16_inline(f); }

#define FP16(h) wisp_fp16_to_fp32_inline(h)

/* ggml converts floats to small ints with plain casts, which is undefined behaviour for
 * NaN/inf input. These give the same result for every finite input and a harmless
 * value otherwise, so a diverged activation cannot crash the sanitizer builds. */
static inline int8_t round_i8(float v) { /* (int8_t)roundf(v) for v in [-128, 127] */
    const float r = roundf(v);
    if (!(r >= -128.0f)) return r < 0 ? -128 : 0; /* -inf or NaN */
    if (r > 127.0f) return 127;
    return (int8_t)r;
}
static inline int trunc_u(float v, int hi) { /* MIN(hi, (int)v) for v >= 0 */
    if (!(v >= 0.0f)) return 0;
    if (v >= (float)hi) return hi;
    return (int)v;
}

/* ---------------------------------------------------------------- F32, F16, BF16 */

static void f32_to_float(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}
static void f32_from_float(const float *src, void *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}
/* ggml's scalar path: float products, double accumulator (ggml_float). */
static float f32_vec_dot(int64_t n, const void *vx, const void *vy) {
    const float *x = (const float *)vx;
    const float *y = (const float *)vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * y[i]);
    return (float)sum;
}

static void f16_to_float(const void *src, float *dst, int64_t n) {
    const wisp_fp16 *x = (const wisp_fp16 *)src;
    for (int64_t i = 0; i < n; i++) dst[i] = FP16(x[i]);
}
static void f16_from_float(const float *src, void *dst, int64_t n) {
    wisp_fp16 *y = (wisp_fp16 *)dst;
    for (int64_t i = 0; i < n; i++) y[i] = wisp_fp32_to_fp16_inline(src[i]);
}
/* Products in chunks so their conversions vectorise; the sum itself must stay serial
 * (ggml's order), which is what bounds these loops. */
#define DOT_CHUNK 64
static float f16_vec_dot(int64_t n, const void *vx, const void *vy) {
    const wisp_fp16 *x = (const wisp_fp16 *)vx;
    const wisp_fp16 *y = (const wisp_fp16 *)vy;
    float prod[DOT_CHUNK];
    double sum = 0.0;
    for (int64_t i0 = 0; i0 < n; i0 += DOT_CHUNK) {
        const int m = n - i0 < DOT_CHUNK ? (int)(n - i0) : DOT_CHUNK;
        for (int k = 0; k < m; k++) prod[k] = FP16(x[i0 + k]) * FP16(y[i0 + k]);
        for (int k = 0; k < m; k++) sum += (double)prod[k];
    }
    return (float)sum;
}

static void bf16_to_float(const void *src, float *dst, int64_t n) {
    const wisp_bf16 *x = (const wisp_bf16 *)src;
    for (int64_t i = 0; i < n; i++) dst[i] = wisp_bf16_to_fp32_inline(x[i]);
}
static void bf16_from_float(const float *src, void *dst, int64_t n) {
    wisp_bf16 *y = (wisp_bf16 *)dst;
    for (int64_t i = 0; i < n; i++) y[i] = wisp_fp32_to_bf16_inline(src[i]);
}
static float bf16_vec_dot(int64_t n, const void *vx, const void *vy) {
    const wisp_bf16 *x = (const wisp_bf16 *)vx;
    const wisp_bf16 *y = (const wisp_bf16 *)vy;
    float prod[DOT_CHUNK];
    double sum = 0.0;
    for (int64_t i0 = 0; i0 < n; i0 += DOT_CHUNK) {
        const int m = n - i0 < DOT_CHUNK ? (int)(n - i0) : DOT_CHUNK;
        for (int k = 0; k < m; k++)
            prod[k] = wisp_bf16_to_fp32_inline(x[i0 + k]) * wisp_bf16_to_fp32_inline(y[i0 + k]);
        for (int k = 0; k < m; k++) sum += (double)prod[k];
    }
    return (float)sum;
}

/* ---------------------------------------------------------------- Q4_0 */

/* Scale from the signed value of largest magnitude, d = max / -8, so that value maps
 * exactly to q = 0 and the grid is used asymmetrically (-8..7), as ggml does. */
static void q4_0_from_float(const float *x, void *dst, int64_t n) {
    block_q4_0 *y = (block_q4_0 *)dst;
    const int64_t nb = n / WISP_QK4_0;
    for (int64_t i = 0; i < nb; i++, x += WISP_QK4_0) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < WISP_QK4_0; j++) {
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        }
        const float d = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = wisp_fp32_to_fp16_inline(d);
        for (int j = 0; j < WISP_QK4_0 / 2; j++) {
            const int q0 = trunc_u(x[j] * id + 8.5f, 15);
            const int q1 = trunc_u(x[j + WISP_QK4_0 / 2] * id + 8.5f, 15);
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void q4_0_to_float(const void *src, float *y, int64_t n) {
    const block_q4_0 *x = (const block_q4_0 *)src;
    const int64_t nb = n / WISP_QK4_0;
    for (int64_t i = 0; i < nb; i++, y += WISP_QK4_0) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < WISP_QK4_0 / 2; j++) {
            y[j] = (float)((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + WISP_QK4_0 / 2] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static float q4_0_vec_dot(int64_t n, const void *vx, const void *vy) {
    const block_q4_0 *x = (const block_q4_0 *)vx;
    const block_q8_0 *y = (const block_q8_0 *)vy;
    const int64_t nb = n / WISP_QK8_0;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int sumi = 0;
        for (int j = 0; j < WISP_QK8_0 / 2; j++) {
            sumi += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + WISP_QK8_0 / 2];
        }
        /* ggml: sumi*dx*dy, i.e. (sumi*dx)*dy */
        sumf += (float)sumi * FP16(x[i].d) * FP16(y[i].d);
    }
    return sumf;
}

/* ---------------------------------------------------------------- Q4_1 */

static void q4_1_from_float(const float *x, void *dst, int64_t n) {
    block_q4_1 *y = (block_q4_1 *)dst;
    const int64_t nb = n / WISP_QK4_1;
    for (int64_t i = 0; i < nb; i++, x += WISP_QK4_1) {
        float min = x[0], max = x[0];
        for (int j = 1; j < WISP_QK4_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = wisp_fp32_to_fp16_inline(d);
        y[i].m = wisp_fp32_to_fp16_inline(min);
        for (int j = 0; j < WISP_QK4_1 / 2; j++) {
            const int q0 = trunc_u((x[j] - min) * id + 0.5f, 15);
            const int q1 = trunc_u((x[j + WISP_QK4_1 / 2] - min) * id + 0.5f, 15);
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void q4_1_to_float(const void *src, float *y, int64_t n) {
    const block_q4_1 *x = (const block_q4_1 *)src;
    const int64_t nb = n / WISP_QK4_1;
    for (int64_t i = 0; i < nb; i++, y += WISP_QK4_1) {
        const float d = FP16(x[i].d);
        const float m = FP16(x[i].m);
        for (int j = 0; j < WISP_QK4_1 / 2; j++) {
            y[j] = (float)(x[i].qs[j] & 0x0F) * d + m;
            y[j + WISP_QK4_1 / 2] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

static float q4_1_vec_dot(int64_t n, const void *vx, const void *vy) {
    const block_q4_1 *x = (const block_q4_1 *)vx;
    const block_q8_1 *y = (const block_q8_1 *)vy;
    const int64_t nb = n / WISP_QK8_1;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int sumi = 0;
        for (int j = 0; j < WISP_QK8_1 / 2; j++) {
            sumi += (x[i].qs[j] & 0x0F) * y[i].qs[j];
            sumi += (x[i].qs[j] >> 4) * y[i].qs[j + WISP_QK8_1 / 2];
        }
        /* the min term: sum(m * dy * qy) = m * s */
        sumf += (FP16(x[i].d) * FP16(y[i].d)) * (float)sumi + FP16(x[i].m) * FP16(y[i].s);
    }
    return sumf;
}

/* ---------------------------------------------------------------- Q5_0 */

static uint32_t load_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void store_u32le(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void q5_0_from_float(const float *x, void *dst, int64_t n) {
    block_q5_0 *y = (block_q5_0 *)dst;
    const int64_t nb = n / WISP_QK5_0;
    for (int64_t i = 0; i < nb; i++, x += WISP_QK5_0) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < WISP_QK5_0; j++) {
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        }
        const float d = max / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = wisp_fp32_to_fp16_inline(d);
        uint32_t qh = 0;
        for (int j = 0; j < WISP_QK5_0 / 2; j++) {
            const uint32_t q0 = (uint32_t)trunc_u(x[j] * id + 16.5f, 31);
            const uint32_t q1 = (uint32_t)trunc_u(x[j + WISP_QK5_0 / 2] * id + 16.5f, 31);
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= ((q0 >> 4) & 1u) << j;
            qh |= ((q1 >> 4) & 1u) << (j + WISP_QK5_0 / 2);
        }
        store_u32le(y[i].qh, qh);
    }
}

static void q5_0_to_float(const void *src, float *y, int64_t n) {
    const block_q5_0 *x = (const block_q5_0 *)src;
    const int64_t nb = n / WISP_QK5_0;
    for (int64_t i = 0; i < nb; i++, y += WISP_QK5_0) {
        const float d = FP16(x[i].d);
        const uint32_t qh = load_u32le(x[i].qh);
        for (int j = 0; j < WISP_QK5_0 / 2; j++) {
            const int h0 = (int)((qh >> j) & 1u) << 4;
            const int h1 = (int)((qh >> (j + WISP_QK5_0 / 2)) & 1u) << 4;
            y[j] = (float)(((x[i].qs[j] & 0x0F) | h0) - 16) * d;
            y[j + WISP_QK5_0 / 2] = (float)(((x[i].qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

static float q5_0_vec_dot(int64_t n, const void *vx, const void *vy) {
    const block_q5_0 *x = (const block_q5_0 *)vx;
    const block_q8_0 *y = (const block_q8_0 *)vy;
    const int64_t nb = n / WISP_QK8_0;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint32_t qh = load_u32le(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < WISP_QK8_0 / 2; j++) {
            const int h0 = (int)((qh >> j) & 1u) << 4;
            const int h1 = (int)((qh >> (j + WISP_QK8_0 / 2)) & 1u) << 4;
            sumi += (((x[i].qs[j] & 0x0F) | h0) - 16) * y[i].qs[j];
            sumi += (((x[i].qs[j] >> 4) | h1) - 16) * y[i].qs[j + WISP_QK8_0 / 2];
        }
        sumf += (FP16(x[i].d) * FP16(y[i].d)) * (float)sumi;
    }
    return sumf;
}

/* ---------------------------------------------------------------- Q5_1 */

static void q5_1_from_float(const float *x, void *dst, int64_t n) {
    block_q5_1 *y = (block_q5_1 *)dst;
    const int64_t nb = n / WISP_QK5_1;
    for (int64_t i = 0; i < nb; i++, x += WISP_QK5_1) {
        float min = x[0], max = x[0];
        for (int j = 1; j < WISP_QK5_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 31;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = wisp_fp32_to_fp16_inline(d);
        y[i].m = wisp_fp32_to_fp16_inline(min);
        uint32_t qh = 0;
        for (int j = 0; j < WISP_QK5_1 / 2; j++) {
            /* ggml has no clamp here: (x-min)*id + 0.5 < 32 for finite input */
            const uint32_t q0 = (uint32_t)trunc_u((x[j] - min) * id + 0.5f, 31);
            const uint32_t q1 = (uint32_t)trunc_u((x[j + WISP_QK5_1 / 2] - min) * id + 0.5f, 31);
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= ((q0 >> 4) & 1u) << j;
            qh |= ((q1 >> 4) & 1u) << (j + WISP_QK5_1 / 2);
        }
        store_u32le(y[i].qh, qh);
    }
}

static void q5_1_to_float(const void *src, float *y, int64_t n) {
    const block_q5_1 *x = (const block_q5_1 *)src;
    const int64_t nb = n / WISP_QK5_1;
    for (int64_t i = 0; i < nb; i++, y += WISP_QK5_1) {
        const float d = FP16(x[i].d);
        const float m = FP16(x[i].m);
        const uint32_t qh = load_u32le(x[i].qh);
        for (int j = 0; j < WISP_QK5_1 / 2; j++) {
            const int h0 = (int)((qh >> j) & 1u) << 4;
            const int h1 = (int)((qh >> (j + WISP_QK5_1 / 2)) & 1u) << 4;
            y[j] = (float)((x[i].qs[j] & 0x0F) | h0) * d + m;
            y[j + WISP_QK5_1 / 2] = (float)((x[i].qs[j] >> 4) | h1) * d + m;
        }
    }
}

static float q5_1_vec_dot(int64_t n, const void *vx, const void *vy) {
    const block_q5_1 *x = (const block_q5_1 *)vx;
    const block_q8_1 *y = (const block_q8_1 *)vy;
    const int64_t nb = n / WISP_QK8_1;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint32_t qh = load_u32le(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < WISP_QK8_1 / 2; j++) {
            const int h0 = (int)((qh >> j) & 1u) << 4;
            const int h1 = (int)((qh >> (j + WISP_QK8_1 / 2)) & 1u) << 4;
            sumi += ((x[i].qs[j] & 0x0F) | h0) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) | h1) * y[i].qs[j + WISP_QK8_1 / 2];
        }
        sumf += (FP16(x[i].d) * FP16(y[i].d)) * (float)sumi + FP16(x[i].m) * FP16(y[i].s);
    }
    return sumf;
}

/* ---------------------------------------------------------------- Q8_0 / Q8_1 */

/* Symmetric: d = amax/127 (stored as fp16, but the float d is used for the inverse),
 * q = roundf(x/d) (ties away from zero). Also the activation format of Q4_0/Q5_0/Q8_0. */
static void q8_0_from_float(const float *x, void *dst, int64_t n) {
    block_q8_0 *y = (block_q8_0 *)dst;
    const int64_t nb = n / WISP_QK8_0;
    for (int64_t i = 0; i < nb; i++, x += WISP_QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < WISP_QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = wisp_fp32_to_fp16_inline(d);
        for (int j = 0; j < WISP_QK8_0; j++) y[i].qs[j] = round_i8(x[j] * id);
    }
}

static void q8_0_to_float(const void *src, float *y, int64_t n) {
    const block_q8_0 *x = (const block_q8_0 *)src;
    const int64_t nb = n / WISP_QK8_0;
    for (int64_t i = 0; i < nb; i++, y += WISP_QK8_0) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < WISP_QK8_0; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

static float q8_0_vec_dot(int64_t n, const void *vx, const void *vy) {
    const block_q8_0 *x = (const block_q8_0 *)vx;
    const block_q8_0 *y = (const block_q8_0 *)vy;
    const int64_t nb = n / WISP_QK8_0;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int sumi = 0;
        for (int j = 0; j < WISP_QK8_0; j++) sumi += x[i].qs[j] * y[i].qs[j];
        sumf += (float)sumi * (FP16(x[i].d) * FP16(y[i].d));
    }
    return sumf;
}

static void q8_1_from_float(const float *x, void *dst, int64_t n) {
    block_q8_1 *y = (block_q8_1 *)dst;
    const int64_t nb = n / WISP_QK8_1;
    for (int64_t i = 0; i < nb; i++, x += WISP_QK8_1) {
        float amax = 0.0f;
        for (int j = 0; j < WISP_QK8_1; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = wisp_fp32_to_fp16_inline(d);
        int sum = 0;
        for (int j = 0; j < WISP_QK8_1; j++) {
            y[i].qs[j] = round_i8(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = wisp_fp32_to_fp16_inline((float)sum * d);
    }
}

static void q8_1_to_float(const void *src, float *y, int64_t n) {
    const block_q8_1 *x = (const block_q8_1 *)src;
    const int64_t nb = n / WISP_QK8_1;
    for (int64_t i = 0; i < nb; i++, y += WISP_QK8_1) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < WISP_QK8_1; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

/* ---------------------------------------------------------------- traits */

/* With SIMD128 compiled in, the hot entries point at kernels_simd128.c (bit-identical
 * to the scalar ones, which remain as from_float_ref / vec_dot_ref). */
#if WISP_HAVE_SIMD128
#define SIMD(scalar, simd) simd
#else
#define SIMD(scalar, simd) scalar
#endif
#define T(id, nm, blk, bytes, tof, fromf, fromf_simd, dot, dot_simd, dot4, vdt)                        \
    [id] = {id, nm, blk, bytes, tof, SIMD(fromf, fromf_simd), SIMD(dot, dot_simd), vdt, fromf, dot, \
            SIMD(NULL, dot4), NULL, NULL, NULL, NULL, 0, 0, NULL}
/* the 32-element types: also the prepared-activation path of kernels_simd128.c */
#if WISP_HAVE_SIMD128
#define T32(id, nm, blk, bytes, tof, fromf, fromf_simd, dot, sfx, vdt, prep)                          \
    [id] = {id, nm, blk, bytes, tof, fromf_simd, wisp_simd_vec_dot_##sfx, vdt, fromf, dot,           \
            wisp_simd_vec_dot4_##sfx, wisp_simd_p32_size, prep, wisp_simd_vec_dotp_##sfx,          \
            wisp_simd_vec_dot4p_##sfx, 1, 128, wisp_simd_vec_dotp_rows4_##sfx}
/* k-quants: prepared rows from one token on (vec_dot_p has its own one-token kernels) */
#define TK(id, nm, bytes, tof, fromf, dot, sfx, min_t)                                                 \
    [id] = {id, nm, WISP_QK_K, bytes, tof, fromf, wisp_simd_vec_dot_##sfx, WISP_TYPE_Q8_K, fromf, dot,  \
            wisp_simd_vec_dot4_##sfx, wisp_simd_pK_size, wisp_simd_pK_prep, wisp_simd_vec_dotp_##sfx,    \
            wisp_simd_vec_dot4p_##sfx, min_t, WISP_QK_K, NULL}
#else
#define TK(id, nm, bytes, tof, fromf, dot, sfx, min_t)                                                 \
    [id] = {id, nm, WISP_QK_K, bytes, tof, fromf, dot, WISP_TYPE_Q8_K, fromf, dot, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL}
#define T32(id, nm, blk, bytes, tof, fromf, fromf_simd, dot, sfx, vdt, prep)                          \
    [id] = {id, nm, blk, bytes, tof, fromf, dot, vdt, fromf, dot, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL}
#endif

static const wisp_quant_traits k_traits[WISP_TYPE_COUNT] = {
    T(WISP_TYPE_F32, "F32", 1, 4, f32_to_float, f32_from_float, f32_from_float, f32_vec_dot,
      wisp_simd_vec_dot_f32, NULL, WISP_TYPE_F32),
    T(WISP_TYPE_F16, "F16", 1, 2, f16_to_float, f16_from_float, f16_from_float, f16_vec_dot,
      wisp_simd_vec_dot_f16, NULL, WISP_TYPE_F16),
    T(WISP_TYPE_BF16, "BF16", 1, 2, bf16_to_float, bf16_from_float, bf16_from_float, bf16_vec_dot,
      wisp_simd_vec_dot_bf16, NULL, WISP_TYPE_BF16),
    T32(WISP_TYPE_Q4_0, "Q4_0", WISP_QK4_0, sizeof(block_q4_0), q4_0_to_float, q4_0_from_float, q4_0_from_float,
      q4_0_vec_dot, q4_0, WISP_TYPE_Q8_0, wisp_simd_p32_prep_q8_0),
    T32(WISP_TYPE_Q4_1, "Q4_1", WISP_QK4_1, sizeof(block_q4_1), q4_1_to_float, q4_1_from_float, q4_1_from_float,
      q4_1_vec_dot, q4_1, WISP_TYPE_Q8_1, wisp_simd_p32_prep_q8_1),
    T32(WISP_TYPE_Q5_0, "Q5_0", WISP_QK5_0, sizeof(block_q5_0), q5_0_to_float, q5_0_from_float, q5_0_from_float,
      q5_0_vec_dot, q5_0, WISP_TYPE_Q8_0, wisp_simd_p32_prep_q8_0),
    T32(WISP_TYPE_Q5_1, "Q5_1", WISP_QK5_1, sizeof(block_q5_1), q5_1_to_float, q5_1_from_float, q5_1_from_float,
      q5_1_vec_dot, q5_1, WISP_TYPE_Q8_1, wisp_simd_p32_prep_q8_1),
    T32(WISP_TYPE_Q8_0, "Q8_0", WISP_QK8_0, sizeof(block_q8_0), q8_0_to_float, q8_0_from_float,
      wisp_simd_quantize_row_q8_0, q8_0_vec_dot, q8_0, WISP_TYPE_Q8_0, wisp_simd_p32_prep_q8_0),
    T(WISP_TYPE_Q8_1, "Q8_1", WISP_QK8_1, sizeof(block_q8_1), q8_1_to_float, q8_1_from_float,
      wisp_simd_quantize_row_q8_1, NULL, NULL, NULL, WISP_TYPE_Q8_1),
    T(WISP_TYPE_Q2_K, "Q2_K", WISP_QK_K, sizeof(block_q2_K), wisp_dequantize_row_q2_K, wisp_quantize_row_q2_K,
      wisp_quantize_row_q2_K, wisp_vec_dot_q2_K_q8_K, wisp_simd_vec_dot_q2_K, wisp_simd_vec_dot4_q2_K,
      WISP_TYPE_Q8_K),
    TK(WISP_TYPE_Q3_K, "Q3_K", sizeof(block_q3_K), wisp_dequantize_row_q3_K, wisp_quantize_row_q3_K,
       wisp_vec_dot_q3_K_q8_K, q3_K, 1),
    TK(WISP_TYPE_Q4_K, "Q4_K", sizeof(block_q4_K), wisp_dequantize_row_q4_K, wisp_quantize_row_q4_K,
       wisp_vec_dot_q4_K_q8_K, q4_K, 1),
    TK(WISP_TYPE_Q5_K, "Q5_K", sizeof(block_q5_K), wisp_dequantize_row_q5_K, wisp_quantize_row_q5_K,
       wisp_vec_dot_q5_K_q8_K, q5_K, 1),
    TK(WISP_TYPE_Q6_K, "Q6_K", sizeof(block_q6_K), wisp_dequantize_row_q6_K, wisp_quantize_row_q6_K,
       wisp_vec_dot_q6_K_q8_K, q6_K, 1),
    T(WISP_TYPE_Q8_K, "Q8_K", WISP_QK_K, sizeof(block_q8_K), wisp_dequantize_row_q8_K, wisp_quantize_row_q8_K,
      wisp_simd_quantize_row_q8_K, NULL, NULL, NULL, WISP_TYPE_Q8_K),
};

#undef T
#undef T32
#undef TK
#undef SIMD

const wisp_quant_traits *wisp_quant_get(uint32_t type) {
    if (type >= WISP_TYPE_COUNT || k_traits[type].name == NULL) return NULL;
    return &k_traits[type];
}

size_t wisp_row_size(uint32_t type, int64_t n) {
    const wisp_ggml_type_info *t = wisp_ggml_type_get(type);
    if (!t || n < 0 || n % t->blck_size != 0) return 0;
    return (size_t)(n / t->blck_size) * t->type_size;
}
