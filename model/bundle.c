/*
** bundle.c — the check that a bundle's tensors and vocabulary are exactly
** what its config requires, and converting a whole bundle to one dtype.
**
** Element types live in tensor.c, reading and directory import/export in
** hfdir.c, the zstd codec in blob.c.
*/
#include "bundle.h"

#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int siam_bundle_convert(SiamBundle *b, SiamDtype dtype, char err[SIAM_ERRMAX]) {
  if (siam_dtype_size(dtype) == 0) return siam_errf(err, "unknown dtype");
  for (int i = 0; i < b->n_tensors; i++)
    if (siam_tensor_convert(&b->tensors[i], dtype, err)) return -1;
  return 0;
}

/* ---- checking against the config ----------------------------------------- */

static int check_one(const SiamTensorSpec *s, const SiamTensor *t, char *err) {
  if (siam_shape_check(s, t, err)) return -1;
  size_t need = siam_dtype_size(t->dtype);
  if (need == 0) return siam_errf(err, "tensor %s has an unknown dtype", t->name);
  for (int i = 0; i < t->ndim; i++)
    if (siam_mul_size(need, (size_t)t->shape[i], &need)) return siam_errf(err, "tensor %s is too large", t->name);
  if (t->nbytes != need || (need && !t->data))
    return siam_errf(err, "tensor %s holds %zu bytes, its shape in %s needs %zu", t->name, t->nbytes,
                     siam_dtype_name(t->dtype), need);
  return 0;
}

/* Specs sorted by name, so each tensor is found in O(log n). */
static int spec_cmp(const void *a, const void *b) {
  return strcmp((*(const SiamTensorSpec *const *)a)->name, (*(const SiamTensorSpec *const *)b)->name);
}

static int find_spec(const SiamTensorSpec *const *sorted, int n, const char *name) {
  int lo = 0, hi = n - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2, c = strcmp(name, sorted[mid]->name);
    if (c == 0) return mid;
    if (c < 0) hi = mid - 1;
    else lo = mid + 1;
  }
  return -1;
}

/* Sets placed[k] to the index of the tensor matching spec k; reports the
** first problem: unexpected or repeated tensors, wrong shapes, then missing. */
static int match_tensors(const SiamBundle *b, const SiamTensorSpec *specs, int n, int *placed, char *err) {
  const SiamTensorSpec **sorted = siam_calloc((size_t)n, sizeof *sorted);
  if (!sorted) return siam_errf(err, "out of memory");
  for (int i = 0; i < n; i++) sorted[i] = &specs[i];
  qsort(sorted, (size_t)n, sizeof *sorted, spec_cmp);
  int rc = 0;
  for (int i = 0; i < b->n_tensors && rc == 0; i++) {
    const SiamTensor *t = &b->tensors[i];
    int j = find_spec(sorted, n, t->name ? t->name : "");
    int k = j < 0 ? -1 : (int)(sorted[j] - specs);
    if (k < 0) rc = siam_errf(err, "unexpected tensor %s", t->name ? t->name : "(unnamed)");
    else if (placed[k] >= 0) rc = siam_errf(err, "tensor %s appears twice", t->name);
    else if ((rc = check_one(&specs[k], t, err)) == 0) placed[k] = i;
  }
  for (int k = 0; k < n && rc == 0; k++)
    if (placed[k] < 0) rc = siam_errf(err, "missing tensor %s", specs[k].name);
  siam_free(sorted);
  return rc;
}

static int check_vocab(const SiamBundle *b, char *err) {
  if (b->n_vocab != b->cfg.encoder.vocab_size)
    return siam_errf(err, "vocab has %d tokens, config expects %d", b->n_vocab, b->cfg.encoder.vocab_size);
  for (int i = 0; i < b->n_vocab; i++)
    if (!b->vocab[i] || !b->vocab[i][0]) return siam_errf(err, "vocab token %d is empty", i);
  return 0;
}

static int check_tokenizer(const SiamBundle *b, char *err) {
  SiamTokenizer *t = siam_tokenizer_new(&b->cfg.tokenizer, (const char *const *)b->vocab, b->n_vocab, err);
  if (!t) return -1;
  siam_tokenizer_free(t);
  return 0;
}

/* Moves the tensors into spec order (every spec matched exactly once, so
** there are n of them) within the same array: pointers into it stay valid. */
static int reorder(SiamBundle *b, const int *placed, int n, char *err) {
  SiamTensor *sorted = siam_calloc((size_t)n, sizeof *sorted);
  if (!sorted) return siam_errf(err, "out of memory");
  for (int k = 0; k < n; k++) sorted[k] = b->tensors[placed[k]];
  memcpy(b->tensors, sorted, (size_t)n * sizeof *sorted);
  siam_free(sorted);
  return 0;
}

int siam_bundle_check(SiamBundle *b, char err[SIAM_ERRMAX]) {
  SiamTensorSpec *specs = NULL;
  int n = siam_config_tensors(&b->cfg, &specs, err);
  if (n < 0) return -1;
  int *placed = siam_calloc((size_t)n, sizeof *placed);
  int rc = placed ? 0 : siam_errf(err, "out of memory");
  for (int k = 0; rc == 0 && k < n; k++) placed[k] = -1;
  if (rc == 0) rc = match_tensors(b, specs, n, placed, err);
  /* Every spec matched once and nothing was unexpected, so counts agree. */
  if (rc == 0) rc = check_vocab(b, err);
  if (rc == 0) rc = check_tokenizer(b, err);
  if (rc == 0) rc = reorder(b, placed, n, err);
  siam_free(placed);
  siam_free(specs);
  return rc;
}

void siam_bundle_free(SiamBundle *b) {
  for (int i = 0; i < b->n_tensors; i++) {
    siam_free(b->tensors[i].name);
    siam_free(b->tensors[i].data);
  }
  siam_free(b->tensors);
  for (int i = 0; i < b->n_vocab; i++) siam_free(b->vocab[i]);
  siam_free(b->vocab);
  memset(b, 0, sizeof *b);
}
