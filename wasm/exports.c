/* exports.c — the whole JavaScript-facing surface of the wasm build.
 *
 * One module instance holds at most one model (plus its context, sampler and
 * streaming detokenizer): js/worker.js creates one instance per loaded model, so
 * the state here is a single static struct rather than handles.
 *
 * Conventions for the JS side (js/worker.js):
 *   - Functions returning a status return a wisp_status (0 = OK); the message is
 *     in wx_last_error() and the enum spelling in wx_status_name(status).
 *   - 64-bit quantities cross the boundary as doubles (exact below 2^53).
 *   - Pointers are wasm32 addresses; read them with `>>> 0` (memory may be 4 GiB).
 *   - Buffers passed in (text, token ids) are allocated by JS with wx_malloc.
 */
#include <emscripten/emscripten.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wisp.h"

#define WX_ERR_LEN 1024
#define WX_PIECE_CAP 256

static struct {
    wisp_model *model;
    int finished;
    wisp_context *ctx;
    wisp_sampler *sampler;
    wisp_detok detok;
    uint64_t needed;
    char err[WX_ERR_LEN];
    char piece[WX_PIECE_CAP];
    char *piece_big;           /* grown on demand for pieces longer than WX_PIECE_CAP */
    char *piece_out;           /* where the last detok push/flush wrote (piece or piece_big) */
    char *json;
    uint32_t n_threads;
} S;

static int fail(int status, const char *msg) {
    snprintf(S.err, sizeof S.err, "%s", msg);
    return status;
}

/* ---------------------------------------------------------------- memory */

EMSCRIPTEN_KEEPALIVE void *wx_malloc(uint32_t n) { return malloc(n ? n : 1); }
EMSCRIPTEN_KEEPALIVE void wx_free(void *p) { free(p); }
/* Bytes currently malloc'd (dlmalloc's mallinfo): wasm memory never shrinks, but this
 * returns to its baseline when everything is freed (tests/js/faults.test.mjs, soak). */
EMSCRIPTEN_KEEPALIVE double wx_mem_in_use(void) { return (double)mallinfo().uordblks; }

/* ---------------------------------------------------------------- errors */

EMSCRIPTEN_KEEPALIVE const char *wx_last_error(void) { return S.err; }
EMSCRIPTEN_KEEPALIVE const char *wx_status_name(int s) { return wisp_status_name((wisp_status)s); }

/* ---------------------------------------------------------------- loading */

static void release_all(void) {
    wisp_sampler_free(S.sampler);
    S.sampler = NULL;
    wisp_context_free(S.ctx);
    S.ctx = NULL;
    wisp_model_free(S.model);
    S.model = NULL;
    free(S.json);
    S.json = NULL;
    free(S.piece_big);
    S.piece_big = NULL;
    S.piece_out = NULL;
    S.finished = 0;
}

/* Phase 1. `hdr` (ownership passes to this module: it is freed here) holds the first
 * hdr_len bytes of a file of file_size bytes. Returns a status; on NEED_MORE,
 * wx_needed() is the byte count to retry with.
 * The header is freed as soon as it is parsed, also on success: the GGUF parser copies
 * what it keeps (metadata, tensor directory) into its own arena and the vocabulary into
 * its own tables, so nothing points into it. (It used to be kept for the model's
 * lifetime: 6-10 MB of wasm memory for a 150k-token vocabulary, for nothing.) */
EMSCRIPTEN_KEEPALIVE int wx_begin(unsigned char *hdr, uint32_t hdr_len, double file_size) {
    release_all();
    S.err[0] = 0;
    S.needed = 0;
    wisp_reader r = wisp_reader_memory(hdr, hdr_len);
    wisp_model_params p = wisp_model_default_params();
    wisp_status s = wisp_model_begin(&r, (uint64_t)file_size, &p, &S.model, &S.needed, S.err, sizeof S.err);
    free(hdr);
    if (s != WISP_OK) {
        S.model = NULL;
        return s;
    }
    return WISP_OK;
}

