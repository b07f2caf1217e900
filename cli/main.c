/* main.c — the wisp command-line tool: info, tokenize, generate, logits, perplexity, bench.
 * Used for tests, benchmarks and debugging. Any error: one clear line on stderr and
 * a non-zero exit status. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wisp.h"

static const char *g_cmd = "wisp";

static int die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: error: ", g_cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------ JSON output */

static void json_str(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        default:
            if (ch < 0x20 || ch == 0x7f) fprintf(f, "\\u%04x", ch);
            else fputc(ch, f);
        }
    }
    fputc('"', f);
}

/* Writes `n` bytes as a JSON string, replacing invalid UTF-8 by U+FFFD so the output
 * is always valid JSON (a single token's piece may be a partial character). */
static void json_utf8(FILE *f, const char *s, size_t n) {
    char *buf = (char *)malloc(n * 3 + 1);
    if (!buf) return;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + (size_t)len <= n;
        for (int k = 1; ok && k < len; k++) ok = ((unsigned char)s[i + k] >> 6) == 2;
        if (ok && len > 1) {
            uint32_t cp = len == 2 ? (c & 0x1fu) : len == 3 ? (c & 0x0fu) : (c & 0x07u);
            for (int k = 1; k < len; k++) cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3fu);
            static const uint32_t minv[5] = {0, 0, 0x80, 0x800, 0x10000};
            ok = cp >= minv[len] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
        }
        if (ok) {
            memcpy(buf + o, s + i, (size_t)len);
            o += (size_t)len;
            i += (size_t)len;
        } else {
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            i += 1;
        }
    }
    json_str(f, buf, o);
    free(buf);
}

static void json_ids(FILE *f, const wisp_token *ids, size_t n) {
    fputc('[', f);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%d", i ? "," : "", ids[i]);
    fputc(']', f);
}

/* ------------------------------------------------------------ arguments */

typedef struct args {
    const char *model;
    const char *text;       /* TEXT / -p PROMPT */
    const char *ids;        /* --ids 1,2,3 */
    const char *file;       /* perplexity FILE */
    int n_predict;
    int top;
    int n_ctx;
    int n_threads;
    int n_batch;
    bool json, no_bos, special;
    wisp_sampler_params sp;
} args;

static bool parse_int(const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

static bool parse_float(const char *s, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end) return false;
    *out = v;
    return true;
}

/* Parses options shared by the subcommands; positional arguments go to pos[]. */
static int parse_args(int argc, char **argv, args *a, const char **pos, int *n_pos, int max_pos) {
    *n_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED()                                                     \
    do {                                                           \
        if (!v) return die("option %s needs a value", o);          \
        i++;                                                       \
    } while (0)
        if (!strcmp(o, "--json")) a->json = true;
        else if (!strcmp(o, "--no-bos")) a->no_bos = true;
        else if (!strcmp(o, "--special")) a->special = true;
        else if (!strcmp(o, "-p") || !strcmp(o, "--prompt")) { NEED(); a->text = v; }
        else if (!strcmp(o, "--ids")) { NEED(); a->ids = v; }
        else if (!strcmp(o, "-n")) { NEED(); if (!parse_int(v, 0, 1 << 24, &a->n_predict)) return die("bad -n '%s'", v); }
        else if (!strcmp(o, "--top")) { NEED(); if (!parse_int(v, 1, 1 << 20, &a->top)) return die("bad --top '%s'", v); }
        else if (!strcmp(o, "-c")) { NEED(); if (!parse_int(v, 1, 1 << 24, &a->n_ctx)) return die("bad -c '%s'", v); }
        else if (!strcmp(o, "-t")) { NEED(); if (!parse_int(v, 1, 64, &a->n_threads)) return die("bad -t '%s' (1..64)", v); }
        else if (!strcmp(o, "-b")) { NEED(); if (!parse_int(v, 1, 1 << 16, &a->n_batch)) return die("bad -b '%s'", v); }
        else if (!strcmp(o, "--temp")) { NEED(); if (!parse_float(v, &a->sp.temperature)) return die("bad --temp '%s'", v); }
        else if (!strcmp(o, "--top-k")) { NEED(); if (!parse_int(v, -1, 1 << 24, &a->sp.top_k)) return die("bad --top-k '%s'", v); }
        else if (!strcmp(o, "--top-p")) { NEED(); if (!parse_float(v, &a->sp.top_p)) return die("bad --top-p '%s'", v); }
        else if (!strcmp(o, "--min-p")) { NEED(); if (!parse_float(v, &a->sp.min_p)) return die("bad --min-p '%s'", v); }
        else if (!strcmp(o, "--repeat-penalty")) { NEED(); if (!parse_float(v, &a->sp.repeat_penalty)) return die("bad --repeat-penalty '%s'", v); }
        else if (!strcmp(o, "--repeat-last-n")) { NEED(); if (!parse_int(v, 0, 1 << 20, &a->sp.repeat_last_n)) return die("bad --repeat-last-n '%s'", v); }
        else if (!strcmp(o, "--seed")) {
            NEED();
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || end == v || *end) return die("bad --seed '%s'", v);
            a->sp.seed = s;
        }
        else if (o[0] == '-' && o[1] != 0) return die("unknown option '%s'", o);
        else {
            if (*n_pos >= max_pos) return die("unexpected argument '%s'", o);
            pos[(*n_pos)++] = o;
        }
