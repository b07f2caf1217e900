/* test_simd.c — the SIMD128 kernels (src/kernels_simd128.c) against the scalar oracle:
 * every weight type's dot and four-token dot, the activation quantizers, the fp16
 * vector conversions and the attention helpers, over random and extreme blocks.
 * Contract checked: bit-identical results (integer sums and float rounding order both
 * match), except wisp_simd_dot_f16_f32, whose double partial sums are reordered: it
 * must stay within 1e-6 relative of the serial sum (scaled by sum |x*y|).
 * Built natively through SIMDe and by tests/js/run-c-tests-wasm.sh with -msimd128. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_simd128.h"
#include "quant.h"
#include "test_util.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#if WISP_HAVE_SIMD128

static uint64_t g_rng = 0x243F6A8885A308D3ull;
static uint64_t rnd(void) { /* splitmix64 */
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double unit(void) { return (double)(rnd() >> 11) * (1.0 / 9007199254740992.0); }
static float gauss(void) {
    double u1 = unit(), u2 = unit();
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static int same(float a, float b) { return fbits(a) == fbits(b) || (isnan(a) && isnan(b)); }

/* a random finite half: any sign, exponent 0..30 (subnormals and 65504 included) */
static uint16_t rand_half(int mode) {
    if (mode == 1) return (uint16_t)(0x7bff | ((rnd() & 1) << 15)); /* +-65504 */
    if (mode == 2) return (uint16_t)((rnd() & 0x83ff));              /* subnormal / zero */
    uint16_t h = (uint16_t)rnd();
    if (((h >> 10) & 31) == 31) h &= 0xbfff;
    return h;
}
static void put16(uint8_t *p, uint16_t h) { memcpy(p, &h, 2); }

/* Fills n bytes: mode 0 random, 1 all 0xFF, 2 all 0x00, 3 all 0x80, 4 alternating */
static void fill_bytes(uint8_t *p, size_t n, int mode) {
    for (size_t i = 0; i < n; i++) {
        switch (mode) {
        case 1: p[i] = 0xFF; break;
        case 2: p[i] = 0x00; break;
        case 3: p[i] = 0x80; break;
        case 4: p[i] = (i & 1) ? 0x7F : 0x80; break;
        default: p[i] = (uint8_t)rnd(); break;
        }
    }
}

/* Offsets of the fp16 fields of each block type (weights and activations); -1 ends */
static void half_fields(uint32_t type, int off[3]) {
    off[0] = off[1] = off[2] = -1;
    switch (type) {
    case WISP_TYPE_Q4_0: case WISP_TYPE_Q5_0: case WISP_TYPE_Q8_0: off[0] = 0; break;
    case WISP_TYPE_Q4_1: case WISP_TYPE_Q5_1: case WISP_TYPE_Q8_1: off[0] = 0; off[1] = 2; break;
    case WISP_TYPE_Q2_K: off[0] = 80; off[1] = 82; break;
    case WISP_TYPE_Q3_K: off[0] = 108; break;
    case WISP_TYPE_Q4_K: case WISP_TYPE_Q5_K: off[0] = 0; off[1] = 2; break;
    case WISP_TYPE_Q6_K: off[0] = 208; break;
    default: break;
    }
}

/* A row of nb blocks of `type` with random (or extreme) payload and finite scales. */
static void make_row(uint32_t type, uint8_t *row, int64_t n, int mode) {
    const wisp_quant_traits *t = wisp_quant_get(type);
    const size_t bytes = wisp_row_size(type, n);
    if (type == WISP_TYPE_F32) {
        float *f = (float *)row;
        for (int64_t i = 0; i < n; i++)
            f[i] = mode == 1 ? 3.0e38f * (float)(1 - 2 * (int)(rnd() & 1)) : gauss() * ldexpf(1.0f, (int)(rnd() % 40) - 20);
        return;
    }
    if (type == WISP_TYPE_F16) {
        for (int64_t i = 0; i < n; i++) put16(row + 2 * i, rand_half(mode == 1 ? 1 : mode == 2 ? 2 : 0));
        return;
    }
    if (type == WISP_TYPE_BF16) {
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)rnd();
            if (((h >> 7) & 0xff) == 0xff) h &= 0xbfff;
            put16(row + 2 * i, h);
        }
        return;
    }
    fill_bytes(row, bytes, mode);
    const int64_t nb = n / t->blck_size;
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *blk = row + (size_t)b * t->type_size;
        if (type == WISP_TYPE_Q8_K) {
            const float d = mode == 1 ? 1e30f : gauss() * ldexpf(1.0f, (int)(rnd() % 20) - 10);
            memcpy(blk, &d, 4);
            continue;
        }
        int off[3];
        half_fields(type, off);
        for (int k = 0; k < 3 && off[k] >= 0; k++) put16(blk + off[k], rand_half(mode == 1 ? 1 : (int)(rnd() % 8 == 0) * 2));
    }
}

