/* test_util.h — tiny shared test harness: CHECK macros that count failures, and
 * fixture lookup. Fixtures live in $WISP_FIXTURES (default ../shared relative to
 * the repository root, baked in at build time). When a fixture is missing the test
 * says so loudly and skips — unless CI=true, where a missing fixture is a failure. */
#ifndef WISP_TEST_UTIL_H
#define WISP_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef WISP_DEFAULT_FIXTURES
#define WISP_DEFAULT_FIXTURES "../shared"
#endif

static int g_test_failures = 0;
static int g_test_checks = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        g_test_checks++;                                                              \
        if (!(cond)) {                                                                \
            g_test_failures++;                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                             \
    } while (0)

#define CHECKF(cond, ...)                                                     \
    do {                                                                      \
        g_test_checks++;                                                      \
        if (!(cond)) {                                                        \
            g_test_failures++;                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                     \
            fprintf(stderr, "\n");                                            \
        }                                                                     \
    } while (0)

static inline const char *test_fixtures_dir(void) {
    const char *e = getenv("WISP_FIXTURES");
    return (e && *e) ? e : WISP_DEFAULT_FIXTURES;
}

static inline int test_in_ci(void) {
    const char *e = getenv("CI");
    return e && strcmp(e, "true") == 0;
}

/* Builds "<fixtures>/<rel>" into buf; returns 1 if the file exists. If it does not,
 * prints a loud SKIP line (or, under CI=true, counts a failure) and returns 0. */
static inline int test_fixture(char *buf, size_t cap, const char *rel) {
    struct stat st;
    snprintf(buf, cap, "%s/%s", test_fixtures_dir(), rel);
    if (stat(buf, &st) == 0) return 1;
    if (test_in_ci()) {
        g_test_failures++;
        fprintf(stderr, "FAIL: fixture %s is missing (CI=true requires every fixture)\n", buf);
    } else {
        fprintf(stderr, "\n*** SKIP: fixture %s is missing; set WISP_FIXTURES ***\n\n", buf);
    }
    return 0;
}

/* Reads a whole file into a malloc'd buffer (NUL-terminated); NULL on failure. */
static inline char *test_read_file(const char *path, size_t *size_out) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = (char *)malloc((size_t)n + 1);
    if (!buf) { fclose(f); return NULL; }
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = 0;
    if (size_out) *size_out = got;
    return buf;
}

/* Ends a test program: prints the plain summary line and returns the exit code. */
static inline int test_finish(const char *name) {
    printf("%s: %d checks, %d passed, %d failed\n", name, g_test_checks,
           g_test_checks - g_test_failures, g_test_failures);
    return g_test_failures ? 1 : 0;
}

#endif
