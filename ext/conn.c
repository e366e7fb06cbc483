/*
** conn.c — the per-connection state (see conn.h).
*/
#include "conn.h"

SiamConn *conn_new(char err[SIAM_ERRMAX]) {
  SiamConn *c = sqlite3_malloc(sizeof *c);
  if (!c) {
    siam_errf(err, "out of memory");
    return NULL;
  }
  c->refs = 1;
  c->models = cache_new(err);
  c->vectors = c->models ? vecsnap_slot_new() : NULL;
  if (!c->vectors) {
    if (c->models) siam_errf(err, "out of memory");
    cache_free(c->models);
    sqlite3_free(c);
    return NULL;
  }
  return c;
}

void conn_retain(SiamConn *c) { c->refs++; }

void conn_release(void *p) {
  SiamConn *c = p;
  if (!c || --c->refs > 0) return;
  cache_free(c->models);
  vecsnap_slot_free(c->vectors);
  sqlite3_free(c);
}
