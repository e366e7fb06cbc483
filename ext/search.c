/*
** search.c — hybrid search: the model's dense ranking of a table fused with
** FTS5 bm25's, in one call.
**
**   CREATE VIRTUAL TABLE passages_fts USING fts5(body, content='passages', content_rowid='rowid');
**   INSERT INTO passages_fts(passages_fts) VALUES('rebuild');
**
**   SELECT p.body, s.score
**     FROM siam_search('passages', 'body', 'emb', 'default', 'extract files from archives', 10) AS s
**     JOIN passages AS p ON p.rowid = s.rowid
**    ORDER BY s.score DESC;
**
**   siam_fts_query('Extract files, from archives')  ->  '"Extract" OR "files" OR "from" OR "archives"'
**
** Columns: rowid, score (the fused score), dense_rank and bm25_rank (1 = best;
** NULL when the row is not among that ranking's best `depth`).
**
** How it works.  The two rankings are taken over the same rows:
**   - dense: the query's embedding (the model, as siam_embed gives it) against
**     the embedding column, the best `depth` by cosine, exactly as
**     siam_nearest(table, embedding_column, query, depth) returns them;
**   - bm25: the FTS5 table whose content is `table` and which indexes
**     text_column, queried with siam_fts_query(query) (the query's words,
**     each quoted, OR-ed), the best `depth` by bm25() then rowid;
** then fused by reciprocal rank fusion (model/fusion.h) with the parameters
** stored in the model's config ("search": k, dense_weight, depth; fitted on
** training data for the shipped model; k 60, weight 0.5, depth 100 when the
** config has none), best score first, ties by rowid; the first k rows.  The
** README gives the same computation as plain SQL.
**
** DIRECTONLY, like siam_nearest: it reads tables named by strings.
*/
#include <stdio.h>
#include <string.h>

#include "../model/fusion.h"
#include "../model/vecsearch.h"
#include "stop.h"
#include "vtab.h"

static const char *FN = "siam_search";

#define MAX_TERMS 32   /* query words given to FTS5 */
#define MAX_K 100000

enum { COL_ROWID, COL_SCORE, COL_DENSE_RANK, COL_BM25_RANK, COL_TABLE, COL_TEXT, COL_EMB, COL_MODEL, COL_QUERY, COL_K };

typedef struct {
  sqlite3_vtab base;
  sqlite3 *db;
  SiamConn *conn;         /* the connection's state: models, kept vectors; not owned */
} SearchVtab;

typedef struct {
  sqlite3_vtab_cursor base;
  SiamFused *rows;        /* (n) best first */
  int n, pos;
} SearchCursor;

/* ---- siam_fts_query(text) ---------------------------------------------------- */

static int word_byte(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static int same_word_nocase(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x >= 'A' && x <= 'Z') x += 32;
    if (y >= 'A' && y <= 'Z') y += 32;
    if (x != y) return 0;
  }
  return 1;
}

/* The FTS5 query for text: its words (runs of ASCII letters, digits, '_' and
** any non-ASCII bytes), each once (ASCII case ignored), at most MAX_TERMS,
** double-quoted and OR-ed; NULL when it has none.  sqlite3_free it. */
static char *fts_query(const char *text, size_t n) {
  const char *start[MAX_TERMS];
  size_t len[MAX_TERMS];
  int terms = 0;
  for (size_t i = 0; i < n && terms < MAX_TERMS;) {
    if (!word_byte((unsigned char)text[i])) {
      i++;
      continue;
    }
    size_t j = i;
    while (j < n && word_byte((unsigned char)text[j])) j++;
    int seen = 0;
    for (int t = 0; t < terms && !seen; t++) seen = len[t] == j - i && same_word_nocase(start[t], text + i, j - i);
    if (!seen) {
      start[terms] = text + i;
      len[terms++] = j - i;
    }
    i = j;
  }
  if (!terms) return NULL;
  sqlite3_str *s = sqlite3_str_new(NULL);
  for (int t = 0; t < terms; t++) {
    sqlite3_str_appendall(s, t ? " OR \"" : "\"");
    sqlite3_str_appendf(s, "%.*s", (int)len[t], start[t]);  /* a word holds no '"' */
    sqlite3_str_appendchar(s, 1, '"');
  }
  return sqlite3_str_finish(s);
}

