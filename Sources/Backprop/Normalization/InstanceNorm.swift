/// Instance normalization (PyTorch's `nn.InstanceNorm1d/2d/3d` in one layer): for input `[N, C, *]`,
/// each (sample, channel) plane is normalized over its spatial positions. A rank-2 input `[C, L]` is
/// one unbatched sample, as PyTorch's `InstanceNorm1d` treats it.
///
/// Forward, per (n, c) with `m = ∏spatial` elements: `μ = Σx/m`, `σ²_b = Σ(x − μ)²/m`,
/// `rstd = 1/√(σ²_b + ε)`, `y = γ_c·(x − μ)·rstd + β_c` (γ, β only with `affine`, which is off by default).
///
/// With `trackRunningStats` (off by default), training updates
/// `runningMean ← (1 − m)·runningMean + m·mean_n(μ_{n,c})` and
/// `runningVar ← (1 − m)·runningVar + m·mean_n(Σ(x − μ)²/(m − 1))` (unbiased within each plane), and
/// evaluation normalizes with the running statistics like `BatchNorm`. As PyTorch, momentum `nil`
/// means factor 0 (the running statistics never change), and `num_batches_tracked` is never incremented.
///
/// Backward: BatchNorm's centred compact form applied to each plane,
/// `∂L/∂x = rstd·(γ_c·dy − mean(γ·dy) − x̂·mean(γ·dy·x̂))`, `∂L/∂γ_c = Σ_{n,spatial} dy·x̂`, `∂L/∂β_c = Σ dy`;
/// in evaluation with running statistics (BatchNorm's evaluation op), `∂L/∂x = γ_c·rstd_c·dy`.
///
/// Using input statistics with a single spatial element is an error, as in PyTorch.
public class InstanceNorm<Scalar: TensorScalar>: Module {
    /// C, the size of axis 1.
    public let numFeatures: Int
    /// Added to the variance for stability.
    public let eps: Double
    /// The running-average factor; `nil` means 0 (no update), as PyTorch.
    public let momentum: Double?
    /// γ, shape `[C]`; `nil` without `affine`.
    public let weight: Parameter<Scalar>?
    /// β, shape `[C]`; `nil` without `affine` or `bias`.
    public let bias: Parameter<Scalar>?
    /// The running mean (`running_mean`), only with `trackRunningStats`.
    public let runningMean: Buffer<Scalar>?
    /// The running unbiased variance (`running_var`), only with `trackRunningStats`.
    public let runningVar: Buffer<Scalar>?
    /// `num_batches_tracked`, only with `trackRunningStats`; stays 0 as in PyTorch.
    public let numBatchesTracked: Buffer<Scalar>?

    /// Creates a layer with PyTorch's defaults (no affine, no running statistics).
    ///
    /// - Parameters:
    ///   - numFeatures: C.
    ///   - eps: The stabilizer.
    ///   - momentum: The running-average factor; `nil` means the running statistics never change.
    ///   - affine: Learn per-channel γ (and β when `bias`).
    ///   - trackRunningStats: Keep running statistics and use them in evaluation.
    ///   - bias: Learn β (only with `affine`).
    public init(numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = false,
                trackRunningStats: Bool = false, bias: Bool = true) {
        guard numFeatures > 0 else { usageError("InstanceNorm", "numFeatures \(numFeatures) must be positive") }
        checkEps(eps, op: "InstanceNorm")
        Hyperparameter.checkNormalizationMomentum(momentum, op: "InstanceNorm")
        self.numFeatures = numFeatures
        self.eps = eps
        self.momentum = momentum
        weight = affine ? Parameter(Tensor(ones: [numFeatures])) : nil
        self.bias = affine && bias ? Parameter(Tensor(zeros: [numFeatures])) : nil
        runningMean = trackRunningStats ? Buffer(Tensor(zeros: [numFeatures])) : nil
        runningVar = trackRunningStats ? Buffer(Tensor(ones: [numFeatures])) : nil
        numBatchesTracked = trackRunningStats ? Buffer(Tensor(zeros: [])) : nil
    }

