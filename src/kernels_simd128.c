/* kernels_simd128.c — WebAssembly SIMD128 kernels: dot products for every weight type,
 * the activation quantizers (Q8_0, Q8_1, Q8_K) and the vector parts of attention.
 * Natively the same code runs through SIMDe (see simd128.h).
 *
 * Contract: bit-identical to the scalar kernels in quant.c / quant_k.c. Integer work
 * (the bulk) is done 16 lanes at a time, in any order, since int sums are exact; every
 * float operation is then done with the same operands in the same order as the scalar
 * code (per block, or per ggml lane for the k-quants), just four blocks or eight lanes
 * per instruction. That keeps the scalar kernels a precise oracle and our logits equal
 * to llama.cpp's generic build. */
#include "kernels_simd128.h"

#if WISP_HAVE_SIMD128

#include <math.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* see quant.c */
#endif

#define FP16(h) wisp_fp16_to_fp32_table(h)

static inline uint16_t ld16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static inline float ldf(const uint8_t *p) {
    float v;
    memcpy(&v, p, 4);
    return v;
}
/* the halves at p, p + stride, .. of the first m (1..4) blocks of a group -> floats
 * (through wisp_fp16_table, as bits: no float moves that could touch a NaN); the other
 * lanes are 0 */
WISP_VINLINE v128_t h2f_gather_m(const uint8_t *p, size_t stride, int m) {
    const uint32_t *t = wisp_fp16_table;
    return wasm_i32x4_make((int32_t)t[ld16(p)], m > 1 ? (int32_t)t[ld16(p + stride)] : 0,
                           m > 2 ? (int32_t)t[ld16(p + 2 * stride)] : 0, m > 3 ? (int32_t)t[ld16(p + 3 * stride)] : 0);
}

/* acc + the first m (1..4) lanes of r, one at a time in lane order (the scalar kernels'
 * order of the per-block sums) */
WISP_VINLINE float add_lanes(float a, v128_t r, int m) {
    a += wasm_f32x4_extract_lane(r, 0);
    if (m > 1) a += wasm_f32x4_extract_lane(r, 1);
    if (m > 2) a += wasm_f32x4_extract_lane(r, 2);
    if (m > 3) a += wasm_f32x4_extract_lane(r, 3);
    return a;
}

/* ================================================================ F32 / F16 / BF16
 * The scalar dot sums float products in a double, serially (ggml's generic order). The
 * products are computed four at a time here; the serial double sum is kept so the result
 * is identical, which the traits table needs. Attention uses wisp_simd_dot_f16_fast. */

WISP_VINLINE double sum4_serial(double s, v128_t p) {
    s += (double)wasm_f32x4_extract_lane(p, 0);
    s += (double)wasm_f32x4_extract_lane(p, 1);
    s += (double)wasm_f32x4_extract_lane(p, 2);
    s += (double)wasm_f32x4_extract_lane(p, 3);
    return s;
}

float wisp_simd_vec_dot_f32(int64_t n, const void *vx, const void *vy) {
    const float *x = (const float *)vx, *y = (const float *)vy;
    double s = 0.0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) s = sum4_serial(s, wasm_f32x4_mul(wasm_v128_load(x + i), wasm_v128_load(y + i)));
    for (; i < n; i++) s += (double)(x[i] * y[i]);
    return (float)s;
}

float wisp_simd_vec_dot_f16(int64_t n, const void *vx, const void *vy) {
    const wisp_fp16 *x = (const wisp_fp16 *)vx, *y = (const wisp_fp16 *)vy;
    double s = 0.0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v128_t x0, x1, y0, y1;
        wisp_v_h2f_x8(wasm_v128_load(x + i), &x0, &x1);
        wisp_v_h2f_x8(wasm_v128_load(y + i), &y0, &y1);
        s = sum4_serial(s, wasm_f32x4_mul(x0, y0));
        s = sum4_serial(s, wasm_f32x4_mul(x1, y1));
    }
    for (; i < n; i++) s += (double)(FP16(x[i]) * FP16(y[i]));
    return (float)s;
}

WISP_VINLINE void bf2f_x8(v128_t h, v128_t *lo, v128_t *hi) {
    *lo = wasm_i32x4_shl(wasm_u32x4_extend_low_u16x8(h), 16);
    *hi = wasm_i32x4_shl(wasm_u32x4_extend_high_u16x8(h), 16);
}

float wisp_simd_vec_dot_bf16(int64_t n, const void *vx, const void *vy) {
    const wisp_bf16 *x = (const wisp_bf16 *)vx, *y = (const wisp_bf16 *)vy;
    double s = 0.0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v128_t x0, x1, y0, y1;
        bf2f_x8(wasm_v128_load(x + i), &x0, &x1);
        bf2f_x8(wasm_v128_load(y + i), &y0, &y1);
        s = sum4_serial(s, wasm_f32x4_mul(x0, y0));
        s = sum4_serial(s, wasm_f32x4_mul(x1, y1));
    }
    for (; i < n; i++) s += (double)(wisp_bf16_to_fp32_inline(x[i]) * wisp_bf16_to_fp32_inline(y[i]));
    return (float)s;
}

/* ================================================================ 32-element quants */

enum { K_Q4_0, K_Q4_1, K_Q5_0, K_Q5_1, K_Q8_0 };

/* bytes per weight block, and where its quants start */
#define XSIZE(k) ((k) == K_Q4_0 ? 18 : (k) == K_Q4_1 ? 20 : (k) == K_Q5_0 ? 22 : (k) == K_Q5_1 ? 24 : 34)
/* activation: Q8_1 (d, s, qs) for the _1 types, Q8_0 (d, qs) otherwise */
#define HAS_M(k) ((k) == K_Q4_1 || (k) == K_Q5_1)
#define YSIZE(k) (HAS_M(k) ? 36 : 34)
#define YQS(k) (HAS_M(k) ? 4 : 2)

/* The per-block float result, in the scalar kernel's exact expression order. Vector
 * form (four blocks per lane) and scalar form (tail blocks). */
WISP_VINLINE v128_t combine4(int kind, v128_t fsum, v128_t xd, v128_t xm, v128_t yd, v128_t ys) {
    switch (kind) {
    case K_Q4_0: return wasm_f32x4_mul(wasm_f32x4_mul(fsum, xd), yd);          /* (s*dx)*dy */
    case K_Q8_0: return wasm_f32x4_mul(fsum, wasm_f32x4_mul(xd, yd));          /* s*(dx*dy) */
    case K_Q5_0: return wasm_f32x4_mul(wasm_f32x4_mul(xd, yd), fsum);          /* (dx*dy)*s */
    default:                                                                   /* + m*s_y */
        return wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(xd, yd), fsum), wasm_f32x4_mul(xm, ys));
    }
}
WISP_VINLINE float combine1(int kind, float fsum, float xd, float xm, float yd, float ys) {
    switch (kind) {
    case K_Q4_0: return fsum * xd * yd;
    case K_Q8_0: return fsum * (xd * yd);
    case K_Q5_0: return (xd * yd) * fsum;
    default: return (xd * yd) * fsum + xm * ys;
    }
}


/* ================================================================ prepared activations
 * A matmul dots the same activation row with thousands of weight rows, so the work on
 * the activation (widening its int8 quants, converting its f16 scales) is done once, by
 * wisp_simd_p32_prep, into groups of four blocks:
 *   +0   float d[4]      the block scales (exact f16 -> f32)
 *   +16  int32 sum[4]    sum of the block's quants (for the -8 offset of Q4_0)
 *   +32  float s[4]      Q8_1's f16 s (d * sum, as ggml stores it), else 0
 *   +48  (pad)
 *   +64  int16 q[4][32]  the quants widened to i16 in "even/odd" order: elements
 *                        0,2,..,14 | 1,3,..,15 | 16,18,..,30 | 17,19,..,31
 * The order is what a weight block yields most cheaply as i16 lanes: a Q4 nibble byte
 * pair seen as one i16 holds elements 2k, 2k+1 (low nibbles) and 2k+16, 2k+17 (high
 * nibbles); a Q8 byte pair holds 2k and 2k+1. So the weights go to i16 with a mask or
 * a shift, and one i32x4.dot_i16x8 does eight multiply-adds. Integer sums are exact in
 * any order and every float operation is unchanged, so results stay bit-identical to
 * the scalar kernels (tests/test_simd.c checks it against them). */

#if WISP_RELAXED_SIMD
/* relaxed builds add, at +320, int8 q[4][32]: the quants as they are (the Q4/Q5 kernels
 * multiply them by the weights' 4/5-bit values with the relaxed i8 x i7 dot) */
#define P32_Q8 320
#define P32_GROUP 448
#else
#define P32_GROUP 320
#endif

size_t wisp_simd_p32_size(int64_t n) { return (size_t)((n / 32 + 3) / 4) * P32_GROUP; }

static void p32_prep(const uint8_t *y, uint8_t *yp, int64_t n, int has_s) {
    const size_t yb = has_s ? 36 : 34, yq = has_s ? 4 : 2;
    const int64_t nb = n / 32;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *b = y + (size_t)i * yb;
        uint8_t *g = yp + (size_t)(i / 4) * P32_GROUP;
        const int k = (int)(i % 4);
        const float d = FP16(ld16(b)), s = has_s ? FP16(ld16(b + 2)) : 0.0f;
        const v128_t lo = wasm_v128_load(b + yq), hi = wasm_v128_load(b + yq + 16);
        const int32_t sum = wisp_v_hsum_i32(wasm_i32x4_add(wisp_v_dot_i8x16(lo, wasm_i8x16_splat(1)),
                                                           wisp_v_dot_i8x16(hi, wasm_i8x16_splat(1))));
        memcpy(g + 4 * k, &d, 4);
        memcpy(g + 16 + 4 * k, &sum, 4);
        memcpy(g + 32 + 4 * k, &s, 4);
        uint8_t *q = g + 64 + 64 * k;
        wasm_v128_store(q, wasm_i16x8_shr(wasm_i16x8_shl(lo, 8), 8));
        wasm_v128_store(q + 16, wasm_i16x8_shr(lo, 8));
        wasm_v128_store(q + 32, wasm_i16x8_shr(wasm_i16x8_shl(hi, 8), 8));
        wasm_v128_store(q + 48, wasm_i16x8_shr(hi, 8));
#if WISP_RELAXED_SIMD
        wasm_v128_store(g + P32_Q8 + 32 * k, lo);
        wasm_v128_store(g + P32_Q8 + 32 * k + 16, hi);
#endif
    }
    /* a last, partial group gets zeros in its empty slots: the dots run it as a whole
     * group whose missing weight blocks are zero, and add only the real lanes */
    if (nb % 4) {
        uint8_t *g = yp + (size_t)(nb / 4) * P32_GROUP;
        for (int k = (int)(nb % 4); k < 4; k++) {
            memset(g + 4 * k, 0, 4);
            memset(g + 16 + 4 * k, 0, 4);
            memset(g + 32 + 4 * k, 0, 4);
            memset(g + 64 + 64 * k, 0, 64);
#if WISP_RELAXED_SIMD
            memset(g + P32_Q8 + 32 * k, 0, 32);
#endif
        }
    }
}
void wisp_simd_p32_prep_q8_0(const void *y, void *yp, int64_t n) { p32_prep((const uint8_t *)y, (uint8_t *)yp, n, 0); }
void wisp_simd_p32_prep_q8_1(const void *y, void *yp, int64_t n) { p32_prep((const uint8_t *)y, (uint8_t *)yp, n, 1); }

/* A weight block's 32 quants as four i16x8 in the even/odd order; *off is the offset
 * still to subtract (q - off) through the activation sums (Q4_0: 8, Q5_0: 16), else 0. */
