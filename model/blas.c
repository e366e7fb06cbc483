/*
** blas.c — finds and loads OpenBLAS at first use (see blas.h for why).
**
** The core type is chosen from CPUID only when the user has not set
** OPENBLAS_CORETYPE; the variable is set just for the dlopen() and restored
** afterwards, so the host process's environment is left as it was.
**
** Threads: siamsql keeps the wanted count (siam_set_threads) and the count
** OpenBLAS was last told.  Each product picks 1 or the wanted count by its
** size, and OpenBLAS is told only when that changes: a forward pass switches
** at most a few times, and openblas_set_num_threads is only a store once
** its threads exist.
*/
#include "blas.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A product with fewer multiply-adds than this runs on one thread: below it,
** waking OpenBLAS's threads costs more than they save.  Measured on the
** 2-core AVX-512 machine (SkylakeX kernels): 16 x 1536 x 384 (9.4M, a
** 16-token MiniLM query's largest product) took 285 us on 1 thread and 326 us
** on 2; 21 x 384 x 1536 took 391 us and 1167 us. */
#define MT_MIN_MACS ((int64_t)16 * 1024 * 1024)
#define MAX_THREADS 256

typedef void (*sgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, int, int, int, float,
                         const float *, int, const float *, int, float, float *, int);

static struct {
  pthread_once_t once;
  void *lib;
  sgemm_fn sgemm;
  char *(*get_corename)(void);
  void (*set_num_threads)(int);
  int chosen;            /* 1 if siamsql picked the core type */
  char err[SIAM_ERRMAX]; /* why loading failed */
  atomic_int wanted;     /* siam_set_threads; 0 = not yet decided */
  atomic_int told;       /* what OpenBLAS was last told; 0 = nothing yet */
} blas = {.once = PTHREAD_ONCE_INIT};

/* The best OpenBLAS 0.3.21 core type this CPU can run, or NULL to let
** OpenBLAS decide.  Only x86-64 needs help; elsewhere its detection works. */
static const char *pick_core(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return NULL;
}

static void *open_library(void) {
  static const char *const names[] = {"libopenblas.so.0", "libopenblas.so", "libblas.so.3"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    void *lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (lib && dlsym(lib, "cblas_sgemm")) return lib;
    if (lib) dlclose(lib);
  }
  return NULL;
}

static void load(void) {
  const char *core = getenv("OPENBLAS_CORETYPE") ? NULL : pick_core();
  if (core) setenv("OPENBLAS_CORETYPE", core, 0);
  blas.lib = open_library();
  if (core) unsetenv("OPENBLAS_CORETYPE");
  if (!blas.lib) {
    siam_errf(blas.err, "cannot load OpenBLAS (libopenblas.so.0): %s", dlerror());
    return;
  }
  blas.chosen = core != NULL;
  blas.sgemm = (sgemm_fn)dlsym(blas.lib, "cblas_sgemm");
  *(void **)&blas.get_corename = dlsym(blas.lib, "openblas_get_corename");
  *(void **)&blas.set_num_threads = dlsym(blas.lib, "openblas_set_num_threads");
}

int siam_blas_init(char err[SIAM_ERRMAX]) {
  pthread_once(&blas.once, load);
  if (blas.sgemm) return 0;
  return siam_errf(err, "%s", blas.err);
}

/* SIAMSQL_THREADS when it is a positive number, else the online cores. */
static int default_threads(void) {
  const char *env = getenv("SIAMSQL_THREADS");
  char *end;
  long n = env ? strtol(env, &end, 10) : 0;
  if (!env || end == env || *end || n < 1) n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  return n > MAX_THREADS ? MAX_THREADS : (int)n;
}

void siam_set_threads(int n) { atomic_store(&blas.wanted, n > 0 ? (n > MAX_THREADS ? MAX_THREADS : n) : default_threads()); }

int siam_get_threads(void) {
  int n = atomic_load(&blas.wanted);
  if (n == 0) {
    int want = default_threads();
    /* First use: keep a concurrent siam_set_threads if one got there first. */
    if (!atomic_compare_exchange_strong(&blas.wanted, &n, want)) return n;
    n = want;
  }
  return n;
}

/* Tells OpenBLAS to use n threads unless it was last told so. */
static void use_threads(int n) {
  if (atomic_load_explicit(&blas.told, memory_order_relaxed) == n || !blas.set_num_threads) return;
  blas.set_num_threads(n);
  atomic_store_explicit(&blas.told, n, memory_order_relaxed);
}

void siam_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k,
                float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
  int64_t macs = (int64_t)m * n * k;
  use_threads(macs < MT_MIN_MACS ? 1 : siam_get_threads());
  blas.sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

const char *siam_blas_core(void) {
  if (!blas.sgemm) return "not loaded";
  return blas.get_corename ? blas.get_corename() : "unknown";
}

int siam_blas_core_chosen(void) { return blas.chosen; }


