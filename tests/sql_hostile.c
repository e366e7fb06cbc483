/*
** sql_hostile.c — hostile text through siam_embed and siam_tokenize: invalid
** UTF-8, embedded NULs (text bound as a BLOB), 10 MB of text, nothing but
** control characters or combining marks, one 1 MB "word".  Each has the
** result docs/hostile-text.md promises, and costs time linear in its size:
** for each kind, time(10 MB) / time(1 MB) must stay under 35 (a quadratic
** path would give about 100), whatever the machine's speed.  The slack is
** the memory system's: on an AMD Zen 5 (1 MB of L2), a linear path took 23
** to 64 ms per MB, depending on the text's size and on what malloc had
** kept from earlier calls.
**
** Models: st_a_mean_norm_f16 (lowercases and strips accents, max_seq_length
** 64) and st_cased_mean_plain (cased, keeps accents, 128).
*/
#include <time.h>

#include "sqlutil.h"

#define UNCASED "tests/fixtures/models/st_a_mean_norm_f16"
#define CASED "tests/fixtures/models/st_cased_mean_plain"
#define MB ((size_t)1 << 20)

/* ---- running one text --------------------------------------------------------- */

typedef struct {
  char *text;        /* malloc'd: hex(embedding) or the token list, or "ERROR: ..." */
  double seconds;    /* time to step the statement */
} Result;

/* Runs `SELECT fn(model, ?1)` (hex'd when it is siam_embed) with bytes bound
** as a BLOB or as TEXT. */
static Result run(sqlite3 *db, const char *fn, const char *model, const void *bytes, size_t n, int as_blob) {
  char sql[200];
  Result r = {NULL, 0};
  if (strcmp(fn, "siam_embed") == 0)
    snprintf(sql, sizeof sql, "SELECT hex(siam_embed('%s', ?1))", model);
  else
    snprintf(sql, sizeof sql, "SELECT %s('%s', ?1)", fn, model);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    r.text = strdup(sqlite3_errmsg(db));
    return r;
  }
  if (as_blob) sqlite3_bind_blob64(st, 1, bytes, n, SQLITE_STATIC);
  else sqlite3_bind_text64(st, 1, bytes, n, SQLITE_STATIC, SQLITE_UTF8);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = sqlite3_step(st);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  r.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
  if (rc == SQLITE_ROW) {
    const char *t = (const char *)sqlite3_column_text(st, 0);
    r.text = strdup(t ? t : "NULL");
  } else {
    const char *msg = sqlite3_errmsg(db);
    r.text = malloc(strlen(msg) + 8);
    sprintf(r.text, "ERROR: %s", msg);
  }
  sqlite3_finalize(st);
  return r;
}

static char *embed_of(sqlite3 *db, const char *model, const char *text) {
  return run(db, "siam_embed", model, text, strlen(text), 0).text;
}

static char *tokens_of(sqlite3 *db, const char *model, const void *bytes, size_t n, int as_blob) {
  return run(db, "siam_tokenize", model, bytes, n, as_blob).text;
}

/* CHECK that bytes embed and tokenize exactly like `same_as`. */
static void check_same(sqlite3 *db, const char *model, const char *tag, const void *bytes, size_t n, int as_blob,
                       const char *same_as) {
  char *want_e = embed_of(db, model, same_as);
  char *want_t = tokens_of(db, model, same_as, strlen(same_as), 0);
  Result e = run(db, "siam_embed", model, bytes, n, as_blob);
  char *t = tokens_of(db, model, bytes, n, as_blob);
  CHECK(strcmp(e.text, want_e) == 0, "[%s] embedding differs from that of \"%s\": %.80s", tag, same_as, e.text);
  CHECK(strcmp(t, want_t) == 0, "[%s] tokens %.200s, want those of \"%s\": %s", tag, t, same_as, want_t);
  free(want_e);
  free(want_t);
  free(e.text);
  free(t);
}

/* ---- defined results ------------------------------------------------------------ */