WISP_VINLINE void decode32_i16(int kind, const uint8_t *b, v128_t w[4], int *off) {
    *off = 0;
    switch (kind) {
    case K_Q4_0:
    case K_Q4_1: {
        const v128_t v = wasm_v128_load(b + (kind == K_Q4_0 ? 2 : 4)), m = wasm_i16x8_splat(0x0F);
        w[0] = wasm_v128_and(v, m);
        w[1] = wasm_v128_and(wasm_u16x8_shr(v, 8), m);
        w[2] = wasm_v128_and(wasm_u16x8_shr(v, 4), m);
        w[3] = wasm_u16x8_shr(v, 12);
        if (kind == K_Q4_0) *off = 8;
        break;
    }
    case K_Q8_0: {
        /* each weight byte in the high half of its i16 lane: 256 w, one operation per
         * vector instead of a sign extension's two; the block's sum comes out 256 times
         * too big (|sum| <= 32 * 128 * 128 * 256 = 2^27: no overflow) and is shifted
         * back, exactly, before it becomes a float */
        const v128_t lo = wasm_v128_load(b + 2), hi = wasm_v128_load(b + 18), m = wasm_i16x8_splat((int16_t)0xFF00);
        w[0] = wasm_i16x8_shl(lo, 8);
        w[1] = wasm_v128_and(lo, m);
        w[2] = wasm_i16x8_shl(hi, 8);
        w[3] = wasm_v128_and(hi, m);
        break;
    }
    default: { /* Q5_0 / Q5_1: the nibbles as Q4, plus bit j of qh as 0x10 of element j */
        const int q5_1 = kind == K_Q5_1;
        const v128_t v = wasm_v128_load(b + (q5_1 ? 8 : 6)), m = wasm_i16x8_splat(0x0F);
        uint32_t qh;
        memcpy(&qh, b + (q5_1 ? 4 : 2), 4);
        /* lane k of w[0] is element 2k: bit 2k of qh; w[1]: 2k+1; w[2], w[3]: 16 up */
        const v128_t h0 = wasm_i16x8_splat((int16_t)(qh & 0xFFFF)), h1 = wasm_i16x8_splat((int16_t)(qh >> 16));
        const v128_t be = wasm_i16x8_make(1 << 0, 1 << 2, 1 << 4, 1 << 6, 1 << 8, 1 << 10, 1 << 12, (int16_t)(1 << 14));
        const v128_t bo = wasm_i16x8_make(1 << 1, 1 << 3, 1 << 5, 1 << 7, 1 << 9, 1 << 11, 1 << 13, (int16_t)0x8000);
        const v128_t x10 = wasm_i16x8_splat(0x10);
#define HB(h, bits) wasm_v128_and(wasm_i16x8_eq(wasm_v128_and(h, bits), bits), x10)
        w[0] = wasm_v128_or(wasm_v128_and(v, m), HB(h0, be));
        w[1] = wasm_v128_or(wasm_v128_and(wasm_u16x8_shr(v, 8), m), HB(h0, bo));
        w[2] = wasm_v128_or(wasm_v128_and(wasm_u16x8_shr(v, 4), m), HB(h1, be));
        w[3] = wasm_v128_or(wasm_u16x8_shr(v, 12), HB(h1, bo));
#undef HB
        if (!q5_1) *off = 16;
    }
    }
}

WISP_VINLINE v128_t dot32_i16(const v128_t w[4], const uint8_t *q) {
    const v128_t a = wasm_i32x4_add(wasm_i32x4_dot_i16x8(w[0], wasm_v128_load(q)),
                                    wasm_i32x4_dot_i16x8(w[1], wasm_v128_load(q + 16)));
    const v128_t b = wasm_i32x4_add(wasm_i32x4_dot_i16x8(w[2], wasm_v128_load(q + 32)),
                                    wasm_i32x4_dot_i16x8(w[3], wasm_v128_load(q + 48)));
    return wasm_i32x4_add(a, b);
}

/* One group of m (1..4) weight blocks at xb against the same group (g0, stride byp) of
 * nc (1..4) prepared activation rows, adding to the running sums acc[]. The blocks are
 * decoded once into w[16] (a missing block's weights are zero, as are its activation
 * slots, see p32_prep); then each token runs through them with its per-block sums
 * folded into one [b0, b1, b2, b3] vector, whose m real lanes are added in order. The
 * token loop is kept rolled on purpose: unrolled, LLVM hoists every load of every token
 * and V8 (16 xmm registers on x64) spills most of them. */
WISP_VINLINE void group32_i16(int kind, int nc, int m, const uint8_t *xb, const uint8_t *g0, size_t byp,
                              float *acc) {
    const size_t bx = XSIZE(kind);
    const v128_t xd = h2f_gather_m(xb, bx, m);
    const v128_t xm = HAS_M(kind) ? h2f_gather_m(xb + 2, bx, m) : xd;
    v128_t w[16];
    int off = 0;
    for (int k = 0; k < 4; k++) {
        if (k < m) decode32_i16(kind, xb + k * bx, w + 4 * k, &off);
        else w[4 * k] = w[4 * k + 1] = w[4 * k + 2] = w[4 * k + 3] = wasm_i32x4_splat(0);
    }
#if defined(__clang__)
#pragma clang loop unroll(disable)
#endif
    for (int c = 0; c < nc; c++) {
        const uint8_t *g = g0 + (size_t)c * byp;
        const v128_t s0 = dot32_i16(w, g + 64), s1 = dot32_i16(w + 4, g + 128);
        const v128_t lo = wasm_i32x4_add(wasm_i32x4_shuffle(s0, s1, 0, 4, 1, 5), wasm_i32x4_shuffle(s0, s1, 2, 6, 3, 7));
        const v128_t s2 = dot32_i16(w + 8, g + 192), s3 = dot32_i16(w + 12, g + 256);
        const v128_t hi = wasm_i32x4_add(wasm_i32x4_shuffle(s2, s3, 0, 4, 1, 5), wasm_i32x4_shuffle(s2, s3, 2, 6, 3, 7));
        v128_t is = wasm_i32x4_add(wasm_i32x4_shuffle(lo, hi, 0, 1, 4, 5), wasm_i32x4_shuffle(lo, hi, 2, 3, 6, 7));
        if (kind == K_Q8_0) is = wasm_i32x4_shr(is, 8); /* see decode32_i16 */
        if (off) /* Q4_0 / Q5_0: q - 8 / q - 16 is q.y - 8 / 16 * sum(y) */
            is = wasm_i32x4_sub(is, wasm_i32x4_shl(wasm_v128_load(g + 16), off == 8 ? 3 : 4));
        const v128_t r = combine4(kind, wasm_f32x4_convert_i32x4(is), xd, xm, wasm_v128_load(g), wasm_v128_load(g + 32));
        acc[c] = add_lanes(acc[c], r, m);
    }
}

/* A row's last, partial group, out of line: one copy for every weight type (nc and m
 * known only at run time), rather than one inlined into each of the kernels. */
static __attribute__((noinline)) void group32_i16_tail(int kind, int nc, int m, const uint8_t *xb,
                                                       const uint8_t *g0, size_t byp, float *acc) {
    switch (kind) {
    case K_Q4_0: group32_i16(K_Q4_0, nc, m, xb, g0, byp, acc); break;
    case K_Q4_1: group32_i16(K_Q4_1, nc, m, xb, g0, byp, acc); break;
    case K_Q5_0: group32_i16(K_Q5_0, nc, m, xb, g0, byp, acc); break;
    case K_Q5_1: group32_i16(K_Q5_1, nc, m, xb, g0, byp, acc); break;
    default: group32_i16(K_Q8_0, nc, m, xb, g0, byp, acc); break;
    }
}

/* nc (1..4) prepared activation rows (stride byp) against one weight row, adding to the
 * running sums in out[]: whole groups, then a last partial one. */
WISP_VINLINE void dotp32(int kind, int nc, int64_t n, const uint8_t *x, const uint8_t *yp, size_t byp,
                         float *out) {
    const size_t bx = XSIZE(kind);
    const int64_t nb = n / 32;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int c = 0; c < nc; c++) acc[c] = out[c]; /* the running sums continue */
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) group32_i16(kind, nc, 4, x + (size_t)i * bx, yp + (size_t)(i / 4) * P32_GROUP, byp, acc);
    if (i < nb) group32_i16_tail(kind, nc, (int)(nb - i), x + (size_t)i * bx, yp + (size_t)(i / 4) * P32_GROUP, byp, acc);
    for (int c = 0; c < nc; c++) out[c] = acc[c];
}

#if WISP_RELAXED_SIMD
/* The Q4/Q5 weights with the relaxed i8 x i7 dot. Their quants are 0..15 / 0..31 (the
 * -8 / -16 offset is taken off through the activation sums, as above), so they are the
 * i7 operand, the activation's int8 quants the other; one instruction does 16 products
 * and adds them in pairs. A block is two i8x16 in natural order: the low nibbles are
 * elements 0..15, the high ones 16..31 (Q5: plus bit j of qh as 0x10 of element j).
 * The i16 lanes cannot overflow: 4 products of at most 31 * 128 per lane. */
