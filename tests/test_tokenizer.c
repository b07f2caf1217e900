/* test_tokenizer.c — tokenizer conformance with llama.cpp: its test vectors for six
 * vocabularies, the extra vectors (incl. stories260K), reference prompts, round trips,
 * special-token parsing, streaming UTF-8 detokenization, edge cases and speed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf.h"
#include "gguf_writer.h"
#include "test_util.h"
#include "tokenizer.h"
#include "tokenizer_internal.h"
#include "unicode.h"
#include "wisp.h"

#ifdef WISP_TEST_STUB_MODEL
/* Standalone builds without model.c: a "model" is its vocabulary here. */
const wisp_vocab *wisp_model_vocab(const wisp_model *m) { return (const wisp_vocab *)(const void *)m; }
#endif

/* ------------------------------------------------------------------ helpers */

static wisp_vocab *load_vocab(const char *rel, double *secs) {
    char path[1024];
    if (!test_fixture(path, sizeof path, rel)) return NULL;
    size_t size = 0;
    char *data = test_read_file(path, &size);
    CHECKF(data != NULL, "cannot read %s", path);
    if (!data) return NULL;
    wisp_reader r = wisp_reader_memory(data, size);
    wisp_gguf *g = NULL;
    uint64_t needed = 0;
    char err[256] = "";
    wisp_status s = wisp_gguf_open(&r, size, &g, &needed, err, sizeof err);
    CHECKF(s == WISP_OK, "gguf open %s: %s", rel, err);
    wisp_vocab *v = NULL;
    if (s == WISP_OK) {
        clock_t t0 = clock();
        s = wisp_vocab_load(g, &v, err, sizeof err);
        if (secs) *secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
        CHECKF(s == WISP_OK, "vocab load %s: %s", rel, err);
    }
    wisp_gguf_free(g);
    free(data);
    return v;
}

typedef struct texts {
    char *buf;
    const char **s;
    size_t *len;
    size_t n;
} texts;

/* Splits X.inp on "\n__ggml_vocab_test__\n" (each text is followed by the separator). */
static bool read_texts(const char *rel, texts *t) {
    char path[1024];
    memset(t, 0, sizeof *t);
    if (!test_fixture(path, sizeof path, rel)) return false;
    size_t size = 0;
    t->buf = test_read_file(path, &size);
    if (!t->buf) return false;
    static const char sep[] = "\n__ggml_vocab_test__\n";
    size_t seplen = sizeof sep - 1;
    size_t cap = 16;
    t->s = (const char **)malloc(cap * sizeof(char *));
    t->len = (size_t *)malloc(cap * sizeof(size_t));
    size_t pos = 0;
    /* a text may be empty, so the separator's leading \n can be the previous one's end */
    while (pos < size) {
        const char *start = t->buf + pos;
        const char *m = NULL;
        for (size_t i = pos; i + seplen <= size; i++) {
            if (memcmp(t->buf + i, sep, seplen) == 0) { m = t->buf + i; break; }
        }
        if (!m) break;
        if (t->n == cap) {
            cap *= 2;
            t->s = (const char **)realloc(t->s, cap * sizeof(char *));
            t->len = (size_t *)realloc(t->len, cap * sizeof(size_t));
        }
        t->s[t->n] = start;
        t->len[t->n] = (size_t)(m - start);
        t->n++;
        pos = (size_t)(m - t->buf) + seplen;
    }
    return true;
}

static void free_texts(texts *t) {
    free(t->buf);
    free(t->s);
    free(t->len);
}

/* Parses the lines of X.out into arrays of ids. */
typedef struct expect {
    char *buf;
    int32_t **ids;
    size_t *n;
    size_t lines;
} expect;

static bool read_expect(const char *rel, expect *e) {
    char path[1024];
    memset(e, 0, sizeof *e);
    if (!test_fixture(path, sizeof path, rel)) return false;
    size_t size = 0;
    e->buf = test_read_file(path, &size);
    if (!e->buf) return false;
    size_t nl = 0;
    for (size_t i = 0; i < size; i++) nl += e->buf[i] == '\n';
    e->ids = (int32_t **)calloc(nl + 1, sizeof(int32_t *));
    e->n = (size_t *)calloc(nl + 1, sizeof(size_t));
    char *p = e->buf;
    while (*p) {
        char *eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        size_t cnt = 0;
        for (char *q = p; q < eol; q++)
            if (*q == ' ') cnt++;
        int32_t *ids = (int32_t *)malloc((cnt + 1) * sizeof(int32_t));
        size_t k = 0;
        char *q = p;
        while (q < eol) {
            while (q < eol && *q == ' ') q++;
            if (q >= eol) break;
            ids[k++] = (int32_t)strtol(q, &q, 10);
        }
        e->ids[e->lines] = ids;
        e->n[e->lines] = k;
        e->lines++;
        if (!*eol) break;
        p = eol + 1;
    }
    return true;
}

static void free_expect(expect *e) {
    for (size_t i = 0; i < e->lines; i++) free(e->ids[i]);
    free(e->ids);
    free(e->n);
    free(e->buf);
}

