/*
** functions.c — the SQL face of siamsql.
**
**   SELECT siam_import('mini', '/path/to/sentence-transformers-dir');
**   SELECT siam_embed('mini', 'a sentence');              -- float32 LE blob
**   SELECT siam_similarity('mini', 'one text', 'another'); -- cosine
**   SELECT siam_similarity(a.emb, b.emb) FROM ...;         -- of stored vectors
**   SELECT siam_tokenize('mini', 'text'), siam_dim('mini');
**   SELECT siam_export('mini', '/tmp/out');
**
** Every error names the function: "siam_embed: no model named 'x'".  The
** model argument's reference is kept with sqlite3_set_auxdata, so a statement
** that names a constant model looks it up once, not once per row.
*/
#include "functions.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/encoder.h"
#include "../model/pool.h"
#include "../model/vecsearch.h"
#include "cache.h"
#include "stop.h"
#include "store.h"
#include "args.h"
#include "conn.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "siamsql writes float32 blobs in host order and assumes a little-endian host"
#endif


/* Reports "fn: message" with result code rc (SQLITE_BUSY stays SQLITE_BUSY,
** so hosts that retry on a busy database retry). */
static void fail_rc(sqlite3_context *ctx, int rc, const char *fn, const char *fmt, va_list ap) {
  char msg[SIAM_ERRMAX];
  vsnprintf(msg, sizeof msg, fmt, ap);
  char *full = sqlite3_mprintf("%s: %s", fn, msg);
  if (full) {
    sqlite3_result_error(ctx, full, -1);
    sqlite3_free(full);
    if (rc != SQLITE_ERROR) sqlite3_result_error_code(ctx, rc);
  } else {
    sqlite3_result_error_nomem(ctx);
  }
}

static void fail(sqlite3_context *ctx, const char *fn, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fail_rc(ctx, SQLITE_ERROR, fn, fmt, ap);
  va_end(ap);
}

static void fail_code(sqlite3_context *ctx, int rc, const char *fn, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fail_rc(ctx, rc, fn, fmt, ap);
  va_end(ap);
}

/* Argument i must be TEXT; returns it or NULL after reporting. */
static const char *text_arg(sqlite3_context *ctx, const char *fn, sqlite3_value **argv, int i,
                            const char *what) {
  const char *out;
  char err[SIAM_ERRMAX];
  int rc = arg_text(argv[i], what, &out, err);
  if (rc != SQLITE_OK) fail_code(ctx, rc, fn, "%s", err);
  return rc == SQLITE_OK ? out : NULL;
}

/* The connection's model cache. */
static SiamCache *models(sqlite3_context *ctx) { return ((SiamConn *)sqlite3_user_data(ctx))->models; }

/* The model named by argv[i], through the statement's auxdata when it has
** one; the caller passes it to keep_model() once done with it. */
static CacheEntry *model_arg(sqlite3_context *ctx, const char *fn, sqlite3_value **argv, int i) {
  CacheEntry *cm = sqlite3_get_auxdata(ctx, i);
  if (cm) return cm;
  const char *name = text_arg(ctx, fn, argv, i, "model name");
  if (!name) return NULL;
  char err[SIAM_ERRMAX];
  int rc = cache_get(models(ctx), sqlite3_context_db_handle(ctx), name, &cm, err);
  if (rc != SQLITE_OK) fail_code(ctx, rc, fn, "%s", err);
  return rc == SQLITE_OK ? cm : NULL;
}

/* Runs body with sqlite3_interrupt() able to stop the model work in it
** (loading, tokenizing, embedding): stop.h. */
static void interruptible(sqlite3_context *ctx, sqlite3_value **argv,
                          void (*body)(sqlite3_context *, sqlite3_value **)) {
  StopScope s;
  stop_begin(&s, sqlite3_context_db_handle(ctx));
  body(ctx, argv);
  stop_end(&s);
}

/* Hands the reference to the statement (SQLite may release it at once). */
static void keep_model(sqlite3_context *ctx, int i, CacheEntry *cm) {
  if (sqlite3_get_auxdata(ctx, i) == cm) return;
  sqlite3_set_auxdata(ctx, i, cm, cache_entry_release);
}

/* The text to encode: TEXT, or a BLOB taken as raw bytes (may hold NULs). */
static int text_input(sqlite3_context *ctx, const char *fn, const char *what, sqlite3_value *v, const char **p,
                      size_t *n) {
  char err[SIAM_ERRMAX];
  int rc = arg_text_or_blob(v, what, p, n, err);
  if (rc != SQLITE_OK) fail_code(ctx, rc, fn, "%s", err);
  return rc == SQLITE_OK ? 0 : -1;
}

