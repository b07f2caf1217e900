/* mem-breakdown.c — where a model's heap goes besides weights and KV cache, natively
 * (glibc mallinfo2: bytes malloc'd, measured around each loading step). The wasm build
 * allocates the same things (plus the prepared-activation scratch of its SIMD kernels).
 *
 *   cc -O2 -Isrc tools/bench/mem-breakdown.c build/libwisp.a -lm -lpthread -o build/mem-breakdown
 *   build/mem-breakdown MODEL.gguf [n_ctx (1024)]
 *
 * It follows what js/worker.js does: the header is parsed from a memory buffer
 * (wisp_model_begin), the weights are read, then the model is finished and a context made. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "context.h"
#include "gguf.h"
#include "model.h"
#include "tokenizer.h"
#include "wisp.h"

static double in_use(void) {
    struct mallinfo2 mi = mallinfo2();
    return (double)(mi.uordblks + mi.hblkhd) / 1048576.0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [n_ctx]\n", argv[0]);
        return 2;
    }
    const unsigned n_ctx = argc > 2 ? (unsigned)atoi(argv[2]) : 1024;
    FILE *f = fopen(argv[1], "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0) return 1;
    const long size = ftell(f);
    size_t hl = (size_t)64 << 20;
    if ((long)hl > size) hl = (size_t)size;
    unsigned char *hdr = malloc(hl);
    if (!hdr || fseek(f, 0, SEEK_SET) != 0 || fread(hdr, 1, hl, f) != hl) return 1;
    wisp_reader r = wisp_reader_memory(hdr, hl);
    char err[512];
    uint64_t need = 0;

    /* the parser and the vocabulary on their own */
    double b = in_use();
    wisp_gguf *g = NULL;
    if (wisp_gguf_open(&r, (uint64_t)size, &g, &need, err, sizeof err) != WISP_OK) return fprintf(stderr, "%s\n", err), 1;
    const double gguf_all = in_use() - b;
    b = in_use();
    wisp_vocab *v = NULL;
    if (wisp_vocab_load(g, &v, err, sizeof err) != WISP_OK) return fprintf(stderr, "%s\n", err), 1;
    const double vocab = in_use() - b;
    b = in_use();
    wisp_gguf_drop_arrays(g);
    const double gguf_kept = gguf_all + (in_use() - b);
    wisp_vocab_free(v);
    wisp_gguf_free(g);

    /* the model as the browser loads it */
    b = in_use();
    wisp_model *m = NULL;
    wisp_model_params mp = wisp_model_default_params();
    if (wisp_model_begin(&r, (uint64_t)size, &mp, &m, &need, err, sizeof err) != WISP_OK) return fprintf(stderr, "%s\n", err), 1;
    const double begin = in_use() - b;
    uint64_t off = 0, wsz = 0;
    void *w = wisp_model_weights_buffer(m, &off, &wsz);
    if (fseek(f, (long)off, SEEK_SET) != 0 || fread(w, 1, (size_t)wsz, f) != wsz) return 1;
    fclose(f);
    free(hdr);
    if (wisp_model_finish(m, err, sizeof err) != WISP_OK) return fprintf(stderr, "%s\n", err), 1;
    b = in_use();
    wisp_context_params cp = wisp_context_default_params();
    cp.n_ctx = n_ctx;
    wisp_context *c = NULL;
    if (wisp_context_init(m, &cp, &c, err, sizeof err) != WISP_OK) return fprintf(stderr, "%s\n", err), 1;
    const double ctx = in_use() - b;
    const double weights = (double)wsz / 1048576.0, kv = (double)wisp_model_kv_bytes(m, n_ctx) / 1048576.0;

    printf("%s, n_ctx %u, n_batch %u (MiB malloc'd)\n", argv[1], n_ctx, c->n_batch);
    printf("  GGUF parser: %.2f while parsing, %.2f kept with the model\n", gguf_all, gguf_kept);
    printf("  vocabulary tables: %.2f\n", vocab);
    printf("  wisp_model_begin: %.2f = weights %.2f + %.2f other\n", begin, weights, begin - weights);
    printf("  wisp_context_init: %.2f = KV %.2f + scratch %.2f\n", ctx, kv, ctx - kv);
    printf("  in use: %.2f = weights + KV + %.2f\n", begin + ctx, begin + ctx - weights - kv);
    wisp_context_free(c);
    wisp_model_free(m);
    return 0;
}
