/* test_quants.c — checks src/quant*.c: fp16/bf16 conversion exhaustively, every type's
 * dequantize against formulas re-derived here from the byte layout, quantization error,
 * dot products bit-exact against ggml's operation order, and real GGUF tensors. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml_types.h"
#include "gguf.h"
#include "quant.h"
#include "test_util.h"
#include "wisp.h"

/* The reference formulas below must round every multiply and add, as the library does
 * (clang would fuse a*b + c into an FMA on FMA targets otherwise). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* ---------------------------------------------------------------- helpers */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t rng_u64(void) { /* splitmix64 */
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_unit(void) { return (double)(rng_u64() >> 11) * (1.0 / 9007199254740992.0); }
static float rng_gauss(void) {
    double u1 = rng_unit(), u2 = rng_unit();
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static int same_float(float a, float b) { return fbits(a) == fbits(b) || (isnan(a) && isnan(b)); }

/* Value of a half, computed independently of the library (double arithmetic). */
static double half_value(uint16_t h) {
    const int e = (h >> 10) & 31, m = h & 1023;
    const double s = (h & 0x8000) ? -1.0 : 1.0;
    if (e == 31) return m ? NAN : s * INFINITY;
    if (e == 0) return s * ldexp((double)m, -24);
    return s * ldexp((double)(1024 + m), e - 25);
}
static float ref_f16(const uint8_t *p) { return (float)half_value((uint16_t)(p[0] | (p[1] << 8))); }
static void put_f16(uint8_t *p, uint16_t h) { p[0] = (uint8_t)h; p[1] = (uint8_t)(h >> 8); }
static float ref_f32le(const uint8_t *p) {
    return bitsf((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24));
}

/* Round-to-nearest-even fp32 -> fp16 by search over the half grid (no bit tricks). */
static uint16_t ref_to_half(float f) {
    const uint16_t sign = signbit(f) ? 0x8000 : 0;
    const double a = fabs((double)f);
    if (isnan(f)) return 0x7e00;
    if (a >= 65520.0) return sign | 0x7c00; /* midpoint of 65504 and 2^16 ties to the even 2^16 */
    int lo = 0, hi = 0x7bff; /* largest h with value <= a */
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (half_value((uint16_t)mid) <= a) lo = mid;
        else hi = mid - 1;
    }
    if (lo == 0x7bff) return sign | 0x7bff;
    const double dl = a - half_value((uint16_t)lo), dh = half_value((uint16_t)(lo + 1)) - a;
    int r = lo;
    if (dh < dl || (dh == dl && (lo & 1))) r = lo + 1;
    return (uint16_t)(sign | r);
}

/* ---------------------------------------------------------------- fp16 / bf16 */

static void test_fp16(void) {
    int bad_val = 0, bad_rt = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = wisp_fp16_to_fp32((wisp_fp16)h);
        const double want = half_value((uint16_t)h);
        const int is_nan = ((h >> 10) & 31) == 31 && (h & 1023);
        if (is_nan) {
            if (!isnan(f) || (signbit(f) != 0) != ((h & 0x8000) != 0)) bad_val++;
        } else if (!((double)f == want && (signbit(f) != 0) == ((h & 0x8000) != 0))) {
            bad_val++;
        }
        /* round trip: exact, except signalling NaNs come back quiet */
        const uint16_t back = wisp_fp32_to_fp16(f);
        const uint16_t expect = is_nan ? (uint16_t)(h | 0x0200) : (uint16_t)h;
        if (back != expect) {
            if (bad_rt < 5) fprintf(stderr, "fp16 round trip %04x -> %04x\n", (unsigned)h, back);
            bad_rt++;
        }
    }
    CHECKF(bad_val == 0, "%d halves decode wrongly", bad_val);
    CHECKF(bad_rt == 0, "%d halves do not round-trip", bad_rt);

    /* named cases */
    CHECK(wisp_fp32_to_fp16(1.0f) == 0x3c00);
    CHECK(wisp_fp32_to_fp16(-2.0f) == 0xc000);
    CHECK(wisp_fp32_to_fp16(0.0f) == 0x0000);
    CHECK(wisp_fp32_to_fp16(-0.0f) == 0x8000);
    CHECK(wisp_fp32_to_fp16(65504.0f) == 0x7bff);
    CHECK(wisp_fp32_to_fp16(65519.996f) == 0x7bff);  /* just below the midpoint */
    CHECK(wisp_fp32_to_fp16(65520.0f) == 0x7c00);    /* midpoint ties to even = overflow */
    CHECK(wisp_fp32_to_fp16(1e10f) == 0x7c00);
    CHECK(wisp_fp32_to_fp16(-1e10f) == 0xfc00);
    CHECK(wisp_fp32_to_fp16(INFINITY) == 0x7c00);
    CHECK(wisp_fp32_to_fp16(-INFINITY) == 0xfc00);
    CHECK((wisp_fp32_to_fp16(NAN) & 0x7e00) == 0x7e00);
    CHECK((wisp_fp32_to_fp16(bitsf(0x7f800001u)) & 0x7fff) > 0x7c00); /* sNaN stays NaN */
    CHECK(wisp_fp32_to_fp16(ldexpf(1.0f, -24)) == 0x0001);            /* smallest subnormal */
    CHECK(wisp_fp32_to_fp16(ldexpf(1.0f, -25)) == 0x0000);            /* tie to even 0 */
    CHECK(wisp_fp32_to_fp16(nextafterf(ldexpf(1.0f, -25), 1.0f)) == 0x0001);
    CHECK(wisp_fp32_to_fp16(ldexpf(3.0f, -25)) == 0x0002);            /* 1.5 ulp: tie to even 2 */
    CHECK(wisp_fp32_to_fp16(ldexpf(1.0f, -14)) == 0x0400);            /* smallest normal */
    CHECK(wisp_fp32_to_fp16(nextafterf(ldexpf(1.0f, -14), 0.0f)) == 0x0400); /* rounds up into normals */
    CHECK(wisp_fp32_to_fp16(ldexpf(1023.5f, -24)) == 0x0400);        /* tie, 1023 odd -> 1024 */
    CHECK(wisp_fp32_to_fp16(1.0f + ldexpf(1.0f, -11)) == 0x3c00);     /* tie, even stays */
    CHECK(wisp_fp32_to_fp16(1.0f + ldexpf(3.0f, -11)) == 0x3c02);     /* tie, odd rounds up */
    CHECK(wisp_fp32_to_fp16(1e-40f) == 0x0000);                       /* fp32 subnormal */
    CHECK(wisp_fp32_to_fp16(-1e-40f) == 0x8000);

    /* every midpoint between adjacent positive halves, and one float ulp either side */
    int bad = 0;
    for (int h = 0; h < 0x7bff; h++) {
        const float mid = (float)((half_value((uint16_t)h) + half_value((uint16_t)(h + 1))) / 2);
        const float cases[3] = {mid, nextafterf(mid, 0.0f), nextafterf(mid, INFINITY)};
        for (int k = 0; k < 3; k++) {
            for (int s = 0; s < 2; s++) {
                const float f = s ? -cases[k] : cases[k];
                if (wisp_fp32_to_fp16(f) != ref_to_half(f)) {
                    if (bad < 5) fprintf(stderr, "fp16(%a) = %04x, want %04x\n", (double)f,
                                         wisp_fp32_to_fp16(f), ref_to_half(f));
                    bad++;
                }
            }
        }
    }
    /* random float bit patterns, biased towards the half range */
    for (int i = 0; i < 300000; i++) {
        uint32_t u = (uint32_t)rng_u64();
        if (i & 1) u = (u & 0x807fffffu) | ((uint32_t)(96 + rng_u64() % 52) << 23);
        const float f = bitsf(u);
        if (isnan(f)) continue;
        if (wisp_fp32_to_fp16(f) != ref_to_half(f)) bad++;
    }
    CHECKF(bad == 0, "%d fp32 -> fp16 conversions differ from round-to-nearest-even", bad);
}

