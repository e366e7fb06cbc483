/*
** store.c — reading and writing the model tables.
**
** Reads.  A scalar function such as siam_embed('m', ?) reads no table of its
** own, so its statement may hold no read transaction at all: separate
** SELECTs for the config, the tensors and the vocab would each see whatever
** was committed at that moment, and a writer committing in between would
** yield a model that never existed.  store_open_model therefore steps a
** SELECT on siam_model and keeps it open until store_close_model; while a
** statement of the connection is open on a database, the connection's read
** transaction there cannot end (WAL: its snapshot stays; rollback journal:
** its SHARED lock stays), so every later read of the model tables, incremental
** blob reads included, sees the same rows.  The other reads name the schema
** the first one found siam_model in, so all of a model comes from one file.
**
** Writes happen inside SAVEPOINT siam_store, so a failure at any row rolls
** the database back to what it was; when that savepoint began the
** transaction and its RELEASE (the commit) fails, the transaction is rolled
** back too, never left open.
**
** Errors keep SQLite's result code (SQLITE_BUSY stays SQLITE_BUSY) so that
** hosts that retry on a busy database retry.
*/
#include "store.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "schema_sql.h"

static int db_err(sqlite3 *db, char *err, const char *what) {
  int rc = sqlite3_extended_errcode(db);
  if (rc == SQLITE_INTERRUPT) siam_errf(err, "interrupted");  /* as SQLite says it, whatever was being read */
  else siam_errf(err, "%s: %s", what, sqlite3_errmsg(db));
  return rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_ERROR : rc;
}

/* A failure that is not SQLite's: SQLITE_ERROR and the message. */
static int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, SIAM_ERRMAX, fmt, ap);
  va_end(ap);
  return SQLITE_ERROR;
}

static int nomem(char *err) {
  siam_errf(err, "out of memory");
  return SQLITE_NOMEM;
}

/* Polled between rows of a load: sqlite3_interrupt() stops it there. */
static int interrupted(char *err) {
  if (!siam_stop_requested()) return 0;
  siam_errf(err, "interrupted");
  return 1;
}

/* sql with every %s replaced by the quoted schema name; NULL out of memory. */
static char *in_schema(const char *sql, const char *schema) {
  return sqlite3_mprintf(sql, schema, schema, schema);
}

static int prepare_in(sqlite3 *db, const char *sql, const char *schema, sqlite3_stmt **st, char *err,
                      const char *what) {
  char *text = in_schema(sql, schema);
  if (!text) return nomem(err);
  int rc = sqlite3_prepare_v2(db, text, -1, st, NULL);
  sqlite3_free(text);
  return rc == SQLITE_OK ? SQLITE_OK : db_err(db, err, what);
}

static int text_col(sqlite3_stmt *st, int col, const char **out) {
  if (sqlite3_column_type(st, col) != SQLITE_TEXT) return -1;
  *out = (const char *)sqlite3_column_text(st, col);
  return *out ? 0 : -1;
}

/* ---- the schema sql/schema.sql creates ------------------------------------ */

/* The triggers and indexes of sql/schema.sql as SQLite stores them
** (sqlite_schema.sql), found once per process by running the schema in a
** scratch in-memory database: the reference a database's own schema is
** compared with. */
enum { MAX_OBJECTS = 16, MAX_OBJECT_SQL = 1024 };
static struct {
  int n, rc;
  char name[MAX_OBJECTS][64];
  char sql[MAX_OBJECTS][MAX_OBJECT_SQL];
} expected;
static pthread_once_t expected_once = PTHREAD_ONCE_INIT;

static const char *OBJECTS_SQL =
    "SELECT name, sql FROM \"%w\".sqlite_schema WHERE tbl_name IN ('siam_model', 'siam_tensor', 'siam_vocab')"
    " AND type IN ('trigger', 'index') AND sql IS NOT NULL ORDER BY name";

