/* tokenizer.h — vocabulary from GGUF metadata and the two tokenizer families:
 * SentencePiece-style (tokenizer.ggml.model = "llama") and byte-level BPE
 * ("gpt2", with the pre-tokenizer named by tokenizer.ggml.pre). Behaviour matches
 * llama.cpp's llama_tokenize / llama_token_to_piece. */
#ifndef WISP_TOKENIZER_H
#define WISP_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "wisp.h"

typedef struct wisp_vocab wisp_vocab;

/* Reads tokenizer.* keys. Fails with WISP_ERR_FORMAT (bad/missing keys) or
 * WISP_ERR_UNSUPPORTED (unknown tokenizer model or pre-tokenizer), message in err. */
wisp_status wisp_vocab_load(const wisp_gguf *g, wisp_vocab **out, char *err, size_t err_len);
void wisp_vocab_free(wisp_vocab *v);

uint32_t wisp_vocab_n_tokens(const wisp_vocab *v);
const char *wisp_vocab_model_name(const wisp_vocab *v);  /* "llama" | "gpt2" */
const char *wisp_vocab_pre_name(const wisp_vocab *v);    /* "default", "llama-bpe", "qwen2", ... */
wisp_token wisp_vocab_bos(const wisp_vocab *v);          /* -1 if none */
wisp_token wisp_vocab_eos(const wisp_vocab *v);
wisp_token wisp_vocab_eot(const wisp_vocab *v);
bool wisp_vocab_add_bos(const wisp_vocab *v);
bool wisp_vocab_is_eog(const wisp_vocab *v, wisp_token t);
const char *wisp_vocab_token_text(const wisp_vocab *v, wisp_token t);

/* Same contracts as wisp_tokenize / wisp_token_to_piece in wisp.h. */
int32_t wisp_vocab_tokenize(const wisp_vocab *v, const char *text, size_t len,
                            wisp_token *out, int32_t cap, bool add_bos, bool parse_special);
int32_t wisp_vocab_token_to_piece(const wisp_vocab *v, wisp_token t, char *buf, int32_t cap,
                                  bool special);

/* Whether the vocabulary prepends a space to text (SentencePiece add_space_prefix). */
bool wisp_vocab_add_space_prefix(const wisp_vocab *v);

/* The streaming detokenizer of wisp.h at the vocabulary level (wisp_detok_* call these
 * with the model's vocabulary; d->model is not used here). To continue after text that
 * was already shown (e.g. a prompt), set d->first = false after init: then the first
 * piece keeps its leading space. */
void wisp_vocab_detok_init(wisp_detok *d, bool special);
int32_t wisp_vocab_detok_push(const wisp_vocab *v, wisp_detok *d, wisp_token t, char *buf, int32_t cap);
int32_t wisp_vocab_detok_flush(wisp_detok *d, char *buf, int32_t cap);

#endif
