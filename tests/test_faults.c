/* test_faults.c — faults and limits at the C API: oversized models and contexts, prompts
 * past the context, bad text, bad sampling values, aborts, read errors, and model reuse.
 * Every case must end in a clear status + message (never a crash), leaving handles usable. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "test_util.h"
#include "wisp.h"

/* Huge-allocation cases must fail with WISP_ERR_OOM, not abort, under ASan too. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

static unsigned char *g_file;
static size_t g_size;

/* ---------------------------------------------------------------- readers */

typedef struct fault_reader {
    const unsigned char *data;
    uint64_t avail;     /* bytes the reader can serve */
    uint64_t fail_at;   /* reads touching [fail_at, ...) fail (UINT64_MAX: never) */
    int reads;
} fault_reader;

static int fault_read(void *user, void *dst, uint64_t offset, size_t len) {
    fault_reader *f = (fault_reader *)user;
    f->reads++;
    if (offset > f->avail || len > f->avail - offset) return 1;
    if (offset + len > f->fail_at) return 1;
    memcpy(dst, f->data + offset, len);
    return 0;
}

static wisp_model *load_ok(void) {
    wisp_reader r = wisp_reader_memory(g_file, g_size);
    wisp_model *m = NULL;
    char err[512];
    wisp_status s = wisp_model_load(&r, NULL, &m, err, sizeof err);
    CHECKF(s == WISP_OK && m, "load: %s", err);
    return m;
}

static wisp_context *ctx_ok(const wisp_model *m, uint32_t n_ctx) {
    wisp_context_params cp = wisp_context_default_params();
    cp.n_ctx = n_ctx;
    wisp_context *c = NULL;
    char err[512];
    wisp_status s = wisp_context_init(m, &cp, &c, err, sizeof err);
    CHECKF(s == WISP_OK && c, "context: %s", err);
    return c;
}

static int argmax(const float *l, uint32_t n) {
    int b = 0;
    for (uint32_t i = 1; i < n; i++)
        if (l[i] > l[b]) b = (int)i;
    return b;
}

/* ---------------------------------------------------------------- model too large */

/* A header whose token_embd claims far more bytes than memory: the load must fail with
 * OOM (or FORMAT if the shape is refused first) before reading any tensor data. */
static void test_model_too_large(void) {
    /* the stories260K header with its last tensor (by offset) patched to ~2^40 bytes and a
     * claimed file size that holds it: a valid header the machine cannot load */
    wisp_reader hr = wisp_reader_memory(g_file, g_size);
    wisp_gguf *g = NULL;
    char err[512];
    CHECK(wisp_gguf_open(&hr, 0, &g, NULL, err, sizeof err) == WISP_OK);
    if (!g) return;
    const wisp_gguf_tensor *last = NULL;
    for (int64_t i = 0; i < wisp_gguf_n_tensors(g); i++) {
        const wisp_gguf_tensor *t = wisp_gguf_tensor_at(g, i);
        if (!last || t->offset > last->offset) last = t;
    }
    uint64_t hdr = wisp_gguf_data_offset(g);
    char name[96];
    snprintf(name, sizeof name, "%s", last->name.str);
    uint32_t nd = last->n_dims;
    wisp_gguf_free(g);
    /* its tensor-info record in the raw header: u64 name length, name, u32 n_dims, ne[] */
    size_t nl = strlen(name), at = 0;
    for (size_t i = 8; i + nl + 4 + 8 * nd < hdr; i++) {
        uint64_t len;
        memcpy(&len, g_file + i - 8, 8);
        if (len == nl && memcmp(g_file + i, name, nl) == 0) { at = i + nl; break; }
    }
    CHECK(at != 0 && nd == 1);
    if (!at || nd != 1) return;
    unsigned char *h = (unsigned char *)malloc((size_t)hdr);
    memcpy(h, g_file, (size_t)hdr);
    uint64_t ne0 = 1ull << 38; /* F32: 2^40 bytes */
    memcpy(h + at + 4, &ne0, 8);
    fault_reader f = {h, hdr, UINT64_MAX, 0};
    wisp_reader r = {&f, hdr, fault_read};
    wisp_model *m = (wisp_model *)(uintptr_t)1;
    uint64_t needed = 0;
    /* as the browser does: the header bytes and the size of the (claimed) whole file */
    wisp_status s = wisp_model_begin(&r, 1ull << 46, NULL, &m, &needed, err, sizeof err);
    CHECKF(s == WISP_ERR_OOM, "huge model: status %d (%s)", (int)s, err);
    CHECK(m == NULL && err[0]);
    CHECK(f.reads <= 3); /* header only: no tensor data was read */
    printf("  huge '%s' -> %s: %s\n", name, wisp_status_name(s), err);
    free(h);

    /* a context larger than the trained length is refused; the KV size is reported */
    wisp_model *ok = load_ok();
    if (!ok) return;
    wisp_model_info in;
    wisp_model_get_info(ok, &in);
    wisp_context_params cp = wisp_context_default_params();
    cp.n_ctx = in.n_ctx_train + 1;
    wisp_context *c = (wisp_context *)(uintptr_t)1;
    s = wisp_context_init(ok, &cp, &c, err, sizeof err);
    CHECKF(s == WISP_ERR_INVALID_ARG && c == NULL && strstr(err, "context"), "n_ctx > trained: %d %s", (int)s, err);
    CHECK(wisp_model_kv_bytes(ok, 1u << 31) > (1ull << 32)); /* 64-bit math, no wrap */
    wisp_model_free(ok);
}