WISP_VINLINE void decode32_i8(int kind, const uint8_t *b, v128_t w[2], int *off) {
    const int q5 = kind == K_Q5_0 || kind == K_Q5_1;
    const v128_t v = wasm_v128_load(b + (kind == K_Q4_0 ? 2 : kind == K_Q4_1 ? 4 : kind == K_Q5_0 ? 6 : 8));
    w[0] = wasm_v128_and(v, wasm_i8x16_splat(0x0F));
    w[1] = wisp_v_u8_shr(v, 4);
    *off = kind == K_Q4_0 ? 8 : kind == K_Q5_0 ? 16 : 0;
    if (q5) {
        uint32_t qh;
        memcpy(&qh, b + (kind == K_Q5_1 ? 4 : 2), 4);
        const v128_t h = wasm_i32x4_splat((int32_t)qh);
        const v128_t bits = wasm_i8x16_make(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
        const v128_t x10 = wasm_i8x16_splat(0x10);
        /* lane j of the low half reads byte j / 8 of qh, of the high half byte 2 + j / 8 */
        const v128_t h0 = wasm_i8x16_shuffle(h, h, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
        const v128_t h1 = wasm_i8x16_shuffle(h, h, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
        w[0] = wasm_v128_or(w[0], wasm_v128_and(wasm_i8x16_eq(wasm_v128_and(h0, bits), bits), x10));
        w[1] = wasm_v128_or(w[1], wasm_v128_and(wasm_i8x16_eq(wasm_v128_and(h1, bits), bits), x10));
    }
}

/* i16 lanes of one block's products (sum of the 8 lanes = the block's integer dot) */
WISP_VINLINE v128_t dot32_i8(const v128_t w[2], const uint8_t *q) {
    return wasm_i16x8_add(wisp_v_rdot_i8_i7(wasm_v128_load(q), w[0]), wisp_v_rdot_i8_i7(wasm_v128_load(q + 16), w[1]));
}

/* group32_i16 with the relaxed dot */
WISP_VINLINE void group32_i8(int kind, int nc, int m, const uint8_t *xb, const uint8_t *g0, size_t byp,
                             float *acc) {
    const size_t bx = XSIZE(kind);
    const v128_t xd = h2f_gather_m(xb, bx, m);
    const v128_t xm = HAS_M(kind) ? h2f_gather_m(xb + 2, bx, m) : xd;
    v128_t w[8];
    int off = 0;
    for (int k = 0; k < 4; k++) {
        if (k < m) decode32_i8(kind, xb + k * bx, w + 2 * k, &off);
        else w[2 * k] = w[2 * k + 1] = wasm_i32x4_splat(0);
    }
#if defined(__clang__)
#pragma clang loop unroll(disable)
#endif
    for (int c = 0; c < nc; c++) {
        const uint8_t *g = g0 + (size_t)c * byp;
        v128_t is = wisp_v_hsum4_i32(wasm_i32x4_extadd_pairwise_i16x8(dot32_i8(w, g + P32_Q8)),
                                     wasm_i32x4_extadd_pairwise_i16x8(dot32_i8(w + 2, g + P32_Q8 + 32)),
                                     wasm_i32x4_extadd_pairwise_i16x8(dot32_i8(w + 4, g + P32_Q8 + 64)),
                                     wasm_i32x4_extadd_pairwise_i16x8(dot32_i8(w + 6, g + P32_Q8 + 96)));
        if (off) is = wasm_i32x4_sub(is, wasm_i32x4_shl(wasm_v128_load(g + 16), off == 8 ? 3 : 4));
        const v128_t r = combine4(kind, wasm_f32x4_convert_i32x4(is), xd, xm, wasm_v128_load(g), wasm_v128_load(g + 32));
        acc[c] = add_lanes(acc[c], r, m);
    }
}

static __attribute__((noinline)) void group32_i8_tail(int kind, int nc, int m, const uint8_t *xb,
                                                      const uint8_t *g0, size_t byp, float *acc) {
    switch (kind) {
    case K_Q4_0: group32_i8(K_Q4_0, nc, m, xb, g0, byp, acc); break;
    case K_Q4_1: group32_i8(K_Q4_1, nc, m, xb, g0, byp, acc); break;
    case K_Q5_0: group32_i8(K_Q5_0, nc, m, xb, g0, byp, acc); break;
    default: group32_i8(K_Q5_1, nc, m, xb, g0, byp, acc); break;
    }
}

WISP_VINLINE void dotp32_i8(int kind, int nc, int64_t n, const uint8_t *x, const uint8_t *yp, size_t byp,
                            float *out) {
    const size_t bx = XSIZE(kind);
    const int64_t nb = n / 32;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int c = 0; c < nc; c++) acc[c] = out[c];
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) group32_i8(kind, nc, 4, x + (size_t)i * bx, yp + (size_t)(i / 4) * P32_GROUP, byp, acc);
    if (i < nb) group32_i8_tail(kind, nc, (int)(nb - i), x + (size_t)i * bx, yp + (size_t)(i / 4) * P32_GROUP, byp, acc);
    for (int c = 0; c < nc; c++) out[c] = acc[c];
}
#define DOTP32(kind, nc, n, x, yp, byp, out)                                                          \
    ((kind) == K_Q8_0 ? dotp32(kind, nc, n, x, yp, byp, out) : dotp32_i8(kind, nc, n, x, yp, byp, out))
#else
#define DOTP32 dotp32
#endif

/* On plain Q8_0 / Q8_1 rows (the traits' vec_dot / vec_dot4): prepared a chunk at a time
 * on the stack, the running sums carried from chunk to chunk. */
WISP_VINLINE void dot32_plain(int kind, int nc, int64_t n, const uint8_t *x, const uint8_t *y, size_t by,
                              float *out) {
    enum { CH = 64 }; /* blocks per chunk, a multiple of 4 */
    _Alignas(16) uint8_t yp[4][CH / 4 * P32_GROUP];
    const int has_s = HAS_M(kind);
    const size_t bx = XSIZE(kind), yb = has_s ? 36 : 34;
    const int64_t nb = n / 32;
    for (int c = 0; c < nc; c++) out[c] = 0.0f;
    for (int64_t b0 = 0; b0 < nb; b0 += CH) {
        const int64_t m = nb - b0 < CH ? nb - b0 : CH;
        for (int c = 0; c < nc; c++) p32_prep(y + (size_t)c * by + (size_t)b0 * yb, yp[c], m * 32, has_s);
        DOTP32(kind, nc, m * 32, x + (size_t)b0 * bx, yp[0], sizeof yp[0], out);
    }
}

#define DEF_DOTP32(name, kind)                                                                       \
    float wisp_simd_vec_dotp_##name(int64_t n, const void *x, const void *yp) {                     \
        float r = 0.0f;                                                                             \
        DOTP32(kind, 1, n, (const uint8_t *)x, (const uint8_t *)yp, 0, &r);                          \
        return r;                                                                                   \
    }                                                                                               \
    void wisp_simd_vec_dot4p_##name(int64_t n, const void *x, const void *yp, size_t byp, float out[4]) { \
        for (int c = 0; c < 4; c++) out[c] = 0.0f;                                                  \
        DOTP32(kind, 4, n, (const uint8_t *)x, (const uint8_t *)yp, byp, out);                      \
    }                                                                                               \
    float wisp_simd_vec_dot_##name(int64_t n, const void *x, const void *y) {                       \
        float r;                                                                                    \
        dot32_plain(kind, 1, n, (const uint8_t *)x, (const uint8_t *)y, 0, &r);                      \
        return r;                                                                                   \
    }                                                                                               \
    void wisp_simd_vec_dot4_##name(int64_t n, const void *x, const void *y, size_t by, float out[4]) { \
        dot32_plain(kind, 4, n, (const uint8_t *)x, (const uint8_t *)y, by, out);                   \
    }
DEF_DOTP32(q4_0, K_Q4_0)
DEF_DOTP32(q4_1, K_Q4_1)
DEF_DOTP32(q5_0, K_Q5_0)
DEF_DOTP32(q5_1, K_Q5_1)
DEF_DOTP32(q8_0, K_Q8_0)

/* ---------------------------------------------------------------- four rows, one token
 * Decode multiplies every weight row with one activation row. Here four weight rows
 * (x, x + bx, x + 2 bx, x + 3 bx) go through the blocks together: each activation block
 * is loaded once for the four, and row k's running float sum lives in lane k, so the
 * per-block sums are still added one block at a time in block order (the scalar
 * kernel's order: bit-identical) with one vector add per block for the four rows and
 * no lane extraction. The four rows' weight bytes are also four memory streams. */
WISP_VINLINE v128_t rows4_block(int kind, const uint8_t *b, size_t bx, const uint8_t *g, int k) {
    v128_t s[4];
    int off = 0;
    for (int r = 0; r < 4; r++) {
#if WISP_RELAXED_SIMD
        if (kind != K_Q8_0) {
            v128_t w[2];
            decode32_i8(kind, b + r * bx, w, &off);
            s[r] = wasm_i32x4_extadd_pairwise_i16x8(dot32_i8(w, g + P32_Q8 + 32 * k));
            continue;
        }
#endif
        v128_t w[4];
        decode32_i16(kind, b + r * bx, w, &off);
        s[r] = dot32_i16(w, g + 64 + 64 * k);
    }
    v128_t is = wisp_v_hsum4_i32(s[0], s[1], s[2], s[3]);
    if (kind == K_Q8_0) is = wasm_i32x4_shr(is, 8); /* see decode32_i16 */
    if (off) {
        int32_t sum;
        memcpy(&sum, g + 16 + 4 * k, 4);
        is = wasm_i32x4_sub(is, wasm_i32x4_splat(sum * off));
    }
    const v128_t xd = h2f_gather_m(b, bx, 4);
    const v128_t xm = HAS_M(kind) ? h2f_gather_m(b + 2, bx, 4) : xd;
    return combine4(kind, wasm_f32x4_convert_i32x4(is), xd, xm, wasm_f32x4_splat(ldf(g + 4 * k)),
                    wasm_f32x4_splat(ldf(g + 32 + 4 * k)));
}

WISP_VINLINE void rows4_32(int kind, int64_t n, const uint8_t *x, size_t bx, const uint8_t *yp, float out[4]) {
    const size_t xs = XSIZE(kind);
    const int64_t nb = n / 32;
    v128_t acc = wasm_f32x4_splat(0.0f);
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        const uint8_t *g = yp + (size_t)(i / 4) * P32_GROUP, *b = x + (size_t)i * xs;
        /* kept rolled: unrolled, Chromium 156 is 3-5% faster but Node 20's V8 spills
         * most of the loop to the stack and runs it 1.5-2x slower */
#if defined(__clang__)
#pragma clang loop unroll(disable)
#endif
        for (int k = 0; k < 4; k++) acc = wasm_f32x4_add(acc, rows4_block(kind, b + k * xs, bx, g, k));
    }
    if (i < nb) {
        const uint8_t *g = yp + (size_t)(i / 4) * P32_GROUP, *b = x + (size_t)i * xs;
        for (int k = 0; k < (int)(nb - i); k++) acc = wasm_f32x4_add(acc, rows4_block(kind, b + k * xs, bx, g, k));
    }
    wasm_v128_store(out, acc);
}

#define DEF_ROWS4(name, kind)                                                                        \
    void wisp_simd_vec_dotp_rows4_##name(int64_t n, const void *x, size_t bx, const void *yp, float out[4]) { \
        rows4_32(kind, n, (const uint8_t *)x, bx, (const uint8_t *)yp, out);                        \
    }
DEF_ROWS4(q4_0, K_Q4_0)
DEF_ROWS4(q4_1, K_Q4_1)
DEF_ROWS4(q5_0, K_Q5_0)
DEF_ROWS4(q5_1, K_Q5_1)
DEF_ROWS4(q8_0, K_Q8_0)

/* ================================================================ k-quants
 * A weight block is first unpacked to 256 int8 quants (a[], 16-aligned), once for all
 * the tokens of a tile; then each token's dot reads a[] and the Q8_K block. */

#define QK WISP_QK_K
#define Q8K_SIZE sizeof(block_q8_K)

WISP_VINLINE v128_t splat16(int v) { return wasm_i16x8_splat((int16_t)v); }

/* i16 products of 16 int8 pairs with element e in lane e % 8 (lo half + hi half) */
WISP_VINLINE v128_t prod16_lanes(v128_t a, v128_t b) {
    return wasm_i16x8_add(wasm_i16x8_extmul_low_i8x16(a, b), wasm_i16x8_extmul_high_i8x16(a, b));
}

