// Fused multiply-add updates `y[i] = fma(a, x[i], y[i])` for the optimizers, one rounding per
// element as PyTorch's vectorized CPU kernels do. The FMA path carries its own `target` attribute
// and is chosen at run time; the portable path calls the C library's `fma`, which gives the same
// correctly rounded result, element by element.
#include "BackpropKernelsC.h"
#include <math.h>

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma")))
static void saxpy_fma(float *y, float a, const float *x, long n) {
    for (long i = 0; i < n; i++) y[i] = __builtin_fmaf(a, x[i], y[i]);
}

__attribute__((target("avx2,fma")))
static void daxpy_fma(double *y, double a, const double *x, long n) {
    for (long i = 0; i < n; i++) y[i] = __builtin_fma(a, x[i], y[i]);
}
#endif

void bp_saxpy(float *y, float a, const float *x, long n) {
#if defined(__x86_64__) || defined(__i386__)
    if (bp_cpu_best_isa() >= BP_ISA_AVX2) { saxpy_fma(y, a, x, n); return; }
#endif
    for (long i = 0; i < n; i++) y[i] = fmaf(a, x[i], y[i]);
}

void bp_daxpy(double *y, double a, const double *x, long n) {
#if defined(__x86_64__) || defined(__i386__)
    if (bp_cpu_best_isa() >= BP_ISA_AVX2) { daxpy_fma(y, a, x, n); return; }
#endif
    for (long i = 0; i < n; i++) y[i] = fma(a, x[i], y[i]);
}

#pragma clang fp contract(off)

// One Adam/AdamW update of n parameters in place, PyTorch's operation order (see bp_sadam in the
// header). The FMA path and the portable path (C library fmaf, correctly rounded) give identical
// results; sqrt and division are correctly rounded in both.
#define ADAM_BODY(FMA, SQRT)                                                                        \
    for (long i = 0; i < n; i++) {                                                                  \
        float t = theta[i];                                                                         \
        if (shrink_theta) t *= shrink;                                                              \
        float g = grad[i];                                                                          \
        if (l2_active) g = FMA(l2, t, g);                                                           \
        float mi = FMA(one_minus_beta1, g - m[i], m[i]);                                            \
        float vi = FMA(one_minus_beta2 * g, g, v[i] * beta2);                                       \
        m[i] = mi;                                                                                  \
        v[i] = vi;                                                                                  \
        if (v_max) { vi = vi >= v_max[i] ? vi : v_max[i]; v_max[i] = vi; }                          \
        float denominator = SQRT(vi) / bias_correction2_sqrt + eps;                                 \
        theta[i] = t - (step_size * mi) / denominator;                                              \
    }

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma")))
static void sadam_fma(float *theta, float *m, float *v, float *v_max, const float *grad, long n, int shrink_theta,
                      float shrink, int l2_active, float l2, float one_minus_beta1, float beta2, float one_minus_beta2,
                      float step_size, float bias_correction2_sqrt, float eps) {
    ADAM_BODY(__builtin_fmaf, __builtin_sqrtf)
}
#endif

void bp_sadam(float *theta, float *m, float *v, float *v_max, const float *grad, long n, int shrink_theta,
              float shrink, int l2_active, float l2, float one_minus_beta1, float beta2, float one_minus_beta2,
              float step_size, float bias_correction2_sqrt, float eps) {
#if defined(__x86_64__) || defined(__i386__)
    if (bp_cpu_best_isa() >= BP_ISA_AVX2) {
        sadam_fma(theta, m, v, v_max, grad, n, shrink_theta, shrink, l2_active, l2, one_minus_beta1, beta2,
                  one_minus_beta2, step_size, bias_correction2_sqrt, eps);
        return;
    }
#endif
    ADAM_BODY(fmaf, sqrtf)
}
