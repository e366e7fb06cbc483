/*
** store.c — reading and writing the model tables.
**
** Writes happen inside SAVEPOINT siam_store, so a failure at any row rolls
** the database back to what it was.  Reads are ordinary SELECTs run on the
** caller's connection inside the statement that called the SQL function, so
** config, tensors and vocab all come from the same snapshot.
*/
#include "store.h"

#include <stdio.h>
#include <string.h>

#include "schema_sql.h"

static int db_err(sqlite3 *db, char *err, const char *what) {
  return siam_errf(err, "%s: %s", what, sqlite3_errmsg(db));
}

int store_ensure_schema(sqlite3 *db, char err[SIAM_ERRMAX]) {
  char *msg = NULL;
  if (sqlite3_exec(db, SIAM_SCHEMA_SQL, NULL, NULL, &msg) != SQLITE_OK) {
    siam_errf(err, "creating the model tables: %s", msg ? msg : "unknown error");
    sqlite3_free(msg);
    return -1;
  }
  return 0;
}

int store_model_revision(sqlite3 *db, const char *name, sqlite3_int64 *revision, char err[SIAM_ERRMAX]) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, "SELECT revision FROM siam_model WHERE name = ?1", -1, &st, NULL) != SQLITE_OK) {
    const char *msg = sqlite3_errmsg(db);
    int missing_table = strstr(msg, "no such table") != NULL;
    return missing_table ? 0 : db_err(db, err, "reading siam_model");
  }
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st), found = 0;
  if (rc == SQLITE_ROW) {
    *revision = sqlite3_column_int64(st, 0);
    found = 1;
  } else if (rc != SQLITE_DONE) {
    found = db_err(db, err, "reading siam_model");
  }
  sqlite3_finalize(st);
  return found;
}

/* ---- loading --------------------------------------------------------------- */

static int read_config(sqlite3 *db, const char *name, char **json, char *err) {
  sqlite3_stmt *st = NULL;
  int rc = -1;
  if (sqlite3_prepare_v2(db, "SELECT config FROM siam_model WHERE name = ?1", -1, &st, NULL) != SQLITE_OK)
    return db_err(db, err, "reading siam_model");
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int step = sqlite3_step(st);
  if (step == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT) {
    const char *text = (const char *)sqlite3_column_text(st, 0);
    *json = siam_strndup(text, (size_t)sqlite3_column_bytes(st, 0));
    rc = *json ? 0 : siam_errf(err, "out of memory");
  } else if (step == SQLITE_ROW) {
    siam_errf(err, "model '%s': config is not TEXT", name);
  } else if (step == SQLITE_DONE) {
    siam_errf(err, "no model named '%s'", name);
  } else {
    db_err(db, err, "reading siam_model");
  }
  sqlite3_finalize(st);
  return rc;
}

static int text_col(sqlite3_stmt *st, int col, const char **out) {
  if (sqlite3_column_type(st, col) != SQLITE_TEXT) return -1;
  *out = (const char *)sqlite3_column_text(st, col);
  return *out ? 0 : -1;
}

/* One siam_tensor row, as both the loader and export consume it: the data
** comes as a reader, never as one buffer. */
typedef int (*TensorRowFn)(void *arg, const char *name, const char *dtype, const char *shape,
                           const SiamBlobReader *data, char *err);

static int read_blob_piece(void *blob, size_t off, void *buf, size_t n) {
  return sqlite3_blob_read(blob, buf, (int)n, (int)off) == SQLITE_OK ? 0 : -1;
}

