/*
** sql_similarity.c — siam_embed_each, the embedding cache behind
** siam_similarity(model, a, b), siam_nearest and siam_pairs, through SQL:
** each against the row-by-row query it replaces, composed with ordinary SQL,
** and their errors.
**
** Uses the fixture models under tests/fixtures/models (see tests/gen/).
*/
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "sqlutil.h"

static const char *MODEL_DIR = "tests/fixtures/models/st_cased_mean_plain";
static const char *MODEL_DIR_NORM = "tests/fixtures/models/st_a_mean_norm_f16";

/* ---- data ------------------------------------------------------------------------ */

static uint64_t rng = 88172645463325252ull;
static uint32_t next_u32(void) {  /* xorshift64: the same data every run */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 32);
}
static float next_unit(void) { return (float)next_u32() / 4294967296.0f * 2 - 1; }

/* Text i: a sentence of 1..60 words, some repeated, a few non-ASCII. */
static char *make_text(int i) {
  static const char *words[] = {"the", "cat", "sat", "on", "a", "mat", "dogs", "bark", "loudly", "at",
                                "night", "über", "café", "naïve", "résumé", "东京", "weather", "is", "nice",
                                "today", "quantum", "physics", "describes", "nature", "Hello,", "world!"};
  size_t nw = sizeof words / sizeof *words;
  int n = 1 + (int)(next_u32() % (i % 7 == 0 ? 60 : 12));
  char *s = malloc(16 * (size_t)n + 16);
  s[0] = 0;
  for (int w = 0; w < n; w++) {
    if (w) strcat(s, " ");
    strcat(s, words[next_u32() % nw]);
  }
  return s;
}

static void exec_ok(sqlite3 *db, const char *sql) {
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  CHECK(rc == SQLITE_OK, "%s: %s", sql, err ? err : "?");
  sqlite3_free(err);
}

/* passages(body) with n texts, plus a NULL, an empty text and a BLOB text. */
static void make_passages(sqlite3 *db, const char *table, int n) {
  char sql[256];
  snprintf(sql, sizeof sql, "CREATE TABLE %s(body, emb BLOB)", table);
  exec_ok(db, sql);
  snprintf(sql, sizeof sql, "INSERT INTO %s(body) VALUES (?1)", table);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  exec_ok(db, "BEGIN");
  for (int i = 0; i < n; i++) {
    char *t = make_text(i);
    sqlite3_bind_text(st, 1, t, -1, free);
    sqlite3_step(st);
    sqlite3_reset(st);
  }
  sqlite3_bind_null(st, 1);
  sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_bind_text(st, 1, "", 0, SQLITE_STATIC);
  sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_bind_blob(st, 1, "raw \0bytes", 10, SQLITE_STATIC);
  sqlite3_step(st);
  sqlite3_finalize(st);
  exec_ok(db, "COMMIT");
}

/* vecs(v) with n random dim-float vectors, every 10th NULL. */
static void make_vectors(sqlite3 *db, const char *table, int n, int dim) {
  char sql[256];
  snprintf(sql, sizeof sql, "CREATE TABLE %s(v BLOB)", table);
  exec_ok(db, sql);
  snprintf(sql, sizeof sql, "INSERT INTO %s(v) VALUES (?1)", table);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  float *x = malloc((size_t)dim * sizeof *x);
  exec_ok(db, "BEGIN");
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < dim; j++) x[j] = next_unit();
    if (i % 10 == 3) sqlite3_bind_null(st, 1);
    else sqlite3_bind_blob(st, 1, x, dim * (int)sizeof *x, SQLITE_TRANSIENT);
    sqlite3_step(st);
    sqlite3_reset(st);
  }
  exec_ok(db, "COMMIT");
  sqlite3_finalize(st);
  free(x);
}

