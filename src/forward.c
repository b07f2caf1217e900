/* forward.c — the transformer forward pass over a chunk of tokens: embedding, then
 * per layer an attention block and a SwiGLU FFN block (pre-RMSNorm, residuals), then
 * the output norm and the vocabulary projection. Numerics follow llama.cpp's CPU
 * graph: activations are converted to each weight's dot type before a matmul, the
 * KV cache is F16, and attention follows ggml's flash-attention kernel.
 *
 * Threads: each layer is a few pool jobs (threadpool.h), each split into chunks that
 * the threads claim dynamically; the small per-token ops ride along in the job that
 * produces their input, so a layer has few barriers and next to no serial work:
 *   [norm]  rmsnorm of the residual + conversion to the q/k/v dot types (per token;
 *           with one token it runs inline on the caller)
 *   qkv     the q, k and v matmuls as one job, one head per chunk, each chunk also
 *           adding the bias, applying RoPE and storing k/v into the F16 cache
 *   attn    one (token, head) per chunk, later tokens first; a chunk also converts its
 *           head's output for wo when the dot type's blocks fit in a head
 *   wo      matmul added straight into the residual stream
 *   [norm]  as above, for gate/up
 *   ffn     gate and up rows together, then SwiGLU and the conversion of those
 *           elements for w_down (chunks are whole blocks of w_down's dot type)
 *   down    matmul added straight into the residual stream
 * Every output element is still computed by the same kernel from the same operands
 * as in a serial run, so results do not depend on the number of threads or on which
 * thread ran which chunk: bit-identical. Nothing is allocated here. */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "context.h"
#include "kernels_simd128.h"
#include "ops.h"
#include "util.h"

static void run(wisp_context *c, wisp_pool_fn fn, void *arg, int n_chunks) {
    wisp_pool_run(c->pool, fn, arg, n_chunks);
}

/* Row splits of a matmul-like job: "guided" chunks of decreasing size, each about
 * 1/(2 nth) of the units still unassigned but at least min_units. The first chunks
 * are big (few claims of the shared counter), the last are small, so the threads
 * finish within a small chunk of each other whichever of them was slowed down. */
#define MAX_SPLIT 128
#define MIN_CHUNK_MACS 8192 /* smallest chunk worth a claim: a few microseconds */
/* Decode reads each weight row once, from memory: a chunk's rows go through the four-row
 * kernel as four streams (mm_rows_mode), and a short stream spends most of its time
 * before the hardware prefetcher has caught up with it. Headless Chromium, rows of 576,
 * ns per block for streams of 16 / 64 / 1024 rows: Q8_0 2.74 / 2.08 / 1.84, Q4_0
 * 2.00 / 1.69 / 1.56. So decode chunks are at least this many rows (streams of 32):
 * with 2 threads, smollm2-135m q4_0 decodes 4-13% faster and qwen2.5-0.5b q8_0 3-4%
 * (interleaved A/B in Chromium, medians of 4 runs). */
#define DECODE_MIN_ROWS 128
typedef struct split {
    int n;
    int64_t b[MAX_SPLIT + 1]; /* chunk i = units [b[i], b[i+1]) */
} split;

static void split_guided(const wisp_context *c, split *sp, int64_t n_units, int64_t unit_macs, int64_t min_units_floor) {
    const int nth = wisp_pool_size(c->pool);
    int64_t min_units = (MIN_CHUNK_MACS + unit_macs - 1) / unit_macs;
    if (min_units < min_units_floor) min_units = min_units_floor;
    if (min_units < 1) min_units = 1;
    int k = 0;
    int64_t pos = 0;
    while (pos < n_units && nth > 1) {
        const int64_t rem = n_units - pos;
        int64_t s = rem / (2 * nth);
        if (s < min_units) s = min_units;
        if (s > rem || k == MAX_SPLIT - 1) s = rem;
        sp->b[k++] = pos;
        pos += s;
    }
    if (k == 0) sp->b[k++] = 0; /* one thread (or nothing): one chunk */
    sp->b[k] = n_units;
    sp->n = k;
}

/* ------------------------------------------------------------ activations */

/* The rows of an activation matrix (T rows of n_el floats) converted to the dot types
 * of the weights that read them: up to three formats (q/k/v or gate/up may differ in
 * type). F32 rows are read in place. */
