/*
** gemm.c — y = x W + b with a register-tiled AVX-512 kernel (see gemm.h).
**
** The tile is MR rows of x by NR columns of W: MR * NR / 16 accumulators in
** zmm registers.  For each k it loads NR floats of row k of W (contiguous:
** W is (K, N) row-major) and broadcasts x[m][k] for each of the MR rows.
** The columns are cut into panels of NR, split over the pool's threads; each
** thread walks its panels block of rows by block of rows, so a panel of W
** stays in L2 while the rows of x pass over it, and x is taken in blocks of
** about 256 KB (X_BLOCK_FLOATS) so those rows stay in L2 as well.  Where a
** whole panel (K * NR floats: 768 KB at K = 3072) would crowd L2, K is cut
** into blocks of a quarter of L2 (k_block_for); a block's sums are stored
** and picked up again by the next, so every sum keeps its order.
**
** On a CPU without AVX-512 a portable kernel (GCC vectors, AVX2 or SSE)
** does the same work in the same order of operations.
*/
#include "gemm.h"

#include <string.h>

#include "cpu.h"
#include "pool.h"

#define MR 6  /* rows per register tile */
#define NR 64 /* columns per register tile: four zmm */
#define MR_NARROW 12 /* rows per tile of a panel of at most 32 columns: two zmm a row */
/* How W is read, by the number of rows of x.  Many rows: each tile runs
** over K, or a block of it (k_block_for), prefetching W 16 rows ahead.  Few rows (a short query):
** the product is limited by reading W from memory, so K is cut into blocks
** of 128 rows and every tile prefetches the next block, so that memory
** streams the next block while the other tiles of this one compute. */
#define FEW_ROWS 64
#define FEW_ROWS_K_BLOCK 128
#define PREFETCH_ROWS 16
#define X_BLOCK_FLOATS (64 * 1024) /* rows of x per block: about 256 KB of them */

typedef struct {
  float *out;
  const float *inp, *w, *bias;
  int M, K, N;
  size_t ldo, ldi, ldw; /* row strides of out, inp and w */
  int k_block;          /* rows of W a tile runs over at once, many rows of x */
} Linear;

/* K, or a block of it whose panel of W (k_block * NR floats) takes a
** quarter of this CPU's L2 (1024 rows on a 1 MB L2, 2048 on 2 MB): measured
** on an AMD Zen 5 (1 MB), K = 3072 ran at 235-245 GFLOP/s whole and 320-330
** in blocks of 512 or 1024. */
static int k_block_for(int K) {
  long rows = siam_cpu_l2_bytes() / 4 / (NR * (long)sizeof(float)) / 64 * 64;
  if (rows < 256) rows = 256;
  return K <= rows ? K : (int)rows;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_NATIVE 1

#if defined(__clang__)
#define AVX512 __attribute__((target("avx512f")))
#else
#define AVX512 __attribute__((target("avx512f"), optimize("O3")))
#endif

/* One tile of out: R rows by NV zmm of columns, R and NV constants once
** inlined, so the loops unroll and the accumulators stay in registers.
** NV = 4 (a panel of NR columns) with R <= MR, or NV = 2 (a panel of at
** most 32 columns: attention's p v, N = head size 32) with R <= MR_NARROW,
** so that all 24 accumulators do work.  m0..m3 select the columns of each
** group of 16 that exist (all of them but at the edge). */
AVX512 static inline __attribute__((always_inline)) void tile(const int R, const int NV, const int full, float *out,
                                                               size_t ldo, const float *x, size_t ldx, const float *w,
                                                               size_t ldw, const float *bias, int K, int rows_left,
                                                               int ahead_rows, int first, __mmask16 m0, __mmask16 m1,
                                                               __mmask16 m2, __mmask16 m3) {
  const __mmask16 mask[4] = {m0, m1, m2, m3};
  __m512 acc[MR_NARROW][4];
  _Pragma("GCC unroll 12") for (int r = 0; r < R; r++) _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)
      acc[r][j] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask[j], out + r * ldo + 16 * j);
#define TILE_STEP(k)                                                                                     \
  do {                                                                                                   \
    const float *wk = w + (size_t)(k) * ldw;                                                             \
    __m512 wv[4];                                                                                        \
    _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++)                                                 \
        wv[j] = full ? _mm512_loadu_ps(wk + 16 * j) : _mm512_maskz_loadu_ps(mask[j], wk + 16 * j);      \
    _Pragma("GCC unroll 12") for (int r = 0; r < R; r++) {                                               \
      __m512 a = _mm512_set1_ps(x[r * ldx + (k)]);                                                       \
      _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) acc[r][j] = _mm512_fmadd_ps(a, wv[j], acc[r][j]); \
    }                                                                                                    \
  } while (0)
  int k = 0;
  for (; k < K && k < rows_left - ahead_rows; k++) {
    const char *ahead = (const char *)(w + (size_t)(k + ahead_rows) * ldw);
    _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) _mm_prefetch(ahead + 64 * j, _MM_HINT_T1);
    TILE_STEP(k);
  }
  for (; k < K; k++) TILE_STEP(k);