/* Over the rows of sql (two float32 BLOB columns, or both NULL): the largest
** element difference, -1 if a row has one NULL or lengths differ. */
static double max_blob_diff(sqlite3 *db, const char *sql, int *rows) {
  sqlite3_stmt *st = NULL;
  double worst = 0;
  *rows = 0;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    return -1;
  }
  while (sqlite3_step(st) == SQLITE_ROW) {
    ++*rows;
    int na = sqlite3_column_bytes(st, 0), nb = sqlite3_column_bytes(st, 1);
    if ((sqlite3_column_type(st, 0) == SQLITE_NULL) != (sqlite3_column_type(st, 1) == SQLITE_NULL) || na != nb) {
      worst = -1;
      break;
    }
    const char *a = sqlite3_column_blob(st, 0), *b = sqlite3_column_blob(st, 1);
    for (int i = 0; i + 4 <= na; i += 4) {
      float fa, fb;
      memcpy(&fa, a + i, 4);
      memcpy(&fb, b + i, 4);
      if (fabs((double)fa - fb) > worst) worst = fabs((double)fa - fb);
    }
  }
  int rc = sqlite3_finalize(st);
  if (rc != SQLITE_OK) {
    fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    return -1;
  }
  return worst;
}

/* Whether the first step of sql's query plan starts with want. */
static int plan_starts(sqlite3 *db, const char *sql, const char *want) {
  char *eqp = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);
  sqlite3_stmt *st = NULL;
  int ok = sqlite3_prepare_v2(db, eqp, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
           strncmp((const char *)sqlite3_column_text(st, 3), want, strlen(want)) == 0;
  sqlite3_finalize(st);
  sqlite3_free(eqp);
  return ok;
}

/* ---- siam_embed_each ---------------------------------------------------------------- */

static void check_each_equals_row_by_row(sqlite3 *db, const char *model, int n_rows) {
  char sql[512];
  int rows;
  snprintf(sql, sizeof sql,
           "SELECT e.embedding, siam_embed('%s', p.body) FROM siam_embed_each('%s', 'SELECT rowid, body FROM p') e"
           " JOIN p ON p.rowid = e.id",
           model, model);
  double d = max_blob_diff(db, sql, &rows);
  CHECK(d >= 0 && d <= 1e-6, "%s: siam_embed_each differs from siam_embed by %g", model, d);
  CHECK(rows == n_rows, "%s: %d rows, want %d", model, rows, n_rows);
  printf("  siam_embed_each vs siam_embed (%s, %d rows): largest difference %g (tolerance 1e-6)\n", model, rows, d);
}

static void test_embed_each(void) {
  sqlite3 *db = open_db(":memory:");
  CHECK_Q(db, NULL, "SELECT siam_import('m', ?1) AND NULL", MODEL_DIR);
  CHECK_Q(db, NULL, "SELECT siam_import('n', ?1) AND NULL", MODEL_DIR_NORM);
  make_passages(db, "p", 1200);  /* more than one chunk of 512 */
  check_each_equals_row_by_row(db, "m", 1203);
  check_each_equals_row_by_row(db, "n", 1203);

  /* Order, ids passed through (any type), NULL text -> NULL embedding. */
  CHECK_Q(db, "1,2,3,4,5", "SELECT group_concat(id) FROM siam_embed_each('m', 'SELECT rowid, body FROM p LIMIT 5')");
  CHECK_Q(db, "a|x|NULL|1.5",
          "SELECT group_concat(coalesce(id, 'NULL'), '|') FROM siam_embed_each('m',"
          " 'SELECT ''a'', ''t'' UNION ALL SELECT ''x'', ''u'' UNION ALL SELECT NULL, ''v'' UNION ALL SELECT 1.5, ''w''')");
  CHECK_Q(db, "1", "SELECT count(*) FROM siam_embed_each('m', 'SELECT rowid, body FROM p') WHERE embedding IS NULL");
  CHECK_Q(db, "0", "SELECT count(*) FROM siam_embed_each('m', 'SELECT 1, 2 WHERE 0')");
  CHECK_Q(db, "1", "SELECT embedding = siam_embed('m', 'Hello, world!') FROM siam_embed_each('m', 'SELECT 1, ''Hello, world!''')");
  CHECK_Q(db, "1", "SELECT embedding = siam_embed('m', x'6869') FROM siam_embed_each('m', 'SELECT 1, x''6869''')");
  CHECK_Q(db, "256", "SELECT length(embedding) FROM siam_embed_each('m', 'SELECT 1, ''x'' ;  ')");

  /* UPDATE ... FROM, INSERT ... SELECT, WHERE and ORDER BY around it. */
  CHECK_Q(db, NULL,
          "UPDATE p SET emb = e.embedding FROM siam_embed_each('m', 'SELECT rowid, body FROM p') AS e"
          " WHERE e.id = p.rowid");
  int rows;
  double d = max_blob_diff(db, "SELECT emb, siam_embed('m', body) FROM p", &rows);
  CHECK(d >= 0 && d <= 1e-6 && rows == 1203, "UPDATE FROM: difference %g over %d rows", d, rows);
  exec_ok(db, "CREATE TABLE q(id INTEGER PRIMARY KEY, emb BLOB)");
  CHECK_Q(db, NULL,
          "INSERT INTO q SELECT id, embedding FROM siam_embed_each('m', 'SELECT rowid, body FROM p WHERE rowid % 2')");
  CHECK_Q(db, "602", "SELECT count(*) FROM q");
  CHECK_Q(db, "0", "SELECT count(*) FROM q JOIN p ON p.rowid = q.id WHERE q.emb IS NOT p.emb");
  CHECK_Q(db, "3,2,1",
          "SELECT group_concat(id) FROM (SELECT id FROM siam_embed_each('m', 'SELECT rowid, body FROM p')"
          " WHERE id <= 3 ORDER BY id DESC)");
  /* As the outer loop of a join, never the inner one (it would re-embed per row). */
  CHECK(plan_starts(db, "SELECT * FROM p JOIN siam_embed_each('m', 'SELECT rowid, body FROM p') e ON e.id = p.rowid",
                    "SCAN e VIRTUAL TABLE"),
        "siam_embed_each is not the outer loop");
  sqlite3_close(db);
}