/* Tokenizes into a malloc'd array (exact size via a first counting call). */
static int32_t tokenize_all(const wisp_vocab *v, const char *s, size_t len, bool add_bos, bool special,
                            int32_t **out) {
    *out = NULL;
    int32_t n = wisp_vocab_tokenize(v, s, len, NULL, 0, add_bos, special);
    if (n < 0) return n;
    *out = (int32_t *)malloc(((size_t)n + 1) * sizeof(int32_t));
    int32_t n2 = wisp_vocab_tokenize(v, s, len, *out, n, add_bos, special);
    CHECK(n2 == n);
    return n;
}

/* Streams tokens through the detokenizer into a malloc'd string. */
static char *detok_all(const wisp_vocab *v, const int32_t *ids, int32_t n, bool special, size_t *len) {
    size_t cap = 256, used = 0;
    char *s = (char *)malloc(cap);
    wisp_detok d;
    wisp_vocab_detok_init(&d, special);
    char buf[4096];
    for (int32_t i = 0; i <= n; i++) {
        int32_t k = i < n ? wisp_vocab_detok_push(v, &d, ids[i], buf, (int32_t)sizeof buf)
                          : wisp_vocab_detok_flush(&d, buf, (int32_t)sizeof buf);
        CHECK(k >= 0);
        if (k < 0) break;
        while (used + (size_t)k + 1 > cap) {
            cap *= 2;
            s = (char *)realloc(s, cap);
        }
        memcpy(s + used, buf, (size_t)k);
        used += (size_t)k;
    }
    s[used] = 0;
    *len = used;
    return s;
}

static void print_mismatch(const char *label, size_t i, const texts *t, const int32_t *got, int32_t ng,
                           const int32_t *want, size_t nw) {
    fprintf(stderr, "%s: text %zu mismatch: \"%.*s\"\n  got :", label, i, (int)(t->len[i] > 80 ? 80 : t->len[i]),
            t->s[i]);
    for (int32_t k = 0; k < ng && k < 40; k++) fprintf(stderr, " %d", got[k]);
    fprintf(stderr, "\n  want:");
    for (size_t k = 0; k < nw && k < 40; k++) fprintf(stderr, " %d", want[k]);
    fprintf(stderr, "\n");
}

/* Runs one .inp/.out pair; returns the number of matching texts (or -1 if skipped).
 * Also counts detokenize(tokenize(text)) == text round trips. */
static int run_vectors(const wisp_vocab *v, const char *label, const char *inp, const char *outp, int *total,
                       int *roundtrips) {
    texts t;
    expect e;
    if (!read_texts(inp, &t)) return -1;
    if (!read_expect(outp, &e)) {
        free_texts(&t);
        return -1;
    }
    CHECKF(t.n == e.lines, "%s: %zu texts but %zu expected lines", label, t.n, e.lines);
    int pass = 0, rt = 0, shown = 0;
    for (size_t i = 0; i < t.n && i < e.lines; i++) {
        int32_t *ids;
        int32_t n = tokenize_all(v, t.s[i], t.len[i], false, false, &ids);
        bool ok = n >= 0 && (size_t)n == e.n[i] && memcmp(ids, e.ids[i], (size_t)n * sizeof(int32_t)) == 0;
        if (ok) {
            pass++;
        } else if (shown++ < 5) {
            print_mismatch(label, i, &t, ids, n, e.ids[i], e.n[i]);
        }
        if (n >= 0) {
            size_t dl;
            char *d = detok_all(v, ids, n, false, &dl);
            if (dl == t.len[i] && memcmp(d, t.s[i], dl) == 0) rt++;
            free(d);
        }
        free(ids);
    }
    *total = (int)t.n;
    *roundtrips = rt;
    CHECKF(pass == (int)t.n, "%s: %d/%zu texts match llama.cpp", label, pass, t.n);
    free_texts(&t);
    free_expect(&e);
    return pass;
}

/* ------------------------------------------------------------------ tiny JSON reader
 * (enough for the reference files: find a key after a position, read a string or an
 * array of integers) */

static const char *json_find(const char *p, const char *end, const char *key) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    size_t n = strlen(pat);
    for (; p + n <= end; p++)
        if (memcmp(p, pat, n) == 0) return p + n;
    return NULL;
}

static void put_utf8(char *o, size_t *k, uint32_t c) {
    char e[4];
    size_t n = wisp_utf8_encode(c, e);
    memcpy(o + *k, e, n);
    *k += n;
}

/* Decodes the JSON string at p (after optional spaces) into a malloc'd buffer. */
static char *json_string(const char *p, size_t *len) {
    while (*p == ' ') p++;
    if (*p != '"') return NULL;
    p++;
    char *o = (char *)malloc(strlen(p) + 1);
    size_t k = 0;
    while (*p && *p != '"') {
        if (*p != '\\') { o[k++] = *p++; continue; }
        p++;
        char c = *p++;
        switch (c) {
        case 'n': o[k++] = '\n'; break;
        case 't': o[k++] = '\t'; break;
        case 'r': o[k++] = '\r'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'u': {
            uint32_t u = (uint32_t)strtoul((char[]){p[0], p[1], p[2], p[3], 0}, NULL, 16);
            p += 4;
            if (u >= 0xD800 && u < 0xDC00 && p[0] == '\\' && p[1] == 'u') {
                uint32_t lo = (uint32_t)strtoul((char[]){p[2], p[3], p[4], p[5], 0}, NULL, 16);
                p += 6;
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(o, &k, u);
            break;
        }
        default: o[k++] = c; break;
        }
    }
    o[k] = 0;
    *len = k;
    return o;
}

static int32_t *json_ints(const char *p, size_t *n) {
    while (*p == ' ') p++;
    *n = 0;
    if (*p != '[') return NULL;
    p++;
    size_t cap = 64;
    int32_t *v = (int32_t *)malloc(cap * sizeof(int32_t));
    for (;;) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ']' || !*p) break;
        if (*n == cap) {
            cap *= 2;
            v = (int32_t *)realloc(v, cap * sizeof(int32_t));
        }
        char *q;
        v[(*n)++] = (int32_t)strtol(p, &q, 10);
        p = q;
    }
    return v;
}

