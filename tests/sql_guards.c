/*
** sql_guards.c — what issue 12 found, each pinned by a test that failed
** before the fix:
**
**   flags       model-dependent functions are neither DETERMINISTIC nor
**               INNOCUOUS: no expression index or generated column can hold
**               a value that a model update makes stale;
**   attach      a vector snapshot is never reused for another file attached
**               under the same schema name;
**   blob I/O    siam_tensor.data cannot be rewritten behind the triggers;
**   busy        a lock conflict comes back as SQLITE_BUSY, not SQLITE_ERROR;
**   memory      per-model and per-connection memory limits, checked before
**               allocating; long work stops at sqlite3_interrupt();
**   files       import never blocks on a FIFO; export never follows links and
**               leaves the old directory whole when it fails;
**   threads     no more threads than configured, no environment written,
**               OpenBLAS never loaded;
**   small ones  siam_threads range, siam_f32 range, NaN in siam_similarity,
**               the SQLite version gate, RELEASE failing in siam_import.
*/
#include <dirent.h>
#include <dlfcn.h>
#include <signal.h>
#define SQLITE_CORE 1 /* the API table type only, not its call macros */
#include <sqlite3ext.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sqlutil.h"

#define FIXTURE "tests/fixtures/models/st_all4_nocjk_f16"
#define FIXTURE2 "tests/fixtures/models/st_cls_relu_keras"

static char dir[] = "/tmp/siamsql-guards-XXXXXX";

static char *path_in(const char *name) {
  static char buf[4][700];
  static int k;
  char *p = buf[k++ % 4];
  snprintf(p, sizeof buf[0], "%s/%s", dir, name);
  return p;
}

static int exec_ok(sqlite3 *db, const char *sql) {
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  CHECK(rc == SQLITE_OK, "%.300s\n   error: %s", sql, err ? err : "?");
  sqlite3_free(err);
  return rc == SQLITE_OK;
}

/* Steps sql to the end; returns the result code (primary) and the message. */
static int run_rc(sqlite3 *db, const char *sql, char *msg, size_t cap) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) {
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {}
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
  }
  snprintf(msg, cap, "%s", rc == SQLITE_OK ? "" : sqlite3_errmsg(db));
  sqlite3_finalize(st);
  return rc & 0xff;
}

#define CHECK_RC(db, want_rc, prefix, sql)                                                               \
  do {                                                                                                   \
    char m_[600];                                                                                        \
    int rc_ = run_rc(db, sql, m_, sizeof m_);                                                            \
    CHECK(rc_ == (want_rc) && strncmp(m_, prefix, strlen(prefix)) == 0, "%s\n   got rc %d: %s\n   want rc %d: %s...", \
          sql, rc_, m_, want_rc, prefix);                                                                \
  } while (0)

/* ---- flags ---------------------------------------------------------------------- */

