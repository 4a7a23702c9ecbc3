// AVX2 inner loops of the float normalization kernels (`Normalization/Moments.swift`).
//
// Each function is the exact vector form of one loop of the Swift kernels: the same operations in
// the same order, sums in the same eight `Double` lanes (element i of a full block of eight goes to
// lane i mod 8; the tail goes where the Swift loop puts it), no fused multiply-add. So a result is
// bit-for-bit the one the Swift loop gives, and the Swift loop stays the fallback on CPUs without
// AVX2. The functions run only when `bp_norm_kernels_available()` says so.
#include "BackpropKernelsC.h"
#include <math.h>
#include <stdlib.h>

#pragma clang fp contract(off)

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))

int bp_norm_kernels_available(void) { return bp_cpu_best_isa() >= BP_ISA_AVX2; }

// Eight floats at p widened to two vectors of four doubles (lanes 0–3, 4–7).
static inline AVX2 __attribute__((always_inline)) void widen(const float *p, __m256d *lo, __m256d *hi) {
    __m256 v = _mm256_loadu_ps(p);
    *lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    *hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
}

#define AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma")))

static int column_isa = -1;

// AVX-512 where the CPU has it, else AVX2; `BACKPROP_NORM_ISA=1` (AVX2) or `2` (AVX-512) caps it.
int bp_norm_column_isa(void) {
    int isa = __atomic_load_n(&column_isa, __ATOMIC_RELAXED);
    if (isa < 0) {
        isa = bp_cpu_best_isa();
        const char *forced = getenv("BACKPROP_NORM_ISA");
        if (forced && *forced && atoi(forced) < isa) isa = atoi(forced);
        __atomic_store_n(&column_isa, isa, __ATOMIC_RELAXED);
    }
    return isa;
}


// AVX-512 copies of the lane loops above: a zmm register holds exactly the eight `double` lanes (or
// sixteen floats of an elementwise loop), so each copy does the same operations on the same lanes in
// the same order and gives the same bits as the AVX2 loop and the Swift loop.
static inline AVX512 __attribute__((always_inline)) __m512d widen8(const float *p) {
    return _mm512_cvtps_pd(_mm256_loadu_ps(p));
}

static AVX512 void lane_centered_squares_avx512(const float *x, long n, double mean, double *out) {
    __m512d g[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd()};
    const __m512d m = _mm512_set1_pd(mean);
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int q = 0; q < 4; q++) {
            __m512d a = _mm512_sub_pd(widen8(x + i + 8 * q), m);
            g[q] = _mm512_add_pd(g[q], _mm512_mul_pd(a, a));
        }
    }
    for (int q = 0; i + 8 <= n; i += 8, q++) {
        __m512d a = _mm512_sub_pd(widen8(x + i), m);
        g[q] = _mm512_add_pd(g[q], _mm512_mul_pd(a, a));
    }
    double tail[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int lane = 0; i < n; i++, lane++) { double d = (double)x[i] - mean; tail[lane] = d * d; }
    __m512d sum = _mm512_add_pd(_mm512_add_pd(g[0], g[1]), _mm512_add_pd(g[2], g[3]));
    _mm512_storeu_pd(out, _mm512_add_pd(sum, _mm512_loadu_pd(tail)));
}

static AVX512 void lane_shifted_moments_avx512(const float *x, long n, double shift, double *sums, double *squares) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd(), q0 = _mm512_setzero_pd(), q1 = _mm512_setzero_pd();
    const __m512d k = _mm512_set1_pd(shift);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512d a = _mm512_sub_pd(widen8(x + i), k), b = _mm512_sub_pd(widen8(x + i + 8), k);
        s0 = _mm512_add_pd(s0, a);
        s1 = _mm512_add_pd(s1, b);
        q0 = _mm512_add_pd(q0, _mm512_mul_pd(a, a));
        q1 = _mm512_add_pd(q1, _mm512_mul_pd(b, b));
    }
    if (i + 8 <= n) {
        __m512d a = _mm512_sub_pd(widen8(x + i), k);
        s0 = _mm512_add_pd(s0, a);
        q0 = _mm512_add_pd(q0, _mm512_mul_pd(a, a));
        i += 8;
    }
    double ts[8] = {0, 0, 0, 0, 0, 0, 0, 0}, tq[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int lane = 0; i < n; i++, lane++) {
        double dv = (double)x[i] - shift;
        ts[lane] = dv;
        tq[lane] = dv * dv;
    }
    __m512d sv = _mm512_add_pd(_mm512_add_pd(s0, s1), _mm512_loadu_pd(ts));
    __m512d qv = _mm512_add_pd(_mm512_add_pd(q0, q1), _mm512_loadu_pd(tq));
    _mm512_storeu_pd(sums, _mm512_add_pd(_mm512_loadu_pd(sums), sv));
    _mm512_storeu_pd(squares, _mm512_add_pd(_mm512_loadu_pd(squares), qv));
}

static AVX512 void normalize_affine_avx512(const float *x, float *y, long n, float mean_hi, float mean_lo, float rstd,
                                           const float *scale, const float *shift, int accumulate) {
    const __m512 mh = _mm512_set1_ps(mean_hi), ml = _mm512_set1_ps(mean_lo), r = _mm512_set1_ps(rstd);
    long k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512 c = _mm512_sub_ps(_mm512_sub_ps(_mm512_loadu_ps(x + k), mh), ml);
        __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(c, r), _mm512_loadu_ps(scale + k)), _mm512_loadu_ps(shift + k));
        if (accumulate) v = _mm512_add_ps(_mm512_loadu_ps(y + k), v);
        _mm512_storeu_ps(y + k, v);
    }
    for (; k < n; k++) {
        float v = ((x[k] - mean_hi) - mean_lo) * rstd * scale[k] + shift[k];
        y[k] = accumulate ? y[k] + v : v;
    }
}

static AVX512 void normalize_scaled_avx512(const float *x, float *y, long n, float mean_hi, float mean_lo,
                                           float scale, float shift, int accumulate) {
    const __m512 mh = _mm512_set1_ps(mean_hi), ml = _mm512_set1_ps(mean_lo);
    const __m512 s = _mm512_set1_ps(scale), b = _mm512_set1_ps(shift);
    long k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512 c = _mm512_sub_ps(_mm512_sub_ps(_mm512_loadu_ps(x + k), mh), ml);
        __m512 v = _mm512_add_ps(_mm512_mul_ps(c, s), b);
        if (accumulate) v = _mm512_add_ps(_mm512_loadu_ps(y + k), v);
        _mm512_storeu_ps(y + k, v);
    }
    for (; k < n; k++) {
        float v = ((x[k] - mean_hi) - mean_lo) * scale + shift;
        y[k] = accumulate ? y[k] + v : v;
    }
}

