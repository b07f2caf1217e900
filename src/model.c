/* model.c — load a model: parse the GGUF, read hyperparameters for the architecture,
 * copy the tensor data into one aligned buffer, and bind every weight by name, type
 * and expected shape. Any mismatch is a clear error, never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml_types.h"
#include "model.h"
#include "quant.h"
#include "util.h"

#define WEIGHT_ALIGN 64
#define READ_CHUNK (8u << 20) /* bytes per reader call while copying weights: progress granularity */

wisp_model_params wisp_model_default_params(void) {
    wisp_model_params p;
    memset(&p, 0, sizeof p);
    return p;
}

const wisp_vocab *wisp_model_vocab(const wisp_model *m) { return m->vocab; }

const char *wisp_model_last_error(const wisp_model *m) { return m ? m->last_error : ""; }

const char *wisp_model_chat_template(const wisp_model *m) { return m ? m->chat_template : NULL; }

void wisp_model_free(wisp_model *m) {
    if (!m) return;
    wisp_vocab_free(m->vocab);
    wisp_gguf_free(m->gguf);
    free(m->layers);
    free(m->weights_alloc);
    free(m->chat_template);
    free(m);
}

/* ------------------------------------------------------------ hyperparameters */

typedef struct loader {
    wisp_model *m;
    char *err;
    size_t err_len;
    char arch[64];
} loader;

static bool arch_key(const loader *L, const char *suffix, char *key, size_t cap) {
    int n = snprintf(key, cap, "%s.%s", L->arch, suffix);
    return n > 0 && (size_t)n < cap;
}

/* Reads {arch}.suffix as u32; required keys fail the load when absent. */
static wisp_status hp_u32(loader *L, const char *suffix, uint32_t *out, bool required, uint32_t dflt) {
    char key[160];
    if (!arch_key(L, suffix, key, sizeof key))
        return wisp_set_err(L->err, L->err_len, WISP_ERR_FORMAT, "architecture name too long");
    int64_t i = wisp_gguf_find_key(L->m->gguf, key);
    if (i < 0) {
        if (required)
            return wisp_set_err(L->err, L->err_len, WISP_ERR_FORMAT, "missing required key '%s'", key);
        *out = dflt;
        return WISP_OK;
    }
    if (!wisp_gguf_get_u32(L->m->gguf, key, out))
        return wisp_set_err(L->err, L->err_len, WISP_ERR_FORMAT,
                            "key '%s' is not an unsigned 32-bit integer", key);
    return WISP_OK;
}

static wisp_status hp_f32(loader *L, const char *suffix, float *out, float dflt) {
    char key[160];
    if (!arch_key(L, suffix, key, sizeof key))
        return wisp_set_err(L->err, L->err_len, WISP_ERR_FORMAT, "architecture name too long");
    if (wisp_gguf_find_key(L->m->gguf, key) < 0) {
        *out = dflt;
        return WISP_OK;
    }
    if (!wisp_gguf_get_f32(L->m->gguf, key, out) || !(*out == *out))
        return wisp_set_err(L->err, L->err_len, WISP_ERR_FORMAT, "key '%s' is not a number", key);
    return WISP_OK;
}

#define TRY(expr)                          \
    do {                                   \
        wisp_status s_ = (expr);           \
        if (s_ != WISP_OK) return s_;      \
    } while (0)

