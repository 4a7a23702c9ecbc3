/// How `checkGradients` compares the tape's gradient with finite differences.
public struct GradientCheckOptions: Sendable {
    /// Which comparison to run.
    public enum Mode: String, Sendable, CaseIterable {
        /// The whole Jacobian, column by column (one central difference per input element) against
        /// one backward sweep per output element, like `torch.autograd.gradcheck`.
        case full
        /// Random unit projections: the numerical `vᵀ(J·u)` from one central difference along `u`
        /// against the analytic `(vᵀJ)·u` from one backward sweep, like PyTorch's `fast_mode`.
        case fast
    }

    /// The comparison to run (default `.full`).
    public var mode: Mode
    /// The step of the central difference `(f(x + ε) − f(x − ε))/2ε` (default `1e-6`).
    public var eps: Double
    /// The absolute tolerance `atol` (default `1e-5`).
    public var absoluteTolerance: Double
    /// The relative tolerance `rtol` (default `1e-3`); an element passes when
    /// `|analytic − numeric| ≤ atol + rtol·|numeric|`.
    public var relativeTolerance: Double
    /// The number of random projections per input in fast mode (default 2).
    public var projections: Int
    /// The seed of the random projections in fast mode.
    public var seed: UInt64

    /// Options with PyTorch gradcheck's defaults: eps 1e-6, atol 1e-5, rtol 1e-3.
    public init(mode: Mode = .full, eps: Double = 1e-6, absoluteTolerance: Double = 1e-5,
                relativeTolerance: Double = 1e-3, projections: Int = 2, seed: UInt64 = 0) {
        self.mode = mode
        self.eps = eps
        self.absoluteTolerance = absoluteTolerance
        self.relativeTolerance = relativeTolerance
        self.projections = projections
        self.seed = seed
    }
}

/// The outcome of checking the gradient with respect to one input.
public struct GradientCheckReport: Sendable {
    /// The position of the input in the argument list.
    public var input: Int
    /// The input's name when it has one (a module's parameter, `"input"` for its input); empty otherwise.
    public var name: String = ""
    /// The input's shape.
    public var shape: [Int]
    /// The largest `|analytic − numeric|`.
    public var maxAbsoluteError: Double
    /// The largest `|analytic − numeric| / max(|numeric|, atol)`.
    public var maxRelativeError: Double
    /// Where the worst element is: the input element's index (full mode) or `[projection]` (fast mode).
    public var worstIndex: [Int]
    /// The output element of the worst Jacobian entry (full mode), empty in fast mode.
    public var worstOutputIndex: [Int]
    /// The tape's value at the worst element.
    public var analytic: Double
    /// The finite-difference value at the worst element.
    public var numeric: Double
    /// Whether every element satisfied `|analytic − numeric| ≤ atol + rtol·|numeric|`.
    public var passed: Bool
}

/// The outcome of `checkGradients`: one report per checked input.
public struct GradientCheckResult: Sendable, CustomStringConvertible {
    /// The mode that was run.
    public var mode: GradientCheckOptions.Mode
    /// The order of the derivative that was checked (1: the gradient; 2: the gradient of the
    /// gradient, PyTorch's gradgradcheck; …).
    public var order: Int = 1
    /// How many inputs the function has; at order n > 1, reports for inputs from this index on are
    /// for the random upstream gradients of orders 1…n − 1 that the check also differentiates.
    public var functionInputCount: Int = 0
    /// One report per differentiated input.
    public var reports: [GradientCheckReport]
    /// Set when the function itself misbehaved (non-finite output, or output shape changing under
    /// perturbation), or when a backward rule returned a malformed result (a wrong count, a wrong
    /// shape, or no gradient for an input that needs one): the op and what was wrong.
    public var failure: String?

    /// Whether every input passed and nothing else failed.
    public var passed: Bool { failure == nil && reports.allSatisfy(\.passed) }
    /// The largest absolute error over all inputs.
    public var maxAbsoluteError: Double { reports.map(\.maxAbsoluteError).max() ?? 0 }
    /// The largest relative error over all inputs.
    public var maxRelativeError: Double { reports.map(\.maxRelativeError).max() ?? 0 }

