/*
** vtab.c — what the table-valued functions share: argument planning, error
** messages, cursors.
*/
#include "vtab.h"

#include <stdarg.h>
#include <string.h>

static int set_error(sqlite3_vtab *vtab, int rc, const char *fn, const char *fmt, va_list ap) {
  char *msg = sqlite3_vmprintf(fmt, ap);
  sqlite3_free(vtab->zErrMsg);
  vtab->zErrMsg = msg ? sqlite3_mprintf("%s: %s", fn, msg) : NULL;
  sqlite3_free(msg);
  return vtab->zErrMsg ? rc : SQLITE_NOMEM;
}

int vtab_fail(sqlite3_vtab *vtab, const char *fn, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = set_error(vtab, SQLITE_ERROR, fn, fmt, ap);
  va_end(ap);
  return rc;
}

int vtab_fail_code(sqlite3_vtab *vtab, int rc, const char *fn, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rc = set_error(vtab, rc, fn, fmt, ap);
  va_end(ap);
  return rc;
}

int vtab_fail_db(sqlite3_vtab *vtab, sqlite3 *db, const char *fn) {
  int rc = sqlite3_extended_errcode(db);
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) rc = SQLITE_ERROR;
  return vtab_fail_code(vtab, rc, fn, "%s", sqlite3_errmsg(db));
}

int vtab_open_cursor(size_t size, sqlite3_vtab_cursor **out) {
  sqlite3_vtab_cursor *c = sqlite3_malloc64(size);
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, size);
  *out = c;
  return SQLITE_OK;
}

/* The arguments of a table-valued function arrive as equality constraints on
** its hidden columns.  A plan that lacks a usable one for every argument is
** refused with SQLITE_CONSTRAINT (another join order may supply it, as in
** `FROM t, siam_nearest('v', 'emb', t.emb, 5)`); a query that never gives
** one is an error. */
int vtab_best_index_args(sqlite3_vtab *vtab, sqlite3_index_info *info, int first, int n_args, const char *fn,
                         const char *usage) {
  int seen = 0, usable = 0;  /* bit i: argument i constrained / usably so */
  for (int i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    int arg = c->iColumn - first;
    if (arg < 0 || arg >= n_args || c->op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    seen |= 1 << arg;
    if (!c->usable || (usable >> arg & 1)) continue;  /* each argvIndex once */
    usable |= 1 << arg;
    info->aConstraintUsage[i].argvIndex = arg + 1;
    info->aConstraintUsage[i].omit = 1;
  }
  int all = (1 << n_args) - 1;
  if (seen != all) return vtab_fail(vtab, fn, "needs %d arguments: %s", n_args, usage);
  if (usable != all) return SQLITE_CONSTRAINT;
  return SQLITE_OK;
}