static bool same_ids(const int32_t *a, int32_t na, const int32_t *b, size_t nb) {
    return na >= 0 && (size_t)na == nb && (nb == 0 || memcmp(a, b, nb * sizeof(int32_t)) == 0);
}

/* Checks every prompt of a reference JSON against the vocabulary of its model. */
static void run_reference(const char *model_rel, const char *json_rel) {
    char path[1024];
    if (!test_fixture(path, sizeof path, json_rel)) return;
    wisp_vocab *v = load_vocab(model_rel, NULL);
    if (!v) return;
    size_t size;
    char *js = test_read_file(path, &size);
    const char *end = js + size;
    const char *p = js;
    int n_prompts = 0, ok_plain = 0, ok_special = 0, ok_bos = 0, ok_rt = 0, ok_gen = 0;
    const char *mt = json_find(js, end, "eot");
    if (mt) {
        while (*mt == ' ') mt++;
        wisp_token want_eot = (*mt == 'n') ? -1 : (wisp_token)atoi(mt);
        CHECKF(wisp_vocab_eot(v) == want_eot, "%s: eot %d, reference %d", json_rel, wisp_vocab_eot(v), want_eot);
    }
    while ((p = json_find(p, end, "prompt")) != NULL) {
        size_t plen, rlen;
        char *prompt = json_string(p, &plen);
        if (!prompt) continue;
        n_prompts++;
        size_t n_plain, n_spec, n_bos, n_gen;
        int32_t *want = json_ints(json_find(p, end, "tokens_no_bos"), &n_plain);
        int32_t *want_bos = json_ints(json_find(p, end, "tokens_with_bos"), &n_bos);
        int32_t *want_sp = json_ints(json_find(p, end, "tokens_parse_special"), &n_spec);
        char *rt = json_string(json_find(p, end, "detokenized_roundtrip"), &rlen);
        int32_t *gen = json_ints(json_find(p, end, "generated_ids"), &n_gen);
        size_t glen;
        char *gtext = json_string(json_find(p, end, "generated_text"), &glen);

        int32_t *ids;
        int32_t n = tokenize_all(v, prompt, plen, false, false, &ids);
        if (same_ids(ids, n, want, n_plain)) ok_plain++;
        else fprintf(stderr, "%s: prompt %d (plain) mismatch\n", json_rel, n_prompts);
        size_t dl;
        char *d = detok_all(v, ids, n, false, &dl);
        if (rt && dl == rlen && memcmp(d, rt, dl) == 0) ok_rt++;
        else fprintf(stderr, "%s: prompt %d round trip \"%s\" vs \"%s\"\n", json_rel, n_prompts, d, rt ? rt : "");
        free(d);
        free(ids);

        n = tokenize_all(v, prompt, plen, true, false, &ids);
        if (same_ids(ids, n, want_bos, n_bos)) ok_bos++;
        else fprintf(stderr, "%s: prompt %d (with bos) mismatch\n", json_rel, n_prompts);
        free(ids);

        n = tokenize_all(v, prompt, plen, false, true, &ids);
        if (same_ids(ids, n, want_sp, n_spec)) ok_special++;
        else fprintf(stderr, "%s: prompt %d (parse_special) mismatch\n", json_rel, n_prompts);
        free(ids);

        /* generated_text is the plain concatenation of the pieces (no space stripping):
         * a detokenizer that continues after the prompt (first = false) */
        {
            wisp_detok dt;
            wisp_vocab_detok_init(&dt, false);
            dt.first = false;
            char *acc = (char *)malloc(n_gen * 64 + 16);
            size_t used = 0;
            for (size_t i = 0; i <= n_gen; i++) {
                int32_t k = i < n_gen ? wisp_vocab_detok_push(v, &dt, gen[i], acc + used, 64)
                                      : wisp_vocab_detok_flush(&dt, acc + used, 64);
                if (k > 0) used += (size_t)k;
            }
            if (gtext && used == glen && memcmp(acc, gtext, glen) == 0) ok_gen++;
            else fprintf(stderr, "%s: prompt %d generated_text mismatch\n", json_rel, n_prompts);
            free(acc);
        }
        free(prompt);
        free(want);
        free(want_bos);
        free(want_sp);
        free(rt);
        free(gen);
        free(gtext);
        p++;
    }
    printf("reference %-28s prompts %d: tokens %d, with bos %d, parse_special %d, round trip %d, generated text %d\n",
           json_rel, n_prompts, ok_plain, ok_bos, ok_special, ok_rt, ok_gen);
    CHECK(n_prompts > 0);
    CHECK(ok_plain == n_prompts && ok_bos == n_prompts && ok_special == n_prompts);
    CHECK(ok_rt == n_prompts && ok_gen == n_prompts);
    free(js);
    wisp_vocab_free(v);
}

/* ------------------------------------------------------------------ focused tests */

