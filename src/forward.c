/* forward.c — the transformer forward pass over a chunk of tokens: embedding, then
 * per layer an attention block and a SwiGLU FFN block (pre-RMSNorm, residuals), then
 * the output norm and the vocabulary projection. Numerics follow llama.cpp's CPU
 * graph: activations are converted to each weight's dot type before a matmul, the
 * KV cache is F16, and attention follows ggml's flash-attention kernel. */
#include <math.h>
#include <string.h>

#include "context.h"
#include "kernels_simd128.h"
#include "ops.h"
#include "util.h"

/* ------------------------------------------------------------ matmul */

typedef struct matmul_job {
    const wisp_tensor *w;
    wisp_vec_dot_fn dot;
    wisp_vec_dot4_fn dot4;     /* NULL: dot per token */
    const unsigned char *act;  /* T rows of act_row bytes */
    size_t act_row;
    int64_t T;
    float *out;                /* (T, n_out) */
    int64_t n_out;
} matmul_job;

static void matmul_worker(void *arg, int ith, int nth) {
    const matmul_job *j = (const matmul_job *)arg;
    long r0, r1;
    wisp_split((long)j->w->ne[1], ith, nth, &r0, &r1);
    const unsigned char *wdata = (const unsigned char *)j->w->data;
    const int64_t n = j->w->ne[0];
    const wisp_vec_dot4_fn dot4 = j->dot4;
    for (long r = r0; r < r1; r++) {
        const void *row = wdata + (size_t)r * j->w->row_bytes;
        int64_t t = 0;
        /* prefill: four tokens per pass, so each weight block is unpacked once for four
         * dot products (results are identical to four single dots) */
        if (dot4) {
            for (; t + 4 <= j->T; t += 4) {
                float o[4];
                dot4(n, row, j->act + (size_t)t * j->act_row, j->act_row, o);
                for (int k = 0; k < 4; k++) j->out[(t + k) * j->n_out + r] = o[k];
            }
        }
        for (; t < j->T; t++)
            j->out[t * j->n_out + r] = j->dot(n, row, j->act + (size_t)t * j->act_row);
    }
}

/* out(T, rows) = x(T, ne0) · W^T: each activation row is converted once to the weight's
 * vec_dot_type, then every weight row is dotted with every token (weights read once). */
static void matmul(wisp_context *c, const wisp_tensor *w, const float *x, int64_t T, float *out) {
    const wisp_quant_traits *wt = wisp_quant_get(w->type);
    const int64_t n = w->ne[0];
    matmul_job j;
    j.w = w;
    j.dot = wt->vec_dot;
    j.dot4 = wt->vec_dot4;
    j.T = T;
    j.out = out;
    j.n_out = w->ne[1];
    if (wt->vec_dot_type == WISP_TYPE_F32) {
        j.act = (const unsigned char *)x;
        j.act_row = (size_t)n * sizeof(float);
    } else {
        const wisp_quant_traits *at = wisp_quant_get(wt->vec_dot_type);
        j.act_row = wisp_row_size(wt->vec_dot_type, n);
        unsigned char *q = (unsigned char *)c->act_q;
        for (int64_t t = 0; t < T; t++) at->from_float(x + t * n, q + (size_t)t * j.act_row, n);
        j.act = q;
        if (wt->act_prep && T >= wt->prep_min_tokens && wt->act_prep_size(n) <= c->act_p_row_cap) {
            /* re-lay out each row once for the faster kernels (see quant.h) */
            unsigned char *p = (unsigned char *)c->act_p;
            const size_t prow = wt->act_prep_size(n);
            for (int64_t t = 0; t < T; t++) wt->act_prep(q + (size_t)t * j.act_row, p + (size_t)t * prow, n);
            j.act = p;
            j.act_row = prow;
            j.dot = wt->vec_dot_p;
            j.dot4 = wt->vec_dot4_p;
        }
    }
    wisp_pool_run(c->pool, matmul_worker, &j);
}

