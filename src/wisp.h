/* wisp.h — the public API of the wisp small-language-model runtime.
 *
 * This header is the contract. Everything else in src/ is internal.
 *
 * Conventions
 *   - Opaque handles: wisp_model (read-only weights + vocabulary) and wisp_context
 *     (KV cache, scratch, logits). Create them from a params struct obtained from
 *     wisp_*_default_params(); free them with wisp_*_free(). free(NULL) is a no-op.
 *   - Every fallible call returns a wisp_status. On failure a human-readable message
 *     is available from wisp_model_last_error()/wisp_context_last_error() (owned by
 *     the handle, valid until the next call on it) or, for calls that fail before a
 *     handle exists, is written into the caller's `err` buffer.
 *   - Nothing reachable from file bytes or user input asserts or exits.
 *   - Token ids are int32_t. Text is UTF-8 with an explicit length (NUL bytes allowed).
 */
#ifndef WISP_H
#define WISP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- status */

typedef enum wisp_status {
    WISP_OK = 0,
    WISP_ERR_IO = 1,            /* the reader failed (file unreadable, network error) */
    WISP_ERR_FORMAT = 2,        /* the bytes are not a valid GGUF / model */
    WISP_ERR_UNSUPPORTED = 3,   /* valid, but uses something wisp does not implement */
    WISP_ERR_OOM = 4,           /* an allocation failed or the request cannot fit in memory */
    WISP_ERR_ABORTED = 5,       /* a progress/abort callback asked to stop */
    WISP_ERR_INVALID_ARG = 6,   /* a bad parameter from the caller (not from the file) */
    WISP_ERR_NEED_MORE = 7,     /* partial header: more bytes are needed (see wisp_gguf_open) */
    WISP_ERR_CONTEXT_FULL = 8,  /* the tokens do not fit in the context window */
} wisp_status;

/* A static English name/description for a status ("ok", "format error", ...). */
const char *wisp_status_str(wisp_status s);
/* The enum spelling ("WISP_ERR_FORMAT" -> "FORMAT", WISP_OK -> "OK"): used by the JS shim's error codes. */
const char *wisp_status_name(wisp_status s);

/* ---------------------------------------------------------------- readers */

/* Random-access byte source. read() copies `len` bytes at `offset` into dst and
 * returns 0, or non-zero on an I/O error. `size` is the number of bytes that can
 * currently be read (for a partial buffer this is less than the file size). */
typedef struct wisp_reader {
    void *user;
    uint64_t size;
    int (*read)(void *user, void *dst, uint64_t offset, size_t len);
} wisp_reader;

/* A reader over a caller-owned memory buffer (kept alive by the caller). */
wisp_reader wisp_reader_memory(const void *data, size_t size);

/* ---------------------------------------------------------------- model */

typedef int32_t wisp_token;
typedef struct wisp_model wisp_model;
typedef struct wisp_context wisp_context;

/* Return false to abort loading (the load then fails with WISP_ERR_ABORTED). */
typedef bool (*wisp_progress_fn)(float progress, void *user);

typedef struct wisp_model_params {
    bool vocab_only;              /* load only the tokenizer (works on vocab-only GGUFs) */
    wisp_progress_fn progress;    /* optional */
    void *progress_user;
} wisp_model_params;

wisp_model_params wisp_model_default_params(void);

/* Parse and bind a model. The reader must cover the whole file (size == file size).
 * Weights are copied into memory owned by the model, so the reader may go away after
 * this returns. On failure *out is NULL and `err` (if non-NULL) holds a message. */
wisp_status wisp_model_load(const wisp_reader *r, const wisp_model_params *p,
                            wisp_model **out, char *err, size_t err_len);
/* Load from a file path (native builds; uses stdio). */
wisp_status wisp_model_load_file(const char *path, const wisp_model_params *p,
                                 wisp_model **out, char *err, size_t err_len);
void wisp_model_free(wisp_model *m);

