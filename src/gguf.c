/* gguf.c — GGUF v2/v3 header parser over a wisp_reader. Every count, length, shape
 * and offset is validated before it is trusted; metadata strings live in one arena. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml_types.h"
#include "gguf.h"
#include "util.h"

#define GGUF_BUF_SIZE ((size_t)64 * 1024)     /* read-ahead window for header fields */
#define GGUF_MAX_STR ((uint64_t)1 << 30)      /* no real key, token or template is near 1 GiB */
#define GGUF_MAX_NEST 8                       /* nested arrays: deep enough for anything real, bounded stack */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_GROW_MIN ((uint64_t)64 * 1024)   /* smallest prefix worth asking a partial caller for */
#define GGUF_GROW_MAX 16                      /* a partial caller is asked for at most 16x what it gave */
#define GGUF_FIXED_HEADER 24                  /* magic, version, n_tensors, n_kv */
/* Smallest possible encodings, used to bound counts by the bytes that could hold them
 * and to give partial readers a lower bound on what the header still needs. */
#define KV_MIN_BYTES 13      /* key length (8) + empty key + value type (4) + 1-byte value */
#define TENSOR_MIN_BYTES 32  /* name length (8) + empty name + n_dims (4) + one dim (8) + type (4) + offset (8) */

/* ---------------------------------------------------------------- arena */

/* Chunks are never moved, so pointers handed out stay valid until wisp_gguf_free. */
typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t cap, used;
} arena_chunk;

/* Data starts after the header rounded to 16 so 8-byte array elements are aligned. */
#define CHUNK_HDR ((sizeof(arena_chunk) + 15) & ~(size_t)15)
#define ARENA_FIRST_CHUNK ((size_t)64 * 1024)
#define ARENA_MAX_CHUNK ((size_t)8 * 1024 * 1024)

typedef struct arena {
    arena_chunk *head;
    size_t next_cap;
} arena;

/* align is 1 (string bytes: packed, to keep big vocabularies small) or 8 (arrays). */
static void *arena_alloc(arena *a, uint64_t n, size_t align) {
    if (n > (uint64_t)(SIZE_MAX - CHUNK_HDR - 16)) return NULL;
    size_t sz = (size_t)n;
    arena_chunk *c = a->head;
    if (c) {
        size_t at = (c->used + align - 1) & ~(align - 1);
        if (at <= c->cap && c->cap - at >= sz) {
            c->used = at + sz;
            return (unsigned char *)c + CHUNK_HDR + at;
        }
    }
    if (a->next_cap == 0) a->next_cap = ARENA_FIRST_CHUNK;
    /* A request bigger than half a chunk gets its own chunk, so the current chunk's
     * free space is not abandoned. */
    bool own = sz > a->next_cap / 2;
    size_t cap = own ? sz : a->next_cap;
    c = (arena_chunk *)malloc(CHUNK_HDR + cap);
    if (!c) return NULL;
    c->cap = cap;
    c->used = sz;
    if (own && a->head) {
        c->next = a->head->next;
        a->head->next = c;
    } else {
        c->next = a->head;
        a->head = c;
        if (a->next_cap < ARENA_MAX_CHUNK) a->next_cap *= 2;
    }
    return (unsigned char *)c + CHUNK_HDR;
}

