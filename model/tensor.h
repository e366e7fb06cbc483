/*
** tensor.h — a stored tensor, and everything about its element type and
** shape: the one place a new dtype is added.
**
**   dtype    siam_tensor.dtype  safetensors  torch_dtype  bytes
**   f32      "f32"              F32          float32      4
**   f16      "f16"              F16          float16      2
**   bf16     "bf16"             BF16         bfloat16     2
**
** A tensor's shape is stored as JSON ("[384,384]", torch layout) and checked
** against the one its config requires (SiamTensorSpec, config.h) before any
** allocation is sized from it: a stored shape is untrusted.
*/
#ifndef SIAM_TENSOR_H
#define SIAM_TENSOR_H

#include "blob.h"
#include "common.h"
#include "config.h"

typedef enum { SIAM_F32 = 0, SIAM_F16, SIAM_BF16 } SiamDtype;

typedef struct {
  char *name;          /* stored name, e.g. "encoder.layer.0.attention.self.query.weight" */
  SiamDtype dtype;
  int ndim;            /* 0..4 */
  int64_t shape[4];
  void *data;          /* raw little-endian elements, nbytes long */
  size_t nbytes;
} SiamTensor;

/* ---- element types ---------------------------------------------------------- */

const char *siam_dtype_name(SiamDtype d);               /* "f32", "f16", "bf16" */
int siam_dtype_parse(const char *name, SiamDtype *d);   /* 0 or -1 */
size_t siam_dtype_size(SiamDtype d);                    /* bytes per element; 0 if unknown */
const char *siam_dtype_names(void);                     /* "f32, f16 or bf16", for messages */
const char *siam_dtype_safetensors(SiamDtype d);        /* "F32", "F16", "BF16" */
int siam_dtype_from_safetensors(const char *st, SiamDtype *d);  /* 0, or -1 for a type we do not store */
const char *siam_dtype_torch(SiamDtype d);              /* config.json's torch_dtype */

/* Element conversion to float32 (little-endian source), exact. */
void siam_to_f32(SiamDtype d, const void *src, float *dst, size_t count);

/* Converts t's elements to dtype in place (round to nearest even; NaN and
** infinities kept).  0, or -1 + err (out of memory). */
int siam_tensor_convert(SiamTensor *t, SiamDtype to, char err[SIAM_ERRMAX]);

/* ---- shapes -------------------------------------------------------------------- */

/* "[a,b]" into buf (96 bytes hold any shape). */
void siam_shape_print(int ndim, const int64_t *shape, char *buf, size_t cap);

/* t's shape equals spec's; else "tensor X has shape [a,b], config expects [c,d]". */
int siam_shape_check(const SiamTensorSpec *spec, const SiamTensor *t, char err[SIAM_ERRMAX]);

/* Index of the spec called name in specs[0..n), or -1. */
int siam_tensor_spec_find(const SiamTensorSpec *specs, int n, const char *name);

/* ---- reading a stored row ---------------------------------------------------------- */

/* Name, dtype and shape of a stored row (no data): t->name copied, t->nbytes
** computed from the shape (overflow-checked).  On failure the caller still
** frees t->name. */
int siam_tensor_parse_row(SiamTensor *t, const char *name, const char *dtype, const char *shape_json,
                          char err[SIAM_ERRMAX]);

/* Parses a stored row, checks its shape against spec (when not NULL) before
** allocating anything, and decodes the zstd frame into t->data (exactly
** nbytes).  Shared by the loader and by export.  On failure the caller still
** frees t->name and t->data. */
int siam_tensor_from_row(SiamTensor *t, const SiamTensorSpec *spec, const char *name, const char *dtype,
                         const char *shape_json, const SiamBlobReader *src, char err[SIAM_ERRMAX]);

/* Decodes the row's frame into a new t->data of t->nbytes (from a parsed,
** checked shape). */
int siam_tensor_read_data(SiamTensor *t, const SiamBlobReader *src, char err[SIAM_ERRMAX]);

/* Decodes a stored frame of numel elements of dtype d straight into its
** float32 destination dst (numel floats), with no buffer the tensor's size. */
int siam_tensor_decode_f32(float *dst, size_t numel, SiamDtype d, const SiamBlobReader *src, const char *name,
                           char err[SIAM_ERRMAX]);

#endif
