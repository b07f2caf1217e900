/* quant.h — tensor element formats: ggml-identical block layouts, fp16/bf16
 * conversion, and one traits entry per supported type (dequantize a row, quantize a
 * row, scalar dot product against the type's activation format).
 *
 * The dot convention follows ggml: a weight row of type T is multiplied with an
 * activation row that was first converted to traits(T)->vec_dot_type (F32 for F32,
 * F16 for F16, BF16 for BF16, Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for
 * the k-quants). Matching this is what makes our logits equal llama.cpp's. */
#ifndef WISP_QUANT_H
#define WISP_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "ggml_types.h"

typedef uint16_t wisp_fp16;
typedef uint16_t wisp_bf16;

float wisp_fp16_to_fp32(wisp_fp16 h);
wisp_fp16 wisp_fp32_to_fp16(float f);   /* round to nearest even, as F16C / ggml */
float wisp_bf16_to_fp32(wisp_bf16 h);
wisp_bf16 wisp_fp32_to_bf16(float f);   /* round to nearest even, NaN kept quiet, as ggml */

/* n is the number of elements (a multiple of the type's block size). */
typedef void (*wisp_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*wisp_from_float_fn)(const float *src, void *dst, int64_t n);
/* Dot product of one row x (this type) with one row y (vec_dot_type), n elements. */
typedef float (*wisp_vec_dot_fn)(int64_t n, const void *x, const void *y);

typedef struct wisp_quant_traits {
    uint32_t type;
    const char *name;
    uint32_t blck_size;
    uint32_t type_size;
    wisp_to_float_fn to_float;      /* dequantize */
    wisp_from_float_fn from_float;  /* quantize (reference rounding, as ggml's quantize_row_*_ref) */
    wisp_vec_dot_fn vec_dot;        /* NULL for activation-only types (Q8_1, Q8_K) */
    uint32_t vec_dot_type;
} wisp_quant_traits;

/* Traits of a type id, or NULL when wisp cannot compute with that type. */
const wisp_quant_traits *wisp_quant_get(uint32_t type);

/* Bytes of a row of n elements of `type` (n a multiple of the block size). */
size_t wisp_row_size(uint32_t type, int64_t n);

#endif
