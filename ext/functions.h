/*
** functions.h — every entry point siamsql.c registers: the SQL functions
** (functions.c, search.c, dump.c) and the table-valued functions' modules
** (embed_each.c, nearest.c, search.c).  Each gets the connection's state
** (conn.h) as its user data.
**
** Names: an SQL function siam_x is fn_x; a module siam_x is x_module; every
** other ext/ function is named after its file (cache_, store_, vecsnap_,
** vtab_, stop_, arg_, conn_), as model/'s carry siam_.
*/
#ifndef SIAM_FUNCTIONS_H
#define SIAM_FUNCTIONS_H

#include "sqlite_api.h"

void fn_embed(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void fn_similarity(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void fn_tokenize(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void fn_dim(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void fn_import(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void fn_export(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void fn_upgrade(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void fn_pack(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void fn_unpack(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void fn_config(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void fn_f32(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void fn_f32_json(sqlite3_context *ctx, int argc, sqlite3_value **argv);

void fn_revision(sqlite3_context *ctx, int argc, sqlite3_value **argv);

void fn_fts_query(sqlite3_context *ctx, int argc, sqlite3_value **argv);   /* search.c */
void fn_dump(sqlite3_context *ctx, int argc, sqlite3_value **argv);        /* dump.c */

void fn_info(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void fn_threads(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void fn_memory_limit(sqlite3_context *ctx, int argc, sqlite3_value **argv);

extern const sqlite3_module embed_each_module;   /* siam_embed_each */
extern const sqlite3_module nearest_module;      /* siam_nearest */
extern const sqlite3_module pairs_module;        /* siam_pairs */
extern const sqlite3_module search_module;       /* siam_search */

#define SIAMSQL_VERSION "0.2.0"

#endif
