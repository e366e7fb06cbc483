/*
** cpu.h — what this CPU (and this kernel) lets siamsql's kernels run, read
** once from CPUID: the one place that knows the feature bits.
**
** AMX needs more than CPUID: Linux hands a process the 8 KB of tile state
** only after arch_prctl(ARCH_REQ_XCOMP_PERM), so SIAM_CPU_AMX_* are set
** only when that request succeeded too.
*/
#ifndef SIAM_CPU_H
#define SIAM_CPU_H

typedef enum {
  SIAM_CPU_AVX512F = 0,   /* AVX-512 Foundation: the f32 kernel */
  SIAM_CPU_AVX512BF16,    /* VDPBF16PS */
  SIAM_CPU_AVX512VNNI,    /* VPDPBUSD */
  SIAM_CPU_AMX_BF16,      /* TDPBF16PS, tile permission granted */
  SIAM_CPU_AMX_INT8,      /* TDPBUSD, tile permission granted */
  SIAM_CPU_N_FEATURES
} SiamCpuFeature;

/* 1 if this process may use feature f: the CPU has it and SIAMSQL_KERNEL
** does not withhold it ("portable": no feature, so every kernel is the
** portable or reference one; "avx512bf16", "avx512vnni": no AMX).  Decided
** once per process; safe to call from any thread. */
int siam_cpu_has(SiamCpuFeature f);

/* Bytes of one core's L2 cache, as the C library reads it (CPUID), or 1 MB
** where it cannot tell: for the kernels' blocking. */
long siam_cpu_l2_bytes(void);

/* Loads the tile configuration every AMX kernel of siamsql uses: tiles 0-7
** each 16 rows of 64 bytes.  Call on the thread that computes, before its
** first tile instruction, and siam_amx_release() after its last; only where
** siam_cpu_has(SIAM_CPU_AMX_BF16) or (SIAM_CPU_AMX_INT8). */
void siam_amx_configure(void);
void siam_amx_release(void);

#endif
