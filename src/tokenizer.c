/* tokenizer.c — the vocabulary: loading tokenizer.* metadata (with llama.cpp's fix-ups of
 * token attributes and end-of-generation tokens), special-token splitting, tokenize
 * dispatch, token_to_piece and the streaming UTF-8-safe detokenizer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "tokenizer_internal.h"
#include "unicode.h"
#include "util.h"

/* ------------------------------------------------------------------ small containers */

bool wisp_scratch_reserve(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return false;
        nc *= 2;
    }
    if (nc > SIZE_MAX / elem) return false;
    void *q = realloc(*p, nc * elem);
    if (!q) return false;
    *p = q;
    *cap = nc;
    return true;
}

size_t wisp_symbols_from_utf8(wisp_tok_scratch *s, size_t len, bool *ok) {
    size_t nsym = 0;
    for (size_t off = 0; off < len; nsym++) {
        size_t n = wisp_utf8_seq_len((unsigned char)s->buf[off]);
        off += n < len - off ? n : len - off;
    }
    *ok = wisp_scratch_reserve((void **)&s->sym, &s->sym_cap, nsym, sizeof(wisp_symbol));
    if (!*ok) return 0;
    size_t i = 0;
    for (size_t off = 0; off < len; i++) {
        size_t n = wisp_utf8_seq_len((unsigned char)s->buf[off]);
        if (n > len - off) n = len - off;
        s->sym[i].off = (uint32_t)off;
        s->sym[i].n = (uint32_t)n;
        s->sym[i].prev = (int32_t)i - 1;
        off += n;
        s->sym[i].next = off == len ? -1 : (int32_t)i + 1;
    }
    return nsym;
}

void wisp_tok_scratch_free(wisp_tok_scratch *s) {
    free(s->buf);
    free(s->sym);
    free(s->heap.v);
    free(s->cpts);
    free(s->cpt_off);
    free(s->words);
    free(s->words2);
    memset(s, 0, sizeof *s);
}

void wisp_tokbuf_push(wisp_tokbuf *b, int32_t t) {
    if (b->oom) return;
    if (!wisp_scratch_reserve((void **)&b->v, &b->cap, b->n + 1, sizeof(int32_t))) {
        b->oom = true;
        return;
    }
    b->v[b->n++] = t;
}

/* a before b in the heap's pop order */
static bool cand_before(const wisp_merge_cand *a, const wisp_merge_cand *b) {
    return a->prio > b->prio || (a->prio == b->prio && a->left < b->left);
}

bool wisp_merge_heap_push(wisp_merge_heap *h, wisp_merge_cand c) {
    if (!wisp_scratch_reserve((void **)&h->v, &h->cap, h->n + 1, sizeof(wisp_merge_cand))) return false;
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_before(&c, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = c;
    return true;
}

wisp_merge_cand wisp_merge_heap_pop(wisp_merge_heap *h) {
    wisp_merge_cand top = h->v[0];
    wisp_merge_cand last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= h->n) break;
        size_t best = l;
        if (l + 1 < h->n && cand_before(&h->v[l + 1], &h->v[l])) best = l + 1;
        if (!cand_before(&h->v[best], &last)) break;
        h->v[i] = h->v[best];
        i = best;
    }
    if (h->n > 0) h->v[i] = last;
    return top;
}

/* ------------------------------------------------------------------ string hash maps */

