/*
** test_gemm_int8.c — the int8 dense layer: every kernel this CPU runs
** against loops written from gemm_int8.h's formulas (quantize W per column
** and x per row in float32, sum the bytes exactly, scale back), which every
** kernel must match bit for bit; on shapes that hit each edge (rows and
** columns not multiples of the tiles, K not a multiple of 64, no bias, one
** row), on 1 and 2 threads; a row with a NaN, an all-zero row, the largest
** sums K = 65536 allows; and the quantization error against float64.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "cpu.h"
#include "gemm_int8.h"
#include "pool.h"
#include "testutil.h"

static float rand_unit(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

/* gemm_int8.h's result for x (M, K) W (K, N) + bias, from its formulas. */
static void expected(float *out, const float *x, const float *w, const float *bias, int M, int K, int N) {
  float *sw = malloc(sizeof(float) * N);
  for (int n = 0; n < N; n++) {
    float big = 0;
    for (int k = 0; k < K; k++) big = fmaxf(big, fabsf(w[(size_t)k * N + n]));
    sw[n] = big > 0 ? big / 127.0f : 1.0f;
  }
  for (int m = 0; m < M; m++) {
    const float *r = x + (size_t)m * K;
    float lo = 0, hi = 0;
    int finite = 1;
    for (int k = 0; k < K; k++) {
      finite &= isfinite(r[k]) != 0;
      lo = fminf(lo, r[k]);
      hi = fmaxf(hi, r[k]);
    }
    float s = (hi - lo) / 255.0f;
    if (!(s > 0)) s = 1.0f;
    float z = rintf(-lo / s);
    for (int n = 0; n < N; n++) {
      long long dot = 0;
      for (int k = 0; k < K; k++) {
        long long q = finite ? (long long)clampf(rintf(r[k] / s) + z, 0, 255) : 0;
        long long wq = (long long)clampf(rintf(w[(size_t)k * N + n] / sw[n]), -127, 127);
        dot += (q - (long long)z) * wq;
      }
      float y = (float)dot * (s * sw[n]);
      if (bias) y = y + bias[n];
      out[(size_t)m * N + n] = finite ? y : NAN;
    }
  }
  free(sw);
}

typedef struct {
  int M, K, N;
  float *x, *w, *bias, *out, *want;
  void *packed, *scratch;
} Case;

static Case make_case(int M, int K, int N) {
  Case c = {M, K, N, malloc(sizeof(float) * M * K), malloc(sizeof(float) * K * N), malloc(sizeof(float) * N),
            malloc(sizeof(float) * M * N), malloc(sizeof(float) * M * N),
            siam_malloc_big(siam_int8_packed_bytes(K, N)), siam_malloc_big(siam_int8_scratch_bytes(M, K))};
  unsigned seed = (unsigned)(M * 131 + K * 7 + N);
  /* Rows of different ranges and signs, as activations are (GELU's output
  ** is mostly positive), and weights of different scales per column. */
  for (int m = 0; m < M; m++) {
    float scale = 0.1f + (float)(m % 7), shift = (m % 3 == 0) ? 0.8f * scale : 0.0f;
    for (int k = 0; k < K; k++) c.x[(size_t)m * K + k] = rand_unit(&seed) * scale + shift;
  }
  for (int k = 0; k < K; k++)
    for (int n = 0; n < N; n++) c.w[(size_t)k * N + n] = rand_unit(&seed) * 0.05f * (1 + n % 5);
  for (int n = 0; n < N; n++) c.bias[n] = rand_unit(&seed);
  return c;
}

static void free_case(Case *c) {
  free(c->x), free(c->w), free(c->bias), free(c->out), free(c->want);
  siam_free(c->packed), siam_free(c->scratch);
}

/* Runs kernel k on c; the number of outputs that differ from the loops'. */
static int run_case(SiamInt8Kernel k, Case *c, int with_bias) {
  const float *bias = with_bias ? c->bias : NULL;
  for (int i = 0; i < c->M * c->N; i++) c->out[i] = -12345.0f; /* every output must be written */
  siam_int8_pack(c->packed, c->w, c->K, c->N);
  siam_linear_int8_with(k, c->out, c->x, c->packed, bias, c->M, c->K, c->N, c->scratch);
  expected(c->want, c->x, c->w, bias, c->M, c->K, c->N);
  int bad = 0;
  for (int i = 0; i < c->M * c->N; i++)
    if (!(c->out[i] == c->want[i] || (isnan(c->out[i]) && isnan(c->want[i])))) bad++;
  return bad;
}

