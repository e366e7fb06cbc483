/*
** sql_concurrency.c — readers embedding while a writer replaces the weights.
**
** One file database in WAL mode holds model 'm'.  Two tensor sets of the
** same architecture are precomputed in side tables: A (the fixture) and B
** (the same with every layer's query and key weights swapped, a different
** model).  Four reader threads, each on its own connection, embed texts in a
** loop; a fifth connection rewrites all of m's tensors from A or from B in one
** transaction, alternately, ITERATIONS times.  Every embedding a reader gets
** must equal byte for byte that of model A or of model B, and one statement
** that embeds several texts must see one model for all of them: never a mix,
** never a half-written model, no error, no crash.  ASan (make sanitize) and
** ThreadSanitizer (make tsan) check for leaks and races.
*/
#include <pthread.h>
#include <time.h>
#include <stdatomic.h>
#include <unistd.h>

#include "sqlutil.h"

#define FIXTURE "tests/fixtures/models/st_a_mean_norm_f16"
#define READERS 4
#define ITERATIONS 60   /* weight swaps by the writer, at least */
#define MIN_READS 100   /* statements per reader while the writer runs, at least */
#define MAX_SECONDS 30  /* ... unless the writer has run this long */
#define N_TEXTS 4

static const char *const texts[N_TEXTS] = {
    "The quick brown fox jumps over the lazy dog.",
    "A stitch in time saves nine.",
    "Hello, world!",
    "siamsql stores Siamese BERT models in SQLite tables",
};

static char db_path[600];
static char *emb_a[N_TEXTS], *emb_b[N_TEXTS];  /* hex embeddings under each set */
static atomic_int writer_done;

typedef struct {
  int id;
  long seen_a, seen_b;
  atomic_long statements; /* read by the writer to know when to stop */
  long bad;               /* results that are neither A nor B */
  long errors;            /* statements that failed */
  long mixed;             /* multi-row statements that mixed A and B */
  char first_problem[300];
} Reader;

static void note(Reader *r, const char *what, const char *detail) {
  if (!r->first_problem[0]) snprintf(r->first_problem, sizeof r->first_problem, "%s%.60s", what, detail);
}

/* 'A', 'B' or 0 for a hex embedding of text i. */
static char which(int i, const char *hex) {
  if (!hex) return 0;
  if (strcmp(hex, emb_a[i]) == 0) return 'A';
  if (strcmp(hex, emb_b[i]) == 0) return 'B';
  return 0;
}

/* One text per statement. */
static void read_one(Reader *r, sqlite3 *db, sqlite3_stmt *st, int i) {
  sqlite3_bind_text(st, 1, texts[i], -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    r->errors++;
    note(r, "error: ", sqlite3_errmsg(db));
  } else {
    char w = which(i, (const char *)sqlite3_column_text(st, 0));
    if (w == 'A') r->seen_a++;
    else if (w == 'B') r->seen_b++;
    else {
      r->bad++;
      note(r, "embedding of neither model: ", (const char *)sqlite3_column_text(st, 0));
    }
  }
  sqlite3_reset(st);
  r->statements++;
}

/* Every text in one statement: all from one model. */
static void read_all(Reader *r, sqlite3 *db, sqlite3_stmt *st) {
  char first = 0;
  int rows = 0, rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int i = sqlite3_column_int(st, 0);
    char w = i >= 0 && i < N_TEXTS ? which(i, (const char *)sqlite3_column_text(st, 1)) : 0;
    if (!w) {
      r->bad++;
      note(r, "multi-row statement: an embedding of neither model", "");
    } else if (first && w != first) {
      r->mixed++;
      note(r, "multi-row statement mixed models A and B", "");
    }
    if (!first) first = w;
    rows++;
  }
  if (rc != SQLITE_DONE || rows != N_TEXTS) {
    r->errors++;
    note(r, "multi-row statement failed: ", sqlite3_errmsg(db));
  }
  sqlite3_reset(st);
  r->statements++;
}

/* open_db, but from $SIAMSQL_EXT when set (make tsan loads its own build). */
static sqlite3 *open_conn(const char *path) {
  const char *ext = getenv("SIAMSQL_EXT");
  if (!ext) return open_db(path);
  sqlite3 *db = NULL;
  char *err = NULL;
  if (sqlite3_open(path, &db) != SQLITE_OK || sqlite3_enable_load_extension(db, 1) != SQLITE_OK ||
      sqlite3_load_extension(db, ext, "sqlite3_siamsql_init", &err) != SQLITE_OK) {
    fprintf(stderr, "cannot load %s: %s\n", ext, err ? err : sqlite3_errmsg(db));
    exit(2);
  }
  sqlite3_busy_timeout(db, 10000);
  return db;
}

static void *reader_main(void *arg) {
  Reader *r = arg;
  sqlite3 *db = open_conn(db_path);
  sqlite3_stmt *one = NULL, *all = NULL;
  sqlite3_prepare_v2(db, "SELECT hex(siam_embed('m', ?1))", -1, &one, NULL);
  sqlite3_prepare_v2(db, "SELECT i, hex(siam_embed('m', t)) FROM texts ORDER BY i", -1, &all, NULL);
  for (long n = 0; !atomic_load(&writer_done) || n < 8; n++) {
    if (n % 5 == 4) read_all(r, db, all);
    else read_one(r, db, one, (int)((n + r->id) % N_TEXTS));
  }
  sqlite3_finalize(one);
  sqlite3_finalize(all);
  sqlite3_close(db);
  return NULL;
}

