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

#endif
