/*
** gemm_bf16.c — bf16 dense layers on AMX tiles, AVX512-BF16, or plain C
** (see gemm_bf16.h for the packed layout and the choice of kernel).
**
** Every kernel reads the same two inputs: the packed weights, and the rows
** of x rounded to bf16 into scratch (row-major, K padded to a multiple of 32
** and M to a multiple of 16 with zeros, so that a tile never reads past an
** allocation or picks up garbage).  The columns are split over the pool's
** threads in pairs of 16-column blocks; each thread walks its columns for a
** block of rows small enough to stay in L2 (ROW_BLOCK_BYTES), so the rows
** are read from memory once and its panel of W once per block of rows.
*/
#include "gemm_bf16.h"

#include <string.h>

#include "common.h"
#include "cpu.h"
#include "pool.h"

#define KB 32 /* rows of W (k) per packed block: one AMX bf16 tile */
#define NB 16 /* columns of W per packed block */
#define BLOCK_ELEMS (KB * NB)
#define ROW_BLOCK_BYTES (256 * 1024)
#define MT_MIN_MACS (256 * 1024) /* as gemm.c: below this, one thread */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), optimize("O3")))
#else
#define SIMD_CLONES
#endif

static size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

uint16_t siam_bf16_round(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* NaN: keep it quiet */
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

static inline float float_of_bf16(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

size_t siam_bf16_packed_elems(int K, int N) { return round_up((size_t)K, KB) * round_up((size_t)N, NB); }

size_t siam_bf16_scratch_elems(int M, int K) { return round_up((size_t)M, 16) * round_up((size_t)K, KB); }

/* Offset in the packed weights of W[k][n]. */
static inline size_t packed_index(size_t Kp, size_t k, size_t n) {
  size_t block = (n / NB) * (Kp / KB) + k / KB;
  return block * BLOCK_ELEMS + (k % KB / 2) * (2 * NB) + (n % NB) * 2 + k % 2;
}

void siam_bf16_pack(uint16_t *packed, const float *w, int K, int N) {
  size_t Kp = round_up((size_t)K, KB);
  memset(packed, 0, siam_bf16_packed_elems(K, N) * sizeof *packed);
  for (size_t k = 0; k < (size_t)K; k++)
    for (size_t n = 0; n < (size_t)N; n++) packed[packed_index(Kp, k, n)] = siam_bf16_round(w[k * (size_t)N + n]);
}

/* ---- rounding the rows of x ---------------------------------------------- */

typedef struct {
  float *out;
  const float *inp;
  const uint16_t *w;
  const float *bias;
  int M, K, N;
  size_t Kp, Mp;
  uint16_t *a; /* (Mp, Kp) bf16 rows of inp */
} Bf16Linear;

/* The same rounding as siam_bf16_round, written so that it vectorizes. */
SIMD_CLONES static void round_row(uint16_t *restrict dst, const float *restrict src, int n) {
  for (int i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &src[i], sizeof u);
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1)) >> 16;
    dst[i] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40 : r);
  }
}

static void round_part(void *ctx, int part, int parts) {
  const Bf16Linear *L = ctx;
  size_t m0 = L->Mp * part / parts, m1 = L->Mp * (part + 1) / parts;
  for (size_t m = m0; m < m1; m++) {
    uint16_t *row = L->a + m * L->Kp;
    size_t valid = m < (size_t)L->M ? (size_t)L->K : 0;
    if (valid) round_row(row, L->inp + m * (size_t)L->K, L->K);
    memset(row + valid, 0, (L->Kp - valid) * sizeof *row);
  }
}

/* ---- the reference kernel ------------------------------------------------ */

/* Rows [m0, m1) of one 16-column block: each output one in-order sum. */
SIMD_CLONES static void reference_block(const Bf16Linear *L, size_t nb, size_t m0, size_t m1) {
  const uint16_t *w = L->w + nb * (L->Kp / KB) * BLOCK_ELEMS;
  for (size_t m = m0; m < m1; m++) {
    const uint16_t *a = L->a + m * L->Kp;
    float acc[NB] = {0};
    for (size_t k = 0; k < L->Kp; k++) {
      const uint16_t *wk = w + (k / KB) * BLOCK_ELEMS + (k % KB / 2) * (2 * NB) + k % 2;
      float ak = float_of_bf16(a[k]);
      for (int c = 0; c < NB; c++) acc[c] += ak * float_of_bf16(wk[2 * c]);
    }
    size_t n0 = nb * NB;
    for (size_t c = 0; c < NB && n0 + c < (size_t)L->N; c++)
      L->out[m * (size_t)L->N + n0 + c] = L->bias ? acc[c] + L->bias[n0 + c] : acc[c];
  }
}

