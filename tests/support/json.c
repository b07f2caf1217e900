/* json.c — strict recursive-descent JSON parser for tests (see json.h): builds a tree
 * of json_value nodes; rejects malformed input with a located message, never crashes. */
#include "json.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 1000

typedef struct json_key {
    char *s;
    size_t len;
} json_key;

struct json_value {
    int kind;
    bool b;
    double num;
    char *s;            /* string bytes, NUL-terminated */
    size_t slen;
    json_value *items;  /* array elements / object member values */
    json_key *keys;     /* object keys, parallel to items */
    size_t n, cap;
};

typedef struct parser {
    const unsigned char *p, *end, *start;
    char *err;
    size_t err_len;
    bool failed;
} parser;

static void fail(parser *ps, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void fail(parser *ps, const char *fmt, ...) {
    if (ps->failed) return;
    ps->failed = true;
    if (!ps->err || ps->err_len == 0) return;
    size_t off = (size_t)(ps->p - ps->start);
    size_t line = 1, col = 1;
    for (const unsigned char *q = ps->start; q < ps->p; q++) {
        if (*q == '\n') { line++; col = 1; } else col++;
    }
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(ps->err, ps->err_len, "json: %s at byte %zu (line %zu, column %zu)", msg, off, line, col);
}

static void value_clear(json_value *v) {
    if (!v) return;
    free(v->s);
    for (size_t i = 0; i < v->n; i++) {
        value_clear(&v->items[i]);
        if (v->keys) free(v->keys[i].s);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof *v);
}

void json_free(json_value *v) {
    if (!v) return;
    value_clear(v);
    free(v);
}

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static void fail_unexpected(parser *ps, const char *wanted) {
    if (ps->p >= ps->end) fail(ps, "expected %s, got end of input", wanted);
    else if (*ps->p >= 0x20 && *ps->p < 0x7f) fail(ps, "expected %s, got '%c'", wanted, *ps->p);
    else fail(ps, "expected %s, got byte 0x%02x", wanted, *ps->p);
}

/* ---------------------------------------------------------------- strings */

typedef struct sbuf {
    char *s;
    size_t n, cap;
} sbuf;

static bool sbuf_put(sbuf *b, const void *src, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 32;
        while (nc < b->n + n + 1) nc *= 2;
        char *ns = (char *)realloc(b->s, nc);
        if (!ns) return false;
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->n, src, n);
    b->n += n;
    b->s[b->n] = 0;
    return true;
}

static size_t utf8_encode(uint32_t cp, unsigned char out[4]) {
    if (cp < 0x80) { out[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of a valid UTF-8 sequence at p (strict: no overlongs, surrogates or
 * > U+10FFFF), or 0. */
static size_t utf8_valid(const unsigned char *p, const unsigned char *end) {
    size_t avail = (size_t)(end - p);
    unsigned c = p[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return (avail >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && p[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && p[1] >= 0xA0) return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && p[1] < 0x90) return 0; /* overlong */
        if (c == 0xF4 && p[1] >= 0x90) return 0; /* > U+10FFFF */
        return 4;
    }
    return 0;
}

static int hex4(parser *ps, uint32_t *out) {
    if (ps->end - ps->p < 4) {
        fail(ps, "truncated \\u escape");
        return 0;
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = ps->p[i];
        uint32_t d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else {
            ps->p += i;
            fail(ps, "invalid hex digit in \\u escape");
            return 0;
        }
        v = v * 16 + d;
    }
    ps->p += 4;
    *out = v;
    return 1;
}

/* Parses a string starting at '"' into a malloc'd buffer. */
static bool parse_string(parser *ps, char **out, size_t *out_len) {
    sbuf b = {NULL, 0, 0};
    ps->p++; /* opening quote */
    if (!sbuf_put(&b, "", 0)) goto oom;
    for (;;) {
        /* copy a run of plain bytes */
        const unsigned char *run = ps->p;
        while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' && *ps->p >= 0x20) {
            if (*ps->p < 0x80) { ps->p++; continue; }
            size_t k = utf8_valid(ps->p, ps->end);
            if (!k) {
                if (!sbuf_put(&b, run, (size_t)(ps->p - run))) goto oom;
                fail(ps, "invalid UTF-8 in string");
                goto bad;
            }
            ps->p += k;
        }
        if (!sbuf_put(&b, run, (size_t)(ps->p - run))) goto oom;
        if (ps->p >= ps->end) {
            fail(ps, "unterminated string");
            goto bad;
        }
        unsigned c = *ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20) {
            fail(ps, "unescaped control character 0x%02x in string", c);
            goto bad;
        }
        /* backslash */
        ps->p++;
        if (ps->p >= ps->end) {
            fail(ps, "unterminated escape");
            goto bad;
        }
        char ch;
        switch (*ps->p) {
        case '"': ch = '"'; break;
        case '\\': ch = '\\'; break;
        case '/': ch = '/'; break;
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        case 'n': ch = '\n'; break;
        case 'r': ch = '\r'; break;
        case 't': ch = '\t'; break;
        case 'u': {
            ps->p++;
            uint32_t cp;
            if (!hex4(ps, &cp)) goto bad;
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                ps->p -= 6;
                fail(ps, "lone low surrogate \\u%04X", (unsigned)cp);
                goto bad;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') {
                    fail(ps, "high surrogate \\u%04X not followed by a low surrogate", (unsigned)cp);
                    goto bad;
                }
                ps->p += 2;
                if (!hex4(ps, &lo)) goto bad;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    ps->p -= 6;
                    fail(ps, "high surrogate followed by \\u%04X, not a low surrogate", (unsigned)lo);
                    goto bad;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            unsigned char u8[4];
            if (!sbuf_put(&b, u8, utf8_encode(cp, u8))) goto oom;
            continue;
        }
        default:
            fail_unexpected(ps, "an escape character (\"\\/bfnrtu)");
            goto bad;
        }
        ps->p++;
        if (!sbuf_put(&b, &ch, 1)) goto oom;
    }
    *out = b.s;
    *out_len = b.n;
    return true;
oom:
    fail(ps, "out of memory");
bad:
    free(b.s);
    return false;
}