static const uint32_t k_dot_types[] = {WISP_TYPE_F32, WISP_TYPE_F16, WISP_TYPE_BF16, WISP_TYPE_Q4_0,
                                       WISP_TYPE_Q4_1, WISP_TYPE_Q5_0, WISP_TYPE_Q5_1, WISP_TYPE_Q8_0,
                                       WISP_TYPE_Q2_K, WISP_TYPE_Q3_K, WISP_TYPE_Q4_K, WISP_TYPE_Q5_K,
                                       WISP_TYPE_Q6_K};

static void test_dots(void) {
    const int64_t max_n = 256 * 8;
    uint8_t *x = (uint8_t *)malloc((size_t)max_n * 4 + 64);
    uint8_t *y = (uint8_t *)malloc(4 * ((size_t)max_n * 4 + 64));
    uint8_t *yp = (uint8_t *)malloc(5 * ((size_t)max_n * 4 + 1024));
    uint8_t *xr = (uint8_t *)malloc(4 * ((size_t)max_n * 4 + 64));
    for (size_t ti = 0; ti < sizeof k_dot_types / sizeof k_dot_types[0]; ti++) {
        const wisp_quant_traits *t = wisp_quant_get(k_dot_types[ti]);
        CHECK(t && t->vec_dot && t->vec_dot_ref);
        if (!t || !t->vec_dot) continue;
        CHECKF(t->vec_dot != t->vec_dot_ref, "%s: SIMD kernel not selected", t->name);
        CHECKF(t->type == WISP_TYPE_Q2_K || t->blck_size == 1 || (t->act_prep && t->vec_dot_p && t->vec_dot4_p),
               "%s: prepared-activation kernels missing", t->name);
        const uint32_t blk = t->blck_size == 1 ? 1 : t->blck_size;
        static const int counts32[] = {1, 3, 4, 5, 8, 9, 28, 64};
        static const int countsK[] = {1, 2, 3, 7, 8};
        static const int countsF[] = {1, 7, 8, 15, 64, 100, 896, 2048};
        const int *counts = blk == 1 ? countsF : blk == 32 ? counts32 : countsK;
        const int ncounts = blk == 1 ? 8 : blk == 32 ? 8 : 5;
        int bad = 0, bad4 = 0, badp = 0, badr = 0, runs = 0;
        for (int ci = 0; ci < ncounts; ci++) {
            const int64_t n = (int64_t)counts[ci] * blk;
            if (n > max_n) continue;
            const size_t ry = wisp_row_size(t->vec_dot_type, n);
            const size_t by = ry + 4 * (size_t)(rnd() % 3); /* keep rows 4-byte aligned */
            for (int mode = 0; mode < 5; mode++) {
                for (int trial = 0; trial < (mode == 0 ? 24 : 1); trial++) {
                    make_row(t->type, x, n, mode);
                    for (int c = 0; c < 4; c++)
                        make_row(t->vec_dot_type, y + c * by, n, mode == 0 ? 0 : (mode + c) % 5);
                    runs++;
                    const float got = t->vec_dot(n, x, y);
                    const float want = t->vec_dot_ref(n, x, y);
                    if (!same(got, want)) {
                        if (bad < 3)
                            fprintf(stderr, "%s n=%lld mode %d: simd %.9g scalar %.9g\n", t->name, (long long)n, mode,
                                    (double)got, (double)want);
                        bad++;
                    }
                    if (t->act_prep) {
                        /* the prepared path on the same activation rows, one and four at a time */
                        const size_t bp = t->act_prep_size(n);
                        for (int c = 0; c < 4; c++) t->act_prep(y + c * by, yp + c * bp, n);
                        /* prepared piecewise (act_prep_unit elements at a time): same dot */
                        uint8_t *yq = yp + 4 * bp;
                        const int64_t u = t->act_prep_unit;
                        for (int64_t e = 0; e < n; e += u) {
                            const int64_t m = n - e < u ? n - e : u;
                            t->act_prep(y + (size_t)(e / t->blck_size) * wisp_row_size(t->vec_dot_type, t->blck_size),
                                        yq + t->act_prep_size(e), m);
                        }
                        if (!same(t->vec_dot_p(n, x, yq), t->vec_dot_p(n, x, yp))) badp++;
                        float out[4];
                        t->vec_dot4_p(n, x, yp, bp, out);
                        for (int c = 0; c < 4; c++) {
                            const float w = t->vec_dot_ref(n, x, y + c * by);
                            const float g1 = t->vec_dot_p(n, x, yp + c * bp);
                            if (!same(out[c], w) || !same(g1, w)) {
                                if (badp < 3)
                                    fprintf(stderr, "%s prepared n=%lld mode %d tok %d: %.9g / %.9g scalar %.9g\n",
                                            t->name, (long long)n, mode, c, (double)g1, (double)out[c], (double)w);
                                badp++;
                            }
                        }
                        if (t->vec_dot_p_rows4) {
                            /* four weight rows (this one and three of other modes, at a stride
                             * that is not the row size) against one prepared token */
                            const size_t bx = wisp_row_size(t->type, n) + 2 * (size_t)(rnd() % 3);
                            memcpy(xr, x, wisp_row_size(t->type, n));
                            for (int k = 1; k < 4; k++) make_row(t->type, xr + k * bx, n, (mode + k) % 5);
                            t->vec_dot_p_rows4(n, xr, bx, yp + bp, out);
                            for (int k = 0; k < 4; k++) {
                                const float w = t->vec_dot_ref(n, xr + k * bx, y + by);
                                if (!same(out[k], w)) {
                                    if (badr < 3)
                                        fprintf(stderr, "%s rows4 n=%lld mode %d row %d: %.9g scalar %.9g\n",
                                                t->name, (long long)n, mode, k, (double)out[k], (double)w);
                                    badr++;
                                }
                            }
                        }
                    }
                    if (t->vec_dot4) {
                        float out[4];
                        t->vec_dot4(n, x, y, by, out);
                        for (int c = 0; c < 4; c++) {
                            const float w = t->vec_dot_ref(n, x, y + c * by);
                            if (!same(out[c], w)) {
                                if (bad4 < 3)
                                    fprintf(stderr, "%s dot4 n=%lld mode %d tok %d: %.9g scalar %.9g\n", t->name,
                                            (long long)n, mode, c, (double)out[c], (double)w);
                                bad4++;
                            }
                        }
                    }
                }
            }
        }
        CHECKF(bad == 0, "%s: %d of %d SIMD dots differ from scalar", t->name, bad, runs);
        CHECKF(badp == 0, "%s: %d prepared-activation dots differ from scalar", t->name, badp);
        CHECKF(bad4 == 0, "%s: %d four-token dots differ from scalar", t->name, bad4);
        CHECKF(badr == 0, "%s: %d four-row dots differ from scalar", t->name, badr);
    }
    free(xr);
    free(x);
    free(y);
    free(yp);
}