static inline void scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* ---- Q2_K: all-integer per block, so any lane order works */
WISP_VINLINE void dot_q2_K(int nc, int64_t n, const void *vx, const void *vy, size_t by, float *out) {
    const block_q2_K *x = (const block_q2_K *)vx;
    const int64_t nb = n / QK;
    float sumf[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    _Alignas(16) int8_t a[QK];
    for (int64_t i = 0; i < nb; i++) {
        /* element 128k + 32s + l is bits 2s of qs[32k + l] */
        for (int k = 0; k < 2; k++)
            for (int h = 0; h < 2; h++) {
                const v128_t q = wasm_v128_load(x[i].qs + 32 * k + 16 * h);
                for (int s = 0; s < 4; s++)
                    wasm_v128_store(a + 128 * k + 32 * s + 16 * h,
                                    wisp_v_u8_shr_and(q, 2 * s, 3));
            }
        const v128_t sc8 = wasm_v128_load(x[i].scales);
        const v128_t mn = wisp_v_u8_shr(sc8, 4);
        const v128_t mn0 = wasm_u16x8_extend_low_u8x16(mn), mn1 = wasm_u16x8_extend_high_u8x16(mn);
        int scl[16];
        for (int j = 0; j < 16; j++) scl[j] = x[i].scales[j] & 0x0F;
        const float xd = FP16(x[i].d), xdmin = FP16(x[i].dmin);
        for (int c = 0; c < nc; c++) {
            const uint8_t *yb = (const uint8_t *)vy + (size_t)c * by + (size_t)i * Q8K_SIZE;
            const int8_t *q8 = (const int8_t *)(yb + 4);
            const v128_t bs0 = wasm_v128_load(yb + 260), bs1 = wasm_v128_load(yb + 276);
            const int summs = wisp_v_hsum_i32(
                wasm_i32x4_add(wasm_i32x4_dot_i16x8(bs0, mn0), wasm_i32x4_dot_i16x8(bs1, mn1)));
            v128_t isv = wasm_i32x4_splat(0);
            for (int j = 0; j < 16; j++) {
                const v128_t p = prod16_lanes(wasm_v128_load(a + 16 * j), wasm_v128_load(q8 + 16 * j));
                isv = wasm_i32x4_add(isv, wasm_i32x4_dot_i16x8(p, splat16(scl[j])));
            }
            const int isum = wisp_v_hsum_i32(isv);
            const float yd = ldf(yb);
            const float dall = yd * xd, dmin = yd * xdmin;
            sumf[c] += dall * (float)isum - dmin * (float)summs;
        }
    }
    for (int c = 0; c < nc; c++) out[c] = sumf[c];
}

/* ---- shared tail of Q3_K / Q6_K: 16 sub-blocks of 16 with signed scales, ggml's 8 lanes */
WISP_VINLINE void lanes16_token(const int8_t *a, const int8_t *q8, const int *sc, v128_t *lo, v128_t *hi) {
    v128_t l0 = wasm_i32x4_splat(0), l1 = wasm_i32x4_splat(0);
    for (int j = 0; j < 16; j++) {
        const v128_t p = prod16_lanes(wasm_v128_load(a + 16 * j), wasm_v128_load(q8 + 16 * j));
        const v128_t s = splat16(sc[j]);
        l0 = wasm_i32x4_add(l0, wasm_i32x4_extmul_low_i16x8(p, s));
        l1 = wasm_i32x4_add(l1, wasm_i32x4_extmul_high_i16x8(p, s));
    }
    *lo = l0;
    *hi = l1;
}

/* ---- prepared Q8_K activations (wisp_simd_pK_prep): per 256-block
 *   +0 float d, +16 int16 bsums[16], +48 int16 q[256] where each group of 16 elements
 *   e0..e15 is stored as e0,e8,e1,e9,...,e7,e15.
 * ggml's k-quant dots keep eight integer lanes, lane l holding the elements = l mod 8;
 * in this order one i32x4.dot_i16x8 adds exactly the two products of one lane (e, e+8),
 * so a group of 16 is two dot_i16x8 (lanes 0-3, 4-7) instead of widening multiplies.
 * The weights are put in the same order once per block (a_pairs), for every token. */
#if WISP_RELAXED_SIMD
/* relaxed builds add, at +560, the 256 quants as int8 in the same pair order: the relaxed
 * i8 x i7 dot against pair-ordered non-negative weights gives the lanes directly */
#define PK_Q8 560
#define PK_SIZE 816
#else
#define PK_SIZE 560
#endif
#define PK_BS 16
#define PK_Q 48

/* 16 bytes e0..e15 -> e0,e8,e1,e9,...,e7,e15 */
WISP_VINLINE v128_t pair_order(v128_t v) {
    return wasm_i8x16_shuffle(v, v, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
}

size_t wisp_simd_pK_size(int64_t n) { return (size_t)(n / QK) * PK_SIZE; }

void wisp_simd_pK_prep(const void *vy, void *vyp, int64_t n) {
    const int64_t nb = n / QK;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *y = (const uint8_t *)vy + (size_t)i * Q8K_SIZE;
        uint8_t *o = (uint8_t *)vyp + (size_t)i * PK_SIZE;
        memset(o, 0, PK_BS);
        memcpy(o, y, 4);                 /* d */
        memcpy(o + PK_BS, y + 260, 32);  /* bsums */
        for (int g = 0; g < 16; g++) {
            const v128_t v = wasm_v128_load(y + 4 + 16 * g);
            const v128_t pr = pair_order(v);
            wasm_v128_store(o + PK_Q + 32 * g, wasm_i16x8_extend_low_i8x16(pr));
            wasm_v128_store(o + PK_Q + 32 * g + 16, wasm_i16x8_extend_high_i8x16(pr));
#if WISP_RELAXED_SIMD
            wasm_v128_store(o + PK_Q8 + 16 * g, pr);
#endif
        }
    }
}

#if WISP_RELAXED_SIMD
/* i16 lane sums r (lane k = ggml's lane k) times the scale s, added to i32 accumulators
 * of the even (0, 2, 4, 6) and odd (1, 3, 5, 7) lanes: one i32x4.dot_i16x8 each, against
 * (s, 0) / (0, s) pairs (cheaper than widening multiplies); lanes_eo_done puts them back
 * in order */
WISP_VINLINE void lanes_scale_eo(v128_t r, int s, v128_t *ev, v128_t *od) {
    *ev = wasm_i32x4_add(*ev, wasm_i32x4_dot_i16x8(r, wasm_i32x4_splat(s & 0xFFFF)));
    *od = wasm_i32x4_add(*od, wasm_i32x4_dot_i16x8(r, wasm_i32x4_splat((int32_t)((uint32_t)s << 16))));
}
WISP_VINLINE void lanes_eo_done(v128_t ev, v128_t od, v128_t *l0, v128_t *l1) {
    *l0 = wasm_i32x4_shuffle(ev, od, 0, 4, 1, 5);
    *l1 = wasm_i32x4_shuffle(ev, od, 2, 6, 3, 7);
}
#endif

/* 256 int8 weights (natural order) -> int16 in the pair order above */
WISP_VINLINE void a_pairs(const int8_t *a, int16_t *a16) {
    for (int g = 0; g < 16; g++) {
        const v128_t v = wasm_v128_load(a + 16 * g);
        const v128_t pr = pair_order(v);
        wasm_v128_store(a16 + 16 * g, wasm_i16x8_extend_low_i8x16(pr));
        wasm_v128_store(a16 + 16 * g + 8, wasm_i16x8_extend_high_i8x16(pr));
    }
}

/* lanes16_token on prepared data: group j's lane sums times its scale */
WISP_VINLINE void lanes16_token_p(const int16_t *a16, const uint8_t *yq, const int *sc, v128_t *lo, v128_t *hi) {
    v128_t l0 = wasm_i32x4_splat(0), l1 = wasm_i32x4_splat(0);
    for (int j = 0; j < 16; j++) {
        const v128_t s = wasm_i32x4_splat(sc[j]);
        l0 = wasm_i32x4_add(l0, wasm_i32x4_mul(wasm_i32x4_dot_i16x8(wasm_v128_load(a16 + 16 * j), wasm_v128_load(yq + 32 * j)), s));
        l1 = wasm_i32x4_add(l1, wasm_i32x4_mul(wasm_i32x4_dot_i16x8(wasm_v128_load(a16 + 16 * j + 8), wasm_v128_load(yq + 32 * j + 16)), s));
    }
    *lo = l0;
    *hi = l1;
}

#if WISP_RELAXED_SIMD
/* Relaxed builds, Q3_K / Q6_K on prepared rows: the signed weights a[] (-4..3 / -32..31)
 * plus bias (4 / 32) as pair-ordered bytes 0..127, for the relaxed i8 x i7 dot; per
 * token a.y = (a + bias).y - bias * (y_k + y_k+8), per i16 lane within
 * 63 * 128 * 2 + 32 * 128 * 2 < 2^15. Same integer lane sums as lanes16_token_p. */
WISP_VINLINE void a_pairs8(const int8_t *a, int8_t *a8, v128_t bias) {
    for (int g = 0; g < 16; g++) wasm_v128_store(a8 + 16 * g, wasm_i8x16_add(pair_order(wasm_v128_load(a + 16 * g)), bias));
}
WISP_VINLINE void lanes16_token_r(const int8_t *a8, const uint8_t *yb, const int *sc, v128_t bias, v128_t *lo, v128_t *hi) {
    v128_t ev = wasm_i32x4_splat(0), od = ev;
    for (int j = 0; j < 16; j++) {
        const v128_t y8 = wasm_v128_load(yb + PK_Q8 + 16 * j);
        const v128_t r = wasm_i16x8_sub(wisp_v_rdot_i8_i7(y8, wasm_v128_load(a8 + 16 * j)), wisp_v_rdot_i8_i7(y8, bias));
        lanes_scale_eo(r, sc[j], &ev, &od);
    }
    lanes_eo_done(ev, od, lo, hi);
}
#define LANES16_PREP(a, a16, bias) a_pairs8(a, (int8_t *)(a16), wasm_i8x16_splat(bias))
#define LANES16_TOKEN_P(a16, yb, sc, bias, l0, l1) lanes16_token_r((const int8_t *)(a16), yb, sc, wasm_i8x16_splat(bias), l0, l1)
#else
#define LANES16_PREP(a, a16, bias) a_pairs(a, a16)
#define LANES16_TOKEN_P(a16, yb, sc, bias, l0, l1) lanes16_token_p(a16, (yb) + PK_Q, sc, l0, l1)
#endif

WISP_VINLINE float sum8_lanes(v128_t lo, v128_t hi, float start) {
    float s = start;
    s += wasm_f32x4_extract_lane(lo, 0);
    s += wasm_f32x4_extract_lane(lo, 1);
    s += wasm_f32x4_extract_lane(lo, 2);
    s += wasm_f32x4_extract_lane(lo, 3);
    s += wasm_f32x4_extract_lane(hi, 0);
    s += wasm_f32x4_extract_lane(hi, 1);
    s += wasm_f32x4_extract_lane(hi, 2);
    s += wasm_f32x4_extract_lane(hi, 3);
    return s;
}

static void unpack_q3_scales(const uint8_t *s, int out[16]) {
    for (int j = 0; j < 16; j++) {
        const int lo = j < 8 ? (s[j] & 0x0F) : (s[j - 8] >> 4);
        const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (lo | (hi << 4)) - 32;
    }
}

WISP_VINLINE void dot_q3_K(int nc, int prep, int64_t n, const void *vx, const void *vy, size_t by, float *out) {
    const block_q3_K *x = (const block_q3_K *)vx;
    const int64_t nb = n / QK;
    v128_t slo[4], shi[4];
    for (int c = 0; c < 4; c++) slo[c] = shi[c] = wasm_f32x4_splat(0.0f);
    _Alignas(16) int8_t a[QK];
    _Alignas(16) int16_t a16[QK];
    for (int64_t i = 0; i < nb; i++) {
        /* element 128h + 32s + l: bits 2s of qs[32h + l], minus 4 unless hmask bit 4h+s */
        for (int hf = 0; hf < 2; hf++)
            for (int p = 0; p < 2; p++) {
                const v128_t q = wasm_v128_load(x[i].qs + 32 * hf + 16 * p);
                const v128_t hm = wasm_v128_load(x[i].hmask + 16 * p);
                for (int s = 0; s < 4; s++) {
                    const v128_t v = wisp_v_u8_shr_and(q, 2 * s, 3);
                    const v128_t hb = wisp_v_u8_shr_and(hm, 4 * hf + s, 1);
                    wasm_v128_store(a + 128 * hf + 32 * s + 16 * p,
                                    wasm_i8x16_add(wasm_i8x16_sub(v, wasm_i8x16_splat(4)), wisp_v_u8_shl_small(hb, 2)));
                }
            }
        int sc[16];
        unpack_q3_scales(x[i].scales, sc);
        const float xd = FP16(x[i].d);
        if (prep) LANES16_PREP(a, a16, 4);
        for (int c = 0; c < nc; c++) {
            const uint8_t *yb = (const uint8_t *)vy + (size_t)c * by + (size_t)i * (prep ? PK_SIZE : Q8K_SIZE);
            v128_t l0, l1;
            if (prep) LANES16_TOKEN_P(a16, yb, sc, 4, &l0, &l1);
            else lanes16_token(a, (const int8_t *)(yb + 4), sc, &l0, &l1);
            const v128_t d = wasm_f32x4_splat(xd * ldf(yb));
            slo[c] = wasm_f32x4_add(slo[c], wasm_f32x4_mul(d, wasm_f32x4_convert_i32x4(l0)));
            shi[c] = wasm_f32x4_add(shi[c], wasm_f32x4_mul(d, wasm_f32x4_convert_i32x4(l1)));
        }
    }
    for (int c = 0; c < nc; c++) out[c] = sum8_lanes(slo[c], shi[c], 0.0f);
}

WISP_VINLINE void dot_q6_K(int nc, int prep, int64_t n, const void *vx, const void *vy, size_t by, float *out) {
    const block_q6_K *x = (const block_q6_K *)vx;
    const int64_t nb = n / QK;
    v128_t slo[4], shi[4];
    for (int c = 0; c < 4; c++) slo[c] = shi[c] = wasm_f32x4_splat(0.0f);
    _Alignas(16) int8_t a[QK];
    _Alignas(16) int16_t a16[QK];
    const v128_t m4 = wasm_i8x16_splat(0x0F), m3 = wasm_i8x16_splat(3), e32 = wasm_i8x16_splat(32);
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        for (int hf = 0; hf < 2; hf++, ql += 64, qh += 32)
            for (int p = 0; p < 2; p++) {
                const v128_t l0 = wasm_v128_load(ql + 16 * p), l1 = wasm_v128_load(ql + 32 + 16 * p);
                const v128_t h = wasm_v128_load(qh + 16 * p);
                int8_t *d = a + 128 * hf + 16 * p;
                wasm_v128_store(d, wasm_i8x16_sub(wasm_v128_or(wasm_v128_and(l0, m4),
                                                               wisp_v_u8_shl_small(wasm_v128_and(h, m3), 4)), e32));
                wasm_v128_store(d + 32, wasm_i8x16_sub(wasm_v128_or(wasm_v128_and(l1, m4),
                                                                    wisp_v_u8_shl_small(wisp_v_u8_shr_and(h, 2, 3), 4)), e32));
                wasm_v128_store(d + 64, wasm_i8x16_sub(wasm_v128_or(wisp_v_u8_shr(l0, 4),
                                                                    wisp_v_u8_shl_small(wisp_v_u8_shr_and(h, 4, 3), 4)), e32));
                wasm_v128_store(d + 96, wasm_i8x16_sub(wasm_v128_or(wisp_v_u8_shr(l1, 4),
                                                                    wisp_v_u8_shl_small(wisp_v_u8_shr(h, 6), 4)), e32));
            }
        int sc[16];
        for (int j = 0; j < 16; j++) sc[j] = x[i].scales[j];
        const float xd = FP16(x[i].d);
        if (prep) LANES16_PREP(a, a16, 32);
        for (int c = 0; c < nc; c++) {
            const uint8_t *yb = (const uint8_t *)vy + (size_t)c * by + (size_t)i * (prep ? PK_SIZE : Q8K_SIZE);
            v128_t l0, l1;
            if (prep) LANES16_TOKEN_P(a16, yb, sc, 32, &l0, &l1);
            else lanes16_token(a, (const int8_t *)(yb + 4), sc, &l0, &l1);
            const v128_t d = wasm_f32x4_splat(xd * ldf(yb));
            slo[c] = wasm_f32x4_add(slo[c], wasm_f32x4_mul(d, wasm_f32x4_convert_i32x4(l0)));
            shi[c] = wasm_f32x4_add(shi[c], wasm_f32x4_mul(d, wasm_f32x4_convert_i32x4(l1)));
        }
    }
    for (int c = 0; c < nc; c++) out[c] = sum8_lanes(slo[c], shi[c], 0.0f);
}

