/*
** tensor.c — element types (one table), conversions between them, stored
** shapes, and decoding a stored row (see tensor.h).
**
** Conversions are bit-exact IEEE 754: float32 -> float16/bfloat16 rounds to
** nearest, ties to even, keeps infinities and NaNs (made quiet), and produces
** float16 subnormals; the widening directions are exact.  float16 <-> bfloat16
** goes through float32, which holds both exactly, so it rounds only once.
*/
#include "tensor.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- element types ------------------------------------------------------- */

static const struct {
  const char *name;          /* siam_tensor.dtype */
  size_t size;               /* bytes per element */
  const char *safetensors;   /* a safetensors header's dtype */
  const char *torch;         /* config.json's torch_dtype */
} dtypes[] = {
    [SIAM_F32] = {"f32", 4, "F32", "float32"},
    [SIAM_F16] = {"f16", 2, "F16", "float16"},
    [SIAM_BF16] = {"bf16", 2, "BF16", "bfloat16"},
};
#define N_DTYPES (int)(sizeof dtypes / sizeof *dtypes)

const char *siam_dtype_name(SiamDtype d) { return (unsigned)d < N_DTYPES ? dtypes[d].name : "?"; }

size_t siam_dtype_size(SiamDtype d) { return (unsigned)d < N_DTYPES ? dtypes[d].size : 0; }

const char *siam_dtype_names(void) { return "f32, f16 or bf16"; }

const char *siam_dtype_safetensors(SiamDtype d) { return (unsigned)d < N_DTYPES ? dtypes[d].safetensors : "?"; }

const char *siam_dtype_torch(SiamDtype d) { return (unsigned)d < N_DTYPES ? dtypes[d].torch : "?"; }

int siam_dtype_from_safetensors(const char *st, SiamDtype *d) {
  for (int i = 0; i < N_DTYPES; i++) {
    if (strcmp(st, dtypes[i].safetensors) == 0) {
      *d = (SiamDtype)i;
      return 0;
    }
  }
  return -1;
}

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

int siam_tensor_convert(SiamTensor *t, SiamDtype to, char err[SIAM_ERRMAX]) {
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

/* ---- stored shapes and rows ------------------------------------------------- */

static int parse_shape(SiamTensor *t, const char *shape_json, char *err) {
  cJSON *arr = cJSON_ParseWithLengthOpts(shape_json, strlen(shape_json) + 1, NULL, 1);  /* +1: the NUL it must end at */
  int rc = -1;
  if (!arr || !cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > 4) {
    siam_errf(err, "tensor %s: shape %s is not a JSON array of at most 4 sizes", t->name, shape_json);
    goto done;
  }
  t->ndim = 0;
  const cJSON *d;
  cJSON_ArrayForEach(d, arr) {
    double v = cJSON_IsNumber(d) ? d->valuedouble : -1;
    if (v < 0 || v > 1e12 || v != (double)(int64_t)v) {
      siam_errf(err, "tensor %s: shape %s has a size that is not a non-negative integer", t->name, shape_json);
      goto done;
    }
    t->shape[t->ndim++] = (int64_t)v;
  }
  rc = 0;
done:
  cJSON_Delete(arr);
  return rc;
}

static int tensor_nbytes(const SiamTensor *t, size_t *out, char *err) {
  size_t n = siam_dtype_size(t->dtype);
  for (int i = 0; i < t->ndim; i++)
    if (siam_mul_size(n, (size_t)t->shape[i], &n)) return siam_errf(err, "tensor %s: shape too large", t->name);
  *out = n;
  return 0;
}

void siam_shape_print(int ndim, const int64_t *shape, char *buf, size_t cap) {
  size_t used = (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < ndim && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? "," : "", (long long)shape[i]);
  if (used < cap) snprintf(buf + used, cap - used, "]");
}

int siam_tensor_parse_row(SiamTensor *t, const char *name, const char *dtype, const char *shape_json,
                          char err[SIAM_ERRMAX]) {
  memset(t, 0, sizeof *t);
  t->name = siam_strndup(name, strlen(name));
  if (!t->name) return siam_errf(err, "out of memory");
  if (siam_dtype_parse(dtype, &t->dtype))
    return siam_errf(err, "tensor %s: unknown dtype '%s' (expected %s)", name, dtype, siam_dtype_names());
  return parse_shape(t, shape_json, err) || tensor_nbytes(t, &t->nbytes, err) ? -1 : 0;
}

int siam_shape_check(const SiamTensorSpec *s, const SiamTensor *t, char err[SIAM_ERRMAX]) {
  int same = s->ndim == t->ndim;
  for (int i = 0; same && i < s->ndim; i++) same = s->shape[i] == t->shape[i];
  if (same) return 0;
  char got[128], want[96];
  siam_shape_print(t->ndim < 0 || t->ndim > 4 ? 0 : t->ndim, t->shape, got, sizeof got);
  siam_shape_print(s->ndim, s->shape, want, sizeof want);
  return siam_errf(err, "tensor %s has shape %s, config expects %s", s->name, got, want);
}

/* Decodes the row's frame into a new t->data (t->nbytes, from the checked
** shape). */
int siam_tensor_read_data(SiamTensor *t, const SiamBlobReader *src, char err[SIAM_ERRMAX]) {
  const char *name = t->name;
  t->data = siam_malloc(t->nbytes);
  if (!t->data) return siam_errf(err, "tensor %s: out of memory for %zu bytes", name, t->nbytes);
  char why[SIAM_ERRMAX];
  if (siam_blob_unpack_from(src, t->data, t->nbytes, why)) return siam_errf(err, "tensor %s: %s", name, why);
  return 0;
}

int siam_tensor_from_row(SiamTensor *t, const SiamTensorSpec *spec, const char *name, const char *dtype,
                         const char *shape_json, const SiamBlobReader *src, char err[SIAM_ERRMAX]) {
  if (siam_tensor_parse_row(t, name, dtype, shape_json, err)) return -1;
  /* The shape is checked before anything is allocated from it: a stored
  ** shape (or the size its frame declares) is untrusted. */
  if (spec && siam_shape_check(spec, t, err)) return -1;
  return siam_tensor_read_data(t, src, err);
}

int siam_tensor_spec_find(const SiamTensorSpec *specs, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(specs[i].name, name) == 0) return i;
  return -1;
}

/* Decodes a stored tensor of numel elements of dtype d straight into its
** float32 destination: the frame is decoded into the last bytes of dst, then
** widened in place from the front, a block at a time (a block's source is
** copied out before its floats are written, and a block's floats end before
** the next block's source begins).  No buffer the size of the tensor. */
int siam_tensor_decode_f32(float *dst, size_t numel, SiamDtype d, const SiamBlobReader *src, const char *name,
                           char err[SIAM_ERRMAX]) {
  enum { BLOCK = 1024 };
  size_t esize = siam_dtype_size(d), nbytes = numel * esize; /* numel * 4 fits: dst exists */
  unsigned char *packed = (unsigned char *)dst + numel * sizeof(float) - nbytes;
  char why[SIAM_ERRMAX];
  if (siam_blob_unpack_from(src, packed, nbytes, why)) return siam_errf(err, "tensor %s: %s", name, why);
  if (d == SIAM_F32 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) return 0; /* already in place */
  unsigned char block[BLOCK * 4];
  for (size_t i = 0; i < numel; i += BLOCK) {
    size_t n = numel - i < BLOCK ? numel - i : BLOCK;
    memcpy(block, packed + i * esize, n * esize);
    siam_to_f32(d, block, dst + i, n);
  }
  return 0;
}