static void test_bf16(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = wisp_bf16_to_fp32((wisp_bf16)h);
        if (fbits(f) != h << 16) bad++;
        const int is_nan = (h & 0x7fff) > 0x7f80;
        const uint16_t back = wisp_fp32_to_bf16(f);
        if (back != (is_nan ? (h | 0x40) : h)) bad++;
    }
    CHECKF(bad == 0, "%d bf16 values fail decode/round trip", bad);
    CHECK(wisp_fp32_to_bf16(1.0f) == 0x3f80);
    CHECK(wisp_fp32_to_bf16(bitsf(0x3f808000u)) == 0x3f80); /* tie, even stays */
    CHECK(wisp_fp32_to_bf16(bitsf(0x3f818000u)) == 0x3f82); /* tie, odd rounds up */
    CHECK(wisp_fp32_to_bf16(bitsf(0x3f808001u)) == 0x3f81);
    CHECK(wisp_fp32_to_bf16(bitsf(0x3f807fffu)) == 0x3f80);
    CHECK(wisp_fp32_to_bf16(FLT_MAX) == 0x7f80);             /* carries into inf */
    CHECK(wisp_fp32_to_bf16(-INFINITY) == 0xff80);
    CHECK(wisp_fp32_to_bf16(bitsf(0x7f800001u)) == 0x7fc0);  /* NaN made quiet */
    CHECK(wisp_fp32_to_bf16(bitsf(0xffc12345u)) == 0xffc1);
    CHECK(wisp_fp32_to_bf16(bitsf(0x00008000u)) == 0x0000); /* subnormal tie, not flushed */
    CHECK(wisp_fp32_to_bf16(bitsf(0x00018000u)) == 0x0002);
    CHECK(wisp_fp32_to_bf16(bitsf(0x00010001u)) == 0x0001);
}

/* ---------------------------------------------------------------- the traits table */

typedef struct {
    uint32_t type;
    uint32_t vdt; /* expected vec_dot_type */
    int has_dot;
} type_case;

static const type_case k_types[] = {
    {WISP_TYPE_F32, WISP_TYPE_F32, 1},   {WISP_TYPE_F16, WISP_TYPE_F16, 1},
    {WISP_TYPE_BF16, WISP_TYPE_BF16, 1}, {WISP_TYPE_Q4_0, WISP_TYPE_Q8_0, 1},
    {WISP_TYPE_Q4_1, WISP_TYPE_Q8_1, 1}, {WISP_TYPE_Q5_0, WISP_TYPE_Q8_0, 1},
    {WISP_TYPE_Q5_1, WISP_TYPE_Q8_1, 1}, {WISP_TYPE_Q8_0, WISP_TYPE_Q8_0, 1},
    {WISP_TYPE_Q8_1, WISP_TYPE_Q8_1, 0}, {WISP_TYPE_Q2_K, WISP_TYPE_Q8_K, 1},
    {WISP_TYPE_Q3_K, WISP_TYPE_Q8_K, 1}, {WISP_TYPE_Q4_K, WISP_TYPE_Q8_K, 1},
    {WISP_TYPE_Q5_K, WISP_TYPE_Q8_K, 1}, {WISP_TYPE_Q6_K, WISP_TYPE_Q8_K, 1},
    {WISP_TYPE_Q8_K, WISP_TYPE_Q8_K, 0},
};
#define N_TYPES (sizeof(k_types) / sizeof(k_types[0]))

