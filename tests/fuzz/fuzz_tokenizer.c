/* fuzz_tokenizer.c — libFuzzer target for a tokenizer (built twice: SPM and BPE vocab,
 * chosen by WISP_FUZZ_VOCAB). Encodes the input with/without parse_special, decodes
 * it back piece by piece and through the streaming detokenizer, and checks contracts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "wisp.h"

#ifndef WISP_FUZZ_VOCAB
#define WISP_FUZZ_VOCAB "tokenizer-tests/ggml-vocab-llama-spm.gguf"
#endif

static wisp_model *g_model;
static uint32_t g_n_vocab;
static bool g_spm;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    char path[1024], err[512];
    fuzz_fixture(WISP_FUZZ_VOCAB, path, sizeof path);
    wisp_model_params p = wisp_model_default_params();
    p.vocab_only = true;
    if (wisp_model_load_file(path, &p, &g_model, err, sizeof err) != WISP_OK) {
        fprintf(stderr, "fuzz_tokenizer: cannot load %s: %s (set WISP_FIXTURES)\n", path, err);
        exit(1);
    }
    wisp_model_info in;
    wisp_model_get_info(g_model, &in);
    g_n_vocab = in.n_vocab;
    g_spm = strcmp(in.tokenizer, "llama") == 0;
    return 0;
}

/* Strict UTF-8 check (no overlongs, no surrogates, <= U+10FFFF). */
static bool valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
        else return false;
        if (i + len > n) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        i += len;
    }
    return true;
}

