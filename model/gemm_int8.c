/*
** gemm_int8.c — int8 dense layers on AMX tiles, AVX512-VNNI, or plain C
** (see gemm_int8.h for the quantization, the packed layout and the choice
** of kernel).
**
** Every kernel reads the same two inputs: the packed weights with their
** scales and column sums, and the rows of x quantized into scratch
** (row-major, K padded to a multiple of 64 and M to a multiple of 16 with
** zeros: the padded weights are zero too, so padding adds nothing, and a
** tile never reads past an allocation).  The columns are split over the
** pool's threads in groups of four 16-column blocks; each thread walks its
** columns for a block of rows small enough to stay in L2 (ROW_BLOCK_BYTES),
** so the rows are read from memory once and its panel of W once per block
** of rows.  The int32 sums are exact, and every kernel turns them into
** floats with the same operations in the same order (dequantize_*), so all
** kernels give bit-identical results.
*/
#include "gemm_int8.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "common.h"
#include "cpu.h"
#include "pool.h"

#define KB 64 /* rows of W (k) per packed block: one AMX int8 tile */
#define NB 16 /* columns of W per packed block */
#define BLOCK_BYTES (KB * NB)
#define GROUP 4                     /* blocks per thread's unit of columns (64 columns) */
#define ROW_BLOCK_BYTES (256 * 1024) /* quantized rows of x walked together */
#define ROW_STEP 96                 /* rows per block: a multiple of the VNNI tile (6) and of 2 AMX tiles (32) */
#define MT_MIN_MACS (256 * 1024)    /* as gemm.c: below this, one thread */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), optimize("O3")))
#else
#define SIMD_CLONES
#endif

static size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

/* ---- the packed weights --------------------------------------------------- */

typedef struct {
  const int8_t *w;       /* (Np / NB, Kp / KB) blocks of BLOCK_BYTES */
  const float *scale;    /* (Np) s_w */
  const int32_t *colsum; /* (Np) c */
} PackedW;

static PackedW packed_view(const void *packed, int K, int N) {
  size_t Kp = round_up((size_t)K, KB), Np = round_up((size_t)N, NB);
  const char *p = packed;
  return (PackedW){(const int8_t *)p, (const float *)(p + Kp * Np), (const int32_t *)(p + Kp * Np + Np * 4)};
}

size_t siam_int8_packed_bytes(int K, int N) {
  size_t Np = round_up((size_t)N, NB);
  return round_up((size_t)K, KB) * Np + Np * sizeof(float) + Np * sizeof(int32_t);
}

/* Offset in the packed weights of W[k][n]. */
static inline size_t packed_index(size_t Kp, size_t k, size_t n) {
  size_t block = (n / NB) * (Kp / KB) + k / KB;
  return block * BLOCK_BYTES + (k % KB / 4) * (4 * NB) + (n % NB) * 4 + k % 4;
}

/* Two passes over w in its own row order (it is megabytes): the columns'
** largest magnitudes, then the bytes and their sums. */
void siam_int8_pack(void *packed, const float *w, int K, int N) {
  size_t Kp = round_up((size_t)K, KB), Np = round_up((size_t)N, NB);
  memset(packed, 0, siam_int8_packed_bytes(K, N));
  char *p = packed;
  int8_t *q = (int8_t *)p;
  float *scale = (float *)(p + Kp * Np);
  int32_t *colsum = (int32_t *)(p + Kp * Np + Np * 4);
  for (size_t k = 0; k < (size_t)K; k++)
    for (size_t n = 0; n < (size_t)N; n++) scale[n] = fmaxf(scale[n], fabsf(w[k * (size_t)N + n]));
  for (size_t n = 0; n < Np; n++) {
    scale[n] /= 127.0f;
    if (!(scale[n] > 0.0f)) scale[n] = 1.0f; /* an all-zero column (or padding): every byte 0 */
  }
  for (size_t k = 0; k < (size_t)K; k++)
    for (size_t n = 0; n < (size_t)N; n++) {
      float v = fminf(fmaxf(rintf(w[k * (size_t)N + n] / scale[n]), -127.0f), 127.0f);
      q[packed_index(Kp, k, n)] = (int8_t)v;
      colsum[n] += (int32_t)v;
    }
}