typedef struct act_set {
    int n;
    int first;  /* formats use scratch slots first, first+1, .. */
    float *src;
    int64_t n_el;
    int64_t T;  /* rows */
    const wisp_quant_traits *tr[3];  /* NULL: F32, read in place */
    unsigned char *data[3];
    size_t row[3];
    uint32_t type[3];
    /* the same rows prepared for the faster kernels (traits->act_prep of a weight that
     * reads this format), when some weight uses them: */
    const wisp_quant_traits *prep[3];
    unsigned char *pdata[3];
    size_t prow[3];
} act_set;

static void act_set_init(act_set *a, float *src, int64_t n_el, int64_t T, int first_slot) {
    memset(a, 0, sizeof *a);
    a->first = first_slot;
    a->src = src;
    a->n_el = n_el;
    a->T = T;
}

/* Adds the format weight w reads (if new); returns its index in a. Format i is stored
 * in the scratch slot c->act_q[a->first + i] (see context.h for the slots' sizes). */
static int act_slot(wisp_context *c, act_set *a, const wisp_tensor *w) {
    const uint32_t vt = wisp_quant_get(w->type)->vec_dot_type;
    for (int i = 0; i < a->n; i++)
        if (a->type[i] == vt) return i;
    const int i = a->n++;
    a->type[i] = vt;
    if (vt == WISP_TYPE_F32) {
        a->tr[i] = NULL;
        a->data[i] = (unsigned char *)a->src;
        a->row[i] = (size_t)a->n_el * sizeof(float);
    } else {
        a->tr[i] = wisp_quant_get(vt);
        a->data[i] = (unsigned char *)c->act_q[a->first + i];
        a->row[i] = wisp_row_size(vt, a->n_el);
        assert(a->first + i < WISP_ACT_SLOTS && a->row[i] <= c->act_q_cap[a->first + i]);
    }
    return i;
}

/* Elements a piece of a row must be made of for every format of a (whole blocks, and
 * whole prepared units; 1 when nothing is converted). */
static int64_t act_unit(const act_set *a) {
    int64_t u = 1;
    for (int i = 0; i < a->n; i++) {
        if (a->tr[i] && a->tr[i]->blck_size > u) u = a->tr[i]->blck_size;
        if (a->prep[i] && a->prep[i]->act_prep_unit > u) u = a->prep[i]->act_prep_unit;
    }
    return u;
}

/* Converts elements [e0, e1) of row t into every format (whole blocks: conversion is
 * block by block, so converting a row in pieces gives the same bytes). */
static void act_fill(const act_set *a, int64_t t, int64_t e0, int64_t e1) {
    for (int i = 0; i < a->n; i++) {
        const wisp_quant_traits *tr = a->tr[i];
        if (!tr) continue;
        unsigned char *q = a->data[i] + (size_t)t * a->row[i] + (size_t)(e0 / tr->blck_size) * tr->type_size;
        tr->from_float(a->src + t * a->n_el + e0, q, e1 - e0);
        const wisp_quant_traits *pt = a->prep[i];
        if (pt) pt->act_prep(q, a->pdata[i] + (size_t)t * a->prow[i] + pt->act_prep_size(e0), e1 - e0);
    }
}

/* ------------------------------------------------------------ matmul */

enum { MM_STORE, MM_BIAS, MM_ADD };

/* One weight times one activation set: out[t*ld + r] = dot(W row r, act row t), or
 * that plus bias[r] (MM_BIAS), or added to what out holds (MM_ADD: the residual). */
typedef struct mm_seg {
    const wisp_tensor *w;
    const wisp_quant_traits *wt;
    wisp_vec_dot_fn dot;
    wisp_vec_dot4_fn dot4;     /* NULL: dot per token */
    wisp_vec_dot_rows4_fn rows4;  /* NULL: dot per row (see mm_rows_mode) */
    const unsigned char *act;
    size_t act_row;
    float *out;
    int64_t ld;
    const float *bias;
    int mode;
} mm_seg;

