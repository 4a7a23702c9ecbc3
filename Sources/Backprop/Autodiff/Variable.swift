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

    /// Whether gradients flow back through this variable.
    public var requiresGradient: Bool { node >= 0 }

    /// The same value cut off from the tape: no gradient flows back through the result.
    public func detached() -> Variable {
        Variable(value: value, tape: tape, node: -1)
    }

    /// For a leaf created with `tape.variable(_:)`, the gradient accumulated by `backward()`.
    public var grad: Tensor<Scalar>? {
        guard node >= 0, let tape else { return nil }
        return tape.leafGradients[node]
    }

    /// Accumulates gradients from this one-element output into every leaf of its tape
    /// (PyTorch's `loss.backward()`), then releases the tape.
    ///
    /// - Parameters:
    ///   - seed: The gradient with respect to this variable; required when it has more than one element.
    ///   - retainGraph: Keep the tape for another sweep.
    public func backward(seed: Tensor<Scalar>? = nil, retainGraph: Bool = false) {
        guard let tape else {
            shapeError("backward", "this variable is a constant with no tape; create inputs with tape.variable(_:) or tape.constant(_:)")
        }
        tape.backward(from: self, seed: seed, retainGraph: retainGraph)
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
    /// The tape shared by a group of inputs, failing when they come from two different tapes.
    static func commonTape(_ inputs: [Variable], op: String) -> Tape<Scalar>? {
        var tape: Tape<Scalar>?
        for input in inputs {
            guard let t = input.tape else { continue }
            if let existing = tape, existing !== t {
                shapeError(op, "mixes variables from two different tapes; every input of an operation must be recorded on the same tape")
            }
            tape = t
        }
        return tape
    }

    /// Records an operation with the given inputs, value and pullback.
    ///
    /// The pullback receives the gradient of the output and returns one gradient per input (or
    /// `nil` for an input that needs none), each with its input's shape. Nothing is recorded when no
    /// input requires a gradient or inside a no-grad scope; the result is then a constant on the
    /// inputs' tape.
    ///
    /// This runs once per operation, so it makes one pass over the inputs and no key-path or
    /// dictionary look-ups.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func record(_ name: String, _ inputs: [Variable], value: Tensor<Scalar>,
                       pullback: @escaping (Tensor<Scalar>) -> [Tensor<Scalar>?]) -> Variable {
        var tape: Tape<Scalar>?
        var needsGradient = false
        for input in inputs {
            if input.node >= 0 { needsGradient = true }
            guard let t = input.tape else { continue }
            if let existing = tape, existing !== t {
                shapeError(name, "mixes variables from two different tapes; every input of an operation must be recorded on the same tape")
            }
            tape = t
        }
        let anomalyContext = AnomalyDetection.isEnabled ? AnomalyDetection.captureContext(inputShapes: inputs.map { $0.shape }) : nil
        guard let tape, needsGradient, GradientMode.isEnabled else {
            if anomalyContext != nil { AnomalyDetection.checkForward(name, value: value, node: -1, context: anomalyContext) }
            return Variable(value: value, tape: tape, node: -1)
        }
        var nodes: [Int] = []
        nodes.reserveCapacity(inputs.count)
        for input in inputs { nodes.append(input.node) }
        return tape.append(name, value: value, inputs: nodes, anomalyContext: anomalyContext, pullback: pullback)
    }

    /// Records a one-input operation.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func record(_ name: String, _ value: Tensor<Scalar>, pullback: @escaping (Tensor<Scalar>) -> Tensor<Scalar>) -> Variable {
        Variable.record(name, [self], value: value) { [pullback($0)] }
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
