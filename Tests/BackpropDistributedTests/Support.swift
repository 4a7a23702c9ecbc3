import Backprop
import BackpropDistributed
import Testing

/// `max|a − b| / max|b|` over all elements (0 when both are empty or identical); the normwise relative
/// difference used for every agreement figure in these tests.
func relativeDifference<Scalar: TensorScalar>(_ actual: Tensor<Scalar>, _ expected: Tensor<Scalar>) -> Double {
    precondition(actual.shape == expected.shape, "shapes \(actual.shape) and \(expected.shape) differ")
    var difference = 0.0, scale = 0.0
    for (a, e) in zip(actual.scalars, expected.scalars) {
        difference = max(difference, abs(Double(a) - Double(e)))
        scale = max(scale, abs(Double(e)))
    }
    if difference == 0 { return 0 }
    return difference.isNaN ? .infinity : difference / max(scale, .leastNormalMagnitude)
}

/// One layer configuration of the SyncBatchNorm-against-BatchNorm comparisons.
struct NormConfiguration: CustomStringConvertible, Sendable {
    /// The spatial sizes: `[]` for `[N, C]`, `[L]`, `[H, W]`, `[D, H, W]`.
    var spatial: [Int]
    var channels = 3
    var affine = true
    var bias = true
    var momentum: Double? = 0.1
    var trackRunningStats = true

    var description: String {
        "rank \(spatial.count + 2)\(affine ? (bias ? ", affine" : ", affine without bias") : ", no affine")"
            + (momentum.map { ", momentum \($0)" } ?? ", momentum nil") + (trackRunningStats ? "" : ", no running stats")
    }

    static let all: [NormConfiguration] = [
        NormConfiguration(spatial: []),
        NormConfiguration(spatial: [5]),
        NormConfiguration(spatial: [3, 2]),
        NormConfiguration(spatial: [2, 2, 3]),
        NormConfiguration(spatial: [4], affine: false),
        NormConfiguration(spatial: [2, 3], bias: false),
        NormConfiguration(spatial: [3], momentum: nil),
        NormConfiguration(spatial: [2, 2], trackRunningStats: false),
    ]
}

/// The largest relative differences between SyncBatchNorm on this rank's part of a global batch and
/// single-process BatchNorm on the whole (concatenated) global batch.
struct NormAgreement: CustomStringConvertible {
    var output = 0.0
    var inputGradient = 0.0
    var parameterGradient = 0.0
    var runningStatistics = 0.0
    var evaluationOutput = 0.0
    var evaluationInputGradient = 0.0

    var worst: Double { [output, inputGradient, parameterGradient, runningStatistics, evaluationOutput, evaluationInputGradient].max()! }

    var description: String {
        func f(_ x: Double) -> String { x == 0 ? "0" : String(format: "%.1e", x) }
        return "y \(f(output)), dx \(f(inputGradient)), dγ/dβ \(f(parameterGradient)), running \(f(runningStatistics)), eval y \(f(evaluationOutput)), eval dx \(f(evaluationInputGradient))"
    }

    mutating func merge(_ other: NormAgreement) {
        output = max(output, other.output)
        inputGradient = max(inputGradient, other.inputGradient)
        parameterGradient = max(parameterGradient, other.parameterGradient)
        runningStatistics = max(runningStatistics, other.runningStatistics)
        evaluationOutput = max(evaluationOutput, other.evaluationOutput)
        evaluationInputGradient = max(evaluationInputGradient, other.evaluationInputGradient)
    }
}

