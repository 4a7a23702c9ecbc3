#ifndef BACKPROP_KERNELS_C_H
#define BACKPROP_KERNELS_C_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set levels of the GEMM micro-kernels (register tiles for float / double).
enum {
    BP_ISA_PORTABLE = 0,  ///< Vector extensions at the compiler's baseline (SSE2 on x86-64): 4×8 / 4×4.
    BP_ISA_AVX2 = 1,      ///< AVX2 + FMA: 6×16 / 6×8.
    BP_ISA_AVX512 = 2     ///< AVX-512F: 12×32 / 12×16.
};

/// `y[i] = fma(a, x[i], y[i])` for `i < n`, one rounding per element (FMA instructions when the
/// CPU has them, the C library's `fmaf` otherwise; the results are identical).
void bp_saxpy(float *y, float a, const float *x, long n);

/// The double-precision `bp_saxpy`.
void bp_daxpy(double *y, double a, const double *x, long n);

/// One Adam/AdamW step over `n` parameters in place, in PyTorch's order, one rounding per FMA:
/// `θ ← θ·shrink` (if `shrink_theta`); `g ← fma(l2, θ, g)` (if `l2_active`);
/// `m ← fma(1 − β₁, g − m, m)`; `v ← fma((1 − β₂)·g, g, v·β₂)`; with `v_max`, `v_max ← max(v_max, v)`
/// and v_max replaces v below; `θ ← θ − (step_size·m)/(√v / bias_correction2_sqrt + eps)`.
/// FMA instructions when the CPU has them, the C library's `fmaf` otherwise; the results are identical.
void bp_sadam(float *theta, float *m, float *v, float *v_max, const float *grad, long n, int shrink_theta,
              float shrink, int l2_active, float l2, float one_minus_beta1, float beta2, float one_minus_beta2,
              float step_size, float bias_correction2_sqrt, float eps);

/// The best level this CPU supports (detected once with `__builtin_cpu_supports`).
int bp_cpu_best_isa(void);

/// The default level of both GEMMs (float and double): `bp_cpu_best_isa()`, or
/// `BACKPROP_SGEMM_ISA` from the environment (clamped to what the CPU supports).
int bp_sgemm_isa(void);

/// Changes the default level (clamped to what the CPU supports); for measurements.
void bp_sgemm_set_isa(int isa);

/// Columns (`nr`) of the register tile at a level. Every function below takes the level as its
/// first argument (clamped to what the CPU supports); one product must use one level throughout.
int bp_sgemm_nr(int isa);

/// Floats of scratch `bp_sgemm_tile` needs for a tile of at most `m` rows and depth `k` (packed A and one B panel), 64-byte aligned.
size_t bp_sgemm_scratch_a(ptrdiff_t m, ptrdiff_t k);

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
/// so each element of C is accumulated in the same order whatever the tile boundaries. With a
/// `bias` (the tile's `n` entries; NULL for none) and `accumulate` 0, C = bias + op(A)·op(B), the
/// bias added to the first block's sums (the same value as filling C with the bias and
/// accumulating); every tile function below takes `bias` the same way.
void bp_sgemm_tile(int isa, const float *a, ptrdiff_t a_row, ptrdiff_t a_col,
                   const float *packed_b, ptrdiff_t n_total, ptrdiff_t j0,
                   float *c, ptrdiff_t ldc,
                   ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int accumulate,
                   float *scratch_a, const float *bias);

/// The double-precision `bp_sgemm_nr`.
int bp_dgemm_nr(int isa);

/// Doubles of scratch `bp_dgemm_tile` needs to pack a tile of at most `m` rows and depth `k`, 64-byte aligned.
size_t bp_dgemm_scratch_a(ptrdiff_t m, ptrdiff_t k);

/// Doubles needed to hold all of `op(B)` (`k × n`) packed.
size_t bp_dgemm_packed_b_size(ptrdiff_t n, ptrdiff_t k);

/// The double-precision `bp_sgemm_pack_b` (panels of `bp_dgemm_nr(isa)` columns).
void bp_dgemm_pack_b(int isa, const double *b, ptrdiff_t b_row, ptrdiff_t b_col, ptrdiff_t n, ptrdiff_t k,
                     ptrdiff_t panel_begin, ptrdiff_t panel_end, double *packed);