/* FNV-1a, streamed so a merge key "left right" can be hashed without building it. */
#define FNV_INIT 2166136261u
static inline uint32_t fnv_add(uint32_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

/* Capacity: the smallest power of two with a load factor of at most 2/3 (linear probing
 * stays short; a 151,936-token vocabulary gets 262,144 slots, 1 MiB, rather than 2 MiB). */
static bool strmap_init(wisp_strmap *m, size_t n) {
    size_t cap = 16;
    while (cap < n + n / 2) cap *= 2;
    m->slot = (uint32_t *)calloc(cap, sizeof(uint32_t));
    m->mask = (uint32_t)(cap - 1);
    return m->slot != NULL;
}

/* Inserts entry e (key arena+off[e], len[e]). When the key already exists, `replace`
 * decides whether the new entry takes its place. */
static void strmap_insert(wisp_strmap *m, const char *arena, const uint32_t *off, const uint32_t *len,
                          uint32_t e, bool replace) {
    const char *k = arena + off[e];
    uint32_t h = fnv_add(FNV_INIT, k, len[e]) & m->mask;
    for (;;) {
        uint32_t s = m->slot[h];
        if (s == 0) {
            m->slot[h] = e + 1;
            return;
        }
        uint32_t o = s - 1;
        if (len[o] == len[e] && memcmp(arena + off[o], k, len[e]) == 0) {
            if (replace) m->slot[h] = e + 1;
            return;
        }
        h = (h + 1) & m->mask;
    }
}

int32_t wisp_vocab_find(const wisp_vocab *v, const char *s, size_t len) {
    uint32_t h = fnv_add(FNV_INIT, s, len) & v->token_map.mask;
    for (;;) {
        uint32_t e = v->token_map.slot[h];
        if (e == 0) return -1;
        e--;
        if (v->text_len[e] == len && memcmp(v->arena + v->text_off[e], s, len) == 0) return (int32_t)e;
        h = (h + 1) & v->token_map.mask;
    }
}

int32_t wisp_vocab_merge_rank(const wisp_vocab *v, const char *l, size_t llen, const char *r, size_t rlen) {
    if (v->n_merges == 0) return -1;
    uint32_t h = fnv_add(fnv_add(fnv_add(FNV_INIT, l, llen), " ", 1), r, rlen) & v->merge_map.mask;
    size_t klen = llen + 1 + rlen;
    for (;;) {
        uint32_t e = v->merge_map.slot[h];
        if (e == 0) return -1;
        e--;
        const char *k = v->arena + v->merge_off[e];
        if (v->merge_len[e] == klen && memcmp(k, l, llen) == 0 && k[llen] == ' ' &&
            memcmp(k + llen + 1, r, rlen) == 0)
            return (int32_t)e;
        h = (h + 1) & v->merge_map.mask;
    }
}

/* ------------------------------------------------------------------ loading */

void wisp_vocab_free(wisp_vocab *v) {
    if (!v) return;
    free(v->arena);
    free(v->text_off);
    free(v->text_len);
    free(v->score);
    free(v->attr);
    free(v->token_map.slot);
    free(v->merge_off);
    free(v->merge_len);
    free(v->merge_map.slot);
    free(v->pieces);
    free(v->piece_off);
    free(v->piece_len);
    free(v->special);
    free(v->eog);
    free(v);
}

static bool text_is(const wisp_vocab *v, int32_t id, const char *s) {
    size_t n = strlen(s);
    return v->text_len[id] == n && memcmp(wisp_vocab_text(v, id), s, n) == 0;
}

/* Finds the first token (in list order) whose text is in the list; -1 if none. */
static int32_t find_first_of(const wisp_vocab *v, const char *const *list) {
    for (size_t i = 0; list[i]; i++) {
        int32_t id = wisp_vocab_find(v, list[i], strlen(list[i]));
        if (id >= 0) return id;
    }
    return -1;
}

/* Pre-tokenizer names, mapped as llama.cpp's llama_vocab::impl::load maps them. Only the
 * names whose regex lists wisp implements are accepted. */
typedef struct pre_name_map {
    const char *name;
    wisp_pre_type type;
    bool ignore_merges;
    bool add_bos;
} pre_name_map;

static const pre_name_map k_pre_names[] = {
    {"default", WISP_PRE_DEFAULT, false, false},
    {"llama3", WISP_PRE_LLAMA3, true, true},
    {"llama-v3", WISP_PRE_LLAMA3, true, true},
    {"llama-bpe", WISP_PRE_LLAMA3, true, true},
    {"falcon3", WISP_PRE_LLAMA3, true, true},
    {"falcon-h1", WISP_PRE_LLAMA3, true, true},
    {"pixtral", WISP_PRE_LLAMA3, true, true},
    {"midm-2.0", WISP_PRE_LLAMA3, true, true},
    {"lfm2", WISP_PRE_LLAMA3, true, true},
    {"dbrx", WISP_PRE_LLAMA3, false, false},
    {"smaug-bpe", WISP_PRE_LLAMA3, false, false},
    {"gpt-2", WISP_PRE_GPT2, false, false},
    {"phi-2", WISP_PRE_GPT2, false, false},
    {"mpt", WISP_PRE_GPT2, false, false},
    {"olmo", WISP_PRE_GPT2, false, false},
    {"jais", WISP_PRE_GPT2, false, false},
    {"trillion", WISP_PRE_GPT2, false, false},
    {"granite-docling", WISP_PRE_GPT2, false, false},
    {"exaone4", WISP_PRE_GPT2, false, false},
    {"gigachat", WISP_PRE_GPT2, false, false},
    {"a.x-4.0", WISP_PRE_GPT2, false, false},
    {"mellum", WISP_PRE_GPT2, false, false},
    {"qwen2", WISP_PRE_QWEN2, false, false},
    {"deepseek-r1-qwen", WISP_PRE_QWEN2, false, false},
    {"megrez", WISP_PRE_QWEN2, false, false},
    {"stablelm2", WISP_PRE_QWEN2, false, false},
    {"hunyuan", WISP_PRE_QWEN2, false, false},
    {"starcoder", WISP_PRE_STARCODER, false, false},
    {"smollm", WISP_PRE_STARCODER, false, false},
    {"refact", WISP_PRE_STARCODER, false, false},
    {"command-r", WISP_PRE_STARCODER, false, false},
    {"codeshell", WISP_PRE_STARCODER, false, false},
    {"exaone", WISP_PRE_STARCODER, false, false},
    {"minerva-7b", WISP_PRE_STARCODER, false, false},
};

/* Token-text lists from llama.cpp's vocab loader (its workaround for models whose
 * metadata lacks these ids). */
static const char *const k_eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
    "<end_of_utterance>", NULL};
static const char *const k_eom_texts[] = {"<|eom_id|>", NULL};
static const char *const k_fim_pre_texts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>",
    "<PRE>", "\xe2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>", NULL};
static const char *const k_fim_suf_texts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81hole\xef\xbd\x9c>",
    "<SUF>", "\xe2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>", NULL};
static const char *const k_fim_mid_texts[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>",
    "<MID>", "\xe2\x96\x81<MID>", "<|code_middle|>", "<|middle|>", NULL};
static const char *const k_fim_pad_texts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL};
static const char *const k_fim_rep_texts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
                                              "<reponame>", NULL};
