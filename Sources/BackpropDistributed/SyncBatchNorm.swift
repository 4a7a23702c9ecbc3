import Backprop

/// Batch normalization whose batch statistics are those of the **global** batch: the union of every
/// rank's mini-batch (PyTorch's `nn.SyncBatchNorm`). With 2 images per process on 8 processes, the
/// statistics are those of 16 images, which is what cures BatchNorm's small-batch failure.
///
/// Inputs `[N, C]`, `[N, C, L]`, `[N, C, H, W]` or `[N, C, D, H, W]`; per-rank batch sizes may
/// differ (a rank may even have N = 0). The parameters, buffers, their names and defaults are
/// `BatchNorm`'s, so checkpoints move freely between the two and `convertToSyncBatchNorm` swaps one
/// for the other in place.
///
/// **Forward (training, or without running statistics)**, per channel c:
/// 1. each rank r takes its local count `n_r`, mean `μ_r = Σx/n_r` and `M2_r = Σ(x − μ_r)²`, two
///    passes in `Double`;
/// 2. one all-gather of `(n_r, μ_r, M2_r)` for all channels (2C + 1 values per rank);
/// 3. every rank merges them in rank order with Chan's parallel update
///    (`n = n_a + n_b`, `δ = μ_b − μ_a`, `μ = μ_a + δ·n_b/n`, `M2 = M2_a + M2_b + δ²·n_a·n_b/n`), whose
///    terms are all non-negative, so it is as stable as the single-process layer's centred sums and gives
///    bit-identical statistics on every rank;
/// 4. `σ² = M2/n` (biased), `rstd = 1/√(σ² + ε)`, `x̂ = (x − μ)·rstd`, `y = γ·x̂ + β`;
/// 5. with running statistics, exactly `BatchNorm`'s update with the global values:
///    `runningMean ← (1 − m)·runningMean + m·μ`, `runningVar ← (1 − m)·runningVar + m·M2/(n − 1)`, with
///    `m = momentum`, or `1/numBatchesTracked` when momentum is `nil`. Every rank computes the same bits.
///
/// **Backward**, per channel, with `dy = ∂L/∂y` on this rank's samples:
/// 1. local sums `Σdy` and `Σdy·x̂` (in `Double`);
/// 2. one all-reduce (sum) of these 2C values, when the input needs a gradient;
/// 3. `∂L/∂x = γ·rstd·(dy − ΣΣdy/n − x̂·ΣΣdy·x̂/n)` with the global sums and the global count n;
/// 4. `∂L/∂γ = Σdy·x̂` and `∂L/∂β = Σdy` over this rank's samples only: `DistributedDataParallel`
///    averages parameter gradients across ranks afterwards, like every other parameter's.
///
/// With `dy` the gradient of this rank's loss, step 3 gives the gradient of the **sum** of all ranks'
/// losses with respect to this rank's inputs; after the data-parallel average of parameter gradients
/// (÷ world size) that is exactly the gradient of the mean loss over the global batch.
///
/// **Evaluation with running statistics** needs no communication: it is `BatchNorm`'s evaluation
/// forward. Unlike PyTorch, evaluation *without* running statistics also synchronizes (it uses batch
/// statistics, and this layer's batch is the global one).
///
/// Every rank must run the same sequence of forward and backward passes through every `SyncBatchNorm`
/// (each is a collective). An MPI failure inside a forward or backward pass stops the program with the
/// `DistributedError` (a layer cannot throw); `mpirun` then ends the other ranks.
public final class SyncBatchNorm<Scalar: TensorScalar>: Module {
    /// The layer whose settings, parameters and buffers this one uses (its `state_dict` names are this
    /// layer's names).
    public let batchNorm: BatchNorm<Scalar>
    /// The processes whose batches form the global batch.
    public let group: ProcessGroup

