/*
** nearest.c — similarity search over a table of stored embeddings.
**
**   -- the 10 passages closest to a query, best first
**   SELECT p.rowid, p.body, n.score
**     FROM siam_nearest('passages', 'emb', siam_embed('mini', 'cheap flights'), 10) AS n
**     JOIN passages AS p ON p.rowid = n.rowid;
**
**   -- every pair of near-duplicates (rowid_a < rowid_b)
**   SELECT a.body, b.body, d.score
**     FROM siam_pairs('passages', 'emb', 0.9) AS d
**     JOIN passages AS a ON a.rowid = d.rowid_a
**     JOIN passages AS b ON b.rowid = d.rowid_b
**    ORDER BY d.score DESC;
**
** The column holds float32 BLOBs (siam_embed's output); NULLs are skipped.
** Scores are cosines, exactly as siam_similarity(a, b) computes them, and the
** results are exactly those of the plain queries
**
**   SELECT rowid, siam_similarity(emb, :q) AS score FROM passages
**    WHERE emb IS NOT NULL ORDER BY score DESC LIMIT :k;
**   SELECT a.rowid, b.rowid, siam_similarity(a.emb, b.emb) AS score FROM passages a, passages b
**    WHERE a.rowid < b.rowid AND score >= :threshold;
**
** (ties for the k-th place aside) without calling a function per row or per
** pair: the column is read into memory once (vecsnap.c, which keeps it for
** the next statement while the data is unchanged), then model/vecsearch.c
** scores it: one pass of dot products per query for siam_nearest, tiles of
** the n x n product (siamsql's own matrix kernel) for siam_pairs, yielded
** tile by tile (n * dim floats more for a normalized copy).
**
** DIRECTONLY: they read a table named by a string, so a view or trigger in a
** database someone else wrote cannot use them.  Table and column are quoted
** as identifiers (a table of another attached schema is not reachable).
*/
#include <math.h>
#include <string.h>

#include "../model/vecsearch.h"
#include "vtab.h"

/* k beyond this is a full sort: use ORDER BY siam_similarity(...) instead. */
#define MAX_K (1 << 24)

typedef struct {
  sqlite3_vtab base;
  sqlite3 *db;
  VecSnapSlot *slot;    /* the connection's kept snapshot, shared by both modules */
} NearVtab;

static int near_disconnect(sqlite3_vtab *vtab) {
  sqlite3_free(vtab);
  return SQLITE_OK;
}

static int near_connect_as(sqlite3 *db, SiamConn *conn, const char *schema, sqlite3_vtab **out) {
  int rc = sqlite3_declare_vtab(db, schema);
  if (rc == SQLITE_OK) rc = sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  if (rc != SQLITE_OK) return rc;
  NearVtab *v = sqlite3_malloc(sizeof *v);
  if (!v) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->db = db;
  v->slot = conn->vectors;
  *out = &v->base;
  return SQLITE_OK;
}

/* ---- siam_nearest(table, column, query, k) -> (rowid, score) ---------------------- */

static const char *NEAREST = "siam_nearest";

enum { NEAR_ROWID, NEAR_SCORE, NEAR_TABLE, NEAR_COLUMN, NEAR_QUERY, NEAR_K };

typedef struct {
  sqlite3_vtab_cursor base;
  int n, pos;               /* results [0, n), current pos */
  sqlite3_int64 *rowids;    /* (n) best first */
  double *scores;           /* (n) */
} NearCursor;

static int near_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                        char **err) {
  (void)argc;
  (void)argv;
  (void)err;
  return near_connect_as(db, aux, "CREATE TABLE x(rowid INTEGER, score REAL, tbl HIDDEN, col HIDDEN, query HIDDEN, k HIDDEN)",
                        out);
}

static int near_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info) {
  int rc = vtab_best_index_args(vtab, info, NEAR_TABLE, 4, NEAREST, "table, column, query vector, k");
  /* Results come out best first. */
  if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn == NEAR_SCORE && info->aOrderBy[0].desc)
    info->orderByConsumed = 1;
  info->estimatedCost = 1e8;  /* reads the whole table: outermost in any join */
  info->estimatedRows = 10;
  return rc;
}

static int near_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out) {
  (void)vtab;
  return vtab_open_cursor(sizeof(NearCursor), out);
}

static void near_reset(NearCursor *c) {
  sqlite3_free(c->rowids);
  sqlite3_free(c->scores);
  c->rowids = NULL;
  c->scores = NULL;
  c->n = c->pos = 0;
}

static int near_close(sqlite3_vtab_cursor *cur) {
  near_reset((NearCursor *)cur);
  sqlite3_free(cur);
  return SQLITE_OK;
}

