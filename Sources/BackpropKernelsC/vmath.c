// Vectorized float exp, tanh, exact GELU and its derivative, and the fused attention forward,
// each in three copies (AVX-512, AVX2+FMA, portable) of one body chosen at run time
// (vmath_body.h, attention_body.h). The elementwise functions give bit-identical results in all
// three copies; their accuracy against the correctly rounded values is tested in the Swift tests
// (VectorMathTests) and stated in BackpropKernelsC.h.

#include "BackpropKernelsC.h"

#pragma clang fp contract(off)

#if defined(__x86_64__)
#define VW 16
#define SUFFIX avx512
#pragma clang attribute push(__attribute__((target("avx512f,fma"))), apply_to = function)
#include "vmath_body.h"
#include "attention_body.h"
#pragma clang attribute pop
#undef vf
#undef vi
#undef vfu
#undef VW
#undef SUFFIX

#define VW 8
#define SUFFIX avx2
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#include "vmath_body.h"
#include "attention_body.h"
#pragma clang attribute pop
#undef vf
#undef vi
#undef vfu
#undef VW
#undef SUFFIX
#endif

#define VW 4
#define SUFFIX portable
#include "vmath_body.h"
#include "attention_body.h"
#undef vf
#undef vi
#undef vfu
#undef VW
#undef SUFFIX

/// The level to run: `isa` clamped to what the CPU has, or the best one when `isa` < 0.
static int vmath_level(int isa) {
    int best = bp_cpu_best_isa();
    return isa < 0 || isa > best ? best : isa;
}

void bp_vmath_f32(int function, int isa, const float *x, float *y, long n) {
    typedef void (*kernel)(const float *, float *, long);
    static const kernel portable[] = {vexp_f32_portable, vtanh_f32_portable, vgelu_f32_portable, vgelu_derivative_f32_portable};
#if defined(__x86_64__)
    static const kernel avx2[] = {vexp_f32_avx2, vtanh_f32_avx2, vgelu_f32_avx2, vgelu_derivative_f32_avx2};
    static const kernel avx512[] = {vexp_f32_avx512, vtanh_f32_avx512, vgelu_f32_avx512, vgelu_derivative_f32_avx512};
#endif
    if (function < 0 || function > BP_VMATH_GELU_DERIVATIVE || n <= 0) return;
    switch (vmath_level(isa)) {
#if defined(__x86_64__)
    case BP_ISA_AVX512: avx512[function](x, y, n); return;
    case BP_ISA_AVX2: avx2[function](x, y, n); return;
#endif
    default: portable[function](x, y, n); return;
    }
}

void bp_vmath_f32_times(int function, int isa, const float *x, const float *g, float *y, long n) {
    typedef void (*kernel)(const float *, const float *, float *, long);
    static const kernel portable[] = {vexp_times_f32_portable, vtanh_times_f32_portable, vgelu_times_f32_portable,
                                      vgelu_derivative_times_f32_portable};
#if defined(__x86_64__)
    static const kernel avx2[] = {vexp_times_f32_avx2, vtanh_times_f32_avx2, vgelu_times_f32_avx2, vgelu_derivative_times_f32_avx2};
    static const kernel avx512[] = {vexp_times_f32_avx512, vtanh_times_f32_avx512, vgelu_times_f32_avx512,
                                    vgelu_derivative_times_f32_avx512};
#endif
    if (function < 0 || function > BP_VMATH_GELU_DERIVATIVE || n <= 0) return;
    switch (vmath_level(isa)) {
#if defined(__x86_64__)
    case BP_ISA_AVX512: avx512[function](x, g, y, n); return;
    case BP_ISA_AVX2: avx2[function](x, g, y, n); return;
#endif
    default: portable[function](x, g, y, n); return;
    }
}

size_t bp_attention_scratch_floats(long key_length, long head_dim) {
    long padded = (key_length + 31) / 32 * 32;
    return (size_t)((head_dim + 4) * padded);
}

void bp_attention_f32(int isa, const float *q, const float *k, const float *v, float *out, long heads, long query_length,
                      long key_length, long head_dim, long q_batch, long q_row, long k_batch, long k_row, long v_batch, long v_row,
                      long o_batch, long o_row, float scale, const float *mask, long mask_n, long mask_h, long mask_l, long mask_s,
                      int causal, float *scratch, long task_begin, long task_end) {
    switch (vmath_level(isa)) {
#if defined(__x86_64__)
    case BP_ISA_AVX512:
        attention_f32_avx512(q, k, v, out, heads, query_length, key_length, head_dim, q_batch, q_row, k_batch, k_row, v_batch, v_row,
                             o_batch, o_row, scale, mask, mask_n, mask_h, mask_l, mask_s, causal, scratch, task_begin, task_end);
        return;
    case BP_ISA_AVX2:
        attention_f32_avx2(q, k, v, out, heads, query_length, key_length, head_dim, q_batch, q_row, k_batch, k_row, v_batch, v_row,
                           o_batch, o_row, scale, mask, mask_n, mask_h, mask_l, mask_s, causal, scratch, task_begin, task_end);
        return;
#endif
    default:
        attention_f32_portable(q, k, v, out, heads, query_length, key_length, head_dim, q_batch, q_row, k_batch, k_row, v_batch, v_row,
                               o_batch, o_row, scale, mask, mask_n, mask_h, mask_l, mask_s, causal, scratch, task_begin, task_end);
        return;
    }
}
