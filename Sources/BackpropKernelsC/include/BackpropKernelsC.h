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

/// The best level this CPU supports (detected once with `__builtin_cpu_supports`).
int bp_cpu_best_isa(void);

/// The level `bp_sgemm_tile` uses; starts at `bp_cpu_best_isa()`.
int bp_sgemm_isa(void);

/// Selects the level `bp_sgemm_tile` uses (clamped to what the CPU supports); for measurements.
void bp_sgemm_set_isa(int isa);

/// Scratch sizes, in floats, that `bp_sgemm_tile` needs for a tile of at most `m × n` with any `k`.
size_t bp_sgemm_scratch_a(ptrdiff_t m);
size_t bp_sgemm_scratch_b(ptrdiff_t n);

/// `C[0..<m, 0..<n] (+)= op(A) · op(B)` on one thread.
///
/// Element `(i, p)` of `op(A)` is `a[i * a_row + p * a_col]`, element `(p, j)` of `op(B)` is
/// `b[p * b_row + j * b_col]`, so transposed operands are read in place. `C` is row-major with
/// leading dimension `ldc`. The k axis is walked in fixed blocks, in order, so each element of C is
/// accumulated in the same order whatever the tile boundaries. `scratch_a` and `scratch_b` hold
/// at least `bp_sgemm_scratch_a(m)` and `bp_sgemm_scratch_b(n)` floats, 64-byte aligned.
void bp_sgemm_tile(const float *a, ptrdiff_t a_row, ptrdiff_t a_col,
                   const float *b, ptrdiff_t b_row, ptrdiff_t b_col,
                   float *c, ptrdiff_t ldc,
                   ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int accumulate,
                   float *scratch_a, float *scratch_b);

#ifdef __cplusplus
}
#endif

#endif
