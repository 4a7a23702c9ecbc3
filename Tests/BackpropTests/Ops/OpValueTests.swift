import Backprop
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A fresh leaf on its own tape (the variable keeps the tape alive).
private func leaf(_ value: Tensor<Double>) -> Variable<Double> {
    Tape<Double>().variable(value)
}

/// Applies a closed form to every element.
private func map(_ x: Tensor<Double>, _ f: (Double) -> Double) -> Tensor<Double> {
    Tensor(shape: x.shape, scalars: x.scalars.map(f))
}

private let sample = tensor([2, 3], [-2, -0.5, 0.25, 0.75, 1.5, 3])
private let positive = tensor([2, 3], [0.25, 0.5, 1, 2, 4, 9])

private func sigmoid(_ x: Double) -> Double { 1 / (1 + Glibc.exp(-x)) }

@Suite("Op values")
struct OpValueTests {
    // MARK: - Math

    @Test func exponentialAndLogarithm() {
        expectClose(leaf(sample).exp().value, map(sample) { Glibc.exp($0) })
        expectClose(leaf(positive).log().value, map(positive) { Glibc.log($0) })
        expectClose(leaf(Tensor([1, .pi])).log().exp().value, Tensor([1, .pi]))
    }

    @Test func rootsAbsoluteValueAndSquare() {
        #expect(leaf(positive).sqrt().value == tensor([2, 3], [0.5, 0.70710678118654757, 1, 1.4142135623730951, 2, 3]))
        expectClose(leaf(positive).rsqrt().value, tensor([2, 3], [2, 1.4142135623730951, 1, 0.70710678118654757, 0.5, 1.0 / 3]))
        #expect(leaf(sample).abs().value == tensor([2, 3], [2, 0.5, 0.25, 0.75, 1.5, 3]))
        #expect(leaf(sample).squared().value == tensor([2, 3], [4, 0.25, 0.0625, 0.5625, 2.25, 9]))
    }

    @Test func powerWithScalarAndTensorExponents() {
        expectClose(leaf(positive).pow(3).value, map(positive) { $0 * $0 * $0 })
        expectClose(leaf(positive).pow(-0.5).value, map(positive) { 1 / $0.squareRoot() })
        let base = leaf(Tensor([2, 3, 4]))
        let exponent = base.tape!.variable(Tensor([3, 0.5, -1]))
        expectClose(base.pow(exponent).value, Tensor([8, 3.0.squareRoot(), 0.25]))
        // A broadcast exponent row against a matrix.
        let m = leaf(tensor([2, 2], [1, 2, 3, 4]))
        expectClose(m.pow(m.tape!.constant(Tensor([2, 1]))).value, tensor([2, 2], [1, 2, 9, 4]))
    }

    @Test func clampKeepsTheRange() {
        #expect(leaf(sample).clamped(to: -1...1).value == tensor([2, 3], [-1, -0.5, 0.25, 0.75, 1, 1]))
        #expect(leaf(sample).clamped(to: 0...0).value == Tensor(zeros: [2, 3]))
    }

    // MARK: - Arithmetic

    @Test func arithmeticWithBroadcasting() {
        let tape = Tape<Double>()
        let a = tape.variable(tensor([2, 2], [1, 2, 3, 4]))
        let b = tape.variable(Tensor([10, 20]))
        #expect((a + b).value == tensor([2, 2], [11, 22, 13, 24]))
        #expect((a - b).value == tensor([2, 2], [-9, -18, -7, -16]))
        #expect((a * b).value == tensor([2, 2], [10, 40, 30, 80]))
        #expect((a / b).value == tensor([2, 2], [0.1, 0.1, 0.3, 0.2]))
        #expect((-a).value == tensor([2, 2], [-1, -2, -3, -4]))
        #expect((a + 1).value == tensor([2, 2], [2, 3, 4, 5]))
        #expect((1 + a).value == (a + 1).value)
        #expect((a - 1).value == tensor([2, 2], [0, 1, 2, 3]))
        #expect((10 - a).value == tensor([2, 2], [9, 8, 7, 6]))
        #expect((a * 2).value == tensor([2, 2], [2, 4, 6, 8]))
        #expect((2 * a).value == (a * 2).value)
        #expect((a / 4).value == tensor([2, 2], [0.25, 0.5, 0.75, 1]))
        #expect((12 / a).value == tensor([2, 2], [12, 6, 4, 3]))
    }