static void flags(void) {
  sqlite3 *db = open_db(path_in("flags.db"));
  CHECK_Q(db, "1", "SELECT siam_import('m', '" FIXTURE "') > 0");
  exec_ok(db, "CREATE TABLE t(body TEXT); INSERT INTO t VALUES ('the quick brown fox'), ('a lazy dog')");
  CHECK_ERR(db, "non-deterministic functions prohibited in index expressions",
            "CREATE INDEX t_emb ON t(siam_embed('m', body))");
  CHECK_ERR(db, "non-deterministic functions prohibited in index expressions",
            "CREATE INDEX t_sim ON t(siam_similarity('m', body, 'fox'))");
  CHECK_ERR(db, "non-deterministic functions prohibited in generated columns",
            "CREATE TABLE g(body TEXT, emb BLOB AS (siam_embed('m', body)))");
  CHECK_ERR(db, "non-deterministic functions prohibited in partial index WHERE clauses",
            "CREATE INDEX t_part ON t(body) WHERE siam_dim('m') > 0");
  /* Pure functions of their arguments may be indexed. */
  exec_ok(db, "CREATE INDEX t_packed ON t(siam_pack(CAST(body AS BLOB)))");
  exec_ok(db, "UPDATE siam_tensor SET data = data WHERE model = 'm'");
  CHECK_Q(db, "ok", "PRAGMA integrity_check");
  /* What each model-dependent function is: no DETERMINISTIC (0x800), no
  ** INNOCUOUS (0x200000); the pure ones both. */
  CHECK_Q(db, "siam_config siam_dim siam_dump siam_embed siam_info siam_revision siam_similarity siam_tokenize",
          "SELECT group_concat(name, ' ') FROM (SELECT DISTINCT name FROM pragma_function_list"
          " WHERE name LIKE 'siam%' AND (flags & 0x200800) = 0 AND name NOT IN (SELECT name FROM pragma_function_list"
          " WHERE (flags & 0x80000) <> 0) ORDER BY name)");
  CHECK_Q(db, "siam_f32 siam_f32_json siam_fts_query siam_pack siam_similarity siam_unpack",
          "SELECT group_concat(name, ' ') FROM (SELECT DISTINCT name FROM pragma_function_list"
          " WHERE name LIKE 'siam%' AND (flags & 0x200800) = 0x200800 ORDER BY name)");
  /* The exact list of functions and modules, each with its flags
  ** (D deterministic, I innocuous, X direct-only): ext/siamsql.c says why. */
  CHECK_Q(db,
          "siam_config/1: siam_dim/1: siam_dump/1: siam_embed/2: siam_export/2:X siam_export/3:X siam_f32/1:DI"
          " siam_f32_json/1:DI siam_fts_query/1:DI siam_import/2:X siam_import/3:X siam_info/0:"
          " siam_memory_limit/1:X siam_memory_limit/2:X siam_pack/1:DI siam_revision/1: siam_similarity/2:DI"
          " siam_similarity/3: siam_threads/0:X siam_threads/1:X siam_tokenize/2: siam_unpack/1:DI siam_upgrade/0:X",
          "SELECT group_concat(name || '/' || narg || ':' || (CASE WHEN flags & 0x800 THEN 'D' ELSE '' END)"
          " || (CASE WHEN flags & 0x200000 THEN 'I' ELSE '' END) || (CASE WHEN flags & 0x80000 THEN 'X' ELSE '' END), ' ')"
          " FROM (SELECT * FROM pragma_function_list WHERE name LIKE 'siam%' ORDER BY name, narg)");
  CHECK_Q(db, "siam_embed_each siam_nearest siam_pairs siam_search",
          "SELECT group_concat(name, ' ') FROM (SELECT name FROM pragma_module_list WHERE name LIKE 'siam%' ORDER BY name)");
  /* A view in a schema that is not trusted cannot run a model. */
  exec_ok(db, "CREATE VIEW v AS SELECT siam_embed('m', body) AS e FROM t");
  exec_ok(db, "PRAGMA trusted_schema = OFF");
  CHECK_ERR(db, "unsafe use of siam_embed()", "SELECT count(e) FROM v");
  exec_ok(db, "PRAGMA trusted_schema = ON");
  CHECK_Q(db, "2", "SELECT count(e) FROM v");
  sqlite3_close(db);
}

/* ---- a vector snapshot across ATTACH / DETACH -------------------------------------- */

static void make_vectors(const char *path, const char *v) {
  unlink(path);
  sqlite3 *db = open_db(path);
  char sql[300];
  snprintf(sql, sizeof sql, "CREATE TABLE v(e BLOB); INSERT INTO v VALUES (siam_f32('%s')), (siam_f32('[0,0,1]'))", v);
  exec_ok(db, sql);
  sqlite3_close(db);
}

static void attach_detach(void) {
  make_vectors(path_in("va.db"), "[1,0,0]");
  make_vectors(path_in("vb.db"), "[0,1,0]");
  sqlite3 *db = open_db(":memory:");
  const char *near = "SELECT rowid || ':' || round(score, 3) FROM siam_nearest('v', 'e', siam_f32('[1,0,0]'), 1)";
  char sql[800];
  snprintf(sql, sizeof sql, "ATTACH '%s' AS x", path_in("va.db"));
  exec_ok(db, sql);
  CHECK_Q(db, "1:1.0", near);
  exec_ok(db, "DETACH x");
  snprintf(sql, sizeof sql, "ATTACH '%s' AS x", path_in("vb.db"));
  exec_ok(db, sql);
  CHECK_Q(db, "1:0.0", near);  /* b's first row is [0,1,0] */
  exec_ok(db, "DETACH x");
  /* The same with two in-memory databases built alike. */
  exec_ok(db, "ATTACH ':memory:' AS y; CREATE TABLE y.v(e BLOB); INSERT INTO y.v VALUES (siam_f32('[1,0,0]'))");
  CHECK_Q(db, "1:1.0", near);
  exec_ok(db, "DETACH y; ATTACH ':memory:' AS y; CREATE TABLE y.v(e BLOB); INSERT INTO y.v VALUES (siam_f32('[0,1,0]'))");
  CHECK_Q(db, "1:0.0", near);
  sqlite3_close(db);
}

/* ---- writes behind the triggers --------------------------------------------------- */

