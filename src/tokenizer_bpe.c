/* tokenizer_bpe.c — byte-level BPE ("gpt2" vocabularies): the pre-tokenizer regexes,
 * implemented by hand the way llama.cpp's unicode.cpp behaves, and the rank-ordered
 * merge loop of llama.cpp's llm_tokenizer_bpe_session. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"
#include "unicode.h"

/* ------------------------------------------------------------------ pre-tokenizer
 *
 * llama.cpp splits text with a list of regexes applied in turn: each regex splits every
 * chunk left by the previous one into matches and the unmatched text between them (both
 * become chunks). Matches never cross a chunk boundary, and a chunk's end counts as the
 * end of the text for lookaheads. The regexes are matched on codepoints, with \p{L},
 * \p{N}, \p{P} and \s decided by the codepoint's category flags (unicode.h); this is
 * what llama.cpp's custom splitters do and what its std::regex fallback computes on the
 * "collapsed" text, so the same code serves both. */

typedef struct split_ctx {
    const uint32_t *cp;
    size_t ini, end;       /* the chunk being split: [ini, end) */
    size_t prev_end;       /* end of the last word emitted */
    size_t *out;
    size_t n_out;
} split_ctx;

#define OUT_OF_RANGE 0xFFFFFFFFu

static inline uint32_t sc_cpt(const split_ctx *c, size_t pos) {
    return (pos >= c->ini && pos < c->end) ? c->cp[pos] : OUT_OF_RANGE;
}

/* Flags outside the chunk are 0 (no category at all), as in llama.cpp. */
static inline uint16_t sc_flags(const split_ctx *c, size_t pos) {
    return (pos >= c->ini && pos < c->end) ? wisp_cpt_flags(c->cp[pos]) : 0;
}

/* Emits the word [prev_end, end) if non-empty; returns its length. */
static inline size_t sc_add(split_ctx *c, size_t end) {
    size_t len = end - c->prev_end;
    if (len > 0) c->out[c->n_out++] = len;
    c->prev_end = end;
    return len;
}

#define F_L(f) (((f) & WISP_CPT_LETTER) != 0)
#define F_N(f) (((f) & WISP_CPT_NUMBER) != 0)
#define F_WS(f) (((f) & WISP_CPT_WHITESPACE) != 0)
/* [^\s\p{L}\p{N}] for a codepoint inside the chunk (flags 0 means outside). */
#define F_OTHER(f) (!((f) & (WISP_CPT_WHITESPACE | WISP_CPT_LETTER | WISP_CPT_NUMBER)) && (f) != 0)

static inline uint32_t ascii_lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* Contractions 's 't 're 've 'm 'll 'd at pos (case-insensitive when `icase`): returns the
 * match length or 0. */
static size_t match_contraction(const split_ctx *c, size_t pos, bool icase) {
    if (sc_cpt(c, pos) != '\'' || pos + 1 >= c->end) return 0;
    uint32_t n1 = sc_cpt(c, pos + 1);
    if (icase) n1 = ascii_lower(n1);
    if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') return 2;
    if (pos + 2 < c->end) {
        uint32_t n2 = sc_cpt(c, pos + 2);
        if (icase) n2 = ascii_lower(n2);
        if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) return 3;
    }
    return 0;
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static void split_gpt2(split_ctx *c) {
    size_t pos = c->ini;
    while (pos < c->end) {
        uint32_t cpt = sc_cpt(c, pos);
        uint16_t f = sc_flags(c, pos);
        size_t k = match_contraction(c, pos, false);
        if (k) { pos += sc_add(c, pos + k); continue; }
        uint16_t f2 = (cpt == ' ') ? sc_flags(c, pos + 1) : f;
        if (F_L(f2)) {
            pos += (cpt == ' ');
            while (F_L(sc_flags(c, pos))) pos++;
            sc_add(c, pos);
            continue;
        }
        if (F_N(f2)) {
            pos += (cpt == ' ');
            while (F_N(sc_flags(c, pos))) pos++;
            sc_add(c, pos);
            continue;
        }
        if (F_OTHER(f2)) {
            pos += (cpt == ' ');
            while (F_OTHER(sc_flags(c, pos))) pos++;
            sc_add(c, pos);
            continue;
        }
        size_t nws = 0;
        while (F_WS(sc_flags(c, pos + nws))) nws++;
        if (nws > 1 && pos + nws < c->end) {  /* \s+(?!\S): leave the last space for the next word */
            pos += nws - 1;
            sc_add(c, pos);
            continue;
        }
        if (nws > 0) {
            pos += nws;
            sc_add(c, pos);
            continue;
        }
        sc_add(c, ++pos);  /* no alternative matches: the character stands alone */
    }
}

