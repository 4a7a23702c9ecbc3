// The parts of the GEMM kernels that are the same for both precisions, written once on `SCALAR`
// (float in sgemm.c, double in dgemm.c): the generic packers and the register-tile micro-kernel.
// Each including file defines SCALAR first; everything here is static to that file.

// Packs op(A)[0..<m, p0..<p0+kc] into panels of `mr` rows: panel-major, then k, then row; rows past
// m are zero so the micro-kernel never branches. Always inlined with a constant `mr`, so the copies
// below become a few vector moves instead of library calls.
static inline __attribute__((always_inline)) void
pack_a(const SCALAR *restrict a, ptrdiff_t a_row, ptrdiff_t a_col, ptrdiff_t m, ptrdiff_t p0, ptrdiff_t kc,
       const int mr, SCALAR *restrict dst) {
    for (ptrdiff_t i0 = 0; i0 < m; i0 += mr) {
        ptrdiff_t rows = m - i0 < mr ? m - i0 : mr;
        if (a_row == 1 && rows == mr) {
            // op(A) is stored transposed: one k step is mr contiguous scalars.
            for (ptrdiff_t p = 0; p < kc; p++) {
                const SCALAR *src = a + i0 + (p0 + p) * a_col;
                for (int r = 0; r < mr; r++) dst[p * mr + r] = src[r];
            }
        } else {
            // k step by k step, so the zero padding is written with the step, not column-wise
            // (mr-strided zeros were a quarter of the time of 36 × 32 · 32 × 36 products).
            const SCALAR *src = a + i0 * a_row + p0 * a_col;
            for (ptrdiff_t p = 0; p < kc; p++) {
                SCALAR *d = dst + p * mr;
                for (ptrdiff_t r = 0; r < rows; r++) d[r] = src[r * a_row + p * a_col];
                for (ptrdiff_t r = rows; r < mr; r++) d[r] = 0;
            }
        }
        dst += mr * kc;
    }
}

// Packs op(B)[p0..<p0+kc, 0..<n] into panels of `nr` columns, zero-padded past n. A transposed B
// (b_row == 1) is read along its stored rows, so every read stream is contiguous.
static inline __attribute__((always_inline)) void
pack_b(const SCALAR *restrict b, ptrdiff_t b_row, ptrdiff_t b_col, ptrdiff_t n, ptrdiff_t p0, ptrdiff_t kc,
       const int nr, SCALAR *restrict dst) {
    for (ptrdiff_t j0 = 0; j0 < n; j0 += nr) {
        ptrdiff_t cols = n - j0 < nr ? n - j0 : nr;
        if (b_col == 1 && cols == nr) {
            for (ptrdiff_t p = 0; p < kc; p++) {
                const SCALAR *src = b + (p0 + p) * b_row + j0;
                for (int j = 0; j < nr; j++) dst[p * nr + j] = src[j];
            }
        } else {
            const SCALAR *src = b + j0 * b_col + p0 * b_row;
            for (ptrdiff_t p = 0; p < kc; p++) {
                SCALAR *d = dst + p * nr;
                for (ptrdiff_t j = 0; j < cols; j++) d[j] = src[j * b_col + p * b_row];
                for (ptrdiff_t j = cols; j < nr; j++) d[j] = 0;
            }
        }
        dst += nr * kc;
    }
}

#define MICRO_KERNEL_STEP(VT, LANES, MR, NRV)                                                    \
    {                                                                                             \
        VT bv[NRV];                                                                               \
        _Pragma("clang loop unroll(full)") for (int v = 0; v < NRV; v++)                          \
            bv[v] = *(const VT *)(pb + v * LANES);                                                \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) {                         \
            const SCALAR ar = pa[r];                                                              \
            _Pragma("clang loop unroll(full)") for (int v = 0; v < NRV; v++)                      \
                acc[r][v] += ar * bv[v];                                                          \
        }                                                                                         \
        pa += MR;                                                                                 \
        pb += ldb;                                                                                \
    }

