#include "BenchmarkRoofline.h"

#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BENCH_X86 1
#endif

// A value the loops' results are stored to, so the compiler keeps them.
static volatile double bench_sink;

int bench_best_isa(void) {
#if BENCH_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return BENCH_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return BENCH_ISA_AVX2;
#endif
    return BENCH_ISA_PORTABLE;
}

static int clamp_isa(int isa) {
    int best = bench_best_isa();
    return isa < best ? (isa < 0 ? 0 : isa) : best;
}

// Twelve accumulators: an FMA has a latency of 4 cycles and two issue ports on current x86 cores,
// so at least eight independent chains are needed to keep both ports busy. x ← x·m + a with
// m just below 1 converges to a/(1 − m) and never becomes subnormal or infinite.
#define BENCH_CHAINS 12

#if BENCH_X86
__attribute__((target("avx512f")))
static double fma_f32_avx512(long iterations) {
    __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f), x[BENCH_CHAINS];
    for (int c = 0; c < BENCH_CHAINS; c++) x[c] = _mm512_set1_ps((float)c);
    for (long i = 0; i < iterations; i++)
        for (int c = 0; c < BENCH_CHAINS; c++) x[c] = _mm512_fmadd_ps(x[c], m, a);
    __m512 sum = x[0];
    for (int c = 1; c < BENCH_CHAINS; c++) sum = _mm512_add_ps(sum, x[c]);
    bench_sink = _mm512_reduce_add_ps(sum);
    return 2.0 * 16 * BENCH_CHAINS * (double)iterations;
}

__attribute__((target("avx512f")))
static double fma_f64_avx512(long iterations) {
    __m512d m = _mm512_set1_pd(0.999999), a = _mm512_set1_pd(1e-7), x[BENCH_CHAINS];
    for (int c = 0; c < BENCH_CHAINS; c++) x[c] = _mm512_set1_pd((double)c);
    for (long i = 0; i < iterations; i++)
        for (int c = 0; c < BENCH_CHAINS; c++) x[c] = _mm512_fmadd_pd(x[c], m, a);
    __m512d sum = x[0];
    for (int c = 1; c < BENCH_CHAINS; c++) sum = _mm512_add_pd(sum, x[c]);
    bench_sink = _mm512_reduce_add_pd(sum);
    return 2.0 * 8 * BENCH_CHAINS * (double)iterations;
}

__attribute__((target("avx2,fma")))
static double fma_f32_avx2(long iterations) {
    __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f), x[BENCH_CHAINS];
    for (int c = 0; c < BENCH_CHAINS; c++) x[c] = _mm256_set1_ps((float)c);
    for (long i = 0; i < iterations; i++)
        for (int c = 0; c < BENCH_CHAINS; c++) x[c] = _mm256_fmadd_ps(x[c], m, a);
    __m256 sum = x[0];
    for (int c = 1; c < BENCH_CHAINS; c++) sum = _mm256_add_ps(sum, x[c]);
    float lanes[8];
    _mm256_storeu_ps(lanes, sum);
    bench_sink = lanes[0] + lanes[7];
    return 2.0 * 8 * BENCH_CHAINS * (double)iterations;
}

__attribute__((target("avx2,fma")))
static double fma_f64_avx2(long iterations) {
    __m256d m = _mm256_set1_pd(0.999999), a = _mm256_set1_pd(1e-7), x[BENCH_CHAINS];
    for (int c = 0; c < BENCH_CHAINS; c++) x[c] = _mm256_set1_pd((double)c);
    for (long i = 0; i < iterations; i++)
        for (int c = 0; c < BENCH_CHAINS; c++) x[c] = _mm256_fmadd_pd(x[c], m, a);
    __m256d sum = x[0];
    for (int c = 1; c < BENCH_CHAINS; c++) sum = _mm256_add_pd(sum, x[c]);
    double lanes[4];
    _mm256_storeu_pd(lanes, sum);
    bench_sink = lanes[0] + lanes[3];
    return 2.0 * 4 * BENCH_CHAINS * (double)iterations;
}

__attribute__((target("avx512f")))
static void triad_f32_avx512(float *a, const float *b, const float *c, float s, long n) {
    __m512 vs = _mm512_set1_ps(s);
    long i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(a + i, _mm512_fmadd_ps(vs, _mm512_loadu_ps(c + i), _mm512_loadu_ps(b + i)));
    for (; i < n; i++) a[i] = b[i] + s * c[i];
}

__attribute__((target("avx2,fma")))
static void triad_f32_avx2(float *a, const float *b, const float *c, float s, long n) {
    __m256 vs = _mm256_set1_ps(s);
    long i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(a + i, _mm256_fmadd_ps(vs, _mm256_loadu_ps(c + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++) a[i] = b[i] + s * c[i];
}
#endif

typedef float bench_f32x4 __attribute__((vector_size(16)));
typedef double bench_f64x2 __attribute__((vector_size(16)));

static double fma_f32_portable(long iterations) {
    bench_f32x4 m = {0.999999f, 0.999999f, 0.999999f, 0.999999f}, a = {1e-7f, 1e-7f, 1e-7f, 1e-7f}, x[BENCH_CHAINS];
    for (int c = 0; c < BENCH_CHAINS; c++) x[c] = (bench_f32x4){(float)c, (float)c, (float)c, (float)c};
    for (long i = 0; i < iterations; i++)
        for (int c = 0; c < BENCH_CHAINS; c++) x[c] = x[c] * m + a;
    bench_f32x4 sum = x[0];
    for (int c = 1; c < BENCH_CHAINS; c++) sum += x[c];
    bench_sink = sum[0] + sum[3];
    return 2.0 * 4 * BENCH_CHAINS * (double)iterations;
}

static double fma_f64_portable(long iterations) {
    bench_f64x2 m = {0.999999, 0.999999}, a = {1e-7, 1e-7}, x[BENCH_CHAINS];
    for (int c = 0; c < BENCH_CHAINS; c++) x[c] = (bench_f64x2){(double)c, (double)c};
    for (long i = 0; i < iterations; i++)
        for (int c = 0; c < BENCH_CHAINS; c++) x[c] = x[c] * m + a;
    bench_f64x2 sum = x[0];
    for (int c = 1; c < BENCH_CHAINS; c++) sum += x[c];
    bench_sink = sum[0] + sum[1];
    return 2.0 * 2 * BENCH_CHAINS * (double)iterations;
}

double bench_fma_f32(int isa, long iterations) {
    switch (clamp_isa(isa)) {
#if BENCH_X86
    case BENCH_ISA_AVX512: return fma_f32_avx512(iterations);
    case BENCH_ISA_AVX2: return fma_f32_avx2(iterations);
#endif
    default: return fma_f32_portable(iterations);
    }
}

double bench_fma_f64(int isa, long iterations) {
    switch (clamp_isa(isa)) {
#if BENCH_X86
    case BENCH_ISA_AVX512: return fma_f64_avx512(iterations);
    case BENCH_ISA_AVX2: return fma_f64_avx2(iterations);
#endif
    default: return fma_f64_portable(iterations);
    }
}

void bench_triad_f32(int isa, float *a, const float *b, const float *c, float s, long n) {
    switch (clamp_isa(isa)) {
#if BENCH_X86
    case BENCH_ISA_AVX512: triad_f32_avx512(a, b, c, s, n); return;
    case BENCH_ISA_AVX2: triad_f32_avx2(a, b, c, s, n); return;
#endif
    default:
        for (long i = 0; i < n; i++) a[i] = b[i] + s * c[i];
    }
}

double bench_thread_cpu_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}