static const char *const k_fim_sep_texts[] = {"<|file_sep|>", NULL};
static const char *const k_eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", "[e~[", NULL};

typedef struct id_set {
    int32_t *v;
    size_t n, cap;
    bool oom;
} id_set;

static bool id_set_has(const id_set *s, int32_t id) {
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == id) return true;
    return false;
}
static void id_set_add(id_set *s, int32_t id) {
    if (id < 0 || id_set_has(s, id) || s->oom) return;
    if (!wisp_scratch_reserve((void **)&s->v, &s->cap, s->n + 1, sizeof(int32_t))) {
        s->oom = true;
        return;
    }
    s->v[s->n++] = id;
}
static void id_set_del(id_set *s, int32_t id) {
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == id) {
            s->v[i] = s->v[--s->n];
            return;
        }
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Marks a token found by its text as CONTROL, as llama.cpp does for EOT/EOM/FIM/EOG. */
static void make_control(wisp_vocab *v, int32_t id) {
    if (id >= 0) v->attr[id] |= WISP_ATTR_CONTROL;
}

/* Reads an optional token-id key; out-of-range ids are ignored (llama.cpp warns and keeps
 * the default). */
static void read_id_key(const wisp_gguf *g, const wisp_vocab *v, const char *key, wisp_token *id) {
    if (*id >= 0 && (uint32_t)*id >= v->n_tokens) *id = -1;  /* default out of range: disabled */
    uint32_t x;
    if (!wisp_gguf_get_u32(g, key, &x)) return;
    if (x < v->n_tokens) *id = (wisp_token)x;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The byte of a <0xNN> token (as llama.cpp: strtol on the two characters at offset 3). */
static int byte_token_value(const char *t, size_t n) {
    int v = 0;
    for (size_t i = 3; i < 5 && i < n; i++) {
        int h = hexval(t[i]);
        if (h < 0) break;
        v = v * 16 + h;
    }
    return v & 0xFF;
}

/* Decodes UTF-8 leniently like llama.cpp's unicode_cpts_from_utf8 (for vocab strings,
 * which are not validated): a malformed byte becomes U+FFFD. */
static size_t decode_lenient(const unsigned char *s, size_t len, uint32_t *cpt) {
    size_t n = wisp_utf8_decode(s, len, cpt);
    if (n) return n;
    unsigned char c = s[0];
    /* llama.cpp accepts overlong forms and surrogates; keep that for vocab text */
    size_t want = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (want && want <= len) {
        uint32_t v = c & (0x7F >> want);
        size_t i;
        for (i = 1; i < want && (s[i] & 0xC0) == 0x80; i++) v = (v << 6) | (s[i] & 0x3F);
        if (i == want) {
            *cpt = v;
            return want;
        }
    }
    *cpt = 0xFFFD;
    return 1;
}

/* Appends the special=true piece of token id to *buf (llama.cpp's token_to_piece). */
static bool build_piece(const wisp_vocab *v, int32_t id, char **buf, size_t *len, size_t *cap) {
    const char *t = wisp_vocab_text(v, id);
    size_t n = v->text_len[id];
    uint16_t a = v->attr[id];
    /* worst case: [UNK_BYTE_0x..] expansion of the BPE path */
    size_t need = *len + 16 + n * 8;
    if (!wisp_scratch_reserve((void **)buf, cap, need, 1)) return false;
    char *o = *buf + *len;
    size_t k = 0;
    if (a & (WISP_ATTR_UNKNOWN | WISP_ATTR_CONTROL | WISP_ATTR_USER_DEFINED)) {
        memcpy(o, t, n);
        k = n;
    } else if (a & WISP_ATTR_NORMAL) {
        if (v->type == WISP_VOCAB_SPM) {
            for (size_t i = 0; i < n;) {
                if (i + 3 <= n && (unsigned char)t[i] == 0xE2 && (unsigned char)t[i + 1] == 0x96 &&
                    (unsigned char)t[i + 2] == 0x81) {
                    o[k++] = ' ';
                    i += 3;
                } else {
                    o[k++] = t[i++];
                }
            }
        } else {
            const unsigned char *u = (const unsigned char *)t;
            for (size_t i = 0; i < n;) {
                uint32_t cpt;
                size_t cl = decode_lenient(u + i, n - i, &cpt);
                int b = wisp_gpt2_cpt_to_byte(cpt);
                if (b >= 0) {
                    o[k++] = (char)b;
                } else {
                    /* llama.cpp's llama_decode_text writes this marker (with the whole
                     * token text) for codepoints outside the byte map */
                    char enc[4];
                    size_t el = wisp_utf8_encode(cpt > 0x10FFFF ? 0xFFFD : cpt, enc);
                    size_t need2 = *len + k + 16 + 2 * el + n + (n - i) * 8;
                    if (!wisp_scratch_reserve((void **)buf, cap, need2, 1)) return false;
                    o = *buf + *len;
                    memcpy(o + k, "[UNK_BYTE_0x", 12);
                    k += 12;
                    for (size_t j = 0; j < el; j++) {
                        static const char hx[] = "0123456789abcdef";
                        o[k++] = hx[(unsigned char)enc[j] >> 4];
                        o[k++] = hx[(unsigned char)enc[j] & 15];
                    }
                    memcpy(o + k, t, n);
                    k += n;
                    o[k++] = ']';
                }
                i += cl;
            }
        }
    } else if (a & WISP_ATTR_BYTE) {
        o[k++] = (char)byte_token_value(t, n);
    }
    *len += k;
    return true;
}

static bool contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && ((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]) == needle[i]) i++;
        if (i == n) return true;
    }
    return false;
}

#define LOAD_FAIL(st, ...)                                      \
    do {                                                        \
        wisp_set_err(err, err_len, st, __VA_ARGS__);            \
        wisp_vocab_free(v);                                     \
        free(eog.v);                                            \
        return st;                                              \
    } while (0)