static void blob_write(void) {
  sqlite3 *db = open_db(path_in("blob.db"));
  CHECK_Q(db, "1", "SELECT siam_import('m', '" FIXTURE "') > 0");
  char *before = Q(db, "SELECT hex(siam_embed('m', 'the end'))");
  char *rowid = Q(db, "SELECT rowid FROM siam_tensor WHERE model = 'm' AND name = 'head.0.bias'");
  /* A valid frame of other values, as long as the stored one. */
  char *other = Q(db, "SELECT hex(siam_pack(zeroblob(128)))");
  char *len = Q(db, "SELECT length(data) FROM siam_tensor WHERE model = 'm' AND name = 'head.0.bias'");
  sqlite3_blob *blob = NULL;
  int rc = sqlite3_blob_open(db, "main", "siam_tensor", "data", atoll(rowid), 1, &blob);
  if (rc == SQLITE_OK) {
    /* Allowed: then the next statement must not serve the old weights. */
    unsigned char junk[8] = {0};
    sqlite3_blob_write(blob, junk, 8, 0);
    sqlite3_blob_close(blob);
    char *after = Q(db, "SELECT hex(siam_embed('m', 'the end'))");
    CHECK(strcmp(after, before) != 0, "a blob write changed the weights, and the old embedding was still served");
    free(after);
  } else {
    CHECK(strstr(sqlite3_errmsg(db), "cannot open indexed column for writing") != NULL,
          "blob write refused, with: %s", sqlite3_errmsg(db));
  }
  (void)other;
  (void)len;
  /* The guard is part of the schema an import creates. */
  CHECK_Q(db, "1", "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'siam_tensor'"
                   " AND name = 'siam_tensor_no_blob_writes'");
  free(before);
  free(rowid);
  free(other);
  free(len);
  sqlite3_close(db);
}

/* A schema whose triggers are not siamsql's (altered, or an older siamsql's):
** its revisions prove nothing, so no model from it is kept between
** statements; the next import puts siamsql's triggers back. */
static void altered_schema(void) {
  sqlite3 *w = open_db(path_in("altered.db")), *r = open_db(path_in("altered.db"));
  CHECK_Q(w, "1", "SELECT siam_import('m', '" FIXTURE "') > 0");
  exec_ok(w, "CREATE TABLE bias AS SELECT data FROM siam_tensor WHERE model = 'm' AND name = 'head.0.bias';"
             "DROP TRIGGER siam_tensor_update;"
             "CREATE TRIGGER siam_tensor_update AFTER UPDATE ON siam_tensor BEGIN SELECT 1; END");
  char *a = Q(r, "SELECT hex(siam_embed('m', 'the end'))");
  exec_ok(w, "UPDATE siam_tensor SET dtype = 'f32', data = siam_pack(zeroblob(256))"
             " WHERE model = 'm' AND name = 'head.0.bias'");
  char *b = Q(r, "SELECT hex(siam_embed('m', 'the end'))");
  CHECK(a && b && strcmp(a, b) != 0, "a tensor changed behind an altered trigger and the old weights were served");
  /* siam_upgrade (or any import) repairs the schema; then models are kept,
  ** and still follow changes. */
  CHECK_Q(w, "1", "SELECT siam_upgrade()");
  CHECK_Q(w, "0", "SELECT siam_upgrade()");
  CHECK_Q(w, "1", "SELECT siam_import('k', '" FIXTURE2 "') > 0");
  CHECK_Q(w, "1", "SELECT count(*) FROM sqlite_schema WHERE name = 'siam_tensor_update' AND sql LIKE '%random()%'");
  exec_ok(w, "UPDATE siam_tensor SET dtype = 'f16', data = (SELECT data FROM bias) WHERE model = 'm' AND name = 'head.0.bias'");
  CHECK_Q(r, a, "SELECT hex(siam_embed('m', 'the end'))");
  free(a);
  free(b);
  sqlite3_close(w);
  sqlite3_close(r);
}

/* ---- busy ---------------------------------------------------------------------------- */

