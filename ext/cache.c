/*
** cache.c — per-connection cache of loaded models, checked against the
** model's revision once per statement (callers keep the reference in
** sqlite3_set_auxdata for the rest of the statement).
**
** Every entry and the cache itself are reference counted: the cache holds one
** reference on each entry it lists, and every statement using a model holds
** another.  A stale entry is unlisted at once and freed when its last user is
** done.
*/
#include "cache.h"

#include <string.h>

#include "store.h"

struct CachedModel {
  char *name;
  sqlite3_int64 revision;   /* siam_model.revision it was loaded at */
  SiamModel *model;
  int refs;
  CachedModel *next;        /* in the cache's list */
};

struct SiamCache {
  CachedModel *head;
  int refs;
};

SiamCache *cache_new(void) {
  SiamCache *c = siam_calloc(1, sizeof *c);
  if (c) c->refs = 1;
  return c;
}

void cache_retain(SiamCache *c) { c->refs++; }

void cached_model_release(void *p) {
  CachedModel *cm = p;
  if (!cm || --cm->refs > 0) return;
  siam_model_free(cm->model);
  siam_free(cm->name);
  siam_free(cm);
}

void cache_release(SiamCache *c) {
  if (!c || --c->refs > 0) return;
  while (c->head) {
    CachedModel *cm = c->head;
    c->head = cm->next;
    cached_model_release(cm);
  }
  siam_free(c);
}

SiamModel *cached_model(CachedModel *cm) { return cm->model; }
sqlite3_int64 cached_revision(const CachedModel *cm) { return cm->revision; }

static void unlist(SiamCache *c, CachedModel *cm) {
  for (CachedModel **p = &c->head; *p; p = &(*p)->next) {
    if (*p == cm) {
      *p = cm->next;
      cached_model_release(cm);
      return;
    }
  }
}

static CachedModel *find(SiamCache *c, const char *name) {
  for (CachedModel *cm = c->head; cm; cm = cm->next)
    if (strcmp(cm->name, name) == 0) return cm;
  return NULL;
}

static CachedModel *load(sqlite3 *db, const char *name, sqlite3_int64 revision, char *err) {
  CachedModel *cm = siam_calloc(1, sizeof *cm);
  if (!cm || !(cm->name = siam_strndup(name, strlen(name)))) {
    siam_free(cm);
    siam_errf(err, "out of memory");
    return NULL;
  }
  cm->revision = revision;
  cm->refs = 1;
  if (store_load_model(db, name, &cm->model, err)) {
    cached_model_release(cm);
    return NULL;
  }
  return cm;
}

int cache_get(SiamCache *c, sqlite3 *db, const char *name, CachedModel **out, char err[SIAM_ERRMAX]) {
  sqlite3_int64 revision = 0;
  int found = store_model_revision(db, name, &revision, err);
  CachedModel *cm = find(c, name);
  if (cm && (found != 1 || cm->revision != revision)) {
    unlist(c, cm);  /* deleted or changed: let it go */
    cm = NULL;
  }
  if (found != 1) return found == 0 ? 1 : -1;
  if (!cm) {
    cm = load(db, name, revision, err);
    if (!cm) return -1;
    cm->next = c->head;
    c->head = cm;
  }
  cm->refs++;
  *out = cm;
  return 0;
}
