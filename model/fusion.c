/*
** fusion.c — reciprocal rank fusion (see fusion.h).
**
** Each list contributes w / (k + rank) in double; a row in both gets the
** dense term plus the bm25 term, in that order (addition of two doubles is
** commutative, so SQL's sum() over the two gives the same bits).
*/
#include "fusion.h"

#include <stdlib.h>

static int by_rowid(const void *a, const void *b) {
  int64_t x = ((const SiamFused *)a)->rowid, y = ((const SiamFused *)b)->rowid;
  return (x > y) - (x < y);
}

static int by_score(const void *a, const void *b) {
  const SiamFused *x = a, *y = b;
  if (x->score != y->score) return x->score < y->score ? 1 : -1;
  return (x->rowid > y->rowid) - (x->rowid < y->rowid);
}

int siam_rrf_fuse(const SiamSearchConfig *cfg, const int64_t *dense, int n_dense, const int64_t *bm25, int n_bm25,
                  SiamFused *out) {
  int n = 0;
  for (int i = 0; i < n_dense; i++) out[n++] = (SiamFused){dense[i], 0, i + 1, 0};
  for (int i = 0; i < n_bm25; i++) out[n++] = (SiamFused){bm25[i], 0, 0, i + 1};
  qsort(out, (size_t)n, sizeof *out, by_rowid);
  int m = 0;  /* a row in both lists: one entry with both ranks */
  for (int i = 0; i < n; i++) {
    if (m > 0 && out[m - 1].rowid == out[i].rowid) {
      if (out[i].dense_rank) out[m - 1].dense_rank = out[i].dense_rank;
      if (out[i].bm25_rank) out[m - 1].bm25_rank = out[i].bm25_rank;
    } else {
      out[m++] = out[i];
    }
  }
  double w = cfg->dense_weight;
  for (int i = 0; i < m; i++) {
    double s = 0;
    if (out[i].dense_rank) s += w / (cfg->k + out[i].dense_rank);
    if (out[i].bm25_rank) s += (1 - w) / (cfg->k + out[i].bm25_rank);
    out[i].score = s;
  }
  qsort(out, (size_t)m, sizeof *out, by_score);
  return m;
}
