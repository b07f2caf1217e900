/* quant_k.c — the 256-element "k-quants" (Q2_K..Q6_K) and their activation format Q8_K:
 * dequantize, ggml's reference quantizers, and the generic scalar dot products.
 *
 * Dequantize and dot follow ggml's float operation order exactly; the quantizers follow
 * quantize_row_*_ref (they build test data and weights, so matching ggml's choice of
 * scales is a bonus, not a contract). */
#include "quant.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* see quant.c */
#endif

#define QK WISP_QK_K
#define FP16(h) wisp_fp16_to_fp32_inline(h)
#define TO_FP16(f) wisp_fp32_to_fp16_inline(f)
#define GROUP_MAX_EPS 1e-15f

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* Round to nearest, ties to even, for |v| < 2^22: adding 1.5*2^23 leaves the integer in
 * the low mantissa bits. ggml uses exactly this, and it is defined behaviour for any
 * input (garbage out for huge/NaN values, never a trap). */
static inline int nearest_int(float v) {
    const float t = v + 12582912.0f;
    return (int)(wisp_f32_bits(t) & 0x007fffffu) - 0x00400000;
}

/* The 6-bit scale and min of sub-block j (0..7) of Q4_K/Q5_K: j < 4 sit in the low 6
 * bits of bytes j and j+4; j >= 4 are split into a nibble in byte j+4 and the top two
 * bits of bytes j-4 (scale) and j (min). */
static inline void scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* The 16 signed 6-bit scales of Q3_K (stored +32): low nibbles in bytes 0..7 (j < 8)
 * or their high nibbles (j >= 8), top two bits in bytes 8..11. */
static void unpack_q3_scales(const uint8_t *s, int out[16]) {
    for (int j = 0; j < 16; j++) {
        const int lo = j < 8 ? (s[j] & 0x0F) : (s[j - 8] >> 4);
        const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (lo | (hi << 4)) - 32;
    }
}

/* ---------------------------------------------------------------- scale search helpers
 * Same algorithms as ggml-quants.c (make_qx_quants, make_q3_quants, make_qkx2_quants). */

/* Symmetric nmax-level fit of n values, weighted by x^2, trying 19 scales around
 * -nmax/max; L gets q + nmax in 0..2*nmax-1. Returns the scale. (Q6_K) */
