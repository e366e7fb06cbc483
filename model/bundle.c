/*
** bundle.c — element types, conversions between them, and the check that a
** bundle's tensors and vocabulary are exactly what its config requires.
**
** Conversions are bit-exact IEEE 754: float32 -> float16/bfloat16 rounds to
** nearest, ties to even, keeps infinities and NaNs (made quiet), and produces
** float16 subnormals; the widening directions are exact.  float16 <-> bfloat16
** goes through float32, which holds both exactly, so it rounds only once.
**
** Reading and directory import/export live in hfdir.c, the zstd codec in blob.c.
*/
#include "bundle.h"

#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- element types ------------------------------------------------------- */

static const struct { const char *name; size_t size; } dtypes[] = {
    [SIAM_F32] = {"f32", 4}, [SIAM_F16] = {"f16", 2}, [SIAM_BF16] = {"bf16", 2}};
#define N_DTYPES (int)(sizeof dtypes / sizeof *dtypes)

const char *siam_dtype_name(SiamDtype d) { return (unsigned)d < N_DTYPES ? dtypes[d].name : "?"; }

size_t siam_dtype_size(SiamDtype d) { return (unsigned)d < N_DTYPES ? dtypes[d].size : 0; }

int siam_dtype_parse(const char *name, SiamDtype *d) {
  for (int i = 0; i < N_DTYPES; i++) {
    if (strcmp(name, dtypes[i].name) == 0) {
      *d = (SiamDtype)i;
      return 0;
    }
  }
  return -1;
}

/* ---- scalar conversions (bit patterns) ----------------------------------- */

static uint32_t f16_to_bits32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e == 0x1f) return sign | 0x7f800000 | m << 13;  /* inf / NaN, payload kept */
  if (e != 0) return sign | (e + 112) << 23 | m << 13;
  if (m == 0) return sign;
  e = 113;  /* subnormal m * 2^-24: shift until the implicit bit appears */
  while (!(m & 0x400)) {
    m <<= 1;
    e--;
  }
  return sign | e << 23 | (m & 0x3ff) << 13;
}

/* |x| < 2^-14: a float16 subnormal m * 2^-24, m rounded to nearest even. */
static uint16_t f16_subnormal(uint32_t sign, uint32_t abs) {
  uint32_t e = abs >> 23;
  if (e < 102) return (uint16_t)sign;  /* below 2^-25: rounds to zero */
  uint32_t mant = (abs & 0x7fffff) | 0x800000, s = 126 - e;  /* s in 14..24 */
  uint32_t m = mant >> s, rem = mant & ((1u << s) - 1), half = 1u << (s - 1);
  if (rem > half || (rem == half && (m & 1))) m++;  /* may carry into the smallest normal */
  return (uint16_t)(sign | m);
}

static uint16_t bits32_to_f16(uint32_t x) {
  uint32_t sign = (x >> 16) & 0x8000, abs = x & 0x7fffffff;
  if (abs > 0x7f800000) return (uint16_t)(sign | 0x7e00 | ((abs >> 13) & 0x3ff));  /* NaN, quiet */
  if (abs >= 0x477ff000) return (uint16_t)(sign | 0x7c00);  /* >= 65520 rounds to inf */
  if (abs < 0x38800000) return f16_subnormal(sign, abs);
  uint32_t r = abs - (112u << 23);  /* rebias 127 -> 15 */
  r += 0xfff + ((r >> 13) & 1);
  return (uint16_t)(sign | r >> 13);
}

static uint16_t bits32_to_bf16(uint32_t x) {
  if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);  /* NaN stays NaN, quiet */
  return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

static uint32_t load32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t load16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void store16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void store32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Element i of a little-endian array as float32 bits. */
static uint32_t elem_bits32(SiamDtype d, const uint8_t *src, size_t i) {
  switch (d) {
    case SIAM_F16: return f16_to_bits32(load16(src + 2 * i));
    case SIAM_BF16: return (uint32_t)load16(src + 2 * i) << 16;
    default: return load32(src + 4 * i);
  }
}

void siam_to_f32(SiamDtype d, const void *src, float *dst, size_t count) {
  for (size_t i = 0; i < count; i++) {
    uint32_t b = elem_bits32(d, src, i);
    memcpy(&dst[i], &b, sizeof b);
  }
}

static void convert_elems(SiamDtype from, const uint8_t *src, SiamDtype to, uint8_t *dst, size_t count) {
  for (size_t i = 0; i < count; i++) {
    uint32_t b = elem_bits32(from, src, i);
    if (to == SIAM_F16) store16(dst + 2 * i, bits32_to_f16(b));
    else if (to == SIAM_BF16) store16(dst + 2 * i, bits32_to_bf16(b));
    else store32(dst + 4 * i, b);
  }
}

static int convert_tensor(SiamTensor *t, SiamDtype to, char *err) {
  size_t from_size = siam_dtype_size(t->dtype), nbytes;
  if (t->dtype == to) return 0;
  if (from_size == 0) return siam_errf(err, "tensor %s: unknown dtype", t->name);
  size_t count = t->nbytes / from_size;
  if (siam_mul_size(count, siam_dtype_size(to), &nbytes)) return siam_errf(err, "tensor %s: too large", t->name);
  uint8_t *data = siam_malloc(nbytes);
  if (!data) return siam_errf(err, "out of memory converting tensor %s to %s", t->name, siam_dtype_name(to));
  convert_elems(t->dtype, t->data, to, data, count);
  siam_free(t->data);
  t->data = data;
  t->nbytes = nbytes;
  t->dtype = to;
  return 0;
}

int siam_bundle_convert(SiamBundle *b, SiamDtype dtype, char err[SIAM_ERRMAX]) {
  if (siam_dtype_size(dtype) == 0) return siam_errf(err, "unknown dtype");
  for (int i = 0; i < b->n_tensors; i++)
    if (convert_tensor(&b->tensors[i], dtype, err)) return -1;
  return 0;
}

/* ---- checking against the config ----------------------------------------- */

static void shape_text(char *buf, size_t cap, int ndim, const int64_t *shape) {
  size_t used = (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < ndim && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? "," : "", (long long)shape[i]);
  if (used < cap) snprintf(buf + used, cap - used, "]");
}

static int check_one(const SiamTensorSpec *s, const SiamTensor *t, char *err) {
  int same = s->ndim == t->ndim;
  for (int i = 0; same && i < s->ndim; i++) same = s->shape[i] == t->shape[i];
  if (!same) {
    char got[128], want[64];
    shape_text(got, sizeof got, t->ndim < 0 || t->ndim > 4 ? 0 : t->ndim, t->shape);
    shape_text(want, sizeof want, s->ndim, s->shape);
    return siam_errf(err, "tensor %s has shape %s, config expects %s", s->name, got, want);
  }
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

int siam_bundle_check_tokenizer(const SiamBundle *b, char err[SIAM_ERRMAX]) {
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
