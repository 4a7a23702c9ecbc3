/// The shared statistics and normalization kernels behind every normalization layer.
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

enum NormalizationKernels {
    /// Two-pass moments per set: μ = Σx/n, then M2 = Σ(x − μ)² (or Σx² when not `centered`), in `Double`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func moments<Scalar: TensorScalar>(_ x: UnsafeBufferPointer<Scalar>, layout: NormalizationLayout,
                                              centered: Bool) -> (mean: [Double], sumOfSquares: [Double]) {
        let (outer, sets, inner) = (layout.outer, layout.sets, layout.inner)
        var mean = [Double](repeating: 0, count: sets)
        var squares = [Double](repeating: 0, count: sets)
        let n = Double(layout.countPerSet)
        if centered {
            var index = 0
            for _ in 0..<outer {
                for s in 0..<sets {
                    var sum = 0.0
                    for _ in 0..<inner { sum += Double(x[index]); index += 1 }
                    mean[s] += sum
                }
            }
            for s in 0..<sets { mean[s] /= n }
        }
        var index = 0
        for _ in 0..<outer {
            for s in 0..<sets {
                let mu = mean[s]
                var sum = 0.0
                for _ in 0..<inner {
                    let d = Double(x[index]) - mu
                    sum += d * d
                    index += 1
                }
                squares[s] += sum
            }
        }
        return (mean, squares)
    }

    /// Statistics from the input: mean and rstd = 1/√(M2/n + ε).
    static func statistics<Scalar: TensorScalar>(of x: Tensor<Scalar>, layout: NormalizationLayout,
                                                 centered: Bool, eps: Double) -> NormalizationStatistics {
        let (mean, squares) = x.scalars.withUnsafeBufferPointer { moments($0, layout: layout, centered: centered) }
        let n = Double(layout.countPerSet)
        let rstd = squares.map { 1 / (($0 / n) + eps).squareRoot() }
        return NormalizationStatistics(mean: mean, reciprocalStd: rstd, sumOfSquares: squares)
    }

    /// `y (+)= coefficient·γ[a]·(x − μ)·rstd + β[a]` for every element.
    ///
    /// - Parameters:
    ///   - accumulate: Add to `y` instead of overwriting it.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func normalize<Scalar: TensorScalar>(_ x: UnsafeBufferPointer<Scalar>, layout: NormalizationLayout,
                                                mean: [Double], reciprocalStd: [Double], coefficient: Double,
                                                weight: UnsafeBufferPointer<Scalar>?, bias: UnsafeBufferPointer<Scalar>?,
                                                into y: UnsafeMutableBufferPointer<Scalar>, accumulate: Bool) {
        let (outer, sets, inner) = (layout.outer, layout.sets, layout.inner)
        let blocks = inner / layout.innerPerAffine
        var index = 0
        for _ in 0..<outer {
            for s in 0..<sets {
                let mu = mean[s]
                let r = reciprocalStd[s] * coefficient
                let affineBase = (s % layout.affinePeriod) * layout.affineStride
                for b in 0..<blocks {
                    let a = affineBase + b
                    let scale = weight.map { r * Double($0[a]) } ?? r
                    let shift = bias.map { Double($0[a]) } ?? 0
                    for _ in 0..<layout.innerPerAffine {
                        var value = (Double(x[index]) - mu) * scale + shift
                        if accumulate { value += Double(y[index]) }
                        y[index] = Scalar(value)
                        index += 1
                    }
                }
            }
        }
    }

    /// The analytic backward of `y = coefficient·γ[a]·x̂ + β[a]` in one pass per set.
    ///
    /// With `g = coefficient·γ[a]` and n elements per set (centred compact form):
    /// `dx = rstd·(g·dy − (1/n)Σ g·dy − x̂·(1/n)Σ g·dy·x̂)` (the middle term is dropped for
    /// `.uncentered`, both sums for `.constant`); `dγ[a] += coefficient·Σ dy·x̂`; `dβ[a] += Σ dy`.
    /// Sums are accumulated in `Double`. Every output is accumulated into (callers pass zeros).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func normalizeBackward<Scalar: TensorScalar>(
        _ x: UnsafeBufferPointer<Scalar>, gradient dy: UnsafeBufferPointer<Scalar>, layout: NormalizationLayout,
        mean: [Double], reciprocalStd: [Double], coupling: [Double]?, dependence: StatisticsDependence, coefficient: Double,
        weight: UnsafeBufferPointer<Scalar>?,
        inputGradient dx: UnsafeMutableBufferPointer<Scalar>?,
        weightGradient dWeight: UnsafeMutableBufferPointer<Double>?,
        biasGradient dBias: UnsafeMutableBufferPointer<Double>?
    ) {
        let (outer, sets, inner) = (layout.outer, layout.sets, layout.inner)
        let blocks = inner / layout.innerPerAffine
        let setStride = sets * inner
        let n = Double(layout.countPerSet)
        for s in 0..<sets {
            let mu = mean[s]
            let r = reciprocalStd[s]
            let affineBase = (s % layout.affinePeriod) * layout.affineStride
            // First sweep: Σ g·dy and Σ g·dy·x̂ for dx, and the parameter gradients.
            var sumGDy = 0.0
            var sumGDyXhat = 0.0
            for o in 0..<outer {
                var index = o * setStride + s * inner
                for b in 0..<blocks {
                    let a = affineBase + b
                    let g = weight.map { coefficient * Double($0[a]) } ?? coefficient
                    var sumDy = 0.0
                    var sumDyXhat = 0.0
                    for _ in 0..<layout.innerPerAffine {
                        let d = Double(dy[index])
                        let xhat = (Double(x[index]) - mu) * r
                        sumDy += d
                        sumDyXhat += d * xhat
                        index += 1
                    }
                    sumGDy += g * sumDy
                    sumGDyXhat += g * sumDyXhat
                    dWeight?[a] += coefficient * sumDyXhat
                    dBias?[a] += sumDy
                }
            }
            guard let dx else { continue }
            let meanGDy: Double
            let meanGDyXhat: Double
            switch dependence {
            case .centered: (meanGDy, meanGDyXhat) = (sumGDy / n, sumGDyXhat / n)
            case .uncentered: (meanGDy, meanGDyXhat) = (0, sumGDyXhat / n)
            case .constant: (meanGDy, meanGDyXhat) = (0, 0)
            }
            let couplingFactor = coupling?[s] ?? 1
            for o in 0..<outer {
                var index = o * setStride + s * inner
                for b in 0..<blocks {
                    let a = affineBase + b
                    let g = weight.map { coefficient * Double($0[a]) } ?? coefficient
                    for _ in 0..<layout.innerPerAffine {
                        let xhat = (Double(x[index]) - mu) * r
                        let value = r * (g * Double(dy[index]) - meanGDy - xhat * meanGDyXhat * couplingFactor)
                        dx[index] = Scalar(Double(dx[index]) + value)
                        index += 1
                    }
                }
            }
        }
    }
}

