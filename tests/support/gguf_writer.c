/* gguf_writer.c — a growable little-endian byte buffer with GGUF field helpers, for
 * tests that need hand-made (often deliberately invalid) GGUF files. */
#include "gguf_writer.h"

#include <stdlib.h>
#include <string.h>

void gw_init(gguf_writer *w) { memset(w, 0, sizeof *w); }

void gw_free(gguf_writer *w) {
    free(w->data);
    memset(w, 0, sizeof *w);
}

static int gw_reserve(gguf_writer *w, size_t n) {
    if (w->failed) return 0;
    if (n <= w->cap - w->len) return 1;
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len < n) {
        if (cap > SIZE_MAX / 2) { w->failed = 1; return 0; }
        cap *= 2;
    }
    unsigned char *d = (unsigned char *)realloc(w->data, cap);
    if (!d) { w->failed = 1; return 0; }
    w->data = d;
    w->cap = cap;
    return 1;
}

void gw_bytes(gguf_writer *w, const void *p, size_t n) {
    if (n == 0 || !gw_reserve(w, n)) return;
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

void gw_zeros(gguf_writer *w, size_t n) {
    if (n == 0 || !gw_reserve(w, n)) return;
    memset(w->data + w->len, 0, n);
    w->len += n;
}

/* Little-endian regardless of the host. */
static void put_le(unsigned char *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static void gw_le(gguf_writer *w, uint64_t v, int n) {
    unsigned char b[8];
    put_le(b, v, n);
    gw_bytes(w, b, (size_t)n);
}

void gw_u8(gguf_writer *w, uint8_t v) { gw_le(w, v, 1); }
void gw_u16(gguf_writer *w, uint16_t v) { gw_le(w, v, 2); }
void gw_u32(gguf_writer *w, uint32_t v) { gw_le(w, v, 4); }
void gw_u64(gguf_writer *w, uint64_t v) { gw_le(w, v, 8); }

void gw_f32(gguf_writer *w, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    gw_u32(w, u);
}

void gw_f64(gguf_writer *w, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    gw_u64(w, u);
}

void gw_strn(gguf_writer *w, const char *s, size_t n) {
    gw_u64(w, n);
    gw_bytes(w, s, n);
}

void gw_str(gguf_writer *w, const char *s) { gw_strn(w, s, strlen(s)); }

void gw_patch_u32(gguf_writer *w, size_t at, uint32_t v) {
    if (at <= w->len && w->len - at >= 4) put_le(w->data + at, v, 4);
}

void gw_patch_u64(gguf_writer *w, size_t at, uint64_t v) {
    if (at <= w->len && w->len - at >= 8) put_le(w->data + at, v, 8);
}

void gw_pad(gguf_writer *w, size_t align) {
    if (align > 1 && w->len % align) gw_zeros(w, align - w->len % align);
}

void gw_header(gguf_writer *w, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    gw_bytes(w, "GGUF", 4);
    gw_u32(w, version);
    gw_u64(w, n_tensors);
    gw_u64(w, n_kv);
}

static void gw_key(gguf_writer *w, const char *key, uint32_t type) {
    gw_str(w, key);
    gw_u32(w, type);
}

/* GGUF metadata type ids, as in gguf.h (kept local so the writer stands alone). */
enum { T_U32 = 4, T_I32 = 5, T_F32 = 6, T_BOOL = 7, T_STR = 8, T_ARR = 9, T_U64 = 10, T_I64 = 11, T_F64 = 12 };

void gw_kv_u32(gguf_writer *w, const char *key, uint32_t v) { gw_key(w, key, T_U32); gw_u32(w, v); }
void gw_kv_i32(gguf_writer *w, const char *key, int32_t v) { gw_key(w, key, T_I32); gw_u32(w, (uint32_t)v); }
void gw_kv_u64(gguf_writer *w, const char *key, uint64_t v) { gw_key(w, key, T_U64); gw_u64(w, v); }
void gw_kv_i64(gguf_writer *w, const char *key, int64_t v) { gw_key(w, key, T_I64); gw_u64(w, (uint64_t)v); }
void gw_kv_f32(gguf_writer *w, const char *key, float v) { gw_key(w, key, T_F32); gw_f32(w, v); }
void gw_kv_f64(gguf_writer *w, const char *key, double v) { gw_key(w, key, T_F64); gw_f64(w, v); }
void gw_kv_bool(gguf_writer *w, const char *key, int v) { gw_key(w, key, T_BOOL); gw_u8(w, v ? 1 : 0); }
void gw_kv_str(gguf_writer *w, const char *key, const char *v) { gw_key(w, key, T_STR); gw_str(w, v); }

void gw_kv_arr(gguf_writer *w, const char *key, uint32_t elem_type, uint64_t n) {
    gw_key(w, key, T_ARR);
    gw_u32(w, elem_type);
    gw_u64(w, n);
}

void gw_tensor_info(gguf_writer *w, const char *name, uint32_t n_dims, const uint64_t *ne,
                    uint32_t type, uint64_t offset) {
    gw_str(w, name);
    gw_u32(w, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) gw_u64(w, ne[i]);
    gw_u32(w, type);
    gw_u64(w, offset);
}
