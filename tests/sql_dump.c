/*
** sql_dump.c — siam_dump(model): the SQL text replays into an empty
** database (with siamsql not even loaded) and gives the same rows and the same
** embeddings; replaying twice is replaying once; it replaces a model of that
** name and leaves others alone; a connection that had the old model cached
** sees the new one; odd names survive the quoting; exact error texts; and
** every column of the model tables but revision is carried.
**
** Uses the shipped default model (models/default) and one fixture model.
*/
#include <unistd.h>

#include "sqlutil.h"

static char tmp_root[] = "/tmp/siamsql-dump-XXXXXX";
static const char *TEXTS[] = {"library to read zip archives", "Ruby module for reading and writing zip files",
                              "It's a \"quoted\" text, with Ünïcödé."};

static char *path_in_tmp(const char *name) {
  char *p = malloc(strlen(tmp_root) + strlen(name) + 2);
  sprintf(p, "%s/%s", tmp_root, name);
  return p;
}

/* A fresh database holding the shipped default model as 'default'. */
static sqlite3 *source_db(const char *name) {
  char *path = path_in_tmp(name);
  unlink(path);
  sqlite3 *db = open_db(path);
  free(path);
  char *n = Q(db, "SELECT siam_import('default', 'models/default')");
  CHECK(n && strncmp(n, "ERROR", 5) != 0, "importing models/default: %s", n ? n : "NULL");
  free(n);
  return db;
}

/* Replays sql on db; returns sqlite3_exec's code. */
static int replay(sqlite3 *db, const char *sql) {
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  CHECK(rc == SQLITE_OK, "replaying the dump: %s", err ? err : "?");
  sqlite3_free(err);
  return rc;
}

