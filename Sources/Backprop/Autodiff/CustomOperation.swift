/// A user-defined differentiable operation with its own forward and analytic backward, recorded as
/// one entry on the tape (PyTorch's `torch.autograd.Function`).
///
/// `forward` computes the output from the input values and returns whatever backward needs as
/// `Saved`. The backward comes in two forms; implement one:
///
/// - `backward(_:inputs:output:saved:)`, written in `Variable` operations on the inputs and output
///   it receives. The operation is then differentiable to any order: second derivatives flow
///   through the operations the rule uses (that is why it receives the inputs as variables — a
///   value taken from `saved` is a constant to the next order, which is right only if it does not
///   depend on the inputs).
/// - `backward(_:saved:inputsNeedingGradient:)`, on tensors. The operation is then differentiable
///   once: a gradient recorded with `createGraph: true` that flows back into it again stops with a
///   message naming the operation (never a silent zero).
///
/// ```swift
/// struct Cube: DifferentiableOperation {
///     func forward(_ inputs: [Tensor<Double>]) -> (output: Tensor<Double>, saved: Void) {
///         (inputs[0] * inputs[0] * inputs[0], ())
///     }
///     func backward(_ gradient: Variable<Double>, inputs: [Variable<Double>], output: Variable<Double>,
///                   saved: Void) -> [Variable<Double>?]? {
///         [gradient * inputs[0].squared() * 3]          // differentiable again: 6x·g at second order
///     }
/// }
/// let y = Cube()([x])
/// ```
public protocol DifferentiableOperation<Scalar> {
    /// The scalar type of the inputs and the output.
    associatedtype Scalar: TensorScalar
    /// What the forward pass keeps for the backward pass.
    associatedtype Saved

    /// The name shown in errors and anomaly reports (defaults to the type name).
    var name: String { get }

    /// Computes the output and the values saved for backward.
    func forward(_ inputs: [Tensor<Scalar>]) -> (output: Tensor<Scalar>, saved: Saved)

    /// The backward on tensors: maps `∂L/∂output` to `∂L/∂input` for each input (`nil` where
    /// `inputsNeedingGradient` is false or the input is not differentiable). Each gradient must have
    /// its input's shape. Used only when the `Variable` form returns `nil`; the default stops with a
    /// message asking for one of the two forms.
    func backward(_ gradient: Tensor<Scalar>, saved: Saved, inputsNeedingGradient: [Bool]) -> [Tensor<Scalar>?]

    /// The backward in `Variable` operations: maps `∂L/∂output` to `∂L/∂input` for each input (`nil`
    /// for an input that needs no gradient, `inputs[i].requiresGradient == false`), each with its
    /// input's shape. Return `nil` (the default) when the operation has only the tensor form.
    ///
    /// - Parameters:
    ///   - gradient: `∂L/∂output`.
    ///   - inputs: The inputs, as variables on the tape being swept.
    ///   - output: The output, as a variable on the tape (its value is the forward's output).
    ///   - saved: What `forward` saved.
    func backward(_ gradient: Variable<Scalar>, inputs: [Variable<Scalar>], output: Variable<Scalar>,
                  saved: Saved) -> [Variable<Scalar>?]?
}

extension DifferentiableOperation {
    /// The type name.
    public var name: String { String(describing: Self.self) }

    /// No `Variable` form: the operation is differentiable once.
    public func backward(_ gradient: Variable<Scalar>, inputs: [Variable<Scalar>], output: Variable<Scalar>,
                         saved: Saved) -> [Variable<Scalar>?]? {
        nil
    }

    /// Stops with a message: an operation must implement one of the two backward forms.
    public func backward(_ gradient: Tensor<Scalar>, saved: Saved, inputsNeedingGradient: [Bool]) -> [Tensor<Scalar>?] {
        usageError(name, "implements neither backward form: write backward(_:inputs:output:saved:) in Variable operations (differentiable to any order) or backward(_:saved:inputsNeedingGradient:) on tensors")
    }

    /// Runs the forward pass on the inputs' values and records one entry on their tape.
    public func callAsFunction(_ inputs: [Variable<Scalar>]) -> Variable<Scalar> {
        applyKeepingSaved(inputs).output
    }

    /// Runs the forward pass, records one entry on the inputs' tape, and also returns what was saved.
    func applyKeepingSaved(_ inputs: [Variable<Scalar>]) -> (output: Variable<Scalar>, saved: Saved) {
        // Closures rather than key paths: a key path on a generic type is instantiated at run time on every call.
        let (output, saved) = forward(inputs.map { $0.value })
        let savedInputs = inputs.map { $0.saved }
        let name = self.name
        let variable = Variable.record(name, inputs, value: output) { gradient, tape in
            let inputVariables = savedInputs.map { tape[$0] }
            let needs = savedInputs.indices.map { tape.requiresGradient($0) }
            if let gradients = self.backward(gradient, inputs: inputVariables, output: tape.output(output), saved: saved) {
                return checked(gradients, needs: needs, name: name)
            }
            let tensors = checked(self.backward(gradient.value, saved: saved, inputsNeedingGradient: needs), needs: needs, name: name)
            guard tape.isRecording else { return tensors.map { $0.map { tape.constant($0) } } }
            return onceDifferentiable(tensors, gradient: gradient, inputs: inputVariables)
        }
        return (variable, saved)
    }

    /// The user's gradients, one per input with none missing where an input requires one; a malformed
    /// result is reported (it stops the program, or fails the gradient checker) and padded with `nil`.
    private func checked<Gradient>(_ gradients: [Gradient?], needs: [Bool], name: String) -> [Gradient?] {
        guard gradients.count == needs.count else {
            BackwardDiagnostics.report(name, "backward returned \(gradients.count) gradients for \(needs.count) inputs")
            return Array(gradients.prefix(needs.count)) + Array(repeating: nil, count: Swift.max(0, needs.count - gradients.count))
        }
        for (position, gradient) in gradients.enumerated() where gradient == nil && needs[position] {
            BackwardDiagnostics.report(name, "backward returned no gradient (nil) for input \(position), which requires one")
        }
        return gradients
    }

    /// Gradients from the tensor-only backward while a graph is being created: recorded as the outputs
    /// of one entry that depends on the upstream gradient and the inputs, whose own backward stops with
    /// a message (or, under the gradient checker, reports a failure) instead of a silent zero.
    private func onceDifferentiable(_ tensors: [Tensor<Scalar>?], gradient: Variable<Scalar>,
                                    inputs: [Variable<Scalar>]) -> [Variable<Scalar>?] {
        let present = tensors.indices.filter { tensors[$0] != nil }
        let sources = [gradient] + inputs
        let shapes = sources.map(\.shape)
        let name = self.name
        let outputs = Variable.record("\(name) backward", sources, values: present.map { tensors[$0]! }) { _, tape in
            BackwardDiagnostics.report(name, "its backward is tensor-only (backward(_:saved:inputsNeedingGradient:)), so it can be differentiated once, and a gradient recorded with createGraph: true flowed back into it; write backward(_:inputs:output:saved:) in Variable operations to differentiate it again")
            return shapes.map { tape.constant(Tensor(zeros: $0)) }
        }
        var result = [Variable<Scalar>?](repeating: nil, count: tensors.count)
        for (k, position) in present.enumerated() { result[position] = outputs[k] }
        return result
    }
}
