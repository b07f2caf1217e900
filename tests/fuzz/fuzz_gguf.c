/* fuzz_gguf.c — libFuzzer target for the GGUF parser (src/gguf.c). Each input is parsed
 * three ways and the results must agree: whole file, partial header (reader->size below
 * the file size, following *needed like the browser loader), and header-of-a-bigger-file. */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "gguf.h"
#include "wisp.h"

/* Reader over the first `avail` bytes of data (the file is longer). */
typedef struct prefix {
    const uint8_t *data;
    uint64_t avail;
} prefix;

static int prefix_read(void *user, void *dst, uint64_t offset, size_t len) {
    const prefix *p = (const prefix *)user;
    if (offset > p->avail || len > p->avail - offset) return 1;
    if (len) memcpy(dst, p->data + offset, len);
    return 0;
}

/* Touch everything a parsed file exposes and check the documented guarantees. */
static void exercise(const wisp_gguf *g, uint64_t file_size) {
    const uint64_t data_off = wisp_gguf_data_offset(g);
    const uint64_t align = wisp_gguf_alignment(g);
    FUZZ_CHECK(align && (align & (align - 1)) == 0, "alignment %llu", (unsigned long long)align);
    /* (a file without tensors may end before its aligned data offset: vocab-only GGUFs do) */
    FUZZ_CHECK(data_off % align == 0 && (data_off <= file_size || wisp_gguf_n_tensors(g) == 0),
               "data offset %llu (file %llu)", (unsigned long long)data_off, (unsigned long long)file_size);
    FUZZ_CHECK(wisp_gguf_header_size(g) == data_off, "header size");
    const uint32_t ver = wisp_gguf_version(g);
    FUZZ_CHECK(ver == 2 || ver == 3, "version %u", ver);
    const int64_t nkv = wisp_gguf_n_kv(g);
    FUZZ_CHECK(nkv >= 0, "n_kv %lld", (long long)nkv);
    for (int64_t i = 0; i < nkv; i++) {
        const wisp_gguf_str *k = wisp_gguf_key(g, i);
        FUZZ_CHECK(k && k->str && k->str[k->len] == 0, "key %lld not NUL-terminated", (long long)i);
        /* keys are unique, so lookups by a NUL-free key find exactly this entry */
        if (strlen(k->str) == k->len)
            FUZZ_CHECK(wisp_gguf_find_key(g, k->str) == i, "find_key(%s)", k->str);
        uint32_t u32;
        int64_t i64;
        float f;
        bool b;
        wisp_gguf_str s;
        uint32_t et;
        uint64_t n;
        const void *d;
        (void)wisp_gguf_get_u32(g, k->str, &u32);
        (void)wisp_gguf_get_i64(g, k->str, &i64);
        (void)wisp_gguf_get_f32(g, k->str, &f);
        (void)wisp_gguf_get_bool(g, k->str, &b);
        if (wisp_gguf_get_str(g, k->str, &s)) FUZZ_CHECK(s.str && s.str[s.len] == 0, "string value not terminated");
        if (wisp_gguf_get_arr(g, k->str, &et, &n, &d)) {
            FUZZ_CHECK(n == 0 || d, "array data NULL");
            volatile unsigned acc = 0;
            if (et == WISP_GGUF_STRING) {
                const wisp_gguf_str *ss = (const wisp_gguf_str *)d;
                for (uint64_t j = 0; j < n; j++) {
                    FUZZ_CHECK(ss[j].str && ss[j].str[ss[j].len] == 0, "array string %llu", (unsigned long long)j);
                    if (ss[j].len) acc += (unsigned char)ss[j].str[ss[j].len - 1];
                }
            } else {
                static const unsigned char width[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
                FUZZ_CHECK(et < 13 && width[et], "array element type %u", et);
                const unsigned char *bytes = (const unsigned char *)d;
                if (n) acc += bytes[n * width[et] - 1]; /* last byte is readable (ASan checks) */
            }
            (void)acc;
        }
        (void)wisp_gguf_kv_type(g, i);
    }
    const int64_t nt = wisp_gguf_n_tensors(g);
    FUZZ_CHECK(nt >= 0, "n_tensors");
    for (int64_t i = 0; i < nt; i++) {
        const wisp_gguf_tensor *t = wisp_gguf_tensor_at(g, i);
        FUZZ_CHECK(t && t->name.str && t->name.str[t->name.len] == 0, "tensor name");
        FUZZ_CHECK(t->n_dims >= 1 && t->n_dims <= WISP_GGUF_MAX_DIMS, "n_dims %u", t->n_dims);
        uint64_t ne = 1;
        for (int d = 0; d < WISP_GGUF_MAX_DIMS; d++) {
            FUZZ_CHECK(d < (int)t->n_dims || t->ne[d] == 1, "unused dim %d is %llu", d, (unsigned long long)t->ne[d]);
            FUZZ_CHECK(t->ne[d] == 0 || ne <= UINT64_MAX / t->ne[d], "element count overflows");
            ne *= t->ne[d];
        }
        FUZZ_CHECK(ne == t->n_elements, "n_elements %llu != %llu", (unsigned long long)t->n_elements,
                   (unsigned long long)ne);
        FUZZ_CHECK(t->offset >= data_off && t->offset <= file_size && t->size <= file_size - t->offset,
                   "tensor '%s' [%llu, +%llu) outside the file (%llu, data at %llu)", t->name.str,
                   (unsigned long long)t->offset, (unsigned long long)t->size, (unsigned long long)file_size,
                   (unsigned long long)data_off);
        FUZZ_CHECK((t->offset - data_off) % align == 0, "tensor offset not aligned");
        if (strlen(t->name.str) == t->name.len)
            FUZZ_CHECK(wisp_gguf_find_tensor(g, t->name.str) == t, "find_tensor(%s)", t->name.str);
    }
    FUZZ_CHECK(wisp_gguf_tensor_at(g, nt) == NULL && wisp_gguf_tensor_at(g, -1) == NULL, "tensor_at out of range");
    FUZZ_CHECK(wisp_gguf_key(g, nkv) == NULL && wisp_gguf_key(g, -1) == NULL, "key out of range");
}

/* Parse with the reader exposing `avail` bytes of a file of `file_size` bytes, retrying
 * with *needed as a network caller would. Returns the final status (g in *out). */
static wisp_status open_partial(const uint8_t *data, size_t size, uint64_t avail, uint64_t file_size,
                                wisp_gguf **out) {
    char err[512];
    for (int round = 0;; round++) {
        prefix p = {data, avail};
        wisp_reader r = {&p, avail, prefix_read};
        uint64_t needed = 0;
        err[0] = 0;
        wisp_status s = wisp_gguf_open(&r, file_size, out, &needed, err, sizeof err);
        if (s != WISP_OK) {
            FUZZ_CHECK(*out == NULL, "failed open left a handle");
            FUZZ_CHECK(err[0], "status %d without a message", (int)s);
        }
        if (s != WISP_ERR_NEED_MORE) return s;
        FUZZ_CHECK(avail < file_size, "NEED_MORE with the whole file available (%llu bytes)",
                   (unsigned long long)avail);
        FUZZ_CHECK(needed > avail && needed <= file_size, "needed %llu with %llu of %llu available",
                   (unsigned long long)needed, (unsigned long long)avail, (unsigned long long)file_size);
        FUZZ_CHECK(round < 64, "NEED_MORE loop does not converge");
        if (needed > size) return s; /* header mode: the bytes beyond the input are not there */
        avail = needed;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* 1. whole file */
    wisp_gguf *whole = NULL;
    wisp_status s_whole = open_partial(data, size, size, size, &whole);
    FUZZ_CHECK(s_whole != WISP_ERR_NEED_MORE, "NEED_MORE for a whole file");
    if (whole) exercise(whole, size);

    /* 2. partial: start from a prefix, follow *needed; must end where the whole parse did */
    if (size > 1) {
        uint64_t start = (size * (uint64_t)data[size - 1]) / 256; /* input-chosen first prefix */
        wisp_gguf *part = NULL;
        wisp_status s_part = open_partial(data, size, start, size, &part);
        FUZZ_CHECK(s_part == s_whole, "partial parse from %llu bytes ended with %d, whole parse with %d",
                   (unsigned long long)start, (int)s_part, (int)s_whole);
        if (part) {
            FUZZ_CHECK(wisp_gguf_n_kv(part) == wisp_gguf_n_kv(whole) &&
                           wisp_gguf_n_tensors(part) == wisp_gguf_n_tensors(whole) &&
                           wisp_gguf_data_offset(part) == wisp_gguf_data_offset(whole),
                       "partial and whole parses differ");
            wisp_gguf_free(part);
        }
    }

    /* 3. the input as the header of a 1 TiB file (what wisp_model_begin sees in the browser) */
    const uint64_t big = 1ull << 40;
    wisp_gguf *hdr = NULL;
    if (open_partial(data, size, size, big, &hdr) == WISP_OK) {
        exercise(hdr, big);
        wisp_gguf_free(hdr);
    }
    wisp_gguf_free(whole);
    return 0;
}
