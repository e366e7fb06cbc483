/*
** sql_consistency.c — every embedding comes from one committed model (issue 12).
**
** Several processes, real transactions, both journal modes:
**
**   1. stress: a writer process flips model 'm' between two states A and B,
**      each commit changing the config ("normalize"), a tensor (head.0.bias)
**      and two vocab tokens at once, while two reader processes embed
**      through siam_embed (a statement that reads no table), siam_embed_each
**      and siam_export.  Every embedding must be exactly A's or exactly B's,
**      and one siam_embed_each statement must be all A or all B.
**   2. revisions never repeat: a model cached inside a transaction that rolls
**      back; tables dropped and another model imported under the same name;
**      a backup restored with the backup API.
**
** The two states are built once with plain SQL; their embeddings are
** computed in a fresh connection each, so no cache is involved.
*/
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sqlutil.h"

#define FIXTURE "tests/fixtures/models/st_all4_nocjk_f16"
#define N_TEXTS 3
#define COMMITS 40         /* state flips by the writer, per journal mode */
#define MIN_STATEMENTS 60  /* per reader while the writer runs, at least */
#define MAX_SECONDS 60

static const char *const texts[N_TEXTS] = {
    "the quick brown fox jumps over a lazy dog",
    "a stitch in time saves nine, the saying goes",
    "the end",
};

static char dir[] = "/tmp/siamsql-consistency-XXXXXX";

static int exec_ok(sqlite3 *db, const char *sql) {
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  CHECK(rc == SQLITE_OK, "%.300s\n   error: %s", sql, err ? err : "?");
  sqlite3_free(err);
  return rc == SQLITE_OK;
}

/* State A is the fixture as imported; B differs from it in the config, one
** tensor and two vocab tokens ('a' id 79 and 'the' id 551 trade places); C
** has A's config with B's tensor and vocab.  Table `state` holds what each
** state's rows are. */
static const char *SETUP_STATES =
    "CREATE TABLE state(name TEXT PRIMARY KEY, config TEXT, bias_dtype TEXT, bias BLOB, tok79 TEXT, tok551 TEXT);"
    "INSERT INTO state SELECT 'A', config, t.dtype, t.data, 'a', 'the' FROM siam_model, siam_tensor t"
    "  WHERE siam_model.name = 'm' AND t.model = 'm' AND t.name = 'head.0.bias';"
    "INSERT INTO state SELECT 'B', replace(config, '\"normalize\":true', '\"normalize\":false'), 'f32',"
    "  siam_pack(siam_f32('[' || (WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < 63)"
    "                             SELECT group_concat(0.05 * (i % 7) - 0.1) FROM k) || ']')),"
    "  'the', 'a' FROM siam_model WHERE name = 'm';"
    "INSERT INTO state SELECT 'C', a.config, b.bias_dtype, b.bias, b.tok79, b.tok551 FROM state a, state b"
    "  WHERE a.name = 'A' AND b.name = 'B';"
    "CREATE TABLE texts(i INTEGER PRIMARY KEY, t TEXT);";

/* Puts model 'm' into state s, in one transaction. */
static char *flip_sql(char s) {
  static char sql[1024];
  snprintf(sql, sizeof sql,
           "BEGIN IMMEDIATE;"
           "UPDATE siam_model SET config = (SELECT config FROM state WHERE name = '%c') WHERE name = 'm';"
           "UPDATE siam_tensor SET dtype = (SELECT bias_dtype FROM state WHERE name = '%c'),"
           "  data = (SELECT bias FROM state WHERE name = '%c') WHERE model = 'm' AND name = 'head.0.bias';"
           "UPDATE siam_vocab SET token = (SELECT CASE siam_vocab.id WHEN 79 THEN tok79 ELSE tok551 END"
           "  FROM state WHERE name = '%c') WHERE model = 'm' AND id IN (79, 551);"
           "COMMIT;",
           s, s, s, s);
  return sql;
}

#define N_STATES 3
static char *emb[N_STATES][N_TEXTS];  /* hex embeddings under A, B and C */

static char which(int i, const char *hex) {
  if (!hex || i < 0 || i >= N_TEXTS) return 0;
  for (int s = 0; s < N_STATES; s++)
    if (strcmp(hex, emb[s][i]) == 0) return "ABC"[s];
  return 0;
}

