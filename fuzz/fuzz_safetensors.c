/*
** fuzz_safetensors.c — libFuzzer harness for the safetensors reader.
**
**   make fuzz-safetensors FUZZ_SECONDS=600
**
** The input is a whole file image handed to siam_st_parse (which takes
** ownership, success or failure).  On success every entry must lie inside
** the data section, entries must tile it (so their byte counts add up to
** it), and byte counts must match shape times element size; the harness
** also reads every byte of every tensor so ASan sees any pointer that is
** off.
*/
#include <stdlib.h>
#include <string.h>

#include "../model/safetensors.h"

static size_t elem_size(const char *dtype) {
  static const struct { const char *n; size_t s; } t[] = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
      {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};
  for (size_t i = 0; i < sizeof t / sizeof *t; i++)
    if (strcmp(dtype, t[i].n) == 0) return t[i].s;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *image = siam_malloc(size);
  if (!image) return 0;
  memcpy(image, data, size);
  SiamSafetensors st;
  char err[SIAM_ERRMAX];
  if (siam_st_parse(&st, image, size, err) != 0) {
    if (err[0] == 0 || strlen(err) >= SIAM_ERRMAX) abort();  /* a failure always says why */
    return 0;
  }
  size_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | st.image[i];
  const uint8_t *lo = st.image + 8 + hlen, *hi = st.image + st.image_len;
  size_t total = 0;
  unsigned sum = 0;
  for (int i = 0; i < st.n_entries; i++) {
    const SiamStEntry *e = &st.entries[i];
    if (!e->name || e->data < lo || e->data > hi || e->nbytes > (size_t)(hi - e->data)) abort();
    size_t want = elem_size(e->dtype);
    if (want == 0 || e->ndim < 0 || e->ndim > 8) abort();
    for (int d = 0; d < e->ndim; d++) want *= (size_t)e->shape[d];
    if (want != e->nbytes) abort();
    for (size_t b = 0; b < e->nbytes; b++) sum += e->data[b];
    total += e->nbytes;
  }
  if (total != (size_t)(hi - lo)) abort();  /* tiles the data section exactly */
  (void)sum;
  siam_st_free(&st);
  return 0;
}
