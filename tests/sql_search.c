/*
** sql_search.c — siam_search against the plain SQL it stands for, on random
** tables: the same rows, the same fused scores (bit for bit), the same order;
** siam_fts_query; the errors.
**
** The plain SQL (the README's) ranks the two lists with window functions and
** fuses them with w / (k + rank) + (1 - w) / (k + rank).
*/
#include <math.h>

#include "sqlutil.h"

#define FIXTURE "tests/fixtures/models/st_all4_nocjk_f16"   /* 64-float embeddings */
#define DIM 64

static const char *REWRITE =
    "WITH d AS (SELECT rowid AS id, row_number() OVER (ORDER BY score DESC, rowid) AS r"
    "             FROM siam_nearest('t', 'emb', siam_embed('m', ?1), ?2)),"
    "     b AS (SELECT id, row_number() OVER (ORDER BY s, id) AS r FROM"
    "             (SELECT rowid AS id, bm25(t_fts) AS s FROM t_fts WHERE t_fts MATCH siam_fts_query(?1)"
    "               ORDER BY s, id LIMIT ?2)),"
    "     ids AS (SELECT id FROM d UNION SELECT id FROM b)"
    " SELECT ids.id, coalesce(?3 / (?4 + d.r), 0) + coalesce((1 - ?3) / (?4 + b.r), 0) AS score, d.r, b.r"
    "   FROM ids LEFT JOIN d ON d.id = ids.id LEFT JOIN b ON b.id = ids.id"
    "  ORDER BY score DESC, ids.id LIMIT ?5";

static const char *SEARCH = "SELECT rowid, score, dense_rank, bm25_rank FROM siam_search('t', 'body', 'emb', 'm', ?1, ?5)";

static const char *const WORDS[] = {"archive", "zip",   "music", "player", "file",  "compress", "library", "tool",
                                    "python",  "debug", "font",  "image",  "video", "network",  "server",  "client",
                                    "game",    "chess", "math",  "plot",   "graph", "editor",   "text",    "shell"};
#define N_WORDS ((int)(sizeof WORDS / sizeof *WORDS))

static unsigned rng = 12345;
static unsigned rnd(void) {
  rng = rng * 1103515245u + 12345u;
  return rng >> 8;
}

static void random_text(char *buf, size_t cap, int words) {
  size_t at = 0;
  for (int i = 0; i < words && at + 16 < cap; i++)
    at += (size_t)snprintf(buf + at, cap - at, "%s%s", i ? " " : "", WORDS[rnd() % N_WORDS]);
  buf[at] = 0;
}

static void exec_ok(sqlite3 *db, const char *sql) {
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  CHECK(rc == SQLITE_OK, "%.200s: %s", sql, err ? err : "?");
  sqlite3_free(err);
}

/* Rows of a 4-column result, as text lines (scores printed exactly). */
static char *rows(sqlite3 *db, const char *sql, const char *q, int depth, double w, double k, int n) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return strdup(sqlite3_errmsg(db));
  sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, depth);
  sqlite3_bind_double(st, 3, w);
  sqlite3_bind_double(st, 4, k);
  sqlite3_bind_int(st, 5, n);
  sqlite3_str *s = sqlite3_str_new(db);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    sqlite3_str_appendf(s, "%lld %.17g %s %s\n", sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1),
                        sqlite3_column_text(st, 2) ? (const char *)sqlite3_column_text(st, 2) : "-",
                        sqlite3_column_text(st, 3) ? (const char *)sqlite3_column_text(st, 3) : "-");
  if (rc != SQLITE_DONE) sqlite3_str_appendf(s, "ERROR %s", sqlite3_errmsg(db));
  sqlite3_finalize(st);
  char *out = sqlite3_str_finish(s);
  char *copy = strdup(out ? out : "");
  sqlite3_free(out);
  return copy;
}

static void random_table(sqlite3 *db, int n, int duplicates) {
  exec_ok(db, "DROP TABLE IF EXISTS t; DROP TABLE IF EXISTS t_fts;"
              "CREATE TABLE t(body TEXT, emb BLOB);"
              "CREATE VIRTUAL TABLE t_fts USING fts5(body, content='t', content_rowid='rowid')");
  sqlite3_stmt *ins;
  sqlite3_prepare_v2(db, "INSERT INTO t(body, emb) VALUES (?1, ?2)", -1, &ins, NULL);
  char text[400];
  float v[DIM];
  for (int i = 0; i < n; i++) {
    if (!duplicates || i % 7) random_text(text, sizeof text, 2 + (int)(rnd() % 12));  /* else: the previous text again */
    for (int d = 0; d < DIM; d++) v[d] = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
    sqlite3_bind_text(ins, 1, text, -1, SQLITE_TRANSIENT);
    if (i % 11 == 5) sqlite3_bind_null(ins, 2);  /* a row without an embedding */
    else sqlite3_bind_blob(ins, 2, v, sizeof v, SQLITE_TRANSIENT);
    sqlite3_step(ins);
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);
  exec_ok(db, "INSERT INTO t_fts(t_fts) VALUES('rebuild')");
}