wisp_status wisp_vocab_load(const wisp_gguf *g, wisp_vocab **out, char *err, size_t err_len) {
    id_set eog = {0};
    wisp_vocab *v = NULL;
    if (!out) return wisp_set_err(err, err_len, WISP_ERR_INVALID_ARG, "no output pointer");
    *out = NULL;
    if (!g) return wisp_set_err(err, err_len, WISP_ERR_INVALID_ARG, "no GGUF");
    v = (wisp_vocab *)calloc(1, sizeof *v);
    if (!v) LOAD_FAIL(WISP_ERR_OOM, "out of memory");

    /* ---- tokenizer model and pre-tokenizer */
    wisp_gguf_str model;
    if (!wisp_gguf_get_str(g, "tokenizer.ggml.model", &model))
        LOAD_FAIL(WISP_ERR_FORMAT, "missing tokenizer.ggml.model (string)");
    if (model.len == 5 && memcmp(model.str, "llama", 5) == 0) {
        v->type = WISP_VOCAB_SPM;
        strcpy(v->model_name, "llama");
    } else if (model.len == 4 && memcmp(model.str, "gpt2", 4) == 0) {
        v->type = WISP_VOCAB_BPE;
        strcpy(v->model_name, "gpt2");
    } else {
        LOAD_FAIL(WISP_ERR_UNSUPPORTED, "unsupported tokenizer model '%.*s' (wisp supports 'llama' and 'gpt2')",
                  (int)(model.len > 64 ? 64 : model.len), model.str);
    }
    wisp_gguf_str pre = {"", 0};
    bool have_pre = wisp_gguf_get_str(g, "tokenizer.ggml.pre", &pre) && pre.len > 0;
    snprintf(v->pre_name, sizeof v->pre_name, "%.*s", have_pre ? (int)(pre.len > 63 ? 63 : pre.len) : 7,
             have_pre ? pre.str : "default");

    /* per-type defaults, as llama.cpp */
    if (v->type == WISP_VOCAB_SPM) {
        v->bos = 1; v->eos = 2; v->unk = 0;
        v->add_space_prefix = true;
        v->add_bos = true;
        v->pre_type = WISP_PRE_DEFAULT;
    } else {
        v->bos = 11; v->eos = 11; v->unk = -1;
        v->add_space_prefix = false;
        v->pre_type = WISP_PRE_DEFAULT;
        if (have_pre) {
            size_t i;
            for (i = 0; i < sizeof k_pre_names / sizeof k_pre_names[0]; i++) {
                if (strlen(k_pre_names[i].name) == pre.len && memcmp(k_pre_names[i].name, pre.str, pre.len) == 0)
                    break;
            }
            if (i == sizeof k_pre_names / sizeof k_pre_names[0])
                LOAD_FAIL(WISP_ERR_UNSUPPORTED, "unsupported pre-tokenizer tokenizer.ggml.pre = '%.*s'",
                          (int)(pre.len > 64 ? 64 : pre.len), pre.str);
            v->pre_type = k_pre_names[i].type;
            v->ignore_merges = k_pre_names[i].ignore_merges;
            v->add_bos = k_pre_names[i].add_bos;
        }
    }
    v->eot = v->eom = v->sep = v->pad = v->mask = -1;
    v->fim_pre = v->fim_suf = v->fim_mid = v->fim_pad = v->fim_rep = v->fim_sep = -1;
    {
        bool b;
        if (wisp_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b)) v->add_space_prefix = b;
    }

    /* ---- tokens, scores, types */
    uint32_t et;
    uint64_t n;
    const void *data;
    if (!wisp_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &data) || et != WISP_GGUF_STRING)
        LOAD_FAIL(WISP_ERR_FORMAT, "missing tokenizer.ggml.tokens (array of strings)");
    if (n == 0 || n > 0x7FFFFFFE) LOAD_FAIL(WISP_ERR_FORMAT, "tokenizer.ggml.tokens has %llu entries",
                                            (unsigned long long)n);
    const wisp_gguf_str *toks = (const wisp_gguf_str *)data;
    v->n_tokens = (uint32_t)n;

    const float *fscores = NULL;
    const int32_t *iscores = NULL;
    if (wisp_gguf_find_key(g, "tokenizer.ggml.scores") >= 0) {
        uint64_t ns;
        if (!wisp_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &ns, &data) ||
            (et != WISP_GGUF_FLOAT32 && et != WISP_GGUF_INT32))
            LOAD_FAIL(WISP_ERR_FORMAT, "tokenizer.ggml.scores is not an array of float32/int32");
        if (ns < n) LOAD_FAIL(WISP_ERR_FORMAT, "tokenizer.ggml.scores has %llu entries for %llu tokens",
                              (unsigned long long)ns, (unsigned long long)n);
        if (et == WISP_GGUF_FLOAT32) fscores = (const float *)data; else iscores = (const int32_t *)data;
    }
    const int32_t *types = NULL;
    if (wisp_gguf_find_key(g, "tokenizer.ggml.token_type") >= 0) {
        uint64_t nt;
        if (!wisp_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &nt, &data) || et != WISP_GGUF_INT32)
            LOAD_FAIL(WISP_ERR_FORMAT, "tokenizer.ggml.token_type is not an array of int32");
        if (nt < n) LOAD_FAIL(WISP_ERR_FORMAT, "tokenizer.ggml.token_type has %llu entries for %llu tokens",
                              (unsigned long long)nt, (unsigned long long)n);
        types = (const int32_t *)data;
    }
    const wisp_gguf_str *merges = NULL;
    uint64_t n_merges = 0;
    if (v->type == WISP_VOCAB_BPE) {
        if (!wisp_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n_merges, &data) || et != WISP_GGUF_STRING)
            LOAD_FAIL(WISP_ERR_FORMAT, "missing tokenizer.ggml.merges (array of strings)");
        if (n_merges > 0x7FFFFFFE) LOAD_FAIL(WISP_ERR_FORMAT, "too many merges");
        merges = (const wisp_gguf_str *)data;
    }

    /* one arena for all strings */
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l = toks[i].len ? toks[i].len : 24;  /* room for "[EMPTY_<id>]" */
        if (l > 0xFFFFFFFFu || !wisp_add_u64(total, l + 1, &total))
            LOAD_FAIL(WISP_ERR_FORMAT, "token %llu is too long", (unsigned long long)i);
    }
    for (uint64_t i = 0; i < n_merges; i++) {
        if (merges[i].len > 0xFFFFFFFFu || !wisp_add_u64(total, merges[i].len + 1, &total))
            LOAD_FAIL(WISP_ERR_FORMAT, "merge %llu is too long", (unsigned long long)i);
    }
    /* 32-bit offsets: no real vocabulary is near 4 GiB of text */
    if (total >= UINT32_MAX) LOAD_FAIL(WISP_ERR_FORMAT, "the vocabulary's strings take %llu bytes (limit 4 GiB)",
                                       (unsigned long long)total);
    v->arena = (char *)malloc((size_t)total + 1);
    v->text_off = (uint32_t *)malloc(n * sizeof(uint32_t));
    v->text_len = (uint32_t *)malloc(n * sizeof(uint32_t));
    v->score = (float *)malloc(n * sizeof(float));
    v->attr = (uint16_t *)malloc(n * sizeof(uint16_t));
    if (!v->arena || !v->text_off || !v->text_len || !v->score || !v->attr) LOAD_FAIL(WISP_ERR_OOM, "out of memory");
    uint64_t pos = 0;
    uint32_t max_len = 0;
    for (uint32_t i = 0; i < v->n_tokens; i++) {
        char *dst = v->arena + pos;
        size_t l;
        if (toks[i].len == 0) {
            l = (size_t)snprintf(dst, 25, "[EMPTY_%u]", i);  /* llama.cpp's name for empty tokens */
        } else {
            l = (size_t)toks[i].len;
            memcpy(dst, toks[i].str, l);
            dst[l] = 0;
        }
        v->text_off[i] = (uint32_t)pos;
        v->text_len[i] = (uint32_t)l;
        pos += l + 1;
        if (l > max_len) max_len = (uint32_t)l;
        v->score[i] = fscores ? fscores[i] : iscores ? (float)iscores[i] : 0.0f;
        uint16_t a = WISP_ATTR_NORMAL;
        if (types) {
            switch (types[i]) {
            case 1: a = WISP_ATTR_NORMAL; break;
            case 2: a = WISP_ATTR_UNKNOWN; break;
            case 3: a = WISP_ATTR_CONTROL; break;
            case 4: a = WISP_ATTR_USER_DEFINED; break;
            case 5: a = WISP_ATTR_UNUSED; break;
            case 6: a = WISP_ATTR_BYTE; break;
            default: a = WISP_ATTR_UNDEFINED; break;
            }
        }
        v->attr[i] = a;
    }
    v->max_token_len = max_len;
    if (!strmap_init(&v->token_map, v->n_tokens)) LOAD_FAIL(WISP_ERR_OOM, "out of memory");
    /* duplicate texts: the later id wins, as in llama.cpp before it rejected duplicates */
    for (uint32_t i = 0; i < v->n_tokens; i++)
        strmap_insert(&v->token_map, v->arena, v->text_off, v->text_len, i, true);

    if (n_merges > 0) {
        v->merge_off = (uint32_t *)malloc(n_merges * sizeof(uint32_t));
        v->merge_len = (uint32_t *)malloc(n_merges * sizeof(uint32_t));
        if (!v->merge_off || !v->merge_len || !strmap_init(&v->merge_map, n_merges))
            LOAD_FAIL(WISP_ERR_OOM, "out of memory");
        v->n_merges = (uint32_t)n_merges;
        for (uint32_t i = 0; i < v->n_merges; i++) {
            size_t l = (size_t)merges[i].len;
            memcpy(v->arena + pos, merges[i].str, l);
            v->arena[pos + l] = 0;
            v->merge_off[i] = (uint32_t)pos;
            v->merge_len[i] = (uint32_t)l;
            pos += l + 1;
            /* llama.cpp splits at the first space after the first byte; a merge without
             * one can never apply. The first of equal merges keeps its rank. */
            const char *sp = l > 1 ? (const char *)memchr(merges[i].str + 1, ' ', l - 1) : NULL;
            if (sp) strmap_insert(&v->merge_map, v->arena, v->merge_off, v->merge_len, i, false);
        }
    }

    /* ---- special token ids */
    read_id_key(g, v, "tokenizer.ggml.bos_token_id", &v->bos);
    read_id_key(g, v, "tokenizer.ggml.eos_token_id", &v->eos);
    read_id_key(g, v, "tokenizer.ggml.eot_token_id", &v->eot);
    read_id_key(g, v, "tokenizer.ggml.eom_token_id", &v->eom);
    read_id_key(g, v, "tokenizer.ggml.unknown_token_id", &v->unk);
    read_id_key(g, v, "tokenizer.ggml.seperator_token_id", &v->sep);
    read_id_key(g, v, "tokenizer.ggml.padding_token_id", &v->pad);
    read_id_key(g, v, "tokenizer.ggml.mask_token_id", &v->mask);
    read_id_key(g, v, "tokenizer.ggml.fim_pre_token_id", &v->fim_pre);
    read_id_key(g, v, "tokenizer.ggml.fim_suf_token_id", &v->fim_suf);
    read_id_key(g, v, "tokenizer.ggml.fim_mid_token_id", &v->fim_mid);
    read_id_key(g, v, "tokenizer.ggml.fim_pad_token_id", &v->fim_pad);
    read_id_key(g, v, "tokenizer.ggml.fim_rep_token_id", &v->fim_rep);
    read_id_key(g, v, "tokenizer.ggml.fim_sep_token_id", &v->fim_sep);
    read_id_key(g, v, "tokenizer.ggml.prefix_token_id", &v->fim_pre);
    read_id_key(g, v, "tokenizer.ggml.suffix_token_id", &v->fim_suf);
    read_id_key(g, v, "tokenizer.ggml.middle_token_id", &v->fim_mid);
    {
        bool b;
        if (wisp_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b)) v->add_bos = b;
        if (wisp_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b)) v->add_eos = b;
    }
    /* llama.cpp refuses add_bos without a BOS id; wisp simply adds nothing */
    if (v->bos < 0) v->add_bos = false;
    if (v->eos < 0) v->add_eos = false;

    /* ---- llama.cpp's detection of special tokens by text; each becomes CONTROL */
    if (v->eot < 0) { v->eot = find_first_of(v, k_eot_texts); make_control(v, v->eot); }
    if (v->eom < 0) { v->eom = find_first_of(v, k_eom_texts); make_control(v, v->eom); }
    if (v->fim_pre < 0) { v->fim_pre = find_first_of(v, k_fim_pre_texts); make_control(v, v->fim_pre); }
    if (v->fim_suf < 0) { v->fim_suf = find_first_of(v, k_fim_suf_texts); make_control(v, v->fim_suf); }
    if (v->fim_mid < 0) { v->fim_mid = find_first_of(v, k_fim_mid_texts); make_control(v, v->fim_mid); }
    if (v->fim_pad < 0) { v->fim_pad = find_first_of(v, k_fim_pad_texts); make_control(v, v->fim_pad); }
    if (v->fim_rep < 0) { v->fim_rep = find_first_of(v, k_fim_rep_texts); make_control(v, v->fim_rep); }
    if (v->fim_sep < 0) { v->fim_sep = find_first_of(v, k_fim_sep_texts); make_control(v, v->fim_sep); }

    /* control tokens named "unused..." are unused */
    for (uint32_t i = 0; i < v->n_tokens; i++) {
        if ((v->attr[i] & WISP_ATTR_CONTROL) && !(v->attr[i] & WISP_ATTR_UNUSED) &&
            strstr(wisp_vocab_text(v, (int32_t)i), "unused"))
            v->attr[i] |= WISP_ATTR_UNUSED;
    }

    /* end-of-generation set */
    id_set_add(&eog, v->fim_pad);
    id_set_add(&eog, v->fim_rep);
    id_set_add(&eog, v->fim_sep);
    for (size_t k = 0; k_eog_texts[k]; k++) {
        int32_t id = wisp_vocab_find(v, k_eog_texts[k], strlen(k_eog_texts[k]));
        if (id < 0) continue;
        id_set_add(&eog, id);
        make_control(v, id);
    }
    /* gpt-oss: these are always rendered */
    {
        static const char *const always[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL};
        for (size_t k = 0; always[k]; k++) {
            int32_t id = wisp_vocab_find(v, always[k], strlen(always[k]));
            if (id >= 0) v->attr[id] = WISP_ATTR_USER_DEFINED;
        }
    }
    id_set_add(&eog, v->eos);
    id_set_add(&eog, v->eot);
    id_set_add(&eog, v->eom);
    {
        /* o200k_harmony / solar-open: <|end|> is not an end of generation there */
        bool has_return = false, has_call = false, has_flush = false;
        int32_t end_id = -1;
        for (size_t k = 0; k < eog.n; k++) {
            int32_t id = eog.v[k];
            if (text_is(v, id, "<|return|>")) has_return = true;
            else if (text_is(v, id, "<|call|>") || text_is(v, id, "<|calls|>")) has_call = true;
            else if (text_is(v, id, "<|flush|>")) has_flush = true;
            else if (text_is(v, id, "<|end|>")) end_id = id;
        }
        if (end_id >= 0 && ((has_return && has_call) || (has_call && has_flush))) {
            id_set_del(&eog, end_id);
            v->attr[end_id] = WISP_ATTR_USER_DEFINED;
        }
        /* gemma4: </s> is not an end of generation when <|tool_response> is one */
        bool has_tool_response = false;
        int32_t s_id = -1;
        for (size_t k = 0; k < eog.n; k++) {
            if (text_is(v, eog.v[k], "<|tool_response>")) has_tool_response = true;
            else if (text_is(v, eog.v[k], "</s>")) s_id = eog.v[k];
        }
        if (has_tool_response && s_id >= 0) {
            id_set_del(&eog, s_id);
            v->attr[s_id] = WISP_ATTR_NORMAL;
        }
    }
    if (eog.oom) LOAD_FAIL(WISP_ERR_OOM, "out of memory");
    qsort(eog.v, eog.n, sizeof(int32_t), cmp_i32);
    v->eog = eog.v;
    v->n_eog = (uint32_t)eog.n;
    eog.v = NULL;

    /* ---- special tokens, longest first (the order tokenizer_st_partition tries them) */
    {
        uint32_t ns = 0;
        for (uint32_t i = 0; i < v->n_tokens; i++)
            if (v->attr[i] & (WISP_ATTR_CONTROL | WISP_ATTR_USER_DEFINED | WISP_ATTR_UNKNOWN)) ns++;
        v->special = (int32_t *)malloc((ns ? ns : 1) * sizeof(int32_t));
        if (!v->special) LOAD_FAIL(WISP_ERR_OOM, "out of memory");
        ns = 0;
        for (uint32_t i = 0; i < v->n_tokens; i++)
            if (v->attr[i] & (WISP_ATTR_CONTROL | WISP_ATTR_USER_DEFINED | WISP_ATTR_UNKNOWN))
                v->special[ns++] = (int32_t)i;
        v->n_special = ns;
        /* longest text first; llama.cpp's sort is unstable, ids break ties here */
        uint64_t *key = (uint64_t *)malloc((ns ? ns : 1) * sizeof(uint64_t));
        if (!key) LOAD_FAIL(WISP_ERR_OOM, "out of memory");
        for (uint32_t k = 0; k < ns; k++)
            key[k] = ((uint64_t)(0xFFFFFFFFu - v->text_len[v->special[k]]) << 32) | (uint32_t)v->special[k];
        qsort(key, ns, sizeof(uint64_t), cmp_u64);
        for (uint32_t k = 0; k < ns; k++) v->special[k] = (int32_t)(key[k] & 0xFFFFFFFFu);
        free(key);
    }

    /* ---- pieces (special = true), computed once */
    {
        size_t plen = 0, pcap = 0;
        v->piece_off = (uint32_t *)malloc(n * sizeof(uint32_t));
        v->piece_len = (uint32_t *)malloc(n * sizeof(uint32_t));
        if (!v->piece_off || !v->piece_len) LOAD_FAIL(WISP_ERR_OOM, "out of memory");
        for (uint32_t i = 0; i < v->n_tokens; i++) {
            size_t before = plen;
            if (!build_piece(v, (int32_t)i, &v->pieces, &plen, &pcap)) LOAD_FAIL(WISP_ERR_OOM, "out of memory");
            if (plen >= UINT32_MAX) LOAD_FAIL(WISP_ERR_FORMAT, "the vocabulary's pieces exceed 4 GiB");
            v->piece_off[i] = (uint32_t)before;
            v->piece_len[i] = (uint32_t)(plen - before);
        }
        if (!v->pieces) {
            v->pieces = (char *)malloc(1);
            if (!v->pieces) LOAD_FAIL(WISP_ERR_OOM, "out of memory");
        } else if (plen < pcap) {
            /* the buffer grew geometrically: give back what the pieces do not use */
            char *fit = (char *)realloc(v->pieces, plen ? plen : 1);
            if (fit) v->pieces = fit;
        }
    }

    /* ---- per-token lstrip/rstrip that llama.cpp sets by model name */
    {
        wisp_gguf_str name = {"", 0}, arch = {"", 0};
        char lname[128];
        wisp_gguf_get_str(g, "general.name", &name);
        wisp_gguf_get_str(g, "general.architecture", &arch);
        snprintf(lname, sizeof lname, "%.*s", (int)(name.len > 127 ? 127 : name.len), name.str);
        if (strstr(v->pre_name, "jina-v2-de") || strstr(v->pre_name, "jina-v2-es") ||
            strstr(v->pre_name, "jina-v2-code") ||
            (arch.len && (strstr(arch.str, "nomic-bert-moe") || strstr(arch.str, "jina-bert-v3")))) {
            int32_t id = wisp_vocab_find(v, "<mask>", 6);
            if (id >= 0) v->attr[id] |= WISP_ATTR_LSTRIP;
        } else if (contains_ci(lname, "phi-3") || contains_ci(lname, "phi3")) {
            for (uint32_t k = 0; k < v->n_special; k++) v->attr[v->special[k]] |= WISP_ATTR_RSTRIP;
            int32_t id = wisp_vocab_find(v, "</s>", 4);
            if (id >= 0) v->attr[id] |= WISP_ATTR_RSTRIP;
            static const char *const no_rstrip[] = {"<unk>", "<s>", "<|endoftext|>", NULL};
            for (size_t k = 0; no_rstrip[k]; k++) {
                id = wisp_vocab_find(v, no_rstrip[k], strlen(no_rstrip[k]));
                if (id >= 0) v->attr[id] &= (uint16_t)~WISP_ATTR_RSTRIP;
            }
        } else if (contains_ci(lname, "modern-bert")) {
            int32_t id = wisp_vocab_find(v, "[MASK]", 6);
            if (id >= 0) v->attr[id] |= WISP_ATTR_LSTRIP;
        }
    }

    /* ---- SPM byte fallback: <0xNN>, else the one-byte token */
    for (int b = 0; b < 256; b++) {
        v->byte_token[b] = -1;
        if (v->type != WISP_VOCAB_SPM) continue;
        char hx[7];
        snprintf(hx, sizeof hx, "<0x%02X>", b);
        int32_t id = wisp_vocab_find(v, hx, 6);
        if (id < 0) {
            char c = (char)b;
            id = wisp_vocab_find(v, &c, 1);
        }
        v->byte_token[b] = id;
    }

    *out = v;
    return WISP_OK;
}

