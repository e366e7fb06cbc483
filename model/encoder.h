/*
** encoder.h — the native Siamese BERT tower: token ids in, embedding out.
**
**   ids (n) -> word + position + token-type-0 embeddings -> LayerNorm
**           -> num_layers x post-LN transformer layer
**           -> pooling (cls | max | mean | mean_sqrt_len, concatenated)
**           -> dense head layers -> optional L2 normalization
**
** Weights live in one float32 allocation owned by the encoder, filled once at
** load time through siam_encoder_param(); a model whose config says
** "compute":"bf16" or "int8" also gets the layers' dense weights rounded or
** quantized and packed for gemm_bf16.h or gemm_int8.h by
** siam_encoder_finish (2 or 1 more bytes per parameter of the layers).  The
** forward pass allocates nothing beyond its activation arena and scratch
** (sized at load time for one chunk of a batch).
** One encoder runs one forward pass at a time.
*/
#ifndef SIAM_ENCODER_H
#define SIAM_ENCODER_H

#include "common.h"
#include "config.h"

typedef struct SiamEncoder SiamEncoder;

/* Allocates parameters and activations for cfg (copied).  NULL + err on failure. */
SiamEncoder *siam_encoder_new(const SiamConfig *cfg, char err[SIAM_ERRMAX]);

/* The bytes siam_encoder_new(cfg) would allocate, without allocating them
** (for memory limits checked before a load).  0, or -1 + err for a config
** siam_encoder_new would refuse. */
int siam_encoder_bytes(const SiamConfig *cfg, size_t *bytes, char err[SIAM_ERRMAX]);

/* Destination for the stored tensor `name` (a name from siam_config_tensors),
** numel floats, row-major in torch layout.  NULL if the name is not one the
** forward pass uses (e.g. pooler.dense.*) or numel does not match. */
float *siam_encoder_param(SiamEncoder *enc, const char *name, size_t numel);

/* Called once all parameters are written (the parameter memory starts
** uninitialized: every tensor siam_config_tensors lists must have been
** written): checks that every weight is finite and lays the weights out for
** speed.  Returns 0, or -1 + err. */
int siam_encoder_finish(SiamEncoder *enc, char err[SIAM_ERRMAX]);

/* Encodes one sequence of n ids (1 <= n <= siam_encoder_max_tokens) into
** out (siam_encoder_dim floats).  Returns 0, or -1 on bad input. */
int siam_encoder_forward(SiamEncoder *enc, const int32_t *ids, int n, float *out);

/* Encodes n_seq sequences (ids[s] holding lens[s] ids, each as for
** siam_encoder_forward) into out (n_seq rows of siam_encoder_dim floats, row
** s for sequence s).  The sequences are packed without padding into chunks
** of at most siam_encoder_batch_tokens tokens, so the dense layers run as
** large matrix products; each row equals what siam_encoder_forward gives for
** that sequence (within 1e-6).  Order does not matter for speed.  Returns 0,
** or -1 on bad input, in which case out is left untouched, or when
** siam_stop_requested() says stop (out then partly written). */
int siam_encoder_forward_batch(SiamEncoder *enc, const int32_t *const *ids, const int *lens, int n_seq, float *out);

int siam_encoder_dim(const SiamEncoder *enc);

/* Applies act to x[0..n) in place with the encoder's own (vectorized)
** kernels: what its hidden layers and dense heads compute. */
void siam_activation(SiamActivation act, float *x, size_t n);

/* The kernel this CPU runs a model's dense layers on in precision c:
** "avx512" or "portable" for f32, "amx", "avx512bf16" or "reference" for
** bf16, "amx", "avx512vnni" or "reference" for int8. */
const char *siam_compute_kernel(SiamCompute c);

/* Longest sequence accepted: min(max_seq_length, max_position_embeddings). */
int siam_encoder_max_tokens(const SiamEncoder *enc);

/* Tokens per packed chunk of a batch (>= siam_encoder_max_tokens). */
int siam_encoder_batch_tokens(const SiamEncoder *enc);

void siam_encoder_free(SiamEncoder *enc);

#endif