/* ---------------------------------------------------------------- context overflow */

static void test_context_full(void) {
    wisp_model *m = load_ok();
    if (!m) return;
    wisp_model_info in;
    wisp_model_get_info(m, &in);
    wisp_context *c = ctx_ok(m, 16);
    if (!c) { wisp_model_free(m); return; }
    wisp_token toks[32];
    for (int i = 0; i < 32; i++) toks[i] = (wisp_token)(1 + i * 7 % 500);
    /* a prompt longer than the context: CONTEXT_FULL, nothing changes */
    wisp_status s = wisp_decode(c, toks, 17);
    CHECKF(s == WISP_ERR_CONTEXT_FULL, "17 tokens into 16: %d", (int)s);
    CHECK(wisp_context_n_past(c) == 0 && wisp_context_last_error(c)[0]);
    /* fill exactly, then one more */
    CHECK(wisp_decode(c, toks, 10) == WISP_OK);
    float ref[512];
    memcpy(ref, wisp_get_logits(c, -1), sizeof ref);
    CHECK(wisp_decode(c, toks + 10, 7) == WISP_ERR_CONTEXT_FULL);
    CHECK(wisp_context_n_past(c) == 10);
    const float *l = wisp_get_logits(c, -1);
    CHECK(l && memcmp(l, ref, sizeof ref) == 0); /* the failed call changed nothing */
    CHECK(wisp_decode(c, toks + 10, 6) == WISP_OK && wisp_context_n_past(c) == 16);
    CHECK(wisp_decode(c, toks, 1) == WISP_ERR_CONTEXT_FULL);
    /* truncation (what a caller does to continue) */
    CHECK(wisp_context_truncate(c, 17) == WISP_ERR_INVALID_ARG);
    CHECK(wisp_context_truncate(c, 4) == WISP_OK && wisp_decode(c, toks + 4, 6) == WISP_OK);
    CHECK(wisp_context_n_past(c) == 10);
    l = wisp_get_logits(c, -1);
    CHECK(l && memcmp(l, ref, sizeof ref) == 0); /* same tokens again: same logits */
    /* bad token ids and empty input */
    wisp_token bad[2] = {1, (wisp_token)in.n_vocab};
    CHECK(wisp_decode(c, bad, 2) == WISP_ERR_INVALID_ARG && wisp_context_n_past(c) == 10);
    bad[1] = -1;
    CHECK(wisp_decode(c, bad, 2) == WISP_ERR_INVALID_ARG);
    CHECK(wisp_decode(c, toks, 0) == WISP_ERR_INVALID_ARG && wisp_context_last_error(c)[0]);
    CHECK(wisp_decode(c, NULL, 1) == WISP_ERR_INVALID_ARG);
    wisp_context_free(c);
    wisp_model_free(m);
}

