/*
** testutil.h — the smallest test harness that can fail.
**
** CHECK(cond, fmt, ...) records a pass or a failure (with the message);
** TEST_DONE() prints "N passed, N failed" and returns the exit status.
*/
#ifndef SIAM_TESTUTIL_H
#define SIAM_TESTUTIL_H

#include <stdio.h>

static int tu_pass, tu_fail;

#define CHECK(cond, ...)                                        \
  do {                                                          \
    if (cond) {                                                 \
      tu_pass++;                                                \
    } else {                                                    \
      tu_fail++;                                                \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);      \
      fprintf(stderr, __VA_ARGS__);                             \
      fputc('\n', stderr);                                      \
    }                                                           \
  } while (0)

#define TEST_DONE()                                             \
  (printf("%s: %d passed, %d failed\n", __FILE__, tu_pass, tu_fail), \
   tu_fail ? 1 : 0)

#endif
