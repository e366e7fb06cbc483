/*
** vecsearch.c — top-k and all-pairs cosine search over float32 vectors.
**
** Top-k is memory-bound (one query against n stored vectors, whose inverse
** norms were computed once): each vector is read once by a dot-product loop
** in eight float lanes (which the compiler turns into SIMD without
** -ffast-math); sgemm with N = 1 would copy the matrix first and run at a
** quarter of the speed.  A min-heap of the k best float scores gives the
** cut-off; vectors that clear it (less the margin) are rescored exactly and
** kept as candidates.
**
** All-pairs is compute-bound: the rows are normalized once into a copy, then
** tile by tile (TILE x TILE rows, upper triangle only) C = Xn[I] * Xn[J]^T on
** siamsql's own matrix kernel and threads (gemm.h: the encoder's, so no
** other library's threads or CPU detection are involved), and each tile is
** scanned for scores at or above the threshold less the margin; those are
** rescored exactly.  Xn[J]^T is transposed per tile into a (dim, TILE)
** buffer, the layout the kernel streams (about 1/(2 TILE / dim) of the
** tile's work).  Tiles are computed on demand, so a caller that stops early
** (LIMIT) does not pay for the rest.
*/
#include "vecsearch.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"

/* Rows per side of a pairs tile: C is TILE*TILE floats (16 MB), large enough
** for the kernel to run at full speed on every core, small enough to stay in
** L3 for the scan. */
#define TILE 2048

/* Row strips a diagonal tile is computed in. */
#define DIAG_STRIPS 4

/* Rows scored per block in siam_topk_add_rows (scores: 64 KB, stays in L2). */
#define TOPK_BLOCK 16384

double siam_vec_cosine(const float *a, const float *b, size_t n) {
  /* Same loop as siam_similarity's cosine(): changing the order of these
  ** operations changes the last bits of the result. */
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < n; i++) {
    dot += (double)a[i] * b[i];
    na += (double)a[i] * a[i];
    nb += (double)b[i] * b[i];
  }
  if (na == 0 || nb == 0) return 0;
  return dot / (sqrt(na) * sqrt(nb));
}

/* Float dot products and norms of unit-length vectors carry a relative error
** of at most about (dim + dim/8 + 10) * 2^-24 whatever the order of the sum;
** four times dim * 2^-24 plus a little is a safe bound. */
double siam_vec_margin(int dim) { return ((double)dim + 8) * 0x1p-22; }

static double sumsq_exact(const float *x, int dim) {
  double s = 0;
  for (int i = 0; i < dim; i++) s += (double)x[i] * x[i];
  return s;
}

/* ---- top-k ------------------------------------------------------------------ */

typedef struct {
  double score;     /* exact cosine */
  float fast;       /* the float score it was admitted with */
  int64_t id;
} Candidate;

struct SiamTopK {
  int dim, k;
  float *q;             /* (dim) query, normalized */
  const float *q_raw;   /* (dim) query as given, for exact scores */
  float *scores;        /* (TOPK_BLOCK) float dot products of a block of rows */
  float *heap;          /* (k) min-heap of the best float scores */
  int n_heap;
  Candidate *cand;      /* (cap) vectors that may be in the top k */
  int n_cand, cap;
  double margin2;       /* twice siam_vec_margin(dim) */
};

SiamTopK *siam_topk_new(const float *q, int dim, int k, char err[SIAM_ERRMAX]) {
  if (dim < 1 || k < 1) {
    siam_errf(err, "need dim >= 1 and k >= 1, got %d and %d", dim, k);
    return NULL;
  }
  double ss = sumsq_exact(q, dim);
  if (!isfinite(ss)) {
    siam_errf(err, "the query vector holds NaN or infinite values");
    return NULL;
  }
  SiamTopK *t = siam_calloc(1, sizeof *t);
  int cap = k < (1 << 20) ? 4 * k + 64 : k + 64;
  if (t) {
    t->dim = dim;
    t->k = k;
    t->cap = cap;
    t->margin2 = 2 * siam_vec_margin(dim);
    t->q = siam_malloc(2 * (size_t)dim * sizeof(float));
    t->heap = siam_malloc((size_t)k * sizeof(float));
    t->cand = siam_malloc((size_t)cap * sizeof(Candidate));
    t->scores = siam_malloc(TOPK_BLOCK * sizeof(float));
  }
  if (!t || !t->q || !t->heap || !t->cand || !t->scores) {
    siam_topk_free(t);
    siam_errf(err, "out of memory");
    return NULL;
  }
  double inv = ss > 0 ? 1 / sqrt(ss) : 0;
  float *raw = t->q + dim;
  for (int i = 0; i < dim; i++) {
    t->q[i] = (float)(q[i] * inv);
    raw[i] = q[i];
  }
  t->q_raw = raw;
  return t;
}