/* ---- Q4_K / Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins */
WISP_VINLINE void dot_k_affine(int nc, int prep, int is_q5, int64_t n, const void *vx, const void *vy, size_t by, float *out) {
    const int64_t nb = n / QK;
    const size_t bx = is_q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    v128_t slo[4], shi[4];
    float sumf[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int c = 0; c < 4; c++) slo[c] = shi[c] = wasm_f32x4_splat(0.0f);
    _Alignas(16) int8_t a[QK];
    _Alignas(16) int16_t a16[QK];
    const v128_t m4 = wasm_i8x16_splat(0x0F);
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *xb = (const uint8_t *)vx + (size_t)i * bx;
        const uint8_t *scales = xb + 4;
        const uint8_t *qs = is_q5 ? xb + 16 + 32 : xb + 16;
        const uint8_t *qh = xb + 16;
        for (int j = 0; j < 4; j++)
            for (int p = 0; p < 2; p++) {
                const v128_t q = wasm_v128_load(qs + 32 * j + 16 * p);
                v128_t lo = wasm_v128_and(q, m4), hi = wisp_v_u8_shr(q, 4);
                if (is_q5) {
                    const v128_t h = wasm_v128_load(qh + 16 * p);
                    lo = wasm_i8x16_add(lo, wisp_v_u8_shl_small(wisp_v_u8_shr_and(h, 2 * j, 1), 4));
                    hi = wasm_i8x16_add(hi, wisp_v_u8_shl_small(wisp_v_u8_shr_and(h, 2 * j + 1, 1), 4));
                }
                wasm_v128_store(a + 64 * j + 16 * p, lo);
                wasm_v128_store(a + 64 * j + 32 + 16 * p, hi);
            }
        int sc[8], mn[8];
        for (int j = 0; j < 8; j++) scale_min_k4(j, scales, &sc[j], &mn[j]);
        /* bsums[j] pairs with mn[j/2] */
        const v128_t mn0 = wasm_i16x8_make((int16_t)mn[0], (int16_t)mn[0], (int16_t)mn[1], (int16_t)mn[1],
                                           (int16_t)mn[2], (int16_t)mn[2], (int16_t)mn[3], (int16_t)mn[3]);
        const v128_t mn1 = wasm_i16x8_make((int16_t)mn[4], (int16_t)mn[4], (int16_t)mn[5], (int16_t)mn[5],
                                           (int16_t)mn[6], (int16_t)mn[6], (int16_t)mn[7], (int16_t)mn[7]);
        const float xd = FP16(ld16(xb)), xdmin = FP16(ld16(xb + 2));
        if (prep) LANES16_PREP(a, a16, 0); /* the weights are 0..31 already: no bias */
        for (int c = 0; c < nc; c++) {
            const uint8_t *yb = (const uint8_t *)vy + (size_t)c * by + (size_t)i * (prep ? PK_SIZE : Q8K_SIZE);
            const int8_t *q8 = (const int8_t *)(yb + 4);
            const size_t bs = prep ? PK_BS : 260;
            const int sumi = wisp_v_hsum_i32(wasm_i32x4_add(wasm_i32x4_dot_i16x8(wasm_v128_load(yb + bs), mn0),
                                                            wasm_i32x4_dot_i16x8(wasm_v128_load(yb + bs + 16), mn1)));
            v128_t l0 = wasm_i32x4_splat(0), l1 = wasm_i32x4_splat(0);
#if WISP_RELAXED_SIMD
            if (prep) {
                /* sub-block j = groups 2j, 2j+1; i16 lanes hold four products (<= 31 * 128 * 4) */
                const int8_t *a8 = (const int8_t *)a16;
                v128_t ev = wasm_i32x4_splat(0), od = ev;
                for (int j = 0; j < 8; j++) {
                    const v128_t r = wasm_i16x8_add(
                        wisp_v_rdot_i8_i7(wasm_v128_load(yb + PK_Q8 + 32 * j), wasm_v128_load(a8 + 32 * j)),
                        wisp_v_rdot_i8_i7(wasm_v128_load(yb + PK_Q8 + 32 * j + 16), wasm_v128_load(a8 + 32 * j + 16)));
                    lanes_scale_eo(r, sc[j], &ev, &od);
                }
                lanes_eo_done(ev, od, &l0, &l1);
            } else
#else
            if (prep) {
                /* sub-block j = groups 2j, 2j+1 */
                const uint8_t *yq = yb + PK_Q;
                for (int j = 0; j < 8; j++) {
                    const v128_t s = wasm_i32x4_splat(sc[j]);
                    const v128_t p0 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(wasm_v128_load(a16 + 32 * j), wasm_v128_load(yq + 64 * j)),
                                                     wasm_i32x4_dot_i16x8(wasm_v128_load(a16 + 32 * j + 16), wasm_v128_load(yq + 64 * j + 32)));
                    const v128_t p1 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(wasm_v128_load(a16 + 32 * j + 8), wasm_v128_load(yq + 64 * j + 16)),
                                                     wasm_i32x4_dot_i16x8(wasm_v128_load(a16 + 32 * j + 24), wasm_v128_load(yq + 64 * j + 48)));
                    l0 = wasm_i32x4_add(l0, wasm_i32x4_mul(p0, s));
                    l1 = wasm_i32x4_add(l1, wasm_i32x4_mul(p1, s));
                }
            } else
#endif
            for (int j = 0; j < 8; j++) {
                /* 32 products of at most 31*128 each fold into 8 i16 lanes: |sum| <= 15872 */
                const v128_t p = wasm_i16x8_add(prod16_lanes(wasm_v128_load(a + 32 * j), wasm_v128_load(q8 + 32 * j)),
                                                prod16_lanes(wasm_v128_load(a + 32 * j + 16), wasm_v128_load(q8 + 32 * j + 16)));
                const v128_t s = splat16(sc[j]);
                l0 = wasm_i32x4_add(l0, wasm_i32x4_extmul_low_i16x8(p, s));
                l1 = wasm_i32x4_add(l1, wasm_i32x4_extmul_high_i16x8(p, s));
            }
            const float yd = ldf(yb);
            const v128_t d = wasm_f32x4_splat(xd * yd);
            slo[c] = wasm_f32x4_add(slo[c], wasm_f32x4_mul(d, wasm_f32x4_convert_i32x4(l0)));
            shi[c] = wasm_f32x4_add(shi[c], wasm_f32x4_mul(d, wasm_f32x4_convert_i32x4(l1)));
            const float dmin = xdmin * yd;
            sumf[c] -= dmin * (float)sumi;
        }
    }
    for (int c = 0; c < nc; c++) out[c] = sum8_lanes(slo[c], shi[c], sumf[c]);
}

/* Q4_K / Q5_K: sub-blocks 2j (lo) and 2j + 1 (hi), group p, as pair-ordered bytes 0..31;
 * h[p]: the pair-ordered qh bytes of group p (Q5_K) */
WISP_VINLINE void k_affine_nibbles(int is_q5, const uint8_t *qs, const v128_t h[2], int j, int p, v128_t *lo,
                                   v128_t *hi) {
    const v128_t q = pair_order(wasm_v128_load(qs + 32 * j + 16 * p));
    *lo = wasm_v128_and(q, wasm_i8x16_splat(0x0F));
    *hi = wisp_v_u8_shr(q, 4);
    if (is_q5) {
        *lo = wasm_i8x16_add(*lo, wisp_v_u8_shl_small(wisp_v_u8_shr_and(h[p], 2 * j, 1), 4));
        *hi = wasm_i8x16_add(*hi, wisp_v_u8_shl_small(wisp_v_u8_shr_and(h[p], 2 * j + 1, 1), 4));
    }
}

/* ---- one token on prepared activations (decode): the weights go straight from their
 * packed bits to the pair order of the prepared rows (a byte shuffle, then masks), with
 * no a[] / a16[] round trip through memory. Same integer lane sums and the same float
 * steps as dot_k_affine / dot_q6_K, so the same result. */