/* ---- quantizing the rows of x --------------------------------------------- */

typedef struct {
  float *out;
  const float *inp;
  PackedW W;
  const float *bias;
  int M, K, N;
  size_t Kp, Mp;
  uint8_t *a;     /* (Mp, Kp) quantized rows of inp */
  float *sx;      /* (Mp) s_x */
  int32_t *zx;    /* (Mp) z */
  SiamInt8Kernel kernel; /* the reference quantizes in plain C too */
} Int8Linear;

size_t siam_int8_scratch_bytes(int M, int K) {
  size_t Mp = round_up((size_t)M, 16);
  return Mp * round_up((size_t)K, KB) + Mp * sizeof(float) + Mp * sizeof(int32_t);
}

/* The row's range with 0 in it; 0 if a value is NaN or infinite.  min and
** max are exact, so the AVX-512 version (row_range_avx512, below) finds
** the same two values. */
static int row_range_c(const float *x, int K, float *lo_out, float *hi_out) {
  float lo = 0.0f, hi = 0.0f;
  int finite = 1;
  for (int k = 0; k < K; k++) {
    finite &= isfinite(x[k]) != 0;
    lo = x[k] < lo ? x[k] : lo;
    hi = x[k] > hi ? x[k] : hi;
  }
  *lo_out = lo;
  *hi_out = hi;
  return finite;
}

/* x / s never overflows (|x| <= hi - lo, about 255 s): the clamp only
** catches the last rounding, and ternaries vectorize where fminf does not. */
SIMD_CLONES static void quantize_values(uint8_t *restrict q, const float *restrict x, int K, float s, float z) {
  for (int k = 0; k < K; k++) {
    float v = rintf(x[k] / s) + z;
    v = v < 0.0f ? 0.0f : v;
    q[k] = (uint8_t)(v > 255.0f ? 255.0f : v);
  }
}

static int row_range_avx512(const float *x, int K, float *lo, float *hi);

static void quantize_row(const Int8Linear *L, size_t m) {
  uint8_t *q = L->a + m * L->Kp;
  const float *x = L->inp + m * (size_t)L->K;
  int K = L->K;
  float lo, hi;
  memset(q + K, 0, L->Kp - (size_t)K);
  int finite = L->kernel == SIAM_INT8_REFERENCE ? row_range_c(x, K, &lo, &hi) : row_range_avx512(x, K, &lo, &hi);
  if (!finite) { /* NaN out, as float32 would give */
    memset(q, 0, (size_t)K);
    L->sx[m] = NAN;
    L->zx[m] = 0;
    return;
  }
  float s = (hi - lo) / 255.0f;
  if (!(s > 0.0f)) s = 1.0f; /* an all-zero row */
  float z = rintf(-lo / s);
  quantize_values(q, x, K, s, z);
  L->sx[m] = s;
  L->zx[m] = (int32_t)z;
}

static void quantize_part(void *ctx, int part, int parts) {
  const Int8Linear *L = ctx;
  size_t m0 = L->Mp * part / parts, m1 = L->Mp * (part + 1) / parts;
  for (size_t m = m0; m < m1; m++) {
    if (m < (size_t)L->M) {
      quantize_row(L, m);
    } else {
      memset(L->a + m * L->Kp, 0, L->Kp);
      L->sx[m] = 1.0f;
      L->zx[m] = 0;
    }
  }
}

/* ---- from int32 sums to floats -------------------------------------------- */

/* One output: s_x s_w (acc - z c) + b, in that order of float operations.
** The subtraction wraps in unsigned arithmetic: its true value fits an
** int32 (gemm_int8.h), so the wrapped one is it. */
static inline float dequantize_one(const Int8Linear *L, size_t m, size_t n, int32_t acc) {
  int32_t dot = (int32_t)((uint32_t)acc - (uint32_t)L->zx[m] * (uint32_t)L->W.colsum[n]);
  float y = (float)dot * (L->sx[m] * L->W.scale[n]);
  return L->bias ? y + L->bias[n] : y;
}

/* ---- the reference kernel ------------------------------------------------- */

