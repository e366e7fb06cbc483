/*
** dump.c — a stored model as SQL text that recreates it in any database.
**
**   sqlite3 local.db -cmd '.load ./siamsql' "SELECT siam_dump('mini')" > mini.sql
**   sqlite3 -bail other.db < mini.sql                       -- a plain SQLite file
**   siamsql-client -s 127.0.0.1:9001 -f mini.sql mydb       -- a dqlite cluster
**
** The text is one transaction: BEGIN; the schema (sql/schema.sql, whose
** statements do nothing where the tables exist); DELETE of any model of that
** name; one INSERT a row of siam_model, siam_tensor and siam_vocab; COMMIT.
** Replaying it therefore always leaves exactly the dumped model, whatever was
** there before, and replaying it twice is the same as once: a replay whose
** outcome is unknown (a cluster that lost its leader during the COMMIT) can
** simply be run again.  Plain SQL only, so it replays where siamsql is not
** loaded too.  The revision column is left out: the triggers stamp a new one,
** which tells every connection that has the old model cached to reload.
**
** How it works: store_open_model finds the model (in main or an attached
** database) and holds its snapshot open; each table is then read by one
** SELECT that builds the INSERT text with quote() (TEXT quoted, BLOB as
** X'...'), so all rows come from that one snapshot.
*/
#include "functions.h"

#include "schema_sql.h"
#include "store.h"
#include "args.h"

/* One INSERT statement a row, for the model ?1 in the schema %w; every
** column but revision.  Tensors and tokens in key order, so the same model
** gives the same text. */
static const char *const insert_queries[] = {
    "SELECT 'INSERT INTO siam_model(name, config, source, created_at, updated_at) VALUES ('"
    " || quote(name) || ', ' || quote(config) || ', ' || quote(source) || ', '"
    " || quote(created_at) || ', ' || quote(updated_at) || ');' FROM \"%w\".siam_model WHERE name = ?1",
    "SELECT 'INSERT INTO siam_tensor(model, name, dtype, shape, data) VALUES ('"
    " || quote(model) || ', ' || quote(name) || ', ' || quote(dtype) || ', ' || quote(shape) || ', '"
    " || quote(data) || ');' FROM \"%w\".siam_tensor WHERE model = ?1 ORDER BY name",
    "SELECT 'INSERT INTO siam_vocab(model, id, token) VALUES ('"
    " || quote(model) || ', ' || quote(id) || ', ' || quote(token) || ');'"
    " FROM \"%w\".siam_vocab WHERE model = ?1 ORDER BY id",
};

static void dump_error(sqlite3_context *ctx, const char *msg) {
  char *full = sqlite3_mprintf("siam_dump: %s", msg);
  if (full) {
    sqlite3_result_error(ctx, full, -1);
    sqlite3_free(full);
  } else {
    sqlite3_result_error_nomem(ctx);
  }
}

/* Appends the rows of one insert query, one statement a line; 0, or -1 with
** the database's error in err. */
static int append_inserts(sqlite3 *db, sqlite3_str *out, const char *query_fmt, const StoreModel *sm,
                          const char *model, char err[SIAM_ERRMAX]) {
  char *query = sqlite3_mprintf(query_fmt, sm->schema);
  if (!query) return siam_errf(err, "out of memory");
  sqlite3_stmt *st = NULL;
  int prepared = sqlite3_prepare_v2(db, query, -1, &st, NULL);
  sqlite3_free(query);
  if (prepared != SQLITE_OK) return siam_errf(err, "reading the model tables: %s", sqlite3_errmsg(db));
  sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    sqlite3_str_append(out, (const char *)sqlite3_column_text(st, 0), sqlite3_column_bytes(st, 0));
    sqlite3_str_appendchar(out, 1, '\n');
  }
  int failed = rc != SQLITE_DONE ? siam_errf(err, "reading the model tables: %s", sqlite3_errmsg(db)) : 0;
  sqlite3_finalize(st);
  return failed;
}

/* The whole dump of the open model into out. */
static int write_dump(sqlite3 *db, sqlite3_str *out, const StoreModel *sm, const char *model,
                      char err[SIAM_ERRMAX]) {
  /* The name stays out of the comment: a newline in it would end the comment. */
  sqlite3_str_appendall(out,
                        "-- siam_dump: recreates one siamsql model, replacing any model of that name.\n"
                        "-- Replay it whole, stopping at the first error (sqlite3 -bail, siamsql-client -f).\n"
                        "BEGIN;\n");
  sqlite3_str_appendall(out, SIAM_SCHEMA_SQL);
  sqlite3_str_appendf(out,
                      "DELETE FROM siam_model WHERE name = %Q;\n"
                      "DELETE FROM siam_tensor WHERE model = %Q;\n"
                      "DELETE FROM siam_vocab WHERE model = %Q;\n",
                      model, model, model);
  for (size_t i = 0; i < sizeof insert_queries / sizeof *insert_queries; i++)
    if (append_inserts(db, out, insert_queries[i], sm, model, err)) return -1;
  sqlite3_str_appendall(out, "COMMIT;\n");
  return 0;
}

void fn_dump(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const char *model;
  char err[SIAM_ERRMAX];
  int rc = arg_text(argv[0], "model name", &model, err);
  if (rc != SQLITE_OK) {
    dump_error(ctx, err);
    return;
  }
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  StoreModel sm;
  rc = store_open_model(db, model, &sm, err);
  if (rc != SQLITE_OK) {
    dump_error(ctx, err);
    if (rc != SQLITE_ERROR) sqlite3_result_error_code(ctx, rc);  /* BUSY, NOMEM... as SQLite gave them */
    return;
  }
  sqlite3_str *out = sqlite3_str_new(db);
  int failed = write_dump(db, out, &sm, model, err);
  store_close_model(&sm);
  if (failed) {
    sqlite3_free(sqlite3_str_finish(out));
    dump_error(ctx, err);
    return;
  }
  rc = sqlite3_str_errcode(out);
  int n = sqlite3_str_length(out);
  char *text = sqlite3_str_finish(out);
  if (rc == SQLITE_TOOBIG) {
    sqlite3_free(text);
    sqlite3_result_error_toobig(ctx);
  } else if (rc != SQLITE_OK || !text) {
    sqlite3_free(text);
    sqlite3_result_error_nomem(ctx);
  } else {
    sqlite3_result_text64(ctx, text, (sqlite3_uint64)n, sqlite3_free, SQLITE_UTF8);
  }
}
