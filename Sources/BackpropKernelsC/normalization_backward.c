// The first backward sweep of the float normalization kernels: per-set sums and parameter partials
// in `float` lanes, as PyTorch's CPU kernels accumulate, flushed into `double` lanes every 1,024
// elements so long sets keep their precision.
//
// Order (both forms): blocks of 32 elements put elements 8q..8q+7 in float group q (lane = element
// mod 8); the elements after the last whole block of 32 go to group 0, lane (k − start) mod 8;
// after every 1,024 elements and at the end, lane l of the double sums gets
// (double)((g0[l] + g1[l]) + (g2[l] + g3[l])) and the float groups restart at zero. x̂ is
// ((x − mean_hi) − mean_lo)·rstd in float, as in the forward. The portable form is plain C with the
// same per-lane operations (no contraction), the AVX2 form its vector transcription, so both give
// identical results; `vector` lets callers force the portable one (tests compare the two).
#include "BackpropKernelsC.h"

#pragma clang fp contract(off)

#define FLUSH_EVERY 1024

static void flush_lanes(float acc[4][8], double *sums) {
    for (int l = 0; l < 8; l++) {
        sums[l] += (double)((acc[0][l] + acc[1][l]) + (acc[2][l] + acc[3][l]));
        acc[0][l] = acc[1][l] = acc[2][l] = acc[3][l] = 0;
    }
}

static void row_portable(const float *x, const float *dy, const float *scale, long n, float mh, float ml, float r,
                         float *w, float *b, double *sums) {
    float ag[4][8] = {{0}}, aq[4][8] = {{0}};
    long i = 0;
    for (; i + 32 <= n;) {
        for (int q = 0; q < 4; q++) {
            for (int l = 0; l < 8; l++) {
                long k = i + 8 * q + l;
                float xh = ((x[k] - mh) - ml) * r, d = dy[k], gd = scale[k] * d;
                ag[q][l] += gd;
                aq[q][l] += gd * xh;
                if (w) { w[k] += d * xh; b[k] += d; }
            }
        }
        i += 32;
        if (i % FLUSH_EVERY == 0) { flush_lanes(ag, sums); flush_lanes(aq, sums + 8); }
    }
    for (long k = i; k < n; k++) {
        int l = (int)((k - i) % 8);
        float xh = ((x[k] - mh) - ml) * r, d = dy[k], gd = scale[k] * d;
        ag[0][l] += gd;
        aq[0][l] += gd * xh;
        if (w) { w[k] += d * xh; b[k] += d; }
    }
    flush_lanes(ag, sums);
    flush_lanes(aq, sums + 8);
}

static void block_portable(const float *x, const float *dy, long n, float mh, float ml, float r, double *sums) {
    float as[4][8] = {{0}}, aq[4][8] = {{0}};
    long i = 0;
    for (; i + 32 <= n;) {
        for (int q = 0; q < 4; q++) {
            for (int l = 0; l < 8; l++) {
                long k = i + 8 * q + l;
                float d = dy[k];
                as[q][l] += d;
                aq[q][l] += d * (((x[k] - mh) - ml) * r);
            }
        }
        i += 32;
        if (i % FLUSH_EVERY == 0) { flush_lanes(as, sums); flush_lanes(aq, sums + 8); }
    }
    for (long k = i; k < n; k++) {
        int l = (int)((k - i) % 8);
        float d = dy[k];
        as[0][l] += d;
        aq[0][l] += d * (((x[k] - mh) - ml) * r);
    }
    flush_lanes(as, sums);
    flush_lanes(aq, sums + 8);
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))

static inline AVX2 __attribute__((always_inline)) void store_groups(__m256 g[4], float acc[4][8]) {
    for (int q = 0; q < 4; q++) _mm256_storeu_ps(acc[q], g[q]);
}

