// The vectorized float functions of vmath.c, written once on a GCC/Clang vector type of `VW`
// lanes and included three times (AVX-512: 16 lanes, AVX2+FMA: 8, portable: 4) with `SUFFIX`
// naming the copy. Every fused multiply-add is explicit (`fma`) and contraction is off, so the
// three copies perform the same operations in the same order on every lane: their results are
// bit-for-bit identical (without FMA hardware the portable copy's `fma` is the C library's `fmaf`).
//
// Coefficients are near-minimax fits (Chebyshev least squares against 40-digit mpmath values):
//   exp:  e^r = 1 + r + r²·P(r), |r| ≤ 0.36, P of degree 5 (approximation error 0.005 ulp)
//   tanh: tanh x = x + x³·P(x²), |x| < 0.625, P of degree 5; beyond, 1 − 2/(e^{2|x|} + 1)
//   erfc: erfc z = t·e^{−z²}·G(s), t = 2/(2 + z), s = (t − 0.58)/0.42, 0 ≤ z ≤ 10.61, G of degree 10
//         (Numerical Recipes' form, with G = e^{Q(s)} fitted directly, so the GELU derivative's
//         density and tail share e^{−z²}; relative approximation error 1.1e-8 with float coefficients)
//   Φ:    Φ(x) = ½ + x·P(x²) for |x| ≤ 0.75, P of degree 5 (approximation error 1e-4 ulp)

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define FN(name) CAT(name, SUFFIX)

typedef float FN(vf) __attribute__((vector_size(VW * 4)));
typedef int FN(vi) __attribute__((vector_size(VW * 4)));
typedef float FN(vfu) __attribute__((vector_size(VW * 4), aligned(4), may_alias));
#define vf FN(vf)
#define vi FN(vi)
#define vfu FN(vfu)

static inline vf FN(splat)(float x) {
    vf r;   // written lane by lane so it becomes one broadcast (0 + x would be a real addition: −0 + 0 = +0)
    for (int lane = 0; lane < VW; lane++) r[lane] = x;
    return r;
}
static inline vf FN(fma)(vf a, vf b, vf c) { return __builtin_elementwise_fma(a, b, c); }
static inline vf FN(select)(vi mask, vf a, vf b) { return (vf)((mask & (vi)a) | (~mask & (vi)b)); }
static inline vf FN(absolute)(vf x) { return (vf)((vi)x & 0x7FFFFFFF); }

/// e^r for the reduced argument of x + b, and k (in `*k`): k = round((x + b)·log₂e), r = (x − k·ln2)
/// + b with ln2 in two parts (the first product is exact under FMA), e^r = 1 + r + r²·P(r).
static inline vf FN(expreduced)(vf x, vf b, vf *k) {
    *k = ((x + b) * 1.44269504088896341f + 12582912.0f) - 12582912.0f;   // round to nearest (1.5·2²³ trick)
    vf r = FN(fma)(-*k, FN(splat)(0.693145751953125f), x);
    r = FN(fma)(-*k, FN(splat)(1.428606765330187045e-06f), r);
    r = r + b;
    vf p = FN(splat)(0.000199038646f);
    p = FN(fma)(p, r, FN(splat)(0.00139371843f));
    p = FN(fma)(p, r, FN(splat)(0.00833329275f));
    p = FN(fma)(p, r, FN(splat)(0.0416664318f));
    p = FN(fma)(p, r, FN(splat)(0.166666667f));
    p = FN(fma)(p, r, FN(splat)(0.500000002f));
    return FN(fma)(p, r * r, r) + 1.0f;
}

/// e^(a + b)·2^shift for an argument split in two (a large part `a` and a part `b` of magnitude
/// at most about 1), accurate to about 1 ulp: e^r by `expreduced`, then ·2^(k + shift)
/// in two factors so subnormal results and 2¹²⁸ come out right. A `shift` of 24 keeps results down
/// to e^(−104) normal, for callers that scale back after further products. NaN in `a` gives NaN;
/// a beyond 89 gives ∞, below −104 gives 0 (without shift).
static inline vf FN(exp2parts)(vf a, vf b, int shift) {
    vf x = __builtin_elementwise_max(__builtin_elementwise_min(a, FN(splat)(89.0f)), FN(splat)(-104.0f));
    vf k;
    vf p = FN(expreduced)(x, b, &k);
    vi ki = __builtin_convertvector(k, vi) + shift;
    vi half = ki >> 1;
    vf scale1 = (vf)((half + 127) << 23), scale2 = (vf)((ki - half + 127) << 23);
    // Below −104 the result rounds to 0; producing it through a subnormal product would cost a
    // microcode assist per lane (masked attention scores are −∞, so this is the common case
    // there), so the second factor is 0 there instead and the product is an exact +0.
    if (shift == 0) scale2 = FN(select)(x <= -104.0f, FN(splat)(0.0f), scale2);
    vf y = (p * scale1) * scale2;
    return FN(select)(a != a, a, y);
}

