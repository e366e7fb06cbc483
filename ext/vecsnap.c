/*
** vecsnap.c — a table's stored vectors, read into memory for siam_nearest and
** siam_pairs, and kept between statements while the data is unchanged.
**
** Why keep them: stepping through 100k rows of a table costs SQLite ~50 ms
** before a single float is read, more than the whole top-k search over the
** vectors in memory.  So each connection keeps its most recent snapshot
** (up to SIAMSQL_SNAPSHOT_BYTES, default 1 GiB; 0 keeps none) and reuses it
** while it is provably current:
**
**   - the table is an ordinary table (not a virtual table, whose content
**     can change without the database changing; views are refused, having
**     no rowids);
**   - no database of the connection is in a write transaction, neither when
**     the snapshot was taken nor now (so it holds committed data only, and
**     none of this connection's uncommitted changes can be missing from it);
**   - every attached database is the one it was: the same file (name,
**     and device and inode of the file on disk) at the same data version
**     (SQLITE_FCNTL_DATA_VERSION, bumped by every commit, from this or any
**     other connection or process), read after the source query's read
**     transaction began.  A data version alone does not name a database:
**     DETACH and ATTACH of another file under the same schema name gives a
**     new pager, whose count starts again where the old one may have
**     stood.  So a database that cannot be told apart from a later one
**     (an attached in-memory or temporary database, which has no file) keeps
**     nothing; "main" and "temp" can never be detached or replaced by
**     ATTACH, so theirs are kept whatever their file.
**
** VACUUM (which may renumber rowids), schema changes and blob writes all
** commit, so they invalidate it too.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../model/vecsearch.h"
#include "vecsnap.h"
#include "vtab.h"

#define SNAPSHOT_DEFAULT ((sqlite3_uint64)1 << 30)

struct VecSnapSlot {
  VecSnap *kept;            /* the latest snapshot, or NULL */
  sqlite3_uint64 limit;     /* largest snapshot kept, in bytes */
};

VecSnapSlot *vecsnap_slot_new(void) {
  VecSnapSlot *s = sqlite3_malloc(sizeof *s);
  if (!s) return NULL;
  memset(s, 0, sizeof *s);
  const char *limit = getenv("SIAMSQL_SNAPSHOT_BYTES");
  s->limit = limit ? (sqlite3_uint64)strtoull(limit, NULL, 10) : SNAPSHOT_DEFAULT;
  return s;
}

void vecsnap_slot_free(VecSnapSlot *s) {
  if (!s) return;
  vecsnap_release(s->kept);
  sqlite3_free(s);
}

void vecsnap_release(VecSnap *v) {
  if (!v || --v->refs > 0) return;
  sqlite3_free(v->table);
  sqlite3_free(v->column);
  sqlite3_free(v->version);
  sqlite3_free(v->rowids);
  sqlite3_free(v->x);
  sqlite3_free(v->inv);
  sqlite3_free(v);
}

/* ---- is a kept snapshot current? ------------------------------------------- */

/* Appends what identifies database `name` now; 0, or -1 when it cannot be
** told apart from a database attached later under the same name. */
static int append_identity(sqlite3 *db, sqlite3_str *s, const char *name) {
  unsigned int version = 0;
  if (sqlite3_file_control(db, name, SQLITE_FCNTL_DATA_VERSION, &version) != SQLITE_OK) return -1;
  const char *file = sqlite3_db_filename(db, name);
  struct stat sb;
  int fixed = strcmp(name, "main") == 0 || strcmp(name, "temp") == 0;
  if (file && *file && stat(file, &sb) == 0)
    sqlite3_str_appendf(s, "%s=%u@%s:%llu:%llu;", name, version, file, (unsigned long long)sb.st_dev,
                        (unsigned long long)sb.st_ino);
  else if (fixed)
    sqlite3_str_appendf(s, "%s=%u;", name, version);
  else
    return -1;
  return 0;
}