static void busy(void) {
  const char *path = path_in("busy.db"), *aux = path_in("busy-aux.db");
  sqlite3 *a = open_db(path), *b = open_db(path), *c = open_db(aux);
  CHECK_Q(a, "1", "SELECT siam_import('m', '" FIXTURE "') > 0");
  exec_ok(c, "CREATE TABLE t(i INTEGER PRIMARY KEY, x TEXT); INSERT INTO t VALUES (1, 'x')");
  exec_ok(c, "CREATE TABLE w(e BLOB); INSERT INTO w VALUES (siam_f32('[1,0]'))");
  char sql[800];
  snprintf(sql, sizeof sql, "ATTACH '%s' AS aux", aux);
  exec_ok(a, sql);
  exec_ok(a, "CREATE TABLE texts(i INTEGER PRIMARY KEY, t TEXT); INSERT INTO texts VALUES (1, 'x')");
  sqlite3_busy_timeout(a, 0);
  /* The model's database locked by another connection. */
  exec_ok(b, "BEGIN EXCLUSIVE; INSERT INTO texts VALUES (2, 'y')");
  CHECK_RC(a, SQLITE_BUSY, "siam_embed: reading siam_model: database is locked", "SELECT siam_embed('m', 'x')");
  CHECK_RC(a, SQLITE_BUSY, "siam_similarity: reading siam_model: database is locked",
           "SELECT siam_similarity('m', 'x', 'y')");
  CHECK_RC(a, SQLITE_BUSY, "siam_import: ", "SELECT siam_import('m2', '" FIXTURE "')");
  exec_ok(b, "COMMIT");
  CHECK_Q(a, "1", "SELECT length(siam_embed('m', 'x')) > 0");
  /* The table a table-valued function reads, locked. */
  exec_ok(c, "BEGIN EXCLUSIVE; INSERT INTO t VALUES (2, 'y')");
  CHECK_RC(a, SQLITE_BUSY, "siam_embed_each: database is locked",
           "SELECT count(*) FROM siam_embed_each('m', 'SELECT i, x FROM aux.t')");
  CHECK_RC(a, SQLITE_BUSY, "siam_nearest: database is locked",
           "SELECT count(*) FROM siam_nearest('w', 'e', siam_f32('[1,0]'), 1)");
  CHECK_RC(a, SQLITE_BUSY, "siam_pairs: database is locked", "SELECT count(*) FROM siam_pairs('w', 'e', 0.5)");
  exec_ok(c, "COMMIT");
  CHECK_Q(a, "1", "SELECT count(*) FROM siam_nearest('w', 'e', siam_f32('[1,0]'), 1)");
  /* RELEASE failing at commit (another connection reads): rolled back, no
  ** transaction left open, the model not there. */
  exec_ok(b, "BEGIN; SELECT count(*) FROM texts");
  CHECK_RC(a, SQLITE_BUSY, "siam_import: ", "SELECT siam_import('m3', '" FIXTURE "')");
  CHECK(sqlite3_get_autocommit(a), "siam_import left a transaction open after RELEASE failed");
  exec_ok(b, "COMMIT");
  CHECK_Q(a, "0", "SELECT count(*) FROM siam_model WHERE name = 'm3'");
  sqlite3_close(a);
  sqlite3_close(b);
  sqlite3_close(c);
}

/* ---- memory --------------------------------------------------------------------------- */

/* A model whose config asks for far more memory than its 1 MB of rows hold:
** hidden 4096, 4 layers, every tensor one zero-filled frame. */
static void make_bomb(sqlite3 *db, const char *name) {
  char sql[4000];
  snprintf(sql, sizeof sql,
           "SELECT siam_import('%s', '" FIXTURE "');"
           "UPDATE siam_model SET config = json_set(config, '$.encoder.hidden_size', 4096, '$.encoder.num_heads', 16,"
           "  '$.encoder.intermediate_size', 16384, '$.encoder.num_layers', 4, '$.head', json('[]'),"
           "  '$.pooling', json('[\"mean\"]')) WHERE name = '%s';"
           "DELETE FROM siam_tensor WHERE model = '%s';",
           name, name, name);
  exec_ok(db, sql);
  /* Shapes as the config requires them, every frame zero-filled. */
  snprintf(sql, sizeof sql,
           "WITH t(n, s) AS (VALUES ('embeddings.word_embeddings.weight', '[2083,4096]'),"
           "  ('embeddings.position_embeddings.weight', '[128,4096]'), ('embeddings.token_type_embeddings.weight', '[2,4096]'),"
           "  ('embeddings.LayerNorm.weight', '[4096]'), ('embeddings.LayerNorm.bias', '[4096]'),"
           "  ('pooler.dense.weight', '[4096,4096]'), ('pooler.dense.bias', '[4096]'))"
           " INSERT INTO siam_tensor(model, name, dtype, shape, data)"
           " SELECT '%s', n, 'f16', s, siam_pack(zeroblob(2 * json_extract(s, '$[0]') * coalesce(json_extract(s, '$[1]'), 1)))"
           " FROM t",
           name);
  exec_ok(db, sql);
  for (int l = 0; l < 4; l++) {
    snprintf(sql, sizeof sql,
             "WITH t(n, s) AS (VALUES ('attention.self.query.weight', '[4096,4096]'), ('attention.self.query.bias', '[4096]'),"
             "  ('attention.self.key.weight', '[4096,4096]'), ('attention.self.key.bias', '[4096]'),"
             "  ('attention.self.value.weight', '[4096,4096]'), ('attention.self.value.bias', '[4096]'),"
             "  ('attention.output.dense.weight', '[4096,4096]'), ('attention.output.dense.bias', '[4096]'),"
             "  ('attention.output.LayerNorm.weight', '[4096]'), ('attention.output.LayerNorm.bias', '[4096]'),"
             "  ('intermediate.dense.weight', '[16384,4096]'), ('intermediate.dense.bias', '[16384]'),"
             "  ('output.dense.weight', '[4096,16384]'), ('output.dense.bias', '[4096]'),"
             "  ('output.LayerNorm.weight', '[4096]'), ('output.LayerNorm.bias', '[4096]'))"
             " INSERT INTO siam_tensor(model, name, dtype, shape, data)"
             " SELECT '%s', 'encoder.layer.%d.' || n, 'f16', s,"
             "  siam_pack(zeroblob(2 * json_extract(s, '$[0]') * coalesce(json_extract(s, '$[1]'), 1)))"
             " FROM t",
             name, l);
    exec_ok(db, sql);
  }
}