static void arena_free(arena *a) {
    arena_chunk *c = a->head;
    while (c) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

/* ---------------------------------------------------------------- name table */

/* Open-addressing hash of names -> index: duplicate detection while parsing and
 * lookups by key / tensor name afterwards. */
typedef struct name_slot {
    const char *s;
    uint64_t len;
    uint64_t hash;
    int64_t idx; /* -1: empty */
} name_slot;

typedef struct name_table {
    name_slot *slots;
    uint64_t cap; /* power of two (or 0) */
    uint64_t count;
} name_table;

static uint64_t hash_bytes(const char *s, uint64_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (uint64_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int64_t nt_find_h(const name_table *t, const char *s, uint64_t len, uint64_t h) {
    if (t->cap == 0) return -1;
    uint64_t mask = t->cap - 1;
    for (uint64_t i = h & mask;; i = (i + 1) & mask) {
        const name_slot *sl = &t->slots[i];
        if (sl->idx < 0) return -1;
        if (sl->hash == h && sl->len == len && memcmp(sl->s, s, (size_t)len) == 0) return sl->idx;
    }
}

static void nt_place(name_slot *slots, uint64_t cap, const name_slot *v) {
    uint64_t mask = cap - 1;
    uint64_t i = v->hash & mask;
    while (slots[i].idx >= 0) i = (i + 1) & mask;
    slots[i] = *v;
}

/* Inserts s -> idx. Returns false on OOM; *dup gets the index of an existing equal
 * name (and nothing is inserted) or -1. */
static bool nt_insert(name_table *t, const char *s, uint64_t len, int64_t idx, int64_t *dup) {
    uint64_t h = hash_bytes(s, len);
    *dup = nt_find_h(t, s, len, h);
    if (*dup >= 0) return true;
    if ((t->count + 1) * 2 > t->cap) {
        uint64_t ncap = t->cap ? t->cap * 2 : 16;
        if (ncap > SIZE_MAX / sizeof(name_slot)) return false;
        name_slot *ns = (name_slot *)malloc((size_t)ncap * sizeof(name_slot));
        if (!ns) return false;
        for (uint64_t i = 0; i < ncap; i++) ns[i].idx = -1;
        for (uint64_t i = 0; i < t->cap; i++)
            if (t->slots[i].idx >= 0) nt_place(ns, ncap, &t->slots[i]);
        free(t->slots);
        t->slots = ns;
        t->cap = ncap;
    }
    name_slot v = {s, len, h, idx};
    nt_place(t->slots, t->cap, &v);
    t->count++;
    return true;
}

/* ---------------------------------------------------------------- model */

typedef struct gguf_kv {
    wisp_gguf_str key;
    uint32_t type;
    uint32_t arr_type;     /* ARRAY: element type */
    uint64_t arr_n;        /* ARRAY: element count */
    const void *arr_data;  /* ARRAY: elements; NULL for nested arrays (not exposed) */
    uint64_t bits;         /* scalar: the raw little-endian value, zero-extended */
    wisp_gguf_str str;     /* STRING */
} gguf_kv;

struct wisp_gguf {
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;
    gguf_kv *kv;
    int64_t n_kv, kv_cap;
    wisp_gguf_tensor *tensors;
    int64_t n_tensors, tensor_cap;
    name_table kv_names, tensor_names;
    arena mem;        /* keys, string values, tensor names */
    arena arr_mem;    /* the elements of top-level arrays (and their strings): wisp_gguf_drop_arrays */
    bool arrays_dropped;
};

void wisp_gguf_free(wisp_gguf *g) {
    if (!g) return;
    free(g->kv);
    free(g->tensors);
    free(g->kv_names.slots);
    free(g->tensor_names.slots);
    arena_free(&g->mem);
    arena_free(&g->arr_mem);
    free(g);
}

void wisp_gguf_drop_arrays(wisp_gguf *g) {
    if (!g || g->arrays_dropped) return;
    for (int64_t i = 0; i < g->n_kv; i++) g->kv[i].arr_data = NULL;
    arena_free(&g->arr_mem);
    g->arrays_dropped = true;
}

/* ---------------------------------------------------------------- parser */

typedef struct parser {
    const wisp_reader *r;
    uint64_t avail;      /* bytes the reader can deliver now */
    uint64_t file_size;  /* bytes of the whole file */
    uint64_t pos;        /* absolute offset of the next field */
    /* Lower bound on header bytes after the item being parsed; lets a partial
     * parse report a useful *needed and lets absurd counts fail before allocation. */
    uint64_t tail;
    unsigned char *buf;
    uint64_t buf_off;
    size_t buf_len;
    wisp_gguf *g;
    arena *mem;          /* where strings go: g->mem, or g->arr_mem inside a top-level array */
    /* The top-level string array being parsed (arr_n == 0: none): where its elements
     * start, how many there are and which one is being read. A partial parse that runs
     * out inside it extrapolates the array's end from the elements read so far. */
    uint64_t arr_first, arr_n, arr_i;
    char *err;
    size_t err_len;
    uint64_t needed;
    /* What is being parsed, for error messages: 'k' (kv), 't' (tensor) or 0 (header). */
    char item_kind;
    uint64_t item_idx;
    wisp_gguf_str item_name; /* str NULL until the key / name is read */
} parser;

typedef unsigned long long ull;

static const char *type_name(uint32_t t) {
    static const char *const names[] = {"UINT8", "INT8",   "UINT16", "INT16", "UINT32",
                                        "INT32", "FLOAT32", "BOOL",  "STRING", "ARRAY",
                                        "UINT64", "INT64",  "FLOAT64"};
    return t <= WISP_GGUF_FLOAT64 ? names[t] : "invalid";
}

/* Bytes of one element of a fixed-size type; 0 for STRING/ARRAY/invalid. */
static uint32_t type_size(uint32_t t) {
    switch (t) {
    case WISP_GGUF_UINT8: case WISP_GGUF_INT8: case WISP_GGUF_BOOL: return 1;
    case WISP_GGUF_UINT16: case WISP_GGUF_INT16: return 2;
    case WISP_GGUF_UINT32: case WISP_GGUF_INT32: case WISP_GGUF_FLOAT32: return 4;
    case WISP_GGUF_UINT64: case WISP_GGUF_INT64: case WISP_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

/* Smallest encoding of one array element of type t (a string: its length; a nested
 * array: its type and count). */
static uint64_t elem_min_size(uint32_t t) {
    if (t == WISP_GGUF_STRING) return 8;
    if (t == WISP_GGUF_ARRAY) return 12;
    return type_size(t);
}

/* "kv 3 'general.name': " / "tensor 5 'blk.0.attn_q.weight': " / "" */
static const char *where(const parser *p, char *buf, size_t cap) {
    const char *kind = p->item_kind == 'k' ? "kv" : "tensor";
    if (p->item_kind == 0) {
        buf[0] = 0;
    } else if (p->item_name.str) {
        int n = p->item_name.len > 80 ? 80 : (int)p->item_name.len;
        snprintf(buf, cap, "%s %llu '%.*s%s': ", kind, (ull)p->item_idx, n, p->item_name.str,
                 p->item_name.len > 80 ? "..." : "");
    } else {
        snprintf(buf, cap, "%s %llu: ", kind, (ull)p->item_idx);
    }
    return buf;
}

#define WHERE_CAP 160

/* Checks that n bytes at pos (plus `extra` more bytes of this item and the minimum
 * the rest of the header needs) can exist in the file, and (need_now) that the n bytes
 * are available from the reader now. */
static wisp_status ensure_in_file(parser *p, uint64_t n, uint64_t extra, const char *what, bool need_now) {
    char w[WHERE_CAP];
    uint64_t end, rest = UINT64_MAX, min_end = UINT64_MAX;
    if (!wisp_add_u64(p->pos, n, &end) || end > p->file_size)
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                            "truncated file: %s%s needs %llu bytes at offset %llu, but the file "
                            "is %llu bytes",
                            where(p, w, sizeof w), what, (ull)n, (ull)p->pos, (ull)p->file_size);
    bool ok = wisp_add_u64(extra, p->tail, &rest) && wisp_add_u64(end, rest, &min_end);
    if (!ok || min_end > p->file_size)
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                            "truncated file: %safter %s at offset %llu the header needs at least "
                            "%llu more bytes, but the file is %llu bytes",
                            where(p, w, sizeof w), what, (ull)p->pos, (ull)rest, (ull)p->file_size);
    if (need_now && end > p->avail) {
        /* min_end is a hard lower bound, but creeping up to it one item at a time would
         * cost a caller a round trip per few bytes. Ask for at least 1.5x what we were
         * given (and 64 KiB), so a streaming caller reaches any header in a logarithmic
         * number of calls. Inside a big string array (a vocabulary: most of a header) the
         * array's end is extrapolated from the elements read so far, plus half of the rest
         * as a margin (later BPE merges are longer than early ones); that estimate is
         * capped at 16x what was given, so one long string cannot make a caller fetch the
         * whole file as a header. Qwen2.5's 5.9 MB header from a 256 KiB start: 4 MiB, then
         * 7.0 MB, parsed (it was 1.2, 2.5, 4.9 and 9.8 MB with doubling: 18.7 MB read and
         * parsed in all, now 11.5 MB, and a 7.0 MB buffer instead of 9.8 MB at the end). */
        uint64_t est = p->avail > UINT64_MAX / 3 * 2 ? UINT64_MAX : p->avail + p->avail / 2;
        if (est < GGUF_GROW_MIN) est = GGUF_GROW_MIN;
        if (p->arr_n && p->arr_i > 0 && p->pos > p->arr_first) {
            const uint64_t avg = (p->pos - p->arr_first) / p->arr_i + 1;
            const uint64_t left = p->arr_n - p->arr_i;
            uint64_t guess, cap;
            if (!wisp_mul_u64(left, avg + avg / 2, &guess) || !wisp_add_u64(guess, p->pos, &guess) ||
                !wisp_add_u64(guess, rest, &guess))
                guess = UINT64_MAX;
            if (!wisp_mul_u64(p->avail, GGUF_GROW_MAX, &cap)) cap = UINT64_MAX;
            if (guess > cap) guess = cap;
            if (est < guess) est = guess;
        }
        if (est < min_end) est = min_end;
        p->needed = est < p->file_size ? est : p->file_size;
        return wisp_set_err(p->err, p->err_len, WISP_ERR_NEED_MORE,
                            "partial file: %s%s needs bytes up to offset %llu, have %llu",
                            where(p, w, sizeof w), what, (ull)end, (ull)p->avail);
    }
    return WISP_OK;
}

static wisp_status ensure(parser *p, uint64_t n, uint64_t extra, const char *what) {
    return ensure_in_file(p, n, extra, what, true);
}

static wisp_status do_read(parser *p, void *dst, uint64_t off, size_t len) {
    if (p->r->read(p->r->user, dst, off, len) != 0)
        return wisp_set_err(p->err, p->err_len, WISP_ERR_IO,
                            "read of %llu bytes at offset %llu failed", (ull)len, (ull)off);
    return WISP_OK;
}

/* Copies n bytes at pos (already checked by ensure) into dst via the read-ahead buffer. */
static wisp_status copy_out(parser *p, unsigned char *dst, uint64_t n) {
    while (n > 0) {
        if (p->pos >= p->buf_off && p->pos - p->buf_off < p->buf_len) {
            size_t off = (size_t)(p->pos - p->buf_off);
            size_t k = p->buf_len - off;
            if (k > n) k = (size_t)n;
            memcpy(dst, p->buf + off, k);
            dst += k;
            n -= k;
            p->pos += k;
            continue;
        }
        if (n >= GGUF_BUF_SIZE) {
            /* Big strings/arrays go straight to their destination. ensure() checked
             * pos + n <= avail, and a value this large was arena-allocated, so n fits size_t. */
            wisp_status s = do_read(p, dst, p->pos, (size_t)n);
            if (s != WISP_OK) return s;
            p->pos += n;
            return WISP_OK;
        }
        uint64_t left = p->avail - p->pos;
        size_t len = left < GGUF_BUF_SIZE ? (size_t)left : GGUF_BUF_SIZE;
        p->buf_len = 0; /* invalid until the read succeeds */
        wisp_status s = do_read(p, p->buf, p->pos, len);
        if (s != WISP_OK) return s;
        p->buf_off = p->pos;
        p->buf_len = len;
    }
    return WISP_OK;
}

static wisp_status read_raw(parser *p, void *dst, uint64_t n, uint64_t extra, const char *what) {
    wisp_status s = ensure(p, n, extra, what);
    if (s != WISP_OK) return s;
    return copy_out(p, (unsigned char *)dst, n);
}

static uint64_t le_u64(const unsigned char *b, unsigned n) {
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;) v = (v << 8) | b[i];
    return v;
}

/* Spelled out so compilers turn it into one load on little-endian hosts. */
static inline uint64_t le64(const unsigned char *b) {
    return (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24 |
           (uint64_t)b[4] << 32 | (uint64_t)b[5] << 40 | (uint64_t)b[6] << 48 | (uint64_t)b[7] << 56;
}

static wisp_status read_u32(parser *p, uint32_t *v, uint64_t extra, const char *what) {
    unsigned char b[4];
    wisp_status s = read_raw(p, b, 4, extra, what);
    if (s == WISP_OK) *v = (uint32_t)le_u64(b, 4);
    return s;
}

static wisp_status read_u64(parser *p, uint64_t *v, uint64_t extra, const char *what) {
    unsigned char b[8];
    wisp_status s = read_raw(p, b, 8, extra, what);
    if (s == WISP_OK) *v = le64(b);
    return s;
}

static wisp_status oom(parser *p, const char *what, uint64_t n) {
    return wisp_set_err(p->err, p->err_len, WISP_ERR_OOM, "out of memory allocating %llu bytes for %s",
                        (ull)n, what);
}

/* Reads a length-prefixed string. out == NULL skips it (nested arrays). */
static wisp_status read_string(parser *p, wisp_gguf_str *out, uint64_t extra, const char *what) {
    uint64_t at = p->pos, len;
    /* Fast path for vocabularies (hundreds of thousands of short strings): the whole
     * string is already in the buffer and the rest of the header still fits the file.
     * Anything else, including every error, takes the general path below. */
    if (out && at >= p->buf_off && p->buf_len >= 8 && at - p->buf_off <= p->buf_len - 8) {
        size_t off = (size_t)(at - p->buf_off);
        len = le64(p->buf + off);
        uint64_t rest;
        if (len <= p->buf_len - 8 - off && wisp_add_u64(extra, p->tail, &rest) &&
            rest <= p->file_size - (at + 8 + len)) {
            char *str = (char *)arena_alloc(p->mem, len + 1, 1);
            if (!str) return oom(p, what, len + 1);
            memcpy(str, p->buf + off + 8, (size_t)len);
            str[len] = 0;
            out->str = str;
            out->len = len;
            p->pos = at + 8 + len;
            return WISP_OK;
        }
    }
    wisp_status s = read_u64(p, &len, extra, what);
    if (s != WISP_OK) return s;
    if (len > GGUF_MAX_STR) {
        char w[WHERE_CAP];
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                            "%s%s at offset %llu has length %llu, over the 1 GiB limit",
                            where(p, w, sizeof w), what, (ull)at, (ull)len);
    }
    s = ensure(p, len, extra, what);
    if (s != WISP_OK) return s;
    if (!out) {
        p->pos += len;
        return WISP_OK;
    }
    char *str = (char *)arena_alloc(p->mem, len + 1, 1);
    if (!str) return oom(p, what, len + 1);
    s = copy_out(p, (unsigned char *)str, len);
    if (s != WISP_OK) return s;
    str[len] = 0;
    out->str = str;
    out->len = len;
    return WISP_OK;
}

/* Parses an array body (element type and count already read at the current pos).
 * kv == NULL: validate and skip (elements of a nested array). */
static wisp_status parse_array_body(parser *p, gguf_kv *kv, uint32_t et, uint64_t n, uint64_t at,
                                    int depth, uint64_t extra);

static wisp_status parse_array(parser *p, gguf_kv *kv, int depth, uint64_t extra) {
    char w[WHERE_CAP];
    uint64_t at = p->pos;
    uint32_t et;
    uint64_t n;
    wisp_status s = read_u32(p, &et, 8 + extra, "array element type");
    if (s != WISP_OK) return s;
    if (et > WISP_GGUF_FLOAT64)
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                            "%sarray at offset %llu has invalid element type %u",
                            where(p, w, sizeof w), (ull)at, et);
    if (et == WISP_GGUF_ARRAY && depth + 1 >= GGUF_MAX_NEST)
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                            "%sarrays nested more than %d deep at offset %llu",
                            where(p, w, sizeof w), GGUF_MAX_NEST, (ull)at);
    s = read_u64(p, &n, extra, "array length");
    if (s != WISP_OK) return s;
    return parse_array_body(p, kv, et, n, at, depth, extra);
}

