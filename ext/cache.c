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

#include <stdlib.h>
#include <string.h>

#include "store.h"

#define EMBED_CACHE_DEFAULT ((size_t)16 << 20)

/* One remembered embedding: dim floats, then the text's bytes. */
typedef struct Embedded {
  struct Embedded *chain;       /* next in its hash bucket */
  struct Embedded *newer, *older; /* recency list */
  uint64_t hash;
  size_t len;                   /* text bytes */
  float vec[];                  /* (dim) then len bytes of text */
} Embedded;

/* Texts -> embeddings for one loaded model, bounded in bytes, LRU. */
typedef struct {
  Embedded **buckets;           /* (n_buckets) hash chains, n_buckets a power of 2 */
  size_t n_buckets, count;
  size_t bytes, limit;          /* held and allowed, counting entries and buckets */
  Embedded *newest, *oldest;
} EmbedCache;

struct CachedModel {
  char *name;
  sqlite3_int64 revision;   /* siam_model.revision it was loaded at */
  SiamModel *model;
  int refs;
  CachedModel *next;        /* in the cache's list */
  EmbedCache embeds;        /* embeddings made by this model */
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

static void embeds_free(EmbedCache *e) {
  for (Embedded *x = e->newest, *older; x; x = older) {
    older = x->older;
    siam_free(x);
  }
  siam_free(e->buckets);
  memset(e, 0, sizeof *e);
}

void cached_model_release(void *p) {
  CachedModel *cm = p;
  if (!cm || --cm->refs > 0) return;
  embeds_free(&cm->embeds);
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
  const char *limit = getenv("SIAMSQL_EMBED_CACHE_BYTES");
  cm->embeds.limit = limit ? (size_t)strtoull(limit, NULL, 10) : EMBED_CACHE_DEFAULT;
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

/* ---- the embedding cache ------------------------------------------------------ */

static uint64_t hash_bytes(const char *p, size_t n) {  /* FNV-1a */
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
  return h;
}

static size_t entry_size(size_t dim, size_t len) { return sizeof(Embedded) + dim * sizeof(float) + len; }

static Embedded **bucket(EmbedCache *e, uint64_t hash) { return &e->buckets[hash & (e->n_buckets - 1)]; }

static void unlink_recency(EmbedCache *e, Embedded *x) {
  if (x->newer) x->newer->older = x->older;
  else e->newest = x->older;
  if (x->older) x->older->newer = x->newer;
  else e->oldest = x->newer;
  x->newer = x->older = NULL;
}

static void push_newest(EmbedCache *e, Embedded *x) {
  x->older = e->newest;
  x->newer = NULL;
  if (e->newest) e->newest->newer = x;
  e->newest = x;
  if (!e->oldest) e->oldest = x;
}

static void drop_oldest(EmbedCache *e, size_t dim) {
  Embedded *x = e->oldest;
  for (Embedded **p = bucket(e, x->hash); *p; p = &(*p)->chain) {
    if (*p == x) {
      *p = x->chain;
      break;
    }
  }
  unlink_recency(e, x);
  e->bytes -= entry_size(dim, x->len);
  e->count--;
  siam_free(x);
}

static Embedded *lookup(EmbedCache *e, size_t dim, uint64_t hash, const char *text, size_t n) {
  if (!e->buckets) return NULL;
  for (Embedded *x = *bucket(e, hash); x; x = x->chain)
    if (x->hash == hash && x->len == n && memcmp((const char *)(x->vec + dim), text, n) == 0) return x;
  return NULL;
}

/* Doubles the table once it holds as many entries as buckets. */
static int grow(EmbedCache *e) {
  size_t n = e->n_buckets ? e->n_buckets * 2 : 256;
  Embedded **b = siam_calloc(n, sizeof *b);
  if (!b) return -1;
  for (size_t i = 0; i < e->n_buckets; i++) {
    for (Embedded *x = e->buckets[i], *next; x; x = next) {
      next = x->chain;
      x->chain = b[x->hash & (n - 1)];
      b[x->hash & (n - 1)] = x;
    }
  }
  e->bytes += (n - e->n_buckets) * sizeof *b;
  siam_free(e->buckets);
  e->buckets = b;
  e->n_buckets = n;
  return 0;
}

/* Remembers vec for text, letting the oldest go to stay under the limit. */
static void remember(EmbedCache *e, size_t dim, uint64_t hash, const char *text, size_t n, const float *vec) {
  size_t size = entry_size(dim, n);
  if (size > e->limit / 8) return;  /* one long text must not flush the rest */
  if (e->count >= e->n_buckets && e->bytes + e->n_buckets * sizeof(Embedded *) <= e->limit / 2 && grow(e)) return;
  if (!e->buckets) return;
  while (e->oldest && e->bytes + size > e->limit) drop_oldest(e, dim);
  if (e->bytes + size > e->limit) return;
  Embedded *x = siam_malloc(size);
  if (!x) return;
  x->hash = hash;
  x->len = n;
  memcpy(x->vec, vec, dim * sizeof(float));
  if (n) memcpy((char *)(x->vec + dim), text, n);
  x->chain = *bucket(e, hash);
  *bucket(e, hash) = x;
  push_newest(e, x);
  e->bytes += size;
  e->count++;
}

int cached_embed(CachedModel *cm, const char *text, size_t n, float *out) {
  EmbedCache *e = &cm->embeds;
  size_t dim = (size_t)siam_model_dim(cm->model);
  if (!e->limit) return siam_model_embed(cm->model, text, n, out);
  uint64_t hash = hash_bytes(text, n);
  Embedded *x = lookup(e, dim, hash, text, n);
  if (x) {
    memcpy(out, x->vec, dim * sizeof(float));
    unlink_recency(e, x);
    push_newest(e, x);
    return 0;
  }
  if (siam_model_embed(cm->model, text, n, out)) return -1;
  remember(e, dim, hash, text, n, out);
  return 0;
}