/* A new embedding of text (sqlite3_free it), through the model's embedding
** cache (cache.h); NULL after reporting. */
static float *embed_new(sqlite3_context *ctx, const char *fn, CacheEntry *cm, const char *text, size_t n) {
  SiamModel *m = cache_entry_model(cm);
  float *out = sqlite3_malloc64((sqlite3_uint64)siam_model_dim(m) * sizeof(float));
  if (!out || cache_entry_embed(cm, text, n, out)) {
    sqlite3_free(out);
    if (siam_stop_was_requested()) fail_code(ctx, SQLITE_INTERRUPT, fn, "interrupted");
    else fail_code(ctx, SQLITE_NOMEM, fn, "out of memory");
    return NULL;
  }
  return out;
}

/* ---- siam_embed(model, text) -------------------------------------------- */

static void embed(sqlite3_context *ctx, sqlite3_value **argv) {
  const char *fn = "siam_embed";
  CacheEntry *cm = model_arg(ctx, fn, argv, 0);
  if (!cm) return;
  const char *text;
  size_t n;
  if (sqlite3_value_type(argv[1]) == SQLITE_NULL) {
    sqlite3_result_null(ctx);
  } else if (text_input(ctx, fn, "text", argv[1], &text, &n) == 0) {
    float *v = embed_new(ctx, fn, cm, text, n);
    if (v) sqlite3_result_blob64(ctx, v, (sqlite3_uint64)siam_model_dim(cache_entry_model(cm)) * sizeof(float), sqlite3_free);
  }
  keep_model(ctx, 0, cm);
}

void fn_embed(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  interruptible(ctx, argv, embed);
}

/* ---- siam_similarity ----------------------------------------------------- */

/* Every cosine siamsql reports comes from siam_vec_cosine (siam_nearest and
** siam_pairs rescore with it too, so their scores equal siam_similarity's). */

