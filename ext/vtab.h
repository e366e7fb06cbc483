/*
** vtab.h — what the table-valued functions share (vtab.c): argument
** planning, error messages, cursors.  Each is an eponymous-only virtual
** table, registered by siamsql.c from its sqlite3_module (functions.h):
**
**   siam_embed_each(model, sql)                -> (id, embedding)      embed_each.c
**   siam_nearest(table, column, query, k)      -> (rowid, score)       nearest.c
**   siam_pairs(table, column, threshold)       -> (rowid_a, rowid_b, score)
**   siam_search(table, text_column, embedding_column, model, query, k)
**                                              -> (rowid, score, dense_rank, bm25_rank)   search.c
**
** All mark themselves DIRECTONLY: they run SQL text or read a table named by
** a string, so a view or trigger inside a database file someone handed you
** cannot use them.  Each xConnect gets the connection's state (conn.h) as
** its client data.
*/
#ifndef SIAM_VTAB_H
#define SIAM_VTAB_H

#include "args.h"
#include "conn.h"
#include "sqlite_api.h"

/* Shared by the modules: xBestIndex for a table-valued function whose hidden
** argument columns are [first, first + n_args).  Every argument must be given
** by an equality constraint; errors name fn and list usage. */
int vtab_best_index_args(sqlite3_vtab *vtab, sqlite3_index_info *info, int first, int n_args, const char *fn,
                         const char *usage);

/* Replaces vtab's error message (printf-style, fn prefixed); returns
** SQLITE_ERROR (vtab_fail) or rc (vtab_fail_code: SQLITE_BUSY, SQLITE_INTERRUPT
** and the rest pass through to the caller unchanged). */
int vtab_fail(sqlite3_vtab *vtab, const char *fn, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
int vtab_fail_code(sqlite3_vtab *vtab, int rc, const char *fn, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* The error of the last call on db as vtab's, with its result code. */
int vtab_fail_db(sqlite3_vtab *vtab, sqlite3 *db, const char *fn);

/* xOpen for all of them: a zeroed cursor of `size` bytes (the module's cursor
** struct, which starts with its sqlite3_vtab_cursor). */
int vtab_open_cursor(size_t size, sqlite3_vtab_cursor **out);

#endif