/* ---------------------------------------------------------------- numbers */

static bool parse_number(parser *ps, double *out) {
    const unsigned char *s = ps->p;
    if (ps->p < ps->end && *ps->p == '-') ps->p++;
    if (ps->p >= ps->end || !(*ps->p >= '0' && *ps->p <= '9')) {
        fail_unexpected(ps, "a digit");
        return false;
    }
    if (*ps->p == '0') {
        ps->p++;
        if (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            fail(ps, "leading zero in number");
            return false;
        }
    } else {
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
    }
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (ps->p >= ps->end || !(*ps->p >= '0' && *ps->p <= '9')) {
            fail_unexpected(ps, "a digit after '.'");
            return false;
        }
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
        if (ps->p >= ps->end || !(*ps->p >= '0' && *ps->p <= '9')) {
            fail_unexpected(ps, "a digit in the exponent");
            return false;
        }
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
    }
    size_t n = (size_t)(ps->p - s);
    char small[64];
    char *buf = n < sizeof small ? small : (char *)malloc(n + 1);
    if (!buf) {
        fail(ps, "out of memory");
        return false;
    }
    memcpy(buf, s, n);
    buf[n] = 0;
    double v = strtod(buf, NULL); /* the grammar above is a subset of strtod's */
    if (buf != small) free(buf);
    if (isinf(v)) {
        ps->p = s;
        fail(ps, "number out of range");
        return false;
    }
    *out = v;
    return true;
}

/* ---------------------------------------------------------------- values */

static bool parse_value(parser *ps, json_value *v, int depth);

static bool push_item(parser *ps, json_value *v, json_value *item, char *key, size_t key_len) {
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 4;
        json_value *ni = (json_value *)realloc(v->items, nc * sizeof *ni);
        if (!ni) goto oom;
        v->items = ni;
        if (v->kind == JSON_OBJECT) {
            json_key *nk = (json_key *)realloc(v->keys, nc * sizeof *nk);
            if (!nk) goto oom;
            v->keys = nk;
        }
        v->cap = nc;
    }
    v->items[v->n] = *item;
    if (v->kind == JSON_OBJECT) {
        v->keys[v->n].s = key;
        v->keys[v->n].len = key_len;
    }
    v->n++;
    return true;
oom:
    fail(ps, "out of memory");
    value_clear(item);
    free(key);
    return false;
}

static bool parse_literal(parser *ps, const char *word, size_t n) {
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, word, n) == 0) {
        ps->p += n;
        return true;
    }
    fail(ps, "invalid literal (expected '%s')", word);
    return false;
}

static bool parse_array(parser *ps, json_value *v, int depth) {
    v->kind = JSON_ARRAY;
    ps->p++; /* [ */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return true;
    }
    for (;;) {
        json_value item;
        skip_ws(ps);
        if (!parse_value(ps, &item, depth + 1)) return false;
        if (!push_item(ps, v, &item, NULL, 0)) return false;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return true;
        }
        fail_unexpected(ps, "',' or ']' in array");
        return false;
    }
}

static bool parse_object(parser *ps, json_value *v, int depth) {
    v->kind = JSON_OBJECT;
    ps->p++; /* { */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return true;
    }
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"') {
            fail_unexpected(ps, "a string key in object");
            return false;
        }
        char *key;
        size_t key_len;
        if (!parse_string(ps, &key, &key_len)) return false;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') {
            free(key);
            fail_unexpected(ps, "':' after object key");
            return false;
        }
        ps->p++;
        skip_ws(ps);
        json_value item;
        if (!parse_value(ps, &item, depth + 1)) {
            free(key);
            return false;
        }
        if (!push_item(ps, v, &item, key, key_len)) return false;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return true;
        }
        fail_unexpected(ps, "',' or '}' in object");
        return false;
    }
}

/* Parses one value at ps->p (whitespace already skipped) into *v. On failure *v holds
 * nothing that needs freeing. */