/* ------------------------------------------------------------------ accessors */

uint32_t wisp_vocab_n_tokens(const wisp_vocab *v) { return v ? v->n_tokens : 0; }
const char *wisp_vocab_model_name(const wisp_vocab *v) { return v ? v->model_name : ""; }
const char *wisp_vocab_pre_name(const wisp_vocab *v) { return v ? v->pre_name : ""; }
wisp_token wisp_vocab_bos(const wisp_vocab *v) { return v ? v->bos : -1; }
wisp_token wisp_vocab_eos(const wisp_vocab *v) { return v ? v->eos : -1; }
wisp_token wisp_vocab_eot(const wisp_vocab *v) { return v ? v->eot : -1; }
bool wisp_vocab_add_bos(const wisp_vocab *v) { return v && v->add_bos; }
bool wisp_vocab_add_space_prefix(const wisp_vocab *v) { return v && v->add_space_prefix; }

bool wisp_vocab_is_eog(const wisp_vocab *v, wisp_token t) {
    if (!v || t < 0) return false;
    uint32_t lo = 0, hi = v->n_eog;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (v->eog[mid] < t) lo = mid + 1; else hi = mid;
    }
    return lo < v->n_eog && v->eog[lo] == t;
}

const char *wisp_vocab_token_text(const wisp_vocab *v, wisp_token t) {
    if (!v || t < 0 || (uint32_t)t >= v->n_tokens) return NULL;
    return wisp_vocab_text(v, t);
}

