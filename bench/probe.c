/*
** probe.c — the instruction peaks of one core, to design the kernels to and
** to say what fraction of them `make bench` reaches.
**
**   cc -O2 -o bench/.cache/probe bench/probe.c && bench/.cache/probe
**
** Each loop keeps enough independent accumulators in flight to hide the
** instruction's latency, on data that never leaves the registers (or, for
** AMX, the tiles), so the figure is the issue rate alone:
**   f32      VFMADD231PS zmm   16 lanes x 2 flops
**   bf16     VDPBF16PS zmm     16 lanes x 2 pairs x 2 flops
**   int8     VPDPBUSD zmm      16 lanes x 4 bytes x 2 ops
**   amx-bf16 TDPBF16PS         16 x 16 x 32 x 2 flops
**   amx-int8 TDPBSSD           16 x 16 x 64 x 2 ops
** Prints one JSON object: GFLOP/s (GOP/s for int8) per kind, 0 where the CPU
** lacks the instruction, and the reason in "missing".
*/
#define _GNU_SOURCE
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

#define ITERS 20000000L
#define START(i) _mm512_set1_ps(1e-3f * (i))

/* 12 accumulators: latency 4 cycles x 2 ports, with room to spare. */
#define ZMM_LOOP(init, step, fold)                                                 \
  do {                                                                             \
    /* distinct starting values, so the compiler cannot merge the chains */    \
    __m512 a0 = init(0), a1 = init(1), a2 = init(2), a3 = init(3);                 \
    __m512 a4 = init(4), a5 = init(5), a6 = init(6), a7 = init(7);                 \
    __m512 a8 = init(8), a9 = init(9), a10 = init(10), a11 = init(11);             \
    for (long i = 0; i < ITERS; i++) {                                             \
      step(a0); step(a1); step(a2); step(a3); step(a4); step(a5);                  \
      step(a6); step(a7); step(a8); step(a9); step(a10); step(a11);                \
      __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5)); \
      __asm__ volatile("" : "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11)); \
    }                                                                              \
    fold = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)), \
                         _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7))); \
    fold = _mm512_add_ps(fold, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11))); \
  } while (0)

__attribute__((target("avx512f"))) static double probe_f32(void) {
  __m512 x = _mm512_set1_ps(1e-7f), y = _mm512_set1_ps(0.999f), sink;
#define FMA(a) a = _mm512_fmadd_ps(x, y, a)
  double t = now();
  ZMM_LOOP(START, FMA, sink);
  t = now() - t;
  volatile float keep = _mm512_reduce_add_ps(sink);
  (void)keep;
  return 12.0 * ITERS * 16 * 2 / t / 1e9;
}

__attribute__((target("avx512f,avx512bf16"))) static double probe_bf16(void) {
  __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3380);
  __m512 sink;
#define DPBF(a) a = _mm512_dpbf16_ps(a, x, y)
  double t = now();
  ZMM_LOOP(START, DPBF, sink);
  t = now() - t;
  volatile float keep = _mm512_reduce_add_ps(sink);
  (void)keep;
  return 12.0 * ITERS * 16 * 4 / t / 1e9;
}

__attribute__((target("avx512f,avx512vnni"))) static double probe_vnni(void) {
  __m512i x = _mm512_set1_epi8(1), y = _mm512_set1_epi8(1);
  __m512 sink;
#define DPBUSD(a) a = _mm512_castsi512_ps(_mm512_dpbusd_epi32(_mm512_castps_si512(a), x, y))
  double t = now();
  ZMM_LOOP(START, DPBUSD, sink);
  t = now() - t;
  volatile float keep = _mm512_reduce_add_ps(sink);
  (void)keep;
  return 12.0 * ITERS * 16 * 8 / t / 1e9;
}

/* ---- AMX ----------------------------------------------------------------- */

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

typedef struct {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} TileConfig;

static int amx_permitted(void) { return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0; }

__attribute__((target("amx-tile"))) static void amx_config(void) {
  TileConfig c;
  memset(&c, 0, sizeof c);
  c.palette = 1;
  for (int i = 0; i < 8; i++) c.colsb[i] = 64, c.rows[i] = 16;
  __asm__ volatile("ldtilecfg %0" : : "m"(c)); /* GCC 12's _tile_loadconfig names an 8-byte operand */
}

#define AMX_ITERS 2000000L

/* 4 accumulator tiles fed by 2 + 2 source tiles: the 2x2 block a GEMM uses. */
__attribute__((target("amx-tile,amx-bf16,amx-int8"))) static double probe_amx(int int8) {
  static int8_t src[16 * 64] __attribute__((aligned(64)));
  static float dst[16 * 16] __attribute__((aligned(64)));
  amx_config();
  _tile_loadd(4, src, 64);
  _tile_loadd(5, src, 64);
  _tile_loadd(6, src, 64);
  _tile_loadd(7, src, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  double t = now();
  if (int8)
    for (long i = 0; i < AMX_ITERS; i++) {
      _tile_dpbssd(0, 4, 6);
      _tile_dpbssd(1, 4, 7);
      _tile_dpbssd(2, 5, 6);
      _tile_dpbssd(3, 5, 7);
    }
  else
    for (long i = 0; i < AMX_ITERS; i++) {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
  t = now() - t;
  _tile_stored(0, dst, 64);
  _tile_release();
  return 4.0 * AMX_ITERS * 16 * 16 * (int8 ? 64 : 32) * 2 / t / 1e9;
}

int main(void) {
  __builtin_cpu_init();
  int f32 = __builtin_cpu_supports("avx512f");
  int bf16 = f32 && __builtin_cpu_supports("avx512bf16");
  int vnni = f32 && __builtin_cpu_supports("avx512vnni");
  unsigned a, b, c, d;
  __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
  int amx_bf16 = (d >> 22) & 1, amx_int8 = (d >> 25) & 1, amx = ((d >> 24) & 1) && amx_permitted();
  char missing[256] = "";
  if (!f32) strcat(missing, "avx512f ");
  if (!bf16) strcat(missing, "avx512_bf16 ");
  if (!vnni) strcat(missing, "avx512_vnni ");
  if (!amx || !amx_bf16) strcat(missing, "amx_bf16 ");
  if (!amx || !amx_int8) strcat(missing, "amx_int8 ");
  if (*missing) missing[strlen(missing) - 1] = 0;
  printf("{\"f32\":%.1f,\"bf16\":%.1f,\"int8\":%.1f,\"amx_bf16\":%.1f,\"amx_int8\":%.1f,\"missing\":\"%s\"}\n",
         f32 ? probe_f32() : 0, bf16 ? probe_bf16() : 0, vnni ? probe_vnni() : 0,
         amx && amx_bf16 ? probe_amx(0) : 0, amx && amx_int8 ? probe_amx(1) : 0, missing);
  return 0;
}
