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
*/
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include "cache.h"
#include "dump.h"
#include "functions.h"
#include "vtabs.h"

/* Pure functions of their arguments and the model tables.  DETERMINISTIC so
** they can be used in indexes, generated columns and views (a model update
** does not rewrite values stored earlier: re-embed after changing a model). */
#define PURE (SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS)
/* File-system access belongs to the user, never to a trigger or view inside
** a database file someone handed them. */
#define FILES (SQLITE_UTF8 | SQLITE_DIRECTONLY)

static const struct {
  const char *name;
  int n_arg;
  int flags;
  void (*fn)(sqlite3_context *, int, sqlite3_value **);
} functions[] = {
    {"siam_embed", 2, PURE, fn_embed},
    {"siam_similarity", 3, PURE, fn_similarity},
    {"siam_similarity", 2, PURE, fn_similarity},
    {"siam_tokenize", 2, PURE, fn_tokenize},
    {"siam_dim", 1, PURE, fn_dim},
    {"siam_config", 1, PURE, fn_config},
    {"siam_dump", 1, SQLITE_UTF8 | SQLITE_INNOCUOUS, fn_dump},  /* not DETERMINISTIC: its text follows the tables */
    {"siam_pack", 1, PURE, fn_pack},
    {"siam_unpack", 1, PURE, fn_unpack},
    {"siam_f32", 1, PURE, fn_f32},
    {"siam_f32_json", 1, PURE, fn_f32_json},
    {"siam_info", 0, SQLITE_UTF8 | SQLITE_INNOCUOUS, fn_info},  /* not DETERMINISTIC: thread count can change */
    /* Not DETERMINISTIC: it changes process state.  DIRECTONLY: a view or
    ** trigger must not change how the host process uses its cores. */
    {"siam_threads", 0, SQLITE_UTF8 | SQLITE_DIRECTONLY, fn_threads},
    {"siam_threads", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, fn_threads},
    {"siam_import", 2, FILES, fn_import},
    {"siam_import", 3, FILES, fn_import},
    {"siam_export", 2, FILES, fn_export},
    {"siam_export", 3, FILES, fn_export},
};

static void release_cache(void *p) { cache_release(p); }

#ifdef _WIN32
__declspec(dllexport)
#else
__attribute__((visibility("default")))
#endif
int sqlite3_siamsql_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
  SQLITE_EXTENSION_INIT2(pApi);
  SiamCache *cache = cache_new();
  if (!cache) return SQLITE_NOMEM;
  int rc = SQLITE_OK;
  for (size_t i = 0; rc == SQLITE_OK && i < sizeof functions / sizeof *functions; i++) {
    cache_retain(cache);  /* each registration holds the cache; its destructor lets go */
    rc = sqlite3_create_function_v2(db, functions[i].name, functions[i].n_arg, functions[i].flags, cache,
                                    functions[i].fn, NULL, NULL, release_cache);
  }
  /* Table-valued functions (vtabs.h): eponymous, DIRECTONLY. */
  if (rc == SQLITE_OK) rc = embed_each_register(db, cache);
  if (rc == SQLITE_OK) rc = nearest_register(db);
  cache_release(cache);
  if (rc != SQLITE_OK && pzErrMsg) *pzErrMsg = sqlite3_mprintf("siamsql: %s", sqlite3_errmsg(db));
  return rc;
}