/* SentencePiece maps U+2581 (the space marker) in the input to a space on the way back. */
static bool memmem_utf8_2581(const char *s, size_t n) {
    for (size_t i = 0; i + 2 < n; i++)
        if ((unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x96 && (unsigned char)s[i + 2] == 0x81) return true;
    return false;
}

/* Streams ids through the detokenizer; returns the malloc'd text (length in *len).
 * Each push gets 64 bytes first; on "too small" nothing is consumed, and a buffer of
 * 3 bytes per piece byte (+ held bytes) must then do. */
static char *detok_all(const wisp_token *ids, int32_t n, bool special, size_t *len) {
    wisp_detok d;
    wisp_detok_init(&d, g_model, special);
    size_t cap = 256, o = 0;
    char *out = (char *)malloc(cap);
    FUZZ_CHECK(out, "oom");
    for (int32_t i = 0; i <= n; i++) {
        int32_t need = i < n ? 3 * (wisp_token_to_piece(g_model, ids[i], NULL, 0, special) + 4) : 3;
        if (need < 64) need = 64;
        if (cap - o < (size_t)need) {
            cap = (cap + (size_t)need) * 2;
            out = (char *)realloc(out, cap);
            FUZZ_CHECK(out, "oom");
        }
        int32_t w;
        if (i == n) {
            w = wisp_detok_flush(&d, out + o, 64);
        } else {
            w = wisp_detok_push(&d, ids[i], out + o, 64);
            if (w == -WISP_ERR_INVALID_ARG) w = wisp_detok_push(&d, ids[i], out + o, need);
        }
        FUZZ_CHECK(w >= 0 && w <= need, "detok_push(%d) returned %d (cap %d)", i < n ? ids[i] : -1, w, need);
        o += (size_t)w;
    }
    *len = o;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 16384) return 0;
    const uint8_t flags = data[0];
    const char *text = (const char *)data + 1;
    const size_t len = size - 1;
    const bool parse_special = flags & 1, add_bos = (flags & 2) != 0, special = (flags & 4) != 0;

    /* encode: the first call sizes the output, the second fills it; a short buffer must
     * give the same count and never be written past cap */
    int32_t n = wisp_tokenize(g_model, text, len, NULL, 0, add_bos, parse_special);
    const bool text_ok = valid_utf8((const unsigned char *)text, len);
    if (n < 0) {
        FUZZ_CHECK(n == -WISP_ERR_INVALID_ARG, "tokenize returned %d", n);
        FUZZ_CHECK(!text_ok, "valid UTF-8 refused (%d)", n);
    } else {
        FUZZ_CHECK(n <= (int32_t)len + 2, "%d tokens for %zu bytes", n, len);
    }
    if (n >= 0) {
        wisp_token *ids = (wisp_token *)malloc(((size_t)n + 2) * sizeof *ids);
        FUZZ_CHECK(ids, "oom");
        ids[n] = ids[n + 1] = 0x7eadbeef;
        int32_t n2 = wisp_tokenize(g_model, text, len, ids, n, add_bos, parse_special);
        FUZZ_CHECK(n2 == n, "count changed %d -> %d", n, n2);
        FUZZ_CHECK(ids[n] == 0x7eadbeef && ids[n + 1] == 0x7eadbeef, "wrote past cap");
        if (n > 1) {
            wisp_token first[2] = {0, 0x7eadbeef};
            FUZZ_CHECK(wisp_tokenize(g_model, text, len, first, 1, add_bos, parse_special) == n, "cap 1 count");
            FUZZ_CHECK(first[1] == 0x7eadbeef && first[0] == ids[0], "cap 1 write");
        }
        for (int32_t i = 0; i < n; i++) {
            FUZZ_CHECK(ids[i] >= 0 && (uint32_t)ids[i] < g_n_vocab, "id %d out of range", ids[i]);
            /* pieces: the count does not depend on cap, nothing written past cap */
            char small[4] = {'#', '#', '#', '#'};
            char big[512];
            int32_t pn = wisp_token_to_piece(g_model, ids[i], big, (int32_t)sizeof big, special);
            FUZZ_CHECK(pn >= 0, "token_to_piece(%d) = %d", ids[i], pn);
            int32_t ps = wisp_token_to_piece(g_model, ids[i], small, 2, special);
            FUZZ_CHECK(ps == pn, "piece count depends on cap (%d vs %d)", ps, pn);
            FUZZ_CHECK(small[2] == '#' && small[3] == '#', "piece written past cap");
            (void)wisp_token_text(g_model, ids[i]);
            (void)wisp_token_is_eog(g_model, ids[i]);
        }
        /* decode: the streaming detokenizer only ever produces valid UTF-8 */
        size_t dl;
        char *back = detok_all(ids, n, special, &dl);
        FUZZ_CHECK(valid_utf8((const unsigned char *)back, dl), "detokenizer produced invalid UTF-8");
        /* round trip: plain valid UTF-8 text without special parsing comes back unchanged
         * (the SPM leading-space rule is llama.cpp's: only a text starting with a space differs) */
        if (text_ok && !parse_special && !add_bos && !(g_spm && len && text[0] == ' ') &&
            !(g_spm && memmem_utf8_2581(text, len))) {
            FUZZ_CHECK(dl == len && memcmp(back, text, len) == 0,
                       "round trip differs: %zu bytes in, %zu out", len, dl);
        }
        free(back);
        free(ids);
    }

    /* arbitrary ids (including invalid ones) through the piece and stream APIs */
    wisp_detok d;
    wisp_detok_init(&d, g_model, special);
    char buf[64];
    for (size_t i = 1; i + 3 <= size && i < 64 * 3; i += 3) {
        int32_t id = (int32_t)(data[i] | (data[i + 1] << 8) | ((uint32_t)data[i + 2] << 16));
        id = id % (int32_t)(g_n_vocab + 64) - 32; /* mostly valid, some negative / past the end */
        char piece[8];
        int32_t pn = wisp_token_to_piece(g_model, id, piece, (int32_t)sizeof piece, special);
        bool valid = id >= 0 && (uint32_t)id < g_n_vocab;
        FUZZ_CHECK(valid ? pn >= 0 : pn < 0, "token_to_piece(%d) = %d", id, pn);
        int32_t w = wisp_detok_push(&d, id, buf, (int32_t)sizeof buf);
        if (valid && w == -WISP_ERR_INVALID_ARG) {
            /* a long piece (BPE vocabularies have 128- and 256-byte tokens): retry bigger */
            char big[1024];
            int32_t need = wisp_token_to_piece(g_model, id, big, 0, special);
            w = wisp_detok_push(&d, id, big, (int32_t)sizeof big);
            FUZZ_CHECK(need > 16 && w > 64 && w <= 3 * need + 12, "detok_push(%d) refused 64 bytes, then %d", id, w);
            FUZZ_CHECK(valid_utf8((const unsigned char *)big, (size_t)w), "invalid UTF-8 from detok");
            continue;
        }
        FUZZ_CHECK(valid ? (w >= 0 && w <= 64) : w < 0, "detok_push(%d) = %d", id, w);
        FUZZ_CHECK(w <= 0 || valid_utf8((const unsigned char *)buf, (size_t)w), "invalid UTF-8 from detok");
    }
    int32_t w = wisp_detok_flush(&d, buf, (int32_t)sizeof buf);
    FUZZ_CHECK(w >= 0 && valid_utf8((const unsigned char *)buf, (size_t)w), "flush");
    return 0;
}
