/// The two forms of GELU that PyTorch offers.
public enum GELUApproximation: Sendable {
    /// `x·Φ(x)` with the exact normal CDF, `Φ(x) = ½(1 + erf(x/√2))`.
    case none
    /// `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`.
    case tanh
}

extension Variable {
    /// Hyperbolic tangent. Backward: ∂L/∂x = g·(1 − y²).
    public func tanh() -> Variable {
        let y = value.tanh()
        return record("tanh", y) { g in g * (1 - y.squared()) }
    }

    /// Logistic sigmoid `σ(x) = 1/(1 + e^(−x))`, stable for large |x|. Backward: ∂L/∂x = g·y·(1 − y).
    public func sigmoid() -> Variable {
        let y = value.sigmoid()
        return record("sigmoid", y) { g in g * y * (1 - y) }
    }

    /// `max(x, 0)`. Backward: ∂L/∂x = g where x > 0, else 0.
    public func relu() -> Variable {
        let x = value
        return record("relu", x.relu()) { g in g * x.applying(.reluDerivative) }
    }

    /// `x` for x > 0, `negativeSlope·x` otherwise. Backward: ∂L/∂x = g·(x > 0 ? 1 : negativeSlope).
    public func leakyRelu(negativeSlope: Scalar = 0.01) -> Variable {
        let x = value
        let slope = Double(negativeSlope)
        return record("leakyRelu", x.applying(.leakyRelu(slope))) { g in g * x.applying(.leakyReluDerivative(slope)) }
    }

    /// `x` for x > 0, `α(eˣ − 1)` otherwise. Backward: ∂L/∂x = g·(x > 0 ? 1 : α·eˣ).
    public func elu(alpha: Scalar = 1) -> Variable {
        let x = value
        let a = Double(alpha)
        return record("elu", x.applying(.elu(a))) { g in g * x.applying(.eluDerivative(a)) }
    }

    /// Gaussian error linear unit.
    ///
    /// Exact: `y = x·Φ(x)`, ∂y/∂x = Φ(x) + x·φ(x). Tanh form: `y = ½x(1 + tanh(u))` with
    /// `u = √(2/π)(x + 0.044715x³)`, ∂y/∂x = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²).
    public func gelu(approximation: GELUApproximation = .none) -> Variable {
        let x = value
        switch approximation {
        case .none:
            return record("gelu", x.applying(.geluExact)) { g in g * x.applying(.geluExactDerivative) }
        case .tanh:
            return record("geluTanh", x.applying(.geluTanh)) { g in g * x.applying(.geluTanhDerivative) }
        }
    }

    /// SiLU (swish) `x·σ(x)`. Backward: ∂L/∂x = g·σ(x)(1 + x(1 − σ(x))).
    public func silu() -> Variable {
        let x = value
        return record("silu", x.applying(.silu)) { g in g * x.applying(.siluDerivative) }
    }

    /// Softplus `log(1 + e^(βx))/β`, linear (`x`) where `βx > threshold`, as PyTorch.
    ///
    /// Backward: ∂L/∂x = g·σ(βx), or g where `βx > threshold`.
    public func softplus(beta: Scalar = 1, threshold: Scalar = 20) -> Variable {
        let x = value
        let z = x * beta
        let linear = z .> Tensor(threshold)
        let y = Tensor.select(linear, x, z.applying(.softplus) / beta)
        return record("softplus", y) { g in g * Tensor.select(linear, Tensor(1), z.sigmoid()) }
    }

    /// Randomly zeroes elements with probability `probability` and scales the rest by `1/(1 − p)`
    /// during training; the identity when `isTraining` is false.
    ///
    /// Backward: ∂L/∂x = g·mask, with the same mask.
    ///
    /// - Parameters:
    ///   - probability: The chance of zeroing each element, in `[0, 1]`.
    ///   - isTraining: Apply dropout (true) or pass the input through (false).
    ///   - generator: The seeded source of the mask.
    public func dropout(probability: Scalar, isTraining: Bool, using generator: inout SeededGenerator) -> Variable {
        guard probability >= 0 && probability <= 1 else {
            shapeError("dropout", "probability \(probability) must be in [0, 1]")
        }
        guard isTraining && probability > 0 else { return self }
        let keep = 1 - Double(probability)
        let scale: Scalar = keep > 0 ? Scalar(1 / keep) : 0
        var mask = Tensor<Scalar>(zeros: shape)
        for i in 0..<mask.count where generator.nextUnit() < keep { mask.scalars[i] = scale }
        return record("dropout", value * mask) { g in g * mask }
    }
}
