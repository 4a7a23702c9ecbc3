/// How a normalization layer splits its input into independent sets, shared by every kernel.
///
/// Every layer views its input as `[outer, sets, inner]` (row-major) and normalizes each of the
/// `sets` slices over its `outer·inner` elements:
///
/// | layer | outer | sets | inner |
/// |---|---|---|---|
/// | BatchNorm | N | C | ∏spatial |
/// | InstanceNorm | 1 | N·C | ∏spatial |
/// | GroupNorm | 1 | N·G | (C/G)·∏spatial |
/// | LayerNorm, RMSNorm | 1 | ∏leading | ∏normalizedShape |
/// | BatchLayerNorm (batch term) | N | ∏rest | 1 |
///
/// The per-element affine index (into γ and β) is `(set mod affinePeriod)·affineStride + k / innerPerAffine`
/// for the element at inner offset `k`. Statistics are accumulated in `Double` for `Float` and
/// `Double` inputs alike (two passes: the mean, then the centred sum of squares), so an input such as
/// `1e4 + N(0, 1)` in `Float` keeps its variance.
struct NormalizationLayout: Sendable, Equatable {
    /// Elements before the set axis that each set reduces over.
    var outer: Int
    /// The number of independent normalization sets.
    var sets: Int
    /// Contiguous elements after the set axis that each set reduces over.
    var inner: Int
    /// The period of the set index in the affine index (`C` for channel-wise layers, 1 for LayerNorm).
    var affinePeriod: Int
    /// The multiplier of `set mod affinePeriod` in the affine index.
    var affineStride: Int
    /// How many consecutive inner elements share one affine index.
    var innerPerAffine: Int

    /// The number of elements in one normalization set, `outer·inner`.
    var countPerSet: Int { outer * inner }
    /// The total number of elements.
    var count: Int { outer * sets * inner }
}

/// How the output depends on the statistics, which decides the backward formula.
enum StatisticsDependence: Sendable {
    /// `x̂ = (x − μ)·rstd` with μ and rstd computed from x: dx = rstd·(g·dy − mean(g·dy) − x̂·mean(g·dy·x̂)).
    case centered
    /// `x̂ = x·rstd`, rstd = 1/√(mean(x²) + ε) computed from x (RMSNorm): dx = rstd·(g·dy − x̂·mean(g·dy·x̂)).
    case uncentered
    /// μ and rstd are constants (evaluation with running statistics): dx = rstd·g·dy.
    case constant
}

/// Per-set statistics kept for backward: the mean and the reciprocal standard deviation, in `Double`.
struct NormalizationStatistics: Sendable {
    /// μ per set (zeros for RMSNorm).
    var mean: [Double]
    /// 1/√(σ² + ε) per set (1/√(mean(x²) + ε) for RMSNorm).
    var reciprocalStd: [Double]
    /// The sum of squared deviations Σ(x − μ)² per set, for the unbiased running-variance update.
    var sumOfSquares: [Double]
    /// A per-set factor on the `x̂·mean(g·dy·x̂)` term of dx when the scale is not `1/√(σ²_b + ε)`
    /// (the Annotated-Transformer LayerNorm); `nil` means 1.
    var coupling: [Double]? = nil
}
