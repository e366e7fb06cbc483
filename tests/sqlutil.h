/*
** sqlutil.h — helpers for tests that drive siamsql through SQL: open a
** connection with the extension loaded, run one-value queries, read files.
*/
#ifndef SIAM_SQLUTIL_H
#define SIAM_SQLUTIL_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static sqlite3 *open_db(const char *path) {
  sqlite3 *db = NULL;
  if (sqlite3_open(path, &db) != SQLITE_OK) {
    fprintf(stderr, "cannot open %s\n", path);
    exit(2);
  }
  sqlite3_enable_load_extension(db, 1);
  char *err = NULL;
  if (sqlite3_load_extension(db, "./siamsql", "sqlite3_siamsql_init", &err) != SQLITE_OK) {
    fprintf(stderr, "cannot load ./siamsql: %s\n", err ? err : "?");
    exit(2);
  }
  sqlite3_busy_timeout(db, 10000);
  return db;
}

/* Runs sql (binding the given text args), returns the first column of the
** first row as a malloc'd string (NULL for SQL NULL), or "ERROR: msg". */
static char *query1(sqlite3 *db, const char *sql, int n_args, const char **args) {
  sqlite3_stmt *st = NULL;
  char *out = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) goto error;
  for (int i = 0; i < n_args; i++) sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const unsigned char *t = sqlite3_column_text(st, 0);
    out = t ? strdup((const char *)t) : NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {}
  }
  if (rc != SQLITE_DONE) {
    free(out);
    goto error;
  }
  sqlite3_finalize(st);
  return out;
error:;
  const char *msg = sqlite3_errmsg(db);
  out = malloc(strlen(msg) + 8);
  sprintf(out, "ERROR: %s", msg);
  sqlite3_finalize(st);
  return out;
}

#define Q(db, sql, ...) query1(db, sql, (int)(sizeof((const char *[]){NULL, __VA_ARGS__}) / sizeof(char *)) - 1, \
                               ((const char *[]){NULL, __VA_ARGS__}) + 1)

/* CHECK that a query returns exactly `want` (freeing the result). */
#define CHECK_Q(db, want, sql, ...)                                                  \
  do {                                                                               \
    char *got_ = Q(db, sql, __VA_ARGS__);                                            \
    const char *want_ = (want);                                                      \
    CHECK(got_ && want_ ? strcmp(got_, want_) == 0 : got_ == (char *)want_,          \
          "%s\n   got:  %s\n   want: %s", sql, got_ ? got_ : "NULL", want_ ? want_ : "NULL"); \
    free(got_);                                                                      \
  } while (0)

/* CHECK that a query fails with an error message starting with `prefix`. */
#define CHECK_ERR(db, prefix, sql, ...)                                              \
  do {                                                                               \
    char *got_ = Q(db, sql, __VA_ARGS__);                                            \
    const char *want_ = "ERROR: " prefix;                                            \
    CHECK(got_ && strncmp(got_, want_, strlen(want_)) == 0, "%s\n   got:  %s\n   want: %s...", sql, \
          got_ ? got_ : "NULL", want_);                                              \
    free(got_);                                                                      \
  } while (0)

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) buf[n] = 0;
  if (len) *len = (size_t)n;
  return buf;
}

#endif
