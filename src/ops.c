/* ops.c — scalar f32 ops of the forward pass (see ops.h for the rounding contract). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF /* must round like ggml: no fused multiply-adds */
#endif

#include "ops.h"

void wisp_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    /* ggml rounds the mean to float before adding eps; one ulp here flips later
     * activation-quantization ties for low-bit weights */
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] * scale) * w[i];
}

void wisp_rope_cache(float *cs, float pos, int n_rot, float base, float freq_scale,
                     const float *freq_factors) {
    const float theta_scale = powf(base, -2.0f / (float)n_rot);
    float theta = pos;
    for (int i0 = 0; i0 < n_rot; i0 += 2) {
        const float ff = freq_factors ? freq_factors[i0 / 2] : 1.0f;
        const float t = freq_scale * (theta / ff);
        cs[i0] = cosf(t);
        cs[i0 + 1] = sinf(t);
        theta *= theta_scale;
    }
}

void wisp_rope_norm(float *x, const float *cs, int n_rot) {
    for (int i0 = 0; i0 < n_rot; i0 += 2) {
        const float c = cs[i0], s = cs[i0 + 1];
        const float x0 = x[i0], x1 = x[i0 + 1];
        x[i0] = x0 * c - x1 * s;
        x[i0 + 1] = x0 * s + x1 * c;
    }
}

void wisp_rope_neox(float *x, const float *cs, int n_rot) {
    const int half = n_rot / 2;
    for (int i = 0; i < half; i++) {
        const float c = cs[2 * i], s = cs[2 * i + 1];
        const float x0 = x[i], x1 = x[i + half];
        x[i] = x0 * c - x1 * s;
        x[i + half] = x0 * s + x1 * c;
    }
}

void wisp_softmax(float *x, int64_t n) {
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > max) max = x[i];
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float e = expf(x[i] - max);
        sum += (double)e;
        x[i] = e;
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* exp(x) as ggml's SSE2 ggml_v_expf computes it lane by lane (no FMA): llama.cpp's
 * portable x86-64 build uses it for SiLU in groups of four, libm expf for the tail. */
static float ggml_expf_sse2(float x) {
    const float r = 0x1.8p23f;
    const float z = x * 0x1.715476p+0f + r;
    const float n = z - r;
    const float b = (x - n * 0x1.62e4p-1f) - n * 0x1.7f7d1cp-20f;
    const uint32_t e = f2u(z) << 23;
    const float k = u2f(e + f2u(1.0f));
    const int c = fabsf(n) > 126.0f;
    const float u = b * b;
    const float j = ((0x1.0e4020p-7f * b + 0x1.573e2ep-5f) * u + (0x1.555e66p-3f * b + 0x1.fffdb6p-2f)) * u +
                    0x1.ffffecp-1f * b;
    if (!c) return j * k + k;
    const uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
    const float s1 = u2f(g + 0x7f000000u);
    const float s2 = u2f(e - g);
    if (fabsf(n) > 192.0f) return s1 * s1;
    return (s2 * j + s2) * s1;
}

void wisp_swiglu_range(float *y, const float *g, const float *u, int64_t n, int64_t i0, int64_t i1) {
    const int64_t n4 = n - n % 4; /* the row's vector part, as in ggml: set by n, not the range */
    int64_t i = i0;
    for (; i < i1 && i < n4; i++) {
        const float s = g[i] / (1.0f + ggml_expf_sse2(0.0f - g[i]));
        y[i] = s * u[i];
    }
    for (; i < i1; i++) {
        const float s = g[i] / (1.0f + expf(-g[i]));
        y[i] = s * u[i];
    }
}

void wisp_swiglu(float *y, const float *g, const float *u, int64_t n) { wisp_swiglu_range(y, g, u, n, 0, n); }