static void test_embed_each_errors(void) {
  sqlite3 *db = open_db(":memory:");
  CHECK_Q(db, NULL, "SELECT siam_import('m', ?1) AND NULL", MODEL_DIR);
  exec_ok(db, "CREATE TABLE p(body)");
  exec_ok(db, "INSERT INTO p VALUES ('one'), (2)");
  CHECK_ERR(db, "siam_embed_each: no model named 'x'", "SELECT * FROM siam_embed_each('x', 'SELECT 1, 2')");
  CHECK_ERR(db, "siam_embed_each: model name must be TEXT, got INTEGER", "SELECT * FROM siam_embed_each(1, 'SELECT 1, 2')");
  CHECK_ERR(db, "siam_embed_each: SQL must be TEXT, got NULL", "SELECT * FROM siam_embed_each('m', NULL)");
  CHECK_ERR(db, "siam_embed_each: the query must return 2 columns (id, text), it returns 1",
            "SELECT * FROM siam_embed_each('m', 'SELECT body FROM p')");
  CHECK_ERR(db, "siam_embed_each: near \"SELEC\": syntax error", "SELECT * FROM siam_embed_each('m', 'SELEC 1, 2')");
  CHECK_ERR(db, "siam_embed_each: no such table: nope", "SELECT * FROM siam_embed_each('m', 'SELECT 1, 2 FROM nope')");
  CHECK_ERR(db, "siam_embed_each: the query must be read-only (a SELECT)",
            "SELECT * FROM siam_embed_each('m', 'DELETE FROM p')");
  CHECK_Q(db, "2", "SELECT count(*) FROM p");
  CHECK_ERR(db, "siam_embed_each: SQL text must be one statement, found more after it",
            "SELECT * FROM siam_embed_each('m', 'SELECT 1, 2; DELETE FROM p')");
  CHECK_ERR(db, "siam_embed_each: SQL text holds no statement", "SELECT * FROM siam_embed_each('m', ' ')");
  CHECK_ERR(db, "siam_embed_each: row 2: text must be TEXT or BLOB, got INTEGER",
            "SELECT * FROM siam_embed_each('m', 'SELECT rowid, body FROM p')");
  CHECK_ERR(db, "siam_embed_each: needs 2 arguments: model name and SQL text", "SELECT * FROM siam_embed_each('m')");
  CHECK_ERR(db, "siam_embed_each: needs 2 arguments", "SELECT * FROM siam_embed_each");
  /* It runs SQL text: never from a view or trigger. */
  exec_ok(db, "CREATE VIEW sneaky AS SELECT * FROM siam_embed_each('m', 'SELECT 1, ''x''')");
  CHECK_ERR(db, "unsafe use of virtual table \"siam_embed_each\"", "SELECT * FROM sneaky");
  exec_ok(db, "CREATE TABLE log(x); CREATE TRIGGER tr AFTER INSERT ON log BEGIN"
              " SELECT count(*) FROM siam_embed_each('m', 'SELECT 1, ''x'''); END");
  CHECK_ERR(db, "unsafe use of virtual table \"siam_embed_each\"", "INSERT INTO log VALUES (1)");
  /* Eponymous only. */
  CHECK_ERR(db, "", "CREATE VIRTUAL TABLE t USING siam_embed_each");
  sqlite3_close(db);
}