EMSCRIPTEN_KEEPALIVE double wx_needed(void) { return (double)S.needed; }

/* Phase 2: where the tensor data goes. */
EMSCRIPTEN_KEEPALIVE void *wx_weights_ptr(void) {
    return S.model ? wisp_model_weights_buffer(S.model, NULL, NULL) : NULL;
}
EMSCRIPTEN_KEEPALIVE double wx_weights_offset(void) {
    uint64_t off = 0, size = 0;
    if (S.model) wisp_model_weights_buffer(S.model, &off, &size);
    return (double)off;
}
EMSCRIPTEN_KEEPALIVE double wx_weights_size(void) {
    uint64_t off = 0, size = 0;
    if (S.model) wisp_model_weights_buffer(S.model, &off, &size);
    return (double)size;
}

/* Bytes of KV cache for n_ctx tokens (valid after wx_begin). */
EMSCRIPTEN_KEEPALIVE double wx_kv_bytes(uint32_t n_ctx) {
    return S.model ? (double)wisp_model_kv_bytes(S.model, n_ctx) : 0.0;
}

/* Tries to make `bytes` more bytes of heap available now (grows the memory), so a
 * model that cannot get its KV cache fails before the download. Returns 0 or OOM. */
EMSCRIPTEN_KEEPALIVE int wx_reserve(double bytes) {
    if (bytes <= 0) return WISP_OK;
    if (bytes > 4294967295.0) return fail(WISP_ERR_OOM, "request exceeds the 4 GiB wasm32 address space");
    void *p = malloc((size_t)bytes);
    if (!p) {
        snprintf(S.err, sizeof S.err, "cannot reserve %.0f bytes of wasm memory (memory growth failed)", bytes);
        return WISP_ERR_OOM;
    }
    free(p);
    return WISP_OK;
}

/* Phase 3. */
EMSCRIPTEN_KEEPALIVE int wx_finish(void) {
    if (!S.model) return fail(WISP_ERR_INVALID_ARG, "no model: call begin first");
    wisp_status s = wisp_model_finish(S.model, S.err, sizeof S.err);
    if (s == WISP_OK) S.finished = 1;
    return s;
}

static void json_str(char *dst, size_t cap, size_t *o, const char *s) {
    if (*o + 2 >= cap) return;
    dst[(*o)++] = '"';
    for (; s && *s && *o + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            dst[(*o)++] = '\\';
            dst[(*o)++] = (char)c;
        } else if (c < 0x20) {
            *o += (size_t)snprintf(dst + *o, cap - *o, "\\u%04x", c);
        } else {
            dst[(*o)++] = (char)c;
        }
    }
    dst[(*o)++] = '"';
    dst[*o] = 0;
}

