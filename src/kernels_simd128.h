/* kernels_simd128.h — the SIMD128 kernels (kernels_simd128.c): dot products for every
 * weight type, the activation quantizers, and the vector pieces of attention and norms.
 * Compiled when simd128.h says so; quant.c puts them into the traits table. */
#ifndef WISP_KERNELS_SIMD128_H
#define WISP_KERNELS_SIMD128_H

#include <stddef.h>
#include <stdint.h>

#include "quant.h"
#include "simd128.h"

#if WISP_HAVE_SIMD128

/* Same contract and same result as the scalar kernels: integer sums are identical and
 * every float is rounded in the scalar kernel's order, so results are bit-identical
 * (the F32/F16/BF16 dots keep ggml's serial double sum too). */
float wisp_simd_vec_dot_f32(int64_t n, const void *x, const void *y);
float wisp_simd_vec_dot_f16(int64_t n, const void *x, const void *y);
float wisp_simd_vec_dot_bf16(int64_t n, const void *x, const void *y);
float wisp_simd_vec_dot_q4_0(int64_t n, const void *x, const void *y);
float wisp_simd_vec_dot_q4_1(int64_t n, const void *x, const void *y);
float wisp_simd_vec_dot_q5_0(int64_t n, const void *x, const void *y);
float wisp_simd_vec_dot_q5_1(int64_t n, const void *x, const void *y);
float wisp_simd_vec_dot_q8_0(int64_t n, const void *x, const void *y);
float wisp_simd_vec_dot_q2_K(int64_t n, const void *x, const void *y);
float wisp_simd_vec_dot_q3_K(int64_t n, const void *x, const void *y);
float wisp_simd_vec_dot_q4_K(int64_t n, const void *x, const void *y);
float wisp_simd_vec_dot_q5_K(int64_t n, const void *x, const void *y);
float wisp_simd_vec_dot_q6_K(int64_t n, const void *x, const void *y);

/* Four tokens at once: out[c] = vec_dot(n, x, y + c*by) for c = 0..3, bit-identical to
 * four vec_dot calls; each weight block is decoded once for the four tokens. */
void wisp_simd_vec_dot4_q4_0(int64_t n, const void *x, const void *y, size_t by, float out[4]);
void wisp_simd_vec_dot4_q4_1(int64_t n, const void *x, const void *y, size_t by, float out[4]);
void wisp_simd_vec_dot4_q5_0(int64_t n, const void *x, const void *y, size_t by, float out[4]);
void wisp_simd_vec_dot4_q5_1(int64_t n, const void *x, const void *y, size_t by, float out[4]);
void wisp_simd_vec_dot4_q8_0(int64_t n, const void *x, const void *y, size_t by, float out[4]);
void wisp_simd_vec_dot4_q2_K(int64_t n, const void *x, const void *y, size_t by, float out[4]);
void wisp_simd_vec_dot4_q3_K(int64_t n, const void *x, const void *y, size_t by, float out[4]);
void wisp_simd_vec_dot4_q4_K(int64_t n, const void *x, const void *y, size_t by, float out[4]);
void wisp_simd_vec_dot4_q5_K(int64_t n, const void *x, const void *y, size_t by, float out[4]);
void wisp_simd_vec_dot4_q6_K(int64_t n, const void *x, const void *y, size_t by, float out[4]);

/* The prepared-activation path of the 32-element types (see kernels_simd128.c):
 * p32_prep re-lays out a Q8_0 / Q8_1 row (n elements) into p32_size(n) bytes; the
 * dotp / dot4p kernels then give exactly what vec_dot / vec_dot4 give on the original. */
size_t wisp_simd_p32_size(int64_t n);
void wisp_simd_p32_prep_q8_0(const void *y, void *yp, int64_t n);
void wisp_simd_p32_prep_q8_1(const void *y, void *yp, int64_t n);
float wisp_simd_vec_dotp_q4_0(int64_t n, const void *x, const void *yp);
float wisp_simd_vec_dotp_q4_1(int64_t n, const void *x, const void *yp);
float wisp_simd_vec_dotp_q5_0(int64_t n, const void *x, const void *yp);
float wisp_simd_vec_dotp_q5_1(int64_t n, const void *x, const void *yp);
float wisp_simd_vec_dotp_q8_0(int64_t n, const void *x, const void *yp);
void wisp_simd_vec_dot4p_q4_0(int64_t n, const void *x, const void *yp, size_t byp, float out[4]);
void wisp_simd_vec_dot4p_q4_1(int64_t n, const void *x, const void *yp, size_t byp, float out[4]);
void wisp_simd_vec_dot4p_q5_0(int64_t n, const void *x, const void *yp, size_t byp, float out[4]);
void wisp_simd_vec_dot4p_q5_1(int64_t n, const void *x, const void *yp, size_t byp, float out[4]);
void wisp_simd_vec_dot4p_q8_0(int64_t n, const void *x, const void *yp, size_t byp, float out[4]);