static void find_expected(void) {
  sqlite3 *scratch = NULL;
  sqlite3_stmt *st = NULL;
  expected.rc = SQLITE_ERROR;
  if (sqlite3_open_v2(":memory:", &scratch, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY, NULL) != SQLITE_OK ||
      sqlite3_exec(scratch, SIAM_SCHEMA_SQL, NULL, NULL, NULL) != SQLITE_OK)
    goto done;
  char *sql = in_schema(OBJECTS_SQL, "main");
  if (!sql || sqlite3_prepare_v2(scratch, sql, -1, &st, NULL) != SQLITE_OK) {
    sqlite3_free(sql);
    goto done;
  }
  sqlite3_free(sql);
  while (sqlite3_step(st) == SQLITE_ROW && expected.n < MAX_OBJECTS) {
    snprintf(expected.name[expected.n], sizeof expected.name[0], "%s", sqlite3_column_text(st, 0));
    snprintf(expected.sql[expected.n], sizeof expected.sql[0], "%s", sqlite3_column_text(st, 1));
    expected.n++;
  }
  expected.rc = expected.n > 0 && expected.n < MAX_OBJECTS ? SQLITE_OK : SQLITE_ERROR;
done:
  sqlite3_finalize(st);
  sqlite3_close(scratch);
}

/* Compares the schema's triggers and indexes on the model tables with ours. */
static int schema_matches(sqlite3 *db, const char *schema, int *same, char *err) {
  pthread_once(&expected_once, find_expected);
  if (expected.rc != SQLITE_OK) return fail(err, "cannot build the reference schema");
  sqlite3_stmt *st = NULL;
  int rc = prepare_in(db, OBJECTS_SQL, schema, &st, err, "reading the schema");
  if (rc != SQLITE_OK) return rc;
  int i = 0, step;
  *same = 1;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0), *sql = (const char *)sqlite3_column_text(st, 1);
    if (i >= expected.n || !name || !sql || strcmp(name, expected.name[i]) || strcmp(sql, expected.sql[i]))
      *same = 0;
    i++;
  }
  if (i != expected.n) *same = 0;
  rc = step == SQLITE_DONE ? SQLITE_OK : db_err(db, err, "reading the schema");
  sqlite3_finalize(st);
  return rc;
}

int store_schema_intact(sqlite3 *db, const StoreModel *sm, int *intact, char err[SIAM_ERRMAX]) {
  return schema_matches(db, sm->schema, intact, err);
}

/* Creates what is missing; replaces our triggers and indexes where they are
** not ours (a database written by an older siamsql).  *changed: whether it
** had to. */
static int ensure_schema(sqlite3 *db, int *changed, char *err) {
  int same = 0, rc = schema_matches(db, "main", &same, err);
  *changed = rc != SQLITE_OK || !same;
  if (sqlite3_exec(db, SIAM_SCHEMA_SQL, NULL, NULL, NULL) != SQLITE_OK)
    return db_err(db, err, "creating the model tables");
  rc = schema_matches(db, "main", &same, err);
  if (rc != SQLITE_OK || same) return rc;
  for (int i = 0; i < expected.n; i++) {
    char *drop = sqlite3_mprintf("DROP TRIGGER IF EXISTS main.\"%w\"; DROP INDEX IF EXISTS main.\"%w\"",
                                 expected.name[i], expected.name[i]);
    if (!drop) return nomem(err);
    /* A trigger and an index never share a name; the DROP that does not
    ** apply is a no-op. */
    int drc = sqlite3_exec(db, drop, NULL, NULL, NULL);
    sqlite3_free(drop);
    if (drc != SQLITE_OK) return db_err(db, err, "upgrading the model tables");
  }
  if (sqlite3_exec(db, SIAM_SCHEMA_SQL, NULL, NULL, NULL) != SQLITE_OK)
    return db_err(db, err, "upgrading the model tables");
  return SQLITE_OK;
}

/* ---- opening a model: its row, pinned ---------------------------------------- */

static int read_schema_version(sqlite3 *db, StoreModel *sm, char *err) {
  sqlite3_stmt *st = NULL;
  int rc = prepare_in(db, "PRAGMA \"%w\".schema_version", sm->schema, &st, err, "reading the schema version");
  if (rc != SQLITE_OK) return rc;
  if (sqlite3_step(st) == SQLITE_ROW) sm->schema_version = sqlite3_column_int(st, 0);
  else rc = db_err(db, err, "reading the schema version");
  sqlite3_finalize(st);
  return rc;
}