static wisp_status read_hparams(loader *L) {
    wisp_model *m = L->m;
    wisp_hparams *hp = &m->hp;
    if (strcmp(L->arch, "llama") == 0) {
        hp->arch = WISP_ARCH_LLAMA;
        hp->rope_type = WISP_ROPE_NORM;
    } else if (strcmp(L->arch, "qwen2") == 0) {
        hp->arch = WISP_ARCH_QWEN2;
        hp->rope_type = WISP_ROPE_NEOX;
    } else {
        return wisp_set_err(L->err, L->err_len, WISP_ERR_UNSUPPORTED,
                            "architecture '%s' is not supported (supported: llama, qwen2)", L->arch);
    }
    TRY(hp_u32(L, "context_length", &hp->n_ctx_train, true, 0));
    TRY(hp_u32(L, "embedding_length", &hp->n_embd, true, 0));
    TRY(hp_u32(L, "block_count", &hp->n_layer, true, 0));
    TRY(hp_u32(L, "feed_forward_length", &hp->n_ff, true, 0));
    TRY(hp_u32(L, "attention.head_count", &hp->n_head, true, 0));
    TRY(hp_u32(L, "attention.head_count_kv", &hp->n_head_kv, false, hp->n_head));
    if (hp->n_embd == 0 || hp->n_layer == 0 || hp->n_ff == 0 || hp->n_head == 0 || hp->n_head_kv == 0 ||
        hp->n_ctx_train == 0)
        return wisp_set_err(L->err, L->err_len, WISP_ERR_FORMAT,
                            "hyperparameters must be positive (n_embd %u, n_layer %u, n_ff %u, n_head %u, "
                            "n_head_kv %u, context_length %u)",
                            hp->n_embd, hp->n_layer, hp->n_ff, hp->n_head, hp->n_head_kv, hp->n_ctx_train);
    if (hp->n_layer > 4096 || hp->n_head > 4096 || hp->n_embd > (1u << 20) || hp->n_ff > (1u << 22))
        return wisp_set_err(L->err, L->err_len, WISP_ERR_FORMAT, "hyperparameters out of range");
    if (hp->n_head % hp->n_head_kv != 0)
        return wisp_set_err(L->err, L->err_len, WISP_ERR_FORMAT,
                            "head_count %u is not a multiple of head_count_kv %u", hp->n_head, hp->n_head_kv);
    uint32_t dflt_hd = hp->n_embd / hp->n_head;
    uint32_t kdim, vdim;
    TRY(hp_u32(L, "attention.key_length", &kdim, false, dflt_hd));
    TRY(hp_u32(L, "attention.value_length", &vdim, false, kdim));
    if (kdim != vdim || kdim == 0 || kdim > 1024 || kdim % 2 != 0)
        return wisp_set_err(L->err, L->err_len, WISP_ERR_UNSUPPORTED,
                            "attention key/value head sizes %u/%u are not supported", kdim, vdim);
    hp->head_dim = kdim;
    TRY(hp_u32(L, "rope.dimension_count", &hp->n_rot, false, hp->head_dim));
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0)
        return wisp_set_err(L->err, L->err_len, WISP_ERR_FORMAT,
                            "rope.dimension_count %u is invalid for head size %u", hp->n_rot, hp->head_dim);
    TRY(hp_f32(L, "rope.freq_base", &hp->rope_base, 10000.0f));
    TRY(hp_f32(L, "attention.layer_norm_rms_epsilon", &hp->rms_eps, 1e-5f));
    if (!(hp->rope_base > 0.0f) || !(hp->rms_eps >= 0.0f))
        return wisp_set_err(L->err, L->err_len, WISP_ERR_FORMAT, "rope base or rms epsilon out of range");
    hp->rope_freq_scale = 1.0f;
    char key[160];
    wisp_gguf_str st;
    arch_key(L, "rope.scaling.type", key, sizeof key);
    if (wisp_gguf_get_str(m->gguf, key, &st)) {
        float factor = 1.0f;
        TRY(hp_f32(L, "rope.scaling.factor", &factor, 1.0f));
        if (strcmp(st.str, "linear") == 0) {
            if (!(factor > 0.0f))
                return wisp_set_err(L->err, L->err_len, WISP_ERR_FORMAT, "rope.scaling.factor must be > 0");
            hp->rope_freq_scale = 1.0f / factor;
        } else if (strcmp(st.str, "none") != 0 && strcmp(st.str, "llama3") != 0) {
            /* llama3 scaling is carried by rope_freqs.weight; yarn/longrope are not implemented */
            return wisp_set_err(L->err, L->err_len, WISP_ERR_UNSUPPORTED,
                                "rope scaling type '%s' is not supported", st.str);
        }
    } else {
        float factor = 0.0f;
        TRY(hp_f32(L, "rope.scale_linear", &factor, 0.0f));
        if (factor > 0.0f) hp->rope_freq_scale = 1.0f / factor;
    }
    return WISP_OK;
}

