/*
** blob.h — the stored form of a tensor's data: one zstd frame with its
** content size and a checksum (siam_tensor.data), written and read a piece
** at a time (blob.c).
*/
#ifndef SIAM_BLOB_H
#define SIAM_BLOB_H

#include "common.h"

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

#endif
