/*
** stop.h — sqlite3_interrupt() for siamsql's long work.
**
** model/ polls siam_stop_requested() (model/common.h) between steps of
** bounded cost; this installs the check that answers it for one SQL call:
**
**   StopScope s;
**   stop_begin(&s, db);
**   ... cache_get, siam_model_embed_batch ...
**   int stopped = stop_end(&s);    -- 1 if the statement was interrupted
**
** SQLite 3.40 has no sqlite3_is_interrupted() (3.41 added it), but every
** statement checks the interrupt flag when it starts, and the flag is not
** cleared while the calling statement runs: so the check steps a trivial
** statement, at most once every few milliseconds.
*/
#ifndef SIAM_STOP_H
#define SIAM_STOP_H

#include "sqlite_api.h"

#include "../model/common.h"

typedef struct {
  sqlite3 *db;
  long long next_ns;   /* no probe before this time */
  SiamStop saved;      /* the check it replaced, restored by stop_end */
} StopScope;

void stop_begin(StopScope *s, sqlite3 *db);
int stop_end(StopScope *s);

#endif
