/*
** encoder.h — the native Siamese BERT tower: token ids in, embedding out.
**
**   ids (n) -> word + position + token-type-0 embeddings -> LayerNorm
**           -> num_layers x post-LN transformer layer
**           -> pooling (cls | max | mean | mean_sqrt_len, concatenated)
**           -> dense head layers -> optional L2 normalization
**
** Weights live in one float32 allocation owned by the encoder, filled once at
** load time through siam_encoder_param(); the forward pass allocates nothing
** beyond its activation arena.
*/
#ifndef SIAM_ENCODER_H
#define SIAM_ENCODER_H

#include "common.h"
#include "config.h"

typedef struct SiamEncoder SiamEncoder;

/* Allocates parameters and activations for cfg (copied).  NULL + err on failure. */
SiamEncoder *siam_encoder_new(const SiamConfig *cfg, char err[SIAM_ERRMAX]);

/* Destination for the stored tensor `name` (a name from siam_config_tensors),
** numel floats, row-major in torch layout.  NULL if the name is not one the
** forward pass uses (e.g. pooler.dense.*) or numel does not match. */
float *siam_encoder_param(SiamEncoder *enc, const char *name, size_t numel);

/* Called once all parameters are written: lets the encoder re-lay weights
** for speed.  Returns 0, or -1 + err. */
int siam_encoder_finish(SiamEncoder *enc, char err[SIAM_ERRMAX]);

/* Encodes one sequence of n ids (1 <= n <= max_seq_length) into out
** (siam_encoder_dim floats).  Returns 0, or -1 on bad input. */
int siam_encoder_forward(SiamEncoder *enc, const int32_t *ids, int n, float *out);

int siam_encoder_dim(const SiamEncoder *enc);

void siam_encoder_free(SiamEncoder *enc);

#endif