static long max_rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* In a child process, so its peak memory is its own. */
static void memory_bomb(void) {
  const char *path = path_in("bomb.db");
  sqlite3 *db = open_db(path);
  make_bomb(db, "bomb");
  CHECK_Q(db, "1", "SELECT sum(length(data)) < 2000000 FROM siam_tensor WHERE model = 'bomb'");
  sqlite3_close(db);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    sqlite3 *c = open_db(path);
    long before = max_rss_kb();
    char msg[600];
    int rc = run_rc(c, "SELECT siam_embed('bomb', 'x')", msg, sizeof msg);
    long grew = max_rss_kb() - before;
    int ok = rc == SQLITE_ERROR && strstr(msg, "siam_embed: model 'bomb' needs ") == msg &&
             strstr(msg, "over the per-model memory limit of 1.00 GiB") &&
             strstr(msg, "siam_memory_limit('model', bytes)") && strstr(msg, "SIAMSQL_MODEL_MEMORY") && grew < 100000;
    if (!ok) fprintf(stderr, "bomb: rc %d, peak grew by %ld KB: %s\n", rc, grew, msg);
    /* Three bombs behind a view, under a raised per-model limit: the
    ** connection's limit stops the second. */
    sqlite3_close(c);
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the memory bomb was not refused before allocating");
}

static void memory_limits(void) {
  sqlite3 *db = open_db(path_in("limits.db"));
  CHECK_Q(db, "1", "SELECT siam_import('m', '" FIXTURE "') > 0");
  CHECK_Q(db, "1", "SELECT siam_import('k', '" FIXTURE2 "') > 0");
  CHECK_Q(db, "1073741824", "SELECT siam_memory_limit('model')");
  CHECK_Q(db, "1073741824", "SELECT siam_memory_limit('connection')");
  CHECK_Q(db, "10000", "SELECT siam_memory_limit('model', 10000)");
  CHECK_ERR(db, "siam_embed: model 'm' needs ", "SELECT siam_embed('m', 'x')");
  CHECK_Q(db, "1073741824", "SELECT siam_memory_limit('model', 1073741824)");
  CHECK_Q(db, "1", "SELECT length(siam_embed('m', 'x')) > 0");
  CHECK_Q(db, "1", "SELECT json_extract(siam_info(), '$.memory.models') > 0");
  char *used = Q(db, "SELECT json_extract(siam_info(), '$.memory.models')");
  /* The connection may hold m or k but not both at once. */
  char sql[200];
  snprintf(sql, sizeof sql, "SELECT siam_memory_limit('connection', %lld)", (used ? atoll(used) : 0) + 1000);
  free(Q(db, sql));
  CHECK_Q(db, "1", "SELECT length(siam_embed('k', 'x')) > 0");  /* m is idle: let go to make room */
  CHECK_ERR(db, "siam_embed: model ",
            "SELECT siam_embed('m', 'x') || siam_embed('k', 'x')");  /* both in one statement */
  CHECK_ERR(db, "siam_memory_limit: scope must be 'model' or 'connection'", "SELECT siam_memory_limit('x')");
  CHECK_ERR(db, "siam_memory_limit: bytes must be an INTEGER from 0 to ", "SELECT siam_memory_limit('model', -1)");
  CHECK_ERR(db, "siam_memory_limit: bytes must be an INTEGER from 0 to ", "SELECT siam_memory_limit('model', 'a')");
  free(used);
  sqlite3_close(db);
  /* From the environment, read when the extension loads. */
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("SIAMSQL_MODEL_MEMORY", "12345", 1);
    sqlite3 *c = open_db(path_in("limits.db"));
    char *got = Q(c, "SELECT siam_memory_limit('model')");
    char *e = Q(c, "SELECT siam_embed('m', 'x')");
    int ok = got && strcmp(got, "12345") == 0 && e && strstr(e, "ERROR: siam_embed: model 'm' needs ") == e;
    if (!ok) fprintf(stderr, "env limit: %s / %s\n", got, e);
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "SIAMSQL_MODEL_MEMORY was not applied");
}

