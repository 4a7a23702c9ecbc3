#ifndef BENCHMARK_ROOFLINE_H
#define BENCHMARK_ROOFLINE_H

// The machine limits `benchmark --roofline` compares workloads against: a register-resident FMA
// loop for the arithmetic peak and a triad for the memory bandwidth, each in the widest vector
// instructions this CPU has (chosen at run time, so the target needs no compiler flags).

#ifdef __cplusplus
extern "C" {
#endif

/// Vector levels of the loops below.
enum {
    BENCH_ISA_PORTABLE = 0,  ///< The compiler's baseline (SSE2 on x86-64): multiply then add.
    BENCH_ISA_AVX2 = 1,      ///< AVX2 + FMA, 8 floats or 4 doubles per instruction.
    BENCH_ISA_AVX512 = 2     ///< AVX-512F, 16 floats or 8 doubles per instruction.
};

/// The widest level this CPU supports (`__builtin_cpu_supports`).
int bench_best_isa(void);

/// Runs `iterations` rounds of independent single-precision FMAs that stay in registers, at `isa`
/// (clamped to what the CPU supports), and returns how many floating-point operations that was
/// (2 per lane per FMA; the portable level counts its multiply and add).
double bench_fma_f32(int isa, long iterations);

/// The double-precision `bench_fma_f32`.
double bench_fma_f64(int isa, long iterations);

/// The triad `a[i] = b[i] + s·c[i]` for `i < n`, at `isa` (clamped); moves 12·n bytes as STREAM
/// counts them (two reads and one write, not the write-allocate read of `a`).
void bench_triad_f32(int isa, float *a, const float *b, const float *c, float s, long n);

/// The calling thread's CPU time in seconds (`CLOCK_THREAD_CPUTIME_ID`): time the thread ran,
/// not time it waited for a core another process held.
double bench_thread_cpu_seconds(void);

#ifdef __cplusplus
}
#endif

#endif