// Each micro-kernel computes a full MR × (NRV·LANES) tile into `out` (row stride ldo): out = acc or
// out += acc, or out = acc + bias (one rounding, the bias a row of NRV·LANES scalars) when `add`
// is 0 and `bias` is not NULL. B's k steps are `ldb` scalars apart: NRV·LANES in a packed panel, the row stride when
// a row-major op(B) is read in place. `acc += ar * bv` is contracted to a fused multiply-add where
// the target has one. Every level has a full kernel (NRV 2) and a half-width one (NRV 1) for a
// last panel of at most half the columns. The first `pf_lines` k steps also fetch one 64-byte
// line each from `pf` into L2 (a slice of the panel the tile multiplies next), spread among the
// multiply-adds instead of issued in a burst that would stall on full fill buffers.
#define MICRO_KERNEL(NAME, ATTR, VT, LANES, MR, NRV)                                              \
    ATTR static void NAME(const SCALAR *restrict pa, const SCALAR *restrict pb, ptrdiff_t ldb,    \
                          ptrdiff_t kc, SCALAR *restrict out, ptrdiff_t ldo, int add,             \
                          const SCALAR *restrict bias, const char *pf, ptrdiff_t pf_lines) {      \
        VT acc[MR][NRV];                                                                          \
        /* Fetch the C tile (MR rows ldo apart) while the k loop runs, not when it ends. */       \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) {                         \
            __builtin_prefetch(out + r * ldo, 1, 3);                                              \
            __builtin_prefetch(out + r * ldo + NRV * LANES - 1, 1, 3);                            \
        }                                                                                         \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++)                           \
            _Pragma("clang loop unroll(full)") for (int v = 0; v < NRV; v++) acc[r][v] = (VT){0}; \
        ptrdiff_t p = 0, fetching = pf_lines < kc ? pf_lines : kc;                                \
        for (; p < fetching; p++) {                                                               \
            __builtin_prefetch(pf + p * 64, 0, 2);                                                \
            MICRO_KERNEL_STEP(VT, LANES, MR, NRV)                                                 \
        }                                                                                         \
        for (; p < kc; p++) MICRO_KERNEL_STEP(VT, LANES, MR, NRV)                                 \
        if (!add && bias) {                                                                       \
            _Pragma("clang loop unroll(full)") for (int v = 0; v < NRV; v++) {                    \
                VT b = *(const VT *)(bias + v * LANES);                                           \
                _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++)                   \
                    *(VT *)(out + r * ldo + v * LANES) = acc[r][v] + b;                           \
            }                                                                                     \
            return;                                                                               \
        }                                                                                         \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) {                         \
            _Pragma("clang loop unroll(full)") for (int v = 0; v < NRV; v++) {                    \
                VT *dst = (VT *)(out + r * ldo + v * LANES);                                      \
                *dst = add ? *dst + acc[r][v] : acc[r][v];                                        \
            }                                                                                     \
        }                                                                                         \
    }

typedef void (*micro_kernel_fn)(const SCALAR *, const SCALAR *, ptrdiff_t, ptrdiff_t, SCALAR *, ptrdiff_t, int,
                                const SCALAR *, const char *, ptrdiff_t);
typedef void (*pack_fn)(const SCALAR *, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, SCALAR *);

// The k block of a product of depth k: k cut into the fewest blocks of at most KC, of equal size
// (rounded up to 8), so k = 576 runs as 3 × 192 instead of 256 + 256 + 64, where the short last
// block pays the C tile's load and store for few steps. Depends on k only, like every other choice.
static inline ptrdiff_t k_block(ptrdiff_t k) {
    ptrdiff_t blocks = (k + KC - 1) / KC;
    if (blocks < 1) return KC;
    ptrdiff_t size = ((k + blocks - 1) / blocks + 7) / 8 * 8;
    return size < KC ? size : KC;
}