/* ---- the embedding cache ------------------------------------------------------------ */

/* siam_similarity(model, a, b) over a text x text join: the same scores as
** from siam_embed (uncached), both cold and warm, and after the model changes. */
static void test_similarity_cache(void) {
  sqlite3 *db = open_db(":memory:");
  CHECK_Q(db, NULL, "SELECT siam_import('m', ?1) AND NULL", MODEL_DIR);
  make_passages(db, "p", 60);
  const char *differ =
      "SELECT count(*) FROM p a, p b WHERE a.rowid <= 20 AND b.rowid > 40"
      " AND siam_similarity('m', a.body, b.body) IS NOT siam_similarity(siam_embed('m', a.body), siam_embed('m', b.body))";
  CHECK_Q(db, "0", differ);  /* cold */
  CHECK_Q(db, "0", differ);  /* warm */
  CHECK_Q(db, "0",
          "SELECT count(*) FROM p a, p b WHERE siam_similarity('m', a.body, b.body) IS NOT"
          " siam_similarity(siam_embed('m', a.body), siam_embed('m', b.body))");
  char *before = Q(db, "SELECT siam_similarity('m', 'the cat sat', 'a dog barked')");
  /* A changed weight: the cache must not serve vectors of the old model. */
  exec_ok(db, "UPDATE siam_tensor SET data = siam_pack(siam_f32((SELECT json_group_array(0.25) FROM"
              " (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < json_extract(shape, '$[0]'))"
              "  SELECT i FROM n)))) WHERE model = 'm' AND name = 'embeddings.LayerNorm.bias'");
  char *after = Q(db, "SELECT siam_similarity('m', 'the cat sat', 'a dog barked')");
  CHECK(before && after && strcmp(before, after) != 0, "model changed, similarity did not: %s", after ? after : "NULL");
  CHECK_Q(db, "0", differ);
  CHECK_Q(db, NULL, "SELECT siam_similarity('m', NULL, 'x')");
  CHECK_Q(db, "1", "SELECT siam_similarity('m', 'same', 'same') > 0.999999");
  free(before);
  free(after);
  sqlite3_close(db);
}

/* The same scores with the cache off, tiny (evicting all the time) and large. */
static void test_cache_sizes(void) {
  const char *limits[] = {"0", "4000", "100000", NULL};
  const char *join = "SELECT group_concat(printf('%!.17g', siam_similarity('m', a.body, b.body))) FROM p a, p b"
                     " WHERE a.rowid <= 30 AND b.rowid > 20";
  char *first = NULL;
  for (int i = 0; i < 4; i++) {
    if (limits[i]) setenv("SIAMSQL_EMBED_CACHE_BYTES", limits[i], 1);
    else unsetenv("SIAMSQL_EMBED_CACHE_BYTES");
    sqlite3 *db = open_db(":memory:");
    CHECK_Q(db, NULL, "SELECT siam_import('m', ?1) AND NULL", MODEL_DIR);
    rng = 12345;
    make_passages(db, "p", 40);
    char *got = Q(db, join);
    char *again = Q(db, join);
    CHECK(got && again && strcmp(got, again) == 0, "cache limit %s: a second run differs", limits[i] ? limits[i] : "default");
    if (!first) first = strdup(got ? got : "");
    else CHECK(got && strcmp(got, first) == 0, "cache limit %s: scores differ from the uncached ones",
               limits[i] ? limits[i] : "default");
    free(got);
    free(again);
    sqlite3_close(db);
  }
  unsetenv("SIAMSQL_EMBED_CACHE_BYTES");
  free(first);
}

/* ---- siam_nearest ------------------------------------------------------------------- */

