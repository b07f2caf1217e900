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

/* Bytes a converted activation row of n elements can take in any vec_dot_type. */
static size_t act_row_bound(uint32_t n) {
    /* F32 is the widest activation format: 4 bytes per element bounds every type. */
    return (size_t)n * 4 + 64;
}

/* The widest activation row: n_embd, n_ff or the attention output. */
static uint32_t widest_row(const wisp_model *m) {
    const wisp_hparams *hp = &m->hp;
    uint32_t widest = hp->n_embd;
    if (hp->n_ff > widest) widest = hp->n_ff;
    if (hp->n_head * hp->head_dim > widest) widest = hp->n_head * hp->head_dim;
    return widest;
}

/* Largest activation row (bytes) any weight's vec_dot_type needs. */
static size_t max_act_row(const wisp_model *m) { return act_row_bound(widest_row(m)); }

/* Bytes a prepared activation row (traits->act_prep_size) of up to n elements can take
 * in any type's prepared format; 0 when no type has one. */
static size_t prep_row_bound(uint32_t n) {
    size_t cap = 0;
    for (uint32_t t = 0; t < WISP_TYPE_COUNT; t++) {
        const wisp_quant_traits *tr = wisp_quant_get(t);
        if (tr && tr->act_prep_size) {
            const size_t b = tr->act_prep_size(((int64_t)n + tr->blck_size - 1) / tr->blck_size * tr->blck_size);
            if (b > cap) cap = b;
        }
    }
    return cap;
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
    for (int i = 0; i < WISP_ACT_SLOTS; i++) {
        c->act_q_cap[i] = i == 0 ? max_act_row(m) : act_row_bound(hp->n_embd);
        c->act_q[i] = alloc_array(B, c->act_q_cap[i], 1, &total);
        c->act_p_cap[i] = prep_row_bound(i == 0 ? widest_row(m) : hp->n_embd);
        c->act_p[i] = c->act_p_cap[i] ? alloc_array(B, c->act_p_cap[i], 1, &total) : NULL;
        act_ok = act_ok && c->act_q[i] && (c->act_p[i] || !c->act_p_cap[i]);
    }
    c->n_logit_rows = p.all_logits ? c->n_batch : 1;
    c->logits = (float *)alloc_array(c->n_logit_rows, hp->n_vocab, sizeof(float), &total);
    c->attn = (wisp_attn_scratch *)calloc((size_t)nth, sizeof *c->attn);
    bool ok = c->pool && c->k_cache && c->v_cache && c->x && c->xb && c->q && c->k && c->v && c->att &&
              c->hb && c->hb2 && c->rope && act_ok && c->logits && c->attn;
    for (int i = 0; ok && i < nth; i++) {
        c->attn[i].q16 = (wisp_fp16 *)alloc_array(hp->head_dim, 1, sizeof(wisp_fp16), &total);
        c->attn[i].acc16 = (wisp_fp16 *)alloc_array(hp->head_dim, 1, sizeof(wisp_fp16), &total);
        c->attn[i].qf = (float *)alloc_array(hp->head_dim, 1, sizeof(float), &total);
        c->attn[i].sc = (float *)alloc_array(c->n_ctx, 2, sizeof(float), &total);
        ok = c->attn[i].q16 && c->attn[i].acc16 && c->attn[i].qf && c->attn[i].sc;
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