void fn_fts_query(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const char *text;
  char err[SIAM_ERRMAX];
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  if (arg_text(argv[0], "text", &text, err) != SQLITE_OK) {
    char *msg = sqlite3_mprintf("siam_fts_query: %s", err);
    sqlite3_result_error(ctx, msg ? msg : "out of memory", -1);
    sqlite3_free(msg);
    return;
  }
  char *q = fts_query(text, (size_t)sqlite3_value_bytes(argv[0]));
  if (q) sqlite3_result_text(ctx, q, -1, sqlite3_free);
}

/* ---- the FTS5 index of a table ------------------------------------------------- */

static int ident_byte(char c) { return c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'); }

/* Whether an fts5 table's CREATE text says content=<table> (quoted or not;
** content_rowid and the like are other options). */
static int content_is(const char *sql, const char *table) {
  size_t tn = strlen(table);
  for (const char *p = sql; *p; p++) {
    if (sqlite3_strnicmp(p, "content", 7) != 0 || (p > sql && ident_byte(p[-1])) || ident_byte(p[7])) continue;
    const char *q = p + 7;
    while (*q == ' ') q++;
    if (*q++ != '=') continue;
    while (*q == ' ') q++;
    char open = *q, close = open == '[' ? ']' : open;
    int quoted = open == '\'' || open == '"' || open == '[' || open == '`';
    q += quoted;
    if (sqlite3_strnicmp(q, table, (int)tn) == 0 && (quoted ? q[tn] == close : !ident_byte(q[tn]))) return 1;
  }
  return 0;
}

/* The name of an FTS5 table with content=table that has a column text_col;
** NULL (and *rc) when there is none. */
static char *find_fts(SearchVtab *v, const char *table, const char *text_col, int *rc) {
  sqlite3_stmt *st = NULL;
  char *found = NULL;
  *rc = sqlite3_prepare_v2(v->db,
                           "SELECT s.name, s.sql FROM sqlite_schema AS s WHERE s.type = 'table'"
                           " AND s.sql LIKE 'CREATE VIRTUAL TABLE%' AND lower(s.sql) LIKE '%using fts5%'"
                           " AND EXISTS (SELECT 1 FROM pragma_table_info(s.name) AS c WHERE c.name = ?1 COLLATE NOCASE)"
                           " ORDER BY s.name",
                           -1, &st, NULL);
  if (*rc != SQLITE_OK) return NULL;
  sqlite3_bind_text(st, 1, text_col, -1, SQLITE_STATIC);
  int step;
  while (!found && (step = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0), *sql = (const char *)sqlite3_column_text(st, 1);
    if (name && sql && content_is(sql, table)) found = sqlite3_mprintf("%s", name);
  }
  *rc = found || step == SQLITE_DONE ? SQLITE_OK : sqlite3_extended_errcode(v->db);
  sqlite3_finalize(st);
  return found;
}

/* The best `depth` rowids by bm25 for the query; *n of them. */
static int bm25_ranking(SearchVtab *v, const char *fts, const char *query, size_t qlen, int depth, int64_t **ids,
                        int *n) {
  *n = 0;
  *ids = NULL;
  char *match = fts_query(query, qlen);
  if (!match) return SQLITE_OK;  /* no words: no bm25 ranking */
  char *sql = sqlite3_mprintf("SELECT rowid FROM \"%w\" WHERE \"%w\" MATCH ?1 ORDER BY bm25(\"%w\"), rowid LIMIT ?2",
                              fts, fts, fts);
  sqlite3_stmt *st = NULL;
  int rc = sql ? sqlite3_prepare_v2(v->db, sql, -1, &st, NULL) : SQLITE_NOMEM;
  sqlite3_free(sql);
  if (rc == SQLITE_OK && !(*ids = sqlite3_malloc64((sqlite3_uint64)depth * sizeof **ids))) rc = SQLITE_NOMEM;
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, depth);
    int step;
    while (*n < depth && (step = sqlite3_step(st)) == SQLITE_ROW) (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    if (*n < depth && step != SQLITE_DONE) rc = vtab_fail_db(&v->base, v->db, FN);
  } else if (rc != SQLITE_NOMEM) {
    rc = vtab_fail_db(&v->base, v->db, FN);
  }
  sqlite3_finalize(st);
  sqlite3_free(match);
  return rc;
}

/* ---- the dense ranking ------------------------------------------------------------- */

