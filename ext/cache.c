/*
** cache.c — per-connection cache of loaded models, checked once per
** statement (callers keep the reference in sqlite3_set_auxdata for the rest
** of the statement), and the connection's memory limits.
**
** Why a model can be trusted between statements.  sql/schema.sql's triggers
** stamp a model with a new random revision at every change of its rows, and
** its empty expression index makes SQLite refuse incremental blob writes,
** the one way to change a row without firing a trigger.  So a revision names
** one content of the rows for as long as those triggers and that index are
** in place; whether they are is checked (store_schema_intact) once per
** schema version of each database, and any DDL changes the schema version.
** A model loaded from a database whose schema is not intact is used by its
** statement and never kept.
**
** Every entry is reference counted: the cache holds one reference on each
** entry it lists, and every statement using a model holds another.  A stale entry is unlisted at once and freed when its last
** user is done.  Each entry counts its bytes against the connection for as
** long as it lives, listed or not.
*/
#include "cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

#define EMBED_CACHE_DEFAULT ((size_t)16 << 20)
#define EMBED_CACHE_MAX_TEXT ((size_t)16 << 10) /* longer texts are not remembered: they are rarely repeated,
                                                   and a key that size would crowd out hundreds of passages */
#define LIMIT_DEFAULT ((sqlite3_int64)1 << 30)
#define LIMIT_MAX ((sqlite3_int64)1 << 50)
#define TRUST_SLOTS 8   /* databases whose schema check is remembered */

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

/* Where a model was loaded from and what it was: reused only while all of
** it is unchanged. */
typedef struct {
  char schema[STORE_SCHEMA_MAX];
  char *filename;               /* sqlite3_db_filename of that schema ("" in memory) */
  int schema_version;
  sqlite3_int64 revision;
} ModelKey;

struct CacheEntry {
  char *name;
  ModelKey key;
  SiamModel *model;
  SiamCache *cache;             /* the bytes are counted there; NULL once it is gone */
  sqlite3_int64 bytes;          /* the model's memory and its embedding cache's limit */
  int refs;
  CacheEntry *next;            /* in the cache's list, most recently used first */
  EmbedCache embeds;            /* embeddings made by this model */
};

/* The outcome of store_schema_intact for one database at one schema version. */
typedef struct {
  char schema[STORE_SCHEMA_MAX];
  char *filename;
  int schema_version;
  int intact;
  int used;
} Trust;

struct SiamCache {
  CacheEntry *head;
  sqlite3_int64 limit[2];       /* per model, per connection (CacheLimit) */
  sqlite3_int64 bytes;          /* held by live entries, listed or not */
  size_t embed_limit;           /* each model's embedding cache */
  Trust trust[TRUST_SLOTS];
  int next_trust;               /* slot to replace next */
};

/* A byte count from the environment: digits only, at most LIMIT_MAX. */
static int env_bytes(const char *var, sqlite3_int64 dflt, sqlite3_int64 *out, char *err) {
  const char *v = getenv(var);
  *out = dflt;
  if (!v) return 0;
  char *end = NULL;
  unsigned long long x = strtoull(v, &end, 10);
  if (!*v || *end || *v == '-' || x > (unsigned long long)LIMIT_MAX)
    return siam_errf(err, "%s must be a number of bytes from 0 to %lld, got '%.40s'", var, (long long)LIMIT_MAX, v);
  *out = (sqlite3_int64)x;
  return 0;
}

SiamCache *cache_new(char err[SIAM_ERRMAX]) {
  SiamCache *c = siam_calloc(1, sizeof *c);
  if (!c) {
    siam_errf(err, "out of memory");
    return NULL;
  }
  sqlite3_int64 embed;
  if (env_bytes("SIAMSQL_MODEL_MEMORY", LIMIT_DEFAULT, &c->limit[LIMIT_MODEL], err) ||
      env_bytes("SIAMSQL_CONNECTION_MEMORY", LIMIT_DEFAULT, &c->limit[LIMIT_CONNECTION], err) ||
      env_bytes("SIAMSQL_EMBED_CACHE_BYTES", (sqlite3_int64)EMBED_CACHE_DEFAULT, &embed, err)) {
    siam_free(c);
    return NULL;
  }
  c->embed_limit = (size_t)embed;
  return c;
}

static void embeds_free(EmbedCache *e) {
  for (Embedded *x = e->newest, *older; x; x = older) {
    older = x->older;
    siam_free(x);
  }
  siam_free(e->buckets);
  memset(e, 0, sizeof *e);
}

void cache_entry_release(void *p) {
  CacheEntry *cm = p;
  if (!cm || --cm->refs > 0) return;
  embeds_free(&cm->embeds);
  siam_model_free(cm->model);
  siam_free(cm->key.filename);
  siam_free(cm->name);
  if (cm->cache) cm->cache->bytes -= cm->bytes;
  siam_free(cm);
}