static void test_traits(void) {
    for (size_t i = 0; i < N_TYPES; i++) {
        const wisp_quant_traits *t = wisp_quant_get(k_types[i].type);
        const wisp_ggml_type_info *g = wisp_ggml_type_get(k_types[i].type);
        CHECKF(t != NULL && g != NULL, "type %u", k_types[i].type);
        if (!t || !g) continue;
        CHECK(t->type == k_types[i].type);
        CHECK(strcmp(t->name, g->name) == 0);
        CHECK(t->blck_size == g->blck_size && t->type_size == g->type_size);
        CHECK(t->to_float != NULL && t->from_float != NULL);
        CHECKF((t->vec_dot != NULL) == k_types[i].has_dot, "%s vec_dot", t->name);
        CHECKF(t->vec_dot_type == k_types[i].vdt, "%s vec_dot_type", t->name);
        CHECK(wisp_row_size(t->type, 4096) == (size_t)(4096 / t->blck_size) * t->type_size);
    }
    CHECK(wisp_quant_get(WISP_TYPE_IQ2_XXS) == NULL);
    CHECK(wisp_quant_get(WISP_TYPE_I32) == NULL);
    CHECK(wisp_quant_get(4) == NULL);
    CHECK(wisp_quant_get(1000) == NULL);
    CHECK(wisp_row_size(WISP_TYPE_Q4_0, 4096) == 128 * 18);
    CHECK(wisp_row_size(WISP_TYPE_Q4_K, 512) == 2 * 144);
    CHECK(wisp_row_size(WISP_TYPE_F32, 10) == 40);
    CHECK(wisp_row_size(WISP_TYPE_Q4_0, 33) == 0);
    CHECK(wisp_row_size(999, 32) == 0);
    CHECK(sizeof(block_q8_K) == 292 && sizeof(block_q6_K) == 210 && sizeof(block_q2_K) == 84);
}

/* ---------------------------------------------------------------- reference decoders
 * Written from the byte layouts (not the structs): for every element the integer quant
 * q, its integer scale sc and min mn, plus the block's float d and dmin. */

typedef struct {
    int q[256], sc[256], mn[256];
    float d, dmin; /* dmin: the min (Q4_1/Q5_1), s (Q8_1) or dmin (k-quants) */
} ref_blk;

static void ref_decode(uint32_t type, const uint8_t *b, ref_blk *r) {
    memset(r, 0, sizeof(*r));
    switch (type) {
    case WISP_TYPE_Q4_0:
    case WISP_TYPE_Q4_1: {
        const int off = type == WISP_TYPE_Q4_0 ? 2 : 4;
        r->d = ref_f16(b);
        if (type == WISP_TYPE_Q4_1) r->dmin = ref_f16(b + 2);
        for (int e = 0; e < 32; e++) {
            const int nib = e < 16 ? (b[off + e] & 15) : (b[off + e - 16] >> 4);
            r->q[e] = type == WISP_TYPE_Q4_0 ? nib - 8 : nib;
        }
        break;
    }
    case WISP_TYPE_Q5_0:
    case WISP_TYPE_Q5_1: {
        const int hoff = type == WISP_TYPE_Q5_0 ? 2 : 4;
        r->d = ref_f16(b);
        if (type == WISP_TYPE_Q5_1) r->dmin = ref_f16(b + 2);
        for (int e = 0; e < 32; e++) {
            const int nib = e < 16 ? (b[hoff + 4 + e] & 15) : (b[hoff + 4 + e - 16] >> 4);
            const int hi = (b[hoff + e / 8] >> (e % 8)) & 1;
            r->q[e] = (nib | (hi << 4)) - (type == WISP_TYPE_Q5_0 ? 16 : 0);
        }
        break;
    }
    case WISP_TYPE_Q8_0:
        r->d = ref_f16(b);
        for (int e = 0; e < 32; e++) r->q[e] = (int8_t)b[2 + e];
        break;
    case WISP_TYPE_Q8_1:
        r->d = ref_f16(b);
        r->dmin = ref_f16(b + 2);
        for (int e = 0; e < 32; e++) r->q[e] = (int8_t)b[4 + e];
        break;
    case WISP_TYPE_Q2_K: /* scales[16] qs[64] d dmin */
        r->d = ref_f16(b + 80);
        r->dmin = ref_f16(b + 82);
        for (int e = 0; e < 256; e++) {
            const int half = e / 128, k = (e % 128) / 32, l = e % 32;
            r->q[e] = (b[16 + 32 * half + l] >> (2 * k)) & 3;
            r->sc[e] = b[e / 16] & 15;
            r->mn[e] = b[e / 16] >> 4;
        }
        break;
    case WISP_TYPE_Q3_K: { /* hmask[32] qs[64] scales[12] d */
        int lo[16], hi[16];
        for (int t = 0; t < 8; t++) { lo[t] = b[96 + t] & 15; lo[t + 8] = b[96 + t] >> 4; }
        for (int t = 0; t < 4; t++)
            for (int k = 0; k < 4; k++) hi[t + 4 * k] = (b[96 + 8 + t] >> (2 * k)) & 3;
        r->d = ref_f16(b + 108);
        for (int e = 0; e < 256; e++) {
            const int half = e / 128, k = (e % 128) / 32, l = e % 32;
            const int low2 = (b[32 + 32 * half + l] >> (2 * k)) & 3;
            const int hbit = (b[l] >> (e / 32)) & 1;
            r->q[e] = low2 - (hbit ? 0 : 4);
            r->sc[e] = (lo[e / 16] | (hi[e / 16] << 4)) - 32;
        }
        break;
    }
    case WISP_TYPE_Q4_K:
    case WISP_TYPE_Q5_K: { /* d dmin scales[12] [qh[32]] qs[128] */
        const uint8_t *s = b + 4;
        const int qoff = type == WISP_TYPE_Q4_K ? 16 : 48;
        r->d = ref_f16(b);
        r->dmin = ref_f16(b + 2);
        for (int e = 0; e < 256; e++) {
            const int j = e / 32, c = e / 64, rr = e % 64;
            int sc, mn;
            if (j < 4) { sc = s[j] & 63; mn = s[j + 4] & 63; }
            else { sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4); mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4); }
            int q = rr < 32 ? (b[qoff + 32 * c + rr] & 15) : (b[qoff + 32 * c + rr - 32] >> 4);
            if (type == WISP_TYPE_Q5_K) q |= ((b[16 + rr % 32] >> (2 * c + (rr >= 32))) & 1) << 4;
            r->q[e] = q;
            r->sc[e] = sc;
            r->mn[e] = mn;
        }
        break;
    }
    case WISP_TYPE_Q6_K: /* ql[128] qh[64] scales[16] d */
        r->d = ref_f16(b + 208);
        for (int e = 0; e < 256; e++) {
            const int h = e / 128, k = (e % 128) / 32, l = e % 32;
            const int low4 = (b[64 * h + l + 32 * (k & 1)] >> (4 * (k >> 1))) & 15;
            const int hi2 = (b[128 + 32 * h + l] >> (2 * k)) & 3;
            r->q[e] = (low4 | (hi2 << 4)) - 32;
            r->sc[e] = (int8_t)b[192 + e / 16];
        }
        break;
    case WISP_TYPE_Q8_K:
        r->d = ref_f32le(b);
        for (int e = 0; e < 256; e++) r->q[e] = (int8_t)b[4 + e];
        break;
    default:
        break;
    }
}