static void test_invalid_utf8(sqlite3 *db) {
  static const char bad[] = "\xff" "hel\xc0\xaflo\xed\xa0\x80" " wor\xf4\x90\x80\x80ld \xe2\x82";
  /* Each invalid sequence becomes U+FFFD, which cleaning drops: the words close up. */
  for (int as_blob = 0; as_blob < 2; as_blob++) {
    check_same(db, "u", as_blob ? "invalid UTF-8 blob" : "invalid UTF-8 text", bad, sizeof bad - 1, as_blob,
               "hello world");
    check_same(db, "c", "invalid UTF-8, cased", bad, sizeof bad - 1, as_blob, "hello world");
  }
  /* Invalid bytes alone: nothing left, the empty text's embedding. */
  static const char only_bad[] = "\x80\x81\xfe\xff\xc0\xc1\xf5";
  check_same(db, "u", "only invalid bytes", only_bad, sizeof only_bad - 1, 1, "");
}

static void test_nul(sqlite3 *db) {
  static const char nul[] = "hel\0lo \0\0wor\0ld\0";
  check_same(db, "u", "embedded NUL, blob", nul, sizeof nul - 1, 1, "hello world");
  check_same(db, "u", "embedded NUL, text", nul, sizeof nul - 1, 0, "hello world");
  static const char only[] = "\0\0\0\0";
  check_same(db, "u", "only NULs", only, sizeof only - 1, 1, "");
  /* A literal special token survives NULs around it, not inside it. */
  static const char mask[] = "a\0[MASK]\0b";
  check_same(db, "u", "NUL around [MASK]", mask, sizeof mask - 1, 1, "a[MASK]b");
  /* Inside it, the NUL keeps it from matching; cleaned, it is the plain word. */
  static const char split[] = "[MA\0SK]";
  check_same(db, "u", "NUL inside [MASK]", split, sizeof split - 1, 1, "[mask]");
}

/* n bytes made of `unit` repeated (the last copy may be cut). */
static char *repeat(const char *unit, size_t unit_len, size_t n) {
  char *s = malloc(n + 1);
  for (size_t i = 0; i < n; i++) s[i] = unit[i % unit_len];
  s[n] = 0;
  return s;
}

static void test_long_text(sqlite3 *db) {
  /* 10 MB of ordinary words: truncated, so the same as the first 62 words. */
  char *big = repeat("hello world ", 12, 10 * MB);
  char *head = repeat("hello world ", 12, 62 * 6);
  check_same(db, "u", "10 MB of words", big, 10 * MB, 0, head);
  free(head);
  /* A 1 MB word is one [UNK] (WordPiece gives up past 100 characters). */
  char *word = repeat("x", 1, MB);
  check_same(db, "u", "1 MB word", word, MB, 0, "[UNK]");
  /* ... and the words after it still count. */
  memcpy(word + MB - 12, " tail words!", 12);
  check_same(db, "u", "1 MB word, then words", word, MB, 0, "[UNK] tail words!");
  free(word);
  free(big);
}

static void test_controls_and_marks(sqlite3 *db) {
  /* C0/C1 controls, DEL, zero-width and format characters (category C*): all dropped. */
  static const char ctl[] = "\x01\x02\x03\x07\x08\x0b\x0c\x0e\x1b\x1f\x7f\xc2\x80\xc2\x9f\xe2\x80\x8b\xef\xbb\xbf";
  char *controls = repeat(ctl, sizeof ctl - 1, (sizeof ctl - 1) * 1000);
  check_same(db, "u", "only control characters", controls, strlen(controls), 0, "");
  check_same(db, "c", "only control characters, cased", controls, strlen(controls), 0, "");
  free(controls);
  /* Whitespace of every kind: the empty text too. */
  static const char ws[] = " \t\n\r\xc2\xa0\xe2\x80\x83\xe2\x80\xa8\xe2\x80\xa9\xe3\x80\x80";
  check_same(db, "u", "only whitespace", ws, sizeof ws - 1, 0, "");
  /* Combining marks (Mn): stripped with the accents, else one unknown word. */
  char *marks = repeat("\xcc\x81\xcc\x80\xcc\xa3", 6, 6 * 1000);
  check_same(db, "u", "only combining marks, accents stripped", marks, strlen(marks), 0, "");
  check_same(db, "c", "only combining marks, accents kept", marks, strlen(marks), 0, "[UNK]");
  free(marks);
  /* Marks on a letter: the letter, accent stripped. */
  char *accented = repeat("e\xcc\x81\xcc\x81\xcc\x81", 7, 7);
  check_same(db, "u", "a letter with many marks", accented, strlen(accented), 0, "e");
  free(accented);
}

