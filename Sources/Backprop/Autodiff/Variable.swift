/// A tensor that takes part in differentiation: its value, and the tape record that produced it.
///
/// Operations on variables compute their value at once and append one record to the tape.
/// A variable with no tape (made with `Variable(_:)`) is a constant: operations on constants
/// record nothing. Mixing variables from two different tapes is an error.
public struct Variable<Scalar: TensorScalar> {
    /// The value computed by the forward pass.
    public let value: Tensor<Scalar>
    /// The tape this variable was recorded on, if any.
    public let tape: Tape<Scalar>?
    /// The index of this variable's record on the tape, or `-1` when it needs no gradient.
    let node: Int

    init(value: Tensor<Scalar>, tape: Tape<Scalar>?, node: Int) {
        self.value = value
        self.tape = tape
        self.node = node
    }

    /// A constant: no tape, no gradient.
    public init(_ value: Tensor<Scalar>) {
        self.init(value: value, tape: nil, node: -1)
    }

    /// The shape of the value.
    public var shape: [Int] { value.shape }
    /// The rank of the value.
    public var rank: Int { value.rank }

    /// The value of a one-element variable (PyTorch's `.item()`), for logging a loss or an accuracy.
    /// Stops with a message naming the shape when the variable has more than one element.
    public var item: Scalar {
        guard value.count == 1 else {
            usageError("item", "only a one-element variable has an item; this one has shape \(shape) (\(value.count) elements)")
        }
        return value.scalars[0]
    }

    /// Whether gradients flow back through this variable.
    public var requiresGradient: Bool { node >= 0 }

    /// The same value cut off from the tape: no gradient flows back through the result.
    public func detached() -> Variable {
        Variable(value: value, tape: tape, node: -1)
    }

    /// For a leaf created with `tape.variable(_:)`, the gradient accumulated by `backward()`.
    public var grad: Tensor<Scalar>? {
        guard node >= 0, let tape else { return nil }
        return tape.leafGradients[node]?.value
    }

    /// Accumulates gradients from this one-element output into every leaf of its tape
    /// (PyTorch's `loss.backward()`), then releases the tape.
    ///
    /// - Parameters:
    ///   - seed: The gradient with respect to this variable; required when it has more than one element.
    ///   - retainGraph: Keep the tape for another sweep; defaults to `createGraph`.
    ///   - createGraph: Record the backward rules, so each leaf's gradient is a differentiable variable
    ///     (`tape.accumulatedGradient(for:)`) — PyTorch's `create_graph=True`.
    public func backward(seed: Tensor<Scalar>? = nil, retainGraph: Bool? = nil, createGraph: Bool = false) {
        guard let tape else {
            usageError("backward", "this variable is a constant with no tape; create inputs with tape.variable(_:) or tape.constant(_:)")
        }
        tape.backward(from: self, seed: seed, retainGraph: retainGraph, createGraph: createGraph)
    }
}

extension Variable: CustomStringConvertible {
    /// The value's description, marked when the variable requires a gradient.
    public var description: String {
        "Variable(\(value.description)\(requiresGradient ? ", requiresGradient" : ""))"
    }
}

// MARK: - Recording

