/*
** embed_each.c — siam_embed_each(model, sql): embeds every row of a query,
** in batches.
**
**   SELECT id, embedding FROM siam_embed_each('mini', 'SELECT rowid, body FROM passages');
**
**   UPDATE passages SET emb = e.embedding
**     FROM siam_embed_each('mini', 'SELECT rowid, body FROM passages WHERE emb IS NULL') AS e
**    WHERE passages.rowid = e.id;
**
**   INSERT INTO vectors(id, emb) SELECT id, embedding FROM siam_embed_each('mini', 'SELECT id, body FROM docs');
**
** The query's first column comes back unchanged as `id`; its second is the
** text (TEXT, or a BLOB taken as raw bytes, as siam_embed takes it).  A NULL
** text gives a NULL embedding.  Each embedding is exactly what
** siam_embed(model, text) returns for that row.
**
** How it works.  siam_embed is called once per row and cannot batch.  Here
** xFilter prepares the query and reads a chunk of rows (up to CHUNK rows or
** CHUNK_BYTES of text), embeds the chunk with one siam_model_embed_batch call
** (packed into long sequences, on all cores), and yields it in the query's
** order; when the chunk runs out, xNext reads the next one.
**
** One snapshot: xFilter steps the query once before it looks the model up,
** so when the model tables and the query's tables share a database, the
** model is read in the query's own read transaction.  Embedding stops at
** sqlite3_interrupt() (stop.h).
**
** DIRECTONLY: it runs SQL text given as an argument, so it must never run
** from a view or trigger in a database someone else wrote.  The query must be
** a single read-only statement.
*/
#include <string.h>

#include "stop.h"
#include "vtab.h"

#define CHUNK 512                    /* rows embedded per siam_model_embed_batch call */
#define CHUNK_BYTES ((size_t)4 << 20) /* or fewer, once their texts reach this */

static const char *FN = "siam_embed_each";

enum { COL_ID, COL_EMBEDDING, COL_MODEL, COL_SQL };

typedef struct {
  sqlite3_vtab base;
  sqlite3 *db;
  SiamConn *conn;      /* the connection's state; not owned */
} EachVtab;

typedef struct {
  sqlite3_vtab_cursor base;
  CacheEntry *cm;     /* held while the cursor runs */
  sqlite3_stmt *query; /* the user's query, NULL once exhausted */
  int pending;         /* the query has stepped to a row not yet read */
  sqlite3_int64 n_read;/* rows read so far, for error messages */
  sqlite3_int64 rowid; /* position of the current row, from 1 */
  int dim;
  /* The current chunk: rows [0, n), current row pos. */
  int n, pos;
  sqlite3_value *ids[CHUNK];   /* first column of each row, copied */
  int batch[CHUNK];            /* row i's index in emb, or -1 for a NULL text */
  size_t off[CHUNK], len[CHUNK];
  char *text;                  /* (text_cap) the chunk's texts, back to back */
  size_t text_cap;
  float *emb;                  /* (CHUNK, dim) embeddings of the non-NULL texts */
} EachCursor;

static int each_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                        char **err) {
  (void)argc;
  (void)argv;
  (void)err;
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(id, embedding BLOB, model HIDDEN, sql HIDDEN)");
  if (rc == SQLITE_OK) rc = sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  if (rc != SQLITE_OK) return rc;
  EachVtab *v = sqlite3_malloc(sizeof *v);
  if (!v) return SQLITE_NOMEM;
  memset(v, 0, sizeof *v);
  v->db = db;
  v->conn = aux;
  *out = &v->base;
  return SQLITE_OK;
}

static int each_disconnect(sqlite3_vtab *vtab) {
  sqlite3_free(vtab);
  return SQLITE_OK;
}

static int each_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info) {
  int rc = vtab_best_index_args(vtab, info, COL_MODEL, 2, FN, "model name and SQL text");
  /* Running it is expensive (it embeds every row): never as the inner loop
  ** of a join if any other order will do. */
  info->estimatedCost = 1e9;
  info->estimatedRows = 100000;
  return rc;
}

static int each_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out) {
  (void)vtab;
  return vtab_open_cursor(sizeof(EachCursor), out);
}

static void clear_chunk(EachCursor *c) {
  for (int i = 0; i < c->n; i++) sqlite3_value_free(c->ids[i]);  /* NULL-safe */
  c->n = c->pos = 0;
}