    /// One line per input: pass/fail, errors, and the worst element with both values.
    public var description: String {
        let header = order == 1 ? "gradient check" : "gradient check of order \(order)"
        var lines = ["\(header) (\(mode.rawValue)): \(passed ? "PASS" : "FAIL")"]
        if let failure { lines.append("  \(failure)") }
        for r in reports {
            let at = mode == .full ? "input index \(r.worstIndex), output index \(r.worstOutputIndex)" : "projection \(r.worstIndex.first ?? 0)"
            let name = r.input < functionInputCount || order == 1
                ? (r.name.isEmpty ? "input \(r.input)" : r.name) : "upstream gradient \(r.input - functionInputCount + 1)"
            lines.append("  \(name) \(r.shape): \(r.passed ? "ok" : "MISMATCH") max abs \(r.maxAbsoluteError), max rel \(r.maxRelativeError); worst at \(at): analytic \(r.analytic), numeric \(r.numeric)")
        }
        return lines.joined(separator: "\n")
    }
}

/// Compares the derivatives that the tape computes for `function` with central finite differences
/// in `Double`.
///
/// `function` receives one variable per input and may call any operations, layers or custom
/// operations. It must be deterministic (dropout off or seeded the same way on every call) and
/// free of side effects that change its output (freeze running statistics).
///
/// At `order` 1 it checks the gradient. At order 2 it checks the gradient of the gradient, as
/// PyTorch's `gradgradcheck`: the function `(inputs, u) ↦ ∂⟨u, f(inputs)⟩/∂inputs`, with `u` a random
/// upstream gradient drawn uniformly from [−1, 1] (never all ones, which would make a normalization
/// layer's input gradient vanish and hide errors), is computed on the tape with `createGraph: true`
/// and checked at first order with respect to the inputs and `u`. Order n repeats the construction.
///
/// A backward rule that returns too few gradients, a gradient of the wrong shape, or `nil` for an
/// input that needs one makes the check fail with a message naming the op and the input.
///
/// ```swift
/// let result = checkGradients(at: [x, w]) { v in (v[0].matmul(v[1])).tanh().sum() }
/// print(result)          // PASS/FAIL, errors, worst element
/// let second = checkGradients(at: [x, w], order: 2) { v in (v[0].matmul(v[1])).tanh().sum() }
/// ```
///
/// - Parameters:
///   - inputs: The point at which to check.
///   - differentiating: The positions of the inputs to check; all by default.
///   - order: The order of the derivative to check (default 1).
///   - options: Mode and tolerances (PyTorch's defaults); `seed` also draws the upstream gradients.
///   - function: The function of the inputs; its output may have any shape.
/// - Returns: Per input, the largest errors, the worst element and pass/fail.
public func checkGradients(
    at inputs: [Tensor<Double>],
    differentiating: [Int]? = nil,
    order: Int = 1,
    options: GradientCheckOptions = GradientCheckOptions(),
    of function: ([Variable<Double>]) -> Variable<Double>
) -> GradientCheckResult {
    guard order >= 1 else { usageError("checkGradients", "order \(order) must be at least 1") }
    // The options are plain stored properties; they are checked here, where every check starts.
    guard options.eps.isFinite && options.eps > 0 else { usageError("checkGradients", "eps \(options.eps) must be finite and > 0") }
    Hyperparameter.checkNonNegative(options.absoluteTolerance, name: "absoluteTolerance", op: "checkGradients")
    Hyperparameter.checkNonNegative(options.relativeTolerance, name: "relativeTolerance", op: "checkGradients")
    Hyperparameter.checkPositive(options.projections, name: "projections", op: "checkGradients")
    return withoutActuallyEscaping(function) { function in
        let problem = GradientCheckProblem(at: inputs, differentiating: differentiating, order: order, seed: options.seed,
                                           of: function)
        var (result, malformed) = BackwardDiagnostics.collecting {
            firstOrderCheck(at: problem.inputs, differentiating: problem.differentiating, options: options, of: problem.function)
        }
        result.order = order
        result.functionInputCount = inputs.count
        if !malformed.isEmpty {
            let report = "malformed backward: " + malformed.joined(separator: "; ")
            result.failure = result.failure.map { report + "; " + $0 } ?? report
        }
        return result
    }
}