static void mm_seg_init(mm_seg *s, wisp_context *c, const wisp_tensor *w, act_set *a, float *out, int64_t ld,
                        const wisp_tensor *bias, int mode) {
    const int slot = act_slot(c, a, w);
    s->w = w;
    s->wt = wisp_quant_get(w->type);
    s->act = a->data[slot];
    s->act_row = a->row[slot];
    s->dot = s->wt->vec_dot;
    s->dot4 = s->wt->vec_dot4;
    s->rows4 = NULL;
    const wisp_quant_traits *wt = s->wt;
    if (wt->act_prep && a->tr[slot] && a->T >= wt->prep_min_tokens) {
        /* the faster kernels on prepared rows (every weight type reading one activation
         * format prepares it the same way) */
        const int k = a->first + slot;
        const size_t prow = wt->act_prep_size(a->n_el);
        if (c->act_p[k] && prow <= c->act_p_cap[k]) {
            a->prep[slot] = wt;
            a->pdata[slot] = (unsigned char *)c->act_p[k];
            a->prow[slot] = prow;
            s->act = a->pdata[slot];
            s->act_row = prow;
            s->dot = wt->vec_dot_p;
            s->dot4 = wt->vec_dot4_p;
            s->rows4 = wt->vec_dot_p_rows4;
        }
    }
    s->out = out;
    s->ld = ld;
    s->bias = bias && bias->data ? (const float *)bias->data : NULL;
    s->mode = mode == MM_BIAS && !s->bias ? MM_STORE : mode;
}

/* Row r for all T tokens: the weight row is read once for every token.
 * MODE is a constant at each call site below, so the store is chosen outside the loop. */
static inline void mm_row_mode(const mm_seg *s, int64_t T, int64_t r, const int mode) {
    const int64_t n = s->w->ne[0];
    const void *row = (const unsigned char *)s->w->data + (size_t)r * s->w->row_bytes;
    const float b = mode == MM_BIAS ? s->bias[r] : 0.0f;
    float *const out = s->out;
    const int64_t ld = s->ld;
#define MM_PUT(t, v)                                            \
    do {                                                         \
        float *o_ = out + (t) * ld + r;                          \
        if (mode == MM_ADD) *o_ += (v);                          \
        else if (mode == MM_BIAS) *o_ = (v) + b;                 \
        else *o_ = (v);                                          \
    } while (0)
    int64_t t = 0;
    /* prefill: four tokens per pass, so each weight block is unpacked once for four
     * dot products (results are identical to four single dots) */
    if (s->dot4) {
        for (; t + 4 <= T; t += 4) {
            float o[4];
            s->dot4(n, row, s->act + (size_t)t * s->act_row, s->act_row, o);
            for (int k = 0; k < 4; k++) MM_PUT(t + k, o[k]);
        }
    }
    for (; t < T; t++) MM_PUT(t, s->dot(n, row, s->act + (size_t)t * s->act_row));
#undef MM_PUT
}

/* Rows [r0, r1). With fewer than four tokens (decode) the kernel waits on memory more
 * than on arithmetic, and one sequential stream of weight rows leaves the hardware
 * prefetcher mostly idle (it works within 4 KiB pages, a few lines ahead): the rows are
 * taken from MM_STREAMS places of the range in turn, so that many streams are in
 * flight. Each row's result is the same in any order. (Measured with kernel-bench-style
 * loops in V8 on a 145 MB Q8_0 matrix: 6.5-8.8 -> 4.9-7.3 ns per block with 4 streams.)
 * Where the type has a four-row kernel, the four streams go through it together: one
 * call per four rows, each activation block loaded once for them (Q4_0 rows of 576 from
 * a 65 MB matrix, ns per block: headless Chromium 156 3.6 -> 2.2, Node 20 4.7 -> 2.4). */
#define MM_STREAMS 4
static inline void mm_rows_mode(const mm_seg *s, int64_t T, int64_t r0, int64_t r1, const int mode) {
    int64_t r = r0;
    if (T < 4 && s->rows4 && r1 - r0 >= 4) {
        const int64_t per = (r1 - r0) / 4, n = s->w->ne[0];
        const size_t rb = s->w->row_bytes;
        const unsigned char *w0 = (const unsigned char *)s->w->data + (size_t)r0 * rb;
        float *const out = s->out;
        for (int64_t i = 0; i < per; i++)
            for (int64_t t = 0; t < T; t++) {
                float o[4];
                s->rows4(n, w0 + (size_t)i * rb, (size_t)per * rb, s->act + (size_t)t * s->act_row, o);
                for (int k = 0; k < 4; k++) {
                    const int64_t row = r0 + k * per + i;
                    float *dst = out + t * s->ld + row;
                    if (mode == MM_ADD) *dst += o[k];
                    else if (mode == MM_BIAS) *dst = o[k] + s->bias[row];
                    else *dst = o[k];
                }
            }
        r = r0 + 4 * per;
    } else if (T < 4 && r1 - r0 >= 16 * MM_STREAMS) {
        const int64_t per = (r1 - r0) / MM_STREAMS;
        for (int64_t i = 0; i < per; i++)
            for (int k = 0; k < MM_STREAMS; k++) mm_row_mode(s, T, r0 + k * per + i, mode);
        r = r0 + MM_STREAMS * per;
    }
    for (; r < r1; r++) mm_row_mode(s, T, r, mode);
}