static wisp_status parse_array_body(parser *p, gguf_kv *kv, uint32_t et, uint64_t n, uint64_t at,
                                    int depth, uint64_t extra) {
    char w[WHERE_CAP];
    uint64_t min_bytes;
    /* Bound the count by the bytes that could hold it before allocating anything. */
    if (!wisp_mul_u64(n, elem_min_size(et), &min_bytes) || min_bytes > p->file_size)
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                            "%sarray at offset %llu claims %llu %s elements, more than the file "
                            "(%llu bytes) can hold",
                            where(p, w, sizeof w), (ull)at, (ull)n, type_name(et), (ull)p->file_size);
    /* The elements must fit in the file. A partial reader need not hold all their minimal
     * bytes yet when they are kept strings: the array is then scanned without keeping
     * anything (nothing is allocated for a count the available bytes cannot back) until
     * the bytes run out, which extrapolates the array's end (see ensure_in_file). */
    const bool kept_strings = kv && et == WISP_GGUF_STRING;
    const bool scan_only = kept_strings && min_bytes > p->avail - (p->pos < p->avail ? p->pos : p->avail);
    wisp_status s = ensure_in_file(p, min_bytes, extra, "array elements", !kept_strings);
    if (s != WISP_OK) return s;
    if (kv) {
        kv->arr_type = et;
        kv->arr_n = n;
        kv->arr_data = NULL;
    }
    uint32_t esz = type_size(et);
    if (esz) {
        if (!kv) {
            p->pos += min_bytes;
            return WISP_OK;
        }
        void *data = arena_alloc(&p->g->arr_mem, min_bytes, 8);
        if (!data) return oom(p, "array", min_bytes);
        s = copy_out(p, (unsigned char *)data, min_bytes);
        if (s != WISP_OK) return s;
        kv->arr_data = data;
        return WISP_OK;
    }
    if (et == WISP_GGUF_STRING) {
        wisp_gguf_str *strs = NULL;
        if (kv && !scan_only) {
            uint64_t bytes;
            if (!wisp_mul_u64(n, sizeof(wisp_gguf_str), &bytes) ||
                !(strs = (wisp_gguf_str *)arena_alloc(&p->g->arr_mem, bytes, 8)))
                return oom(p, "string array", n * sizeof(wisp_gguf_str));
            kv->arr_data = strs;
        }
        p->mem = &p->g->arr_mem;
        if (kv) {
            p->arr_first = p->pos;
            p->arr_n = n;
        }
        for (uint64_t i = 0; i < n; i++) {
            if (kv) p->arr_i = i;
            /* n * 8 <= file_size was checked, so this cannot overflow. */
            s = read_string(p, strs ? &strs[i] : NULL, (n - 1 - i) * 8 + extra, "array string");
            if (s != WISP_OK) break;
        }
        p->mem = &p->g->mem;
        if (kv) p->arr_n = 0;
        /* A scan cannot get through the array (its minimal bytes were not all there); if
         * it ever did, ask for more rather than keep an array without its elements. */
        if (s == WISP_OK && scan_only) s = ensure(p, p->avail - p->pos + 1, extra, "array elements");
        return s;
    }
    /* Nested arrays: validated and skipped, not exposed. */
    for (uint64_t i = 0; i < n; i++) {
        s = parse_array(p, NULL, depth + 1, (n - 1 - i) * 12 + extra);
        if (s != WISP_OK) return s;
    }
    return WISP_OK;
}