/* ggml's dequantize formula for each type, same float operation order. */
static float ref_value(uint32_t type, const ref_blk *r, int e) {
    const float q = (float)r->q[e];
    switch (type) {
    case WISP_TYPE_Q4_1:
    case WISP_TYPE_Q5_1: return q * r->d + r->dmin;
    case WISP_TYPE_Q2_K:
    case WISP_TYPE_Q4_K:
    case WISP_TYPE_Q5_K: return (r->d * (float)r->sc[e]) * q - r->dmin * (float)r->mn[e];
    case WISP_TYPE_Q3_K:
    case WISP_TYPE_Q6_K: return (r->d * (float)r->sc[e]) * q;
    case WISP_TYPE_Q8_K: return r->d * q;
    default: return q * r->d;
    }
}

static int is_block_type(uint32_t t) {
    return t != WISP_TYPE_F32 && t != WISP_TYPE_F16 && t != WISP_TYPE_BF16;
}

/* Offsets of the fp16 scale fields of each block type (-1 terminated). */
static void scale_fields(uint32_t type, int out[3]) {
    out[0] = out[1] = out[2] = -1;
    switch (type) {
    case WISP_TYPE_Q4_0: case WISP_TYPE_Q5_0: case WISP_TYPE_Q8_0: out[0] = 0; break;
    case WISP_TYPE_Q4_1: case WISP_TYPE_Q5_1: case WISP_TYPE_Q8_1:
    case WISP_TYPE_Q4_K: case WISP_TYPE_Q5_K: out[0] = 0; out[1] = 2; break;
    case WISP_TYPE_Q2_K: out[0] = 80; out[1] = 82; break;
    case WISP_TYPE_Q3_K: out[0] = 108; break;
    case WISP_TYPE_Q6_K: out[0] = 208; break;
    default: break;
    }
}

static void test_dequantize(void) {
    static const uint16_t specials[] = {0x0000, 0x0001, 0x03ff, 0x0400, 0x7bff, 0xfbff,
                                        0x3c00, 0xbc00, 0x8000, 0x1234, 0xb5a5};
    static const float q8k_specials[] = {0.0f, 1e-30f, 1e30f, -3.5f, 0.0078125f, -1e-3f};
    const int nblk = 4;
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const uint32_t type = k_types[ti].type;
        if (!is_block_type(type)) continue;
        const wisp_quant_traits *t = wisp_quant_get(type);
        if (!t) continue;
        uint8_t *buf = (uint8_t *)malloc((size_t)nblk * t->type_size);
        float *out = (float *)malloc((size_t)nblk * t->blck_size * sizeof(float));
        int bad = 0, cases = 0;
        for (int trial = 0; trial < 200; trial++) {
            /* quants: random, all-zero bytes or all-one bytes */
            const int fill = trial % 5 == 3 ? 0x00 : trial % 5 == 4 ? 0xff : -1;
            for (size_t k = 0; k < (size_t)nblk * t->type_size; k++)
                buf[k] = fill < 0 ? (uint8_t)rng_u64() : (uint8_t)fill;
            for (int bi = 0; bi < nblk; bi++) {
                uint8_t *blk = buf + (size_t)bi * t->type_size;
                if (type == WISP_TYPE_Q8_K) {
                    const float d = trial < 60 ? q8k_specials[(trial + bi) % 6] : rng_gauss();
                    memcpy(blk, &d, 4);
                    continue;
                }
                int f[3];
                scale_fields(type, f);
                for (int k = 0; k < 3 && f[k] >= 0; k++) {
                    uint16_t h = specials[(size_t)(trial * 3 + bi + k) % (sizeof(specials) / 2)];
                    if (trial >= 100) { /* random finite halves */
                        h = (uint16_t)rng_u64();
                        if (((h >> 10) & 31) == 31) h &= 0xbfff;
                    }
                    put_f16(blk + f[k], h);
                }
            }
            t->to_float(buf, out, (int64_t)nblk * t->blck_size);
            for (int bi = 0; bi < nblk; bi++) {
                ref_blk r;
                ref_decode(type, buf + (size_t)bi * t->type_size, &r);
                for (uint32_t e = 0; e < t->blck_size; e++) {
                    const float want = ref_value(type, &r, (int)e);
                    const float got = out[(size_t)bi * t->blck_size + e];
                    cases++;
                    if (!same_float(got, want)) {
                        if (bad < 3) fprintf(stderr, "%s dequant trial %d blk %d elem %u: %a want %a\n",
                                             t->name, trial, bi, e, (double)got, (double)want);
                        bad++;
                    }
                }
            }
        }
        CHECKF(bad == 0, "%s: %d of %d dequantized values differ from the layout formula", t->name,
               bad, cases);
        free(buf);
        free(out);
    }
}

