import Testing
@testable import Backprop

/// Stability: Float inputs far from zero, constant inputs, Float and Double through the same kernels.
@Suite("Normalization: numerics")
struct NumericsTests {
    /// Every layer as a function of its input, at a given shape, for Float and Double.
    enum Layer: String, CaseIterable {
        case batchNorm, layerNorm, groupNorm, instanceNorm, rmsNorm, batchLayerNorm

        static let shape = [4, 4, 8]

        func apply<Scalar: TensorScalar>(_ x: Variable<Scalar>) -> Variable<Scalar> {
            switch self {
            case .batchNorm: x.batchNorm()
            case .layerNorm: x.layerNorm(normalizedShape: [4, 8])
            case .groupNorm: x.groupNorm(numGroups: 2)
            case .instanceNorm: x.instanceNorm()
            case .rmsNorm: x.rmsNorm(normalizedShape: [8], eps: 1e-6)
            case .batchLayerNorm: x.batchLayerNorm()
            }
        }
    }

    @Test func everyLayerIsCovered() {
        #expect(Layer.allCases.map(\.rawValue) == NormalizationKind.allCases.map(\.rawValue))
    }

    @Test(arguments: Layer.allCases)
    func floatInputsOffsetByTenThousandMatchDouble(layer: Layer) {
        // x = 1e4 + N(0, 1) in Float; the Double answer is computed from the same rounded Float values.
        var generator = SeededGenerator(seed: 11)
        let noise = Tensor<Double>.randomNormal(shape: Layer.shape, using: &generator)
        let xFloat = Tensor<Float>(shape: Layer.shape, scalars: noise.scalars.map { Float(1e4 + $0) })
        let xDouble = xFloat.converted(to: Double.self)
        let dy = Tensor<Double>.randomNormal(shape: Layer.shape, using: &generator)

        let tapeFloat = Tape<Float>()
        let vFloat = tapeFloat.variable(xFloat)
        let yFloat = layer.apply(vFloat)
        yFloat.backward(seed: dy.converted(to: Float.self))
        let tapeDouble = Tape<Double>()
        let vDouble = tapeDouble.variable(xDouble)
        let yDouble = layer.apply(vDouble)
        yDouble.backward(seed: dy)

        let outputError = yFloat.value.converted(to: Double.self).maxAbsoluteDifference(to: yDouble.value)
        #expect(outputError < 1e-3, "\(layer) output error \(outputError)")
        // For the mean-centred layers the input gradient is O(1) and must agree as well.
        if layer != .rmsNorm {
            let gradientError = vFloat.grad!.converted(to: Double.self).maxAbsoluteDifference(to: vDouble.grad!)
            #expect(gradientError < 1e-3, "\(layer) gradient error \(gradientError)")
        }
    }