// Scalars of scratch for a tile of at most m rows and depth k: its packed A block, then one packed
// B panel, each k_block(k) deep (a 36 × 32 · 32 × 36 product needs 10 KB, not 80, so its scratch
// fits on the stack).
static size_t tile_scratch_size(ptrdiff_t m, ptrdiff_t k) {
    ptrdiff_t kb = k_block(k);
    return (size_t)((m + 11) / 12 * 12 + 12) * kb + 32 * kb;
}

// Scalars of op(A) packed whole: rows rounded up to 12 (a multiple of every mr), times k.
static size_t packed_a_size(ptrdiff_t m, ptrdiff_t k) { return (size_t)((m + 11) / 12 * 12) * (size_t)k; }

// C[0..<m, 0..<n] (+)= op(A) · op(B) for one tile (or, with `bias` and without `accumulate`,
// C = bias + op(A) · op(B), the bias added to the first k block's sums: `bias` holds the tile's n
// columns), k in blocks of k_block(k), in order. op(A) comes either
// packed for the whole product (`packed_a`, laid out like packed B: block q at q·kb·m_pad, its
// panel i at i·mr·kc; the tile's rows start at panel i0_tile / mr) or is packed here, block by
// block, into `scratch`. op(B) comes either
// packed for the whole product (`packed_b`, the tile's columns starting at panel j0_tile / nr), or,
// when `packed_b` is NULL, row-major in place (`b` at the tile's first column, rows b_row apart):
// full panels are then read where they are and only a last partial panel is packed. Both give the
// same sums in the same order.
//
// Or, with `pack_b_level` (and `packed_a`), op(B) (`b` at the tile's first column, element (p, j)
// at b[p·b_row + j·b_col]) is packed here, block by block, into `scratch` (k_block(k) · n rounded
// up to 32 scalars): each worker packs the columns it multiplies, while they are hot, with no
// separate packing phase.
static inline __attribute__((always_inline)) void
gemm_tile(micro_kernel_fn kernel, micro_kernel_fn half_kernel, pack_fn pack_a_level, const int mr, const int nr,
          const SCALAR *a, ptrdiff_t a_row, ptrdiff_t a_col,
          const SCALAR *packed_a, ptrdiff_t m_total, ptrdiff_t i0_tile,
          const SCALAR *packed_b, ptrdiff_t n_total, ptrdiff_t j0_tile, const SCALAR *b, ptrdiff_t b_row,
          ptrdiff_t b_col, pack_fn pack_b_level,
          SCALAR *c, ptrdiff_t ldc, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int accumulate, SCALAR *scratch,
          const SCALAR *bias) {
    if (m <= 0 || n <= 0) return;
    if (accumulate) bias = NULL;
    if (k <= 0) {
        if (!accumulate)
            for (ptrdiff_t i = 0; i < m; i++) {
                if (bias) memcpy(c + i * ldc, bias, sizeof(SCALAR) * n);
                else memset(c + i * ldc, 0, sizeof(SCALAR) * n);
            }
        return;
    }
    ptrdiff_t n_pad = (n_total + 31) / 32 * 32, m_pad = (m_total + 11) / 12 * 12;
    // Only a tile that packs A or reads B in place has scratch (for packed A and an edge panel of B).
    SCALAR *edge_b = scratch && !pack_b_level ? scratch + ((m + 11) / 12 * 12 + 12) * k_block(k) : NULL;
    if (pack_b_level) j0_tile = 0;
    // FMA levels round once per step where the portable kernel rounds twice, so levels differ in
    // the last bits, but neither thread counts, tilings nor packing change a result.
    SCALAR edge[12 * 32] __attribute__((aligned(64)));
    const ptrdiff_t kb = k_block(k);
    for (ptrdiff_t p0 = 0; p0 < k; p0 += kb) {
        ptrdiff_t kc = k - p0 < kb ? k - p0 : kb;
        int add = accumulate || p0 > 0;
        const SCALAR *block_a = scratch;
        if (packed_a) block_a = packed_a + p0 * m_pad + (i0_tile / mr) * mr * kc;
        else pack_a_level(a, a_row, a_col, m, p0, kc, scratch);
        const SCALAR *block_b = packed_b ? packed_b + p0 * n_pad : NULL;
        if (pack_b_level) {
            pack_b_level(b, b_row, b_col, n, p0, kc, scratch);
            block_b = scratch;
        }
        for (ptrdiff_t j0 = 0; j0 < n; j0 += nr) {
            ptrdiff_t cols = n - j0 < nr ? n - j0 : nr;
            const SCALAR *pb;
            ptrdiff_t ldb = nr;
            if (block_b) {
                pb = block_b + ((j0_tile + j0) / nr) * nr * kc;
            } else if (cols == nr) {
                pb = b + p0 * b_row + j0;
                ldb = b_row;
            } else {
                pack_b(b + j0, b_row, 1, cols, p0, kc, nr, edge_b);
                pb = edge_b;
            }
            // A B packed for the whole product may still be in memory or another core's cache
            // (a weight packed once for inference is read from memory on every call): each row
            // panel's kernel fetches a slice of the tile's next panel into L2 while it multiplies.
            const char *next_pb = NULL;
            ptrdiff_t next_lines = 0, lines_per_row_panel = 0;
            if (packed_b) {
                if (j0 + nr < n) {
                    next_pb = (const char *)(pb + nr * kc);
                    next_lines = (ptrdiff_t)(nr * kc * sizeof(SCALAR)) / 64;
                } else if (p0 + kb < k) {
                    ptrdiff_t next_kc = k - (p0 + kb) < kb ? k - (p0 + kb) : kb;
                    next_pb = (const char *)(packed_b + (p0 + kb) * n_pad + (j0_tile / nr) * nr * next_kc);
                    next_lines = (ptrdiff_t)(nr * next_kc * sizeof(SCALAR)) / 64;
                }
                lines_per_row_panel = (next_lines + (m + mr - 1) / mr - 1) / ((m + mr - 1) / mr);
            }
            for (ptrdiff_t i0 = 0; i0 < m; i0 += mr) {
                const char *pf = NULL;
                ptrdiff_t pf_lines = 0;
                if (next_pb) {
                    ptrdiff_t first = (i0 / mr) * lines_per_row_panel;
                    ptrdiff_t last = first + lines_per_row_panel < next_lines ? first + lines_per_row_panel : next_lines;
                    if (last > first) { pf = next_pb + first * 64; pf_lines = last - first; }
                }
                const SCALAR *pa = block_a + (i0 / mr) * mr * kc;
                ptrdiff_t rows = m - i0 < mr ? m - i0 : mr;
                SCALAR *ct = c + i0 * ldc + j0;
                const SCALAR *tile_bias = bias ? bias + j0 : NULL;
                if (rows == mr && cols == nr) {
                    kernel(pa, pb, ldb, kc, ct, ldc, add, tile_bias, pf, pf_lines);
                } else if (rows == mr && cols == nr / 2) {
                    half_kernel(pa, pb, ldb, kc, ct, ldc, add, tile_bias, pf, pf_lines);
                } else {
                    // A last panel of at most nr/2 columns needs only the half-width kernel
                    // (36 columns: 32 + 16 instead of 32 + 32), which sums each element the same way.
                    (cols <= nr / 2 ? half_kernel : kernel)(pa, pb, ldb, kc, edge, nr, 0, NULL, pf, pf_lines);
                    for (ptrdiff_t r = 0; r < rows; r++)
                        for (ptrdiff_t j = 0; j < cols; j++)
                            ct[r * ldc + j] = add ? ct[r * ldc + j] + edge[r * nr + j]
                                              : tile_bias ? edge[r * nr + j] + tile_bias[j] : edge[r * nr + j];
                }
            }
        }
    }
}