static void reset(EachCursor *c) {
  clear_chunk(c);
  sqlite3_finalize(c->query);
  c->query = NULL;
  c->pending = 0;
  cache_entry_release(c->cm);
  c->cm = NULL;
  sqlite3_free(c->emb);
  c->emb = NULL;
  c->n_read = c->rowid = 0;
}

static int each_close(sqlite3_vtab_cursor *cur) {
  EachCursor *c = (EachCursor *)cur;
  reset(c);
  sqlite3_free(c->text);
  sqlite3_free(c);
  return SQLITE_OK;
}

/* Appends n bytes to the chunk's text buffer at *off. */
static int keep_text(EachCursor *c, size_t used, const void *p, size_t n, size_t *off) {
  if (used + n + 1 > c->text_cap) {
    size_t cap = c->text_cap ? c->text_cap : 1 << 16;
    while (cap < used + n + 1) cap *= 2;
    char *t = sqlite3_realloc64(c->text, cap);
    if (!t) return SQLITE_NOMEM;
    c->text = t;
    c->text_cap = cap;
  }
  if (n) memcpy(c->text + used, p, n);
  *off = used;
  return SQLITE_OK;
}

/* Reads one row of the query into slot i. */
static int read_row(EachCursor *c, int i, size_t *used) {
  sqlite3_vtab *vtab = c->base.pVtab;
  sqlite3_stmt *q = c->query;
  c->n_read++;
  c->ids[i] = NULL;
  int t = sqlite3_column_type(q, 1);
  c->batch[i] = -1;
  if (t == SQLITE_TEXT || t == SQLITE_BLOB) {
    /* Column values, not sqlite3_value readers: a column's value object is
    ** unprotected. */
    const void *p = t == SQLITE_TEXT ? (const void *)sqlite3_column_text(q, 1) : sqlite3_column_blob(q, 1);
    size_t n = (size_t)sqlite3_column_bytes(q, 1);
    if (!p && n) return SQLITE_NOMEM;
    if (keep_text(c, *used, p, n, &c->off[i])) return SQLITE_NOMEM;
    c->len[i] = n;
    *used += n;
    c->batch[i] = 0;
  } else if (t != SQLITE_NULL) {
    return vtab_fail(vtab, FN, "row %lld: text must be TEXT or BLOB, got %s", c->n_read, sql_type_name(t));
  }
  c->ids[i] = sqlite3_value_dup(sqlite3_column_value(q, 0));
  return c->ids[i] ? SQLITE_OK : SQLITE_NOMEM;
}

/* Steps the query, unless a row is pending from xFilter. */
static int step_query(EachCursor *c) {
  if (c->pending) {
    c->pending = 0;
    return SQLITE_ROW;
  }
  return sqlite3_step(c->query);
}

/* Embeds the chunk's texts; stops at sqlite3_interrupt(). */
static int embed_chunk(EachCursor *c, const char *const *texts, const size_t *lens, int nb) {
  sqlite3_vtab *vtab = c->base.pVtab;
  StopScope s;
  stop_begin(&s, ((EachVtab *)vtab)->db);
  int failed = siam_model_embed_batch(cache_entry_model(c->cm), texts, lens, nb, c->emb);
  int stopped = stop_end(&s);
  if (!failed) return SQLITE_OK;
  if (stopped) return vtab_fail_code(vtab, SQLITE_INTERRUPT, FN, "interrupted");
  return vtab_fail_code(vtab, SQLITE_NOMEM, FN, "out of memory embedding %d texts", nb);
}

/* Reads and embeds the next chunk; at the end of the query, n is 0. */
static int next_chunk(EachCursor *c) {
  sqlite3_vtab *vtab = c->base.pVtab;
  clear_chunk(c);
  size_t used = 0;
  while (c->query && c->n < CHUNK && used < CHUNK_BYTES) {
    int rc = step_query(c);
    if (rc == SQLITE_DONE) {
      sqlite3_finalize(c->query);
      c->query = NULL;
    } else if (rc != SQLITE_ROW) {
      return vtab_fail_db(vtab, ((EachVtab *)vtab)->db, FN);
    } else {
      rc = read_row(c, c->n, &used);
      c->n++;  /* slot i is cleared by clear_chunk even when read_row failed */
      if (rc != SQLITE_OK) return rc;
    }
  }
  /* The text buffer no longer moves: point at it. */
  const char *texts[CHUNK];
  size_t lens[CHUNK];
  int nb = 0;
  for (int i = 0; i < c->n; i++) {
    if (c->batch[i] < 0) continue;
    texts[nb] = c->text + c->off[i];
    lens[nb] = c->len[i];
    c->batch[i] = nb++;
  }
  return nb ? embed_chunk(c, texts, lens, nb) : SQLITE_OK;
}

