/* gguf.h — GGUF v2/v3 parser over a wisp_reader: header, metadata key/values and
 * the tensor directory, fully validated. It never reads tensor data itself: callers
 * get each tensor's absolute file offset and byte size and read it through the reader.
 *
 * Partial input: the reader may expose only the first part of a file (reader->size
 * smaller than the file). If the header runs past what is available, wisp_gguf_open
 * returns WISP_ERR_NEED_MORE and sets *needed to the byte count to retry with: at
 * least what the header provably needs, grown geometrically (at least 1.5x what was
 * given and 64 KiB; inside a big string array, the array's extrapolated end, up to 16x
 * what was given; never past the file size) so a network caller needs few round trips.
 * It may ask again for more. */
#ifndef WISP_GGUF_H
#define WISP_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wisp.h"

enum wisp_gguf_type {
    WISP_GGUF_UINT8 = 0,
    WISP_GGUF_INT8 = 1,
    WISP_GGUF_UINT16 = 2,
    WISP_GGUF_INT16 = 3,
    WISP_GGUF_UINT32 = 4,
    WISP_GGUF_INT32 = 5,
    WISP_GGUF_FLOAT32 = 6,
    WISP_GGUF_BOOL = 7,
    WISP_GGUF_STRING = 8,
    WISP_GGUF_ARRAY = 9,
    WISP_GGUF_UINT64 = 10,
    WISP_GGUF_INT64 = 11,
    WISP_GGUF_FLOAT64 = 12,
};

/* A string as stored in the file: not NUL-terminated in general (len bytes). The
 * parser does NUL-terminate every string it keeps (str[len] == 0) for convenience,
 * but strings may contain NUL bytes, so always use len. */
typedef struct wisp_gguf_str {
    const char *str;
    uint64_t len;
} wisp_gguf_str;

#define WISP_GGUF_MAX_DIMS 4

typedef struct wisp_gguf_tensor {
    wisp_gguf_str name;
    uint32_t n_dims;
    uint64_t ne[WISP_GGUF_MAX_DIMS];  /* ne[0] is the row length (contiguous); unused dims are 1 */
    uint32_t type;                    /* GGML type id (ggml_types.h); known to wisp_ggml_type_get */
    uint64_t offset;                  /* absolute offset of the data in the file */
    uint64_t size;                    /* bytes of data */
    uint64_t n_elements;
} wisp_gguf_tensor;

typedef struct wisp_gguf wisp_gguf;

/* Parse. file_size is the size of the whole file (tensors must lie inside it);
 * pass 0 when it equals r->size. On failure *out is NULL and err holds a message
 * that names what is wrong and where (byte offset). */
wisp_status wisp_gguf_open(const wisp_reader *r, uint64_t file_size, wisp_gguf **out,
                           uint64_t *needed, char *err, size_t err_len);
void wisp_gguf_free(wisp_gguf *g);

uint32_t wisp_gguf_version(const wisp_gguf *g);
uint64_t wisp_gguf_alignment(const wisp_gguf *g);
uint64_t wisp_gguf_data_offset(const wisp_gguf *g);  /* start of the tensor data section */
uint64_t wisp_gguf_header_size(const wisp_gguf *g);  /* bytes up to the data section (== data offset) */

/* ---- metadata */
int64_t wisp_gguf_n_kv(const wisp_gguf *g);
int64_t wisp_gguf_find_key(const wisp_gguf *g, const char *key);   /* index or -1 */
const wisp_gguf_str *wisp_gguf_key(const wisp_gguf *g, int64_t i);
uint32_t wisp_gguf_kv_type(const wisp_gguf *g, int64_t i);        /* enum wisp_gguf_type */

/* Typed getters by key. They return false when the key is absent or its value cannot
 * be represented in the requested type (integers of any width convert when in range;
 * floats convert to float/double; bool only from BOOL). */
bool wisp_gguf_get_u32(const wisp_gguf *g, const char *key, uint32_t *out);
bool wisp_gguf_get_i64(const wisp_gguf *g, const char *key, int64_t *out);
bool wisp_gguf_get_f32(const wisp_gguf *g, const char *key, float *out);
bool wisp_gguf_get_bool(const wisp_gguf *g, const char *key, bool *out);
bool wisp_gguf_get_str(const wisp_gguf *g, const char *key, wisp_gguf_str *out);

/* Arrays. For numeric/bool element types `data` points at n packed little-endian
 * elements of that type (as in the file); for STRING elements it points at n
 * wisp_gguf_str. Nested arrays are parsed and validated but not exposed (returns false). */
bool wisp_gguf_get_arr(const wisp_gguf *g, const char *key, uint32_t *elem_type,
                       uint64_t *n, const void **data);

/* Frees the elements of every array (and their strings): a model calls it once its
 * vocabulary has copied what it needs, so a 150k-token vocabulary is not held twice.
 * Afterwards wisp_gguf_get_arr returns false for every key; keys, types, scalars, strings
 * and the tensor directory are unchanged. */
void wisp_gguf_drop_arrays(wisp_gguf *g);

/* ---- tensors */
int64_t wisp_gguf_n_tensors(const wisp_gguf *g);
const wisp_gguf_tensor *wisp_gguf_tensor_at(const wisp_gguf *g, int64_t i);
const wisp_gguf_tensor *wisp_gguf_find_tensor(const wisp_gguf *g, const char *name);

#endif