static void add_bias(float *y, const wisp_tensor *b, int64_t T, int64_t n) {
    if (!b->data) return;
    const float *bd = (const float *)b->data;
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < n; i++) y[t * n + i] += bd[i];
}

/* ------------------------------------------------------------ attention */

typedef struct attn_job {
    wisp_context *c;
    uint32_t layer;
    uint32_t p0;  /* position of the chunk's first token */
    int64_t T;
} attn_job;

/* Attention for one (token, head) pair, computed as ggml's CPU flash-attention kernel
 * does with an F16 KV cache (llama.cpp's configuration for our references): the query
 * is rounded to F16, scores are F16 dots scaled by 1/sqrt(head_dim), and the softmax
 * runs online: a running max M and sum S, with the weighted sum of V rows accumulated
 * in an F16 vector that is rescaled whenever the max grows. */
static void attn_worker(void *arg, int ith, int nth) {
    const attn_job *j = (const attn_job *)arg;
    wisp_context *c = j->c;
    const wisp_hparams *hp = &c->model->hp;
    const int64_t hd = hp->head_dim, n_ctx = c->n_ctx;
    const int64_t QD = (int64_t)hp->n_head * hd;
    const uint32_t group = hp->n_head / hp->n_head_kv;
    const float scale = 1.0f / sqrtf((float)hd);
    const wisp_quant_traits *f16 = wisp_quant_get(WISP_TYPE_F16);
    wisp_attn_scratch *s = &c->attn[ith];
    const size_t layer_off = (size_t)j->layer * hp->n_head_kv * n_ctx * hd;

    long i0, i1;
    wisp_split((long)(j->T * hp->n_head), ith, nth, &i0, &i1);
    for (long it = i0; it < i1; it++) {
        const int64_t t = it / hp->n_head;
        const uint32_t h = (uint32_t)(it % hp->n_head);
        const uint32_t kvh = h / group;
        const int64_t n_kv = (int64_t)j->p0 + t + 1; /* causal: positions 0..p0+t */
        const float *q = c->q + t * QD + (int64_t)h * hd;
        const wisp_fp16 *kh = c->k_cache + layer_off + (size_t)kvh * n_ctx * hd;
        const wisp_fp16 *vh = c->v_cache + layer_off + (size_t)kvh * n_ctx * hd;
        wisp_fp16 *acc = s->acc16;
        float S = 0.0f, M = -INFINITY;
#if WISP_HAVE_SIMD128
        /* same algorithm, eight F16 lanes at a time: the accumulator updates and
         * conversions are exact; only the score dot reorders its double partial sums */
        /* the F16 query and accumulator are held as floats whose values are halves */
        (void)f16;
        (void)acc;
        float *qf = s->qf, *acc32 = s->acc32;
        wisp_simd_round_f16_row(qf, q, hd);
        memset(acc32, 0, (size_t)hd * sizeof *acc32);
        for (int64_t p = 0; p < n_kv; p++) {
            const float sc = wisp_simd_dot_f16_f32(hd, kh + p * hd, qf) * scale;
            const float m_old = M;
            float ms = 1.0f, vs = 1.0f;
            if (sc > M) {
                M = sc;
                ms = expf(m_old - M);
                wisp_simd_r16_scale(acc32, ms, hd);
            } else {
                vs = expf(sc - M);
            }
            wisp_simd_r16_axpy(acc32, vh + p * hd, vs, hd);
            S = S * ms + vs;
        }
        const float s_inv = S == 0.0f ? 0.0f : 1.0f / S;
        float *o = c->att + t * QD + (int64_t)h * hd;
        for (int64_t d = 0; d < hd; d++) o[d] = acc32[d] * s_inv;
#else
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
#endif
    }
}

/* ------------------------------------------------------------ blocks */

