/* test_gguf.c — the GGUF parser against every real fixture, partial (streamed) input,
 * and a generated corpus of broken files that must each fail with a specific status. */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "ggml_types.h"
#include "gguf.h"
#include "gguf_writer.h"
#include "test_util.h"

/* ---------------------------------------------------------------- readers */

/* A memory reader that counts calls, flags any read beyond `size` (the parser must
 * never do that), and can be told to fail reads that touch offset >= fail_at. */
typedef struct test_src {
    const unsigned char *data;
    uint64_t size;
    uint64_t fail_at;
    int calls;
    int out_of_bounds;
} test_src;

static int src_read(void *user, void *dst, uint64_t offset, size_t len) {
    test_src *s = (test_src *)user;
    s->calls++;
    if (offset > s->size || len > s->size - offset) {
        s->out_of_bounds++;
        return 1;
    }
    if (len > 0 && offset + len > s->fail_at) return 1;
    memcpy(dst, s->data + offset, len);
    return 0;
}

/* Parses data[0, avail) of a file of file_size bytes (0: avail is the whole file) and
 * checks the contract every call must keep, whatever the bytes. */
static wisp_status open_mem(const void *data, uint64_t avail, uint64_t file_size, wisp_gguf **out,
                            uint64_t *needed, char *err, size_t err_len, int *calls) {
    test_src src = {(const unsigned char *)data, avail, UINT64_MAX, 0, 0};
    wisp_reader r = {&src, avail, src_read};
    uint64_t nd = 12345;
    err[0] = 0;
    wisp_status s = wisp_gguf_open(&r, file_size, out, &nd, err, err_len);
    CHECKF(src.out_of_bounds == 0, "read beyond the reader's size (%d times)", src.out_of_bounds);
    if (s == WISP_OK) {
        CHECK(*out != NULL);
    } else {
        CHECK(*out == NULL);
        CHECKF(err[0] != 0, "status %s without a message", wisp_status_name(s));
    }
    if (s == WISP_ERR_NEED_MORE) {
        CHECKF(nd > avail, "needed %llu <= available %llu", (unsigned long long)nd,
               (unsigned long long)avail);
        CHECK(nd <= (file_size ? file_size : avail));
    }
    if (needed) *needed = nd;
    if (calls) *calls = src.calls;
    return s;
}

/* A stdio reader, the way the CLI reads files: the parser sees only read callbacks. */
typedef struct file_src {
    FILE *f;
    int calls;
} file_src;

static int file_read(void *user, void *dst, uint64_t offset, size_t len) {
    file_src *s = (file_src *)user;
    s->calls++;
    if (fseek(s->f, (long)offset, SEEK_SET) != 0) return 1;
    return fread(dst, 1, len, s->f) == len ? 0 : 1;
}

static wisp_gguf *open_fixture(const char *rel, uint64_t *size_out) {
    char path[1024];
    if (!test_fixture(path, sizeof path, rel)) return NULL;
    FILE *f = fopen(path, "rb");
    CHECKF(f != NULL, "cannot open %s", path);
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    uint64_t size = (uint64_t)ftell(f);
    file_src src = {f, 0};
    wisp_reader r = {&src, size, file_read};
    wisp_gguf *g = NULL;
    char err[512] = "";
    wisp_status s = wisp_gguf_open(&r, 0, &g, NULL, err, sizeof err);
    fclose(f);
    CHECKF(s == WISP_OK, "%s: %s: %s", rel, wisp_status_name(s), err);
    /* Buffered: about one callback per 64 KiB of header, plus big strings/arrays. */
    if (g) {
        uint64_t hdr = wisp_gguf_header_size(g);
        CHECKF((uint64_t)src.calls <= hdr / 65536 + 16, "%s: %d read calls for a %llu-byte header",
               rel, src.calls, (unsigned long long)hdr);
    }
    if (size_out) *size_out = size;
    return g;
}