int store_open_model(sqlite3 *db, const char *name, StoreModel *sm, char err[SIAM_ERRMAX]) {
  memset(sm, 0, sizeof *sm);
  if (sqlite3_prepare_v2(db, "SELECT revision, config FROM siam_model WHERE name = ?1", -1, &sm->pin, NULL) !=
      SQLITE_OK) {
    if (strncmp(sqlite3_errmsg(db), "no such table", 13) == 0) return fail(err, "no model named '%s'", name);
    return db_err(db, err, "reading siam_model");
  }
  sqlite3_bind_text(sm->pin, 1, name, -1, SQLITE_STATIC);
  int step = sqlite3_step(sm->pin), rc = SQLITE_OK;
  const char *schema = step == SQLITE_ROW ? sqlite3_column_database_name(sm->pin, 0) : NULL;
  if (step == SQLITE_DONE) rc = fail(err, "no model named '%s'", name);
  else if (step != SQLITE_ROW) rc = db_err(db, err, "reading siam_model");
  else if (sqlite3_column_type(sm->pin, 1) != SQLITE_TEXT) rc = fail(err, "model '%s': config is not TEXT", name);
  else if (sqlite3_column_type(sm->pin, 0) != SQLITE_INTEGER)
    rc = fail(err, "model '%s': revision is not an INTEGER", name);
  else if (!schema || strlen(schema) >= sizeof sm->schema) rc = fail(err, "model '%s': schema name too long", name);
  if (rc == SQLITE_OK) {
    snprintf(sm->schema, sizeof sm->schema, "%s", schema);
    sm->revision = sqlite3_column_int64(sm->pin, 0);
    sm->config = (const char *)sqlite3_column_text(sm->pin, 1);
    sm->config_len = (size_t)sqlite3_column_bytes(sm->pin, 1);
    if (!sm->config) rc = nomem(err);
  }
  if (rc == SQLITE_OK) rc = read_schema_version(db, sm, err);
  if (rc != SQLITE_OK) store_close_model(sm);
  return rc;
}

void store_close_model(StoreModel *sm) {
  sqlite3_finalize(sm->pin);
  sm->pin = NULL;
  sm->config = NULL;
}

/* ---- rows of an open model ------------------------------------------------------ */

/* One siam_tensor row, as both the loader and export consume it: the data
** comes as a reader, never as one buffer. */
typedef int (*TensorRowFn)(void *arg, const char *name, const char *dtype, const char *shape,
                           const SiamBlobReader *data, char *err);

static int read_blob_piece(void *blob, size_t off, void *buf, size_t n) {
  return sqlite3_blob_read(blob, buf, (int)n, (int)off) == SQLITE_OK ? 0 : -1;
}

/* Calls fn for each of the model's tensor rows; stops at the first error.
** data is read through SQLite's incremental blob I/O, a piece at a time, so
** a large tensor is never in memory compressed and decoded at once. */
static int each_tensor_row(sqlite3 *db, const StoreModel *sm, const char *name, TensorRowFn fn, void *arg,
                           char *err) {
  sqlite3_stmt *st = NULL;
  int rc = prepare_in(db, "SELECT name, dtype, shape, rowid FROM \"%w\".siam_tensor WHERE model = ?1", sm->schema,
                      &st, err, "reading siam_tensor");
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int step = SQLITE_DONE;
  while (rc == SQLITE_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
    const char *tname, *dtype, *shape;
    if (text_col(st, 0, &tname) || text_col(st, 1, &dtype) || text_col(st, 2, &shape)) {
      rc = fail(err, "siam_tensor row with a name, dtype or shape that is not TEXT");
      break;
    }
    if (interrupted(err)) {
      rc = SQLITE_INTERRUPT;
      break;
    }
    sqlite3_blob *blob = NULL;
    if (sqlite3_blob_open(db, sm->schema, "siam_tensor", "data", sqlite3_column_int64(st, 3), 0, &blob) !=
        SQLITE_OK) {
      siam_errf(err, "tensor %s: cannot read its data: %s", tname, sqlite3_errmsg(db));
      rc = sqlite3_extended_errcode(db);
    } else {
      SiamBlobReader data = {(size_t)sqlite3_blob_bytes(blob), read_blob_piece, blob};
      rc = fn(arg, tname, dtype, shape, &data, err) ? SQLITE_ERROR : SQLITE_OK;
    }
    sqlite3_blob_close(blob);
  }
  if (rc == SQLITE_OK && step != SQLITE_DONE) rc = db_err(db, err, "reading siam_tensor");
  sqlite3_finalize(st);
  return rc;
}

