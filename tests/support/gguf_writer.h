/* gguf_writer.h — a tiny GGUF byte writer for tests and fuzz seeds. Every field is
 * written raw (no validation), so it builds valid files and deliberately broken ones. */
#ifndef WISP_TEST_GGUF_WRITER_H
#define WISP_TEST_GGUF_WRITER_H

#include <stddef.h>
#include <stdint.h>

typedef struct gguf_writer {
    unsigned char *data;
    size_t len, cap;
    int failed; /* set when an allocation failed; the contents are then incomplete */
} gguf_writer;

void gw_init(gguf_writer *w);
void gw_free(gguf_writer *w);

/* Raw little-endian fields. */
void gw_bytes(gguf_writer *w, const void *p, size_t n);
void gw_zeros(gguf_writer *w, size_t n);
void gw_u8(gguf_writer *w, uint8_t v);
void gw_u16(gguf_writer *w, uint16_t v);
void gw_u32(gguf_writer *w, uint32_t v);
void gw_u64(gguf_writer *w, uint64_t v);
void gw_f32(gguf_writer *w, float v);
void gw_f64(gguf_writer *w, double v);
/* A GGUF string: u64 length then the bytes (no NUL). */
void gw_str(gguf_writer *w, const char *s);
void gw_strn(gguf_writer *w, const char *s, size_t n);
/* Overwrite fields already written (offset from the start of the file). */
void gw_patch_u32(gguf_writer *w, size_t at, uint32_t v);
void gw_patch_u64(gguf_writer *w, size_t at, uint64_t v);
/* Zero bytes up to the next multiple of align. */
void gw_pad(gguf_writer *w, size_t align);

/* Structured pieces. Type ids are the GGUF metadata types (0..12). */
void gw_header(gguf_writer *w, uint32_t version, uint64_t n_tensors, uint64_t n_kv);
void gw_kv_u32(gguf_writer *w, const char *key, uint32_t v);
void gw_kv_i32(gguf_writer *w, const char *key, int32_t v);
void gw_kv_u64(gguf_writer *w, const char *key, uint64_t v);
void gw_kv_i64(gguf_writer *w, const char *key, int64_t v);
void gw_kv_f32(gguf_writer *w, const char *key, float v);
void gw_kv_f64(gguf_writer *w, const char *key, double v);
void gw_kv_bool(gguf_writer *w, const char *key, int v);
void gw_kv_str(gguf_writer *w, const char *key, const char *v);
/* Key, ARRAY type, element type and count; the caller writes the elements. */
void gw_kv_arr(gguf_writer *w, const char *key, uint32_t elem_type, uint64_t n);
/* name, n_dims, ne[0..n_dims), GGML type, offset relative to the data section. */
void gw_tensor_info(gguf_writer *w, const char *name, uint32_t n_dims, const uint64_t *ne,
                    uint32_t type, uint64_t offset);

#endif