/* Two-phase loading, for callers that fetch the bytes themselves (the browser loader
 * streams tensor data over HTTP straight into the model's buffer, with no second copy):
 *   1. wisp_model_begin() with a reader over the first bytes of the file (at least the
 *      header; WISP_ERR_NEED_MORE sets *needed to the byte count to retry with) and the
 *      total file size. It parses and validates the header, reads the hyperparameters
 *      and the vocabulary, and allocates the weight buffer — failing with WISP_ERR_OOM
 *      *before* any tensor data is fetched when it cannot.
 *   2. wisp_model_weights_buffer(): copy file bytes [*file_offset, *file_offset + *size)
 *      into the returned buffer, in any order and in as many pieces as convenient.
 *   3. wisp_model_finish() binds the weights; the model is then ready.
 * A model that has not finished may only be passed to wisp_model_free/get_info. */
wisp_status wisp_model_begin(const wisp_reader *header, uint64_t file_size, const wisp_model_params *p,
                             wisp_model **out, uint64_t *needed, char *err, size_t err_len);
void *wisp_model_weights_buffer(wisp_model *m, uint64_t *file_offset, uint64_t *size);
wisp_status wisp_model_finish(wisp_model *m, char *err, size_t err_len);

/* Facts about a loaded model, for `wisp info` and the JS `model.info`. Strings are
 * owned by the model. */
typedef struct wisp_model_info {
    const char *arch;             /* "llama", "qwen2", ... ("" for vocab-only) */
    const char *name;             /* general.name or "" */
    const char *tokenizer;        /* "llama" (SentencePiece) or "gpt2" (byte-level BPE) */
    const char *pre;              /* tokenizer.ggml.pre or "default" */
    uint64_t n_params;            /* elements of all weight tensors */
    uint64_t weight_bytes;        /* bytes of all tensor data */
    uint32_t n_vocab;
    uint32_t n_ctx_train;
    uint32_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    uint32_t n_tensors;
    uint32_t type_counts[64];     /* number of tensors of each GGML type id */
    wisp_token bos, eos, eot;     /* -1 when absent */
    bool add_bos;
    bool vocab_only;
} wisp_model_info;

void wisp_model_get_info(const wisp_model *m, wisp_model_info *out);
/* Bytes of KV cache a context of n_ctx tokens needs (F16 K and V, every layer). */
uint64_t wisp_model_kv_bytes(const wisp_model *m, uint32_t n_ctx);
/* The GGML type name of a type id ("Q4_0", "F16", ...) or "?" */
const char *wisp_type_name(uint32_t type);
/* The chat template from tokenizer.chat_template, or NULL. Owned by the model. */
const char *wisp_model_chat_template(const wisp_model *m);
/* Last error message on this model handle ("" if none). */
const char *wisp_model_last_error(const wisp_model *m);

/* ---------------------------------------------------------------- tokenizer */

/* Tokenize `len` bytes of UTF-8 text. Writes at most `cap` ids and returns the total
 * number of ids the text needs (call again with a larger buffer when > cap), or a
 * negative wisp_status on error (e.g. -WISP_ERR_INVALID_ARG for invalid UTF-8).
 * add_bos: prepend BOS when the vocab says add_bos (tokenizer.ggml.add_bos_token).
 * parse_special: text that spells a control/special token becomes that token. */
int32_t wisp_tokenize(const wisp_model *m, const char *text, size_t len,
                      wisp_token *out, int32_t cap, bool add_bos, bool parse_special);

/* The raw bytes of one token as it appears in text (SPM "▁" -> " ", <0xNN> -> byte,
 * byte-level BPE decoded). Control tokens give "" unless `special` is true.
 * Returns the byte count (may exceed cap: nothing beyond cap is written) or negative status. */
int32_t wisp_token_to_piece(const wisp_model *m, wisp_token t, char *buf, int32_t cap, bool special);
/* The vocabulary string of a token as stored in the GGUF (e.g. "▁Once"), or NULL. */
const char *wisp_token_text(const wisp_model *m, wisp_token t);
/* True for end-of-generation tokens (EOS, EOT, <|im_end|>, ...). */
bool wisp_token_is_eog(const wisp_model *m, wisp_token t);

/* Streaming detokenizer: feed tokens one at a time, get only complete UTF-8 back.
 * Bytes of a character split across tokens are held until it is complete; invalid
 * sequences come out as U+FFFD. The leading space SentencePiece adds to the first
 * token is removed (as llama.cpp does). */
