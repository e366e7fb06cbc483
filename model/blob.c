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
#include "blob.h"

#include <string.h>

#define ZSTD_STATIC_LINKING_ONLY /* for ZSTD_d_stableOutBuffer */
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

/* Compressed bytes read per step: large enough that reading costs little
** per byte, small beside any tensor worth streaming. */
#define READ_CHUNK (256 * 1024)

static int read_mem(void *ctx, size_t off, void *buf, size_t n) {
  memcpy(buf, (const char *)ctx + off, n);
  return 0;
}

SiamBlobReader siam_blob_reader_mem(const void *blob, size_t n) {
  SiamBlobReader r = {n, read_mem, (void *)(blob ? blob : "")};
  return r;
}

/* Checks the frame header in the first bytes of src against expect. */
static int check_header(const SiamBlobReader *src, size_t expect, char *err) {
  unsigned char head[ZSTD_FRAMEHEADERSIZE_MAX];
  size_t n = src->size < sizeof head ? src->size : sizeof head;
  unsigned long long declared = 0;
  if (src->read(src->ctx, 0, head, n)) return siam_errf(err, "cannot read the stored frame");
  if (declared_size(head, n, &declared, err) || checksummed(head, n, err)) return -1;
  if (declared != expect) return siam_errf(err, "zstd frame declares %llu bytes, shape needs %zu", declared, expect);
  return 0;
}

/* Streams src through dctx into out (expect bytes).  zstd writes straight
** into out (stable output buffer: no window buffer of its own) and checks
** the content size and the checksum when the frame ends. */
static int decode_stream(ZSTD_DCtx *dctx, const SiamBlobReader *src, void *out, size_t expect, char *err) {
  unsigned char *chunk = siam_malloc(READ_CHUNK);
  if (!chunk) return siam_errf(err, "out of memory");
  ZSTD_outBuffer ob = {out, expect, 0};
  size_t off = 0, left = 1; /* left: zstd's hint, 0 once the frame is complete */
  int rc = 0;
  while (rc == 0 && left != 0 && off < src->size) {
    size_t n = src->size - off < READ_CHUNK ? src->size - off : READ_CHUNK;
    if (src->read(src->ctx, off, chunk, n)) {
      rc = siam_errf(err, "cannot read the stored frame");
      break;
    }
    ZSTD_inBuffer ib = {chunk, n, 0};
    while (ib.pos < ib.size && left != 0) {
      size_t in_before = ib.pos, out_before = ob.pos;
      left = ZSTD_decompressStream(dctx, &ob, &ib);
      if (ZSTD_isError(left)) {
        rc = siam_errf(err, "corrupt zstd frame: %s", ZSTD_getErrorName(left));
        break;
      }
      if (ib.pos == in_before && ob.pos == out_before) { /* stuck: out is full and the frame wants more */
        rc = siam_errf(err, "zstd frame holds more than the %zu bytes it declares", expect);
        break;
      }
    }
    off += ib.pos;
    if (rc == 0 && left == 0 && (ib.pos < ib.size || off < src->size))
      rc = siam_errf(err, "blob has %zu bytes after its zstd frame", src->size - off);
  }
  if (rc == 0 && left != 0) rc = siam_errf(err, "corrupt zstd frame: truncated (it ends %zu bytes in)", src->size);
  if (rc == 0 && ob.pos != expect) rc = siam_errf(err, "zstd frame holds %zu bytes, shape needs %zu", ob.pos, expect);
  siam_free(chunk);
  return rc;
}

int siam_blob_unpack_from(const SiamBlobReader *src, void *out, size_t expect, char err[SIAM_ERRMAX]) {
  if (check_header(src, expect, err)) return -1;
  ZSTD_DCtx *dctx = ZSTD_createDCtx();
  if (!dctx) return siam_errf(err, "out of memory");
  /* Without this zstd would keep its own copy of the window (as large as
  ** the tensor); it is an advanced parameter, so a library without it just
  ** costs that memory. */
  ZSTD_DCtx_setParameter(dctx, ZSTD_d_stableOutBuffer, 1);
  char dummy;
  int rc = decode_stream(dctx, src, expect ? out : &dummy, expect, err);
  ZSTD_freeDCtx(dctx);
  return rc;
}

int siam_blob_unpack(const void *blob, size_t n, void *out, size_t expect, char err[SIAM_ERRMAX]) {
  SiamBlobReader r = siam_blob_reader_mem(blob, n);
  return siam_blob_unpack_from(&r, out, expect, err);
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