/* Rows [m0, m1) of one 16-column block, each sum in k order. */
static void reference_block(const Int8Linear *L, size_t nb, size_t m0, size_t m1) {
  const int8_t *w = L->W.w + nb * (L->Kp / KB) * BLOCK_BYTES;
  size_t n0 = nb * NB;
  for (size_t m = m0; m < m1; m++) {
    const uint8_t *a = L->a + m * L->Kp;
    int32_t acc[NB] = {0};
    for (size_t k = 0; k < L->Kp; k++) {
      const int8_t *wk = w + (k / KB) * BLOCK_BYTES + (k % KB / 4) * (4 * NB) + k % 4;
      for (int c = 0; c < NB; c++) acc[c] += (int32_t)a[k] * wk[4 * c];
    }
    for (size_t c = 0; c < NB && n0 + c < (size_t)L->N; c++)
      L->out[m * (size_t)L->N + n0 + c] = dequantize_one(L, m, n0 + c, acc[c]);
  }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#include <immintrin.h>
#define HAVE_X86 1

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vnni"), optimize("O3")))
#define AMX __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw"), optimize("O3")))
#define AVX512 __attribute__((target("avx512f"), optimize("O3")))

/* dequantize_one for 16 columns from n0 (cols of them real) of row m. */
AVX512 static inline __attribute__((always_inline)) void dequantize16(const Int8Linear *L, size_t m, size_t n0,
                                                                      int cols, __m512i acc) {
  __mmask16 mask = (__mmask16)((1u << cols) - 1);
  __m512i c = _mm512_maskz_loadu_epi32(mask, L->W.colsum + n0);
  __m512 sw = _mm512_maskz_loadu_ps(mask, L->W.scale + n0);
  __m512i dot = _mm512_sub_epi32(acc, _mm512_mullo_epi32(_mm512_set1_epi32(L->zx[m]), c));
  __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(_mm512_set1_ps(L->sx[m]), sw));
  if (L->bias) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(mask, L->bias + n0));
  _mm512_mask_storeu_ps(L->out + m * (size_t)L->N + n0, mask, y);
}

/* row_range_c with AVX-512, for the kernels that need it anyway. */
AVX512 static int row_range_avx512(const float *x, int K, float *lo_out, float *hi_out) {
  __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
  __m512i exp = _mm512_set1_epi32(0x7f800000);
  __mmask16 bad = 0;
  for (int k = 0; k < K; k += 16) {
    __mmask16 m = K - k >= 16 ? 0xFFFF : (__mmask16)((1u << (K - k)) - 1);
    __m512 v = _mm512_maskz_loadu_ps(m, x + k);
    bad |= _mm512_mask_cmpeq_epi32_mask(m, _mm512_and_si512(_mm512_castps_si512(v), exp), exp);
    lo = _mm512_min_ps(v, lo); /* v < lo ? v : lo, as row_range_c */
    hi = _mm512_max_ps(v, hi);
  }
  *lo_out = _mm512_reduce_min_ps(lo);
  *hi_out = _mm512_reduce_max_ps(hi);
  return !bad;
}

/* ---- AVX512-VNNI ------------------------------------------------------------ */

/* acc += x . b in groups of 4 bytes.  By hand: GCC 12 copies the
** accumulator to a scratch register around every _mm512_dpbusd_epi32,
** two extra moves per multiply (half the kernel's time, measured). */
#define DPBUSD(acc, x, b) __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(b))