static void test_nearest(void) {
  sqlite3 *db = open_db(":memory:");
  make_vectors(db, "vecs", 700, 24);
  /* The plain query it replaces, for a query vector taken from the table. */
  const char *plain = "SELECT rowid, siam_similarity(v, (SELECT v FROM vecs WHERE rowid = ?1)) AS s FROM vecs"
                      " WHERE v IS NOT NULL ORDER BY s DESC LIMIT ?2";
  const char *fast = "SELECT rowid, score FROM siam_nearest('vecs', 'v', (SELECT v FROM vecs WHERE rowid = ?1), ?2)";
  for (int q = 1; q <= 30; q += 7) {
    for (int k = 1; k <= 64; k *= 4) {
      char sql[1024], qs[16], ks[16];
      snprintf(qs, sizeof qs, "%d", q);
      snprintf(ks, sizeof ks, "%d", k);
      snprintf(sql, sizeof sql,
               "SELECT (SELECT count(*) FROM (%s)) || '/' || (SELECT count(*) FROM (SELECT * FROM (%s) EXCEPT"
               " SELECT * FROM (%s)))",
               fast, fast, plain);
      sqlite3_stmt *st;
      sqlite3_prepare_v2(db, sql, -1, &st, NULL);
      sqlite3_bind_int(st, 1, q);
      sqlite3_bind_int(st, 2, k);
      int rc = sqlite3_step(st);
      const char *r = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : sqlite3_errmsg(db);
      char want[32];
      snprintf(want, sizeof want, "%d/0", k);
      CHECK(strcmp(r, want) == 0, "nearest q=%s k=%s: got %s, want %s (results/differences)", qs, ks, r, want);
      sqlite3_finalize(st);
    }
  }
  /* Best first; the query itself scores 1. */
  CHECK_Q(db, "5", "SELECT rowid FROM siam_nearest('vecs', 'v', (SELECT v FROM vecs WHERE rowid = 5), 3) LIMIT 1");
  CHECK_Q(db, "1", "SELECT score > 0.9999999 FROM siam_nearest('vecs', 'v', (SELECT v FROM vecs WHERE rowid = 5), 1)");
  CHECK_Q(db, "1",
          "SELECT group_concat(score, ',') = (SELECT group_concat(score, ',') FROM (SELECT score FROM"
          " siam_nearest('vecs', 'v', (SELECT v FROM vecs WHERE rowid = 8), 20) ORDER BY score DESC))"
          " FROM siam_nearest('vecs', 'v', (SELECT v FROM vecs WHERE rowid = 8), 20)");
  /* k beyond the rows: every non-NULL row. */
  CHECK_Q(db, "630", "SELECT count(*) FROM siam_nearest('vecs', 'v', (SELECT v FROM vecs WHERE rowid = 1), 100000)");
  /* JOIN back, WHERE, ORDER BY; and one search per row of an outer table. */
  CHECK_Q(db, "5", "SELECT count(*) FROM siam_nearest('vecs', 'v', (SELECT v FROM vecs WHERE rowid = 1), 5) n"
                   " JOIN vecs ON vecs.rowid = n.rowid WHERE vecs.v IS NOT NULL");
  CHECK_Q(db, "1", "SELECT count(*) FROM siam_nearest('vecs', 'v', (SELECT v FROM vecs WHERE rowid = 1), 5) n"
                   " WHERE score > 0.9999999");
  CHECK_Q(db, "10",
          "SELECT count(*) FROM vecs q, siam_nearest('vecs', 'v', q.v, 1) n WHERE q.rowid <= 11 AND n.rowid = q.rowid");
  CHECK_Q(db, NULL, "SELECT * FROM siam_nearest('vecs', 'v', NULL, 3)");
  /* A zero query scores 0 against everything, as siam_similarity does. */
  CHECK_Q(db, "0.0", "SELECT max(score) FROM siam_nearest('vecs', 'v', zeroblob(96), 3)");
  sqlite3_close(db);
}