static void test_unicode_basics(void) {
    CHECK(wisp_cpt_flags('a') & WISP_CPT_LETTER);
    CHECK(wisp_cpt_flags('7') & WISP_CPT_NUMBER);
    CHECK(wisp_cpt_flags(' ') & WISP_CPT_WHITESPACE);
    CHECK(!(wisp_cpt_flags(0x1C) & WISP_CPT_WHITESPACE));  /* not White_Space, unlike str.isspace */
    CHECK(wisp_cpt_flags(0x3000) & WISP_CPT_WHITESPACE);
    CHECK(wisp_cpt_flags(0x4E00) & WISP_CPT_LETTER);
    CHECK(wisp_cpt_flags(0x0301) & WISP_CPT_MARK);
    CHECK(wisp_cpt_flags(0x1F642) & WISP_CPT_SYMBOL);
    CHECK(wisp_cpt_flags(0x10FFFF) == WISP_CPT_UNDEFINED);
    CHECK(wisp_cpt_flags(0x110000) == WISP_CPT_UNDEFINED);
    for (int b = 0; b < 256; b++) CHECK(wisp_gpt2_cpt_to_byte(wisp_gpt2_byte_to_cpt((unsigned char)b)) == b);
    CHECK(wisp_gpt2_byte_to_cpt(' ') == 0x120);  /* 'Ġ' */
    CHECK(wisp_gpt2_byte_to_cpt('\n') == 0x10A); /* 'Ċ' */
    CHECK(wisp_utf8_valid("\xC3\xA9", 2));
    CHECK(!wisp_utf8_valid("\xC0\xAF", 2));       /* overlong */
    CHECK(!wisp_utf8_valid("\xED\xA0\x80", 3));   /* surrogate */
    CHECK(!wisp_utf8_valid("\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
    CHECK(!wisp_utf8_valid("\xE2\x82", 2));       /* truncated */
    CHECK(wisp_utf8_valid("a\0b", 3));
    printf("unicode tables: Unicode %s\n", wisp_unicode_version);
}

static void test_spm_edges(const wisp_vocab *v) {
    int32_t ids[64];
    /* invalid UTF-8 is rejected */
    CHECK(wisp_vocab_tokenize(v, "ab\xFF", 3, ids, 64, false, false) == -WISP_ERR_INVALID_ARG);
    CHECK(wisp_vocab_tokenize(v, NULL, 3, ids, 64, false, false) == -WISP_ERR_INVALID_ARG);
    CHECK(wisp_vocab_tokenize(v, "a", 1, ids, -1, false, false) == -WISP_ERR_INVALID_ARG);
    /* empty text: nothing, or just BOS */
    CHECK(wisp_vocab_tokenize(v, "", 0, ids, 64, false, false) == 0);
    CHECK(wisp_vocab_tokenize(v, NULL, 0, ids, 64, true, false) == 1 && ids[0] == wisp_vocab_bos(v));
    /* capacity: the total is returned, only cap ids written */
    int32_t full = wisp_vocab_tokenize(v, "Once upon a time", 16, ids, 64, true, false);
    CHECK(full == 5 && ids[0] == 1);
    int32_t small[2] = {-7, -7};
    CHECK(wisp_vocab_tokenize(v, "Once upon a time", 16, small, 1, true, false) == 5);
    CHECK(small[0] == 1 && small[1] == -7);
    CHECK(wisp_vocab_tokenize(v, "Once upon a time", 16, NULL, 0, true, false) == 5);
    /* NUL bytes are text (byte fallback <0x00>) */
    int32_t n = wisp_vocab_tokenize(v, "a\0b", 3, ids, 64, false, false);
    CHECK(n >= 3);
    bool has_nul = false;
    for (int32_t i = 0; i < n; i++) has_nul |= ids[i] == 3;  /* <0x00> */
    CHECK(has_nul);
    /* parse_special: "<s>" is BOS only when asked */
    n = wisp_vocab_tokenize(v, "<s>Hi", 5, ids, 64, false, true);
    CHECK(n >= 2 && ids[0] == 1);
    n = wisp_vocab_tokenize(v, "<s>Hi", 5, ids, 64, false, false);
    CHECK(n >= 2 && ids[0] != 1);
    /* pieces */
    char buf[64];
    n = wisp_vocab_tokenize(v, "Once", 4, ids, 64, false, false);
    int32_t once = ids[0];
    CHECK(n == 1 && strcmp(wisp_vocab_token_text(v, once), "\xe2\x96\x81Once") == 0);
    CHECK(wisp_vocab_token_to_piece(v, once, buf, 64, false) == 5 && memcmp(buf, " Once", 5) == 0);
    CHECK(wisp_vocab_token_to_piece(v, once, buf, 2, false) == 5 && memcmp(buf, " O", 2) == 0);
    CHECK(wisp_vocab_token_to_piece(v, 1, buf, 64, false) == 0);
    CHECK(wisp_vocab_token_to_piece(v, 1, buf, 64, true) == 3 && memcmp(buf, "<s>", 3) == 0);
    CHECK(wisp_vocab_token_to_piece(v, 3 + 0x0A, buf, 64, false) == 1 && buf[0] == '\n');
    CHECK(wisp_vocab_token_to_piece(v, -1, buf, 64, false) == -WISP_ERR_INVALID_ARG);
    CHECK(wisp_vocab_token_to_piece(v, (wisp_token)wisp_vocab_n_tokens(v), buf, 64, false) == -WISP_ERR_INVALID_ARG);
    CHECK(wisp_vocab_token_text(v, -1) == NULL);
    CHECK(wisp_vocab_is_eog(v, 2) && !wisp_vocab_is_eog(v, 1));
    CHECK(strcmp(wisp_vocab_model_name(v), "llama") == 0);
}

/* A character split over byte-fallback tokens comes out whole, once complete. */
static void test_streaming(const wisp_vocab *v) {
    int32_t ids[64];
    /* U+1F642 is not in the 512-token vocabulary: four <0xNN> tokens */
    int32_t n = wisp_vocab_tokenize(v, "\xF0\x9F\x99\x82", 4, ids, 64, false, false);
    CHECK(n == 5);  /* "▁" + 4 bytes */
    if (n != 5) return;
    for (int i = 1; i < 5; i++) CHECK(ids[i] >= 3 && ids[i] < 3 + 256);
    wisp_detok d;
    wisp_vocab_detok_init(&d, false);
    char buf[64];
    CHECK(wisp_vocab_detok_push(v, &d, ids[0], buf, 64) == 0);  /* the prefix space is dropped */
    CHECK(wisp_vocab_detok_push(v, &d, ids[1], buf, 64) == 0);
    CHECK(wisp_vocab_detok_push(v, &d, ids[2], buf, 64) == 0);
    CHECK(wisp_vocab_detok_push(v, &d, ids[3], buf, 64) == 0);
    CHECK(wisp_vocab_detok_push(v, &d, ids[4], buf, 64) == 4 && memcmp(buf, "\xF0\x9F\x99\x82", 4) == 0);
    CHECK(wisp_vocab_detok_flush(&d, buf, 64) == 0);

    /* a held prefix that cannot complete: U+FFFD, then the next byte is kept */
    wisp_vocab_detok_init(&d, false);
    d.first = false;
    CHECK(wisp_vocab_detok_push(v, &d, 3 + 0xE2, buf, 64) == 0);
    int32_t k = wisp_vocab_detok_push(v, &d, 3 + 'A', buf, 64);
    CHECK(k == 4 && memcmp(buf, "\xEF\xBF\xBD" "A", 4) == 0);
    /* a stray continuation byte */
    CHECK(wisp_vocab_detok_push(v, &d, 3 + 0x80, buf, 64) == 3 && memcmp(buf, "\xEF\xBF\xBD", 3) == 0);
    /* flush of an incomplete sequence */
    CHECK(wisp_vocab_detok_push(v, &d, 3 + 0xF0, buf, 64) == 0);
    CHECK(wisp_vocab_detok_push(v, &d, 3 + 0x9F, buf, 64) == 0);
    CHECK(wisp_vocab_detok_flush(&d, buf, 64) == 3 && memcmp(buf, "\xEF\xBF\xBD", 3) == 0);
    CHECK(wisp_vocab_detok_flush(&d, buf, 64) == 0);
    /* too small a buffer: error and nothing consumed */
    wisp_vocab_detok_init(&d, false);
    d.first = false;
    n = wisp_vocab_tokenize(v, "Once upon", 9, ids, 64, false, false);
    CHECK(n >= 2);
    CHECK(wisp_vocab_detok_push(v, &d, ids[n - 1], buf, 1) == -WISP_ERR_INVALID_ARG);
    k = wisp_vocab_detok_push(v, &d, ids[n - 1], buf, 64);
    CHECK(k > 1 && buf[0] == ' ');
    /* control tokens: "" unless special */
    wisp_vocab_detok_init(&d, false);
    CHECK(wisp_vocab_detok_push(v, &d, 1, buf, 64) == 0);
    wisp_vocab_detok_init(&d, true);
    CHECK(wisp_vocab_detok_push(v, &d, 1, buf, 64) == 3);
    CHECK(wisp_vocab_detok_push(v, &d, -5, buf, 64) == -WISP_ERR_INVALID_ARG);
}

static void test_qwen2_special(const wisp_vocab *v) {
    static const char txt[] = "<|im_start|>user\nhi<|im_end|>";
    int32_t *ids;
    int32_t n = tokenize_all(v, txt, sizeof txt - 1, false, true, &ids);
    CHECK(n >= 4);
    if (n >= 4) {
        CHECK(ids[0] == 151644);
        CHECK(ids[n - 1] == 151645);
        for (int32_t i = 1; i < n - 1; i++) CHECK(ids[i] < 151643);
    }
    free(ids);
    n = tokenize_all(v, txt, sizeof txt - 1, false, false, &ids);
    CHECK(n > 4);
    for (int32_t i = 0; i < n; i++) CHECK(ids[i] < 151643);
    free(ids);
    /* qwen2 has no BOS by default */
    CHECK(!wisp_vocab_add_bos(v));
    n = tokenize_all(v, "hi", 2, true, false, &ids);
    CHECK(n == 1);
    free(ids);
    CHECK(wisp_vocab_is_eog(v, 151645) && wisp_vocab_is_eog(v, 151643) && !wisp_vocab_is_eog(v, 151644));
    CHECK(wisp_vocab_eot(v) == 151645);
    char buf[64];
    CHECK(wisp_vocab_token_to_piece(v, 151645, buf, 64, false) == 0);
    CHECK(wisp_vocab_token_to_piece(v, 151645, buf, 64, true) == 10 && memcmp(buf, "<|im_end|>", 10) == 0);
    /* byte-level decoding: "Ġhello" -> " hello" */
    n = tokenize_all(v, " hello", 6, false, false, &ids);
    CHECK(n == 1);
    if (n == 1) CHECK(wisp_vocab_token_to_piece(v, ids[0], buf, 64, false) == 6 && memcmp(buf, " hello", 6) == 0);
    free(ids);
    CHECK(strcmp(wisp_vocab_pre_name(v), "qwen2") == 0 && strcmp(wisp_vocab_model_name(v), "gpt2") == 0);
}

/* The pre-tokenizer on its own, for cases the vectors may not reach. */
static void test_pretokenizer(void) {
    struct { wisp_pre_type pre; const char *text; const char *words; } cases[] = {
        {WISP_PRE_GPT2, "Hello world", "Hello| world"},
        {WISP_PRE_GPT2, "a   b", "a|  | b"},
        {WISP_PRE_GPT2, "x  ", "x|  "},
        {WISP_PRE_GPT2, "it's 123", "it|'s| 123"},
        {WISP_PRE_LLAMA3, "12345 ab", "123|45| ab"},
        {WISP_PRE_LLAMA3, "a\n\n b", "a|\n\n| b"},
        {WISP_PRE_LLAMA3, "I'M ok", "I|'M| ok"},
        {WISP_PRE_QWEN2, "x123", "x|1|2|3"},
        {WISP_PRE_STARCODER, "a  1", "a|  |1"},
        {WISP_PRE_DEFAULT, "a+b 12345", "a|+|b| |123|45"},
    };
    size_t *w = NULL, *w2 = NULL, cap = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint32_t cp[64];
        size_t n = 0;
        for (const char *p = cases[c].text; *p;) {
            size_t k = wisp_utf8_decode((const unsigned char *)p, strlen(p), &cp[n++]);
            p += k;
        }
        int64_t nw = wisp_pretokenize(cases[c].pre, cp, n, &w, &w2, &cap);
        char got[256];
        size_t gk = 0, start = 0;
        for (int64_t i = 0; i < nw; i++) {
            if (i) got[gk++] = '|';
            for (size_t j = start; j < start + w[i]; j++) got[gk++] = (char)cp[j];
            start += w[i];
        }
        got[gk] = 0;
        CHECKF(strcmp(got, cases[c].words) == 0, "pre %d \"%s\": got \"%s\" want \"%s\"", (int)cases[c].pre,
               cases[c].text, got, cases[c].words);
    }
    free(w);
    free(w2);
}


/* ------------------------------------------------------------------ synthetic vocabularies */

typedef struct synth_vocab {
    const char *model, *pre, *name;
    const char *const *tokens;
    const int32_t *types;     /* NULL: no token_type key */
    uint32_t n;
    const char *const *merges;
    uint32_t n_merges;
    int add_eos;              /* -1: no key */
    bool int_scores;
    bool bad_pad;             /* padding_token_id out of range */
} synth_vocab;

static wisp_status load_synth(const synth_vocab *sv, wisp_vocab **out, char *err, size_t err_len) {
    gguf_writer w;
    gw_init(&w);
    uint64_t n_kv = 2 + (sv->pre ? 1 : 0) + (sv->name ? 1 : 0) + (sv->types ? 1 : 0) + (sv->merges ? 1 : 0) +
                    (sv->add_eos >= 0 ? 1 : 0) + 1 + (sv->bad_pad ? 1 : 0);
    gw_header(&w, 3, 0, n_kv);
    gw_kv_str(&w, "tokenizer.ggml.model", sv->model);
    if (sv->pre) gw_kv_str(&w, "tokenizer.ggml.pre", sv->pre);
    if (sv->name) gw_kv_str(&w, "general.name", sv->name);
    gw_kv_arr(&w, "tokenizer.ggml.tokens", WISP_GGUF_STRING, sv->n);
    for (uint32_t i = 0; i < sv->n; i++) gw_str(&w, sv->tokens[i]);
    if (sv->types) {
        gw_kv_arr(&w, "tokenizer.ggml.token_type", WISP_GGUF_INT32, sv->n);
        for (uint32_t i = 0; i < sv->n; i++) gw_u32(&w, (uint32_t)sv->types[i]);
    }
    gw_kv_arr(&w, "tokenizer.ggml.scores", sv->int_scores ? WISP_GGUF_INT32 : WISP_GGUF_FLOAT32, sv->n);
    for (uint32_t i = 0; i < sv->n; i++) {
        if (sv->int_scores) gw_u32(&w, (uint32_t)(int32_t)-(int32_t)i);
        else gw_f32(&w, -(float)i);
    }
    if (sv->merges) {
        gw_kv_arr(&w, "tokenizer.ggml.merges", WISP_GGUF_STRING, sv->n_merges);
        for (uint32_t i = 0; i < sv->n_merges; i++) gw_str(&w, sv->merges[i]);
    }
    if (sv->add_eos >= 0) gw_kv_bool(&w, "tokenizer.ggml.add_eos_token", sv->add_eos);
    gw_kv_u32(&w, "tokenizer.ggml.eos_token_id", 2);
    if (sv->bad_pad) gw_kv_u32(&w, "tokenizer.ggml.padding_token_id", 0xFFFFFFFFu);
    CHECK(!w.failed);
    wisp_reader r = wisp_reader_memory(w.data, w.len);
    wisp_gguf *g = NULL;
    uint64_t needed = 0;
    wisp_status s = wisp_gguf_open(&r, w.len, &g, &needed, err, err_len);
    CHECKF(s == WISP_OK, "synthetic gguf: %s", err);
    if (s == WISP_OK) s = wisp_vocab_load(g, out, err, err_len);
    wisp_gguf_free(g);
    gw_free(&w);
    return s;
}

static void test_synthetic(void) {
    /* a small SentencePiece vocabulary with special tokens of every kind */
    static const char *const toks[] = {
        "<unk>", "<s>", "</s>", "\342\226\201", "a", "b", "\342\226\201a", "ab", "<tool>", "<ctl>",
        "<0x0A>", "ba", "ba", "<unused0>", "", "x", "<gone>",
    };
    static const int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 1, 4, 3, 6, 1, 1, 3, 1, 0, 5};
    synth_vocab sv = {"llama", NULL, "My-Phi3-Test", toks, types, 17, NULL, 0, 1, true, true};
    wisp_vocab *v = NULL;
    char err[256] = "";
    wisp_status s = load_synth(&sv, &v, err, sizeof err);
    CHECKF(s == WISP_OK, "%s", err);
    if (s != WISP_OK) return;
    int32_t ids[32];
    /* USER_DEFINED is split out even without parse_special; phi3 names make it rstrip */
    int32_t n = wisp_vocab_tokenize(v, "a<tool>  b", 10, ids, 32, false, false);
    CHECK(n == 4 && ids[0] == 6 && ids[1] == 8 && ids[2] == 3 && ids[3] == 5);
    /* CONTROL only with parse_special; then the next text gets the space prefix again */
    n = wisp_vocab_tokenize(v, "a<ctl>b", 7, ids, 32, false, true);
    CHECK(n == 4 && ids[0] == 6 && ids[1] == 9 && ids[2] == 3 && ids[3] == 5);
    n = wisp_vocab_tokenize(v, "<ctl>", 5, ids, 32, false, false);
    CHECK(n > 1 && ids[0] != 9);
    /* no byte token for 'z' or '<': UNK stands in; "\n" has its byte token */
    n = wisp_vocab_tokenize(v, "z\n", 2, ids, 32, false, false);
    CHECK(n == 3 && ids[0] == 3 && ids[1] == 0 && ids[2] == 10);
    /* add_eos: appended with add_bos (llama.cpp's add_special) */
    n = wisp_vocab_tokenize(v, "a", 1, ids, 32, true, false);
    CHECK(n == 3 && ids[0] == 1 && ids[1] == 6 && ids[2] == 2);
    /* duplicate text: the later id wins */
    n = wisp_vocab_tokenize(v, "ba", 2, ids, 32, false, false);
    CHECK(n == 2 && ids[0] == 3 && ids[1] == 12);
    /* pieces of the odd types */
    char buf[32];
    CHECK(wisp_vocab_token_to_piece(v, 13, buf, 32, true) == 9);   /* control (and "unused") */
    CHECK(wisp_vocab_token_to_piece(v, 13, buf, 32, false) == 0);
    CHECK(wisp_vocab_token_to_piece(v, 15, buf, 32, true) == 0);   /* UNDEFINED type */
    CHECK(wisp_vocab_token_to_piece(v, 16, buf, 32, true) == 0);   /* UNUSED type */
    CHECK(strcmp(wisp_vocab_token_text(v, 14), "[EMPTY_14]") == 0);
    CHECK(wisp_vocab_token_to_piece(v, 8, buf, 32, false) == 6);   /* user-defined: verbatim */
    CHECK(wisp_vocab_token_to_piece(v, 10, buf, 32, false) == 1 && buf[0] == '\n');
    CHECK(wisp_vocab_is_eog(v, 2) && !wisp_vocab_is_eog(v, 0));
    wisp_vocab_free(v);

    /* byte-level BPE with merges */
    static const char *const btoks[] = {"a", "b", "c", "ab", "abc", "\304\240", "\304\240a", "<|endoftext|>"};
    static const char *const bmerges[] = {"a b", "ab c", "\304\240 a", "nospace"};
    synth_vocab sb = {"gpt2", "gpt-2", NULL, btoks, NULL, 8, bmerges, 4, -1, false, false};
    s = load_synth(&sb, &v, err, sizeof err);
    CHECKF(s == WISP_OK, "%s", err);
    if (s == WISP_OK) {
        n = wisp_vocab_tokenize(v, "abc ab", 6, ids, 32, false, false);
        /* "a b" (rank 0) beats "Ġ a" (rank 2): " ab" -> "Ġ" "ab" */
        CHECK(n == 3 && ids[0] == 4 && ids[1] == 5 && ids[2] == 3);
        /* bytes without a token are dropped, as llama.cpp does */
        n = wisp_vocab_tokenize(v, "zz", 2, ids, 32, false, false);
        CHECK(n == 0);
        CHECK(wisp_vocab_is_eog(v, 7) && wisp_vocab_eot(v) == 7);
        wisp_vocab_free(v);
    }

    /* errors */
    synth_vocab bad = sb;
    bad.pre = "no-such-pre";
    v = NULL;
    s = load_synth(&bad, &v, err, sizeof err);
    CHECK(s == WISP_ERR_UNSUPPORTED && v == NULL && strstr(err, "no-such-pre") != NULL);
    bad = sb;
    bad.model = "bert";
    s = load_synth(&bad, &v, err, sizeof err);
    CHECK(s == WISP_ERR_UNSUPPORTED && strstr(err, "bert") != NULL);
    bad = sb;
    bad.merges = NULL;
    s = load_synth(&bad, &v, err, sizeof err);
    CHECK(s == WISP_ERR_FORMAT && strstr(err, "merges") != NULL);
    bad = sb;
    bad.n = 0;
    s = load_synth(&bad, &v, err, sizeof err);
    CHECK(s == WISP_ERR_FORMAT);
    CHECK(wisp_vocab_load(NULL, &v, err, sizeof err) == WISP_ERR_INVALID_ARG);
    wisp_vocab_free(NULL);
}