static inline vf FN(exp)(vf x) { return FN(exp2parts)(x, FN(splat)(0.0f), 0); }

static inline vf FN(tanh)(vf x) {
    vf ax = FN(absolute)(x);
    vf u = x * x;
    vf p = FN(splat)(0.00229584126f);
    p = FN(fma)(p, u, FN(splat)(-0.00834698049f));
    p = FN(fma)(p, u, FN(splat)(0.0217699609f));
    p = FN(fma)(p, u, FN(splat)(-0.0539594059f));
    p = FN(fma)(p, u, FN(splat)(0.133333043f));
    p = FN(fma)(p, u, FN(splat)(-0.333333332f));
    vf small = FN(fma)(x * u, p, x);
    vf e = FN(exp)(__builtin_elementwise_min(ax, FN(splat)(9.5f)) * 2.0f);
    vf large = 1.0f - 2.0f / (e + 1.0f);   // |tanh| for 0.625 ≤ |x|; 1 from 9.01 on
    large = (vf)(((vi)large & 0x7FFFFFFF) | ((vi)x & (int)0x80000000));
    return FN(select)(ax < 0.625f, small, FN(select)(x != x, x, large));
}

/// 2²⁴·e^{−(hi + lo)/2}, where hi + lo = a² exactly (hi = a·a rounded, lo = fma(a, a, −hi)) for
/// 0 ≤ a ≤ 15: the Gaussian factor of the normal density and tail, scaled by 2²⁴ so that it stays
/// normal, and keeps its relative accuracy, until products with x are scaled back. The argument is
/// clamped at −104, so k = round(−a²/2·log₂e) ≥ −150 and the single factor 2^(k + 24) is normal:
/// `exp2parts(−hi/2, −lo/2, 24)` without the clamp at 89, the NaN test and the second scale
/// factor, which this range never needs (the same value bit for bit).
static inline vf FN(gaussian)(vf hi, vf lo) {
    vf k;
    vf p = FN(expreduced)(__builtin_elementwise_max(hi * -0.5f, FN(splat)(-104.0f)), lo * -0.5f, &k);
    vi ki = __builtin_convertvector(k, vi);
    return p * (vf)((ki + (127 + 24)) << 23);
}

/// 2²⁴·Φ(−a) = 2²⁴·½·erfc(z), z = a/√2, for 0 ≤ a ≤ 15 given e = gaussian(a²): erfc z =
/// t·e^{−z²}·G(s), t = 2/(2 + z), s = (t − 0.58)/0.42, G = e^{Q(s)} of Numerical Recipes' form
/// fitted as a polynomial itself (degree 10, relative error 1.1e-8 with its float coefficients),
/// so the density and the tail share one exponential.
static inline vf FN(scaledtail)(vf a, vf e) {
    vf z = a * 0.707106781186547524f;
    vf t = 2.0f / (z + 2.0f);
    vf s = FN(fma)(t, FN(splat)(2.38095238095238095f), FN(splat)(-1.38095238095238095f));   // (t − 0.58)/0.42
    vf g = FN(splat)(6.37601579e-06f);
    g = FN(fma)(g, s, FN(splat)(6.40276221e-06f));
    g = FN(fma)(g, s, FN(splat)(-7.2718205e-05f));
    g = FN(fma)(g, s, FN(splat)(1.01731312e-05f));
    g = FN(fma)(g, s, FN(splat)(0.000626697089f));
    g = FN(fma)(g, s, FN(splat)(-0.000675190298f));
    g = FN(fma)(g, s, FN(splat)(-0.00632798439f));
    g = FN(fma)(g, s, FN(splat)(0.00630853511f));
    g = FN(fma)(g, s, FN(splat)(0.103521101f));
    g = FN(fma)(g, s, FN(splat)(0.327187896f));
    g = FN(fma)(g, s, FN(splat)(0.569408715f));
    return ((t * g) * e) * 0.5f;
}

/// Φ(x) = ½ + x·P(x²) for |x| ≤ 0.75, where the tail form would lose bits to 1 − tail ≈ ½.
static inline vf FN(centralcdf)(vf x) {
    vf u = x * x;
    vf p = FN(splat)(-8.39161308e-06f);
    p = FN(fma)(p, u, FN(splat)(0.000114782887f));
    p = FN(fma)(p, u, FN(splat)(-0.0011871402f));
    p = FN(fma)(p, u, FN(splat)(0.00997353239f));
    p = FN(fma)(p, u, FN(splat)(-0.0664903789f));
    p = FN(fma)(p, u, FN(splat)(0.39894228f));
    return FN(fma)(x, p, FN(splat)(0.5f));
}

