/*
** common.h — error reporting and small helpers shared by everything in model/.
**
** model/ never prints, exits or asserts on outside data.  A function that can
** fail takes `char err[SIAM_ERRMAX]`, returns nonzero (or NULL) on failure and
** leaves a one-line message there; ext/ prefixes it with the SQL function name.
*/
#ifndef SIAM_COMMON_H
#define SIAM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define SIAM_ERRMAX 512

/* Writes the formatted message into err (if err is not NULL); returns -1 so
** callers can write `return siam_errf(err, "...")`. */
int siam_errf(char *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Allocation goes through one path so hardening tests can make it fail. */
void *siam_malloc(size_t n);
void *siam_calloc(size_t count, size_t size);
void *siam_realloc(void *p, size_t n);
/* Uninitialized memory for a large array that lives as long as its model:
** aligned for transparent huge pages. */
void *siam_malloc_big(size_t n);
void siam_free(void *p);
char *siam_strndup(const char *s, size_t n);

/* a*b with overflow check: returns 0 and sets *out, or -1 on overflow. */
int siam_mul_size(size_t a, size_t b, size_t *out);

/* ---- stopping long work ----------------------------------------------------
** Work whose cost grows with its input (tokenizing a long text, embedding a
** batch, loading a model) calls siam_stop_requested() between steps of
** bounded cost and, when it returns 1, gives up as it would on a failed
** allocation (-1, with "interrupted" in err where there is one).  ext/
** installs the check for the thread that runs a statement, so that
** sqlite3_interrupt() stops it; the caller then tells the two failures apart
** with siam_stop_was_requested().  The state is per thread, and nests:
**
**   SiamStop prev = siam_stop_push(is_interrupted, db);
**   ... model/ work ...
**   int stopped = siam_stop_was_requested();
**   siam_stop_pop(prev);
**
** Once the check has said stop, it says stop until popped (fn is not called
** again).  Without a check installed nothing ever stops. */
typedef int (*SiamStopFn)(void *ctx);   /* nonzero: stop */
typedef struct {
  SiamStopFn fn;
  void *ctx;
  int stopped;                          /* fn has said stop */
} SiamStop;

SiamStop siam_stop_push(SiamStopFn fn, void *ctx);  /* returns the previous state */
void siam_stop_pop(SiamStop prev);                  /* restores it */
int siam_stop_requested(void);                      /* polls: 1 to stop now */
int siam_stop_was_requested(void);                  /* 1 if a poll said stop (no new poll) */

#endif