#undef NEED
    }
    return 0;
}

static wisp_model *load_model(const char *path, bool vocab_only) {
    wisp_model_params mp = wisp_model_default_params();
    mp.vocab_only = vocab_only;
    wisp_model *m = NULL;
    char err[600];
    wisp_status s = wisp_model_load_file(path, &mp, &m, err, sizeof err);
    if (s != WISP_OK) {
        die("%s", err);
        return NULL;
    }
    return m;
}

static wisp_context *make_context(wisp_model *m, const args *a, uint32_t n_batch, bool all_logits) {
    wisp_context_params cp = wisp_context_default_params();
    if (a->n_ctx) cp.n_ctx = (uint32_t)a->n_ctx;
    cp.n_threads = (uint32_t)(a->n_threads ? a->n_threads : 1);
    if (n_batch) cp.n_batch = n_batch;
    cp.all_logits = all_logits;
    wisp_context *c = NULL;
    char err[600];
    if (wisp_context_init(m, &cp, &c, err, sizeof err) != WISP_OK) {
        die("%s", err);
        return NULL;
    }
    return c;
}

/* Tokenizes text into a malloc'd array. Returns NULL (after reporting) on error. */
static wisp_token *tokenize(const wisp_model *m, const char *text, size_t len, bool add_bos, bool special,
                            int32_t *n_out) {
    int32_t n = wisp_tokenize(m, text, len, NULL, 0, add_bos, special);
    if (n < 0) {
        die("cannot tokenize the text: %s", n == -WISP_ERR_INVALID_ARG ? "it is not valid UTF-8" : wisp_status_str((wisp_status)-n));
        return NULL;
    }
    wisp_token *ids = (wisp_token *)malloc(sizeof(wisp_token) * (size_t)(n ? n : 1));
    if (!ids) {
        die("out of memory");
        return NULL;
    }
    wisp_tokenize(m, text, len, ids, n, add_bos, special);
    *n_out = n;
    return ids;
}

/* ------------------------------------------------------------ info */