    // MARK: - Activations

    @Test func hyperbolicTangent() {
        expectClose(leaf(sample).tanh().value, map(sample) { Glibc.tanh($0) })
        let saturated = leaf(Tensor([-40, 40])).tanh().value
        #expect(saturated == Tensor([-1, 1]))
    }

    @Test func sigmoidMatchesTheLogisticFunction() {
        expectClose(leaf(sample).sigmoid().value, map(sample, sigmoid), tolerance: 1e-15)
        #expect(leaf(Tensor([0])).sigmoid().value == Tensor([0.5]))
    }

    @Test func sigmoidIsStableAtLargeMagnitudes() {
        let tape = Tape<Double>()
        let x = tape.variable(Tensor([-40, -700, 40, 700]))
        let y = x.sigmoid()
        #expect(y.value.isFinite)
        // σ(−40) = e⁻⁴⁰/(1 + e⁻⁴⁰), which is e⁻⁴⁰ to double precision; σ(40) rounds to 1.
        expectClose(y.value, Tensor([Glibc.exp(-40), Glibc.exp(-700), 1, 1]), tolerance: 1e-15)
        #expect(y.value.scalars[0] > 0)
        // The gradient σ(1 − σ) is finite too.
        let gradient = tape.gradients(of: y.sum(), withRespectTo: [x])[0]
        #expect(gradient.isFinite)
        expectClose(gradient.scalars[0], Glibc.exp(-40), relativeTolerance: 1e-12)
        #expect(Tensor<Float>([-40, 40]).sigmoid().isFinite)
    }

    @Test func rectifiers() {
        #expect(leaf(sample).relu().value == tensor([2, 3], [0, 0, 0.25, 0.75, 1.5, 3]))
        expectClose(leaf(sample).leakyRelu().value, tensor([2, 3], [-0.02, -0.005, 0.25, 0.75, 1.5, 3]))
        expectClose(leaf(sample).leakyRelu(negativeSlope: 0.2).value, tensor([2, 3], [-0.4, -0.1, 0.25, 0.75, 1.5, 3]))
        // elu: α(eˣ − 1) below zero.
        expectClose(leaf(sample).elu(alpha: 1.5).value,
                    tensor([2, 3], [1.5 * (Glibc.exp(-2) - 1), 1.5 * (Glibc.exp(-0.5) - 1), 0.25, 0.75, 1.5, 3]))
        expectClose(leaf(Tensor([-1])).elu().value, Tensor([Glibc.exp(-1) - 1]))
    }

    @Test func geluExactMatchesKnownValues() {
        // Φ(1) = 0.8413447460685429…, so gelu(1) = Φ(1) and gelu(−1) = −(1 − Φ(1)).
        let y = leaf(Tensor([1, -1, 0, 3])).gelu().value
        expectClose(y.scalars[0], 0.8413447460685429, relativeTolerance: 1e-15)
        expectClose(y.scalars[1], -0.15865525393145707, relativeTolerance: 1e-14)
        #expect(y.scalars[2] == 0)
        expectClose(y.scalars[3], 3 * 0.5 * (1 + Glibc.erf(3 / 2.0.squareRoot())), relativeTolerance: 1e-15)
        expectClose(leaf(sample).gelu(approximation: .none).value,
                    map(sample) { 0.5 * $0 * (1 + Glibc.erf($0 / 2.0.squareRoot())) }, tolerance: 1e-15)
    }