typedef struct wisp_detok {
    const wisp_model *model;
    unsigned char pending[8];
    int n_pending;
    bool first;
    bool special;
} wisp_detok;
void wisp_detok_init(wisp_detok *d, const wisp_model *m, bool special);
/* Appends the text for token t to buf (at most cap bytes); returns bytes written or
 * negative status (-WISP_ERR_INVALID_ARG if cap is too small; nothing is consumed then, so
 * retry bigger. 64 is not always enough: BPE vocabularies have 128- and 256-byte pieces, and
 * invalid bytes become 3-byte U+FFFD: 3 * (token_to_piece count + 8) always suffices). */
int32_t wisp_detok_push(wisp_detok *d, wisp_token t, char *buf, int32_t cap);
/* Flushes held bytes (as U+FFFD). */
int32_t wisp_detok_flush(wisp_detok *d, char *buf, int32_t cap);

/* ---------------------------------------------------------------- context */

typedef struct wisp_context_params {
    uint32_t n_ctx;       /* context window in tokens; 0 = min(model's trained length, 4096) */
    uint32_t n_batch;     /* max tokens per forward chunk during prefill (default 64) */
    uint32_t n_threads;   /* worker threads (default 1) */
    bool all_logits;      /* keep logits for every token of a decode call (teacher forcing) */
} wisp_context_params;

wisp_context_params wisp_context_default_params(void);

wisp_status wisp_context_init(const wisp_model *m, const wisp_context_params *p,
                              wisp_context **out, char *err, size_t err_len);
void wisp_context_free(wisp_context *c);
const char *wisp_context_last_error(const wisp_context *c);
uint32_t wisp_context_n_ctx(const wisp_context *c);
/* Number of positions currently in the KV cache. */
uint32_t wisp_context_n_past(const wisp_context *c);
/* Forget positions >= n_past (0 clears everything). */
wisp_status wisp_context_truncate(wisp_context *c, uint32_t n_past);

/* Evaluate n tokens at positions n_past..n_past+n-1, appending them to the KV cache.
 * Splits into chunks of n_batch internally. Afterwards wisp_get_logits(c, -1) holds the
 * logits after the last token; with all_logits, wisp_get_logits(c, i) those after the
 * i-th token of this call. Fails with WISP_ERR_CONTEXT_FULL (and changes nothing) when
 * n_past + n > n_ctx. */
wisp_status wisp_decode(wisp_context *c, const wisp_token *tokens, uint32_t n);
/* Logits (n_vocab floats) for token i of the last decode call; i = -1 means the last. NULL if absent. */
const float *wisp_get_logits(const wisp_context *c, int32_t i);

/* Interrupt hook checked between chunks/layers: return true to abort (WISP_ERR_ABORTED). */
void wisp_context_set_abort(wisp_context *c, bool (*should_abort)(void *user), void *user);

/* ---------------------------------------------------------------- sampler */

typedef struct wisp_sampler_params {
    float temperature;      /* 0: greedy (argmax); must be >= 0 */
    int32_t top_k;          /* <= 0: off */
    float top_p;            /* 1.0: off; must be in (0, 1] */
    float min_p;            /* 0.0: off; in [0, 1] */
    float repeat_penalty;   /* 1.0: off; > 0 */
    int32_t repeat_last_n;  /* window of previous tokens penalised (default 64) */
    uint64_t seed;
} wisp_sampler_params;

typedef struct wisp_sampler wisp_sampler;

wisp_sampler_params wisp_sampler_default_params(void);
/* Validates the params (clear error in err on bad values). */
wisp_status wisp_sampler_init(const wisp_sampler_params *p, uint32_t n_vocab,
                              wisp_sampler **out, char *err, size_t err_len);
void wisp_sampler_free(wisp_sampler *s);
/* Pick a token from logits (n_vocab floats; not modified). */
wisp_token wisp_sampler_sample(wisp_sampler *s, const float *logits);
/* Record a token in the repetition window (prompt tokens and generated ones). */
void wisp_sampler_accept(wisp_sampler *s, wisp_token t);
void wisp_sampler_reset(wisp_sampler *s);

#ifdef __cplusplus
}
#endif
#endif /* WISP_H */
