/// Where `BatchLayerNorm` takes one of its four statistics from in evaluation.
public enum BatchLayerNormStatistic: Sendable, Equatable {
    /// Computed from the evaluation mini-batch itself.
    case miniBatch
    /// The population average accumulated over training batches.
    case population
}

/// Batch Layer Normalization (Ziaee & Çano, 2022, arXiv:2209.08898), with the formulas of the
/// authors' code (A2Amir/Batch-Layer-Normalization, `helpers/bln_layer.py`).
///
/// For input `[N, …, D]` (features on the last axis) and mini-batch size `m` (the input's N unless
/// `batchSize` fixes it, as the authors' constructor argument does), with δ = `eps` (0.001):
/// ```
/// μ_B, σ²_B = biased moments over axis 0        (one per position and feature, shape […, D])
/// μ_F, σ²_F = biased moments over the last axis (one per sample and position)
/// x̂_B = (x − μ_B)/√(σ²_B + δ),   x̂_F = (x − μ_F)/√(σ²_F + δ)
/// y = γ ⊙ ((1/m − 1e-4)·x̂_F + (1 − (1/m + 1e-4))·x̂_B)/√D + β        (γ, β of shape [D])
/// ```
/// With m = 1 the batch term's weight is −1e-4 and the layer is almost LayerNorm; as m grows it tends
/// to BatchNorm (without pooling over positions).
///
/// Backward: the sum of two normalization backwards (centred compact form), one per term, with
/// `g_F = γ·c_F` and `g_B = γ·c_B` (c the term's mixing weight over √D):
/// `∂L/∂x = Σ_t rstd_t·(g_t·dy − mean_t(g_t·dy) − x̂_t·mean_t(g_t·dy·x̂_t))`,
/// `∂L/∂γ = Σ dy·(c_F·x̂_F + c_B·x̂_B)`, `∂L/∂β = Σ dy`.
///
/// Evaluation: as the authors, each of the four statistics (batch mean, batch variance, feature mean,
/// feature variance) comes from the mini-batch or from the population, by option; the default is
/// theirs (population batch statistics, mini-batch feature statistics). Population statistics are
/// the averages of the training batches' moments since the last `resetPopulationStatistics()` (the
/// authors reset them each epoch), with both variances multiplied by `m/(m − 1)` (m the training
/// batch size, when m > 1) as the authors do. In evaluation the mixing weights use `batchSize` when
/// set (the authors' fixed m), else the evaluation batch's N. The feature population statistics are averaged over samples too (one per position),
/// where the authors keep one per index within the batch. A statistic taken from the mini-batch in a
/// mixed choice (population mean with mini-batch variance, or the reverse) is a constant for the
/// gradient.
public final class BatchLayerNorm<Scalar: TensorScalar>: Module {
    /// The shape of one sample, `[…, D]`.
    public let sampleShape: [Int]
    /// δ, added to both variances (the authors' 0.001).
    public let eps: Double
    /// A fixed mini-batch size m for the mixing weights, or `nil` to use each input's N.
    public let batchSize: Int?
    /// The sources of the batch mean, batch variance, feature mean and feature variance in evaluation.
    public var inference: (batchMean: BatchLayerNormStatistic, batchVariance: BatchLayerNormStatistic,
                           featureMean: BatchLayerNormStatistic, featureVariance: BatchLayerNormStatistic)
    /// γ, shape `[D]` (ones); `nil` without `affine`.
    public let weight: Parameter<Scalar>?
    /// β, shape `[D]` (zeros); `nil` without `affine`.
    public let bias: Parameter<Scalar>?
    /// The average batch mean over training batches, shape `sampleShape`.
    public let populationBatchMean: Buffer<Scalar>
    /// The average batch variance over training batches times `m/(m − 1)`, shape `sampleShape`.
    public let populationBatchVar: Buffer<Scalar>
    /// The average feature mean over training samples, shape `sampleShape` without its last axis.
    public let populationFeatureMean: Buffer<Scalar>
    /// The average feature variance over training samples times `m/(m − 1)` (the authors' factor),
    /// shape `sampleShape` without its last axis.
    public let populationFeatureVar: Buffer<Scalar>
    /// The number of training batches averaged into the population statistics.
    public let numBatchesTracked: Buffer<Scalar>

