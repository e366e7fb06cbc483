/*
** gemm_bf16.h — the dense layers in bfloat16: y = x W + b with x and W
** rounded to bf16 (round to nearest even) and the products summed in
** float32, as torch.autocast(dtype=torch.bfloat16) computes nn.Linear.
**
** The weights are rounded and packed once, at load time, into the layout
** the AMX tiles read: blocks of 32 rows of W (k) by 16 columns (n), each
** block 16 rows of 16 (k, k + 1) pairs, 1 KB.  Three kernels read that
** layout, chosen from CPUID at run time:
**
**   amx         AMX-BF16 tiles (TDPBF16PS), 2 x 2 tiles of 16 x 16 outputs
**   avx512bf16  AVX512-BF16 (VDPBF16PS), for CPUs without AMX
**   reference   plain C, one in-order float32 sum per output: the oracle the
**               tests hold the others to, and the path for any other CPU
**
** A product of two bf16 values is exact in float32, so the kernels differ
** only in the order of the float32 sums.
*/
#ifndef SIAM_GEMM_BF16_H
#define SIAM_GEMM_BF16_H

#include <stddef.h>
#include <stdint.h>

typedef enum { SIAM_BF16_REFERENCE = 0, SIAM_BF16_AVX512, SIAM_BF16_AMX } SiamBf16Kernel;

/* The best kernel this CPU (and kernel: AMX needs arch_prctl permission)
** runs; SIAMSQL_KERNEL=portable forces the reference, =avx512bf16 the
** AVX512-BF16 kernel where it runs.  Decided once per process. */
SiamBf16Kernel siam_bf16_kernel(void);

/* 1 if kernel k runs on this CPU. */
int siam_bf16_kernel_available(SiamBf16Kernel k);

const char *siam_bf16_kernel_name(SiamBf16Kernel k);

/* x rounded to bfloat16, to nearest even (NaN stays NaN). */
uint16_t siam_bf16_round(float x);

/* uint16 elements of W (K, N) packed, with K rounded up to 32 and N to 16. */
size_t siam_bf16_packed_elems(int K, int N);

/* Rounds w (K, N, row-major float32) to bf16 into packed
** (siam_bf16_packed_elems(K, N) elements). */
void siam_bf16_pack(uint16_t *packed, const float *w, int K, int N);

/* uint16 elements of scratch siam_linear_bf16 needs for M rows of K. */
size_t siam_bf16_scratch_elems(int M, int K);

/* out (M, N) = bf16(inp (M, K)) packed + bias (N floats, or NULL), on the
** pool's threads with siam_bf16_kernel().  scratch holds the rounded rows
** of inp (siam_bf16_scratch_elems(M, K) elements). */
void siam_linear_bf16(float *out, const float *inp, const uint16_t *packed, const float *bias, int M, int K, int N,
                      uint16_t *scratch);

/* The same with kernel k, which must be available (for the tests). */
void siam_linear_bf16_with(SiamBf16Kernel k, float *out, const float *inp, const uint16_t *packed, const float *bias,
                           int M, int K, int N, uint16_t *scratch);

#endif