/* The query vector, copied so it is aligned; NULL query: *q stays NULL. */
static int query_arg(NearVtab *v, sqlite3_value *arg, float **q, int *dim) {
  if (sqlite3_value_type(arg) == SQLITE_NULL) return SQLITE_OK;
  const float *p;
  char err[SIAM_ERRMAX];
  if (arg_vector(arg, "query", &p, dim, err) != SQLITE_OK) return vtab_fail(&v->base, NEAREST, "%s", err);
  *q = sqlite3_malloc64((sqlite3_uint64)*dim * sizeof **q);
  if (!*q) return SQLITE_NOMEM;
  memcpy(*q, p, (size_t)*dim * sizeof **q);
  return SQLITE_OK;
}

static int k_arg(NearVtab *v, sqlite3_value *arg, int *k) {
  sqlite3_int64 x;
  char err[SIAM_ERRMAX];
  if (arg_int(arg, "k", 1, MAX_K, &x, err) != SQLITE_OK) return vtab_fail(&v->base, NEAREST, "%s", err);
  *k = (int)x;
  return SQLITE_OK;
}

/* argv: table, column, query, k. */
static int near_filter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str, int argc, sqlite3_value **argv) {
  (void)idx_num;
  (void)idx_str;
  (void)argc;
  NearCursor *c = (NearCursor *)cur;
  NearVtab *v = (NearVtab *)cur->pVtab;
  near_reset(c);
  float *q = NULL;
  int dim = 0, k = 0;
  VecSnap *snap = NULL;
  SiamTopK *t = NULL;
  char err[SIAM_ERRMAX];
  int rc = query_arg(v, argv[2], &q, &dim);
  if (rc == SQLITE_OK) rc = k_arg(v, argv[3], &k);
  if (rc == SQLITE_OK) rc = vecsnap_get(v->slot, &v->base, v->db, NEAREST, argv[0], argv[1], &snap);
  if (rc != SQLITE_OK || !q || snap->n == 0) goto done;  /* a NULL query finds nothing */
  if (snap->dim != dim) {
    rc = vtab_fail(&v->base, NEAREST, "the query has %d floats, column %s holds vectors of %d", dim, snap->column,
                   snap->dim);
    goto done;
  }
  t = siam_topk_new(q, dim, k, err);
  if (!t) {
    rc = vtab_fail(&v->base, NEAREST, "%s", err);
    goto done;
  }
  if (siam_topk_add_rows(t, snap->x, snap->inv, snap->rowids, snap->n)) {
    rc = SQLITE_NOMEM;
    goto done;
  }
  int n = siam_topk_finish(t);
  c->rowids = sqlite3_malloc64((sqlite3_uint64)(n ? n : 1) * sizeof *c->rowids);
  c->scores = sqlite3_malloc64((sqlite3_uint64)(n ? n : 1) * sizeof *c->scores);
  if (!c->rowids || !c->scores) {
    rc = SQLITE_NOMEM;
    goto done;
  }
  for (int i = 0; i < n; i++) {
    int64_t id;
    siam_topk_get(t, i, &id, &c->scores[i]);
    c->rowids[i] = id;
  }
  c->n = n;
done:
  siam_topk_free(t);
  vecsnap_release(snap);
  sqlite3_free(q);
  return rc;
}

static int near_next(sqlite3_vtab_cursor *cur) {
  ((NearCursor *)cur)->pos++;
  return SQLITE_OK;
}

static int near_eof(sqlite3_vtab_cursor *cur) {
  NearCursor *c = (NearCursor *)cur;
  return c->pos >= c->n;
}

static int near_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  NearCursor *c = (NearCursor *)cur;
  if (col == NEAR_ROWID) sqlite3_result_int64(ctx, c->rowids[c->pos]);
  else if (col == NEAR_SCORE) sqlite3_result_double(ctx, c->scores[c->pos]);
  else sqlite3_result_null(ctx);  /* hidden arguments are not kept */
  return SQLITE_OK;
}

static int near_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid) {
  NearCursor *c = (NearCursor *)cur;
  *rowid = c->rowids[c->pos];
  return SQLITE_OK;
}

const sqlite3_module nearest_module = {
    .iVersion = 0,
    .xCreate = NULL,  /* eponymous-only */
    .xConnect = near_connect,
    .xBestIndex = near_best_index,
    .xDisconnect = near_disconnect,
    .xOpen = near_open,
    .xClose = near_close,
    .xFilter = near_filter,
    .xNext = near_next,
    .xEof = near_eof,
    .xColumn = near_column,
    .xRowid = near_rowid,
};

/* ---- siam_pairs(table, column, threshold) -> (rowid_a, rowid_b, score) ------------- */

static const char *PAIRS = "siam_pairs";

enum { PAIR_A, PAIR_B, PAIR_SCORE, PAIR_TABLE, PAIR_COLUMN, PAIR_THRESHOLD };

typedef struct {
  sqlite3_vtab_cursor base;
  VecSnap *snap;            /* the vectors: x and rowids */
  SiamPairs *search;        /* NULL once every tile is done */
  const SiamPair *hits;     /* the current tile's pairs [0, n_hits) */
  int64_t n_hits, pos;
  sqlite3_int64 rowid;      /* position of the current pair, from 1 */
} PairsCursor;