/* Identity and data version of every attached database, or NULL (then
** nothing is kept or reused) while any is in a write transaction or cannot
** be identified. */
static char *data_versions(sqlite3 *db) {
  if (sqlite3_txn_state(db, NULL) == SQLITE_TXN_WRITE) return NULL;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_database_list", -1, &st, NULL) != SQLITE_OK) return NULL;
  sqlite3_str *s = sqlite3_str_new(db);
  int ok = 1;
  while (ok && sqlite3_step(st) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    ok = name && append_identity(db, s, name) == 0;
  }
  sqlite3_finalize(st);
  char *out = sqlite3_str_finish(s);
  if (!ok) {
    sqlite3_free(out);
    return NULL;
  }
  return out;
}

/* What the tables of that name (in any attached database) are: TABLES_PLAIN
** when all are ordinary tables, TABLES_VIEW when all are views. */
enum { TABLES_OTHER, TABLES_PLAIN, TABLES_VIEW };
static int table_kind(sqlite3 *db, const char *table) {
  sqlite3_stmt *st = NULL;
  int kind = TABLES_OTHER;
  if (sqlite3_prepare_v2(db,
                         "SELECT count(*) FILTER (WHERE type <> 'table') = 0, count(*) FILTER (WHERE type <> 'view') = 0"
                         " FROM pragma_table_list(?1)",
                         -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
      kind = sqlite3_column_int(st, 0) ? TABLES_PLAIN : sqlite3_column_int(st, 1) ? TABLES_VIEW : TABLES_OTHER;
  }
  sqlite3_finalize(st);
  return kind;
}

/* ---- reading ---------------------------------------------------------------------- */

/* SELECT s.rowid, s."column" FROM "table" AS s, with the arguments checked. */
static int open_source(sqlite3_vtab *vtab, sqlite3 *db, const char *fn, const char *t, const char *c,
                       sqlite3_stmt **out) {
  /* s."column", qualified: a bare "column" that names no column would be
  ** read as a string literal (SQLite's double-quoted string fallback). */
  char *sql = sqlite3_mprintf("SELECT s.rowid, s.\"%w\" FROM \"%w\" AS s", c, t);
  if (!sql) return SQLITE_NOMEM;
  int rc = sqlite3_prepare_v2(db, sql, -1, out, NULL);
  sqlite3_free(sql);
  if (rc == SQLITE_OK) return SQLITE_OK;
  const char *msg = sqlite3_errmsg(db);
  if (strncmp(msg, "no such column: s.rowid", 23) == 0)
    rc = vtab_fail(vtab, fn, "table %s has no rowid (WITHOUT ROWID tables are not supported)", t);
  else if (strncmp(msg, "no such column: ", 16) == 0)
    rc = vtab_fail(vtab, fn, "table %s has no column %s", t, c);
  else
    rc = vtab_fail_db(vtab, db, fn);
  sqlite3_finalize(*out);
  *out = NULL;
  return rc;
}

/* Appends the current row's vector (NULLs skipped).  The first sets dim. */
static int keep_row(sqlite3_vtab *vtab, const char *fn, VecSnap *v, sqlite3_stmt *q) {
  int t = sqlite3_column_type(q, 1);
  if (t == SQLITE_NULL) return SQLITE_OK;
  sqlite3_int64 rowid = sqlite3_column_int64(q, 0);
  if (t != SQLITE_BLOB)
    return vtab_fail(vtab, fn, "rowid %lld: column %s holds %s, not a float32 BLOB", rowid, v->column,
                     sql_type_name(t));
  int n = sqlite3_column_bytes(q, 1);
  char what[40], err[SIAM_ERRMAX];
  snprintf(what, sizeof what, "rowid %lld", rowid);
  if (vector_bytes_ok(n, what, err) != SQLITE_OK) return vtab_fail(vtab, fn, "%s", err);
  if (v->dim == 0) v->dim = n / 4;
  if (n / 4 != v->dim) return vtab_fail(vtab, fn, "rowid %lld has %d floats, earlier rows %d", rowid, n / 4, v->dim);
  const void *blob = sqlite3_column_blob(q, 1);
  if (!blob) return SQLITE_NOMEM;
  if (v->n == v->cap) {
    int64_t cap = v->cap ? v->cap * 2 : 1024;
    float *x = sqlite3_realloc64(v->x, (sqlite3_uint64)cap * v->dim * sizeof *x);
    if (x) v->x = x;
    int64_t *r = x ? sqlite3_realloc64(v->rowids, (sqlite3_uint64)cap * sizeof *r) : NULL;
    if (!r) return SQLITE_NOMEM;
    v->rowids = r;
    v->cap = cap;
  }
  memcpy(v->x + v->n * v->dim, blob, (size_t)n);
  v->rowids[v->n++] = rowid;
  return SQLITE_OK;
}

/* Reads the rest of the source query (it has stepped once: rc) into v. */
static int read_all(sqlite3_vtab *vtab, sqlite3 *db, const char *fn, VecSnap *v, sqlite3_stmt *q, int rc) {
  for (; rc == SQLITE_ROW; rc = sqlite3_step(q)) {
    int krc = keep_row(vtab, fn, v, q);
    if (krc != SQLITE_OK) return krc;
  }
  if (rc != SQLITE_DONE) return vtab_fail_db(vtab, db, fn);
  v->inv = sqlite3_malloc64((sqlite3_uint64)(v->n ? v->n : 1) * sizeof *v->inv);
  if (!v->inv) return SQLITE_NOMEM;
  int64_t bad = siam_vec_inv_norms(v->inv, v->x, v->n, v->dim);
  if (bad >= 0) return vtab_fail(vtab, fn, "rowid %lld holds NaN or infinite values", (sqlite3_int64)v->rowids[bad]);
  return SQLITE_OK;
}

static VecSnap *snap_new(const char *table, const char *column) {
  VecSnap *v = sqlite3_malloc(sizeof *v);
  if (!v) return NULL;
  memset(v, 0, sizeof *v);
  v->refs = 1;
  v->table = sqlite3_mprintf("%s", table);
  v->column = sqlite3_mprintf("%s", column);
  if (!v->table || !v->column) {
    vecsnap_release(v);
    return NULL;
  }
  return v;
}

int vecsnap_get(VecSnapSlot *slot, sqlite3_vtab *vtab, sqlite3 *db, const char *fn, sqlite3_value *table,
                sqlite3_value *column, VecSnap **out) {
  *out = NULL;
  const char *t, *c;
  char err[SIAM_ERRMAX];
  int rc = arg_text(table, "table name", &t, err);
  if (rc == SQLITE_OK) rc = arg_text(column, "column name", &c, err);
  if (rc != SQLITE_OK) return vtab_fail_code(vtab, rc, fn, "%s", err);

  sqlite3_stmt *q = NULL;
  char *version = NULL;
  VecSnap *v = NULL;
  rc = open_source(vtab, db, fn, t, c, &q);
  if (rc != SQLITE_OK) return rc;
  int kind = table_kind(db, t);
  if (kind == TABLES_VIEW) {
    sqlite3_finalize(q);
    return vtab_fail(vtab, fn, "%s is a view: name a table (results are identified by its rowids)", t);
  }
  int step = sqlite3_step(q);  /* begins the read transaction: data versions are current from here */
  if (step != SQLITE_ROW && step != SQLITE_DONE) {  /* no transaction began: the versions prove nothing */
    rc = vtab_fail_db(vtab, db, fn);
    goto done;
  }
  if (slot->limit && kind == TABLES_PLAIN) version = data_versions(db);
  VecSnap *kept = slot->kept;
  if (version && kept && kept->version && strcmp(kept->version, version) == 0 && strcmp(kept->table, t) == 0 &&
      strcmp(kept->column, c) == 0) {
    kept->refs++;
    *out = kept;
    goto done;
  }
  vecsnap_release(slot->kept);  /* stale, or not to be trusted now: let it go */
  slot->kept = NULL;
  v = snap_new(t, c);
  if (!v) {
    rc = SQLITE_NOMEM;
    goto done;
  }
  rc = read_all(vtab, db, fn, v, q, step);
  if (rc != SQLITE_OK) goto done;
  if (version && (sqlite3_uint64)v->n * (v->dim + 3) * sizeof(float) <= slot->limit) {
    v->version = version;
    version = NULL;
    slot->kept = v;
    v->refs++;
  }
  *out = v;
  v = NULL;
done:
  vecsnap_release(v);
  sqlite3_free(version);
  sqlite3_finalize(q);
  return rc;
}
