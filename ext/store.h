/*
** store.h — the model tables: creating them, writing a whole model in one
** savepoint, and reading a model back (to run it or to export it), every row
** of it from one snapshot.  Nothing here knows what the tensors mean; model/
** checks them.
**
** Every function returns an SQLite result code (SQLITE_OK on success) and,
** on failure, leaves a message in err: SQLITE_BUSY, SQLITE_INTERRUPT,
** SQLITE_NOMEM and the rest come back as SQLite gave them, so the SQL
** function can pass them on; a model that fails its checks is SQLITE_ERROR.
*/
#ifndef SIAM_STORE_H
#define SIAM_STORE_H

#include "sqlite_api.h"

#include "../model/bundle.h"
#include "../model/model.h"

#define STORE_SCHEMA_MAX 128   /* longest schema name kept */

/* A model's row in siam_model, read by a statement that stays open: while it
** is open, every read of the model tables on this connection sees the same
** snapshot (the connection's read transaction on that database cannot end),
** so config, tensors and vocab all come from one committed state, or from
** this connection's own uncommitted changes. */
typedef struct {
  sqlite3_stmt *pin;           /* SELECT revision, config ... stepped to its row */
  char schema[STORE_SCHEMA_MAX]; /* the database siam_model was found in */
  sqlite3_int64 revision;      /* siam_model.revision */
  int schema_version;          /* PRAGMA schema_version of that database, same snapshot */
  const char *config;          /* siam_model.config, valid while open */
  size_t config_len;
} StoreModel;

/* Opens model `name`.  No such model (or no model tables): SQLITE_ERROR with
** "no model named 'x'" in err. */
int store_open_model(sqlite3 *db, const char *name, StoreModel *sm, char err[SIAM_ERRMAX]);
void store_close_model(StoreModel *sm);   /* safe on a zeroed or failed one */

/* Whether sm's database holds exactly the triggers and indexes of
** sql/schema.sql on the model tables, so that its revisions can be trusted
** to change with every change of a model's rows.  *intact is 0 for a
** database written by an older siamsql or whose triggers were altered. */
int store_schema_intact(sqlite3 *db, const StoreModel *sm, int *intact, char err[SIAM_ERRMAX]);

/* Reads the open model's tensors and vocab into a finished model, allocating
** at most max_bytes in all (SQLITE_TOOBIG with a message when its rows need
** more, checked before each allocation that depends on them). */
int store_load_model(sqlite3 *db, const StoreModel *sm, const char *name, size_t max_bytes, SiamModel **out,
                     char err[SIAM_ERRMAX]);

/* Reads the open model into a bundle (raw tensors, vocab) and checks it. */
int store_read_bundle(sqlite3 *db, const StoreModel *sm, const char *name, SiamBundle *b, char err[SIAM_ERRMAX]);

/* Creates the model tables in main, or repairs their triggers and index
** (a database written by siamsql 0.1, or altered), in one savepoint;
** *changed says whether anything was missing or different. */
int store_upgrade(sqlite3 *db, int *changed, char err[SIAM_ERRMAX]);

/* Writes the bundle (already checked) as model `name`, all rows or none,
** creating or upgrading the tables first.  Fails if the name exists unless
** replace. */
int store_write_bundle(sqlite3 *db, const char *name, const SiamBundle *b, const char *source, int replace,
                       char err[SIAM_ERRMAX]);

#endif