WISP_VINLINE float dotp1_k_affine(int is_q5, int64_t n, const void *vx, const void *vy) {
    const int64_t nb = n / QK;
    const size_t bx = is_q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    v128_t slo = wasm_f32x4_splat(0.0f), shi = slo;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *xb = (const uint8_t *)vx + (size_t)i * bx;
        const uint8_t *qs = is_q5 ? xb + 16 + 32 : xb + 16;
        const uint8_t *yb = (const uint8_t *)vy + (size_t)i * PK_SIZE, *yq = yb + PK_Q;
        /* the eight 6-bit scales and mins, unpacked with word operations (bytes 0-7 of
         * u: scales, 8-15: mins; scale_min_k4's bit layout) */
        _Alignas(16) uint32_t u[4];
        memcpy(u, xb + 4, 12);
        u[3] = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
        const uint32_t m03 = u[1] & 0x3f3f3f3fu;
        u[1] = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
        u[2] = m03;
        u[0] &= 0x3f3f3f3fu;
        const uint8_t *sc = (const uint8_t *)u;
        /* mins as i16, each twice (it pairs with two bsums) */
        const v128_t uv = wasm_v128_load(u), z = wasm_i8x16_splat(0);
        const v128_t mn0 = wasm_i8x16_shuffle(uv, z, 8, 16, 8, 16, 9, 16, 9, 16, 10, 16, 10, 16, 11, 16, 11, 16);
        const v128_t mn1 = wasm_i8x16_shuffle(uv, z, 12, 16, 12, 16, 13, 16, 13, 16, 14, 16, 14, 16, 15, 16, 15, 16);
        const int sumi = wisp_v_hsum_i32(wasm_i32x4_add(wasm_i32x4_dot_i16x8(wasm_v128_load(yb + PK_BS), mn0),
                                                        wasm_i32x4_dot_i16x8(wasm_v128_load(yb + PK_BS + 16), mn1)));
        v128_t h[2] = {wasm_i8x16_splat(0), wasm_i8x16_splat(0)};
        if (is_q5) {
            h[0] = pair_order(wasm_v128_load(xb + 16));
            h[1] = pair_order(wasm_v128_load(xb + 32));
        }
        v128_t l0 = wasm_i32x4_splat(0), l1 = l0;
#if WISP_RELAXED_SIMD
        /* the relaxed dot's i16 lane k is lane k's two products (elements k, k + 8 of a
         * group); a lane's four products of sub-block 2j (or 2j + 1) stay within i16
         * (31 * 128 * 4), then lanes_scale_eo applies the scale */
        v128_t ev = wasm_i32x4_splat(0), od = ev;
        for (int j = 0; j < 4; j++) {
            v128_t ra = wasm_i16x8_splat(0), rb = ra;
            for (int p = 0; p < 2; p++) {
                v128_t lo, hi;
                k_affine_nibbles(is_q5, qs, h, j, p, &lo, &hi);
                ra = wasm_i16x8_add(ra, wisp_v_rdot_i8_i7(wasm_v128_load(yb + PK_Q8 + 16 * (4 * j + p)), lo));
                rb = wasm_i16x8_add(rb, wisp_v_rdot_i8_i7(wasm_v128_load(yb + PK_Q8 + 16 * (4 * j + 2 + p)), hi));
            }
            lanes_scale_eo(ra, sc[2 * j], &ev, &od);
            lanes_scale_eo(rb, sc[2 * j + 1], &ev, &od);
        }
        lanes_eo_done(ev, od, &l0, &l1);
        (void)yq;
#else
        for (int j = 0; j < 4; j++) {
            /* 32 bytes: low nibbles = sub-block 2j, high nibbles = sub-block 2j + 1; bytes
             * 16p.. are group p of each (groups of 16 elements, 32 bytes apart in yq) */
            v128_t a0 = wasm_i32x4_splat(0), a1 = a0, b0 = a0, b1 = a0;
            for (int p = 0; p < 2; p++) {
                v128_t lo, hi;
                k_affine_nibbles(is_q5, qs, h, j, p, &lo, &hi);
                const uint8_t *ylo = yq + 32 * (4 * j + p), *yhi = yq + 32 * (4 * j + 2 + p);
                a0 = wasm_i32x4_add(a0, wasm_i32x4_dot_i16x8(wasm_u16x8_extend_low_u8x16(lo), wasm_v128_load(ylo)));
                a1 = wasm_i32x4_add(a1, wasm_i32x4_dot_i16x8(wasm_u16x8_extend_high_u8x16(lo), wasm_v128_load(ylo + 16)));
                b0 = wasm_i32x4_add(b0, wasm_i32x4_dot_i16x8(wasm_u16x8_extend_low_u8x16(hi), wasm_v128_load(yhi)));
                b1 = wasm_i32x4_add(b1, wasm_i32x4_dot_i16x8(wasm_u16x8_extend_high_u8x16(hi), wasm_v128_load(yhi + 16)));
            }
            const v128_t sa = wasm_i32x4_splat(sc[2 * j]), sb = wasm_i32x4_splat(sc[2 * j + 1]);
            l0 = wasm_i32x4_add(l0, wasm_i32x4_add(wasm_i32x4_mul(a0, sa), wasm_i32x4_mul(b0, sb)));
            l1 = wasm_i32x4_add(l1, wasm_i32x4_add(wasm_i32x4_mul(a1, sa), wasm_i32x4_mul(b1, sb)));
        }
#endif
        const float yd = ldf(yb);
        const v128_t d = wasm_f32x4_splat(FP16(ld16(xb)) * yd);
        slo = wasm_f32x4_add(slo, wasm_f32x4_mul(d, wasm_f32x4_convert_i32x4(l0)));
        shi = wasm_f32x4_add(shi, wasm_f32x4_mul(d, wasm_f32x4_convert_i32x4(l1)));
        sumf -= FP16(ld16(xb + 2)) * yd * (float)sumi;
    }
    return sum8_lanes(slo, shi, sumf);
}

WISP_VINLINE float dotp1_q6_K(int64_t n, const void *vx, const void *vy) {
    const block_q6_K *x = (const block_q6_K *)vx;
    const int64_t nb = n / QK;
    v128_t slo = wasm_f32x4_splat(0.0f), shi = slo;
    const v128_t m4 = wasm_i8x16_splat(0x0F), m3 = wasm_i8x16_splat(3), e32 = wasm_i8x16_splat(32);
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *yb = (const uint8_t *)vy + (size_t)i * PK_SIZE, *yq = yb + PK_Q;
        v128_t l0 = wasm_i32x4_splat(0), l1 = l0;
#if WISP_RELAXED_SIMD
        v128_t ev = l0, od = l0;
#endif
        for (int hf = 0; hf < 2; hf++)
            for (int p = 0; p < 2; p++) {
                const uint8_t *ql = x[i].ql + 64 * hf + 16 * p, *qh = x[i].qh + 32 * hf + 16 * p;
                const v128_t q0 = pair_order(wasm_v128_load(ql)), q1 = pair_order(wasm_v128_load(ql + 32));
                const v128_t hb = pair_order(wasm_v128_load(qh));
                v128_t v[4];
                v[0] = wasm_v128_or(wasm_v128_and(q0, m4), wisp_v_u8_shl_small(wasm_v128_and(hb, m3), 4));
                v[1] = wasm_v128_or(wasm_v128_and(q1, m4), wisp_v_u8_shl_small(wisp_v_u8_shr_and(hb, 2, 3), 4));
                v[2] = wasm_v128_or(wisp_v_u8_shr(q0, 4), wisp_v_u8_shl_small(wisp_v_u8_shr_and(hb, 4, 3), 4));
                v[3] = wasm_v128_or(wisp_v_u8_shr(q1, 4), wisp_v_u8_shl_small(wisp_v_u8_shr(hb, 6), 4));
#if WISP_RELAXED_SIMD
                /* the 6-bit q (0..63) with the relaxed dot, q - 32 as q.y - 32 * (y_k + y_k+8):
                 * per i16 lane |63 * 128 * 2| + |32 * 128 * 2| < 2^15 */
                for (int s = 0; s < 4; s++) {
                    const int g = 8 * hf + 2 * s + p;
                    const v128_t y8 = wasm_v128_load(yb + PK_Q8 + 16 * g);
                    const v128_t r = wasm_i16x8_sub(wisp_v_rdot_i8_i7(y8, v[s]), wisp_v_rdot_i8_i7(y8, e32));
                    lanes_scale_eo(r, x[i].scales[g], &ev, &od);
                }
                (void)yq;
#else
                for (int s = 0; s < 4; s++) {
                    /* elements 128hf + 32s + 16p.. : group 8hf + 2s + p, its own scale; the
                     * scale goes on the weights (|q| <= 32, |scale| <= 128: fits i16) */
                    const int g = 8 * hf + 2 * s + p;
                    const v128_t w = wasm_i8x16_sub(v[s], e32), sg = wasm_i16x8_splat((int16_t)x[i].scales[g]);
                    const uint8_t *y = yq + 32 * g;
                    l0 = wasm_i32x4_add(l0, wasm_i32x4_dot_i16x8(wasm_i16x8_mul(wasm_i16x8_extend_low_i8x16(w), sg),
                                                                 wasm_v128_load(y)));
                    l1 = wasm_i32x4_add(l1, wasm_i32x4_dot_i16x8(wasm_i16x8_mul(wasm_i16x8_extend_high_i8x16(w), sg),
                                                                 wasm_v128_load(y + 16)));
                }
#endif
            }
#if WISP_RELAXED_SIMD
        lanes_eo_done(ev, od, &l0, &l1);
#endif
        const v128_t d = wasm_f32x4_splat(FP16(x[i].d) * ldf(yb));
        slo = wasm_f32x4_add(slo, wasm_f32x4_mul(d, wasm_f32x4_convert_i32x4(l0)));
        shi = wasm_f32x4_add(shi, wasm_f32x4_mul(d, wasm_f32x4_convert_i32x4(l1)));
    }
    return sum8_lanes(slo, shi, 0.0f);
}

float wisp_simd_vec_dot_q2_K(int64_t n, const void *x, const void *y) { float r; dot_q2_K(1, n, x, y, 0, &r); return r; }
float wisp_simd_vec_dot_q3_K(int64_t n, const void *x, const void *y) { float r; dot_q3_K(1, 0, n, x, y, 0, &r); return r; }
float wisp_simd_vec_dot_q4_K(int64_t n, const void *x, const void *y) { float r; dot_k_affine(1, 0, 0, n, x, y, 0, &r); return r; }
float wisp_simd_vec_dot_q5_K(int64_t n, const void *x, const void *y) { float r; dot_k_affine(1, 0, 1, n, x, y, 0, &r); return r; }
float wisp_simd_vec_dot_q6_K(int64_t n, const void *x, const void *y) { float r; dot_q6_K(1, 0, n, x, y, 0, &r); return r; }
void wisp_simd_vec_dot4_q2_K(int64_t n, const void *x, const void *y, size_t by, float out[4]) { dot_q2_K(4, n, x, y, by, out); }
void wisp_simd_vec_dot4_q3_K(int64_t n, const void *x, const void *y, size_t by, float out[4]) { dot_q3_K(4, 0, n, x, y, by, out); }
void wisp_simd_vec_dot4_q4_K(int64_t n, const void *x, const void *y, size_t by, float out[4]) { dot_k_affine(4, 0, 0, n, x, y, by, out); }
void wisp_simd_vec_dot4_q5_K(int64_t n, const void *x, const void *y, size_t by, float out[4]) { dot_k_affine(4, 0, 1, n, x, y, by, out); }
void wisp_simd_vec_dot4_q6_K(int64_t n, const void *x, const void *y, size_t by, float out[4]) { dot_q6_K(4, 0, n, x, y, by, out); }
/* the same on prepared activations (wisp_simd_pK_prep) */
float wisp_simd_vec_dotp_q3_K(int64_t n, const void *x, const void *y) { float r; dot_q3_K(1, 1, n, x, y, 0, &r); return r; }
float wisp_simd_vec_dotp_q4_K(int64_t n, const void *x, const void *y) { return dotp1_k_affine(0, n, x, y); }
float wisp_simd_vec_dotp_q5_K(int64_t n, const void *x, const void *y) { return dotp1_k_affine(1, n, x, y); }
float wisp_simd_vec_dotp_q6_K(int64_t n, const void *x, const void *y) { return dotp1_q6_K(n, x, y); }
void wisp_simd_vec_dot4p_q3_K(int64_t n, const void *x, const void *y, size_t by, float out[4]) { dot_q3_K(4, 1, n, x, y, by, out); }
void wisp_simd_vec_dot4p_q4_K(int64_t n, const void *x, const void *y, size_t by, float out[4]) { dot_k_affine(4, 1, 0, n, x, y, by, out); }
void wisp_simd_vec_dot4p_q5_K(int64_t n, const void *x, const void *y, size_t by, float out[4]) { dot_k_affine(4, 1, 1, n, x, y, by, out); }
void wisp_simd_vec_dot4p_q6_K(int64_t n, const void *x, const void *y, size_t by, float out[4]) { dot_q6_K(4, 1, n, x, y, by, out); }