static void setup(const char *path, const char *journal) {
  unlink(path);
  sqlite3 *w = open_db(path);
  char sql[100];
  snprintf(sql, sizeof sql, "PRAGMA journal_mode = %s", journal);
  exec_ok(w, sql);
  CHECK_Q(w, "1", "SELECT siam_import('m', '" FIXTURE "') > 0");
  exec_ok(w, SETUP_STATES);
  for (int i = 0; i < N_TEXTS; i++) {
    char ins[200];
    snprintf(ins, sizeof ins, "INSERT INTO texts VALUES (%d, '%s')", i, texts[i]);
    exec_ok(w, ins);
  }
  for (int s = N_STATES - 1; s >= 0; s--) {  /* ends in state A */
    exec_ok(w, flip_sql("ABC"[s]));
    sqlite3 *fresh = open_db(path);
    for (int i = 0; i < N_TEXTS; i++) {
      free(emb[s][i]);
      emb[s][i] = Q(fresh, "SELECT hex(siam_embed('m', ?1))", texts[i]);
      CHECK(emb[s][i] && strncmp(emb[s][i], "ERROR", 5) != 0, "state %c: %s", "ABC"[s], emb[s][i]);
    }
    sqlite3_close(fresh);
  }
  for (int i = 0; i < N_TEXTS; i++)
    CHECK(strcmp(emb[0][i], emb[1][i]) && strcmp(emb[0][i], emb[2][i]) && strcmp(emb[1][i], emb[2][i]),
          "two states embed text %d alike", i);
  sqlite3_close(w);
}

/* ---- the stress test --------------------------------------------------------- */

typedef struct {
  long statements, seen[2], neither, mixed, errors;
  char first_problem[240];
} Tally;

static void problem(Tally *t, const char *what, const char *detail) {
  if (!t->first_problem[0]) snprintf(t->first_problem, sizeof t->first_problem, "%s%.120s", what, detail ? detail : "");
}

/* The stress test flips between A and B only: C counts as neither. */
static void count(Tally *t, char w) {
  if (w == 'A' || w == 'B') t->seen[w == 'B']++;
  else t->neither++;
}

static void read_one(Tally *t, sqlite3 *db, sqlite3_stmt *st, int i) {
  sqlite3_bind_text(st, 1, texts[i], -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) {
    char w = which(i, (const char *)sqlite3_column_text(st, 0));
    count(t, w);
    if (w != 'A' && w != 'B')
      problem(t, "siam_embed gave an embedding of neither state: ", (const char *)sqlite3_column_text(st, 0));
  } else {
    t->errors++;
    problem(t, "siam_embed failed: ", sqlite3_errmsg(db));
  }
  sqlite3_reset(st);
}

static void read_each(Tally *t, sqlite3 *db, sqlite3_stmt *st) {
  char first = 0;
  int rows = 0, rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    char w = which(sqlite3_column_int(st, 0), (const char *)sqlite3_column_text(st, 1));
    count(t, w);
    if (w != 'A' && w != 'B') problem(t, "siam_embed_each gave an embedding of neither state", NULL);
    if (first && w && w != first) {
      t->mixed++;
      problem(t, "one siam_embed_each statement mixed states A and B", NULL);
    }
    if (!first) first = w;
    rows++;
  }
  if (rc != SQLITE_DONE || rows != N_TEXTS) {
    t->errors++;
    problem(t, "siam_embed_each failed: ", sqlite3_errmsg(db));
  }
  sqlite3_reset(st);
}

/* Exports m, imports the copy into a new in-memory database, embeds text 0. */
static void read_export(Tally *t, sqlite3 *db, int reader) {
  char out[600], sql[800];
  snprintf(out, sizeof out, "%s/export-%d", dir, reader);
  snprintf(sql, sizeof sql, "SELECT siam_export('m', '%s', '{\"overwrite\":true}')", out);
  char *r = Q(db, sql);
  if (!r || strncmp(r, "ERROR", 5) == 0) {
    t->errors++;
    problem(t, "siam_export failed: ", r);
    free(r);
    return;
  }
  free(r);
  sqlite3 *mem = open_db(":memory:");
  snprintf(sql, sizeof sql, "SELECT siam_import('x', '%s')", out);
  free(Q(mem, sql));
  char *e = Q(mem, "SELECT hex(siam_embed('x', ?1))", texts[0]);
  char w = which(0, e);
  count(t, w);
  if (w != 'A' && w != 'B') problem(t, "siam_export wrote a model of neither state: ", e);
  free(e);
  sqlite3_close(mem);
}