void siam_topk_free(SiamTopK *t) {
  if (!t) return;
  siam_free(t->q);
  siam_free(t->heap);
  siam_free(t->cand);
  siam_free(t->scores);
  siam_free(t);
}

/* |x|^2 in eight float lanes. */
static float sumsq_fast(const float *restrict x, int dim) {
  float s[8] = {0};
  int i = 0;
  for (; i + 8 <= dim; i += 8)
    for (int u = 0; u < 8; u++) s[u] += x[i + u] * x[i + u];
  for (; i < dim; i++) s[0] += x[i] * x[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* out[i] = dot(x[i], q) for the n rows of x (n, dim), eight float lanes per
** row.  A matrix-vector product: memory-bound, so one pass over x with no
** packing (sgemm with N = 1 copies x first and runs at half the speed). */
static void dot_rows(float *restrict out, const float *restrict x, int64_t n, int dim, const float *restrict q) {
  for (int64_t r = 0; r < n; r++) {
    const float *row = x + r * dim;
    float d[8] = {0};
    int i = 0;
    for (; i + 8 <= dim; i += 8)
      for (int u = 0; u < 8; u++) d[u] += row[i + u] * q[i + u];
    for (; i < dim; i++) d[0] += row[i] * q[i];
    out[r] = ((d[0] + d[1]) + (d[2] + d[3])) + ((d[4] + d[5]) + (d[6] + d[7]));
  }
}

static void heap_push(float *h, int *n, int k, float v) {
  int i;
  if (*n < k) {
    i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
      h[i] = h[(i - 1) / 2];
      i = (i - 1) / 2;
    }
    h[i] = v;
    return;
  }
  if (v <= h[0]) return;
  i = 0;  /* replace the minimum and sift down */
  for (;;) {
    int c = 2 * i + 1;
    if (c >= k) break;
    if (c + 1 < k && h[c + 1] < h[c]) c++;
    if (h[c] >= v) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = v;
}

/* Scores below this cannot reach the top k. */
static double cutoff(const SiamTopK *t) { return t->n_heap < t->k ? -INFINITY : t->heap[0] - t->margin2; }

static void prune(SiamTopK *t) {
  double lo = cutoff(t);
  int n = 0;
  for (int i = 0; i < t->n_cand; i++)
    if (t->cand[i].fast >= lo) t->cand[n++] = t->cand[i];
  t->n_cand = n;
}

/* Squared norms whose float computation neither underflows nor overflows. */
static int sumsq_in_range(float ss) { return ss >= 1e-30f && ss <= 1e30f; }

/* Records row x with float score fast, or NaN to score it exactly. */
static int admit(SiamTopK *t, const float *x, float fast, int64_t id) {
  double exact = NAN;
  if (isnan(fast)) {
    exact = siam_vec_cosine(x, t->q_raw, (size_t)t->dim);
    fast = (float)exact;
  }
  if (fast < cutoff(t)) return 0;
  if (isnan(exact)) exact = siam_vec_cosine(x, t->q_raw, (size_t)t->dim);
  heap_push(t->heap, &t->n_heap, t->k, fast);
  if (t->n_cand == t->cap) {
    prune(t);
    if (t->n_cand == t->cap) {  /* many near-ties: grow */
      size_t cap = (size_t)t->cap * 2;
      Candidate *c = cap <= INT32_MAX ? siam_realloc(t->cand, cap * sizeof *c) : NULL;
      if (!c) return -1;
      t->cand = c;
      t->cap = (int)cap;
    }
  }
  t->cand[t->n_cand++] = (Candidate){exact, fast, id};
  return 0;
}

int64_t siam_vec_inv_norms(float *inv, const float *x, int64_t n, int dim) {
  for (int64_t i = 0; i < n; i++) {
    const float *row = x + i * dim;
    float ss = sumsq_fast(row, dim);
    if (sumsq_in_range(ss)) {
      inv[i] = 1 / sqrtf(ss);
    } else {
      double e = sumsq_exact(row, dim);
      if (!isfinite(e)) return i;
      inv[i] = e == 0 ? 0.0f : NAN;  /* NaN: score this row exactly */
    }
  }
  return -1;
}

int siam_topk_add_rows(SiamTopK *t, const float *x, const float *inv, const int64_t *ids, int64_t n) {
  for (int64_t i0 = 0; i0 < n; i0 += TOPK_BLOCK) {
    int b = (int)(n - i0 < TOPK_BLOCK ? n - i0 : TOPK_BLOCK);
    const float *xb = x + i0 * t->dim;
    dot_rows(t->scores, xb, b, t->dim, t->q);
    for (int i = 0; i < b; i++) {
      float fast = t->scores[i] * inv[i0 + i];  /* NaN when inv is */
      if (!(fast < cutoff(t)) && admit(t, xb + (size_t)i * t->dim, fast, ids[i0 + i])) return -1;
    }
  }
  return 0;
}

static int by_score_desc(const void *pa, const void *pb) {
  const Candidate *a = pa, *b = pb;
  if (a->score != b->score) return a->score > b->score ? -1 : 1;
  return (a->id > b->id) - (a->id < b->id);
}

int siam_topk_finish(SiamTopK *t) {
  prune(t);
  qsort(t->cand, (size_t)t->n_cand, sizeof *t->cand, by_score_desc);
  return t->n_cand < t->k ? t->n_cand : t->k;
}

void siam_topk_get(const SiamTopK *t, int i, int64_t *id, double *score) {
  *id = t->cand[i].id;
  *score = t->cand[i].score;
}

/* ---- all pairs ------------------------------------------------------------------ */

struct SiamPairs {
  const float *x;       /* (n, dim) as given, borrowed */
  float *xn;            /* (n, dim) rows scaled to unit length (zero rows stay zero) */
  float *xt;            /* (dim, TILE) the current tile's columns of xn, transposed */
  float *c;             /* (TILE, TILE) scores of the current tile */
  int64_t n;
  int dim;
  double threshold;
  float lo;             /* threshold less twice the margin, rounded down */
  int64_t ti, tj;       /* next tile: rows [ti, ti+TILE) x [tj, tj+TILE) */
  SiamPair *hits;       /* (cap) this tile's pairs */
  int64_t n_hits, cap;
};

void siam_pairs_free(SiamPairs *p) {
  if (!p) return;
  siam_free(p->xn);
  siam_free(p->xt);
  siam_free(p->c);
  siam_free(p->hits);
  siam_free(p);
}

SiamPairs *siam_pairs_new(const float *x, int64_t n, int dim, double threshold, int64_t *bad_row,
                          char err[SIAM_ERRMAX]) {
  *bad_row = -1;
  size_t cells;
  if (dim < 1 || n < 0 || siam_mul_size((size_t)n, (size_t)dim, &cells) || cells > SIZE_MAX / sizeof(float)) {
    siam_errf(err, "bad matrix shape (%lld, %d)", (long long)n, dim);
    return NULL;
  }
  SiamPairs *p = siam_calloc(1, sizeof *p);
  if (p) {
    p->x = x;
    p->n = n;
    p->dim = dim;
    p->threshold = threshold;
    p->lo = nextafterf((float)(threshold - 2 * siam_vec_margin(dim)), -INFINITY);
    p->cap = 1024;
    p->xn = siam_malloc(cells ? cells * sizeof(float) : 1);
    p->xt = siam_malloc((size_t)dim * TILE * sizeof(float));
    p->c = siam_malloc((size_t)TILE * TILE * sizeof(float));
    p->hits = siam_malloc((size_t)p->cap * sizeof *p->hits);
  }
  if (!p || !p->xn || !p->xt || !p->c || !p->hits) {
    siam_pairs_free(p);
    siam_errf(err, "out of memory (%lld vectors of %d floats)", (long long)n, dim);
    return NULL;
  }
  for (int64_t i = 0; i < n; i++) {
    const float *row = x + i * dim;
    double ss = sumsq_exact(row, dim);
    if (!isfinite(ss)) {
      *bad_row = i;
      siam_pairs_free(p);
      siam_errf(err, "row %lld holds NaN or infinite values", (long long)i);
      return NULL;
    }
    double inv = ss > 0 ? 1 / sqrt(ss) : 0;
    for (int j = 0; j < dim; j++) p->xn[i * dim + j] = (float)(row[j] * inv);
  }
  return p;
}

static int add_hit(SiamPairs *p, int64_t a, int64_t b, double score) {
  if (p->n_hits == p->cap) {
    SiamPair *h = siam_realloc(p->hits, (size_t)p->cap * 2 * sizeof *h);
    if (!h) return -1;
    p->hits = h;
    p->cap *= 2;
  }
  p->hits[p->n_hits++] = (SiamPair){a, b, score};
  return 0;
}

/* Rows [i0, i0+bi) against [j0, j0+bj): candidates rescored exactly. */
static int scan_tile(SiamPairs *p, int64_t i0, int bi, int64_t j0, int bj) {
  const float lo = p->lo;
  for (int i = 0; i < bi; i++) {
    const float *row = p->c + (size_t)i * bj;
    int j = i0 == j0 ? i + 1 : 0;  /* diagonal tile: upper triangle only */
    for (; j < bj; j++) {
      /* Eight at a time: almost every block has no candidate. */
      if (j % 8 == 0 && j + 8 <= bj) {
        int any = 0;
        for (int u = 0; u < 8; u++) any |= row[j + u] >= lo;
        if (!any) {
          j += 7;
          continue;
        }
      }
      if (row[j] < lo) continue;
      int64_t a = i0 + i, b = j0 + j;
      double s = siam_vec_cosine(p->x + a * p->dim, p->x + b * p->dim, (size_t)p->dim);
      if (s >= p->threshold && add_hit(p, a, b, s)) return -1;
    }
  }
  return 0;
}

int siam_pairs_next(SiamPairs *p, const SiamPair **hits, int64_t *count) {
  p->n_hits = 0;
  if (p->ti >= p->n) return 0;
  int64_t i0 = p->ti, j0 = p->tj;
  int bi = (int)(p->n - i0 < TILE ? p->n - i0 : TILE);
  int bj = (int)(p->n - j0 < TILE ? p->n - j0 : TILE);
  /* xt (dim, bj) = the tile's columns, transposed. */
  for (int j = 0; j < bj; j++)
    for (int d = 0; d < p->dim; d++) p->xt[(size_t)d * bj + j] = p->xn[(j0 + j) * p->dim + d];
  /* On the diagonal only the upper triangle is wanted: compute it in strips
  ** of rows, each from its own diagonal on (5/8 of the tile for 4 strips). */
  int strips = i0 == j0 ? DIAG_STRIPS : 1, h = (bi + strips - 1) / strips;
  for (int r = 0; r < bi; r += h) {
    int rows = bi - r < h ? bi - r : h, c0 = i0 == j0 ? r : 0;
    siam_matmul_mt(p->c + (size_t)r * bj + c0, bj, p->xn + (i0 + r) * p->dim, p->dim, p->xt + c0, bj, rows, p->dim,
                   bj - c0);
  }
  if (scan_tile(p, i0, bi, j0, bj)) return -1;
  p->tj += TILE;
  if (p->tj >= p->n) {
    p->ti += TILE;
    p->tj = p->ti;
  }
  *hits = p->hits;
  *count = p->n_hits;
  return 1;
}