static int finite_vector(const float *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

/* siam_similarity(blob_a, blob_b): cosine of two stored float32 vectors. */
static void similarity_of_vectors(sqlite3_context *ctx, sqlite3_value **argv) {
  const char *fn = "siam_similarity";
  const float *v[2];
  int dim[2];
  char err[SIAM_ERRMAX];
  static const char *const what[2] = {"vector 1", "vector 2"};
  for (int i = 0; i < 2; i++) {
    if (sqlite3_value_type(argv[i]) == SQLITE_NULL) {
      sqlite3_result_null(ctx);
      return;
    }
  }
  for (int i = 0; i < 2; i++) {
    int rc = arg_vector(argv[i], what[i], &v[i], &dim[i], err);
    if (rc != SQLITE_OK) {
      fail_code(ctx, rc, fn, "%s", err);
      return;
    }
  }
  if (dim[0] != dim[1]) {
    fail(ctx, fn, "vectors differ in dimension (%d and %d floats)", dim[0], dim[1]);
    return;
  }
  for (int i = 0; i < 2; i++) {
    if (!finite_vector(v[i], (size_t)dim[i])) {  /* as siam_nearest and siam_pairs refuse one */
      fail(ctx, fn, "vector %d holds NaN or infinite values", i + 1);
      return;
    }
  }
  sqlite3_result_double(ctx, siam_vec_cosine(v[0], v[1], (size_t)dim[0]));
}

static void similarity_of_texts(sqlite3_context *ctx, sqlite3_value **argv) {
  const char *fn = "siam_similarity";
  CacheEntry *cm = model_arg(ctx, fn, argv, 0);
  if (!cm) return;
  SiamModel *m = cache_entry_model(cm);
  const char *ta, *tb;
  size_t na, nb;
  float *a = NULL, *b = NULL;
  if (sqlite3_value_type(argv[1]) == SQLITE_NULL || sqlite3_value_type(argv[2]) == SQLITE_NULL) {
    sqlite3_result_null(ctx);
  } else if (text_input(ctx, fn, "text_a", argv[1], &ta, &na) == 0 &&
             text_input(ctx, fn, "text_b", argv[2], &tb, &nb) == 0 &&
             (a = embed_new(ctx, fn, cm, ta, na)) && (b = embed_new(ctx, fn, cm, tb, nb))) {
    sqlite3_result_double(ctx, siam_vec_cosine(a, b, (size_t)siam_model_dim(m)));
  }
  sqlite3_free(a);
  sqlite3_free(b);
  keep_model(ctx, 0, cm);
}

void fn_similarity(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (argc == 2) {
    similarity_of_vectors(ctx, argv);
    return;
  }
  interruptible(ctx, argv, similarity_of_texts);
}

/* ---- siam_tokenize(model, text), siam_dim(model), siam_config(model) ------ */

static void tokenize(sqlite3_context *ctx, sqlite3_value **argv) {
  const char *fn = "siam_tokenize";
  CacheEntry *cm = model_arg(ctx, fn, argv, 0);
  if (!cm) return;
  SiamModel *m = cache_entry_model(cm);
  const char *text;
  size_t n;
  int32_t *ids = NULL;
  if (sqlite3_value_type(argv[1]) == SQLITE_NULL) {
    sqlite3_result_null(ctx);
  } else if (text_input(ctx, fn, "text", argv[1], &text, &n) == 0) {
    ids = sqlite3_malloc64((sqlite3_uint64)siam_model_max_tokens(m) * sizeof *ids);
    int count = ids ? siam_model_tokenize(m, text, n, ids) : -1;
    sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
    sqlite3_str_appendchar(s, 1, '[');
    for (int i = 0; i < count; i++) sqlite3_str_appendf(s, i ? ",%d" : "%d", ids[i]);
    sqlite3_str_appendchar(s, 1, ']');
    char *json = sqlite3_str_finish(s);
    if (count < 0 && siam_stop_was_requested()) {
      sqlite3_free(json);
      fail_code(ctx, SQLITE_INTERRUPT, fn, "interrupted");
    } else if (count < 0 || !json) {
      sqlite3_free(json);
      fail_code(ctx, SQLITE_NOMEM, fn, "out of memory");
    } else {
      sqlite3_result_text(ctx, json, -1, sqlite3_free);
      sqlite3_result_subtype(ctx, 'J');  /* JSON, as SQLite's json1 marks it */
    }
  }
  sqlite3_free(ids);
  keep_model(ctx, 0, cm);
}

void fn_tokenize(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  interruptible(ctx, argv, tokenize);
}

static void dim(sqlite3_context *ctx, sqlite3_value **argv) {
  CacheEntry *cm = model_arg(ctx, "siam_dim", argv, 0);
  if (!cm) return;
  sqlite3_result_int(ctx, siam_model_dim(cache_entry_model(cm)));
  keep_model(ctx, 0, cm);
}

void fn_dim(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  interruptible(ctx, argv, dim);
}

static void config(sqlite3_context *ctx, sqlite3_value **argv) {
  CacheEntry *cm = model_arg(ctx, "siam_config", argv, 0);
  if (!cm) return;
  char *json = siam_config_to_json(siam_model_config(cache_entry_model(cm)));
  if (json) sqlite3_result_text(ctx, json, -1, SQLITE_TRANSIENT);
  else sqlite3_result_error_nomem(ctx);
  siam_free(json);
  keep_model(ctx, 0, cm);
}

void fn_config(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  interruptible(ctx, argv, config);
}

/* siam_revision(model): the revision of the model this statement's other
** siam_* calls use (it changes with every change of the model's rows):
** stored beside an embedding, it tells which embeddings a later update of
** the model made stale. */
static void revision(sqlite3_context *ctx, sqlite3_value **argv) {
  CacheEntry *cm = model_arg(ctx, "siam_revision", argv, 0);
  if (!cm) return;
  sqlite3_result_int64(ctx, cache_entry_revision(cm));
  keep_model(ctx, 0, cm);
}

void fn_revision(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  interruptible(ctx, argv, revision);
}

/* ---- siam_import / siam_export ------------------------------------------- */

/* Options: a JSON object with the keys the caller allows. */
typedef struct {
  int replace, overwrite, has_dtype;
  SiamDtype dtype;
} Options;

/* allowed is a comma-separated list of option names. */
static int option_allowed(const char *allowed, const char *key) {
  size_t n = strlen(key);
  for (const char *p = allowed; *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n && memcmp(p, key, n) == 0) return 1;
    p += len + (end != NULL);
  }
  return 0;
}