/* ------------------------------------------------------------ weight binding */

/* Binds tensor `name` with the expected shape (ne1 == 0 for a vector). Matrices must
 * have a type wisp can multiply with; vectors (norms, biases, rope factors) are F32. */
static wisp_status bind(loader *L, const char *name, int64_t ne0, int64_t ne1, bool required,
                        wisp_tensor *out) {
    wisp_model *m = L->m;
    memset(out, 0, sizeof *out);
    const wisp_gguf_tensor *t = wisp_gguf_find_tensor(m->gguf, name);
    if (!t) {
        if (!required) return WISP_OK;
        return wisp_set_err(L->err, L->err_len, WISP_ERR_FORMAT, "missing tensor '%s'", name);
    }
    bool is_vec = ne1 == 0;
    uint64_t got1 = t->n_dims >= 2 ? t->ne[1] : 1;
    bool extra_dims = (t->n_dims > 2 && (t->ne[2] != 1 || t->ne[3] != 1));
    if ((uint64_t)ne0 != t->ne[0] || (is_vec ? (t->n_dims != 1 && got1 != 1) : got1 != (uint64_t)ne1) ||
        extra_dims) {
        if (is_vec)
            return wisp_set_err(L->err, L->err_len, WISP_ERR_FORMAT,
                                "tensor '%s' has shape [%llu, %llu], expected [%lld]", name,
                                (unsigned long long)t->ne[0], (unsigned long long)got1, (long long)ne0);
        return wisp_set_err(L->err, L->err_len, WISP_ERR_FORMAT,
                            "tensor '%s' has shape [%llu, %llu], expected [%lld, %lld]", name,
                            (unsigned long long)t->ne[0], (unsigned long long)got1, (long long)ne0,
                            (long long)ne1);
    }
    if (is_vec) {
        if (t->type != WISP_TYPE_F32)
            return wisp_set_err(L->err, L->err_len, WISP_ERR_UNSUPPORTED,
                                "tensor '%s' has type %s; wisp expects F32 for 1-D tensors", name,
                                wisp_type_name(t->type));
    } else {
        const wisp_quant_traits *q = wisp_quant_get(t->type);
        if (!q || !q->vec_dot || !q->to_float)
            return wisp_set_err(L->err, L->err_len, WISP_ERR_UNSUPPORTED,
                                "tensor '%s' has type %s, which wisp does not support", name,
                                wisp_type_name(t->type));
    }
    out->name = t->name.str;
    out->type = t->type;
    out->ne[0] = ne0;
    out->ne[1] = is_vec ? 1 : ne1;
    out->data = m->weights + (t->offset - wisp_gguf_data_offset(m->gguf));
    out->row_bytes = wisp_row_size(t->type, ne0);
    return WISP_OK;
}