/* floats for the quantizers: gaussian at random scales, exact .5 ties, zero blocks,
 * huge and tiny values, and (mode 5, Q8_0/Q8_1 only) inf and NaN */
static void make_floats(float *x, int64_t n, int mode, int blk) {
    for (int64_t i = 0; i < n; i++) {
        switch (mode) {
        case 0: x[i] = gauss() * ldexpf(1.0f, (int)(rnd() % 30) - 15); break;
        case 1: /* block max 127 -> id 1: x*id lands on .5 ties */
            x[i] = (i % blk == 0) ? 127.0f : (float)((int)(rnd() % 509) - 254) * 0.5f;
            break;
        case 2: x[i] = (i / blk) % 2 ? 0.0f : gauss(); break;
        case 3: x[i] = gauss() * ((rnd() & 1) ? 1e30f : 1e-30f); break;
        case 4: x[i] = bitsf((uint32_t)(rnd() & 0x807fffffu)); break; /* subnormals */
        default: {
            const uint64_t r = rnd() % 8;
            x[i] = r == 0 ? INFINITY : r == 1 ? -INFINITY : r == 2 ? NAN : gauss();
        }
        }
    }
}

static void test_quantizers(void) {
    static const uint32_t types[] = {WISP_TYPE_Q8_0, WISP_TYPE_Q8_1, WISP_TYPE_Q8_K};
    const int64_t n = 1024;
    float *x = (float *)malloc((size_t)n * sizeof(float));
    uint8_t *a = (uint8_t *)malloc((size_t)n * 2), *b = (uint8_t *)malloc((size_t)n * 2);
    for (size_t ti = 0; ti < 3; ti++) {
        const wisp_quant_traits *t = wisp_quant_get(types[ti]);
        CHECKF(t->from_float != t->from_float_ref, "%s: SIMD quantizer not selected", t->name);
        const int modes = types[ti] == WISP_TYPE_Q8_K ? 5 : 6; /* Q8_K's rounding trick is garbage-in/out on inf */
        int bad = 0;
        for (int mode = 0; mode < modes; mode++) {
            for (int trial = 0; trial < 20; trial++) {
                make_floats(x, n, mode, (int)t->blck_size);
                const size_t bytes = wisp_row_size(t->type, n);
                memset(a, 0xAA, bytes);
                memset(b, 0x55, bytes);
                t->from_float(x, a, n);
                t->from_float_ref(x, b, n);
                if (memcmp(a, b, bytes) != 0) {
                    if (bad < 3) fprintf(stderr, "%s quantize mode %d trial %d differs\n", t->name, mode, trial);
                    bad++;
                }
            }
        }
        CHECKF(bad == 0, "%s: %d SIMD quantized rows differ from scalar", t->name, bad);
    }
    free(x);
    free(a);
    free(b);
}

