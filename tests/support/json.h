/* json.h — a small, strict, self-contained JSON (RFC 8259) parser for test programs:
 * reads llama.cpp reference files and chat-template fixtures into a read-only tree. */
#ifndef WISP_TEST_JSON_H
#define WISP_TEST_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct json_value json_value;

enum {
    JSON_INVALID = -1, /* json_kind(NULL) */
    JSON_NULL = 0,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
};

/* Parses exactly one JSON value (surrounded by optional whitespace) from text[0..len).
 * The text need not be NUL-terminated. Strict: no comments, trailing commas, NaN,
 * leading zeros, control characters in strings, lone surrogates, invalid UTF-8 or
 * numbers outside the double range; nesting is limited to 1000 levels. On failure
 * returns NULL with a message (byte offset, line:column) in err. */
json_value *json_parse(const char *text, size_t len, char *err, size_t err_len);
void json_free(json_value *v); /* NULL is a no-op */

/* Accessors are NULL-safe: a NULL or wrong-kind value gives NULL / 0 / NAN / false. */
int json_kind(const json_value *v);
const char *json_kind_name(int kind); /* "null", "bool", ..., "invalid" */
bool json_is_null(const json_value *v);
bool json_bool(const json_value *v);
double json_num(const json_value *v); /* NAN if not a number */
/* UTF-8 bytes (\uXXXX and surrogate pairs decoded; may contain NUL, so see *len).
 * The buffer is also NUL-terminated. NULL if not a string. */
const char *json_str(const json_value *v, size_t *len);

/* Arrays: element count; objects: member count (in document order). */
size_t json_len(const json_value *v);
/* Arrays: element i; objects: the value of member i. NULL when out of range. */
const json_value *json_at(const json_value *v, size_t i);
/* Objects: the key of member i (NUL-terminated; length in *len). */
const char *json_key_at(const json_value *v, size_t i, size_t *len);
/* Objects: the value of `key` (the first one if a key repeats), or NULL. */
const json_value *json_get(const json_value *obj, const char *key);
const json_value *json_get_n(const json_value *obj, const char *key, size_t key_len);
/* Follows a path like "prompts[0].steps[3].top[0].logp" (keys without '.' or '['). */
const json_value *json_path(const json_value *root, const char *path);

/* Reads an array of integers into out (at most cap written). Returns the array length
 * (may exceed cap), or -1 if v is not an array or an element is not an integer in the
 * int32 range. */
long json_int32_array(const json_value *v, int32_t *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