/// One normalization term of a fused op: its layout, statistics, dependence and coefficient.
struct NormalizationTerm: Sendable {
    var layout: NormalizationLayout
    var statistics: NormalizationStatistics
    var dependence: StatisticsDependence
    var coefficient: Double

    /// A mean-centred term: statistics of `x` (differentiated through) when `given` is `nil`, else
    /// the given per-set mean and variance as constants.
    static func centered<Scalar: TensorScalar>(_ x: Tensor<Scalar>, layout: NormalizationLayout, eps: Double,
                                               given: (mean: [Double], variance: [Double])? = nil,
                                               coefficient: Double = 1) -> NormalizationTerm {
        guard let given else {
            let statistics = NormalizationKernels.statistics(of: x, layout: layout, centered: true, eps: eps)
            return NormalizationTerm(layout: layout, statistics: statistics, dependence: .centered, coefficient: coefficient)
        }
        let statistics = NormalizationStatistics(mean: given.mean, reciprocalStd: given.variance.map { 1 / ($0 + eps).squareRoot() },
                                                 sumOfSquares: [])
        return NormalizationTerm(layout: layout, statistics: statistics, dependence: .constant, coefficient: coefficient)
    }
}

/// The forward and backward shared by every fused normalization op: a sum of normalization terms
/// `y = Σ_t c_t·γ·x̂_t + β` (one term for every layer except BatchLayerNorm, which has two).
enum FusedNormalization {
    /// `y = Σ_t c_t·γ[a]·x̂_t + β[a]`.
    static func forward<Scalar: TensorScalar>(_ x: Tensor<Scalar>, terms: [NormalizationTerm],
                                              weight: Tensor<Scalar>?, bias: Tensor<Scalar>?) -> Tensor<Scalar> {
        let scalars = [Scalar](unsafeUninitializedCapacity: x.count) { y, initialized in
            x.scalars.withUnsafeBufferPointer { xs in
                withOptionalBuffer(weight) { w in
                    withOptionalBuffer(bias) { b in
                        for (t, term) in terms.enumerated() {
                            NormalizationKernels.normalize(xs, layout: term.layout, mean: term.statistics.mean,
                                                           reciprocalStd: term.statistics.reciprocalStd,
                                                           coefficient: term.coefficient, weight: w,
                                                           bias: t == terms.count - 1 ? b : nil,
                                                           into: y, accumulate: t > 0)
                        }
                    }
                }
            }
            initialized = x.count
        }
        return Tensor(shape: x.shape, scalars: scalars)
    }

