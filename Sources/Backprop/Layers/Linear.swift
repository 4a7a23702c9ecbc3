/// A fully connected layer `y = x·Wᵀ + b` (PyTorch's `nn.Linear`).
///
/// The weight has shape `[outputSize, inputSize]` and the bias `[outputSize]`, with PyTorch's
/// default initialization: Kaiming-uniform with `a = √5`, which is `U(−1/√inputSize, 1/√inputSize)`
/// for both. The input may have any leading axes: `[…, inputSize]` → `[…, outputSize]`.
public final class Linear<Scalar: TensorScalar>: Module {
    /// `[outputSize, inputSize]`.
    public let weight: Parameter<Scalar>
    /// `[outputSize]`, or `nil` without bias.
    public let bias: Parameter<Scalar>?
    /// Training or evaluation mode (no effect on this layer).
    public var isTraining = true

    /// Creates a layer with PyTorch's default initialization.
    ///
    /// - Parameters:
    ///   - inputSize: The size of the last axis of the input.
    ///   - outputSize: The size of the last axis of the output.
    ///   - bias: Whether to add a learned bias.
    ///   - generator: The seeded source of the initial values.
    public init(inputSize: Int, outputSize: Int, bias: Bool = true, generator: inout SeededGenerator) {
        guard inputSize > 0 && outputSize > 0 else {
            shapeError("Linear", "inputSize \(inputSize) and outputSize \(outputSize) must be positive")
        }
        let bound = Scalar(1 / Double(inputSize).squareRoot())
        weight = Parameter(Tensor.randomUniform(shape: [outputSize, inputSize], in: -bound..<bound, using: &generator))
        self.bias = bias ? Parameter(Tensor.randomUniform(shape: [outputSize], in: -bound..<bound, using: &generator)) : nil
    }

    /// Creates a layer with the given weight `[outputSize, inputSize]` and optional bias `[outputSize]`.
    public init(weight: Tensor<Scalar>, bias: Tensor<Scalar>? = nil) {
        guard weight.rank == 2, bias.map({ $0.shape == [weight.shape[0]] }) ?? true else {
            shapeError("Linear", "weight must have shape [outputSize, inputSize] and bias [outputSize], got \(weight.shape) and \(bias?.shape ?? [])")
        }
        self.weight = Parameter(weight)
        self.bias = bias.map { Parameter($0) }
    }

    /// `x·Wᵀ + b` over the last axis.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        let inputSize = weight.shape[1]
        guard x.rank >= 1, x.shape[x.rank - 1] == inputSize else {
            shapeError("Linear", "input shape \(x.shape) must end in inputSize \(inputSize)")
        }
        let w = lift(weight, for: x)!
        let y = x.matmul(w.transposed())
        guard let b = lift(bias, for: x) else { return y }
        return y + b
    }
}
