/* fuzz_common.h — small helpers shared by the libFuzzer targets in tests/fuzz/:
 * a hard-failure macro (a libFuzzer crash with a message) and fixture lookup. */
#ifndef WISP_FUZZ_COMMON_H
#define WISP_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

/* An invariant broken: report and abort so libFuzzer saves the input as a crash. */
#define FUZZ_CHECK(cond, ...)                                                    \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n  ", __FILE__,      \
                    __LINE__, #cond);                                            \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
            abort();                                                             \
        }                                                                        \
    } while (0)

#ifndef WISP_DEFAULT_FIXTURES
#define WISP_DEFAULT_FIXTURES "../shared"
#endif

/* $WISP_FIXTURES/rel (or the configured default) into buf. */
static inline const char *fuzz_fixture(const char *rel, char *buf, size_t cap) {
    const char *root = getenv("WISP_FIXTURES");
    if (!root || !*root) root = WISP_DEFAULT_FIXTURES;
    snprintf(buf, cap, "%s/%s", root, rel);
    return buf;
}

#endif
