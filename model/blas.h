/*
** blas.h — OpenBLAS, loaded on first use with the right kernels.
**
** Debian's OpenBLAS 0.3.21 does not recognise recent CPUs and silently falls
** back to its Prescott (SSE3) kernels, about 5x slower at BERT's shapes.  The
** core type is read once, when the library initialises, from
** OPENBLAS_CORETYPE.  So siamsql does not link OpenBLAS: the first model load
** picks the core type from CPUID (unless the user set OPENBLAS_CORETYPE),
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
** whether siamsql chose it, and its thread count. */
const char *siam_blas_core(void);
int siam_blas_core_chosen(void);
int siam_blas_threads(void);
void siam_blas_set_threads(int n);

#endif