/// Checks a module's derivatives with respect to its input and every parameter, at once, with the
/// finite-difference verifier (see `checkGradients(at:differentiating:order:options:of:)`); the report
/// names each parameter as its `state_dict` entry (`"input"` for the input).
///
/// The module must be deterministic: put dropout in evaluation mode. In training mode a BatchNorm
/// normalizes with the batch's statistics (its running statistics change but do not enter the output).
///
/// ```swift
/// let result = checkGradients(of: model, at: Tensor.randomNormal(shape: [4, 3], using: &generator))
/// print(result)   // one line per parameter: "norm.weight [8]: ok max abs …"
/// ```
///
/// - Parameters:
///   - module: A module of `Double` parameters.
///   - input: The input at which to check.
///   - order: The order of the derivative (default 1).
///   - options: Mode and tolerances.
/// - Returns: One report for the input, then one per parameter that requires a gradient.
public func checkGradients(of module: some Module<Double>, at input: Tensor<Double>, order: Int = 1,
                           options: GradientCheckOptions = GradientCheckOptions()) -> GradientCheckResult {
    let named = module.namedParameters.filter { $0.parameter.requiresGradient }
    let original = named.map { $0.parameter.value }
    defer { for (k, entry) in named.enumerated() { entry.parameter.value = original[k] } }
    var result = checkGradients(at: [input] + original, order: order, options: options) { variables in
        // Each parameter takes the value of its variable and, on a tape, is that variable's leaf.
        for (k, entry) in named.enumerated() {
            let variable = variables[k + 1]
            entry.parameter.value = variable.value
            if let tape = variable.tape, variable.node >= 0 { tape.parameterLeaves[ObjectIdentifier(entry.parameter)] = variable.node }
        }
        return module(variables[0])
    }
    let names = ["input"] + named.map(\.name)
    for k in result.reports.indices where result.reports[k].input < names.count {
        result.reports[k].name = names[result.reports[k].input]
    }
    return result
}

/// A derivative check of any order posed as a first-order check (the construction of PyTorch's
/// `gradgradcheck`, repeated): the function `(inputs, u₁, …, u₍ₙ₋₁₎)` whose gradient is the order-n
/// derivative of the original one, with the upstream gradients `uₖ` drawn from a seeded generator.
public struct GradientCheckProblem {
    /// The inputs of the function: the original inputs, then the upstream gradients.
    public var inputs: [Tensor<Double>]
    /// The inputs to differentiate: the original ones asked for, then every upstream gradient.
    public var differentiating: [Int]
    /// At order 1 the original function; at order n the gradient (flattened and concatenated over
    /// the differentiated inputs) of ⟨uₙ₋₁, problem of order n − 1⟩.
    public var function: ([Variable<Double>]) -> Variable<Double>

    /// Poses the order-`order` check of `function` at `inputs`.
    ///
    /// - Parameters:
    ///   - inputs: The point.
    ///   - differentiating: The inputs to differentiate (all by default).
    ///   - order: The order of the derivative (≥ 1).
    ///   - seed: Seeds the upstream gradients, uniform in [−1, 1].
    ///   - function: The function of the inputs.
    public init(at inputs: [Tensor<Double>], differentiating: [Int]? = nil, order: Int, seed: UInt64,
                of function: @escaping ([Variable<Double>]) -> Variable<Double>) {
        self.inputs = inputs
        self.differentiating = differentiating ?? Array(inputs.indices)
        self.function = function
        var generator = SeededGenerator(seed: seed &+ 0x9E37_79B9_7F4A_7C15)
        for _ in 1..<Swift.max(order, 1) {
            let outputShape = withGradients { self.function(self.inputs.map { Variable($0) }).shape }
            let upstream = Tensor<Double>.randomUniform(shape: outputShape, in: -1..<1, using: &generator)
            self.function = Self.gradientFunction(of: self.function, differentiating: self.differentiating)
            self.differentiating.append(self.inputs.count)
            self.inputs.append(upstream)
        }
    }

