/// Batch normalization (PyTorch's `nn.BatchNorm1d/2d/3d` in one layer): for input `[N, C]`,
/// `[N, C, L]`, `[N, C, H, W]` or `[N, C, D, H, W]`, each channel is normalized over the batch and
/// all spatial axes.
///
/// Training forward, per channel c with `n = N·∏spatial` elements: `μ_c = Σx/n`,
/// `σ²_c = Σ(x − μ_c)²/n` (biased), `rstd_c = 1/√(σ²_c + ε)`, `y = γ_c·(x − μ_c)·rstd_c + β_c`; with
/// `trackRunningStats`, `runningMean ← (1 − m)·runningMean + m·μ_c` and
/// `runningVar ← (1 − m)·runningVar + m·Σ(x − μ_c)²/(n − 1)` (**unbiased**), where `m = momentum`, or
/// `1/numBatchesTracked` (a cumulative average, counted after the increment) when momentum is `nil`.
///
/// Evaluation forward (with running statistics): `y = γ_c·(x − runningMean_c)/√(runningVar_c + ε) + β_c`.
/// Without running statistics evaluation uses the batch statistics, like training.
///
/// Backward, training (centred compact form, sums in Double):
/// `∂L/∂x = rstd_c·(γ_c·dy − mean_c(γ·dy) − x̂·mean_c(γ·dy·x̂))`, `∂L/∂γ_c = Σ dy·x̂`, `∂L/∂β_c = Σ dy`.
/// Evaluation: `∂L/∂x = γ_c·rstd_c·dy` (the statistics are constants), same ∂γ and ∂β.
///
/// Training with one value per channel (`N·∏spatial = 1`) is an error, as in PyTorch.
public class BatchNorm<Scalar: TensorScalar>: Module {
    /// C, the size of axis 1.
    public let numFeatures: Int
    /// Added to the variance for stability.
    public let eps: Double
    /// The running-average factor, or `nil` for a cumulative average.
    public let momentum: Double?
    /// γ, shape `[C]` (ones); `nil` without `affine`.
    public let weight: Parameter<Scalar>?
    /// β, shape `[C]` (zeros); `nil` without `affine` or `bias`.
    public let bias: Parameter<Scalar>?
    /// The running mean, shape `[C]` (zeros); `nil` without `trackRunningStats`. Saved as `running_mean`.
    public let runningMean: Buffer<Scalar>?
    /// The running unbiased variance, shape `[C]` (ones); `nil` without `trackRunningStats`. Saved as `running_var`.
    public let runningVar: Buffer<Scalar>?
    /// The number of training batches seen, a scalar; `nil` without `trackRunningStats`. Saved as
    /// `num_batches_tracked` (PyTorch stores an int64; a `Float` counter is exact up to 2²⁴ batches).
    public let numBatchesTracked: Buffer<Scalar>?

    /// Creates a layer with PyTorch's defaults.
    ///
    /// - Parameters:
    ///   - numFeatures: C.
    ///   - eps: The stabilizer.
    ///   - momentum: The running-average factor, or `nil` for a cumulative average.
    ///   - affine: Learn γ (and β when `bias`).
    ///   - trackRunningStats: Keep running statistics and use them in evaluation.
    ///   - bias: Learn β (only with `affine`).
    public init(numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = true,
                trackRunningStats: Bool = true, bias: Bool = true) {
        guard numFeatures > 0 else { usageError("BatchNorm", "numFeatures \(numFeatures) must be positive") }
        checkEps(eps, op: "BatchNorm")
        Hyperparameter.checkNormalizationMomentum(momentum, op: "BatchNorm")
        self.numFeatures = numFeatures
        self.eps = eps
        self.momentum = momentum
        weight = affine ? Parameter(Tensor(ones: [numFeatures])) : nil
        self.bias = affine && bias ? Parameter(Tensor(zeros: [numFeatures])) : nil
        runningMean = trackRunningStats ? Buffer(Tensor(zeros: [numFeatures])) : nil
        runningVar = trackRunningStats ? Buffer(Tensor(ones: [numFeatures])) : nil
        numBatchesTracked = trackRunningStats ? Buffer(Tensor(zeros: [])) : nil
    }

    /// Whether the layer keeps running statistics.
    public var trackRunningStats: Bool { runningMean != nil }