/* When the connection closes, after its statements (and so every
** statement's reference on an entry) are gone; an entry that outlived it
** anyway would no longer count its bytes here. */
void cache_free(SiamCache *c) {
  if (!c) return;
  while (c->head) {
    CacheEntry *cm = c->head;
    c->head = cm->next;
    cm->cache = NULL;
    cache_entry_release(cm);
  }
  for (int i = 0; i < TRUST_SLOTS; i++) siam_free(c->trust[i].filename);
  siam_free(c);
}

SiamModel *cache_entry_model(CacheEntry *cm) { return cm->model; }
sqlite3_int64 cache_entry_revision(const CacheEntry *cm) { return cm->key.revision; }

sqlite3_int64 cache_limit(const SiamCache *c, CacheLimit which) { return c->limit[which]; }
void cache_set_limit(SiamCache *c, CacheLimit which, sqlite3_int64 bytes) { c->limit[which] = bytes; }
sqlite3_int64 cache_limit_max(void) { return LIMIT_MAX; }
sqlite3_int64 cache_bytes(const SiamCache *c) { return c->bytes; }

/* ---- the list ------------------------------------------------------------------- */

static void unlist(SiamCache *c, CacheEntry *cm) {
  for (CacheEntry **p = &c->head; *p; p = &(*p)->next) {
    if (*p == cm) {
      *p = cm->next;
      cm->next = NULL;
      cache_entry_release(cm);
      return;
    }
  }
}

/* Moves a listed entry to the front: the list is most recently used first. */
static void to_front(SiamCache *c, CacheEntry *cm) {
  for (CacheEntry **p = &c->head; *p; p = &(*p)->next) {
    if (*p == cm) {
      *p = cm->next;
      break;
    }
  }
  cm->next = c->head;
  c->head = cm;
}

static CacheEntry *find(SiamCache *c, const char *name) {
  for (CacheEntry *cm = c->head; cm; cm = cm->next)
    if (strcmp(cm->name, name) == 0) return cm;
  return NULL;
}

/* Lets go of listed models no statement uses, least recently used first,
** until `need` more bytes fit under the connection's limit. */
static void make_room(SiamCache *c, sqlite3_int64 need) {
  while (c->bytes + need > c->limit[LIMIT_CONNECTION]) {
    CacheEntry *idle = NULL;
    for (CacheEntry *cm = c->head; cm; cm = cm->next)
      if (cm->refs == 1) idle = cm;
    if (!idle) return;
    unlist(c, idle);
  }
}

/* ---- keys and trust ------------------------------------------------------------------ */

static const char *db_filename(sqlite3 *db, const char *schema) {
  const char *f = sqlite3_db_filename(db, schema);
  return f ? f : "";
}

static int same_key(const ModelKey *k, const StoreModel *sm, const char *filename) {
  return strcmp(k->schema, sm->schema) == 0 && strcmp(k->filename, filename) == 0 &&
         k->schema_version == sm->schema_version && k->revision == sm->revision;
}

/* Whether sm's database holds siamsql's triggers, remembered per schema
** version so the check runs once per DDL, not once per statement. */
static int schema_trusted(SiamCache *c, sqlite3 *db, const StoreModel *sm, const char *filename, int *intact,
                          char *err) {
  for (int i = 0; i < TRUST_SLOTS; i++) {
    Trust *t = &c->trust[i];
    if (t->used && t->schema_version == sm->schema_version && strcmp(t->schema, sm->schema) == 0 &&
        strcmp(t->filename, filename) == 0) {
      *intact = t->intact;
      return SQLITE_OK;
    }
  }
  int rc = store_schema_intact(db, sm, intact, err);
  if (rc != SQLITE_OK) return rc;
  char *copy = siam_strndup(filename, strlen(filename));
  if (!copy) return SQLITE_OK;  /* not remembered: checked again next time */
  Trust *t = &c->trust[c->next_trust];
  c->next_trust = (c->next_trust + 1) % TRUST_SLOTS;
  siam_free(t->filename);
  snprintf(t->schema, sizeof t->schema, "%s", sm->schema);
  t->filename = copy;
  t->schema_version = sm->schema_version;
  t->intact = *intact;
  t->used = 1;
  return SQLITE_OK;
}

/* ---- memory limits ------------------------------------------------------------------- */

static void format_bytes(char *out, size_t cap, double bytes) {
  if (bytes >= (double)(1 << 30)) snprintf(out, cap, "%.2f GiB", bytes / (double)(1 << 30));
  else snprintf(out, cap, "%.1f MiB", bytes / (double)(1 << 20));
}

static const char *const limit_name[2] = {"model", "connection"};
static const char *const limit_env[2] = {"SIAMSQL_MODEL_MEMORY", "SIAMSQL_CONNECTION_MEMORY"};

/* "... over the per-<which> memory limit of L (raise it with ...)": an
** SQLITE_ERROR, as any model that fails a check. */
static int over_limit(const SiamCache *c, CacheLimit which, const char *what, char *err) {
  char limit[32];
  format_bytes(limit, sizeof limit, (double)c->limit[which]);
  siam_errf(err, "%s, over the per-%s memory limit of %s (raise it with SELECT siam_memory_limit('%s', bytes) or %s)",
            what, limit_name[which], limit, limit_name[which], limit_env[which]);
  return SQLITE_ERROR;
}