/* argv: model name, SQL text. */
static int each_filter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str, int argc, sqlite3_value **argv) {
  (void)idx_num;
  (void)idx_str;
  (void)argc;
  EachCursor *c = (EachCursor *)cur;
  EachVtab *v = (EachVtab *)cur->pVtab;
  reset(c);
  const char *name, *sql;
  char err[SIAM_ERRMAX];
  int rc = arg_text(argv[0], "model name", &name, err);
  if (rc == SQLITE_OK) rc = arg_text(argv[1], "SQL", &sql, err);
  if (rc != SQLITE_OK) return vtab_fail_code(&v->base, rc, FN, "%s", err);

  const char *tail = NULL;
  if (sqlite3_prepare_v2(v->db, sql, -1, &c->query, &tail) != SQLITE_OK) return vtab_fail_db(&v->base, v->db, FN);
  while (tail && (*tail == ' ' || *tail == '\t' || *tail == '\n' || *tail == '\r' || *tail == ';')) tail++;
  if (!c->query) return vtab_fail(&v->base, FN, "SQL text holds no statement");
  if (tail && *tail) return vtab_fail(&v->base, FN, "SQL text must be one statement, found more after it");
  if (!sqlite3_stmt_readonly(c->query)) return vtab_fail(&v->base, FN, "the query must be read-only (a SELECT)");
  if (sqlite3_column_count(c->query) < 2)
    return vtab_fail(&v->base, FN, "the query must return 2 columns (id, text), it returns %d",
                     sqlite3_column_count(c->query));
  /* The first step begins the query's read transaction; the model is read
  ** after it, in the same snapshot where they share a database. */
  rc = sqlite3_step(c->query);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return vtab_fail_db(&v->base, v->db, FN);
  c->pending = rc == SQLITE_ROW;
  if (rc == SQLITE_DONE) {  /* stepped again it would start over */
    sqlite3_finalize(c->query);
    c->query = NULL;
  }

  StopScope s;
  stop_begin(&s, v->db);
  rc = cache_get(v->conn->models, v->db, name, &c->cm, err);
  stop_end(&s);
  if (rc != SQLITE_OK) return vtab_fail_code(&v->base, rc, FN, "%s", err);
  c->dim = siam_model_dim(cache_entry_model(c->cm));
  c->emb = sqlite3_malloc64((sqlite3_uint64)CHUNK * c->dim * sizeof(float));
  if (!c->emb) return SQLITE_NOMEM;
  rc = next_chunk(c);
  c->rowid = 1;
  return rc;
}

static int each_next(sqlite3_vtab_cursor *cur) {
  EachCursor *c = (EachCursor *)cur;
  c->rowid++;
  if (++c->pos < c->n) return SQLITE_OK;
  return c->query ? next_chunk(c) : SQLITE_OK;
}

static int each_eof(sqlite3_vtab_cursor *cur) {
  EachCursor *c = (EachCursor *)cur;
  return c->pos >= c->n;
}

static int each_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  EachCursor *c = (EachCursor *)cur;
  int i = c->pos;
  if (col == COL_ID) {
    if (c->ids[i]) sqlite3_result_value(ctx, c->ids[i]);
    else sqlite3_result_null(ctx);
  } else if (col == COL_EMBEDDING && c->batch[i] >= 0) {
    sqlite3_result_blob64(ctx, c->emb + (size_t)c->batch[i] * c->dim, (sqlite3_uint64)c->dim * sizeof(float),
                          SQLITE_TRANSIENT);
  } else {
    sqlite3_result_null(ctx);  /* a NULL text; or the hidden arguments, not kept */
  }
  return SQLITE_OK;
}

static int each_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid) {
  *rowid = ((EachCursor *)cur)->rowid;
  return SQLITE_OK;
}

const sqlite3_module embed_each_module = {
    .iVersion = 0,
    .xCreate = NULL,  /* eponymous-only: no CREATE VIRTUAL TABLE */
    .xConnect = each_connect,
    .xBestIndex = each_best_index,
    .xDisconnect = each_disconnect,
    .xDestroy = NULL,
    .xOpen = each_open,
    .xClose = each_close,
    .xFilter = each_filter,
    .xNext = each_next,
    .xEof = each_eof,
    .xColumn = each_column,
    .xRowid = each_rowid,
};
