/*
** cache.h — loaded models, one cache per database connection.
**
** A model is loaded on first use and kept until its revision in siam_model
** changes (any INSERT/UPDATE/DELETE of its rows, by anyone, bumps it) or the
** connection closes.  Callers hold a reference for as long as they use a
** model, so replacing it never frees memory a running statement still uses.
*/
#ifndef SIAM_CACHE_H
#define SIAM_CACHE_H

#include "sqlite_api.h"

#include "../model/model.h"

typedef struct SiamCache SiamCache;
typedef struct CachedModel CachedModel;

SiamCache *cache_new(void);
void cache_retain(SiamCache *c);
void cache_release(SiamCache *c);   /* frees when the last holder lets go */

/* The current model called `name`, loaded if the cache has none or an older
** revision.  Returns 0 with a new reference in *out, 1 if no such model, or
** -1 + err. */
int cache_get(SiamCache *c, sqlite3 *db, const char *name, CachedModel **out, char err[SIAM_ERRMAX]);

SiamModel *cached_model(CachedModel *cm);
sqlite3_int64 cached_revision(const CachedModel *cm);
void cached_model_release(void *cm);   /* void* so it can be an auxdata destructor */

/* The embedding of text (n bytes) into out (siam_model_dim floats): from the
** model's embedding cache, or computed by siam_model_embed and remembered.
** The cache belongs to this CachedModel, so it is keyed by text and model
** revision and dies with the model.  It holds at most SIAMSQL_EMBED_CACHE_BYTES
** (environment, read when the model loads; default 16 MB, 0 turns it off) and
** lets the least recently used entries go first.  Returns 0, or -1 when the
** embedding could not be computed (out of memory); failing to remember one is
** not an error. */
int cached_embed(CachedModel *cm, const char *text, size_t n, float *out);

#endif