/// The double-precision `bp_sgemm_tile`: `C (+)= op(A) · op(B)[:, j0..<j0+n]` on one thread, from
/// `op(B)` packed by `bp_dgemm_pack_b` at the same level; `j0` a multiple of `bp_dgemm_nr(isa)`.
/// Each element of C is accumulated in the same order whatever the tile boundaries.
void bp_dgemm_tile(int isa, const double *a, ptrdiff_t a_row, ptrdiff_t a_col,
                   const double *packed_b, ptrdiff_t n_total, ptrdiff_t j0,
                   double *c, ptrdiff_t ldc,
                   ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int accumulate,
                   double *scratch_a, const double *bias);

/// `bp_sgemm_tile` with a row-major `op(B)` read in place instead of packed: element `(p, j)` of
/// the tile's columns at `b[p * b_row + j]`. Same results as the packed form; it saves packing
/// B when few rows of A share each panel. `scratch` holds `bp_sgemm_scratch_a(m, k)` floats.
void bp_sgemm_tile_unpacked_b(int isa, const float *a, ptrdiff_t a_row, ptrdiff_t a_col, const float *b, ptrdiff_t b_row,
                              float *c, ptrdiff_t ldc, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int accumulate,
                              float *scratch, const float *bias);

/// Rows of the float register tile at `isa` (12, 6 or 4): the panel height of `bp_sgemm_pack_a`.
int bp_sgemm_mr(int isa);

/// The double-precision `bp_sgemm_mr`.
int bp_dgemm_mr(int isa);

/// Floats `bp_sgemm_pack_a` writes for an `m × k` op(A): rows rounded up to 12, times k.
size_t bp_sgemm_packed_a_size(ptrdiff_t m, ptrdiff_t k);

/// Packs row panels `panel_begin..<panel_end` (of `mr` rows at `isa`) of op(A) (`m × k`, element
/// `(i, p)` at `a[i * a_row + p * a_col]`) into `packed` (size `bp_sgemm_packed_a_size(m, k)`), for
/// products whose A is shared by several column tiles: each tile then reads it instead of packing it.
void bp_sgemm_pack_a(int isa, const float *a, ptrdiff_t a_row, ptrdiff_t a_col, ptrdiff_t m, ptrdiff_t k,
                     ptrdiff_t panel_begin, ptrdiff_t panel_end, float *packed);

/// `bp_sgemm_tile` with op(A) packed whole by `bp_sgemm_pack_a` (`m_total` rows; the tile's rows
/// start at `i0`, a multiple of 12): `C (+)= op(A)[i0..<i0+m, :] · op(B)[:, j0..<j0+n]`, with the
/// same sums in the same order as `bp_sgemm_tile`.
void bp_sgemm_tile_packed(int isa, const float *packed_a, ptrdiff_t m_total, ptrdiff_t i0,
                          const float *packed_b, ptrdiff_t n_total, ptrdiff_t j0, float *c, ptrdiff_t ldc,
                          ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int accumulate, const float *bias);

/// The double-precision `bp_sgemm_packed_a_size`.
size_t bp_dgemm_packed_a_size(ptrdiff_t m, ptrdiff_t k);

/// The double-precision `bp_sgemm_pack_a`.
void bp_dgemm_pack_a(int isa, const double *a, ptrdiff_t a_row, ptrdiff_t a_col, ptrdiff_t m, ptrdiff_t k,
                     ptrdiff_t panel_begin, ptrdiff_t panel_end, double *packed);

/// The double-precision `bp_sgemm_tile_packed`.
void bp_dgemm_tile_packed(int isa, const double *packed_a, ptrdiff_t m_total, ptrdiff_t i0,
                          const double *packed_b, ptrdiff_t n_total, ptrdiff_t j0, double *c, ptrdiff_t ldc,
                          ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int accumulate, const double *bias);

/// The k block of the float GEMM for depth `k`: the fewest blocks of at most 256, of equal size
/// rounded up to 8 (576 → 192).
ptrdiff_t bp_sgemm_k_block(ptrdiff_t k);

/// The double-precision `bp_sgemm_k_block`.
ptrdiff_t bp_dgemm_k_block(ptrdiff_t k);

/// Floats of scratch `bp_sgemm_tile_packed_a` needs for a tile of `n` columns and depth `k`.
size_t bp_sgemm_scratch_b(ptrdiff_t n, ptrdiff_t k);

