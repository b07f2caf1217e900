/* context.c — create and free a wisp_context: size and allocate the KV cache and all
 * scratch buffers up front, so decoding never allocates. */
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "util.h"

wisp_context_params wisp_context_default_params(void) {
    wisp_context_params p;
    memset(&p, 0, sizeof p);
    p.n_ctx = 0;
    p.n_batch = 64;
    p.n_threads = 1;
    p.all_logits = false;
    return p;
}

void wisp_context_free(wisp_context *c) {
    if (!c) return;
    const int nth = wisp_pool_size(c->pool); /* attention scratch exists per pool thread */
    wisp_pool_free(c->pool);
    free(c->k_cache);
    free(c->v_cache);
    free(c->x);
    free(c->xb);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->att);
    free(c->hb);
    free(c->hb2);
    free(c->rope);
    for (int i = 0; i < WISP_ACT_SLOTS; i++) {
        free(c->act_q[i]);
        free(c->act_p[i]);
    }
    if (c->attn) {
        for (int i = 0; i < nth; i++) {
            free(c->attn[i].q16);
            free(c->attn[i].acc16);
            free(c->attn[i].qf);
            free(c->attn[i].sc);
        }
    }
    free(c->attn);
    free(c->logits);
    free(c);
}

const char *wisp_context_last_error(const wisp_context *c) { return c ? c->last_error : ""; }
uint32_t wisp_context_n_ctx(const wisp_context *c) { return c->n_ctx; }
uint32_t wisp_context_n_past(const wisp_context *c) { return c->n_past; }

wisp_status wisp_context_truncate(wisp_context *c, uint32_t n_past) {
    if (n_past > c->n_past) return WISP_ERR_INVALID_ARG;
    c->n_past = n_past;
    c->n_logits_valid = 0;
    return WISP_OK;
}

void wisp_context_set_abort(wisp_context *c, bool (*should_abort)(void *user), void *user) {
    c->should_abort = should_abort;
    c->abort_user = user;
}

/* malloc of a*b*elem bytes with overflow checks; NULL on overflow or failure. */
static void *alloc_array(uint64_t a, uint64_t b, uint64_t elem, uint64_t *total) {
    uint64_t n, bytes;
    if (!wisp_mul_u64(a, b, &n) || !wisp_mul_u64(n, elem, &bytes) || bytes > (uint64_t)SIZE_MAX) return NULL;
    if (total) *total += bytes;
    return malloc(bytes ? (size_t)bytes : 1);
}

/* Which types the model's matrices have (every type a matmul reads). */
static void matrix_types(const wisp_model *m, bool seen[WISP_TYPE_COUNT]) {
    memset(seen, 0, WISP_TYPE_COUNT * sizeof(bool));
    seen[m->output.type] = true;
    for (uint32_t l = 0; l < m->hp.n_layer; l++) {
        const wisp_layer *ly = &m->layers[l];
        const wisp_tensor *w[] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->w_gate, &ly->w_up, &ly->w_down};
        for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) seen[w[i]->type] = true;
    }
}

/* Scratch for activations converted to the matrices' formats, sized by what this model
 * needs (it used to be sized for F32 rows of any type: 4 bytes per element where Q8_0
 * needs 1.06), for rows of the given widths:
 *   *conv: bytes of the widest converted row (traits(vec_dot_type) row; F32 is read in place)
 *   *prep: bytes of the widest prepared row (traits->act_prep_size), 0 when no matrix
 *          type has the prepared kernels */
static void act_row_need(const bool seen[WISP_TYPE_COUNT], const uint32_t *widths, int n_widths, size_t *conv,
                         size_t *prep) {
    *conv = 0;
    *prep = 0;
    for (uint32_t t = 0; t < WISP_TYPE_COUNT; t++) {
        if (!seen[t]) continue;
        const wisp_quant_traits *tr = wisp_quant_get(t);
        for (int i = 0; i < n_widths; i++) {
            const int64_t n = widths[i];
            if (tr->vec_dot_type != WISP_TYPE_F32) {
                const size_t b = wisp_row_size(tr->vec_dot_type, n);
                if (b > *conv) *conv = b;
            }
            if (tr->act_prep_size) {
                const size_t b = tr->act_prep_size((n + tr->blck_size - 1) / tr->blck_size * tr->blck_size);
                if (b > *prep) *prep = b;
            }
        }
    }
}

