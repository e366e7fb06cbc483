/*
** args.h — reading SQL arguments, for scalar and table-valued functions
** alike, with one wording per mistake.
**
** Each reader returns SQLITE_OK and the value, or SQLITE_ERROR (a wrong
** argument) / SQLITE_NOMEM with a message in err that names the argument by
** `what` ("model name", "query", ...); the caller puts its function's name
** in front:  "siam_nearest: k must be an INTEGER from 1 to 16777216".
*/
#ifndef SIAM_ARGS_H
#define SIAM_ARGS_H

#include "sqlite_api.h"

#include "../model/common.h"

/* "INTEGER", "REAL", "TEXT", "BLOB" or "NULL". */
const char *sql_type_name(int type);

/* TEXT only: "<what> must be TEXT, got INTEGER". */
int arg_text(sqlite3_value *v, const char *what, const char **out, char err[SIAM_ERRMAX]);

/* Text to embed or tokenize: TEXT, or a BLOB taken as raw bytes (which may
** hold NULs); *n its length in bytes. */
int arg_text_or_blob(sqlite3_value *v, const char *what, const char **p, size_t *n, char err[SIAM_ERRMAX]);

/* A BLOB: "<what> must be a BLOB, got TEXT"; an empty one is "" with *n 0. */
int arg_blob(sqlite3_value *v, const char *what, const void **p, size_t *n, char err[SIAM_ERRMAX]);

/* A float32 vector (siam_embed's output, sqlite-vec's format): a BLOB of a
** non-zero multiple of 4 bytes; *dim its floats.  Not copied: p points into
** the value (SQLite keeps blobs 8-byte aligned). */
int arg_vector(sqlite3_value *v, const char *what, const float **p, int *dim, char err[SIAM_ERRMAX]);

/* The length check of arg_vector alone, for a blob read from a table. */
int vector_bytes_ok(int n, const char *what, char err[SIAM_ERRMAX]);

/* An INTEGER from lo to hi: "<what> must be an INTEGER from lo to hi". */
int arg_int(sqlite3_value *v, const char *what, sqlite3_int64 lo, sqlite3_int64 hi, sqlite3_int64 *out,
            char err[SIAM_ERRMAX]);

/* A number (INTEGER or REAL, not NaN): "<what> must be a number, got TEXT". */
int arg_number(sqlite3_value *v, const char *what, double *out, char err[SIAM_ERRMAX]);

#endif
