/*
** args.c — reading SQL arguments (see args.h).
*/
#include "args.h"

#include <math.h>
#include <stdio.h>

const char *sql_type_name(int t) {
  switch (t) {
    case SQLITE_INTEGER: return "INTEGER";
    case SQLITE_FLOAT: return "REAL";
    case SQLITE_TEXT: return "TEXT";
    case SQLITE_BLOB: return "BLOB";
    default: return "NULL";
  }
}

static int wrong_type(sqlite3_value *v, const char *what, const char *want, char *err) {
  siam_errf(err, "%s must be %s, got %s", what, want, sql_type_name(sqlite3_value_type(v)));
  return SQLITE_ERROR;
}

static int nomem(char *err) {
  siam_errf(err, "out of memory");
  return SQLITE_NOMEM;
}

int arg_text(sqlite3_value *v, const char *what, const char **out, char err[SIAM_ERRMAX]) {
  if (sqlite3_value_type(v) != SQLITE_TEXT) return wrong_type(v, what, "TEXT", err);
  *out = (const char *)sqlite3_value_text(v);
  return *out ? SQLITE_OK : nomem(err);
}

int arg_text_or_blob(sqlite3_value *v, const char *what, const char **p, size_t *n, char err[SIAM_ERRMAX]) {
  int t = sqlite3_value_type(v);
  if (t == SQLITE_BLOB) {
    *p = sqlite3_value_blob(v);
    *n = (size_t)sqlite3_value_bytes(v);
    if (!*p) *p = "";
    return SQLITE_OK;
  }
  if (t != SQLITE_TEXT) return wrong_type(v, what, "TEXT or BLOB", err);
  *p = (const char *)sqlite3_value_text(v);
  *n = (size_t)sqlite3_value_bytes(v);
  return *p ? SQLITE_OK : nomem(err);
}

int arg_blob(sqlite3_value *v, const char *what, const void **p, size_t *n, char err[SIAM_ERRMAX]) {
  if (sqlite3_value_type(v) != SQLITE_BLOB) return wrong_type(v, what, "a BLOB", err);
  *n = (size_t)sqlite3_value_bytes(v);
  *p = sqlite3_value_blob(v);
  if (!*p) *p = "";
  return SQLITE_OK;
}

int vector_bytes_ok(int n, const char *what, char err[SIAM_ERRMAX]) {
  if (n > 0 && n % 4 == 0) return SQLITE_OK;
  siam_errf(err, "%s: a float32 vector blob must be a non-zero multiple of 4 bytes, got %d", what, n);
  return SQLITE_ERROR;
}

int arg_vector(sqlite3_value *v, const char *what, const float **p, int *dim, char err[SIAM_ERRMAX]) {
  if (sqlite3_value_type(v) != SQLITE_BLOB) return wrong_type(v, what, "a float32 BLOB", err);
  int n = sqlite3_value_bytes(v);
  if (vector_bytes_ok(n, what, err) != SQLITE_OK) return SQLITE_ERROR;
  *p = sqlite3_value_blob(v);
  *dim = n / 4;
  return *p ? SQLITE_OK : nomem(err);
}

int arg_int(sqlite3_value *v, const char *what, sqlite3_int64 lo, sqlite3_int64 hi, sqlite3_int64 *out,
            char err[SIAM_ERRMAX]) {
  sqlite3_int64 x = sqlite3_value_int64(v);
  if (sqlite3_value_type(v) != SQLITE_INTEGER || x < lo || x > hi) {
    siam_errf(err, "%s must be an INTEGER from %lld to %lld", what, (long long)lo, (long long)hi);
    return SQLITE_ERROR;
  }
  *out = x;
  return SQLITE_OK;
}

int arg_number(sqlite3_value *v, const char *what, double *out, char err[SIAM_ERRMAX]) {
  int t = sqlite3_value_type(v);
  double x = sqlite3_value_double(v);
  if ((t != SQLITE_INTEGER && t != SQLITE_FLOAT) || isnan(x)) return wrong_type(v, what, "a number", err);
  *out = x;
  return SQLITE_OK;
}
