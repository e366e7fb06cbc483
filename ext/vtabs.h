/*
** vtabs.h — the table-valued functions, registered by siamsql.c:
**
**   siam_embed_each(model, sql)                -> (id, embedding)      embed_each.c
**   siam_nearest(table, column, query, k)      -> (rowid, score)       nearest.c
**   siam_pairs(table, column, threshold)       -> (rowid_a, rowid_b, score)
**   siam_search(table, text_column, embedding_column, model, query, k)
**                                              -> (rowid, score, dense_rank, bm25_rank)   search.c
**
** vtabs.c holds what they share.
**
** All three are eponymous-only virtual tables marked DIRECTONLY: they run SQL
** text or read a table named by a string, so a view or trigger inside a
** database file someone handed you cannot use them.
*/
#ifndef SIAM_VTABS_H
#define SIAM_VTABS_H

#include "cache.h"
#include "sqlite_api.h"

typedef struct VecSnapSlot VecSnapSlot;

/* Each returns an SQLite result code.  The modules hold references on cache
** and slot. */
int embed_each_register(sqlite3 *db, SiamCache *cache);
int nearest_register(sqlite3 *db, VecSnapSlot *slot);
int search_register(sqlite3 *db, SiamCache *cache, VecSnapSlot *slot);

/* siam_fts_query(text): the FTS5 query siam_search runs for text (search.c). */
void fn_fts_query(sqlite3_context *ctx, int argc, sqlite3_value **argv);

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

/* Per connection: the snapshot kept for the next statement. */
VecSnapSlot *vecsnap_slot_new(void);
void vecsnap_slot_retain(VecSnapSlot *s);
void vecsnap_slot_release(void *s);   /* void* so it can be a module destructor */

/* The vectors of table.column: the kept snapshot while it is current, else
** read now (and kept when allowed).  Errors (missing table or column, a
** value that is not a float32 BLOB, mixed dimensions, NaN) are set on vtab
** naming fn.  Returns SQLITE_OK and a reference in *out. */
int vecsnap_get(VecSnapSlot *slot, sqlite3_vtab *vtab, sqlite3 *db, const char *fn, sqlite3_value *table,
                sqlite3_value *column, VecSnap **out);
void vecsnap_release(VecSnap *v);

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

/* The SQL type name of an sqlite3_value type code (for every error message
** about an argument's type, the scalar functions' too). */
const char *sql_type_name(int t);

/* xOpen for all three: a zeroed cursor of `size` bytes (the module's cursor
** struct, which starts with its sqlite3_vtab_cursor). */
int vtab_open_cursor(size_t size, sqlite3_vtab_cursor **out);

#endif
