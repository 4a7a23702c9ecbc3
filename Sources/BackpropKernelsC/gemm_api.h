// The exported entry points of a GEMM precision, the same for both: included at the end of
// sgemm.c and dgemm.c after their micro-kernels, packers, `clamp_isa` and `tile_shape`, with
// `SCALAR`, `KC`, `GEMM_API(name)` (the exported name, `bp_sgemm_name` or `bp_dgemm_name`) and each
// level's register tile `MR_AVX512`/`NR_AVX512`, `MR_AVX2`/`NR_AVX2`, `MR_PORTABLE`/`NR_PORTABLE`
// defined.

int GEMM_API(nr)(int isa) { int mr, nr; tile_shape(clamp_isa(isa), &mr, &nr); return nr; }

int GEMM_API(mr)(int isa) { int mr, nr; tile_shape(clamp_isa(isa), &mr, &nr); return mr; }

ptrdiff_t GEMM_API(k_block)(ptrdiff_t k) { return k_block(k); }

size_t GEMM_API(scratch_a)(ptrdiff_t m, ptrdiff_t k) { return tile_scratch_size(m, k); }

size_t GEMM_API(packed_b_size)(ptrdiff_t n, ptrdiff_t k) { return (size_t)((n + 31) / 32 * 32) * (size_t)k; }

// Packed B holds, for each k block in order, every nr-column panel of that block: block q starts
// at q·kb·n_pad (kb = k_block(k)) and its panel j at j·nr·kc.
void GEMM_API(pack_b)(int isa, const SCALAR *b, ptrdiff_t b_row, ptrdiff_t b_col, ptrdiff_t n, ptrdiff_t k,
                     ptrdiff_t panel_begin, ptrdiff_t panel_end, SCALAR *packed) {
    isa = clamp_isa(isa);
    int mr, nr;
    tile_shape(isa, &mr, &nr);
    ptrdiff_t n_pad = (n + 31) / 32 * 32;
    ptrdiff_t j_begin = panel_begin * nr, j_end = panel_end * nr < n ? panel_end * nr : n;
    if (j_begin >= j_end) return;
    const ptrdiff_t kb = k_block(k);
    for (ptrdiff_t p0 = 0; p0 < k; p0 += kb) {
        ptrdiff_t kc = k - p0 < kb ? k - p0 : kb;
        SCALAR *dst = packed + p0 * n_pad + panel_begin * nr * kc;
        const SCALAR *src = b + j_begin * b_col;
        switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
        case BP_ISA_AVX512: pack_b_avx512(src, b_row, b_col, j_end - j_begin, p0, kc, dst); break;
        case BP_ISA_AVX2: pack_b_avx2(src, b_row, b_col, j_end - j_begin, p0, kc, dst); break;
#endif
        default: pack_b(src, b_row, b_col, j_end - j_begin, p0, kc, NR_PORTABLE, dst); break;
        }
    }
}

static void pack_b_portable(const SCALAR *b, ptrdiff_t b_row, ptrdiff_t b_col, ptrdiff_t n, ptrdiff_t p0, ptrdiff_t kc,
                            SCALAR *dst) {
    pack_b(b, b_row, b_col, n, p0, kc, NR_PORTABLE, dst);
}

// The tile driver with this level's kernel and packers (constants folded per level); `local_b`
// packs op(B) inside the tile (see gemm_tile).
static void tile_at_level(int isa, const SCALAR *a, ptrdiff_t a_row, ptrdiff_t a_col, const SCALAR *packed_a,
                          ptrdiff_t m_total, ptrdiff_t i0, const SCALAR *packed_b,
                          ptrdiff_t n_total, ptrdiff_t j0, const SCALAR *b, ptrdiff_t b_row, ptrdiff_t b_col, int local_b,
                          SCALAR *c, ptrdiff_t ldc, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int accumulate, SCALAR *scratch,
                          const SCALAR *bias) {
    switch (clamp_isa(isa)) {
#if defined(__x86_64__) || defined(__i386__)
    case BP_ISA_AVX512:
        gemm_tile(kernel_avx512, kernel_avx512_half, pack_a_avx512, MR_AVX512, NR_AVX512, a, a_row, a_col, packed_a, m_total, i0, packed_b, n_total, j0, b, b_row,
                  b_col, local_b ? pack_b_avx512 : NULL, c, ldc, m, n, k,
                  accumulate, scratch, bias);
        break;
    case BP_ISA_AVX2:
        gemm_tile(kernel_avx2, kernel_avx2_half, pack_a_avx2, MR_AVX2, NR_AVX2, a, a_row, a_col, packed_a, m_total, i0, packed_b, n_total, j0, b, b_row,
                  b_col, local_b ? pack_b_avx2 : NULL, c, ldc, m, n, k,
                  accumulate, scratch, bias);
        break;
#endif
    default:
        gemm_tile(kernel_portable, kernel_portable_half, pack_a_portable, MR_PORTABLE, NR_PORTABLE, a, a_row, a_col, packed_a, m_total, i0, packed_b, n_total, j0, b, b_row,
                  b_col, local_b ? pack_b_portable : NULL, c, ldc, m, n, k,
                  accumulate, scratch, bias);
        break;
    }
}