static bool parse_value(parser *ps, json_value *v, int depth) {
    memset(v, 0, sizeof *v);
    if (depth >= JSON_MAX_DEPTH) { /* depth counts from 0 at the root */
        fail(ps, "nesting deeper than %d levels", JSON_MAX_DEPTH);
        return false;
    }
    if (ps->p >= ps->end) {
        fail_unexpected(ps, "a value");
        return false;
    }
    bool ok;
    switch (*ps->p) {
    case 'n': v->kind = JSON_NULL; return parse_literal(ps, "null", 4);
    case 't': v->kind = JSON_BOOL; v->b = true; return parse_literal(ps, "true", 4);
    case 'f': v->kind = JSON_BOOL; v->b = false; return parse_literal(ps, "false", 5);
    case '"':
        v->kind = JSON_STRING;
        return parse_string(ps, &v->s, &v->slen);
    case '[': ok = parse_array(ps, v, depth); break;
    case '{': ok = parse_object(ps, v, depth); break;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) {
            v->kind = JSON_NUMBER;
            return parse_number(ps, &v->num);
        }
        fail_unexpected(ps, "a value");
        return false;
    }
    if (!ok) value_clear(v);
    return ok;
}

json_value *json_parse(const char *text, size_t len, char *err, size_t err_len) {
    if (err && err_len) err[0] = 0;
    if (!text) {
        if (err && err_len) snprintf(err, err_len, "json: NULL input");
        return NULL;
    }
    parser ps;
    ps.start = ps.p = (const unsigned char *)text;
    ps.end = ps.start + len;
    ps.err = err;
    ps.err_len = err_len;
    ps.failed = false;
    json_value *root = (json_value *)calloc(1, sizeof *root);
    if (!root) {
        if (err && err_len) snprintf(err, err_len, "json: out of memory");
        return NULL;
    }
    skip_ws(&ps);
    if (!parse_value(&ps, root, 0)) {
        free(root);
        return NULL;
    }
    skip_ws(&ps);
    if (ps.p != ps.end) {
        fail_unexpected(&ps, "end of input after the value");
        json_free(root);
        return NULL;
    }
    return root;
}

/* ---------------------------------------------------------------- accessors */

int json_kind(const json_value *v) { return v ? v->kind : JSON_INVALID; }

const char *json_kind_name(int kind) {
    switch (kind) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "bool";
    case JSON_NUMBER: return "number";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "array";
    case JSON_OBJECT: return "object";
    }
    return "invalid";
}

bool json_is_null(const json_value *v) { return v && v->kind == JSON_NULL; }
bool json_bool(const json_value *v) { return v && v->kind == JSON_BOOL && v->b; }
double json_num(const json_value *v) { return (v && v->kind == JSON_NUMBER) ? v->num : NAN; }

const char *json_str(const json_value *v, size_t *len) {
    if (!v || v->kind != JSON_STRING) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = v->slen;
    return v->s;
}

size_t json_len(const json_value *v) {
    return (v && (v->kind == JSON_ARRAY || v->kind == JSON_OBJECT)) ? v->n : 0;
}

const json_value *json_at(const json_value *v, size_t i) {
    if (!v || (v->kind != JSON_ARRAY && v->kind != JSON_OBJECT) || i >= v->n) return NULL;
    return &v->items[i];
}

const char *json_key_at(const json_value *v, size_t i, size_t *len) {
    if (!v || v->kind != JSON_OBJECT || i >= v->n) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = v->keys[i].len;
    return v->keys[i].s;
}

const json_value *json_get_n(const json_value *obj, const char *key, size_t key_len) {
    if (!obj || obj->kind != JSON_OBJECT || !key) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (obj->keys[i].len == key_len && memcmp(obj->keys[i].s, key, key_len) == 0)
            return &obj->items[i];
    return NULL;
}

const json_value *json_get(const json_value *obj, const char *key) {
    return key ? json_get_n(obj, key, strlen(key)) : NULL;
}

const json_value *json_path(const json_value *root, const char *path) {
    const json_value *v = root;
    const char *p = path;
    if (!p) return NULL;
    while (v && *p) {
        if (*p == '[') {
            p++;
            if (*p < '0' || *p > '9') return NULL;
            size_t idx = 0;
            while (*p >= '0' && *p <= '9') {
                if (idx > (SIZE_MAX - 9) / 10) return NULL;
                idx = idx * 10 + (size_t)(*p++ - '0');
            }
            if (*p++ != ']') return NULL;
            if (json_kind(v) != JSON_ARRAY) return NULL;
            v = json_at(v, idx);
        } else {
            if (*p == '.') p++;
            size_t n = strcspn(p, ".[");
            if (n == 0) return NULL;
            v = json_get_n(v, p, n);
            p += n;
        }
    }
    return v;
}

long json_int32_array(const json_value *v, int32_t *out, size_t cap) {
    if (!v || v->kind != JSON_ARRAY || v->n > (size_t)LONG_MAX) return -1;
    for (size_t i = 0; i < v->n; i++) {
        const json_value *e = &v->items[i];
        if (e->kind != JSON_NUMBER) return -1;
        double d = e->num;
        if (!(d >= -2147483648.0 && d <= 2147483647.0) || d != floor(d)) return -1;
        if (out && i < cap) out[i] = (int32_t)d;
    }
    return (long)v->n;
}