static int parse_options(sqlite3_context *ctx, const char *fn, int argc, sqlite3_value **argv, int i,
                         const char *allowed, Options *o) {
  memset(o, 0, sizeof *o);
  if (argc <= i || sqlite3_value_type(argv[i]) == SQLITE_NULL) return 0;
  const char *text = text_arg(ctx, fn, argv, i, "options");
  if (!text) return -1;
  cJSON *root = cJSON_ParseWithLengthOpts(text, strlen(text) + 1, NULL, 1);  /* +1: the NUL it must end at */
  int rc = -1;
  if (!cJSON_IsObject(root)) {
    fail(ctx, fn, "options must be a JSON object, e.g. {\"replace\":true}");
    goto done;
  }
  for (const cJSON *item = root->child; item; item = item->next) {
    const char *k = item->string;
    if (!option_allowed(allowed, k)) {
      fail(ctx, fn, "unknown option '%s' (allowed: %s)", k, allowed);
      goto done;
    }
    if (strcmp(k, "dtype") == 0) {
      if (!cJSON_IsString(item) || siam_dtype_parse(item->valuestring, &o->dtype)) {
        fail(ctx, fn, "option dtype must be one of %s", siam_dtype_names());
        goto done;
      }
      o->has_dtype = 1;
    } else if (!cJSON_IsBool(item)) {
      fail(ctx, fn, "option %s must be true or false", k);
      goto done;
    } else if (strcmp(k, "replace") == 0) {
      o->replace = cJSON_IsTrue(item);
    } else if (strcmp(k, "overwrite") == 0) {
      o->overwrite = cJSON_IsTrue(item);
    }
  }
  rc = 0;
done:
  cJSON_Delete(root);
  return rc;
}

void fn_import(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const char *fn = "siam_import";
  const char *name = text_arg(ctx, fn, argv, 0, "model name");
  const char *dir = name ? text_arg(ctx, fn, argv, 1, "directory") : NULL;
  Options o;
  if (!dir || parse_options(ctx, fn, argc, argv, 2, "replace,dtype", &o)) return;
  if (!*name) {
    fail(ctx, fn, "model name must not be empty");
    return;
  }
  SiamBundle b;
  char err[SIAM_ERRMAX];
  int rc;
  memset(&b, 0, sizeof b);
  if (siam_bundle_read_dir(&b, dir, err)) {
    fail(ctx, fn, "%s: %s", dir, err);  /* checked as the loader will check it */
  } else if (o.has_dtype && siam_bundle_convert(&b, o.dtype, err)) {
    fail(ctx, fn, "%s", err);
  } else if ((rc = store_write_bundle(sqlite3_context_db_handle(ctx), name, &b, dir, o.replace, err)) != SQLITE_OK) {
    fail_code(ctx, rc, fn, "%s", err);
  } else {
    sqlite3_result_int(ctx, b.n_tensors);
  }
  siam_bundle_free(&b);
}

/* The model is read in one snapshot (store_open_model), then written to a
** new directory beside dir that takes dir's place only once complete. */
void fn_export(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const char *fn = "siam_export";
  const char *name = text_arg(ctx, fn, argv, 0, "model name");
  const char *dir = name ? text_arg(ctx, fn, argv, 1, "directory") : NULL;
  Options o;
  if (!dir || parse_options(ctx, fn, argc, argv, 2, "overwrite", &o)) return;
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  SiamBundle b;
  StoreModel sm;
  char err[SIAM_ERRMAX];
  memset(&b, 0, sizeof b);
  StopScope s;
  stop_begin(&s, db);
  int rc = store_open_model(db, name, &sm, err);
  if (rc == SQLITE_OK) rc = store_read_bundle(db, &sm, name, &b, err);
  store_close_model(&sm);
  stop_end(&s);
  if (rc != SQLITE_OK)
    fail_code(ctx, rc, fn, "%s", err);
  else if (siam_bundle_write_dir(&b, dir, o.overwrite, err))
    fail(ctx, fn, "%s: %s", dir, err);
  else
    sqlite3_result_int(ctx, b.n_tensors);
  siam_bundle_free(&b);
}

/* siam_upgrade(): creates or repairs the model tables' triggers and index in
** main; 1 if anything was missing or different.  Until then, the models of a
** database written by siamsql 0.1 are loaded again at every statement (its
** revisions cannot be trusted). */
void fn_upgrade(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  char err[SIAM_ERRMAX];
  int changed = 0, rc = store_upgrade(sqlite3_context_db_handle(ctx), &changed, err);
  if (rc != SQLITE_OK) fail_code(ctx, rc, "siam_upgrade", "%s", err);
  else sqlite3_result_int(ctx, changed);
}