/* R rows (R <= 6) by 4 blocks of 16 columns (fewer at the edge: C), 24
** int32 accumulators; each step one quadruple (k..k+3) of every row,
** broadcast, against 16 columns' quadruples. */
VNNI static inline __attribute__((always_inline)) void vnni_tile(const Int8Linear *L, const int R, int C, size_t m0,
                                                                  size_t nb) {
  size_t kblocks = L->Kp / KB, stride = kblocks * BLOCK_BYTES;
  const int8_t *w = L->W.w + nb * stride;
  const uint8_t *a = L->a + m0 * L->Kp;
  /* Every index into acc a constant once unrolled, so it stays in registers. */
  __m512i acc[6][GROUP];
  _Pragma("GCC unroll 6") for (int r = 0; r < R; r++) _Pragma("GCC unroll 4") for (int j = 0; j < GROUP; j++)
      acc[r][j] = _mm512_setzero_si512();
  for (size_t kb = 0; kb < kblocks; kb++) {
    const int8_t *wb = w + kb * BLOCK_BYTES;
    const uint8_t *ab = a + kb * KB;
    for (int kk = 0; kk < KB / 4; kk++) {
      __m512i b[GROUP];
      _Pragma("GCC unroll 4") for (int j = 0; j < GROUP; j++) b[j] = _mm512_loadu_si512(wb + j * stride * (j < C) + kk * 4 * NB);
      _Pragma("GCC unroll 6") for (int r = 0; r < R; r++) {
        int32_t quad;
        memcpy(&quad, ab + r * L->Kp + 4 * kk, sizeof quad);
        __m512i x = _mm512_set1_epi32(quad);
        _Pragma("GCC unroll 4") for (int j = 0; j < GROUP; j++) DPBUSD(acc[r][j], x, b[j]);
      }
    }
  }
  _Pragma("GCC unroll 4") for (int j = 0; j < GROUP; j++) {
    if (j >= C) break;
    size_t n0 = (nb + j) * NB;
    int cols = L->N - (int)n0 < NB ? L->N - (int)n0 : NB;
    _Pragma("GCC unroll 6") for (int r = 0; r < R; r++) dequantize16(L, m0 + r, n0, cols, acc[r][j]);
  }
}

#define DEFINE_VNNI_TILE(R) \
  VNNI static void vnni_tile_##R(const Int8Linear *L, int C, size_t m0, size_t nb) { vnni_tile(L, R, C, m0, nb); }
DEFINE_VNNI_TILE(1)
DEFINE_VNNI_TILE(2)
DEFINE_VNNI_TILE(3)
DEFINE_VNNI_TILE(4)
DEFINE_VNNI_TILE(5)
DEFINE_VNNI_TILE(6)
static void (*const vnni_tiles[7])(const Int8Linear *, int, size_t, size_t) = {
    NULL, vnni_tile_1, vnni_tile_2, vnni_tile_3, vnni_tile_4, vnni_tile_5, vnni_tile_6};

/* Rows [m0, m1) (m1 <= M) by blocks [nb0, nb1). */
static void vnni_rows(const Int8Linear *L, size_t nb0, size_t nb1, size_t m0, size_t m1) {
  for (size_t nb = nb0; nb < nb1; nb += GROUP) {
    int C = nb1 - nb < GROUP ? (int)(nb1 - nb) : GROUP;
    for (size_t m = m0; m < m1; m += 6) vnni_tiles[m1 - m < 6 ? m1 - m : 6](L, C, m, nb);
  }
}

/* ---- AMX-INT8 -------------------------------------------------------------- */

/* Accumulator tile t to rows [m0, m0 + 16) and columns [n0, n0 + 16). */
AMX static void amx_store(const Int8Linear *L, int32_t buf[16 * NB], size_t m0, size_t n0) {
  int cols = L->N - (int)n0 < NB ? L->N - (int)n0 : NB;
  for (size_t r = 0; r < 16 && m0 + r < (size_t)L->M; r++)
    dequantize16(L, m0 + r, n0, cols, _mm512_loadu_si512(buf + r * NB));
}

#define AMX_STORE(t, m0, n0)                      \
  do {                                            \
    int32_t buf[16 * NB];                         \
    _tile_stored(t, buf, NB * sizeof(int32_t));   \
    amx_store(L, buf, m0, n0);                    \
  } while (0)

