/* seedgen.c — writes the fuzz seed corpora (into the build dir, not the repo) from the
 * fixtures: GGUF headers of real models, a qwen2 variant of stories260K's header, small
 * hand-built GGUFs, and tokenizer texts.   usage: fuzz_seedgen FIXTURES OUTDIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf.h"
#include "gguf_writer.h"
#include "wisp.h"

static const char *g_fix, *g_out;
static int g_count;

static void write_file(const char *sub, const char *name, const void *data, size_t len) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", g_out, sub);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", g_out, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        fprintf(stderr, "seedgen: cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
    g_count++;
}

static unsigned char *read_all(const char *rel, size_t *len) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", g_fix, rel);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = (unsigned char *)malloc((size_t)n + 1);
    if (!d || fread(d, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "seedgen: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    d[n] = 0;
    *len = (size_t)n;
    return d;
}

static wisp_gguf *parse(const unsigned char *d, size_t n) {
    wisp_reader r = wisp_reader_memory(d, n);
    wisp_gguf *g = NULL;
    char err[256];
    if (wisp_gguf_open(&r, 0, &g, NULL, err, sizeof err) != WISP_OK) {
        fprintf(stderr, "seedgen: parse: %s\n", err);
        exit(1);
    }
    return g;
}

/* The header (everything before the tensor data) of a fixture model. */
static void header_seed(const char *rel, const char *name, size_t max_len, int to_gguf) {
    size_t n;
    unsigned char *d = read_all(rel, &n);
    if (!d) { fprintf(stderr, "seedgen: skip missing %s\n", rel); return; }
    wisp_gguf *g = parse(d, n);
    size_t h = (size_t)wisp_gguf_data_offset(g);
    if (h <= max_len) {
        write_file("fuzz_model", name, d, h);
        if (to_gguf) write_file("fuzz_gguf", name, d, h);
    }
    wisp_gguf_free(g);
    free(d);
}

/* Re-emits a parsed header with the architecture renamed (llama.* keys -> arch.*) and,
 * for qwen2, q/k/v bias tensors added: a valid qwen2 header with a tiny vocabulary. */
