/// A trainable tensor owned by a module: its value and the gradient accumulated by `backward()`.
///
/// Parameters are reference types so that a module, its optimizer and every tape that reads the
/// parameter refer to the same storage. Use `tape.variable(for:)` to read one on a tape.
public final class Parameter<Scalar: TensorScalar>: @unchecked Sendable {
    /// The current value.
    ///
    /// Setting or mutating it drops the packed copy an inference-time `Linear` may keep of it
    /// (`PackedWeightCache`), so a product never reads a stale copy.
    public var value: Tensor<Scalar> {
        didSet { packedCopy.withLock { $0 = nil } }
    }
    /// The packed copy of `value` for inference-time products (a `PackedWeight`), or `nil`.
    let packedCopy = PThreadLocked<AnyObject?>(nil)
    /// The sum of gradients from every `backward()` since the last `zeroGradient()`; `nil` before any.
    public var grad: Tensor<Scalar>?
    /// Whether `backward()` computes a gradient for this parameter (set `false` to freeze it).
    public var requiresGradient: Bool

    /// Creates a parameter with an initial value.
    public init(_ value: Tensor<Scalar>, requiresGradient: Bool = true) {
        self.value = value
        self.requiresGradient = requiresGradient
    }

    /// The shape of the value.
    public var shape: [Int] { value.shape }

    /// This parameter on the tape of `x`, for a module's forward pass: the tape's leaf for it (so
    /// `backward()` adds to `grad`), or a constant when `x` has no tape (inside `withoutGradients`, or
    /// for constant inputs) or the parameter is frozen.
    ///
    /// ```swift
    /// final class Scale: Module {
    ///     let factor = Parameter(Tensor<Float>([2]))
    ///     func callAsFunction(_ x: Variable<Float>) -> Variable<Float> { x * factor.variable(on: x) }
    /// }
    /// ```
    public func variable(on x: Variable<Scalar>) -> Variable<Scalar> {
        guard let tape = x.tape else { return Variable(value) }
        return tape.variable(for: self)
    }

    /// Clears the accumulated gradient (PyTorch's `zero_grad(set_to_none=True)`).
    public func zeroGradient() { grad = nil }

    func accumulate(_ gradient: Tensor<Scalar>) {
        if grad == nil {
            grad = gradient
        } else {
            grad! += gradient
        }
    }
}