    /// C, the size of axis 1.
    public var numFeatures: Int { batchNorm.numFeatures }
    /// Added to the variance for stability.
    public var eps: Double { batchNorm.eps }
    /// The running-average factor, or `nil` for a cumulative average.
    public var momentum: Double? { batchNorm.momentum }
    /// γ, shape `[C]`; `nil` without `affine`.
    public var weight: Parameter<Scalar>? { batchNorm.weight }
    /// β, shape `[C]`; `nil` without `affine` or `bias`.
    public var bias: Parameter<Scalar>? { batchNorm.bias }
    /// The running mean, shape `[C]`; saved as `running_mean`.
    public var runningMean: Buffer<Scalar>? { batchNorm.runningMean }
    /// The running unbiased variance, shape `[C]`; saved as `running_var`.
    public var runningVar: Buffer<Scalar>? { batchNorm.runningVar }
    /// The number of training batches seen; saved as `num_batches_tracked`.
    public var numBatchesTracked: Buffer<Scalar>? { batchNorm.numBatchesTracked }
    /// Training (global batch statistics, updates) or evaluation (running statistics).
    public var isTraining: Bool {
        get { batchNorm.isTraining }
        set { batchNorm.isTraining = newValue }
    }

    /// The wrapped layer's parameters and buffers, under `BatchNorm`'s names.
    public var namedChildren: [(name: String, value: Any)] { batchNorm.namedChildren }

    /// Creates a layer with `BatchNorm`'s (PyTorch's) defaults.
    ///
    /// - Parameters:
    ///   - numFeatures: C.
    ///   - eps: The stabilizer.
    ///   - momentum: The running-average factor, or `nil` for a cumulative average.
    ///   - affine: Learn γ (and β when `bias`).
    ///   - trackRunningStats: Keep running statistics and use them in evaluation.
    ///   - bias: Learn β (only with `affine`).
    ///   - group: The processes to synchronize over.
    public convenience init(numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = true,
                            trackRunningStats: Bool = true, bias: Bool = true, group: ProcessGroup) {
        self.init(replacing: BatchNorm(numFeatures: numFeatures, eps: eps, momentum: momentum, affine: affine,
                                       trackRunningStats: trackRunningStats, bias: bias), group: group)
    }

    /// A synchronized layer that takes over a `BatchNorm`: its settings and its very `Parameter` and
    /// `Buffer` objects, so an optimizer built on the old layer's parameters keeps updating them.
    ///
    /// - Parameters:
    ///   - batchNorm: The layer to replace.
    ///   - group: The processes to synchronize over.
    public init(replacing batchNorm: BatchNorm<Scalar>, group: ProcessGroup) {
        self.batchNorm = batchNorm
        self.group = group
    }

    /// Whether the layer keeps running statistics.
    public var trackRunningStats: Bool { runningMean != nil }

    /// Normalizes `x` of shape `[N, C, *]` with the global batch's statistics (training) or the
    /// running statistics (evaluation), updating the running statistics in training.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        guard (2...5).contains(x.rank) else {
            usageError("SyncBatchNorm", "expected an input of rank 2 to 5 ([N, C], [N, C, L], [N, C, H, W] or [N, C, D, H, W]), got shape \(x.shape)")
        }
        guard x.shape[1] == numFeatures else {
            usageError("SyncBatchNorm", "input shape \(x.shape) has \(x.shape[1]) channels on axis 1, expected numFeatures \(numFeatures)")
        }
        let weight = self.weight.map { lift($0, for: x) }
        let bias = self.bias.map { lift($0, for: x) }
        if !isTraining, let runningMean, let runningVar {
            return x.batchNorm(runningMean: runningMean.value, runningVariance: runningVar.value, weight: weight, bias: bias, eps: eps)
        }
        let statistics = SyncBatchNormOperation<Scalar>.globalStatistics(of: x.value, group: group, op: "SyncBatchNorm")
        let y = SyncBatchNormOperation(statistics: statistics, eps: eps, hasWeight: weight != nil, hasBias: bias != nil, group: group)
            .callAsFunction([x] + [weight, bias].compactMap { $0 })
        if isTraining, let runningMean, let runningVar, let numBatchesTracked {
            numBatchesTracked.value = Tensor(shape: [], scalars: [numBatchesTracked.value.scalar + 1])
            let factor = momentum ?? 1 / Double(numBatchesTracked.value.scalar)
            let n = Double(statistics.count)
            runningMean.value = runningAverage(runningMean.value, statistics.mean, factor: factor)
            runningVar.value = runningAverage(runningVar.value, statistics.sumOfSquares.map { $0 / (n - 1) }, factor: factor)
        }
        return y
    }

    /// `(1 − factor)·running + factor·batch` in `Double`, as `BatchNorm` computes it.
    private func runningAverage(_ running: Tensor<Scalar>, _ batch: [Double], factor: Double) -> Tensor<Scalar> {
        Tensor(shape: running.shape, scalars: zip(running.scalars, batch).map { Scalar((1 - factor) * Double($0) + factor * $1) })
    }
}