/* The piece of t (special=true cache) or "" when `special` hides it. */
static bool get_piece(const wisp_vocab *v, wisp_token t, bool special, const char **p, size_t *n) {
    if (!v || t < 0 || (uint32_t)t >= v->n_tokens) return false;
    if (!special && (v->attr[t] & (WISP_ATTR_UNKNOWN | WISP_ATTR_CONTROL))) {
        *p = "";
        *n = 0;
        return true;
    }
    *p = v->pieces + v->piece_off[t];
    *n = v->piece_len[t];
    return true;
}

int32_t wisp_vocab_token_to_piece(const wisp_vocab *v, wisp_token t, char *buf, int32_t cap, bool special) {
    const char *p;
    size_t n;
    if (cap < 0 || (cap > 0 && !buf)) return -WISP_ERR_INVALID_ARG;
    if (!get_piece(v, t, special, &p, &n)) return -WISP_ERR_INVALID_ARG;
    size_t k = n < (size_t)cap ? n : (size_t)cap;  /* snprintf-like: the full length is returned */
    if (k > 0) memcpy(buf, p, k);
    return (int32_t)n;
}

/* ------------------------------------------------------------------ tokenize */

typedef struct fragment {
    int32_t token;   /* >= 0: a special token; -1: text [off, off+len) */
    size_t off, len;
} fragment;

