/*
** fusion.h — reciprocal rank fusion of two rankings of the same rows (the
** dense one and FTS5 bm25's, for siam_search).  No SQLite here.
**
**   score(row) = w / (k + dense rank) + (1 - w) / (k + bm25 rank)
**
** ranks counting from 1 within each list; a row missing from a list adds
** nothing for it.  Results: best score first, ties by smaller rowid: exactly
** what the plain SQL rewrite in the README computes.
*/
#ifndef SIAM_FUSION_H
#define SIAM_FUSION_H

#include "common.h"
#include "config.h"

typedef struct {
  int64_t rowid;
  double score;
  int dense_rank, bm25_rank;  /* 0: not in that list */
} SiamFused;

/* Fuses dense[0..n_dense) and bm25[0..n_bm25) (rowids, best first, no
** repeats within a list) into out (room for n_dense + n_bm25), sorted;
** returns the count, or -1 out of memory. */
int siam_rrf_fuse(const SiamSearchConfig *cfg, const int64_t *dense, int n_dense, const int64_t *bm25, int n_bm25,
                  SiamFused *out);

#endif