/* Invariants that hold for any successfully parsed file. */
static void check_invariants(const wisp_gguf *g, uint64_t file_size, const char *what) {
    uint64_t align = wisp_gguf_alignment(g);
    CHECKF(align && (align & (align - 1)) == 0, "%s: alignment %llu", what, (unsigned long long)align);
    CHECK(wisp_gguf_data_offset(g) % align == 0);
    CHECK(wisp_gguf_header_size(g) == wisp_gguf_data_offset(g));
    for (int64_t i = 0; i < wisp_gguf_n_kv(g); i++) {
        const wisp_gguf_str *k = wisp_gguf_key(g, i);
        CHECK(k && k->str && k->str[k->len] == 0);
        if (k && strlen(k->str) == k->len) CHECK(wisp_gguf_find_key(g, k->str) == i);
        CHECK(wisp_gguf_kv_type(g, i) <= WISP_GGUF_FLOAT64);
    }
    for (int64_t i = 0; i < wisp_gguf_n_tensors(g); i++) {
        const wisp_gguf_tensor *t = wisp_gguf_tensor_at(g, i);
        const wisp_ggml_type_info *ti = wisp_ggml_type_get(t->type);
        CHECK(ti != NULL);
        CHECK(t->n_dims >= 1 && t->n_dims <= 4);
        CHECK(t->offset >= wisp_gguf_data_offset(g));
        CHECK(t->offset + t->size <= file_size);
        CHECK((t->offset - wisp_gguf_data_offset(g)) % align == 0);
        CHECK(t->name.str[t->name.len] == 0);
        if (ti) CHECK(t->size == t->n_elements / ti->blck_size * ti->type_size);
        CHECK(t->n_elements == t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        if (strlen(t->name.str) == t->name.len) CHECK(wisp_gguf_find_tensor(g, t->name.str) == t);
    }
    CHECK(wisp_gguf_tensor_at(g, -1) == NULL);
    CHECK(wisp_gguf_tensor_at(g, wisp_gguf_n_tensors(g)) == NULL);
    CHECK(wisp_gguf_key(g, wisp_gguf_n_kv(g)) == NULL);
}

/* Two parses of the same header give the same results. */
static int same_gguf(const wisp_gguf *a, const wisp_gguf *b) {
    if (wisp_gguf_version(a) != wisp_gguf_version(b) || wisp_gguf_alignment(a) != wisp_gguf_alignment(b) ||
        wisp_gguf_data_offset(a) != wisp_gguf_data_offset(b) || wisp_gguf_n_kv(a) != wisp_gguf_n_kv(b) ||
        wisp_gguf_n_tensors(a) != wisp_gguf_n_tensors(b))
        return 0;
    for (int64_t i = 0; i < wisp_gguf_n_kv(a); i++) {
        const wisp_gguf_str *ka = wisp_gguf_key(a, i), *kb = wisp_gguf_key(b, i);
        if (ka->len != kb->len || memcmp(ka->str, kb->str, ka->len) != 0) return 0;
        if (wisp_gguf_kv_type(a, i) != wisp_gguf_kv_type(b, i)) return 0;
        uint32_t ta, tb;
        uint64_t na, nb;
        const void *da, *db;
        wisp_gguf_str sa, sb;
        int64_t ia, ib;
        if (wisp_gguf_get_arr(a, ka->str, &ta, &na, &da)) {
            if (!wisp_gguf_get_arr(b, kb->str, &tb, &nb, &db) || ta != tb || na != nb) return 0;
            if (ta == WISP_GGUF_STRING) {
                const wisp_gguf_str *x = (const wisp_gguf_str *)da, *y = (const wisp_gguf_str *)db;
                for (uint64_t j = 0; j < na; j++)
                    if (x[j].len != y[j].len || memcmp(x[j].str, y[j].str, x[j].len) != 0) return 0;
            }
        } else if (wisp_gguf_get_str(a, ka->str, &sa)) {
            if (!wisp_gguf_get_str(b, kb->str, &sb) || sa.len != sb.len || memcmp(sa.str, sb.str, sa.len))
                return 0;
        } else if (wisp_gguf_get_i64(a, ka->str, &ia)) {
            if (!wisp_gguf_get_i64(b, kb->str, &ib) || ia != ib) return 0;
        }
    }
    for (int64_t i = 0; i < wisp_gguf_n_tensors(a); i++) {
        const wisp_gguf_tensor *x = wisp_gguf_tensor_at(a, i), *y = wisp_gguf_tensor_at(b, i);
        if (x->name.len != y->name.len || memcmp(x->name.str, y->name.str, x->name.len) != 0 ||
            x->n_dims != y->n_dims || memcmp(x->ne, y->ne, sizeof x->ne) != 0 || x->type != y->type ||
            x->offset != y->offset || x->size != y->size || x->n_elements != y->n_elements)
            return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- fixtures */

static void test_stories260k(void) {
    uint64_t size = 0;
    wisp_gguf *g = open_fixture("models/stories260K.gguf", &size);
    if (!g) return;
    CHECK(size == 1185376);
    CHECK(wisp_gguf_version(g) == 3);
    CHECK(wisp_gguf_n_tensors(g) == 48);
    CHECK(wisp_gguf_n_kv(g) == 19);
    CHECK(wisp_gguf_alignment(g) == 32);
    CHECK(wisp_gguf_data_offset(g) == 14176);
    CHECK(wisp_gguf_header_size(g) == 14176);
    check_invariants(g, size, "stories260K");

    const wisp_gguf_tensor *t = wisp_gguf_find_tensor(g, "token_embd.weight");
    CHECK(t != NULL);
    if (t) {
        CHECK(t == wisp_gguf_tensor_at(g, 0));
        CHECK(t->n_dims == 2 && t->ne[0] == 64 && t->ne[1] == 512 && t->ne[2] == 1 && t->ne[3] == 1);
        CHECK(t->type == WISP_TYPE_F32);
        CHECK(t->offset == 14176);
        CHECK(t->size == 131072 && t->n_elements == 32768);
    }
    t = wisp_gguf_find_tensor(g, "blk.4.ffn_norm.weight");
    CHECK(t && t->offset == 14176 + 1170944 && t->size == 256 && t->n_dims == 1 && t->ne[1] == 1);
    CHECK(t && t->offset + t->size == size);
    t = wisp_gguf_find_tensor(g, "blk.0.ffn_down.weight");
    CHECK(t && t->ne[0] == 172 && t->ne[1] == 64);
    CHECK(wisp_gguf_find_tensor(g, "blk.5.attn_q.weight") == NULL);
    CHECK(wisp_gguf_find_tensor(g, "") == NULL);

    uint32_t u = 0;
    CHECK(wisp_gguf_get_u32(g, "llama.block_count", &u) && u == 5);
    CHECK(wisp_gguf_get_u32(g, "llama.embedding_length", &u) && u == 64);
    CHECK(wisp_gguf_get_u32(g, "tokenizer.ggml.seperator_token_id", &u) && u == 4294967295u);
    int64_t i64 = 0;
    CHECK(wisp_gguf_get_i64(g, "llama.context_length", &i64) && i64 == 2048);
    float f = 0;
    CHECK(wisp_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f) && f > 9.99e-6f && f < 1.001e-5f);
    CHECK(wisp_gguf_get_f32(g, "llama.block_count", &f) && f == 5.0f); /* integers convert */
    CHECK(!wisp_gguf_get_u32(g, "general.architecture", &u));           /* a string is no integer */
    CHECK(!wisp_gguf_get_u32(g, "no.such.key", &u));
    bool bl;
    CHECK(!wisp_gguf_get_bool(g, "llama.block_count", &bl));
    wisp_gguf_str s;
    CHECK(wisp_gguf_get_str(g, "general.architecture", &s) && s.len == 5 && strcmp(s.str, "llama") == 0);
    CHECK(wisp_gguf_get_str(g, "tokenizer.ggml.model", &s) && strcmp(s.str, "llama") == 0);
    CHECK(wisp_gguf_find_key(g, "tokenizer.ggml.tokens") == 0);
    CHECK(wisp_gguf_kv_type(g, 0) == WISP_GGUF_ARRAY);
    CHECK(wisp_gguf_find_key(g, "general.alignment") == -1);

    uint32_t et = 99;
    uint64_t n = 0;
    const void *data = NULL;
    CHECK(wisp_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &data));
    CHECK(et == WISP_GGUF_STRING && n == 512 && data != NULL);
    if (et == WISP_GGUF_STRING && n == 512 && data) {
        const wisp_gguf_str *toks = (const wisp_gguf_str *)data;
        CHECK(toks[0].len == 5 && strcmp(toks[0].str, "<unk>") == 0);
        CHECK(toks[1].len == 3 && strcmp(toks[1].str, "<s>") == 0);
        CHECK(toks[2].len == 4 && strcmp(toks[2].str, "</s>") == 0);
        CHECK(strcmp(toks[3].str, "<0x00>") == 0);
    }
    CHECK(wisp_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &n, &data));
    CHECK(et == WISP_GGUF_FLOAT32 && n == 512);
    if (et == WISP_GGUF_FLOAT32 && n == 512) {
        float last;
        memcpy(&last, (const unsigned char *)data + 511 * 4, 4);
        CHECK(last == -252.0f);
    }
    CHECK(wisp_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n, &data));
    CHECK(et == WISP_GGUF_INT32 && n == 512);
    if (et == WISP_GGUF_INT32 && n == 512) {
        int32_t tt0;
        memcpy(&tt0, data, 4);
        CHECK(tt0 == 2);
    }
    CHECK(!wisp_gguf_get_arr(g, "general.name", &et, &n, &data));

    /* dropping the arrays (what a model does once its vocabulary has copied them) keeps
     * keys, types, scalars, strings and tensors */
    const int64_t n_kv = wisp_gguf_n_kv(g), n_t = wisp_gguf_n_tensors(g);
    wisp_gguf_drop_arrays(g);
    wisp_gguf_drop_arrays(g); /* twice is harmless */
    CHECK(!wisp_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &data));
    CHECK(!wisp_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &n, &data));
    CHECK(wisp_gguf_n_kv(g) == n_kv && wisp_gguf_n_tensors(g) == n_t);
    CHECK(wisp_gguf_find_key(g, "tokenizer.ggml.tokens") == 0 && wisp_gguf_kv_type(g, 0) == WISP_GGUF_ARRAY);
    CHECK(wisp_gguf_get_u32(g, "llama.block_count", &u) && u == 5);
    CHECK(wisp_gguf_get_str(g, "general.architecture", &s) && strcmp(s.str, "llama") == 0);
    CHECK(n_t == 0 || wisp_gguf_tensor_at(g, 0)->name.str != NULL);
    wisp_gguf_free(g);
}