/* For each model table: the rows (every column but revision) in one of
** main and r and not the other, then whether the counts are equal: "0 1"
** when both hold the same rows of the model. */
static void check_same_rows(sqlite3 *db, const char *model) {
  static const char *const tables[][2] = {
      {"siam_model", "name, config, source, created_at, updated_at"},
      {"siam_tensor", "model, name, dtype, shape, data"},
      {"siam_vocab", "model, id, token"},
  };
  const char *key[] = {"name", "model", "model"};
  for (int i = 0; i < 3; i++) {
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT ((SELECT count(*) FROM (SELECT %2$s FROM main.%1$s WHERE %3$s = ?1 EXCEPT SELECT %2$s FROM r.%1$s"
             " WHERE %3$s = ?1)) + (SELECT count(*) FROM (SELECT %2$s FROM r.%1$s WHERE %3$s = ?1 EXCEPT SELECT %2$s"
             " FROM main.%1$s WHERE %3$s = ?1))) || ' ' || ((SELECT count(*) FROM main.%1$s WHERE %3$s = ?1) ="
             " (SELECT count(*) FROM r.%1$s WHERE %3$s = ?1))",
             tables[i][0], tables[i][1], key[i]);
    CHECK_Q(db, "0 1", sql, model);
  }
}

/* The same embeddings, bit for bit, from the model `model` in two databases. */
static void check_same_embeddings(sqlite3 *a, sqlite3 *b, const char *model) {
  for (size_t i = 0; i < sizeof TEXTS / sizeof *TEXTS; i++) {
    char *ea = Q(a, "SELECT hex(siam_embed(?1, ?2))", model, TEXTS[i]);
    char *eb = Q(b, "SELECT hex(siam_embed(?1, ?2))", model, TEXTS[i]);
    CHECK(ea && eb && strncmp(ea, "ERROR", 5) != 0 && strcmp(ea, eb) == 0, "embedding of '%s':\n   a: %.80s\n   b: %.80s",
          TEXTS[i], ea ? ea : "NULL", eb ? eb : "NULL");
    free(ea);
    free(eb);
  }
}

static void attach(sqlite3 *db, const char *file) {
  char *path = path_in_tmp(file);
  CHECK_Q(db, NULL, "ATTACH ?1 AS r", path);
  free(path);
}

static void test_replay_into_empty_database(void) {
  sqlite3 *src = source_db("src.db");
  char *dump = Q(src, "SELECT siam_dump('default')");
  CHECK(dump && strncmp(dump, "-- siam_dump: ", 14) == 0, "dump starts with its comment: %.60s", dump ? dump : "NULL");
  CHECK(dump && strstr(dump, "\nBEGIN;\n") && strlen(dump) > 9 && strcmp(dump + strlen(dump) - 8, "COMMIT;\n") == 0,
        "dump is one transaction");

  /* A plain connection: the dump needs nothing of siamsql to replay. */
  char *path = path_in_tmp("copy.db");
  unlink(path);
  sqlite3 *plain = NULL;
  CHECK(sqlite3_open(path, &plain) == SQLITE_OK, "open %s", path);
  replay(plain, dump);
  sqlite3_close(plain);

  attach(src, "copy.db");
  check_same_rows(src, "default");
  /* The triggers stamped a revision of the copy's own. */
  CHECK_Q(src, "1",
          "SELECT (SELECT revision FROM r.siam_model WHERE name = 'default') <>"
          " (SELECT revision FROM main.siam_model WHERE name = 'default')");
  sqlite3 *copy = open_db(path);
  check_same_embeddings(src, copy, "default");

  /* Twice is once. */
  replay(copy, dump);
  CHECK_Q(src, "1",
          "SELECT (SELECT count(*) FROM r.siam_model) = 1"
          " AND (SELECT count(*) FROM r.siam_tensor) = (SELECT count(*) FROM main.siam_tensor)"
          " AND (SELECT count(*) FROM r.siam_vocab) = (SELECT count(*) FROM main.siam_vocab)"
          " AND (SELECT count(*) FROM main.siam_vocab) > 0");
  check_same_rows(src, "default");
  check_same_embeddings(src, copy, "default");

  /* The same model dumps to the same text. */
  char *again = Q(copy, "SELECT siam_dump('default')");
  CHECK(again && dump && strcmp(again, dump) == 0, "a replayed model dumps to the same text");
  free(again);
  sqlite3_close(copy);
  free(path);
  free(dump);
  sqlite3_close(src);
}

/* A model in an attached database dumps from there, not from main. */
static void test_attached(void) {
  sqlite3 *db = open_db(":memory:");
  char *src = path_in_tmp("src.db");   /* written by test_replay_into_empty_database */
  CHECK_Q(db, NULL, "ATTACH ?1 AS aux", src);
  char *dump = Q(db, "SELECT siam_dump('default')");
  CHECK(dump && strstr(dump, "INSERT INTO siam_tensor("), "dump of an attached model: %.80s", dump ? dump : "NULL");
  replay(db, dump);   /* into main, which had no model tables */
  CHECK_Q(db, "1", "SELECT (SELECT count(*) FROM main.siam_tensor) = (SELECT count(*) FROM aux.siam_tensor)");
  free(dump);
  free(src);
  sqlite3_close(db);
}

/* The target already has a different 'default' (cached by a connection) and
** another model: the replay replaces the one, keeps the other, and the
** caching connection's next statement runs the new model. */
static void test_replace_and_reload(void) {
  sqlite3 *src = source_db("src2.db");
  char *dump = Q(src, "SELECT siam_dump('default')");
  char *path = path_in_tmp("target.db");
  unlink(path);
  sqlite3 *cached = open_db(path);
  CHECK_Q(cached, "55", "SELECT siam_import('default', 'tests/fixtures/models/st_a_mean_norm_f16')");
  CHECK_Q(cached, "55", "SELECT siam_import('other', 'tests/fixtures/models/st_a_mean_norm_f16')");
  char *other_before = Q(cached, "SELECT hex(siam_embed('other', ?1))", TEXTS[0]);
  char *old_default = Q(cached, "SELECT hex(siam_embed('default', ?1))", TEXTS[0]);

  sqlite3 *writer = open_db(path);
  replay(writer, dump);
  sqlite3_close(writer);

  char *new_default = Q(cached, "SELECT hex(siam_embed('default', ?1))", TEXTS[0]);
  char *want = Q(src, "SELECT hex(siam_embed('default', ?1))", TEXTS[0]);
  CHECK(new_default && want && strcmp(new_default, want) == 0 && strcmp(new_default, old_default) != 0,
        "the caching connection runs the replayed model at its next statement");
  check_same_embeddings(src, cached, "default");
  attach(src, "target.db");
  check_same_rows(src, "default");
  CHECK_Q(cached, other_before, "SELECT hex(siam_embed('other', ?1))", TEXTS[0]);
  CHECK_Q(cached, "2", "SELECT count(*) FROM siam_model");
  free(other_before);
  free(old_default);
  free(new_default);
  free(want);
  free(path);
  free(dump);
  sqlite3_close(cached);
  sqlite3_close(src);
}

/* A name with a quote and a newline: it must not end the comment or the
** string literal it is written in. */
static void test_odd_name(void) {
  const char *odd = "it's\nDROP TABLE siam_vocab; --";
  char *path = path_in_tmp("odd.db");
  unlink(path);
  sqlite3 *db = open_db(path);
  CHECK_Q(db, "55", "SELECT siam_import(?1, 'tests/fixtures/models/st_a_mean_norm_f16')", odd);
  char *dump = Q(db, "SELECT siam_dump(?1)", odd);
  char *want = Q(db, "SELECT hex(siam_embed(?1, ?2))", odd, TEXTS[2]);
  CHECK_Q(db, NULL, "DELETE FROM siam_model");
  replay(db, dump);
  CHECK_Q(db, want, "SELECT hex(siam_embed(?1, ?2))", odd, TEXTS[2]);
  CHECK_Q(db, "1", "SELECT count(*) = (SELECT count(*) FROM siam_vocab) FROM siam_vocab WHERE model = ?1", odd);
  free(want);
  free(dump);
  free(path);
  sqlite3_close(db);
}

static void test_errors(void) {
  sqlite3 *db = open_db(":memory:");
  CHECK_ERR(db, "siam_dump: no model named 'x'", "SELECT siam_dump('x')");
  CHECK_Q(db, "55", "SELECT siam_import('m', 'tests/fixtures/models/st_a_mean_norm_f16')");
  CHECK_ERR(db, "siam_dump: no model named 'nope'", "SELECT siam_dump('nope')");
  CHECK_ERR(db, "siam_dump: model name must be TEXT, got INTEGER", "SELECT siam_dump(3)");
  CHECK_ERR(db, "siam_dump: model name must be TEXT, got NULL", "SELECT siam_dump(NULL)");
  CHECK_ERR(db, "wrong number of arguments to function siam_dump()", "SELECT siam_dump()");
  sqlite3_close(db);
}

/* The dump writes every column but revision: a column added to the schema
** and not to dump.c fails here. */
static void test_every_column(void) {
  sqlite3 *db = open_db(":memory:");
  CHECK_Q(db, "55", "SELECT siam_import('m', 'tests/fixtures/models/st_a_mean_norm_f16')");
  const char *tables[] = {"siam_model", "siam_tensor", "siam_vocab"};
  for (int i = 0; i < 3; i++)
    CHECK_Q(db, "1",
            "SELECT instr(siam_dump('m'), 'INSERT INTO ' || ?1 || '(' ||"
            " (SELECT group_concat(name, ', ') FROM (SELECT name FROM pragma_table_info(?1)"
            "  WHERE name <> 'revision' ORDER BY cid)) || ') VALUES') > 0",
            tables[i]);
  sqlite3_close(db);
}

int main(void) {
  (void)read_file; /* sqlutil.h's, not needed here */
  if (!mkdtemp(tmp_root)) return 2;
  test_replay_into_empty_database();
  test_attached();
  test_replace_and_reload();
  test_odd_name();
  test_errors();
  test_every_column();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_root);
  return TEST_DONE();
}