/* Four weight rows x + k*bx (k = 0..3) against one prepared activation row:
 * out[k] = vec_dotp(n, x + k*bx, yp), bit-identical; for decode (one token). */
void wisp_simd_vec_dotp_rows4_q4_0(int64_t n, const void *x, size_t bx, const void *yp, float out[4]);
void wisp_simd_vec_dotp_rows4_q4_1(int64_t n, const void *x, size_t bx, const void *yp, float out[4]);
void wisp_simd_vec_dotp_rows4_q5_0(int64_t n, const void *x, size_t bx, const void *yp, float out[4]);
void wisp_simd_vec_dotp_rows4_q5_1(int64_t n, const void *x, size_t bx, const void *yp, float out[4]);
void wisp_simd_vec_dotp_rows4_q8_0(int64_t n, const void *x, size_t bx, const void *yp, float out[4]);

/* The same for the k-quants (but Q2_K) on Q8_K rows: pK_prep into pK_size(n) bytes. */
size_t wisp_simd_pK_size(int64_t n);
void wisp_simd_pK_prep(const void *y, void *yp, int64_t n);
float wisp_simd_vec_dotp_q3_K(int64_t n, const void *x, const void *yp);
float wisp_simd_vec_dotp_q4_K(int64_t n, const void *x, const void *yp);
float wisp_simd_vec_dotp_q5_K(int64_t n, const void *x, const void *yp);
float wisp_simd_vec_dotp_q6_K(int64_t n, const void *x, const void *yp);
void wisp_simd_vec_dot4p_q3_K(int64_t n, const void *x, const void *yp, size_t byp, float out[4]);
void wisp_simd_vec_dot4p_q4_K(int64_t n, const void *x, const void *yp, size_t byp, float out[4]);
void wisp_simd_vec_dot4p_q5_K(int64_t n, const void *x, const void *yp, size_t byp, float out[4]);
void wisp_simd_vec_dot4p_q6_K(int64_t n, const void *x, const void *yp, size_t byp, float out[4]);

/* Activation quantizers, byte-identical to the scalar ones. */
void wisp_simd_quantize_row_q8_0(const float *x, void *y, int64_t n);
void wisp_simd_quantize_row_q8_1(const float *x, void *y, int64_t n);
void wisp_simd_quantize_row_q8_K(const float *x, void *y, int64_t n);

/* Attention pieces. ggml's F16 V accumulator is kept in f32 (every value exactly a half),
 * so there is no conversion per step: dot_f16_f32 = the F16 dot with y's halves given as
 * floats, summed in four double partial sums (differs from the serial double sum only by
 * double rounding, far below float precision); round_f16_row: dst = fp16->f32(fp16(src));
 * r16_scale / r16_axpy: acc[i] = round16(acc[i] * s), round16(acc[i] + v[i] * s), exactly
 * the scalar F16 expressions. f32_to_f16 / f16_to_f32_scale: row conversions (exact).
 * n multiple of 8 not required. */
float wisp_simd_dot_f16_f32(int64_t n, const wisp_fp16 *x, const float *y);
void wisp_simd_round_f16_row(float *dst, const float *src, int64_t n);
void wisp_simd_r16_scale(float *acc, float s, int64_t n);
void wisp_simd_r16_axpy(float *acc, const wisp_fp16 *v, float s, int64_t n);
/* One (token, head) of ggml's CPU flash attention with an F16 KV cache, bit-exact with
 * the step-by-step form (forward.c's scalar path): n_kv key and value rows of hd halves
 * (row stride hd), the query qf rounded to halves and held as floats; out = the
 * normalised weighted sum of V (hd floats). Scores first, then the online max/sum, then
 * the F16 accumulator 16 dims at a time in registers. kv_finite: no Inf/NaN half in
 * the rows (a cheaper conversion; wisp_simd_f16_all_finite tells). scratch: 2 * n_kv
 * floats. */
void wisp_simd_attn_head(int64_t hd, int64_t n_kv, const wisp_fp16 *k, const wisp_fp16 *v, const float *qf,
                         float scale, int kv_finite, float *scratch, float *out);
/* The same for nh query heads that share these K/V rows (grouped-query attention): qf
 * and out hold nh rows of hd; each K/V row is converted once for up to
 * WISP_ATTN_MAX_HEADS heads. Every head's output is bit-identical to
 * wisp_simd_attn_head's. scratch: 2 * n_kv * min(nh, WISP_ATTN_MAX_HEADS) floats. */
#define WISP_ATTN_MAX_HEADS 4
void wisp_simd_attn_heads(int64_t hd, int64_t n_kv, const wisp_fp16 *k, const wisp_fp16 *v, const float *qf,
                          int nh, float scale, int kv_finite, float *scratch, float *out);
int wisp_simd_f16_all_finite(const wisp_fp16 *h, int64_t n);
void wisp_simd_f32_to_f16(wisp_fp16 *dst, const float *src, int64_t n);
void wisp_simd_f16_to_f32_scale(float *dst, const wisp_fp16 *src, float s, int64_t n);

#endif
#endif