static AVX2 void row_avx2(const float *x, const float *dy, const float *scale, long n, float mh, float ml, float r,
                          float *w, float *b, double *sums) {
    __m256 ag[4], aq[4];
    for (int q = 0; q < 4; q++) { ag[q] = _mm256_setzero_ps(); aq[q] = _mm256_setzero_ps(); }
    const __m256 vmh = _mm256_set1_ps(mh), vml = _mm256_set1_ps(ml), vr = _mm256_set1_ps(r);
    long i = 0;
    for (; i + 32 <= n;) {
        for (int q = 0; q < 4; q++) {
            long k = i + 8 * q;
            __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + k), vmh), vml), vr);
            __m256 d = _mm256_loadu_ps(dy + k);
            __m256 gd = _mm256_mul_ps(_mm256_loadu_ps(scale + k), d);
            ag[q] = _mm256_add_ps(ag[q], gd);
            aq[q] = _mm256_add_ps(aq[q], _mm256_mul_ps(gd, xh));
            if (w) {
                _mm256_storeu_ps(w + k, _mm256_add_ps(_mm256_loadu_ps(w + k), _mm256_mul_ps(d, xh)));
                _mm256_storeu_ps(b + k, _mm256_add_ps(_mm256_loadu_ps(b + k), d));
            }
        }
        i += 32;
        if (i % FLUSH_EVERY == 0) {
            float tg[4][8], tq[4][8];
            store_groups(ag, tg);
            store_groups(aq, tq);
            flush_lanes(tg, sums);
            flush_lanes(tq, sums + 8);
            for (int q = 0; q < 4; q++) { ag[q] = _mm256_setzero_ps(); aq[q] = _mm256_setzero_ps(); }
        }
    }
    float tg[4][8], tq[4][8];
    store_groups(ag, tg);
    store_groups(aq, tq);
    for (long k = i; k < n; k++) {
        int l = (int)((k - i) % 8);
        float xh = ((x[k] - mh) - ml) * r, d = dy[k], gd = scale[k] * d;
        tg[0][l] += gd;
        tq[0][l] += gd * xh;
        if (w) { w[k] += d * xh; b[k] += d; }
    }
    flush_lanes(tg, sums);
    flush_lanes(tq, sums + 8);
}

static AVX2 void block_avx2(const float *x, const float *dy, long n, float mh, float ml, float r, double *sums) {
    __m256 as[4], aq[4];
    for (int q = 0; q < 4; q++) { as[q] = _mm256_setzero_ps(); aq[q] = _mm256_setzero_ps(); }
    const __m256 vmh = _mm256_set1_ps(mh), vml = _mm256_set1_ps(ml), vr = _mm256_set1_ps(r);
    long i = 0;
    for (; i + 32 <= n;) {
        for (int q = 0; q < 4; q++) {
            long k = i + 8 * q;
            __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + k), vmh), vml), vr);
            __m256 d = _mm256_loadu_ps(dy + k);
            as[q] = _mm256_add_ps(as[q], d);
            aq[q] = _mm256_add_ps(aq[q], _mm256_mul_ps(d, xh));
        }
        i += 32;
        if (i % FLUSH_EVERY == 0) {
            float ts[4][8], tq[4][8];
            store_groups(as, ts);
            store_groups(aq, tq);
            flush_lanes(ts, sums);
            flush_lanes(tq, sums + 8);
            for (int q = 0; q < 4; q++) { as[q] = _mm256_setzero_ps(); aq[q] = _mm256_setzero_ps(); }
        }
    }
    float ts[4][8], tq[4][8];
    store_groups(as, ts);
    store_groups(aq, tq);
    for (long k = i; k < n; k++) {
        int l = (int)((k - i) % 8);
        float d = dy[k];
        ts[0][l] += d;
        tq[0][l] += d * (((x[k] - mh) - ml) * r);
    }
    flush_lanes(ts, sums);
    flush_lanes(tq, sums + 8);
}

static int use_avx2(int vector) { return vector && bp_cpu_best_isa() >= BP_ISA_AVX2; }
#else
static int use_avx2(int vector) { (void)vector; return 0; }
#endif

void bp_f32_backward_row(const float *x, const float *dy, const float *scale, long n, float mean_hi, float mean_lo,
                         float rstd, float *weight_partial, float *bias_partial, double *sums, int vector) {
    float *w = weight_partial && bias_partial ? weight_partial : 0;
#if defined(__x86_64__) || defined(__i386__)
    if (use_avx2(vector)) { row_avx2(x, dy, scale, n, mean_hi, mean_lo, rstd, w, bias_partial, sums); return; }
#endif
    row_portable(x, dy, scale, n, mean_hi, mean_lo, rstd, w, bias_partial, sums);
}

void bp_f32_backward_block(const float *x, const float *dy, long n, float mean_hi, float mean_lo, float rstd,
                           double *sums, int vector) {
#if defined(__x86_64__) || defined(__i386__)
    if (use_avx2(vector)) { block_avx2(x, dy, n, mean_hi, mean_lo, rstd, sums); return; }
#endif
    block_portable(x, dy, n, mean_hi, mean_lo, rstd, sums);
}
