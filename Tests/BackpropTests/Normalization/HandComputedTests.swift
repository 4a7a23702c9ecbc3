import Foundation
import Testing
@testable import Backprop

/// Small cases whose expected values are worked out by hand (closed forms), not by the layers.
@Suite("Normalization: hand-computed values")
struct HandComputedTests {
    static func expectClose(_ actual: [Double], _ expected: [Double], tolerance: Double = 1e-12, _ comment: String = "") {
        #expect(actual.count == expected.count)
        for (a, e) in zip(actual, expected) {
            #expect(abs(a - e) <= tolerance * max(1, abs(e)), "\(comment) got \(a), expected \(e)")
        }
    }

    @Test func layerNormOfOneTwoThree() {
        // μ = 2, σ²_b = 2/3, so y = (−1, 0, 1)/√(2/3 + ε).
        let x = Variable(Tensor<Double>([1, 2, 3]))
        let r = 1 / (2.0 / 3 + 1e-5).squareRoot()
        Self.expectClose(LayerNorm<Double>(normalizedShape: [3])(x).value.scalars, [-r, 0, r])
    }

    @Test func annotatedTransformerLayerNormUsesUnbiasedStdAndEpsOutside() {
        // Unbiased std of (1, 2, 3) is exactly 1: y = (−1, 0, 1)/(1 + 1e-6).
        let x = Variable(Tensor<Double>([1, 2, 3]))
        let layer = LayerNorm<Double>(normalizedShape: [3], eps: 1e-6, variant: .annotatedTransformer)
        Self.expectClose(layer(x).value.scalars, [-1 / (1 + 1e-6), 0, 1 / (1 + 1e-6)])
    }

    @Test func layerNormGradientOfSumIsZero() {
        // Σ_i y_i = Σ x̂_i = 0 for every input, so ∂(Σy)/∂x = 0.
        let tape = Tape<Double>()
        let x = tape.variable(Tensor([[0.3, -1.2, 2.0, 0.7]]))
        x.layerNorm(normalizedShape: [4]).sum().backward()
        Self.expectClose(x.grad!.scalars, [0, 0, 0, 0], tolerance: 1e-14)
    }

    @Test func rmsNormOfThreeFour() {
        // mean(x²) = (9 + 16)/2 = 12.5.
        let x = Variable(Tensor<Double>([3, 4]))
        let r = 1 / (12.5 + 1e-6).squareRoot()
        Self.expectClose(x.rmsNorm(normalizedShape: [2], eps: 1e-6).value.scalars, [3 * r, 4 * r])
    }

    @Test func rmsNormDefaultEpsIsMachineEpsilonOfTheScalarType() {
        // A zero row gives 0·1/√ε = 0; a row of ones gives 1/√(1 + ε).
        let double = Variable(Tensor<Double>([1, 1])).rmsNorm(normalizedShape: [2]).value.scalars[0]
        #expect(double == 1 / (1 + Double.ulpOfOne).squareRoot())
        let float = Variable(Tensor<Float>([1, 1])).rmsNorm(normalizedShape: [2]).value.scalars[0]
        #expect(float == Float(1 / (1 + Double(Float.ulpOfOne)).squareRoot()))
        #expect(Double(Float.ulpOfOne) == 1.1920928955078125e-07)
    }

    @Test func batchNormOnOneToFourUsesBiasedVarianceAndUnbiasedRunningVariance() {
        // SPEC §10: one channel, x = 1…4, μ = 2.5, σ²_b = 1.25, unbiased 5/3.
        let layer = BatchNorm<Double>(numFeatures: 1)
        let y = layer(Variable(Tensor([[1], [2], [3], [4]])))
        let r = 1 / (1.25 + 1e-5).squareRoot()
        Self.expectClose(y.value.scalars, [-1.5 * r, -0.5 * r, 0.5 * r, 1.5 * r])
        Self.expectClose(layer.runningMean!.value.scalars, [0.25])
        Self.expectClose(layer.runningVar!.value.scalars, [0.9 + 0.1 * 5 / 3])
        #expect(layer.numBatchesTracked!.value.scalar == 1)
    }