/* ---------------------------------------------------------------- text */

static void test_text(void) {
    wisp_model *m = load_ok();
    if (!m) return;
    wisp_token ids[64];
    /* empty prompt: no tokens (or only BOS) */
    CHECK(wisp_tokenize(m, "", 0, ids, 64, false, false) == 0);
    CHECK(wisp_tokenize(m, "", 0, ids, 64, true, false) == 1 && ids[0] == 1);
    CHECK(wisp_tokenize(m, NULL, 0, ids, 64, false, false) == 0);
    /* invalid UTF-8 is refused with INVALID_ARG; NUL bytes are text */
    static const char *bad[] = {"\xff", "ab\xc3", "\xc3\x28", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t n = wisp_tokenize(m, bad[i], strlen(bad[i]), ids, 64, true, true);
        CHECKF(n == -WISP_ERR_INVALID_ARG, "invalid UTF-8 #%zu: %d", i, n);
    }
    const char nul[] = "Once\0upon\0a time";
    int32_t n = wisp_tokenize(m, nul, sizeof nul - 1, ids, 64, false, false);
    CHECK(n > 0 && n < 64);
    if (n > 0 && n < 64) {
        char out[256];
        size_t o = 0;
        wisp_detok d;
        wisp_detok_init(&d, m, false);
        for (int32_t i = 0; i < n; i++) {
            int32_t w = wisp_detok_push(&d, ids[i], out + o, 64);
            CHECK(w >= 0);
            if (w > 0) o += (size_t)w;
        }
        CHECKF(o == sizeof nul - 1 && memcmp(out, nul, o) == 0, "NUL bytes round trip (%zu bytes)", o);
    }
    /* pieces of invalid ids */
    char piece[16];
    CHECK(wisp_token_to_piece(m, -1, piece, 16, false) < 0);
    CHECK(wisp_token_to_piece(m, 512, piece, 16, false) < 0);
    CHECK(wisp_token_text(m, 1 << 30) == NULL);
    wisp_detok d;
    wisp_detok_init(&d, m, false);
    CHECK(wisp_detok_push(&d, 99999, piece, 16) < 0);
    /* a short output buffer: the count is still right, nothing written past cap */
    wisp_token two[3] = {0, 0, 777};
    int32_t full = wisp_tokenize(m, "Once upon a time", 16, NULL, 0, true, false);
    CHECK(full == 5);
    CHECK(wisp_tokenize(m, "Once upon a time", 16, two, 2, true, false) == full && two[2] == 777);
    wisp_model_free(m);
}

/* ---------------------------------------------------------------- sampling values */

static void test_sampling_values(void) {
    char err[256];
    wisp_sampler *s = NULL;
    struct { const char *what; float t, p, mn, rp; int32_t last_n; } bad[] = {
        {"negative temperature", -0.5f, 0.9f, 0.05f, 1.0f, 64},
        {"NaN temperature", NAN, 0.9f, 0.05f, 1.0f, 64},
        {"infinite temperature", INFINITY, 0.9f, 0.05f, 1.0f, 64},
        {"top_p > 1", 0.8f, 1.5f, 0.05f, 1.0f, 64},
        {"top_p 0", 0.8f, 0.0f, 0.05f, 1.0f, 64},
        {"NaN top_p", 0.8f, NAN, 0.05f, 1.0f, 64},
        {"min_p > 1", 0.8f, 0.9f, 2.0f, 1.0f, 64},
        {"NaN min_p", 0.8f, 0.9f, NAN, 1.0f, 64},
        {"negative repeat_penalty", 0.8f, 0.9f, 0.05f, -1.0f, 64},
        {"NaN repeat_penalty", 0.8f, 0.9f, 0.05f, NAN, 64},
        {"negative repeat_last_n", 0.8f, 0.9f, 0.05f, 1.0f, -3},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wisp_sampler_params p = wisp_sampler_default_params();
        p.temperature = bad[i].t;
        p.top_p = bad[i].p;
        p.min_p = bad[i].mn;
        p.repeat_penalty = bad[i].rp;
        p.repeat_last_n = bad[i].last_n;
        err[0] = 0;
        wisp_status st = wisp_sampler_init(&p, 512, &s, err, sizeof err);
        CHECKF(st == WISP_ERR_INVALID_ARG && s == NULL && err[0], "%s accepted (%d)", bad[i].what, (int)st);
    }
    wisp_sampler_params p = wisp_sampler_default_params();
    CHECK(wisp_sampler_init(&p, 0, &s, err, sizeof err) == WISP_ERR_INVALID_ARG);
    p.top_k = -5; /* <= 0: off, valid */
    CHECK(wisp_sampler_init(&p, 512, &s, err, sizeof err) == WISP_OK);
    /* logits with NaN/inf in them still sample a valid id */
    float l[512];
    for (int i = 0; i < 512; i++) l[i] = (float)(i % 7);
    l[3] = NAN;
    l[9] = INFINITY;
    l[10] = -INFINITY;
    for (int k = 0; k < 20; k++) {
        wisp_token t = wisp_sampler_sample(s, l);
        CHECKF(t >= 0 && t < 512, "sampled %d from logits with NaN/inf", t);
    }
    wisp_sampler_free(s);
}

