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
#include "tensor.h"

typedef struct {
  SiamConfig cfg;
  SiamTensor *tensors; /* n_tensors, in siam_config_tensors order */
  int n_tensors;
  char **vocab;        /* n_vocab NUL-terminated tokens, id = index */
  int n_vocab;
} SiamBundle;

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
** equals encoder.vocab_size, and the tokenizer they make can be built (a
** token twice, [CLS] not in it: what the loader would refuse); reorders
** tensors into siam_config_tensors order.  Messages read "tensor X has shape
** [a,b], config expects [c,d]". */
int siam_bundle_check(SiamBundle *b, char err[SIAM_ERRMAX]);

/* Converts every tensor to dtype (round to nearest even). Returns 0 or -1 (OOM). */
int siam_bundle_convert(SiamBundle *b, SiamDtype dtype, char err[SIAM_ERRMAX]);

void siam_bundle_free(SiamBundle *b);

#endif