    @Test func geluTanhApproximation() {
        // ½·1·(1 + tanh(√(2/π)·1.044715)) = 0.8411919906082768 (evaluated in Python).
        let y = leaf(Tensor([1])).gelu(approximation: .tanh).value
        expectClose(y.scalars[0], 0.8411919906082768, relativeTolerance: 1e-14)
        let c = (2 / Double.pi).squareRoot()
        expectClose(leaf(sample).gelu(approximation: .tanh).value,
                    map(sample) { 0.5 * $0 * (1 + Glibc.tanh(c * ($0 + 0.044715 * $0 * $0 * $0))) }, tolerance: 1e-15)
        // The approximation is within 1e-3 of the exact form on this range.
        let exact = leaf(sample).gelu().value
        #expect(leaf(sample).gelu(approximation: .tanh).value.maxAbsoluteDifference(to: exact) < 1e-3)
    }

    @Test func siluIsXTimesSigmoid() {
        expectClose(leaf(sample).silu().value, map(sample) { $0 * sigmoid($0) }, tolerance: 1e-15)
        #expect(leaf(Tensor([-800, 800])).silu().value == Tensor([-0.0, 800]))
    }

    @Test func softplusWithItsLinearThreshold() {
        let x = Tensor<Double>([-30, -1, 0, 1, 19.5, 21, 100])
        let y = leaf(x).softplus().value
        #expect(y.isFinite)
        expectClose(y, Tensor([Glibc.log1p(Glibc.exp(-30)), Glibc.log1p(Glibc.exp(-1)), Glibc.log(2),
                               Glibc.log1p(Glibc.exp(1)), Glibc.log1p(Glibc.exp(19.5)), 21, 100]), tolerance: 1e-15)
        // β = 2, threshold 1: linear where 2x > 1 (x = 1.2), softplus at 2x = 1 exactly (not above).
        let z = leaf(Tensor([-3, 0.3, 0.5, 1.2])).softplus(beta: 2, threshold: 1).value
        expectClose(z, Tensor([Glibc.log1p(Glibc.exp(-6)) / 2, Glibc.log1p(Glibc.exp(0.6)) / 2,
                               Glibc.log1p(Glibc.exp(1)) / 2, 1.2]), tolerance: 1e-15)
    }

    // MARK: - Softmax family

    @Test func softmaxOfSmallAndHugeInputs() {
        // Each row is softmax([0, 1, 2]) = eⁱ/(1 + e + e²), whatever the offset.
        let denominator: Double = 1 + Glibc.exp(1.0) + Glibc.exp(2.0)
        let expectedRow: [Double] = [1 / denominator, Glibc.exp(1.0) / denominator, Glibc.exp(2.0) / denominator]
        let x = tensor([3, 3], [0, 1, 2, 1000, 1001, 1002, -1000, -999, -998])
        let y = leaf(x).softmax().value
        #expect(y.isFinite)
        expectClose(y.slice(alongAxis: 0, range: 0..<1), tensor([1, 3], expectedRow), tolerance: 1e-15)
        // Around 1000 the inputs themselves carry an absolute rounding of ε·1000 ≈ 1e-13, so
        // exp(x − logSumExp x) can only be that accurate relative to the exact result.
        expectClose(y.slice(alongAxis: 0, range: 1..<3), tensor([2, 3], expectedRow + expectedRow), tolerance: 1e-12)
        let columns = leaf(tensor([2, 2], [0, 5, 1, 5])).softmax(alongAxis: 0).value
        expectClose(columns, tensor([2, 2], [1 / (1 + Glibc.exp(1)), 0.5, Glibc.exp(1) / (1 + Glibc.exp(1)), 0.5]), tolerance: 1e-15)
    }

