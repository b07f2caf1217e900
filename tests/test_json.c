/* test_json.c — the strict test-support JSON parser (tests/support/json.c): values,
 * escapes, surrogates, numbers, nesting, malformed input, and a real reference file. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "test_util.h"

static json_value *P(const char *s) {
    char err[256] = "";
    json_value *v = json_parse(s, strlen(s), err, sizeof err);
    CHECKF(v != NULL, "parse of %s failed: %s", s, err);
    return v;
}

/* Expects a parse failure with a non-empty message. */
static void BAD_N(const char *s, size_t n, const char *what) {
    char err[256] = "";
    json_value *v = json_parse(s, n, err, sizeof err);
    CHECKF(v == NULL, "%s: accepted", what);
    CHECKF(err[0] != 0, "%s: no error message", what);
    json_free(v);
}
#define BAD(s) BAD_N(s, strlen(s), s)

static int str_is(const json_value *v, const char *bytes, size_t n) {
    size_t len;
    const char *s = json_str(v, &len);
    return s && len == n && memcmp(s, bytes, n) == 0 && s[n] == 0;
}

static void test_scalars(void) {
    json_value *v = P(" null ");
    CHECK(json_kind(v) == JSON_NULL && json_is_null(v));
    json_free(v);
    v = P("true");
    CHECK(json_kind(v) == JSON_BOOL && json_bool(v));
    json_free(v);
    v = P("\t\r\nfalse\n");
    CHECK(json_kind(v) == JSON_BOOL && !json_bool(v));
    json_free(v);
    v = P("\"hi\"");
    CHECK(str_is(v, "hi", 2));
    json_free(v);
    CHECK(json_kind(NULL) == JSON_INVALID);
    CHECK(isnan(json_num(NULL)));
    CHECK(json_str(NULL, NULL) == NULL);
    CHECK(json_len(NULL) == 0 && json_at(NULL, 0) == NULL && json_get(NULL, "a") == NULL);
    CHECK(strcmp(json_kind_name(JSON_OBJECT), "object") == 0);
    json_free(NULL);
}

static void test_numbers(void) {
    static const struct { const char *s; double v; } cases[] = {
        {"0", 0.0},          {"-0", -0.0},          {"7", 7.0},
        {"-42", -42.0},      {"123456789", 123456789.0},
        {"3.25", 3.25},      {"-0.5", -0.5},        {"1e3", 1000.0},
        {"1E+2", 100.0},     {"2.5e-3", 0.0025},    {"-1.5E-2", -0.015},
        {"-0.0317809", -0.0317809}, {"2147483647", 2147483647.0},
        {"1e-400", 0.0}, /* underflow to 0 is fine */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_value *v = P(cases[i].s);
        CHECKF(json_kind(v) == JSON_NUMBER && json_num(v) == cases[i].v, "%s -> %.17g", cases[i].s,
               json_num(v));
        json_free(v);
    }
    json_value *v = P("-0");
    CHECK(signbit(json_num(v)));
    json_free(v);
    /* a number longer than the parser's small buffer */
    char big[200];
    memset(big, '1', 150);
    strcpy(big + 150, ".5");
    v = P(big);
    CHECK(json_num(v) > 1e149 && json_num(v) < 1.2e150);
    json_free(v);

    BAD("01");
    BAD("-");
    BAD("+1");
    BAD("1.");
    BAD(".5");
    BAD("1e");
    BAD("1e+");
    BAD("0x10");
    BAD("1e400");
    BAD("-1e400");
    BAD("NaN");
    BAD("Infinity");
    BAD("1 2");
}