/* Checks a model of `need` bytes against both limits, letting idle models go
** to make room; *allowed: what its load may allocate. */
static int admit(SiamCache *c, const char *name, sqlite3_int64 need, sqlite3_int64 *allowed, char *err) {
  char what[SIAM_ERRMAX], n[32], held[32];
  format_bytes(n, sizeof n, (double)need);
  snprintf(what, sizeof what, "model '%s' needs %s of memory", name, n);
  if (need > c->limit[LIMIT_MODEL]) return over_limit(c, LIMIT_MODEL, what, err);
  make_room(c, need);
  if (c->bytes + need > c->limit[LIMIT_CONNECTION]) {
    format_bytes(held, sizeof held, (double)c->bytes);
    snprintf(what, sizeof what, "model '%s' needs %s of memory and this connection's models in use hold %s", name, n,
             held);
    return over_limit(c, LIMIT_CONNECTION, what, err);
  }
  sqlite3_int64 to_conn = c->limit[LIMIT_CONNECTION] - c->bytes;
  *allowed = to_conn < c->limit[LIMIT_MODEL] ? to_conn : c->limit[LIMIT_MODEL];
  return SQLITE_OK;
}

/* ---- loading -------------------------------------------------------------------------- */

static int load(SiamCache *c, sqlite3 *db, const char *name, const StoreModel *sm, const char *filename,
                CacheEntry **out, char *err) {
  size_t plan;
  char why[SIAM_ERRMAX];
  if (siam_model_plan_bytes(sm->config, sm->config_len, &plan, why)) {
    siam_errf(err, "model '%s': %s", name, why);
    return SQLITE_ERROR;
  }
  sqlite3_int64 need = (sqlite3_int64)plan + (sqlite3_int64)c->embed_limit, allowed = 0;
  int rc = admit(c, name, need, &allowed, err);
  if (rc != SQLITE_OK) return rc;
  CacheEntry *cm = siam_calloc(1, sizeof *cm);
  if (!cm || !(cm->name = siam_strndup(name, strlen(name))) ||
      !(cm->key.filename = siam_strndup(filename, strlen(filename)))) {
    if (cm) siam_free(cm->name);
    siam_free(cm);
    siam_errf(err, "out of memory");
    return SQLITE_NOMEM;
  }
  snprintf(cm->key.schema, sizeof cm->key.schema, "%s", sm->schema);
  cm->key.schema_version = sm->schema_version;
  cm->key.revision = sm->revision;
  cm->refs = 1;
  cm->embeds.limit = c->embed_limit;
  rc = store_load_model(db, sm, name, (size_t)(allowed - (sqlite3_int64)c->embed_limit), &cm->model, err);
  if (rc == SQLITE_TOOBIG) {  /* its rows need more than the config promised */
    char what[SIAM_ERRMAX];
    snprintf(what, sizeof what, "%s", err);
    rc = over_limit(c, allowed == c->limit[LIMIT_MODEL] ? LIMIT_MODEL : LIMIT_CONNECTION, what, err);
  }
  if (rc != SQLITE_OK) {
    cache_entry_release(cm);
    return rc;
  }
  cm->bytes = (sqlite3_int64)siam_model_bytes(cm->model) + (sqlite3_int64)c->embed_limit;
  cm->cache = c;
  c->bytes += cm->bytes;
  *out = cm;
  return SQLITE_OK;
}

int cache_get(SiamCache *c, sqlite3 *db, const char *name, CacheEntry **out, char err[SIAM_ERRMAX]) {
  StoreModel sm;
  *out = NULL;
  int rc = store_open_model(db, name, &sm, err), intact = 0;
  if (rc != SQLITE_OK) {
    CacheEntry *gone = find(c, name);
    if (gone && rc == SQLITE_ERROR) unlist(c, gone);  /* deleted: let it go */
    return rc;
  }
  const char *filename = db_filename(db, sm.schema);
  rc = schema_trusted(c, db, &sm, filename, &intact, err);
  CacheEntry *cm = rc == SQLITE_OK ? find(c, name) : NULL;
  if (cm && intact && same_key(&cm->key, &sm, filename)) {
    to_front(c, cm);
    cm->refs++;
    *out = cm;
  } else if (rc == SQLITE_OK) {
    if (cm) unlist(c, cm);  /* changed: let it go */
    rc = load(c, db, name, &sm, filename, &cm, err);
    if (rc == SQLITE_OK && intact) {
      cm->next = c->head;
      c->head = cm;
      cm->refs++;
    }
    if (rc == SQLITE_OK) *out = cm;
  }
  store_close_model(&sm);
  return rc;
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
  if (n > EMBED_CACHE_MAX_TEXT || size > e->limit / 8) return;  /* one long text must not flush the rest */
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

int cache_entry_embed(CacheEntry *cm, const char *text, size_t n, float *out) {
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