    /// `(x…, u) ↦ concat(flatten(∂⟨u, f(x…)⟩/∂xᵢ) for the differentiated i)`, computed on the inputs'
    /// tape with `createGraph` so that it is differentiable in turn; on constants, on a tape of its own.
    static func gradientFunction(of f: @escaping ([Variable<Double>]) -> Variable<Double>,
                                 differentiating checked: [Int]) -> ([Variable<Double>]) -> Variable<Double> {
        { variables in
            let (xs, upstream) = (Array(variables.dropLast()), variables[variables.count - 1])
            func flattened(_ gradients: [Variable<Double>]) -> Variable<Double> {
                Variable.concatenate(gradients.map { $0.reshaped(to: [$0.value.count]) }, alongAxis: 0)
            }
            if let tape = variables.lazy.compactMap(\.tape).first {
                let y = f(xs)
                guard y.shape == upstream.shape else {
                    usageError("checkGradients", "the output shape \(y.shape) differs from the upstream gradient's \(upstream.shape)")
                }
                guard y.tape != nil else { return Variable(value: Tensor(zeros: [checked.reduce(0) { $0 + xs[$1].value.count }]), tape: tape, node: -1) }
                return flattened(tape.gradients(of: y, withRespectTo: checked.map { xs[$0] }, seed: upstream, createGraph: true, allowUnused: true))
            }
            return withGradients {
                let tape = Tape<Double>()
                let leaves = xs.enumerated().map { i, x in checked.contains(i) ? tape.variable(x.value) : tape.constant(x.value) }
                let y = f(leaves)
                guard y.requiresGradient else { return Variable(Tensor(zeros: [checked.reduce(0) { $0 + xs[$1].value.count }])) }
                let gradients = tape.gradients(of: y, withRespectTo: checked.map { leaves[$0] }, seed: upstream.value, allowUnused: true)
                return Variable(Tensor.concatenate(gradients.map { $0.reshaped(to: [$0.count]) }, alongAxis: 0))
            }
        }
    }
}