static wisp_status parse_kv(parser *p, gguf_kv *kv) {
    char w[WHERE_CAP];
    wisp_status s = read_string(p, &kv->key, 4 + 1, "key");
    if (s != WISP_OK) return s;
    p->item_name = kv->key;
    int64_t dup;
    if (!nt_insert(&p->g->kv_names, kv->key.str, kv->key.len, (int64_t)p->item_idx, &dup))
        return oom(p, "key table", p->g->kv_names.cap * 2 * sizeof(name_slot));
    if (dup >= 0)
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT, "%sduplicate key (also kv %lld)",
                            where(p, w, sizeof w), (long long)dup);
    uint64_t at = p->pos;
    s = read_u32(p, &kv->type, 1, "value type");
    if (s != WISP_OK) return s;
    if (kv->type > WISP_GGUF_FLOAT64)
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                            "%sinvalid value type %u at offset %llu", where(p, w, sizeof w), kv->type,
                            (ull)at);
    if (kv->type == WISP_GGUF_STRING) return read_string(p, &kv->str, 0, "string value");
    if (kv->type == WISP_GGUF_ARRAY) return parse_array(p, kv, 0, 0);
    unsigned char b[8];
    unsigned sz = type_size(kv->type);
    s = read_raw(p, b, sz, 0, "value");
    if (s != WISP_OK) return s;
    kv->bits = le_u64(b, sz);
    return WISP_OK;
}