static int pairs_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                         char **err) {
  (void)argc;
  (void)argv;
  (void)err;
  return near_connect_as(
      db, aux, "CREATE TABLE x(rowid_a INTEGER, rowid_b INTEGER, score REAL, tbl HIDDEN, col HIDDEN, threshold HIDDEN)",
      out);
}

static int pairs_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info) {
  int rc = vtab_best_index_args(vtab, info, PAIR_TABLE, 3, PAIRS, "table, column, threshold");
  info->estimatedCost = 1e12;  /* n^2: outermost in any join */
  info->estimatedRows = 1000;
  return rc;
}

static int pairs_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out) {
  (void)vtab;
  return vtab_open_cursor(sizeof(PairsCursor), out);
}

static void pairs_reset(PairsCursor *c) {
  siam_pairs_free(c->search);
  vecsnap_release(c->snap);
  memset((char *)c + sizeof c->base, 0, sizeof *c - sizeof c->base);
}

static int pairs_close(sqlite3_vtab_cursor *cur) {
  pairs_reset((PairsCursor *)cur);
  sqlite3_free(cur);
  return SQLITE_OK;
}

/* Moves to the next pair, computing tiles until one has pairs or none is left. */
static int pairs_advance(PairsCursor *c) {
  if (++c->pos < c->n_hits) return SQLITE_OK;
  c->pos = c->n_hits = 0;
  while (c->search && c->n_hits == 0) {
    int rc = siam_pairs_next(c->search, &c->hits, &c->n_hits);
    if (rc < 0) return SQLITE_NOMEM;
    if (rc == 0) {
      siam_pairs_free(c->search);
      c->search = NULL;
      c->n_hits = 0;
    }
  }
  return SQLITE_OK;
}

/* argv: table, column, threshold. */
static int pairs_filter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str, int argc, sqlite3_value **argv) {
  (void)idx_num;
  (void)idx_str;
  (void)argc;
  PairsCursor *c = (PairsCursor *)cur;
  NearVtab *v = (NearVtab *)cur->pVtab;
  pairs_reset(c);
  double threshold;
  char err[SIAM_ERRMAX];
  if (sqlite3_value_type(argv[2]) == SQLITE_NULL) return SQLITE_OK;  /* no pairs */
  if (arg_number(argv[2], "threshold", &threshold, err) != SQLITE_OK) return vtab_fail(&v->base, PAIRS, "%s", err);
  int rc = vecsnap_get(v->slot, &v->base, v->db, PAIRS, argv[0], argv[1], &c->snap);
  if (rc != SQLITE_OK || c->snap->n < 2) return rc;

  int64_t bad;
  c->search = siam_pairs_new(c->snap->x, c->snap->n, c->snap->dim, threshold, &bad, err);
  if (!c->search) {
    if (bad >= 0) return vtab_fail(&v->base, PAIRS, "rowid %lld holds NaN or infinite values",
                       (sqlite3_int64)c->snap->rowids[bad]);
    return vtab_fail(&v->base, PAIRS, "%s", err);
  }
  c->pos = -1;
  c->rowid = 1;
  return pairs_advance(c);
}

static int pairs_next(sqlite3_vtab_cursor *cur) {
  PairsCursor *c = (PairsCursor *)cur;
  c->rowid++;
  return pairs_advance(c);
}

static int pairs_eof(sqlite3_vtab_cursor *cur) {
  PairsCursor *c = (PairsCursor *)cur;
  return c->pos >= c->n_hits;
}

static int pairs_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  PairsCursor *c = (PairsCursor *)cur;
  const SiamPair *h = &c->hits[c->pos];
  sqlite3_int64 a = c->snap->rowids[h->a], b = c->snap->rowids[h->b];
  if (col == PAIR_A) sqlite3_result_int64(ctx, a < b ? a : b);
  else if (col == PAIR_B) sqlite3_result_int64(ctx, a < b ? b : a);
  else if (col == PAIR_SCORE) sqlite3_result_double(ctx, h->score);
  else sqlite3_result_null(ctx);
  return SQLITE_OK;
}

static int pairs_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid) {
  *rowid = ((PairsCursor *)cur)->rowid;
  return SQLITE_OK;
}

const sqlite3_module pairs_module = {
    .iVersion = 0,
    .xCreate = NULL,  /* eponymous-only */
    .xConnect = pairs_connect,
    .xBestIndex = pairs_best_index,
    .xDisconnect = near_disconnect,
    .xOpen = pairs_open,
    .xClose = pairs_close,
    .xFilter = pairs_filter,
    .xNext = pairs_next,
    .xEof = pairs_eof,
    .xColumn = pairs_column,
    .xRowid = pairs_rowid,
};