/* ================================================================ activation quantizers */

/* max |x| over 32 floats at x, NaN ignored (as fmaxf in the scalar loop) */
WISP_VINLINE float amax_f32(const float *x, int cnt) {
    v128_t m = wasm_f32x4_splat(0.0f);
    /* pmax(m, v) = m < v ? v : m, so a NaN lane of v never replaces m */
    for (int j = 0; j < cnt; j += 4) m = wasm_f32x4_pmax(m, wasm_f32x4_abs(wasm_v128_load(x + j)));
    m = wasm_f32x4_pmax(m, wasm_i32x4_shuffle(m, m, 2, 3, 0, 1));
    m = wasm_f32x4_pmax(m, wasm_i32x4_shuffle(m, m, 1, 0, 3, 2));
    return wasm_f32x4_extract_lane(m, 0);
}

/* roundf (ties away from zero), then clamp to [-128, 127], NaN -> 0: round_i8 in quant.c */
WISP_VINLINE v128_t round_i8_f32x4(v128_t v) {
    const v128_t t = wasm_f32x4_trunc(v);
    const v128_t frac = wasm_f32x4_sub(v, t); /* exact */
    const v128_t away = wasm_f32x4_ge(wasm_f32x4_abs(frac), wasm_f32x4_splat(0.5f));
    const v128_t one = wasm_v128_or(wasm_f32x4_splat(1.0f), wasm_v128_and(v, wasm_i32x4_splat((int32_t)0x80000000u)));
    v128_t r = wasm_f32x4_add(t, wasm_v128_and(one, away));
    r = wasm_f32x4_pmax(r, wasm_f32x4_splat(-128.0f)); /* NaN stays NaN ... */
    r = wasm_f32x4_pmin(r, wasm_f32x4_splat(127.0f));
    return wasm_i32x4_trunc_sat_f32x4(r);               /* ... and becomes 0 here */
}

/* 16 floats * id -> 16 int8 */
WISP_VINLINE v128_t quant16_q8(const float *x, v128_t id) {
    const v128_t a = round_i8_f32x4(wasm_f32x4_mul(wasm_v128_load(x), id));
    const v128_t b = round_i8_f32x4(wasm_f32x4_mul(wasm_v128_load(x + 4), id));
    const v128_t c = round_i8_f32x4(wasm_f32x4_mul(wasm_v128_load(x + 8), id));
    const v128_t d = round_i8_f32x4(wasm_f32x4_mul(wasm_v128_load(x + 12), id));
    return wasm_i8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(a, b), wasm_i16x8_narrow_i32x4(c, d));
}

WISP_VINLINE int32_t sum_i8x16(v128_t q) {
    return wisp_v_hsum_i32(wasm_i32x4_extadd_pairwise_i16x8(wasm_i16x8_extadd_pairwise_i8x16(q)));
}

void wisp_simd_quantize_row_q8_0(const float *x, void *dst, int64_t n) {
    block_q8_0 *y = (block_q8_0 *)dst;
    const int64_t nb = n / WISP_QK8_0;
    for (int64_t i = 0; i < nb; i++, x += WISP_QK8_0) {
        const float amax = amax_f32(x, 32);
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = wisp_fp32_to_fp16_inline(d);
        const v128_t vid = wasm_f32x4_splat(id);
        wasm_v128_store(y[i].qs, quant16_q8(x, vid));
        wasm_v128_store(y[i].qs + 16, quant16_q8(x + 16, vid));
    }
}

void wisp_simd_quantize_row_q8_1(const float *x, void *dst, int64_t n) {
    block_q8_1 *y = (block_q8_1 *)dst;
    const int64_t nb = n / WISP_QK8_1;
    for (int64_t i = 0; i < nb; i++, x += WISP_QK8_1) {
        const float amax = amax_f32(x, 32);
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = wisp_fp32_to_fp16_inline(d);
        const v128_t vid = wasm_f32x4_splat(id);
        const v128_t q0 = quant16_q8(x, vid), q1 = quant16_q8(x + 16, vid);
        wasm_v128_store(y[i].qs, q0);
        wasm_v128_store(y[i].qs + 16, q1);
        const int sum = sum_i8x16(q0) + sum_i8x16(q1);
        y[i].s = wisp_fp32_to_fp16_inline((float)sum * d);
    }
}

/* nearest_int(iscale * x) clamped to [-128, 127], as quant_k.c: the 1.5*2^23 trick */
WISP_VINLINE v128_t q8k_round4(const float *x, v128_t is) {
    const v128_t t = wasm_f32x4_add(wasm_f32x4_mul(is, wasm_v128_load(x)), wasm_f32x4_splat(12582912.0f));
    const v128_t v = wasm_i32x4_sub(wasm_v128_and(t, wasm_i32x4_splat(0x007fffff)), wasm_i32x4_splat(0x00400000));
    return wasm_i32x4_max(wasm_i32x4_splat(-128), wasm_i32x4_min(wasm_i32x4_splat(127), v));
}

void wisp_simd_quantize_row_q8_K(const float *x, void *dst, int64_t n) {
    block_q8_K *y = (block_q8_K *)dst;
    const int64_t nb = n / QK;
    for (int64_t i = 0; i < nb; i++, x += QK) {
        const float amax = amax_f32(x, QK);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        /* the scalar loop keeps the first element whose |x| is the maximum */
        float max = 0.0f;
        for (int j = 0; j < QK; j++)
            if (fabsf(x[j]) == amax) {
                max = x[j];
                break;
            }
        const float iscale = -127.0f / max;
        const v128_t is = wasm_f32x4_splat(iscale);
        for (int j = 0; j < QK; j += 16) {
            const v128_t a = q8k_round4(x + j, is), b = q8k_round4(x + j + 4, is);
            const v128_t c = q8k_round4(x + j + 8, is), d = q8k_round4(x + j + 12, is);
            const v128_t q = wasm_i8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(a, b), wasm_i16x8_narrow_i32x4(c, d));
            wasm_v128_store(y[i].qs + j, q);
            y[i].bsums[j / 16] = (int16_t)sum_i8x16(q);
        }
        y[i].d = 1 / iscale;
    }
}

/* ================================================================ attention pieces */

/* Eight finite halves -> two vectors of floats, without the Inf/NaN select of
 * wisp_v_h2f_x8 (same values for every finite half): the sign-extended half shifted by
 * 13 puts sign, exponent and mantissa in place once bits 28-30 (copies of the sign)
 * are cleared; the multiply by 2^112 then rebiases, as in wisp_v_h2f_i32. */
WISP_VINLINE void h2f_finite_x8(v128_t h8, v128_t *lo, v128_t *hi) {
    const v128_t m = wasm_i32x4_splat((int32_t)0x8fffe000u), k = wasm_f32x4_splat(0x1p112f);
    *lo = wasm_f32x4_mul(wasm_v128_and(wasm_i32x4_shl(wasm_i32x4_extend_low_i16x8(h8), 13), m), k);
    *hi = wasm_f32x4_mul(wasm_v128_and(wasm_i32x4_shl(wasm_i32x4_extend_high_i16x8(h8), 13), m), k);
}

WISP_VINLINE void h2f_x8_any(int finite, v128_t h8, v128_t *lo, v128_t *hi) {
    if (finite) h2f_finite_x8(h8, lo, hi);
    else wisp_v_h2f_x8(h8, lo, hi);
}

/* The score dot (below); finite: the rows hold no Inf/NaN half. */
WISP_VINLINE float dot_f16_f32_any(int finite, int64_t n, const wisp_fp16 *x, const float *q) {
    v128_t s0 = wasm_f64x2_splat(0.0), s1 = wasm_f64x2_splat(0.0);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v128_t x0, x1;
        h2f_x8_any(finite, wasm_v128_load(x + i), &x0, &x1);
        const v128_t p0 = wasm_f32x4_mul(x0, wasm_v128_load(q + i)), p1 = wasm_f32x4_mul(x1, wasm_v128_load(q + i + 4));
        s0 = wasm_f64x2_add(s0, wasm_f64x2_promote_low_f32x4(p0));
        s1 = wasm_f64x2_add(s1, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(p0, p0, 2, 3, 2, 3)));
        s0 = wasm_f64x2_add(s0, wasm_f64x2_promote_low_f32x4(p1));
        s1 = wasm_f64x2_add(s1, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(p1, p1, 2, 3, 2, 3)));
    }
    const v128_t s = wasm_f64x2_add(s0, s1);
    double sum = wasm_f64x2_extract_lane(s, 0) + wasm_f64x2_extract_lane(s, 1);
    for (; i < n; i++) sum += (double)(FP16(x[i]) * q[i]);
    return (float)sum;
}

/* Attention's score: an F16 key row against the query held as floats. The scalar F16
 * dot sums in one serial double; here four double partial sums (the products are the
 * same floats, so it differs only by double rounding, far below float precision). */
float wisp_simd_dot_f16_f32(int64_t n, const wisp_fp16 *x, const float *q) { return dot_f16_f32_any(0, n, x, q); }

static inline float round_f16_1(float x) { return FP16(wisp_fp32_to_fp16_inline(x)); }

void wisp_simd_round_f16_row(float *dst, const float *src, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) wasm_v128_store(dst + i, wisp_v_round_f16(wasm_v128_load(src + i)));
    for (; i < n; i++) dst[i] = round_f16_1(src[i]);
}

void wisp_simd_r16_scale(float *acc, float s, int64_t n) {
    const v128_t vs = wasm_f32x4_splat(s);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) wasm_v128_store(acc + i, wisp_v_round_f16(wasm_f32x4_mul(wasm_v128_load(acc + i), vs)));
    for (; i < n; i++) acc[i] = round_f16_1(acc[i] * s);
}

void wisp_simd_r16_axpy(float *acc, const wisp_fp16 *v, float s, int64_t n) {
    const v128_t vs = wasm_f32x4_splat(s);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v128_t v0, v1;
        wisp_v_h2f_x8(wasm_v128_load(v + i), &v0, &v1);
        wasm_v128_store(acc + i, wisp_v_round_f16(wasm_f32x4_add(wasm_v128_load(acc + i), wasm_f32x4_mul(v0, vs))));
        wasm_v128_store(acc + i + 4,
                        wisp_v_round_f16(wasm_f32x4_add(wasm_v128_load(acc + i + 4), wasm_f32x4_mul(v1, vs))));
    }
    for (; i < n; i++) acc[i] = round_f16_1(acc[i] + FP16(v[i]) * s);
}

/* Attention for NH (1..4) query heads that read the same K and V rows (grouped-query
 * attention): each K or V row is converted from halves once for all of them. Per head,
 * every float operation is the one-head computation's, in the same order.
 * Scratch per head j: scores/V weights at sc + j * st, rescale factors at ms + j * st. */

/* 1: every score (independent of each other: no serial chain through the max); per
 * head exactly dot_f16_f32_any's double sums */
