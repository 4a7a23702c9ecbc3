/// A value the forward pass keeps for a backward rule: the tensor and the index of the record that
/// produced it, but not the tape (a backward rule that held the tape would make a reference cycle,
/// tape → record → rule → tape).
struct SavedVariable<Scalar: TensorScalar> {
    /// The value.
    let value: Tensor<Scalar>
    /// The record that produced it, or −1 for a constant.
    let node: Int

    /// The shape of the value.
    var shape: [Int] { value.shape }
}

extension Variable {
    /// This variable as a backward rule keeps it (see `SavedVariable`).
    var saved: SavedVariable<Scalar> { SavedVariable(value: value, node: node) }
}

/// What a backward rule receives besides the gradient of its output: the tape being swept, so that
/// the values it saved come back as variables on it. When the sweep creates a graph, operations on
/// them are recorded and the gradient flows on through them (second and higher derivatives); when it
/// does not, recording is off and they cost what their kernels cost.
struct BackwardContext<Scalar: TensorScalar> {
    /// The tape being swept.
    let tape: Tape<Scalar>
    /// The record whose rule runs.
    let outputNode: Int
    /// The records of the rule's inputs (−1 for constants).
    let inputNodes: [Int]
    /// Per record of the sweep, whether its gradient is needed (it lies on a path to a requested one),
    /// from index `lowest` on.
    let neededRecords: [Bool]
    /// The lowest record the sweep visits.
    let lowest: Int

    /// A saved value as a variable on the tape (a constant when it was one).
    subscript(saved: SavedVariable<Scalar>) -> Variable<Scalar> {
        Variable(value: saved.value, tape: tape, node: saved.node)
    }

    /// The rule's own output (with the value the forward pass computed), as a variable on the tape.
    func output(_ value: Tensor<Scalar>) -> Variable<Scalar> {
        Variable(value: value, tape: tape, node: outputNode)
    }

    /// A tensor computed by the rule itself that no gradient flows through (a mask, a sign), as a
    /// constant on the tape.
    func constant(_ value: Tensor<Scalar>) -> Variable<Scalar> {
        Variable(value: value, tape: tape, node: -1)
    }

    /// Whether the sweep needs the gradient of input `position`: it requires a gradient and lies on a
    /// path to a requested one. Rules skip the work for inputs that do not.
    func needs(_ position: Int) -> Bool {
        guard position < inputNodes.count else { return false }
        let node = inputNodes[position]
        return node >= lowest && neededRecords[node]
    }

    /// Whether input `position` requires a gradient (needed by this sweep or not).
    func requiresGradient(_ position: Int) -> Bool {
        position < inputNodes.count && inputNodes[position] >= 0
    }

    /// Whether backward rules are being recorded (a graph is being created).
    var isRecording: Bool { GradientMode.isEnabled }
}

/// Malformed results of backward rules (a wrong count, shape, or a missing gradient). Outside the
/// gradient checker they stop the program with a message naming the operation; while the checker
/// runs they are collected, so it can report them as a failure of the op instead of crashing.
enum BackwardDiagnostics {
    /// Collects reports while the gradient checker sweeps.
    final class Collector: @unchecked Sendable {
        var messages: [String] = []
    }

    @TaskLocal static var collector: Collector?

    /// Reports a malformed result of `op`'s backward rule.
    static func report(_ op: String, _ message: String) {
        guard let collector else { usageError(op, message) }
        let line = "\(op): \(message)"
        if !collector.messages.contains(line) { collector.messages.append(line) }
    }

    /// Runs `body`, returning what it reported instead of stopping.
    static func collecting<Result>(_ body: () throws -> Result) rethrows -> (Result, [String]) {
        let collector = Collector()
        let result = try $collector.withValue(collector) { try body() }
        return (result, collector.messages)
    }
}