#undef TILE_STEP
  _Pragma("GCC unroll 4") for (int j = 0; j < NV; j++) {
    __m512 b = bias ? _mm512_maskz_loadu_ps(mask[j], bias + 16 * j) : _mm512_setzero_ps(); /* NULL but at the end */
    _Pragma("GCC unroll 12") for (int r = 0; r < R; r++)
        _mm512_mask_storeu_ps(out + r * ldo + 16 * j, mask[j], _mm512_add_ps(acc[r][j], b));
  }
}

#define DEFINE_TILE(name, R, NV)                                                                                 \
  AVX512 static void name(float *out, size_t ldo, const float *x, size_t ldx, const float *w, size_t ldw,        \
                          const float *bias, int K, int rows_left, int ahead, int first, const __mmask16 mask[4]) { \
    if (mask[NV - 1] == 0xFFFF) /* every column: plain loads */                                                  \
      tile(R, NV, 1, out, ldo, x, ldx, w, ldw, bias, K, rows_left, ahead, first, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF); \
    else                                                                                                         \
      tile(R, NV, 0, out, ldo, x, ldx, w, ldw, bias, K, rows_left, ahead, first, mask[0], mask[1], mask[2],      \
           mask[3]);                                                                                             \
  }

DEFINE_TILE(tile_1, 1, 4)
DEFINE_TILE(tile_2, 2, 4)
DEFINE_TILE(tile_3, 3, 4)
DEFINE_TILE(tile_4, 4, 4)
DEFINE_TILE(tile_5, 5, 4)
DEFINE_TILE(tile_6, 6, 4)
DEFINE_TILE(narrow_1, 1, 2)
DEFINE_TILE(narrow_2, 2, 2)
DEFINE_TILE(narrow_3, 3, 2)
DEFINE_TILE(narrow_4, 4, 2)
DEFINE_TILE(narrow_5, 5, 2)
DEFINE_TILE(narrow_6, 6, 2)
DEFINE_TILE(narrow_7, 7, 2)
DEFINE_TILE(narrow_8, 8, 2)
DEFINE_TILE(narrow_9, 9, 2)
DEFINE_TILE(narrow_10, 10, 2)
DEFINE_TILE(narrow_11, 11, 2)
DEFINE_TILE(narrow_12, 12, 2)

typedef void (*TileFn)(float *, size_t, const float *, size_t, const float *, size_t, const float *, int, int, int,
                       int, const __mmask16[4]);
static const TileFn tiles[MR + 1] = {NULL, tile_1, tile_2, tile_3, tile_4, tile_5, tile_6};
static const TileFn narrows[MR_NARROW + 1] = {NULL,     narrow_1, narrow_2, narrow_3,  narrow_4,  narrow_5, narrow_6,
                                              narrow_7, narrow_8, narrow_9, narrow_10, narrow_11, narrow_12};

/* Columns [n0, n0 + NR) of rows [m0, m1). */
static void panel_rows(const Linear *L, int n0, int m0, int m1) {
  __mmask16 mask[4];
  for (int j = 0; j < 4; j++) {
    int left = L->N - n0 - 16 * j;
    mask[j] = left >= 16 ? 0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
  }
  int few = L->M <= FEW_ROWS, k_block = few ? FEW_ROWS_K_BLOCK : L->k_block, ahead = few ? k_block : PREFETCH_ROWS;
  for (int k0 = 0; k0 < L->K; k0 += k_block) {
    int kc = L->K - k0 < k_block ? L->K - k0 : k_block;
    const float *bias = L->bias && k0 + kc == L->K ? L->bias + n0 : NULL;
    const float *w = L->w + (size_t)k0 * L->ldw + n0;
    int narrow = mask[2] == 0, mr = narrow ? MR_NARROW : MR;
    for (int m = m0; m < m1; m += mr) {
      int rows = m1 - m < mr ? m1 - m : mr;
      (narrow ? narrows : tiles)[rows](L->out + m * L->ldo + n0, L->ldo, L->inp + m * L->ldi + k0, L->ldi, w, L->ldw,
                                       bias, kc, L->K - k0, ahead, k0 == 0, mask);
    }
  }
}

#else
#define HAVE_NATIVE 0
static void panel_rows(const Linear *L, int n0, int m0, int m1) { (void)L, (void)n0, (void)m0, (void)m1; }
#endif

/* ---- the portable kernel --------------------------------------------------
** For CPUs without AVX-512 (and valgrind, which hides it): the same tiling
** in GCC's generic vectors, compiled for AVX2 and for baseline x86-64.  Every
** element is still one in-order sum over k, so here too a row's result does
** not depend on the rows computed with it. */

