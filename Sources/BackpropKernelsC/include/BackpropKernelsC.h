#ifndef BACKPROP_KERNELS_C_H
#define BACKPROP_KERNELS_C_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set levels of the single-precision GEMM micro-kernel.
enum {
    BP_ISA_PORTABLE = 0,  ///< Vector extensions at the compiler's baseline (SSE2 on x86-64).
    BP_ISA_AVX2 = 1,      ///< AVX2 + FMA, 6×16 register tile.
    BP_ISA_AVX512 = 2     ///< AVX-512F, 12×32 register tile.
};

/// `y[i] = fma(a, x[i], y[i])` for `i < n`, one rounding per element (FMA instructions when the
/// CPU has them, the C library's `fmaf` otherwise; the results are identical).
void bp_saxpy(float *y, float a, const float *x, long n);

/// The double-precision `bp_saxpy`.
void bp_daxpy(double *y, double a, const double *x, long n);

/// The best level this CPU supports (detected once with `__builtin_cpu_supports`).
int bp_cpu_best_isa(void);

/// The default level: `bp_cpu_best_isa()`, or `BACKPROP_SGEMM_ISA` from the environment.
int bp_sgemm_isa(void);

/// Changes the default level (clamped to what the CPU supports); for measurements.
void bp_sgemm_set_isa(int isa);

/// Columns (`nr`) of the register tile at a level. Every function below takes the level as its
/// first argument (clamped to what the CPU supports); one product must use one level throughout.
int bp_sgemm_nr(int isa);

/// Floats of scratch `bp_sgemm_tile` needs to pack a tile of at most `m` rows, 64-byte aligned.
size_t bp_sgemm_scratch_a(ptrdiff_t m);

/// Floats needed to hold all of `op(B)` (`k × n`) packed.
size_t bp_sgemm_packed_b_size(ptrdiff_t n, ptrdiff_t k);

/// Packs the `nr`-column panels `panel_begin..<panel_end` of `op(B)`, element `(p, j)` at
/// `b[p * b_row + j * b_col]`, into `packed` (size `bp_sgemm_packed_b_size(n, k)`, 64-byte aligned).
/// Disjoint panel ranges may be packed on different threads.
void bp_sgemm_pack_b(int isa, const float *b, ptrdiff_t b_row, ptrdiff_t b_col, ptrdiff_t n, ptrdiff_t k,
                     ptrdiff_t panel_begin, ptrdiff_t panel_end, float *packed);

/// `C[0..<m, 0..<n] (+)= op(A) · op(B)[:, j0..<j0+n]` on one thread, with `op(B)` (`n_total`
/// columns) already packed by `bp_sgemm_pack_b` and `j0` a multiple of `nr`.
///
/// Element `(i, p)` of `op(A)` is `a[i * a_row + p * a_col]`, so a transposed A is read in place.
/// `C` is row-major with leading dimension `ldc`. The k axis is walked in fixed blocks, in order,
/// so each element of C is accumulated in the same order whatever the tile boundaries.
void bp_sgemm_tile(int isa, const float *a, ptrdiff_t a_row, ptrdiff_t a_col,
                   const float *packed_b, ptrdiff_t n_total, ptrdiff_t j0,
                   float *c, ptrdiff_t ldc,
                   ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int accumulate,
                   float *scratch_a);

#ifdef __cplusplus
}
#endif

#endif
