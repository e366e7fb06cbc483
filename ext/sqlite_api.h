/*
** sqlite_api.h — every ext/ file includes SQLite through this header, so
** that in the loadable extension all calls go through the host's API table
** (SQLITE_EXTENSION_INIT1 lives in siamsql.c).
*/
#ifndef SIAM_SQLITE_API_H
#define SIAM_SQLITE_API_H
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3
#endif