/* ---- AMX ----------------------------------------------------------------- */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#include <immintrin.h>
#define HAVE_X86 1

#define AMX __attribute__((target("amx-tile,amx-bf16,avx512f"), optimize("O3")))
#define AVX512BF16 __attribute__((target("avx512f,avx512bf16"), optimize("O3")))

/* Accumulator tile t starts as the bias of columns [n0, n0 + 16), every row
** (a load with stride 0), or zero. */
#define AMX_INIT(t, n0)                                                  \
  do {                                                                   \
    if (!L->bias) {                                                      \
      _tile_zero(t);                                                     \
    } else if ((n0) + NB <= (size_t)L->N) {                              \
      _tile_loadd(t, L->bias + (n0), 0);                                 \
    } else {                                                             \
      float edge[NB] = {0};                                              \
      memcpy(edge, L->bias + (n0), (L->N - (n0)) * sizeof *edge);        \
      _tile_loadd(t, edge, 0);                                           \
    }                                                                    \
  } while (0)

/* Accumulator tile t to rows [m0, m0 + 16) and columns [n0, n0 + 16) of out,
** through a buffer where the tile overhangs the output's edge. */
#define AMX_STORE(t, m0, n0)                                                      \
  do {                                                                            \
    if ((m0) + 16 <= (size_t)L->M && (n0) + NB <= (size_t)L->N) {                 \
      _tile_stored(t, L->out + (m0) * (size_t)L->N + (n0), L->N * sizeof(float)); \
    } else {                                                                      \
      float buf[16 * NB];                                                         \
      _tile_stored(t, buf, NB * sizeof(float));                                   \
      store_edge(L, buf, m0, n0);                                                 \
    }                                                                             \
  } while (0)

static void store_edge(const Bf16Linear *L, const float *buf, size_t m0, size_t n0) {
  size_t rows = (size_t)L->M - m0 < 16 ? (size_t)L->M - m0 : 16;
  size_t cols = (size_t)L->N - n0 < NB ? (size_t)L->N - n0 : NB;
  for (size_t r = 0; r < rows; r++) memcpy(L->out + (m0 + r) * (size_t)L->N + n0, buf + r * NB, cols * sizeof *buf);
}

/* Rows [m0, m0 + 16 * R) by columns of blocks nb .. nb + C - 1 (R, C in {1, 2};
** constants once inlined, as the tile numbers must be). */
AMX static inline __attribute__((always_inline)) void amx_block(const Bf16Linear *L, const int R, const int C,
                                                                 size_t m0, size_t nb) {
  size_t kblocks = L->Kp / KB, lda = L->Kp * sizeof(uint16_t);
  const uint16_t *a = L->a + m0 * L->Kp;
  const uint16_t *w0 = L->w + nb * kblocks * BLOCK_ELEMS, *w1 = w0 + kblocks * BLOCK_ELEMS;
  size_t n0 = nb * NB, n1 = n0 + NB;
  AMX_INIT(0, n0);
  if (C == 2) AMX_INIT(1, n1);
  if (R == 2) AMX_INIT(2, n0);
  if (R == 2 && C == 2) AMX_INIT(3, n1);
  for (size_t kb = 0; kb < kblocks; kb++) {
    _tile_loadd(4, a + kb * KB, lda);
    _tile_loadd(6, w0 + kb * BLOCK_ELEMS, 2 * NB * sizeof(uint16_t));
    if (C == 2) _tile_loadd(7, w1 + kb * BLOCK_ELEMS, 2 * NB * sizeof(uint16_t));
    if (R == 2) _tile_loadd(5, a + 16 * L->Kp + kb * KB, lda);
    _tile_dpbf16ps(0, 4, 6);
    if (C == 2) _tile_dpbf16ps(1, 4, 7);
    if (R == 2) _tile_dpbf16ps(2, 5, 6);
    if (R == 2 && C == 2) _tile_dpbf16ps(3, 5, 7);
  }
  AMX_STORE(0, m0, n0);
  if (C == 2) AMX_STORE(1, m0, n1);
  if (R == 2) AMX_STORE(2, m0 + 16, n0);
  if (R == 2 && C == 2) AMX_STORE(3, m0 + 16, n1);
}