static int cmd_info(int argc, char **argv) {
    args a = {0};
    const char *pos[1];
    int np;
    if (parse_args(argc, argv, &a, pos, &np, 1)) return 1;
    if (np < 1) return die("usage: wisp info MODEL [-c CTX] [--json]");
    wisp_model_params mp = wisp_model_default_params();
    wisp_model *m = NULL;
    char err[600];
    if (wisp_model_load_file(pos[0], &mp, &m, err, sizeof err) != WISP_OK) {
        /* A vocab-only GGUF (tokenizer, no tensors) has no weights to bind, but its
         * facts are still worth printing; any other file's error stands. */
        char err2[600];
        mp.vocab_only = true;
        wisp_model_info vi;
        if (wisp_model_load_file(pos[0], &mp, &m, err2, sizeof err2) != WISP_OK) return die("%s", err);
        wisp_model_get_info(m, &vi);
        if (vi.n_tensors != 0) {
            wisp_model_free(m);
            return die("%s", err);
        }
    }
    wisp_model_info in;
    wisp_model_get_info(m, &in);
    uint32_t ctx = a.n_ctx ? (uint32_t)a.n_ctx : in.n_ctx_train;
    uint64_t kv = in.vocab_only ? 0 : wisp_model_kv_bytes(m, ctx);
    if (a.json) {
        printf("{\"arch\":");
        json_str(stdout, in.arch, strlen(in.arch));
        printf(",\"name\":");
        json_str(stdout, in.name, strlen(in.name));
        printf(",\"tokenizer\":\"%s\",\"pre\":\"%s\",\"n_params\":%llu,\"weight_bytes\":%llu,"
               "\"n_vocab\":%u,\"n_ctx_train\":%u,\"n_embd\":%u,\"n_layer\":%u,\"n_head\":%u,"
               "\"n_head_kv\":%u,\"head_dim\":%u,\"n_ff\":%u,\"n_tensors\":%u,\"bos\":%d,\"eos\":%d,"
               "\"eot\":%d,\"add_bos\":%s,\"vocab_only\":%s,\"kv_ctx\":%u,\"kv_bytes\":%llu,\"types\":{",
               in.tokenizer, in.pre, (unsigned long long)in.n_params, (unsigned long long)in.weight_bytes,
               in.n_vocab, in.n_ctx_train, in.n_embd, in.n_layer, in.n_head, in.n_head_kv, in.head_dim, in.n_ff,
               in.n_tensors, in.bos, in.eos, in.eot, in.add_bos ? "true" : "false", in.vocab_only ? "true" : "false", ctx,
               (unsigned long long)kv);
        bool first = true;
        for (int t = 0; t < 64; t++)
            if (in.type_counts[t]) {
                printf("%s\"%s\":%u", first ? "" : ",", wisp_type_name((uint32_t)t), in.type_counts[t]);
                first = false;
            }
        printf("}}\n");
    } else {
        if (in.vocab_only) printf("vocab-only file: tokenizer metadata, no weights\n");
        printf("architecture   %s\n", in.arch[0] ? in.arch : "-");
        if (in.name[0]) printf("name           %s\n", in.name);
        if (!in.vocab_only) {
            printf("parameters     %llu (%.2f M)\n", (unsigned long long)in.n_params, in.n_params / 1e6);
            printf("tensor types  ");
            for (int t = 0; t < 64; t++)
                if (in.type_counts[t]) printf(" %s x%u", wisp_type_name((uint32_t)t), in.type_counts[t]);
            printf("\n");
            printf("layers         %u, embd %u, heads %u (kv %u), head dim %u, ffn %u\n", in.n_layer, in.n_embd,
                   in.n_head, in.n_head_kv, in.head_dim, in.n_ff);
        }
        printf("vocab          %u tokens, %s tokenizer (pre %s), bos %d, eos %d, eot %d, add_bos %s\n",
               in.n_vocab, in.tokenizer, in.pre, in.bos, in.eos, in.eot, in.add_bos ? "yes" : "no");
        if (!in.vocab_only) {
            printf("context        %u tokens trained\n", in.n_ctx_train);
            printf("weights        %llu bytes (%.2f MiB)\n", (unsigned long long)in.weight_bytes,
                   in.weight_bytes / 1048576.0);
            printf("KV cache       %llu bytes (%.2f MiB) at context %u (F16 K and V)\n", (unsigned long long)kv,
                   kv / 1048576.0, ctx);
        }
    }
    wisp_model_free(m);
    return 0;
}

/* ------------------------------------------------------------ tokenize */

