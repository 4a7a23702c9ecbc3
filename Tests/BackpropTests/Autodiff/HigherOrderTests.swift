import Backprop
import GradCheckCatalog
import Testing

/// `x³` whose backward is written in Variable operations: differentiable to any order.
private struct Cube: DifferentiableOperation {
    func forward(_ inputs: [Tensor<Double>]) -> (output: Tensor<Double>, saved: Void) {
        (inputs[0] * inputs[0] * inputs[0], ())
    }
    func backward(_ gradient: Variable<Double>, inputs: [Variable<Double>], output: Variable<Double>,
                  saved: Void) -> [Variable<Double>?]? {
        [gradient * inputs[0].squared() * 3]
    }
}

/// `x³` whose first derivative is right but whose backward uses the saved input as a constant, so
/// its second derivative misses the 6x·g term (pytorch#58509's class of bug).
private struct CubeWithConstantSave: DifferentiableOperation {
    func forward(_ inputs: [Tensor<Double>]) -> (output: Tensor<Double>, saved: Tensor<Double>) {
        (inputs[0] * inputs[0] * inputs[0], inputs[0])
    }
    func backward(_ gradient: Variable<Double>, inputs: [Variable<Double>], output: Variable<Double>,
                  saved x: Tensor<Double>) -> [Variable<Double>?]? {
        [gradient * Variable(x * x * 3)]
    }
}

/// `x³` with a tensor-only backward: differentiable once.
private struct TensorOnlyCube: DifferentiableOperation {
    func forward(_ inputs: [Tensor<Double>]) -> (output: Tensor<Double>, saved: Tensor<Double>) {
        (inputs[0] * inputs[0] * inputs[0], inputs[0])
    }
    func backward(_ gradient: Tensor<Double>, saved x: Tensor<Double>, inputsNeedingGradient: [Bool]) -> [Tensor<Double>?] {
        [gradient * x * x * 3]
    }
}

/// Custom ops whose backward returns a malformed result.
struct Malformed: DifferentiableOperation {
    enum Kind { case wrongShape, tooFew, missing }
    var kind: Kind
    var name: String { "malformed" }
    func forward(_ inputs: [Tensor<Double>]) -> (output: Tensor<Double>, saved: Void) { (inputs[0] * inputs[1], ()) }
    func backward(_ gradient: Tensor<Double>, saved: Void, inputsNeedingGradient: [Bool]) -> [Tensor<Double>?] {
        switch kind {
        case .wrongShape: [gradient, Tensor(zeros: [7])]
        case .tooFew: [gradient]
        case .missing: [gradient, nil]
        }
    }
}

@Suite("Higher-order derivatives")
struct HigherOrderTests {
    @Test func secondAndThirdDerivativesOfPrimitivesMatchClosedForms() {
        let x0 = Tensor<Double>([-1.3, 0.4, 2])
        let tape = Tape<Double>()
        let x = tape.variable(x0)
        // x⁴: 4x³, 12x², 24x.
        let first = tape.gradients(of: x.pow(4).sum(), withRespectTo: [x], createGraph: true)[0]
        expectClose(first.value, x0.pow(3) * 4)
        let second = tape.gradients(of: first.sum(), withRespectTo: [x], createGraph: true)[0]
        expectClose(second.value, x0.squared() * 12)
        let third = tape.gradients(of: second.sum(), withRespectTo: [x])[0]
        expectClose(third, x0 * 24)

        // tanh: 1 − t², −2t(1 − t²).
        let t = x0.tanh()
        let tape2 = Tape<Double>()
        let z = tape2.variable(x0)
        let d1 = tape2.gradients(of: z.tanh().sum(), withRespectTo: [z], createGraph: true)[0]
        expectClose(d1.value, 1 - t.squared())
        let d2 = tape2.gradients(of: d1.sum(), withRespectTo: [z])[0]
        expectClose(d2, t * (1 - t.squared()) * -2)
    }