/* The vectors kept between statements (ext/vecsnap.c) are never stale. */
static void test_snapshot(void) {
  char path[] = "/tmp/siamsql-snap-XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0) close(fd);
  sqlite3 *db = open_db(path), *other = open_db(path);
  exec_ok(db, "DROP TABLE IF EXISTS t; CREATE TABLE t(v BLOB);"
              "INSERT INTO t VALUES (siam_f32('[1,0,0]')), (siam_f32('[0,1,0]')), (siam_f32('[0,0,1]'))");
  const char *best = "SELECT group_concat(rowid) FROM siam_nearest('t', 'v', siam_f32('[1,1,0.1]'), 2)";
  const char *top = "SELECT rowid FROM siam_nearest('t', 'v', siam_f32('[1,1,1]'), 1)";
  CHECK_Q(db, "1,2", best);
  CHECK_Q(db, "1,2", best);  /* from the kept snapshot */
  exec_ok(db, "UPDATE t SET v = siam_f32('[1,1,0.2]') WHERE rowid = 3");
  CHECK_Q(db, "3,1", best);
  /* Uncommitted changes are seen, and forgotten on rollback. */
  exec_ok(db, "BEGIN; INSERT INTO t VALUES (siam_f32('[1,1,1]'))");
  CHECK_Q(db, "4", top);
  exec_ok(db, "ROLLBACK");
  CHECK_Q(db, "3", top);
  CHECK_Q(db, "3", top);
  exec_ok(db, "SAVEPOINT a; INSERT INTO t VALUES (siam_f32('[1,1,1]'))");
  CHECK_Q(db, "4", top);
  exec_ok(db, "ROLLBACK TO a; RELEASE a");
  CHECK_Q(db, "3", top);
  /* Another connection's commit. */
  CHECK_Q(other, NULL, "UPDATE t SET v = siam_f32('[2,2,2]') WHERE rowid = 1");
  CHECK_Q(db, "1", top);
  /* VACUUM renumbers rowids of a table without INTEGER PRIMARY KEY. */
  exec_ok(db, "DELETE FROM t WHERE rowid = 2; VACUUM");
  CHECK_Q(db, "2,1", best);  /* rowid 3 became 2 */
  /* The table replaced by another of the same name. */
  exec_ok(db, "DROP TABLE t; CREATE TABLE t(v BLOB); INSERT INTO t VALUES (siam_f32('[0,0,1]')), (siam_f32('[1,1,1]'))");
  CHECK_Q(db, "2", top);
  /* A view has no rowids to name results by. */
  exec_ok(db, "CREATE VIEW w AS SELECT v FROM t");
  CHECK_ERR(db, "siam_nearest: w is a view: name a table", "SELECT * FROM siam_nearest('w', 'v', siam_f32('[1,1,1]'), 1)");
  /* siam_pairs shares the snapshot; a change is seen there too. */
  CHECK_Q(db, "0", "SELECT count(*) FROM siam_pairs('t', 'v', 0.99)");
  exec_ok(db, "INSERT INTO t VALUES (siam_f32('[0,0,2]'))");
  CHECK_Q(db, "1|3", "SELECT rowid_a || '|' || rowid_b FROM siam_pairs('t', 'v', 0.99)");
  sqlite3_close(other);
  sqlite3_close(db);
  unlink(path);
}

/* ---- siam_pairs ------------------------------------------------------------------------ */

/* siam_pairs and the plain self-join agree: returns "pairs/only_fast/only_plain". */
static char *pairs_vs_join(sqlite3 *db, const char *table, const char *threshold) {
  char sql[1024];
  snprintf(sql, sizeof sql,
           "WITH f AS (SELECT rowid_a, rowid_b, score FROM siam_pairs('%s', 'v', ?1)),"
           " j AS (SELECT a.rowid, b.rowid, siam_similarity(a.v, b.v) AS s FROM %s a, %s b"
           "       WHERE a.rowid < b.rowid AND s >= ?1)"
           " SELECT (SELECT count(*) FROM f) || '/' || (SELECT count(*) FROM (SELECT * FROM f EXCEPT SELECT * FROM j))"
           " || '/' || (SELECT count(*) FROM (SELECT * FROM j EXCEPT SELECT * FROM f))",
           table, table, table);
  sqlite3_stmt *st;
  char *out = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_double(st, 1, strtod(threshold, NULL));
    if (sqlite3_step(st) == SQLITE_ROW) out = strdup((const char *)sqlite3_column_text(st, 0));
  }
  if (!out) out = strdup(sqlite3_errmsg(db));
  sqlite3_finalize(st);
  return out;
}

static void check_pairs(sqlite3 *db, const char *table, const char *threshold, int min_pairs) {
  char *got = pairs_vs_join(db, table, threshold);
  int n = -1, only_fast = -1, only_plain = -1;
  sscanf(got, "%d/%d/%d", &n, &only_fast, &only_plain);
  CHECK(n >= min_pairs && only_fast == 0 && only_plain == 0,
        "siam_pairs(%s, %s) vs plain join: %s (pairs/only in siam_pairs/only in join)", table, threshold, got);
  free(got);
}