static AVX512 void backward_sums_affine_avx512(const float *x, const float *dy, const float *scale, long n, double mean,
                                               double rstd, double *weight_partial, double *bias_partial, double *sums) {
    __m512d g = _mm512_loadu_pd(sums), gx = _mm512_loadu_pd(sums + 8);
    const __m512d m = _mm512_set1_pd(mean), r = _mm512_set1_pd(rstd);
    long k = 0;
    if (weight_partial && bias_partial) {
        for (; k + 8 <= n; k += 8) {
            __m512d d = widen8(dy + k), xh = _mm512_mul_pd(_mm512_sub_pd(widen8(x + k), m), r), s = widen8(scale + k);
            __m512d dxh = _mm512_mul_pd(d, xh);
            g = _mm512_add_pd(g, _mm512_mul_pd(s, d));
            gx = _mm512_add_pd(gx, _mm512_mul_pd(s, dxh));
            _mm512_storeu_pd(weight_partial + k, _mm512_add_pd(_mm512_loadu_pd(weight_partial + k), dxh));
            _mm512_storeu_pd(bias_partial + k, _mm512_add_pd(_mm512_loadu_pd(bias_partial + k), d));
        }
    } else {
        for (; k + 8 <= n; k += 8) {
            __m512d d = widen8(dy + k), xh = _mm512_mul_pd(_mm512_sub_pd(widen8(x + k), m), r), s = widen8(scale + k);
            __m512d sd = _mm512_mul_pd(s, d);
            g = _mm512_add_pd(g, sd);
            gx = _mm512_add_pd(gx, _mm512_mul_pd(sd, xh));
        }
    }
    _mm512_storeu_pd(sums, g);
    _mm512_storeu_pd(sums + 8, gx);
    for (; k < n; k++) {
        double d = (double)dy[k], xhat = ((double)x[k] - mean) * rstd, gk = (double)scale[k];
        sums[0] += gk * d;
        sums[8] += gk * d * xhat;
        if (weight_partial && bias_partial) {
            weight_partial[k] += d * xhat;
            bias_partial[k] += d;
        }
    }
}

static AVX512 void backward_block_sums_avx512(const float *x, const float *dy, long n, double mean, double rstd, double *out) {
    __m512d sv = _mm512_setzero_pd(), sxv = _mm512_setzero_pd();
    const __m512d m = _mm512_set1_pd(mean), r = _mm512_set1_pd(rstd);
    long k = 0;
    for (; k + 8 <= n; k += 8) {
        __m512d d = widen8(dy + k);
        sv = _mm512_add_pd(sv, d);
        sxv = _mm512_add_pd(sxv, _mm512_mul_pd(d, _mm512_mul_pd(_mm512_sub_pd(widen8(x + k), m), r)));
    }
    double s[8], sx[8];
    _mm512_storeu_pd(s, sv);
    _mm512_storeu_pd(sx, sxv);
    for (; k < n; k++) {
        double d = (double)dy[k];
        s[0] += d;
        sx[0] += d * (((double)x[k] - mean) * rstd);
    }
    out[0] = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    out[1] = ((sx[0] + sx[1]) + (sx[2] + sx[3])) + ((sx[4] + sx[5]) + (sx[6] + sx[7]));
}

static AVX512 void backward_dx_affine_avx512(const float *x, const float *dy, const float *scale, float *dx, long n,
                                             float mean_hi, float mean_lo, float rstd, float shift, float slope, int overwrite) {
    const __m512 mh = _mm512_set1_ps(mean_hi), ml = _mm512_set1_ps(mean_lo), r = _mm512_set1_ps(rstd);
    const __m512 sh = _mm512_set1_ps(shift), sl = _mm512_set1_ps(slope);
    long k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512 c = _mm512_sub_ps(_mm512_sub_ps(_mm512_loadu_ps(x + k), mh), ml);
        __m512 a = _mm512_mul_ps(_mm512_mul_ps(r, _mm512_loadu_ps(scale + k)), _mm512_loadu_ps(dy + k));
        __m512 v = _mm512_sub_ps(_mm512_sub_ps(a, sh), _mm512_mul_ps(c, sl));
        if (!overwrite) v = _mm512_add_ps(_mm512_loadu_ps(dx + k), v);
        _mm512_storeu_ps(dx + k, v);
    }
    for (; k < n; k++) {
        float v = rstd * scale[k] * dy[k] - shift - ((x[k] - mean_hi) - mean_lo) * slope;
        dx[k] = overwrite ? v : dx[k] + v;
    }
}

static AVX512 void backward_dx_scaled_avx512(const float *x, const float *dy, float *dx, long n, float mean_hi,
                                             float mean_lo, float scale, float shift, float slope, int overwrite) {
    const __m512 mh = _mm512_set1_ps(mean_hi), ml = _mm512_set1_ps(mean_lo), s = _mm512_set1_ps(scale);
    const __m512 sh = _mm512_set1_ps(shift), sl = _mm512_set1_ps(slope);
    long k = 0;
    for (; k + 16 <= n; k += 16) {
        __m512 c = _mm512_sub_ps(_mm512_sub_ps(_mm512_loadu_ps(x + k), mh), ml);
        __m512 v = _mm512_sub_ps(_mm512_sub_ps(_mm512_mul_ps(s, _mm512_loadu_ps(dy + k)), sh), _mm512_mul_ps(c, sl));
        if (!overwrite) v = _mm512_add_ps(_mm512_loadu_ps(dx + k), v);
        _mm512_storeu_ps(dx + k, v);
    }
    for (; k < n; k++) {
        float v = scale * dy[k] - shift - ((x[k] - mean_hi) - mean_lo) * slope;
        dx[k] = overwrite ? v : dx[k] + v;
    }
}

#define USE_AVX512 (bp_norm_column_isa() >= BP_ISA_AVX512)

