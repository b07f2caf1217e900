/* ops.c — scalar f32 ops of the forward pass (see ops.h for the rounding contract). */
#include <math.h>

#include "ops.h"

void wisp_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const double mean = sum / (double)n;
    const float scale = 1.0f / sqrtf((float)(mean + (double)eps));
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

void wisp_swiglu(float *y, const float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float s = g[i] / (1.0f + expf(-g[i]));
        y[i] = s * u[i];
    }
}
