/*
** blas.h — OpenBLAS, loaded on first use with the right kernels, and the
** process-wide thread count.  The encoder's dense layers run on siamsql's
** own kernel (gemm.h); OpenBLAS does the large products of similarity search
** (vecsearch.c).
**
** Debian's OpenBLAS 0.3.21 does not recognise recent CPUs and silently falls
** back to its Prescott (SSE3) kernels, about 5x slower at BERT's shapes.  The
** core type is read once, when the library initialises, from
** OPENBLAS_CORETYPE.  So siamsql does not link OpenBLAS: its first use (a
** siam_pairs search, or siam_info) picks the core type from CPUID (unless the user set OPENBLAS_CORETYPE),
** then dlopen()s the library and resolves what it needs.
*/
#ifndef SIAM_BLAS_H
#define SIAM_BLAS_H

#include <cblas.h>

#include "common.h"

/* Loads OpenBLAS (once per process; thread-safe).  Returns 0 or -1 + err. */
int siam_blas_init(char err[SIAM_ERRMAX]);

/* cblas_sgemm through the loaded library; siam_blas_init must have succeeded. */
void siam_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k,
                float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* What OpenBLAS runs: its core name ("SkylakeX", "Haswell", "Prescott"...),
** and whether siamsql chose it. */
const char *siam_blas_core(void);
int siam_blas_core_chosen(void);

/* Threads siamsql computes with.  The default is SIAMSQL_THREADS when it
** holds a positive number, else the number of online cores.
** siam_set_threads(n) sets it for the process (n <= 0 restores the default);
** it applies from the next matrix product on.
**
** No oversubscription: the encoder runs on siamsql's own pool (pool.h), one
** job at a time, and OpenBLAS (similarity search only) is told the same
** count; the two never run at once on one thread's behalf.  A product too
** small to gain from threads runs on the calling thread alone. */
void siam_set_threads(int n);
int siam_get_threads(void);

#endif