/* The query's embedding by the model, and the search parameters it carries. */
static int embed_query(SearchVtab *v, const char *model, const char *query, size_t qlen, float **q, int *dim,
                       SiamSearchConfig *params) {
  char err[SIAM_ERRMAX];
  CacheEntry *cm = NULL;
  StopScope s;
  stop_begin(&s, v->db);
  int rc = cache_get(v->conn->models, v->db, model, &cm, err);
  if (rc == SQLITE_OK) {
    SiamModel *m = cache_entry_model(cm);
    *dim = siam_model_dim(m);
    *params = siam_model_config(m)->search;
    *q = sqlite3_malloc64((sqlite3_uint64)*dim * sizeof **q);
    if (!*q) rc = SQLITE_NOMEM;
    else if (cache_entry_embed(cm, query, qlen, *q)) rc = siam_stop_was_requested() ? SQLITE_INTERRUPT : SQLITE_NOMEM;
    if (rc == SQLITE_INTERRUPT) snprintf(err, sizeof err, "interrupted");
    if (rc == SQLITE_NOMEM) snprintf(err, sizeof err, "out of memory");
  }
  stop_end(&s);
  cache_entry_release(cm);
  return rc == SQLITE_OK ? SQLITE_OK : vtab_fail_code(&v->base, rc, FN, "%s", err);
}

/* The best `depth` rowids by cosine, as siam_nearest gives them. */
static int dense_ranking(SearchVtab *v, sqlite3_value *table, sqlite3_value *column, const float *q, int dim,
                         int depth, int64_t **ids, int *n) {
  VecSnap *snap = NULL;
  SiamTopK *t = NULL;
  char err[SIAM_ERRMAX];
  *n = 0;
  *ids = NULL;
  int rc = vecsnap_get(v->conn->vectors, &v->base, v->db, FN, table, column, &snap);
  if (rc != SQLITE_OK || snap->n == 0) goto done;
  if (snap->dim != dim) {
    rc = vtab_fail(&v->base, FN, "the model gives %d floats, column %s holds vectors of %d", dim, snap->column,
                   snap->dim);
    goto done;
  }
  if (!(t = siam_topk_new(q, dim, depth, err))) {
    rc = vtab_fail(&v->base, FN, "%s", err);
    goto done;
  }
  if (siam_topk_add_rows(t, snap->x, snap->inv, snap->rowids, snap->n)) {
    rc = SQLITE_NOMEM;
    goto done;
  }
  int count = siam_topk_finish(t);
  if (!(*ids = sqlite3_malloc64((sqlite3_uint64)(count ? count : 1) * sizeof **ids))) {
    rc = SQLITE_NOMEM;
    goto done;
  }
  for (int i = 0; i < count; i++) {
    double score;
    siam_topk_get(t, i, &(*ids)[i], &score);
  }
  *n = count;
done:
  siam_topk_free(t);
  vecsnap_release(snap);
  return rc;
}

/* ---- the module ------------------------------------------------------------------- */

static int search_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                          char **err) {
  (void)argc, (void)argv, (void)err;
  int rc = sqlite3_declare_vtab(db,
                                "CREATE TABLE x(rowid INTEGER, score REAL, dense_rank INTEGER, bm25_rank INTEGER,"
                                " tbl HIDDEN, text_column HIDDEN, embedding_column HIDDEN, model HIDDEN,"
                                " query HIDDEN, k HIDDEN)");
  if (rc == SQLITE_OK) rc = sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  if (rc != SQLITE_OK) return rc;
  SearchVtab *v = sqlite3_malloc(sizeof *v);
  if (!v) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->db = db;
  v->conn = aux;
  *out = &v->base;
  return SQLITE_OK;
}

static int search_disconnect(sqlite3_vtab *vtab) {
  sqlite3_free(vtab);
  return SQLITE_OK;
}

static int search_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info) {
  int rc = vtab_best_index_args(vtab, info, COL_TABLE, 6, FN,
                                "table, text column, embedding column, model, query, k");
  if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn == COL_SCORE && info->aOrderBy[0].desc)
    info->orderByConsumed = 1;
  info->estimatedCost = 1e8;
  info->estimatedRows = 10;
  return rc;
}

static int search_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out) {
  (void)vtab;
  return vtab_open_cursor(sizeof(SearchCursor), out);
}

static int search_close(sqlite3_vtab_cursor *cur) {
  sqlite3_free(((SearchCursor *)cur)->rows);
  sqlite3_free(cur);
  return SQLITE_OK;
}

static int text_arg(SearchVtab *v, sqlite3_value *arg, const char *what, const char **out) {
  char err[SIAM_ERRMAX];
  int rc = arg_text(arg, what, out, err);
  return rc == SQLITE_OK ? rc : vtab_fail_code(&v->base, rc, FN, "%s", err);
}

