/* tokenizer_internal.h — the vocabulary's in-memory layout and the helpers shared by
 * tokenizer.c (loading, special tokens, pieces), tokenizer_spm.c and tokenizer_bpe.c. */
#ifndef WISP_TOKENIZER_INTERNAL_H
#define WISP_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* Token attributes: bit flags with llama.cpp's llama_token_attr values, because
 * llama.cpp itself mixes them (e.g. a USER_DEFINED token can gain CONTROL). */
enum {
    WISP_ATTR_UNDEFINED = 0,
    WISP_ATTR_UNKNOWN = 1 << 0,
    WISP_ATTR_UNUSED = 1 << 1,
    WISP_ATTR_NORMAL = 1 << 2,
    WISP_ATTR_CONTROL = 1 << 3,
    WISP_ATTR_USER_DEFINED = 1 << 4,
    WISP_ATTR_BYTE = 1 << 5,
    WISP_ATTR_NORMALIZED = 1 << 6,
    WISP_ATTR_LSTRIP = 1 << 7,
    WISP_ATTR_RSTRIP = 1 << 8,
    WISP_ATTR_SINGLE_WORD = 1 << 9,
};

typedef enum wisp_vocab_type { WISP_VOCAB_SPM = 1, WISP_VOCAB_BPE = 2 } wisp_vocab_type;

/* Pre-tokenizer families: each is one sequence of split stages (tokenizer_bpe.c). */
typedef enum wisp_pre_type {
    WISP_PRE_DEFAULT = 0, /* llama.cpp's fallback regex list for BPE without a known pre */
    WISP_PRE_GPT2,        /* GPT-2 regex */
    WISP_PRE_LLAMA3,      /* Llama 3 regex (digits in groups of up to 3) */
    WISP_PRE_QWEN2,       /* Llama 3 regex with single digits */
    WISP_PRE_STARCODER,   /* single digits, then the GPT-2 regex */
} wisp_pre_type;

/* Open-addressing hash table from byte strings (stored in the vocab arena) to int32. */
typedef struct wisp_strmap {
    uint32_t *slot;   /* entry index + 1; 0 = empty */
    uint32_t mask;    /* capacity - 1 (capacity is a power of two) */
} wisp_strmap;

struct wisp_vocab {
    wisp_vocab_type type;
    wisp_pre_type pre_type;
    char model_name[16];
    char pre_name[64];

    uint32_t n_tokens;
    char *arena;              /* every token text and merge string, each NUL-terminated (< 4 GiB) */
    uint32_t *text_off;       /* token i's text is arena + text_off[i], text_len[i] bytes */
    uint32_t *text_len;
    float *score;
    uint16_t *attr;
    wisp_strmap token_map;    /* text -> token id */

    uint32_t n_merges;
    uint32_t *merge_off;      /* merge r is "left right" at arena + merge_off[r] */
    uint32_t *merge_len;
    wisp_strmap merge_map;    /* "left right" -> rank */

    char *pieces;             /* token_to_piece(special = true) of every token (< 4 GiB) */
    uint32_t *piece_off;
    uint32_t *piece_len;

    int32_t *special;         /* CONTROL/USER_DEFINED/UNKNOWN ids, longest text first */
    uint32_t n_special;

    int32_t *eog;             /* sorted end-of-generation ids */
    uint32_t n_eog;

    int32_t byte_token[256];  /* SPM byte-fallback token of each byte (-1: none) */

    wisp_token bos, eos, eot, eom, unk, sep, pad, mask;
    wisp_token fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
    bool add_bos, add_eos, add_space_prefix, ignore_merges;
    uint32_t max_token_len;
};

static inline const char *wisp_vocab_text(const wisp_vocab *v, int32_t id) {
    return v->arena + v->text_off[id];
}

/* Hash-table lookups; -1 when absent. */
int32_t wisp_vocab_find(const wisp_vocab *v, const char *s, size_t len);
int32_t wisp_vocab_merge_rank(const wisp_vocab *v, const char *l, size_t llen, const char *r,
                              size_t rlen);

/* A growable array of token ids; `oom` records a failed allocation. */
typedef struct wisp_tokbuf {
    int32_t *v;
    size_t n, cap;
    bool oom;
} wisp_tokbuf;
void wisp_tokbuf_push(wisp_tokbuf *b, int32_t t);

/* A binary max-heap of candidate merges, ordered by prio (higher first), then by the
 * left symbol's index (lower first): the order of both of llama.cpp's work queues. */
typedef struct wisp_merge_cand {
    double prio;
    int32_t left, right;
    uint32_t size;       /* byte length of left+right when the candidate was made */
} wisp_merge_cand;
typedef struct wisp_merge_heap {
    wisp_merge_cand *v;
    size_t n, cap;
} wisp_merge_heap;
bool wisp_merge_heap_push(wisp_merge_heap *h, wisp_merge_cand c);
wisp_merge_cand wisp_merge_heap_pop(wisp_merge_heap *h);

/* A symbol: a byte range of the text being merged, in a doubly linked list. */
typedef struct wisp_symbol {
    int32_t prev, next;
    uint32_t off, n;     /* n == 0: merged away */
} wisp_symbol;

/* Scratch memory reused across the fragments/words of one tokenize call. */
typedef struct wisp_tok_scratch {
    char *buf;               /* text being merged (escaped SPM text or byte-encoded word) */
    size_t buf_cap;
    wisp_symbol *sym;
    size_t sym_cap;
    wisp_merge_heap heap;
    uint32_t *cpts;          /* codepoints of a BPE fragment */
    uint32_t *cpt_off;       /* byte offset of each codepoint (+1 entry for the end) */
    size_t cpt_cap;
    size_t *words, *words2;  /* pre-tokenizer chunk lengths, in codepoints */
    size_t words_cap;
} wisp_tok_scratch;
void wisp_tok_scratch_free(wisp_tok_scratch *s);
bool wisp_scratch_reserve(void **p, size_t *cap, size_t need, size_t elem);
/* Splits s->buf[0, len) into one linked symbol per UTF-8 character (a truncated
 * sequence at the end is one symbol), the starting point of both merge algorithms.
 * Returns the symbol count, or 0 with *ok false when out of memory. */
size_t wisp_symbols_from_utf8(wisp_tok_scratch *s, size_t len, bool *ok);

/* Tokenize one fragment of plain text (no special tokens) and append the ids.
 * Return false on OOM. The SPM variant does the escaping and merging; the caller adds
 * the leading space. */
bool wisp_spm_tokenize(const wisp_vocab *v, wisp_tok_scratch *s, const char *text, size_t len,
                       bool add_space, wisp_tokbuf *out);
bool wisp_bpe_tokenize(const wisp_vocab *v, wisp_tok_scratch *s, const char *text, size_t len,
                       wisp_tokbuf *out);

/* Pre-tokenizer, exposed for tests: splits the codepoints cpts[0..n) into words as
 * `pre` does and writes the word lengths (in codepoints) to words; returns their count,
 * or -1 on OOM. */
int64_t wisp_pretokenize(wisp_pre_type pre, const uint32_t *cpts, size_t n, size_t **words,
                         size_t **words2, size_t *cap);

#endif