typedef struct fixture_fact {
    const char *rel;
    int64_t n_tensors, n_kv;
    uint64_t data_offset;
    uint64_t n_tokens;
} fixture_fact;

/* Facts from shared/tools/gguf_dump.py and tokenizer-tests/README.md. */
static const fixture_fact k_fixtures[] = {
    {"models/stories260K-f16.gguf", 48, 20, 14208, 512},
    {"models/stories260K-q4_0.gguf", 48, 21, 14240, 512},
    {"models/stories260K-q8_0.gguf", 48, 21, 14240, 512},
    {"models/synthetic/tiny-llama3-q4_0.gguf", 39, 24, 7820768, 0},
    {"models/synthetic/tiny-llama3-q8_0.gguf", 39, 24, 7820768, 0},
    {"models/synthetic/tiny-qwen2-q4_0.gguf", 50, 25, 5931936, 0},
    {"models/synthetic/tiny-spm32k-q4_0.gguf", 38, 25, 726432, 0},
    {"models/synthetic/tiny-tok512-f16.gguf", 38, 23, 13920, 512},
    {"models/synthetic/tiny-tok512-f32.gguf", 38, 23, 13920, 512},
    {"models/synthetic/tiny-tok512-q4_0.gguf", 38, 24, 13984, 512},
    {"models/synthetic/tiny-tok512-q4_k.gguf", 38, 24, 13984, 512},
    {"models/synthetic/tiny-tok512-q4_k_m.gguf", 38, 24, 13984, 512},
    {"models/synthetic/tiny-tok512-q5_0.gguf", 38, 24, 13984, 512},
    {"models/synthetic/tiny-tok512-q6_k.gguf", 38, 24, 13984, 512},
    {"models/synthetic/tiny-tok512-q8_0.gguf", 38, 24, 13984, 512},
    {"tokenizer-tests/ggml-vocab-gpt-2.gguf", 0, 16, 1766816, 50257},
    {"tokenizer-tests/ggml-vocab-llama-bpe.gguf", 0, 20, 7818144, 128256},
    {"tokenizer-tests/ggml-vocab-llama-spm.gguf", 0, 22, 723872, 32000},
    {"tokenizer-tests/ggml-vocab-phi-3.gguf", 0, 26, 726048, 32064},
    {"tokenizer-tests/ggml-vocab-qwen2.gguf", 0, 20, 5928704, 151936},
    {"tokenizer-tests/ggml-vocab-starcoder.gguf", 0, 19, 1719360, 49152},
};

static void test_all_fixtures(void) {
    for (size_t i = 0; i < sizeof k_fixtures / sizeof k_fixtures[0]; i++) {
        const fixture_fact *fx = &k_fixtures[i];
        uint64_t size = 0;
        wisp_gguf *g = open_fixture(fx->rel, &size);
        if (!g) continue;
        CHECKF(wisp_gguf_version(g) == 3, "%s", fx->rel);
        CHECKF(wisp_gguf_n_tensors(g) == fx->n_tensors, "%s: %lld tensors", fx->rel,
               (long long)wisp_gguf_n_tensors(g));
        CHECKF(wisp_gguf_n_kv(g) == fx->n_kv, "%s: %lld kv", fx->rel, (long long)wisp_gguf_n_kv(g));
        CHECKF(wisp_gguf_data_offset(g) == fx->data_offset, "%s: data offset %llu", fx->rel,
               (unsigned long long)wisp_gguf_data_offset(g));
        CHECK(wisp_gguf_alignment(g) == 32);
        check_invariants(g, size, fx->rel);
        wisp_gguf_str s;
        CHECKF(wisp_gguf_get_str(g, "tokenizer.ggml.model", &s), "%s", fx->rel);
        uint32_t et;
        uint64_t n;
        const void *data;
        CHECKF(wisp_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &data) && et == WISP_GGUF_STRING,
               "%s", fx->rel);
        if (fx->n_tokens) CHECKF(n == fx->n_tokens, "%s: %llu tokens", fx->rel, (unsigned long long)n);
        if (et == WISP_GGUF_STRING) {
            const wisp_gguf_str *toks = (const wisp_gguf_str *)data;
            int bad = 0;
            for (uint64_t j = 0; j < n; j++) bad += toks[j].str[toks[j].len] != 0;
            CHECK(bad == 0);
        }
        /* The data of the last tensor ends inside the file; every model here is dense. */
        if (fx->n_tensors) {
            uint64_t total = 0;
            for (int64_t j = 0; j < wisp_gguf_n_tensors(g); j++) total += wisp_gguf_tensor_at(g, j)->size;
            CHECK(total <= size - wisp_gguf_data_offset(g));
        }
        if (strstr(fx->rel, "q4_0")) {
            const wisp_gguf_tensor *t = wisp_gguf_find_tensor(g, "blk.0.attn_q.weight");
            CHECKF(t && t->type == WISP_TYPE_Q4_0, "%s: blk.0.attn_q.weight type", fx->rel);
        }
        if (strstr(fx->rel, "qwen2")) {
            CHECK(wisp_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n, &data) && et == WISP_GGUF_STRING);
            if (strstr(fx->rel, "vocab")) CHECK(n == 151387);
            CHECK(wisp_gguf_get_str(g, "tokenizer.ggml.pre", &s) && strcmp(s.str, "qwen2") == 0);
        }
        wisp_gguf_free(g);
    }
}

/* Parsing speed of the biggest vocab, from memory. */
static void test_speed(void) {
    char path[1024];
    if (!test_fixture(path, sizeof path, "tokenizer-tests/ggml-vocab-qwen2.gguf")) return;
    size_t size = 0;
    char *buf = test_read_file(path, &size);
    CHECK(buf != NULL);
    if (!buf) return;
    char err[256];
    const int reps = 5;
    clock_t t0 = clock();
    for (int i = 0; i < reps; i++) {
        wisp_gguf *g = NULL;
        wisp_status s = open_mem(buf, size, 0, &g, NULL, err, sizeof err, NULL);
        CHECKF(s == WISP_OK, "%s", err);
        wisp_gguf_free(g);
    }
    double ms = 1000.0 * (double)(clock() - t0) / CLOCKS_PER_SEC / reps;
    printf("ggml-vocab-qwen2.gguf (%zu bytes): %.2f ms per parse\n", size, ms);
    CHECKF(ms < 2000, "%.1f ms", ms); /* generous: sanitizer builds are slow */
    free(buf);
}