/* Calls fn for each of model `name`'s tensor rows; stops at the first error.
** data is read through SQLite's incremental blob I/O, a piece at a time, so
** a large tensor is never in memory compressed and decoded at once. */
static int each_tensor_row(sqlite3 *db, const char *name, TensorRowFn fn, void *arg, char *err) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, "SELECT name, dtype, shape, rowid FROM siam_tensor WHERE model = ?1", -1, &st, NULL) !=
      SQLITE_OK)
    return db_err(db, err, "reading siam_tensor");
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int rc = 0, step;
  while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
    const char *tname, *dtype, *shape;
    if (text_col(st, 0, &tname) || text_col(st, 1, &dtype) || text_col(st, 2, &shape)) {
      rc = siam_errf(err, "siam_tensor row with a name, dtype or shape that is not TEXT");
      break;
    }
    const char *schema = sqlite3_column_database_name(st, 0); /* where siam_tensor was found */
    sqlite3_blob *blob = NULL;
    if (sqlite3_blob_open(db, schema ? schema : "main", "siam_tensor", "data", sqlite3_column_int64(st, 3), 0,
                          &blob) != SQLITE_OK) {
      rc = siam_errf(err, "tensor %s: cannot read its data: %s", tname, sqlite3_errmsg(db));
    } else {
      SiamBlobReader data = {(size_t)sqlite3_blob_bytes(blob), read_blob_piece, blob};
      rc = fn(arg, tname, dtype, shape, &data, err);
    }
    sqlite3_blob_close(blob);
  }
  if (rc == 0 && step != SQLITE_DONE) rc = db_err(db, err, "reading siam_tensor");
  sqlite3_finalize(st);
  return rc;
}

static int add_to_model(void *m, const char *name, const char *dtype, const char *shape, const SiamBlobReader *data,
                        char *err) {
  return siam_model_add_tensor_from(m, name, dtype, shape, data, err);
}

static int load_tensors(sqlite3 *db, const char *name, SiamModel *m, char *err) {
  return each_tensor_row(db, name, add_to_model, m, err);
}

/* One siam_vocab row (id already checked to be an INTEGER, token TEXT). */
typedef int (*VocabRowFn)(void *arg, sqlite3_int64 id, const char *token, size_t len, char *err);

/* Calls fn for each of model `name`'s vocab rows, by id; stops at the first error. */
static int each_vocab_row(sqlite3 *db, const char *name, VocabRowFn fn, void *arg, char *err) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, "SELECT id, token FROM siam_vocab WHERE model = ?1 ORDER BY id", -1, &st, NULL) !=
      SQLITE_OK)
    return db_err(db, err, "reading siam_vocab");
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int rc = 0, step;
  while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
    const char *token;
    if (sqlite3_column_type(st, 0) != SQLITE_INTEGER || text_col(st, 1, &token)) {
      rc = siam_errf(err, "siam_vocab row with a non-integer id or non-text token");
      break;
    }
    rc = fn(arg, sqlite3_column_int64(st, 0), token, (size_t)sqlite3_column_bytes(st, 1), err);
  }
  if (rc == 0 && step != SQLITE_DONE) rc = db_err(db, err, "reading siam_vocab");
  sqlite3_finalize(st);
  return rc;
}

static int add_token_to_model(void *m, sqlite3_int64 id, const char *token, size_t len, char *err) {
  return siam_model_add_token(m, id, token, len, err);
}

static int load_vocab(sqlite3 *db, const char *name, SiamModel *m, char *err) {
  return each_vocab_row(db, name, add_token_to_model, m, err);
}

int store_load_model(sqlite3 *db, const char *name, SiamModel **out, char err[SIAM_ERRMAX]) {
  char *json = NULL;
  SiamModel *m = NULL;
  char why[SIAM_ERRMAX];
  int rc = read_config(db, name, &json, err);
  if (rc) goto done;
  rc = -1;
  m = siam_model_new(json, strlen(json), why);
  if (!m || load_tensors(db, name, m, why) || load_vocab(db, name, m, why) || siam_model_finish(m, why)) {
    siam_errf(err, "model '%s': %s", name, why);
    goto done;
  }
  *out = m;
  m = NULL;
  rc = 0;
done:
  siam_model_free(m);
  siam_free(json);
  return rc;
}

/* ---- writing ----------------------------------------------------------------- */

static int exec(sqlite3 *db, const char *sql, char *err) {
  return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_err(db, err, sql);
}

