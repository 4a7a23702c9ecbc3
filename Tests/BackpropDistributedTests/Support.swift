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
