/*
** vecsearch.h — similarity search over float32 vectors: top-k for one query
** and all pairs above a cosine threshold.  No SQLite here; ext/ reads the
** vectors out of a table and hands them in.
**
**   siam_vec_inv_norms(inv, x, n, dim);             -- once per set of vectors
**   SiamTopK *t = siam_topk_new(q, dim, k, err);
**   siam_topk_add_rows(t, x, inv, ids, n);          -- one pass over x
**   n = siam_topk_finish(t);  siam_topk_get(t, i, &id, &score);
**   siam_topk_free(t);
**
**   SiamPairs *p = siam_pairs_new(x, n, dim, threshold, &bad_row, err);  -- x: (n, dim)
**   while (siam_pairs_next(p, &hits, &count) == 1) ... hits[0..count)
**   siam_pairs_free(p);
**
** How scores are made exact.  The fast paths compute cosines in float (a
** dot-product loop for top-k, tiled matrix products over normalized rows for pairs)
** and are off from the double-precision cosine by at most siam_vec_margin(dim).
** Every vector whose float score could reach the answer (within twice that
** margin of the k-th best score, or of the threshold) is rescored with
** siam_vec_cosine, the same double-precision formula siam_similarity uses.
** So the reported scores, the top-k set and the pair set are exactly those of
** the plain SQL query `siam_similarity(a, b) >= t` / `ORDER BY ... LIMIT k`
** (ties in the k-th place aside).
*/
#ifndef SIAM_VECSEARCH_H
#define SIAM_VECSEARCH_H

#include "common.h"

/* Cosine of a and b (n floats each), accumulated in double; 0 when either is
** all zeros.  Bit-for-bit the value siam_similarity(a, b) returns. */
double siam_vec_cosine(const float *a, const float *b, size_t n);

/* A bound on |float cosine - siam_vec_cosine| for dim-float vectors. */
double siam_vec_margin(int dim);

/* ---- top-k for one query --------------------------------------------------- */

typedef struct SiamTopK SiamTopK;

/* q: (dim) floats, copied.  Fails (NULL + err) on k < 1, dim < 1, out of
** memory, or a NaN/infinite query. */
SiamTopK *siam_topk_new(const float *q, int dim, int k, char err[SIAM_ERRMAX]);

/* Scores n stored rows: x (n, dim) floats, inv (n) from siam_vec_inv_norms,
** ids (n).  May be called again with more rows.  Returns 0 or -1 out of
** memory. */
int siam_topk_add_rows(SiamTopK *t, const float *x, const float *inv, const int64_t *ids, int64_t n);

/* inv[i] = 1/|x[i]| in float for the n rows of x (n, dim): 0 for a zero row,
** NaN for a row too small or large to score in float (it is scored exactly).
** Returns -1, or the first row that holds NaN/infinite values. */
int64_t siam_vec_inv_norms(float *inv, const float *x, int64_t n, int dim);

/* Sorts the best k by score descending (ties by id ascending); returns how
** many there are (fewer than k if fewer vectors were added). */
int siam_topk_finish(SiamTopK *t);
void siam_topk_get(const SiamTopK *t, int i, int64_t *id, double *score);

void siam_topk_free(SiamTopK *t);

/* ---- all pairs above a threshold ---------------------------------------------- */

typedef struct SiamPairs SiamPairs;

typedef struct {
  int64_t a, b;     /* row indexes into x, a < b */
  double score;     /* siam_vec_cosine(x[a], x[b]) >= threshold */
} SiamPair;

/* x: (n, dim) floats, borrowed: the caller keeps it alive and unchanged until
** siam_pairs_free.  Makes a normalized copy (n * dim floats).  Fails (NULL +
** err) on out of memory; *bad_row is set (else -1) when row *bad_row holds
** NaN/infinite values. */
SiamPairs *siam_pairs_new(const float *x, int64_t n, int dim, double threshold, int64_t *bad_row,
                          char err[SIAM_ERRMAX]);

/* Computes the next tile: 1 and the tile's pairs in *hits (owned by p, valid
** until the next call; count may be 0), 0 when all tiles are done, -1 out of
** memory. */
int siam_pairs_next(SiamPairs *p, const SiamPair **hits, int64_t *count);

void siam_pairs_free(SiamPairs *p);

#endif