static int write_model_row(sqlite3 *db, const char *name, const SiamBundle *b, const char *source, char *err) {
  char *json = siam_config_to_json(&b->cfg);
  if (!json) return siam_errf(err, "out of memory");
  sqlite3_stmt *st = NULL;
  int rc = -1;
  if (sqlite3_prepare_v2(db, "INSERT INTO siam_model(name, config, source) VALUES (?1, ?2, ?3)", -1, &st,
                         NULL) != SQLITE_OK) {
    db_err(db, err, "writing siam_model");
    goto done;
  }
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, source, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_DONE)
    rc = 0;
  else if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_PRIMARYKEY)
    siam_errf(err, "a model named '%s' already exists (pass {\"replace\":true} to replace it)", name);
  else
    db_err(db, err, "writing siam_model");
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
  int rc = 0;
  for (int i = 0; rc == 0 && i < b->n_tensors; i++) {
    const SiamTensor *t = &b->tensors[i];
    void *frame = NULL;
    size_t frame_n = 0;
    char shape[96];
    if (siam_blob_pack(t->data, t->nbytes, &frame, &frame_n, err)) {
      rc = -1;
      break;
    }
    siam_shape_to_json(t, shape, sizeof shape);
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
  int rc = 0;
  for (int i = 0; rc == 0 && i < b->n_vocab; i++) {
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
  int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_err(db, err, "deleting the old model");
  sqlite3_finalize(st);
  return rc;
}

int store_write_bundle(sqlite3 *db, const char *name, const SiamBundle *b, const char *source, int replace,
                       char err[SIAM_ERRMAX]) {
  if (exec(db, "SAVEPOINT siam_store", err)) return -1;
  int rc = store_ensure_schema(db, err);
  if (rc == 0 && replace) rc = delete_model(db, name, err);
  if (rc == 0) rc = write_model_row(db, name, b, source, err);
  if (rc == 0) rc = write_tensors(db, name, b, err);
  if (rc == 0) rc = write_vocab(db, name, b, err);
  if (rc == 0) return exec(db, "RELEASE siam_store", err);
  sqlite3_exec(db, "ROLLBACK TO siam_store; RELEASE siam_store", NULL, NULL, NULL);
  return -1;
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

static int read_bundle_tensors(sqlite3 *db, const char *name, SiamBundle *b, const SiamTensorSpec *specs,
                               int n_specs, char *err) {
  BundleReader r = {.b = b, .specs = specs, .n_specs = n_specs};
  return each_tensor_row(db, name, add_to_bundle, &r, err);
}

static int add_token_to_bundle(void *arg, sqlite3_int64 id, const char *token, size_t len, char *err) {
  SiamBundle *b = arg;
  if (id != b->n_vocab)
    return siam_errf(err, "vocab ids must be 0..%d with no gaps or duplicates (at id %d)",
                     b->cfg.encoder.vocab_size - 1, b->n_vocab);
  if (b->n_vocab >= b->cfg.encoder.vocab_size)
    return siam_errf(err, "vocab has more tokens than config's vocab_size %d", b->cfg.encoder.vocab_size);
  if (len == 0 || memchr(token, 0, len))  /* what the loader refuses (siam_model_add_token) */
    return siam_errf(err, "vocab token %d is empty or holds a NUL", b->n_vocab);
  b->vocab[b->n_vocab] = siam_strndup(token, len);
  if (!b->vocab[b->n_vocab]) return siam_errf(err, "out of memory");
  b->n_vocab++;
  return 0;
}

static int read_bundle_vocab(sqlite3 *db, const char *name, SiamBundle *b, char *err) {
  b->vocab = siam_calloc((size_t)b->cfg.encoder.vocab_size, sizeof *b->vocab);
  if (!b->vocab) return siam_errf(err, "out of memory");
  return each_vocab_row(db, name, add_token_to_bundle, b, err);
}

int store_read_bundle(sqlite3 *db, const char *name, SiamBundle *b, char err[SIAM_ERRMAX]) {
  char *json = NULL;
  char why[SIAM_ERRMAX];
  SiamTensorSpec *specs = NULL;
  int n_specs = 0;
  memset(b, 0, sizeof *b);
  int rc = read_config(db, name, &json, err);
  if (rc) return rc;
  rc = siam_config_parse(&b->cfg, json, strlen(json), why);
  if (rc == 0 && (n_specs = siam_config_tensors(&b->cfg, &specs, why)) < 0) rc = -1;
  if (rc == 0) rc = read_bundle_tensors(db, name, b, specs, n_specs, why);
  if (rc == 0) rc = read_bundle_vocab(db, name, b, why);
  if (rc == 0) rc = siam_bundle_check(b, why);
  if (rc == 0) rc = siam_bundle_check_tokenizer(b, why);  /* export nothing that could not load */
  if (rc) siam_errf(err, "model '%s': %s", name, why);
  siam_free(specs);
  siam_free(json);
  return rc;
}