    @Test func groupNormWithOneGroupIsLayerNormOverChannelsAndSpace() {
        // [1, 2, 2]: the whole sample (1, 2, 3, 4): μ = 2.5, σ²_b = 1.25.
        let x = Variable(Tensor<Double>(shape: [1, 2, 2], scalars: [1, 2, 3, 4]))
        let r = 1 / (1.25 + 1e-5).squareRoot()
        Self.expectClose(x.groupNorm(numGroups: 1).value.scalars, [-1.5 * r, -0.5 * r, 0.5 * r, 1.5 * r])
        // Two groups of one channel: (1, 2) and (3, 4), each σ²_b = 0.25.
        let r2 = 1 / (0.25 + 1e-5).squareRoot()
        Self.expectClose(x.groupNorm(numGroups: 2).value.scalars, [-0.5 * r2, 0.5 * r2, -0.5 * r2, 0.5 * r2])
    }

    @Test func instanceNormNormalizesEachPlane() {
        // [1, 2, 2]: planes (1, 3) and (10, 30): σ²_b = 1 and 100.
        let x = Variable(Tensor<Double>(shape: [1, 2, 2], scalars: [1, 3, 10, 30]))
        let a = 1 / (1 + 1e-5).squareRoot()
        let b = 10 / (100 + 1e-5).squareRoot()
        Self.expectClose(x.instanceNorm().value.scalars, [-a, a, -b, b])
    }

    @Test func batchLayerNormMixesFeatureAndBatchTerms() {
        // x = [[1, 2], [3, 4]], m = 2, D = 2, δ = 1e-3.
        // Feature term: each row has μ_F = row mean, σ²_F = 0.25 → x̂_F = ±0.5/√0.251.
        // Batch term: columns (1, 3) and (2, 4), σ²_B = 1 → x̂_B = ∓1/√1.001.
        let x = Variable(Tensor<Double>([[1, 2], [3, 4]]))
        let f = 0.5 / 0.251.squareRoot()
        let b = 1 / 1.001.squareRoot()
        let cF = (0.5 - 1e-4) / 2.0.squareRoot()
        let cB = (1 - (0.5 + 1e-4)) / 2.0.squareRoot()
        let expected = [-cF * f - cB * b, cF * f - cB * b, -cF * f + cB * b, cF * f + cB * b]
        Self.expectClose(BatchLayerNorm<Double>(sampleShape: [2])(x).value.scalars, expected)
    }

    @Test func constantInputGivesBiasAndFiniteGradients() {
        // x − μ = 0 exactly, so y = β; dx = rstd·(γ·dy − mean(γ·dy)) with rstd = 1/√ε.
        let tape = Tape<Double>()
        let x = tape.variable(Tensor(repeating: 7, shape: [2, 3]))
        let bias = tape.variable(Tensor([0.5, -1, 2]))
        let y = x.layerNorm(normalizedShape: [3], bias: bias)
        Self.expectClose(y.value.scalars, [0.5, -1, 2, 0.5, -1, 2])
        let dy = Tensor<Double>([[1, 2, 6], [0, 0, 3]])
        y.backward(seed: dy)
        let r = 1 / 1e-5.squareRoot()
        Self.expectClose(x.grad!.scalars, [(1 - 3) * r, (2 - 3) * r, (6 - 3) * r, -r, -r, 2 * r], tolerance: 1e-9)
    }

    @Test func widthOneNormalizedAxisGivesBias() {
        let tape = Tape<Double>()
        let x = tape.variable(Tensor([[3], [-2]]))
        let bias = tape.variable(Tensor([0.25]))
        let y = x.layerNorm(normalizedShape: [1], bias: bias)
        Self.expectClose(y.value.scalars, [0.25, 0.25])
        y.backward(seed: Tensor([[1], [1]]))
        Self.expectClose(x.grad!.scalars, [0, 0])
    }

    @Test func evaluationUsesRunningStatistics() {
        // y = γ(x − m)/√(v + ε) + β with the given buffers, whatever the batch.
        let layer = BatchNorm<Double>(numFeatures: 2)
        layer.runningMean!.value = Tensor([1, -1])
        layer.runningVar!.value = Tensor([4, 0.25])
        layer.eval()
        let y = layer(Variable(Tensor([[3, 0]])))
        Self.expectClose(y.value.scalars, [2 / (4 + 1e-5).squareRoot(), 1 / (0.25 + 1e-5).squareRoot()])
        #expect(layer.numBatchesTracked!.value.scalar == 0)
    }

    @Test func batchNormWithoutRunningStatisticsUsesBatchStatisticsInEvaluation() {
        let layer = BatchNorm<Double>(numFeatures: 1, trackRunningStats: false)
        layer.eval()
        let r = 1 / (1 + 1e-5).squareRoot()
        Self.expectClose(layer(Variable(Tensor([[1], [3]]))).value.scalars, [-r, r])
        #expect(layer.namedBuffers.isEmpty)
    }
}