/* Rows [m0, m0 + 16 * R) by blocks nb .. nb + C - 1 (R, C in {1, 2};
** constants once inlined, as the tile numbers must be).  Tiles 0-3 sum a
** 2 x 2 block of 16 x 16 outputs, 4-5 hold 16 rows of x (64 k each), 6-7
** two blocks of W. */
AMX static inline __attribute__((always_inline)) void amx_block(const Int8Linear *L, const int R, const int C,
                                                                 size_t m0, size_t nb) {
  size_t kblocks = L->Kp / KB, lda = L->Kp;
  const uint8_t *a = L->a + m0 * L->Kp;
  const int8_t *w0 = L->W.w + nb * kblocks * BLOCK_BYTES, *w1 = w0 + kblocks * BLOCK_BYTES;
  size_t n0 = nb * NB, n1 = n0 + NB;
  _tile_zero(0);
  if (C == 2) _tile_zero(1);
  if (R == 2) _tile_zero(2);
  if (R == 2 && C == 2) _tile_zero(3);
  for (size_t kb = 0; kb < kblocks; kb++) {
    _tile_loadd(4, a + kb * KB, lda);
    _tile_loadd(6, w0 + kb * BLOCK_BYTES, 4 * NB);
    if (C == 2) _tile_loadd(7, w1 + kb * BLOCK_BYTES, 4 * NB);
    if (R == 2) _tile_loadd(5, a + 16 * L->Kp + kb * KB, lda);
    _tile_dpbusd(0, 4, 6);
    if (C == 2) _tile_dpbusd(1, 4, 7);
    if (R == 2) _tile_dpbusd(2, 5, 6);
    if (R == 2 && C == 2) _tile_dpbusd(3, 5, 7);
  }
  AMX_STORE(0, m0, n0);
  if (C == 2) AMX_STORE(1, m0, n1);
  if (R == 2) AMX_STORE(2, m0 + 16, n0);
  if (R == 2 && C == 2) AMX_STORE(3, m0 + 16, n1);
}

/* Rows [m0, m1) (multiples of 16, m1 <= Mp) by blocks [nb0, nb1). */
AMX static void amx_rows(const Int8Linear *L, size_t nb0, size_t nb1, size_t m0, size_t m1) {
  for (size_t nb = nb0; nb < nb1; nb += 2) {
    int pair = nb + 1 < nb1;
    size_t m = m0;
    for (; m + 32 <= m1; m += 32) {
      if (pair) amx_block(L, 2, 2, m, nb);
      else amx_block(L, 2, 1, m, nb);
    }
    for (; m < m1; m += 16) {
      if (pair) amx_block(L, 1, 2, m, nb);
      else amx_block(L, 1, 1, m, nb);
    }
  }
}

#else
#define HAVE_X86 0
static int row_range_avx512(const float *x, int K, float *lo, float *hi) { return row_range_c(x, K, lo, hi); }
static void vnni_rows(const Int8Linear *L, size_t nb0, size_t nb1, size_t m0, size_t m1) {
  (void)L, (void)nb0, (void)nb1, (void)m0, (void)m1;
}
static void amx_rows(const Int8Linear *L, size_t nb0, size_t nb1, size_t m0, size_t m1) {
  (void)L, (void)nb0, (void)nb1, (void)m0, (void)m1;
}
#endif

/* ---- choosing a kernel, and the threads ------------------------------------ */

/* 1 if kernel k gives the reference's bytes on a product with ragged
** edges.  Run for AMX once, before it is first used: this kernel was
** written beside the AMX-BF16 one, which ran on a Xeon, but was built on an
** AMD CPU without tiles, where its tests are skipped; should it differ from
** the reference on a CPU that has them, int8 runs on VNNI instead of
** silently giving other numbers. */
static int kernel_agrees(SiamInt8Kernel k) {
  enum { M = 35, K = 130, N = 50 };
  size_t packed_bytes = siam_int8_packed_bytes(K, N), scratch_bytes = siam_int8_scratch_bytes(M, K);
  float *x = siam_malloc(sizeof(float) * (M * K + K * N + N + 2 * M * N));
  void *packed = siam_malloc_big(packed_bytes), *scratch = siam_malloc_big(scratch_bytes);
  int agrees = 0;
  if (x && packed && scratch) {
    float *w = x + M * K, *bias = w + K * N, *want = bias + N, *got = want + M * N;
    uint32_t r = 12345;
    for (int i = 0; i < M * K + K * N + N; i++) {
      r = r * 1103515245u + 12345u;
      x[i] = (float)((r >> 9) & 0xffff) / 32768.0f - 1.0f;
    }
    siam_int8_pack(packed, w, K, N);
    siam_linear_int8_with(SIAM_INT8_REFERENCE, want, x, packed, bias, M, K, N, scratch);
    siam_linear_int8_with(k, got, x, packed, bias, M, K, N, scratch);
    agrees = memcmp(want, got, sizeof(float) * M * N) == 0;
  }
  siam_free(x);
  siam_free(packed);
  siam_free(scratch);
  return agrees;
}

