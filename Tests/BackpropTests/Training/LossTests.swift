import Foundation
import Testing
import Backprop
import GradCheckCatalog

/// Loss values against closed forms, gradients against softmax − target, stability for huge logits.
@Suite struct LossTests {
    let tape = Tape<Double>()

    func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-12) -> Bool { abs(a - b) <= tolerance * max(1, abs(b)) }

    @Test func meanSquaredErrorAndL1() {
        let x = tape.variable(Tensor([1, 2, 3]))
        let y = tape.constant(Tensor([0, 2, 5]))
        #expect(close(meanSquaredError(x, y).value.scalar, 5.0 / 3))
        #expect(meanSquaredError(x, y, reduction: .sum).value.scalar == 5)
        #expect(meanSquaredError(x, y, reduction: .none).value == Tensor([1, 0, 4]))
        #expect(l1Loss(x, y).value.scalar == 1)
        #expect(l1Loss(x, y, reduction: .none).value == Tensor([1, 0, 2]))
        let loss = meanSquaredError(x, y)
        loss.backward()
        let expected: [Double] = [2.0 / 3, 0, -4.0 / 3]   // 2(x − y)/n
        #expect(x.grad!.isApproximatelyEqual(to: Tensor(expected), absoluteTolerance: 1e-15))
    }

    @Test func crossEntropyOfUniformLogitsIsLogC() {
        let logits = tape.variable(Tensor([[0.0, 0, 0]]))
        let loss = crossEntropy(logits: logits, targets: [1])
        #expect(close(loss.value.scalar, log(3)))
        #expect(close(crossEntropy(logits: logits, targets: [1], labelSmoothing: 0.4).value.scalar, log(3)))
        loss.backward()
        // softmax − onehot
        let third: Double = 1.0 / 3
        let expected = Tensor<Double>(shape: [1, 3], scalars: [third, third - 1, third])
        #expect(logits.grad!.isApproximatelyEqual(to: expected, absoluteTolerance: 1e-15))
    }

    @Test func crossEntropyIgnoreIndexAndReductions() {
        // Row 0: p = (1/4, 3/4); row 1 is ignored, so the mean divides by 1, not 2.
        let logits = tape.variable(Tensor([[0, log(3)], [5, 1]]))
        let targets = [0, -100]
        #expect(close(crossEntropy(logits: logits, targets: targets).value.scalar, log(4)))
        #expect(close(crossEntropy(logits: logits, targets: targets, reduction: .sum).value.scalar, log(4)))
        let none = crossEntropy(logits: logits, targets: targets, reduction: .none).value
        #expect(none.shape == [2] && close(none.scalars[0], log(4)) && none.scalars[1] == 0)
        #expect(close(crossEntropy(logits: logits, targets: [0, 7], ignoreIndex: 7).value.scalar, log(4)))
    }

    @Test func labelSmoothingWithIgnoreIndexMatchesPyTorchFormula() {
        // loss = (1 − ε)(−log p_y) + (ε/C)Σ_c(−log p_c), averaged over the one kept row.
        let logits = tape.variable(Tensor([[0, log(3)], [7, 7], [1, 2]]))
        let epsilon = 0.5
        let row0 = (1 - epsilon) * log(4.0 / 3) + epsilon / 2 * (log(4) + log(4.0 / 3))
        let row2 = (1 - epsilon) * -log(exp(1) / (exp(1) + exp(2))) + epsilon / 2 * (log(1 + exp(1)) + log(1 + exp(-1)))
        let loss = crossEntropy(logits: logits, targets: [1, -100, 0], labelSmoothing: epsilon)
        #expect(close(loss.value.scalar, (row0 + row2) / 2))
        loss.backward()
        // ∂/∂x = (p − (1 − ε)onehot − ε/C)/kept; the ignored row gets nothing.
        let p20: Double = 1 / (1 + exp(1.0))
        let p21: Double = 1 / (1 + exp(-1.0))
        let expected: [Double] = [0, 0, 0, 0, (p20 - 0.75) / 2, (p21 - 0.25) / 2]
        #expect(logits.grad!.isApproximatelyEqual(to: Tensor(shape: [3, 2], scalars: expected), absoluteTolerance: 1e-15))
    }

    @Test func crossEntropyWithEveryTargetIgnoredIsNaNWithZeroGradient() {
        let logits = tape.variable(Tensor([[1.0, 2]]))
        let loss = crossEntropy(logits: logits, targets: [-100], labelSmoothing: 0.1)
        #expect(loss.value.scalar.isNaN)
        #expect(crossEntropy(logits: logits, targets: [-100], reduction: .sum).value.scalar == 0)
        loss.backward()
        #expect(logits.grad == Tensor([[0.0, 0]]))
    }

    @Test func crossEntropyOverSpatialAxes() {
        // [N=1, C=2, d=2]: position 0 has logits (0, log 3), position 1 (log 3, 0).
        let logits = tape.variable(Tensor(shape: [1, 2, 2], scalars: [0, log(3), log(3), 0]))
        let none = crossEntropy(logits: logits, targets: [1, 1], reduction: .none).value
        #expect(none.shape == [1, 2])
        #expect(close(none.scalars[0], log(4.0 / 3)) && close(none.scalars[1], log(4)))
    }

    @Test func lossesAreExactForHugeLogitsInFloat() {
        let tape = Tape<Float>()
        let logits = tape.variable(Tensor<Float>([[1e4, 0, -1e4]]))
        #expect(crossEntropy(logits: logits, targets: [0]).value.scalar == 0)
        #expect(crossEntropy(logits: logits, targets: [1]).value.scalar == 1e4)
        #expect(crossEntropy(logits: logits, targets: [2]).value.scalar == 2e4)
        // 0.9·0 + (0.1/3)(0 + 1e4 + 2e4) = 1000
        let smoothed = crossEntropy(logits: logits, targets: [0], labelSmoothing: 0.1)
        #expect(abs(smoothed.value.scalar - 1000) < 1e-3)
        smoothed.backward()
        #expect(logits.grad!.isFinite)

        let bceTape = Tape<Float>()
        let x = bceTape.variable(Tensor<Float>([1e4, -1e4, 1e4, -1e4]))
        let y = bceTape.constant(Tensor<Float>([0, 1, 1, 0]))
        let bce = binaryCrossEntropy(logits: x, targets: y, reduction: .none)
        #expect(bce.value == Tensor<Float>([1e4, 1e4, 0, 0]))
        bce.sum().backward()
        #expect(x.grad == Tensor<Float>([1, -1, 0, 0]))   // σ(x) − y
    }

    @Test func binaryCrossEntropyClosedForms() {
        let x = tape.variable(Tensor([0.0, 0, 2]))
        let y = tape.constant(Tensor([1.0, 0.5, 0]))
        let none = binaryCrossEntropy(logits: x, targets: y, reduction: .none).value
        #expect(none.isApproximatelyEqual(to: Tensor([log(2), log(2), log(1 + exp(2))]), absoluteTolerance: 1e-15))
        // posWeight w multiplies the positive term: w = 1 + (pw − 1)y.
        let weighted = binaryCrossEntropy(logits: x, targets: y, positiveWeight: Tensor([3.0]), reduction: .none).value
        #expect(weighted.isApproximatelyEqual(to: Tensor([3 * log(2), 2 * log(2), log(1 + exp(2))]), absoluteTolerance: 1e-15))
        let loss = binaryCrossEntropy(logits: x, targets: y)
        loss.backward()
        let sigmoid2 = 1 / (1 + exp(-2.0))
        #expect(x.grad!.isApproximatelyEqual(to: Tensor([-0.5, 0, sigmoid2]) / 3, absoluteTolerance: 1e-15))
    }

    @Test func negativeLogLikelihoodPicksTheTarget() {
        let logProbabilities = tape.variable(Tensor([[-1.0, -2, -3], [-0.5, -0.25, -4]]))
        #expect(negativeLogLikelihood(logProbabilities: logProbabilities, targets: [2, 0]).value.scalar == 1.75)
        #expect(negativeLogLikelihood(logProbabilities: logProbabilities, targets: [2, -100]).value.scalar == 3)
        let loss = negativeLogLikelihood(logProbabilities: logProbabilities, targets: [2, 1], reduction: .sum)
        #expect(loss.value.scalar == 3.25)
        loss.backward()
        #expect(logProbabilities.grad == Tensor([[0, 0, -1], [0, -1, 0]]))
    }

    @Test func crossEntropyRejectsOutOfRangeTargets() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let logits = Variable(Tensor<Double>([[0, 1, 2]]))
            _ = crossEntropy(logits: logits, targets: [5])
        }
        .map { result in
            let text = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(text.contains("crossEntropy: target 5 at position 0 is out of range for 3 classes"))
        }
    }

    static let catalogCases = Catalog.all.filter { c in
        ["mseLoss", "l1Loss", "crossEntropy", "negativeLogLikelihood", "binaryCrossEntropy"].contains { c.name.hasPrefix($0) }
    }

    @Test(arguments: catalogCases.map(\.name))
    func gradientCheckCatalog(name: String) {
        let outcome = Self.catalogCases.first { $0.name == name }!.run(mode: .full)
        #expect(outcome.passed, "\(outcome.detail)")
    }
}
