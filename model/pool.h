/*
** pool.h — siamsql's own worker threads, for the encoder's parallel loops.
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

typedef void (*SiamJob)(void *ctx, int part, int parts);

/* Runs fn(ctx, i, parts) for every i in [0, parts) and returns when all are
** done.  parts is capped at the thread count; returns the count used. */
int siam_pool_run(SiamJob fn, void *ctx, int parts);

/* How many parts a job may usefully be split into now: the thread count. */
int siam_pool_width(void);

#endif