/// The first-order check of `function` at `inputs` (see `checkGradients`).
private func firstOrderCheck(
    at inputs: [Tensor<Double>],
    differentiating: [Int]?,
    options: GradientCheckOptions,
    of function: ([Variable<Double>]) -> Variable<Double>
) -> GradientCheckResult {
    let checked = differentiating ?? Array(inputs.indices)
    // Constants with no tape: nothing is recorded, yet a function that differentiates something
    // itself (a gradient penalty on a tape of its own) still can.
    func evaluate(_ point: [Tensor<Double>]) -> Tensor<Double> {
        withGradients { function(point.map { Variable($0) }).value }
    }
    let output = evaluate(inputs)
    var result = GradientCheckResult(mode: options.mode, reports: [], failure: nil)
    if !output.isFinite {
        result.failure = "the function's output is not finite at the given inputs"
        return result
    }

    // One tape, swept as often as needed with retainGraph.
    let tape = Tape<Double>()
    let variables = inputs.enumerated().map { i, x in checked.contains(i) ? tape.variable(x) : tape.constant(x) }
    let y = function(variables)
    guard y.shape == output.shape else {
        result.failure = "the output shape \(y.shape) on the tape differs from \(output.shape) without it"
        return result
    }
    let checkedVariables = checked.map { variables[$0] }
    func analyticGradients(seed: Tensor<Double>) -> [Tensor<Double>] {
        guard y.requiresGradient else { return checkedVariables.map { Tensor(zerosLike: $0.value) } }
        return tape.gradients(of: y, withRespectTo: checkedVariables, seed: seed, retainGraph: true, allowUnused: true)
    }
    func perturbed(_ input: Int, _ direction: Tensor<Double>, _ step: Double) -> Tensor<Double>? {
        var point = inputs
        point[input] = inputs[input] + direction * step
        let value = evaluate(point)
        guard value.shape == output.shape else {
            result.failure = "the output shape changed from \(output.shape) to \(value.shape) when input \(input) was perturbed"
            return nil
        }
        return value
    }
    func accept(_ analytic: Double, _ numeric: Double) -> Bool {
        Swift.abs(analytic - numeric) <= options.absoluteTolerance + options.relativeTolerance * Swift.abs(numeric)
    }
    func relative(_ analytic: Double, _ numeric: Double) -> Double {
        Swift.abs(analytic - numeric) / Swift.max(Swift.abs(numeric), options.absoluteTolerance)
    }

    switch options.mode {
    case .full:
        // Analytic Jacobian rows: one backward sweep per output element.
        var rows: [[Tensor<Double>]] = []
        for k in 0..<output.count {
            var seed = Tensor<Double>(zeros: output.shape)
            seed.scalars[k] = 1
            rows.append(analyticGradients(seed: seed))
        }
        for (position, input) in checked.enumerated() {
            let x = inputs[input]
            var report = GradientCheckReport(input: input, shape: x.shape, maxAbsoluteError: 0, maxRelativeError: 0,
                                             worstIndex: [], worstOutputIndex: [], analytic: 0, numeric: 0, passed: true)
            var worstScore = -1.0
            for j in 0..<x.count {
                var direction = Tensor<Double>(zeros: x.shape)
                direction.scalars[j] = 1
                guard let plus = perturbed(input, direction, options.eps),
                      let minus = perturbed(input, direction, -options.eps) else { return result }
                for k in 0..<output.count {
                    let numeric = (plus.scalars[k] - minus.scalars[k]) / (2 * options.eps)
                    let analytic = rows[k][position].scalars[j]
                    let error = Swift.abs(analytic - numeric)
                    let ok = accept(analytic, numeric) && analytic.isFinite
                    report.maxAbsoluteError = Swift.max(report.maxAbsoluteError, error.isNaN ? .infinity : error)
                    report.maxRelativeError = Swift.max(report.maxRelativeError, relative(analytic, numeric))
                    // The worst element is the one furthest outside (or least inside) its tolerance.
                    let score = error.isNaN ? .infinity : error / (options.absoluteTolerance + options.relativeTolerance * Swift.abs(numeric))
                    if score > worstScore {
                        worstScore = score
                        report.worstIndex = unravel(j, x.shape)
                        report.worstOutputIndex = unravel(k, output.shape)
                        report.analytic = analytic
                        report.numeric = numeric
                    }
                    if !ok { report.passed = false }
                }
            }
            result.reports.append(report)
        }
    case .fast:
        var generator = SeededGenerator(seed: options.seed)
        var reports = checked.map { input in
            GradientCheckReport(input: input, shape: inputs[input].shape, maxAbsoluteError: 0, maxRelativeError: 0,
                                worstIndex: [], worstOutputIndex: [], analytic: 0, numeric: 0, passed: true)
        }
        var worstScores = [Double](repeating: -1, count: checked.count)
        for projection in 0..<Swift.max(options.projections, 1) {
            let v = unitVector(shape: output.shape, using: &generator)
            let gradients = analyticGradients(seed: v)
            for (position, input) in checked.enumerated() {
                let u = unitVector(shape: inputs[input].shape, using: &generator)
                guard let plus = perturbed(input, u, options.eps),
                      let minus = perturbed(input, u, -options.eps) else { return result }
                let numeric = zip(plus.scalars, minus.scalars).enumerated().reduce(0.0) { sum, item in
                    sum + (item.element.0 - item.element.1) / (2 * options.eps) * v.scalars[item.offset]
                }
                let analytic = zip(gradients[position].scalars, u.scalars).reduce(0.0) { $0 + $1.0 * $1.1 }
                let error = Swift.abs(analytic - numeric)
                reports[position].maxAbsoluteError = Swift.max(reports[position].maxAbsoluteError, error.isNaN ? .infinity : error)
                reports[position].maxRelativeError = Swift.max(reports[position].maxRelativeError, relative(analytic, numeric))
                let score = error.isNaN ? .infinity : error / (options.absoluteTolerance + options.relativeTolerance * Swift.abs(numeric))
                if score > worstScores[position] {
                    worstScores[position] = score
                    reports[position].worstIndex = [projection]
                    reports[position].analytic = analytic
                    reports[position].numeric = numeric
                }
                if !(accept(analytic, numeric) && analytic.isFinite) { reports[position].passed = false }
            }
        }
        result.reports = reports
    }
    return result
}

/// A random vector of unit Euclidean norm (normal entries, normalized).
private func unitVector(shape: [Int], using generator: inout SeededGenerator) -> Tensor<Double> {
    let v = Tensor<Double>.randomNormal(shape: shape, using: &generator)
    let norm = v.scalars.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return norm > 0 ? v / norm : v
}

/// The multi-index of a row-major flat index.
func unravel(_ flat: Int, _ shape: [Int]) -> [Int] {
    var index = [Int](repeating: 0, count: shape.count)
    var rest = flat
    for axis in stride(from: shape.count - 1, through: 0, by: -1) where shape[axis] > 0 {
        index[axis] = rest % shape[axis]
        rest /= shape[axis]
    }
    return index
}