/// `C (+)= op(A)[i0..<i0+m] · op(B)` for one tile on the calling thread, with op(A) packed whole by
/// `bp_sgemm_pack_a` and op(B) (element `(p, j)` at `b[p * b_row + j * b_col]`, `b` at the tile's
/// first column) packed here, block by block, into `scratch_b` (`bp_sgemm_scratch_b(n, k)` floats,
/// 64-byte aligned). Same sums as `bp_sgemm_tile_packed`.
void bp_sgemm_tile_packed_a(int isa, const float *packed_a, ptrdiff_t m_total, ptrdiff_t i0, const float *b,
                            ptrdiff_t b_row, ptrdiff_t b_col, float *c, ptrdiff_t ldc, ptrdiff_t m, ptrdiff_t n,
                            ptrdiff_t k, int accumulate, float *scratch_b, const float *bias);

/// The double-precision `bp_sgemm_scratch_b`.
size_t bp_dgemm_scratch_b(ptrdiff_t n, ptrdiff_t k);

/// The double-precision `bp_sgemm_tile_packed_a`.
void bp_dgemm_tile_packed_a(int isa, const double *packed_a, ptrdiff_t m_total, ptrdiff_t i0, const double *b,
                            ptrdiff_t b_row, ptrdiff_t b_col, double *c, ptrdiff_t ldc, ptrdiff_t m, ptrdiff_t n,
                            ptrdiff_t k, int accumulate, double *scratch_b, const double *bias);

/// The double-precision `bp_sgemm_tile_unpacked_b`.
void bp_dgemm_tile_unpacked_b(int isa, const double *a, ptrdiff_t a_row, ptrdiff_t a_col, const double *b, ptrdiff_t b_row,
                              double *c, ptrdiff_t ldc, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int accumulate,
                              double *scratch, const double *bias);

/// Whether the AVX2 normalization loops below may run on this CPU (never on other architectures).
/// Each is the exact vector form of a loop of the Swift normalization kernels: same operations,
/// same order, sums in the same eight `double` lanes, no fused multiply-add, so the results are
/// bit-for-bit those of the Swift loop.
int bp_norm_kernels_available(void);

/// Lane sums of `(x − mean)²` over `x[0..<n]` in `double`, eight values written to `out`: four
/// groups of eight lanes (blocks of 32 put elements 8q..8q+7 in group q; remaining blocks of eight go
/// to groups 0, 1, 2; the tail to its own lanes from lane 0), combined as ((g0 + g1) + (g2 + g3)) + tail.
void bp_f32_lane_centered_squares(const float *x, long n, double mean, double *out);

/// Adds Σ (x − shift) to `sums[0..<8]` and Σ (x − shift)² to `squares[0..<8]` in one sweep, each in
/// two groups of eight lanes (blocks of 16 put elements 0–7 in group 0 and 8–15 in group 1; a
/// remaining block of eight goes to group 0; the tail to its own lanes), combined as (g0 + g1) + tail.
void bp_f32_lane_shifted_moments(const float *x, long n, double shift, double *sums, double *squares);

/// `y[k] (+)= ((x[k] − mean_hi) − mean_lo)·rstd·scale[k] + shift[k]`.
void bp_f32_normalize_affine(const float *x, float *y, long n, float mean_hi, float mean_lo, float rstd,
                             const float *scale, const float *shift, int accumulate);

/// `y[k] (+)= ((x[k] − mean_hi) − mean_lo)·scale + shift`.
void bp_f32_normalize_scaled(const float *x, float *y, long n, float mean_hi, float mean_lo,
                             float scale, float shift, int accumulate);

/// Adds to the lane sums `sums[0..<8]` (Σ g·dy) and `sums[8..<16]` (Σ g·dy·x̂), with `g = scale[k]`
/// and `x̂ = (x − mean)·rstd` in `double`; when both partial arrays are given, also
/// `weight_partial[k] += dy·x̂` and `bias_partial[k] += dy`.
void bp_f32_backward_sums_affine(const float *x, const float *dy, const float *scale, long n, double mean,
                                 double rstd, double *weight_partial, double *bias_partial, double *sums);

/// `out[0] = Σ dy`, `out[1] = Σ dy·(x − mean)·rstd` over `n` elements, in eight `double` lanes.
void bp_f32_backward_block_sums(const float *x, const float *dy, long n, double mean, double rstd, double *out);

/// `dx[k] (=|+=) rstd·scale[k]·dy[k] − shift − ((x[k] − mean_hi) − mean_lo)·slope`.
void bp_f32_backward_dx_affine(const float *x, const float *dy, const float *scale, float *dx, long n,
                               float mean_hi, float mean_lo, float rstd, float shift, float slope, int overwrite);