static void against_rewrite(void) {
  sqlite3 *db = open_db(":memory:");
  CHECK_Q(db, "1", "SELECT siam_import('m', '" FIXTURE "') > 0");
  static const struct { double k, w; int depth; } params[] = {{60, 0.5, 100}, {10, 0.3, 20}, {0, 1, 15}, {5, 0, 30}};
  int compared = 0, same = 0;
  for (int p = 0; p < 4; p++) {
    char sql[300];
    snprintf(sql, sizeof sql,
             "UPDATE siam_model SET config = json_set(config, '$.search',"
             " json('{\"fusion\":\"rrf\",\"k\":%g,\"dense_weight\":%g,\"depth\":%d}')) WHERE name = 'm'",
             params[p].k, params[p].w, params[p].depth);
    exec_ok(db, sql);
    for (int table = 0; table < 3; table++) {
      random_table(db, 60 + 90 * table, table == 2);
      for (int q = 0; q < 12; q++) {
        char query[200];
        random_text(query, sizeof query, 1 + (int)(rnd() % 5));
        int n = 1 + (int)(rnd() % 40);
        char *a = rows(db, SEARCH, query, params[p].depth, params[p].w, params[p].k, n);
        char *b = rows(db, REWRITE, query, params[p].depth, params[p].w, params[p].k, n);
        int ok = strcmp(a, b) == 0 && strstr(a, "ERROR") == NULL && a[0];
        if (!ok && same == compared)
          CHECK(ok, "params %d table %d query '%s' k %d:\nsiam_search:\n%s\nplain SQL:\n%s", p, table, query, n, a, b);
        same += ok;
        compared++;
        free(a);
        free(b);
      }
    }
  }
  CHECK(same == compared, "siam_search equals the plain SQL on %d of %d queries", same, compared);
  printf("  siam_search = plain SQL rewrite on %d random queries over %d random tables\n", compared, 12);
  sqlite3_close(db);
}

static void errors_and_edges(void) {
  sqlite3 *db = open_db(":memory:");
  CHECK_Q(db, "1", "SELECT siam_import('m', '" FIXTURE "') > 0");
  exec_ok(db, "CREATE TABLE t(body TEXT, emb BLOB); INSERT INTO t VALUES ('zip archive tool', siam_embed('m', 'zip'))");
  CHECK_ERR(db, "siam_search: no FTS5 index on t(body); create one with: CREATE VIRTUAL TABLE t_fts USING fts5(body,"
                " content='t', content_rowid='rowid'); INSERT INTO t_fts(t_fts) VALUES('rebuild');",
            "SELECT * FROM siam_search('t', 'body', 'emb', 'm', 'zip', 5)");
  exec_ok(db, "CREATE VIRTUAL TABLE other_fts USING fts5(body, content='t2');"
              "CREATE VIRTUAL TABLE t_fts USING fts5(body, content=\"t\", content_rowid='rowid');"
              "INSERT INTO t_fts(t_fts) VALUES('rebuild')");
  CHECK_Q(db, "1|1|1", "SELECT rowid || '|' || dense_rank || '|' || bm25_rank FROM siam_search('t', 'body', 'emb', 'm', 'zip', 5)");
  CHECK_Q(db, "1|1|", "SELECT rowid || '|' || dense_rank || '|' || coalesce(bm25_rank, '') FROM siam_search('t', 'body', 'emb', 'm', 'chess', 5)");
  CHECK_Q(db, "0", "SELECT count(*) FROM siam_search('t', 'body', 'emb', 'm', NULL, 5)");
  CHECK_ERR(db, "siam_search: no model named 'x'", "SELECT * FROM siam_search('t', 'body', 'emb', 'x', 'zip', 5)");
  CHECK_ERR(db, "siam_search: k must be an INTEGER from 1 to 100000",
            "SELECT * FROM siam_search('t', 'body', 'emb', 'm', 'zip', 0)");
  CHECK_ERR(db, "siam_search: query must be TEXT, got INTEGER", "SELECT * FROM siam_search('t', 'body', 'emb', 'm', 3, 5)");
  CHECK_ERR(db, "siam_search: needs 6 arguments: table, text column, embedding column, model, query, k",
            "SELECT * FROM siam_search('t', 'body', 'emb', 'm', 'zip')");
  CHECK_ERR(db, "siam_search: table t has no column nope", "SELECT * FROM siam_search('t', 'body', 'nope', 'm', 'zip', 5)");
  CHECK_Q(db, "\"Zip\" OR \"files\" OR \"caf\xc3\xa9\" OR \"a_b\"", "SELECT siam_fts_query('Zip, files zip; café FILES a_b!')");
  CHECK_Q(db, NULL, "SELECT siam_fts_query(' ,;! ')");
  CHECK_ERR(db, "siam_fts_query: text must be TEXT, got INTEGER", "SELECT siam_fts_query(1)");
  sqlite3_close(db);
}

int main(void) {
  (void)read_file;
  against_rewrite();
  errors_and_edges();
  return TEST_DONE();
}
