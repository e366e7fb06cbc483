/*
** fuzz_config.c — libFuzzer harness for the model config parser.
**
**   make fuzz-config FUZZ_SECONDS=600
**
** The input is a config document (any bytes).  When siam_config_parse accepts
** it, the config must also pass siam_config_validate, print as canonical JSON
** (siam_config_to_json), and that text must parse back to an equal config
** that prints the same text again.  The tensor list it implies
** (siam_config_tensors) is built too, with every shape checked positive.
*/
#include <stdlib.h>
#include <string.h>

#include "../model/config.h"

static int same_config(const SiamConfig *a, const SiamConfig *b) {
  /* siam_config_parse zeroes the struct first, so padding and the bytes after
  ** each NUL-terminated name are zero in both: whole-struct equality is exact. */
  return memcmp(a, b, sizeof *a) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *json = malloc(size ? size : 1);  /* exactly the input: ASan sees reads past it */
  memcpy(json, data, size);
  SiamConfig cfg, back;
  char err[SIAM_ERRMAX];
  int rc = siam_config_parse(&cfg, json, size, err);
  free(json);
  if (rc != 0) {
    if (err[0] == 0) abort();  /* a failure always says why */
    return 0;
  }
  if (siam_config_validate(&cfg, err) != 0) abort();
  char *text = siam_config_to_json(&cfg);
  if (!text) abort();
  if (siam_config_parse(&back, text, strlen(text), err) != 0) abort();
  if (!same_config(&cfg, &back)) abort();
  char *again = siam_config_to_json(&back);
  if (!again || strcmp(text, again) != 0) abort();
  if (siam_config_output_dim(&cfg) < 1) abort();
  SiamTensorSpec *specs = NULL;
  int n = siam_config_tensors(&cfg, &specs, err);
  if (n < 5) abort();
  for (int i = 0; i < n; i++)
    for (int d = 0; d < specs[i].ndim; d++)
      if (specs[i].shape[d] < 1) abort();
  siam_free(specs);
  siam_free(again);
  siam_free(text);
  return 0;
}
