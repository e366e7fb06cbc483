/*
** pool.h — siamsql's own worker threads (the encoder's parallel loops and
** similarity search), and the process-wide thread count they follow.
**
** One pool per process, started at first use with siam_get_threads() - 1
** workers; the calling thread is always part 0.  A job is split into parts
** by the caller (fn gets its part number and the part count and picks its
** own slice), so a job gives the same result on any number of threads.
**
** No oversubscription: only one job runs on the pool at a time.  A second
** caller that finds the pool busy (another connection's forward pass on
** another thread) runs all of its parts itself, one after another.  Between
** jobs the workers spin briefly, then sleep; they never run OpenBLAS.
*/
#ifndef SIAM_POOL_H
#define SIAM_POOL_H

/* The one cap on the thread count. */
#define SIAM_MAX_THREADS 64

/* Threads siamsql computes with.  The default is SIAMSQL_THREADS when it
** holds a positive number, else the number of online cores (read once, at
** first use).  siam_set_threads(n) sets it for the process (n <= 0 restores
** the default; more than SIAM_MAX_THREADS is capped); workers beyond the new
** count are stopped and joined at once, or by the next job if one is
** running, so no more threads exist than it says. */
void siam_set_threads(int n);
int siam_get_threads(void);

typedef void (*SiamJob)(void *ctx, int part, int parts);

/* Runs fn(ctx, i, parts) for every i in [0, parts) and returns when all are
** done.  parts is capped at the thread count; returns the count used. */
int siam_pool_run(SiamJob fn, void *ctx, int parts);

/* How many parts a job may usefully be split into now: the thread count. */
int siam_pool_width(void);

#endif
