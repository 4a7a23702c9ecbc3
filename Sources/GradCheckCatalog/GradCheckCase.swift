import Backprop

/// One entry of the gradient-check catalog: a function of some `Double` inputs, the point at which
/// to check it, and optionally a reference decomposition the function must agree with.
public struct GradCheckCase: Sendable {
    /// A unique name such as `matmul[2x3@3x4]` or `layernorm[shape=2x3x4,normalized=3x4,affine]`.
    public var name: String
    /// The point at which the gradient is checked.
    public var inputs: [Tensor<Double>]
    /// The inputs to differentiate (all by default).
    public var differentiating: [Int]?
    /// The function under test.
    public var function: @Sendable ([Variable<Double>]) -> Variable<Double>
    /// A decomposition into primitive ops whose values and gradients must agree with `function` to 1e-10.
    public var reference: (@Sendable ([Variable<Double>]) -> Variable<Double>)?
    /// Tolerances for the finite-difference check (PyTorch's defaults unless a case needs otherwise).
    public var options: GradientCheckOptions

    /// Creates a case.
    public init(_ name: String, inputs: [Tensor<Double>], differentiating: [Int]? = nil,
                options: GradientCheckOptions = GradientCheckOptions(),
                reference: (@Sendable ([Variable<Double>]) -> Variable<Double>)? = nil,
                _ function: @escaping @Sendable ([Variable<Double>]) -> Variable<Double>) {
        self.name = name
        self.inputs = inputs
        self.differentiating = differentiating
        self.options = options
        self.reference = reference
        self.function = function
    }
}

/// The result of running one case.
public struct CaseOutcome: Sendable {
    /// The case's name.
    public var name: String
    /// Whether the finite-difference check (and the reference comparison, if any) passed.
    public var passed: Bool
    /// The largest absolute gradient error against finite differences.
    public var maxAbsoluteError: Double
    /// The largest relative gradient error against finite differences.
    public var maxRelativeError: Double
    /// The largest difference to the reference decomposition (values and gradients), if the case has one.
    public var referenceError: Double?
    /// Wall-clock seconds the case took.
    public var seconds: Double
    /// The verifier's report (and the reference comparison) for a failing case.
    public var detail: String
    /// The order of the derivative that was checked.
    public var order: Int = 1
}

/// The tolerance of the reference-decomposition comparison: `|a − b| ≤ 1e-10·max(1, |b|)`.
public let referenceTolerance = 1e-10

extension GradCheckCase {
    /// Runs the finite-difference check of the derivative of `order` in `mode`, and the reference
    /// comparison (at the same order) when there is one.
    public func run(mode: GradientCheckOptions.Mode, order: Int = 1) -> CaseOutcome {
        let clock = ContinuousClock()
        var check: GradientCheckResult!
        var referenceError: Double?
        var referenceDetail = ""
        let elapsed = clock.measure {
            var options = self.options
            options.mode = mode
            check = checkGradients(at: inputs, differentiating: differentiating, order: order, options: options, of: function)
            if let reference {
                (referenceError, referenceDetail) = compareWithReference(reference, order: order)
            }
        }
        let referenceOK = referenceError.map { $0 <= referenceTolerance } ?? true
        var detail = check.passed ? "" : check.description
        if !referenceOK { detail += (detail.isEmpty ? "" : "\n") + referenceDetail }
        return CaseOutcome(name: name, passed: check.passed && referenceOK,
                           maxAbsoluteError: check.maxAbsoluteError, maxRelativeError: check.maxRelativeError,
                           referenceError: referenceError,
                           seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18,
                           detail: detail, order: order)
    }

    /// The largest scaled difference between `function` and `reference`: output values, then the
    /// gradient of `⟨seed, output⟩` with respect to every differentiated input for a fixed random seed.
    /// At order n both are first turned into their order-n check functions (the same upstream
    /// gradients for both), so the comparison is of derivatives of order n − 1 and n: at order 2, the
    /// fused double backward against the double backward of the reference decomposition.
    func compareWithReference(_ reference: @escaping ([Variable<Double>]) -> Variable<Double>, order: Int = 1) -> (Double, String) {
        let fusedProblem = GradientCheckProblem(at: inputs, differentiating: differentiating, order: order, seed: options.seed, of: function)
        let referenceProblem = GradientCheckProblem(at: inputs, differentiating: differentiating, order: order, seed: options.seed, of: reference)
        let inputs = fusedProblem.inputs
        let checked = fusedProblem.differentiating
        func evaluate(_ f: ([Variable<Double>]) -> Variable<Double>) -> (Tensor<Double>, [Tensor<Double>]) {
            let tape = Tape<Double>()
            let variables = inputs.enumerated().map { i, x in checked.contains(i) ? tape.variable(x) : tape.constant(x) }
            let y = f(variables)
            var generator = SeededGenerator(seed: 7)
            let seed = Tensor<Double>.randomNormal(shape: y.shape, using: &generator)
            let grads = y.requiresGradient
                ? tape.gradients(of: y, withRespectTo: checked.map { variables[$0] }, seed: seed, allowUnused: true)
                : checked.map { Tensor(zerosLike: inputs[$0]) }
            return (y.value, grads)
        }
        let function = fusedProblem.function
        let reference = referenceProblem.function
        let (fusedValue, fusedGrads) = evaluate(function)
        let (refValue, refGrads) = evaluate(reference)
        guard fusedValue.shape == refValue.shape else {
            return (.infinity, "reference: output shape \(fusedValue.shape) differs from the reference's \(refValue.shape)")
        }
        var worst = 0.0
        var detail = ""
        func compare(_ a: Tensor<Double>, _ b: Tensor<Double>, _ what: String) {
            for (i, (x, y)) in zip(a.scalars, b.scalars).enumerated() {
                let error = Swift.abs(x - y) / Swift.max(1, Swift.abs(y))
                if error > worst || error.isNaN {
                    worst = error.isNaN ? .infinity : error
                    detail = "reference: \(what) differs at flat index \(i): fused \(x), reference \(y)"
                }
            }
        }
        compare(fusedValue, refValue, "output")
        for (k, (a, b)) in zip(fusedGrads, refGrads).enumerated() {
            compare(a, b, "gradient of input \(checked[k])")
        }
        return (worst, detail)
    }
}