/* A reader process: embeds until the writer's flag file appears. */
static int reader_main(const char *path, const char *done_flag, int id, int out_fd) {
  Tally t;
  memset(&t, 0, sizeof t);
  sqlite3 *db = open_db(path);
  sqlite3_stmt *one = NULL, *each = NULL;
  sqlite3_prepare_v2(db, "SELECT hex(siam_embed('m', ?1))", -1, &one, NULL);
  sqlite3_prepare_v2(db, "SELECT id, hex(embedding) FROM siam_embed_each('m', 'SELECT i, t FROM texts')", -1, &each,
                     NULL);
  time_t start = time(NULL);
  for (long n = 0;; n++) {
    struct stat sb;
    int writer_done = stat(done_flag, &sb) == 0;
    if ((writer_done && t.statements >= MIN_STATEMENTS) || time(NULL) - start > MAX_SECONDS) break;
    if (n % 23 == 11) read_export(&t, db, id);
    else if (n % 4 == 3) read_each(&t, db, each);
    else read_one(&t, db, one, (int)((n + id) % N_TEXTS));
    t.statements++;
  }
  sqlite3_finalize(one);
  sqlite3_finalize(each);
  sqlite3_close(db);
  return write(out_fd, &t, sizeof t) == (ssize_t)sizeof t ? 0 : 1;
}