static void test_pairs(void) {
  sqlite3 *db = open_db(":memory:");
  make_vectors(db, "small", 300, 16);
  check_pairs(db, "small", "0.5", 100);
  check_pairs(db, "small", "0.3", 1000);
  check_pairs(db, "small", "-2", 300 * 299 / 2 * 8 / 10);
  check_pairs(db, "small", "0.99", 0);
  /* Threshold exactly at a pair's score: >= keeps it, in both. */
  char *t = Q(db, "SELECT printf('%!.17g', siam_similarity(a.v, b.v)) FROM small a, small b"
                  " WHERE a.rowid = 1 AND b.rowid = 2");
  check_pairs(db, "small", t, 1);
  free(t);
  /* Beyond one tile (2048 rows), in 3 dimensions so that many pairs pass. */
  make_vectors(db, "big", 2600, 3);
  check_pairs(db, "big", "0.9995", 500);
  /* Exact duplicates score 1. */
  exec_ok(db, "CREATE TABLE dup(v BLOB); INSERT INTO dup SELECT v FROM small WHERE rowid <= 20;"
              " INSERT INTO dup SELECT v FROM small WHERE rowid <= 20");
  CHECK_Q(db, "18", "SELECT count(*) FROM siam_pairs('dup', 'v', 0.999999) WHERE rowid_b = rowid_a + 20");
  check_pairs(db, "dup", "1", 1);

  /* Composes: JOIN back, WHERE, ORDER BY, aggregates. */
  CHECK_Q(db, "1", "SELECT count(*) = (SELECT count(*) FROM siam_pairs('small', 'v', 0.5) WHERE score > 0.6)"
                   " FROM siam_pairs('small', 'v', 0.6)");
  CHECK_Q(db, "1", "SELECT score = (SELECT max(score) FROM siam_pairs('small', 'v', 0.5))"
                   " FROM siam_pairs('small', 'v', 0.5) ORDER BY score DESC LIMIT 1");
  CHECK_Q(db, "1", "SELECT count(*) = (SELECT count(*) FROM siam_pairs('small', 'v', 0.5))"
                   " FROM siam_pairs('small', 'v', 0.5) d JOIN small a ON a.rowid = d.rowid_a"
                   " JOIN small b ON b.rowid = d.rowid_b WHERE siam_similarity(a.v, b.v) = d.score AND d.rowid_a < d.rowid_b");
  CHECK_Q(db, NULL, "SELECT * FROM siam_pairs('small', 'v', NULL)");
  exec_ok(db, "CREATE TABLE one(v BLOB); INSERT INTO one VALUES (x'0000803f')");
  CHECK_Q(db, "0", "SELECT count(*) FROM siam_pairs('one', 'v', -1)");
  sqlite3_close(db);
}

/* ---- errors of siam_nearest and siam_pairs ------------------------------------------ */