static wisp_status bind_weights(loader *L) {
    wisp_model *m = L->m;
    const wisp_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, V = hp->n_vocab, F = hp->n_ff;
    const int64_t QD = (int64_t)hp->n_head * hp->head_dim, KD = (int64_t)hp->n_head_kv * hp->head_dim;
    TRY(bind(L, "token_embd.weight", E, V, true, &m->tok_embd));
    TRY(bind(L, "output_norm.weight", E, 0, true, &m->output_norm));
    TRY(bind(L, "output.weight", E, V, false, &m->output));
    if (!m->output.data) m->output = m->tok_embd; /* tied embeddings */
    TRY(bind(L, "rope_freqs.weight", hp->n_rot / 2, 0, false, &m->rope_freqs));
    m->layers = (wisp_layer *)calloc(hp->n_layer, sizeof *m->layers);
    if (!m->layers) return wisp_set_err(L->err, L->err_len, WISP_ERR_OOM, "out of memory");
    bool biases = hp->arch == WISP_ARCH_QWEN2;
    for (uint32_t i = 0; i < hp->n_layer; i++) {
        wisp_layer *ly = &m->layers[i];
        char n[96];
#define B(field, suffix, ne0, ne1, req)                               \
    snprintf(n, sizeof n, "blk.%u." suffix, i);                       \
    TRY(bind(L, n, ne0, ne1, req, &ly->field))
        B(attn_norm, "attn_norm.weight", E, 0, true);
        B(wq, "attn_q.weight", E, QD, true);
        B(wk, "attn_k.weight", E, KD, true);
        B(wv, "attn_v.weight", E, KD, true);
        B(bq, "attn_q.bias", QD, 0, biases);
        B(bk, "attn_k.bias", KD, 0, biases);
        B(bv, "attn_v.bias", KD, 0, biases);
        B(wo, "attn_output.weight", QD, E, true);
        B(ffn_norm, "ffn_norm.weight", E, 0, true);
        B(w_gate, "ffn_gate.weight", E, F, true);
        B(w_up, "ffn_up.weight", E, F, true);
        B(w_down, "ffn_down.weight", F, E, true);
#undef B
    }
    return WISP_OK;
}

/* ------------------------------------------------------------ loading */

/* Sizes the data section (up to the end of the last tensor) and allocates it. */
static wisp_status alloc_weights(loader *L) {
    wisp_model *m = L->m;
    uint64_t start = wisp_gguf_data_offset(m->gguf);
    uint64_t end = start;
    m->n_params = 0;
    for (int64_t i = 0; i < wisp_gguf_n_tensors(m->gguf); i++) {
        const wisp_gguf_tensor *t = wisp_gguf_tensor_at(m->gguf, i);
        if (t->offset + t->size > end) end = t->offset + t->size;
        m->n_params += t->n_elements;
    }
    uint64_t size = end - start;
    if (size > (uint64_t)SIZE_MAX - WEIGHT_ALIGN)
        return wisp_set_err(L->err, L->err_len, WISP_ERR_OOM,
                            "the weights need %llu bytes, more than this address space can hold",
                            (unsigned long long)size);
    m->weights_alloc = malloc((size_t)size + WEIGHT_ALIGN);
    if (!m->weights_alloc)
        return wisp_set_err(L->err, L->err_len, WISP_ERR_OOM, "cannot allocate %llu bytes (%.1f MiB) for the weights",
                            (unsigned long long)size, (double)size / 1048576.0);
    uintptr_t a = (uintptr_t)m->weights_alloc;
    m->weights = (unsigned char *)((a + WEIGHT_ALIGN - 1) & ~(uintptr_t)(WEIGHT_ALIGN - 1));
    m->weights_size = size;
    return WISP_OK;
}

/* Phase 1: header, vocabulary, hyperparameters, weight buffer. */
static wisp_status begin(loader *L, const wisp_reader *r, uint64_t file_size, const wisp_model_params *p,
                         uint64_t *needed) {
    wisp_model *m = L->m;
    wisp_status s = wisp_gguf_open(r, file_size, &m->gguf, needed, L->err, L->err_len);
    if (s != WISP_OK) return s;
    TRY(wisp_vocab_load(m->gguf, &m->vocab, L->err, L->err_len));
    /* The vocabulary has its own copy of the token, score, type and merge arrays; nothing
     * else reads arrays. Freeing them now, before the weights buffer is allocated, also
     * lets the KV cache and scratch reuse that memory (12.6 MiB for a 151,936-token Qwen
     * vocabulary). */
    wisp_gguf_drop_arrays(m->gguf);
    wisp_gguf_str st;
    if (wisp_gguf_get_str(m->gguf, "general.name", &st)) snprintf(m->name, sizeof m->name, "%s", st.str);
    if (wisp_gguf_get_str(m->gguf, "tokenizer.chat_template", &st)) {
        m->chat_template = (char *)malloc((size_t)st.len + 1);
        if (!m->chat_template) return wisp_set_err(L->err, L->err_len, WISP_ERR_OOM, "out of memory");
        memcpy(m->chat_template, st.str, (size_t)st.len + 1);
    }
    m->hp.n_vocab = wisp_vocab_n_tokens(m->vocab);
    if (wisp_gguf_get_str(m->gguf, "general.architecture", &st))
        snprintf(L->arch, sizeof L->arch, "%s", st.str);
    m->vocab_only = p->vocab_only;
    if (p->vocab_only) return WISP_OK;
    if (!L->arch[0])
        return wisp_set_err(L->err, L->err_len, WISP_ERR_FORMAT, "missing required key 'general.architecture'");
    TRY(read_hparams(L));
    return alloc_weights(L);
}