/* ---------------------------------------------------------------- partial input */

static void test_partial(void) {
    char path[1024];
    if (!test_fixture(path, sizeof path, "models/stories260K.gguf")) return;
    size_t size = 0;
    unsigned char *buf = (unsigned char *)test_read_file(path, &size);
    CHECK(buf != NULL);
    if (!buf) return;
    char err[512];
    wisp_gguf *full = NULL;
    CHECK(open_mem(buf, size, 0, &full, NULL, err, sizeof err, NULL) == WISP_OK);
    if (!full) { free(buf); return; }
    const uint64_t hdr = wisp_gguf_header_size(full);
    CHECK(hdr == 14176);

    /* Fixed sizes, then every 997 bytes up to just past the header. */
    uint64_t ks[64];
    int nk = 0;
    const uint64_t fixed[] = {0, 1, 2, 3, 4, 5, 8, 16, 23, 24, 25, 100, 1000, hdr - 1, hdr, hdr + 1, hdr + 5000, size};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) ks[nk++] = fixed[i];
    for (uint64_t k = 997; k < hdr + 997 && nk < 64; k += 997) ks[nk++] = k;
    int n_tested = 0;
    for (int i = 0; i < nk; i++) {
        uint64_t k = ks[i];
        wisp_gguf *g = NULL;
        uint64_t needed = 0;
        wisp_status s = open_mem(buf, k, size, &g, &needed, err, sizeof err, NULL);
        n_tested++;
        if (k < hdr) {
            CHECKF(s == WISP_ERR_NEED_MORE, "k=%llu: %s: %s", (unsigned long long)k, wisp_status_name(s), err);
            /* needed may over-ask by design (see gguf.c), by at most 2x or 64 KiB. */
            uint64_t cap = 2 * k > 65536 ? 2 * k : 65536;
            if (cap < hdr) cap = hdr;
            CHECKF(needed > k && needed <= cap && needed <= size,
                   "k=%llu needed=%llu", (unsigned long long)k,
                   (unsigned long long)needed);
        } else {
            CHECKF(s == WISP_OK, "k=%llu: %s: %s", (unsigned long long)k, wisp_status_name(s), err);
            if (g) CHECKF(same_gguf(g, full), "k=%llu: different result", (unsigned long long)k);
        }
        wisp_gguf_free(g);
    }
    CHECK(n_tested > 30);

    /* Grow-until-it-parses, as a streaming caller would. */
    uint64_t k = 16;
    int iters = 0;
    wisp_status s;
    for (;;) {
        wisp_gguf *g = NULL;
        uint64_t needed = 0;
        s = open_mem(buf, k, size, &g, &needed, err, sizeof err, NULL);
        iters++;
        if (s != WISP_ERR_NEED_MORE || iters > 100) {
            if (g) CHECK(same_gguf(g, full));
            wisp_gguf_free(g);
            break;
        }
        CHECK(needed > k);
        k = needed;
    }
    CHECK(s == WISP_OK);
    printf("stories260K grow loop: parsed after %d calls (final %llu bytes)\n", iters, (unsigned long long)k);
    CHECKF(iters <= 3, "%d iterations", iters);

    /* A partial reader whose file_size is smaller than what it holds is a caller bug. */
    wisp_gguf *g = NULL;
    CHECK(open_mem(buf, 1000, 500, &g, NULL, err, sizeof err, NULL) == WISP_ERR_INVALID_ARG);
    wisp_gguf_free(full);
    free(buf);

    /* The biggest vocab, streamed. */
    if (!test_fixture(path, sizeof path, "tokenizer-tests/ggml-vocab-qwen2.gguf")) return;
    buf = (unsigned char *)test_read_file(path, &size);
    if (!buf) return;
    k = 16;
    iters = 0;
    for (;;) {
        wisp_gguf *gg = NULL;
        uint64_t needed = 0;
        s = open_mem(buf, k, size, &gg, &needed, err, sizeof err, NULL);
        iters++;
        wisp_gguf_free(gg);
        if (s != WISP_ERR_NEED_MORE || iters > 100) break;
        k = needed;
    }
    CHECKF(s == WISP_OK, "%s: %s", wisp_status_name(s), err);
    CHECK(k == size); /* the padded data offset lies past the end of this vocab-only file */
    CHECKF(iters <= 10, "%d iterations", iters);
    printf("qwen2 vocab grow loop: parsed after %d calls\n", iters);

    /* A reader failing half way through a multi-chunk header. */
    test_src src = {buf, size, size / 2, 0, 0};
    wisp_reader r = {&src, size, src_read};
    wisp_gguf *gg = NULL;
    CHECK(wisp_gguf_open(&r, 0, &gg, NULL, err, sizeof err) == WISP_ERR_IO && gg == NULL);
    CHECK(src.calls > 10 && src.out_of_bounds == 0);
    free(buf);
}

/* ---------------------------------------------------------------- generated files */

enum { GT_U8 = 0, GT_I8, GT_U16, GT_I16, GT_U32, GT_I32, GT_F32, GT_BOOL, GT_STR, GT_ARR, GT_U64, GT_I64, GT_F64 };

typedef struct tinfo {
    const char *name;
    uint32_t n_dims;
    uint64_t ne[5];
    uint32_t type;
    uint64_t offset;
} tinfo;

/* A small valid file by default; each broken case changes one thing. */
typedef struct spec {
    uint32_t version;
    const char *magic;
    int override_counts;
    uint64_t n_tensors, n_kv;
    int align_mode; /* 0: no key, 1: UINT32 value, 2: UINT64 value, 3: STRING value */
    uint64_t align;
    int dup_key;
    int bad_kv_type;
    uint32_t kv_type;
    int bad_elem_type;
    uint32_t elem_type;
    int nest_depth;        /* a nested array kv of this depth (0: none) */
    int str_len_mode;      /* 1: key length field absurd, 2: string value length absurd */
    uint64_t str_len;
    int arr_len_mode;      /* 1: u32 array count, 2: string array count */
    uint64_t arr_len;
    int n_t;
    tinfo t[4];
    size_t data_bytes;
} spec;

static spec default_spec(void) {
    spec s;
    memset(&s, 0, sizeof s);
    s.version = 3;
    s.magic = "GGUF";
    s.n_t = 3;
    s.t[0] = (tinfo){"tok", 2, {8, 2}, WISP_TYPE_F32, 0};    /* 64 bytes */
    s.t[1] = (tinfo){"q", 2, {64, 1}, WISP_TYPE_Q4_0, 64};   /* 36 bytes */
    s.t[2] = (tinfo){"n", 1, {4}, WISP_TYPE_F16, 128};       /* 8 bytes */
    s.data_bytes = 136;
    return s;
}

#define MAX_BOUNDS 64

