/* util.h — small internal helpers shared by every module: error formatting and
 * overflow-checked size arithmetic. */
#ifndef WISP_UTIL_H
#define WISP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wisp.h"

#if defined(__GNUC__) || defined(__clang__)
#define WISP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define WISP_PRINTF(a, b)
#endif

/* Writes a formatted message into err (if non-NULL) and returns s. */
wisp_status wisp_set_err(char *err, size_t err_len, wisp_status s, const char *fmt, ...)
    WISP_PRINTF(4, 5);

/* Overflow-checked arithmetic: return false on overflow. */
static inline bool wisp_add_u64(uint64_t a, uint64_t b, uint64_t *r) {
    if (a > UINT64_MAX - b) return false;
    *r = a + b;
    return true;
}
static inline bool wisp_mul_u64(uint64_t a, uint64_t b, uint64_t *r) {
    if (a != 0 && b > UINT64_MAX / a) return false;
    *r = a * b;
    return true;
}

#endif
