/*
** sql_alloc.c — SQLite's own allocations failing while siamsql loads a model.
**
** tests/test_alloc.c makes siamsql's allocator fail at every point; this
** makes SQLite's fail instead (sqlite3_config(SQLITE_CONFIG_MALLOC) wraps
** the default allocator with a countdown), at every point of the first
** siam_embed of a model: the revision lookup, the config, tensor and vocab
** reads in ext/store.c, the statement's auxdata.  Each attempt must either
** give the right embedding or fail with an error (SQLITE_NOMEM or a
** message), and leave the connection usable: the next attempt, with nothing
** failing, works.  Leaks show under `make sanitize` and `make valgrind`.
*/
#include "sqlutil.h"

#define FIXTURE "tests/fixtures/models/st_a_mean_norm_f16"

static sqlite3_mem_methods real;
static long countdown;      /* > 0: the allocation that brings it to 0 fails */
static long failures;       /* allocations refused */

static int fail_now(void) {
  if (countdown <= 0) return 0;
  if (--countdown > 0) return 0;
  failures++;
  return 1;
}

static void *x_malloc(int n) { return fail_now() ? NULL : real.xMalloc(n); }
static void *x_realloc(void *p, int n) { return fail_now() ? NULL : real.xRealloc(p, n); }

int main(void) {
  (void)read_file;
  sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real);
  sqlite3_mem_methods mine = real;
  mine.xMalloc = x_malloc;
  mine.xRealloc = x_realloc;
  if (sqlite3_config(SQLITE_CONFIG_MALLOC, &mine) != SQLITE_OK) {
    fprintf(stderr, "cannot install the failing allocator\n");
    return 2;
  }
  sqlite3 *db = open_db(":memory:");
  CHECK_Q(db, "1", "SELECT siam_import('m', '" FIXTURE "') > 0");
  char *want = Q(db, "SELECT hex(siam_embed('m', 'allocation failures'))");
  CHECK(want && strncmp(want, "ERROR", 5) != 0, "embedding: %s", want ? want : "NULL");

  sqlite3_stmt *st = NULL;
  long k, errors = 0, nomem = 0, wrong = 0, unusable = 0;
  int done = 0;
  for (k = 1; !done && k < 200000; k++) {
    /* A new revision: the next siam_embed loads the model again. */
    CHECK_Q(db, NULL, "UPDATE siam_model SET config = config WHERE name = 'm'");
    if (sqlite3_prepare_v2(db, "SELECT hex(siam_embed('m', 'allocation failures'))", -1, &st, NULL) != SQLITE_OK) {
      CHECK(0, "prepare: %s", sqlite3_errmsg(db));
      break;
    }
    countdown = k;
    int rc = sqlite3_step(st);
    char *got = rc == SQLITE_ROW && sqlite3_column_text(st, 0) ? strdup((const char *)sqlite3_column_text(st, 0)) : NULL;
    int ext = sqlite3_extended_errcode(db);
    int rc2 = sqlite3_finalize(st);
    done = countdown > 0;  /* nothing failed this time */
    countdown = 0;
    if (rc == SQLITE_ROW) {
      /* hex() itself may be what failed: NULL is then its answer, not ours. */
      if (got && strcmp(got, want) != 0) wrong++;
    } else {
      errors++;
      nomem += ext == SQLITE_NOMEM || rc2 == SQLITE_NOMEM;
    }
    free(got);
    char *again = Q(db, "SELECT hex(siam_embed('m', 'allocation failures'))");
    unusable += !again || strcmp(again, want) != 0;
    free(again);
  }
  printf("  %ld SQLite allocation points in a model load: %ld failed the statement (%ld SQLITE_NOMEM)\n", k - 2,
         errors, nomem);
  CHECK(done, "ran out of attempts");
  CHECK(wrong == 0, "%ld wrong embeddings under allocation failure", wrong);
  CHECK(unusable == 0, "%ld times the connection did not recover", unusable);
  CHECK(errors > 50, "only %ld failures seen", errors);
  free(want);
  sqlite3_close(db);
  return TEST_DONE();
}