static void stress(const char *journal) {
  char path[600], done_flag[600];
  snprintf(path, sizeof path, "%s/stress-%s.db", dir, journal);
  snprintf(done_flag, sizeof done_flag, "%s/writer-done-%s", dir, journal);
  setup(path, journal);
  enum { READERS = 2 };
  int fds[READERS][2];
  pid_t pids[READERS];
  for (int r = 0; r < READERS; r++) {
    if (pipe(fds[r])) exit(2);
    pids[r] = fork();
    if (pids[r] == 0) {
      close(fds[r][0]);
      _exit(reader_main(path, done_flag, r, fds[r][1]));
    }
    close(fds[r][1]);
  }
  sqlite3 *w = open_db(path);
  int commits = 0;
  for (int k = 0; k < COMMITS; k++) {
    commits += exec_ok(w, flip_sql(k % 2 ? 'A' : 'B'));
    usleep(15000);
  }
  sqlite3_close(w);
  FILE *f = fopen(done_flag, "w");
  if (f) fclose(f);
  Tally all;
  memset(&all, 0, sizeof all);
  for (int r = 0; r < READERS; r++) {
    Tally t;
    memset(&t, 0, sizeof t);
    ssize_t got = read(fds[r][0], &t, sizeof t);
    int status = 0;
    waitpid(pids[r], &status, 0);
    CHECK(got == (ssize_t)sizeof t && WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: reader %d died", journal, r);
    CHECK(t.neither == 0 && t.mixed == 0 && t.errors == 0,
          "%s: reader %d: %ld of %ld embeddings of neither state, %ld mixed statements, %ld errors; first: %s", journal,
          r, t.neither, t.seen[0] + t.seen[1] + t.neither, t.mixed, t.errors, t.first_problem);
    all.statements += t.statements;
    all.seen[0] += t.seen[0];
    all.seen[1] += t.seen[1];
    close(fds[r][0]);
  }
  printf("  %s: %d commits; %d reader processes ran %ld statements: %ld embeddings of A, %ld of B\n", journal,
         commits, READERS, all.statements, all.seen[0], all.seen[1]);
  CHECK(commits == COMMITS, "%s: writer committed %d of %d times", journal, commits, COMMITS);
  CHECK(all.seen[0] > 0 && all.seen[1] > 0, "%s: readers saw both states (A %ld, B %ld)", journal, all.seen[0],
        all.seen[1]);
}

/* ---- revisions that never repeat ----------------------------------------------------- */

/* hex(siam_embed('m', text 0)) on db, compared with state s. */
#define CHECK_STATE(db, s, what)                                                        \
  do {                                                                                  \
    char *e_ = Q(db, "SELECT hex(siam_embed('m', ?1))", texts[0]);                       \
    CHECK(which(0, e_) == (s), "%s: expected state %c, got %c (%.60s)", what, s,        \
          which(0, e_) ? which(0, e_) : '?', e_ ? e_ : "NULL");                          \
    free(e_);                                                                           \
  } while (0)

/* The updates that turn 'm' into state s, for use inside a transaction. */
static void update_to(sqlite3 *db, char s) {
  char *sql = flip_sql(s);
  size_t begin = strlen("BEGIN IMMEDIATE;"), commit = strlen("COMMIT;");
  char body[1024];
  snprintf(body, sizeof body, "%.*s", (int)(strlen(sql) - begin - commit), sql + begin);
  exec_ok(db, body);
}

/* A connection caches a model inside a transaction that then rolls back;
** another connection commits a change.  The first must not keep the
** rolled-back weights (the revision it cached them at came back). */
static void rollback_then_commit(const char *path) {
  sqlite3 *a = open_db(path), *b = open_db(path);
  exec_ok(b, flip_sql('A'));
  CHECK_STATE(a, 'A', "before");
  exec_ok(a, "BEGIN");
  update_to(a, 'B');
  CHECK_STATE(a, 'B', "inside the transaction, its own changes");
  exec_ok(a, "ROLLBACK");
  exec_ok(b, flip_sql('C'));
  CHECK_STATE(a, 'C', "rolled back, then another connection committed");
  CHECK_STATE(b, 'C', "the committing connection");
  /* A savepoint rolled back inside a transaction that commits. */
  exec_ok(b, flip_sql('A'));
  exec_ok(a, "BEGIN; SAVEPOINT s");
  update_to(a, 'B');
  CHECK_STATE(a, 'B', "inside the savepoint");
  exec_ok(a, "ROLLBACK TO s; RELEASE s; COMMIT");
  exec_ok(b, flip_sql('C'));
  CHECK_STATE(a, 'C', "after ROLLBACK TO, and another connection's commit");
  exec_ok(b, flip_sql('A'));
  sqlite3_close(a);
  sqlite3_close(b);
}

/* The tables dropped and another model, of the same size, imported under the
** same name. */
static void drop_and_reimport(const char *path) {
  char out[600], sql[800];
  snprintf(out, sizeof out, "%s/state-b", dir);
  sqlite3 *b = open_db(path);
  exec_ok(b, flip_sql('B'));
  snprintf(sql, sizeof sql, "SELECT siam_export('m', '%s') > 0", out);
  CHECK_Q(b, "1", sql);
  exec_ok(b, flip_sql('A'));
  sqlite3_close(b);

  char fresh[600];
  snprintf(fresh, sizeof fresh, "%s/reimport.db", dir);
  sqlite3 *a = open_db(fresh);
  b = open_db(fresh);
  CHECK_Q(b, "1", "SELECT siam_import('m', '" FIXTURE "') > 0");
  CHECK_STATE(a, 'A', "first import cached");
  exec_ok(b, "DROP TABLE siam_model; DROP TABLE siam_tensor; DROP TABLE siam_vocab; DROP TABLE IF EXISTS siam_meta");
  snprintf(sql, sizeof sql, "SELECT siam_import('m', '%s') > 0", out);
  CHECK_Q(b, "1", sql);
  CHECK_STATE(a, 'B', "tables dropped, state B imported under the same name");
  sqlite3_close(a);
  sqlite3_close(b);
}

static int backup_into(sqlite3 *dst, sqlite3 *src) {
  sqlite3_backup *bk = sqlite3_backup_init(dst, "main", src, "main");
  if (!bk) return SQLITE_ERROR;
  int rc = sqlite3_backup_step(bk, -1);
  sqlite3_backup_finish(bk);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* A backup of state A restored over the database with the backup API, then a
** commit: the revision after the restore must not be one seen before it. */
static void backup_restore(const char *path) {
  sqlite3 *a = open_db(path), *b = open_db(path), *saved = open_db(":memory:");
  exec_ok(b, flip_sql('A'));
  CHECK(backup_into(saved, b) == SQLITE_OK, "backup of state A");
  exec_ok(b, flip_sql('B'));
  CHECK_STATE(a, 'B', "state B cached");
  CHECK(backup_into(b, saved) == SQLITE_OK, "restore of state A: %s", sqlite3_errmsg(b));
  exec_ok(b, flip_sql('C'));
  CHECK_STATE(a, 'C', "after a restore of A and a commit of C");
  CHECK(backup_into(b, saved) == SQLITE_OK, "restore of state A again");
  CHECK_STATE(a, 'A', "right after the restore");
  sqlite3_close(a);
  sqlite3_close(b);
  sqlite3_close(saved);
}

int main(void) {
  (void)read_file;
  if (!mkdtemp(dir)) return 2;
  stress("wal");
  stress("delete");
  char path[600];
  snprintf(path, sizeof path, "%s/revisions.db", dir);
  setup(path, "delete");
  rollback_then_commit(path);
  drop_and_reimport(path);
  backup_restore(path);
  for (int s = 0; s < N_STATES; s++)
    for (int i = 0; i < N_TEXTS; i++) free(emb[s][i]);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
  return TEST_DONE();
}