// Σ (x − mean)² in four groups of eight lanes: blocks of 32 elements put elements 8q..8q+7 into group q,
// then the remaining whole blocks of eight go to groups 0, 1, 2 in turn and the tail into its own
// lanes from lane 0; the result is ((g0 + g1) + (g2 + g3)) + tail. Four independent chains hide the
// latency of the additions (one chain per lane would wait on every add).
// The element term (x − mean)², for both halves of a block of eight.
static inline AVX2 __attribute__((always_inline)) void square_centered(__m256d *a, __m256d *b, __m256d m) {
    *a = _mm256_sub_pd(*a, m);
    *b = _mm256_sub_pd(*b, m);
    *a = _mm256_mul_pd(*a, *a);
    *b = _mm256_mul_pd(*b, *b);
}

static AVX2 void lane_centered_squares_avx2(const float *x, long n, double mean, double *out) {
    __m256d lo[4], hi[4];
    for (int q = 0; q < 4; q++) { lo[q] = _mm256_setzero_pd(); hi[q] = _mm256_setzero_pd(); }
    const __m256d m = _mm256_set1_pd(mean);
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int q = 0; q < 4; q++) {
            __m256d a, b;
            widen(x + i + 8 * q, &a, &b);
            square_centered(&a, &b, m);
            lo[q] = _mm256_add_pd(lo[q], a);
            hi[q] = _mm256_add_pd(hi[q], b);
        }
    }
    for (int q = 0; i + 8 <= n; i += 8, q++) {
        __m256d a, b;
        widen(x + i, &a, &b);
        square_centered(&a, &b, m);
        lo[q] = _mm256_add_pd(lo[q], a);
        hi[q] = _mm256_add_pd(hi[q], b);
    }
    double tail[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int lane = 0; i < n; i++, lane++) { double d = (double)x[i] - mean; tail[lane] = d * d; }
    __m256d sum_lo = _mm256_add_pd(_mm256_add_pd(lo[0], lo[1]), _mm256_add_pd(lo[2], lo[3]));
    __m256d sum_hi = _mm256_add_pd(_mm256_add_pd(hi[0], hi[1]), _mm256_add_pd(hi[2], hi[3]));
    _mm256_storeu_pd(out, _mm256_add_pd(sum_lo, _mm256_loadu_pd(tail)));
    _mm256_storeu_pd(out + 4, _mm256_add_pd(sum_hi, _mm256_loadu_pd(tail + 4)));
}

// Σ (x − shift) and Σ (x − shift)² in one sweep, each in two groups of eight lanes: blocks of 16 put
// elements 0–7 in group 0 and 8–15 in group 1, a remaining block of eight goes to group 0, the tail
// to its own lanes from lane 0; each result is (g0 + g1) + tail. Adds to `sums` (8) and `squares` (8).
static AVX2 void lane_shifted_moments_avx2(const float *x, long n, double shift, double *sums, double *squares) {
    __m256d s0l = _mm256_setzero_pd(), s0h = _mm256_setzero_pd(), s1l = _mm256_setzero_pd(), s1h = _mm256_setzero_pd();
    __m256d q0l = _mm256_setzero_pd(), q0h = _mm256_setzero_pd(), q1l = _mm256_setzero_pd(), q1h = _mm256_setzero_pd();
    const __m256d k = _mm256_set1_pd(shift);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256d a, b, c, d;
        widen(x + i, &a, &b);
        widen(x + i + 8, &c, &d);
        a = _mm256_sub_pd(a, k);
        b = _mm256_sub_pd(b, k);
        c = _mm256_sub_pd(c, k);
        d = _mm256_sub_pd(d, k);
        s0l = _mm256_add_pd(s0l, a);
        s0h = _mm256_add_pd(s0h, b);
        s1l = _mm256_add_pd(s1l, c);
        s1h = _mm256_add_pd(s1h, d);
        q0l = _mm256_add_pd(q0l, _mm256_mul_pd(a, a));
        q0h = _mm256_add_pd(q0h, _mm256_mul_pd(b, b));
        q1l = _mm256_add_pd(q1l, _mm256_mul_pd(c, c));
        q1h = _mm256_add_pd(q1h, _mm256_mul_pd(d, d));
    }
    if (i + 8 <= n) {
        __m256d a, b;
        widen(x + i, &a, &b);
        a = _mm256_sub_pd(a, k);
        b = _mm256_sub_pd(b, k);
        s0l = _mm256_add_pd(s0l, a);
        s0h = _mm256_add_pd(s0h, b);
        q0l = _mm256_add_pd(q0l, _mm256_mul_pd(a, a));
        q0h = _mm256_add_pd(q0h, _mm256_mul_pd(b, b));
        i += 8;
    }
    double ts[8] = {0, 0, 0, 0, 0, 0, 0, 0}, tq[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int lane = 0; i < n; i++, lane++) {
        double dv = (double)x[i] - shift;
        ts[lane] = dv;
        tq[lane] = dv * dv;
    }
    __m256d sl = _mm256_add_pd(_mm256_add_pd(s0l, s1l), _mm256_loadu_pd(ts));
    __m256d sh = _mm256_add_pd(_mm256_add_pd(s0h, s1h), _mm256_loadu_pd(ts + 4));
    __m256d ql = _mm256_add_pd(_mm256_add_pd(q0l, q1l), _mm256_loadu_pd(tq));
    __m256d qh = _mm256_add_pd(_mm256_add_pd(q0h, q1h), _mm256_loadu_pd(tq + 4));
    _mm256_storeu_pd(sums, _mm256_add_pd(_mm256_loadu_pd(sums), sl));
    _mm256_storeu_pd(sums + 4, _mm256_add_pd(_mm256_loadu_pd(sums + 4), sh));
    _mm256_storeu_pd(squares, _mm256_add_pd(_mm256_loadu_pd(squares), ql));
    _mm256_storeu_pd(squares + 4, _mm256_add_pd(_mm256_loadu_pd(squares + 4), qh));
}

static AVX2 void normalize_affine_avx2(const float *x, float *y, long n, float mean_hi, float mean_lo, float rstd,
                                  const float *scale, const float *shift, int accumulate) {
    const __m256 mh = _mm256_set1_ps(mean_hi), ml = _mm256_set1_ps(mean_lo), r = _mm256_set1_ps(rstd);
    long k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 c = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + k), mh), ml);
        __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(c, r), _mm256_loadu_ps(scale + k)), _mm256_loadu_ps(shift + k));
        if (accumulate) v = _mm256_add_ps(_mm256_loadu_ps(y + k), v);
        _mm256_storeu_ps(y + k, v);
    }
    for (; k < n; k++) {
        float v = ((x[k] - mean_hi) - mean_lo) * rstd * scale[k] + shift[k];
        y[k] = accumulate ? y[k] + v : v;
    }
}