static void mm_rows(const mm_seg *s, int64_t T, int64_t r0, int64_t r1) {
    if (s->mode == MM_ADD) mm_rows_mode(s, T, r0, r1, MM_ADD);
    else if (s->mode == MM_BIAS) mm_rows_mode(s, T, r0, r1, MM_BIAS);
    else mm_rows_mode(s, T, r0, r1, MM_STORE);
}

/* A whole matmul as one job: rows split evenly into chunks. */
typedef struct mm_job {
    mm_seg s;
    int64_t T;
    split sp;
} mm_job;

static void mm_chunk(void *arg, int chunk, int ith) {
    (void)ith;
    const mm_job *j = (const mm_job *)arg;
    mm_rows(&j->s, j->T, j->sp.b[chunk], j->sp.b[chunk + 1]);
}

static void matmul(wisp_context *c, const mm_seg *s, int64_t T) {
    mm_job j;
    j.s = *s;
    j.T = T;
    split_guided(c, &j.sp, s->w->ne[1], s->w->ne[0] * T, T < 4 ? DECODE_MIN_ROWS : 1);
    run(c, mm_chunk, &j, j.sp.n);
}

/* ------------------------------------------------------------ norms and conversions */

/* Per token t: row t of a's rows = rmsnorm(src row t) * w (skipped when w is NULL),
 * then its conversion into a's formats. */
typedef struct norm_job {
    const float *src;
    const float *w;
    int64_t n;
    float eps;
    const act_set *a;
} norm_job;

static void norm_chunk(void *arg, int t, int ith) {
    (void)ith;
    const norm_job *j = (const norm_job *)arg;
    if (j->w) wisp_rmsnorm(j->a->src + (int64_t)t * j->n, j->src + (int64_t)t * j->n, j->w, j->n, j->eps);
    act_fill(j->a, t, 0, j->n);
}

static void norm_rows(wisp_context *c, const float *src, const wisp_tensor *w, int64_t T, const act_set *a) {
    norm_job j = {src, w ? (const float *)w->data : NULL, a->n_el, c->model->hp.rms_eps, a};
    run(c, norm_chunk, &j, (int)T); /* one token: inline, no barrier */
}

/* ------------------------------------------------------------ q, k, v */

typedef struct qkv_job {
    wisp_context *c;
    mm_seg seg[3];  /* q, k, v */
    uint32_t layer, p0;
    int64_t T;
    int64_t rows[3];  /* rows per chunk of q, k, v (whole heads for q and k, which get RoPE) */
    int n[3];         /* chunks of q, k, v */
} qkv_job;

/* Chunk = rows [r0, r1) of q, k or v for every token (plus bias), then RoPE for the heads
 * of q and k, then k and v into the F16 cache at positions p0.. . Prefill: one head of q
 * or k, or a piece of a head of v, a chunk; decode: chunks of up to QKV_DECODE_ROWS rows
 * (see DECODE_MIN_ROWS). The v chunks come last and even out the threads' shares. */