/* Writes the file; bounds[] gets the offset of every section boundary. */
static void build(const spec *sp, gguf_writer *w, size_t *bounds, int *n_bounds) {
    int nb = 0;
    gw_init(w);
    uint64_t n_kv = 13 + (sp->align_mode ? 1 : 0) + (sp->dup_key ? 1 : 0) + (sp->bad_kv_type ? 1 : 0) +
                    (sp->nest_depth ? 1 : 0);
    gw_bytes(w, sp->magic, 4);
    bounds[nb++] = w->len;
    gw_u32(w, sp->version);
    bounds[nb++] = w->len;
    gw_u64(w, sp->override_counts ? sp->n_tensors : (uint64_t)sp->n_t);
    bounds[nb++] = w->len;
    gw_u64(w, sp->override_counts ? sp->n_kv : n_kv);
    bounds[nb++] = w->len;

    if (sp->str_len_mode == 1) {
        gw_u64(w, sp->str_len);
        gw_bytes(w, "general.architecture", 20);
        gw_u32(w, GT_STR);
        gw_str(w, "test");
    } else if (sp->str_len_mode == 2) {
        gw_str(w, "general.architecture");
        gw_u32(w, GT_STR);
        gw_u64(w, sp->str_len);
        gw_bytes(w, "test", 4);
    } else {
        gw_kv_str(w, "general.architecture", "test");
    }
    bounds[nb++] = w->len;
    if (sp->align_mode == 1) gw_kv_u32(w, "general.alignment", (uint32_t)sp->align);
    if (sp->align_mode == 2) gw_kv_u64(w, "general.alignment", sp->align);
    if (sp->align_mode == 3) gw_kv_str(w, "general.alignment", "32");
    bounds[nb++] = w->len;
    static const char *const toks[] = {"<unk>", "<s>", "hello"};
    gw_kv_arr(w, "tokenizer.ggml.tokens", sp->bad_elem_type ? sp->elem_type : GT_STR,
              sp->arr_len_mode == 2 ? sp->arr_len : 3);
    for (int i = 0; i < 3; i++) gw_str(w, toks[i]);
    bounds[nb++] = w->len;
    gw_kv_arr(w, "tokenizer.ggml.scores", GT_F32, 3);
    gw_f32(w, 0.0f);
    gw_f32(w, -1.5f);
    gw_f32(w, -2.5f);
    bounds[nb++] = w->len;
    gw_kv_arr(w, "test.u32s", GT_U32, sp->arr_len_mode == 1 ? sp->arr_len : 2);
    gw_u32(w, 7);
    gw_u32(w, 9);
    bounds[nb++] = w->len;
    gw_str(w, "test.u8");
    gw_u32(w, GT_U8);
    gw_u8(w, 200);
    gw_str(w, "test.i8");
    gw_u32(w, GT_I8);
    gw_u8(w, 0x80); /* -128 */
    gw_str(w, "test.u16");
    gw_u32(w, GT_U16);
    gw_u16(w, 65535);
    gw_str(w, "test.i16");
    gw_u32(w, GT_I16);
    gw_u16(w, 0xFFFE); /* -2 */
    gw_kv_i32(w, "test.i32", -5);
    gw_kv_u64(w, "test.u64", 1ull << 40);
    gw_kv_i64(w, "test.i64", INT64_MIN);
    gw_kv_f64(w, "test.f64", 0.25);
    gw_kv_bool(w, "test.bool", 1);
    bounds[nb++] = w->len;
    if (sp->dup_key) gw_kv_u32(w, "test.u8", 1);
    if (sp->bad_kv_type) {
        gw_str(w, "test.bad");
        gw_u32(w, sp->kv_type);
        gw_u32(w, 0);
    }
    if (sp->nest_depth) {
        /* [[...[ [1, 2] ]...]]: each level holds one array. */
        gw_str(w, "test.nested");
        gw_u32(w, GT_ARR);
        for (int d = 1; d < sp->nest_depth; d++) {
            gw_u32(w, GT_ARR);
            gw_u64(w, 1);
        }
        gw_u32(w, GT_U16);
        gw_u64(w, 2);
        gw_u16(w, 1);
        gw_u16(w, 2);
    }
    bounds[nb++] = w->len;
    for (int i = 0; i < sp->n_t; i++) {
        const tinfo *t = &sp->t[i];
        gw_tensor_info(w, t->name, t->n_dims, t->ne, t->type, t->offset);
        bounds[nb++] = w->len;
    }
    /* Pad to the declared alignment when it is sane (the huge-alignment case must not
     * write gigabytes of padding). */
    uint64_t align = (sp->align_mode == 1 && sp->align && sp->align <= 4096 && (sp->align & (sp->align - 1)) == 0)
                         ? sp->align
                         : 32;
    gw_pad(w, (size_t)align);
    bounds[nb++] = w->len;
    gw_zeros(w, sp->data_bytes);
    bounds[nb++] = w->len;
    *n_bounds = nb;
    CHECK(!w->failed);
}

static wisp_status parse_spec(const spec *sp, const char *what) {
    gguf_writer w;
    size_t bounds[MAX_BOUNDS];
    int nb;
    build(sp, &w, bounds, &nb);
    wisp_gguf *g = NULL;
    char err[512];
    wisp_status s = open_mem(w.data, w.len, 0, &g, NULL, err, sizeof err, NULL);
    if (s == WISP_OK) check_invariants(g, w.len, what);
    if (getenv("WISP_TEST_VERBOSE")) printf("  %-40s %-12s %s\n", what, wisp_status_name(s), err);
    wisp_gguf_free(g);
    gw_free(&w);
    return s;
}

#define EXPECT(sp, status, what)                                                              \
    do {                                                                                      \
        wisp_status got_ = parse_spec(&(sp), what);                                           \
        CHECKF(got_ == (status), "%s: got %s, want %s", what, wisp_status_name(got_),         \
               wisp_status_name(status));                                                     \
    } while (0)