static wisp_status check_alignment(parser *p, const gguf_kv *kv) {
    char w[WHERE_CAP];
    if (kv->type != WISP_GGUF_UINT32)
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT, "%shas type %s, expected UINT32",
                            where(p, w, sizeof w), type_name(kv->type));
    if (kv->bits == 0 || (kv->bits & (kv->bits - 1)) != 0)
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                            "%salignment %llu is not a nonzero power of two", where(p, w, sizeof w),
                            (ull)kv->bits);
    p->g->alignment = kv->bits;
    return WISP_OK;
}

static wisp_status parse_tensor_info(parser *p, wisp_gguf_tensor *t) {
    char w[WHERE_CAP];
    wisp_status s = read_string(p, &t->name, 4 + 8 + 4 + 8, "tensor name");
    if (s != WISP_OK) return s;
    p->item_name = t->name;
    int64_t dup;
    if (!nt_insert(&p->g->tensor_names, t->name.str, t->name.len, (int64_t)p->item_idx, &dup))
        return oom(p, "tensor name table", p->g->tensor_names.cap * 2 * sizeof(name_slot));
    if (dup >= 0)
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                            "%sduplicate tensor name (also tensor %lld)", where(p, w, sizeof w),
                            (long long)dup);
    s = read_u32(p, &t->n_dims, 8 + 4 + 8, "n_dims");
    if (s != WISP_OK) return s;
    if (t->n_dims < 1 || t->n_dims > WISP_GGUF_MAX_DIMS)
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT, "%sn_dims %u is not in 1..%d",
                            where(p, w, sizeof w), t->n_dims, WISP_GGUF_MAX_DIMS);
    unsigned char b[8 * WISP_GGUF_MAX_DIMS];
    s = read_raw(p, b, 8u * t->n_dims, 4 + 8, "dimensions");
    if (s != WISP_OK) return s;
    for (uint32_t d = 0; d < WISP_GGUF_MAX_DIMS; d++) {
        t->ne[d] = d < t->n_dims ? le_u64(b + 8 * d, 8) : 1;
        if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX)
            return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                                "%sdimension %u is %llu (must be 1..INT64_MAX)", where(p, w, sizeof w),
                                d, (ull)t->ne[d]);
    }
    s = read_u32(p, &t->type, 8, "tensor type");
    if (s != WISP_OK) return s;
    const wisp_ggml_type_info *ti = wisp_ggml_type_get(t->type);
    if (!ti)
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT, "%sunknown GGML type id %u",
                            where(p, w, sizeof w), t->type);
    if (t->ne[0] % ti->blck_size != 0)
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                            "%srow length %llu is not a multiple of the %s block size %u",
                            where(p, w, sizeof w), (ull)t->ne[0], ti->name, ti->blck_size);
    uint64_t n = 1;
    for (uint32_t d = 0; d < WISP_GGUF_MAX_DIMS; d++) {
        if (!wisp_mul_u64(n, t->ne[d], &n) || n > (uint64_t)INT64_MAX)
            return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                                "%selement count [%llu, %llu, %llu, %llu] overflows",
                                where(p, w, sizeof w), (ull)t->ne[0], (ull)t->ne[1], (ull)t->ne[2],
                                (ull)t->ne[3]);
    }
    t->n_elements = n;
    uint64_t size;
    if (!wisp_mul_u64(n / ti->blck_size, ti->type_size, &size) || size > (uint64_t)INT64_MAX)
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                            "%sbyte size of %llu %s elements overflows", where(p, w, sizeof w),
                            (ull)n, ti->name);
    t->size = size;
    return read_u64(p, &t->offset, 0, "tensor offset"); /* relative until the data offset is known */
}