#define QKV_DECODE_ROWS 256
static void qkv_chunk(void *arg, int chunk, int ith) {
    (void)ith;
    const qkv_job *j = (const qkv_job *)arg;
    wisp_context *c = j->c;
    const wisp_hparams *hp = &c->model->hp;
    const int64_t hd = hp->head_dim, T = j->T;
    int which = 0;
    while (chunk >= j->n[which]) chunk -= j->n[which++];
    const mm_seg *s = &j->seg[which];
    const int64_t rows = s->w->ne[1], r0 = (int64_t)chunk * j->rows[which];
    const int64_t r1 = r0 + j->rows[which] < rows ? r0 + j->rows[which] : rows;
    mm_rows(s, T, r0, r1);
    if (which < 2) {
        for (int64_t t = 0; t < T; t++) {
            const float *cs = c->rope + t * hp->n_rot;
            for (int64_t h0 = r0; h0 < r1; h0 += hd) {
                float *v = s->out + t * s->ld + h0;
                if (hp->rope_type == WISP_ROPE_NEOX) wisp_rope_neox(v, cs, (int)hp->n_rot);
                else wisp_rope_norm(v, cs, (int)hp->n_rot);
            }
        }
    }
    if (which > 0) {
        wisp_fp16 *cache = which == 1 ? c->k_cache : c->v_cache;
        for (int64_t t = 0; t < T; t++) {
            const int64_t pos = (int64_t)j->p0 + t;
            /* the rows' part of each head they overlap: head e / hd, elements e % hd .. */
            for (int64_t e = r0; e < r1;) {
                const int64_t h = e / hd, d0 = e % hd, n = ((h + 1) * hd < r1 ? (h + 1) * hd : r1) - e;
                const size_t off = (((size_t)j->layer * hp->n_head_kv + (size_t)h) * c->n_ctx + (size_t)pos) * hd;
                wisp_fp16 *dst = cache + off + d0;
                const float *src = s->out + t * s->ld + e;
#if WISP_HAVE_SIMD128
                wisp_simd_f32_to_f16(dst, src, n);
                if (!wisp_simd_f16_all_finite(dst, n)) atomic_store_explicit(&c->kv_nonfinite, 1, memory_order_relaxed);
#else
                for (int64_t d = 0; d < n; d++) dst[d] = wisp_fp32_to_fp16(src[d]);
#endif
                e += n;
            }
        }
    }
}

/* ------------------------------------------------------------ attention */

typedef struct attn_job {
    wisp_context *c;
    uint32_t layer;
    uint32_t p0;  /* position of the chunk's first token */
    int64_t T;
    const act_set *out;  /* non-NULL: convert each head's output for wo right away */
    uint32_t gs;         /* query heads per job (of one KV group; the group's last may have fewer) */
    uint32_t per_kv;     /* jobs per KV head and token: ceil(group / gs) */
} attn_job;

/* Query heads per attention job: a whole KV group (up to WISP_ATTN_GROUP), so its K/V
 * rows are converted once for all its heads, unless that leaves fewer than two jobs per
 * thread (decode of a model with few KV heads): then halved, for balance. */
static void attn_job_split(attn_job *j, const wisp_hparams *hp, int nth) {
    const uint32_t group = hp->n_head / hp->n_head_kv;
    uint32_t gs = group < WISP_ATTN_GROUP ? group : WISP_ATTN_GROUP;
    for (;;) {
        const uint32_t per = (group + gs - 1) / gs;
        if (gs == 1 || j->T * hp->n_head_kv * per >= 2 * (int64_t)nth) break;
        gs = (gs + 1) / 2;
    }
    j->gs = gs;
    j->per_kv = (group + gs - 1) / gs;
}

/* Attention for one (token, head) pair, computed as ggml's CPU flash-attention kernel
 * does with an F16 KV cache (llama.cpp's configuration for our references): the query
 * is rounded to F16, scores are F16 dots scaled by 1/sqrt(head_dim), and the softmax
 * runs online: a running max M and sum S, with the weighted sum of V rows accumulated
 * in an F16 vector that is rescaled whenever the max grows.
 * Chunk = one pair; the last tokens (longest causal spans) come first, so the threads
 * finish together. */
