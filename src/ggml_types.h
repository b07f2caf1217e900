/* ggml_types.h — the GGML tensor type ids as they appear in GGUF files, with the
 * block geometry of every type (supported or not), so the GGUF parser can size
 * any tensor and name any type in an error message. Kernels live in quant.h. */
#ifndef WISP_GGML_TYPES_H
#define WISP_GGML_TYPES_H

#include <stddef.h>
#include <stdint.h>

enum wisp_ggml_type {
    WISP_TYPE_F32 = 0,
    WISP_TYPE_F16 = 1,
    WISP_TYPE_Q4_0 = 2,
    WISP_TYPE_Q4_1 = 3,
    WISP_TYPE_Q5_0 = 6,
    WISP_TYPE_Q5_1 = 7,
    WISP_TYPE_Q8_0 = 8,
    WISP_TYPE_Q8_1 = 9,
    WISP_TYPE_Q2_K = 10,
    WISP_TYPE_Q3_K = 11,
    WISP_TYPE_Q4_K = 12,
    WISP_TYPE_Q5_K = 13,
    WISP_TYPE_Q6_K = 14,
    WISP_TYPE_Q8_K = 15,
    WISP_TYPE_IQ2_XXS = 16,
    WISP_TYPE_IQ2_XS = 17,
    WISP_TYPE_IQ3_XXS = 18,
    WISP_TYPE_IQ1_S = 19,
    WISP_TYPE_IQ4_NL = 20,
    WISP_TYPE_IQ3_S = 21,
    WISP_TYPE_IQ2_S = 22,
    WISP_TYPE_IQ4_XS = 23,
    WISP_TYPE_I8 = 24,
    WISP_TYPE_I16 = 25,
    WISP_TYPE_I32 = 26,
    WISP_TYPE_I64 = 27,
    WISP_TYPE_F64 = 28,
    WISP_TYPE_IQ1_M = 29,
    WISP_TYPE_BF16 = 30,
    WISP_TYPE_TQ1_0 = 34,
    WISP_TYPE_TQ2_0 = 35,
    WISP_TYPE_MXFP4 = 39,
    WISP_TYPE_COUNT = 40,
};

typedef struct wisp_ggml_type_info {
    const char *name;    /* NULL for ids that ggml retired (4, 5, 31-33, 36-38) */
    uint32_t blck_size;  /* elements per block */
    uint32_t type_size;  /* bytes per block */
} wisp_ggml_type_info;

/* Geometry of a type id, or NULL when the id is unknown or retired. */
const wisp_ggml_type_info *wisp_ggml_type_get(uint32_t type);

#endif