static float fit_symmetric(int n, int nmax, const float *x, int8_t *L) {
    float max = 0.0f, amax = 0.0f;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -nmax / max;
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0.0f;
        for (int i = 0; i < n; i++) {
            const int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                const int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
                L[i] = (int8_t)(l + nmax);
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Symmetric fit refined by coordinate descent on single quants (up to 5 sweeps),
 * weighted by x^2; L gets q + nmax. (Q3_K) */
static float fit_symmetric_q3(int n, int nmax, const float *x, int8_t *L) {
    float max = 0.0f, amax = 0.0f;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0.0f) {
                float sl2 = suml2 - w * L[i] * L[i];
                const int new_l = imax(-nmax, imin(nmax - 1, nearest_int(x[i] * sl2 / slx)));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric fit x ~ scale*L - min with L in 0..nmax, min >= 0, minimising the weighted
 * squared (or absolute, use_mad) error over nstep+1 trial scales. Returns the scale and
 * stores min (positive) in *the_min. (Q2_K, Q4_K, Q5_K) */
static float fit_affine(int n, int nmax, const float *x, const float *w, uint8_t *L,
                        float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                        bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0.0f) min = 0.0f;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.0f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)imax(0, imin(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += w[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
        for (int i = 0; i < n; i++) {
            const int l = imax(0, imin(nmax, nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0.0f) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0.0f) {
                this_min = 0.0f;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0.0f;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += w[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* ---------------------------------------------------------------- Q2_K */

void wisp_quantize_row_q2_K(const float *x, void *dst, int64_t n) {
    block_q2_K *y = (block_q2_K *)dst;
    const int64_t nb = n / QK;
    uint8_t L[QK], Laux[16];
    float weights[16], mins[QK / 16], scales[QK / 16];
    const float q4scale = 15.0f;

    for (int64_t i = 0; i < nb; i++, x += QK) {
        float max_scale = 0.0f, max_min = 0.0f;
        for (int j = 0; j < QK / 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = fit_affine(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f,
                                   0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0.0f) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < QK / 16; j++) y[i].scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
            y[i].d = TO_FP16(max_scale / q4scale);
        } else {
            memset(y[i].scales, 0, sizeof(y[i].scales));
            y[i].d = TO_FP16(0.0f);
        }
        if (max_min > 0.0f) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < QK / 16; j++)
                y[i].scales[j] = (uint8_t)(y[i].scales[j] | (nearest_int(iscale * mins[j]) << 4));
            y[i].dmin = TO_FP16(max_min / q4scale);
        } else {
            y[i].dmin = TO_FP16(0.0f);
        }
        /* requantize against the rounded (4-bit, fp16) scales actually stored */
        for (int j = 0; j < QK / 16; j++) {
            const float d = FP16(y[i].d) * (y[i].scales[j] & 0x0F);
            if (d == 0.0f) continue;
            const float dm = FP16(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ii++) {
                const int l = nearest_int((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = (uint8_t)imax(0, imin(3, l));
            }
        }
        for (int j = 0; j < QK; j += 128) {
            for (int l = 0; l < 32; l++) {
                y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) |
                                               (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
            }
        }
    }
}

void wisp_dequantize_row_q2_K(const void *src, float *y, int64_t n) {
    const block_q2_K *x = (const block_q2_K *)src;
    const int64_t nb = n / QK;
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d);
        const float min = FP16(x[i].dmin);
        const uint8_t *q = x[i].qs;
        int is = 0;
        for (int half = 0; half < QK; half += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int part = 0; part < 2; part++) { /* two sub-blocks of 16 per shift */
                    const uint8_t sc = x[i].scales[is++];
                    const float dl = d * (float)(sc & 0x0F);
                    const float ml = min * (float)(sc >> 4);
                    const uint8_t *qq = q + 16 * part;
                    for (int l = 0; l < 16; l++) *y++ = dl * (float)((qq[l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

float wisp_vec_dot_q2_K_q8_K(int64_t n, const void *vx, const void *vy) {
    const block_q2_K *x = (const block_q2_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    const int64_t nb = n / QK;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *q2 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        const uint8_t *sc = x[i].scales;
        /* min term: each sub-block of 16 contributes m * sum(q8) = m * bsums */
        int summs = 0;
        for (int j = 0; j < 16; j++) summs += y[i].bsums[j] * (sc[j] >> 4);
        const float dall = y[i].d * FP16(x[i].d);
        const float dmin = y[i].d * FP16(x[i].dmin);
        int isum = 0, is = 0;
        for (int k = 0; k < QK / 128; k++, q2 += 32) {
            for (int shift = 0; shift < 8; shift += 2, q8 += 32) {
                for (int part = 0; part < 2; part++) {
                    int s = 0;
                    for (int l = 16 * part; l < 16 * part + 16; l++) s += q8[l] * ((q2[l] >> shift) & 3);
                    isum += (sc[is++] & 0x0F) * s;
                }
            }
        }
        sumf += dall * (float)isum - dmin * (float)summs;
    }
    return sumf;
}

/* ---------------------------------------------------------------- Q3_K */

void wisp_quantize_row_q3_K(const float *x, void *dst, int64_t n) {
    block_q3_K *y = (block_q3_K *)dst;
    const int64_t nb = n / QK;
    int8_t L[QK];
    float scales[QK / 16];

    for (int64_t i = 0; i < nb; i++, x += QK) {
        float max_scale = 0.0f, amax = 0.0f;
        for (int j = 0; j < QK / 16; j++) {
            scales[j] = fit_symmetric_q3(16, 4, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) { amax = fabsf(scales[j]); max_scale = scales[j]; }
        }
        memset(y[i].scales, 0, sizeof(y[i].scales));
        if (max_scale != 0.0f) {
            const float iscale = -32.0f / max_scale;
            for (int j = 0; j < QK / 16; j++) {
                const int l = imax(-32, imin(31, nearest_int(iscale * scales[j]))) + 32;
                if (j < 8) y[i].scales[j] = (uint8_t)(l & 0x0F);
                else y[i].scales[j - 8] = (uint8_t)(y[i].scales[j - 8] | ((l & 0x0F) << 4));
                y[i].scales[j % 4 + 8] = (uint8_t)(y[i].scales[j % 4 + 8] | ((l >> 4) << (2 * (j / 4))));
            }
            y[i].d = TO_FP16(1 / iscale);
        } else {
            y[i].d = TO_FP16(0.0f);
        }
        int sc[16];
        unpack_q3_scales(y[i].scales, sc);
        for (int j = 0; j < QK / 16; j++) {
            const float d = FP16(y[i].d) * (float)sc[j];
            if (d == 0.0f) continue;
            for (int ii = 0; ii < 16; ii++) {
                const int l = imax(-4, imin(3, nearest_int(x[16 * j + ii] / d)));
                L[16 * j + ii] = (int8_t)(l + 4);
            }
        }
        /* the high bit (value >= 4) of element 32*k + l goes to bit k of hmask[l] */
        memset(y[i].hmask, 0, sizeof(y[i].hmask));
        for (int j = 0; j < QK; j++) {
            if (L[j] > 3) {
                y[i].hmask[j % 32] = (uint8_t)(y[i].hmask[j % 32] | (1u << (j / 32)));
                L[j] = (int8_t)(L[j] - 4);
            }
        }
        for (int j = 0; j < QK; j += 128) {
            for (int l = 0; l < 32; l++) {
                y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) |
                                               (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
            }
        }
    }
}

void wisp_dequantize_row_q3_K(const void *src, float *y, int64_t n) {
    const block_q3_K *x = (const block_q3_K *)src;
    const int64_t nb = n / QK;
    for (int64_t i = 0; i < nb; i++) {
        const float d_all = FP16(x[i].d);
        int sc[16];
        unpack_q3_scales(x[i].scales, sc);
        const uint8_t *q = x[i].qs;
        const uint8_t *hm = x[i].hmask;
        int is = 0;
        unsigned m = 1;
        for (int half = 0; half < QK; half += 128, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
                for (int part = 0; part < 2; part++) {
                    const float dl = d_all * (float)sc[is++];
                    for (int l = 16 * part; l < 16 * part + 16; l++) {
                        const int v = ((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4);
                        *y++ = dl * (float)v;
                    }
                }
            }
        }
    }
}

/* The k-quant dots below keep ggml's 8 float lanes: element j of a block feeds integer
 * lane j % 8, each lane is scaled by d once per block and summed into its own float
 * accumulator, and the 8 accumulators are added in order at the end. */
float wisp_vec_dot_q3_K_q8_K(int64_t n, const void *vx, const void *vy) {
    const block_q3_K *x = (const block_q3_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    const int64_t nb = n / QK;
    float sums[8] = {0};
    for (int64_t i = 0; i < nb; i++) {
        int8_t a[QK];
        const uint8_t *q3 = x[i].qs;
        const uint8_t *hm = x[i].hmask;
        int8_t *pa = a;
        unsigned m = 1;
        for (int half = 0; half < QK; half += 128, q3 += 32) {
            for (int shift = 0; shift < 8; shift += 2, m <<= 1, pa += 32) {
                for (int l = 0; l < 32; l++)
                    pa[l] = (int8_t)(((q3[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
            }
        }
        int sc[16];
        unpack_q3_scales(x[i].scales, sc);
        int32_t lane[8] = {0};
        for (int j = 0; j < QK; j += 8) {
            const int s = sc[j / 16];
            for (int l = 0; l < 8; l++) lane[l] += s * (y[i].qs[j + l] * a[j + l]);
        }
        const float d = FP16(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * (float)lane[l];
    }
    float sumf = 0.0f;
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

/* ---------------------------------------------------------------- Q4_K, Q5_K */

/* Packs 8 six-bit scales and mins into the 12 bytes read by scale_min_k4. */
static void pack_scale_min_k4(uint8_t *s, const uint8_t ls[8], const uint8_t lm[8]) {
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = (uint8_t)((ls[j] & 0x0F) | ((lm[j] & 0x0F) << 4));
            s[j - 4] = (uint8_t)(s[j - 4] | ((ls[j] >> 4) << 6));
            s[j] = (uint8_t)(s[j] | ((lm[j] >> 4) << 6));
        }
    }
}

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): per sub-block of 32 an affine fit, then
 * 6-bit quantization of the scales and mins against their block maxima, then the
 * quants again against the stored (rounded) scales. L receives 0..nmax. */
static void quantize_k_affine(const float *x, int nmax, float rmin, int nstep, uint8_t *scales12,
                              wisp_fp16 *d_out, wisp_fp16 *dmin_out, uint8_t L[QK]) {
    uint8_t Laux[32];
    float weights[32], mins[QK / 32], scales[QK / 32];
    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < QK / 32; j++) {
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = fit_affine(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f,
                               nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < QK / 32; j++) {
        /* ggml stores nearest_int into a uint8_t before the MIN: keep that wrap */
        ls[j] = (uint8_t)imin(63, (uint8_t)nearest_int(inv_scale * scales[j]));
        lm[j] = (uint8_t)imin(63, (uint8_t)nearest_int(inv_min * mins[j]));
    }
    pack_scale_min_k4(scales12, ls, lm);
    *d_out = TO_FP16(max_scale / 63.0f);
    *dmin_out = TO_FP16(max_min / 63.0f);
    for (int j = 0; j < QK / 32; j++) {
        int sc, m;
        scale_min_k4(j, scales12, &sc, &m);
        const float d = FP16(*d_out) * (float)sc;
        if (d == 0.0f) continue;
        const float dm = FP16(*dmin_out) * (float)m;
        for (int ii = 0; ii < 32; ii++) {
            const int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)imax(0, imin(nmax, l));
        }
    }
}

void wisp_quantize_row_q4_K(const float *x, void *dst, int64_t n) {
    block_q4_K *y = (block_q4_K *)dst;
    const int64_t nb = n / QK;
    uint8_t L[QK];
    for (int64_t i = 0; i < nb; i++, x += QK) {
        quantize_k_affine(x, 15, -1.0f, 20, y[i].scales, &y[i].d, &y[i].dmin, L);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < QK; j += 64, q += 32) {
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
        }
    }
}

void wisp_dequantize_row_q4_K(const void *src, float *y, int64_t n) {
    const block_q4_K *x = (const block_q4_K *)src;
    const int64_t nb = n / QK;
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d);
        const float min = FP16(x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int j = 0; j < QK / 32; j += 2, q += 32) {
            int sc, m;
            scale_min_k4(j, x[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = min * (float)m;
            scale_min_k4(j + 1, x[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = min * (float)m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0x0F) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

/* Q4_K and Q5_K dot once the quants are unpacked to a[256] (0..15 or 0..31). */
static inline void dot_k_affine_block(const int8_t *a, const block_q8_K *yb, const uint8_t *scales12,
                                      float xd, float xdmin, float sums[8], float *sumf) {
    int sc[8], mn[8];
    for (int j = 0; j < 8; j++) scale_min_k4(j, scales12, &sc[j], &mn[j]);
    int sumi = 0; /* min term via the 16-element sums of q8 */
    for (int j = 0; j < QK / 16; j++) sumi += yb->bsums[j] * mn[j / 2];
    int32_t lane[8] = {0};
    for (int j = 0; j < QK; j += 8) {
        const int s = sc[j / 32];
        for (int l = 0; l < 8; l++) lane[l] += s * (yb->qs[j + l] * a[j + l]);
    }
    const float d = xd * yb->d;
    for (int l = 0; l < 8; l++) sums[l] += d * (float)lane[l];
    const float dmin = xdmin * yb->d;
    *sumf -= dmin * (float)sumi;
}

float wisp_vec_dot_q4_K_q8_K(int64_t n, const void *vx, const void *vy) {
    const block_q4_K *x = (const block_q4_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    const int64_t nb = n / QK;
    float sums[8] = {0};
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int8_t a[QK];
        const uint8_t *q4 = x[i].qs;
        for (int j = 0; j < QK; j += 64, q4 += 32) {
            for (int l = 0; l < 32; l++) {
                a[j + l] = (int8_t)(q4[l] & 0x0F);
                a[j + l + 32] = (int8_t)(q4[l] >> 4);
            }
        }
        dot_k_affine_block(a, &y[i], x[i].scales, FP16(x[i].d), FP16(x[i].dmin), sums, &sumf);
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

void wisp_quantize_row_q5_K(const float *x, void *dst, int64_t n) {
    block_q5_K *y = (block_q5_K *)dst;
    const int64_t nb = n / QK;
    uint8_t L[QK];
    for (int64_t i = 0; i < nb; i++, x += QK) {
        quantize_k_affine(x, 31, -0.5f, 15, y[i].scales, &y[i].d, &y[i].dmin, L);
        uint8_t *qh = y[i].qh;
        uint8_t *ql = y[i].qs;
        memset(qh, 0, QK / 8);
        unsigned m1 = 1, m2 = 2;
        for (int j = 0; j < QK; j += 64, ql += 32, m1 <<= 2, m2 <<= 2) {
            for (int l = 0; l < 32; l++) {
                int l1 = L[j + l], l2 = L[j + l + 32];
                if (l1 > 15) { l1 -= 16; qh[l] = (uint8_t)(qh[l] | m1); }
                if (l2 > 15) { l2 -= 16; qh[l] = (uint8_t)(qh[l] | m2); }
                ql[l] = (uint8_t)(l1 | (l2 << 4));
            }
        }
    }
}

void wisp_dequantize_row_q5_K(const void *src, float *y, int64_t n) {
    const block_q5_K *x = (const block_q5_K *)src;
    const int64_t nb = n / QK;
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d);
        const float min = FP16(x[i].dmin);
        const uint8_t *ql = x[i].qs;
        const uint8_t *qh = x[i].qh;
        unsigned u1 = 1, u2 = 2;
        for (int j = 0; j < QK / 32; j += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
            int sc, m;
            scale_min_k4(j, x[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = min * (float)m;
            scale_min_k4(j + 1, x[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = min * (float)m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)((ql[l] & 0x0F) + ((qh[l] & u1) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
        }
    }
}

float wisp_vec_dot_q5_K_q8_K(int64_t n, const void *vx, const void *vy) {
    const block_q5_K *x = (const block_q5_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    const int64_t nb = n / QK;
    float sums[8] = {0};
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int8_t a[QK];
        const uint8_t *q4 = x[i].qs;
        const uint8_t *hm = x[i].qh;
        unsigned m = 1;
        for (int j = 0; j < QK; j += 64, q4 += 32, m <<= 2) {
            for (int l = 0; l < 32; l++) {
                a[j + l] = (int8_t)((q4[l] & 0x0F) + ((hm[l] & m) ? 16 : 0));
                a[j + l + 32] = (int8_t)((q4[l] >> 4) + ((hm[l] & (m << 1)) ? 16 : 0));
            }
        }
        dot_k_affine_block(a, &y[i], x[i].scales, FP16(x[i].d), FP16(x[i].dmin), sums, &sumf);
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

/* ---------------------------------------------------------------- Q6_K */

void wisp_quantize_row_q6_K(const float *x, void *dst, int64_t n) {
    block_q6_K *y = (block_q6_K *)dst;
    const int64_t nb = n / QK;
    int8_t L[QK];
    float scales[QK / 16];

    for (int64_t i = 0; i < nb; i++, x += QK) {
        float max_scale = 0.0f, max_abs_scale = 0.0f;
        for (int ib = 0; ib < QK / 16; ib++) {
            scales[ib] = fit_symmetric(16, 32, x + 16 * ib, L + 16 * ib);
            if (fabsf(scales[ib]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[ib]);
                max_scale = scales[ib];
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        const float iscale = -128.0f / max_scale;
        y[i].d = TO_FP16(1 / iscale);
        for (int ib = 0; ib < QK / 16; ib++)
            y[i].scales[ib] = (int8_t)imin(127, nearest_int(iscale * scales[ib]));
        for (int j = 0; j < QK / 16; j++) {
            const float d = FP16(y[i].d) * (float)y[i].scales[j];
            if (d == 0.0f) continue;
            for (int ii = 0; ii < 16; ii++) {
                const int l = imax(-32, imin(31, nearest_int(x[16 * j + ii] / d)));
                L[16 * j + ii] = (int8_t)(l + 32);
            }
        }
        /* element 128*h + 32*k + l: low nibble in ql[64*h + l + 32*(k&1)] (high nibble
         * when k >= 2), top two bits at bits 2k of qh[32*h + l] */
        uint8_t *ql = y[i].ql;
        uint8_t *qh = y[i].qh;
        for (int j = 0; j < QK; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
                ql[l] = (uint8_t)((q1 & 0x0F) | ((q3 & 0x0F) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0x0F) | ((q4 & 0x0F) << 4));
                qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}

/* Unpacks one block's 256 quants to q - 32 in -32..31. */
static inline void unpack_q6(const block_q6_K *b, int8_t a[QK]) {
    const uint8_t *ql = b->ql;
    const uint8_t *qh = b->qh;
    for (int j = 0; j < QK; j += 128, ql += 64, qh += 32) {
        for (int l = 0; l < 32; l++) {
            a[j + l] = (int8_t)(((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32);
            a[j + l + 32] = (int8_t)(((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32);
            a[j + l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            a[j + l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
}

void wisp_dequantize_row_q6_K(const void *src, float *y, int64_t n) {
    const block_q6_K *x = (const block_q6_K *)src;
    const int64_t nb = n / QK;
    for (int64_t i = 0; i < nb; i++, y += QK) {
        const float d = FP16(x[i].d);
        int8_t a[QK];
        unpack_q6(&x[i], a);
        /* ggml: d * sc * q, i.e. (d*sc)*q */
        for (int j = 0; j < QK; j++) y[j] = d * (float)x[i].scales[j / 16] * (float)a[j];
    }
}

float wisp_vec_dot_q6_K_q8_K(int64_t n, const void *vx, const void *vy) {
    const block_q6_K *x = (const block_q6_K *)vx;
    const block_q8_K *y = (const block_q8_K *)vy;
    const int64_t nb = n / QK;
    float sums[8] = {0};
    for (int64_t i = 0; i < nb; i++) {
        int8_t a[QK];
        unpack_q6(&x[i], a);
        int32_t lane[8] = {0};
        for (int j = 0; j < QK; j += 8) {
            const int s = x[i].scales[j / 16];
            for (int l = 0; l < 8; l++) lane[l] += s * (y[i].qs[j + l] * a[j + l]);
        }
        const float d = FP16(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * (float)lane[l];
    }
    float sumf = 0.0f;
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

/* ---------------------------------------------------------------- Q8_K */

/* Scale from the signed max: iscale = -127/max so that value maps to -127 exactly and
 * the other sign may reach +128, which is clamped to 127 (ggml's choice). d = 1/iscale
 * stays a float. bsums feed the k-quants' min terms. */
void wisp_quantize_row_q8_K(const float *x, void *dst, int64_t n) {
    block_q8_K *y = (block_q8_K *)dst;
    const int64_t nb = n / QK;
    for (int64_t i = 0; i < nb; i++, x += QK) {
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < QK; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) { amax = ax; max = x[j]; }
        }
        if (amax == 0.0f) {
            /* ggml leaves bsums unset here; zero them so the block is fully defined */
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK; j++) {
            const int v = imax(-128, imin(127, nearest_int(iscale * x[j])));
            y[i].qs[j] = (int8_t)v;
        }
        for (int j = 0; j < QK / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

void wisp_dequantize_row_q8_K(const void *src, float *y, int64_t n) {
    const block_q8_K *x = (const block_q8_K *)src;
    const int64_t nb = n / QK;
    for (int64_t i = 0; i < nb; i++, y += QK) {
        for (int j = 0; j < QK; j++) y[j] = x[i].d * (float)x[i].qs[j];
    }
}