static void test_search_errors(void) {
  sqlite3 *db = open_db(":memory:");
  exec_ok(db, "CREATE TABLE t(v BLOB, note TEXT);"
              "INSERT INTO t VALUES (siam_f32('[1,2,3]'), 'a'), (NULL, 'b'), (siam_f32('[3,2,1]'), 'c');"
              "CREATE TABLE mixed(v BLOB); INSERT INTO mixed SELECT v FROM t;"
              "INSERT INTO mixed VALUES (siam_f32('[1,2]'));"
              "CREATE TABLE texty(v); INSERT INTO texty VALUES (siam_f32('[1,2]')), ('oops');"
              "CREATE TABLE odd(v); INSERT INTO odd VALUES (x'010203');"
              "CREATE TABLE nan(v); INSERT INTO nan VALUES (siam_f32('[1,2]')), (x'0000c07f0000803f');"
              "CREATE TABLE wr(id INTEGER PRIMARY KEY, v BLOB) WITHOUT ROWID;"
              "CREATE TABLE \"we\"\"ird\"(\"c\"\"ol\" BLOB); INSERT INTO \"we\"\"ird\" SELECT v FROM t");
  const char *q = "siam_f32('[1,2,3]')";
  char sql[256];
  CHECK_ERR(db, "siam_pairs: no such table: nope", "SELECT * FROM siam_pairs('nope', 'v', 0.5)");
  CHECK_ERR(db, "siam_pairs: table t has no column nope", "SELECT * FROM siam_pairs('t', 'nope', 0.5)");
  CHECK_ERR(db, "siam_pairs: rowid 4 has 2 floats, earlier rows 3", "SELECT * FROM siam_pairs('mixed', 'v', 0.5)");
  CHECK_ERR(db, "siam_pairs: rowid 2: column v holds TEXT, not a float32 BLOB",
            "SELECT * FROM siam_pairs('texty', 'v', 0.5)");
  CHECK_ERR(db, "siam_pairs: rowid 1: a float32 vector blob must be a non-zero multiple of 4 bytes, got 3",
            "SELECT * FROM siam_pairs('odd', 'v', 0.5)");
  CHECK_ERR(db, "siam_pairs: rowid 2 holds NaN or infinite values", "SELECT * FROM siam_pairs('nan', 'v', 0.5)");
  CHECK_ERR(db, "siam_pairs: table wr has no rowid", "SELECT * FROM siam_pairs('wr', 'v', 0.5)");
  CHECK_ERR(db, "siam_pairs: threshold must be a number, got TEXT", "SELECT * FROM siam_pairs('t', 'v', 'high')");
  CHECK_ERR(db, "siam_pairs: needs 3 arguments: table, column, threshold", "SELECT * FROM siam_pairs('t', 'v')");
  CHECK_ERR(db, "siam_pairs: table name must be TEXT, got INTEGER", "SELECT * FROM siam_pairs(1, 'v', 0.5)");
  CHECK_Q(db, "1|3", "SELECT rowid_a || '|' || rowid_b FROM siam_pairs('we\"ird', 'c\"ol', -1)");

  snprintf(sql, sizeof sql, "SELECT * FROM siam_nearest('nope', 'v', %s, 3)", q);
  CHECK_ERR(db, "siam_nearest: no such table: nope", sql);
  snprintf(sql, sizeof sql, "SELECT * FROM siam_nearest('t', 'nope', %s, 3)", q);
  CHECK_ERR(db, "siam_nearest: table t has no column nope", sql);
  CHECK_ERR(db, "siam_nearest: the query has 2 floats, column v holds vectors of 3",
            "SELECT * FROM siam_nearest('t', 'v', siam_f32('[1,2]'), 3)");
  snprintf(sql, sizeof sql, "SELECT * FROM siam_nearest('nan', 'v', %s, 3)", "siam_f32('[1,2]')");
  CHECK_ERR(db, "siam_nearest: rowid 2 holds NaN or infinite values", sql);
  CHECK_ERR(db, "siam_nearest: query must be a float32 BLOB, got TEXT", "SELECT * FROM siam_nearest('t', 'v', '[1,2,3]', 3)");
  CHECK_ERR(db, "siam_nearest: query: a float32 vector blob must be a non-zero multiple of 4 bytes, got 2",
            "SELECT * FROM siam_nearest('t', 'v', x'0102', 3)");
  CHECK_ERR(db, "siam_nearest: the query vector holds NaN or infinite values",
            "SELECT * FROM siam_nearest('t', 'v', x'0000c07f0000803f0000803f', 3)");
  snprintf(sql, sizeof sql, "SELECT * FROM siam_nearest('t', 'v', %s, 0)", q);
  CHECK_ERR(db, "siam_nearest: k must be an INTEGER from 1 to 16777216", sql);
  snprintf(sql, sizeof sql, "SELECT * FROM siam_nearest('t', 'v', %s, '3')", q);
  CHECK_ERR(db, "siam_nearest: k must be an INTEGER", sql);
  CHECK_ERR(db, "siam_nearest: needs 4 arguments: table, column, query vector, k",
            "SELECT * FROM siam_nearest('t', 'v')");
  /* They read a table named by a string: never from a view or trigger. */
  exec_ok(db, "CREATE VIEW v1 AS SELECT * FROM siam_pairs('t', 'v', 0.5);"
              "CREATE VIEW v2 AS SELECT * FROM siam_nearest('t', 'v', siam_f32('[1,2,3]'), 1)");
  CHECK_ERR(db, "unsafe use of virtual table \"siam_pairs\"", "SELECT * FROM v1");
  CHECK_ERR(db, "unsafe use of virtual table \"siam_nearest\"", "SELECT * FROM v2");
  sqlite3_close(db);
}

int main(void) {
  (void)read_file;
  test_embed_each();
  test_embed_each_errors();
  test_similarity_cache();
  test_cache_sizes();
  test_nearest();
  test_snapshot();
  test_pairs();
  test_search_errors();
  return TEST_DONE();
}