    /// Creates a layer.
    ///
    /// - Parameters:
    ///   - sampleShape: The shape of one sample `[…, D]`, features last.
    ///   - eps: δ (the authors use 0.001).
    ///   - batchSize: A fixed m for the mixing weights, or `nil` for each input's N.
    ///   - affine: Learn γ and β.
    ///   - batchMean: The evaluation source of μ_B (the authors' default: population).
    ///   - batchVariance: The evaluation source of σ²_B (population).
    ///   - featureMean: The evaluation source of μ_F (mini-batch).
    ///   - featureVariance: The evaluation source of σ²_F (mini-batch).
    public init(sampleShape: [Int], eps: Double = 1e-3, batchSize: Int? = nil, affine: Bool = true,
                batchMean: BatchLayerNormStatistic = .population, batchVariance: BatchLayerNormStatistic = .population,
                featureMean: BatchLayerNormStatistic = .miniBatch, featureVariance: BatchLayerNormStatistic = .miniBatch) {
        guard !sampleShape.isEmpty, sampleShape.allSatisfy({ $0 > 0 }) else {
            usageError("BatchLayerNorm", "sampleShape \(sampleShape) must have at least one axis (the features), all positive")
        }
        if let batchSize, batchSize <= 0 { usageError("BatchLayerNorm", "batchSize \(batchSize) must be positive") }
        checkEps(eps, op: "BatchLayerNorm")
        self.sampleShape = sampleShape
        self.eps = eps
        self.batchSize = batchSize
        inference = (batchMean, batchVariance, featureMean, featureVariance)
        let features = sampleShape[sampleShape.count - 1]
        weight = affine ? Parameter(Tensor(ones: [features])) : nil
        bias = affine ? Parameter(Tensor(zeros: [features])) : nil
        populationBatchMean = Buffer(Tensor(zeros: sampleShape))
        populationBatchVar = Buffer(Tensor(zeros: sampleShape))
        populationFeatureMean = Buffer(Tensor(zeros: Array(sampleShape.dropLast())))
        populationFeatureVar = Buffer(Tensor(zeros: Array(sampleShape.dropLast())))
        numBatchesTracked = Buffer(Tensor(zeros: []))
    }

    /// Forgets the population statistics (the authors' per-epoch reset).
    public func resetPopulationStatistics() {
        for buffer in [populationBatchMean, populationBatchVar, populationFeatureMean, populationFeatureVar, numBatchesTracked] {
            buffer.value = Tensor(zeros: buffer.value.shape)
        }
    }

    /// Normalizes `x` of shape `[N] + sampleShape`.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        guard Array(x.shape.dropFirst()) == sampleShape else {
            usageError("BatchLayerNorm", "input shape \(x.shape) must be [N] + sampleShape \(sampleShape)")
        }
        let weight = lift(self.weight, for: x)
        let bias = lift(self.bias, for: x)
        guard isTraining else { return evaluate(x, weight: weight, bias: bias) }
        let (y, terms) = x.batchLayerNormWithTerms(weight: weight, bias: bias, eps: eps, batchSize: batchSize,
                                                   batchStatistics: nil, featureStatistics: nil)
        let count = numBatchesTracked.value.scalar + 1
        numBatchesTracked.value = Tensor(count)
        let factor = 1 / Double(count)
        let feature = terms[0]
        let batch = terms[1]
        // The authors' variance correction m/(m − 1), with m the training batch size, on both variances.
        let m = Double(batchSize ?? x.shape[0])
        let correction = m > 1 ? m / (m - 1) : 1
        let batchVariance = batch.statistics.sumOfSquares.map { $0 / Double(batch.layout.countPerSet) * correction }
        populationBatchMean.value = updated(populationBatchMean.value, with: batch.statistics.mean, factor: factor)
        populationBatchVar.value = updated(populationBatchVar.value, with: batchVariance, factor: factor)
        // Feature moments averaged over the samples of the batch, one per position.
        let positions = populationFeatureMean.value.count
        let samples = x.shape[0]
        var featureMean = [Double](repeating: 0, count: positions)
        var featureVariance = [Double](repeating: 0, count: positions)
        let n = Double(feature.layout.countPerSet)
        for s in 0..<feature.layout.sets {
            featureMean[s % positions] += feature.statistics.mean[s] / Double(samples)
            featureVariance[s % positions] += feature.statistics.sumOfSquares[s] / n / Double(samples) * correction
        }
        populationFeatureMean.value = updated(populationFeatureMean.value, with: featureMean, factor: factor)
        populationFeatureVar.value = updated(populationFeatureVar.value, with: featureVariance, factor: factor)
        return y
    }

    private func evaluate(_ x: Variable<Scalar>, weight: Variable<Scalar>?, bias: Variable<Scalar>?) -> Variable<Scalar> {
        let miniBatch = x.value
        func pick(_ source: BatchLayerNormStatistic, population: Tensor<Scalar>, miniBatch: @autoclosure () -> Tensor<Scalar>) -> Tensor<Scalar> {
            source == .population ? population : miniBatch()
        }
        var batchStatistics: (mean: Tensor<Scalar>, variance: Tensor<Scalar>)?
        if inference.batchMean == .population || inference.batchVariance == .population {
            batchStatistics = (pick(inference.batchMean, population: populationBatchMean.value,
                                    miniBatch: miniBatch.mean(alongAxes: [0])),
                               pick(inference.batchVariance, population: populationBatchVar.value,
                                    miniBatch: miniBatch.variance(alongAxes: [0], correction: 0)))
        }
        var featureStatistics: (mean: Tensor<Scalar>, variance: Tensor<Scalar>)?
        if inference.featureMean == .population || inference.featureVariance == .population {
            let rows = Array(x.shape.dropLast())
            let last = x.rank - 1
            featureStatistics = (pick(inference.featureMean, population: populationFeatureMean.value.expanded(to: rows),
                                      miniBatch: miniBatch.mean(alongAxes: [last])),
                                 pick(inference.featureVariance, population: populationFeatureVar.value.expanded(to: rows),
                                      miniBatch: miniBatch.variance(alongAxes: [last], correction: 0)))
        }
        return x.batchLayerNorm(weight: weight, bias: bias, eps: eps, batchSize: batchSize,
                                batchStatistics: batchStatistics, featureStatistics: featureStatistics)
    }
}