/* One siam_vocab row (id already checked to be an INTEGER, token TEXT);
** returns an SQLite result code. */
typedef int (*VocabRowFn)(void *arg, sqlite3_int64 id, const char *token, size_t len, char *err);

/* Calls fn for each of the model's vocab rows, by id; stops at the first error. */
static int each_vocab_row(sqlite3 *db, const StoreModel *sm, const char *name, VocabRowFn fn, void *arg,
                          char *err) {
  sqlite3_stmt *st = NULL;
  int rc = prepare_in(db, "SELECT id, token FROM \"%w\".siam_vocab WHERE model = ?1 ORDER BY id", sm->schema, &st,
                      err, "reading siam_vocab");
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int step = SQLITE_DONE;
  for (long n = 0; rc == SQLITE_OK && (step = sqlite3_step(st)) == SQLITE_ROW; n++) {
    const char *token;
    if (sqlite3_column_type(st, 0) != SQLITE_INTEGER || text_col(st, 1, &token)) {
      rc = fail(err, "siam_vocab row with a non-integer id or non-text token");
      break;
    }
    if (n % 4096 == 4095 && interrupted(err)) {
      rc = SQLITE_INTERRUPT;
      break;
    }
    rc = fn(arg, sqlite3_column_int64(st, 0), token, (size_t)sqlite3_column_bytes(st, 1), err);
  }
  if (rc == SQLITE_OK && step != SQLITE_DONE) rc = db_err(db, err, "reading siam_vocab");
  sqlite3_finalize(st);
  return rc;
}

/* ---- loading --------------------------------------------------------------- */

typedef struct {
  SiamModel *m;
  size_t max_bytes;   /* what the model may hold in all */
  const char *name;
} Loader;

static int add_to_model(void *arg, const char *name, const char *dtype, const char *shape,
                        const SiamBlobReader *data, char *err) {
  return siam_model_add_tensor_from(((Loader *)arg)->m, name, dtype, shape, data, err);
}

static void format_bytes(char *out, size_t cap, double bytes) {
  if (bytes >= (double)(1 << 30)) snprintf(out, cap, "%.2f GiB", bytes / (double)(1 << 30));
  else snprintf(out, cap, "%.1f MiB", bytes / (double)(1 << 20));
}

/* A token is copied twice (the rows' copy, then the tokenizer's): checked
** against what the model may hold before either. */
static int add_token_to_model(void *arg, sqlite3_int64 id, const char *token, size_t len, char *err) {
  Loader *l = arg;
  if (siam_model_bytes(l->m) + 2 * (len + 1) > l->max_bytes) {
    char limit[32];
    format_bytes(limit, sizeof limit, (double)l->max_bytes);
    siam_errf(err, "model '%s' needs more than %s of memory (its vocab alone)", l->name, limit);
    return SQLITE_TOOBIG;
  }
  return siam_model_add_token(l->m, id, token, len, err) ? SQLITE_ERROR : SQLITE_OK;
}

int store_load_model(sqlite3 *db, const StoreModel *sm, const char *name, size_t max_bytes, SiamModel **out,
                     char err[SIAM_ERRMAX]) {
  char why[SIAM_ERRMAX] = "";
  Loader l = {.max_bytes = max_bytes, .name = name};
  *out = NULL;
  if (interrupted(err)) return SQLITE_INTERRUPT;
  l.m = siam_model_new(sm->config, sm->config_len, why);
  int rc = l.m ? SQLITE_OK : SQLITE_ERROR;
  if (rc == SQLITE_OK) rc = each_tensor_row(db, sm, name, add_to_model, &l, why);
  if (rc == SQLITE_OK) rc = each_vocab_row(db, sm, name, add_token_to_model, &l, why);
  if (rc == SQLITE_OK && siam_model_finish(l.m, why)) rc = siam_stop_was_requested() ? SQLITE_INTERRUPT : SQLITE_ERROR;
  if (rc == SQLITE_OK) {
    *out = l.m;
    return SQLITE_OK;
  }
  siam_model_free(l.m);
  if (rc == SQLITE_TOOBIG || rc == SQLITE_INTERRUPT) siam_errf(err, "%s", why);
  else siam_errf(err, "model '%s': %s", name, why);
  return rc;
}