extension Variable {
    /// Batch normalization of `[N, C, *]` with the statistics of the global batch across `group` (the
    /// functional form of `SyncBatchNorm` in training, without running statistics). Every rank must call
    /// it together. See `SyncBatchNorm` for the formulas.
    ///
    /// - Parameters:
    ///   - weight: Per-channel γ of shape `[C]`, or `nil` for 1.
    ///   - bias: Per-channel β of shape `[C]`, or `nil` for 0.
    ///   - eps: The stabilizer.
    ///   - group: The processes whose batches form the global batch.
    /// - Returns: The normalized input, one tape record.
    public func syncBatchNorm(weight: Variable? = nil, bias: Variable? = nil, eps: Double = 1e-5, group: ProcessGroup) -> Variable {
        guard rank >= 2 else { usageError("syncBatchNorm", "input shape \(shape) must have at least 2 axes [N, C, *]") }
        for (name, parameter) in [("weight", weight), ("bias", bias)] {
            if let parameter, parameter.shape != [shape[1]] {
                usageError("syncBatchNorm", "\(name) shape \(parameter.shape) must be [\(shape[1])], one per channel of input shape \(shape)")
            }
        }
        let statistics = SyncBatchNormOperation<Scalar>.globalStatistics(of: value, group: group, op: "syncBatchNorm")
        return SyncBatchNormOperation(statistics: statistics, eps: eps, hasWeight: weight != nil, hasBias: bias != nil, group: group)
            .callAsFunction([self] + [weight, bias].compactMap { $0 })
    }
}

/// Deliberate faults for the tests that show a wrong reduction is caught (not for use in training).
package enum SyncBatchNormFault: Sendable {
    /// Correct behaviour.
    case none
    /// Backward uses this rank's `Σdy` and `Σdy·x̂` instead of the all-reduced ones.
    case localBackwardSums

    /// The fault every `SyncBatchNorm` backward applies (set by tests on every rank at once).
    nonisolated(unsafe) package static var active = SyncBatchNormFault.none
}

/// The synchronized batch normalization as one tape record: its statistics (computed before the record
/// with `globalStatistics`), the normalization forward and the analytic backward with its one
/// all-reduce. The formulas are in `SyncBatchNorm`'s documentation.
struct SyncBatchNormOperation<Scalar: TensorScalar>: DifferentiableOperation {
    /// The global batch's per-channel statistics.
    struct Statistics {
        /// The number of values per channel in the global batch, n.
        var count: Int
        /// μ per channel.
        var mean: [Double]
        /// M2 = Σ(x − μ)² per channel, over the global batch.
        var sumOfSquares: [Double]
    }

    /// What backward needs: this rank's input, γ, and the per-channel reciprocal standard deviation.
    struct Saved {
        var x: Tensor<Scalar>
        var weight: Tensor<Scalar>?
        var reciprocalStd: [Double]
    }

