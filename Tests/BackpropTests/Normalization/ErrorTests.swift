import Testing
import Backprop

/// Misuse stops with a message naming the op, the values and the rule (observed with exit tests).
@Suite("Normalization: errors")
struct ErrorTests {
    @Test func batchNormTrainingWithOneValuePerChannel() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = BatchNorm<Double>(numFeatures: 3)(Variable(Tensor(zeros: [1, 3])))
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("batchNorm: expected more than 1 value per channel when training, got input shape [1, 3]"))
    }

    @Test func batchNormEvaluationWithOneValuePerChannelIsAllowed() {
        let layer = BatchNorm<Double>(numFeatures: 2)
        layer.eval()
        #expect(layer(Variable(Tensor([[1, 2]]))).shape == [1, 2])
    }

    @Test func groupNormChannelsNotDivisibleByGroups() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = GroupNorm<Double>(numGroups: 3, numChannels: 4)
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("GroupNorm: numChannels 4 must be divisible by numGroups 3"))
    }

    @Test func groupNormFunctionalChannelsNotDivisible() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Variable(Tensor<Double>(zeros: [2, 4, 3])).groupNorm(numGroups: 3)
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("groupNorm: the number of channels 4 in input shape [2, 4, 3] must be divisible by numGroups 3"))
    }

    @Test func layerNormShapeMismatch() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = LayerNorm<Double>(normalizedShape: [4, 5])(Variable(Tensor(zeros: [2, 3, 5, 4])))
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("layerNorm: normalizedShape [4, 5] does not match the trailing axes of input shape [2, 3, 5, 4]"))
    }

    @Test func instanceNormWithOneSpatialElement() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = InstanceNorm<Double>(numFeatures: 2)(Variable(Tensor(zeros: [3, 2, 1])))
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("instanceNorm: expected more than 1 spatial element when training, got input shape [3, 2, 1]"))
    }

    @Test func batchNormRankAndChannels() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = BatchNorm<Double>(numFeatures: 3)(Variable(Tensor(zeros: [4, 2])))
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("BatchNorm: input shape [4, 2] has 2 channels on axis 1, expected numFeatures 3"))
    }
}