/* ---- siam_pack(raw) / siam_unpack(frame) ------------------------------------ */

/* A BLOB argument, or NULL after reporting (or for SQL NULL, *is_null set). */
static const void *blob_arg(sqlite3_context *ctx, const char *fn, sqlite3_value *v, const char *what,
                            size_t *n, int *is_null) {
  const void *p;
  char err[SIAM_ERRMAX];
  *is_null = sqlite3_value_type(v) == SQLITE_NULL;
  if (*is_null) return NULL;
  int rc = arg_blob(v, what, &p, n, err);
  if (rc != SQLITE_OK) fail_code(ctx, rc, fn, "%s", err);
  return rc == SQLITE_OK ? p : NULL;
}

void fn_pack(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  size_t n = 0, frame_n = 0;
  int is_null;
  void *frame = NULL;
  char err[SIAM_ERRMAX];
  const void *raw = blob_arg(ctx, "siam_pack", argv[0], "raw tensor bytes", &n, &is_null);
  if (is_null)
    sqlite3_result_null(ctx);
  else if (raw && siam_blob_pack(raw, n, &frame, &frame_n, err))
    fail(ctx, "siam_pack", "%s", err);
  else if (raw)
    sqlite3_result_blob64(ctx, frame, frame_n, siam_free);
}

void fn_unpack(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  size_t n = 0, raw_n = 0;
  int is_null;
  void *raw = NULL;
  char err[SIAM_ERRMAX];
  const void *frame = blob_arg(ctx, "siam_unpack", argv[0], "a zstd frame", &n, &is_null);
  /* A frame declares its size; never inflate past what SQLite could store,
  ** nor past this connection's memory limit (a few bytes of zstd can declare
  ** a gigabyte of zeros). */
  size_t limit = (size_t)sqlite3_limit(sqlite3_context_db_handle(ctx), SQLITE_LIMIT_LENGTH, -1);
  sqlite3_int64 budget = cache_limit(models(ctx), LIMIT_CONNECTION);
  if ((sqlite3_uint64)budget < limit) limit = (size_t)budget;
  if (is_null)
    sqlite3_result_null(ctx);
  else if (frame && siam_blob_unpack_alloc(frame, n, limit, &raw, &raw_n, err))
    fail(ctx, "siam_unpack", "%s", err);
  else if (frame)
    sqlite3_result_blob64(ctx, raw, raw_n, siam_free);
}

/* ---- siam_f32(json_array) / siam_f32_json(blob) ------------------------------ */

/* '[0.5, -1, 2]' -> float32 LE blob, the layout of siam_embed's output and of
** stored tensors, so models and vectors can be written with plain SQL. */
void fn_f32(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const char *fn = "siam_f32";
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    sqlite3_result_null(ctx);
    return;
  }
  const char *text = text_arg(ctx, fn, argv, 0, "argument (a JSON array of numbers)");
  if (!text) return;
  cJSON *arr = cJSON_ParseWithLengthOpts(text, (size_t)sqlite3_value_bytes(argv[0]) + 1, NULL, 1);  /* +1: the NUL */
  int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
  float *v = n >= 0 ? sqlite3_malloc64((sqlite3_uint64)(n ? n : 1) * sizeof *v) : NULL;
  int i = 0;
  const cJSON *x, *items = v ? arr : NULL;
  int out_of_range = 0;
  cJSON_ArrayForEach(x, items) {
    if (!cJSON_IsNumber(x)) break;
    if (!(fabs(x->valuedouble) <= FLT_MAX)) {  /* would be stored as an infinity */
      out_of_range = 1;
      break;
    }
    v[i++] = (float)x->valuedouble;
  }
  if (n < 0)
    fail(ctx, fn, "argument must be a JSON array of numbers");
  else if (!v)
    sqlite3_result_error_nomem(ctx);
  else if (out_of_range)
    fail(ctx, fn, "element %d (%g) is outside the float32 range", i, x->valuedouble);
  else if (i != n)
    fail(ctx, fn, "element %d is not a number", i);
  else {
    sqlite3_result_blob64(ctx, v, (sqlite3_uint64)n * sizeof *v, sqlite3_free);
    v = NULL;
  }
  sqlite3_free(v);
  cJSON_Delete(arr);
}

