/* context.h — internal layout of wisp_context: the F16 KV cache, the per-chunk
 * activation scratch, and the logits buffer. Everything is allocated once in
 * wisp_context_init; decoding allocates nothing. */
#ifndef WISP_CONTEXT_H
#define WISP_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <stdatomic.h>

#include "model.h"
#include "quant.h"
#include "simd128.h"
#include "threadpool.h"
#include "wisp.h"

#define WISP_ACT_SLOTS 4

/* Per-thread attention scratch. */
/* Query heads of one KV group handled by one attention job (SIMD builds: K/V rows are
 * converted from halves once for all of them; the scalar path takes one head a job). */
#if WISP_HAVE_SIMD128
#define WISP_ATTN_GROUP 4
#else
#define WISP_ATTN_GROUP 1
#endif

typedef struct wisp_attn_scratch {
    wisp_fp16 *q16;     /* scalar path: (head_dim) query rounded to F16, as ggml does for F16 K */
    wisp_fp16 *acc16;   /* scalar path: (head_dim) running weighted sum of V rows, F16 as in ggml */
    float *qf;          /* SIMD path: (WISP_ATTN_GROUP * head_dim) the F16 queries held as floats */
    float *sc;          /* SIMD path: (WISP_ATTN_GROUP * 2 * n_ctx) scores and softmax factors */
} wisp_attn_scratch;

struct wisp_context {
    const wisp_model *model;
    wisp_context_params params;
    uint32_t n_ctx;
    uint32_t n_batch;
    uint32_t n_past;

    wisp_pool *pool;

    /* KV cache, F16 (llama.cpp's default type):
     *   k_cache, v_cache: (n_layer, n_head_kv, n_ctx, head_dim): a head's rows are positions */
    wisp_fp16 *k_cache;
    wisp_fp16 *v_cache;
    /* Set (for good) once an Inf or NaN half was stored in the cache: until then the
     * attention kernel converts halves without the Inf/NaN case (SIMD path). */
    atomic_int kv_nonfinite;

    /* Activations for one chunk of up to n_batch tokens. */
    float *x;      /* (n_batch, n_embd) residual stream */
    float *xb;     /* (n_batch, n_embd) normed input of a block */
    float *q;      /* (n_batch, n_head*head_dim) */
    float *k;      /* (n_batch, n_head_kv*head_dim) */
    float *v;      /* (n_batch, n_head_kv*head_dim) */
    float *att;    /* (n_batch, n_head*head_dim) attention output */
    float *hb;     /* (n_batch, n_ff) gate, then swiglu */
    float *hb2;    /* (n_batch, n_ff) up */
    float *rope;   /* (n_batch, n_rot) cos/sin per token */
    /* Activations converted to weights' dot types, (n_batch, act_q_cap[i] bytes) each:
     * slot 0 for rows of any width (the wo, w_down and output inputs), slots 1..3 for
     * n_embd-wide rows (the up to three formats q/k/v or gate/up read, kept apart from
     * slot 0 because the FFN job writes w_down's input while gate/up still read theirs).
     * act_p[i]: the same rows prepared for the faster kernels (traits->act_prep), or NULL
     * when no type has such a path. */
    void *act_q[WISP_ACT_SLOTS];
    size_t act_q_cap[WISP_ACT_SLOTS];
    void *act_p[WISP_ACT_SLOTS];
    size_t act_p_cap[WISP_ACT_SLOTS];

    wisp_attn_scratch *attn;  /* (n_threads) */

    float *logits;            /* (n_logit_rows, n_vocab) */
    uint32_t n_logit_rows;    /* capacity: n_batch with all_logits, else 1 */
    uint32_t n_logits_valid;  /* rows filled by the last decode */
    int32_t first_logit_tok;  /* index (within the last decode call) of logits row 0 */

    bool (*should_abort)(void *user);
    void *abort_user;
    char last_error[512];
};

#endif