/* Llama 3 (max_digits 3) and Qwen2 (max_digits 1):
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 * \s*[\r\n]+|\s+(?!\S)|\s+
 * Qwen2's regex (\p{N} instead of \p{N}{1,3}) goes through std::regex in llama.cpp; on
 * the collapsed text it matches exactly what this splitter does with single digits. */
static void split_llama3(split_ctx *c, size_t max_digits) {
    size_t pos = c->ini;
    while (pos < c->end) {
        uint32_t cpt = sc_cpt(c, pos);
        uint16_t f = sc_flags(c, pos);
        size_t k = match_contraction(c, pos, true);
        if (k) { pos += sc_add(c, pos + k); continue; }
        /* [^\r\n\p{L}\p{N}]?\p{L}+ */
        if (!(cpt == '\r' || cpt == '\n' || F_N(f))) {
            if (F_L(f) || F_L(sc_flags(c, pos + 1))) {
                pos++;
                while (F_L(sc_flags(c, pos))) pos++;
                sc_add(c, pos);
                continue;
            }
        }
        /* \p{N}{1,max_digits} */
        if (F_N(f)) {
            size_t ini = pos;
            while (F_N(sc_flags(c, pos))) {
                if (++pos - ini >= max_digits) {
                    sc_add(c, pos);
                    ini = pos;
                }
            }
            sc_add(c, pos);
            continue;
        }
        /* ` ?[^\s\p{L}\p{N}]+[\r\n]*` (the entry test uses `f`, not `f2`, as llama.cpp does) */
        uint16_t f2 = (cpt == ' ') ? sc_flags(c, pos + 1) : f;
        if (!(f2 & (WISP_CPT_WHITESPACE | WISP_CPT_LETTER | WISP_CPT_NUMBER)) && f != 0) {
            pos += (cpt == ' ');
            while (F_OTHER(f2)) f2 = sc_flags(c, ++pos);
            uint32_t c2 = sc_cpt(c, pos);
            while (c2 == '\r' || c2 == '\n') c2 = sc_cpt(c, ++pos);
            sc_add(c, pos);
            continue;
        }
        size_t nws = 0, last_rn = 0;
        while (F_WS(sc_flags(c, pos + nws))) {
            uint32_t c2 = sc_cpt(c, pos + nws);
            if (c2 == '\r' || c2 == '\n') last_rn = pos + nws + 1;
            nws++;
        }
        if (last_rn > 0) {  /* \s*[\r\n]+ ends at the last newline of the run */
            pos = last_rn;
            sc_add(c, pos);
            continue;
        }
        if (nws > 1 && pos + nws < c->end) {
            pos += nws - 1;
            sc_add(c, pos);
            continue;
        }
        if (nws > 0) {
            pos += nws;
            sc_add(c, pos);
            continue;
        }
        sc_add(c, ++pos);
    }
}

/* Character-class regexes of the form X (one char per match) or X+ (a run per match):
 * matches and the gaps between them both become chunks. */
typedef bool (*cpt_pred)(uint32_t cpt);

static bool pred_number(uint32_t cpt) { return F_N(wisp_cpt_flags(cpt)); }

/* [\p{P}\$\+<=>\^~\|] */
static bool pred_default_punct(uint32_t cpt) {
    if ((wisp_cpt_flags(cpt) & WISP_CPT_CATEGORY_MASK) == WISP_CPT_PUNCTUATION) return true;
    return cpt == '$' || cpt == '+' || cpt == '<' || cpt == '=' || cpt == '>' || cpt == '^' ||
           cpt == '~' || cpt == '|';
}

static void split_class(split_ctx *c, cpt_pred pred, bool run) {
    size_t pos = c->ini;
    while (pos < c->end) {
        if (!pred(c->cp[pos])) { pos++; continue; }
        sc_add(c, pos);  /* the gap before the match */
        pos++;
        if (run)
            while (pos < c->end && pred(c->cp[pos])) pos++;
        sc_add(c, pos);
    }
    sc_add(c, c->end);
}

