/* simd128.h — one place that decides whether WebAssembly SIMD128 code is compiled, and
 * the vector helpers shared by the SIMD kernels (exact fp16 <-> fp32, reductions).
 *
 * In the browser build (-msimd128) the intrinsics come from <wasm_simd128.h>. Native
 * builds run the very same source through SIMDe (CMake option WISP_SIMD128), so the
 * kernels can be unit-tested, profiled and sanitized on the host. */
#ifndef WISP_SIMD128_H
#define WISP_SIMD128_H

#include <stdint.h>

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#define WISP_HAVE_SIMD128 1
#elif defined(WISP_SIMD128)
#define SIMDE_WASM_SIMD128_ENABLE_NATIVE_ALIASES
#include <simde/wasm/simd128.h>
#define WISP_HAVE_SIMD128 1
#else
#define WISP_HAVE_SIMD128 0
#endif

#if WISP_HAVE_SIMD128

#define WISP_VINLINE static inline __attribute__((always_inline))

/* Four halves (low 16 bits of each i32 lane) -> four floats, bit-exact with
 * wisp_fp16_to_fp32_inline. The half's exponent and mantissa shifted into place are a
 * float 2^112 times too small (a subnormal half becomes a subnormal float); one exact
 * multiply by 2^112 rebiases normals and normalises subnormals alike. Inf/NaN (exponent
 * 31) are selected separately, payload kept. */
WISP_VINLINE v128_t wisp_v_h2f_i32(v128_t h) {
    const v128_t nonsign = wasm_v128_and(h, wasm_i32x4_splat(0x7fff));
    const v128_t sign = wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_splat(0x8000)), 16);
    const v128_t shifted = wasm_i32x4_shl(nonsign, 13);
    const v128_t finite = wasm_f32x4_mul(shifted, wasm_f32x4_splat(0x1p112f));
    const v128_t special = wasm_v128_or(shifted, wasm_i32x4_splat(0x7f800000));
    /* exponent 31 comes out of the multiply as 2^16 or more, any finite half below it;
     * compared as floats because an integer compare of nonsign, which LLVM knows is
     * non-negative, becomes an unsigned one, four instructions on x64 in V8 */
    const v128_t is_special = wasm_f32x4_ge(finite, wasm_f32x4_splat(65536.0f));
    return wasm_v128_or(sign, wasm_v128_bitselect(special, finite, is_special));
}

/* Eight halves -> two vectors of four floats (lanes 0..3 and 4..7). */
WISP_VINLINE void wisp_v_h2f_x8(v128_t h8, v128_t *lo, v128_t *hi) {
    *lo = wisp_v_h2f_i32(wasm_u32x4_extend_low_u16x8(h8));
    *hi = wisp_v_h2f_i32(wasm_u32x4_extend_high_u16x8(h8));
}

/* Four floats -> four halves in the low 16 bits of each lane, round to nearest even,
 * bit-exact with wisp_fp32_to_fp16_inline. Subnormal halves use the classic trick of
 * adding 0.5f: the hardware's own round-to-nearest-even then leaves the half mantissa
 * in the low bits (0.5 has an ulp of 2^-24, the half subnormal step). */
WISP_VINLINE v128_t wisp_v_f2h_i32(v128_t f) {
    const v128_t x = f;
    const v128_t sign = wasm_v128_and(wasm_u32x4_shr(x, 16), wasm_i32x4_splat(0x8000));
    const v128_t a = wasm_v128_and(x, wasm_i32x4_splat(0x7fffffff));
    /* NaN: quiet, top payload bits kept */
    const v128_t nan = wasm_v128_or(wasm_i32x4_splat(0x7e00),
                                    wasm_v128_and(wasm_u32x4_shr(a, 13), wasm_i32x4_splat(0x3ff)));
    /* normal: rebias, round the 13 dropped bits to nearest even (carry may bump exp) */
    const v128_t r = wasm_i32x4_sub(a, wasm_i32x4_splat(112 << 23));
    const v128_t odd = wasm_v128_and(wasm_u32x4_shr(r, 13), wasm_i32x4_splat(1));
    const v128_t normal = wasm_u32x4_shr(wasm_i32x4_add(r, wasm_i32x4_add(wasm_i32x4_splat(0xfff), odd)), 13);
    /* subnormal (and zero): |f| + 0.5f, minus the bits of 0.5f */
    const v128_t sub = wasm_i32x4_sub(wasm_f32x4_add(a, wasm_f32x4_splat(0.5f)), wasm_i32x4_splat(0x3f000000));
    /* the comparisons are on the magnitude bits as unsigned ints (all < 2^31, so signed works) */
    v128_t h = wasm_v128_bitselect(normal, sub, wasm_i32x4_ge(a, wasm_i32x4_splat(0x38800000)));
    h = wasm_v128_bitselect(wasm_i32x4_splat(0x7c00), h, wasm_i32x4_ge(a, wasm_i32x4_splat(0x477ff000)));
    h = wasm_v128_bitselect(nan, h, wasm_i32x4_gt(a, wasm_i32x4_splat(0x7f800000)));
    return wasm_v128_or(sign, h);
}

