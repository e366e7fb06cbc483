/*
** autoext.c — makes every SQLite connection in this process a siamsql one.
**
**   char err[512];
**   if (siamsql_register("./siamsql.so", err, sizeof err) != 0) { print err; refuse to start }
**
** dqlite runs every statement in the node's own SQLite (the system libsqlite3,
** the same library this file links), on connections it opens itself, one per
** client.  sqlite3_auto_extension makes SQLite call the extension's entry
** point for each of them, so each gets siamsql's functions and its own model
** cache, exactly as if it had run `.load siamsql`.
**
** Two things dqlite 1.11 does not support are turned off in every
** connection, right after siamsql's entry point has run (node_setup):
** - reading back a page that SQLite spilled to the WAL before COMMIT: its VFS
**   answers SQLITE_IOERR_SHORT_READ ("disk I/O error"), so a transaction
**   larger than the page cache (a model replayed from siam_dump) fails.
**   PRAGMA cache_spill = OFF keeps a transaction's pages in memory instead.
** - writing from inside a SELECT: dqlite replicates what an executed statement
**   writes, but a SELECT is sent as a query, whose writes stay on the leader
**   unreplicated until its VFS asserts and the node dies.  siam_import and
**   siam_upgrade are the siamsql functions that write; here they refuse,
**   saying what to do instead.
**
** How it works: dlopen() the library (as given, then with ".so" appended, as
** SQLite's own loader does), dlsym() its entry point, register it, then open
** one in-memory connection and run siam_info(): that proves the entry point
** accepts a connection, so a wrong or broken library is refused at start,
** not at the first client statement.  The library is never unloaded: the
** registration outlives this call.
*/
#include "autoext.h"

#include <dlfcn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENTRY_POINT "sqlite3_siamsql_init"

#define IMPORT_REFUSED                                                                                 \
  "siam_import: not available on a dqlite node (dqlite does not replicate what a SELECT writes): "    \
  "import into a local database and replay SELECT siam_dump(model) through a client"
#define UPGRADE_REFUSED                                                                                \
  "siam_upgrade: not available on a dqlite node (dqlite does not replicate what a SELECT writes): "   \
  "drop the model tables' triggers and replay sql/schema.sql through a client"

/* dlopen() as SQLite's loader does: the name as given, then NAME.so. */
static void *open_library(const char *path, char *err, size_t n) {
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (lib) return lib;
  const char *first = dlerror();
  snprintf(err, n, "%s", first ? first : "unknown dlopen error");
  size_t len = strlen(path);
  char *with_so = malloc(len + 4);
  if (!with_so) return NULL;
  memcpy(with_so, path, len);
  memcpy(with_so + len, ".so", 4);
  lib = dlopen(with_so, RTLD_NOW | RTLD_LOCAL);
  free(with_so);
  return lib;
}

/* The functions that write from inside a SELECT, and what to do instead. */
static const struct {
  const char *name;
  int n_arg;
  const char *message;
} refused[] = {
    {"siam_import", 2, IMPORT_REFUSED},
    {"siam_import", 3, IMPORT_REFUSED},
    {"siam_upgrade", 0, UPGRADE_REFUSED},
};

static void refuse(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc, (void)argv;
  sqlite3_result_error(ctx, sqlite3_user_data(ctx), -1);
}

/* Runs for every connection, after siamsql's entry point (registered first). */
static int node_setup(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
  (void)api;
  int rc = sqlite3_exec(db, "PRAGMA cache_spill = OFF", NULL, NULL, err);
  for (size_t i = 0; rc == SQLITE_OK && i < sizeof refused / sizeof *refused; i++)
    rc = sqlite3_create_function_v2(db, refused[i].name, refused[i].n_arg, SQLITE_UTF8 | SQLITE_DIRECTONLY,
                                    (void *)refused[i].message, refuse, NULL, NULL, NULL);
  return rc;
}

/* One connection, one call: the entry point ran and the functions answer. */
static int check_connection(char *err, size_t n) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, "SELECT siam_info()", -1, &st, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(st) == SQLITE_ROW ? SQLITE_OK : SQLITE_ERROR;
  if (rc != SQLITE_OK) snprintf(err, n, "a test connection failed: %s", db ? sqlite3_errmsg(db) : "out of memory");
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rc == SQLITE_OK ? 0 : -1;
}

int siamsql_register(const char *path, char *err, size_t n) {
  char why[512];
  void *lib = open_library(path, why, sizeof why);
  if (!lib) {
    snprintf(err, n, "cannot load the siamsql extension '%s': %s", path, why);
    return -1;
  }
  void (*entry)(void) = (void (*)(void))dlsym(lib, ENTRY_POINT);
  if (!entry) {
    snprintf(err, n, "'%s' is not the siamsql extension: it has no %s", path, ENTRY_POINT);
    dlclose(lib);
    return -1;
  }
  if (sqlite3_auto_extension(entry) != SQLITE_OK ||
      sqlite3_auto_extension((void (*)(void))node_setup) != SQLITE_OK) {
    snprintf(err, n, "sqlite3_auto_extension refused an entry point");
    return -1;
  }
  if (check_connection(why, sizeof why) != 0) {
    snprintf(err, n, "the siamsql extension '%s' did not load: %s", path, why);
    sqlite3_reset_auto_extension();
    return -1;
  }
  return 0;
}
