/*
** functions.h — the SQL functions, registered by siamsql.c.
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

void fn_info(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void fn_threads(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void fn_memory_limit(sqlite3_context *ctx, int argc, sqlite3_value **argv);

#define SIAMSQL_VERSION "0.1.0"

#endif
