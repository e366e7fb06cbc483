/*
** cpu.c — CPUID feature bits and the AMX tile permission (see cpu.h).
**
** CPUID leaf 7, sub-leaf 0: EBX bit 16 AVX512F, ECX bit 11 AVX512_VNNI,
** EDX bits 22, 24, 25 AMX-BF16, AMX-TILE, AMX-INT8; sub-leaf 1: EAX bit 5
** AVX512_BF16.  The AVX-512 bits count only where the OS saves the zmm
** state (__builtin_cpu_supports("avx512f") checks XGETBV as well).
*/
#include "cpu.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <sys/syscall.h>

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static void cpuid7(unsigned sub, unsigned r[4]) {
  __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(7), "c"(sub));
}

/* One bit per feature. */
static unsigned detect(void) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f")) return 0;
  unsigned bits = 1u << SIAM_CPU_AVX512F, r0[4], r1[4];
  cpuid7(0, r0);
  cpuid7(1, r1);
  if ((r1[0] >> 5) & 1) bits |= 1u << SIAM_CPU_AVX512BF16;
  if ((r0[2] >> 11) & 1) bits |= 1u << SIAM_CPU_AVX512VNNI;
  int tile = (r0[3] >> 24) & 1;
  /* Linux grants the tile state only on request (once per process). */
  if (tile && ((r0[3] >> 22) & 1 || (r0[3] >> 25) & 1) &&
      syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0) {
    if ((r0[3] >> 22) & 1) bits |= 1u << SIAM_CPU_AMX_BF16;
    if ((r0[3] >> 25) & 1) bits |= 1u << SIAM_CPU_AMX_INT8;
  }
  return bits;
}
#else
static unsigned detect(void) { return 0; }
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#include <immintrin.h>

typedef struct {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} TileConfig;

__attribute__((target("amx-tile"))) void siam_amx_configure(void) {
  TileConfig c;
  memset(&c, 0, sizeof c);
  c.palette = 1;
  for (int t = 0; t < 8; t++) c.colsb[t] = 64, c.rows[t] = 16;
  /* Not _tile_loadconfig: GCC 12's names an 8-byte operand, so the stores
  ** above it may be dropped as dead. */
  __asm__ volatile("ldtilecfg %0" : : "m"(c));
}

__attribute__((target("amx-tile"))) void siam_amx_release(void) { _tile_release(); }
#else
void siam_amx_configure(void) {}
void siam_amx_release(void) {}
#endif

long siam_cpu_l2_bytes(void) {
  static atomic_long known = -1; /* as in siam_cpu_has */
  long l2 = atomic_load_explicit(&known, memory_order_relaxed);
  if (l2 < 0) {
#ifdef _SC_LEVEL2_CACHE_SIZE
    l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    if (l2 < 256 * 1024 || l2 > 64 * 1024 * 1024) l2 = 1024 * 1024;
    atomic_store_explicit(&known, l2, memory_order_relaxed);
  }
  return l2;
}

/* The features SIAMSQL_KERNEL leaves: none for "portable" (the tests run
** the portable and reference kernels that way), no AMX for a name starting
** with "avx512" ("avx512bf16", "avx512vnni"). */
static unsigned allowed(unsigned bits) {
  const char *want = getenv("SIAMSQL_KERNEL");
  if (!want) return bits;
  if (strcmp(want, "portable") == 0) return 0;
  if (strncmp(want, "avx512", 6) == 0) return bits & ~(1u << SIAM_CPU_AMX_BF16 | 1u << SIAM_CPU_AMX_INT8);
  return bits;
}

int siam_cpu_has(SiamCpuFeature f) {
  static atomic_int known = -1; /* decided once; threads that race compute the same value */
  int bits = atomic_load_explicit(&known, memory_order_relaxed);
  if (bits < 0) {
    bits = (int)allowed(detect());
    atomic_store_explicit(&known, bits, memory_order_relaxed);
  }
  return (unsigned)f < SIAM_CPU_N_FEATURES && ((unsigned)bits >> f) & 1;
}