    @Test func gradientWithRespectToTheInputFeedsALossOnTheParameters() {
        // f = Σ (wᵢxᵢ)², ∂f/∂x = 2w²x, P = |∂f/∂x|² = 4Σw⁴x², ∂P/∂w = 16w³x² (a gradient penalty).
        let (x0, w0) = (Tensor<Double>([0.5, -1, 2]), Tensor<Double>([1.5, 0.3, -0.7]))
        let weight = Parameter(w0)
        let tape = Tape<Double>()
        let x = tape.variable(x0)
        let w = tape.variable(for: weight)
        let gradX = tape.gradients(of: (w * x).squared().sum(), withRespectTo: [x], createGraph: true)[0]
        expectClose(gradX.value, w0.squared() * x0 * 2)
        gradX.squared().sum().backward()
        expectClose(weight.grad!, w0.pow(3) * x0.squared() * 16)
    }

    @Test func backwardWithCreateGraphGivesDifferentiableLeafGradients() {
        // L = Σ w³; after backward(createGraph:) the gradient 3w² is a variable: Σ (3w²)² → 36w³.
        let w0 = Tensor<Double>([1, -2])
        let weight = Parameter(w0)
        let tape = Tape<Double>()
        let w = tape.variable(for: weight)
        w.pow(3).sum().backward(createGraph: true)
        expectClose(weight.grad!, w0.squared() * 3)
        let recorded = tape.accumulatedGradient(for: weight)!
        #expect(recorded.requiresGradient)
        weight.zeroGradient()
        recorded.squared().sum().backward()
        expectClose(weight.grad!, w0.pow(3) * 36)
    }

    @Test func createGraphDoesNotChangeFirstOrderValues() {
        for testCase in Catalog.all.filter({ $0.name.hasPrefix("layernorm") || $0.name.hasPrefix("crossEntropy") || $0.name.hasPrefix("conv2d") }) {
            func gradients(createGraph: Bool) -> [Tensor<Double>] {
                let tape = Tape<Double>()
                let variables = testCase.inputs.map { tape.variable($0) }
                let y = testCase.function(variables)
                guard y.requiresGradient else { return [] }
                var generator = SeededGenerator(seed: 1)
                let seed = Tensor<Double>.randomNormal(shape: y.shape, using: &generator)
                return tape.gradients(of: y, withRespectTo: variables, seed: Variable(seed), createGraph: createGraph, allowUnused: true).map(\.value)
            }
            let (plain, recorded) = (gradients(createGraph: false), gradients(createGraph: true))
            #expect(plain.map(\.scalars) == recorded.map(\.scalars), "\(testCase.name)")
        }
    }

    @Test func customOperationWithAVariableBackwardIsDifferentiableAtAnyOrder() {
        let x = [Tensor<Double>([0.5, -2, 1])]
        for order in 1...3 {
            let result = checkGradients(at: x, order: order) { v in Cube()(v) }
            #expect(result.passed, "order \(order): \(result)")
        }
    }

    @Test func aWrongSecondDerivativePassesAtOrderOneAndIsCaughtAtOrderTwo() throws {
        let x = [Tensor<Double>([0.5, -2, 1])]
        let first = checkGradients(at: x) { v in CubeWithConstantSave()(v) }
        #expect(first.passed, "\(first)")
        for mode in GradientCheckOptions.Mode.allCases {
            let second = checkGradients(at: x, order: 2, options: GradientCheckOptions(mode: mode)) { v in CubeWithConstantSave()(v) }
            #expect(!second.passed)
            #expect(second.order == 2)
            let inputReport = try #require(second.reports.first { $0.input == 0 })
            #expect(!inputReport.passed, "the x-part of the second derivative is missing: \(second)")
            #expect(second.description.hasPrefix("gradient check of order 2 (\(mode.rawValue)): FAIL"))
            #expect(second.description.contains("upstream gradient 1"), "\(second)")
        }
        // In full mode the worst element has the missing term: analytic 0 against numeric 6x·u.
        let full = checkGradients(at: x, order: 2) { v in CubeWithConstantSave()(v) }
        let report = try #require(full.reports.first { $0.input == 0 })
        #expect(report.analytic == 0)
        #expect(Swift.abs(report.numeric) > 1e-3)
    }