AMX static void amx_rows(const Bf16Linear *L, size_t nb0, size_t nb1, size_t m0, size_t m1) {
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


/* ---- AVX512-BF16 --------------------------------------------------------- */

/* acc += x . b in pairs.  By hand: GCC 12 copies the accumulator to a
** scratch register around every _mm512_dpbf16_ps. */
#define DPBF16(acc, x, b) __asm__("vdpbf16ps %2, %1, %0" : "+v"(acc) : "v"(x), "v"(b))

/* R rows (R <= 6) by 4 blocks of 16 columns (fewer at the edge: C), 24
** accumulators; each step one pair (k, k + 1) of every row, broadcast. */
AVX512BF16 static inline __attribute__((always_inline)) void dp_tile(const Bf16Linear *L, const int R, int C,
                                                                      size_t m0, size_t nb) {
  size_t kblocks = L->Kp / KB, stride = kblocks * BLOCK_ELEMS;
  const uint16_t *w = L->w + nb * stride;
  /* Every index into acc a constant once unrolled, so it stays in registers. */
  __m512 acc[6][4];
  _Pragma("GCC unroll 6") for (int r = 0; r < R; r++) _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++)
      acc[r][j] = _mm512_setzero_ps();
  for (size_t kb = 0; kb < kblocks; kb++) {
    const uint16_t *wb = w + kb * BLOCK_ELEMS;
    for (int kk = 0; kk < KB / 2; kk++) {
      __m512bh b[4];
      _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++)
        b[j] = (__m512bh)_mm512_loadu_si512(wb + j * stride * (j < C) + kk * 2 * NB);
      _Pragma("GCC unroll 6") for (int r = 0; r < R; r++) {
        int32_t pair;
        memcpy(&pair, L->a + (m0 + r) * L->Kp + kb * KB + 2 * kk, sizeof pair);
        __m512bh x = (__m512bh)_mm512_set1_epi32(pair);
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) DPBF16(acc[r][j], x, b[j]);
      }
    }
  }
  _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
    if (j >= C) break;
    size_t n0 = (nb + j) * NB;
    int cols = L->N - (int)n0 < NB ? L->N - (int)n0 : NB;
    __mmask16 mask = (__mmask16)((1u << cols) - 1);
    __m512 bias = L->bias ? _mm512_maskz_loadu_ps(mask, L->bias + n0) : _mm512_setzero_ps();
    _Pragma("GCC unroll 6") for (int r = 0; r < R; r++)
      if (m0 + r < (size_t)L->M)
        _mm512_mask_storeu_ps(L->out + (m0 + r) * (size_t)L->N + n0, mask, _mm512_add_ps(acc[r][j], bias));
  }
}

#define DEFINE_DP_TILE(R) \
  AVX512BF16 static void dp_tile_##R(const Bf16Linear *L, int C, size_t m0, size_t nb) { dp_tile(L, R, C, m0, nb); }
DEFINE_DP_TILE(1)
DEFINE_DP_TILE(2)
DEFINE_DP_TILE(3)
DEFINE_DP_TILE(4)
DEFINE_DP_TILE(5)
DEFINE_DP_TILE(6)
static void (*const dp_tiles[7])(const Bf16Linear *, int, size_t, size_t) = {
    NULL, dp_tile_1, dp_tile_2, dp_tile_3, dp_tile_4, dp_tile_5, dp_tile_6};

static void avx512_rows(const Bf16Linear *L, size_t nb0, size_t nb1, size_t m0, size_t m1) {
  for (size_t nb = nb0; nb < nb1; nb += 4) {
    int C = nb1 - nb < 4 ? (int)(nb1 - nb) : 4;
    for (size_t m = m0; m < m1; m += 6) dp_tiles[m1 - m < 6 ? m1 - m : 6](L, C, m, nb);
  }
}