    /// Gradients for `[x, weight?, bias?]` (in that order, `nil` where not needed) from the centred
    /// compact formulas of every term.
    static func backward<Scalar: TensorScalar>(_ gradient: Tensor<Scalar>, x: Tensor<Scalar>, terms: [NormalizationTerm],
                                               weight: Tensor<Scalar>?, biasShape: [Int]?,
                                               inputsNeedingGradient needs: [Bool]) -> [Tensor<Scalar>?] {
        let hasBias = biasShape != nil
        let affineCount = weight?.count ?? biasShape?.reduce(1, *) ?? 0
        let needX = needs[0]
        let needWeight = weight != nil && needs[1]
        let needBias = hasBias && needs[weight != nil ? 2 : 1]
        var dx = needX ? [Scalar](repeating: 0, count: x.count) : []
        var dWeight = [Double](repeating: 0, count: needWeight ? affineCount : 0)
        var dBias = [Double](repeating: 0, count: needBias ? affineCount : 0)
        x.scalars.withUnsafeBufferPointer { xs in
            gradient.scalars.withUnsafeBufferPointer { dys in
                withOptionalBuffer(weight) { w in
                    dx.withUnsafeMutableBufferPointer { dxs in
                        dWeight.withUnsafeMutableBufferPointer { dws in
                            dBias.withUnsafeMutableBufferPointer { dbs in
                                for (t, term) in terms.enumerated() {
                                    NormalizationKernels.normalizeBackward(
                                        xs, gradient: dys, layout: term.layout, mean: term.statistics.mean,
                                        reciprocalStd: term.statistics.reciprocalStd,
                                        coupling: term.statistics.coupling, dependence: term.dependence,
                                        coefficient: term.coefficient, weight: w,
                                        inputGradient: needX ? dxs : nil,
                                        weightGradient: needWeight ? dws : nil,
                                        biasGradient: needBias && t == 0 ? dbs : nil)
                                }
                            }
                        }
                    }
                }
            }
        }
        var result: [Tensor<Scalar>?] = [needX ? Tensor(shape: x.shape, scalars: dx) : nil]
        if let weight { result.append(needWeight ? Tensor(shape: weight.shape, scalars: dWeight.map { Scalar($0) }) : nil) }
        if let biasShape {
            result.append(needBias ? Tensor(shape: biasShape, scalars: dBias.map { Scalar($0) }) : nil)
        }
        return result
    }
}