extension Variable {
    /// Batch Layer Normalization of `[N, …, D]`, as one fused tape record. See `BatchLayerNorm` for
    /// the formulas.
    ///
    /// - Parameters:
    ///   - weight: γ of shape `[D]`, or `nil` for 1.
    ///   - bias: β of shape `[D]`, or `nil` for 0.
    ///   - eps: δ, added to both variances.
    ///   - batchSize: m in the mixing weights, or `nil` for the input's N.
    ///   - batchStatistics: Constant `(μ_B, σ²_B)` of shape `[…, D]` (without the batch axis), or `nil`
    ///     to use the input's (pure: nothing is accumulated).
    ///   - featureStatistics: Constant `(μ_F, σ²_F)` of shape `[N, …]` (the input without its last
    ///     axis), or `nil` to use the input's.
    public func batchLayerNorm(weight: Variable? = nil, bias: Variable? = nil, eps: Double = 1e-3, batchSize: Int? = nil,
                               batchStatistics: (mean: Tensor<Scalar>, variance: Tensor<Scalar>)? = nil,
                               featureStatistics: (mean: Tensor<Scalar>, variance: Tensor<Scalar>)? = nil) -> Variable {
        batchLayerNormWithTerms(weight: weight, bias: bias, eps: eps, batchSize: batchSize,
                                batchStatistics: batchStatistics, featureStatistics: featureStatistics).output
    }

    /// The mixing weights `(c_F, c_B)` including the 1/√D scaling.
    static func batchLayerNormCoefficients(batchSize m: Double, features: Int) -> (feature: Double, batch: Double) {
        let scale = 1 / Double(features).squareRoot()
        return ((1 / m - 1e-4) * scale, (1 - (1 / m + 1e-4)) * scale)
    }