    var statistics: Statistics
    var eps: Double
    var hasWeight: Bool
    var hasBias: Bool
    var group: ProcessGroup

    var name: String { "syncBatchNorm" }

    /// The `[N, C, inner]` view of an input: N, C and the product of the spatial sizes.
    static func layout(_ shape: [Int]) -> (batch: Int, channels: Int, inner: Int) {
        (shape[0], shape[1], shape.dropFirst(2).reduce(1, *))
    }

    /// Step 1–3 of the forward: local moments, one all-gather, Chan's merge in rank order.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func globalStatistics(of x: Tensor<Scalar>, group: ProcessGroup, op: String) -> Statistics {
        let (batch, channels, inner) = layout(x.shape)
        let localCount = batch * inner
        var local = [Double](repeating: 0, count: 1 + 2 * channels)
        local[0] = Double(localCount)
        if localCount > 0 {
            x.scalars.withUnsafeBufferPointer { values in
                for c in 0..<channels {
                    var sum = 0.0
                    for n in 0..<batch {
                        let base = (n * channels + c) * inner
                        for i in 0..<inner { sum += Double(values[base + i]) }
                    }
                    let mean = sum / Double(localCount)
                    var squares = 0.0
                    for n in 0..<batch {
                        let base = (n * channels + c) * inner
                        for i in 0..<inner {
                            let d = Double(values[base + i]) - mean
                            squares += d * d
                        }
                    }
                    local[1 + c] = mean
                    local[1 + channels + c] = squares
                }
            }
        }
        let gathered: [Double]
        do {
            gathered = try group.allGather(local, call: "\(op) statistics (MPI_Iallgather)")
        } catch {
            usageError(op, error.description)
        }
        var count = 0.0
        var mean = [Double](repeating: 0, count: channels)
        var sumOfSquares = [Double](repeating: 0, count: channels)
        let stride = 1 + 2 * channels
        for r in 0..<group.worldSize {
            let n = gathered[r * stride]
            guard n > 0 else { continue }
            let merged = count + n
            for c in 0..<channels {
                let delta = gathered[r * stride + 1 + c] - mean[c]
                mean[c] += delta * (n / merged)
                sumOfSquares[c] += gathered[r * stride + 1 + channels + c] + delta * delta * (count * n / merged)
            }
            count = merged
        }
        guard count > 1 else {
            usageError(op, "expected more than 1 value per channel in the global batch when training, got \(Int(count)) (input shape \(x.shape) on rank \(group.rank) of \(group.worldSize))")
        }
        return Statistics(count: Int(count), mean: mean, sumOfSquares: sumOfSquares)
    }

    /// Step 4: `y = γ·(x − μ)·rstd + β`, each element in `Double`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func forward(_ inputs: [Tensor<Scalar>]) -> (output: Tensor<Scalar>, saved: Saved) {
        let x = inputs[0]
        let weight = hasWeight ? inputs[1] : nil
        let bias = hasBias ? inputs[hasWeight ? 2 : 1] : nil
        let (batch, channels, inner) = Self.layout(x.shape)
        let variance = statistics.sumOfSquares.map { $0 / Double(statistics.count) }
        let reciprocalStd = variance.map { 1 / ($0 + eps).squareRoot() }
        var output = [Scalar](repeating: 0, count: x.count)
        x.scalars.withUnsafeBufferPointer { values in
            output.withUnsafeMutableBufferPointer { y in
                for c in 0..<channels {
                    let mean = statistics.mean[c], rstd = reciprocalStd[c]
                    let gamma = weight.map { Double($0.scalars[c]) } ?? 1
                    let beta = bias.map { Double($0.scalars[c]) } ?? 0
                    for n in 0..<batch {
                        let base = (n * channels + c) * inner
                        for i in 0..<inner {
                            y[base + i] = Scalar(gamma * ((Double(values[base + i]) - mean) * rstd) + beta)
                        }
                    }
                }
            }
        }
        return (Tensor(shape: x.shape, scalars: output), Saved(x: x, weight: weight, reciprocalStd: reciprocalStd))
    }

    /// The backward, steps 1–4: local sums, one all-reduce of `Σdy` and `Σdy·x̂` when the input needs a
    /// gradient, then `∂L/∂x`, `∂L/∂γ`, `∂L/∂β`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func backward(_ gradient: Tensor<Scalar>, saved: Saved, inputsNeedingGradient: [Bool]) -> [Tensor<Scalar>?] {
        let (batch, channels, inner) = Self.layout(saved.x.shape)
        // sums[c] = Σdy, sums[channels + c] = Σdy·x̂ on this rank.
        var sums = [Double](repeating: 0, count: 2 * channels)
        saved.x.scalars.withUnsafeBufferPointer { values in
            gradient.scalars.withUnsafeBufferPointer { dy in
                for c in 0..<channels {
                    let mean = statistics.mean[c], rstd = saved.reciprocalStd[c]
                    var sumDy = 0.0, sumDyXhat = 0.0
                    for n in 0..<batch {
                        let base = (n * channels + c) * inner
                        for i in 0..<inner {
                            let g = Double(dy[base + i])
                            sumDy += g
                            sumDyXhat += g * ((Double(values[base + i]) - mean) * rstd)
                        }
                    }
                    sums[c] = sumDy
                    sums[channels + c] = sumDyXhat
                }
            }
        }
        var results: [Tensor<Scalar>?] = []
        if inputsNeedingGradient[0] {
            var global = sums
            if SyncBatchNormFault.active != .localBackwardSums {
                do {
                    try global.withUnsafeMutableBufferPointer { (buffer) throws(DistributedError) in
                        try group.allReduce(buffer, .sum)
                    }
                } catch {
                    usageError("syncBatchNorm backward", error.description)
                }
            }
            let n = Double(statistics.count)
            var dx = [Scalar](repeating: 0, count: saved.x.count)
            saved.x.scalars.withUnsafeBufferPointer { values in
                gradient.scalars.withUnsafeBufferPointer { dy in
                    dx.withUnsafeMutableBufferPointer { dx in
                        for c in 0..<channels {
                            let mean = statistics.mean[c], rstd = saved.reciprocalStd[c]
                            let gamma = saved.weight.map { Double($0.scalars[c]) } ?? 1
                            let meanDy = global[c] / n, meanDyXhat = global[channels + c] / n
                            for n in 0..<batch {
                                let base = (n * channels + c) * inner
                                for i in 0..<inner {
                                    let xhat = (Double(values[base + i]) - mean) * rstd
                                    dx[base + i] = Scalar(gamma * rstd * (Double(dy[base + i]) - meanDy - xhat * meanDyXhat))
                                }
                            }
                        }
                    }
                }
            }
            results.append(Tensor(shape: saved.x.shape, scalars: dx))
        } else {
            results.append(nil)
        }
        if hasWeight {
            results.append(inputsNeedingGradient[1] ? Tensor(shape: [channels], scalars: sums[channels...].map { Scalar($0) }) : nil)
        }
        if hasBias {
            results.append(inputsNeedingGradient[results.count] ? Tensor(shape: [channels], scalars: sums[..<channels].map { Scalar($0) }) : nil)
        }
        return results
    }
}

/// The parameter's leaf on `x`'s tape, or a constant when `x` has no tape.
func lift<Scalar>(_ parameter: Parameter<Scalar>, for x: Variable<Scalar>) -> Variable<Scalar> {
    if let tape = x.tape { return tape.variable(for: parameter) }
    return Variable(parameter.value)
}

/// Stops with a message naming the operation, the values and the broken rule (as the core library's
/// layers do for misuse).
func usageError(_ operation: String, _ message: String) -> Never {
    fatalError(BackpropError(operation: operation, message: message).description)
}