    /// Normalizes `x` of shape `[N, C, *]`, updating the running statistics in training.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        guard (2...5).contains(x.rank) else {
            usageError("BatchNorm", "expected an input of rank 2 to 5 ([N, C], [N, C, L], [N, C, H, W] or [N, C, D, H, W]), got shape \(x.shape)")
        }
        guard x.shape[1] == numFeatures else {
            usageError("BatchNorm", "input shape \(x.shape) has \(x.shape[1]) channels on axis 1, expected numFeatures \(numFeatures)")
        }
        let weight = lift(self.weight, for: x)
        let bias = lift(self.bias, for: x)
        if !isTraining, let runningMean, let runningVar {
            return x.batchNorm(runningMean: runningMean.value, runningVariance: runningVar.value, weight: weight, bias: bias, eps: eps)
        }
        let (y, statistics) = x.batchNormWithStatistics(weight: weight, bias: bias, eps: eps)
        if isTraining, let runningMean, let runningVar, let numBatchesTracked {
            numBatchesTracked.value = numBatchesTracked.value + 1
            // An empty batch has no statistics; PyTorch leaves the running averages as they are.
            guard statistics.countPerSet > 0 else { return y }
            let factor = momentum ?? 1 / Double(numBatchesTracked.value.scalar)
            let n = Double(statistics.countPerSet)
            runningMean.value = updated(runningMean.value, with: statistics.mean, factor: factor)
            runningVar.value = updated(runningVar.value, with: statistics.sumOfSquares.map { $0 / (n - 1) }, factor: factor)
        }
        return y
    }
}

/// `(1 − factor)·running + factor·batch`, computed in Double (specialized: the layers calling it are
/// generic classes, whose unspecialized element loop cost more than the normalization itself).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func updated<Scalar: TensorScalar>(_ running: Tensor<Scalar>, with batch: [Double], factor: Double) -> Tensor<Scalar> {
    Tensor(shape: running.shape) { out in
        running.scalars.withUnsafeBufferPointer { old in
            batch.withUnsafeBufferPointer { batch in
                for i in 0..<out.count { out[i] = Scalar((1 - factor) * Double(old[i]) + factor * batch[i]) }
            }
        }
    }
}

/// Per-channel batch statistics returned to the module for the running averages.
struct ChannelStatistics {
    /// μ per set.
    var mean: [Double]
    /// Σ(x − μ)² per set.
    var sumOfSquares: [Double]
    /// Elements per set.
    var countPerSet: Int
}

extension Variable {
    /// Batch normalization of `[N, C, *]` with the batch's own statistics (PyTorch's `F.batch_norm`
    /// with `training=True`), as one fused tape record. Pure: no running statistics are touched, so
    /// finite differences may evaluate it repeatedly. See `BatchNorm` for the formulas.
    ///
    /// - Parameters:
    ///   - weight: Per-channel γ of shape `[C]`, or `nil` for 1.
    ///   - bias: Per-channel β of shape `[C]`, or `nil` for 0.
    ///   - eps: The stabilizer.
    public func batchNorm(weight: Variable? = nil, bias: Variable? = nil, eps: Double = 1e-5) -> Variable {
        batchNormWithStatistics(weight: weight, bias: bias, eps: eps).output
    }

    /// Batch normalization with given running statistics (PyTorch's `F.batch_norm` with
    /// `training=False`): `y = γ·(x − runningMean)/√(runningVariance + ε) + β`, one fused tape record.
    ///
    /// - Parameters:
    ///   - runningMean: Per-channel mean, shape `[C]`.
    ///   - runningVariance: Per-channel variance, shape `[C]`.
    ///   - weight: Per-channel γ of shape `[C]`, or `nil` for 1.
    ///   - bias: Per-channel β of shape `[C]`, or `nil` for 0.
    ///   - eps: The stabilizer.
    public func batchNorm(runningMean: Tensor<Scalar>, runningVariance: Tensor<Scalar>, weight: Variable? = nil,
                          bias: Variable? = nil, eps: Double = 1e-5) -> Variable {
        checkChannelArguments("batchNorm", weight: weight, bias: bias, eps: eps)
        let channels = shape[1]
        guard runningMean.shape == [channels], runningVariance.shape == [channels] else {
            usageError("batchNorm", "runningMean \(runningMean.shape) and runningVariance \(runningVariance.shape) must have shape [\(channels)] for input shape \(shape)")
        }
        let source = NormalizationTermSpecification.Source.given(mean: runningMean.scalars.map { Double($0) },
                                                                  variance: runningVariance.scalars.map { Double($0) }, eps: eps)
        return normalized(weight: weight, bias: bias, configuration: channelConfiguration("batchNorm", source: source)).output
    }

