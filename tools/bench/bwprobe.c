/* bwprobe.c — memory-read bandwidth probe for the browser benchmark: sums a 256 MiB
 * wasm-memory buffer with SIMD128 loads (the access pattern of a matmul streaming its
 * weights), so tools/bench can state the bandwidth bound of decode in the same browser.
 * Built standalone by `make bench` (emcc --no-entry); no libc heap involved. */
#include <stdint.h>
#include <wasm_simd128.h>

#define PROBE_BYTES (256u << 20)
static uint8_t g_buf[PROBE_BYTES] __attribute__((aligned(16)));

__attribute__((export_name("probe_bytes"))) uint32_t probe_bytes(void) { return PROBE_BYTES; }

/* Writes every page once so the reads below measure memory, not page faults. */
__attribute__((export_name("probe_fill"))) void probe_fill(void) {
    for (uint32_t i = 0; i < PROBE_BYTES; i += 64) g_buf[i] = (uint8_t)i;
}

/* Reads the whole buffer; four independent accumulators keep the loads in flight. */
__attribute__((export_name("probe_sum"))) uint32_t probe_sum(void) {
    v128_t a = wasm_i32x4_splat(0), b = a, c = a, d = a;
    for (uint32_t i = 0; i < PROBE_BYTES; i += 64) {
        a = wasm_i32x4_add(a, wasm_v128_load(g_buf + i));
        b = wasm_i32x4_add(b, wasm_v128_load(g_buf + i + 16));
        c = wasm_i32x4_add(c, wasm_v128_load(g_buf + i + 32));
        d = wasm_i32x4_add(d, wasm_v128_load(g_buf + i + 48));
    }
    a = wasm_i32x4_add(wasm_i32x4_add(a, b), wasm_i32x4_add(c, d));
    return (uint32_t)(wasm_i32x4_extract_lane(a, 0) + wasm_i32x4_extract_lane(a, 3));
}
