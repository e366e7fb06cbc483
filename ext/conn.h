/*
** conn.h — what siamsql keeps per database connection: one object, made by
** sqlite3_siamsql_init and handed to every function and module it
** registers, freed when the last of them goes (when the connection closes).
**
**   models    the loaded models and the memory limits (cache.h)
**   vectors   the table vectors kept for the next statement (vecsnap.h)
*/
#ifndef SIAM_CONN_H
#define SIAM_CONN_H

#include "cache.h"
#include "vecsnap.h"

typedef struct {
  int refs;              /* one per registration */
  SiamCache *models;     /* owned */
  VecSnapSlot *vectors;  /* owned */
} SiamConn;

/* A new state with one reference; NULL + err (a bad SIAMSQL_* environment
** value, or out of memory). */
SiamConn *conn_new(char err[SIAM_ERRMAX]);
void conn_retain(SiamConn *c);
void conn_release(void *c);   /* void*: a function or module destructor; frees at the last */

#endif