extension Variable {
    /// Records an operation with the given inputs, value and backward rule.
    ///
    /// The rule receives the gradient of the output (a variable) and a context that brings saved
    /// values back as variables on the tape; it returns one gradient per input (or `nil` for an input
    /// that needs none), each with its input's shape, written in `Variable` operations so that it is
    /// itself differentiable. Nothing is recorded when no input requires a gradient or inside a
    /// no-grad scope; the result is then a constant on the inputs' tape.
    ///
    /// This runs once per operation, so it makes one pass over the inputs and no key-path or
    /// dictionary look-ups.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func record(_ name: String, _ inputs: [Variable], value: Tensor<Scalar>,
                       pullback: @escaping Tape<Scalar>.Pullback) -> Variable {
        guard let (tape, nodes, anomalyContext) = recordingTarget(name, inputs) else {
            checkUnrecordedForAnomalies(name, inputs, [value])
            return Variable(value: value, tape: commonTape(inputs), node: -1)
        }
        return tape.append(name, value: value, inputs: nodes, anomalyContext: anomalyContext, pullback: pullback)
    }

    /// Records a two-input operation (without building an input list when nothing is recorded, the
    /// common case of a backward rule's own operations).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func record(_ name: String, _ a: Variable, _ b: Variable, value: Tensor<Scalar>,
                       pullback: @escaping Tape<Scalar>.Pullback) -> Variable {
        if let ta = a.tape, let tb = b.tape, ta !== tb {
            usageError(name, "mixes variables from two different tapes; every input of an operation must be recorded on the same tape")
        }
        guard a.node >= 0 || b.node >= 0, GradientMode.isEnabled else {
            if AnomalyDetection.isEnabled { checkUnrecordedForAnomalies(name, [a, b], [value]) }
            return Variable(value: value, tape: a.tape ?? b.tape, node: -1)
        }
        return record(name, [a, b], value: value, pullback: pullback)
    }

    /// Records a one-input operation.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func record(_ name: String, _ value: Tensor<Scalar>,
                pullback: @escaping (Variable, BackwardContext<Scalar>) -> Variable) -> Variable {
        // The common case of a backward rule's own operations (recording off) without building an
        // input list.
        guard node >= 0, tape != nil, GradientMode.isEnabled else {
            if AnomalyDetection.isEnabled { Variable.checkUnrecordedForAnomalies(name, [self], [value]) }
            return Variable(value: value, tape: tape, node: -1)
        }
        return Variable.record(name, [self], value: value) { g, context in [pullback(g, context)] }
    }

    /// Records an operation with several outputs (for example a fused backward that produces the
    /// gradients of an input and of the parameters at once). Its rule receives one gradient per
    /// output (`nil` where none arrived) and returns one per input.
    static func record(_ name: String, _ inputs: [Variable], values: [Tensor<Scalar>],
                       pullback: @escaping Tape<Scalar>.TuplePullback) -> [Variable] {
        guard let (tape, nodes, anomalyContext) = recordingTarget(name, inputs) else {
            checkUnrecordedForAnomalies(name, inputs, values)
            let tape = commonTape(inputs)
            return values.map { Variable(value: $0, tape: tape, node: -1) }
        }
        return tape.append(name, values: values, inputs: nodes, anomalyContext: anomalyContext, pullback: pullback)
    }

    /// The tape to record on and the inputs' nodes, or `nil` when nothing is recorded (no input needs
    /// a gradient, or recording is off). Stops when the inputs come from two different tapes.
    @inline(__always)
    static func recordingTarget(_ name: String, _ inputs: [Variable])
        -> (tape: Tape<Scalar>, nodes: [Int], anomalyContext: AnomalyDetection.Context?)? {
        var tape: Tape<Scalar>?
        var needsGradient = false
        for input in inputs {
            if input.node >= 0 { needsGradient = true }
            guard let t = input.tape else { continue }
            if let existing = tape, existing !== t {
                usageError(name, "mixes variables from two different tapes; every input of an operation must be recorded on the same tape")
            }
            tape = t
        }
        guard let tape, needsGradient, GradientMode.isEnabled else {
            return nil
        }
        let anomalyContext = AnomalyDetection.isEnabled ? AnomalyDetection.captureContext(inputShapes: inputs.map { $0.shape }) : nil
        var nodes: [Int] = []
        nodes.reserveCapacity(inputs.count)
        for input in inputs { nodes.append(input.node) }
        return (tape, nodes, anomalyContext)
    }

    /// With anomaly detection on, checks the values of an operation that was not recorded.
    @inline(__always)
    static func checkUnrecordedForAnomalies(_ name: String, _ inputs: [Variable], _ values: [Tensor<Scalar>]) {
        guard AnomalyDetection.isEnabled else { return }
        let context = AnomalyDetection.captureContext(inputShapes: inputs.map { $0.shape })
        for value in values { AnomalyDetection.checkForward(name, value: value, node: -1, context: context) }
    }

    /// The tape shared by the inputs, if any (they have been checked to share one).
    static func commonTape(_ inputs: [Variable]) -> Tape<Scalar>? {
        for input in inputs { if let tape = input.tape { return tape } }
        return nil
    }

    /// Whether an operation on `inputs` would be recorded now: one of them requires a gradient and
    /// recording is on. Ops use it to skip work that only their backward rule needs.
    static func isRecorded(_ inputs: [Variable]) -> Bool {
        GradientMode.isEnabled && inputs.contains { $0.node >= 0 && $0.tape != nil }
    }
}

/// Whether operations on variables are being recorded (off inside `withoutGradients`).
public enum GradientMode {
    @TaskLocal static var disabled = false

    /// Whether recording is on for the current task or thread.
    public static var isEnabled: Bool { !disabled }
}

/// Runs `body` without recording any operation (PyTorch's `torch.no_grad()`), for evaluation.
///
/// Variables computed inside are constants; parameters used inside receive no gradient.
public func withoutGradients<Result>(_ body: () throws -> Result) rethrows -> Result {
    try GradientMode.$disabled.withValue(true) { try body() }
}

/// Runs `body` with recording on, even inside `withoutGradients` (PyTorch's `torch.enable_grad()`).
public func withGradients<Result>(_ body: () throws -> Result) rethrows -> Result {
    try GradientMode.$disabled.withValue(false) { try body() }
}