    /// Batch Layer Normalization, also returning both terms' statistics (feature term first).
    func batchLayerNormWithTerms(weight: Variable?, bias: Variable?, eps: Double, batchSize: Int?,
                                 batchStatistics: (mean: Tensor<Scalar>, variance: Tensor<Scalar>)?,
                                 featureStatistics: (mean: Tensor<Scalar>, variance: Tensor<Scalar>)?)
        -> (output: Variable, terms: [NormalizationTerm]) {
        checkBatchLayerNormArguments("batchLayerNorm", weight: weight, bias: bias, eps: eps,
                                     batchStatistics: batchStatistics, featureStatistics: featureStatistics)
        let features = shape[rank - 1]
        let batch = shape[0]
        let (cF, cB) = Self.batchLayerNormCoefficients(batchSize: Double(batchSize ?? batch), features: features)
        // The feature term: each (sample, position) is a set over the D features. The batch term: each
        // (position, feature) is a set over the N samples. γ and β follow the feature in both.
        let featureLayout = NormalizationLayout(outer: 1, sets: value.count / features, inner: features,
                                                affinePeriod: 1, affineStride: 0, innerPerAffine: 1)
        let batchLayout = NormalizationLayout(outer: batch, sets: value.count / batch, inner: 1,
                                              affinePeriod: features, affineStride: 1, innerPerAffine: 1)
        func source(_ given: (mean: Tensor<Scalar>, variance: Tensor<Scalar>)?) -> NormalizationTermSpecification.Source {
            guard let given else { return .input(centered: true, scale: .biased(eps: eps)) }
            return .given(mean: given.mean.scalars.map { Double($0) }, variance: given.variance.scalars.map { Double($0) }, eps: eps)
        }
        let configuration = NormalizationConfiguration(
            name: "batchLayerNorm",
            terms: [NormalizationTermSpecification(layout: featureLayout, source: source(featureStatistics), coefficient: cF),
                    NormalizationTermSpecification(layout: batchLayout, source: source(batchStatistics), coefficient: cB)],
            affineBroadcastShape: [features])
        return normalized(weight: weight, bias: bias, configuration: configuration)
    }

    /// Batch Layer Normalization composed from primitive tape ops (mean, variance, rsqrt,
    /// multiplication), the reference the fused `batchLayerNorm` is checked against.
    public func batchLayerNormReference(weight: Variable? = nil, bias: Variable? = nil, eps: Double = 1e-3, batchSize: Int? = nil,
                                        batchStatistics: (mean: Tensor<Scalar>, variance: Tensor<Scalar>)? = nil,
                                        featureStatistics: (mean: Tensor<Scalar>, variance: Tensor<Scalar>)? = nil) -> Variable {
        checkBatchLayerNormArguments("batchLayerNormReference", weight: weight, bias: bias, eps: eps,
                                     batchStatistics: batchStatistics, featureStatistics: featureStatistics)
        let last = rank - 1
        let features = shape[last]
        let (cF, cB) = Self.batchLayerNormCoefficients(batchSize: Double(batchSize ?? shape[0]), features: features)
        func normalized(axis: Int, given: (mean: Tensor<Scalar>, variance: Tensor<Scalar>)?) -> Variable {
            if let given {
                let mean = Variable(given.mean).unsqueezed(at: axis)
                let variance = Variable(given.variance).unsqueezed(at: axis)
                return (self - mean) * (variance + Scalar(eps)).rsqrt()
            }
            let centered = self - mean(alongAxes: [axis], keepDims: true)
            return centered * (variance(alongAxes: [axis], correction: 0, keepDims: true) + Scalar(eps)).rsqrt()
        }
        let y = normalized(axis: last, given: featureStatistics) * Scalar(cF) + normalized(axis: 0, given: batchStatistics) * Scalar(cB)
        return y.applyingAffine(weight: weight, bias: bias, broadcastShape: [features])
    }

    private func checkBatchLayerNormArguments(_ op: String, weight: Variable?, bias: Variable?, eps: Double,
                                              batchStatistics: (mean: Tensor<Scalar>, variance: Tensor<Scalar>)?,
                                              featureStatistics: (mean: Tensor<Scalar>, variance: Tensor<Scalar>)?) {
        guard rank >= 2 else { usageError(op, "input shape \(shape) must have at least 2 axes [N, …, D]") }
        let features = shape[rank - 1]
        NormalizationArguments.checkAffine(op, weight: weight?.shape, bias: bias?.shape, affineShape: [features],
                                           rule: "one per feature of input shape \(shape)")
        if let batchStatistics, batchStatistics.mean.shape != Array(shape.dropFirst()) || batchStatistics.variance.shape != Array(shape.dropFirst()) {
            usageError(op, "batch statistics of shapes \(batchStatistics.mean.shape), \(batchStatistics.variance.shape) must have shape \(Array(shape.dropFirst())) for input shape \(shape)")
        }
        if let featureStatistics, featureStatistics.mean.shape != Array(shape.dropLast()) || featureStatistics.variance.shape != Array(shape.dropLast()) {
            usageError(op, "feature statistics of shapes \(featureStatistics.mean.shape), \(featureStatistics.variance.shape) must have shape \(Array(shape.dropLast())) for input shape \(shape)")
        }
        checkEps(eps, op: op)
    }
}