/// `dx[k] (=|+=) scale·dy[k] − shift − ((x[k] − mean_hi) − mean_lo)·slope`.
void bp_f32_backward_dx_scaled(const float *x, const float *dy, float *dx, long n, float mean_hi,
                               float mean_lo, float scale, float shift, float slope, int overwrite);

/// Statistics and normalization of `rows` contiguous rows of `n ≥ 32` floats with a per-position
/// scale and shift (LayerNorm, RMSNorm): per row, the moments of `NormalizationKernels.setMoments`
/// (shifted lane sums about the row's first element when `centered`, else Σx²), then every rstd
/// `1/√(M2/n + ε)`, then `bp_f32_normalize_affine`; the same operations as the Swift per-set path,
/// so the same bits, without its per-row overhead. Writes `mean`, `rstd`, `squares` (M2) per row.
void bp_f32_rows_normalize_with_statistics(const float *x, float *y, long rows, long n, int centered, double eps,
                                           const float *scale, const float *shift, double *mean, double *rstd,
                                           double *squares);

/// The backward of `rows` contiguous rows of `n ≥ 32` floats with a per-position scale (LayerNorm,
/// RMSNorm), as the per-set Swift path of `normalizeBackward` computes it: per row,
/// `bp_f32_backward_sums_affine` (adding to the parameter partials when given), then, when `dx` is
/// given, `bp_f32_backward_dx_affine` with shift `rstd·mean(g·dy)` (0 unless `centered`) and slope
/// `rstd²·mean(g·dy·x̂)·coupling` (`coupling` null means 1). The same operations, so the same bits.
void bp_f32_rows_normalize_backward(const float *x, const float *dy, const float *scale, float *dx, long rows, long n,
                                    const double *mean, const double *rstd, const double *coupling, int centered,
                                    double *weight_partial, double *bias_partial, int overwrite);

/// The instruction-set level the column normalization loops run at (`BP_ISA_AVX2` or `BP_ISA_AVX512`;
/// `BACKPROP_NORM_ISA` caps it). Every level gives the same bits.
int bp_norm_column_isa(void);

/// Column loops over a `rows × cols` rectangle of floats with row stride `stride` (a channels-strided
/// layout seen as `[N, C·L]`): each column on its own, summed over the rows in row order in one
/// `double` per column, so the result does not depend on the vector width. The two sum loops
/// (`bp_f32_column_moments`, `bp_f32_column_backward_sums`) keep blocks of 32 (AVX-512) or 16 and 8
/// (AVX2) columns' sums in registers down all the rows; the other columns take the row-by-row loop.
///
/// `sums[j] = Σ_r x[r, j]` (overwritten): the plain column sums, in blocks of 64 (AVX-512) or 16
/// (AVX2) columns held in registers down the rows. Only when `bp_norm_kernels_available()`.
void bp_f32_column_sums(const float *x, long rows, long stride, long cols, double *sums);

/// `sums[j] = Σ_r (x[r, j] − shift[j])`, `squares[j] = Σ_r (x[r, j] − shift[j])²` (overwritten).
void bp_f32_column_moments(const float *x, long rows, long stride, long cols, const double *shift,
                           double *sums, double *squares);

/// `y[r, j] (+)= ((x[r, j] − mean_hi[j]) − mean_lo[j])·scale[j] + shift[j]`.
void bp_f32_column_normalize(const float *x, float *y, long rows, long stride, long cols, const float *mean_hi,
                             const float *mean_lo, const float *scale, const float *shift, int accumulate);

/// `sum_dy[j] = Σ_r dy[r, j]`, `sum_dy_xhat[j] = Σ_r dy[r, j]·(x[r, j] − mean[j])·rstd[j]` in `double` (overwritten).
void bp_f32_column_backward_sums(const float *x, const float *dy, long rows, long stride, long cols,
                                 const double *mean, const double *rstd, double *sum_dy, double *sum_dy_xhat);

/// `dx[r, j] (=|+=) scale[j]·dy[r, j] − shift[j] − ((x[r, j] − mean_hi[j]) − mean_lo[j])·slope[j]`, or
/// `scale[j]·dy[r, j]` alone when `slope` is null (given statistics).
void bp_f32_column_backward_dx(const float *x, const float *dy, float *dx, long rows, long stride, long cols,
                               const float *mean_hi, const float *mean_lo, const float *scale, const float *shift,
                               const float *slope, int overwrite);