static void rewrite_as(const char *rel, const char *arch, const char *name) {
    size_t n;
    unsigned char *d = read_all(rel, &n);
    if (!d) return;
    wisp_gguf *g = parse(d, n);
    gguf_writer w;
    gw_init(&w);
    int64_t nkv = wisp_gguf_n_kv(g), nt = wisp_gguf_n_tensors(g);
    uint32_t n_layer = 0, n_embd = 0, n_head = 1, n_head_kv = 0;
    wisp_gguf_get_u32(g, "llama.block_count", &n_layer);
    wisp_gguf_get_u32(g, "llama.embedding_length", &n_embd);
    wisp_gguf_get_u32(g, "llama.attention.head_count", &n_head);
    if (!wisp_gguf_get_u32(g, "llama.attention.head_count_kv", &n_head_kv)) n_head_kv = n_head;
    const uint64_t kd = (uint64_t)n_head_kv * (n_embd / (n_head ? n_head : 1));
    gw_header(&w, 3, (uint64_t)nt + 3ull * n_layer, (uint64_t)nkv);
    static const size_t width[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    for (int64_t i = 0; i < nkv; i++) {
        const wisp_gguf_str *k = wisp_gguf_key(g, i);
        char key[256];
        if (strncmp(k->str, "llama.", 6) == 0) snprintf(key, sizeof key, "%s.%s", arch, k->str + 6);
        else snprintf(key, sizeof key, "%s", k->str);
        uint32_t ty = wisp_gguf_kv_type(g, i);
        wisp_gguf_str s;
        if (strcmp(key, "general.architecture") == 0) {
            gw_kv_str(&w, key, arch);
        } else if (ty == WISP_GGUF_STRING && wisp_gguf_get_str(g, k->str, &s)) {
            gw_str(&w, key);
            gw_u32(&w, WISP_GGUF_STRING);
            gw_strn(&w, s.str, (size_t)s.len);
        } else if (ty == WISP_GGUF_ARRAY) {
            uint32_t et;
            uint64_t cnt;
            const void *ad;
            if (!wisp_gguf_get_arr(g, k->str, &et, &cnt, &ad)) { fprintf(stderr, "seedgen: nested array\n"); exit(1); }
            gw_kv_arr(&w, key, et, cnt);
            if (et == WISP_GGUF_STRING) {
                const wisp_gguf_str *ss = (const wisp_gguf_str *)ad;
                for (uint64_t j = 0; j < cnt; j++) gw_strn(&w, ss[j].str, (size_t)ss[j].len);
            } else {
                gw_bytes(&w, ad, (size_t)(cnt * width[et]));
            }
        } else {
            /* scalars: re-read through the typed getters */
            uint32_t u; float f; bool b; int64_t v;
            if (ty == WISP_GGUF_FLOAT32 && wisp_gguf_get_f32(g, k->str, &f)) gw_kv_f32(&w, key, f);
            else if (ty == WISP_GGUF_BOOL && wisp_gguf_get_bool(g, k->str, &b)) gw_kv_bool(&w, key, b);
            else if (ty == WISP_GGUF_UINT32 && wisp_gguf_get_u32(g, k->str, &u)) gw_kv_u32(&w, key, u);
            else if (ty == WISP_GGUF_INT32 && wisp_gguf_get_i64(g, k->str, &v)) gw_kv_i32(&w, key, (int32_t)v);
            else if (wisp_gguf_get_i64(g, k->str, &v)) gw_kv_i64(&w, key, v);
            else { fprintf(stderr, "seedgen: kv %s of type %u\n", key, ty); exit(1); }
        }
    }
    uint64_t off = 0;
    for (int64_t i = 0; i < nt; i++) {
        const wisp_gguf_tensor *t = wisp_gguf_tensor_at(g, i);
        gw_tensor_info(&w, t->name.str, t->n_dims, t->ne, t->type, off);
        off += (t->size + 31) & ~31ull;
    }
    for (uint32_t l = 0; l < n_layer; l++) {
        static const char *bn[3] = {"attn_q.bias", "attn_k.bias", "attn_v.bias"};
        for (int b = 0; b < 3; b++) {
            char tn[64];
            snprintf(tn, sizeof tn, "blk.%u.%s", l, bn[b]);
            uint64_t ne[1] = {b == 0 ? n_embd : kd}; /* q: n_head*head_dim; k, v: n_head_kv*head_dim */
            gw_tensor_info(&w, tn, 1, ne, 0, off);
            off += (ne[0] * 4 + 31) & ~31ull;
        }
    }
    gw_pad(&w, 32);
    write_file("fuzz_model", name, w.data, w.len);
    write_file("fuzz_gguf", name, w.data, w.len);
    gw_free(&w);
    wisp_gguf_free(g);
    free(d);
}

/* Small hand-made GGUFs covering every metadata type, arrays and tensors. */
static void synthetic_gguf(void) {
    gguf_writer w;
    for (int variant = 0; variant < 4; variant++) {
        gw_init(&w);
        gw_header(&w, variant == 3 ? 2 : 3, 2, 14);
        gw_kv_str(&w, "general.architecture", "llama");
        gw_kv_u32(&w, "a.u32", 7);
        gw_kv_i32(&w, "a.i32", -7);
        gw_kv_u64(&w, "a.u64", 1ull << 40);
        gw_kv_i64(&w, "a.i64", -5);
        gw_kv_f32(&w, "a.f32", 0.5f);
        gw_kv_f64(&w, "a.f64", 0.25);
        gw_kv_bool(&w, "a.bool", 1);
        gw_str(&w, "a.u8"); gw_u32(&w, WISP_GGUF_UINT8); gw_u8(&w, 200);
        gw_str(&w, "a.i16"); gw_u32(&w, WISP_GGUF_INT16); gw_u16(&w, 0xfffe);
        gw_kv_arr(&w, "a.arr_str", WISP_GGUF_STRING, 3);
        gw_str(&w, "x"); gw_str(&w, ""); gw_strn(&w, "n\0l", 3);
        gw_kv_arr(&w, "a.arr_f32", WISP_GGUF_FLOAT32, 2);
        gw_f32(&w, 1.0f); gw_f32(&w, -2.0f);
        gw_kv_arr(&w, "a.arr_arr", WISP_GGUF_ARRAY, 1);
        gw_u32(&w, WISP_GGUF_UINT16); gw_u64(&w, 2); gw_u16(&w, 1); gw_u16(&w, 2);
        gw_kv_u32(&w, "general.alignment", variant == 1 ? 64 : 32);
        uint64_t ne1[1] = {32}, ne2[2] = {32, 2};
        gw_tensor_info(&w, "v.weight", 1, ne1, 0 /* F32 */, 0);
        gw_tensor_info(&w, "m.weight", 2, ne2, variant == 2 ? 2 /* Q4_0 */ : 1 /* F16 */, 128);
        gw_pad(&w, variant == 1 ? 64 : 32);
        gw_zeros(&w, 128 + 128);
        char name[32];
        snprintf(name, sizeof name, "synthetic-%d.gguf", variant);
        write_file("fuzz_gguf", name, w.data, w.len);
        gw_free(&w);
    }
}

/* Tokenizer texts: split NAME.inp on "\n__ggml_vocab_test__\n"; the first byte is flags. */
static void text_seeds(const char *rel, const char *target, int limit) {
    size_t n;
    unsigned char *d = read_all(rel, &n);
    if (!d) return;
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t sl = strlen(sep);
    char *p = (char *)d, *end = (char *)d + n;
    int k = 0;
    unsigned char buf[8192];
    while (p < end && k < limit) {
        char *q = strstr(p, sep);
        size_t len = q ? (size_t)(q - p) : (size_t)(end - p);
        if (len + 1 <= sizeof buf) {
            buf[0] = (unsigned char)(k % 8); /* cycle parse_special/add_bos/special flags */
            memcpy(buf + 1, p, len);
            char name[64];
            snprintf(name, sizeof name, "%s-%03d", strrchr(rel, '/') + 1, k);
            write_file(target, name, buf, len + 1);
        }
        k++;
        if (!q) break;
        p = q + sl;
    }
    free(d);
}

static void special_seeds(const char *target) {
#define T(x) {x, sizeof(x) - 1}
    static const struct { const char *s; size_t n; } texts[] = {
        T("\x01<s>Hello</s> <unk>"), T("\x01<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"),
        T("\x01<|endoftext|><|endoftext|>x"), T("\x00\xff\xfe invalid \xc3\x28 utf8 \xe2\x82"),
        T("\x02 \t\n\r  leading and trailing  "), T("\0a\0b\0c nul bytes"),
    };
#undef T
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "special-%zu", i);
        write_file(target, name, texts[i].s, texts[i].n);
    }
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s FIXTURES OUTDIR\n", argv[0]); return 2; }
    g_fix = argv[1];
    g_out = argv[2];
    mkdir(g_out, 0755);
    static const char *models[] = {
        "models/stories260K.gguf", "models/stories260K-f16.gguf", "models/stories260K-q4_0.gguf",
        "models/stories260K-q8_0.gguf", "models/synthetic/tiny-tok512-q4_k.gguf",
        "models/synthetic/tiny-tok512-q4_k_m.gguf", "models/synthetic/tiny-tok512-q5_0.gguf",
        "models/synthetic/tiny-tok512-q6_k.gguf", "models/synthetic/tiny-tok512-q8_0.gguf",
        "models/synthetic/tiny-tok512-f16.gguf", "models/synthetic/tiny-tok512-q4_0.gguf",
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        const char *base = strrchr(models[i], '/') + 1;
        header_seed(models[i], base, 64 * 1024, i < 4);
    }
    rewrite_as("models/stories260K.gguf", "qwen2", "stories260K-as-qwen2.gguf");
    synthetic_gguf();
    text_seeds("tokenizer-tests/ggml-vocab-llama-spm.gguf.inp", "fuzz_tok_spm", 1000);
    text_seeds("tokenizer-tests/extra/extra.inp", "fuzz_tok_spm", 1000);
    text_seeds("tokenizer-tests/ggml-vocab-qwen2.gguf.inp", "fuzz_tok_bpe", 1000);
    text_seeds("tokenizer-tests/extra/extra.inp", "fuzz_tok_bpe", 1000);
    special_seeds("fuzz_tok_spm");
    special_seeds("fuzz_tok_bpe");
    printf("seedgen: wrote %d seeds under %s\n", g_count, g_out);
    return 0;
}