int siam_int8_kernel_available(SiamInt8Kernel k) {
  static atomic_int amx = -1; /* decided once; threads that race compute the same value */
  switch (k) {
  case SIAM_INT8_AMX:
    if (atomic_load_explicit(&amx, memory_order_relaxed) < 0)
      atomic_store_explicit(&amx, HAVE_X86 && siam_cpu_has(SIAM_CPU_AMX_INT8) && kernel_agrees(SIAM_INT8_AMX), memory_order_relaxed);
    return atomic_load_explicit(&amx, memory_order_relaxed);
  case SIAM_INT8_VNNI: return HAVE_X86 && siam_cpu_has(SIAM_CPU_AVX512VNNI) && siam_cpu_has(SIAM_CPU_AVX512F);
  default: return 1;
  }
}

SiamInt8Kernel siam_int8_kernel(void) {
  if (siam_int8_kernel_available(SIAM_INT8_AMX)) return SIAM_INT8_AMX;
  if (siam_int8_kernel_available(SIAM_INT8_VNNI)) return SIAM_INT8_VNNI;
  return SIAM_INT8_REFERENCE;
}

const char *siam_int8_kernel_name(SiamInt8Kernel k) {
  return k == SIAM_INT8_AMX ? "amx" : k == SIAM_INT8_VNNI ? "avx512vnni" : "reference";
}

static void linear_part(void *ctx, int part, int parts) {
  const Int8Linear *L = ctx;
  size_t blocks = round_up((size_t)L->N, NB) / NB, groups = (blocks + GROUP - 1) / GROUP;
  size_t nb0 = GROUP * (groups * part / parts), nb1 = GROUP * (groups * (part + 1) / parts);
  if (nb1 > blocks) nb1 = blocks;
  size_t rows = ROW_BLOCK_BYTES / L->Kp / ROW_STEP * ROW_STEP;
  if (rows < ROW_STEP) rows = ROW_STEP;
  if (L->kernel == SIAM_INT8_AMX) siam_amx_configure();
  for (size_t m0 = 0; m0 < L->Mp; m0 += rows) {
    size_t m1 = L->Mp - m0 < rows ? L->Mp : m0 + rows, m1_real = m1 < (size_t)L->M ? m1 : (size_t)L->M;
    switch (L->kernel) {
    case SIAM_INT8_AMX: amx_rows(L, nb0, nb1, m0, m1); break;
    case SIAM_INT8_VNNI: vnni_rows(L, nb0, nb1, m0, m1_real); break;
    default:
      for (size_t nb = nb0; nb < nb1; nb++) reference_block(L, nb, m0, m1_real);
      break;
    }
  }
  if (L->kernel == SIAM_INT8_AMX) siam_amx_release();
}

void siam_linear_int8_with(SiamInt8Kernel k, float *out, const float *inp, const void *packed, const float *bias,
                           int M, int K, int N, void *scratch) {
  size_t Kp = round_up((size_t)K, KB), Mp = round_up((size_t)M, 16);
  char *s = scratch;
  if (!HAVE_X86) k = SIAM_INT8_REFERENCE;
  Int8Linear L = {out, inp, packed_view(packed, K, N), bias, M, K, N, Kp, Mp,
                  (uint8_t *)s, (float *)(s + Mp * Kp), (int32_t *)(s + Mp * Kp + Mp * sizeof(float)), k};
  long long macs = (long long)M * K * N;
  int wide = macs >= MT_MIN_MACS;
  siam_pool_run(quantize_part, &L, wide ? (int)Mp : 1);
  size_t groups = (round_up((size_t)N, NB) / NB + GROUP - 1) / GROUP;
  siam_pool_run(linear_part, &L, wide ? (int)groups : 1);
}

void siam_linear_int8(float *out, const float *inp, const void *packed, const float *bias, int M, int K, int N,
                      void *scratch) {
  siam_linear_int8_with(siam_int8_kernel(), out, inp, packed, bias, M, K, N, scratch);
}
