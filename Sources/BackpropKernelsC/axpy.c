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