static void test_fp16_vectors(void) {
    /* every half -> float, through the row helper with s = 1 */
    enum { NH = 65536 };
    wisp_fp16 *h = (wisp_fp16 *)malloc(NH * sizeof(wisp_fp16));
    float *f = (float *)malloc(NH * sizeof(float));
    for (int i = 0; i < NH; i++) h[i] = (wisp_fp16)i;
    wisp_simd_f16_to_f32_scale(f, h, 1.0f, NH);
    int bad = 0;
    for (int i = 0; i < NH; i++)
        if (!same(f[i], wisp_fp16_to_fp32(h[i]) * 1.0f)) bad++;
    CHECKF(bad == 0, "%d halves convert differently", bad);

    /* float -> half: every float exponent with random mantissas, the rounding edges */
    const int64_t nf = 1 << 18;
    float *src = (float *)malloc((size_t)nf * sizeof(float));
    wisp_fp16 *dst = (wisp_fp16 *)malloc((size_t)nf * sizeof(wisp_fp16));
    for (int64_t i = 0; i < nf; i++) {
        uint32_t u = (uint32_t)rnd();
        if (i % 4 == 1) u = (u & 0x80001fffu) | ((uint32_t)(100 + rnd() % 60) << 23); /* near half range */
        if (i % 4 == 2) u = (u & ~0x1fffu) | 0x1000u | (uint32_t)(rnd() & 1) * 0x2000u;     /* exact ties */
        src[i] = bitsf(u);
    }
    static const float edges[] = {65504.0f, 65519.99f, 65520.0f, 6.1035156e-05f, 6.097555e-05f, 5.9604645e-08f,
                                  2.9802322e-08f, 2.9802326e-08f, 0.0f, -0.0f, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) src[i * 4 + 3] = edges[i];
    wisp_simd_f32_to_f16(dst, src, nf);
    bad = 0;
    for (int64_t i = 0; i < nf; i++) {
        const wisp_fp16 w = wisp_fp32_to_fp16(src[i]);
        if (dst[i] != w) {
            if (bad < 3) fprintf(stderr, "f32->f16 of %08x: %04x want %04x\n", fbits(src[i]), dst[i], w);
            bad++;
        }
    }
    CHECKF(bad == 0, "%d floats round to half differently", bad);
    /* the same floats rounded to half precision without leaving f32 (attention's
     * accumulator): must be exactly the half round trip, NaN bits included */
    float *rt = (float *)malloc((size_t)nf * sizeof(float));
    wisp_simd_round_f16_row(rt, src, nf);
    bad = 0;
    for (int64_t i = 0; i < nf; i++) {
        const float w = wisp_fp16_to_fp32(wisp_fp32_to_fp16(src[i]));
        if (fbits(rt[i]) != fbits(w)) {
            if (bad < 3) fprintf(stderr, "round_f16 of %08x: %08x want %08x\n", fbits(src[i]), fbits(rt[i]), fbits(w));
            bad++;
        }
    }
    CHECKF(bad == 0, "%d floats round to half precision differently", bad);
    free(rt);
    free(h);
    free(f);
    free(src);
    free(dst);
}