/* ---------------------------------------------------------------- aborts and read errors */

static int g_progress_calls;
static bool abort_at_half(float p, void *user) {
    (void)user;
    g_progress_calls++;
    return p < 0.5f;
}

static int g_abort_countdown;
static bool abort_after(void *user) {
    (void)user;
    return --g_abort_countdown < 0;
}

static void test_aborts(void) {
    char err[512];
    /* abort during load (READ_CHUNK is 8 MiB: stories260K's weights come in one piece, so
     * the first progress call is at 1.0; abort on it) */
    wisp_model_params mp = wisp_model_default_params();
    mp.progress = abort_at_half;
    wisp_reader r = wisp_reader_memory(g_file, g_size);
    wisp_model *m = (wisp_model *)(uintptr_t)1;
    g_progress_calls = 0;
    wisp_status s;
    /* abort_at_half returns false at p >= 0.5: the single (p == 1.0) report aborts */
    s = wisp_model_load(&r, &mp, &m, err, sizeof err);
    CHECKF(s == WISP_ERR_ABORTED && m == NULL && err[0], "abort during load: %d %s", (int)s, err);
    CHECK(g_progress_calls >= 1);

    /* read error in the middle of the weights: IO, nothing leaked (ASan checks) */
    fault_reader f = {g_file, g_size, g_size / 2, 0};
    wisp_reader fr = {&f, g_size, fault_read};
    m = (wisp_model *)(uintptr_t)1;
    s = wisp_model_load(&fr, NULL, &m, err, sizeof err);
    CHECKF(s == WISP_ERR_IO && m == NULL && err[0], "read error: %d %s", (int)s, err);
    /* a read error inside the header */
    fault_reader fh = {g_file, g_size, 1000, 0};
    wisp_reader frh = {&fh, g_size, fault_read};
    s = wisp_model_load(&frh, NULL, &m, err, sizeof err);
    CHECKF(s == WISP_ERR_IO && m == NULL, "header read error: %d %s", (int)s, err);
    /* a file cut short */
    wisp_reader cut = wisp_reader_memory(g_file, g_size - 100);
    s = wisp_model_load(&cut, NULL, &m, err, sizeof err);
    CHECKF(s == WISP_ERR_FORMAT && m == NULL, "truncated file: %d %s", (int)s, err);

    /* abort during prefill and decode: ABORTED, the cache is left as before the call, and
     * the context then gives the same logits as a fresh one */
    m = load_ok();
    if (!m) return;
    wisp_context *c = ctx_ok(m, 128);
    wisp_context *fresh = ctx_ok(m, 128);
    if (!c || !fresh) { wisp_context_free(c); wisp_context_free(fresh); wisp_model_free(m); return; }
    wisp_token toks[100];
    for (int i = 0; i < 100; i++) toks[i] = (wisp_token)(1 + (i * 37) % 511);
    for (int when = 0; when < 8; when += 3) {
        g_abort_countdown = when;
        wisp_context_set_abort(c, abort_after, NULL);
        s = wisp_decode(c, toks, 100); /* 2 chunks of n_batch 64 */
        CHECKF(s == WISP_ERR_ABORTED, "abort in prefill after %d checks: %d", when, (int)s);
        CHECK(wisp_context_n_past(c) == 0 && wisp_context_last_error(c)[0]);
    }
    wisp_context_set_abort(c, NULL, NULL);
    CHECK(wisp_decode(c, toks, 50) == WISP_OK);
    g_abort_countdown = 1;
    wisp_context_set_abort(c, abort_after, NULL);
    CHECK(wisp_decode(c, toks + 50, 1) == WISP_ERR_ABORTED && wisp_context_n_past(c) == 50);
    wisp_context_set_abort(c, NULL, NULL);
    CHECK(wisp_decode(c, toks + 50, 1) == WISP_OK);
    CHECK(wisp_decode(fresh, toks, 51) == WISP_OK);
    const float *a = wisp_get_logits(c, -1), *b = wisp_get_logits(fresh, -1);
    CHECK(a && b && memcmp(a, b, 512 * sizeof(float)) == 0);
    CHECK(argmax(a, 512) == argmax(b, 512));
    wisp_context_free(c);
    wisp_context_free(fresh);
    wisp_model_free(m);
}

