import Backprop
@testable import BackpropDistributed
import Testing

/// SyncBatchNorm in one process (a group of one): it must be BatchNorm, in every configuration. The
/// same comparison across processes is in `MultiProcessTests`.
@Suite("SyncBatchNorm: one process")
struct SyncBatchNormTests {
    @Test(arguments: NormConfiguration.all)
    func matchesBatchNormInDouble(configuration: NormConfiguration) throws {
        let agreement = try compareSyncBatchNorm(configuration, group: .singleProcess(), batchSizes: [4], as: Double.self)
        #expect(agreement.worst <= 1e-12, "\(configuration): \(agreement)")
    }

    @Test(arguments: NormConfiguration.all)
    func matchesBatchNormInFloat(configuration: NormConfiguration) throws {
        let agreement = try compareSyncBatchNorm(configuration, group: .singleProcess(), batchSizes: [4], as: Float.self)
        // Statistics in Double on both sides; each output element rounds once to Float (½ ulp), the
        // reference's fused kernel in Float arithmetic a few more times.
        #expect(agreement.worst <= 2e-6, "\(configuration): \(agreement)")
    }

    /// Closed form: the values 1e8 + {0, 1, 2, 3} have mean 1e8 + 1.5 and biased variance 1.25, which the
    /// naive Σx² − nμ² loses entirely in Double (1e16 has no digits left for 1.25).
    @Test func statisticsAreStableWithALargeOffset() {
        let layer = SyncBatchNorm<Double>(numFeatures: 1, momentum: 1, group: .singleProcess())
        let x = Tensor<Double>(shape: [4, 1], scalars: [1e8, 1e8 + 1, 1e8 + 2, 1e8 + 3])
        let y = layer(Variable(x))
        let rstd = 1 / (1.25 + 1e-5).squareRoot()
        for (i, value) in y.value.scalars.enumerated() {
            #expect(abs(value - (Double(i) - 1.5) * rstd) <= 1e-9)
        }
        #expect(layer.runningMean!.value.scalars[0] == 1e8 + 1.5)
        #expect(abs(layer.runningVar!.value.scalars[0] - 5.0 / 3) <= 1e-12)
    }

    @Test func gradientsPassTheFiniteDifferenceCheck() {
        var generator = SeededGenerator(seed: 3)
        let x = Tensor<Double>.randomNormal(shape: [3, 2, 4], using: &generator)
        let gamma = Tensor<Double>.randomNormal(shape: [2], using: &generator)
        let beta = Tensor<Double>.randomNormal(shape: [2], using: &generator)
        let weights = Tensor<Double>.randomNormal(shape: [3, 2, 4], using: &generator)
        let result = checkGradients(at: [x, gamma, beta]) { v in
            (v[0].syncBatchNorm(weight: v[1], bias: v[2], group: .singleProcess()) * Variable(weights)).sum()
        }
        #expect(result.passed, "\(result)")
    }

    @Test func replacingKeepsTheParameterAndBufferObjects() {
        let batchNorm = BatchNorm<Float>(numFeatures: 4, eps: 1e-3, momentum: nil)
        batchNorm.eval()
        let synchronized = SyncBatchNorm(replacing: batchNorm, group: .singleProcess())
        #expect(synchronized.weight === batchNorm.weight && synchronized.bias === batchNorm.bias)
        #expect(synchronized.runningMean === batchNorm.runningMean && synchronized.runningVar === batchNorm.runningVar)
        #expect(synchronized.numBatchesTracked === batchNorm.numBatchesTracked)
        #expect(synchronized.eps == 1e-3 && synchronized.momentum == nil && !synchronized.isTraining)
        #expect(synchronized.namedParameters.map(\.name) == batchNorm.namedParameters.map(\.name))
        #expect(synchronized.namedBuffers.map(\.name) == ["running_mean", "running_var", "num_batches_tracked"])
    }

    @Test func oneValuePerChannelIsAnError() async {
        await #expect(processExitsWith: .failure) {
            _ = SyncBatchNorm<Double>(numFeatures: 2, group: .singleProcess())(Variable(Tensor(zeros: [1, 2])))
        }
    }

    @Test func wrongChannelCountIsAnError() async {
        await #expect(processExitsWith: .failure) {
            _ = SyncBatchNorm<Double>(numFeatures: 3, group: .singleProcess())(Variable(Tensor(zeros: [2, 2, 4])))
        }
    }
}

@Suite("convertToSyncBatchNorm")
struct ConversionTests {
    static func makeModel(_ generator: inout SeededGenerator) -> Sequential<Double> {
        Sequential<Double>([
            Linear(inputSize: 3, outputSize: 4, generator: &generator), BatchNorm<Double>(numFeatures: 4), ReLU(),
            Sequential<Double>([Linear(inputSize: 4, outputSize: 2, generator: &generator), BatchNorm<Double>(numFeatures: 2, momentum: nil)]),
        ])
    }

    @Test func convertsNestedSequentialsInPlaceKeepingNamesAndParameters() throws {
        var generator = SeededGenerator(seed: 0)
        let model = Self.makeModel(&generator)
        let namesBefore = model.namedParameters.map(\.name) + model.namedBuffers.map(\.name)
        let parametersBefore = model.parameters
        let converted = try convertToSyncBatchNorm(model, group: .singleProcess())
        #expect(converted === model)
        #expect(model.layers[1] is SyncBatchNorm<Double>)
        let inner = model.layers[3] as! Sequential<Double>
        #expect(inner.layers[1] is SyncBatchNorm<Double>)
        #expect((inner.layers[1] as! SyncBatchNorm<Double>).momentum == nil)
        #expect(!model.namedModules.contains { $0.module is BatchNorm<Double> })
        #expect(model.namedParameters.map(\.name) + model.namedBuffers.map(\.name) == namesBefore)
        #expect(zip(model.parameters, parametersBefore).allSatisfy { $0 === $1 })
    }

    @Test func aBatchNormItselfIsReported() {
        #expect(throws: SyncBatchNormConversionError.unreachableLayers(["(the model itself)"])) {
            try convertToSyncBatchNorm(BatchNorm<Float>(numFeatures: 2), group: .singleProcess())
        }
    }

    @Test func aModelHeldAsAnExistentialConverts() throws {
        let model: any Module<Float> = Sequential<Float>([BatchNorm<Float>(numFeatures: 2)])
        try convertToSyncBatchNorm(model, group: .singleProcess())
        #expect((model as! Sequential<Float>).layers[0] is SyncBatchNorm<Float>)
    }

    final class Block: Module {
        var isTraining = true
        let norm = BatchNorm<Double>(numFeatures: 2)
        let layers = Sequential<Double>([BatchNorm<Double>(numFeatures: 2)])
        func callAsFunction(_ x: Variable<Double>) -> Variable<Double> { layers(norm(x)) }
    }

    @Test func aStoredBatchNormIsReportedAndNothingChanges() {
        let block = Block()
        #expect(throws: SyncBatchNormConversionError.unreachableLayers(["norm"])) {
            try convertToSyncBatchNorm(block, group: .singleProcess())
        }
        #expect(block.layers.layers[0] is BatchNorm<Double>)
        #expect(SyncBatchNormConversionError.unreachableLayers(["norm"]).description.contains("[\"norm\"]"))
    }
}