static int cmd_tokenize(int argc, char **argv) {
    args a = {0};
    const char *pos[2];
    int np;
    if (parse_args(argc, argv, &a, pos, &np, 2)) return 1;
    if (np < 2) return die("usage: wisp tokenize MODEL TEXT [--no-bos] [--special] [--json]");
    wisp_model *m = load_model(pos[0], true);
    if (!m) return 1;
    int32_t n;
    wisp_token *ids = tokenize(m, pos[1], strlen(pos[1]), !a.no_bos, a.special, &n);
    if (!ids) {
        wisp_model_free(m);
        return 1;
    }
    char piece[512];
    if (a.json) {
        printf("{\"ids\":");
        json_ids(stdout, ids, (size_t)n);
        printf(",\"pieces\":[");
        for (int32_t i = 0; i < n; i++) {
            const char *txt = wisp_token_text(m, ids[i]);
            if (i) putchar(',');
            json_utf8(stdout, txt ? txt : "", txt ? strlen(txt) : 0);
        }
        printf("]}\n");
    } else {
        for (int32_t i = 0; i < n; i++) {
            int32_t k = wisp_token_to_piece(m, ids[i], piece, sizeof piece - 1, true);
            if (k < 0) k = 0;
            if (k > (int32_t)sizeof piece - 1) k = sizeof piece - 1;
            printf("%6d -> '", ids[i]);
            fwrite(piece, 1, (size_t)k, stdout);
            printf("'\n");
        }
    }
    free(ids);
    wisp_model_free(m);
    return 0;
}

/* ------------------------------------------------------------ generate */

static int cmd_generate(int argc, char **argv) {
    args a = {0};
    a.sp = wisp_sampler_default_params();
    a.n_predict = 128;
    const char *pos[1];
    int np;
    if (parse_args(argc, argv, &a, pos, &np, 1)) return 1;
    if (np < 1 || !a.text)
        return die("usage: wisp generate MODEL -p PROMPT -n N [--temp T --top-k K --top-p P --min-p M "
                   "--repeat-penalty R --seed S] [-c CTX] [-t THREADS] [--json]");
    wisp_model *m = load_model(pos[0], false);
    if (!m) return 1;
    int rc = 1;
    wisp_context *c = NULL;
    wisp_sampler *smp = NULL;
    wisp_token *prompt = NULL, *out = NULL;
    char *text = NULL;
    size_t text_len = 0, text_cap = 0;
    int32_t n_prompt = 0;
    char err[600];

    wisp_model_info in;
    wisp_model_get_info(m, &in);
    if (wisp_sampler_init(&a.sp, in.n_vocab, &smp, err, sizeof err) != WISP_OK) {
        die("%s", err);
        goto done;
    }
    prompt = tokenize(m, a.text, strlen(a.text), !a.no_bos, a.special, &n_prompt);
    if (!prompt) goto done;
    if (n_prompt == 0) {
        die("the prompt is empty (no tokens); nothing to condition on");
        goto done;
    }
    c = make_context(m, &a, (uint32_t)(a.n_batch ? a.n_batch : 64), false);
    if (!c) goto done;
    if ((uint64_t)n_prompt + (uint64_t)a.n_predict > wisp_context_n_ctx(c)) {
        die("prompt (%d tokens) + %d generated tokens exceed the context of %u tokens (use -c)", n_prompt,
            a.n_predict, wisp_context_n_ctx(c));
        goto done;
    }
    out = (wisp_token *)malloc(sizeof(wisp_token) * (size_t)(a.n_predict + 1));
    if (!out) {
        die("out of memory");
        goto done;
    }
    for (int32_t i = 0; i < n_prompt; i++) wisp_sampler_accept(smp, prompt[i]);

    double t0 = now_s();
    wisp_status s = wisp_decode(c, prompt, (uint32_t)n_prompt);
    double t1 = now_s();
    if (s != WISP_OK) {
        die("%s", wisp_context_last_error(c));
        goto done;
    }
    wisp_detok dt;
    wisp_detok_init(&dt, m, false);
    char piece[256];
    int n_gen = 0;
    double t_decode = 0.0;
    for (; n_gen < a.n_predict;) {
        wisp_token t = wisp_sampler_sample(smp, wisp_get_logits(c, -1));
        wisp_sampler_accept(smp, t);
        out[n_gen++] = t;
        if (wisp_token_is_eog(m, t)) break;
        int32_t k = wisp_detok_push(&dt, t, piece, sizeof piece);
        if (k > 0) {
            if (a.json) {
                if (text_len + (size_t)k + 1 > text_cap) {
                    text_cap = (text_len + (size_t)k + 1) * 2;
                    char *nt = (char *)realloc(text, text_cap);
                    if (!nt) { die("out of memory"); goto done; }
                    text = nt;
                }
                memcpy(text + text_len, piece, (size_t)k);
                text_len += (size_t)k;
            } else {
                fwrite(piece, 1, (size_t)k, stdout);
                fflush(stdout);
            }
        }
        if (n_gen == a.n_predict) break;
        double d0 = now_s();
        s = wisp_decode(c, &t, 1);
        t_decode += now_s() - d0;
        if (s != WISP_OK) {
            die("%s", wisp_context_last_error(c));
            goto done;
        }
    }
    {
        int32_t k = wisp_detok_flush(&dt, piece, sizeof piece);
        if (k > 0 && !a.json) fwrite(piece, 1, (size_t)k, stdout);
        if (k > 0 && a.json) {
            char *nt = (char *)realloc(text, text_len + (size_t)k + 1);
            if (!nt) { die("out of memory"); goto done; }
            text = nt;
            memcpy(text + text_len, piece, (size_t)k);
            text_len += (size_t)k;
        }
    }
    double prefill_tps = n_prompt / (t1 - t0 > 0 ? t1 - t0 : 1e-9);
    int n_decoded = n_gen > 0 ? n_gen - 1 : 0; /* decode steps actually timed */
    double decode_tps = n_decoded > 0 ? n_decoded / (t_decode > 0 ? t_decode : 1e-9) : 0.0;
    if (a.json) {
        printf("{\"prompt_ids\":");
        json_ids(stdout, prompt, (size_t)n_prompt);
        printf(",\"ids\":");
        json_ids(stdout, out, (size_t)n_gen);
        printf(",\"text\":");
        json_utf8(stdout, text ? text : "", text_len);
        printf(",\"prefill_tok_s\":%.3f,\"decode_tok_s\":%.3f}\n", prefill_tps, decode_tps);
    } else {
        printf("\n");
        fprintf(stderr, "\nprefill: %d tokens, %.1f tok/s; decode: %d tokens, %.1f tok/s\n", n_prompt, prefill_tps,
                n_decoded, decode_tps);
    }
    rc = 0;
done:
    free(text);
    free(out);
    free(prompt);
    wisp_sampler_free(smp);
    wisp_context_free(c);
    wisp_model_free(m);
    return rc;
}