typedef struct frag_list {
    fragment *v;
    size_t n, cap;
} frag_list;

static bool frag_push(frag_list *l, int32_t token, size_t off, size_t len) {
    if (!wisp_scratch_reserve((void **)&l->v, &l->cap, l->n + 1, sizeof(fragment))) return false;
    l->v[l->n].token = token;
    l->v[l->n].off = off;
    l->v[l->n].len = len;
    l->n++;
    return true;
}

/* C-locale isspace, which is what llama.cpp's lstrip/rstrip test on each byte. */
static bool c_isspace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static const char *find_bytes(const char *hay, size_t hlen, const char *needle, size_t nlen) {
    if (nlen == 0 || nlen > hlen) return NULL;
    const char *end = hay + (hlen - nlen) + 1;
    const char *p = hay;
    while (p < end) {
        p = (const char *)memchr(p, (unsigned char)needle[0], (size_t)(end - p));
        if (!p) return NULL;
        if (memcmp(p, needle, nlen) == 0) return p;
        p++;
    }
    return NULL;
}

/* llama.cpp's tokenizer_st_partition: split text around special tokens, trying each
 * special token (longest first) on every remaining text fragment, left to right. */
static bool partition(const wisp_vocab *v, const char *text, size_t len, bool parse_special, frag_list *fr,
                      frag_list *tmp) {
    fr->n = 0;
    if (len == 0) return true;
    if (!frag_push(fr, -1, 0, len)) return false;
    for (uint32_t si = 0; si < v->n_special; si++) {
        int32_t id = v->special[si];
        uint16_t a = v->attr[id];
        if (!parse_special && (a & (WISP_ATTR_CONTROL | WISP_ATTR_UNKNOWN))) continue;
        const char *st = wisp_vocab_text(v, id);
        size_t sl = v->text_len[id];
        if (sl > len) continue;
        /* cheap pre-check: does any text fragment contain it at all? */
        bool any = false;
        for (size_t f = 0; f < fr->n && !any; f++)
            if (fr->v[f].token < 0 && find_bytes(text + fr->v[f].off, fr->v[f].len, st, sl)) any = true;
        if (!any) continue;
        tmp->n = 0;
        for (size_t f = 0; f < fr->n; f++) {
            fragment fg = fr->v[f];
            if (fg.token >= 0) {
                if (!frag_push(tmp, fg.token, 0, 0)) return false;
                continue;
            }
            size_t off = fg.off, rem = fg.len;
            for (;;) {
                const char *m = find_bytes(text + off, rem, st, sl);
                if (!m) {
                    if (rem > 0 && !frag_push(tmp, -1, off, rem)) return false;
                    break;
                }
                size_t mpos = (size_t)(m - text);
                size_t llen = mpos - off;
                if (a & WISP_ATTR_LSTRIP)
                    while (llen > 0 && c_isspace(text[off + llen - 1])) llen--;
                if (llen > 0 && !frag_push(tmp, -1, off, llen)) return false;
                if (!frag_push(tmp, id, 0, 0)) return false;
                size_t roff = mpos + sl;
                size_t rlen = off + rem - roff;
                if (a & WISP_ATTR_RSTRIP)
                    while (rlen > 0 && c_isspace(text[roff])) { roff++; rlen--; }
                off = roff;
                rem = rlen;
                if (rem == 0) break;
            }
        }
        frag_list t = *fr;
        *fr = *tmp;
        *tmp = t;
    }
    return true;
}