static int cmp_by_offset(const void *a, const void *b) {
    const wisp_gguf_tensor *x = *(const wisp_gguf_tensor *const *)a;
    const wisp_gguf_tensor *y = *(const wisp_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Places the tensors in the data section and checks bounds, alignment and overlap. */
static wisp_status check_tensors(parser *p) {
    wisp_gguf *g = p->g;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        wisp_gguf_tensor *t = &g->tensors[i];
        int nl = t->name.len > 80 ? 80 : (int)t->name.len;
        uint64_t abs, end;
        if (t->offset % g->alignment != 0)
            return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                                "tensor '%.*s': offset %llu is not a multiple of the alignment %llu",
                                nl, t->name.str, (ull)t->offset, (ull)g->alignment);
        if (!wisp_add_u64(g->data_offset, t->offset, &abs) || !wisp_add_u64(abs, t->size, &end))
            return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                                "tensor '%.*s': offset %llu + size %llu overflows", nl, t->name.str,
                                (ull)t->offset, (ull)t->size);
        if (end > p->file_size)
            return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                                "tensor '%.*s': data [%llu, %llu) lies outside the file (size %llu)",
                                nl, t->name.str, (ull)abs, (ull)end, (ull)p->file_size);
        t->offset = abs;
    }
    if (g->n_tensors < 2) return WISP_OK;
    const wisp_gguf_tensor **order =
        (const wisp_gguf_tensor **)malloc((size_t)g->n_tensors * sizeof(*order));
    if (!order) return oom(p, "tensor order", (uint64_t)g->n_tensors * sizeof(*order));
    for (int64_t i = 0; i < g->n_tensors; i++) order[i] = &g->tensors[i];
    qsort(order, (size_t)g->n_tensors, sizeof(*order), cmp_by_offset);
    wisp_status s = WISP_OK;
    for (int64_t i = 1; i < g->n_tensors; i++) {
        const wisp_gguf_tensor *a = order[i - 1], *b = order[i];
        if (b->offset < a->offset + a->size) {
            s = wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                             "tensor '%.*s' data [%llu, %llu) overlaps tensor '%.*s' [%llu, %llu)",
                             b->name.len > 80 ? 80 : (int)b->name.len, b->name.str, (ull)b->offset,
                             (ull)(b->offset + b->size), a->name.len > 80 ? 80 : (int)a->name.len,
                             a->name.str, (ull)a->offset, (ull)(a->offset + a->size));
            break;
        }
    }
    free(order);
    return s;
}

