/*
** blob.c — tensor bytes as stored in siam_tensor.data: one zstd frame that
** declares its content size and carries a checksum.
**
**   SELECT siam_unpack(siam_pack(x'0000803f'));   -- x'0000803F'
**
** How it works: packing is one ZSTD_compress2 call at level 3 with the
** checksum and content-size flags on.  Unpacking trusts nothing in the frame
** until it is checked: the declared size must be known and equal what the
** caller expects (the tensor's shape says how many bytes it needs) before any
** memory is set aside, the frame must carry a checksum, the blob must be
** exactly one frame, and zstd verifies the checksum while decoding.
*/
#include "bundle.h"

#include <zstd.h>

#define PACK_LEVEL 3

int siam_blob_pack(const void *raw, size_t n, void **out, size_t *out_n, char err[SIAM_ERRMAX]) {
  *out = NULL;
  *out_n = 0;
  size_t bound = ZSTD_compressBound(n);
  if (bound == 0 || ZSTD_isError(bound)) return siam_errf(err, "%zu bytes are too many for one zstd frame", n);
  ZSTD_CCtx *cctx = ZSTD_createCCtx();
  void *buf = siam_malloc(bound);
  int rc = -1;
  if (!cctx || !buf) {
    siam_errf(err, "out of memory");
  } else {
    size_t r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, PACK_LEVEL);
    if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
    if (!ZSTD_isError(r)) r = ZSTD_compress2(cctx, buf, bound, raw ? raw : "", n);
    if (ZSTD_isError(r)) {
      siam_errf(err, "zstd compression failed: %s", ZSTD_getErrorName(r));
    } else {
      *out = buf;
      *out_n = r;
      buf = NULL;
      rc = 0;
    }
  }
  siam_free(buf);
  ZSTD_freeCCtx(cctx);
  return rc;
}

/* The size a frame declares, checked to be known; 0 or -1 + err. */
static int declared_size(const void *blob, size_t n, unsigned long long *size, char *err) {
  unsigned long long s = ZSTD_getFrameContentSize(blob, n);
  if (s == ZSTD_CONTENTSIZE_ERROR) return siam_errf(err, "corrupt zstd frame: not a zstd frame header");
  if (s == ZSTD_CONTENTSIZE_UNKNOWN) return siam_errf(err, "zstd frame does not declare its content size");
  *size = s;
  return 0;
}

/* A zstd data frame (not a skippable one) whose header sets the
** Content_Checksum_flag (bit 2 of the frame header descriptor, RFC 8878
** 3.1.1.1.1): without a checksum a flipped bit could decode silently. */
static int checksummed(const void *blob, size_t n, char *err) {
  const unsigned char *p = blob;
  if (n < 5 || (p[0] | p[1] << 8 | p[2] << 16 | (unsigned long)p[3] << 24) != ZSTD_MAGICNUMBER)
    return siam_errf(err, "corrupt zstd frame: not a zstd data frame");
  if (!(p[4] & 4)) return siam_errf(err, "zstd frame has no checksum (siam_pack always writes one)");
  return 0;
}

/* The frame must span the whole blob: no truncation, nothing after it. */
static int one_frame(const void *blob, size_t n, char *err) {
  size_t fsz = ZSTD_findFrameCompressedSize(blob, n);
  if (ZSTD_isError(fsz)) return siam_errf(err, "corrupt zstd frame: %s", ZSTD_getErrorName(fsz));
  if (fsz != n) return siam_errf(err, "blob has %zu bytes after its zstd frame", n - fsz);
  return 0;
}

int siam_blob_unpack(const void *blob, size_t n, void *out, size_t expect, char err[SIAM_ERRMAX]) {
  unsigned long long declared = 0;
  if (!blob) blob = "";
  if (declared_size(blob, n, &declared, err) || checksummed(blob, n, err)) return -1;
  if (declared != expect)
    return siam_errf(err, "zstd frame declares %llu bytes, shape needs %zu", declared, expect);
  if (one_frame(blob, n, err)) return -1;
  ZSTD_DCtx *dctx = ZSTD_createDCtx();
  if (!dctx) return siam_errf(err, "out of memory");
  size_t r = ZSTD_decompressDCtx(dctx, out, expect, blob, n);
  ZSTD_freeDCtx(dctx);
  if (ZSTD_isError(r)) return siam_errf(err, "corrupt zstd frame: %s", ZSTD_getErrorName(r));
  if (r != expect) return siam_errf(err, "zstd frame holds %zu bytes, shape needs %zu", r, expect);
  return 0;
}

int siam_blob_unpack_alloc(const void *blob, size_t n, size_t max_bytes, void **out, size_t *out_n,
                           char err[SIAM_ERRMAX]) {
  unsigned long long declared = 0;
  *out = NULL;
  *out_n = 0;
  if (!blob) blob = "";
  if (declared_size(blob, n, &declared, err) || checksummed(blob, n, err)) return -1;
  if (declared > max_bytes || declared > SIZE_MAX)
    return siam_errf(err, "zstd frame declares %llu bytes, more than the limit of %zu", declared, max_bytes);
  void *buf = siam_malloc((size_t)declared);
  if (!buf) return siam_errf(err, "out of memory for %llu bytes", declared);
  if (siam_blob_unpack(blob, n, buf, (size_t)declared, err)) {
    siam_free(buf);
    return -1;
  }
  *out = buf;
  *out_n = (size_t)declared;
  return 0;
}
