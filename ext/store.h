/*
** store.h — the model tables: creating them, writing a whole model in one
** savepoint, and reading a model back (to run it or to export it).
** Nothing here knows what the tensors mean; model/ checks them.
*/
#ifndef SIAM_STORE_H
#define SIAM_STORE_H

#include "sqlite_api.h"

#include "../model/bundle.h"
#include "../model/model.h"

/* Creates the tables and triggers if they do not exist (sql/schema.sql). */
int store_ensure_schema(sqlite3 *db, char err[SIAM_ERRMAX]);

/* Looks the model up: 1 and *revision when it exists, 0 when it (or the
** tables) do not, -1 + err on a database error. */
int store_model_revision(sqlite3 *db, const char *name, sqlite3_int64 *revision, char err[SIAM_ERRMAX]);

/* Reads config, tensors and vocab and builds a finished model.  Call inside
** one statement's read transaction so all rows come from one snapshot. */
int store_load_model(sqlite3 *db, const char *name, SiamModel **out, char err[SIAM_ERRMAX]);

/* Writes the bundle (already checked) as model `name`, all rows or none.
** Fails if the name exists unless replace. */
int store_write_bundle(sqlite3 *db, const char *name, const SiamBundle *b, const char *source,
                       int replace, char err[SIAM_ERRMAX]);

/* Reads model `name` into a bundle (raw tensors, vocab) and checks it. */
int store_read_bundle(sqlite3 *db, const char *name, SiamBundle *b, char err[SIAM_ERRMAX]);

#endif