void GEMM_API(tile)(int isa, const SCALAR *a, ptrdiff_t a_row, ptrdiff_t a_col,
                   const SCALAR *packed_b, ptrdiff_t n_total, ptrdiff_t j0,
                   SCALAR *c, ptrdiff_t ldc,
                   ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int accumulate,
                   SCALAR *scratch_a, const SCALAR *bias) {
    tile_at_level(isa, a, a_row, a_col, NULL, m, 0, packed_b, n_total, j0, NULL, 0, 1, 0, c, ldc, m, n, k, accumulate, scratch_a,
                  bias);
}

void GEMM_API(tile_unpacked_b)(int isa, const SCALAR *a, ptrdiff_t a_row, ptrdiff_t a_col, const SCALAR *b, ptrdiff_t b_row,
                              SCALAR *c, ptrdiff_t ldc, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int accumulate,
                              SCALAR *scratch, const SCALAR *bias) {
    tile_at_level(isa, a, a_row, a_col, NULL, m, 0, NULL, n, 0, b, b_row, 1, 0, c, ldc, m, n, k, accumulate, scratch, bias);
}

size_t GEMM_API(packed_a_size)(ptrdiff_t m, ptrdiff_t k) { return packed_a_size(m, k); }

// Packed A holds, for each k block in order, every mr-row panel of that block: block q starts at
// q·kb·m_pad and its panel i at i·mr·kc, exactly what gemm_tile packs for a tile block by block.
void GEMM_API(pack_a)(int isa, const SCALAR *a, ptrdiff_t a_row, ptrdiff_t a_col, ptrdiff_t m, ptrdiff_t k,
                     ptrdiff_t panel_begin, ptrdiff_t panel_end, SCALAR *packed) {
    isa = clamp_isa(isa);
    int mr, nr;
    tile_shape(isa, &mr, &nr);
    ptrdiff_t m_pad = (m + 11) / 12 * 12;
    ptrdiff_t i_begin = panel_begin * mr, i_end = panel_end * mr < m ? panel_end * mr : m;
    if (i_begin >= i_end) return;
    const SCALAR *src = a + i_begin * a_row;
    const ptrdiff_t kb = k_block(k);
    for (ptrdiff_t p0 = 0; p0 < k; p0 += kb) {
        ptrdiff_t kc = k - p0 < kb ? k - p0 : kb;
        SCALAR *dst = packed + p0 * m_pad + panel_begin * mr * kc;
        switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
        case BP_ISA_AVX512: pack_a_avx512(src, a_row, a_col, i_end - i_begin, p0, kc, dst); break;
        case BP_ISA_AVX2: pack_a_avx2(src, a_row, a_col, i_end - i_begin, p0, kc, dst); break;
#endif
        default: pack_a_portable(src, a_row, a_col, i_end - i_begin, p0, kc, dst); break;
        }
    }
}

void GEMM_API(tile_packed)(int isa, const SCALAR *packed_a, ptrdiff_t m_total, ptrdiff_t i0,
                          const SCALAR *packed_b, ptrdiff_t n_total, ptrdiff_t j0, SCALAR *c, ptrdiff_t ldc,
                          ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, int accumulate, const SCALAR *bias) {
    tile_at_level(isa, NULL, 0, 0, packed_a, m_total, i0, packed_b, n_total, j0, NULL, 0, 1, 0, c, ldc, m, n, k, accumulate,
                  NULL, bias);
}

size_t GEMM_API(scratch_b)(ptrdiff_t n, ptrdiff_t k) { return (size_t)((n + 31) / 32 * 32) * (size_t)k_block(k); }

void GEMM_API(tile_packed_a)(int isa, const SCALAR *packed_a, ptrdiff_t m_total, ptrdiff_t i0, const SCALAR *b,
                            ptrdiff_t b_row, ptrdiff_t b_col, SCALAR *c, ptrdiff_t ldc, ptrdiff_t m, ptrdiff_t n,
                            ptrdiff_t k, int accumulate, SCALAR *scratch_b, const SCALAR *bias) {
    tile_at_level(isa, NULL, 0, 0, packed_a, m_total, i0, NULL, n, 0, b, b_row, b_col, 1, c, ldc, m, n, k, accumulate,
                  scratch_b, bias);
}
