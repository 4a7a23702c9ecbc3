extension Tensor {
    /// `eˣ` elementwise.
    public func exp() -> Tensor { applying(.exp) }
    /// Natural logarithm elementwise.
    public func log() -> Tensor { applying(.log) }
    /// Square root elementwise.
    public func sqrt() -> Tensor { applying(.sqrt) }
    /// `1/√x` elementwise.
    public func rsqrt() -> Tensor { applying(.rsqrt) }
    /// Absolute value elementwise.
    public func abs() -> Tensor { applying(.abs) }
    /// `x²` elementwise.
    public func squared() -> Tensor { applying(.square) }
    /// Hyperbolic tangent elementwise.
    public func tanh() -> Tensor { applying(.tanh) }
    /// Logistic sigmoid `1/(1 + e^(−x))`, computed without overflow.
    public func sigmoid() -> Tensor { applying(.sigmoid) }
    /// `max(x, 0)` elementwise.
    public func relu() -> Tensor { applying(.relu) }
    /// The sign (−1, 0 or 1) elementwise.
    public func sign() -> Tensor { applying(.sign) }
    /// Sine elementwise.
    public func sin() -> Tensor { applying(.sin) }
    /// Cosine elementwise.
    public func cos() -> Tensor { applying(.cos) }
    /// Error function elementwise.
    public func erf() -> Tensor { applying(.erf) }
    /// Clamps every element into `[lowerBound, upperBound]`.
    public func clamped(to range: ClosedRange<Scalar>) -> Tensor {
        applying(.clamp(Double(range.lowerBound), Double(range.upperBound)))
    }
    /// Whether every element is finite (no NaN, no infinity).
    public var isFinite: Bool { scalars.allSatisfy { $0.isFinite } }
}