/* ------------------------------------------------------------ logits */

static wisp_token *parse_ids(const char *s, const wisp_model *m, int32_t *n_out) {
    int32_t cap = 16, n = 0;
    wisp_token *ids = (wisp_token *)malloc(sizeof(wisp_token) * (size_t)cap);
    const char *p = s;
    wisp_model_info in;
    wisp_model_get_info(m, &in);
    while (ids && *p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 0 || v >= (long)in.n_vocab) {
            die("bad --ids list near '%s' (ids must be 0..%u)", p, in.n_vocab - 1);
            free(ids);
            return NULL;
        }
        if (n == cap) {
            cap *= 2;
            wisp_token *ni = (wisp_token *)realloc(ids, sizeof(wisp_token) * (size_t)cap);
            if (!ni) { free(ids); ids = NULL; break; }
            ids = ni;
        }
        ids[n++] = (wisp_token)v;
        p = end;
        if (*p == ',') p++;
        else if (*p) {
            die("bad --ids list near '%s'", p);
            free(ids);
            return NULL;
        }
    }
    if (!ids) {
        die("out of memory");
        return NULL;
    }
    *n_out = n;
    return ids;
}

static int cmd_logits(int argc, char **argv) {
    args a = {0};
    a.top = 10;
    const char *pos[1];
    int np;
    if (parse_args(argc, argv, &a, pos, &np, 1)) return 1;
    if (np < 1 || (!a.text && !a.ids))
        return die("usage: wisp logits MODEL (-p PROMPT | --ids 1,2,3) --top K --json");
    wisp_model *m = load_model(pos[0], false);
    if (!m) return 1;
    int rc = 1;
    int32_t n = 0;
    wisp_context *c = NULL;
    wisp_token *ids = a.ids ? parse_ids(a.ids, m, &n) : tokenize(m, a.text, strlen(a.text), !a.no_bos, a.special, &n);
    int32_t *order = NULL;
    if (!ids) goto done;
    if (n == 0) {
        die("no tokens to evaluate");
        goto done;
    }
    wisp_model_info in;
    wisp_model_get_info(m, &in);
    if (!a.n_ctx) a.n_ctx = (int)(in.n_ctx_train < 4096 ? in.n_ctx_train : 4096);
    if (n > a.n_ctx) {
        die("%d tokens exceed the context of %d (use -c)", n, a.n_ctx);
        goto done;
    }
    c = make_context(m, &a, (uint32_t)n, true);
    if (!c) goto done;
    if (wisp_decode(c, ids, (uint32_t)n) != WISP_OK) {
        die("%s", wisp_context_last_error(c));
        goto done;
    }
    int K = a.top < (int)in.n_vocab ? a.top : (int)in.n_vocab;
    order = (int32_t *)malloc(sizeof(int32_t) * (size_t)K);
    if (!order) { die("out of memory"); goto done; }
    printf("{\"ids\":");
    json_ids(stdout, ids, (size_t)n);
    printf(",\"positions\":[");
    for (int32_t i = 0; i < n; i++) {
        const float *lg = wisp_get_logits(c, i);
        float mx = -INFINITY;
        for (uint32_t v = 0; v < in.n_vocab; v++) if (lg[v] > mx) mx = lg[v];
        double sum = 0.0;
        for (uint32_t v = 0; v < in.n_vocab; v++) sum += exp((double)lg[v] - mx);
        double lse = mx + log(sum);
        /* top-K by insertion into a small sorted list (ties: lower id first) */
        int k = 0;
        for (uint32_t v = 0; v < in.n_vocab; v++) {
            if (k == K && lg[v] <= lg[order[k - 1]]) continue;
            int j = k < K ? k++ : K - 1;
            while (j > 0 && lg[order[j - 1]] < lg[v]) { order[j] = order[j - 1]; j--; }
            order[j] = (int32_t)v;
        }
        printf("%s{\"pos\":%d,\"top\":[", i ? "," : "", i);
        for (int j = 0; j < k; j++)
            printf("%s{\"id\":%d,\"logit\":%.7g,\"logprob\":%.7g}", j ? "," : "", order[j], lg[order[j]],
                   (double)lg[order[j]] - lse);
        printf("]}");
    }
    printf("]}\n");
    rc = 0;
done:
    free(order);
    free(ids);
    wisp_context_free(c);
    wisp_model_free(m);
    return rc;
}

