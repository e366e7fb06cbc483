/*
** test_gemm_bf16.c — the bf16 dense layer: rounding, packing, and every
** kernel this CPU runs against double loops over the rounded inputs, on
** shapes that hit each edge (rows and columns not multiples of the tiles,
** K not a multiple of 32, no bias, one row), on 1 and 2 threads.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "gemm_bf16.h"
#include "pool.h"
#include "testutil.h"

static float float_of_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static float bf16_value(uint16_t h) { return float_of_bits((uint32_t)h << 16); }

static void test_round(void) {
  static const struct { uint32_t in; uint16_t want; } cases[] = {
      {0x3f800000u, 0x3f80}, /* 1.0 */
      {0x3f808000u, 0x3f80}, /* halfway, even below: down */
      {0x3f818000u, 0x3f82}, /* halfway, odd below: up */
      {0x3f808001u, 0x3f81}, /* just above halfway */
      {0xbf80ffffu, 0xbf81}, /* negative rounds by magnitude */
      {0x7f7fffffu, 0x7f80}, /* FLT_MAX rounds to infinity, as in torch */
      {0x7f800000u, 0x7f80}, /* infinity */
      {0x00000001u, 0x0000}, /* smallest subnormal */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    uint16_t got = siam_bf16_round(float_of_bits(cases[i].in));
    CHECK(got == cases[i].want, "round(0x%08x) = 0x%04x, want 0x%04x", cases[i].in, got, cases[i].want);
  }
  CHECK(isnan(bf16_value(siam_bf16_round(NAN))), "NaN stays NaN");
  CHECK(isnan(bf16_value(siam_bf16_round(float_of_bits(0x7f800001u)))), "a NaN with only low bits stays NaN");
}

static float rand_unit(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* One shape on kernel k: worst |diff| relative to sum |a w| per output. */
static double check_shape(SiamBf16Kernel k, int M, int K, int N, int with_bias) {
  unsigned seed = (unsigned)(M * 131 + K * 7 + N);
  float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * K * N), *bias = malloc(sizeof(float) * N);
  float *out = malloc(sizeof(float) * M * N);
  uint16_t *packed = malloc(sizeof(uint16_t) * siam_bf16_packed_elems(K, N));
  uint16_t *scratch = malloc(sizeof(uint16_t) * siam_bf16_scratch_elems(M, K));
  for (int i = 0; i < M * K; i++) x[i] = rand_unit(&seed) * 3.0f;
  for (int i = 0; i < K * N; i++) w[i] = rand_unit(&seed) * 0.2f;
  for (int i = 0; i < N; i++) bias[i] = rand_unit(&seed);
  for (int i = 0; i < M * N; i++) out[i] = NAN; /* every output must be written */
  siam_bf16_pack(packed, w, K, N);
  siam_linear_bf16_with(k, out, x, packed, with_bias ? bias : NULL, M, K, N, scratch);
  double worst = 0;
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double sum = with_bias ? bias[n] : 0, mag = 1e-30;
      for (int kk = 0; kk < K; kk++) {
        double p = (double)bf16_value(siam_bf16_round(x[m * K + kk])) * bf16_value(siam_bf16_round(w[kk * N + n]));
        sum += p;
        mag += fabs(p);
      }
      double d = fabs(out[m * N + n] - sum) / mag;
      if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
    }
  free(x), free(w), free(bias), free(out), free(packed), free(scratch);
  return worst;
}

static void test_kernels(void) {
  static const int shapes[][3] = {{1, 32, 16},  {16, 64, 32},   {33, 384, 1152}, {5, 40, 50},
                                  {100, 96, 17}, {47, 1536, 384}, {64, 384, 1536}, {2, 7, 3}};
  for (int k = SIAM_BF16_REFERENCE; k <= SIAM_BF16_AMX; k++) {
    if (!siam_bf16_kernel_available((SiamBf16Kernel)k)) {
      printf("  bf16 %s kernel: skipped, it needs %s (not on this CPU, or held back by SIAMSQL_KERNEL)\n",
             siam_bf16_kernel_name((SiamBf16Kernel)k),
             k == SIAM_BF16_AMX ? "AMX-BF16 tiles and the kernel's permission for them" : "AVX512-BF16");
      continue;
    }
    double worst = 0;
    for (int threads = 1; threads <= 2; threads++) {
      siam_set_threads(threads);
      for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int b = 0; b < 2; b++) {
          double d = check_shape((SiamBf16Kernel)k, shapes[s][0], shapes[s][1], shapes[s][2], b);
          /* Only the order of the float32 sums differs from the loops. */
          CHECK(d < 1e-5, "%s kernel, M %d K %d N %d bias %d: relative diff %.3g", siam_bf16_kernel_name(k),
                shapes[s][0], shapes[s][1], shapes[s][2], b, d);
          if (d > worst) worst = d;
        }
    }
    siam_set_threads(0);
    printf("  bf16 %s kernel vs loops: max relative diff %.3g\n", siam_bf16_kernel_name((SiamBf16Kernel)k), worst);
  }
  printf("  bf16 kernel chosen here: %s\n", siam_bf16_kernel_name(siam_bf16_kernel()));
}

int main(void) {
  test_round();
  test_kernels();
  return TEST_DONE();
}