static AVX2 void normalize_scaled_avx2(const float *x, float *y, long n, float mean_hi, float mean_lo,
                                  float scale, float shift, int accumulate) {
    const __m256 mh = _mm256_set1_ps(mean_hi), ml = _mm256_set1_ps(mean_lo);
    const __m256 s = _mm256_set1_ps(scale), b = _mm256_set1_ps(shift);
    long k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 c = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + k), mh), ml);
        __m256 v = _mm256_add_ps(_mm256_mul_ps(c, s), b);
        if (accumulate) v = _mm256_add_ps(_mm256_loadu_ps(y + k), v);
        _mm256_storeu_ps(y + k, v);
    }
    for (; k < n; k++) {
        float v = ((x[k] - mean_hi) - mean_lo) * scale + shift;
        y[k] = accumulate ? y[k] + v : v;
    }
}

static AVX2 void backward_sums_affine_avx2(const float *x, const float *dy, const float *scale, long n, double mean,
                                      double rstd, double *weight_partial, double *bias_partial, double *sums) {
    __m256d g_lo = _mm256_loadu_pd(sums), g_hi = _mm256_loadu_pd(sums + 4);
    __m256d gx_lo = _mm256_loadu_pd(sums + 8), gx_hi = _mm256_loadu_pd(sums + 12);
    const __m256d m = _mm256_set1_pd(mean), r = _mm256_set1_pd(rstd);
    long k = 0;
    if (weight_partial && bias_partial) {
        for (; k + 8 <= n; k += 8) {
            __m256d d0, d1, x0, x1, s0, s1;
            widen(dy + k, &d0, &d1);
            widen(x + k, &x0, &x1);
            widen(scale + k, &s0, &s1);
            x0 = _mm256_mul_pd(_mm256_sub_pd(x0, m), r);
            x1 = _mm256_mul_pd(_mm256_sub_pd(x1, m), r);
            __m256d dx0 = _mm256_mul_pd(d0, x0), dx1 = _mm256_mul_pd(d1, x1);
            g_lo = _mm256_add_pd(g_lo, _mm256_mul_pd(s0, d0));
            g_hi = _mm256_add_pd(g_hi, _mm256_mul_pd(s1, d1));
            gx_lo = _mm256_add_pd(gx_lo, _mm256_mul_pd(s0, dx0));
            gx_hi = _mm256_add_pd(gx_hi, _mm256_mul_pd(s1, dx1));
            _mm256_storeu_pd(weight_partial + k, _mm256_add_pd(_mm256_loadu_pd(weight_partial + k), dx0));
            _mm256_storeu_pd(weight_partial + k + 4, _mm256_add_pd(_mm256_loadu_pd(weight_partial + k + 4), dx1));
            _mm256_storeu_pd(bias_partial + k, _mm256_add_pd(_mm256_loadu_pd(bias_partial + k), d0));
            _mm256_storeu_pd(bias_partial + k + 4, _mm256_add_pd(_mm256_loadu_pd(bias_partial + k + 4), d1));
        }
    } else {
        for (; k + 8 <= n; k += 8) {
            __m256d d0, d1, x0, x1, s0, s1;
            widen(dy + k, &d0, &d1);
            widen(x + k, &x0, &x1);
            widen(scale + k, &s0, &s1);
            x0 = _mm256_mul_pd(_mm256_sub_pd(x0, m), r);
            x1 = _mm256_mul_pd(_mm256_sub_pd(x1, m), r);
            __m256d sd0 = _mm256_mul_pd(s0, d0), sd1 = _mm256_mul_pd(s1, d1);
            g_lo = _mm256_add_pd(g_lo, sd0);
            g_hi = _mm256_add_pd(g_hi, sd1);
            gx_lo = _mm256_add_pd(gx_lo, _mm256_mul_pd(sd0, x0));
            gx_hi = _mm256_add_pd(gx_hi, _mm256_mul_pd(sd1, x1));
        }
    }
    _mm256_storeu_pd(sums, g_lo);
    _mm256_storeu_pd(sums + 4, g_hi);
    _mm256_storeu_pd(sums + 8, gx_lo);
    _mm256_storeu_pd(sums + 12, gx_hi);
    for (; k < n; k++) {
        double d = (double)dy[k], xhat = ((double)x[k] - mean) * rstd, g = (double)scale[k];
        sums[0] += g * d;
        sums[8] += g * d * xhat;
        if (weight_partial && bias_partial) {
            weight_partial[k] += d * xhat;
            bias_partial[k] += d;
        }
    }
}

static AVX2 void backward_block_sums_avx2(const float *x, const float *dy, long n, double mean, double rstd,
                                     double *out) {
    __m256d s_lo = _mm256_setzero_pd(), s_hi = _mm256_setzero_pd();
    __m256d sx_lo = _mm256_setzero_pd(), sx_hi = _mm256_setzero_pd();
    const __m256d m = _mm256_set1_pd(mean), r = _mm256_set1_pd(rstd);
    long k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256d d0, d1, x0, x1;
        widen(dy + k, &d0, &d1);
        widen(x + k, &x0, &x1);
        s_lo = _mm256_add_pd(s_lo, d0);
        s_hi = _mm256_add_pd(s_hi, d1);
        sx_lo = _mm256_add_pd(sx_lo, _mm256_mul_pd(d0, _mm256_mul_pd(_mm256_sub_pd(x0, m), r)));
        sx_hi = _mm256_add_pd(sx_hi, _mm256_mul_pd(d1, _mm256_mul_pd(_mm256_sub_pd(x1, m), r)));
    }
    double s[8], sx[8];
    _mm256_storeu_pd(s, s_lo);
    _mm256_storeu_pd(s + 4, s_hi);
    _mm256_storeu_pd(sx, sx_lo);
    _mm256_storeu_pd(sx + 4, sx_hi);
    for (; k < n; k++) {
        double d = (double)dy[k];
        s[0] += d;
        sx[0] += d * (((double)x[k] - mean) * rstd);
    }
    out[0] = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    out[1] = ((sx[0] + sx[1]) + (sx[2] + sx[3])) + ((sx[4] + sx[5]) + (sx[6] + sx[7]));
}