typedef float v8 __attribute__((vector_size(32)));
#if defined(__x86_64__) && !defined(__clang__)
#define GENERIC_CLONES __attribute__((target_clones("arch=x86-64-v3", "default"), optimize("O3")))
#else
#define GENERIC_CLONES
#endif

#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v))

/* R rows (R <= 4) by 16 columns. */
static inline __attribute__((always_inline)) void generic_tile(const int R, float *out, size_t ldo, const float *x,
                                                                size_t ldx, const float *w, size_t ldw,
                                                                const float *bias, int K) {
  v8 acc[4][2];
  for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = (v8){0};
  for (int k = 0; k < K; k++) {
    v8 w0, w1;
    LOAD8(w0, w + (size_t)k * ldw);
    LOAD8(w1, w + (size_t)k * ldw + 8);
    _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {
      float a = x[r * ldx + k];
      acc[r][0] += a * w0;
      acc[r][1] += a * w1;
    }
  }
  for (int r = 0; r < R; r++)
    for (int j = 0; j < 2; j++) {
      v8 v = acc[r][j];
      if (bias) {
        v8 b;
        LOAD8(b, bias + 8 * j);
        v += b;
      }
      memcpy(out + r * ldo + 8 * j, &v, sizeof v);
    }
}

/* Columns [n0, n1) of rows [m0, m1): 16 columns at a time, 4 rows at a time,
** and the last columns one by one in the same order of operations. */
GENERIC_CLONES static void generic_rows(const Linear *L, int n0, int n1, int m0, int m1) {
  for (int n = n0; n < n1; n += 16) {
    const float *w = L->w + n, *bias = L->bias ? L->bias + n : NULL;
    if (n1 - n >= 16) {
      for (int m = m0; m < m1; m += 4) {
        float *out = L->out + m * L->ldo + n;
        const float *x = L->inp + m * L->ldi;
        switch (m1 - m < 4 ? m1 - m : 4) {
        case 1: generic_tile(1, out, L->ldo, x, L->ldi, w, L->ldw, bias, L->K); break;
        case 2: generic_tile(2, out, L->ldo, x, L->ldi, w, L->ldw, bias, L->K); break;
        case 3: generic_tile(3, out, L->ldo, x, L->ldi, w, L->ldw, bias, L->K); break;
        default: generic_tile(4, out, L->ldo, x, L->ldi, w, L->ldw, bias, L->K); break;
        }
      }
      continue;
    }
    for (int m = m0; m < m1; m++)
      for (int c = 0; c < n1 - n; c++) {
        float acc = 0.0f;
        for (int k = 0; k < L->K; k++) acc += L->inp[m * L->ldi + k] * w[k * L->ldw + c];
        L->out[m * L->ldo + n + c] = bias ? acc + bias[c] : acc;
      }
  }
}

int siam_linear_native(void) { return HAVE_NATIVE && siam_cpu_has(SIAM_CPU_AVX512F); }

static void linear_part(void *ctx, int part, int parts) {
  const Linear *L = ctx;
  int panels = (L->N + NR - 1) / NR, native = siam_linear_native();
  int p0 = (int)((long long)panels * part / parts), p1 = (int)((long long)panels * (part + 1) / parts);
  int block = X_BLOCK_FLOATS / L->K / MR * MR;
  if (block < MR) block = MR;
  for (int m0 = 0; m0 < L->M; m0 += block) {
    int m1 = L->M - m0 < block ? L->M : m0 + block;
    for (int p = p0; p < p1; p++) {
      if (native)
        panel_rows(L, p * NR, m0, m1);
      else
        generic_rows(L, p * NR, p * NR + NR < L->N ? p * NR + NR : L->N, m0, m1);
    }
  }
}

/* Multiply-adds below which a product runs on one thread: waking a worker
** costs a few microseconds. */
#define MT_MIN_MACS (256 * 1024)

void siam_linear(float *out, const float *inp, const float *w, const float *bias, int M, int K, int N) {
  Linear L = {out, inp, w, bias, M, K, N, (size_t)N, (size_t)K, (size_t)N, k_block_for(K)};
  long long macs = (long long)M * K * N;
  int panels = (N + NR - 1) / NR;
  siam_pool_run(linear_part, &L, macs < MT_MIN_MACS ? 1 : panels);
}

void siam_matmul(float *c, int ldc, const float *a, int lda, const float *b, int ldb, int M, int K, int N) {
  Linear L = {c, a, b, NULL, M, K, N, (size_t)ldc, (size_t)lda, (size_t)ldb, k_block_for(K)};
  linear_part(&L, 0, 1);
}

void siam_matmul_mt(float *c, int ldc, const float *a, int lda, const float *b, int ldb, int M, int K, int N) {
  Linear L = {c, a, b, NULL, M, K, N, (size_t)ldc, (size_t)lda, (size_t)ldb, k_block_for(K)};
  long long macs = (long long)M * K * N;
  siam_pool_run(linear_part, &L, macs < MT_MIN_MACS ? 1 : (N + NR - 1) / NR);
}
