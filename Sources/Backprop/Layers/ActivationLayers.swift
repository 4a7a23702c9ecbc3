/// `max(x, 0)` as a module (PyTorch's `nn.ReLU`).
public final class ReLU<Scalar: TensorScalar>: Module {
    /// Creates the activation.
    public init() {}
    /// Applies `relu()`.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> { x.relu() }
}

/// `x` for `x > 0`, `negativeSlope·x` otherwise (PyTorch's `nn.LeakyReLU`, default slope 0.01).
public final class LeakyReLU<Scalar: TensorScalar>: Module {
    /// The slope for negative inputs.
    public let negativeSlope: Scalar
    /// Creates the activation.
    public init(negativeSlope: Scalar = 0.01) { self.negativeSlope = negativeSlope }
    /// Applies `leakyRelu(negativeSlope:)`.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> { x.leakyRelu(negativeSlope: negativeSlope) }
}

/// The Gaussian error linear unit, exact or tanh-approximated (PyTorch's `nn.GELU`).
public final class GELU<Scalar: TensorScalar>: Module {
    /// Exact (`.none`, the default) or `.tanh`.
    public let approximation: GELUApproximation
    /// Creates the activation.
    public init(approximation: GELUApproximation = .none) { self.approximation = approximation }
    /// Applies `gelu(approximation:)`.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> { x.gelu(approximation: approximation) }
}

/// Hyperbolic tangent as a module (PyTorch's `nn.Tanh`).
public final class Tanh<Scalar: TensorScalar>: Module {
    /// Creates the activation.
    public init() {}
    /// Applies `tanh()`.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> { x.tanh() }
}

/// The logistic sigmoid as a module (PyTorch's `nn.Sigmoid`).
public final class Sigmoid<Scalar: TensorScalar>: Module {
    /// Creates the activation.
    public init() {}
    /// Applies `sigmoid()`.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> { x.sigmoid() }
}

/// `x·σ(x)` as a module (PyTorch's `nn.SiLU`).
public final class SiLU<Scalar: TensorScalar>: Module {
    /// Creates the activation.
    public init() {}
    /// Applies `silu()`.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> { x.silu() }
}

/// The exponential linear unit as a module (PyTorch's `nn.ELU`, default α = 1).
public final class ELU<Scalar: TensorScalar>: Module {
    /// The saturation value for negative inputs.
    public let alpha: Scalar
    /// Creates the activation.
    public init(alpha: Scalar = 1) { self.alpha = alpha }
    /// Applies `elu(alpha:)`.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> { x.elu(alpha: alpha) }
}

/// Softplus as a module (PyTorch's `nn.Softplus`, β = 1, threshold 20).
public final class Softplus<Scalar: TensorScalar>: Module {
    /// The sharpness β.
    public let beta: Scalar
    /// Above `β·x > threshold` the layer is linear.
    public let threshold: Scalar
    /// Creates the activation.
    public init(beta: Scalar = 1, threshold: Scalar = 20) { (self.beta, self.threshold) = (beta, threshold) }
    /// Applies `softplus(beta:threshold:)`.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> { x.softplus(beta: beta, threshold: threshold) }
}