static AVX2 void backward_dx_affine_avx2(const float *x, const float *dy, const float *scale, float *dx, long n,
                                    float mean_hi, float mean_lo, float rstd, float shift, float slope, int overwrite) {
    const __m256 mh = _mm256_set1_ps(mean_hi), ml = _mm256_set1_ps(mean_lo), r = _mm256_set1_ps(rstd);
    const __m256 sh = _mm256_set1_ps(shift), sl = _mm256_set1_ps(slope);
    long k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 c = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + k), mh), ml);
        __m256 a = _mm256_mul_ps(_mm256_mul_ps(r, _mm256_loadu_ps(scale + k)), _mm256_loadu_ps(dy + k));
        __m256 v = _mm256_sub_ps(_mm256_sub_ps(a, sh), _mm256_mul_ps(c, sl));
        if (!overwrite) v = _mm256_add_ps(_mm256_loadu_ps(dx + k), v);
        _mm256_storeu_ps(dx + k, v);
    }
    for (; k < n; k++) {
        float v = rstd * scale[k] * dy[k] - shift - ((x[k] - mean_hi) - mean_lo) * slope;
        dx[k] = overwrite ? v : dx[k] + v;
    }
}

static AVX2 void backward_dx_scaled_avx2(const float *x, const float *dy, float *dx, long n, float mean_hi,
                                    float mean_lo, float scale, float shift, float slope, int overwrite) {
    const __m256 mh = _mm256_set1_ps(mean_hi), ml = _mm256_set1_ps(mean_lo), s = _mm256_set1_ps(scale);
    const __m256 sh = _mm256_set1_ps(shift), sl = _mm256_set1_ps(slope);
    long k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 c = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + k), mh), ml);
        __m256 v = _mm256_sub_ps(_mm256_sub_ps(_mm256_mul_ps(s, _mm256_loadu_ps(dy + k)), sh), _mm256_mul_ps(c, sl));
        if (!overwrite) v = _mm256_add_ps(_mm256_loadu_ps(dx + k), v);
        _mm256_storeu_ps(dx + k, v);
    }
    for (; k < n; k++) {
        float v = scale * dy[k] - shift - ((x[k] - mean_hi) - mean_lo) * slope;
        dx[k] = overwrite ? v : dx[k] + v;
    }
}


void bp_f32_lane_centered_squares(const float *x, long n, double mean, double *out) {
    if (USE_AVX512) lane_centered_squares_avx512(x, n, mean, out);
    else lane_centered_squares_avx2(x, n, mean, out);
}

void bp_f32_lane_shifted_moments(const float *x, long n, double shift, double *sums, double *squares) {
    if (USE_AVX512) lane_shifted_moments_avx512(x, n, shift, sums, squares);
    else lane_shifted_moments_avx2(x, n, shift, sums, squares);
}

void bp_f32_normalize_affine(const float *x, float *y, long n, float mean_hi, float mean_lo, float rstd,
                                  const float *scale, const float *shift, int accumulate) {
    if (USE_AVX512) normalize_affine_avx512(x, y, n, mean_hi, mean_lo, rstd, scale, shift, accumulate);
    else normalize_affine_avx2(x, y, n, mean_hi, mean_lo, rstd, scale, shift, accumulate);
}

void bp_f32_normalize_scaled(const float *x, float *y, long n, float mean_hi, float mean_lo,
                                  float scale, float shift, int accumulate) {
    if (USE_AVX512) normalize_scaled_avx512(x, y, n, mean_hi, mean_lo, scale, shift, accumulate);
    else normalize_scaled_avx2(x, y, n, mean_hi, mean_lo, scale, shift, accumulate);
}

void bp_f32_backward_sums_affine(const float *x, const float *dy, const float *scale, long n, double mean,
                                      double rstd, double *weight_partial, double *bias_partial, double *sums) {
    if (USE_AVX512) backward_sums_affine_avx512(x, dy, scale, n, mean, rstd, weight_partial, bias_partial, sums);
    else backward_sums_affine_avx2(x, dy, scale, n, mean, rstd, weight_partial, bias_partial, sums);
}

void bp_f32_backward_block_sums(const float *x, const float *dy, long n, double mean, double rstd,
                                     double *out) {
    if (USE_AVX512) backward_block_sums_avx512(x, dy, n, mean, rstd, out);
    else backward_block_sums_avx2(x, dy, n, mean, rstd, out);
}

void bp_f32_backward_dx_affine(const float *x, const float *dy, const float *scale, float *dx, long n,
                                    float mean_hi, float mean_lo, float rstd, float shift, float slope, int overwrite) {
    if (USE_AVX512) backward_dx_affine_avx512(x, dy, scale, dx, n, mean_hi, mean_lo, rstd, shift, slope, overwrite);
    else backward_dx_affine_avx2(x, dy, scale, dx, n, mean_hi, mean_lo, rstd, shift, slope, overwrite);
}

void bp_f32_backward_dx_scaled(const float *x, const float *dy, float *dx, long n, float mean_hi,
                                    float mean_lo, float scale, float shift, float slope, int overwrite) {
    if (USE_AVX512) backward_dx_scaled_avx512(x, dy, dx, n, mean_hi, mean_lo, scale, shift, slope, overwrite);
    else backward_dx_scaled_avx2(x, dy, dx, n, mean_hi, mean_lo, scale, shift, slope, overwrite);
}

// ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7)), as `Lanes8.sum()`.
static inline double lane_sum(const double *v) { return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])); }