    @Test(arguments: Layer.allCases)
    func constantInputGivesFiniteOutputsAndGradients(layer: Layer) {
        for value in [0.0, 3.5, -1e4] {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor(repeating: value, shape: Layer.shape))
            let y = layer.apply(x)
            var generator = SeededGenerator(seed: 3)
            y.backward(seed: Tensor.randomNormal(shape: Layer.shape, using: &generator))
            #expect(y.value.scalars.allSatisfy { $0.isFinite }, "\(layer) output at constant \(value)")
            #expect(x.grad!.scalars.allSatisfy { $0.isFinite }, "\(layer) gradient at constant \(value)")
            if layer != .rmsNorm {
                #expect(y.value.scalars.allSatisfy { $0 == 0 }, "\(layer): x − μ is exactly 0 for a constant input")
            }
        }
    }

    @Test func floatAndDoubleAgreeOnWellConditionedInputs() {
        var generator = SeededGenerator(seed: 5)
        let x = Tensor<Double>.randomNormal(shape: [3, 6], using: &generator)
        let yDouble = Variable(x).layerNorm(normalizedShape: [6]).value
        let yFloat = Variable(x.converted(to: Float.self)).layerNorm(normalizedShape: [6]).value
        #expect(yFloat.converted(to: Double.self).maxAbsoluteDifference(to: yDouble) < 1e-5)
    }

    @Test(arguments: [Float(1e3), 1e5, -3e6])
    func outlyingFirstElementKeepsTheStatistics(outlier: Float) {
        // The moments are taken about the first element of each set; here it lies far from the
        // others (which sit at 1e4 + N(0, 1)), the worst case for the shifted sums.
        var generator = SeededGenerator(seed: 17)
        let n = 4099
        var values = Tensor<Double>.randomNormal(shape: [2, n], using: &generator).scalars.map { Float(1e4 + $0) }
        values[0] = outlier
        values[n] = -outlier
        let x = Tensor<Float>(shape: [2, n], scalars: values)
        let y = Variable(x).layerNorm(normalizedShape: [n]).value
        // Reference: two-pass statistics in Double on the same Float values.
        var expected: [Double] = []
        for row in 0..<2 {
            let r = values[(row * n)..<((row + 1) * n)].map(Double.init)
            let mean = r.reduce(0, +) / Double(n)
            let variance = r.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
            expected += r.map { ($0 - mean) / (variance + 1e-5).squareRoot() }
        }
        let reference = Tensor<Double>(shape: [2, n], scalars: expected)
        #expect(y.converted(to: Double.self).maxAbsoluteDifference(to: reference) < 1e-4)
    }

    @Test(arguments: ["layer", "instance", "group"])
    func floatBackwardOnLongSetsMatchesDouble(kind: String) {
        // Long sets with tails: Float gradients agree with Double to about Float precision.
        let shape = kind == "layer" ? [3, 2_101] : [2, 4, 37, 61]
        var generator = SeededGenerator(seed: 23)
        let x = Tensor<Double>.randomNormal(shape: shape, using: &generator).converted(to: Float.self).converted(to: Double.self)
        let dy = Tensor<Double>.randomNormal(shape: shape, using: &generator).converted(to: Float.self).converted(to: Double.self)
        func gradient<Scalar: TensorScalar>(_ x: Tensor<Scalar>, _ dy: Tensor<Scalar>) -> (Tensor<Scalar>, Tensor<Scalar>) {
            let tape = Tape<Scalar>()
            let input = tape.variable(x)
            let weight = tape.variable(Tensor<Scalar>(repeating: 1.5, shape: [shape[1]]))
            let y: Variable<Scalar>
            switch kind {
            case "layer": y = input.layerNorm(normalizedShape: [shape[1]], weight: weight)
            case "instance": y = input.instanceNorm(weight: weight)
            default: y = input.groupNorm(numGroups: 2, weight: weight)
            }
            let grads = tape.gradients(of: (y * tape.constant(dy)).sum(), withRespectTo: [input, weight])
            return (grads[0], grads[1])
        }
        let (dxFloat, dwFloat) = gradient(x.converted(to: Float.self), dy.converted(to: Float.self))
        let (dxDouble, dwDouble) = gradient(x, dy)
        let dxScale = dxDouble.scalars.map(abs).max()!, dwScale = dwDouble.scalars.map(abs).max()!
        #expect(dxFloat.converted(to: Double.self).maxAbsoluteDifference(to: dxDouble) < 1e-5 * dxScale)
        #expect(dwFloat.converted(to: Double.self).maxAbsoluteDifference(to: dwDouble) < 1e-5 * dwScale)
    }

    @Test func batchSizeOneWorksWhereTheLayerAllowsIt() {
        let x = Variable(Tensor<Double>(shape: [1, 2, 3], scalars: [1, 2, 4, -1, 0, 5]))
        for y in [x.layerNorm(normalizedShape: [3]), x.groupNorm(numGroups: 2), x.instanceNorm(), x.batchNorm(),
                  x.rmsNorm(normalizedShape: [3]), x.batchLayerNorm()] {
            #expect(y.value.scalars.allSatisfy { $0.isFinite })
        }
    }
}