/* ---- reading a bundle (export) ------------------------------------------------ */

/* Every row is matched to the tensor its config requires before its frame
** is decoded, so a stored shape never sizes an allocation on its own. */
typedef struct {
  SiamBundle *b;
  const SiamTensorSpec *specs;  /* (n_specs) what the config requires */
  int n_specs;
  int cap;                      /* tensors allocated in b->tensors */
} BundleReader;

static int add_to_bundle(void *arg, const char *name, const char *dtype, const char *shape,
                         const SiamBlobReader *data, char *err) {
  BundleReader *r = arg;
  int k = siam_tensor_spec_find(r->specs, r->n_specs, name);
  if (k < 0) return siam_errf(err, "unexpected tensor %s (not part of the config's architecture)", name);
  if (r->b->n_tensors == r->cap) {
    int cap = r->cap ? 2 * r->cap : 64;
    SiamTensor *grown = siam_realloc(r->b->tensors, (size_t)cap * sizeof *grown);
    if (!grown) return siam_errf(err, "out of memory");
    r->b->tensors = grown;
    r->cap = cap;
  }
  SiamTensor *t = &r->b->tensors[r->b->n_tensors++];
  return siam_tensor_from_row(t, &r->specs[k], name, dtype, shape, data, err);
}

static int add_token_to_bundle(void *arg, sqlite3_int64 id, const char *token, size_t len, char *err) {
  SiamBundle *b = arg;
  if (id != b->n_vocab)
    return fail(err, "vocab ids must be 0..%d with no gaps or duplicates (at id %d)", b->cfg.encoder.vocab_size - 1,
                b->n_vocab);
  if (b->n_vocab >= b->cfg.encoder.vocab_size)
    return fail(err, "vocab has more tokens than config's vocab_size %d", b->cfg.encoder.vocab_size);
  if (len == 0 || memchr(token, 0, len))  /* what the loader refuses (siam_model_add_token) */
    return fail(err, "vocab token %d is empty or holds a NUL", b->n_vocab);
  b->vocab[b->n_vocab] = siam_strndup(token, len);
  if (!b->vocab[b->n_vocab]) return nomem(err);
  b->n_vocab++;
  return SQLITE_OK;
}

int store_read_bundle(sqlite3 *db, const StoreModel *sm, const char *name, SiamBundle *b, char err[SIAM_ERRMAX]) {
  char why[SIAM_ERRMAX] = "";
  SiamTensorSpec *specs = NULL;
  int n_specs = 0, rc = SQLITE_OK;
  memset(b, 0, sizeof *b);
  if (siam_config_parse(&b->cfg, sm->config, sm->config_len, why) ||
      (n_specs = siam_config_tensors(&b->cfg, &specs, why)) < 0)
    rc = SQLITE_ERROR;
  BundleReader r = {.b = b, .specs = specs, .n_specs = n_specs};
  if (rc == SQLITE_OK) rc = each_tensor_row(db, sm, name, add_to_bundle, &r, why);
  if (rc == SQLITE_OK && !(b->vocab = siam_calloc((size_t)b->cfg.encoder.vocab_size, sizeof *b->vocab)))
    rc = nomem(why);
  if (rc == SQLITE_OK) rc = each_vocab_row(db, sm, name, add_token_to_bundle, b, why);
  if (rc == SQLITE_OK && siam_bundle_check(b, why)) rc = SQLITE_ERROR;  /* export nothing that could not load */
  if (rc == SQLITE_INTERRUPT) siam_errf(err, "%s", why);
  else if (rc != SQLITE_OK) siam_errf(err, "model '%s': %s", name, why);
  siam_free(specs);
  return rc;
}

/* ---- writing ----------------------------------------------------------------- */

static int exec(sqlite3 *db, const char *sql, char *err) {
  return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? SQLITE_OK : db_err(db, err, sql);
}

static int write_model_row(sqlite3 *db, const char *name, const SiamBundle *b, const char *source, char *err) {
  char *json = siam_config_to_json(&b->cfg);
  if (!json) return nomem(err);
  sqlite3_stmt *st = NULL;
  int rc;
  if (sqlite3_prepare_v2(db, "INSERT INTO siam_model(name, config, source) VALUES (?1, ?2, ?3)", -1, &st,
                         NULL) != SQLITE_OK) {
    rc = db_err(db, err, "writing siam_model");
    goto done;
  }
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, source, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_DONE)
    rc = SQLITE_OK;
  else if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_PRIMARYKEY)
    rc = fail(err, "a model named '%s' already exists (pass {\"replace\":true} to replace it)", name);
  else
    rc = db_err(db, err, "writing siam_model");