    /// Normalizes `x` of shape `[N, C, *]` (or one unbatched `[C, L]`).
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        guard x.rank >= 2 else {
            usageError("InstanceNorm", "expected an input [N, C, *] of rank ≥ 3, or an unbatched [C, L], got shape \(x.shape)")
        }
        if x.rank == 2 { return self(x.unsqueezed(at: 0)).squeezed(axes: [0]) }
        guard x.shape[1] == numFeatures || (weight == nil && bias == nil && runningMean == nil) else {
            usageError("InstanceNorm", "input shape \(x.shape) has \(x.shape[1]) channels on axis 1, expected numFeatures \(numFeatures)")
        }
        let weight = lift(self.weight, for: x)
        let bias = lift(self.bias, for: x)
        if !isTraining, let runningMean, let runningVar {
            return x.instanceNorm(runningMean: runningMean.value, runningVariance: runningVar.value, weight: weight, bias: bias, eps: eps)
        }
        let (y, statistics) = x.instanceNormWithStatistics(weight: weight, bias: bias, eps: eps)
        if isTraining, let runningMean, let runningVar, statistics.countPerSet > 0 {
            let (batch, channels) = (x.shape[0], x.shape[1])
            let m = Double(statistics.countPerSet)
            var meanOverBatch = [Double](repeating: 0, count: channels)
            var varianceOverBatch = [Double](repeating: 0, count: channels)
            for n in 0..<batch {
                for c in 0..<channels {
                    meanOverBatch[c] += statistics.mean[n * channels + c] / Double(batch)
                    varianceOverBatch[c] += statistics.sumOfSquares[n * channels + c] / (m - 1) / Double(batch)
                }
            }
            let factor = momentum ?? 0
            runningMean.value = updated(runningMean.value, with: meanOverBatch, factor: factor)
            runningVar.value = updated(runningVar.value, with: varianceOverBatch, factor: factor)
        }
        return y
    }
}

extension Variable {
    /// Instance normalization of `[N, C, *]` with each plane's own statistics (PyTorch's
    /// `F.instance_norm` with `use_input_stats=True`), as one fused tape record. Pure: no running
    /// statistics are touched. See `InstanceNorm` for the formulas.
    ///
    /// - Parameters:
    ///   - weight: Per-channel γ of shape `[C]`, or `nil` for 1.
    ///   - bias: Per-channel β of shape `[C]`, or `nil` for 0.
    ///   - eps: The stabilizer.
    public func instanceNorm(weight: Variable? = nil, bias: Variable? = nil, eps: Double = 1e-5) -> Variable {
        instanceNormWithStatistics(weight: weight, bias: bias, eps: eps).output
    }

    /// Instance normalization with given per-channel running statistics (evaluation with
    /// `trackRunningStats`): `y = γ·(x − runningMean)/√(runningVariance + ε) + β`. This is exactly
    /// BatchNorm's evaluation, so it records the same fused `batchNorm` op.
    public func instanceNorm(runningMean: Tensor<Scalar>, runningVariance: Tensor<Scalar>, weight: Variable? = nil,
                             bias: Variable? = nil, eps: Double = 1e-5) -> Variable {
        batchNorm(runningMean: runningMean, runningVariance: runningVariance, weight: weight, bias: bias, eps: eps)
    }

    /// Instance normalization with input statistics, also returning them per (n, c) plane.
    func instanceNormWithStatistics(weight: Variable?, bias: Variable?, eps: Double) -> (output: Variable, statistics: ChannelStatistics) {
        checkChannelArguments("instanceNorm", weight: weight, bias: bias, eps: eps)
        let spatial = elementCount(shape, from: 2)
        guard spatial != 1 else {   // PyTorch's check; 0 (no spatial element) gives an empty output
            usageError("instanceNorm", "expected more than 1 spatial element when training, got input shape \(shape)")
        }
        // Each (sample, channel) plane is a set; γ and β follow the channel.
        let (batch, channels) = (shape[0], shape[1])
        let layout = NormalizationLayout(outer: 1, sets: batch * channels, inner: spatial,
                                         affinePeriod: channels, affineStride: 1, innerPerAffine: spatial)
        let configuration = NormalizationConfiguration(
            name: "instanceNorm", terms: [NormalizationTermSpecification(layout: layout, source: .input(centered: true, scale: .biased(eps: eps)))],
            affineBroadcastShape: NormalizationArguments.channelBroadcastShape(shape), statisticsInOneSweep: true)
        let (y, terms) = normalized(weight: weight, bias: bias, configuration: configuration)
        let statistics = terms[0].statistics
        return (y, ChannelStatistics(mean: statistics.mean, sumOfSquares: statistics.sumOfSquares, countPerSet: spatial))
    }

    /// Instance normalization composed from primitive tape ops (mean, variance, rsqrt,
    /// multiplication), the reference the fused `instanceNorm` is checked against.
    public func instanceNormReference(weight: Variable? = nil, bias: Variable? = nil, eps: Double = 1e-5) -> Variable {
        checkChannelArguments("instanceNormReference", weight: weight, bias: bias, eps: eps)
        let axes = Array(2..<rank)
        let centered = self - mean(alongAxes: axes, keepDims: true)
        let y = centered * (variance(alongAxes: axes, correction: 0, keepDims: true) + Scalar(eps)).rsqrt()
        return y.applyingAffine(weight: weight, bias: bias, broadcastShape: NormalizationArguments.channelBroadcastShape(shape))
    }
}
