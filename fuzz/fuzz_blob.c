/*
** fuzz_blob.c — libFuzzer harness for the tensor-blob codec (zstd frames).
**
**   make fuzz-blob FUZZ_SECONDS=600
**
** Input: 3 bytes giving the size the caller expects (what a tensor's shape
** would need, up to 16 MiB), then the blob.  The blob goes through
**   siam_blob_unpack (into a buffer of exactly that size),
**   siam_blob_unpack_alloc (with a 1 MiB limit),
** and both must agree: either both accept (same bytes, when the sizes match)
** or the refusal carries a message.  A frame that declares more than the
** limit is refused before anything is allocated.  Finally the blob's bytes are
** packed and unpacked again and must come back unchanged.
*/
#include <stdlib.h>
#include <string.h>

#include "../model/bundle.h"

#define LIMIT ((size_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  size_t expect = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16;
  size_t n = size - 3;
  uint8_t *blob = malloc(n ? n : 1);  /* exactly the blob: ASan sees reads past it */
  memcpy(blob, data + 3, n);
  char err[SIAM_ERRMAX];

  uint8_t *out = malloc(expect ? expect : 1);
  err[0] = 0;
  int rc1 = siam_blob_unpack(blob, n, out, expect, err);
  if (rc1 != 0 && err[0] == 0) abort();

  void *raw = NULL;
  size_t raw_n = 123;
  err[0] = 0;
  int rc2 = siam_blob_unpack_alloc(blob, n, LIMIT, &raw, &raw_n, err);
  if (rc2 != 0 && (err[0] == 0 || raw != NULL || raw_n != 0)) abort();
  if (rc2 == 0 && raw_n > LIMIT) abort();
  /* Same frame, same verdict when the expected size is the declared one. */
  if (rc1 == 0 && expect <= LIMIT && (rc2 != 0 || raw_n != expect || memcmp(raw, out, expect) != 0)) abort();
  if (rc2 == 0 && raw_n == expect && rc1 != 0) abort();
  siam_free(raw);
  free(out);

  void *frame = NULL;
  size_t frame_n = 0;
  if (siam_blob_pack(blob, n, &frame, &frame_n, err) != 0) abort();
  uint8_t *back = malloc(n ? n : 1);
  if (siam_blob_unpack(frame, frame_n, back, n, err) != 0 || memcmp(back, blob, n) != 0) abort();
  free(back);
  siam_free(frame);
  free(blob);
  return 0;
}