static void test_generated_valid(void) {
    spec sp = default_spec();
    gguf_writer w;
    size_t bounds[MAX_BOUNDS];
    int nb;
    sp.nest_depth = 3;
    build(&sp, &w, bounds, &nb);
    wisp_gguf *g = NULL;
    char err[512];
    CHECKF(open_mem(w.data, w.len, 0, &g, NULL, err, sizeof err, NULL) == WISP_OK, "%s", err);
    if (g) {
        check_invariants(g, w.len, "generated");
        CHECK(wisp_gguf_version(g) == 3);
        CHECK(wisp_gguf_n_tensors(g) == 3);
        CHECK(wisp_gguf_n_kv(g) == 14);
        CHECK(wisp_gguf_data_offset(g) == bounds[nb - 2]);
        const wisp_gguf_tensor *t = wisp_gguf_find_tensor(g, "q");
        CHECK(t && t->type == WISP_TYPE_Q4_0 && t->size == 36 && t->offset == wisp_gguf_data_offset(g) + 64);
        uint32_t u;
        int64_t i;
        float f;
        bool b;
        CHECK(wisp_gguf_get_u32(g, "test.u8", &u) && u == 200);
        CHECK(!wisp_gguf_get_u32(g, "test.i8", &u));
        CHECK(wisp_gguf_get_i64(g, "test.i8", &i) && i == -128);
        CHECK(wisp_gguf_get_u32(g, "test.u16", &u) && u == 65535);
        CHECK(wisp_gguf_get_i64(g, "test.i16", &i) && i == -2);
        CHECK(wisp_gguf_get_i64(g, "test.i32", &i) && i == -5);
        CHECK(!wisp_gguf_get_u32(g, "test.i32", &u));
        CHECK(!wisp_gguf_get_u32(g, "test.u64", &u)); /* out of range */
        CHECK(wisp_gguf_get_i64(g, "test.u64", &i) && i == (int64_t)1 << 40);
        CHECK(wisp_gguf_get_i64(g, "test.i64", &i) && i == INT64_MIN);
        CHECK(wisp_gguf_get_f32(g, "test.f64", &f) && f == 0.25f);
        CHECK(wisp_gguf_get_f32(g, "test.i32", &f) && f == -5.0f);
        CHECK(!wisp_gguf_get_i64(g, "test.f64", &i));
        CHECK(wisp_gguf_get_bool(g, "test.bool", &b) && b);
        CHECK(!wisp_gguf_get_u32(g, "test.bool", &u));
        CHECK(!wisp_gguf_get_arr(g, "test.nested", NULL, NULL, NULL));
        CHECK(wisp_gguf_kv_type(g, wisp_gguf_find_key(g, "test.nested")) == WISP_GGUF_ARRAY);
        uint32_t et;
        uint64_t n;
        const void *data;
        CHECK(wisp_gguf_get_arr(g, "test.u32s", &et, &n, &data) && et == WISP_GGUF_UINT32 && n == 2);
        CHECK(wisp_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &data) && et == WISP_GGUF_STRING && n == 3);
        if (n == 3) CHECK(strcmp(((const wisp_gguf_str *)data)[2].str, "hello") == 0);
        wisp_gguf_free(g);
    }

    /* Truncated at every byte (all section boundaries included): a whole file that
     * ends early is a format error; the same bytes as a prefix need more. */
    int bad_full = 0, bad_partial = 0;
    uint64_t data_off = bounds[nb - 2];
    for (size_t k = 0; k < w.len; k++) {
        g = NULL;
        uint64_t needed = 0;
        wisp_status s = open_mem(w.data, k, 0, &g, NULL, err, sizeof err, NULL);
        if (s != WISP_ERR_FORMAT) bad_full++;
        wisp_gguf_free(g);
        g = NULL;
        s = open_mem(w.data, k, w.len, &g, &needed, err, sizeof err, NULL);
        if (k < data_off ? s != WISP_ERR_NEED_MORE : s != WISP_OK) bad_partial++;
        wisp_gguf_free(g);
    }
    CHECKF(bad_full == 0, "%d truncations not FORMAT", bad_full);
    CHECKF(bad_partial == 0, "%d prefixes wrong", bad_partial);
    for (int i = 0; i < nb; i++) {
        g = NULL;
        wisp_status s = open_mem(w.data, bounds[i], 0, &g, NULL, err, sizeof err, NULL);
        CHECKF(bounds[i] == w.len ? s == WISP_OK : s == WISP_ERR_FORMAT, "boundary %d (%zu): %s", i,
               bounds[i], wisp_status_name(s));
        wisp_gguf_free(g);
    }

    /* Version 2 parses the same way. */
    gw_patch_u32(&w, 4, 2);
    g = NULL;
    CHECK(open_mem(w.data, w.len, 0, &g, NULL, err, sizeof err, NULL) == WISP_OK);
    CHECK(wisp_gguf_version(g) == 2);
    wisp_gguf_free(g);
    gw_free(&w);

    /* A vocab-only file may end before its padded data offset. */
    gw_init(&w);
    gw_header(&w, 3, 0, 1);
    gw_kv_str(&w, "general.architecture", "abc");
    g = NULL;
    CHECK(open_mem(w.data, w.len, 0, &g, NULL, err, sizeof err, NULL) == WISP_OK);
    CHECK(g && wisp_gguf_data_offset(g) > w.len && wisp_gguf_n_tensors(g) == 0);
    wisp_gguf_free(g);
    /* Zero kv, zero tensors. */
    gw_free(&w);
    gw_init(&w);
    gw_header(&w, 3, 0, 0);
    g = NULL;
    CHECK(open_mem(w.data, w.len, 0, &g, NULL, err, sizeof err, NULL) == WISP_OK);
    CHECK(g && wisp_gguf_n_kv(g) == 0 && wisp_gguf_data_offset(g) == 32);
    wisp_gguf_free(g);
    gw_free(&w);

    /* Alignment 64: tensors at 0, 64, 128 are still aligned. */
    sp = default_spec();
    sp.align_mode = 1;
    sp.align = 64;
    build(&sp, &w, bounds, &nb);
    g = NULL;
    CHECK(open_mem(w.data, w.len, 0, &g, NULL, err, sizeof err, NULL) == WISP_OK);
    CHECK(g && wisp_gguf_alignment(g) == 64 && wisp_gguf_data_offset(g) % 64 == 0);
    wisp_gguf_free(g);
    gw_free(&w);
}