void bp_f32_rows_normalize_with_statistics(const float *x, float *y, long rows, long n, int centered, double eps,
                                           const float *scale, const float *shift, double *mean, double *rstd,
                                           double *squares) {
    const double count = (double)n;
    for (long s = 0; s < rows; s++) {
        const float *xs = x + s * n;
        double sums[8] = {0, 0, 0, 0, 0, 0, 0, 0}, sq[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        if (centered) {
            const double k = (double)xs[0];
            bp_f32_lane_shifted_moments(xs, n, k, sums, sq);
            const double s1 = lane_sum(sums), s2 = lane_sum(sq);
            const double m2 = s2 - s1 * (s1 / count);
            mean[s] = k + s1 / count;
            squares[s] = m2 < 0 ? 0 : m2;
        } else {
            bp_f32_lane_centered_squares(xs, n, 0.0, sq);
            mean[s] = 0;
            squares[s] = lane_sum(sq);
        }
    }
    for (long s = 0; s < rows; s++) rstd[s] = 1 / sqrt(squares[s] / count + eps);
    for (long s = 0; s < rows; s++) {
        const float hi = (float)mean[s], lo = (float)(mean[s] - (double)hi);
        bp_f32_normalize_affine(x + s * n, y + s * n, n, hi, lo, (float)rstd[s], scale, shift, 0);
    }
}

void bp_f32_rows_normalize_backward(const float *x, const float *dy, const float *scale, float *dx, long rows, long n,
                                    const double *mean, const double *rstd, const double *coupling, int centered,
                                    double *weight_partial, double *bias_partial, int overwrite) {
    const double count = (double)n;
    for (long s = 0; s < rows; s++) {
        const float *xs = x + s * n, *dys = dy + s * n;
        double sums[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        bp_f32_backward_sums_affine(xs, dys, scale, n, mean[s], rstd[s], weight_partial, bias_partial, sums);
        if (!dx) continue;
        const double r = rstd[s];
        const double mean_g_dy = centered ? lane_sum(sums) / count : 0;
        const double mean_g_dy_xhat = lane_sum(sums + 8) / count;
        const float hi = (float)mean[s], lo = (float)(mean[s] - (double)(float)mean[s]);
        const float shift = (float)(r * mean_g_dy);
        const float slope = (float)(r * r * mean_g_dy_xhat * (coupling ? coupling[s] : 1));
        bp_f32_backward_dx_affine(xs, dys, scale, dx + s * n, n, hi, lo, (float)r, shift, slope, overwrite);
    }
}

// Column kernels: a rows × cols rectangle of `x` with row stride `stride` (the `[N, C·L]` view of a
// channels-strided layout), each column handled on its own and summed over the rows in row order,
// one `double` accumulator per column. Vectorized across columns, so every vector width gives the
// same per-column order and the Swift loops (`ColumnKernels.swift`) the same bits. The bodies are
// plain loops the compiler vectorizes inside AVX2 and AVX-512 copies; `bp_norm_column_isa` picks.
#define INLINE static inline __attribute__((always_inline))

INLINE void column_moments_body(const float *x, long rows, long stride, long cols, const double *shift,
                                double *sums, double *squares) {
    for (long j = 0; j < cols; j++) { sums[j] = 0; squares[j] = 0; }
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * stride;
        for (long j = 0; j < cols; j++) {
            double d = (double)row[j] - shift[j];
            sums[j] += d;
            squares[j] += d * d;
        }
    }
}

INLINE void column_normalize_body(const float *x, float *y, long rows, long stride, long cols, const float *mean_hi,
                                  const float *mean_lo, const float *scale, const float *shift, int accumulate) {
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * stride;
        float *yr = y + r * stride;
        if (accumulate) {
            for (long j = 0; j < cols; j++) yr[j] += ((xr[j] - mean_hi[j]) - mean_lo[j]) * scale[j] + shift[j];
        } else {
            for (long j = 0; j < cols; j++) yr[j] = ((xr[j] - mean_hi[j]) - mean_lo[j]) * scale[j] + shift[j];
        }
    }
}

INLINE void column_backward_sums_body(const float *x, const float *dy, long rows, long stride, long cols,
                                      const double *mean, const double *rstd, double *sum_dy, double *sum_dy_xhat) {
    for (long j = 0; j < cols; j++) { sum_dy[j] = 0; sum_dy_xhat[j] = 0; }
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * stride, *dr = dy + r * stride;
        for (long j = 0; j < cols; j++) {
            double d = (double)dr[j];
            sum_dy[j] += d;
            sum_dy_xhat[j] += d * (((double)xr[j] - mean[j]) * rstd[j]);
        }
    }
}

INLINE void column_backward_dx_body(const float *x, const float *dy, float *dx, long rows, long stride, long cols,
                                    const float *mean_hi, const float *mean_lo, const float *scale,
                                    const float *shift, const float *slope, int overwrite) {
    for (long r = 0; r < rows; r++) {
        const float *xr = x + r * stride, *dr = dy + r * stride;
        float *out = dx + r * stride;
        if (!slope) {
            if (overwrite) { for (long j = 0; j < cols; j++) out[j] = scale[j] * dr[j]; }
            else { for (long j = 0; j < cols; j++) out[j] += scale[j] * dr[j]; }
        } else if (overwrite) {
            for (long j = 0; j < cols; j++) out[j] = scale[j] * dr[j] - shift[j] - ((xr[j] - mean_hi[j]) - mean_lo[j]) * slope[j];
        } else {
            for (long j = 0; j < cols; j++) out[j] += scale[j] * dr[j] - shift[j] - ((xr[j] - mean_hi[j]) - mean_lo[j]) * slope[j];
        }
    }
}

#define COLUMN_COPIES(attr, suffix) \
    static attr void column_moments_##suffix(const float *x, long rows, long stride, long cols, const double *shift, \
                                             double *sums, double *squares) { \
        column_moments_body(x, rows, stride, cols, shift, sums, squares); } \
    static attr void column_normalize_##suffix(const float *x, float *y, long rows, long stride, long cols, \
                                               const float *mh, const float *ml, const float *sc, const float *sh, int acc) { \
        column_normalize_body(x, y, rows, stride, cols, mh, ml, sc, sh, acc); } \
    static attr void column_backward_sums_##suffix(const float *x, const float *dy, long rows, long stride, long cols, \
                                                   const double *mean, const double *rstd, double *sd, double *sdx) { \
        column_backward_sums_body(x, dy, rows, stride, cols, mean, rstd, sd, sdx); } \
    static attr void column_backward_dx_##suffix(const float *x, const float *dy, float *dx, long rows, long stride, long cols, \
                                                 const float *mh, const float *ml, const float *sc, const float *sh, \
                                                 const float *sl, int ow) { \
        column_backward_dx_body(x, dy, dx, rows, stride, cols, mh, ml, sc, sh, sl, ow); }

COLUMN_COPIES(AVX2, avx2)
COLUMN_COPIES(AVX512, avx512)