/// The functions of `bp_vmath_f32`, with their largest error against the correctly rounded value
/// found by an exhaustive sweep (every float with 10⁻⁶ ≤ |x| ≤ 88 for exp, ≤ 10 for tanh,
/// 10⁻⁷ ≤ |x| ≤ 15 for GELU and its derivative; the AVX-512 copy, all copies agree bit for bit):
enum {
    BP_VMATH_EXP = 0,              ///< eˣ: 0.98 ulp.
    BP_VMATH_TANH = 1,             ///< tanh x: 1.33 ulp.
    BP_VMATH_GELU = 2,             ///< x·Φ(x), Φ from a central polynomial and an erfc tail form (no cancellation in
                                   ///< 1 + erf): 6.3 ulp over normal results (at x = −3.01; 1.6 for |x| ≤ 0.5). With libm's erff, 0.5·x·(1 + erff(x/√2))
                                   ///< in float is off by up to 102 ulp for |x| < 3 and 1.7e7 ulp in the negative tail.
    BP_VMATH_GELU_DERIVATIVE = 3   ///< Φ(x) + x·φ(x): 5.4 ulp of its larger term (it crosses 0 near x = −0.75).
};

/// `y[i] = f(x[i])` for `i < n` with one of the `BP_VMATH_` functions, vectorized for the
/// instruction-set level `isa` (`BP_ISA_…`, clamped to what the CPU has; negative for the best).
/// Every level gives bit-identical results (explicit FMAs, no contraction). NaN stays NaN; ±∞ and
/// overflow give what the functions' limits give (exp(89) = ∞, gelu(−∞) = NaN as 0.5·x·(1 + erf)).
void bp_vmath_f32(int function, int isa, const float *x, float *y, long n);

/// `y[i] = f(x[i])·g[i]`, f rounded to float first: the values of `bp_vmath_f32` then a multiply, in
/// one pass (a backward rule `g·f′(x)`).
void bp_vmath_f32_times(int function, int isa, const float *x, const float *g, float *y, long n);

/// Floats of scratch one `bp_attention_f32` call needs.
size_t bp_attention_scratch_floats(long key_length, long head_dim);

/// Attention forward for the (sample, head) tasks `task_begin..<task_end` (task = n·heads + h):
/// `out[n, i, h·d + c] = Σ_j p_j·v[n, j, h·d + c]`, `p = softmax_j(scale·q_i·k_j + mask[n, h, i, j])`,
/// with keys `j > i` removed when `causal`. Rows are `*_row` floats apart and samples `*_batch`;
/// the mask (or NULL) is read at `n·mask_n + h·mask_h + i·mask_l + j·mask_s` (0 strides broadcast)
/// and holds 0 or −∞ (or any additive value). A query whose keys are all removed gets NaN, as the
/// unfused softmax. Disjoint task ranges may run on different threads, each with its own scratch.
void bp_attention_f32(int isa, const float *q, const float *k, const float *v, float *out, long heads, long query_length,
                      long key_length, long head_dim, long q_batch, long q_row, long k_batch, long k_row, long v_batch, long v_row,
                      long o_batch, long o_row, float scale, const float *mask, long mask_n, long mask_h, long mask_l, long mask_s,
                      int causal, float *scratch, long task_begin, long task_end);

/// A chunk of a parallel region: `function(context, chunk)`.
typedef void (*bp_chunk_function)(void *context, long chunk);

/// Runs `function(context, c)` for every `c` in `0..<chunks` on the calling thread and `workers − 1`
/// helper threads of a small pool, and returns 1 when all have finished. Helpers spin for about
/// 0.2 ms after a job before they sleep, so back-to-back regions start without a wake-up. Returns
/// 0 without running anything when the pool is busy (another thread's region, or a region nested
/// in a chunk) or `workers` or `chunks` is below 2; the caller then runs the region itself.
int bp_parallel_run(long chunks, int workers, bp_chunk_function function, void *context);

/// Makes glibc keep freed large blocks for reuse: blocks up to 32 MiB come from the heap instead of
/// fresh `mmap`s, and the heap's free top is only returned past 1 GiB. Returns 1 when applied, 0
/// where the C library is not glibc.
int bp_memory_retain_freed(void);

/// Returns the allocator's free memory to the operating system (`malloc_trim(0)` on glibc).
void bp_memory_release_free(void);

#ifdef __cplusplus
}
#endif

#endif