/* For |x| (as bits, a) below 65520, where the half round trip is finite and neither
 * overflows nor is NaN: x rounded to the nearest half, ties to even, by the float
 * adder's own rounding. m = 2^(e+13) for a in [2^e, 2^(e+1)) has an ulp of 2^(e-10),
 * the half's step in that binade, so a + m is rounded to exactly that step (ties to
 * even: m adds nothing to the last bit), and subtracting m again is exact. Below the
 * half's normal range the step is 2^-24 whatever e, so m stays at least 2^-1. */
WISP_VINLINE v128_t wisp_v_round_f16_inrange(v128_t x, v128_t a) {
    const v128_t sign = wasm_v128_xor(x, a);
    const v128_t m = wasm_i32x4_max(wasm_i32x4_add(wasm_v128_and(a, wasm_i32x4_splat(0x7f800000)),
                                                   wasm_i32x4_splat(13 << 23)),
                                    wasm_i32x4_splat(0x3f000000));
    return wasm_v128_or(sign, wasm_f32x4_sub(wasm_f32x4_add(a, m), m));
}

/* The same for any x: >= 65520 gives inf, NaN is quiet with its top ten payload bits
 * kept, as the half round trip gives them. */
WISP_VINLINE v128_t wisp_v_round_f16_special(v128_t x, v128_t a) {
    const v128_t nan = wasm_v128_or(wasm_i32x4_splat(0x7fc00000), wasm_v128_and(a, wasm_i32x4_splat(0x007fe000)));
    const v128_t sign = wasm_v128_xor(x, a);
    v128_t r = wisp_v_round_f16_inrange(x, a); /* its lanes out of range are replaced */
    r = wasm_v128_bitselect(wasm_v128_or(sign, wasm_i32x4_splat(0x7f800000)), r,
                            wasm_i32x4_ge(a, wasm_i32x4_splat(0x477ff000)));
    return wasm_v128_bitselect(wasm_v128_or(sign, nan), r, wasm_i32x4_gt(a, wasm_i32x4_splat(0x7f800000)));
}

/* wisp_fp16_to_fp32(wisp_fp32_to_fp16(x)), four at a time, without leaving f32: x
 * rounded to the nearest half (ties to even), overflow to inf, NaN as the round trip
 * gives it. Lets an F16 accumulator live in f32 (exactly F16 values) and skip the
 * conversion back at every step. When all four lanes are below 65520 in magnitude, as
 * accumulators nearly always are, only the in-range rounding runs. */
WISP_VINLINE v128_t wisp_v_round_f16(v128_t x) {
    const v128_t a = wasm_v128_and(x, wasm_i32x4_splat(0x7fffffff));
    if (!wasm_v128_any_true(wasm_i32x4_gt(a, wasm_i32x4_splat(0x477fefff)))) return wisp_v_round_f16_inrange(x, a);
    return wisp_v_round_f16_special(x, a);
}

/* Eight floats (two vectors) -> eight packed halves. */
WISP_VINLINE v128_t wisp_v_f2h_x8(v128_t lo, v128_t hi) {
    /* lanes hold 0..0xffff: an unsigned narrow would saturate 0x8000.., so shuffle */
    return wasm_i8x16_shuffle(wisp_v_f2h_i32(lo), wisp_v_f2h_i32(hi), 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20,
                              21, 24, 25, 28, 29);
}