/* ---------------------------------------------------------------- quantization */

typedef struct {
    uint32_t type;
    double max_rel_rmse; /* bound on N(0,1) data */
} rmse_case;

/* Bounds for quantize -> dequantize of 16384 N(0,1) values: ~25% above what these
 * (ggml reference) quantizers reach, measured values in the comments. */
static const rmse_case k_rmse[] = {
    {WISP_TYPE_F32, 0.0},
    {WISP_TYPE_F16, 0.00027},  /* 0.00021 */
    {WISP_TYPE_BF16, 0.0021},  /* 0.00165 */
    {WISP_TYPE_Q8_0, 0.0067},  /* 0.00534 */
    {WISP_TYPE_Q8_1, 0.0067},  /* 0.00534 */
    {WISP_TYPE_Q8_K, 0.0087},  /* 0.00690 */
    {WISP_TYPE_Q6_K, 0.0222},  /* 0.01771 */
    {WISP_TYPE_Q5_K, 0.0455},  /* 0.03636 */
    {WISP_TYPE_Q5_1, 0.0480},  /* 0.03820 */
    {WISP_TYPE_Q5_0, 0.0535},  /* 0.04284 */
    {WISP_TYPE_Q4_K, 0.0895},  /* 0.07161 */
    {WISP_TYPE_Q4_1, 0.0985},  /* 0.07880 */
    {WISP_TYPE_Q4_0, 0.1070},  /* 0.08578 */
    {WISP_TYPE_Q3_K, 0.1890},  /* 0.15078 */
    {WISP_TYPE_Q2_K, 0.3740},  /* 0.29904 */
};

static double g_measured_rmse[WISP_TYPE_COUNT];

static double rel_rmse(const float *a, const float *ref, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)a[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void test_quantize(void) {
    const int64_t n = 256 * 64;
    float *x = (float *)malloc((size_t)n * sizeof(float));
    float *y = (float *)malloc((size_t)n * sizeof(float));
    void *q = malloc((size_t)n * 4 + 64);
    for (int64_t i = 0; i < n; i++) x[i] = rng_gauss();
    for (size_t k = 0; k < sizeof(k_rmse) / sizeof(k_rmse[0]); k++) {
        const wisp_quant_traits *t = wisp_quant_get(k_rmse[k].type);
        if (!t) continue;
        t->from_float(x, q, n);
        t->to_float(q, y, n);
        const double e = rel_rmse(y, x, n);
        g_measured_rmse[t->type] = e;
        printf("  %-5s rel RMSE %.5f (bound %.4f)\n", t->name, e, k_rmse[k].max_rel_rmse);
        CHECKF(e <= k_rmse[k].max_rel_rmse, "%s rel RMSE %.5f > %.4f", t->name, e, k_rmse[k].max_rel_rmse);

        /* all-zero rows quantize to exact zeros (no NaN from 0/0) */
        memset(y, 0, (size_t)n * sizeof(float));
        float *z = (float *)calloc((size_t)n, sizeof(float));
        t->from_float(z, q, 1024);
        t->to_float(q, y, 1024);
        int nz = 0;
        for (int i = 0; i < 1024; i++) nz += y[i] != 0.0f;
        CHECKF(nz == 0, "%s: zero row dequantizes to %d non-zeros", t->name, nz);
        /* scaled rows keep their relative error (scale-invariant up to fp16 range) */
        for (int i = 0; i < 1024; i++) z[i] = x[i] * 1000.0f;
        t->from_float(z, q, 1024);
        t->to_float(q, y, 1024);
        const double es = rel_rmse(y, z, 1024);
        CHECKF(es <= k_rmse[k].max_rel_rmse * 1.3 + 1e-9, "%s x1000 rel RMSE %.5f", t->name, es);
        free(z);
    }

    /* Exact ggml rounding choices on hand-made blocks. */
    {   /* Q8_0: d = amax/127, roundf ties away from zero */
        float v[32] = {127.0f, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f, 126.49f};
        block_q8_0 b;
        wisp_quant_get(WISP_TYPE_Q8_0)->from_float(v, &b, 32);
        CHECK(b.d == 0x3c00);
        CHECK(b.qs[0] == 127 && b.qs[1] == 1 && b.qs[2] == -1 && b.qs[3] == 2 && b.qs[4] == 3 &&
              b.qs[5] == -3 && b.qs[6] == 126 && b.qs[7] == 0);
    }
    {   /* Q8_1: s = d * sum(q) with the float d */
        float v[32];
        for (int i = 0; i < 32; i++) v[i] = (float)(i - 10) * 0.1f;
        block_q8_1 b;
        wisp_quant_get(WISP_TYPE_Q8_1)->from_float(v, &b, 32);
        int sum = 0;
        for (int i = 0; i < 32; i++) sum += b.qs[i];
        const float d = fabsf((float)(31 - 10) * 0.1f) / 127;
        CHECK(b.d == wisp_fp32_to_fp16(d));
        CHECK(b.s == wisp_fp32_to_fp16((float)sum * d));
    }
    {   /* Q4_0: d = max/-8 from the signed max; q = (int)(x/d + 8.5) clamped to 15 */
        float v[32] = {-8.0f, 0.5f, -0.5f, 1.5f, 7.4f, 7.6f, -7.5f};
        block_q4_0 b;
        wisp_quant_get(WISP_TYPE_Q4_0)->from_float(v, &b, 32);
        CHECK(b.d == 0x3c00); /* d = -8 / -8 = 1 */
        /* x*id + 8.5 with id = 1: 0.5, 9.0, 8.0, 10.0, 15.9, 16.1->15, 1.0 */
        const int want[7] = {0, 9, 8, 10, 15, 15, 1};
        for (int i = 0; i < 7; i++) CHECKF((b.qs[i] & 15) == want[i], "q4_0 elem %d = %d", i, b.qs[i] & 15);
        CHECK((b.qs[7] & 15) == 8 && (b.qs[0] >> 4) == 8); /* zeros -> 8 */
    }
    {   /* Q8_K: iscale = -127/max (signed), nearest_int ties to even, d = 1/iscale */
        float v[256] = {0};
        v[0] = 127.0f; v[1] = 0.5f; v[2] = 1.5f; v[3] = 2.5f; v[4] = -127.0f; v[5] = -3.5f;
        block_q8_K b;
        wisp_quant_get(WISP_TYPE_Q8_K)->from_float(v, &b, 256);
        CHECK(b.d == -1.0f);
        CHECK(b.qs[0] == -127 && b.qs[1] == 0 && b.qs[2] == -2 && b.qs[3] == -2 && b.qs[4] == 127 &&
              b.qs[5] == 4);
        CHECK(b.bsums[0] == -127 + 0 - 2 - 2 + 127 + 4 && b.bsums[1] == 0);
        /* bsums on random data */
        for (int i = 0; i < 256; i++) v[i] = rng_gauss();
        wisp_quant_get(WISP_TYPE_Q8_K)->from_float(v, &b, 256);
        int ok = 1;
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += b.qs[16 * j + l];
            ok &= s == b.bsums[j];
        }
        CHECK(ok);
    }
    free(x);
    free(y);
    free(q);
}