static wisp_status parse(parser *p) {
    wisp_gguf *g = p->g;
    unsigned char magic[4];
    uint64_t n_tensors, n_kv;
    wisp_status s;

    /* A partial buffer that already disagrees with the magic is not worth waiting for. */
    if (p->avail < 4 && p->avail > 0) {
        s = read_raw(p, magic, p->avail, 0, "magic");
        if (s != WISP_OK) return s;
        p->pos = 0;
        if (memcmp(magic, "GGUF", (size_t)p->avail) != 0)
            return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT, "not a GGUF file (bad magic)");
    }
    s = read_raw(p, magic, 4, GGUF_FIXED_HEADER - 4, "magic");
    if (s != WISP_OK) return s;
    if (memcmp(magic, "GGUF", 4) != 0)
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                            "not a GGUF file (magic %02x %02x %02x %02x)", magic[0], magic[1],
                            magic[2], magic[3]);
    s = read_u32(p, &g->version, GGUF_FIXED_HEADER - 8, "version");
    if (s != WISP_OK) return s;
    if (g->version == 1)
        return wisp_set_err(p->err, p->err_len, WISP_ERR_UNSUPPORTED,
                            "GGUF version 1 is not supported (re-convert the model)");
    if (g->version != 2 && g->version != 3) {
        /* A big-endian file's version 1..3 reads byte-swapped here. */
        if ((g->version & 0x00FFFFFF) == 0 && (g->version >> 24) >= 1 && (g->version >> 24) <= 3)
            return wisp_set_err(p->err, p->err_len, WISP_ERR_UNSUPPORTED,
                                "big-endian GGUF files are not supported");
        if (g->version > 3 && g->version <= 0xFFFF)
            return wisp_set_err(p->err, p->err_len, WISP_ERR_UNSUPPORTED,
                                "GGUF version %u is newer than this reader (2 and 3)", g->version);
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT, "invalid GGUF version %u",
                            g->version);
    }
    s = read_u64(p, &n_tensors, 8, "tensor count");
    if (s != WISP_OK) return s;
    s = read_u64(p, &n_kv, 0, "kv count");
    if (s != WISP_OK) return s;
    uint64_t kv_bytes, t_bytes, min_rest;
    if (!wisp_mul_u64(n_kv, KV_MIN_BYTES, &kv_bytes) || !wisp_mul_u64(n_tensors, TENSOR_MIN_BYTES, &t_bytes) ||
        !wisp_add_u64(kv_bytes, t_bytes, &min_rest) || min_rest > p->file_size - p->pos)
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT,
                            "header claims %llu tensors and %llu kv pairs, more than the file "
                            "(%llu bytes) can hold",
                            (ull)n_tensors, (ull)n_kv, (ull)p->file_size);

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < n_kv; i++) {
        p->item_kind = 'k';
        p->item_idx = i;
        p->item_name.str = NULL;
        p->tail = (n_kv - 1 - i) * KV_MIN_BYTES + t_bytes;
        /* Grow as entries arrive: memory follows what the file really contains. */
        if (g->n_kv == g->kv_cap) {
            int64_t cap = g->kv_cap ? g->kv_cap * 2 : 32;
            if ((uint64_t)cap > n_kv) cap = (int64_t)n_kv;
            if ((uint64_t)cap > SIZE_MAX / sizeof(gguf_kv)) return oom(p, "kv table", UINT64_MAX);
            gguf_kv *nk = (gguf_kv *)realloc(g->kv, (size_t)cap * sizeof(gguf_kv));
            if (!nk) return oom(p, "kv table", (uint64_t)cap * sizeof(gguf_kv));
            g->kv = nk;
            g->kv_cap = cap;
        }
        gguf_kv *kv = &g->kv[g->n_kv];
        memset(kv, 0, sizeof *kv);
        g->n_kv++;
        s = parse_kv(p, kv);
        if (s != WISP_OK) return s;
        if (kv->key.len == 17 && memcmp(kv->key.str, "general.alignment", 17) == 0) {
            s = check_alignment(p, kv);
            if (s != WISP_OK) return s;
        }
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        p->item_kind = 't';
        p->item_idx = i;
        p->item_name.str = NULL;
        p->tail = (n_tensors - 1 - i) * TENSOR_MIN_BYTES;
        if (g->n_tensors == g->tensor_cap) {
            int64_t cap = g->tensor_cap ? g->tensor_cap * 2 : 64;
            if ((uint64_t)cap > n_tensors) cap = (int64_t)n_tensors;
            if ((uint64_t)cap > SIZE_MAX / sizeof(wisp_gguf_tensor))
                return oom(p, "tensor table", UINT64_MAX);
            wisp_gguf_tensor *nt =
                (wisp_gguf_tensor *)realloc(g->tensors, (size_t)cap * sizeof(wisp_gguf_tensor));
            if (!nt) return oom(p, "tensor table", (uint64_t)cap * sizeof(wisp_gguf_tensor));
            g->tensors = nt;
            g->tensor_cap = cap;
        }
        wisp_gguf_tensor *t = &g->tensors[g->n_tensors];
        memset(t, 0, sizeof *t);
        g->n_tensors++;
        s = parse_tensor_info(p, t);
        if (s != WISP_OK) return s;
    }
    p->item_kind = 0;
    p->tail = 0;

    /* ggml's rule: the data section starts at the header end rounded up to alignment. */
    uint64_t end;
    if (!wisp_add_u64(p->pos, g->alignment - 1, &end))
        return wisp_set_err(p->err, p->err_len, WISP_ERR_FORMAT, "data offset overflows");
    g->data_offset = end & ~(g->alignment - 1);
    s = check_tensors(p);
    if (s != WISP_OK) return s;

    /* A partial reader must also cover the padding, so the caller can stream tensor data
     * from data_offset on. (Vocab-only files may end before the padded offset.) */
    uint64_t want = g->data_offset < p->file_size ? g->data_offset : p->file_size;
    if (p->avail < want) {
        p->needed = want;
        return wisp_set_err(p->err, p->err_len, WISP_ERR_NEED_MORE,
                            "partial file: the header and padding end at %llu, have %llu",
                            (ull)want, (ull)p->avail);
    }
    return WISP_OK;
}

wisp_status wisp_gguf_open(const wisp_reader *r, uint64_t file_size, wisp_gguf **out,
                           uint64_t *needed, char *err, size_t err_len) {
    if (out) *out = NULL;
    if (needed) *needed = 0;
    if (err && err_len) err[0] = 0;
    if (!r || !r->read || !out)
        return wisp_set_err(err, err_len, WISP_ERR_INVALID_ARG, "wisp_gguf_open: NULL argument");
    if (file_size == 0) file_size = r->size;
    if (r->size > file_size)
        return wisp_set_err(err, err_len, WISP_ERR_INVALID_ARG,
                            "wisp_gguf_open: reader has %llu bytes but file_size is %llu",
                            (ull)r->size, (ull)file_size);
    parser p;
    memset(&p, 0, sizeof p);
    p.r = r;
    p.avail = r->size;
    p.file_size = file_size;
    p.err = err;
    p.err_len = err_len;
    p.buf = (unsigned char *)malloc(GGUF_BUF_SIZE);
    p.g = (wisp_gguf *)calloc(1, sizeof(wisp_gguf));
    if (p.g) p.mem = &p.g->mem;
    wisp_status s;
    if (!p.buf || !p.g) {
        s = oom(&p, "parser", GGUF_BUF_SIZE);
    } else {
        s = parse(&p);
    }
    free(p.buf);
    if (s != WISP_OK) {
        wisp_gguf_free(p.g);
        if (s == WISP_ERR_NEED_MORE && needed) *needed = p.needed;
        return s;
    }
    *out = p.g;
    return WISP_OK;
}

/* ---------------------------------------------------------------- accessors */

uint32_t wisp_gguf_version(const wisp_gguf *g) { return g ? g->version : 0; }
uint64_t wisp_gguf_alignment(const wisp_gguf *g) { return g ? g->alignment : 0; }
uint64_t wisp_gguf_data_offset(const wisp_gguf *g) { return g ? g->data_offset : 0; }
uint64_t wisp_gguf_header_size(const wisp_gguf *g) { return g ? g->data_offset : 0; }