static void test_attention_helpers(void) {
    enum { N = 200 };
    wisp_fp16 acc2[N], v[N], q[N];
    float acc32[N], qf[N];
    int bad = 0;
    double worst = 0;
    for (int trial = 0; trial < 200; trial++) {
        const int n = trial % 3 == 0 ? 64 : 1 + (int)(rnd() % N);
        for (int i = 0; i < n; i++) {
            acc2[i] = rand_half(trial % 7 == 0 ? 2 : 0);
            acc32[i] = wisp_fp16_to_fp32(acc2[i]);
            v[i] = rand_half(0);
            q[i] = rand_half(0);
        }
        /* the f32-held accumulator gives exactly the halves of ggml's F16 one */
        const float s = (float)unit() * (trial % 5 == 0 ? 1e4f : 1.0f);
        wisp_simd_r16_scale(acc32, s, n);
        wisp_simd_r16_axpy(acc32, v, s * 0.5f, n);
        for (int i = 0; i < n; i++) {
            acc2[i] = wisp_fp32_to_fp16(wisp_fp16_to_fp32(acc2[i]) * s);
            acc2[i] = wisp_fp32_to_fp16(wisp_fp16_to_fp32(acc2[i]) + wisp_fp16_to_fp32(v[i]) * (s * 0.5f));
            const float w = wisp_fp16_to_fp32(acc2[i]);
            bad += fbits(acc32[i]) != fbits(w);
        }
        /* the score dot: reordered double partial sums, within 1e-6 of the serial sum */
        for (int i = 0; i < n; i++) qf[i] = wisp_fp16_to_fp32(q[i]);
        const float fast = wisp_simd_dot_f16_f32(n, v, qf);
        const float ref = wisp_quant_get(WISP_TYPE_F16)->vec_dot_ref(n, v, q);
        double mag = 0;
        for (int i = 0; i < n; i++) mag += fabs((double)wisp_fp16_to_fp32(v[i]) * wisp_fp16_to_fp32(q[i]));
        if (isfinite(ref)) {
            const double rel = fabs((double)fast - (double)ref) / (mag + 1e-30);
            if (rel > worst) worst = rel;
        }
    }
    CHECKF(bad == 0, "%d attention accumulator elements differ", bad);
    CHECKF(worst <= 1e-6, "reordered f16 dot off by %.3g relative", worst);
    printf("dot_f16_f32: worst relative difference %.3g (bound 1e-6)\n", worst);
}

/* The whole-head attention kernels (one head, and 1..6 heads sharing K/V rows) against
 * the step-by-step form built from the helpers
 * tested above (itself the scalar F16 computation up to the score dot's double
 * reordering): same bits out. Realistic rows (gaussian K/V/q) and hostile ones (any
 * finite half, subnormals, +-65504 so the F16 accumulator overflows, and Inf/NaN halves
 * with kv_finite = 0); head sizes with and without a 16-dim tail. */
