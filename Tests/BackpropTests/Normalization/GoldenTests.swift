import Foundation
import Testing
@testable import Backprop

/// PyTorch's golden vectors (SPEC §10): closed-form inputs `x[i] = 2·sin(0.7i) + 0.1i`,
/// `dy[i] = cos(0.3i) − 0.05i`, `weight[j] = 1 + 0.1j`, `bias[j] = 0.05j − 0.1`, checked to rtol 1e-12.
@Suite("Normalization golden vectors (PyTorch 2.15, Double)")
struct GoldenTests {
    static func input(_ shape: [Int]) -> Tensor<Double> {
        let count = shape.reduce(1, *)
        return Tensor(shape: shape, scalars: (0..<count).map { (i: Int) -> Double in
            let t = Double(i)
            return 2 * Foundation.sin(0.7 * t) + 0.1 * t
        })
    }

    static func upstream(_ shape: [Int]) -> Tensor<Double> {
        let count = shape.reduce(1, *)
        return Tensor(shape: shape, scalars: (0..<count).map { (i: Int) -> Double in
            let t = Double(i)
            return Foundation.cos(0.3 * t) - 0.05 * t
        })
    }

    /// Sets weight and bias to their closed forms, runs `calls` forwards, and back-propagates dy
    /// through the last one.
    static func run<M: Module>(_ layer: M, weight: Parameter<Double>?, bias: Parameter<Double>?, shape: [Int],
                               calls: Int = 1) -> (y: Tensor<Double>, dx: Tensor<Double>) where M.Scalar == Double {
        if let weight { weight.value = Tensor(shape: weight.shape, scalars: (0..<weight.value.count).map { 1 + 0.1 * Double($0) }) }
        if let bias { bias.value = Tensor(shape: bias.shape, scalars: (0..<bias.value.count).map { 0.05 * Double($0) - 0.1 }) }
        for _ in 0..<(calls - 1) { _ = withoutGradients { layer(Variable(input(shape))) } }
        let tape = Tape<Double>()
        let x = tape.variable(input(shape))
        let y = layer(x)
        y.backward(seed: upstream(shape))
        return (y.value, x.grad!)
    }

    static func expectClose(_ actual: [Double], _ expected: [Double], _ what: String, case name: String) {
        #expect(actual.count == expected.count, "\(name): \(what) count")
        for (i, (a, e)) in zip(actual, expected).enumerated() {
            #expect(abs(a - e) <= 1e-12 * max(1, abs(e)), "\(name): \(what)[\(i)] = \(a), PyTorch \(e)")
        }
    }

    static func check(_ name: String, _ result: (y: Tensor<Double>, dx: Tensor<Double>), weight: Parameter<Double>?,
                      bias: Parameter<Double>?, runningMean: Buffer<Double>? = nil, runningVar: Buffer<Double>? = nil,
                      numBatchesTracked: Buffer<Double>? = nil) {
        let golden = goldenNormalizationCases[name]!
        expectClose(result.y.scalars, golden.y, "y", case: name)
        expectClose(result.dx.scalars, golden.dx, "dx", case: name)
        if let dWeight = golden.dWeight { expectClose(weight!.grad!.scalars, dWeight, "dweight", case: name) }
        if let dBias = golden.dBias { expectClose(bias!.grad!.scalars, dBias, "dbias", case: name) }
        if let mean = golden.runningMeanAfter { expectClose(runningMean!.value.scalars, mean, "running_mean", case: name) }
        if let variance = golden.runningVarAfter { expectClose(runningVar!.value.scalars, variance, "running_var", case: name) }
        if let count = golden.numBatchesTrackedAfter { #expect(numBatchesTracked!.value.scalar == Double(count), "\(name): num_batches_tracked") }
    }

    @Test func layerNorm() {
        for (name, normalized, eps, affine) in [("layernorm_last_dim", [5], 1e-5, true), ("layernorm_2d_shape", [2, 3], 1e-5, true),
                                                ("layernorm_no_affine_eps1e-3", [4], 1e-3, false)] {
            let layer = LayerNorm<Double>(normalizedShape: normalized, eps: eps, elementwiseAffine: affine)
            let result = Self.run(layer, weight: layer.weight, bias: layer.bias, shape: goldenNormalizationCases[name]!.shape)
            Self.check(name, result, weight: layer.weight, bias: layer.bias)
        }
    }

    @Test func rmsNorm() {
        for (name, normalized, eps) in [("rmsnorm_default_eps", [5], nil), ("rmsnorm_eps1e-6", [2, 3], 1e-6)] as [(String, [Int], Double?)] {
            let layer = RMSNorm<Double>(normalizedShape: normalized, eps: eps)
            let result = Self.run(layer, weight: layer.weight, bias: nil, shape: goldenNormalizationCases[name]!.shape)
            Self.check(name, result, weight: layer.weight, bias: nil)
        }
    }

    @Test func groupNorm() {
        for (name, groups, channels) in [("groupnorm_g2", 2, 4), ("groupnorm_g1_4d", 1, 2)] {
            let layer = GroupNorm<Double>(numGroups: groups, numChannels: channels)
            let result = Self.run(layer, weight: layer.weight, bias: layer.bias, shape: goldenNormalizationCases[name]!.shape)
            Self.check(name, result, weight: layer.weight, bias: layer.bias)
        }
    }

    @Test func batchNormTraining() {
        for (name, channels, momentum, calls) in [("batchnorm1d_2d_train", 3, 0.1, 1), ("batchnorm1d_3d_train_2steps", 2, 0.1, 2),
                                                  ("batchnorm2d_train_cma", 2, nil, 2)] as [(String, Int, Double?, Int)] {
            let layer = BatchNorm<Double>(numFeatures: channels, momentum: momentum)
            let result = Self.run(layer, weight: layer.weight, bias: layer.bias, shape: goldenNormalizationCases[name]!.shape, calls: calls)
            Self.check(name, result, weight: layer.weight, bias: layer.bias, runningMean: layer.runningMean,
                       runningVar: layer.runningVar, numBatchesTracked: layer.numBatchesTracked)
        }
    }

    @Test func batchNormEvaluation() {
        let name = "batchnorm2d_eval"
        let layer = BatchNorm<Double>(numFeatures: 2)
        layer.runningMean!.value = Tensor([0.5, -0.25])
        layer.runningVar!.value = Tensor([2.0, 0.5])
        layer.eval()
        let result = Self.run(layer, weight: layer.weight, bias: layer.bias, shape: goldenNormalizationCases[name]!.shape)
        Self.check(name, result, weight: layer.weight, bias: layer.bias, runningMean: layer.runningMean,
                   runningVar: layer.runningVar, numBatchesTracked: layer.numBatchesTracked)
    }

    @Test func instanceNorm() {
        let plain = InstanceNorm<Double>(numFeatures: 3)
        Self.check("instancenorm1d_default", Self.run(plain, weight: nil, bias: nil, shape: [2, 3, 4]), weight: nil, bias: nil)
        let tracked = InstanceNorm<Double>(numFeatures: 2, affine: true, trackRunningStats: true)
        let result = Self.run(tracked, weight: tracked.weight, bias: tracked.bias, shape: [2, 2, 2, 3])
        Self.check("instancenorm2d_affine_trs", result, weight: tracked.weight, bias: tracked.bias, runningMean: tracked.runningMean,
                   runningVar: tracked.runningVar, numBatchesTracked: tracked.numBatchesTracked)
    }
}