int32_t wisp_vocab_tokenize(const wisp_vocab *v, const char *text, size_t len, wisp_token *out, int32_t cap,
                            bool add_bos, bool parse_special) {
    if (!v || (!text && len > 0) || cap < 0 || (cap > 0 && !out)) return -WISP_ERR_INVALID_ARG;
    if (len > 0x7FFFFFFF) return -WISP_ERR_INVALID_ARG;
    /* llama.cpp replaces invalid UTF-8 with U+FFFD; wisp rejects it so callers notice */
    if (!wisp_utf8_valid(text, len)) return -WISP_ERR_INVALID_ARG;

    frag_list fr = {0}, tmp = {0};
    wisp_tokbuf tb = {0};
    wisp_tok_scratch sc;
    memset(&sc, 0, sizeof sc);
    bool ok = partition(v, text, len, parse_special, &fr, &tmp);
    /* add_bos is llama.cpp's add_special: BOS (and EOS) as the vocabulary asks */
    if (ok && add_bos && v->add_bos && v->bos >= 0) wisp_tokbuf_push(&tb, v->bos);
    bool prev_special = true;  /* SPM: a text fragment after a special token gets the space prefix */
    for (size_t f = 0; ok && f < fr.n; f++) {
        const fragment *fg = &fr.v[f];
        if (fg->token >= 0) {
            wisp_tokbuf_push(&tb, fg->token);
            prev_special = true;
            continue;
        }
        if (v->type == WISP_VOCAB_SPM) {
            ok = wisp_spm_tokenize(v, &sc, text + fg->off, fg->len, v->add_space_prefix && prev_special, &tb);
        } else {
            ok = wisp_bpe_tokenize(v, &sc, text + fg->off, fg->len, &tb);
        }
        prev_special = false;
    }
    if (ok && add_bos && v->add_eos && v->eos >= 0) wisp_tokbuf_push(&tb, v->eos);
    if (tb.oom) ok = false;
    int32_t ret;
    if (!ok || tb.n > 0x7FFFFFFF) {
        ret = -WISP_ERR_OOM;
    } else {
        size_t nc = tb.n < (size_t)cap ? tb.n : (size_t)cap;
        if (nc) memcpy(out, tb.v, nc * sizeof(int32_t));
        ret = (int32_t)tb.n;
    }
    free(fr.v);
    free(tmp.v);
    free(tb.v);
    wisp_tok_scratch_free(&sc);
    return ret;
}

/* ------------------------------------------------------------------ streaming detokenizer */

/* Output cursor with bounds: overflow is remembered, not written. */
typedef struct outbuf {
    char *p;
    int32_t cap, n;
    bool over;
} outbuf;

static void ob_put(outbuf *o, const char *s, size_t n) {
    if (o->over || n > (size_t)(o->cap - o->n)) {
        o->over = true;
        return;
    }
    memcpy(o->p + o->n, s, n);
    o->n += (int32_t)n;
}

static void ob_fffd(outbuf *o) { ob_put(o, "\xEF\xBF\xBD", 3); }

/* Feeds one byte through the pending-sequence state machine. */
static void detok_byte(wisp_detok *d, outbuf *o, unsigned char b) {
    for (;;) {
        if (d->n_pending == 0) {
            if (b < 0x80) {
                char c = (char)b;
                ob_put(o, &c, 1);
            } else if (b >= 0xC2 && b <= 0xF4) {
                d->pending[0] = b;
                d->n_pending = 1;
            } else {
                ob_fffd(o);  /* stray continuation byte or a byte that never starts UTF-8 */
            }
            return;
        }
        unsigned char lead = d->pending[0];
        int need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        unsigned char lo = 0x80, hi = 0xBF;
        if (d->n_pending == 1) {
            if (lead == 0xE0) lo = 0xA0;
            else if (lead == 0xED) hi = 0x9F;
            else if (lead == 0xF0) lo = 0x90;
            else if (lead == 0xF4) hi = 0x8F;
        }
        if (b >= lo && b <= hi) {
            d->pending[d->n_pending++] = b;
            if (d->n_pending == need) {
                ob_put(o, (const char *)d->pending, (size_t)need);
                d->n_pending = 0;
            }
            return;
        }
        /* the held prefix can never complete: one U+FFFD for it, then retry b afresh */
        ob_fffd(o);
        d->n_pending = 0;
    }
}

void wisp_vocab_detok_init(wisp_detok *d, bool special) {
    memset(d, 0, sizeof *d);
    d->first = true;
    d->special = special;
}

int32_t wisp_vocab_detok_push(const wisp_vocab *v, wisp_detok *d, wisp_token t, char *buf, int32_t cap) {
    if (!d || cap < 0 || (cap > 0 && !buf)) return -WISP_ERR_INVALID_ARG;
    const char *p;
    size_t n;
    if (!get_piece(v, t, d->special, &p, &n)) return -WISP_ERR_INVALID_ARG;
    wisp_detok saved = *d;
    /* llama.cpp's detokenize drops one leading space of the first token's piece when the
     * vocabulary adds a space prefix (SentencePiece) */
    if (d->first && v->add_space_prefix && n > 0 && p[0] == ' ') {
        p++;
        n--;
    }
    d->first = false;
    outbuf o = {buf, cap, 0, false};
    for (size_t i = 0; i < n; i++) detok_byte(d, &o, (unsigned char)p[i]);
    if (o.over) {
        *d = saved;  /* nothing consumed: the caller can retry with a larger buffer */
        return -WISP_ERR_INVALID_ARG;
    }
    return o.n;
}

int32_t wisp_vocab_detok_flush(wisp_detok *d, char *buf, int32_t cap) {
    if (!d || cap < 0 || (cap > 0 && !buf)) return -WISP_ERR_INVALID_ARG;
    if (d->n_pending == 0) return 0;
    if (cap < 3) return -WISP_ERR_INVALID_ARG;
    memcpy(buf, "\xEF\xBF\xBD", 3);
    d->n_pending = 0;
    return 3;
}

/* The public (model-level) streaming detokenizer of wisp.h. */
void wisp_detok_init(wisp_detok *d, const wisp_model *m, bool special) {
    if (!d) return;
    wisp_vocab_detok_init(d, special);
    d->model = m;
}

int32_t wisp_detok_push(wisp_detok *d, wisp_token t, char *buf, int32_t cap) {
    if (!d || !d->model) return -WISP_ERR_INVALID_ARG;
    return wisp_vocab_detok_push(wisp_model_vocab(d->model), d, t, buf, cap);
}

int32_t wisp_detok_flush(wisp_detok *d, char *buf, int32_t cap) { return wisp_vocab_detok_flush(d, buf, cap); }