/* interrupt_now(x): interrupts its own statement, returns x. */
static void interrupt_now(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  sqlite3_interrupt(sqlite3_context_db_handle(ctx));
  sqlite3_result_value(ctx, argv[0]);
}

static void interrupts(void) {
  sqlite3 *db = open_db(path_in("interrupt.db"));
  sqlite3_create_function(db, "interrupt_now", 1, SQLITE_UTF8, NULL, interrupt_now, NULL, NULL);
  CHECK_Q(db, "1", "SELECT siam_import('m', '" FIXTURE "') > 0");
  exec_ok(db, "CREATE TABLE texts(i INTEGER PRIMARY KEY, t TEXT);"
              "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 3000)"
              " INSERT INTO texts SELECT i, 'passage number ' || i || ' about nothing much' FROM k");
  /* Loading the model, interrupted: nothing half-loaded stays. */
  CHECK_RC(db, SQLITE_INTERRUPT, "siam_embed: interrupted", "SELECT siam_embed('m', interrupt_now('x'))");
  CHECK_Q(db, "1", "SELECT length(siam_embed('m', 'x')) > 0");
  /* Bulk embedding, interrupted by the last row of its first batch (512
  ** rows): the batch is not embedded, no row comes out. */
  sqlite3_stmt *st = NULL;
  sqlite3_prepare_v2(db, "SELECT id FROM siam_embed_each('m',"
                         " 'SELECT i, CASE i WHEN 512 THEN interrupt_now(t) ELSE t END FROM texts')", -1, &st, NULL);
  int rows = 0, rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) rows++;
  CHECK(rc == SQLITE_INTERRUPT && rows == 0 && strcmp(sqlite3_errmsg(db), "siam_embed_each: interrupted") == 0,
        "siam_embed_each interrupted mid-batch: rc %d after %d rows: %s", rc, rows, sqlite3_errmsg(db));
  sqlite3_finalize(st);
  CHECK_Q(db, "3000", "SELECT count(embedding) FROM siam_embed_each('m', 'SELECT i, t FROM texts')");
  sqlite3_close(db);
}

/* ---- files ------------------------------------------------------------------------------ */

#include <stdarg.h>

/* Runs a printf-formatted shell command; its exit status. */
static int sh(const char *fmt, ...) {
  char cmd[3000];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  return system(cmd);
}

static void import_fifo(void) {
  const char *copy = path_in("fifo-model");
  CHECK(sh("rm -rf '%s' && cp -r '%s' '%s' && rm '%s/config.json' && mkfifo '%s/config.json'", copy, FIXTURE, copy,
           copy, copy) == 0, "FIFO set up");
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(20);  /* a blocking open would hang here: the alarm kills the child */
    sqlite3 *db = open_db(":memory:");
    char sql[800];
    snprintf(sql, sizeof sql, "SELECT siam_import('m', '%s')", copy);
    char *r = Q(db, sql);
    int ok = r && strstr(r, "not a regular file") != NULL;
    if (!ok) fprintf(stderr, "fifo import: %s\n", r);
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "siam_import on a FIFO config.json blocked or was not refused");
}

/* "name=size:sum ..." of every regular file under d, to compare trees. */
static char *tree_digest(const char *d) {
  char cmd[1000];
  snprintf(cmd, sizeof cmd, "cd '%s' && find . -type f -o -type l | sort | xargs -r md5sum 2>&1 | md5sum", d);
  FILE *p = popen(cmd, "r");
  char line[200] = "";
  if (p && !fgets(line, sizeof line, p)) line[0] = 0;
  if (p) pclose(p);
  return strdup(line);
}