static void test_strings(void) {
    json_value *v = P("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"");
    CHECK(str_is(v, "a\"b\\c/d\b\f\n\r\t", 12));
    json_free(v);
    /* \u escapes: ASCII, 2-byte, 3-byte, NUL inside a string */
    v = P("\"\\u0041\\u00e9\\u20AC\\u0000x\"");
    CHECK(str_is(v, "A\xC3\xA9\xE2\x82\xAC\0x", 8));
    json_free(v);
    /* surrogate pair: U+1F600 */
    v = P("\"\\uD83D\\uDE00\"");
    CHECK(str_is(v, "\xF0\x9F\x98\x80", 4));
    json_free(v);
    /* U+10FFFF */
    v = P("\"\\uDBFF\\uDFFF\"");
    CHECK(str_is(v, "\xF4\x8F\xBF\xBF", 4));
    json_free(v);
    /* raw UTF-8 passes through */
    v = P("\"\xE2\x96\x81Once \xF0\x9F\x98\x80\"");
    CHECK(str_is(v, "\xE2\x96\x81Once \xF0\x9F\x98\x80", 12));
    json_free(v);
    v = P("\"\"");
    CHECK(str_is(v, "", 0));
    json_free(v);

    BAD("\"abc");
    BAD("\"abc\\");
    BAD("\"\\x\"");
    BAD("\"\\u12\"");
    BAD("\"\\u12G4\"");
    BAD("\"\\uD83D\"");          /* lone high surrogate */
    BAD("\"\\uD83Dx\"");
    BAD("\"\\uD83D\\u0041\"");   /* high + non-low */
    BAD("\"\\uDE00\"");          /* lone low surrogate */
    BAD("\"tab\there\"");        /* raw control character */
    BAD("\"new\nline\"");
    BAD("'single'");
    BAD("\"\xC0\xAF\"");         /* overlong */
    BAD("\"\xED\xA0\x80\"");     /* encoded surrogate */
    BAD("\"\xF4\x90\x80\x80\""); /* > U+10FFFF */
    BAD("\"\xE2\x82\"");         /* truncated sequence */
    BAD("\"\x80\"");             /* stray continuation */
    BAD_N("\"a\0b\"", 5, "raw NUL in string");
}

static void test_containers(void) {
    json_value *v = P("{\"a\": [1, 2, {\"b\": null}], \"c\": {}, \"d\": [], \"e\": \"x\", \"a\": 5}");
    CHECK(json_kind(v) == JSON_OBJECT);
    CHECK(json_len(v) == 5);
    size_t kl;
    CHECK(strcmp(json_key_at(v, 0, &kl), "a") == 0 && kl == 1);
    CHECK(strcmp(json_key_at(v, 3, NULL), "e") == 0);
    CHECK(json_key_at(v, 5, NULL) == NULL);
    const json_value *a = json_get(v, "a");
    CHECK(json_kind(a) == JSON_ARRAY && json_len(a) == 3); /* first of duplicate keys */
    CHECK(json_num(json_at(a, 1)) == 2.0);
    CHECK(json_at(a, 3) == NULL);
    CHECK(json_is_null(json_get(json_at(a, 2), "b")));
    CHECK(json_kind(json_get(v, "c")) == JSON_OBJECT && json_len(json_get(v, "c")) == 0);
    CHECK(json_kind(json_get(v, "d")) == JSON_ARRAY && json_len(json_get(v, "d")) == 0);
    CHECK(json_get(v, "zz") == NULL);
    CHECK(json_get(a, "a") == NULL); /* not an object */
    CHECK(json_is_null(json_path(v, "a[2].b")));
    CHECK(json_num(json_path(v, "a[0]")) == 1.0);
    CHECK(json_path(v, "a[3]") == NULL);
    CHECK(json_path(v, "a[x]") == NULL);
    CHECK(json_path(v, "e[0]") == NULL);
    CHECK(str_is(json_path(v, "e"), "x", 1));
    json_free(v);

    /* keys with escapes and NUL */
    v = P("{\"k\\u0000ey\": 1, \"\\u00e9\": 2}");
    CHECK(json_num(json_get_n(v, "k\0ey", 4)) == 1.0);
    CHECK(json_get(v, "k") == NULL);
    CHECK(json_num(json_get(v, "\xC3\xA9")) == 2.0);
    json_free(v);

    /* int32 arrays */
    int32_t buf[8];
    v = P("[1, -2, 2147483647, -2147483648, 0]");
    CHECK(json_int32_array(v, buf, 8) == 5);
    CHECK(buf[0] == 1 && buf[1] == -2 && buf[2] == INT32_MAX && buf[3] == INT32_MIN && buf[4] == 0);
    CHECK(json_int32_array(v, buf, 2) == 5); /* reports the full length */
    json_free(v);
    v = P("[1, 2.5]");
    CHECK(json_int32_array(v, buf, 8) == -1);
    json_free(v);
    v = P("[2147483648]");
    CHECK(json_int32_array(v, buf, 8) == -1);
    json_free(v);
    v = P("[1, \"2\"]");
    CHECK(json_int32_array(v, buf, 8) == -1);
    json_free(v);
    v = P("{}");
    CHECK(json_int32_array(v, buf, 8) == -1);
    json_free(v);

    /* deep but allowed nesting, then too deep */
    enum { DEEP = 1000, TOO = 1001 };
    char *s = (char *)malloc(2 * TOO + 1);
    if (s) {
        for (int i = 0; i < DEEP; i++) s[i] = '[';
        for (int i = 0; i < DEEP; i++) s[DEEP + i] = ']';
        s[2 * DEEP] = 0;
        v = P(s);
        const json_value *w = v;
        int depth = 0;
        while (json_kind(w) == JSON_ARRAY && json_len(w) == 1) { w = json_at(w, 0); depth++; }
        CHECK(depth == DEEP - 1 && json_len(w) == 0);
        json_free(v);
        for (int i = 0; i < TOO; i++) s[i] = '[';
        for (int i = 0; i < TOO; i++) s[TOO + i] = ']';
        s[2 * TOO] = 0;
        BAD_N(s, 2 * TOO, "too deep");
        /* unbalanced deep input must not crash */
        memset(s, '[', 2 * TOO);
        BAD_N(s, 2 * TOO, "deep unterminated");
        free(s);
    }

    BAD("");
    BAD("   ");
    BAD("[");
    BAD("[1,");
    BAD("[1,]");
    BAD("[,1]");
    BAD("[1 2]");
    BAD("{");
    BAD("{\"a\"}");
    BAD("{\"a\":}");
    BAD("{\"a\":1,}");
    BAD("{a:1}");
    BAD("{1:1}");
    BAD("{\"a\" 1}");
    BAD("]");
    BAD("[1]]");
    BAD("nul");
    BAD("tru");
    BAD("falsey");
    BAD("[true false]");
    BAD("// c\n1");
    BAD("/* c */ 1");
    BAD("[1] x");
    BAD_N("[1]\0", 4, "trailing NUL");

    /* not NUL-terminated: the parser must respect len */
    const char txt[] = "[12345]garbage";
    v = json_parse(txt, 7, NULL, 0);
    CHECK(v && json_num(json_at(v, 0)) == 12345.0);
    json_free(v);
    v = json_parse(txt, 4, NULL, 0); /* "[123" */
    CHECK(v == NULL);

    /* the message says where */
    char err[256];
    v = json_parse("{\n  \"a\": [1, 2,, 3]\n}", 21, err, sizeof err);
    CHECK(v == NULL);
    CHECKF(strstr(err, "line 2") != NULL, "message: %s", err);
}

static void test_reference(void) {
    char path[1024];
    if (!test_fixture(path, sizeof path, "reference/stories260K.json")) return;
    size_t n = 0;
    char *text = test_read_file(path, &n);
    CHECKF(text != NULL, "cannot read %s", path);
    if (!text) return;
    char err[256] = "";
    json_value *root = json_parse(text, n, err, sizeof err);
    CHECKF(root != NULL, "parse %s: %s", path, err);
    if (root) {
        const json_value *p0 = json_at(json_get(root, "prompts"), 0);
        int32_t toks[16];
        long nt = json_int32_array(json_get(p0, "tokens_with_bos"), toks, 16);
        const int32_t want[5] = {1, 403, 407, 261, 378};
        CHECK(nt == 5);
        CHECK(nt == 5 && memcmp(toks, want, sizeof want) == 0);
        double logp = json_num(json_path(root, "prompts[0].steps[0].top[0].logp"));
        CHECKF(fabs(logp - (-0.0317809)) < 1e-9, "logp %.9g", logp);
        CHECK(json_num(json_path(root, "prompts[0].steps[0].top[0].id")) == 432.0);
        CHECK(str_is(json_path(root, "model.file"), "stories260K.gguf", 16));
        CHECK(json_num(json_path(root, "model.n_vocab")) == 512.0);
        CHECK(json_is_null(json_path(root, "model.eot")));
        CHECK(json_bool(json_path(root, "model.add_bos")));
        size_t plen;
        const char *piece = json_str(json_path(root, "prompts[0].pieces[0]"), &plen);
        CHECK(piece && plen == 7 && memcmp(piece, "\xE2\x96\x81Once", 7) == 0);
        /* every prompt has as many steps as generated ids */
        const json_value *prompts = json_get(root, "prompts");
        CHECK(json_len(prompts) >= 1);
        for (size_t i = 0; i < json_len(prompts); i++) {
            const json_value *pi = json_at(prompts, i);
            CHECK(json_len(json_get(pi, "steps")) == json_len(json_get(pi, "generated_ids")));
        }
        json_free(root);
    }
    /* every truncation of a real file fails cleanly */
    size_t body = n;
    while (body > 0 && strchr(" \t\r\n", text[body - 1])) body--;
    for (size_t cut = 0; cut < body; cut += (cut < 4096 ? 1 : 997)) {
        json_value *v = json_parse(text, cut, NULL, 0);
        if (v) {
            CHECKF(0, "truncated at %zu accepted", cut);
            json_free(v);
        }
    }
    free(text);
}

int main(void) {
    test_scalars();
    test_numbers();
    test_strings();
    test_containers();
    test_reference();
    return test_finish("test_json");
}