/* [0-9][0-9][0-9] */
static void split_digit3(split_ctx *c) {
    size_t pos = c->ini;
    while (pos < c->end) {
        if (pos + 3 <= c->end && c->cp[pos] - '0' < 10u && c->cp[pos + 1] - '0' < 10u &&
            c->cp[pos + 2] - '0' < 10u) {
            sc_add(c, pos);
            pos += 3;
            sc_add(c, pos);
        } else {
            pos++;
        }
    }
    sc_add(c, c->end);
}

typedef enum stage_kind { ST_GPT2, ST_LLAMA3, ST_QWEN2, ST_NUM_EACH, ST_NUM_RUN, ST_PUNCT_RUN, ST_DIGIT3 } stage_kind;

static size_t run_stage(stage_kind k, const uint32_t *cp, const size_t *in, size_t n_in, size_t *out) {
    split_ctx c;
    c.cp = cp;
    c.out = out;
    c.n_out = 0;
    size_t start = 0;
    for (size_t i = 0; i < n_in; i++) {
        c.ini = start;
        c.end = start + in[i];
        c.prev_end = start;
        switch (k) {
        case ST_GPT2: split_gpt2(&c); break;
        case ST_LLAMA3: split_llama3(&c, 3); break;
        case ST_QWEN2: split_llama3(&c, 1); break;
        case ST_NUM_EACH: split_class(&c, pred_number, false); break;
        case ST_NUM_RUN: split_class(&c, pred_number, true); break;
        case ST_PUNCT_RUN: split_class(&c, pred_default_punct, true); break;
        case ST_DIGIT3: split_digit3(&c); break;
        }
        start = c.end;
    }
    return c.n_out;
}

int64_t wisp_pretokenize(wisp_pre_type pre, const uint32_t *cpts, size_t n, size_t **words,
                         size_t **words2, size_t *cap) {
    if (n == 0) return 0;
    if (*cap < n) {
        size_t *a = (size_t *)realloc(*words, n * sizeof(size_t));
        if (!a) return -1;
        *words = a;
        size_t *b = (size_t *)realloc(*words2, n * sizeof(size_t));
        if (!b) return -1;
        *words2 = b;
        *cap = n;
    }
    /* llama.cpp's regex lists per pre-tokenizer (llm_tokenizer_bpe) */
    static const stage_kind st_default[] = {ST_PUNCT_RUN, ST_GPT2, ST_NUM_RUN, ST_DIGIT3};
    static const stage_kind st_gpt2[] = {ST_GPT2};
    static const stage_kind st_llama3[] = {ST_LLAMA3};
    static const stage_kind st_qwen2[] = {ST_QWEN2};
    static const stage_kind st_starcoder[] = {ST_NUM_EACH, ST_GPT2};
    const stage_kind *st;
    size_t n_st;
    switch (pre) {
    case WISP_PRE_GPT2: st = st_gpt2; n_st = 1; break;
    case WISP_PRE_LLAMA3: st = st_llama3; n_st = 1; break;
    case WISP_PRE_QWEN2: st = st_qwen2; n_st = 1; break;
    case WISP_PRE_STARCODER: st = st_starcoder; n_st = 2; break;
    case WISP_PRE_DEFAULT:
    default: st = st_default; n_st = 4; break;
    }
    size_t *a = *words, *b = *words2;
    a[0] = n;
    size_t na = 1;
    for (size_t i = 0; i < n_st; i++) {
        na = run_stage(st[i], cpts, a, na, b);
        size_t *t = a;
        a = b;
        b = t;
    }
    *words = a;
    *words2 = b;
    return (int64_t)na;
}

/* ------------------------------------------------------------------ merges */

/* Appends `s` to the scratch text buffer. */
static bool buf_append(wisp_tok_scratch *s, size_t *len, const char *p, size_t n) {
    if (!wisp_scratch_reserve((void **)&s->buf, &s->buf_cap, *len + n + 1, 1)) return false;
    memcpy(s->buf + *len, p, n);
    *len += n;
    return true;
}

static bool bpe_add_candidate(const wisp_vocab *v, wisp_tok_scratch *s, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return true;
    const wisp_symbol *l = &s->sym[left], *r = &s->sym[right];
    int32_t rank = wisp_vocab_merge_rank(v, s->buf + l->off, l->n, s->buf + r->off, r->n);
    if (rank < 0) return true;
    wisp_merge_cand c;
    c.prio = -(double)rank;  /* lowest rank first */
    c.left = left;
    c.right = right;
    c.size = l->n + r->n;
    return wisp_merge_heap_push(&s->heap, c);
}

