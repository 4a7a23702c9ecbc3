// Single-precision GEMM tile with packed panels and register-blocked micro-kernels, one per
// instruction set, chosen at run time. Built without any special compiler flags: the AVX2 and
// AVX-512 kernels carry their own `target` attributes.
#include "BackpropKernelsC.h"
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#define KC 256
#define SCALAR float
#include "gemm_body.h"

typedef float v4f __attribute__((vector_size(16), aligned(4)));
typedef float v8f __attribute__((vector_size(32), aligned(4)));
typedef float v16f __attribute__((vector_size(64), aligned(4)));

// Both start at -1 and are filled in on first use; concurrent first uses compute the same value,
// and relaxed atomics keep that race well defined.
static int detected_isa = -1;
static int selected_isa = -1;

int bp_cpu_best_isa(void) {
    int isa = __atomic_load_n(&detected_isa, __ATOMIC_RELAXED);
    if (isa < 0) {
        isa = BP_ISA_PORTABLE;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) isa = BP_ISA_AVX2;
        if (__builtin_cpu_supports("avx512f")) isa = BP_ISA_AVX512;
#endif
        __atomic_store_n(&detected_isa, isa, __ATOMIC_RELAXED);
    }
    return isa;
}

static int clamp_isa(int isa) {
    int best = bp_cpu_best_isa();
    return isa < 0 ? 0 : (isa > best ? best : isa);
}

int bp_sgemm_isa(void) {
    int isa = __atomic_load_n(&selected_isa, __ATOMIC_RELAXED);
    if (isa < 0) {
        const char *forced = getenv("BACKPROP_SGEMM_ISA");
        isa = clamp_isa(forced && *forced ? atoi(forced) : bp_cpu_best_isa());
        __atomic_store_n(&selected_isa, isa, __ATOMIC_RELAXED);
    }
    return isa;
}

void bp_sgemm_set_isa(int isa) {
    __atomic_store_n(&selected_isa, clamp_isa(isa), __ATOMIC_RELAXED);
}

#define MR_AVX512 12
#define NR_AVX512 32
#define MR_AVX2 6
#define NR_AVX2 16
#define MR_PORTABLE 4
#define NR_PORTABLE 8
static void tile_shape(int isa, int *mr, int *nr) {
    switch (isa) {
    case BP_ISA_AVX512: *mr = MR_AVX512; *nr = NR_AVX512; break;
    case BP_ISA_AVX2: *mr = MR_AVX2; *nr = NR_AVX2; break;
    default: *mr = MR_PORTABLE; *nr = NR_PORTABLE; break;
    }
}


#if defined(__x86_64__) || defined(__i386__)
// Transposes the 8×8 block in r0..r7 (rows) into columns, in place.
#define TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7)                                                   \
    do {                                                                                            \
        __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);                     \
        __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);                     \
        __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);                     \
        __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);                     \
        __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);           \
        __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);           \
        __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);           \
        __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);           \
        r0 = _mm256_permute2f128_ps(s0, s4, 0x20); r1 = _mm256_permute2f128_ps(s1, s5, 0x20);       \
        r2 = _mm256_permute2f128_ps(s2, s6, 0x20); r3 = _mm256_permute2f128_ps(s3, s7, 0x20);       \
        r4 = _mm256_permute2f128_ps(s0, s4, 0x31); r5 = _mm256_permute2f128_ps(s1, s5, 0x31);       \
        r6 = _mm256_permute2f128_ps(s2, s6, 0x31); r7 = _mm256_permute2f128_ps(s3, s7, 0x31);       \
    } while (0)