static void test_kernel(SiamInt8Kernel k) {
  static const int shapes[][3] = {{1, 64, 16},   {16, 128, 32},   {33, 384, 1152}, {5, 40, 50}, {100, 96, 17},
                                  {47, 1536, 384}, {97, 384, 1536}, {2, 7, 3},      {7, 65, 81}};
  const char *name = siam_int8_kernel_name(k);
  for (int threads = 1; threads <= 2; threads++) {
    siam_set_threads(threads);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
      for (int b = 0; b < 2; b++) {
        Case c = make_case(shapes[s][0], shapes[s][1], shapes[s][2]);
        int bad = run_case(k, &c, b);
        CHECK(bad == 0, "%s kernel, M %d K %d N %d bias %d, %d threads: %d of %d outputs differ from the loops'",
              name, c.M, c.K, c.N, b, threads, bad, c.M * c.N);
        free_case(&c);
      }
  }
  siam_set_threads(0);

  /* A NaN in a row makes that row NaN and leaves the others alone; an
  ** all-zero row gives the bias. */
  Case c = make_case(20, 100, 40);
  c.x[3 * 100 + 50] = NAN;
  c.x[9 * 100 + 7] = INFINITY;
  memset(c.x + 12 * 100, 0, 100 * sizeof(float));
  int bad = run_case(k, &c, 1);
  CHECK(bad == 0, "%s kernel, rows with NaN, infinity, zeros: %d outputs differ", name, bad);
  CHECK(isnan(c.out[3 * 40]) && isnan(c.out[9 * 40 + 39]) && !isnan(c.out[4 * 40]), "%s kernel: NaN rows", name);
  CHECK(c.out[12 * 40 + 5] == c.bias[5], "%s kernel: an all-zero row gives %g, not the bias %g", name,
        c.out[12 * 40 + 5], c.bias[5]);
  free_case(&c);

  /* The largest sums: K = 65536 (config.c's widest), x at both ends of its
  ** range and W at +-127 in the same pattern, so sum q w reaches about
  ** 255 * 127 * K = 2.1e9, next to int32's limit. */
  c = make_case(2, 65536, 16);
  for (int kk = 0; kk < c.K; kk++) {
    c.x[kk] = kk % 2 ? 1.0f : -1.0f / 254; /* row 0: lo tiny, so z = 1 and most q = 255 */
    c.x[c.K + kk] = kk % 2 ? -1.0f : 1.0f / 254;
    for (int n = 0; n < c.N; n++) c.w[(size_t)kk * c.N + n] = kk % 2 ? 1.0f : -1.0f;
  }
  bad = run_case(k, &c, 0);
  CHECK(bad == 0, "%s kernel, K = 65536 at full range: %d outputs differ (%g, want %g)", name, bad, c.out[0],
        c.want[0]);
  free_case(&c);
  printf("  int8 %s kernel: matches the loops bit for bit\n", name);
}

/* The scheme itself: against the float64 product, the error stays within
** what 8 bits give (half a step of x and of W per product). */
static void test_error(void) {
  Case c = make_case(64, 384, 256);
  run_case(SIAM_INT8_REFERENCE, &c, 1);
  double worst = 0;
  for (int m = 0; m < c.M; m++)
    for (int n = 0; n < c.N; n++) {
      double sum = c.bias[n], mag = 0;
      for (int k = 0; k < c.K; k++) {
        sum += (double)c.x[m * c.K + k] * c.w[k * c.N + n];
        mag += fabs((double)c.x[m * c.K + k] * c.w[k * c.N + n]);
      }
      double d = fabs(c.out[m * c.N + n] - sum) / mag;
      if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
    }
  printf("  int8 vs float64: max |diff| / sum |x w| = %.3g\n", worst);
  CHECK(worst < 0.02 && worst > 1e-5, "int8 error %.3g relative to sum |x w|: not what 8 bits give", worst);
  free_case(&c);
}

int main(void) {
  /* A CPU with the tiles whose AMX kernel is not available failed the
  ** kernel's own check against the reference (kernel_agrees). */
  CHECK(!siam_cpu_has(SIAM_CPU_AMX_INT8) || siam_int8_kernel_available(SIAM_INT8_AMX),
        "this CPU has AMX-INT8, but the AMX kernel disagreed with the reference and is not used");
  for (int k = SIAM_INT8_REFERENCE; k <= SIAM_INT8_AMX; k++) {
    if (siam_int8_kernel_available((SiamInt8Kernel)k)) test_kernel((SiamInt8Kernel)k);
    else
      printf("  int8 %s kernel: skipped, it needs %s (not on this CPU, or held back by SIAMSQL_KERNEL)\n",
             siam_int8_kernel_name((SiamInt8Kernel)k),
             k == SIAM_INT8_AMX ? "AMX-INT8 tiles (amx_int8) and the kernel's permission for them"
                                : "AVX512-VNNI (avx512_vnni)");
  }
  printf("  int8 kernel chosen here: %s\n", siam_int8_kernel_name(siam_int8_kernel()));
  test_error();
  return TEST_DONE();
}