static void attn_chunk(void *arg, int chunk, int ith) {
    const attn_job *j = (const attn_job *)arg;
    wisp_context *c = j->c;
    const wisp_hparams *hp = &c->model->hp;
    const int64_t hd = hp->head_dim, n_ctx = c->n_ctx;
    const int64_t QD = (int64_t)hp->n_head * hd;
    const uint32_t group = hp->n_head / hp->n_head_kv;
    const float scale = 1.0f / sqrtf((float)hd);
    wisp_attn_scratch *s = &c->attn[ith];
    const size_t layer_off = (size_t)j->layer * hp->n_head_kv * n_ctx * hd;
    {
        /* later tokens (longer rows) first: the pool hands out chunks in order */
        const int64_t per_t = (int64_t)hp->n_head_kv * j->per_kv;
        const int64_t t = j->T - 1 - chunk / per_t;
        const uint32_t kvh = (uint32_t)(chunk % per_t / j->per_kv);
        const uint32_t sub = (uint32_t)(chunk % per_t % j->per_kv);
        const uint32_t h0 = kvh * group + sub * j->gs;
        const uint32_t nh = group - sub * j->gs < j->gs ? group - sub * j->gs : j->gs;
        const int64_t n_kv = (int64_t)j->p0 + t + 1; /* causal: positions 0..p0+t */
        const wisp_fp16 *kh = c->k_cache + layer_off + (size_t)kvh * n_ctx * hd;
        const wisp_fp16 *vh = c->v_cache + layer_off + (size_t)kvh * n_ctx * hd;
#if WISP_HAVE_SIMD128
        /* the F16 queries are held as floats whose values are halves */
        wisp_simd_round_f16_row(s->qf, c->q + t * QD + (int64_t)h0 * hd, (int64_t)nh * hd);
        wisp_simd_attn_heads(hd, n_kv, kh, vh, s->qf, (int)nh, scale,
                             !atomic_load_explicit(&c->kv_nonfinite, memory_order_relaxed), s->sc,
                             c->att + t * QD + (int64_t)h0 * hd);
        if (j->out) act_fill(j->out, t, (int64_t)h0 * hd, (int64_t)(h0 + nh) * hd);
#else
        const uint32_t h = h0; /* one head a job (WISP_ATTN_GROUP 1) */
        (void)nh;
        const float *q = c->q + t * QD + (int64_t)h * hd;
        const wisp_quant_traits *f16 = wisp_quant_get(WISP_TYPE_F16);
        wisp_fp16 *acc = s->acc16;
        float S = 0.0f, M = -INFINITY;
        for (int64_t d = 0; d < hd; d++) s->q16[d] = wisp_fp32_to_fp16(q[d]);
        for (int64_t d = 0; d < hd; d++) acc[d] = 0;
        for (int64_t p = 0; p < n_kv; p++) {
            const float sc = f16->vec_dot(hd, kh + p * hd, s->q16) * scale;
            const float m_old = M;
            float ms = 1.0f, vs = 1.0f;
            if (sc > M) {
                M = sc;
                ms = expf(m_old - M);
                for (int64_t d = 0; d < hd; d++) acc[d] = wisp_fp32_to_fp16(wisp_fp16_to_fp32(acc[d]) * ms);
            } else {
                vs = expf(sc - M);
            }
            const wisp_fp16 *vrow = vh + p * hd;
            for (int64_t d = 0; d < hd; d++)
                acc[d] = wisp_fp32_to_fp16(wisp_fp16_to_fp32(acc[d]) + wisp_fp16_to_fp32(vrow[d]) * vs);
            S = S * ms + vs;
        }
        const float s_inv = S == 0.0f ? 0.0f : 1.0f / S;
        float *o = c->att + t * QD + (int64_t)h * hd;
        for (int64_t d = 0; d < hd; d++) o[d] = wisp_fp16_to_fp32(acc[d]) * s_inv;
        if (j->out) act_fill(j->out, t, (int64_t)h * hd, (int64_t)(h + 1) * hd);
#endif
    }
}

/* ------------------------------------------------------------ FFN */

typedef struct ffn_job {
    mm_seg gate, up;
    int64_t T, F;
    int64_t unit;  /* rows per split unit: a block of w_down's dot type */
    split sp;      /* in units */
    const act_set *down_in;
} ffn_job;

/* Chunk = whole blocks of rows of gate and up for every token, then SwiGLU of those
 * elements and their conversion for w_down. */
static void ffn_chunk(void *arg, int chunk, int ith) {
    (void)ith;
    const ffn_job *j = (const ffn_job *)arg;
    const int64_t r0 = j->sp.b[chunk] * j->unit, r1 = j->sp.b[chunk + 1] * j->unit, F = j->F;
    mm_rows(&j->gate, j->T, r0, r1);
    mm_rows(&j->up, j->T, r0, r1);
    for (int64_t t = 0; t < j->T; t++) {
        float *g = j->gate.out + t * F;
        wisp_swiglu_range(g, g, j->up.out + t * F, F, r0, r1);
        act_fill(j->down_in, t, r0, r1);
    }
}

/* ------------------------------------------------------------ blocks */

