/*
** stop.c — the interrupt check installed for model/ (see stop.h).
*/
#include "stop.h"

#include <time.h>

#define PROBE_EVERY_NS 2000000 /* 2 ms: far below what a user notices, far above a probe's cost */

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Steps "SELECT 1": SQLITE_INTERRUPT once sqlite3_interrupt() was called. */
static int probe(void *ctx) {
  StopScope *s = ctx;
  long long t = now_ns();
  if (t < s->next_ns) return 0;
  s->next_ns = t + PROBE_EVERY_NS;
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(s->db, "SELECT 1", -1, &st, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_INTERRUPT;
}

void stop_begin(StopScope *s, sqlite3 *db) {
  s->db = db;
  s->next_ns = 0;
  s->saved = siam_stop_push(probe, s);
}

int stop_end(StopScope *s) {
  int stopped = siam_stop_was_requested();
  siam_stop_pop(s->saved);
  return stopped;
}
