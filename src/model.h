/* model.h — internal view of a loaded model: hyperparameters read from metadata
 * and weight tensors bound by name, type and expected shape. */
#ifndef WISP_MODEL_H
#define WISP_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "gguf.h"
#include "tokenizer.h"
#include "wisp.h"

typedef enum wisp_arch { WISP_ARCH_NONE = 0, WISP_ARCH_LLAMA, WISP_ARCH_QWEN2 } wisp_arch;
typedef enum wisp_rope_type { WISP_ROPE_NORM = 0, WISP_ROPE_NEOX = 1 } wisp_rope_type;

/* A bound weight: data points into the model's weight buffer. ne[0] is the row
 * length (input features for a matrix), ne[1] the number of rows. */
typedef struct wisp_tensor {
    const char *name;
    uint32_t type;
    int64_t ne[2];
    const void *data;
    size_t row_bytes;
} wisp_tensor;

typedef struct wisp_layer {
    wisp_tensor attn_norm;              /* (n_embd) */
    wisp_tensor wq;                     /* (n_embd) x (n_head*head_dim) */
    wisp_tensor wk;                     /* (n_embd) x (n_head_kv*head_dim) */
    wisp_tensor wv;                     /* (n_embd) x (n_head_kv*head_dim) */
    wisp_tensor bq, bk, bv;             /* biases (qwen2); data == NULL when absent */
    wisp_tensor wo;                     /* (n_head*head_dim) x (n_embd) */
    wisp_tensor ffn_norm;               /* (n_embd) */
    wisp_tensor w_gate;                 /* (n_embd) x (n_ff) */
    wisp_tensor w_up;                   /* (n_embd) x (n_ff) */
    wisp_tensor w_down;                 /* (n_ff) x (n_embd) */
} wisp_layer;

typedef struct wisp_hparams {
    wisp_arch arch;
    uint32_t n_vocab;       /* rows of token_embd == tokenizer size */
    uint32_t n_ctx_train;   /* {arch}.context_length */
    uint32_t n_embd;        /* residual stream width */
    uint32_t n_layer;
    uint32_t n_head;        /* query heads */
    uint32_t n_head_kv;     /* key/value heads (GQA when < n_head) */
    uint32_t head_dim;      /* per-head width of q, k and v */
    uint32_t n_ff;          /* FFN hidden width */
    uint32_t n_rot;         /* rotated dims per head ({arch}.rope.dimension_count) */
    float rope_base;        /* {arch}.rope.freq_base */
    float rope_freq_scale;  /* 1 / {arch}.rope.scaling.factor for linear scaling, else 1 */
    wisp_rope_type rope_type;
    float rms_eps;
} wisp_hparams;

struct wisp_model {
    wisp_gguf *gguf;
    wisp_vocab *vocab;
    wisp_hparams hp;
    wisp_tensor tok_embd;       /* (n_embd) x (n_vocab) */
    wisp_tensor output_norm;    /* (n_embd) */
    wisp_tensor output;         /* (n_embd) x (n_vocab); tok_embd when tied */
    wisp_tensor rope_freqs;     /* (n_rot/2) Llama-3 frequency factors, or data == NULL */
    wisp_layer *layers;         /* n_layer */
    void *weights_alloc;        /* raw allocation of the tensor data section */
    unsigned char *weights;     /* aligned start of the data section copy */
    uint64_t weights_size;
    uint64_t n_params;
    char *chat_template;
    char name[128];
    char arch[64];
    bool vocab_only;
    char last_error[512];
};

/* The vocabulary of a model (never NULL for a loaded model). */
const wisp_vocab *wisp_model_vocab(const wisp_model *m);

#endif
