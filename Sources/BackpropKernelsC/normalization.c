// AVX2 inner loops of the float normalization kernels (`Normalization/Moments.swift`).
//
// Each function is the exact vector form of one loop of the Swift kernels: the same operations in
// the same order, sums in the same eight `Double` lanes (element i of a full block of eight goes to
// lane i mod 8; the tail goes where the Swift loop puts it), no fused multiply-add. So a result is
// bit-for-bit the one the Swift loop gives, and the Swift loop stays the fallback on CPUs without
// AVX2. The functions run only when `bp_norm_kernels_available()` says so.
#include "BackpropKernelsC.h"

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

AVX2 void bp_f32_lane_centered_squares(const float *x, long n, double mean, double *out) {
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
AVX2 void bp_f32_lane_shifted_moments(const float *x, long n, double shift, double *sums, double *squares) {
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

AVX2 void bp_f32_normalize_affine(const float *x, float *y, long n, float mean_hi, float mean_lo, float rstd,
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

AVX2 void bp_f32_normalize_scaled(const float *x, float *y, long n, float mean_hi, float mean_lo,
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

AVX2 void bp_f32_backward_sums_affine(const float *x, const float *dy, const float *scale, long n, double mean,
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

AVX2 void bp_f32_backward_block_sums(const float *x, const float *dy, long n, double mean, double rstd,
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

AVX2 void bp_f32_backward_dx_affine(const float *x, const float *dy, const float *scale, float *dx, long n,
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

AVX2 void bp_f32_backward_dx_scaled(const float *x, const float *dy, float *dx, long n, float mean_hi,
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

#else

int bp_norm_kernels_available(void) { return 0; }
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