/// Calls `body` with the tensor's buffer, or `nil`.
func withOptionalBuffer<Scalar: TensorScalar, Result>(_ tensor: Tensor<Scalar>?,
                                                      _ body: (UnsafeBufferPointer<Scalar>?) -> Result) -> Result {
    guard let tensor else { return body(nil) }
    return tensor.scalars.withUnsafeBufferPointer { body($0) }
}

extension DifferentiableOperation {
    /// Runs the forward pass, records one entry on the inputs' tape, and also returns what was saved
    /// (the normalization layers read their batch statistics from it for the running averages).
    func applyKeepingSaved(_ inputs: [Variable<Scalar>]) -> (output: Variable<Scalar>, saved: Saved) {
        let (output, saved) = forward(inputs.map(\.value))
        let needs = inputs.map(\.requiresGradient)
        let variable = Variable.record(name, inputs, value: output) { gradient in
            self.backward(gradient, saved: saved, inputsNeedingGradient: needs)
        }
        return (variable, saved)
    }
}

/// What a fused normalization op keeps for backward: the input, the per-set statistics of each term
/// (mean and reciprocal std, not a graph of primitive ops), and the weight.
struct NormalizationSaved<Scalar: TensorScalar> {
    var x: Tensor<Scalar>
    var terms: [NormalizationTerm]
    var weight: Tensor<Scalar>?
    var biasShape: [Int]?
}

/// A fused normalization op: inputs `[x, weight?, bias?]`, saving `NormalizationSaved`, with the
/// shared analytic backward of `FusedNormalization`.
protocol FusedNormalizationOperation: DifferentiableOperation where Saved == NormalizationSaved<Scalar> {}

extension FusedNormalizationOperation {
    /// The gradients of x, weight and bias from the saved statistics (centred compact forms).
    func backward(_ gradient: Tensor<Scalar>, saved: NormalizationSaved<Scalar>, inputsNeedingGradient: [Bool]) -> [Tensor<Scalar>?] {
        FusedNormalization.backward(gradient, x: saved.x, terms: saved.terms, weight: saved.weight,
                                    biasShape: saved.biasShape, inputsNeedingGradient: inputsNeedingGradient)
    }
}

/// Splits the inputs `[x, weight?, bias?]` of a fused normalization op.
func splitNormalizationInputs<Scalar: TensorScalar>(_ inputs: [Tensor<Scalar>], hasWeight: Bool, hasBias: Bool)
    -> (x: Tensor<Scalar>, weight: Tensor<Scalar>?, bias: Tensor<Scalar>?) {
    let weight = hasWeight ? inputs[1] : nil
    let bias = hasBias ? inputs[hasWeight ? 2 : 1] : nil
    return (inputs[0], weight, bias)
}

/// `[x, weight?, bias?]` as the input list of a fused op.
func normalizationInputs<Scalar: TensorScalar>(_ x: Variable<Scalar>, _ weight: Variable<Scalar>?,
                                               _ bias: Variable<Scalar>?) -> [Variable<Scalar>] {
    [x] + (weight.map { [$0] } ?? []) + (bias.map { [$0] } ?? [])
}

/// The product of the trailing axes of `shape` from `axis` on.
func elementCount(_ shape: [Int], from axis: Int = 0) -> Int {
    shape[axis...].reduce(1, *)
}

/// Stops unless `eps` is finite and non-negative.
func checkEps(_ eps: Double, op: String) {
    guard eps >= 0 && eps.isFinite else { shapeError(op, "eps \(eps) must be finite and ≥ 0") }
}
