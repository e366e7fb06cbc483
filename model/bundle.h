/*
** bundle.h — a whole model in memory, as it moves between a directory on disk
** and the database: its config, its raw tensors and its vocabulary.
**
** Import:  siam_bundle_read_dir()  (HuggingFace or sentence-transformers dir)
**          -> siam_bundle_check()  (every tensor against the config)
**          -> ext/ writes rows.
** Export:  ext/ reads rows into a bundle -> siam_bundle_write_dir().
**
** A bundle owns everything it points to; siam_bundle_free releases it all.
*/
#ifndef SIAM_BUNDLE_H
#define SIAM_BUNDLE_H

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

typedef struct {
  SiamConfig cfg;
  SiamTensor *tensors; /* n_tensors, in siam_config_tensors order */
  int n_tensors;
  char **vocab;        /* n_vocab NUL-terminated tokens, id = index */
  int n_vocab;
} SiamBundle;

const char *siam_dtype_name(SiamDtype d);       /* "f32", "f16", "bf16" */
int siam_dtype_parse(const char *name, SiamDtype *d);  /* 0 or -1 */
size_t siam_dtype_size(SiamDtype d);

/* Reads a HuggingFace BERT directory (config.json, vocab.txt,
** tokenizer_config.json, model.safetensors) or a sentence-transformers one
** (modules.json, sentence_bert_config.json, N_Pooling/config.json, N_Dense/
** {config.json,model.safetensors}, N_Normalize).  Tensor names lose a "bert."
** prefix; non-weight buffers (embeddings.position_ids) are skipped; Dense
** weights become head.N.weight / head.N.bias.  Returns 0, or -1 + err. */
int siam_bundle_read_dir(SiamBundle *b, const char *dir, char err[SIAM_ERRMAX]);

/* Writes the bundle back as a sentence-transformers directory (which is also a
** valid HuggingFace BERT directory at its root).  dir may be absent or an
** empty directory; with overwrite, a non-empty directory is replaced as a
** whole.  The export is written into a new directory beside dir that takes
** its place only once complete (a failure leaves dir as it was); dir itself
** must not be a symbolic link, and nothing is written through one.  Returns
** 0, or -1 + err. */
int siam_bundle_write_dir(const SiamBundle *b, const char *dir, int overwrite, char err[SIAM_ERRMAX]);

/* Checks the bundle against its config: every required tensor present once,
** exact shape, nbytes = numel * dtype size, no unexpected tensor; vocab size
** equals encoder.vocab_size; reorders tensors into siam_config_tensors order.
** Messages read "tensor X has shape [a,b], config expects [c,d]". */
int siam_bundle_check(SiamBundle *b, char err[SIAM_ERRMAX]);

/* Builds (and frees) the tokenizer the bundle's vocab and config give, so a
** vocab the loader would refuse (a token twice, [CLS] not in it) is refused
** here too.  Export uses it; 0 or -1 + err. */
int siam_bundle_check_tokenizer(const SiamBundle *b, char err[SIAM_ERRMAX]);

/* Converts every tensor to dtype (round to nearest even). Returns 0 or -1 (OOM). */
int siam_bundle_convert(SiamBundle *b, SiamDtype dtype, char err[SIAM_ERRMAX]);

void siam_bundle_free(SiamBundle *b);

/* ---- tensor blobs as stored in siam_tensor.data ------------------------- */

/* One zstd frame with content size and checksum.  *out allocated with
** siam_malloc.  Returns 0 or -1 + err. */
int siam_blob_pack(const void *raw, size_t n, void **out, size_t *out_n, char err[SIAM_ERRMAX]);

/* A stored frame, read a piece at a time: read(ctx, off, buf, n) fills buf
** with the n bytes at offset off and returns 0, or -1.  ext/ wraps
** sqlite3_blob_read in one, so a large tensor is never held in memory twice
** (once compressed, once decoded). */
typedef struct {
  size_t size; /* bytes in the stored blob */
  int (*read)(void *ctx, size_t off, void *buf, size_t n);
  void *ctx;
} SiamBlobReader;

/* A reader over n bytes already in memory. */
SiamBlobReader siam_blob_reader_mem(const void *blob, size_t n);

/* Decodes a frame that must hold exactly `expect` bytes (the shape's size)
** straight into out (expect bytes), reading it piece by piece: a declared
** size other than that, a frame without a checksum, a truncated frame, bytes
** after the frame or a checksum mismatch is an error, and the size is
** checked before anything is decoded. */
int siam_blob_unpack_from(const SiamBlobReader *src, void *out, size_t expect, char err[SIAM_ERRMAX]);

/* siam_blob_unpack_from over a blob in memory. */
int siam_blob_unpack(const void *blob, size_t n, void *out, size_t expect, char err[SIAM_ERRMAX]);

/* Decodes a frame of unknown size, refusing anything over max_bytes. */
int siam_blob_unpack_alloc(const void *blob, size_t n, size_t max_bytes,
                           void **out, size_t *out_n, char err[SIAM_ERRMAX]);

/* Element conversion to float32 (little-endian source). */
void siam_to_f32(SiamDtype d, const void *src, float *dst, size_t count);

#endif