/* ------------------------------------------------------------------ main */

int main(void) {
    test_unicode_basics();
    test_pretokenizer();
    test_synthetic();

    static const char *const vocabs[] = {"llama-spm", "llama-bpe", "qwen2", "gpt-2", "phi-3", "starcoder"};
    for (size_t i = 0; i < sizeof vocabs / sizeof vocabs[0]; i++) {
        char rel[256], inp[256], outp[256], xout[256];
        snprintf(rel, sizeof rel, "tokenizer-tests/ggml-vocab-%s.gguf", vocabs[i]);
        snprintf(inp, sizeof inp, "tokenizer-tests/ggml-vocab-%s.gguf.inp", vocabs[i]);
        snprintf(outp, sizeof outp, "tokenizer-tests/ggml-vocab-%s.gguf.out", vocabs[i]);
        snprintf(xout, sizeof xout, "tokenizer-tests/extra/ggml-vocab-%s.gguf.out", vocabs[i]);
        double secs = 0;
        wisp_vocab *v = load_vocab(rel, &secs);
        if (!v) continue;
        int tot1 = 0, tot2 = 0, rt1 = 0, rt2 = 0;
        int p1 = run_vectors(v, vocabs[i], inp, outp, &tot1, &rt1);
        int p2 = run_vectors(v, vocabs[i], "tokenizer-tests/extra/extra.inp", xout, &tot2, &rt2);
        printf("%-10s: %d/%d + extra %d/%d   (round trip %d/%d + %d/%d; %u tokens loaded in %.3f s)\n", vocabs[i],
               p1, tot1, p2, tot2, rt1, tot1, rt2, tot2, wisp_vocab_n_tokens(v), secs);
        /* byte-level BPE loses nothing: every text must round-trip */
        if (strcmp(wisp_vocab_model_name(v), "gpt2") == 0) CHECK(rt1 == tot1 && rt2 == tot2);
        if (strcmp(vocabs[i], "qwen2") == 0) {
            test_qwen2_special(v);
            /* speed: the whole 24 KB extra.inp in one call */
            char path[1024];
            if (test_fixture(path, sizeof path, "tokenizer-tests/extra/extra.inp")) {
                size_t sz;
                char *all = test_read_file(path, &sz);
                clock_t t0 = clock();
                int32_t n = wisp_vocab_tokenize(v, all, sz, NULL, 0, false, false);
                double dt = (double)(clock() - t0) / CLOCKS_PER_SEC;
                printf("qwen2: %zu bytes -> %d tokens in %.3f s\n", sz, n, dt);
                CHECK(n > 0);
                CHECK(dt < 5.0);  /* generous for sanitizer builds; ~10 ms optimized */
                free(all);
            }
            CHECK(secs < 10.0);
        }
        if (strcmp(vocabs[i], "llama-spm") == 0) test_spm_edges(v);
        wisp_vocab_free(v);
    }

    {
        wisp_vocab *v = load_vocab("models/stories260K.gguf", NULL);
        if (v) {
            int tot = 0, rt = 0;
            int p = run_vectors(v, "stories260K", "tokenizer-tests/extra/extra.inp",
                                "tokenizer-tests/extra/stories260K.gguf.out", &tot, &rt);
            printf("%-10s: extra %d/%d (round trip %d/%d)\n", "stories260K", p, tot, rt, tot);
            test_streaming(v);
#ifdef WISP_TEST_STUB_MODEL
            {
                /* the wisp.h wrappers */
                wisp_detok d;
                char buf[64];
                wisp_detok_init(&d, (const wisp_model *)(const void *)v, false);
                int32_t ids[8];
                int32_t n = wisp_vocab_tokenize(v, "Once", 4, ids, 8, false, false);
                CHECK(n == 1 && wisp_detok_push(&d, ids[0], buf, 64) == 4 && memcmp(buf, "Once", 4) == 0);
                CHECK(wisp_detok_flush(&d, buf, 64) == 0);
            }
#endif
            wisp_vocab_free(v);
        }
    }

    run_reference("models/stories260K.gguf", "reference/stories260K.json");
    run_reference("models/synthetic/tiny-spm32k-q4_0.gguf", "reference/tiny-spm32k-q4_0.json");
    run_reference("models/synthetic/tiny-qwen2-q4_0.gguf", "reference/tiny-qwen2-q4_0.json");
    run_reference("models/synthetic/tiny-llama3-q4_0.gguf", "reference/tiny-llama3-q4_0.json");

    return test_finish("test_tokenizer");
}