static wisp_model *new_model(void) { return (wisp_model *)calloc(1, sizeof(wisp_model)); }

wisp_status wisp_model_begin(const wisp_reader *header, uint64_t file_size, const wisp_model_params *params,
                             wisp_model **out, uint64_t *needed, char *err, size_t err_len) {
    if (err && err_len) err[0] = 0;
    if (needed) *needed = 0;
    if (!out || !header || !header->read)
        return wisp_set_err(err, err_len, WISP_ERR_INVALID_ARG, "wisp_model_begin: NULL argument");
    *out = NULL;
    wisp_model_params dflt = wisp_model_default_params();
    const wisp_model_params *p = params ? params : &dflt;
    wisp_model *m = new_model();
    if (!m) return wisp_set_err(err, err_len, WISP_ERR_OOM, "out of memory");
    char local_err[512] = "";
    loader L = {m, local_err, sizeof local_err, ""};
    uint64_t need = 0;
    wisp_status s = begin(&L, header, file_size ? file_size : header->size, p, &need);
    if (needed) *needed = need;
    if (s != WISP_OK) {
        if (!local_err[0]) snprintf(local_err, sizeof local_err, "%s", wisp_status_str(s));
        wisp_set_err(err, err_len, s, "%s", local_err);
        wisp_model_free(m);
        return s;
    }
    snprintf(m->arch, sizeof m->arch, "%s", L.arch);
    *out = m;
    return WISP_OK;
}

void *wisp_model_weights_buffer(wisp_model *m, uint64_t *file_offset, uint64_t *size) {
    if (!m || !m->gguf) return NULL;
    if (file_offset) *file_offset = wisp_gguf_data_offset(m->gguf);
    if (size) *size = m->weights_size;
    return m->weights;
}

wisp_status wisp_model_finish(wisp_model *m, char *err, size_t err_len) {
    if (err && err_len) err[0] = 0;
    if (!m) return wisp_set_err(err, err_len, WISP_ERR_INVALID_ARG, "wisp_model_finish: NULL model");
    if (m->vocab_only || m->layers) return WISP_OK;
    loader L = {m, m->last_error, sizeof m->last_error, ""};
    snprintf(L.arch, sizeof L.arch, "%s", m->arch);
    wisp_status s = bind_weights(&L);
    if (s != WISP_OK) wisp_set_err(err, err_len, s, "%s", m->last_error);
    return s;
}