static void attn_block(wisp_context *c, uint32_t l, uint32_t p0, int64_t T) {
    const wisp_model *m = c->model;
    const wisp_hparams *hp = &m->hp;
    const wisp_layer *ly = &m->layers[l];
    const int64_t E = hp->n_embd, hd = hp->head_dim;
    const int64_t QD = (int64_t)hp->n_head * hd, KD = (int64_t)hp->n_head_kv * hd;

    /* norm + conversion to every dot type q/k/v read */
    act_set in;
    act_set_init(&in, c->xb, E, T, 1); /* slots 1..3 */
    qkv_job qj;
    qj.c = c;
    qj.layer = l;
    qj.p0 = p0;
    qj.T = T;
    mm_seg_init(&qj.seg[0], c, &ly->wq, &in, c->q, QD, &ly->bq, MM_BIAS);
    mm_seg_init(&qj.seg[1], c, &ly->wk, &in, c->k, KD, &ly->bk, MM_BIAS);
    mm_seg_init(&qj.seg[2], c, &ly->wv, &in, c->v, KD, &ly->bv, MM_BIAS);
    norm_rows(c, c->x, &ly->attn_norm, T, &in);
    if (T < 4) { /* decode: a few long chunks (whole heads of q and k) */
        const int64_t heads = QKV_DECODE_ROWS / hd > 1 ? QKV_DECODE_ROWS / hd : 1;
        qj.rows[0] = qj.rows[1] = heads * hd;
        qj.rows[2] = QKV_DECODE_ROWS / 2;
    } else { /* prefill: one head of q or k, or 16 rows of v, a chunk */
        qj.rows[0] = qj.rows[1] = hd;
        qj.rows[2] = hd % 16 == 0 ? 16 : hd;
    }
    const int64_t rows[3] = {QD, KD, KD};
    for (int w = 0; w < 3; w++) qj.n[w] = (int)((rows[w] + qj.rows[w] - 1) / qj.rows[w]);
    run(c, qkv_chunk, &qj, qj.n[0] + qj.n[1] + qj.n[2]);

    /* attention; its output converted for wo in the same job when wo's dot-type
     * blocks tile a head, else in a pass of its own */
    act_set ao;
    act_set_init(&ao, c->att, QD, T, 0);
    mm_seg o;
    mm_seg_init(&o, c, &ly->wo, &ao, c->x, E, NULL, MM_ADD);
    const bool fold = hd % act_unit(&ao) == 0;
    attn_job aj = {c, l, p0, T, fold ? &ao : NULL, 1, 1};
    attn_job_split(&aj, hp, wisp_pool_size(c->pool));
    run(c, attn_chunk, &aj, (int)(T * hp->n_head_kv * aj.per_kv));
    if (!fold) norm_rows(c, NULL, NULL, T, &ao);

    matmul(c, &o, T); /* x += att · wo */
}

static void ffn_block(wisp_context *c, uint32_t l, int64_t T) {
    const wisp_model *m = c->model;
    const wisp_hparams *hp = &m->hp;
    const wisp_layer *ly = &m->layers[l];
    const int64_t E = hp->n_embd, F = hp->n_ff;

    act_set in; /* read by gate/up while hin is written: different slots */
    act_set_init(&in, c->xb, E, T, 1);
    act_set hin;
    act_set_init(&hin, c->hb, F, T, 0);
    ffn_job fj;
    mm_seg_init(&fj.gate, c, &ly->w_gate, &in, c->hb, F, NULL, MM_STORE);
    mm_seg_init(&fj.up, c, &ly->w_up, &in, c->hb2, F, NULL, MM_STORE);
    mm_seg down;
    mm_seg_init(&down, c, &ly->w_down, &hin, c->x, E, NULL, MM_ADD);
    norm_rows(c, c->x, &ly->ffn_norm, T, &in);

    fj.T = T;
    fj.F = F;
    fj.unit = act_unit(&hin);
    split_guided(c, &fj.sp, F / fj.unit, 2 * fj.unit * E * T, T < 4 ? (DECODE_MIN_ROWS + fj.unit - 1) / fj.unit : 1);
    fj.down_in = &hin;
    run(c, ffn_chunk, &fj, fj.sp.n);

    matmul(c, &down, T); /* x += swiglu · w_down */
}

/* Runs one chunk of T <= n_batch tokens at positions p0.. ; writes logits for tokens
 * [logit_from, T) into rows starting at logit_row. */
