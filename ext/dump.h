/*
** dump.h — siam_dump(model): the SQL text that recreates a stored model.
*/
#ifndef SIAM_DUMP_H
#define SIAM_DUMP_H

#include "sqlite_api.h"

void fn_dump(sqlite3_context *ctx, int argc, sqlite3_value **argv);

#endif