/* Per-byte shifts by a constant. x64 has no byte shifts: V8 lowers i8x16.shr_u and
 * i8x16.shl to a 16-bit shift and a byte mask that it builds anew at every use (three
 * more instructions each time). These do the 16-bit shift themselves, with the mask as a
 * plain constant that V8 keeps in a register, or with no mask where none is needed. */
/* v >> n per byte */
#define wisp_v_u8_shr(v, n) wasm_v128_and(wasm_u16x8_shr((v), (n)), wasm_i8x16_splat((int8_t)(0xFF >> (n))))
/* (v >> n) & m per byte, for m <= 0xFF >> n: the bits shifted in from the next byte are
 * masked off by m */
#define wisp_v_u8_shr_and(v, n, m) wasm_v128_and(wasm_u16x8_shr((v), (n)), wasm_i8x16_splat((int8_t)(m)))
/* v << n per byte, for bytes below 256 >> n (no bit crosses into the next byte) */
#define wisp_v_u8_shl_small(v, n) wasm_i16x8_shl((v), (n))

/* Sum of the four i32 lanes (wrapping, as any int sum order is exact). */
WISP_VINLINE int32_t wisp_v_hsum_i32(v128_t v) {
    v = wasm_i32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
    v = wasm_i32x4_add(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
    return wasm_i32x4_extract_lane(v, 0);
}

/* [sum(a), sum(b), sum(c), sum(d)] of four i32x4 vectors. */
WISP_VINLINE v128_t wisp_v_hsum4_i32(v128_t a, v128_t b, v128_t c, v128_t d) {
    const v128_t ab = wasm_i32x4_add(wasm_i32x4_shuffle(a, b, 0, 4, 1, 5), wasm_i32x4_shuffle(a, b, 2, 6, 3, 7));
    const v128_t cd = wasm_i32x4_add(wasm_i32x4_shuffle(c, d, 0, 4, 1, 5), wasm_i32x4_shuffle(c, d, 2, 6, 3, 7));
    return wasm_i32x4_add(wasm_i32x4_shuffle(ab, cd, 0, 1, 4, 5), wasm_i32x4_shuffle(ab, cd, 2, 3, 6, 7));
}

/* Exact dot of 16 int8 pairs as four i32 partial sums (i8 -> i16, then pmaddwd). */
WISP_VINLINE v128_t wisp_v_dot_i8x16(v128_t a, v128_t b) {
    const v128_t lo = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(a), wasm_i16x8_extend_low_i8x16(b));
    const v128_t hi = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(a), wasm_i16x8_extend_high_i8x16(b));
    return wasm_i32x4_add(lo, hi);
}

/* i16x8.relaxed_dot_i8x16_i7x16_s (relaxed SIMD): lane k = a[2k]*b[2k] + a[2k+1]*b[2k+1],
 * a int8, b in 0..127 (where both readings of b agree, so the result is exact and the
 * same on every engine; x64 V8 emits one pmaddubsw). Only in builds with
 * WISP_RELAXED_SIMD: the browser's relaxed variant, and natively (emulated) so the same
 * kernels are tested here. Emscripten 3.1.6's LLVM has no builtin for it, so the wasm
 * build calls a placeholder import that wasm/relaxed.sh turns into the instruction. */
#if WISP_RELAXED_SIMD
#if defined(__wasm_simd128__)
__attribute__((import_module("env"), import_name("wisp_relaxed_dot_i8x16_i7x16_s"), const)) v128_t
wisp_relaxed_dot_i8x16_i7x16_s(v128_t a, v128_t b);
#define wisp_v_rdot_i8_i7(a, b) wisp_relaxed_dot_i8x16_i7x16_s((a), (b))
#else
WISP_VINLINE v128_t wisp_v_rdot_i8_i7(v128_t a, v128_t b) {
    const v128_t ae = wasm_i16x8_shr(wasm_i16x8_shl(a, 8), 8), ao = wasm_i16x8_shr(a, 8);
    const v128_t be = wasm_v128_and(b, wasm_i16x8_splat(0xFF)), bo = wasm_u16x8_shr(b, 8);
    return wasm_i16x8_add(wasm_i16x8_mul(ae, be), wasm_i16x8_mul(ao, bo));
}
#endif
#endif

#endif /* WISP_HAVE_SIMD128 */
#endif
