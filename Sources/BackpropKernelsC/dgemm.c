// Double-precision GEMM tile: the structure of sgemm.c (op(B) packed once per product and shared,
// op(A) packed per tile, k walked in fixed blocks in order) with register tiles for doubles, one
// micro-kernel per instruction set, chosen at run time. Built without any special compiler flags:
// the AVX2 and AVX-512 functions carry their own `target` attributes.
#include "BackpropKernelsC.h"
#include <string.h>

#define KC 256
#define SCALAR double
#include "gemm_body.h"

typedef double v2d __attribute__((vector_size(16), aligned(8)));
typedef double v4d __attribute__((vector_size(32), aligned(8)));
typedef double v8d __attribute__((vector_size(64), aligned(8)));

static int clamp_isa(int isa) {
    int best = bp_cpu_best_isa();
    return isa < 0 ? 0 : (isa > best ? best : isa);
}

// Register tiles: AVX-512 12 × 16 (24 zmm accumulators), AVX2 6 × 8 (12 ymm), portable 4 × 4
// (8 xmm). Every mr divides 12 and every nr divides 32, the granularity of GEMM.Layout's tiles.
#define MR_AVX512 12
#define NR_AVX512 16
#define MR_AVX2 6
#define NR_AVX2 8
#define MR_PORTABLE 4
#define NR_PORTABLE 4
static void tile_shape(int isa, int *mr, int *nr) {
    switch (isa) {
    case BP_ISA_AVX512: *mr = MR_AVX512; *nr = NR_AVX512; break;
    case BP_ISA_AVX2: *mr = MR_AVX2; *nr = NR_AVX2; break;
    default: *mr = MR_PORTABLE; *nr = NR_PORTABLE; break;
    }
}

#if defined(__x86_64__) || defined(__i386__)
MICRO_KERNEL(kernel_avx512, __attribute__((target("avx512f,fma"))), v8d, 8, 12, 2)
MICRO_KERNEL(kernel_avx512_half, __attribute__((target("avx512f,fma"))), v8d, 8, 12, 1)
MICRO_KERNEL(kernel_avx2, __attribute__((target("avx2,fma"))), v4d, 4, 6, 2)
MICRO_KERNEL(kernel_avx2_half, __attribute__((target("avx2,fma"))), v4d, 4, 6, 1)

// The generic packers compiled with wider moves; packing only moves data, so every copy gives the
// same panels.
__attribute__((target("avx2,fma"))) static void
pack_a_avx512(const double *a, ptrdiff_t a_row, ptrdiff_t a_col, ptrdiff_t m, ptrdiff_t p0, ptrdiff_t kc, double *dst) {
    pack_a(a, a_row, a_col, m, p0, kc, 12, dst);
}
__attribute__((target("avx2,fma"))) static void
pack_a_avx2(const double *a, ptrdiff_t a_row, ptrdiff_t a_col, ptrdiff_t m, ptrdiff_t p0, ptrdiff_t kc, double *dst) {
    pack_a(a, a_row, a_col, m, p0, kc, 6, dst);
}
__attribute__((target("avx2,fma"))) static void
pack_b_avx512(const double *b, ptrdiff_t b_row, ptrdiff_t b_col, ptrdiff_t n, ptrdiff_t p0, ptrdiff_t kc, double *dst) {
    pack_b(b, b_row, b_col, n, p0, kc, 16, dst);
}
__attribute__((target("avx2,fma"))) static void
pack_b_avx2(const double *b, ptrdiff_t b_row, ptrdiff_t b_col, ptrdiff_t n, ptrdiff_t p0, ptrdiff_t kc, double *dst) {
    pack_b(b, b_row, b_col, n, p0, kc, 8, dst);
}
#endif
MICRO_KERNEL(kernel_portable, , v2d, 2, 4, 2)
MICRO_KERNEL(kernel_portable_half, , v2d, 2, 4, 1)

static void pack_a_portable(const double *a, ptrdiff_t a_row, ptrdiff_t a_col, ptrdiff_t m, ptrdiff_t p0, ptrdiff_t kc,
                            double *dst) {
    pack_a(a, a_row, a_col, m, p0, kc, 4, dst);
}

#define GEMM_API(name) bp_dgemm_##name
#include "gemm_api.h"
