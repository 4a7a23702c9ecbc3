/// A user-defined differentiable operation with its own forward and analytic backward, recorded as
/// one entry on the tape (PyTorch's `torch.autograd.Function`).
///
/// `forward` computes the output from the input values and returns whatever backward needs as
/// `Saved` (tensors, statistics). `backward` maps the gradient of the output to one gradient per
/// input. The normalization layers are built on this protocol.
///
/// ```swift
/// struct Cube: DifferentiableOperation {
///     func forward(_ inputs: [Tensor<Double>]) -> (output: Tensor<Double>, saved: Tensor<Double>) {
///         (inputs[0] * inputs[0] * inputs[0], inputs[0])
///     }
///     func backward(_ gradient: Tensor<Double>, saved x: Tensor<Double>, inputsNeedingGradient: [Bool]) -> [Tensor<Double>?] {
///         [gradient * 3 * x * x]
///     }
/// }
/// let y = Cube().callAsFunction([x])
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

    /// Maps `∂L/∂output` to `∂L/∂input` for each input (`nil` where `inputsNeedingGradient` is false or
    /// the input is not differentiable). Each gradient must have its input's shape.
    func backward(_ gradient: Tensor<Scalar>, saved: Saved, inputsNeedingGradient: [Bool]) -> [Tensor<Scalar>?]
}

extension DifferentiableOperation {
    /// The type name.
    public var name: String { String(describing: Self.self) }

    /// Runs the forward pass on the inputs' values and records one entry on their tape.
    public func callAsFunction(_ inputs: [Variable<Scalar>]) -> Variable<Scalar> {
        // Closures rather than key paths: a key path on a generic type is instantiated at run time on every call.
        let (output, saved) = forward(inputs.map { $0.value })
        let needs = inputs.map { $0.requiresGradient }
        return Variable.record(name, inputs, value: output) { gradient in
            self.backward(gradient, saved: saved, inputsNeedingGradient: needs)
        }
    }
}