/* ------------------------------------------------------------ perplexity */

static int cmd_perplexity(int argc, char **argv) {
    args a = {0};
    const char *pos[2];
    int np;
    if (parse_args(argc, argv, &a, pos, &np, 2)) return 1;
    if (np < 2) return die("usage: wisp perplexity MODEL FILE [-c CTX]");
    FILE *f = fopen(pos[1], "rb");
    if (!f) return die("%s: cannot open file", pos[1]);
    size_t cap = 1 << 16, len = 0;
    char *text = (char *)malloc(cap);
    for (;;) {
        if (!text) { fclose(f); return die("out of memory"); }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (len < cap) break;
        cap *= 2;
        char *nt = (char *)realloc(text, cap);
        if (!nt) { free(text); text = NULL; continue; }
        text = nt;
    }
    fclose(f);
    wisp_model *m = load_model(pos[0], false);
    if (!m) { free(text); return 1; }
    int rc = 1;
    int32_t n = 0;
    wisp_context *c = NULL;
    wisp_token *ids = tokenize(m, text, len, false, false, &n);
    free(text);
    if (!ids) goto done;
    wisp_model_info in;
    wisp_model_get_info(m, &in);
    int ctx = a.n_ctx ? a.n_ctx : (int)(in.n_ctx_train < 512 ? in.n_ctx_train : 512);
    a.n_ctx = ctx;
    c = make_context(m, &a, (uint32_t)ctx, true);
    if (!c) goto done;
    /* Non-overlapping windows of ctx tokens, each starting with BOS when the model
     * uses one; score the second half of every window (as llama.cpp's perplexity). */
    bool bos = in.add_bos && in.bos >= 0;
    int body = ctx - (bos ? 1 : 0);
    wisp_token *win = (wisp_token *)malloc(sizeof(wisp_token) * (size_t)ctx);
    if (!win) { die("out of memory"); goto done; }
    double nll = 0.0;
    long count = 0;
    int n_windows = 0;
    for (int32_t start = 0; start + body <= n; start += body) {
        int w = 0;
        if (bos) win[w++] = in.bos;
        memcpy(win + w, ids + start, sizeof(wisp_token) * (size_t)body);
        w += body;
        wisp_context_truncate(c, 0);
        if (wisp_decode(c, win, (uint32_t)w) != WISP_OK) {
            free(win);
            die("%s", wisp_context_last_error(c));
            goto done;
        }
        for (int i = w / 2; i < w - 1; i++) {
            const float *lg = wisp_get_logits(c, i);
            float mx = -INFINITY;
            for (uint32_t v = 0; v < in.n_vocab; v++) if (lg[v] > mx) mx = lg[v];
            double sum = 0.0;
            for (uint32_t v = 0; v < in.n_vocab; v++) sum += exp((double)lg[v] - mx);
            nll += (mx + log(sum)) - lg[win[i + 1]];
            count++;
        }
        n_windows++;
        fprintf(stderr, "[%d] ppl so far %.4f\n", n_windows, exp(nll / (double)count));
    }
    free(win);
    if (count == 0) {
        die("the text has %d tokens; it needs at least %d for one window of -c %d", n, body, ctx);
        goto done;
    }
    printf("perplexity: %.4f over %ld tokens (%d windows of %d)\n", exp(nll / (double)count), count, n_windows,
           ctx);
    rc = 0;
done:
    free(ids);
    wisp_context_free(c);
    wisp_model_free(m);
    return rc;
}

