/* fuzz_model.c — libFuzzer target for model binding (src/model.c + context + forward).
 * The input is a GGUF header (seeds: real model headers); tensor data is synthesized, so
 * shapes and metadata can be mutated freely. A structure-aware custom mutator rewrites
 * metadata values and tensor dims/types/offsets in place. A load must be refused cleanly
 * or bind every weight inside the weight buffer; a bound model must decode 2 tokens. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "fuzz_common.h"
#include "ggml_types.h"
#include "model.h"
#include "quant.h"
#include "wisp.h"

#define MAX_DATA (8u << 20)  /* bigger synthesized data sections are skipped (speed) */
#define FILL_BYTES 4096u

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* ---------------------------------------------------------------- the virtual file */

/* File bytes: the input for [0, size), then a repeating pattern of small, finite F32
 * values (F16/quant scales read from it are finite too: 0x3c00 = 1.0 halves). */
typedef struct vfile {
    const uint8_t *hdr;
    uint64_t hdr_len;
} vfile;

static unsigned char g_fill[FILL_BYTES];

static int vfile_read(void *user, void *dst, uint64_t offset, size_t len) {
    const vfile *v = (const vfile *)user;
    unsigned char *d = (unsigned char *)dst;
    while (len) {
        if (offset < v->hdr_len) {
            size_t n = (size_t)(v->hdr_len - offset) < len ? (size_t)(v->hdr_len - offset) : len;
            memcpy(d, v->hdr + offset, n);
            d += n, offset += n, len -= n;
        } else {
            size_t at = (size_t)(offset % FILL_BYTES);
            size_t n = FILL_BYTES - at < len ? FILL_BYTES - at : len;
            memcpy(d, g_fill + at, n);
            d += n, offset += n, len -= n;
        }
    }
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* values in [-0.05, 0.05] as F32, whose halves are also sane F16 values */
    uint32_t s = 12345;
    for (size_t i = 0; i < FILL_BYTES; i += 4) {
        s = s * 1103515245u + 12345u;
        float f = ((float)((s >> 8) & 0xffff) / 65535.0f - 0.5f) * 0.1f;
        uint32_t u;
        memcpy(&u, &f, 4);
        u = (u & 0xffff0000u) | 0x2c00u; /* low half: F16 0.0625 (a valid scale) */
        memcpy(g_fill + i, &u, 4);
    }
    return 0;
}

/* ---------------------------------------------------------------- binding checks */

static void check_tensor(const wisp_model *m, const wisp_tensor *t, const char *what, bool required) {
    if (!t->data) {
        FUZZ_CHECK(!required, "required tensor %s unbound", what);
        return;
    }
    const unsigned char *p = (const unsigned char *)t->data;
    const unsigned char *w0 = m->weights, *w1 = m->weights + m->weights_size;
    FUZZ_CHECK(t->ne[0] > 0 && t->ne[1] > 0, "%s: empty shape", what);
    FUZZ_CHECK(t->row_bytes == wisp_row_size(t->type, t->ne[0]), "%s: row bytes", what);
    uint64_t bytes = (uint64_t)t->row_bytes * (uint64_t)t->ne[1];
    FUZZ_CHECK(p >= w0 && p <= w1 && bytes <= (uint64_t)(w1 - p), "%s (%s) bound outside the weight buffer", what,
               t->name ? t->name : "?");
    const wisp_gguf_tensor *g = t->name ? wisp_gguf_find_tensor(m->gguf, t->name) : NULL;
    FUZZ_CHECK(g, "%s: bound to no file tensor", what);
    FUZZ_CHECK(g->type == t->type && g->size >= bytes &&
                   p == m->weights + (g->offset - wisp_gguf_data_offset(m->gguf)),
               "%s: binding differs from the file's tensor", what);
    if (t->ne[1] > 1) {
        const wisp_quant_traits *q = wisp_quant_get(t->type);
        FUZZ_CHECK(q && q->vec_dot, "%s: matrix of a type without vec_dot", what);
    } else {
        FUZZ_CHECK(t->type == WISP_TYPE_F32 || wisp_quant_get(t->type), "%s: vector type", what);
    }
}