static wisp_status forward_chunk(wisp_context *c, const wisp_token *tok, int64_t T, uint32_t p0,
                                 int64_t logit_from, uint32_t logit_row) {
    const wisp_model *m = c->model;
    const wisp_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd;
    const wisp_quant_traits *et = wisp_quant_get(m->tok_embd.type);
    for (int64_t t = 0; t < T; t++) {
        const unsigned char *row = (const unsigned char *)m->tok_embd.data + (size_t)tok[t] * m->tok_embd.row_bytes;
        et->to_float(row, c->x + t * E, E);
        wisp_rope_cache(c->rope + t * hp->n_rot, (float)(p0 + t), (int)hp->n_rot, hp->rope_base,
                        hp->rope_freq_scale, (const float *)m->rope_freqs.data);
    }
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        if (c->should_abort && c->should_abort(c->abort_user)) return WISP_ERR_ABORTED;
        attn_block(c, l, p0, T);
        ffn_block(c, l, T);
    }
    const int64_t n_out = T - logit_from;
    if (n_out <= 0) return WISP_OK;
    act_set in;
    act_set_init(&in, c->xb, E, n_out, 0);
    mm_seg out;
    mm_seg_init(&out, c, &m->output, &in, c->logits + (size_t)logit_row * hp->n_vocab, hp->n_vocab, NULL, MM_STORE);
    norm_rows(c, c->x + logit_from * E, &m->output_norm, n_out, &in);
    matmul(c, &out, n_out);
    return WISP_OK;
}

wisp_status wisp_decode(wisp_context *c, const wisp_token *tokens, uint32_t n) {
    if (!c || (!tokens && n)) return WISP_ERR_INVALID_ARG;
    c->last_error[0] = 0;
    const wisp_hparams *hp = &c->model->hp;
    if (n == 0)
        return wisp_set_err(c->last_error, sizeof c->last_error, WISP_ERR_INVALID_ARG, "no tokens to decode");
    if ((uint64_t)c->n_past + n > c->n_ctx)
        return wisp_set_err(c->last_error, sizeof c->last_error, WISP_ERR_CONTEXT_FULL,
                            "%u tokens do not fit: %u of %u context positions are in use", n, c->n_past,
                            c->n_ctx);
    if (c->params.all_logits && n > c->n_logit_rows)
        return wisp_set_err(c->last_error, sizeof c->last_error, WISP_ERR_INVALID_ARG,
                            "with all_logits a decode call takes at most n_batch (%u) tokens", c->n_logit_rows);
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= hp->n_vocab)
            return wisp_set_err(c->last_error, sizeof c->last_error, WISP_ERR_INVALID_ARG,
                                "token id %d is outside the vocabulary (0..%u)", tokens[i], hp->n_vocab - 1);
    c->n_logits_valid = 0;
    const uint32_t start = c->n_past;
    for (uint32_t done = 0; done < n;) {
        uint32_t T = n - done;
        if (T > c->n_batch) T = c->n_batch;
        int64_t logit_from;
        uint32_t logit_row;
        if (c->params.all_logits) {
            logit_from = 0;
            logit_row = done;
        } else {
            logit_from = (done + T == n) ? T - 1 : T; /* only the very last token */
            logit_row = 0;
        }
        wisp_status s = forward_chunk(c, tokens + done, T, c->n_past, logit_from, logit_row);
        if (s != WISP_OK) {
            c->n_past = start; /* the partial chunk's cache entries are simply forgotten */
            return wisp_set_err(c->last_error, sizeof c->last_error, s, "decode %s", wisp_status_str(s));
        }
        c->n_past += T;
        done += T;
    }
    c->n_logits_valid = c->params.all_logits ? n : 1;
    c->first_logit_tok = c->params.all_logits ? 0 : (int32_t)n - 1;
    return WISP_OK;
}

const float *wisp_get_logits(const wisp_context *c, int32_t i) {
    if (!c || c->n_logits_valid == 0) return NULL;
    const uint32_t V = c->model->hp.n_vocab;
    if (i < 0) return c->logits + (size_t)(c->n_logits_valid - 1) * V;
    int32_t row = i - c->first_logit_tok;
    if (row < 0 || (uint32_t)row >= c->n_logits_valid) return NULL;
    return c->logits + (size_t)row * V;
}