/* ------------------------------------------------------------ bench */

static int argmax(const float *v, uint32_t n) {
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return (int)best;
}

/* wisp bench MODEL [-p N_PROMPT] [-n N_GEN] [-t THREADS] [-r RUNS] [-b BATCH] [--json]
 * Prefill: one wisp_decode of N_PROMPT tokens (a fixed pseudo-random id sequence, so
 * the prompt is the same for every model with the same vocabulary). Decode: N_GEN
 * greedy tokens one at a time after it. Each run starts from an empty cache; one short
 * untimed warm-up run comes first. tok/s are means over the runs. */
static int cmd_bench(int argc, char **argv) {
    int n_prompt = 128, n_gen = 128, n_threads = 1, runs = 3, n_batch = 0;
    bool json = false;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *dst = !strcmp(o, "-p") ? &n_prompt : !strcmp(o, "-n") ? &n_gen : !strcmp(o, "-t") ? &n_threads
                 : !strcmp(o, "-r") ? &runs : !strcmp(o, "-b") ? &n_batch : NULL;
        if (dst) {
            if (!v || !parse_int(v, !strcmp(o, "-t") || !strcmp(o, "-r") || !strcmp(o, "-p") ? 1 : 0, 1 << 20, dst))
                return die("bad value for %s", o);
            i++;
        } else if (!strcmp(o, "--json")) json = true;
        else if (o[0] == '-' && o[1]) return die("unknown option '%s'", o);
        else if (!path) path = o;
        else return die("unexpected argument '%s'", o);
    }
    if (!path) return die("usage: wisp bench MODEL [-p N_PROMPT] [-n N_GEN] [-t THREADS] [-r RUNS] [-b BATCH] [--json]");
    if (n_threads > 64) return die("bad -t (1..64)");
    wisp_model *m = load_model(path, false);
    if (!m) return 1;
    wisp_model_info in;
    wisp_model_get_info(m, &in);
    args a = {0};
    a.n_threads = n_threads;
    a.n_ctx = n_prompt + n_gen + 1;
    wisp_context *c = make_context(m, &a, (uint32_t)(n_batch ? n_batch : (n_prompt < 512 ? n_prompt : 512)), false);
    wisp_token *prompt = (wisp_token *)malloc(sizeof(wisp_token) * (size_t)n_prompt);
    double *pf = (double *)calloc((size_t)runs, sizeof(double)), *dc = (double *)calloc((size_t)runs, sizeof(double));
    int rc = 1;
    if (!c || !prompt || !pf || !dc) {
        if (c) die("out of memory");
        goto done;
    }
    uint32_t rng = 12345u;
    for (int i = 0; i < n_prompt; i++) {
        rng = rng * 1664525u + 1013904223u;
        prompt[i] = (wisp_token)((rng >> 8) % in.n_vocab);
    }
    for (int r = -1; r < runs; r++) {
        const int np = r < 0 ? (n_prompt < 8 ? n_prompt : 8) : n_prompt, ng = r < 0 ? (n_gen < 4 ? n_gen : 4) : n_gen;
        wisp_context_truncate(c, 0);
        double t0 = now_s();
        if (wisp_decode(c, prompt, (uint32_t)np) != WISP_OK) {
            die("%s", wisp_context_last_error(c));
            goto done;
        }
        double t1 = now_s();
        wisp_token t = (wisp_token)argmax(wisp_get_logits(c, -1), in.n_vocab);
        for (int k = 0; k < ng; k++) {
            if (wisp_decode(c, &t, 1) != WISP_OK) {
                die("%s", wisp_context_last_error(c));
                goto done;
            }
            t = (wisp_token)argmax(wisp_get_logits(c, -1), in.n_vocab);
        }
        double t2 = now_s();
        if (r >= 0) {
            pf[r] = np / (t1 - t0);
            dc[r] = ng > 0 ? ng / (t2 - t1) : 0.0;
        }
    }
    double mp = 0, md = 0;
    for (int r = 0; r < runs; r++) {
        mp += pf[r] / runs;
        md += dc[r] / runs;
    }
    if (json) {
        printf("{\"model\":");
        json_str(stdout, path, strlen(path));
        printf(",\"n_prompt\":%d,\"n_gen\":%d,\"threads\":%d,\"prefill_tok_s\":%.3f,\"decode_tok_s\":%.3f,\"runs\":[",
               n_prompt, n_gen, n_threads, mp, md);
        for (int r = 0; r < runs; r++)
            printf("%s{\"prefill_tok_s\":%.3f,\"decode_tok_s\":%.3f}", r ? "," : "", pf[r], dc[r]);
        printf("]}\n");
    } else {
        printf("%s: threads %d, pp%d %.2f tok/s, tg%d %.2f tok/s (mean of %d runs)\n", path, n_threads, n_prompt, mp,
               n_gen, md, runs);
    }
    rc = 0;
