/*
** gemm.h — the encoder's dense layers: y = x W + b on siamsql's own threads.
**
** Why not just sgemm: OpenBLAS repacks both operands on every call.  For the
** hundreds of rows of a batch that is cheap, but a 16-token query's products
** have 16 rows, and there the repacking of the weights (which do not change)
** costs as much as the arithmetic.  siam_linear reads the weights in the
** layout they were put in at load time, (in, out) row-major, with a register
** tile that streams each row of W once per block of rows of x.
**
** Every output element is one sum over k in order, so a row's result does
** not depend on how many rows are computed with it or on the thread count:
** the batched and the single-sequence paths give bit-identical embeddings.
*/
#ifndef SIAM_GEMM_H
#define SIAM_GEMM_H

/* out (M, N) = inp (M, K) w (K, N) + bias (N; NULL for none), all
** row-major and packed.  Splits the columns over the pool's threads. */
void siam_linear(float *out, const float *inp, const float *w, const float *bias, int M, int K, int N);

/* c (M, N) = a (M, K) b (K, N), with row strides ldc, lda, ldb, on the
** calling thread only: for attention's per-head products, which are
** already spread over threads by head. */
void siam_matmul(float *c, int ldc, const float *a, int lda, const float *b, int ldb, int M, int K, int N);

/* siam_matmul split over the pool's threads by columns: for the large
** products of similarity search. */
void siam_matmul_mt(float *c, int ldc, const float *a, int lda, const float *b, int ldb, int M, int K, int N);

/* 1 if siam_linear runs its AVX-512 kernel here, 0 if its portable one (a
** CPU without AVX-512, or under valgrind). */
int siam_linear_native(void);

#endif
