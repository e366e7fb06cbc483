/*
** cache.h — loaded models, one cache per database connection, and the
** connection's memory limits.
**
** A statement asks for a model by name; it gets the model exactly as the
** model tables hold it in that statement's view of the database.  A loaded
** model is kept for later statements only when that can be proven: it is
** reused while the database it came from (schema name and file), that
** database's schema version and the model's revision are all what they were
** when it was loaded, and the schema carries siamsql's own triggers (which
** give every change of a model's rows a new random revision; see
** sql/schema.sql).  Otherwise it is loaded again.
**
** Memory: a model may hold at most the per-model limit, and all the models
** this connection holds at most the per-connection limit (both 1 GiB unless
** SIAMSQL_MODEL_MEMORY / SIAMSQL_CONNECTION_MEMORY say otherwise, or
** siam_memory_limit() sets them).  Both are checked from the config before
** anything is allocated; idle models are let go to make room.
**
** Callers hold a reference for as long as they use a model, so replacing it
** never frees memory a running statement still uses.
*/
#ifndef SIAM_CACHE_H
#define SIAM_CACHE_H

#include "sqlite_api.h"

#include "../model/model.h"

typedef struct SiamCache SiamCache;
typedef struct CacheEntry CacheEntry;   /* one loaded model */

/* Reads the limits from the environment; NULL + err for a bad value.  Owned
** by the connection's state (conn.h), freed by cache_free once no statement
** runs. */
SiamCache *cache_new(char err[SIAM_ERRMAX]);
void cache_free(SiamCache *c);

/* The model called name, as this statement sees the model tables: from the
** cache when provably the same, else loaded (within the memory limits).
** Returns an SQLite result code; on SQLITE_OK a new reference in *out.  No
** such model is SQLITE_ERROR with "no model named 'x'" in err. */
int cache_get(SiamCache *c, sqlite3 *db, const char *name, CacheEntry **out, char err[SIAM_ERRMAX]);

SiamModel *cache_entry_model(CacheEntry *e);
sqlite3_int64 cache_entry_revision(const CacheEntry *e);   /* siam_model.revision it was loaded at */
void cache_entry_release(void *e);   /* void* so it can be an auxdata destructor */

/* The embedding of text (n bytes) into out (siam_model_dim floats): from the
** model's embedding cache, or computed by siam_model_embed and remembered.
** Every text up to 16 KB is remembered (a text x text join then encodes each
** distinct text once); the cache belongs to the entry, so it dies with the model,
** holds at most SIAMSQL_EMBED_CACHE_BYTES (environment, read when the
** extension loads; default 16 MB, 0 turns it off) and lets the least
** recently used texts go first.  Returns 0, or -1 when the embedding could
** not be computed (out of memory, or stopped); failing to remember one is not
** an error. */
int cache_entry_embed(CacheEntry *e, const char *text, size_t n, float *out);

/* The memory limits, in bytes. */
typedef enum { LIMIT_MODEL, LIMIT_CONNECTION } CacheLimit;
sqlite3_int64 cache_limit(const SiamCache *c, CacheLimit which);
void cache_set_limit(SiamCache *c, CacheLimit which, sqlite3_int64 bytes);
sqlite3_int64 cache_limit_max(void);                /* the largest settable */
sqlite3_int64 cache_bytes(const SiamCache *c);      /* what this connection's models hold now */

#endif
