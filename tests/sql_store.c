/*
** sql_store.c — the model store through SQL: import, export, replace,
** errors that leave the tables as they were, models written with plain SQL,
** and changes seen by the next statement in this and another connection.
**
** Uses the model directories under tests/fixtures/models (see tests/gen/).
*/
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <unistd.h>

#include "sqlutil.h"

static char tmp_root[] = "/tmp/siamsql-store-XXXXXX";

/* The directory of the first fixture model whose ref file matches layout. */
static char *fixture_dir(const char *layout, const char *dtype) {
  DIR *d = opendir("tests/fixtures/ref");
  struct dirent *e;
  char *found = NULL;
  while (d && !found && (e = readdir(d))) {
    if (!strstr(e->d_name, ".json")) continue;
    char path[512];
    snprintf(path, sizeof path, "tests/fixtures/ref/%s", e->d_name);
    char *json = read_file(path, NULL);
    cJSON *ref = cJSON_Parse(json);
    const char *l = cJSON_GetStringValue(cJSON_GetObjectItem(ref, "layout"));
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(ref, "dtype"));
    const char *dir = cJSON_GetStringValue(cJSON_GetObjectItem(ref, "dir"));
    if (l && t && dir && strcmp(l, layout) == 0 && (!dtype || strcmp(t, dtype) == 0)) found = strdup(dir);
    cJSON_Delete(ref);
    free(json);
  }
  if (d) closedir(d);
  if (!found) {
    fprintf(stderr, "no fixture model with layout %s dtype %s\n", layout, dtype ? dtype : "*");
    exit(2);
  }
  return found;
}

/* Runs a shell command inside dir. */
static int sh_in(const char *dir, const char *command) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "cd '%s' && %s", dir, command);
  return system(cmd);
}

/* A copy of a fixture directory that a test may break. */
static char *scratch_copy(const char *src, const char *tag) {
  char *dst = malloc(strlen(tmp_root) + strlen(tag) + 2);
  sprintf(dst, "%s/%s", tmp_root, tag);
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", dst, src, dst);
  if (system(cmd) != 0) fprintf(stderr, "cannot copy %s\n", src);
  return dst;
}

static const char *ROWS = "SELECT (SELECT count(*) FROM siam_model) || '/' || (SELECT count(*) FROM siam_tensor) || '/' ||"
                          " (SELECT count(*) FROM siam_vocab)";

static void test_load_creates_nothing(void) {
  sqlite3 *db = open_db(":memory:");
  CHECK_Q(db, "0", "SELECT count(*) FROM sqlite_master");
  CHECK_ERR(db, "siam_embed: no model named 'nope'", "SELECT siam_embed('nope', 'hi')");
  CHECK_Q(db, "0", "SELECT count(*) FROM sqlite_master");
  CHECK_ERR(db, "siam_embed: model name must be TEXT, got INTEGER", "SELECT siam_embed(1, 'hi')");
  CHECK_ERR(db, "siam_similarity: vectors differ in dimension (2 and 3 floats)",
            "SELECT siam_similarity(siam_f32('[1,2]'), siam_f32('[1,2,3]'))");
  CHECK_Q(db, "1.0", "SELECT siam_similarity(siam_f32('[1,2]'), siam_f32('[2,4]'))");
  CHECK_Q(db, "[0.5,-1,3]", "SELECT siam_f32_json(siam_f32('[0.5,-1,3]'))");
  CHECK_Q(db, "1", "SELECT siam_unpack(siam_pack(x'0102030405')) = x'0102030405'");
  CHECK_ERR(db, "siam_unpack: ", "SELECT siam_unpack(x'0102030405')");
  CHECK_Q(db, "1", "SELECT siam_threads(1)");
  CHECK_Q(db, "1", "SELECT json_extract(siam_info(), '$.threads')");
  CHECK_Q(db, "1", "SELECT json_extract(siam_info(), '$.encoder_kernel') IN ('avx512', 'portable')");
  CHECK_Q(db, "1", "SELECT json_extract(siam_info(), '$.kernels.f32') = json_extract(siam_info(), '$.encoder_kernel')");
  CHECK_Q(db, "1", "SELECT json_extract(siam_info(), '$.kernels.bf16') IN ('amx', 'avx512bf16', 'reference')");
  CHECK_Q(db, "1", "SELECT json_extract(siam_info(), '$.kernels.int8') IN ('amx', 'avx512vnni', 'reference')");
  CHECK_Q(db, "1", "SELECT siam_threads(0) >= 1");
  CHECK_ERR(db, "siam_threads: thread count must be an INTEGER, got TEXT", "SELECT siam_threads('two')");
  sqlite3_close(db);
}