static void test_generated_broken(void) {
    spec sp;
    static const uint64_t absurd[] = {1ull << 40, 1ull << 63, UINT64_MAX, 1000};

    sp = default_spec(); EXPECT(sp, WISP_OK, "default");
    sp = default_spec(); sp.magic = "GGUG"; EXPECT(sp, WISP_ERR_FORMAT, "bad magic");
    sp = default_spec(); sp.magic = "FUGG"; EXPECT(sp, WISP_ERR_FORMAT, "reversed magic");
    sp = default_spec(); sp.version = 0; EXPECT(sp, WISP_ERR_FORMAT, "version 0");
    sp = default_spec(); sp.version = 1; EXPECT(sp, WISP_ERR_UNSUPPORTED, "version 1");
    sp = default_spec(); sp.version = 4; EXPECT(sp, WISP_ERR_UNSUPPORTED, "version 4");
    sp = default_spec(); sp.version = 0xFFFFFFFFu; EXPECT(sp, WISP_ERR_FORMAT, "version 0xFFFFFFFF");
    sp = default_spec(); sp.version = 0x03000000u; EXPECT(sp, WISP_ERR_UNSUPPORTED, "big-endian v3");

    for (int i = 0; i < 4; i++) {
        sp = default_spec(); sp.override_counts = 1; sp.n_tensors = absurd[i]; sp.n_kv = 13;
        EXPECT(sp, WISP_ERR_FORMAT, "absurd n_tensors");
        sp = default_spec(); sp.override_counts = 1; sp.n_tensors = 3; sp.n_kv = absurd[i];
        EXPECT(sp, WISP_ERR_FORMAT, "absurd n_kv");
    }
    sp = default_spec(); sp.override_counts = 1; sp.n_tensors = 3; sp.n_kv = 14;
    EXPECT(sp, WISP_ERR_FORMAT, "n_kv one too many");

    static const uint64_t bad_len[] = {1ull << 31, (1ull << 30) + 1, 1ull << 62, UINT64_MAX, 500};
    for (int i = 0; i < 5; i++) {
        sp = default_spec(); sp.str_len_mode = 1; sp.str_len = bad_len[i];
        EXPECT(sp, WISP_ERR_FORMAT, "absurd key length");
        sp = default_spec(); sp.str_len_mode = 2; sp.str_len = bad_len[i];
        EXPECT(sp, WISP_ERR_FORMAT, "absurd string length");
        sp = default_spec(); sp.arr_len_mode = 1; sp.arr_len = bad_len[i];
        EXPECT(sp, WISP_ERR_FORMAT, "absurd u32 array length");
        sp = default_spec(); sp.arr_len_mode = 2; sp.arr_len = bad_len[i];
        EXPECT(sp, WISP_ERR_FORMAT, "absurd string array length");
    }
    sp = default_spec(); sp.arr_len_mode = 1; sp.arr_len = 1ull << 61;
    EXPECT(sp, WISP_ERR_FORMAT, "u32 array byte size overflows");

    /* Shapes. */
    sp = default_spec(); sp.t[0].ne[0] = 1ull << 32; sp.t[0].ne[1] = 1ull << 32;
    EXPECT(sp, WISP_ERR_FORMAT, "dims product overflows");
    sp = default_spec(); sp.t[0].n_dims = 4; sp.t[0].ne[2] = 1ull << 31; sp.t[0].ne[3] = 1ull << 31;
    EXPECT(sp, WISP_ERR_FORMAT, "4-d product overflows INT64_MAX");
    sp = default_spec(); sp.t[0].ne[0] = 1ull << 61; sp.t[0].ne[1] = 2;
    EXPECT(sp, WISP_ERR_FORMAT, "byte size overflows");
    sp = default_spec(); sp.t[0].ne[0] = (uint64_t)INT64_MAX + 1; sp.t[0].ne[1] = 1;
    EXPECT(sp, WISP_ERR_FORMAT, "negative dim");
    sp = default_spec(); sp.t[0].ne[1] = 0; EXPECT(sp, WISP_ERR_FORMAT, "zero dim");
    sp = default_spec(); sp.t[0].n_dims = 0; EXPECT(sp, WISP_ERR_FORMAT, "n_dims 0");
    sp = default_spec(); sp.t[0].n_dims = 5; sp.t[0].ne[2] = sp.t[0].ne[3] = sp.t[0].ne[4] = 1;
    EXPECT(sp, WISP_ERR_FORMAT, "n_dims 5");
    sp = default_spec(); sp.t[0].n_dims = 4; sp.t[0].ne[2] = sp.t[0].ne[3] = 1;
    EXPECT(sp, WISP_OK, "n_dims 4");
    sp = default_spec(); sp.t[1].ne[0] = 48; EXPECT(sp, WISP_ERR_FORMAT, "row not a multiple of the block");

    /* Placement. */
    sp = default_spec(); sp.t[2].offset = 1 << 20; EXPECT(sp, WISP_ERR_FORMAT, "offset outside the file");
    sp = default_spec(); sp.t[2].offset = 160; EXPECT(sp, WISP_ERR_FORMAT, "tensor ends past the file");
    sp = default_spec(); sp.t[2].offset = UINT64_MAX - 31; EXPECT(sp, WISP_ERR_FORMAT, "offset overflows");
    sp = default_spec(); sp.t[2].offset = 130; EXPECT(sp, WISP_ERR_FORMAT, "misaligned offset");
    sp = default_spec(); sp.align_mode = 1; sp.align = 64; sp.t[1].offset = 96; sp.t[2].offset = 192;
    sp.data_bytes = 200; EXPECT(sp, WISP_ERR_FORMAT, "offset aligned to 32 but not 64");
    sp = default_spec(); sp.t[2].offset = 32; EXPECT(sp, WISP_ERR_FORMAT, "overlapping tensors");
    sp = default_spec(); sp.t[2].offset = 64; EXPECT(sp, WISP_ERR_FORMAT, "same offset");
    sp = default_spec(); sp.t[2].offset = 160; sp.t[0].offset = 128; sp.data_bytes = 192; EXPECT(sp, WISP_ERR_FORMAT, "overlap, out of order");
    sp = default_spec(); sp.t[0].offset = 96; sp.t[1].offset = 0; sp.t[2].offset = 160; sp.data_bytes = 168;
    EXPECT(sp, WISP_OK, "tensors out of file order");

    static const uint32_t bad_types[] = {4, 5, 31, 32, 33, 36, 37, 38, 40, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
        sp = default_spec(); sp.t[2].type = bad_types[i];
        EXPECT(sp, WISP_ERR_FORMAT, "unknown tensor type");
    }
    sp = default_spec(); sp.t[2].type = WISP_TYPE_BF16; EXPECT(sp, WISP_OK, "BF16 is known");

    /* Alignment. */
    static const uint64_t bad_align[] = {0, 3, 48, 0xFFFFFFFF};
    for (int i = 0; i < 4; i++) {
        sp = default_spec(); sp.align_mode = 1; sp.align = bad_align[i];
        EXPECT(sp, WISP_ERR_FORMAT, "bad alignment value");
    }
    sp = default_spec(); sp.align_mode = 2; sp.align = 32; EXPECT(sp, WISP_ERR_FORMAT, "alignment as UINT64");
    sp = default_spec(); sp.align_mode = 3; EXPECT(sp, WISP_ERR_FORMAT, "alignment as STRING");
    sp = default_spec(); sp.align_mode = 1; sp.align = 1u << 31; EXPECT(sp, WISP_ERR_FORMAT, "huge alignment");
    sp = default_spec(); sp.align_mode = 1; sp.align = 1; EXPECT(sp, WISP_OK, "alignment 1");

    /* Metadata types and duplicates. */
    static const uint32_t bad_kv[] = {13, 14, 255, 0x80000000u, UINT32_MAX};
    for (int i = 0; i < 5; i++) {
        sp = default_spec(); sp.bad_kv_type = 1; sp.kv_type = bad_kv[i];
        EXPECT(sp, WISP_ERR_FORMAT, "unknown kv value type");
        sp = default_spec(); sp.bad_elem_type = 1; sp.elem_type = bad_kv[i];
        EXPECT(sp, WISP_ERR_FORMAT, "unknown array element type");
    }
    sp = default_spec(); sp.bad_kv_type = 1; sp.kv_type = GT_U32; EXPECT(sp, WISP_OK, "u32 through bad_kv path");
    sp = default_spec(); sp.dup_key = 1; EXPECT(sp, WISP_ERR_FORMAT, "duplicate key");
    sp = default_spec(); sp.t[2].name = "tok"; EXPECT(sp, WISP_ERR_FORMAT, "duplicate tensor name");
    sp = default_spec(); sp.nest_depth = 2; EXPECT(sp, WISP_OK, "nested array");
    sp = default_spec(); sp.nest_depth = 8; EXPECT(sp, WISP_OK, "nested array depth 8");
    sp = default_spec(); sp.nest_depth = 9; EXPECT(sp, WISP_ERR_FORMAT, "nested array too deep");
    sp = default_spec(); sp.nest_depth = 1000; EXPECT(sp, WISP_ERR_FORMAT, "nested array far too deep");
}