/// Runs three training steps and one evaluation step of `SyncBatchNorm` (this rank's rows of each global
/// batch) and of `BatchNorm` (all rows), with the same γ, β and upstream gradients, and returns the
/// largest relative differences. `batchSizes[r]` is rank r's share (it may be 0); the data has a large
/// common offset (mean 50, standard deviation 0.5) to exercise the statistics' stability.
func compareSyncBatchNorm<Scalar: TensorScalar>(_ configuration: NormConfiguration, group: ProcessGroup, batchSizes: [Int],
                                                as type: Scalar.Type, seed: UInt64 = 1) throws -> NormAgreement {
    precondition(batchSizes.count == group.worldSize)
    let c = configuration
    let reference = BatchNorm<Scalar>(numFeatures: c.channels, momentum: c.momentum, affine: c.affine,
                                      trackRunningStats: c.trackRunningStats, bias: c.bias)
    let synchronized = SyncBatchNorm<Scalar>(numFeatures: c.channels, momentum: c.momentum, affine: c.affine,
                                             trackRunningStats: c.trackRunningStats, bias: c.bias, group: group)
    var generator = SeededGenerator(seed: seed)
    if let weight = reference.weight {
        weight.value = Tensor.randomUniform(shape: [c.channels], in: 0.5..<1.5, using: &generator)
        synchronized.weight!.value = weight.value
    }
    if let bias = reference.bias {
        bias.value = Tensor.randomNormal(shape: [c.channels], using: &generator)
        synchronized.bias!.value = bias.value
    }
    let total = batchSizes.reduce(0, +)
    let offset = batchSizes[..<group.rank].reduce(0, +)
    let localRows = offset..<(offset + batchSizes[group.rank])
    var agreement = NormAgreement()

    func step(evaluation: Bool) throws {
        let shape = [total, c.channels] + c.spatial
        let x = Tensor<Scalar>.randomNormal(shape: shape, mean: 50, standardDeviation: 0.5, using: &generator)
        let upstream = Tensor<Scalar>.randomNormal(shape: shape, using: &generator)

        let referenceTape = Tape<Scalar>()
        let fullInput = referenceTape.variable(x)
        let fullOutput = reference(fullInput)
        (fullOutput * referenceTape.constant(upstream)).sum().backward()

        let localTape = Tape<Scalar>()
        let localInput = localTape.variable(x.slice(alongAxis: 0, range: localRows))
        let localOutput = synchronized(localInput)
        (localOutput * localTape.constant(upstream.slice(alongAxis: 0, range: localRows))).sum().backward()

        let outputDifference = relativeDifference(localOutput.value, fullOutput.value.slice(alongAxis: 0, range: localRows))
        let gradientDifference = relativeDifference(localInput.grad!, fullInput.grad!.slice(alongAxis: 0, range: localRows))
        if evaluation {
            agreement.evaluationOutput = outputDifference
            agreement.evaluationInputGradient = gradientDifference
        } else {
            agreement.output = max(agreement.output, outputDifference)
            agreement.inputGradient = max(agreement.inputGradient, gradientDifference)
        }
        // Parameter gradients are per-rank sums; their sum over ranks is the whole batch's gradient.
        for (local, full) in [(synchronized.weight, reference.weight), (synchronized.bias, reference.bias)] {
            guard let local, let full else { continue }
            var summed = local.grad!
            try group.allReduce(&summed, .sum)
            agreement.parameterGradient = max(agreement.parameterGradient, relativeDifference(summed, full.grad!))
            local.zeroGradient()
            full.zeroGradient()
        }
        for (local, full) in [(synchronized.runningMean, reference.runningMean), (synchronized.runningVar, reference.runningVar),
                              (synchronized.numBatchesTracked, reference.numBatchesTracked)] {
            guard let local, let full else { continue }
            agreement.runningStatistics = max(agreement.runningStatistics, relativeDifference(local.value, full.value))
        }
    }
    for _ in 0..<3 { try step(evaluation: false) }
    reference.eval()
    synchronized.eval()
    try step(evaluation: true)
    return agreement
}

/// The optimizers the data-parallel equivalence is checked with.
enum OptimizerKind: String, CaseIterable, Sendable {
    case sgd = "SGD (momentum, weight decay)"
    case adam = "Adam"
    case adamW = "AdamW"

    func make<Scalar>(_ parameters: [Parameter<Scalar>]) -> any Optimizer<Scalar> {
        switch self {
        case .sgd: return SGD(parameters: parameters, learningRate: 0.1, momentum: 0.9, weightDecay: 1e-3)
        case .adam: return Adam(parameters: parameters, learningRate: 1e-2)
        case .adamW: return AdamW(parameters: parameters, learningRate: 1e-2, weightDecay: 0.1)
        }
    }
}