    @Test func theCheckerReportsATensorOnlyOperationDifferentiatedTwice() {
        let x = [Tensor<Double>([0.5, -2, 1])]
        #expect(checkGradients(at: x) { v in TensorOnlyCube()(v) }.passed)
        let second = checkGradients(at: x, order: 2) { v in TensorOnlyCube()(v) }
        #expect(!second.passed)
        #expect(second.failure?.contains("TensorOnlyCube: its backward is tensor-only") == true, "\(second)")
    }

    @Test func aTensorOnlyOperationDifferentiatedTwiceStopsWithAMessage() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, 2]))
            let g = tape.gradients(of: TensorOnlyCube()([x]).sum(), withRespectTo: [x], createGraph: true)[0]
            _ = tape.gradients(of: g.sum(), withRespectTo: [x])
        }
        let text = standardError(of: result)
        #expect(text.contains("TensorOnlyCube: its backward is tensor-only"), "\(text)")
        #expect(text.contains("write backward(_:inputs:output:saved:) in Variable operations"), "\(text)")
    }

    @Test(arguments: [(Malformed.Kind.wrongShape, "malformed: backward rule returned a gradient of shape [7] for input 1, whose shape is [2]"),
                      (.tooFew, "malformed: backward returned 1 gradients for 2 inputs"),
                      (.missing, "malformed: backward returned no gradient (nil) for input 1, which requires one")])
    func theCheckerReportsMalformedBackwards(kind: Malformed.Kind, message: String) {
        for order in [1, 2] {
            let result = checkGradients(at: [Tensor([1, 2]), Tensor([3, -1])], order: order) { v in Malformed(kind: kind)(v) }
            #expect(!result.passed)
            #expect(result.failure?.contains(message) == true, "order \(order): \(result)")
            #expect(result.description.contains("FAIL"))
        }
    }

    /// The double backward of a fused normalization has two forms: a fused kernel when no graph is
    /// being created and the same formulas in Variable operations (with the statistics recomputed from
    /// x) when one is. Both must give the same second derivatives.
    @Test func fusedDoubleBackwardKernelAgreesWithItsVariableForm() {
        for testCase in Catalog.all where NormalizationKind.allCases.contains(where: { testCase.name.hasPrefix($0.catalogPrefix) }) {
            let tape = Tape<Double>()
            let variables = testCase.inputs.map { tape.variable($0) }
            let y = testCase.function(variables)
            guard y.requiresGradient else { continue }
            var generator = SeededGenerator(seed: 5)
            let upstream = tape.variable(Tensor<Double>.randomUniform(shape: y.shape, in: -1..<1, using: &generator))
            let first = tape.gradients(of: y, withRespectTo: variables, seed: upstream, createGraph: true, allowUnused: true)
            var sum: Variable<Double>?
            for gradient in first where gradient.requiresGradient {
                let term = (gradient * tape.constant(Tensor<Double>.randomUniform(shape: gradient.shape, in: -1..<1, using: &generator))).sum()
                sum = sum.map { $0 + term } ?? term
            }
            guard let sum else { continue }
            let kernel = tape.gradients(of: sum, withRespectTo: variables + [upstream], retainGraph: true, allowUnused: true)
            let formula = tape.gradients(of: sum, withRespectTo: variables + [upstream], createGraph: true, allowUnused: true).map(\.value)
            for (a, b) in zip(kernel, formula) { expectClose(a, b, tolerance: 1e-11, "\(testCase.name)") }
        }
    }

    @Test func everyNormalizationConfigurationAgreesWithItsReferenceAtThirdOrder() {
        for testCase in Catalog.all where testCase.reference != nil && NormalizationKind.allCases.contains(where: { testCase.name.hasPrefix($0.catalogPrefix) }) {
            let outcome = testCase.run(mode: .fast, order: 3)
            #expect(outcome.passed, "\(testCase.name): \(outcome.detail)")
            #expect((outcome.referenceError ?? 0) <= referenceTolerance, "\(testCase.name)")
        }
    }
}
