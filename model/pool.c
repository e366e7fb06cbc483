/*
** pool.c — siamsql's worker threads and the thread count they follow.
**
** A job is published by bumping `generation`; workers that see the bump run
** their part and count `pending` down.  Waiting is a short spin followed by
** a condition variable, on both sides: a forward pass runs dozens of jobs a
** millisecond apart, and a futex wake-up per job would cost more than the
** smaller ones take, while a worker spinning forever would steal a core
** from SQLite and everything else in the process.
*/
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS (SIAM_MAX_THREADS - 1) /* the caller is the other thread */
#define SPIN_NS 200000 /* how long a waiter spins before it sleeps: 0.2 ms */

static struct {
  pthread_mutex_t busy; /* held by the one caller whose job is running */
  pthread_mutex_t lock; /* guards the sleeps on the two condition variables */
  pthread_cond_t wake;  /* workers sleep here between jobs */
  pthread_cond_t done;  /* the caller sleeps here until pending is 0 */
  atomic_uint generation;
  atomic_int pending; /* workers yet to finish the current job */
  atomic_int stop;
  atomic_int retire_from; /* workers from this index on exit at the next bump */
  atomic_int threads;     /* siam_set_threads; 0 = not yet decided */
  SiamJob fn; /* the current job, written before generation is bumped */
  void *ctx;
  int parts;
  int n_workers;
  pthread_t workers[MAX_WORKERS];
  unsigned born[MAX_WORKERS]; /* generation when worker i started: its jobs come after */
} pool = {.busy = PTHREAD_MUTEX_INITIALIZER, .lock = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER, .done = PTHREAD_COND_INITIALIZER, .retire_from = MAX_WORKERS};

/* ---- the thread count ----------------------------------------------------- */

/* SIAMSQL_THREADS when it is a positive number, else the online cores;
** never more than SIAM_MAX_THREADS. */
static int default_threads(void) {
  const char *env = getenv("SIAMSQL_THREADS");
  char *end;
  long n = env ? strtol(env, &end, 10) : 0;
  if (!env || end == env || *end || n < 1) n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  return n > SIAM_MAX_THREADS ? SIAM_MAX_THREADS : (int)n;
}