done:
    free(prompt);
    free(pf);
    free(dc);
    wisp_context_free(c);
    wisp_model_free(m);
    return rc;
}

/* ------------------------------------------------------------ main */

static int usage(void) {
    fprintf(stderr,
            "usage: wisp COMMAND ...\n"
            "  info MODEL [-c CTX] [--json]\n"
            "  tokenize MODEL TEXT [--no-bos] [--special] [--json]\n"
            "  generate MODEL -p PROMPT -n N [--temp T --top-k K --top-p P --min-p M --repeat-penalty R\n"
            "           --seed S] [-c CTX] [-t THREADS] [--json]\n"
            "  logits MODEL (-p PROMPT | --ids 1,2,3) --top K --json\n"
            "  perplexity MODEL FILE [-c CTX]\n"
            "  bench MODEL [-p N_PROMPT] [-n N_GEN] [-t THREADS] [-r RUNS] [-b BATCH] [--json]\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage();
    const char *cmd = argv[1];
    static char name[64];
    snprintf(name, sizeof name, "wisp %s", cmd);
    g_cmd = name;
    if (!strcmp(cmd, "info")) return cmd_info(argc - 2, argv + 2);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 2, argv + 2);
    if (!strcmp(cmd, "generate")) return cmd_generate(argc - 2, argv + 2);
    if (!strcmp(cmd, "logits")) return cmd_logits(argc - 2, argv + 2);
    if (!strcmp(cmd, "perplexity")) return cmd_perplexity(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 2, argv + 2);
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage();
        return 0;
    }
    g_cmd = "wisp";
    die("unknown command '%s'", cmd);
    return usage();
}