/* ---- time linear in the input ----------------------------------------------------- */

static double best_time(sqlite3 *db, const char *model, const char *text, size_t n, int tries) {
  double best = 1e9;
  for (int i = 0; i < tries; i++) {
    Result r = run(db, "siam_embed", model, text, n, 1);
    CHECK(strncmp(r.text, "ERROR", 5) != 0, "embedding %zu bytes: %.100s", n, r.text);
    if (r.seconds < best) best = r.seconds;
    free(r.text);
  }
  return best;
}

static void test_linear(sqlite3 *db) {
  static const struct {
    const char *tag, *model, *unit;
    size_t unit_len;
  } kinds[] = {
      {"control characters", "u", "\x01\x02\xc2\x85\xe2\x80\x8b", 7},
      {"combining marks (stripped)", "u", "\xcc\x81\xcc\xa3", 4},
      {"combining marks (kept)", "c", "\xcc\x81\xcc\xa3\xcc\x80", 6},
      {"one long word", "u", "abcdefgh", 8},
      {"one long word, cased", "c", "AbCd\xc3\xa9", 6},
      {"whitespace", "u", " \t\n\xe3\x80\x80", 6},
      {"invalid UTF-8", "u", "\xff\xfe\xc0", 3},
      {"NULs", "u", "\0", 1},
      {"words", "u", "word ", 5},
      {"CJK", "u", "\xe4\xb8\xad", 3},
      {"controls, then words at the end", "u", "\x01\x02\x03\x04", 4},
  };
  for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
    char *text = repeat(kinds[k].unit, kinds[k].unit_len, 10 * MB);
    if (k == sizeof kinds / sizeof *kinds - 1) memcpy(text + 10 * MB - 11, " end words.", 11);
    double t10 = best_time(db, kinds[k].model, text, 10 * MB, 1);
    if (k == sizeof kinds / sizeof *kinds - 1) memcpy(text + MB - 11, " end words.", 11);
    double t1 = best_time(db, kinds[k].model, text, MB, 3);
    double ratio = t10 / (t1 > 1e-4 ? t1 : 1e-4);
    if (ratio >= 35) {  /* a busy machine, or really slow: look twice more */
      if (k == sizeof kinds / sizeof *kinds - 1) memcpy(text + 10 * MB - 11, " end words.", 11);
      double again = best_time(db, kinds[k].model, text, 10 * MB, 2);
      if (again < t10) t10 = again;
      ratio = t10 / (t1 > 1e-4 ? t1 : 1e-4);
    }
    printf("  %-34s 1 MB %7.1f ms   10 MB %7.1f ms   ratio %5.1f\n", kinds[k].tag, t1 * 1e3, t10 * 1e3, ratio);
    CHECK(ratio < 35, "%s: 10 MB takes %.1f times as long as 1 MB (%.3f s vs %.3f s)", kinds[k].tag, ratio, t10, t1);
    free(text);
  }
}

int main(void) {
  (void)read_file;
  sqlite3 *db = open_db(":memory:");
  CHECK_Q(db, "1", "SELECT siam_import('u', '" UNCASED "') > 0");
  CHECK_Q(db, "1", "SELECT siam_import('c', '" CASED "') > 0");
  CHECK_Q(db, NULL, "SELECT siam_embed('u', NULL)");
  test_invalid_utf8(db);
  test_nul(db);
  test_long_text(db);
  test_controls_and_marks(db);
  test_linear(db);
  sqlite3_close(db);
  return TEST_DONE();
}