/* Bad arguments and failing readers. */
static void test_api_edges(void) {
    spec sp = default_spec();
    gguf_writer w;
    size_t bounds[MAX_BOUNDS];
    int nb;
    build(&sp, &w, bounds, &nb);
    char err[512];
    static int sentinel;
    wisp_gguf *g = (wisp_gguf *)&sentinel; /* must be reset to NULL on failure */
    uint64_t needed;

    for (uint64_t fail_at = 0; fail_at <= w.len; fail_at += 7) {
        test_src src = {w.data, w.len, fail_at, 0, 0};
        wisp_reader r = {&src, w.len, src_read};
        g = (wisp_gguf *)&sentinel;
        wisp_status s = wisp_gguf_open(&r, 0, &g, &needed, err, sizeof err);
        /* The first buffered read covers this whole small file. */
        CHECKF(fail_at < w.len ? s == WISP_ERR_IO : s == WISP_OK, "fail_at %llu: %s",
               (unsigned long long)fail_at, wisp_status_name(s));
        CHECK(s == WISP_OK ? g != NULL : g == NULL);
        wisp_gguf_free(g);
    }
    g = (wisp_gguf *)&sentinel;
    wisp_reader r = wisp_reader_memory(w.data, w.len);
    CHECK(wisp_gguf_open(NULL, 0, &g, NULL, err, sizeof err) == WISP_ERR_INVALID_ARG && g == NULL);
    CHECK(wisp_gguf_open(&r, 0, NULL, NULL, err, sizeof err) == WISP_ERR_INVALID_ARG);
    CHECK(wisp_gguf_open(&r, 0, &g, NULL, NULL, 0) == WISP_OK); /* no err buffer, no needed */
    wisp_gguf_free(g);
    g = NULL;
    r.size = 10;
    CHECK(wisp_gguf_open(&r, w.len, &g, NULL, NULL, 0) == WISP_ERR_NEED_MORE);
    r.size = 0;
    CHECK(wisp_gguf_open(&r, 0, &g, NULL, err, sizeof err) == WISP_ERR_FORMAT); /* empty file */
    /* Messages name the problem and the tensor. */
    sp.t[2].offset = 1 << 20;
    gw_free(&w);
    build(&sp, &w, bounds, &nb);
    CHECK(open_mem(w.data, w.len, 0, &g, NULL, err, sizeof err, NULL) == WISP_ERR_FORMAT);
    CHECKF(strstr(err, "'n'") && strstr(err, "outside the file"), "message: %s", err);
    gw_free(&w);
    sp = default_spec();
    sp.t[2].type = 31;
    build(&sp, &w, bounds, &nb);
    CHECK(open_mem(w.data, w.len, 0, &g, NULL, err, sizeof err, NULL) == WISP_ERR_FORMAT);
    CHECKF(strstr(err, "'n'") && strstr(err, "31"), "message: %s", err);
    /* A tiny error buffer is fine. */
    char tiny[4];
    CHECK(open_mem(w.data, w.len, 0, &g, NULL, tiny, sizeof tiny, NULL) == WISP_ERR_FORMAT);
    CHECK(strlen(tiny) < sizeof tiny);
    gw_free(&w);

    /* Getters on NULL handles. */
    CHECK(wisp_gguf_n_kv(NULL) == 0 && wisp_gguf_n_tensors(NULL) == 0);
    CHECK(wisp_gguf_find_key(NULL, "x") == -1 && wisp_gguf_find_tensor(NULL, "x") == NULL);
    uint32_t u;
    CHECK(!wisp_gguf_get_u32(NULL, "x", &u));
    wisp_gguf_free(NULL);
}

/* ---------------------------------------------------------------- mutations */

static uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void test_mutations(void) {
    char path[1024];
    if (!test_fixture(path, sizeof path, "models/stories260K.gguf")) return;
    size_t size = 0;
    unsigned char *buf = (unsigned char *)test_read_file(path, &size);
    CHECK(buf != NULL);
    if (!buf) return;
    const size_t hdr = 14176;
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    int counts[16] = {0};
    char err[512];

    /* Random truncations of the whole file. */
    for (int i = 0; i < 200; i++) {
        uint64_t k = rng_next(&seed) % size;
        wisp_gguf *g = NULL;
        wisp_status s = open_mem(buf, k, 0, &g, NULL, err, sizeof err, NULL);
        CHECKF(s == WISP_ERR_FORMAT, "truncated at %llu: %s", (unsigned long long)k, wisp_status_name(s));
        wisp_gguf_free(g);
    }

    for (int i = 0; i < 2000; i++) {
        size_t pos[4];
        unsigned char old[4];
        int n = 1 + (int)(rng_next(&seed) % 4);
        for (int j = 0; j < n; j++) {
            /* Bias towards the fixed header and the tensor table, where the counts live. */
            uint64_t r = rng_next(&seed);
            pos[j] = (r & 3) == 0 ? (size_t)(r >> 8) % 64 : (r & 3) == 1 ? 12000 + (size_t)(r >> 8) % (hdr - 12000)
                                                                          : (size_t)(r >> 8) % hdr;
            old[j] = buf[pos[j]];
            uint64_t how = rng_next(&seed);
            buf[pos[j]] = (how & 1) ? (unsigned char)(old[j] ^ (1u << ((how >> 1) % 8)))
                                    : (unsigned char)(how >> 8);
        }
        wisp_gguf *g = NULL;
        /* Every fourth mutation is parsed as a stream prefix. */
        uint64_t avail = (i % 4 == 3) ? 9000 : size;
        wisp_status s = open_mem(buf, avail, size, &g, NULL, err, sizeof err, NULL);
        CHECKF(s == WISP_OK || s == WISP_ERR_FORMAT || s == WISP_ERR_UNSUPPORTED ||
                   (s == WISP_ERR_NEED_MORE && avail < size),
               "mutation %d: %s", i, wisp_status_name(s));
        if (s < 16) counts[s]++;
        if (g) check_invariants(g, size, "mutation");
        wisp_gguf_free(g);
        for (int j = n - 1; j >= 0; j--) buf[pos[j]] = old[j];
    }
    printf("mutations: OK %d, FORMAT %d, UNSUPPORTED %d, NEED_MORE %d, OOM %d\n", counts[WISP_OK],
           counts[WISP_ERR_FORMAT], counts[WISP_ERR_UNSUPPORTED], counts[WISP_ERR_NEED_MORE],
           counts[WISP_ERR_OOM]);
    free(buf);
}

int main(void) {
    test_stories260k();
    test_all_fixtures();
    test_speed();
    test_partial();
    test_generated_valid();
    test_generated_broken();
    test_api_edges();
    test_mutations();
    return test_finish("test_gguf");
}