/* ---------------------------------------------------------------- dot products */

/* ggml's generic dot for one weight type, re-derived on the decoded integers. */
static float ref_dot(uint32_t type, uint32_t vdt, int64_t n, const uint8_t *xq, const uint8_t *yq) {
    const wisp_quant_traits *tx = wisp_quant_get(type), *ty = wisp_quant_get(vdt);
    if (!is_block_type(type)) { /* float products, double accumulator */
        float *a = (float *)malloc((size_t)n * sizeof(float));
        float *b = (float *)malloc((size_t)n * sizeof(float));
        tx->to_float(xq, a, n);
        ty->to_float(yq, b, n);
        double s = 0;
        for (int64_t i = 0; i < n; i++) s += (double)(a[i] * b[i]);
        free(a);
        free(b);
        return (float)s;
    }
    const int64_t nb = n / tx->blck_size;
    float sumf = 0.0f, sums[8] = {0};
    static ref_blk rx, ry;
    for (int64_t i = 0; i < nb; i++) {
        ref_decode(type, xq + i * tx->type_size, &rx);
        ref_decode(vdt, yq + i * ty->type_size, &ry);
        const int bs = (int)tx->blck_size;
        int sumi = 0, summ = 0, lane[8] = {0};
        for (int e = 0; e < bs; e++) {
            const int sc = (type >= WISP_TYPE_Q2_K) ? rx.sc[e] : 1;
            sumi += sc * rx.q[e] * ry.q[e];
            summ += rx.mn[e] * ry.q[e];
            lane[e % 8] += sc * rx.q[e] * ry.q[e];
        }
        switch (type) {
        case WISP_TYPE_Q4_0: sumf += (float)sumi * rx.d * ry.d; break;
        case WISP_TYPE_Q5_0: sumf += (rx.d * ry.d) * (float)sumi; break;
        case WISP_TYPE_Q8_0: sumf += (float)sumi * (rx.d * ry.d); break;
        case WISP_TYPE_Q4_1:
        case WISP_TYPE_Q5_1: sumf += (rx.d * ry.d) * (float)sumi + rx.dmin * ry.dmin; break;
        case WISP_TYPE_Q2_K: sumf += (ry.d * rx.d) * (float)sumi - (ry.d * rx.dmin) * (float)summ; break;
        case WISP_TYPE_Q4_K:
        case WISP_TYPE_Q5_K: sumf -= (rx.dmin * ry.d) * (float)summ; /* fall through */
        case WISP_TYPE_Q3_K:
        case WISP_TYPE_Q6_K:
            for (int l = 0; l < 8; l++) sums[l] += (rx.d * ry.d) * (float)lane[l];
            break;
        default: break;
        }
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

static void test_dots(void) {
    const int64_t n = 4096;
    float *x = (float *)malloc((size_t)n * sizeof(float));
    float *y = (float *)malloc((size_t)n * sizeof(float));
    float *xd = (float *)malloc((size_t)n * sizeof(float));
    float *yd = (float *)malloc((size_t)n * sizeof(float));
    uint8_t *xq = (uint8_t *)malloc((size_t)n * 4);
    uint8_t *yq = (uint8_t *)malloc((size_t)n * 4 + 64);
    double worst_rel = 0, worst_sigma = 0;
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const wisp_quant_traits *t = wisp_quant_get(k_types[ti].type);
        if (!t || !t->vec_dot) continue;
        const wisp_quant_traits *ty = wisp_quant_get(t->vec_dot_type);
        int exact_bad = 0;
        for (int trial = 0; trial < 6; trial++) {
            const float sx = trial == 4 ? 1e-3f : trial == 5 ? 300.0f : 1.0f;
            for (int64_t i = 0; i < n; i++) { x[i] = sx * rng_gauss(); y[i] = rng_gauss(); }
            if (trial == 3) /* correlated rows: a large dot, not just noise */
                for (int64_t i = 0; i < n; i++) y[i] = x[i] + 0.3f * y[i];
            t->from_float(x, xq, n);
            ty->from_float(y, yq, n);
            const float got = t->vec_dot(n, xq, yq);

            /* 1. bit-exact against ggml's operation order */
            const float want = ref_dot(t->type, t->vec_dot_type, n, xq, yq);
            if (!same_float(got, want)) {
                if (exact_bad < 3) fprintf(stderr, "%s dot trial %d: %.9g want %.9g\n", t->name, trial,
                                           (double)got, (double)want);
                exact_bad++;
            }

            /* 2. against dequantize-then-dot in double */
            t->to_float(xq, xd, n);
            ty->to_float(yq, yd, n);
            double ref = 0, mag = 0, fdot = 0, ex = 0, ey = 0, nx = 0, nyd = 0;
            for (int64_t i = 0; i < n; i++) {
                ref += (double)xd[i] * yd[i];
                mag += fabs((double)xd[i] * yd[i]);
                fdot += (double)x[i] * y[i];
                ex += ((double)xd[i] - x[i]) * ((double)xd[i] - x[i]);
                ey += ((double)yd[i] - y[i]) * ((double)yd[i] - y[i]);
                nx += (double)x[i] * x[i];
                nyd += (double)yd[i] * yd[i];
            }
            /* Q8_1's s = fp16(d*sum q) is not sum(fp16(d)*q): allow its fp16 rounding */
            double extra = 0;
            if (t->vec_dot_type == WISP_TYPE_Q8_1) {
                ref_blk rx, ry;
                for (int64_t b = 0; b < n / 32; b++) {
                    ref_decode(t->type, xq + b * t->type_size, &rx);
                    ref_decode(WISP_TYPE_Q8_1, yq + b * ty->type_size, &ry);
                    int sq = 0;
                    for (int e = 0; e < 32; e++) sq += ry.q[e];
                    extra += fabs((double)rx.dmin) * (fabs((double)ry.dmin) + fabs((double)ry.d * sq)) * 1e-3;
                }
            }
            const double tol = 2e-6 * mag + extra + 1e-30;
            const double rel = fabs(got - ref) / (mag + 1e-30);
            if (t->vec_dot_type != WISP_TYPE_Q8_1 && rel > worst_rel) worst_rel = rel;
            CHECKF(fabs(got - ref) <= tol, "%s dot trial %d: %.9g vs dequantized %.9g (tol %.3g)", t->name,
                   trial, (double)got, ref, tol);

            /* 3. against the unquantized dot: Cauchy-Schwarz on the actual errors,
             *    |x'.y' - x.y| <= |x'-x| |y'| + |x| |y'-y| */
            const double bound = sqrt(ex) * sqrt(nyd) + sqrt(nx) * sqrt(ey) + tol;
            CHECKF(fabs(got - fdot) <= bound, "%s dot trial %d: %.9g vs f32 %.9g (bound %.3g)", t->name,
                   trial, (double)got, fdot, bound);
            /* and, the errors being noise, typically far inside that: within 6 sigma of
             * sum(dx_i*y_i + x_i*dy_i) taken as a sum of random terms. (The least-squares
             * k-quant fits shrink slightly, so on correlated rows, trial 3, Q2_K reaches
             * 4.3 sigma; everything else stays under 3.) */
            double s2 = 0;
            for (int64_t i = 0; i < n; i++) {
                const double term = ((double)xd[i] - x[i]) * y[i] + (double)x[i] * ((double)yd[i] - y[i]);
                s2 += term * term;
            }
            const double sigma_ratio = fabs(got - fdot) / (sqrt(s2) + tol);
            if (sigma_ratio > worst_sigma) worst_sigma = sigma_ratio;
            CHECKF(fabs(got - fdot) <= 6 * sqrt(s2) + tol, "%s dot trial %d: error %.3g is %.1f sigma",
                   t->name, trial, fabs(got - fdot), sigma_ratio);
        }
        CHECKF(exact_bad == 0, "%s: %d dots differ from ggml's generic kernel order", t->name, exact_bad);
    }
    printf("  worst |dot - dequantized dot| / sum|x*y| = %.3g (bound 2e-6)\n", worst_rel);
    printf("  worst |dot - f32 dot| = %.2f sigma of the quantization noise (bound 6)\n", worst_sigma);
    free(x);
    free(y);
    free(xd);
    free(yd);
    free(xq);
    free(yq);
}

/* ---------------------------------------------------------------- real GGUF files */

typedef struct {
    uint8_t *data;
    size_t size;
    wisp_gguf *g;
} loaded_gguf;

static int load_gguf(const char *rel, loaded_gguf *out) {
    char path[1024], err[256];
    memset(out, 0, sizeof(*out));
    if (!test_fixture(path, sizeof(path), rel)) return 0;
    out->data = (uint8_t *)test_read_file(path, &out->size);
    CHECKF(out->data != NULL, "cannot read %s", path);
    if (!out->data) return 0;
    wisp_reader r = wisp_reader_memory(out->data, out->size);
    uint64_t needed = 0;
    const wisp_status st = wisp_gguf_open(&r, 0, &out->g, &needed, err, sizeof(err));
    CHECKF(st == WISP_OK, "%s: %s", rel, err);
    if (st != WISP_OK) { free(out->data); out->data = NULL; return 0; }
    return 1;
}
static void free_gguf(loaded_gguf *l) {
    wisp_gguf_free(l->g);
    free(l->data);
}

/* Dequantizes a tensor into a new float array (NULL if wisp cannot). */
static float *tensor_floats(const loaded_gguf *l, const wisp_gguf_tensor *t) {
    const wisp_quant_traits *q = wisp_quant_get(t->type);
    if (!q || t->n_elements % q->blck_size) return NULL;
    if (wisp_row_size(t->type, (int64_t)t->n_elements) != t->size) return NULL;
    float *f = (float *)malloc((size_t)t->n_elements * sizeof(float));
    q->to_float(l->data + t->offset, f, (int64_t)t->n_elements);
    return f;
}

/* Relative RMS error of the fixture encodings, from /work/shared/models/README.md. */
static double doc_rmse(uint32_t type) {
    switch (type) {
    case WISP_TYPE_F16: return 0.0002;
    case WISP_TYPE_Q8_0: return 0.005;
    case WISP_TYPE_Q6_K: return 0.019;
    case WISP_TYPE_Q5_0: return 0.043;
    case WISP_TYPE_Q4_K: return 0.079;
    case WISP_TYPE_Q4_0: return 0.086;
    default: return 0.0;
    }
}

static void test_real_files(void) {
    static const struct { const char *file; uint32_t type; } files[] = {
        {"models/synthetic/tiny-tok512-f16.gguf", WISP_TYPE_F16},
        {"models/synthetic/tiny-tok512-q8_0.gguf", WISP_TYPE_Q8_0},
        {"models/synthetic/tiny-tok512-q6_k.gguf", WISP_TYPE_Q6_K},
        {"models/synthetic/tiny-tok512-q5_0.gguf", WISP_TYPE_Q5_0},
        {"models/synthetic/tiny-tok512-q4_k.gguf", WISP_TYPE_Q4_K},
        {"models/synthetic/tiny-tok512-q4_0.gguf", WISP_TYPE_Q4_0},
        {"models/synthetic/tiny-tok512-q4_k_m.gguf", WISP_TYPE_Q4_K},
        {"models/synthetic/tiny-tok512-q4_k_m.gguf", WISP_TYPE_Q6_K},
    };
    loaded_gguf ref;
    if (!load_gguf("models/synthetic/tiny-tok512-f32.gguf", &ref)) return;
    for (size_t fi = 0; fi < sizeof(files) / sizeof(files[0]); fi++) {
        loaded_gguf l;
        if (!load_gguf(files[fi].file, &l)) continue;
        /* every tensor of the given type, compared with the F32 file's tensor */
        double num = 0, den = 0, worst = 0;
        int n_tensors = 0, bad_shape = 0, nonfinite = 0;
        for (int64_t i = 0; i < wisp_gguf_n_tensors(l.g); i++) {
            const wisp_gguf_tensor *t = wisp_gguf_tensor_at(l.g, i);
            if (t->type != files[fi].type) continue;
            const wisp_gguf_tensor *tr = wisp_gguf_find_tensor(ref.g, t->name.str);
            if (!tr || tr->type != WISP_TYPE_F32 || tr->n_elements != t->n_elements) { bad_shape++; continue; }
            float *a = tensor_floats(&l, t);
            const float *b = (const float *)(ref.data + tr->offset);
            if (!a) { bad_shape++; continue; }
            double tn = 0, td = 0;
            for (uint64_t k = 0; k < t->n_elements; k++) {
                if (!isfinite(a[k])) nonfinite++;
                const double d = (double)a[k] - b[k];
                tn += d * d;
                td += (double)b[k] * b[k];
            }
            num += tn;
            den += td;
            if (td > 0 && sqrt(tn / td) > worst) worst = sqrt(tn / td);
            n_tensors++;
            free(a);
        }
        const double e = den > 0 ? sqrt(num / den) : -1;
        const double doc = doc_rmse(files[fi].type);
        printf("  %-40s %-5s %2d tensors rel RMS err %.5f (worst tensor %.5f, documented %.4f)\n",
               files[fi].file + 17, wisp_type_name(files[fi].type), n_tensors, e, worst, doc);
        CHECKF(n_tensors > 0 && bad_shape == 0 && nonfinite == 0, "%s: %d tensors, %d unmatched, %d non-finite",
               files[fi].file, n_tensors, bad_shape, nonfinite);
        /* the README rounds to 1-2 significant digits: allow +-15% plus that rounding */
        CHECKF(e >= doc * 0.85 - 0.00005 && e <= doc * 1.15 + 0.00005,
               "%s: rel RMS error %.5f, documented %.4f", files[fi].file, e, doc);

        /* one matrix row through the real dot path: W[row] . x with x quantized to
         * vec_dot_type, against the F32 weights' dot */
        const wisp_gguf_tensor *t = wisp_gguf_find_tensor(l.g, "blk.0.attn_q.weight");
        const wisp_gguf_tensor *tr = wisp_gguf_find_tensor(ref.g, "blk.0.attn_q.weight");
        const wisp_quant_traits *q = t ? wisp_quant_get(t->type) : NULL;
        if (q && tr && q->vec_dot && (fi == 0 || strcmp(files[fi].file, files[fi - 1].file) != 0)) {
            const int64_t ne0 = (int64_t)t->ne[0];
            const wisp_quant_traits *qy = wisp_quant_get(q->vec_dot_type);
            float *act = (float *)malloc((size_t)ne0 * sizeof(float));
            uint8_t *aq = (uint8_t *)malloc(wisp_row_size(q->vec_dot_type, ne0) + 16);
            for (int64_t k = 0; k < ne0; k++) act[k] = rng_gauss();
            qy->from_float(act, aq, ne0);
            double err2 = 0, ref2 = 0;
            for (uint64_t row = 0; row < t->ne[1]; row++) {
                const float got = q->vec_dot(ne0, l.data + t->offset + row * wisp_row_size(t->type, ne0), aq);
                const float *wr = (const float *)(ref.data + tr->offset) + row * (uint64_t)ne0;
                double want = 0;
                for (int64_t k = 0; k < ne0; k++) want += (double)wr[k] * act[k];
                err2 += (got - want) * (got - want);
                ref2 += want * want;
            }
            const double rel = sqrt(err2 / ref2);
            /* weight error + activation error, both relative; 1.5x for the sampling */
            const double bound = 1.5 * (doc_rmse(t->type) + g_measured_rmse[q->vec_dot_type]) + 1e-4;
            printf("  %-40s attn_q matvec rel RMS err %.5f (bound %.4f)\n", files[fi].file + 17, rel, bound);
            CHECKF(rel <= bound, "%s: matvec rel error %.5f > %.4f", files[fi].file, rel, bound);
            free(act);
            free(aq);
        }
        free_gguf(&l);
    }
    free_gguf(&ref);
}

int main(void) {
    test_fp16();
    test_bf16();
    test_traits();
    test_dequantize();
    test_quantize();
    test_dots();
    test_real_files();
    return test_finish("test_quants");
}