// Packs 8 columns of a transposed op(B) (column j at s + j·b_col, contiguous along k) into a
// panel of `nr` columns at `d`: 8 k steps × 8 columns transposed in registers at a time.
__attribute__((target("avx2,fma"))) static inline void
pack_8_transposed_columns(const float *s, ptrdiff_t b_col, ptrdiff_t kc, int nr, float *d) {
    ptrdiff_t p = 0, kc8 = kc / 8 * 8;
    for (; p < kc8; p += 8) {
        __m256 r0 = _mm256_loadu_ps(s + p), r1 = _mm256_loadu_ps(s + b_col + p),
               r2 = _mm256_loadu_ps(s + 2 * b_col + p), r3 = _mm256_loadu_ps(s + 3 * b_col + p),
               r4 = _mm256_loadu_ps(s + 4 * b_col + p), r5 = _mm256_loadu_ps(s + 5 * b_col + p),
               r6 = _mm256_loadu_ps(s + 6 * b_col + p), r7 = _mm256_loadu_ps(s + 7 * b_col + p);
        TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7);
        float *o = d + p * nr;
        _mm256_storeu_ps(o, r0); _mm256_storeu_ps(o + nr, r1); _mm256_storeu_ps(o + 2 * nr, r2);
        _mm256_storeu_ps(o + 3 * nr, r3); _mm256_storeu_ps(o + 4 * nr, r4); _mm256_storeu_ps(o + 5 * nr, r5);
        _mm256_storeu_ps(o + 6 * nr, r6); _mm256_storeu_ps(o + 7 * nr, r7);
    }
    for (; p < kc; p++)
        for (int j = 0; j < 8; j++) d[p * nr + j] = s[j * b_col + p];
}

// pack_a for the AVX2 tile (6 rows). A row-major op(A) (a_col == 1) is transposed 8 k steps at a
// time; everything else goes through the generic packer.
__attribute__((target("avx2,fma"))) static void
pack_a_avx2(const float *a, ptrdiff_t a_row, ptrdiff_t a_col, ptrdiff_t m, ptrdiff_t p0, ptrdiff_t kc,
            float *dst) {
    if (a_col != 1) { pack_a(a, a_row, a_col, m, p0, kc, 6, dst); return; }
    ptrdiff_t full = m / 6 * 6, kc8 = kc / 8 * 8;
    for (ptrdiff_t i0 = 0; i0 < full; i0 += 6) {
        const float *s0 = a + i0 * a_row + p0, *s1 = s0 + a_row, *s2 = s1 + a_row, *s3 = s2 + a_row,
                    *s4 = s3 + a_row, *s5 = s4 + a_row;
        float *d = dst + i0 * kc;
        ptrdiff_t p = 0;
        for (; p < kc8; p += 8) {
            __m256 r0 = _mm256_loadu_ps(s0 + p), r1 = _mm256_loadu_ps(s1 + p), r2 = _mm256_loadu_ps(s2 + p),
                   r3 = _mm256_loadu_ps(s3 + p), r4 = _mm256_loadu_ps(s4 + p), r5 = _mm256_loadu_ps(s5 + p),
                   r6 = _mm256_setzero_ps(), r7 = _mm256_setzero_ps();
            TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7);
            float *o = d + p * 6;
            // Each column holds 6 useful floats: a 16-byte and an 8-byte store.
#define PUT(J, R) do { _mm_storeu_ps(o + (J) * 6, _mm256_castps256_ps128(R)); \
                       _mm_storel_pi((__m64 *)(o + (J) * 6 + 4), _mm256_extractf128_ps(R, 1)); } while (0)
            PUT(0, r0); PUT(1, r1); PUT(2, r2); PUT(3, r3); PUT(4, r4); PUT(5, r5); PUT(6, r6); PUT(7, r7);
#undef PUT
        }
        for (; p < kc; p++) {
            d[p * 6 + 0] = s0[p]; d[p * 6 + 1] = s1[p]; d[p * 6 + 2] = s2[p];
            d[p * 6 + 3] = s3[p]; d[p * 6 + 4] = s4[p]; d[p * 6 + 5] = s5[p];
        }
    }
    if (full < m) pack_a(a + full * a_row, a_row, a_col, m - full, p0, kc, 6, dst + full * kc);
}