static void test_round_trip(const char *layout, const char *dtype) {
  char *dir = fixture_dir(layout, dtype);
  sqlite3 *db = open_db(":memory:");
  char *n = Q(db, "SELECT siam_import('m', ?1)", dir);
  CHECK(n && atoi(n) > 5, "import %s: %s", dir, n ? n : "NULL");
  CHECK_Q(db, n, "SELECT count(*) FROM siam_tensor WHERE model = 'm'");
  CHECK_ERR(db, "siam_import: a model named 'm' already exists", "SELECT siam_import('m', ?1)", dir);
  CHECK_Q(db, n, "SELECT siam_import('m', ?1, '{\"replace\":true}')", dir);

  char out[600];
  snprintf(out, sizeof out, "%s/export-%s-%s", tmp_root, layout, dtype ? dtype : "any");
  CHECK_Q(db, n, "SELECT siam_export('m', ?1)", out);
  CHECK_ERR(db, "siam_export: ", "SELECT siam_export('m', ?1)", out);  /* not empty now */
  CHECK_Q(db, n, "SELECT siam_export('m', ?1, '{\"overwrite\":true}')", out);
  CHECK_Q(db, n, "SELECT siam_import('m2', ?1)", out);
  CHECK_Q(db, "1", "SELECT a.config = b.config FROM siam_model a, siam_model b WHERE a.name = 'm' AND b.name = 'm2'");
  CHECK_Q(db, n,
          "SELECT count(*) FROM siam_tensor a JOIN siam_tensor b USING (name) WHERE a.model = 'm' AND b.model = 'm2'"
          " AND siam_unpack(a.data) = siam_unpack(b.data) AND a.dtype = b.dtype AND a.shape = b.shape");
  CHECK_Q(db, "0",
          "SELECT count(*) FROM siam_vocab a JOIN siam_vocab b USING (id) WHERE a.model = 'm' AND b.model = 'm2'"
          " AND a.token IS NOT b.token");
  CHECK_Q(db, "1", "SELECT siam_embed('m', 'Hello, world!') = siam_embed('m2', 'Hello, world!')");

  /* dtype conversion on import */
  CHECK_Q(db, n, "SELECT siam_import('h', ?1, '{\"dtype\":\"bf16\"}')", dir);
  CHECK_Q(db, "bf16", "SELECT group_concat(DISTINCT dtype) FROM siam_tensor WHERE model = 'h'");
  char *cos = Q(db, "SELECT siam_similarity(siam_embed('m', 'the quick brown fox'), siam_embed('h', 'the quick brown fox'))");
  CHECK(cos && atof(cos) > 0.99, "bf16 copy drifts: cosine %s", cos ? cos : "NULL");
  free(cos);
  CHECK_ERR(db, "siam_import: option dtype must be", "SELECT siam_import('x', ?1, '{\"dtype\":\"f8\"}')", dir);
  CHECK_ERR(db, "siam_import: unknown option 'replac'", "SELECT siam_import('x', ?1, '{\"replac\":true}')", dir);

  /* Deleting a model removes all its rows. */
  CHECK_Q(db, "0", "DELETE FROM siam_model WHERE name = 'h' RETURNING 0");
  CHECK_Q(db, "0", "SELECT count(*) FROM siam_tensor WHERE model = 'h'");
  CHECK_Q(db, "0", "SELECT count(*) FROM siam_vocab WHERE model = 'h'");
  CHECK_ERR(db, "siam_embed: no model named 'h'", "SELECT siam_embed('h', 'x')");
  sqlite3_close(db);
  free(n);
  free(dir);
}