    /// `Float` rows along the last axis run the vectorized exp over whole chunks of rows: each
    /// row against a `Double` softmax, the special rows of the scalar path (only −∞: NaN; a +∞ or
    /// a NaN: NaN throughout), and the same bits with one and two workers.
    @Test func floatSoftmaxRowsMatchDoubleAndKeepTheSpecialCases() {
        var generator = SeededGenerator(seed: 41)
        for length in [1, 7, 36, 100] {
            // Spread values, half of them pushed far down (exponentials down to e^-200 and 0).
            let raw = Tensor<Float>.randomNormal(shape: [300, length], using: &generator).scalars
            let x = Tensor(shape: [300, length], scalars: raw.map { $0 > 0 ? $0 * 30 : $0 * 30 - 40 })
            let y = Variable(x).softmax().value
            for row in 0..<300 {
                let values = (0..<length).map { Double(x[row, $0]) }
                let m = values.max()!
                let sum = values.reduce(0) { $0 + Glibc.exp($1 - m) }
                for j in 0..<length {
                    // x − m is rounded to Float first (half an ulp of |x − m|, relative to the
                    // exponential), then exp, the sum and the scale; a subnormal result has an
                    // absolute rounding of 2⁻¹⁵⁰.
                    let expected = Glibc.exp(values[j] - m) / sum
                    let tolerance = expected * (4e-7 + 6e-8 * Swift.abs(values[j] - m)) + 0x1p-149
                    #expect(Swift.abs(Double(y[row, j]) - expected) <= tolerance, "length \(length) row \(row) key \(j)")
                }
            }
            let saved = Parallelism.workerCount
            Parallelism.workerCount = 1
            let one = Variable(x).softmax().value
            Parallelism.workerCount = 2
            let two = Variable(x).softmax().value
            Parallelism.workerCount = saved
            #expect(one.scalars.map(\.bitPattern) == two.scalars.map(\.bitPattern))
        }
        let special = Tensor<Float>(shape: [4, 3], scalars: [-.infinity, -.infinity, -.infinity, 0, .infinity, 1,
                                                            0, .nan, 1, -.infinity, 0, -.infinity])
        let y = Variable(special).softmax().value
        for row in 0..<3 { #expect((0..<3).allSatisfy { y[row, $0].isNaN }, "row \(row)") }
        #expect(y[3, 0] == 0 && y[3, 1] == 1 && y[3, 2] == 0)
    }

    @Test func logSoftmaxOfSmallAndHugeInputs() {
        let logDenominator: Double = Glibc.log(1 + Glibc.exp(1.0) + Glibc.exp(2.0))
        let expectedRow: [Double] = [-logDenominator, 1 - logDenominator, 2 - logDenominator]
        let y = leaf(tensor([2, 3], [0, 1, 2, 1000, 1001, 1002])).logSoftmax(alongAxis: -1).value
        #expect(y.isFinite)
        expectClose(y, tensor([2, 3], expectedRow + expectedRow), tolerance: 1e-13)
        // Far from the maximum the log-probability stays finite instead of log(0).
        let far = leaf(Tensor([0, 1000])).logSoftmax().value
        expectClose(far, Tensor([-1000, 0]), tolerance: 1e-15)
    }

    @Test func logSumExpOfSmallAndHugeInputs() {
        expectClose(leaf(Tensor([1000, 1000, 1000])).logSumExp(alongAxes: [0]).value, Tensor(1000 + Glibc.log(3)), tolerance: 1e-15)
        expectClose(leaf(Tensor([-1000, -1000])).logSumExp(alongAxes: [0]).value, Tensor(-1000 + Glibc.log(2)), tolerance: 1e-15)
        let m = tensor([2, 2], [0, Glibc.log(3), 1000, 1000])
        expectClose(leaf(m).logSumExp(alongAxes: [1]).value, Tensor([Glibc.log(4), 1000 + Glibc.log(2)]), tolerance: 1e-15)
        let kept = leaf(m).logSumExp(alongAxes: [1], keepDims: true).value
        #expect(kept.shape == [2, 1])
        expectClose(leaf(tensor([2, 2], [0, 0, 0, 0])).logSumExp(alongAxes: [0, 1]).value, Tensor(Glibc.log(4)), tolerance: 1e-15)
    }

    // MARK: - Reductions and shapes on variables

    @Test func reductionsOnVariables() {
        let x = leaf(tensor([2, 3], [1, 3, 5, 2, 2, 8]))
        #expect(x.sum().value == Tensor(21))
        #expect(x.sum(alongAxes: [0]).value == Tensor([3, 5, 13]))
        #expect(x.mean(alongAxes: [1], keepDims: true).value == tensor([2, 1], [3, 4]))
        #expect(x.mean().value == Tensor(3.5))
        expectClose(x.variance(alongAxes: [1], correction: 0).value, Tensor([8.0 / 3, 8]))
        expectClose(x.variance(alongAxes: [1]).value, Tensor([4, 12]))
        #expect(x.max(alongAxis: 1).value == Tensor([5, 8]))
        #expect(x.min(alongAxis: 0, keepDims: true).value == tensor([1, 3], [1, 2, 5]))
    }

    @Test func shapeOperationsOnVariables() {
        let x = leaf(tensor([2, 3], [1, 2, 3, 4, 5, 6]))
        #expect(x.reshaped(to: [3, -1]).value == tensor([3, 2], [1, 2, 3, 4, 5, 6]))
        #expect(x.transposed().value == tensor([3, 2], [1, 4, 2, 5, 3, 6]))
        #expect(x.permuted([1, 0]).value == x.transposed().value)
        #expect(x.unsqueezed(at: 0).shape == [1, 2, 3])
        #expect(x.unsqueezed(at: 0).squeezed().value == x.value)
        #expect(x.slice(alongAxis: 1, range: 1..<3).value == tensor([2, 2], [2, 3, 5, 6]))
        #expect(x.sum(alongAxes: [0], keepDims: true).expanded(to: [2, 3]).value == tensor([2, 3], [5, 7, 9, 5, 7, 9]))
        let parts = x.split(sizes: [1, 2], alongAxis: 1)
        #expect(parts.map(\.value) == [tensor([2, 1], [1, 4]), tensor([2, 2], [2, 3, 5, 6])])
        #expect(Variable.concatenate(parts.reversed(), alongAxis: 1).value == tensor([2, 3], [2, 3, 1, 5, 6, 4]))
        #expect(Variable.stack([x, x], alongAxis: 0).value == tensor([2, 2, 3], [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]))
    }

    @Test func matmulOnVariables() {
        let tape = Tape<Double>()
        let a = tape.variable(tensor([2, 3], [1, 2, 3, 4, 5, 6]))
        let v = tape.variable(Tensor([1, 0, -1]))
        #expect(a.matmul(v).value == Tensor([-2, -2]))
        #expect(v.matmul(v).value == Tensor(2))
        #expect(v.matmul(v).shape == [])
        #expect(tape.variable(Tensor([1, 1])).matmul(a).value == Tensor([5, 7, 9]))
        #expect(a.matmul(a.transposed()).value == tensor([2, 2], [14, 32, 32, 77]))
    }

    // MARK: - Dropout

    @Test func dropoutKeepsAboutOneMinusPAndRescales() {
        var generator = SeededGenerator(seed: 31)
        let x = leaf(Tensor(ones: [100, 100]))
        let y = x.dropout(probability: 0.3, isTraining: true, using: &generator).value
        let kept = y.scalars.filter { $0 != 0 }
        let fraction = Double(kept.count) / 10_000
        // Binomial standard deviation √(0.7·0.3/10⁴) ≈ 0.0046; allow four of them.
        #expect(Swift.abs(fraction - 0.7) < 0.02)
        #expect(kept.allSatisfy { Swift.abs($0 - 1 / 0.7) < 1e-15 })
        #expect(y.scalars.allSatisfy { $0 == 0 || Swift.abs($0 - 1 / 0.7) < 1e-15 })
    }

    @Test func dropoutIsReproducibleWithASeed() {
        let x = leaf(Tensor(ones: [50]))
        var a = SeededGenerator(seed: 5), b = SeededGenerator(seed: 5), c = SeededGenerator(seed: 6)
        let first = x.dropout(probability: 0.5, isTraining: true, using: &a).value
        #expect(first == x.dropout(probability: 0.5, isTraining: true, using: &b).value)
        #expect(first != x.dropout(probability: 0.5, isTraining: true, using: &c).value)
    }

    @Test func dropoutIsTheIdentityWhenNotTrainingOrWithZeroProbability() {
        var generator = SeededGenerator(seed: 1)
        let x = leaf(sample)
        #expect(x.dropout(probability: 0.5, isTraining: false, using: &generator).value == sample)
        #expect(x.dropout(probability: 0, isTraining: true, using: &generator).value == sample)
        // Everything is dropped at p = 1.
        #expect(x.dropout(probability: 1, isTraining: true, using: &generator).value == Tensor(zeros: [2, 3]))
    }

    // MARK: - Selection and indexing

    @Test func whereChoosesWithABroadcastMask() {
        let tape = Tape<Double>()
        let a = tape.variable(tensor([2, 3], [1, 2, 3, 4, 5, 6]))
        let b = tape.variable(Tensor([-1, -2, -3]))
        let mask = tensor([2, 3], [1, 0, 1, 0, 0, 1])
        #expect(Variable.select(mask, a, b).value == tensor([2, 3], [1, -2, 3, -1, -2, 6]))
        // Any non-zero value in the condition selects the first operand.
        #expect(Variable.select(Tensor([2, 0, -0.5]), b, a).value == tensor([2, 3], [-1, 2, -3, -1, 5, -3]))
    }

    @Test func maskedFillReplacesMaskedElements() {
        let x = leaf(tensor([2, 3], [1, 2, 3, 4, 5, 6]))
        #expect(x.maskedFill(where: tensor([2, 3], [0, 1, 0, 1, 0, 0]), with: -9).value == tensor([2, 3], [1, -9, 3, -9, 5, 6]))
        // A column mask broadcasts across each row.
        #expect(x.maskedFill(where: tensor([2, 1], [1, 0]), with: 0).value == tensor([2, 3], [0, 0, 0, 4, 5, 6]))
        // Filling with a large negative number before softmax gives masked entries zero probability.
        let p = x.maskedFill(where: tensor([2, 3], [0, 0, 1, 1, 0, 0]), with: -1e9).softmax().value
        #expect(p.scalars[2] == 0 && p.scalars[3] == 0)
        expectClose(p.scalars[0], 1 / (1 + Glibc.exp(1)), relativeTolerance: 1e-14)
    }

    @Test func gatheringAndEmbeddingLookup() {
        let table = leaf(tensor([5, 2], [0, 1, 10, 11, 20, 21, 30, 31, 40, 41]))
        #expect(table.gathering([4, 0, 4], alongAxis: 0).value == tensor([3, 2], [40, 41, 0, 1, 40, 41]))
        #expect(table.gathering([1, 1], alongAxis: 1).value == tensor([5, 2], [1, 1, 11, 11, 21, 21, 31, 31, 41, 41]))
        let embedded = table.embeddingLookup([1, 4, 1, 0, 3, 2], idShape: [2, 3])
        #expect(embedded.shape == [2, 3, 2])
        #expect(embedded.value.scalars == [10, 11, 40, 41, 10, 11, 0, 1, 30, 31, 20, 21])
    }

    // MARK: - Constants

    @Test func operationsOnConstantsComputeValuesWithoutATape() {
        let c = Variable(Tensor<Double>([1, 2]))
        let y = (c * c).exp().sum()
        #expect(!y.requiresGradient)
        #expect(y.tape == nil)
        expectClose(y.value, Tensor(Glibc.exp(1) + Glibc.exp(4)), tolerance: 1e-15)
    }
}