/* Model facts as a JSON object (owned here; valid until the next call). */
EMSCRIPTEN_KEEPALIVE const char *wx_info_json(void) {
    if (!S.model) return "null";
    wisp_model_info in;
    wisp_model_get_info(S.model, &in);
    size_t cap = 8192, o = 0;
    free(S.json);
    S.json = (char *)malloc(cap);
    if (!S.json) return "null";
    char *j = S.json;
    o += (size_t)snprintf(j + o, cap - o, "{\"arch\":");
    json_str(j, cap, &o, in.arch);
    o += (size_t)snprintf(j + o, cap - o, ",\"name\":");
    json_str(j, cap, &o, in.name);
    o += (size_t)snprintf(j + o, cap - o, ",\"tokenizer\":");
    json_str(j, cap, &o, in.tokenizer);
    o += (size_t)snprintf(j + o, cap - o, ",\"pre\":");
    json_str(j, cap, &o, in.pre);
    o += (size_t)snprintf(j + o, cap - o,
                          ",\"nParams\":%llu,\"weightBytes\":%llu,\"nVocab\":%u,\"nCtxTrain\":%u,"
                          "\"nEmbd\":%u,\"nLayer\":%u,\"nHead\":%u,\"nHeadKv\":%u,\"headDim\":%u,\"nFf\":%u,"
                          "\"nTensors\":%u,\"bos\":%d,\"eos\":%d,\"eot\":%d,\"addBos\":%s,\"vocabOnly\":%s,"
                          "\"quantTypes\":{",
                          (unsigned long long)in.n_params, (unsigned long long)in.weight_bytes, in.n_vocab,
                          in.n_ctx_train, in.n_embd, in.n_layer, in.n_head, in.n_head_kv, in.head_dim, in.n_ff,
                          in.n_tensors, in.bos, in.eos, in.eot, in.add_bos ? "true" : "false",
                          in.vocab_only ? "true" : "false");
    int first = 1;
    for (uint32_t t = 0; t < 64 && o + 64 < cap; t++) {
        if (!in.type_counts[t]) continue;
        o += (size_t)snprintf(j + o, cap - o, "%s\"%s\":%u", first ? "" : ",", wisp_type_name(t), in.type_counts[t]);
        first = 0;
    }
    o += (size_t)snprintf(j + o, cap - o, "},\"chatTemplate\":");
    const char *tpl = S.finished ? wisp_model_chat_template(S.model) : NULL;
    if (tpl) {
        /* templates can be long: grow the buffer for them */
        size_t need = o + strlen(tpl) * 6 + 64;
        if (need > cap) {
            char *nj = (char *)realloc(S.json, need);
            if (!nj) return "null";
            S.json = j = nj;
            cap = need;
        }
        json_str(j, cap, &o, tpl);
    } else {
        o += (size_t)snprintf(j + o, cap - o, "null");
    }
    snprintf(j + o, cap - o, "}");
    return j;
}

/* ---------------------------------------------------------------- tokenizer */

/* Tokenizes len bytes at text into out (cap ids). Returns the id count (may exceed
 * cap: call again) or a negative status. */
EMSCRIPTEN_KEEPALIVE int wx_tokenize(const char *text, uint32_t len, int32_t *out, int32_t cap, int add_bos,
                                     int parse_special) {
    if (!S.finished) return -fail(WISP_ERR_INVALID_ARG, "no model loaded");
    int32_t n = wisp_tokenize(S.model, text, len, out, cap, add_bos != 0, parse_special != 0);
    if (n < 0) snprintf(S.err, sizeof S.err, "tokenize failed: %s", wisp_status_str((wisp_status)-n));
    return n;
}

/* Streaming detokenizer over the shared piece buffer (wx_piece_ptr). */
EMSCRIPTEN_KEEPALIVE void wx_detok_reset(int special) {
    if (S.model) wisp_detok_init(&S.detok, S.model, special != 0);
}
EMSCRIPTEN_KEEPALIVE char *wx_piece_ptr(void) { return S.piece_out ? S.piece_out : S.piece; }
/* Bytes of text for token t written at wx_piece_ptr(), or a negative status. */
EMSCRIPTEN_KEEPALIVE int wx_detok_push(int32_t t) {
    if (!S.finished) return -fail(WISP_ERR_INVALID_ARG, "no model loaded");
    if (t < 0) return -fail(WISP_ERR_INVALID_ARG, "invalid token id");
    S.piece_out = S.piece;
    int32_t n = wisp_detok_push(&S.detok, t, S.piece, WX_PIECE_CAP);
    /* FIX (reliability): a piece may need more than WX_PIECE_CAP bytes (StarCoder/SmolLM
     * vocabularies have 256-byte tokens, plus held bytes, and invalid bytes expand 3x to
     * U+FFFD); a too-small buffer consumes nothing, so retry into a big enough heap buffer. */
    if (n == -WISP_ERR_INVALID_ARG) {
        int32_t need = wisp_token_to_piece(S.model, t, NULL, 0, S.detok.special);
        if (need >= 0) {
            size_t cap = 3 * ((size_t)need + sizeof S.detok.pending) + 16;
            char *big = (char *)realloc(S.piece_big, cap);
            if (big) {
                S.piece_big = big;
                n = wisp_detok_push(&S.detok, t, big, (int32_t)cap);
                if (n >= 0) S.piece_out = big;
            }
        }
    }
    if (n < 0) snprintf(S.err, sizeof S.err, "detokenize failed for token %d: %s", t, wisp_status_str((wisp_status)-n));
    return n;
}
EMSCRIPTEN_KEEPALIVE int wx_detok_flush(void) {
    if (!S.finished) return 0;
    S.piece_out = S.piece;
    return wisp_detok_flush(&S.detok, S.piece, WX_PIECE_CAP);
}
EMSCRIPTEN_KEEPALIVE int wx_is_eog(int32_t t) { return S.finished && wisp_token_is_eog(S.model, t); }