/* Each broken directory gives an error and leaves the tables as they were. */
static void test_bad_directories(void) {
  char *src = fixture_dir("st", NULL);
  sqlite3 *db = open_db(":memory:");
  CHECK_Q(db, NULL, "SELECT siam_import('good', ?1) AND NULL", src);
  char *before = Q(db, ROWS);
  struct {
    const char *tag, *edit, *want;
  } cases[] = {
      {"nofile", "rm config.json", "config.json"},
      {"badjson", "echo '{not json' > config.json", "config.json"},
      {"trunc", "truncate -s -100 model.safetensors", "model.safetensors"},
      {"hdrlen", "printf '\\377\\377\\377\\377\\0\\0\\0\\0' | dd of=model.safetensors conv=notrunc 2>/dev/null",
       "model.safetensors"},
      {"novocab", "rm vocab.txt", "vocab.txt"},
      {"shortvocab", "sed -i '$d' vocab.txt", "vocab"},
      {"layers", "sed -i 's/\"num_hidden_layers\": *[0-9]*/\"num_hidden_layers\": 7/' config.json", "tensor"},
      {"act", "sed -i 's/\"hidden_act\": *\"[a-z_]*\"/\"hidden_act\": \"swish\"/' config.json", "swish"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *dir = scratch_copy(src, cases[i].tag);
    sh_in(dir, cases[i].edit);
    char *got = Q(db, "SELECT siam_import('bad', ?1)", dir);
    CHECK(got && strncmp(got, "ERROR: siam_import: ", 20) == 0 && strstr(got, cases[i].want),
          "%s: got %s, want an error naming %s", cases[i].tag, got ? got : "NULL", cases[i].want);
    CHECK_Q(db, before, ROWS);
    free(got);
    free(dir);
  }
  CHECK_ERR(db, "siam_import: /nonexistent/dir: ", "SELECT siam_import('bad', '/nonexistent/dir')");
  CHECK_Q(db, before, ROWS);
  free(before);
  sqlite3_close(db);
  free(src);
}

/* Import and export touch files: never from a view or trigger. */
static void test_directonly(void) {
  char *dir = fixture_dir("st", NULL);
  sqlite3 *db = open_db(":memory:");
  char sql[1024];
  snprintf(sql, sizeof sql, "CREATE VIEW sneaky AS SELECT siam_import('v', '%s')", dir);
  CHECK_Q(db, NULL, sql);
  CHECK_ERR(db, "unsafe use of siam_import()", "SELECT * FROM sneaky");
  sqlite3_close(db);
  free(dir);
}

/* Models written and changed with plain SQL; changes seen at once. */
static void test_sql_updates(void) {
  char *dir = fixture_dir("st", NULL);
  char path[600];
  snprintf(path, sizeof path, "%s/updates.db", tmp_root);
  sqlite3 *a = open_db(path), *b = open_db(path);
  CHECK_Q(a, NULL, "SELECT siam_import('base', ?1) AND NULL", dir);
  char *e1 = Q(b, "SELECT hex(siam_embed('base', 'a passage about cats'))");

  /* One weight changed by UPDATE: the next statement, here and elsewhere, sees it. */
  CHECK_Q(a, NULL,
          "UPDATE siam_tensor SET data = siam_pack(siam_f32((SELECT json_group_array(0.5) FROM"
          " (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < json_extract(shape, '$[0]'))"
          "  SELECT i FROM n))))"
          " WHERE model = 'base' AND name = 'embeddings.LayerNorm.bias'");
  CHECK_Q(a, "0.5", "SELECT json_extract(siam_f32_json(siam_unpack(data)), '$[0]') FROM siam_tensor"
                    " WHERE model = 'base' AND name = 'embeddings.LayerNorm.bias'");
  char *e2a = Q(a, "SELECT hex(siam_embed('base', 'a passage about cats'))");
  char *e2b = Q(b, "SELECT hex(siam_embed('base', 'a passage about cats'))");
  CHECK(e1 && e2a && strcmp(e1, e2a) != 0, "update not seen by the writing connection");
  CHECK(e2a && e2b && strcmp(e2a, e2b) == 0, "update not seen by the other connection");

  /* A broken tensor: a clear error naming model and tensor, nothing cached. */
  CHECK_Q(a, NULL, "UPDATE siam_tensor SET data = substr(data, 1, length(data) - 3)"
                   " WHERE model = 'base' AND name = 'embeddings.LayerNorm.weight'");
  CHECK_ERR(b, "siam_embed: model 'base': tensor embeddings.LayerNorm.weight: ", "SELECT siam_embed('base', 'x')");
  CHECK_Q(a, NULL, "DELETE FROM siam_tensor WHERE model = 'base' AND name = 'embeddings.LayerNorm.weight'");
  CHECK_ERR(b, "siam_embed: model 'base': missing tensor embeddings.LayerNorm.weight", "SELECT siam_embed('base', 'x')");
  free(e1);
  free(e2a);
  free(e2b);
  sqlite3_close(a);
  sqlite3_close(b);
  free(dir);
}

/* sql/clone_and_replace_head.sql builds a model by SQL alone. */
static void test_example_sql(void) {
  char *dir = fixture_dir("st", NULL);
  sqlite3 *db = open_db(":memory:");
  CHECK_Q(db, NULL, "SELECT siam_import('base', ?1) AND NULL", dir);
  char *script = read_file("sql/clone_and_replace_head.sql", NULL);
  char *err = NULL;
  CHECK(script && sqlite3_exec(db, script, NULL, NULL, &err) == SQLITE_OK, "example SQL: %s", err ? err : "missing");
  sqlite3_free(err);
  CHECK_Q(db, "8", "SELECT siam_dim('clone')");
  CHECK_Q(db, "[1,0,0,0,0,0,0,0]", "SELECT siam_f32_json(siam_embed('clone', 'any text at all'))");
  free(script);
  sqlite3_close(db);
  free(dir);
}

int main(void) {
  if (!mkdtemp(tmp_root)) return 2;
  test_load_creates_nothing();
  test_round_trip("st", NULL);
  test_round_trip("hf", NULL);
  test_round_trip("st", "bf16");
  test_bad_directories();
  test_directonly();
  test_sql_updates();
  test_example_sql();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
  sh_in("/tmp", cmd);
  return TEST_DONE();
}
