/*
** siamsql.c — entry point of the siamsql SQLite extension.
**
**   .load ./siamsql
**   SELECT siam_import('mini', 'path/to/model');
**   SELECT siam_similarity('mini', 'a cat sat on the mat', 'a cat on a mat');
**
** Loading registers functions only; the model tables are created by the first
** import.  Each connection gets its own model cache, shared by its functions
** and freed when the last of them is (when the connection closes).
**
** Each function's flags, and why:
**   - MODEL: functions that read the model tables (siam_embed, siam_similarity
**     with a model, siam_tokenize, siam_dim, siam_config, siam_revision, siam_dump).
**     Not DETERMINISTIC: their result changes when the model's rows change,
**     so SQLite must never store one in an index, a generated column or a
**     CHECK constraint (it refuses them there with "non-deterministic
**     functions prohibited ...": an index over siam_embed would go stale at
**     the next model update and PRAGMA integrity_check would find it
**     corrupt).  Not INNOCUOUS: they read tables and may allocate a model's
**     worth of memory, so a view or trigger in a schema the connection does
**     not trust (PRAGMA trusted_schema=OFF) cannot call them.
**   - PURE: functions of their arguments alone (siam_similarity of two
**     vectors, siam_pack, siam_unpack, siam_f32, siam_f32_json, siam_fts_query):
**     DETERMINISTIC and INNOCUOUS, usable anywhere.
**   - siam_info: neither (it reports process and connection state).
**   - DIRECTONLY: what touches files (siam_import, siam_export) or changes
**     the schema or process or connection state (siam_upgrade, siam_threads,
**     siam_memory_limit): never
**     from a view or trigger inside a database file someone handed you.
**   - The table-valued functions (siam_embed_each, siam_nearest, siam_pairs,
**     siam_search) mark themselves DIRECTONLY too (vtabs.h).
*/
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include <stdio.h>

#include "conn.h"
#include "functions.h"

#define MODEL SQLITE_UTF8
#define PURE (SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS)
#define STATE (SQLITE_UTF8 | SQLITE_DIRECTONLY)
#define FILES (SQLITE_UTF8 | SQLITE_DIRECTONLY)

/* The oldest SQLite siamsql runs on: sqlite3_txn_state() is 3.34's,
** SQLITE_DIRECTONLY 3.31's. */
#define MIN_SQLITE_VERSION 3034000
#define MIN_SQLITE_VERSION_TEXT "3.34.0"

static const struct {
  const char *name;
  int n_arg;
  int flags;
  void (*fn)(sqlite3_context *, int, sqlite3_value **);
} functions[] = {
    {"siam_embed", 2, MODEL, fn_embed},
    {"siam_similarity", 3, MODEL, fn_similarity},
    {"siam_similarity", 2, PURE, fn_similarity},
    {"siam_tokenize", 2, MODEL, fn_tokenize},
    {"siam_dim", 1, MODEL, fn_dim},
    {"siam_config", 1, MODEL, fn_config},
    {"siam_revision", 1, MODEL, fn_revision},
    {"siam_dump", 1, MODEL, fn_dump},
    {"siam_pack", 1, PURE, fn_pack},
    {"siam_unpack", 1, PURE, fn_unpack},
    {"siam_f32", 1, PURE, fn_f32},
    {"siam_f32_json", 1, PURE, fn_f32_json},
    {"siam_fts_query", 1, PURE, fn_fts_query},
    {"siam_info", 0, SQLITE_UTF8, fn_info},
    {"siam_threads", 0, STATE, fn_threads},
    {"siam_threads", 1, STATE, fn_threads},
    {"siam_memory_limit", 1, STATE, fn_memory_limit},
    {"siam_memory_limit", 2, STATE, fn_memory_limit},
    {"siam_import", 2, FILES, fn_import},
    {"siam_import", 3, FILES, fn_import},
    {"siam_export", 2, FILES, fn_export},
    {"siam_export", 3, FILES, fn_export},
    {"siam_upgrade", 0, STATE, fn_upgrade},
};

/* The table-valued functions: eponymous-only modules, each DIRECTONLY. */
static const struct {
  const char *name;
  const sqlite3_module *module;
} modules[] = {
    {"siam_embed_each", &embed_each_module},
    {"siam_nearest", &nearest_module},
    {"siam_pairs", &pairs_module},
    {"siam_search", &search_module},
};

static int refuse(char **pzErrMsg, int rc, const char *msg) {
  if (pzErrMsg) *pzErrMsg = sqlite3_mprintf("%s", msg);
  return rc;
}

#ifdef _WIN32
__declspec(dllexport)
#else
__attribute__((visibility("default")))
#endif
int sqlite3_siamsql_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
  SQLITE_EXTENSION_INIT2(pApi);
  /* Checked before anything else is called: an older SQLite's routine table
  ** lacks the entries newer functions need. */
  if (sqlite3_libversion_number() < MIN_SQLITE_VERSION) {
    char msg[120];
    snprintf(msg, sizeof msg, "siamsql needs SQLite " MIN_SQLITE_VERSION_TEXT " or later; this is %s",
             sqlite3_libversion());
    return refuse(pzErrMsg, SQLITE_ERROR, msg);
  }
  char err[SIAM_ERRMAX];
  SiamConn *conn = conn_new(err);
  if (!conn) {
    char msg[SIAM_ERRMAX + 16];
    snprintf(msg, sizeof msg, "siamsql: %s", err);
    return refuse(pzErrMsg, SQLITE_ERROR, msg);
  }
  /* Each registration holds the state; its destructor lets go (SQLite calls
  ** it when a registration fails, too). */
  int rc = SQLITE_OK;
  for (size_t i = 0; rc == SQLITE_OK && i < sizeof functions / sizeof *functions; i++) {
    conn_retain(conn);
    rc = sqlite3_create_function_v2(db, functions[i].name, functions[i].n_arg, functions[i].flags, conn,
                                    functions[i].fn, NULL, NULL, conn_release);
  }
  for (size_t i = 0; rc == SQLITE_OK && i < sizeof modules / sizeof *modules; i++) {
    conn_retain(conn);
    rc = sqlite3_create_module_v2(db, modules[i].name, modules[i].module, conn, conn_release);
  }
  conn_release(conn);
  if (rc != SQLITE_OK && pzErrMsg) *pzErrMsg = sqlite3_mprintf("siamsql: %s", sqlite3_errmsg(db));
  return rc;
}