/// A small model with every kind of state: Linear/Conv2d parameters, BatchNorm parameters and buffers.
///
/// The layers before a BatchNorm have no bias, as usual: BatchNorm subtracts the mean, so such a bias
/// has an exactly zero gradient, which the computation returns as rounding noise (~1e-17). Adam divides
/// by √v and turns that noise, whatever its size, into a step of ±learning rate — so any change of
/// summation order (another batch order, another thread count, or N processes) changes those biases
/// by about the learning rate. With the bias the figures below measure that amplification, not DDP.
func makeEquivalenceModel<Scalar: TensorScalar>(convolutional: Bool, seed: UInt64, biasBeforeNorm: Bool = false) -> Sequential<Scalar> {
    var generator = SeededGenerator(seed: seed)
    if convolutional {
        return Sequential<Scalar>([
            Conv2d(inputChannels: 2, outputChannels: 4, kernelSize: 3, padding: 1, bias: biasBeforeNorm, generator: &generator),
            BatchNorm<Scalar>(numFeatures: 4), ReLU(),
            GlobalAveragePool(), Linear(inputSize: 4, outputSize: 3, generator: &generator),
        ])
    }
    return Sequential<Scalar>([
        Linear(inputSize: 6, outputSize: 8, bias: biasBeforeNorm, generator: &generator), BatchNorm<Scalar>(numFeatures: 8), Tanh(),
        Linear(inputSize: 8, outputSize: 8, bias: biasBeforeNorm, generator: &generator), BatchNorm<Scalar>(numFeatures: 8, momentum: nil), ReLU(),
        Linear(inputSize: 8, outputSize: 3, generator: &generator),
    ])
}

/// What one data-parallel run against its single-process reference found.
struct EquivalenceOutcome {
    /// The largest relative difference of any parameter or buffer after any step, DDP vs one process.
    var worstRelativeDifference = 0.0
    /// The final parameters and buffers of the DDP replica, by name.
    var finalState: [String: [Double]] = [:]
    /// Whether clipping was active (the global norm exceeded the limit) at some step.
    var clippingWasActive = false
}

/// Trains a DDP replica (its BatchNorms converted to SyncBatchNorm) on this rank's shard of each batch,
/// and a single-process reference (plain BatchNorm) on the union of all ranks' batches, for `steps`
/// steps, comparing every parameter and buffer after every step.
func dataParallelEquivalence<Scalar: TensorScalar>(group: ProcessGroup, perRankBatch: Int, steps: Int, optimizer kind: OptimizerKind,
                                                  convolutional: Bool, clipping: Bool, biasBeforeNorm: Bool = false,
                                                  as type: Scalar.Type) throws -> EquivalenceOutcome {
    let world = group.worldSize
    let count = world * perRankBatch * steps + world - 1   // not a multiple of the world size: dropLast matters
    var generator = SeededGenerator(seed: 99)
    let inputShape = convolutional ? [count, 2, 4, 4] : [count, 6]
    let dataset = TensorDataset(Tensor<Scalar>.randomNormal(shape: inputShape, mean: 1, standardDeviation: 2, using: &generator),
                                labels: (0..<count).map { _ in Int(generator.next() % 3) })

    let reference: Sequential<Scalar> = makeEquivalenceModel(convolutional: convolutional, seed: 5, biasBeforeNorm: biasBeforeNorm)
    let replica: Sequential<Scalar> = makeEquivalenceModel(convolutional: convolutional, seed: 5, biasBeforeNorm: biasBeforeNorm)
    let parallel = try DistributedDataParallel(try convertToSyncBatchNorm(replica, group: group), group: group)
    let referenceOptimizer = kind.make(reference.parameters)
    let parallelOptimizer = kind.make(parallel.parameters)
    let samplers = (0..<world).map { DistributedSampler(count: count, replicas: world, rank: $0, seed: 17, dropLast: true) }
    let shards = samplers.map { MiniBatches(dataset, batchSize: perRankBatch, sampler: $0, epoch: 0) }
    var outcome = EquivalenceOutcome()
    let maxNorm = 0.5

    for step in 0..<steps {
        let local = shards[group.rank][step]
        let tape = Tape<Scalar>()
        let loss = crossEntropy(logits: parallel(tape.constant(local.inputs)), targets: local.labels)
        parallelOptimizer.zeroGradients()
        try parallel.backward(loss)
        if clipping { clipGradientNorm(parallel.parameters, maxNorm: maxNorm) }
        parallelOptimizer.step()

        let whole = dataset.batch(at: shards.flatMap { $0[step].indices })
        let referenceTape = Tape<Scalar>()
        let referenceLoss = crossEntropy(logits: reference(referenceTape.constant(whole.inputs)), targets: whole.labels)
        referenceOptimizer.zeroGradients()
        referenceLoss.backward()
        if clipping && clipGradientNorm(reference.parameters, maxNorm: maxNorm) > maxNorm { outcome.clippingWasActive = true }
        referenceOptimizer.step()

        let expected = reference.stateDictionary
        for (name, value) in parallel.stateDictionary {
            outcome.worstRelativeDifference = max(outcome.worstRelativeDifference, relativeDifference(value, expected[name]!))
        }
    }
    try parallel.checkReplicasAgree()
    outcome.finalState = parallel.stateDictionary.mapValues { $0.scalars.map(Double.init) }
    return outcome
}