// pack_b for the AVX2 tile (16 columns). A row-major op(B) is read row by row; a transposed op(B)
// (b_row == 1, each column of op(B) contiguous along k) is transposed 8 k steps × 8 columns at a time.
__attribute__((target("avx2,fma"))) static void
pack_b_avx2(const float *b, ptrdiff_t b_row, ptrdiff_t b_col, ptrdiff_t n, ptrdiff_t p0, ptrdiff_t kc,
            float *dst) {
    ptrdiff_t full = n / 16 * 16;
    if (b_col == 1) {
        // Row-major op(B): read each row once, front to back, and deal it out to the panels.
        for (ptrdiff_t p = 0; p < kc; p++) {
            const float *src = b + (p0 + p) * b_row;
            float *d = dst + p * 16;
            for (ptrdiff_t j0 = 0; j0 < full; j0 += 16, d += 16 * kc) {
                _mm256_storeu_ps(d, _mm256_loadu_ps(src + j0));
                _mm256_storeu_ps(d + 8, _mm256_loadu_ps(src + j0 + 8));
            }
        }
        if (full < n) pack_b(b + full, b_row, b_col, n - full, p0, kc, 16, dst + full * kc);
        return;
    }
    if (b_row != 1) { pack_b(b, b_row, b_col, n, p0, kc, 16, dst); return; }
    for (ptrdiff_t j0 = 0; j0 < full; j0 += 16)
        for (int half = 0; half < 2; half++)
            pack_8_transposed_columns(b + (j0 + half * 8) * b_col + p0, b_col, kc, 16, dst + j0 * kc + half * 8);
    if (full < n) pack_b(b + full * b_col, b_row, b_col, n - full, p0, kc, 16, dst + full * kc);
}

// pack_a for the AVX-512 tile (12 rows), with AVX2 moves (the packing is data movement only, so
// results are those of the generic packer bit for bit). Row-major op(A): rows 0–7 and 8–11 (with
// four zero rows) are transposed 8 k steps at a time. Transposed op(A): each k step is 12
// contiguous floats. Partial panels go through the generic packer.
__attribute__((target("avx2,fma"))) static void
pack_a_avx512(const float *a, ptrdiff_t a_row, ptrdiff_t a_col, ptrdiff_t m, ptrdiff_t p0, ptrdiff_t kc,
              float *dst) {
    ptrdiff_t full = m / 12 * 12, kc8 = kc / 8 * 8;
    if (a_row == 1) {
        for (ptrdiff_t i0 = 0; i0 < full; i0 += 12) {
            float *d = dst + i0 * kc;
            for (ptrdiff_t p = 0; p < kc; p++) {
                const float *src = a + i0 + (p0 + p) * a_col;
                _mm256_storeu_ps(d + p * 12, _mm256_loadu_ps(src));
                _mm_storeu_ps(d + p * 12 + 8, _mm_loadu_ps(src + 8));
            }
        }
    } else if (a_col == 1) {
        for (ptrdiff_t i0 = 0; i0 < full; i0 += 12) {
            const float *s = a + i0 * a_row + p0;
            float *d = dst + i0 * kc;
            ptrdiff_t p = 0;
            for (; p < kc8; p += 8) {
                __m256 r0 = _mm256_loadu_ps(s + p), r1 = _mm256_loadu_ps(s + a_row + p),
                       r2 = _mm256_loadu_ps(s + 2 * a_row + p), r3 = _mm256_loadu_ps(s + 3 * a_row + p),
                       r4 = _mm256_loadu_ps(s + 4 * a_row + p), r5 = _mm256_loadu_ps(s + 5 * a_row + p),
                       r6 = _mm256_loadu_ps(s + 6 * a_row + p), r7 = _mm256_loadu_ps(s + 7 * a_row + p);
                TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7);
                float *o = d + p * 12;
                _mm256_storeu_ps(o, r0); _mm256_storeu_ps(o + 12, r1); _mm256_storeu_ps(o + 24, r2);
                _mm256_storeu_ps(o + 36, r3); _mm256_storeu_ps(o + 48, r4); _mm256_storeu_ps(o + 60, r5);
                _mm256_storeu_ps(o + 72, r6); _mm256_storeu_ps(o + 84, r7);
                __m256 q0 = _mm256_loadu_ps(s + 8 * a_row + p), q1 = _mm256_loadu_ps(s + 9 * a_row + p),
                       q2 = _mm256_loadu_ps(s + 10 * a_row + p), q3 = _mm256_loadu_ps(s + 11 * a_row + p),
                       q4 = _mm256_setzero_ps(), q5 = _mm256_setzero_ps(), q6 = _mm256_setzero_ps(), q7 = _mm256_setzero_ps();
                TRANSPOSE8(q0, q1, q2, q3, q4, q5, q6, q7);
                o += 8;
                _mm_storeu_ps(o, _mm256_castps256_ps128(q0)); _mm_storeu_ps(o + 12, _mm256_castps256_ps128(q1));
                _mm_storeu_ps(o + 24, _mm256_castps256_ps128(q2)); _mm_storeu_ps(o + 36, _mm256_castps256_ps128(q3));
                _mm_storeu_ps(o + 48, _mm256_castps256_ps128(q4)); _mm_storeu_ps(o + 60, _mm256_castps256_ps128(q5));
                _mm_storeu_ps(o + 72, _mm256_castps256_ps128(q6)); _mm_storeu_ps(o + 84, _mm256_castps256_ps128(q7));
            }
            for (; p < kc; p++)
                for (int r = 0; r < 12; r++) d[p * 12 + r] = s[r * a_row + p];
        }
    } else {
        full = 0;
    }
    if (full < m) pack_a(a + full * a_row, a_row, a_col, m - full, p0, kc, 12, dst + full * kc);
}