static void test_attention_head(void) {
    enum { MAXKV = 300, MAXD = 128, MAXH = 6 };
    static wisp_fp16 k[MAXKV * MAXD], v[MAXKV * MAXD];
    static float scratch[2 * MAXKV * MAXH], out[MAXD * MAXH], ref[MAXD * MAXH], acc[MAXD], qf[MAXD * MAXH];
    static const int dims[] = {64, 128, 80, 96, 40, 20, 7};
    int bad = 0, runs = 0, overflowed = 0;
    for (int trial = 0; trial < 175; trial++) {
        const int hd = dims[trial % 7];
        const int nh = 1 + trial % MAXH; /* query heads sharing these K/V rows */
        const int n_kv = trial % 5 == 0 ? 1 : 1 + (int)(rnd() % MAXKV);
        /* 0 gaussian, 1 any finite, 2 huge, 3 with Inf/NaN, 4 overflowing: equal scores and
         * large V of one sign, so the F16 accumulator passes 65504 (after a few positions,
         * or with few positions, during the rescales of a growing max) */
        const int mode = (trial / 7) % 5;
        const float amp = 0.1f + 4.0f * (float)unit();
        for (int i = 0; i < n_kv * hd; i++) {
            if (mode == 0) {
                k[i] = wisp_fp32_to_fp16(amp * gauss());
                v[i] = wisp_fp32_to_fp16(amp * gauss());
            } else if (mode == 4) {
                k[i] = i / hd >= n_kv / 2 ? 0 : wisp_fp32_to_fp16(0.01f * gauss()); /* mostly equal scores */
                v[i] = wisp_fp32_to_fp16((i % 3 ? 1.0f : -1.0f) * (20000.0f + 45504.0f * (float)unit()));
            } else {
                const int m = mode == 2 ? (rnd() % 3 == 0 ? 1 : 0) : (rnd() % 8 == 0 ? 2 : 0);
                k[i] = rand_half(m);
                v[i] = rand_half(m);
                if (mode == 3 && rnd() % 97 == 0) v[i] = (rnd() & 1) ? 0x7c00 : 0x7e01;
                if (mode == 3 && rnd() % 193 == 0) k[i] = (rnd() & 1) ? 0xfc00 : 0x7e00;
            }
        }
        for (int d = 0; d < nh * hd; d++) qf[d] = wisp_fp16_to_fp32(wisp_fp32_to_fp16(gauss()));
        const float scale = 1.0f / sqrtf((float)hd);
        /* reference: one head, one position at a time */
        for (int j = 0; j < nh; j++) {
            const float *q = qf + j * hd;
            float S = 0.0f, M = -INFINITY;
            memset(acc, 0, sizeof acc);
            for (int p = 0; p < n_kv; p++) {
                const float sc = wisp_simd_dot_f16_f32(hd, k + p * hd, q) * scale;
                const float m_old = M;
                float ms = 1.0f, vs = 1.0f;
                if (sc > M) {
                    M = sc;
                    ms = expf(m_old - M);
                    wisp_simd_r16_scale(acc, ms, hd);
                } else {
                    vs = expf(sc - M);
                }
                wisp_simd_r16_axpy(acc, v + p * hd, vs, hd);
                S = S * ms + vs;
            }
            const float s_inv = S == 0.0f ? 0.0f : 1.0f / S;
            for (int d = 0; d < hd; d++) ref[j * hd + d] = acc[d] * s_inv;
            for (int d = 0; d < hd; d++) overflowed += isinf(acc[d]) && mode == 4;
        }
        const int finite = wisp_simd_f16_all_finite(k, (int64_t)n_kv * hd) &&
                           wisp_simd_f16_all_finite(v, (int64_t)n_kv * hd);
        CHECKF(finite == (mode != 3) || mode == 3, "f16_all_finite wrong on finite rows (trial %d)", trial);
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1 && !finite) break; /* the fast conversion is only for finite rows */
            /* one head (wisp_simd_attn_head), then all nh heads at once (attn_heads) */
            for (int grouped = 0; grouped < 2; grouped++) {
                if (grouped) wisp_simd_attn_heads(hd, n_kv, k, v, qf, nh, scale, pass, scratch, out);
                else wisp_simd_attn_head(hd, n_kv, k, v, qf, scale, pass, scratch, out);
                runs++;
                for (int d = 0; d < (grouped ? nh : 1) * hd; d++)
                    if (!same(out[d], ref[d])) {
                        if (bad < 3)
                            fprintf(stderr, "attn_head%s hd %d nh %d n_kv %d mode %d pass %d elem %d: %08x want %08x\n",
                                    grouped ? "s" : "", hd, nh, n_kv, mode, pass, d, fbits(out[d]), fbits(ref[d]));
                        bad++;
                    }
            }
        }
    }
    wisp_fp16 inf_row[9] = {0, 1, 0x3c00, 0x8001, 0xfbff, 0x7bff, 0, 0, 0x7c00};
    CHECK(!wisp_simd_f16_all_finite(inf_row, 9) && wisp_simd_f16_all_finite(inf_row, 8));
    inf_row[3] = 0xfe00;
    CHECK(!wisp_simd_f16_all_finite(inf_row, 8));
    CHECKF(bad == 0, "%d attention outputs differ from the step-by-step form (%d runs)", bad, runs);
    CHECKF(overflowed > 0, "no F16 accumulator overflowed in the overflow mode");
    printf("attn_head: %d runs, %d outputs differ from the step-by-step form\n", runs, bad);
}

int main(void) {
    test_dots();
    test_quantizers();
    test_fp16_vectors();
    test_attention_helpers();
    test_attention_head();
    printf("test_simd: %d checks, %d failures\n", g_test_checks, g_test_failures);
    return g_test_failures ? 1 : 0;
}

#else
int main(void) {
    printf("test_simd: SKIP (built without SIMD128: configure with -DWISP_SIMD128=ON and libsimde-dev)\n");
    return 0;
}
#endif