/* ---------------------------------------------------------------- context */

EMSCRIPTEN_KEEPALIVE int wx_context_init(uint32_t n_ctx, uint32_t n_threads) {
    if (!S.finished) return fail(WISP_ERR_INVALID_ARG, "no model loaded");
    wisp_context_free(S.ctx);
    S.ctx = NULL;
    wisp_context_params cp = wisp_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = n_threads ? n_threads : 1;
    S.n_threads = cp.n_threads;
    return wisp_context_init(S.model, &cp, &S.ctx, S.err, sizeof S.err);
}
EMSCRIPTEN_KEEPALIVE uint32_t wx_n_ctx(void) { return S.ctx ? wisp_context_n_ctx(S.ctx) : 0; }
EMSCRIPTEN_KEEPALIVE uint32_t wx_n_past(void) { return S.ctx ? wisp_context_n_past(S.ctx) : 0; }
EMSCRIPTEN_KEEPALIVE int wx_truncate(uint32_t n_past) {
    if (!S.ctx) return fail(WISP_ERR_INVALID_ARG, "no context");
    return wisp_context_truncate(S.ctx, n_past);
}

EMSCRIPTEN_KEEPALIVE int wx_decode(const int32_t *tokens, uint32_t n) {
    if (!S.ctx) return fail(WISP_ERR_INVALID_ARG, "no context");
    wisp_status s = wisp_decode(S.ctx, tokens, n);
    if (s != WISP_OK) snprintf(S.err, sizeof S.err, "%s", wisp_context_last_error(S.ctx));
    return s;
}

/* ---------------------------------------------------------------- sampling */

EMSCRIPTEN_KEEPALIVE int wx_sampler_init(float temperature, int32_t top_k, float top_p, float min_p,
                                         float repeat_penalty, int32_t repeat_last_n, double seed) {
    if (!S.finished) return fail(WISP_ERR_INVALID_ARG, "no model loaded");
    wisp_sampler_free(S.sampler);
    S.sampler = NULL;
    wisp_sampler_params sp = wisp_sampler_default_params();
    sp.temperature = temperature;
    sp.top_k = top_k;
    sp.top_p = top_p;
    sp.min_p = min_p;
    sp.repeat_penalty = repeat_penalty;
    sp.repeat_last_n = repeat_last_n; /* negative: INVALID_ARG from wisp_sampler_init (was silently 64) */
    sp.seed = (uint64_t)seed;
    wisp_model_info in;
    wisp_model_get_info(S.model, &in);
    return wisp_sampler_init(&sp, in.n_vocab, &S.sampler, S.err, sizeof S.err);
}
EMSCRIPTEN_KEEPALIVE void wx_sampler_accept(int32_t t) {
    if (S.sampler) wisp_sampler_accept(S.sampler, t);
}
/* Samples from the logits after the last decoded token; negative status on error. */
EMSCRIPTEN_KEEPALIVE int wx_sample(void) {
    if (!S.ctx || !S.sampler) return -fail(WISP_ERR_INVALID_ARG, "no context or sampler");
    const float *logits = wisp_get_logits(S.ctx, -1);
    if (!logits) return -fail(WISP_ERR_INVALID_ARG, "no logits: decode first");
    return wisp_sampler_sample(S.sampler, logits);
}

/* ---------------------------------------------------------------- teardown */

EMSCRIPTEN_KEEPALIVE void wx_unload(void) { release_all(); }
