/*
** gemm_int8.h — the dense layers in 8-bit integers: y = x W + b with W
** quantized per output column and x per row, the products summed exactly
** in int32, as ONNX Runtime's and oneDNN's dynamic quantization do.
**
**   W:  s_w[n] = max_k |W[k][n]| / 127, w[k][n] = round(W[k][n] / s_w[n]),
**       a signed byte in -127..127: per column (per output channel), at load.
**   x:  lo = min(0, min_k x[m][k]), hi = max(0, max_k x[m][k]),
**       s_x[m] = (hi - lo) / 255, z[m] = round(-lo / s_x[m]),
**       q[m][k] = clamp(round(x[m][k] / s_x[m]) + z[m], 0, 255): an
**       unsigned byte per value and a scale and zero point per row (the
**       whole 0..255 range, even for a row that is mostly positive, as
**       GELU's output is), at every call.
**   y[m][n] = s_x[m] s_w[n] (sum_k q[m][k] w[k][n] - z[m] c[n]) + b[n],
**       with c[n] = sum_k w[k][n] kept beside the weights.
**
** All of it in float32 with round to nearest even; the int32 sum is exact
** (at most 255 * 127 * K in magnitude: below 2^31 for every K up to 65536,
** config.c's largest width), so the kernels give identical results.
**
** The weights are packed once, at load time, into the layout both the
** AVX512-VNNI and the AMX-INT8 instructions read: blocks of 64 rows of W (k)
** by 16 columns (n), each block 16 rows of 16 (k..k+3) quadruples, 1 KB.
** Kernels, chosen from CPUID at run time:
**
**   amx          AMX-INT8 tiles (TDPBUSD), 2 x 2 tiles of 16 x 16 outputs;
**                used only once it has matched the reference on a test
**                product in this process (written beside the AMX-BF16
**                kernel, it has not yet run on a CPU with tiles)
**   avx512vnni   AVX512-VNNI (VPDPBUSD), 6 rows by 64 columns of int32 sums
**   reference    plain C, the oracle the tests hold the others to, and the
**                path for any other CPU
*/
#ifndef SIAM_GEMM_INT8_H
#define SIAM_GEMM_INT8_H

#include <stddef.h>
#include <stdint.h>

typedef enum { SIAM_INT8_REFERENCE = 0, SIAM_INT8_VNNI, SIAM_INT8_AMX } SiamInt8Kernel;

/* The best kernel this CPU (and kernel: AMX needs arch_prctl permission)
** runs; SIAMSQL_KERNEL=portable forces the reference, =avx512vnni the VNNI
** kernel where it runs.  Decided once per process. */
SiamInt8Kernel siam_int8_kernel(void);

/* 1 if kernel k runs on this CPU. */
int siam_int8_kernel_available(SiamInt8Kernel k);

const char *siam_int8_kernel_name(SiamInt8Kernel k);

/* Bytes of W (K, N) packed: the weight bytes (K rounded up to 64, N to 16),
** then N rounded up to 16 float scales and as many int32 column sums. */
size_t siam_int8_packed_bytes(int K, int N);

/* Quantizes w (K, N, row-major float32, every value finite) into packed
** (siam_int8_packed_bytes(K, N) bytes, 64-byte aligned). */
void siam_int8_pack(void *packed, const float *w, int K, int N);

/* Bytes of scratch siam_linear_int8 needs for M rows of K (the quantized
** rows, their scales and zero points). */
size_t siam_int8_scratch_bytes(int M, int K);

/* out (M, N) = x (M, K) W + bias (N floats, or NULL), quantized as above,
** on the pool's threads with siam_int8_kernel().  scratch: 64-byte aligned,
** siam_int8_scratch_bytes(M, K) bytes.  A row of x holding a NaN or an
** infinity gives a row of NaN, as float32 arithmetic would. */
void siam_linear_int8(float *out, const float *inp, const void *packed, const float *bias, int M, int K, int N,
                      void *scratch);

/* The same with kernel k, which must be available (for the tests). */
void siam_linear_int8_with(SiamInt8Kernel k, float *out, const float *inp, const void *packed, const float *bias,
                           int M, int K, int N, void *scratch);

#endif