WISP_VINLINE void attn_scores(const int NH, int finite, int64_t hd, int64_t n_kv, const wisp_fp16 *k,
                              const float *qf, float scale, float *sc, int64_t st) {
    for (int64_t p = 0; p < n_kv; p++) {
        const wisp_fp16 *x = k + p * hd;
        v128_t s0[4], s1[4];
        for (int j = 0; j < NH; j++) s0[j] = s1[j] = wasm_f64x2_splat(0.0);
        int64_t i = 0;
        for (; i + 8 <= hd; i += 8) {
            v128_t x0, x1;
            h2f_x8_any(finite, wasm_v128_load(x + i), &x0, &x1);
            for (int j = 0; j < NH; j++) {
                const float *q = qf + j * hd;
                const v128_t p0 = wasm_f32x4_mul(x0, wasm_v128_load(q + i));
                const v128_t p1 = wasm_f32x4_mul(x1, wasm_v128_load(q + i + 4));
                s0[j] = wasm_f64x2_add(s0[j], wasm_f64x2_promote_low_f32x4(p0));
                s1[j] = wasm_f64x2_add(s1[j], wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(p0, p0, 2, 3, 2, 3)));
                s0[j] = wasm_f64x2_add(s0[j], wasm_f64x2_promote_low_f32x4(p1));
                s1[j] = wasm_f64x2_add(s1[j], wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(p1, p1, 2, 3, 2, 3)));
            }
        }
        for (int j = 0; j < NH; j++) {
            const v128_t sv = wasm_f64x2_add(s0[j], s1[j]);
            double sum = wasm_f64x2_extract_lane(sv, 0) + wasm_f64x2_extract_lane(sv, 1);
            for (int64_t e = i; e < hd; e++) sum += (double)(FP16(x[e]) * qf[j * hd + e]);
            sc[j * st + p] = (float)sum * scale;
        }
    }
}

/* 16 dims of one head's F16 accumulator, as floats that are exactly halves. A struct
 * passed by value, so that after inlining the accumulators stay in locals (registers);
 * indexed through a pointer they went to memory at every position. */
typedef struct { v128_t v[4]; } acc16;

/* acc * m (scale) or acc + x * s (axpy), rounded to halves by the in-range rounding;
 * *big collects the lanes where the rounding was not valid (|value| >= 65520, NaN) */
WISP_VINLINE acc16 acc16_round_inrange(acc16 t, v128_t *big) {
    v128_t a[4];
    for (int e = 0; e < 4; e++) a[e] = wasm_v128_and(t.v[e], wasm_i32x4_splat(0x7fffffff));
    const v128_t top = wasm_i32x4_max(wasm_i32x4_max(a[0], a[1]), wasm_i32x4_max(a[2], a[3]));
    *big = wasm_v128_or(*big, wasm_i32x4_gt(top, wasm_i32x4_splat(0x477fefff)));
    for (int e = 0; e < 4; e++) t.v[e] = wisp_v_round_f16_inrange(t.v[e], a[e]);
    return t;
}
WISP_VINLINE acc16 acc16_scale(acc16 x, float m, v128_t *big) {
    const v128_t mv = wasm_f32x4_splat(m);
    for (int e = 0; e < 4; e++) x.v[e] = wasm_f32x4_mul(x.v[e], mv);
    return acc16_round_inrange(x, big);
}
WISP_VINLINE acc16 acc16_axpy(acc16 x, const v128_t v[4], float s, v128_t *big) {
    const v128_t sv = wasm_f32x4_splat(s);
    for (int e = 0; e < 4; e++) x.v[e] = wasm_f32x4_add(x.v[e], wasm_f32x4_mul(v[e], sv));
    return acc16_round_inrange(x, big);
}

/* attn_acc16's steps p..n_kv-1 with the general rounding, out of line (rarely run) */
static __attribute__((noinline)) void attn_acc16_general(int NH, int finite, int64_t hd, int64_t p, int64_t n_kv,
                                                         const wisp_fp16 *v, const float *ms, const float *vs,
                                                         int64_t st, int64_t d0, acc16 a[2]) {
    for (; p < n_kv; p++) {
        const wisp_fp16 *row = v + p * hd + d0;
        v128_t x[4];
        h2f_x8_any(finite, wasm_v128_load(row), &x[0], &x[1]);
        h2f_x8_any(finite, wasm_v128_load(row + 8), &x[2], &x[3]);
        for (int j = 0; j < NH; j++) {
            const float m = ms[j * st + p];
            if (m != 1.0f) {
                const v128_t mv = wasm_f32x4_splat(m);
                for (int e = 0; e < 4; e++) a[j].v[e] = wisp_v_round_f16(wasm_f32x4_mul(a[j].v[e], mv));
            }
            const v128_t sv = wasm_f32x4_splat(vs[j * st + p]);
            for (int e = 0; e < 4; e++)
                a[j].v[e] = wisp_v_round_f16(wasm_f32x4_add(a[j].v[e], wasm_f32x4_mul(x[e], sv)));
        }
    }
}

/* 3, for 16 dims [d0, d0 + 16) of NH (1..2) heads: each head's accumulator stays in four
 * registers across all positions. The steps run with the in-range rounding (no branch
 * per vector) as long as every value stays below 65520 in magnitude, as accumulators of
 * softmax-weighted V rows do; the first step that leaves that range is discarded and
 * redone, with all later ones, by the general rounding (wisp_v_round_f16). */
WISP_VINLINE void attn_acc16(const int NH, int finite, int64_t hd, int64_t n_kv, const wisp_fp16 *v,
                             const float *ms, const float *vs, int64_t st, int64_t d0, float *out,
                             const float *s_inv) {
    const v128_t z = wasm_f32x4_splat(0.0f);
    acc16 a0 = {{z, z, z, z}}, a1 = a0;
    int64_t p = 0;
    for (; p < n_kv; p++) {
        const wisp_fp16 *row = v + p * hd + d0;
        v128_t x[4], big = z;
        h2f_x8_any(finite, wasm_v128_load(row), &x[0], &x[1]);
        h2f_x8_any(finite, wasm_v128_load(row + 8), &x[2], &x[3]);
        /* the max grew: rescale (round16(a * 1) = a, so 1 is skipped) */
        acc16 n0 = a0, n1 = a1;
        if (ms[p] != 1.0f) n0 = acc16_scale(n0, ms[p], &big);
        n0 = acc16_axpy(n0, x, vs[p], &big);
        if (NH == 2) {
            if (ms[st + p] != 1.0f) n1 = acc16_scale(n1, ms[st + p], &big);
            n1 = acc16_axpy(n1, x, vs[st + p], &big);
        }
        if (__builtin_expect(wasm_v128_any_true(big), 0)) break;
        a0 = n0;
        a1 = n1;
    }
    if (p < n_kv) { /* (a copy: a0, a1 themselves must not have their address taken) */
        acc16 a[2] = {a0, a1};
        attn_acc16_general(NH, finite, hd, p, n_kv, v, ms, vs, st, d0, a);
        a0 = a[0];
        a1 = a[1];
    }
    for (int j = 0; j < NH; j++) {
        const v128_t si = wasm_f32x4_splat(s_inv[j]);
        const acc16 r = j ? a1 : a0;
        for (int e = 0; e < 4; e++) wasm_v128_store(out + j * hd + d0 + 4 * e, wasm_f32x4_mul(r.v[e], si));
    }
}

WISP_VINLINE void attn_heads(int finite, int nh, int64_t hd, int64_t n_kv, const wisp_fp16 *k,
                             const wisp_fp16 *v, const float *qf, float scale, float *scratch, float *out) {
    const int64_t st = 2 * n_kv;
    float *sc = scratch, *ms = scratch + n_kv;
    switch (nh) {
    case 1: attn_scores(1, finite, hd, n_kv, k, qf, scale, sc, st); break;
    case 2: attn_scores(2, finite, hd, n_kv, k, qf, scale, sc, st); break;
    case 3: attn_scores(3, finite, hd, n_kv, k, qf, scale, sc, st); break;
    default: attn_scores(4, finite, hd, n_kv, k, qf, scale, sc, st); break;
    }
    /* 2: per head, the online softmax's running max and sum, step by step as ggml takes
     * them; per position the rescale factor of the accumulator (ms) and the weight of V
     * (stored over the score) */
    float s_inv[WISP_ATTN_MAX_HEADS];
    for (int j = 0; j < nh; j++) {
        float *scj = sc + j * st, *msj = ms + j * st;
        float S = 0.0f, M = -INFINITY;
        for (int64_t p = 0; p < n_kv; p++) {
            const float x = scj[p];
            float m = 1.0f, w = 1.0f;
            if (x > M) {
                m = expf(M - x);
                M = x;
            } else {
                w = expf(x - M);
            }
            msj[p] = m;
            scj[p] = w;
            S = S * m + w;
        }
        s_inv[j] = S == 0.0f ? 0.0f : 1.0f / S;
    }
    /* 3: the F16 accumulators, 16 dims of two heads at a time */
    for (int j = 0; j < nh; j += 2) {
        const int64_t o = j * st;
        int64_t d0 = 0;
        for (; d0 + 16 <= hd; d0 += 16) {
            if (nh - j >= 2) attn_acc16(2, finite, hd, n_kv, v, ms + o, sc + o, st, d0, out + j * hd, s_inv + j);
            else attn_acc16(1, finite, hd, n_kv, v, ms + o, sc + o, st, d0, out + j * hd, s_inv + j);
        }
    }
    for (int j = 0; j < nh; j++) {
        const float *scj = sc + j * st, *msj = ms + j * st;
        for (int64_t d0 = hd / 16 * 16; d0 < hd; d0++) {
            float a = 0.0f;
            for (int64_t p = 0; p < n_kv; p++) {
                if (msj[p] != 1.0f) a = round_f16_1(a * msj[p]);
                a = round_f16_1(a + FP16(v[p * hd + d0]) * scj[p]);
            }
            out[j * hd + d0] = a * s_inv[j];
        }
    }
}

void wisp_simd_attn_heads(int64_t hd, int64_t n_kv, const wisp_fp16 *k, const wisp_fp16 *v, const float *qf,
                          int nh, float scale, int kv_finite, float *scratch, float *out) {
    for (int h = 0; h < nh; h += WISP_ATTN_MAX_HEADS) {
        const int m = nh - h < WISP_ATTN_MAX_HEADS ? nh - h : WISP_ATTN_MAX_HEADS;
        if (kv_finite) attn_heads(1, m, hd, n_kv, k, v, qf + h * hd, scale, scratch, out + h * hd);
        else attn_heads(0, m, hd, n_kv, k, v, qf + h * hd, scale, scratch, out + h * hd);
    }
}

void wisp_simd_attn_head(int64_t hd, int64_t n_kv, const wisp_fp16 *k, const wisp_fp16 *v, const float *qf,
                         float scale, int kv_finite, float *scratch, float *out) {
    wisp_simd_attn_heads(hd, n_kv, k, v, qf, 1, scale, kv_finite, scratch, out);
}

int wisp_simd_f16_all_finite(const wisp_fp16 *h, int64_t n) {
    const v128_t e = wasm_i16x8_splat(0x7c00);
    v128_t bad = wasm_i16x8_splat(0);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) bad = wasm_v128_or(bad, wasm_i16x8_eq(wasm_v128_and(wasm_v128_load(h + i), e), e));
    int ok = !wasm_v128_any_true(bad);
    for (; i < n; i++) ok &= (h[i] & 0x7c00) != 0x7c00;
    return ok;
}

void wisp_simd_f32_to_f16(wisp_fp16 *dst, const float *src, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        wasm_v128_store(dst + i, wisp_v_f2h_x8(wasm_v128_load(src + i), wasm_v128_load(src + i + 4)));
    for (; i < n; i++) dst[i] = wisp_fp32_to_fp16_inline(src[i]);
}

void wisp_simd_f16_to_f32_scale(float *dst, const wisp_fp16 *src, float s, int64_t n) {
    const v128_t vs = wasm_f32x4_splat(s);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v128_t a0, a1;
        wisp_v_h2f_x8(wasm_v128_load(src + i), &a0, &a1);
        wasm_v128_store(dst + i, wasm_f32x4_mul(a0, vs));
        wasm_v128_store(dst + i + 4, wasm_f32x4_mul(a1, vs));
    }
    for (; i < n; i++) dst[i] = FP16(src[i]) * s;
}

#else
/* ISO C forbids an empty translation unit */
typedef int wisp_kernels_simd128_unused;
#endif
