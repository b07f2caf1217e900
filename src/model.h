/* model.h — internal view of a loaded model: hyperparameters from metadata and
 * weight tensors bound by name, type and expected shape. */
#ifndef WISP_MODEL_H
#define WISP_MODEL_H

#include "gguf.h"
#include "tokenizer.h"
#include "wisp.h"

/* The vocabulary of a model (never NULL for a loaded model). */
const wisp_vocab *wisp_model_vocab(const wisp_model *m);

#endif