int siam_get_threads(void) {
  int n = atomic_load(&pool.threads);
  if (n == 0) {
    int want = default_threads();
    /* First use: keep a concurrent siam_set_threads if one got there first. */
    if (!atomic_compare_exchange_strong(&pool.threads, &n, want)) return n;
    n = want;
  }
  return n;
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Spins until generation differs from seen (then returns it), or for SPIN_NS. */
static unsigned spin_for_job(unsigned seen) {
  long long until = now_ns() + SPIN_NS;
  for (int i = 0;; i++) {
    unsigned g = atomic_load(&pool.generation);
    if (g != seen || atomic_load(&pool.stop)) return g;
    if ((i & 63) == 63 && now_ns() > until) return seen;
    cpu_relax();
  }
}

static void *worker_main(void *arg) {
  int i = (int)(long)arg, part = i + 1; /* worker i runs part i + 1 */
  unsigned seen = pool.born[i];
  for (;;) {
    unsigned g = spin_for_job(seen);
    if (g == seen) {
      pthread_mutex_lock(&pool.lock);
      while ((g = atomic_load(&pool.generation)) == seen && !atomic_load(&pool.stop))
        pthread_cond_wait(&pool.wake, &pool.lock);
      pthread_mutex_unlock(&pool.lock);
    }
    if (atomic_load(&pool.stop)) return NULL;
    seen = g;
    int retire = i >= atomic_load(&pool.retire_from);
    if (!retire && part < pool.parts) pool.fn(pool.ctx, part, pool.parts);
    if (atomic_fetch_sub(&pool.pending, 1) == 1) {
      pthread_mutex_lock(&pool.lock);
      pthread_cond_signal(&pool.done);
      pthread_mutex_unlock(&pool.lock);
    }
    if (retire) return NULL;
  }
}

/* In the child of a fork() only the forking thread exists: forget the
** workers (they were not copied) and any lock another thread held, so the
** child starts its own pool instead of waiting for threads that are gone. */
static void forget_workers_after_fork(void) {
  pthread_mutex_init(&pool.busy, NULL);
  pthread_mutex_init(&pool.lock, NULL);
  pthread_cond_init(&pool.wake, NULL);
  pthread_cond_init(&pool.done, NULL);
  pool.n_workers = 0;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void register_atfork(void) { pthread_atfork(NULL, NULL, forget_workers_after_fork); }

/* Starts workers until there are want of them (called with busy held). */
static void grow(int want) {
  pthread_once(&atfork_once, register_atfork);
  if (want > MAX_WORKERS) want = MAX_WORKERS;
  while (pool.n_workers < want) {
    pool.born[pool.n_workers] = atomic_load(&pool.generation);
    if (pthread_create(&pool.workers[pool.n_workers], NULL, worker_main, (void *)(long)pool.n_workers))
      return; /* run with the workers we have */
    pool.n_workers++;
  }
}

static void wait_for_workers(void) {
  long long until = now_ns() + SPIN_NS;
  for (int i = 0; atomic_load(&pool.pending); i++) {
    if ((i & 63) == 63 && now_ns() > until) {
      pthread_mutex_lock(&pool.lock);
      while (atomic_load(&pool.pending)) pthread_cond_wait(&pool.done, &pool.lock);
      pthread_mutex_unlock(&pool.lock);
      return;
    }
    cpu_relax();
  }
}

/* Publishes the job set in pool.fn/ctx/parts to every worker and waits for
** all of them (called with busy held). */
static void run_on_workers(void) {
  atomic_store(&pool.pending, pool.n_workers);
  pthread_mutex_lock(&pool.lock);
  atomic_fetch_add(&pool.generation, 1);
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.lock);
}

/* Stops and joins the workers beyond `keep` (called with busy held), so no
** more threads exist than the thread count says. */
static void shrink(int keep) {
  if (pool.n_workers <= keep) return;
  pool.fn = NULL;
  pool.parts = 0;
  atomic_store(&pool.retire_from, keep);
  run_on_workers();
  wait_for_workers();
  for (int i = keep; i < pool.n_workers; i++) pthread_join(pool.workers[i], NULL);
  pool.n_workers = keep;
  atomic_store(&pool.retire_from, MAX_WORKERS);
}

/* Lets extra workers go when nobody's job is running (else the next job does). */
static void trim(void) {
  if (pthread_mutex_trylock(&pool.busy)) return;
  shrink(siam_get_threads() - 1);
  pthread_mutex_unlock(&pool.busy);
}

void siam_set_threads(int n) {
  atomic_store(&pool.threads, n > 0 ? (n > SIAM_MAX_THREADS ? SIAM_MAX_THREADS : n) : default_threads());
  trim();
}

int siam_pool_width(void) { return siam_get_threads(); }

int siam_pool_run(SiamJob fn, void *ctx, int parts) {
  int width = siam_pool_width();
  if (parts > width) parts = width;
  if (pool.n_workers > width - 1) trim();
  if (parts <= 1 || pthread_mutex_trylock(&pool.busy)) {
    fn(ctx, 0, 1); /* one part covers the whole job */
    return 1;
  }
  shrink(width - 1);
  grow(parts - 1);
  if (parts > pool.n_workers + 1) parts = pool.n_workers + 1;
  pool.fn = fn;
  pool.ctx = ctx;
  pool.parts = parts;
  run_on_workers();
  fn(ctx, 0, parts);
  wait_for_workers();
  pthread_mutex_unlock(&pool.busy);
  return parts;
}

/* On exit or dlclose, the workers are told to stop and joined, so no thread
** is left running code that is about to be unmapped. */
__attribute__((destructor)) static void pool_shutdown(void) {
  if (pthread_mutex_trylock(&pool.busy)) return; /* a job is running: exit() mid-query; leave them be */
  pthread_mutex_lock(&pool.lock);
  atomic_store(&pool.stop, 1);
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.lock);
  for (int i = 0; i < pool.n_workers; i++) pthread_join(pool.workers[i], NULL);
  pool.n_workers = 0;
  pthread_mutex_unlock(&pool.busy);
}