static void export_links(void) {
  sqlite3 *db = open_db(path_in("export.db"));
  CHECK_Q(db, "1", "SELECT siam_import('m', '" FIXTURE "') > 0");
  char *out = strdup(path_in("out")), *outside = strdup(path_in("outside"));
  sh("rm -rf '%s' '%s'", out, outside);
  sh("mkdir -p '%s' && echo precious > '%s/victim'", outside, outside);
  char sql[1000];
  snprintf(sql, sizeof sql, "SELECT siam_export('m', '%s') > 0", out);
  CHECK_Q(db, "1", sql);
  /* Links planted in the old export: to a file outside, and dangling. */
  sh("rm '%s/config.json' && ln -s '%s/victim' '%s/config.json'", out, outside, out);
  sh("rm '%s/modules.json' && ln -s '%s/created-through-link' '%s/modules.json'", out, outside, out);
  snprintf(sql, sizeof sql, "SELECT siam_export('m', '%s', '{\"overwrite\":true}') > 0", out);
  CHECK_Q(db, "1", sql);
  char *victim = read_file(path_in("outside/victim"), NULL);
  CHECK(victim && strcmp(victim, "precious\n") == 0, "export wrote through a link to %s/victim", outside);
  free(victim);
  struct stat sb;
  CHECK(lstat(path_in("outside/created-through-link"), &sb) != 0, "export created a file through a dangling link");
  CHECK(lstat(path_in("out/config.json"), &sb) == 0 && S_ISREG(sb.st_mode), "config.json is a regular file again");
  /* The target itself a link: refused, the linked directory untouched. */
  char *linked = strdup(path_in("out-link"));
  sh("rm -f '%s' && ln -s '%s' '%s'", linked, outside, linked);
  snprintf(sql, sizeof sql, "SELECT siam_export('m', '%s', '{\"overwrite\":true}')", linked);
  char *r = Q(db, sql);
  CHECK(r && strstr(r, "is a symbolic link") != NULL, "export into a link: %s", r);
  free(r);
  CHECK(lstat(path_in("outside/config.json"), &sb) != 0, "export wrote into the directory a link points to");
  /* A failure part-way (file size limit) leaves the old export whole and no
  ** temporary directory behind. */
  char *before = tree_digest(out);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {20000, 20000};
    setrlimit(RLIMIT_FSIZE, &rl);
    sqlite3 *c = open_db(path_in("export.db"));
    snprintf(sql, sizeof sql, "SELECT siam_export('m', '%s', '{\"overwrite\":true}')", out);
    char *e = Q(c, sql);
    int ok = e && strncmp(e, "ERROR: siam_export: ", 20) == 0;
    if (!ok) fprintf(stderr, "export under a file size limit: %s\n", e);
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "export under a file size limit did not fail");
  char *after = tree_digest(out);
  CHECK(strcmp(before, after) == 0, "a failed export changed the old one");
  free(before);
  free(after);
  DIR *d = opendir(dir);
  struct dirent *e;
  int leftovers = 0;
  while (d && (e = readdir(d)))
    if (strncmp(e->d_name, "out.", 4) == 0) leftovers++;
  if (d) closedir(d);
  CHECK(leftovers == 0, "a failed export left %d temporary directories", leftovers);
  free(out);
  free(outside);
  free(linked);
  sqlite3_close(db);
}

/* ---- threads and process state ---------------------------------------------------------- */

static int thread_count(void) {
  DIR *d = opendir("/proc/self/task");
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  if (d) closedir(d);
  return n;
}

static int maps_has(const char *what) {
  FILE *f = fopen("/proc/self/maps", "r");
  char line[1000];
  int found = 0;
  while (f && fgets(line, sizeof line, f))
    if (strstr(line, what)) found = 1;
  if (f) fclose(f);
  return found;
}

static void threads_child(const char *threads, int preload_openblas) {
  if (threads) setenv("SIAMSQL_THREADS", threads, 1);
  unsetenv("OPENBLAS_CORETYPE");
  if (preload_openblas && !dlopen("libopenblas.so.0", RTLD_NOW | RTLD_GLOBAL)) {
    fprintf(stderr, "cannot load OpenBLAS (make deps installs libopenblas0): %s\n", dlerror());
    _exit(3);
  }
  int before = thread_count();
  sqlite3 *db = open_db(path_in("threads.db"));
  char *a = Q(db, "SELECT length(siam_embed('m', 'the quick brown fox jumps over the lazy dog')) > 0");
  char *b = Q(db, "SELECT count(*) >= 0 FROM siam_pairs('v', 'e', 0.5)");
  char *c = Q(db, "SELECT count(*) FROM siam_embed_each('m', 'SELECT rowid, t FROM texts')");
  int want = threads ? atoi(threads) : 2;
  int after = thread_count();
  int ok = a && strcmp(a, "1") == 0 && b && strcmp(b, "1") == 0 && c && strcmp(c, "200") == 0;
  if (!ok) fprintf(stderr, "threads child: %s %s %s\n", a, b, c);
  if (after - before > want - 1) {
    fprintf(stderr, "SIAMSQL_THREADS=%s: %d threads before, %d after\n", threads ? threads : "(unset)", before, after);
    ok = 0;
  }
  if (getenv("OPENBLAS_CORETYPE")) {
    fprintf(stderr, "the environment was written: OPENBLAS_CORETYPE=%s\n", getenv("OPENBLAS_CORETYPE"));
    ok = 0;
  }
  if (!preload_openblas && maps_has("libopenblas")) {
    fprintf(stderr, "siamsql loaded OpenBLAS\n");
    ok = 0;
  }
  char *info = Q(db, "SELECT siam_info()");
  if (info && strstr(info, "siamsql (CPUID)")) {
    fprintf(stderr, "siam_info claims a choice it did not make: %s\n", info);
    ok = 0;
  }
  /* Fewer threads at run time: the extra workers go. */
  if (want > 1) {
    free(Q(db, "SELECT siam_threads(1)"));
    free(Q(db, "SELECT count(*) FROM siam_embed_each('m', 'SELECT rowid, t FROM texts')"));
    if (thread_count() != before) {
      fprintf(stderr, "after siam_threads(1): %d threads, %d before loading\n", thread_count(), before);
      ok = 0;
    }
  }
  free(a);
  free(b);
  free(c);
  free(info);
  sqlite3_close(db);
  _exit(ok ? 0 : 1);
}