// Register-blocked column sums: a block of columns keeps its shifts (or μ, rstd) and its two sums in
// registers while walking every row, instead of loading and storing the per-column sums once per row.
// Each column still sums its rows in row order with the same operations, so the bits do not change.
static AVX512 void column_moments_blocks_avx512(const float *x, long rows, long stride, long cols, const double *shift,
                                                double *sums, double *squares, long *done) {
    long j = 0;
    for (; j + 32 <= cols; j += 32) {
        __m512d k[4], s[4], q[4];
        for (int t = 0; t < 4; t++) { k[t] = _mm512_loadu_pd(shift + j + 8 * t); s[t] = _mm512_setzero_pd(); q[t] = s[t]; }
        const float *p = x + j;
        for (long r = 0; r < rows; r++, p += stride) {
            for (int t = 0; t < 4; t++) {
                __m512d d = _mm512_sub_pd(widen8(p + 8 * t), k[t]);
                s[t] = _mm512_add_pd(s[t], d);
                q[t] = _mm512_add_pd(q[t], _mm512_mul_pd(d, d));
            }
        }
        for (int t = 0; t < 4; t++) { _mm512_storeu_pd(sums + j + 8 * t, s[t]); _mm512_storeu_pd(squares + j + 8 * t, q[t]); }
    }
    *done = j;
}

// Plain column sums (a Linear layer's bias gradient): blocks of 64 (AVX-512) or 16 (AVX2) columns
// keep their sums in registers down all the rows; the other columns take a per-column loop. Each
// column sums its rows in row order from 0 in one double, so every level gives the same bits.
// Columns j0..<cols one at a time (the edge the register blocks leave).
static void column_sums_from(const float *x, long rows, long stride, long j0, long cols, double *sums) {
    for (long j = j0; j < cols; j++) {
        double s = 0;
        for (long r = 0; r < rows; r++) s += (double)x[r * stride + j];
        sums[j] = s;
    }
}

static AVX512 void column_sums_avx512(const float *x, long rows, long stride, long cols, double *sums) {
    long j = 0;
    for (; j + 64 <= cols; j += 64) {
        __m512d s[8];
        for (int t = 0; t < 8; t++) s[t] = _mm512_setzero_pd();
        const float *p = x + j;
        for (long r = 0; r < rows; r++, p += stride)
            for (int t = 0; t < 8; t++) s[t] = _mm512_add_pd(s[t], widen8(p + 8 * t));
        for (int t = 0; t < 8; t++) _mm512_storeu_pd(sums + j + 8 * t, s[t]);
    }
    for (; j + 8 <= cols; j += 8) {
        __m512d s = _mm512_setzero_pd();
        const float *p = x + j;
        for (long r = 0; r < rows; r++, p += stride) s = _mm512_add_pd(s, widen8(p));
        _mm512_storeu_pd(sums + j, s);
    }
    column_sums_from(x, rows, stride, j, cols, sums);
}

static AVX2 void column_sums_avx2(const float *x, long rows, long stride, long cols, double *sums) {
    long j = 0;
    for (; j + 16 <= cols; j += 16) {
        __m256d s[4];
        for (int t = 0; t < 4; t++) s[t] = _mm256_setzero_pd();
        const float *p = x + j;
        for (long r = 0; r < rows; r++, p += stride) {
            __m256d v[4];
            widen(p, &v[0], &v[1]);
            widen(p + 8, &v[2], &v[3]);
            for (int t = 0; t < 4; t++) s[t] = _mm256_add_pd(s[t], v[t]);
        }
        for (int t = 0; t < 4; t++) _mm256_storeu_pd(sums + j + 4 * t, s[t]);
    }
    column_sums_from(x, rows, stride, j, cols, sums);
}

void bp_f32_column_sums(const float *x, long rows, long stride, long cols, double *sums) {
    if (bp_norm_column_isa() >= BP_ISA_AVX512) column_sums_avx512(x, rows, stride, cols, sums);
    else column_sums_avx2(x, rows, stride, cols, sums);
}

static AVX512 void column_backward_sums_blocks_avx512(const float *x, const float *dy, long rows, long stride, long cols,
                                                      const double *mean, const double *rstd, double *sum_dy,
                                                      double *sum_dy_xhat, long *done) {
    long j = 0;
    for (; j + 32 <= cols; j += 32) {
        __m512d m[4], rs[4], s[4], q[4];
        for (int t = 0; t < 4; t++) {
            m[t] = _mm512_loadu_pd(mean + j + 8 * t);
            rs[t] = _mm512_loadu_pd(rstd + j + 8 * t);
            s[t] = _mm512_setzero_pd();
            q[t] = s[t];
        }
        const float *p = x + j, *g = dy + j;
        for (long r = 0; r < rows; r++, p += stride, g += stride) {
            for (int t = 0; t < 4; t++) {
                __m512d d = widen8(g + 8 * t);
                __m512d xhat = _mm512_mul_pd(_mm512_sub_pd(widen8(p + 8 * t), m[t]), rs[t]);
                s[t] = _mm512_add_pd(s[t], d);
                q[t] = _mm512_add_pd(q[t], _mm512_mul_pd(d, xhat));
            }
        }
        for (int t = 0; t < 4; t++) { _mm512_storeu_pd(sum_dy + j + 8 * t, s[t]); _mm512_storeu_pd(sum_dy_xhat + j + 8 * t, q[t]); }
    }
    *done = j;
}

static AVX2 void column_moments_blocks_avx2(const float *x, long rows, long stride, long cols, const double *shift,
                                            double *sums, double *squares, long *done) {
    long j = 0;
    for (; j + 16 <= cols; j += 16) {
        __m256d k[4], s[4], q[4];
        for (int t = 0; t < 4; t++) { k[t] = _mm256_loadu_pd(shift + j + 4 * t); s[t] = _mm256_setzero_pd(); q[t] = s[t]; }
        const float *p = x + j;
        for (long r = 0; r < rows; r++, p += stride) {
            __m256d v[4];
            widen(p, &v[0], &v[1]);
            widen(p + 8, &v[2], &v[3]);
            for (int t = 0; t < 4; t++) {
                __m256d d = _mm256_sub_pd(v[t], k[t]);
                s[t] = _mm256_add_pd(s[t], d);
                q[t] = _mm256_add_pd(q[t], _mm256_mul_pd(d, d));
            }
        }
        for (int t = 0; t < 4; t++) { _mm256_storeu_pd(sums + j + 4 * t, s[t]); _mm256_storeu_pd(squares + j + 4 * t, q[t]); }
    }
    *done = j;
}