static void attn_block(wisp_context *c, uint32_t l, uint32_t p0, int64_t T) {
    const wisp_model *m = c->model;
    const wisp_hparams *hp = &m->hp;
    const wisp_layer *ly = &m->layers[l];
    const int64_t E = hp->n_embd, hd = hp->head_dim;
    const int64_t QD = (int64_t)hp->n_head * hd, KD = (int64_t)hp->n_head_kv * hd;

    for (int64_t t = 0; t < T; t++)
        wisp_rmsnorm(c->xb + t * E, c->x + t * E, (const float *)ly->attn_norm.data, E, hp->rms_eps);
    matmul(c, &ly->wq, c->xb, T, c->q);
    matmul(c, &ly->wk, c->xb, T, c->k);
    matmul(c, &ly->wv, c->xb, T, c->v);
    add_bias(c->q, &ly->bq, T, QD);
    add_bias(c->k, &ly->bk, T, KD);
    add_bias(c->v, &ly->bv, T, KD);

    /* rotate q and k, then append k and v to the F16 cache */
    for (int64_t t = 0; t < T; t++) {
        const float *cs = c->rope + t * hp->n_rot;
        for (uint32_t h = 0; h < hp->n_head; h++) {
            float *v = c->q + t * QD + (int64_t)h * hd;
            if (hp->rope_type == WISP_ROPE_NEOX) wisp_rope_neox(v, cs, (int)hp->n_rot);
            else wisp_rope_norm(v, cs, (int)hp->n_rot);
        }
        for (uint32_t h = 0; h < hp->n_head_kv; h++) {
            float *v = c->k + t * KD + (int64_t)h * hd;
            if (hp->rope_type == WISP_ROPE_NEOX) wisp_rope_neox(v, cs, (int)hp->n_rot);
            else wisp_rope_norm(v, cs, (int)hp->n_rot);
        }
        const int64_t pos = (int64_t)p0 + t;
        for (uint32_t h = 0; h < hp->n_head_kv; h++) {
            const size_t off = (((size_t)l * hp->n_head_kv + h) * c->n_ctx + pos) * hd;
            wisp_fp16 *kdst = c->k_cache + off;
            wisp_fp16 *vdst = c->v_cache + off;
            const float *ks = c->k + t * KD + (int64_t)h * hd;
            const float *vs = c->v + t * KD + (int64_t)h * hd;
#if WISP_HAVE_SIMD128
            wisp_simd_f32_to_f16(kdst, ks, hd);
            wisp_simd_f32_to_f16(vdst, vs, hd);
#else
            for (int64_t d = 0; d < hd; d++) {
                kdst[d] = wisp_fp32_to_fp16(ks[d]);
                vdst[d] = wisp_fp32_to_fp16(vs[d]);
            }
#endif
        }
    }

    attn_job j = {c, l, p0, T};
    wisp_pool_run(c->pool, attn_worker, &j);

    matmul(c, &ly->wo, c->att, T, c->xb);
    for (int64_t i = 0; i < T * E; i++) c->x[i] += c->xb[i];
}

static void ffn_block(wisp_context *c, uint32_t l, int64_t T) {
    const wisp_model *m = c->model;
    const wisp_hparams *hp = &m->hp;
    const wisp_layer *ly = &m->layers[l];
    const int64_t E = hp->n_embd, F = hp->n_ff;
    for (int64_t t = 0; t < T; t++)
        wisp_rmsnorm(c->xb + t * E, c->x + t * E, (const float *)ly->ffn_norm.data, E, hp->rms_eps);
    matmul(c, &ly->w_gate, c->xb, T, c->hb);
    matmul(c, &ly->w_up, c->xb, T, c->hb2);
    for (int64_t t = 0; t < T; t++) /* per row: ggml's vector/tail split is per row */
        wisp_swiglu(c->hb + t * F, c->hb + t * F, c->hb2 + t * F, F);
    matmul(c, &ly->w_down, c->hb, T, c->xb);
    for (int64_t i = 0; i < T * E; i++) c->x[i] += c->xb[i];
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
    for (int64_t t = logit_from; t < T; t++)
        wisp_rmsnorm(c->xb + (t - logit_from) * E, c->x + t * E, (const float *)m->output_norm.data, E,
                     hp->rms_eps);
    matmul(c, &m->output, c->xb, n_out, c->logits + (size_t)logit_row * hp->n_vocab);
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