    /// The configuration of batch normalization: each channel is a set over the batch and space.
    func channelConfiguration(_ name: String, source: NormalizationTermSpecification.Source) -> NormalizationConfiguration {
        let channels = shape[1]
        let spatial = elementCount(shape, from: 2)
        let layout = NormalizationLayout(outer: shape[0], sets: channels, inner: spatial,
                                         affinePeriod: channels, affineStride: 1, innerPerAffine: spatial)
        var oneSweep = false
        if case .input = source { oneSweep = true }
        return NormalizationConfiguration(name: name, terms: [NormalizationTermSpecification(layout: layout, source: source)],
                                          affineBroadcastShape: NormalizationArguments.channelBroadcastShape(shape),
                                          statisticsInOneSweep: oneSweep)
    }

    /// Training-mode batch normalization that also returns the batch statistics for running averages.
    func batchNormWithStatistics(weight: Variable?, bias: Variable?, eps: Double) -> (output: Variable, statistics: ChannelStatistics) {
        checkChannelArguments("batchNorm", weight: weight, bias: bias, eps: eps)
        let valuesPerChannel = value.count / shape[1]
        // PyTorch's check is for exactly one value (an empty batch is accepted and gives an empty output).
        guard valuesPerChannel != 1 else {
            usageError("batchNorm", "expected more than 1 value per channel when training, got input shape \(shape)")
        }
        let configuration = channelConfiguration("batchNorm", source: .input(centered: true, scale: .biased(eps: eps)))
        let (y, terms) = normalized(weight: weight, bias: bias, configuration: configuration)
        let statistics = terms[0].statistics
        return (y, ChannelStatistics(mean: statistics.mean, sumOfSquares: statistics.sumOfSquares, countPerSet: valuesPerChannel))
    }

    /// Training-mode batch normalization composed from primitive tape ops (mean, variance, rsqrt,
    /// multiplication), the reference the fused `batchNorm` is checked against.
    public func batchNormReference(weight: Variable? = nil, bias: Variable? = nil, eps: Double = 1e-5) -> Variable {
        checkChannelArguments("batchNormReference", weight: weight, bias: bias, eps: eps)
        let axes = [0] + Array(2..<rank)
        let centered = self - mean(alongAxes: axes, keepDims: true)
        let y = centered * (variance(alongAxes: axes, correction: 0, keepDims: true) + Scalar(eps)).rsqrt()
        return y.applyingAffine(weight: weight, bias: bias, broadcastShape: NormalizationArguments.channelBroadcastShape(shape))
    }

    /// Evaluation-mode batch normalization composed from primitive tape ops, the reference of
    /// `batchNorm(runningMean:runningVariance:…)`.
    public func batchNormReference(runningMean: Tensor<Scalar>, runningVariance: Tensor<Scalar>, weight: Variable? = nil,
                                   bias: Variable? = nil, eps: Double = 1e-5) -> Variable {
        checkChannelArguments("batchNormReference", weight: weight, bias: bias, eps: eps)
        let channelShape = NormalizationArguments.channelBroadcastShape(shape)
        let mean = Variable(runningMean).reshaped(to: channelShape)
        let variance = Variable(runningVariance).reshaped(to: channelShape)
        return ((self - mean) * (variance + Scalar(eps)).rsqrt()).applyingAffine(weight: weight, bias: bias, broadcastShape: channelShape)
    }

    /// Checks a `[N, C, *]` input with per-channel γ and β.
    func checkChannelArguments(_ op: String, weight: Variable?, bias: Variable?, eps: Double) {
        let channels = NormalizationArguments.channels(op, input: shape)
        NormalizationArguments.checkAffine(op, weight: weight?.shape, bias: bias?.shape, affineShape: [channels],
                                           rule: "one per channel of input shape \(shape)")
        checkEps(eps, op: op)
    }
}