/* float32 LE blob -> '[0.5,-1,2]' (shortest text that reads back the same). */
void fn_f32_json(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  size_t n = 0;
  int is_null;
  const float *v = blob_arg(ctx, "siam_f32_json", argv[0], "float32 values", &n, &is_null);
  if (is_null) {
    sqlite3_result_null(ctx);
    return;
  }
  if (!v) return;
  if (n % 4) {
    fail(ctx, "siam_f32_json", "a float32 blob must be a multiple of 4 bytes, got %zu", n);
    return;
  }
  sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
  sqlite3_str_appendchar(s, 1, '[');
  for (size_t i = 0; i < n / 4; i++) sqlite3_str_appendf(s, i ? ",%.9g" : "%.9g", (double)v[i]);
  sqlite3_str_appendchar(s, 1, ']');
  char *json = sqlite3_str_finish(s);
  if (json) sqlite3_result_text(ctx, json, -1, sqlite3_free);
  else sqlite3_result_error_nomem(ctx);
}

/* ---- siam_info() ------------------------------------------------------------ */

/* What this build runs on, and this connection's memory: a JSON object with
** the matrix kernel (avx512 or portable: f32 models' and similarity
** search's), the kernel of each "compute" precision, the thread count, and
** the memory limits and what this connection's models hold now. */
void fn_info(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  SiamCache *c = models(ctx);
  char *json = sqlite3_mprintf(
      "{\"version\":\"%s\",\"encoder_kernel\":\"%s\",\"kernels\":{\"f32\":\"%s\",\"bf16\":\"%s\",\"int8\":\"%s\"},"
      "\"threads\":%d,\"memory\":{\"models\":%lld,\"model_limit\":%lld,\"connection_limit\":%lld}}",
      SIAMSQL_VERSION, siam_compute_kernel(SIAM_COMPUTE_F32), siam_compute_kernel(SIAM_COMPUTE_F32),
      siam_compute_kernel(SIAM_COMPUTE_BF16), siam_compute_kernel(SIAM_COMPUTE_INT8), siam_get_threads(),
      (long long)cache_bytes(c), (long long)cache_limit(c, LIMIT_MODEL), (long long)cache_limit(c, LIMIT_CONNECTION));
  if (json) sqlite3_result_text(ctx, json, -1, sqlite3_free);
  else sqlite3_result_error_nomem(ctx);
}

/* ---- siam_threads([n]) ---------------------------------------------------------- */

/* Sets (with n) and returns the number of threads siamsql computes with, for
** the whole process.  n <= 0 restores the default (SIAMSQL_THREADS, else the
** number of cores).  A host that runs its own threads sets it to 1. */
void fn_threads(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (argc == 1) {
    sqlite3_int64 n;
    char err[SIAM_ERRMAX];
    /* n <= 0 (however negative) means the default, so only the top is capped. */
    if (arg_int(argv[0], "thread count", INT64_MIN, INT64_MAX, &n, err) != SQLITE_OK) {
      fail(ctx, "siam_threads", "thread count must be an INTEGER, got %s", sql_type_name(sqlite3_value_type(argv[0])));
      return;
    }
    if (n > SIAM_MAX_THREADS) {
      fail(ctx, "siam_threads", "thread count %lld is out of range (at most %d)", (long long)n, SIAM_MAX_THREADS);
      return;
    }
    siam_set_threads(n > 0 ? (int)n : 0);
  }
  sqlite3_result_int(ctx, siam_get_threads());
}

/* ---- siam_memory_limit(scope [, bytes]) -------------------------------------------- */

/* Sets (with bytes) and returns this connection's memory limit for one model
** ('model') or all its models together ('connection'). */
void fn_memory_limit(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const char *fn = "siam_memory_limit";
  SiamCache *c = models(ctx);
  const char *scope = sqlite3_value_type(argv[0]) == SQLITE_TEXT ? (const char *)sqlite3_value_text(argv[0]) : "";
  CacheLimit which;
  if (scope && strcmp(scope, "model") == 0) which = LIMIT_MODEL;
  else if (scope && strcmp(scope, "connection") == 0) which = LIMIT_CONNECTION;
  else {
    fail(ctx, fn, "scope must be 'model' or 'connection'");
    return;
  }
  if (argc == 2) {
    sqlite3_int64 bytes;
    char err[SIAM_ERRMAX];
    if (arg_int(argv[1], "bytes", 0, cache_limit_max(), &bytes, err) != SQLITE_OK) {
      fail(ctx, fn, "%s", err);
      return;
    }
    cache_set_limit(c, which, bytes);
  }
  sqlite3_result_int64(ctx, cache_limit(c, which));
}