int64_t wisp_gguf_n_kv(const wisp_gguf *g) { return g ? g->n_kv : 0; }

int64_t wisp_gguf_find_key(const wisp_gguf *g, const char *key) {
    if (!g || !key) return -1;
    size_t len = strlen(key);
    return nt_find_h(&g->kv_names, key, len, hash_bytes(key, len));
}

const wisp_gguf_str *wisp_gguf_key(const wisp_gguf *g, int64_t i) {
    if (!g || i < 0 || i >= g->n_kv) return NULL;
    return &g->kv[i].key;
}

uint32_t wisp_gguf_kv_type(const wisp_gguf *g, int64_t i) {
    if (!g || i < 0 || i >= g->n_kv) return UINT32_MAX;
    return g->kv[i].type;
}

static const gguf_kv *kv_get(const wisp_gguf *g, const char *key) {
    int64_t i = wisp_gguf_find_key(g, key);
    return i < 0 ? NULL : &g->kv[i];
}

/* An integer value as sign and magnitude, so every width compares exactly. */
static bool kv_integer(const gguf_kv *kv, bool *neg, uint64_t *mag) {
    int64_t v;
    switch (kv->type) {
    case WISP_GGUF_UINT8: case WISP_GGUF_UINT16: case WISP_GGUF_UINT32: case WISP_GGUF_UINT64:
        *neg = false;
        *mag = kv->bits;
        return true;
    case WISP_GGUF_INT8: { int8_t x; uint8_t u = (uint8_t)kv->bits; memcpy(&x, &u, 1); v = x; break; }
    case WISP_GGUF_INT16: { int16_t x; uint16_t u = (uint16_t)kv->bits; memcpy(&x, &u, 2); v = x; break; }
    case WISP_GGUF_INT32: { int32_t x; uint32_t u = (uint32_t)kv->bits; memcpy(&x, &u, 4); v = x; break; }
    case WISP_GGUF_INT64: { uint64_t u = kv->bits; memcpy(&v, &u, 8); break; }
    default: return false;
    }
    *neg = v < 0;
    *mag = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    return true;
}

bool wisp_gguf_get_u32(const wisp_gguf *g, const char *key, uint32_t *out) {
    const gguf_kv *kv = kv_get(g, key);
    bool neg;
    uint64_t mag;
    if (!kv || !kv_integer(kv, &neg, &mag) || neg || mag > UINT32_MAX) return false;
    if (out) *out = (uint32_t)mag;
    return true;
}

bool wisp_gguf_get_i64(const wisp_gguf *g, const char *key, int64_t *out) {
    const gguf_kv *kv = kv_get(g, key);
    bool neg;
    uint64_t mag;
    if (!kv || !kv_integer(kv, &neg, &mag)) return false;
    if (!neg && mag > (uint64_t)INT64_MAX) return false;
    if (out) *out = neg ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
    return true;
}

bool wisp_gguf_get_f32(const wisp_gguf *g, const char *key, float *out) {
    const gguf_kv *kv = kv_get(g, key);
    if (!kv) return false;
    if (kv->type == WISP_GGUF_FLOAT32) {
        uint32_t u = (uint32_t)kv->bits;
        float f;
        memcpy(&f, &u, 4);
        if (out) *out = f;
        return true;
    }
    if (kv->type == WISP_GGUF_FLOAT64) {
        uint64_t u = kv->bits;
        double d;
        memcpy(&d, &u, 8);
        /* A finite double beyond float range has no float value (the cast would be UB). */
        if (d > FLT_MAX && d <= DBL_MAX) return false;
        if (d < -FLT_MAX && d >= -DBL_MAX) return false;
        if (out) *out = (float)d;
        return true;
    }
    bool neg;
    uint64_t mag;
    if (!kv_integer(kv, &neg, &mag)) return false;
    if (out) *out = neg ? -(float)mag : (float)mag;
    return true;
}

bool wisp_gguf_get_bool(const wisp_gguf *g, const char *key, bool *out) {
    const gguf_kv *kv = kv_get(g, key);
    if (!kv || kv->type != WISP_GGUF_BOOL) return false;
    if (out) *out = kv->bits != 0;
    return true;
}

bool wisp_gguf_get_str(const wisp_gguf *g, const char *key, wisp_gguf_str *out) {
    const gguf_kv *kv = kv_get(g, key);
    if (!kv || kv->type != WISP_GGUF_STRING) return false;
    if (out) *out = kv->str;
    return true;
}

bool wisp_gguf_get_arr(const wisp_gguf *g, const char *key, uint32_t *elem_type, uint64_t *n,
                       const void **data) {
    const gguf_kv *kv = kv_get(g, key);
    if (!kv || kv->type != WISP_GGUF_ARRAY || kv->arr_type == WISP_GGUF_ARRAY || g->arrays_dropped) return false;
    if (elem_type) *elem_type = kv->arr_type;
    if (n) *n = kv->arr_n;
    if (data) *data = kv->arr_data;
    return true;
}

int64_t wisp_gguf_n_tensors(const wisp_gguf *g) { return g ? g->n_tensors : 0; }

const wisp_gguf_tensor *wisp_gguf_tensor_at(const wisp_gguf *g, int64_t i) {
    if (!g || i < 0 || i >= g->n_tensors) return NULL;
    return &g->tensors[i];
}

const wisp_gguf_tensor *wisp_gguf_find_tensor(const wisp_gguf *g, const char *name) {
    if (!g || !name) return NULL;
    size_t len = strlen(name);
    int64_t i = nt_find_h(&g->tensor_names, name, len, hash_bytes(name, len));
    return i < 0 ? NULL : &g->tensors[i];
}