/* ---------------------------------------------------------------- two models */

static void test_two_models(void) {
    /* a second model loaded while the first is mid-generation: both usable, independent */
    wisp_model *a = load_ok();
    if (!a) return;
    wisp_context *ca = ctx_ok(a, 64);
    wisp_token p[5] = {1, 403, 407, 261, 378};
    CHECK(wisp_decode(ca, p, 5) == WISP_OK);
    int ta = argmax(wisp_get_logits(ca, -1), 512);
    wisp_model *b = load_ok();
    wisp_context *cb = b ? ctx_ok(b, 64) : NULL;
    if (cb) {
        CHECK(wisp_decode(cb, p, 5) == WISP_OK);
        CHECK(argmax(wisp_get_logits(cb, -1), 512) == ta);
    }
    /* free the first model's context and model while the second keeps going */
    wisp_context_free(ca);
    wisp_model_free(a);
    if (cb) {
        wisp_token t = (wisp_token)ta;
        CHECK(wisp_decode(cb, &t, 1) == WISP_OK);
    }
    wisp_context_free(cb);
    wisp_model_free(b);
    /* NULL handling */
    wisp_model_free(NULL);
    wisp_context_free(NULL);
    wisp_sampler_free(NULL);
    char err[128];
    wisp_model *m = NULL;
    CHECK(wisp_model_load(NULL, NULL, &m, err, sizeof err) == WISP_ERR_INVALID_ARG);
    CHECK(wisp_context_init(NULL, NULL, NULL, err, sizeof err) == WISP_ERR_INVALID_ARG);
    CHECK(wisp_tokenize(NULL, "a", 1, NULL, 0, false, false) == -WISP_ERR_INVALID_ARG);
    /* a vocab-only model cannot get a context */
    wisp_model_params vp = wisp_model_default_params();
    vp.vocab_only = true;
    wisp_reader r = wisp_reader_memory(g_file, g_size);
    CHECK(wisp_model_load(&r, &vp, &m, err, sizeof err) == WISP_OK);
    wisp_context *c = NULL;
    CHECK(wisp_context_init(m, NULL, &c, err, sizeof err) == WISP_ERR_INVALID_ARG && c == NULL);
    wisp_model_free(m);
}

int main(void) {
    char path[1024];
    if (!test_fixture(path, sizeof path, "models/stories260K.gguf")) return test_finish("test_faults");
    g_file = (unsigned char *)test_read_file(path, &g_size);
    CHECK(g_file != NULL);
    if (!g_file) return test_finish("test_faults");
    test_model_too_large();
    test_context_full();
    test_text();
    test_sampling_values();
    test_aborts();
    test_two_models();
    free(g_file);
    return test_finish("test_faults");
}