wisp_status wisp_model_load(const wisp_reader *r, const wisp_model_params *params, wisp_model **out,
                            char *err, size_t err_len) {
    if (err && err_len) err[0] = 0;
    if (!out || !r || !r->read)
        return wisp_set_err(err, err_len, WISP_ERR_INVALID_ARG, "wisp_model_load: NULL argument");
    *out = NULL; /* FIX (reliability): wisp.h promises *out == NULL on every failure */
    wisp_model_params dflt = wisp_model_default_params();
    const wisp_model_params *p = params ? params : &dflt;
    wisp_model *m = NULL;
    wisp_status s = wisp_model_begin(r, r->size, p, &m, NULL, err, err_len);
        if (s != WISP_OK) return s;
    uint64_t off, size;
    unsigned char *buf = (unsigned char *)wisp_model_weights_buffer(m, &off, &size);
    for (uint64_t done = 0; buf && done < size;) {
        size_t n = (size - done) < READ_CHUNK ? (size_t)(size - done) : READ_CHUNK;
        if (r->read(r->user, buf + done, off + done, n) != 0) {
            s = wisp_set_err(err, err_len, WISP_ERR_IO, "read error at byte %llu", (unsigned long long)(off + done));
            break;
        }
        done += n;
        if (p->progress && !p->progress((float)done / (float)size, p->progress_user)) {
            s = wisp_set_err(err, err_len, WISP_ERR_ABORTED, "load aborted");
            break;
        }
    }
    if (s == WISP_OK) s = wisp_model_finish(m, err, err_len);
    if (s != WISP_OK) {
        wisp_model_free(m);
        return s;
    }
    *out = m;
    return WISP_OK;
}

/* ------------------------------------------------------------ info */

void wisp_model_get_info(const wisp_model *m, wisp_model_info *o) {
    memset(o, 0, sizeof *o);
    const wisp_hparams *hp = &m->hp;
    o->arch = "";
    if (wisp_gguf_find_key(m->gguf, "general.architecture") >= 0) {
        wisp_gguf_str st;
        if (wisp_gguf_get_str(m->gguf, "general.architecture", &st)) o->arch = st.str;
    }
    o->name = m->name;
    o->tokenizer = wisp_vocab_model_name(m->vocab);
    o->pre = wisp_vocab_pre_name(m->vocab);
    o->n_params = m->n_params;
    o->weight_bytes = m->weights_size;
    o->n_vocab = wisp_vocab_n_tokens(m->vocab);
    o->n_ctx_train = hp->n_ctx_train;
    o->n_embd = hp->n_embd;
    o->n_layer = hp->n_layer;
    o->n_head = hp->n_head;
    o->n_head_kv = hp->n_head_kv;
    o->head_dim = hp->head_dim;
    o->n_ff = hp->n_ff;
    o->n_tensors = (uint32_t)wisp_gguf_n_tensors(m->gguf);
    for (uint32_t i = 0; i < o->n_tensors; i++) {
        uint32_t ty = wisp_gguf_tensor_at(m->gguf, i)->type;
        if (ty < 64) o->type_counts[ty]++;
    }
    o->bos = wisp_vocab_bos(m->vocab);
    o->eos = wisp_vocab_eos(m->vocab);
    o->eot = wisp_vocab_eot(m->vocab);
    o->add_bos = wisp_vocab_add_bos(m->vocab);
    o->vocab_only = m->vocab_only;
}

uint64_t wisp_model_kv_bytes(const wisp_model *m, uint32_t n_ctx) {
    const wisp_hparams *hp = &m->hp;
    /* K and V, F16, every layer */
    return 2ull * 2ull * hp->n_layer * (uint64_t)hp->n_head_kv * hp->head_dim * n_ctx;
}

/* ------------------------------------------------------------ tokenizer pass-through */

int32_t wisp_tokenize(const wisp_model *m, const char *text, size_t len, wisp_token *out, int32_t cap,
                      bool add_bos, bool parse_special) {
    if (!m) return -WISP_ERR_INVALID_ARG;
    return wisp_vocab_tokenize(m->vocab, text, len, out, cap, add_bos, parse_special);
}

int32_t wisp_token_to_piece(const wisp_model *m, wisp_token t, char *buf, int32_t cap, bool special) {
    if (!m) return -WISP_ERR_INVALID_ARG;
    return wisp_vocab_token_to_piece(m->vocab, t, buf, cap, special);
}

const char *wisp_token_text(const wisp_model *m, wisp_token t) {
    return m ? wisp_vocab_token_text(m->vocab, t) : NULL;
}

bool wisp_token_is_eog(const wisp_model *m, wisp_token t) { return m && wisp_vocab_is_eog(m->vocab, t); }