static void check_bound(const wisp_model *m) {
    const wisp_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, V = hp->n_vocab;
    FUZZ_CHECK(hp->n_head && hp->n_head_kv && hp->n_head % hp->n_head_kv == 0, "heads");
    FUZZ_CHECK(hp->head_dim && hp->n_rot <= hp->head_dim, "head_dim");
    check_tensor(m, &m->tok_embd, "token_embd", true);
    FUZZ_CHECK(m->tok_embd.ne[0] == E && m->tok_embd.ne[1] == V, "token_embd shape");
    check_tensor(m, &m->output, "output", true);
    FUZZ_CHECK(m->output.ne[0] == E && m->output.ne[1] == V, "output shape");
    check_tensor(m, &m->output_norm, "output_norm", true);
    check_tensor(m, &m->rope_freqs, "rope_freqs", false);
    const int64_t QD = (int64_t)hp->n_head * hp->head_dim, KD = (int64_t)hp->n_head_kv * hp->head_dim;
    for (uint32_t i = 0; i < hp->n_layer; i++) {
        const wisp_layer *l = &m->layers[i];
        check_tensor(m, &l->attn_norm, "attn_norm", true);
        check_tensor(m, &l->wq, "wq", true);
        check_tensor(m, &l->wk, "wk", true);
        check_tensor(m, &l->wv, "wv", true);
        check_tensor(m, &l->bq, "bq", false);
        check_tensor(m, &l->bk, "bk", false);
        check_tensor(m, &l->bv, "bv", false);
        check_tensor(m, &l->wo, "wo", true);
        check_tensor(m, &l->ffn_norm, "ffn_norm", true);
        check_tensor(m, &l->w_gate, "w_gate", true);
        check_tensor(m, &l->w_up, "w_up", true);
        check_tensor(m, &l->w_down, "w_down", true);
        FUZZ_CHECK(l->wq.ne[0] == E && l->wq.ne[1] == QD && l->wk.ne[1] == KD && l->wv.ne[1] == KD &&
                       l->wo.ne[0] == QD && l->wo.ne[1] == E && l->w_down.ne[0] == hp->n_ff &&
                       l->w_gate.ne[1] == hp->n_ff && l->attn_norm.ne[0] == E,
                   "layer %u shapes", i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* size the virtual file from the header alone (the browser loader's first step) */
    char err[512];
    wisp_reader hr = wisp_reader_memory(data, size);
    wisp_gguf *g = NULL;
    uint64_t needed = 0;
    if (wisp_gguf_open(&hr, 1ull << 40, &g, &needed, err, sizeof err) != WISP_OK) return 0;
    uint64_t end = wisp_gguf_data_offset(g);
    for (int64_t i = 0; i < wisp_gguf_n_tensors(g); i++) {
        const wisp_gguf_tensor *t = wisp_gguf_tensor_at(g, i);
        if (t->offset + t->size > end) end = t->offset + t->size;
    }
    uint64_t data_bytes = end - wisp_gguf_data_offset(g);
    wisp_gguf_free(g);
    if (data_bytes > MAX_DATA) return 0;
    if (end < size) end = size;

    vfile vf = {data, size};
    wisp_reader r = {&vf, end, vfile_read};
    wisp_model *m = NULL;
    err[0] = 0;
    wisp_status s = wisp_model_load(&r, NULL, &m, err, sizeof err);
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("WISP_FUZZ_VERBOSE") != NULL;
    if (verbose) fprintf(stderr, "fuzz_model: %s %s\n", wisp_status_name(s), s == WISP_OK ? "" : err);
    if (s != WISP_OK) {
        FUZZ_CHECK(m == NULL && err[0], "refused load (status %d) left a model or no message", (int)s);
        FUZZ_CHECK(s == WISP_ERR_FORMAT || s == WISP_ERR_UNSUPPORTED || s == WISP_ERR_OOM, "load status %d: %s",
                   (int)s, err);
        return 0;
    }
    check_bound(m);
    wisp_model_info in;
    wisp_model_get_info(m, &in);

    /* a tiny decode: 2 tokens, then 1 more, with n_ctx 8 (or the trained length if shorter) */
    wisp_context_params cp = wisp_context_default_params();
    cp.n_ctx = in.n_ctx_train < 8 ? in.n_ctx_train : 8;
    wisp_context *c = NULL;
    s = wisp_context_init(m, &cp, &c, err, sizeof err);
    if (s == WISP_OK) {
        wisp_token toks[2] = {in.bos >= 0 && (uint32_t)in.bos < in.n_vocab ? in.bos : 0,
                              (wisp_token)(in.n_vocab > 1 ? 1 : 0)};
        uint32_t n = cp.n_ctx >= 2 ? 2 : 1;
        s = wisp_decode(c, toks, n);
        FUZZ_CHECK(s == WISP_OK, "decode of %u tokens failed: %s", n, wisp_context_last_error(c));
        const float *lg = wisp_get_logits(c, -1);
        FUZZ_CHECK(lg, "no logits");
        int32_t best = 0;
        for (uint32_t i = 1; i < in.n_vocab; i++)
            if (lg[i] > lg[best]) best = (int32_t)i;
        if (wisp_context_n_past(c) < wisp_context_n_ctx(c))
            FUZZ_CHECK(wisp_decode(c, &best, 1) == WISP_OK, "second decode failed: %s", wisp_context_last_error(c));
        else
            FUZZ_CHECK(wisp_decode(c, &best, 1) == WISP_ERR_CONTEXT_FULL, "full context accepted a token");
        wisp_context_free(c);
    } else {
        FUZZ_CHECK(c == NULL && err[0], "context refusal without a message");
        FUZZ_CHECK(s == WISP_ERR_OOM || s == WISP_ERR_INVALID_ARG, "context status %d", (int)s);
    }
    wisp_model_free(m);
    return 0;
}

/* ---------------------------------------------------------------- structure-aware mutator */

/* Positions of mutable fields in a GGUF header, found by a minimal tolerant walk. */
enum { F_U8, F_U16, F_U32, F_U64, F_F32, F_F64, F_STR, F_NDIMS, F_NE, F_TTYPE, F_TOFF };
typedef struct field {
    size_t at;
    int kind;
    size_t len; /* F_STR: string byte count */
} field;
#define MAX_FIELDS 4096

typedef struct walker {
    const uint8_t *d;
    size_t n, pos;
    field *f;
    int nf;
    bool ok;
} walker;

static uint64_t rd(walker *w, size_t width) {
    uint64_t v = 0;
    if (w->pos + width > w->n) {
        w->ok = false;
        w->pos = w->n;
        return 0;
    }
    for (size_t i = 0; i < width; i++) v |= (uint64_t)w->d[w->pos + i] << (8 * i);
    w->pos += width;
    return v;
}

static void add(walker *w, size_t at, int kind, size_t len) {
    if (w->nf < MAX_FIELDS) w->f[w->nf++] = (field){at, kind, len};
}

static void skip_str(walker *w, bool record) {
    uint64_t len = rd(w, 8);
    if (!w->ok || len > w->n - w->pos) {
        w->ok = false;
        return;
    }
    if (record && len) add(w, w->pos, F_STR, (size_t)len);
    w->pos += (size_t)len;
}

static void walk(walker *w) {
    static const int kind_of[13] = {F_U8, F_U8, F_U16, F_U16, F_U32, F_U32, F_F32, F_U8, -1, -1, F_U64, F_U64, F_F64};
    static const size_t width[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    w->ok = true;
    w->pos = 8;
    uint64_t nt = rd(w, 8), nkv = rd(w, 8);
    for (uint64_t i = 0; w->ok && i < nkv; i++) {
        skip_str(w, false);
        uint32_t ty = (uint32_t)rd(w, 4);
        if (!w->ok) return;
        if (ty == 8) {
            skip_str(w, true);
        } else if (ty == 9) {
            uint32_t et = (uint32_t)rd(w, 4);
            uint64_t cnt = rd(w, 8);
            if (et == 8) {
                for (uint64_t j = 0; w->ok && j < cnt; j++) skip_str(w, j < 8);
            } else if (et < 13 && width[et]) {
                if (cnt > (w->n - w->pos) / width[et]) return;
                for (uint64_t j = 0; j < cnt && j < 8; j++) add(w, w->pos + j * width[et], kind_of[et], 0);
                w->pos += (size_t)(cnt * width[et]);
            } else {
                return;
            }
        } else if (ty < 13 && width[ty]) {
            add(w, w->pos, kind_of[ty], 0);
            w->pos += width[ty];
        } else {
            return;
        }
    }
    for (uint64_t i = 0; w->ok && i < nt; i++) {
        skip_str(w, false);
        size_t at = w->pos;
        uint32_t nd = (uint32_t)rd(w, 4);
        if (!w->ok || nd > 4) return;
        add(w, at, F_NDIMS, 0);
        for (uint32_t k = 0; k < nd; k++) {
            add(w, w->pos, F_NE, 0);
            rd(w, 8);
        }
        add(w, w->pos, F_TTYPE, 0);
        rd(w, 4);
        add(w, w->pos, F_TOFF, 0);
        rd(w, 8);
    }
}

static uint64_t rnd(unsigned *seed) {
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 8) & 0xffffff;
}

static uint64_t get_le(const uint8_t *p, size_t w) {
    uint64_t v = 0;
    for (size_t i = 0; i < w; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static void put_le(uint8_t *p, size_t w, uint64_t v) {
    for (size_t i = 0; i < w; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t interesting_int(uint64_t orig, unsigned *seed) {
    static const uint64_t k[] = {0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 48, 63, 64, 96, 128, 255, 256,
                                 511, 512, 513, 1024, 4096, 32768, 65535, 65536, 0x7fffffff, 0x80000000,
                                 0xffffffff, 0x100000000ull, 0x7fffffffffffffffull, 0xffffffffffffffffull};
    switch (rnd(seed) % 6) {
    case 0: return orig + 1;
    case 1: return orig - 1;
    case 2: return orig * 2;
    case 3: return orig / 2;
    default: return k[rnd(seed) % (sizeof k / sizeof k[0])];
    }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    static field fields[MAX_FIELDS];
    walker w = {data, size, 0, fields, 0, true};
    if (size >= 24 && memcmp(data, "GGUF", 4) == 0) walk(&w);
    if (w.nf == 0 || rnd(&seed) % 4 == 0) return LLVMFuzzerMutate(data, size, max_size);
    int reps = 1 + (int)(rnd(&seed) % 3);
    for (int r = 0; r < reps; r++) {
        field *f = &fields[rnd(&seed) % (uint64_t)w.nf];
        uint8_t *p = data + f->at;
        switch (f->kind) {
        case F_U8: p[0] = (uint8_t)interesting_int(p[0], &seed); break;
        case F_U16: put_le(p, 2, interesting_int(get_le(p, 2), &seed)); break;
        case F_U32: put_le(p, 4, interesting_int(get_le(p, 4), &seed)); break;
        case F_U64: case F_NE: put_le(p, 8, interesting_int(get_le(p, 8), &seed)); break;
        case F_NDIMS: put_le(p, 4, rnd(&seed) % 6); break;
        case F_TTYPE: put_le(p, 4, rnd(&seed) % 4 ? rnd(&seed) % 16 : interesting_int(get_le(p, 4), &seed)); break;
        case F_TOFF: {
            uint64_t o = get_le(p, 8);
            static const int64_t dv[] = {-64, -32, -4, 4, 32, 64, 4096};
            put_le(p, 8, rnd(&seed) % 3 ? o + (uint64_t)dv[rnd(&seed) % 7] : interesting_int(o, &seed));
            break;
        }
        case F_F32: case F_F64: {
            static const double kv[] = {0.0, -1.0, 1e-30, 1e30, 0.5, 2.0, 1e6, INFINITY, NAN};
            double v = kv[rnd(&seed) % 9];
            if (f->kind == F_F32) {
                float fv = (float)v;
                memcpy(p, &fv, 4);
            } else {
                memcpy(p, &v, 8);
            }
            break;
        }
        case F_STR:
            /* same-length swaps keep the layout: architecture and tokenizer names */
            if (f->len == 5 && (memcmp(p, "llama", 5) == 0 || memcmp(p, "qwen2", 5) == 0))
                memcpy(p, memcmp(p, "llama", 5) == 0 ? "qwen2" : "llama", 5);
            else
                p[rnd(&seed) % f->len] ^= (uint8_t)(1u << (rnd(&seed) % 8));
            break;
        }
    }
    return size;
}