/* argv: table, text column, embedding column, model, query, k. */
static int search_filter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str, int argc, sqlite3_value **argv) {
  (void)idx_num, (void)idx_str, (void)argc;
  SearchCursor *c = (SearchCursor *)cur;
  SearchVtab *v = (SearchVtab *)cur->pVtab;
  sqlite3_free(c->rows);
  c->rows = NULL;
  c->n = c->pos = 0;
  const char *table, *text_col, *emb_col, *model, *query;
  int rc = text_arg(v, argv[0], "table name", &table);
  if (rc == SQLITE_OK) rc = text_arg(v, argv[1], "text column", &text_col);
  if (rc == SQLITE_OK) rc = text_arg(v, argv[2], "embedding column", &emb_col);
  if (rc == SQLITE_OK) rc = text_arg(v, argv[3], "model name", &model);
  if (rc != SQLITE_OK) return rc;
  if (sqlite3_value_type(argv[4]) == SQLITE_NULL) return SQLITE_OK;  /* a NULL query finds nothing */
  if ((rc = text_arg(v, argv[4], "query", &query)) != SQLITE_OK) return rc;
  sqlite3_int64 k;
  char err[SIAM_ERRMAX];
  if (arg_int(argv[5], "k", 1, MAX_K, &k, err) != SQLITE_OK) return vtab_fail(&v->base, FN, "%s", err);
  size_t qlen = (size_t)sqlite3_value_bytes(argv[4]);

  char *fts = find_fts(v, table, text_col, &rc);
  if (rc != SQLITE_OK) return vtab_fail_db(&v->base, v->db, FN);
  if (!fts)
    return vtab_fail(&v->base, FN,
                     "no FTS5 index on %s(%s); create one with: CREATE VIRTUAL TABLE %s_fts USING fts5(%s,"
                     " content='%s', content_rowid='rowid'); INSERT INTO %s_fts(%s_fts) VALUES('rebuild');",
                     table, text_col, table, text_col, table, table, table);
  float *q = NULL;
  int dim = 0, n_dense = 0, n_bm25 = 0;
  int64_t *dense = NULL, *bm25 = NULL;
  SiamSearchConfig params;
  rc = embed_query(v, model, query, qlen, &q, &dim, &params);
  if (rc == SQLITE_OK) rc = dense_ranking(v, argv[0], argv[2], q, dim, params.depth, &dense, &n_dense);
  if (rc == SQLITE_OK) rc = bm25_ranking(v, fts, query, qlen, params.depth, &bm25, &n_bm25);
  if (rc == SQLITE_OK && !(c->rows = sqlite3_malloc64((sqlite3_uint64)(n_dense + n_bm25 + 1) * sizeof *c->rows)))
    rc = SQLITE_NOMEM;
  if (rc == SQLITE_OK) {
    int n = siam_rrf_fuse(&params, dense, n_dense, bm25, n_bm25, c->rows);
    c->n = n < k ? n : (int)k;
  }
  sqlite3_free(fts);
  sqlite3_free(q);
  sqlite3_free(dense);
  sqlite3_free(bm25);
  return rc;
}

static int search_next(sqlite3_vtab_cursor *cur) {
  ((SearchCursor *)cur)->pos++;
  return SQLITE_OK;
}

static int search_eof(sqlite3_vtab_cursor *cur) {
  SearchCursor *c = (SearchCursor *)cur;
  return c->pos >= c->n;
}

static int search_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  SearchCursor *c = (SearchCursor *)cur;
  const SiamFused *r = &c->rows[c->pos];
  if (col == COL_ROWID) sqlite3_result_int64(ctx, r->rowid);
  else if (col == COL_SCORE) sqlite3_result_double(ctx, r->score);
  else if (col == COL_DENSE_RANK && r->dense_rank) sqlite3_result_int(ctx, r->dense_rank);
  else if (col == COL_BM25_RANK && r->bm25_rank) sqlite3_result_int(ctx, r->bm25_rank);
  else sqlite3_result_null(ctx);
  return SQLITE_OK;
}

static int search_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid) {
  SearchCursor *c = (SearchCursor *)cur;
  *rowid = c->rows[c->pos].rowid;
  return SQLITE_OK;
}

const sqlite3_module search_module = {
    .iVersion = 0,
    .xConnect = search_connect,  /* eponymous-only: no xCreate */
    .xBestIndex = search_best_index,
    .xDisconnect = search_disconnect,
    .xOpen = search_open,
    .xClose = search_close,
    .xFilter = search_filter,
    .xNext = search_next,
    .xEof = search_eof,
    .xColumn = search_column,
    .xRowid = search_rowid,
};
