/*
** vecsnap.h — a table's stored vectors read into memory for siam_nearest,
** siam_pairs and siam_search, kept between statements while provably
** current (vecsnap.c says when).
*/
#ifndef SIAM_VECSNAP_H
#define SIAM_VECSNAP_H

#include "sqlite_api.h"

#include <stdint.h>

typedef struct VecSnapSlot VecSnapSlot;

/* A table's vectors in memory (vecsnap.c): rows with a NULL vector left out. */
typedef struct {
  int refs;
  char *table, *column;     /* as named by the caller */
  char *version;            /* data versions it was read at; NULL if never reused */
  int64_t *rowids;          /* (n) */
  float *x;                 /* (n, dim) the vectors, in table order */
  float *inv;               /* (n) from siam_vec_inv_norms */
  int64_t n, cap;
  int dim;                  /* 0 when n is 0 */
} VecSnap;

/* Per connection: the snapshot kept for the next statement (owned by the
** connection's state, conn.h). */
VecSnapSlot *vecsnap_slot_new(void);
void vecsnap_slot_free(VecSnapSlot *s);

/* The vectors of table.column: the kept snapshot while it is current, else
** read now (and kept when allowed).  Errors (missing table or column, a
** value that is not a float32 BLOB, mixed dimensions, NaN) are set on vtab
** naming fn.  Returns SQLITE_OK and a reference in *out. */
int vecsnap_get(VecSnapSlot *slot, sqlite3_vtab *vtab, sqlite3 *db, const char *fn, sqlite3_value *table,
                sqlite3_value *column, VecSnap **out);
void vecsnap_release(VecSnap *v);

#endif
