/* kernel-bench.c — time the dot kernels per weight block, natively, as wasm under Node, or
 * as wasm in headless Chromium (V8 versions differ: Chromium 156 and Node 20 can rank two
 * kernels differently, and the browser is the product):
 *   cc -O2 -DWISP_SIMD128 -msse4.1 -Isrc tools/bench/kernel-bench.c build/libwisp.a -lm
 *   emcc -O3 -msimd128 -Isrc tools/bench/kernel-bench.c src/*.c -o kb.js && node --no-experimental-fetch kb.js
 *   emcc -O3 -msimd128 -Isrc -sENVIRONMENT=web -sEXIT_RUNTIME=1 tools/bench/kernel-bench.c src/*.c -o build/kb.js
 *     && node tools/bench/chromium-run.mjs build kb.js
 * (relaxed-SIMD kernels: add -DWISP_RELAXED_SIMD=1 --js-library wasm/relaxed-stub.js, then
 * wasm/relaxed.sh on the .wasm; Node also needs --experimental-wasm-relaxed-simd.)
 * For each type: a 1536 x 576 weight matrix (random, quantized), one or four activation
 * rows; prints ns per weight block and per token for the plain path (vec_dot, vec_dot4)
 * and the prepared-activation path (vec_dot_p, vec_dot4_p, and the four-row decode kernel
 * vec_dot_p_rows4) when the type has one. Best of several repetitions, so a loaded
 * machine still gives usable figures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quant.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static float frand(void) { return (float)rand() / RAND_MAX * 2.0f - 1.0f; }

int main(int argc, char **argv) {
    const int64_t n = argc > 1 ? atoi(argv[1]) : 1536, R = argc > 2 ? atoi(argv[2]) : 576, reps = 7;
    static const uint32_t types[] = {WISP_TYPE_Q4_0, WISP_TYPE_Q8_0, WISP_TYPE_Q4_1, WISP_TYPE_Q5_0,
                                     WISP_TYPE_Q4_K, WISP_TYPE_Q6_K, WISP_TYPE_F16};
    float *xf = malloc(sizeof(float) * n * 4);
    for (int64_t i = 0; i < n * 4; i++) xf[i] = frand();
    float *wf = malloc(sizeof(float) * n);
    float *out = malloc(sizeof(float) * 4 * (R + 144));
    volatile float sink = 0;
    printf("n=%lld rows=%lld; ns per weight block per token (32 or 256 weights), best of %lld\n", (long long)n,
           (long long)R, (long long)reps);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const wisp_quant_traits *t = wisp_quant_get(types[ti]);
        if (n % t->blck_size) continue;
        const size_t rb = wisp_row_size(t->type, n);
        unsigned char *w = malloc(rb * R);
        for (int64_t r = 0; r < R; r++) {
            for (int64_t i = 0; i < n; i++) wf[i] = frand();
            t->from_float_ref(wf, w + r * rb, n);
        }
        const wisp_quant_traits *at = wisp_quant_get(t->vec_dot_type);
        const size_t ab = wisp_row_size(t->vec_dot_type, n);
        unsigned char *a = malloc(ab * 4), *ap = malloc(4 * (n * 4 + 1024));
        for (int c = 0; c < 4; c++) at->from_float(xf + c * n, a + c * ab, n);
        const size_t pb = t->act_prep_size ? t->act_prep_size(n) : 0;
        if (pb)
            for (int c = 0; c < 4; c++) t->act_prep(a + c * ab, ap + c * pb, n);
        const double blocks = (double)R * n / t->blck_size;
        double best[5] = {1e9, 1e9, 1e9, 1e9, 1e9};
        for (int k = 0; k < reps; k++) {
            double t0 = now();
            for (int64_t r = 0; r < R; r++) out[r] = t->vec_dot(n, w + r * rb, a);
            double t1 = now();
            if (t1 - t0 < best[0]) best[0] = t1 - t0;
            if (t->vec_dot4) {
                t0 = now();
                for (int64_t r = 0; r < R; r++) t->vec_dot4(n, w + r * rb, a, ab, out + 4 * (r % 144));
                t1 = now();
                if ((t1 - t0) / 4 < best[1]) best[1] = (t1 - t0) / 4;
            }
            if (pb) {
                t0 = now();
                for (int64_t r = 0; r < R; r++) out[r] = t->vec_dot_p(n, w + r * rb, ap);
                t1 = now();
                if (t1 - t0 < best[2]) best[2] = t1 - t0;
                t0 = now();
                for (int64_t r = 0; r < R; r++) t->vec_dot4_p(n, w + r * rb, ap, pb, out + 4 * (r % 144));
                t1 = now();
                if ((t1 - t0) / 4 < best[3]) best[3] = (t1 - t0) / 4;
            }
            if (t->vec_dot_p_rows4) { /* decode: four rows a call, from four places (forward.c) */
                const int64_t per = R / 4;
                t0 = now();
                for (int64_t r = 0; r < per; r++) t->vec_dot_p_rows4(n, w + r * rb, (size_t)per * rb, ap, out + 4 * (r % 144));
                t1 = now();
                if ((t1 - t0) * R / (4 * per) < best[4]) best[4] = (t1 - t0) * R / (4 * per);
            }
            sink += out[0];
        }
        printf("%-5s dot %6.2f  dot4 %6.2f", t->name, best[0] / blocks * 1e9, t->vec_dot4 ? best[1] / blocks * 1e9 : 0);
        if (pb) printf("  | prepared: dot %6.2f  dot4 %6.2f", best[2] / blocks * 1e9, best[3] / blocks * 1e9);
        if (t->vec_dot_p_rows4) printf("  rows4 %6.2f", best[4] / blocks * 1e9);
        printf("\n");
        free(w);
        free(a);
        free(ap);
    }
    free(xf);
    free(wf);
    return sink == 12345.0f;
}