/* Replaces every tensor of 'm' with those of set (A or B), in one transaction. */
static const char *swap_sql(char set) {
  return set == 'A' ? "BEGIN IMMEDIATE; DELETE FROM siam_tensor WHERE model = 'm';"
                      " INSERT INTO siam_tensor SELECT 'm', name, dtype, shape, data FROM set_a; COMMIT;"
                    : "BEGIN IMMEDIATE; DELETE FROM siam_tensor WHERE model = 'm';"
                      " INSERT INTO siam_tensor SELECT 'm', name, dtype, shape, data FROM set_b; COMMIT;";
}

static int exec_ok(sqlite3 *db, const char *sql) {
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  CHECK(rc == SQLITE_OK, "%.200s\n   error: %s", sql, err ? err : "?");
  sqlite3_free(err);
  return rc == SQLITE_OK;
}

static void setup(sqlite3 *w) {
  exec_ok(w, "PRAGMA journal_mode = WAL");
  CHECK_Q(w, "1", "SELECT siam_import('m', '" FIXTURE "') > 0");
  /* B: each layer's query and key weights (and biases) trade places. */
  exec_ok(w, "CREATE TABLE set_a AS SELECT name, dtype, shape, data FROM siam_tensor WHERE model = 'm';"
             "CREATE TABLE set_b AS SELECT CASE WHEN name LIKE '%.attention.self.query.%'"
             "   THEN replace(name, '.query.', '.key.')"
             " WHEN name LIKE '%.attention.self.key.%' THEN replace(name, '.key.', '.query.')"
             " ELSE name END AS name, dtype, shape, data FROM set_a;"
             "CREATE TABLE texts(i INTEGER PRIMARY KEY, t TEXT);");
  sqlite3_stmt *ins;
  sqlite3_prepare_v2(w, "INSERT INTO texts VALUES (?1, ?2)", -1, &ins, NULL);
  for (int i = 0; i < N_TEXTS; i++) {
    sqlite3_bind_int(ins, 1, i);
    sqlite3_bind_text(ins, 2, texts[i], -1, SQLITE_STATIC);
    sqlite3_step(ins);
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);
  for (int s = 0; s < 2; s++) {
    exec_ok(w, swap_sql(s ? 'B' : 'A'));
    for (int i = 0; i < N_TEXTS; i++) {
      char *e = Q(w, "SELECT hex(siam_embed('m', ?1))", texts[i]);
      CHECK(e && strncmp(e, "ERROR", 5) != 0, "set %c: %s", s ? 'B' : 'A', e ? e : "NULL");
      (s ? emb_b : emb_a)[i] = e;
    }
  }
  for (int i = 0; i < N_TEXTS; i++)
    CHECK(strcmp(emb_a[i], emb_b[i]) != 0, "sets A and B give the same embedding of text %d", i);
}

int main(void) {
  (void)read_file;
  char dir[] = "/tmp/siamsql-conc-XXXXXX";
  if (!mkdtemp(dir)) return 2;
  snprintf(db_path, sizeof db_path, "%s/models.db", dir);
  sqlite3 *w = open_conn(db_path);
  setup(w);

  pthread_t threads[READERS];
  Reader readers[READERS];
  memset(readers, 0, sizeof readers);
  for (int t = 0; t < READERS; t++) {
    readers[t].id = t;
    pthread_create(&threads[t], NULL, reader_main, &readers[t]);
  }
  int swaps = 0, k = 0;
  time_t start = time(NULL);
  for (;; k++) {
    long fewest = MIN_READS;
    for (int t = 0; t < READERS; t++)
      if (atomic_load(&readers[t].statements) < fewest) fewest = atomic_load(&readers[t].statements);
    if (k >= ITERATIONS && (fewest >= MIN_READS || time(NULL) - start > MAX_SECONDS)) break;
    swaps += exec_ok(w, swap_sql(k % 2 ? 'A' : 'B'));
    usleep(2000);  /* let readers load each version now and then */
  }
  atomic_store(&writer_done, 1);
  long a = 0, b = 0, statements = 0;
  for (int t = 0; t < READERS; t++) {
    pthread_join(threads[t], NULL);
    Reader *r = &readers[t];
    CHECK(r->bad == 0 && r->mixed == 0 && r->errors == 0,
          "reader %d: %ld neither A nor B, %ld mixed statements, %ld errors; first: %s", t, r->bad, r->mixed,
          r->errors, r->first_problem);
    a += r->seen_a;
    b += r->seen_b;
    statements += atomic_load(&r->statements);
  }
  printf("  %d swaps; %d readers ran %ld statements: %ld embeddings of A, %ld of B\n", swaps, READERS, statements,
         a, b);
  CHECK(swaps == k && swaps >= ITERATIONS, "writer swapped %d of %d times", swaps, k);
  CHECK(a > 0 && b > 0, "readers saw both models (A %ld, B %ld)", a, b);
  for (int i = 0; i < N_TEXTS; i++) {
    free(emb_a[i]);
    free(emb_b[i]);
  }
  sqlite3_close(w);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
  return TEST_DONE();
}
