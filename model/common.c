/*
** common.c — error messages, the one allocation path, overflow-checked sizes.
*/
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/mman.h>

int siam_errf(char *err, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, SIAM_ERRMAX, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* Fault injection for the memory-fault tests: when siam_fail_countdown is
** positive, the allocation that brings it to zero fails. */
long siam_fail_countdown = 0;

/* Byte counting for the memory tests: while siam_alloc_counting is set,
** siam_alloc_now holds the bytes the siam_* allocators hold and
** siam_alloc_peak the most they held (malloc_usable_size: what malloc gave,
** not what was asked).  Off, it costs one branch. */
int siam_alloc_counting = 0;
size_t siam_alloc_now = 0, siam_alloc_peak = 0;

static void *counted(void *p) {
  if (p && siam_alloc_counting) {
    siam_alloc_now += malloc_usable_size(p);
    if (siam_alloc_now > siam_alloc_peak) siam_alloc_peak = siam_alloc_now;
  }
  return p;
}

static void uncount(void *p) {
  if (p && siam_alloc_counting) siam_alloc_now -= malloc_usable_size(p);
}

static int alloc_should_fail(void) {
  if (siam_fail_countdown <= 0) return 0;
  return --siam_fail_countdown == 0;
}

void *siam_malloc(size_t n) {
  if (alloc_should_fail()) return NULL;
  return counted(malloc(n ? n : 1));
}

void *siam_calloc(size_t count, size_t size) {
  if (alloc_should_fail()) return NULL;
  return counted(calloc(count ? count : 1, size ? size : 1));
}

void *siam_realloc(void *p, size_t n) {
  if (alloc_should_fail()) return NULL;
  size_t before = p && siam_alloc_counting ? malloc_usable_size(p) : 0;
  void *q = realloc(p, n ? n : 1);
  if (q && siam_alloc_counting) siam_alloc_now -= before;
  return q ? counted(q) : NULL;
}

/* Large, long-lived arrays (the weights, the activation arena) are aligned
** to 2 MB and offered to the kernel as transparent huge pages: loading then
** takes one page fault per 2 MB instead of per 4 KB, and a query streaming
** the weights misses the TLB far less.  Freed with siam_free. */
#define HUGE_PAGE ((size_t)2 << 20)

void *siam_malloc_big(size_t n) {
  if (alloc_should_fail()) return NULL;
  if (n < HUGE_PAGE) return counted(malloc(n ? n : 1));
  size_t rounded = (n + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
  if (rounded < n) return NULL;
  void *p = aligned_alloc(HUGE_PAGE, rounded);
#ifdef MADV_HUGEPAGE
  if (p) madvise(p, rounded, MADV_HUGEPAGE); /* a hint: ignored where not supported */
#endif
  return counted(p);
}

void siam_free(void *p) {
  uncount(p);
  free(p);
}

char *siam_strndup(const char *s, size_t n) {
  char *d = siam_malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = 0;
  return d;
}

int siam_mul_size(size_t a, size_t b, size_t *out) {
  if (a != 0 && b > SIZE_MAX / a) return -1;
  *out = a * b;
  return 0;
}

/* One per thread: a statement's work runs on the thread that called SQLite
** (pool workers never poll), and nested statements push and pop. */
static _Thread_local SiamStop stop_now;

SiamStop siam_stop_push(SiamStopFn fn, void *ctx) {
  SiamStop prev = stop_now;
  stop_now.fn = fn;
  stop_now.ctx = ctx;
  stop_now.stopped = 0;
  return prev;
}

void siam_stop_pop(SiamStop prev) { stop_now = prev; }

int siam_stop_requested(void) {
  if (!stop_now.stopped && stop_now.fn && stop_now.fn(stop_now.ctx)) stop_now.stopped = 1;
  return stop_now.stopped;
}

int siam_stop_was_requested(void) { return stop_now.stopped; }