static void threads_and_env(void) {
  sqlite3 *db = open_db(path_in("threads.db"));
  CHECK_Q(db, "1", "SELECT siam_import('m', '" FIXTURE "') > 0");
  exec_ok(db, "CREATE TABLE texts(t TEXT);"
              "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 200)"
              " INSERT INTO texts SELECT 'text ' || i FROM k;"
              "CREATE TABLE v AS SELECT siam_embed('m', t) AS e FROM texts");
  sqlite3_close(db);
  const char *cases[][2] = {{"1", NULL}, {"2", NULL}, {"1", "preload"}};
  for (int i = 0; i < 3; i++) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) threads_child(cases[i][0], cases[i][1] != NULL);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "threads case SIAMSQL_THREADS=%s%s", cases[i][0],
          cases[i][1] ? ", OpenBLAS loaded by the host first" : "");
  }
}

/* ---- small ones -------------------------------------------------------------------------- */

static void small_ones(void) {
  sqlite3 *db = open_db(":memory:");
  char *dflt = Q(db, "SELECT siam_threads(0)");
  CHECK_Q(db, dflt, "SELECT siam_threads(-4294967295)");
  CHECK_Q(db, dflt, "SELECT siam_threads(-9223372036854775808)");
  CHECK_ERR(db, "siam_threads: thread count 4294967297 is out of range (at most ",
            "SELECT siam_threads(4294967297)");
  free(dflt);
  CHECK_ERR(db, "siam_f32: element 0 (1e+39) is outside the float32 range", "SELECT siam_f32('[1e39]')");
  CHECK_ERR(db, "siam_f32: element 1 (-1e+39) is outside the float32 range", "SELECT siam_f32('[1, -1e39]')");
  CHECK_Q(db, "00000000", "SELECT hex(siam_f32('[1e-50]'))");
  CHECK_ERR(db, "siam_similarity: vector 1 holds NaN or infinite values",
            "SELECT siam_similarity(x'0000c07f0000803f', x'0000803f0000803f')");
  CHECK_ERR(db, "siam_similarity: vector 2 holds NaN or infinite values",
            "SELECT siam_similarity(x'0000803f0000803f', x'0000807f0000803f')");
  sqlite3_close(db);
}

/* The version gate: siamsql's init refuses an SQLite older than 3.34 (the
** API table it is handed says which version it is). */
static const sqlite3_api_routines *captured_api;
static int capture_api(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
  (void)db;
  (void)err;
  captured_api = api;
  return SQLITE_OK;
}
static int old_version(void) { return 3033000; }
static const char *old_version_text(void) { return "3.33.0"; }

static void version_gate(void) {
  sqlite3_auto_extension((void (*)(void))capture_api);
  sqlite3 *db = NULL;
  sqlite3_open(":memory:", &db);
  sqlite3_cancel_auto_extension((void (*)(void))capture_api);
  void *lib = dlopen("./siamsql.so", RTLD_NOW | RTLD_LOCAL);
  int (*init)(sqlite3 *, char **, const sqlite3_api_routines *) = lib ? dlsym(lib, "sqlite3_siamsql_init") : NULL;
  CHECK(captured_api && init, "API table captured and siamsql.so loaded");
  if (captured_api && init) {
    sqlite3_api_routines old = *captured_api;
    old.libversion_number = old_version;
    old.libversion = old_version_text;
    char *err = NULL;
    int rc = init(db, &err, &old);
    CHECK(rc == SQLITE_ERROR && err && strcmp(err, "siamsql needs SQLite 3.34.0 or later; this is 3.33.0") == 0,
          "init on SQLite 3.33: rc %d, %s", rc, err ? err : "(no message)");
    sqlite3_free(err);
    CHECK_ERR(db, "no such function: siam_embed", "SELECT siam_embed('m', 'x')");
  }
  sqlite3_close(db);
  if (lib) dlclose(lib);
}

int main(void) {
  if (!mkdtemp(dir)) return 2;
  flags();
  attach_detach();
  blob_write();
  altered_schema();
  busy();
  memory_bomb();
  memory_limits();
  interrupts();
  import_fifo();
  export_links();
  threads_and_env();
  small_ones();
  version_gate();
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
  return TEST_DONE();
}