/// x·Φ(x): with the central form for |x| ≤ 0.75; beyond, x·tail for x < 0 (scaled back after the
/// product, one rounding into the subnormal range; 0 past −15, where it underflows) and
/// x·(1 − tail) for x > 0 (no cancellation: the result is at least 0.77·x).
static inline vf FN(gelu)(vf x) {
    vf ax = FN(absolute)(x);
    vf xc = __builtin_elementwise_min(ax, FN(splat)(15.0f));   // Φ(−15) ≈ 3.7e-51 underflows
    vf hi = xc * xc, lo = FN(fma)(xc, xc, -hi);
    vf tail = FN(scaledtail)(xc, FN(gaussian)(hi, lo));
    vf negative = FN(select)(ax > 15.0f, x * 0.0f, (x * tail) * 0x1p-24f);
    vf positive = x * (1.0f - tail * 0x1p-24f);
    vf central = x * FN(centralcdf)(__builtin_elementwise_min(__builtin_elementwise_max(x, FN(splat)(-0.75f)), FN(splat)(0.75f)));
    return FN(select)(ax <= 0.75f, central, FN(select)(x < 0.0f, negative, positive));
}

/// Φ(x) + x·φ(x), φ(x) = e^{−x²/2}/√(2π); both terms scaled by 2²⁴ below −0.75, where they may be
/// tiny; NaN stays NaN. The density and the tail share one exponential (see scaledtail).
static inline vf FN(geluderivative)(vf x) {
    vf xc = __builtin_elementwise_max(__builtin_elementwise_min(x, FN(splat)(15.0f)), FN(splat)(-15.0f));
    vf ax = FN(absolute)(xc);
    vf hi = xc * xc, lo = FN(fma)(xc, xc, -hi);
    vf e = FN(gaussian)(hi, lo);
    vf density = e * 0.398942280401432678f;
    vf tail = FN(scaledtail)(ax, e);
    vf cdf = FN(select)(ax <= 0.75f, FN(centralcdf)(__builtin_elementwise_min(__builtin_elementwise_max(xc, FN(splat)(-0.75f)), FN(splat)(0.75f))),
                        1.0f - tail * 0x1p-24f);
    vf negative = FN(fma)(xc, density, tail) * 0x1p-24f;
    vf other = FN(fma)(xc, density * 0x1p-24f, cdf);
    return FN(select)(x != x, x, FN(select)(xc < -0.75f, negative, other));
}

/// Applies `op` to `n` floats: whole vectors, then the tail through a zero-padded vector.
#define APPLY(op)                                                                 \
    long i = 0;                                                                   \
    for (; i + VW <= n; i += VW) *(vfu *)(y + i) = op(*(const vfu *)(x + i));     \
    if (i < n) {                                                                  \
        float in[VW] = {0}, out[VW];                                              \
        for (long j = 0; j < n - i; j++) in[j] = x[i + j];                        \
        *(vfu *)out = op(*(const vfu *)in);                                       \
        for (long j = 0; j < n - i; j++) y[i + j] = out[j];                       \
    }

/// Applies `op` to `n` floats and multiplies each result by `g` (two roundings, as computing
/// f(x) then g·f(x) would): whole vectors, then the tail through a zero-padded vector.
#define APPLY_TIMES(op)                                                                          \
    long i = 0;                                                                                  \
    for (; i + VW <= n; i += VW) *(vfu *)(y + i) = op(*(const vfu *)(x + i)) * *(const vfu *)(g + i); \
    if (i < n) {                                                                                 \
        float in[VW] = {0}, out[VW];                                                             \
        for (long j = 0; j < n - i; j++) in[j] = x[i + j];                                       \
        *(vfu *)out = op(*(const vfu *)in);                                                      \
        for (long j = 0; j < n - i; j++) y[i + j] = out[j] * g[i + j];                           \
    }

static void FN(vexp_f32)(const float *x, float *y, long n) { APPLY(FN(exp)) }
static void FN(vtanh_f32)(const float *x, float *y, long n) { APPLY(FN(tanh)) }
static void FN(vgelu_f32)(const float *x, float *y, long n) { APPLY(FN(gelu)) }
static void FN(vgelu_derivative_f32)(const float *x, float *y, long n) { APPLY(FN(geluderivative)) }
static void FN(vexp_times_f32)(const float *x, const float *g, float *y, long n) { APPLY_TIMES(FN(exp)) }
static void FN(vtanh_times_f32)(const float *x, const float *g, float *y, long n) { APPLY_TIMES(FN(tanh)) }
static void FN(vgelu_times_f32)(const float *x, const float *g, float *y, long n) { APPLY_TIMES(FN(gelu)) }
static void FN(vgelu_derivative_times_f32)(const float *x, const float *g, float *y, long n) { APPLY_TIMES(FN(geluderivative)) }

#undef APPLY
#undef APPLY_TIMES
