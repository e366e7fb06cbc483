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

#endif
