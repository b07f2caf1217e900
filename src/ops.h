/* ops.h — f32 building blocks of the forward pass, written to round exactly as
 * ggml's CPU ops do (sums in double where ggml uses ggml_float). */
#ifndef WISP_OPS_H
#define WISP_OPS_H

#include <stdint.h>

/* y = x / sqrt(mean(x^2) + eps) * w  (n elements; y may alias x) */
void wisp_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps);

/* Rotary embedding cache for one position: cs[2*i] = cos, cs[2*i+1] = sin of the
 * angle of pair i (n_rot/2 pairs), as ggml_rope_cache_init computes it (theta is
 * multiplied by theta_scale step by step in float). freq_factors may be NULL. */
void wisp_rope_cache(float *cs, float pos, int n_rot, float base, float freq_scale,
                     const float *freq_factors);
/* Rotate one head vector in place. NORM rotates adjacent pairs (x[2i], x[2i+1]);
 * NEOX rotates (x[i], x[i + n_rot/2]). Dims >= n_rot are left alone. */
void wisp_rope_norm(float *x, const float *cs, int n_rot);
void wisp_rope_neox(float *x, const float *cs, int n_rot);

/* In-place softmax of n values; returns nothing. Sum in double as ggml. */
void wisp_softmax(float *x, int64_t n);

/* y[i] = silu(g[i]) * u[i] over one row (exp as llama.cpp's portable build: see ops.c) */
void wisp_swiglu(float *y, const float *g, const float *u, int64_t n);
/* Elements [i0, i1) of wisp_swiglu over a row of n: the same value for every element
 * as the whole-row call (so a row can be split between threads). */
void wisp_swiglu_range(float *y, const float *g, const float *u, int64_t n, int64_t i0, int64_t i1);

#endif
