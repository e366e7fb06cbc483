/*
** safetensors.h — reader and writer for the safetensors format:
**   8-byte little-endian header length N, N bytes of JSON
**   {"name":{"dtype":"F32","shape":[..],"data_offsets":[b,e]},...,
**    "__metadata__":{...}}, then the data section.
** The reader checks everything the format requires: known dtype, shape
** product * element size == e-b, tensors tile the data section exactly
** (sorted by offset, no gap, no overlap, nothing after the last one).
*/
#ifndef SIAM_SAFETENSORS_H
#define SIAM_SAFETENSORS_H

#include <stdio.h>

#include "bundle.h"

typedef struct {
  char *name;
  char dtype[8];        /* "F32", "F16", "BF16", "I64", ... as in the file */
  int ndim;
  int64_t shape[8];
  const uint8_t *data;  /* points into the file image */
  size_t nbytes;
} SiamStEntry;

typedef struct {
  uint8_t *image;       /* whole file, owned */
  size_t image_len;
  SiamStEntry *entries;
  int n_entries;
} SiamSafetensors;

/* Parses a file image (takes ownership of image on success and failure).
** Entries keep the file's order; siam_st_free releases everything. */
int siam_st_parse(SiamSafetensors *st, uint8_t *image, size_t len, char err[SIAM_ERRMAX]);
int siam_st_read_file(SiamSafetensors *st, const char *path, char err[SIAM_ERRMAX]);
void siam_st_free(SiamSafetensors *st);

/* Reads a whole regular file into *out (siam_malloc; caller frees), refusing
** one over max bytes.  Messages do not name the file: the caller knows it. */
int siam_read_file(const char *path, size_t max, uint8_t **out, size_t *len, char err[SIAM_ERRMAX]);

/* Writes tensors as a safetensors file (8-byte aligned data, header padded
** with spaces as the format allows). */
/* A new file for writing: fails (NULL, errno set) if path exists, even as
** a link, so nothing is ever written through one. */
FILE *siam_create_file(const char *path);

int siam_st_write_file(const char *path, const SiamTensor *t, int n, char err[SIAM_ERRMAX]);

#endif