static AVX2 void column_backward_sums_blocks_avx2(const float *x, const float *dy, long rows, long stride, long cols,
                                                  const double *mean, const double *rstd, double *sum_dy,
                                                  double *sum_dy_xhat, long *done) {
    long j = 0;
    for (; j + 8 <= cols; j += 8) {
        __m256d m[2], rs[2], s[2], q[2];
        for (int t = 0; t < 2; t++) {
            m[t] = _mm256_loadu_pd(mean + j + 4 * t);
            rs[t] = _mm256_loadu_pd(rstd + j + 4 * t);
            s[t] = _mm256_setzero_pd();
            q[t] = s[t];
        }
        const float *p = x + j, *g = dy + j;
        for (long r = 0; r < rows; r++, p += stride, g += stride) {
            __m256d xv[2], dv[2];
            widen(p, &xv[0], &xv[1]);
            widen(g, &dv[0], &dv[1]);
            for (int t = 0; t < 2; t++) {
                __m256d xhat = _mm256_mul_pd(_mm256_sub_pd(xv[t], m[t]), rs[t]);
                s[t] = _mm256_add_pd(s[t], dv[t]);
                q[t] = _mm256_add_pd(q[t], _mm256_mul_pd(dv[t], xhat));
            }
        }
        for (int t = 0; t < 2; t++) { _mm256_storeu_pd(sum_dy + j + 4 * t, s[t]); _mm256_storeu_pd(sum_dy_xhat + j + 4 * t, q[t]); }
    }
    *done = j;
}

void bp_f32_column_moments(const float *x, long rows, long stride, long cols, const double *shift,
                           double *sums, double *squares) {
    long done = 0;
    if (bp_norm_column_isa() >= BP_ISA_AVX512) {
        column_moments_blocks_avx512(x, rows, stride, cols, shift, sums, squares, &done);
        if (done < cols) column_moments_avx512(x + done, rows, stride, cols - done, shift + done, sums + done, squares + done);
    } else {
        column_moments_blocks_avx2(x, rows, stride, cols, shift, sums, squares, &done);
        if (done < cols) column_moments_avx2(x + done, rows, stride, cols - done, shift + done, sums + done, squares + done);
    }
}

void bp_f32_column_normalize(const float *x, float *y, long rows, long stride, long cols, const float *mean_hi,
                             const float *mean_lo, const float *scale, const float *shift, int accumulate) {
    if (bp_norm_column_isa() >= BP_ISA_AVX512) column_normalize_avx512(x, y, rows, stride, cols, mean_hi, mean_lo, scale, shift, accumulate);
    else column_normalize_avx2(x, y, rows, stride, cols, mean_hi, mean_lo, scale, shift, accumulate);
}

void bp_f32_column_backward_sums(const float *x, const float *dy, long rows, long stride, long cols,
                                 const double *mean, const double *rstd, double *sum_dy, double *sum_dy_xhat) {
    long done = 0;
    if (bp_norm_column_isa() >= BP_ISA_AVX512) {
        column_backward_sums_blocks_avx512(x, dy, rows, stride, cols, mean, rstd, sum_dy, sum_dy_xhat, &done);
        if (done < cols) column_backward_sums_avx512(x + done, dy + done, rows, stride, cols - done, mean + done, rstd + done,
                                                     sum_dy + done, sum_dy_xhat + done);
    } else {
        column_backward_sums_blocks_avx2(x, dy, rows, stride, cols, mean, rstd, sum_dy, sum_dy_xhat, &done);
        if (done < cols) column_backward_sums_avx2(x + done, dy + done, rows, stride, cols - done, mean + done, rstd + done,
                                                   sum_dy + done, sum_dy_xhat + done);
    }
}

void bp_f32_column_backward_dx(const float *x, const float *dy, float *dx, long rows, long stride, long cols,
                               const float *mean_hi, const float *mean_lo, const float *scale, const float *shift,
                               const float *slope, int overwrite) {
    if (bp_norm_column_isa() >= BP_ISA_AVX512) column_backward_dx_avx512(x, dy, dx, rows, stride, cols, mean_hi, mean_lo, scale, shift, slope, overwrite);
    else column_backward_dx_avx2(x, dy, dx, rows, stride, cols, mean_hi, mean_lo, scale, shift, slope, overwrite);
}

#else

int bp_norm_kernels_available(void) { return 0; }
int bp_norm_column_isa(void) { return 0; }
void bp_f32_rows_normalize_backward(const float *x, const float *dy, const float *scale, float *dx, long rows, long n,
                                    const double *mean, const double *rstd, const double *coupling, int centered,
                                    double *weight_partial, double *bias_partial, int overwrite) {}
void bp_f32_rows_normalize_with_statistics(const float *x, float *y, long rows, long n, int centered, double eps,
                                           const float *scale, const float *shift, double *mean, double *rstd,
                                           double *squares) {}
void bp_f32_column_moments(const float *x, long rows, long stride, long cols, const double *shift,
                           double *sums, double *squares) {}
void bp_f32_column_sums(const float *x, long rows, long stride, long cols, double *sums) {}
void bp_f32_column_normalize(const float *x, float *y, long rows, long stride, long cols, const float *mean_hi,
                             const float *mean_lo, const float *scale, const float *shift, int accumulate) {}
void bp_f32_column_backward_sums(const float *x, const float *dy, long rows, long stride, long cols,
                                 const double *mean, const double *rstd, double *sum_dy, double *sum_dy_xhat) {}
void bp_f32_column_backward_dx(const float *x, const float *dy, float *dx, long rows, long stride, long cols,
                               const float *mean_hi, const float *mean_lo, const float *scale, const float *shift,
                               const float *slope, int overwrite) {}
void bp_f32_lane_centered_squares(const float *x, long n, double mean, double *out) {}
void bp_f32_lane_shifted_moments(const float *x, long n, double shift, double *sums, double *squares) {}
void bp_f32_normalize_affine(const float *x, float *y, long n, float mean_hi, float mean_lo, float rstd,
                             const float *scale, const float *shift, int accumulate) {}
void bp_f32_normalize_scaled(const float *x, float *y, long n, float mean_hi, float mean_lo,
                             float scale, float shift, int accumulate) {}
void bp_f32_backward_sums_affine(const float *x, const float *dy, const float *scale, long n, double mean,
                                 double rstd, double *weight_partial, double *bias_partial, double *sums) {}
void bp_f32_backward_block_sums(const float *x, const float *dy, long n, double mean, double rstd, double *out) {}
void bp_f32_backward_dx_affine(const float *x, const float *dy, const float *scale, float *dx, long n,
                               float mean_hi, float mean_lo, float rstd, float shift, float slope, int overwrite) {}
void bp_f32_backward_dx_scaled(const float *x, const float *dy, float *dx, long n, float mean_hi,
                               float mean_lo, float scale, float shift, float slope, int overwrite) {}

#endif