done:
  sqlite3_finalize(st);
  siam_free(json);
  return rc;
}

static int write_tensors(sqlite3 *db, const char *name, const SiamBundle *b, char *err) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, "INSERT INTO siam_tensor(model, name, dtype, shape, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                         -1, &st, NULL) != SQLITE_OK)
    return db_err(db, err, "writing siam_tensor");
  int rc = SQLITE_OK;
  for (int i = 0; rc == SQLITE_OK && i < b->n_tensors; i++) {
    const SiamTensor *t = &b->tensors[i];
    void *frame = NULL;
    size_t frame_n = 0;
    char shape[96];
    if (siam_blob_pack(t->data, t->nbytes, &frame, &frame_n, err)) {
      rc = SQLITE_ERROR;
      break;
    }
    siam_shape_print(t->ndim, t->shape, shape, sizeof shape);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, siam_dtype_name(t->dtype), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, shape, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob64(st, 5, frame, frame_n, siam_free);
    if (sqlite3_step(st) != SQLITE_DONE) rc = db_err(db, err, "writing siam_tensor");
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  return rc;
}

static int write_vocab(sqlite3 *db, const char *name, const SiamBundle *b, char *err) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, "INSERT INTO siam_vocab(model, id, token) VALUES (?1, ?2, ?3)", -1, &st, NULL) !=
      SQLITE_OK)
    return db_err(db, err, "writing siam_vocab");
  int rc = SQLITE_OK;
  for (int i = 0; rc == SQLITE_OK && i < b->n_vocab; i++) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, i);
    sqlite3_bind_text(st, 3, b->vocab[i], -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) rc = db_err(db, err, "writing siam_vocab");
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  return rc;
}

static int delete_model(sqlite3 *db, const char *name, char *err) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, "DELETE FROM siam_model WHERE name = ?1", -1, &st, NULL) != SQLITE_OK)
    return db_err(db, err, "deleting the old model");
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : db_err(db, err, "deleting the old model");
  sqlite3_finalize(st);
  return rc;
}

int store_upgrade(sqlite3 *db, int *changed, char err[SIAM_ERRMAX]) {
  int owns_transaction = sqlite3_get_autocommit(db);
  int rc = exec(db, "SAVEPOINT siam_store", err);
  if (rc != SQLITE_OK) return rc;
  rc = ensure_schema(db, changed, err);
  if (rc == SQLITE_OK) rc = exec(db, "RELEASE siam_store", err);
  if (rc != SQLITE_OK)
    sqlite3_exec(db, owns_transaction ? "ROLLBACK" : "ROLLBACK TO siam_store; RELEASE siam_store", NULL, NULL, NULL);
  return rc;
}

int store_write_bundle(sqlite3 *db, const char *name, const SiamBundle *b, const char *source, int replace,
                       char err[SIAM_ERRMAX]) {
  int owns_transaction = sqlite3_get_autocommit(db);  /* then RELEASE is the commit */
  int rc = exec(db, "SAVEPOINT siam_store", err);
  if (rc != SQLITE_OK) return rc;
  int changed;
  rc = ensure_schema(db, &changed, err);
  if (rc == SQLITE_OK && replace) rc = delete_model(db, name, err);
  if (rc == SQLITE_OK) rc = write_model_row(db, name, b, source, err);
  if (rc == SQLITE_OK) rc = write_tensors(db, name, b, err);
  if (rc == SQLITE_OK) rc = write_vocab(db, name, b, err);
  if (rc == SQLITE_OK) rc = exec(db, "RELEASE siam_store", err);
  if (rc == SQLITE_OK) return SQLITE_OK;
  /* A failed RELEASE of the savepoint that began the transaction (a commit
  ** that could not get its lock) leaves the transaction open: end it. */
  sqlite3_exec(db, owns_transaction ? "ROLLBACK" : "ROLLBACK TO siam_store; RELEASE siam_store", NULL, NULL, NULL);
  return rc;
}