wisp_status wisp_context_init(const wisp_model *m, const wisp_context_params *params, wisp_context **out,
                              char *err, size_t err_len) {
    if (err && err_len) err[0] = 0;
    if (!m || !out) return wisp_set_err(err, err_len, WISP_ERR_INVALID_ARG, "wisp_context_init: NULL argument");
    *out = NULL;
    if (!m->layers)
        return wisp_set_err(err, err_len, WISP_ERR_INVALID_ARG, "model was loaded vocab-only; it cannot be evaluated");
    wisp_context_params p = params ? *params : wisp_context_default_params();
    const wisp_hparams *hp = &m->hp;
    if (p.n_ctx == 0) p.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (p.n_ctx > hp->n_ctx_train)
        return wisp_set_err(err, err_len, WISP_ERR_INVALID_ARG,
                            "context size %u exceeds the model's trained context length %u", p.n_ctx,
                            hp->n_ctx_train);
    if (p.n_batch == 0) p.n_batch = 64;
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;
    if (p.n_threads == 0) p.n_threads = 1;
    if (p.n_threads > 64) p.n_threads = 64;

    wisp_context *c = (wisp_context *)calloc(1, sizeof *c);
    if (c) atomic_init(&c->kv_nonfinite, 0);
    if (!c) return wisp_set_err(err, err_len, WISP_ERR_OOM, "out of memory");
    c->model = m;
    c->params = p;
    c->n_ctx = p.n_ctx;
    c->n_batch = p.n_batch;
    c->pool = wisp_pool_create((int)p.n_threads);
    int nth = wisp_pool_size(c->pool);

    const uint64_t B = c->n_batch, E = hp->n_embd, QD = (uint64_t)hp->n_head * hp->head_dim;
    const uint64_t KD = (uint64_t)hp->n_head_kv * hp->head_dim;
    uint64_t kv_elems = (uint64_t)hp->n_layer * KD;
    uint64_t total = 0;
    c->k_cache = (wisp_fp16 *)alloc_array(kv_elems, c->n_ctx, sizeof(wisp_fp16), &total);
    c->v_cache = (wisp_fp16 *)alloc_array(kv_elems, c->n_ctx, sizeof(wisp_fp16), &total);
    c->x = (float *)alloc_array(B, E, sizeof(float), &total);
    c->xb = (float *)alloc_array(B, E, sizeof(float), &total);
    c->q = (float *)alloc_array(B, QD, sizeof(float), &total);
    c->k = (float *)alloc_array(B, KD, sizeof(float), &total);
    c->v = (float *)alloc_array(B, KD, sizeof(float), &total);
    c->att = (float *)alloc_array(B, QD, sizeof(float), &total);
    c->hb = (float *)alloc_array(B, hp->n_ff, sizeof(float), &total);
    c->hb2 = (float *)alloc_array(B, hp->n_ff, sizeof(float), &total);
    c->rope = (float *)alloc_array(B, hp->n_rot ? hp->n_rot : 2, sizeof(float), &total);
    bool act_ok = true;
    bool seen[WISP_TYPE_COUNT];
    matrix_types(m, seen);
    /* slot 0: the inputs of wo (n_head*head_dim), w_down (n_ff) and output (n_embd);
     * slots 1..3: n_embd-wide rows (see context.h) */
    const uint32_t widths0[3] = {hp->n_embd, hp->n_ff, hp->n_head * hp->head_dim};
    size_t conv0, prep0, conv1, prep1;
    act_row_need(seen, widths0, 3, &conv0, &prep0);
    act_row_need(seen, &hp->n_embd, 1, &conv1, &prep1);
    for (int i = 0; i < WISP_ACT_SLOTS; i++) {
        c->act_q_cap[i] = i == 0 ? conv0 : conv1;
        c->act_q[i] = alloc_array(B, c->act_q_cap[i], 1, &total);
        c->act_p_cap[i] = i == 0 ? prep0 : prep1;
        c->act_p[i] = c->act_p_cap[i] ? alloc_array(B, c->act_p_cap[i], 1, &total) : NULL;
        act_ok = act_ok && c->act_q[i] && (c->act_p[i] || !c->act_p_cap[i]);
    }
    c->n_logit_rows = p.all_logits ? c->n_batch : 1;
    c->logits = (float *)alloc_array(c->n_logit_rows, hp->n_vocab, sizeof(float), &total);
    c->attn = (wisp_attn_scratch *)calloc((size_t)nth, sizeof *c->attn);
    bool ok = c->pool && c->k_cache && c->v_cache && c->x && c->xb && c->q && c->k && c->v && c->att &&
              c->hb && c->hb2 && c->rope && act_ok && c->logits && c->attn;
    for (int i = 0; ok && i < nth; i++) {
#if WISP_HAVE_SIMD128
        c->attn[i].qf = (float *)alloc_array(hp->head_dim, WISP_ATTN_GROUP, sizeof(float), &total);
        c->attn[i].sc = (float *)alloc_array(c->n_ctx, 2 * WISP_ATTN_GROUP, sizeof(float), &total);
        ok = c->attn[i].qf && c->attn[i].sc;
#else
        c->attn[i].q16 = (wisp_fp16 *)alloc_array(hp->head_dim, 1, sizeof(wisp_fp16), &total);
        c->attn[i].acc16 = (wisp_fp16 *)alloc_array(hp->head_dim, 1, sizeof(wisp_fp16), &total);
        ok = c->attn[i].q16 && c->attn[i].acc16;
#endif
    }
    if (!ok) {
        wisp_context_free(c);
        return wisp_set_err(err, err_len, WISP_ERR_OOM,
                            "cannot allocate the context (n_ctx %u needs %llu bytes of KV cache)", p.n_ctx,
                            (unsigned long long)wisp_model_kv_bytes(m, p.n_ctx));
    }
    *out = c;
    return WISP_OK;
}