// pack_b for the AVX-512 tile (32 columns), with AVX2 moves (data movement only, so results are
// those of the generic packer). Row-major op(B): each row is dealt out 32 floats per panel;
// transposed op(B) (b_row == 1): 8 k steps × 8 columns transposed at a time.
__attribute__((target("avx2,fma"))) static void
pack_b_avx512(const float *b, ptrdiff_t b_row, ptrdiff_t b_col, ptrdiff_t n, ptrdiff_t p0, ptrdiff_t kc,
              float *dst) {
    ptrdiff_t full = n / 32 * 32;
    if (b_col == 1) {
        for (ptrdiff_t p = 0; p < kc; p++) {
            const float *src = b + (p0 + p) * b_row;
            float *d = dst + p * 32;
            for (ptrdiff_t j0 = 0; j0 < full; j0 += 32, d += 32 * kc) {
                _mm256_storeu_ps(d, _mm256_loadu_ps(src + j0));
                _mm256_storeu_ps(d + 8, _mm256_loadu_ps(src + j0 + 8));
                _mm256_storeu_ps(d + 16, _mm256_loadu_ps(src + j0 + 16));
                _mm256_storeu_ps(d + 24, _mm256_loadu_ps(src + j0 + 24));
            }
        }
    } else if (b_row == 1) {
        for (ptrdiff_t j0 = 0; j0 < full; j0 += 32)
            for (int group = 0; group < 4; group++)
                pack_8_transposed_columns(b + (j0 + group * 8) * b_col + p0, b_col, kc, 32, dst + j0 * kc + group * 8);
    } else {
        full = 0;
    }
    if (full < n) pack_b(b + full * b_col, b_row, b_col, n - full, p0, kc, 32, dst + full * kc);
}
#endif

#if defined(__x86_64__) || defined(__i386__)
MICRO_KERNEL(kernel_avx512, __attribute__((target("avx512f,fma"))), v16f, 16, 12, 2)
MICRO_KERNEL(kernel_avx512_half, __attribute__((target("avx512f,fma"))), v16f, 16, 12, 1)
MICRO_KERNEL(kernel_avx2, __attribute__((target("avx2,fma"))), v8f, 8, 6, 2)
MICRO_KERNEL(kernel_avx2_half, __attribute__((target("avx2,fma"))), v8f, 8, 6, 1)
#endif
MICRO_KERNEL(kernel_portable, , v4f, 4, 4, 2)
MICRO_KERNEL(kernel_portable_half, , v4f, 4, 4, 1)

static void pack_a_portable(const float *a, ptrdiff_t a_row, ptrdiff_t a_col, ptrdiff_t m, ptrdiff_t p0, ptrdiff_t kc,
                            float *dst) {
    pack_a(a, a_row, a_col, m, p0, kc, 4, dst);
}

#define GEMM_API(name) bp_sgemm_##name
#include "gemm_api.h"
