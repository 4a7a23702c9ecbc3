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
static void tile_shape(int isa, int *mr, int *nr) {
    switch (isa) {
    case BP_ISA_AVX512: *mr = 12; *nr = 16; break;
    case BP_ISA_AVX2: *mr = 6; *nr = 8; break;
    default: *mr = 4; *nr = 4; break;
    }
}

#if defined(__x86_64__) || defined(__i386__)
MICRO_KERNEL(kernel_avx512, __attribute__((target("avx512f,fma"))), v8d, 8, 12, 2)
MICRO_KERNEL(kernel_avx2, __attribute__((target("avx2,fma"))), v4d, 4, 6, 2)

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

static void pack_a_portable(const double *a, ptrdiff_t a_row, ptrdiff_t a_col, ptrdiff_t m, ptrdiff_t p0, ptrdiff_t kc,
                            double *dst) {
    pack_a(a, a_row, a_col, m, p0, kc, 4, dst);
}

int bp_dgemm_nr(int isa) { int mr, nr; tile_shape(clamp_isa(isa), &mr, &nr); return nr; }

int bp_dgemm_mr(int isa) { int mr, nr; tile_shape(clamp_isa(isa), &mr, &nr); return mr; }

size_t bp_dgemm_scratch_a(ptrdiff_t m) { return tile_scratch_size(m); }

size_t bp_dgemm_packed_b_size(ptrdiff_t n, ptrdiff_t k) { return (size_t)((n + 31) / 32 * 32) * (size_t)k; }

// Packed B holds, for each k block in order, every nr-column panel of that block: block q starts
// at q·KC·n_pad and its panel j at j·nr·kc.
void bp_dgemm_pack_b(int isa, const double *b, ptrdiff_t b_row, ptrdiff_t b_col, ptrdiff_t n, ptrdiff_t k,
                     ptrdiff_t panel_begin, ptrdiff_t panel_end, double *packed) {
    isa = clamp_isa(isa);
    int mr, nr;
    tile_shape(isa, &mr, &nr);
    ptrdiff_t n_pad = (n + 31) / 32 * 32;
    ptrdiff_t j_begin = panel_begin * nr, j_end = panel_end * nr < n ? panel_end * nr : n;
    if (j_begin >= j_end) return;
    for (ptrdiff_t p0 = 0; p0 < k; p0 += KC) {
        ptrdiff_t kc = k - p0 < KC ? k - p0 : KC;
        double *dst = packed + p0 * n_pad + panel_begin * nr * kc;
        const double *src = b + j_begin * b_col;
        switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
        case BP_ISA_AVX512: pack_b_avx512(src, b_row, b_col, j_end - j_begin, p0, kc, dst); break;
        case BP_ISA_AVX2: pack_b_avx2(src, b_row, b_col, j_end - j_begin, p0, kc, dst); break;
#endif
        default: pack_b(src, b_row, b_col, j_end - j_begin, p0, kc, 4, dst); break;
        }
    }
}

// The tile driver with this level's kernel and A packer (constants folded per level).
static void tile_at_level(int isa, const double *a, ptrdiff_t a_row, ptrdiff_t a_col, const double *packed_a,
                          ptrdiff_t m_total, ptrdiff_t i0, const double *packed_b,
                          ptrdiff_t n_total, ptrdiff_t j0, const double *b, ptrdiff_t b_row, double *c, ptrdiff_t ldc,
                          ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int accumulate, double *scratch) {
    switch (clamp_isa(isa)) {
#if defined(__x86_64__) || defined(__i386__)
    case BP_ISA_AVX512:
        gemm_tile(kernel_avx512, pack_a_avx512, 12, 16, a, a_row, a_col, packed_a, m_total, i0, packed_b, n_total, j0, b, b_row, c, ldc, m, n, k,
                  accumulate, scratch);
        break;
    case BP_ISA_AVX2:
        gemm_tile(kernel_avx2, pack_a_avx2, 6, 8, a, a_row, a_col, packed_a, m_total, i0, packed_b, n_total, j0, b, b_row, c, ldc, m, n, k,
                  accumulate, scratch);
        break;
#endif
    default:
        gemm_tile(kernel_portable, pack_a_portable, 4, 4, a, a_row, a_col, packed_a, m_total, i0, packed_b, n_total, j0, b, b_row, c, ldc, m, n, k,
                  accumulate, scratch);
        break;
    }
}

void bp_dgemm_tile(int isa, const double *a, ptrdiff_t a_row, ptrdiff_t a_col,
                   const double *packed_b, ptrdiff_t n_total, ptrdiff_t j0,
                   double *c, ptrdiff_t ldc,
                   ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int accumulate,
                   double *scratch_a) {
    tile_at_level(isa, a, a_row, a_col, NULL, m, 0, packed_b, n_total, j0, NULL, 0, c, ldc, m, n, k, accumulate, scratch_a);
}

void bp_dgemm_tile_unpacked_b(int isa, const double *a, ptrdiff_t a_row, ptrdiff_t a_col, const double *b, ptrdiff_t b_row,
                              double *c, ptrdiff_t ldc, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int accumulate,
                              double *scratch) {
    tile_at_level(isa, a, a_row, a_col, NULL, m, 0, NULL, n, 0, b, b_row, c, ldc, m, n, k, accumulate, scratch);
}

size_t bp_dgemm_packed_a_size(ptrdiff_t m, ptrdiff_t k) { return packed_a_size(m, k); }

// Packed A holds, for each k block in order, every mr-row panel of that block: block q starts at
// q·KC·m_pad and its panel i at i·mr·kc, exactly what gemm_tile packs for a tile block by block.
void bp_dgemm_pack_a(int isa, const double *a, ptrdiff_t a_row, ptrdiff_t a_col, ptrdiff_t m, ptrdiff_t k,
                     ptrdiff_t panel_begin, ptrdiff_t panel_end, double *packed) {
    isa = clamp_isa(isa);
    int mr, nr;
    tile_shape(isa, &mr, &nr);
    ptrdiff_t m_pad = (m + 11) / 12 * 12;
    ptrdiff_t i_begin = panel_begin * mr, i_end = panel_end * mr < m ? panel_end * mr : m;
    if (i_begin >= i_end) return;
    const double *src = a + i_begin * a_row;
    for (ptrdiff_t p0 = 0; p0 < k; p0 += KC) {
        ptrdiff_t kc = k - p0 < KC ? k - p0 : KC;
        double *dst = packed + p0 * m_pad + panel_begin * mr * kc;
        switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
        case BP_ISA_AVX512: pack_a_avx512(src, a_row, a_col, i_end - i_begin, p0, kc, dst); break;
        case BP_ISA_AVX2: pack_a_avx2(src, a_row, a_col, i_end - i_begin, p0, kc, dst); break;
#endif
        default: pack_a_portable(src, a_row, a_col, i_end - i_begin, p0, kc, dst); break;
        }
    }
}

void bp_dgemm_tile_packed(int isa, const double *packed_a, ptrdiff_t m_total, ptrdiff_t i0,
                          const double *packed_b, ptrdiff_t n_total, ptrdiff_t j0, double *c, ptrdiff_t ldc,
                          ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int accumulate) {
    tile_at_level(isa, NULL, 0, 0, packed_a, m_total, i0, packed_b, n_total, j0, NULL, 0, c, ldc, m, n, k, accumulate,
                  NULL);
}