#else
#define HAVE_X86 0
static void amx_rows(const Bf16Linear *L, size_t nb0, size_t nb1, size_t m0, size_t m1) {
  (void)L, (void)nb0, (void)nb1, (void)m0, (void)m1;
}
static void avx512_rows(const Bf16Linear *L, size_t nb0, size_t nb1, size_t m0, size_t m1) {
  (void)L, (void)nb0, (void)nb1, (void)m0, (void)m1;
}
#endif

/* ---- choosing a kernel, and the threads ---------------------------------- */

int siam_bf16_kernel_available(SiamBf16Kernel k) {
  switch (k) {
  case SIAM_BF16_AMX: return HAVE_X86 && siam_cpu_has(SIAM_CPU_AMX_BF16);
  case SIAM_BF16_AVX512: return HAVE_X86 && siam_cpu_has(SIAM_CPU_AVX512BF16);
  default: return 1;
  }
}

SiamBf16Kernel siam_bf16_kernel(void) {
  if (siam_bf16_kernel_available(SIAM_BF16_AMX)) return SIAM_BF16_AMX;
  if (siam_bf16_kernel_available(SIAM_BF16_AVX512)) return SIAM_BF16_AVX512;
  return SIAM_BF16_REFERENCE;
}

const char *siam_bf16_kernel_name(SiamBf16Kernel k) {
  return k == SIAM_BF16_AMX ? "amx" : k == SIAM_BF16_AVX512 ? "avx512bf16" : "reference";
}

typedef struct {
  const Bf16Linear *L;
  SiamBf16Kernel kernel;
} Bf16Job;

static void linear_part(void *ctx, int part, int parts) {
  const Bf16Job *job = ctx;
  const Bf16Linear *L = job->L;
  /* Columns in pairs of blocks, so that every AMX step but the last column
  ** feeds two accumulators from each tile of x. */
  size_t blocks = round_up((size_t)L->N, NB) / NB, pairs = (blocks + 1) / 2;
  size_t nb0 = 2 * (pairs * part / parts), nb1 = 2 * (pairs * (part + 1) / parts);
  if (nb1 > blocks) nb1 = blocks;
  size_t rows = ROW_BLOCK_BYTES / (L->Kp * sizeof(uint16_t)) / 32 * 32;
  if (rows < 32) rows = 32;
  if (job->kernel == SIAM_BF16_AMX) siam_amx_configure();
  for (size_t m0 = 0; m0 < L->Mp; m0 += rows) {
    size_t m1 = L->Mp - m0 < rows ? L->Mp : m0 + rows;
    switch (job->kernel) {
    case SIAM_BF16_AMX: amx_rows(L, nb0, nb1, m0, m1); break;
    case SIAM_BF16_AVX512: avx512_rows(L, nb0, nb1, m0, m1 < (size_t)L->M ? m1 : (size_t)L->M); break;
    default:
      for (size_t nb = nb0; nb < nb1; nb++) reference_block(L, nb, m0, m1 < (size_t)L->M ? m1 : (size_t)L->M);
      break;
    }
  }
  if (job->kernel == SIAM_BF16_AMX) siam_amx_release();
}

void siam_linear_bf16_with(SiamBf16Kernel k, float *out, const float *inp, const uint16_t *packed, const float *bias,
                           int M, int K, int N, uint16_t *scratch) {
  Bf16Linear L = {out, inp, packed, bias, M, K, N, round_up((size_t)K, KB), round_up((size_t)M, 16), scratch};
  long long macs = (long long)M * K * N;
  int wide = macs >= MT_MIN_MACS;
  siam_pool_run(round_part, &L, wide ? (int)L.Mp : 1);
  Bf16Job job = {&L, HAVE_X86 ? k : SIAM_BF16_REFERENCE};
  siam_pool_run(linear_part, &job, wide ? (int)((L.Mp ? round_up((size_t)N, 2 * NB) / (2 * NB) : 1)) : 1);
}

void siam_linear_bf16(float *out, const float *inp, const uint16_t *packed, const float *bias, int M, int K, int N,
                      uint16_t *scratch) {
  siam_linear_bf16_with(siam_bf16_kernel(), out, inp, packed, bias, M, K, N, scratch);
}