/* Merges one byte-encoded word (s->buf[0..len)) and appends its tokens. */
static bool bpe_word(const wisp_vocab *v, wisp_tok_scratch *s, size_t len, wisp_tokbuf *out) {
    if (v->ignore_merges) {
        /* Llama-3-style vocabularies take a whole word that is itself a token as is */
        int32_t id = wisp_vocab_find(v, s->buf, len);
        if (id >= 0) {
            wisp_tokbuf_push(out, id);
            return !out->oom;
        }
    }
    bool ok;
    size_t nsym = wisp_symbols_from_utf8(s, len, &ok);
    if (!ok) return false;
    size_t i;
    s->heap.n = 0;
    for (i = 1; i < nsym; i++)
        if (!bpe_add_candidate(v, s, (int32_t)i - 1, (int32_t)i)) return false;
    while (s->heap.n > 0) {
        wisp_merge_cand c = wisp_merge_heap_pop(&s->heap);
        wisp_symbol *l = &s->sym[c.left], *r = &s->sym[c.right];
        /* stale candidate: one side was merged elsewhere since it was queued */
        if (l->n == 0 || r->n == 0 || l->n + r->n != c.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s->sym[r->next].prev = c.left;
        if (!bpe_add_candidate(v, s, l->prev, c.left)) return false;
        if (!bpe_add_candidate(v, s, c.left, l->next)) return false;
    }
    for (int32_t k = 0; k != -1 && nsym > 0; k = s->sym[k].next) {
        const wisp_symbol *sy = &s->sym[k];
        if (sy->n == 0) continue;
        int32_t id = wisp_vocab_find(v, s->buf + sy->off, sy->n);
        if (id >= 0) {
            wisp_tokbuf_push(out, id);
        } else {
            /* llama.cpp falls back to single-byte tokens and drops bytes that have none */
            for (uint32_t j = 0; j < sy->n; j++) {
                int32_t b = wisp_vocab_find(v, s->buf + sy->off + j, 1);
                if (b >= 0) wisp_tokbuf_push(out, b);
            }
        }
    }
    return !out->oom;
}

bool wisp_bpe_tokenize(const wisp_vocab *v, wisp_tok_scratch *s, const char *text, size_t len,
                       wisp_tokbuf *out) {
    /* decode to codepoints (the caller validated the UTF-8) */
    if (s->cpt_cap < len + 1) {
        size_t nc = len + 1 > 2 * s->cpt_cap ? len + 1 : 2 * s->cpt_cap;
        uint32_t *a = (uint32_t *)realloc(s->cpts, nc * sizeof(uint32_t));
        if (!a) return false;
        s->cpts = a;
        uint32_t *b = (uint32_t *)realloc(s->cpt_off, nc * sizeof(uint32_t));
        if (!b) return false;
        s->cpt_off = b;
        s->cpt_cap = nc;
    }
    const unsigned char *u = (const unsigned char *)text;
    size_t n = 0;
    for (size_t off = 0; off < len;) {
        uint32_t cpt;
        size_t k = wisp_utf8_decode(u + off, len - off, &cpt);
        if (k == 0) { cpt = 0xFFFD; k = 1; }  /* not reached for validated input */
        s->cpts[n] = cpt;
        s->cpt_off[n] = (uint32_t)off;
        n++;
        off += k;
    }
    s->cpt_off[n] = (uint32_t)len;
    int64_t nw = wisp_pretokenize(v->pre_type, s->cpts, n, &s->words, &s->words2, &s->words_cap);
    if (nw < 0) return false;
    size_t start = 0;
    for (int64_t w = 0; w < nw; w++) {
        size_t wl = s->words[w];
        size_t b0 = s->cpt_off[start], b1 = s->cpt_off[start + wl];
        start += wl;
        /* byte-level encoding: every byte of the word becomes its printable codepoint */
        size_t blen = 0;
        for (size_t i = b0; i < b1; i++) {
            char enc[4];
            size_t k = wisp_utf8_encode(wisp_gpt2_byte_to_cpt(u[i]), enc);
            if (!buf_append(s, &blen, enc, k)) return false;
        }
        if ((uint64_t)blen > UINT32_MAX || !bpe_word(v, s, blen, out)) return false;  /* 32-bit symbol offsets */
    }
    return true;
}
