/// The two forms of GELU that PyTorch offers.
public enum GELUApproximation: Sendable {
    /// `x·Φ(x)` with the exact normal CDF, `Φ(x) = ½(1 + erf(x/√2))`.
    case none
    /// `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`.
    case tanh
}

extension Variable {
    /// Hyperbolic tangent. Backward: ∂L/∂x = g·(1 − y²).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func tanh() -> Variable {
        let y = value.tanh()
        return record("tanh", y) { g, tape in g * (1 - tape.output(y).squared()) }
    }

    /// Logistic sigmoid `σ(x) = 1/(1 + e^(−x))`, stable for large |x|. Backward: ∂L/∂x = g·y·(1 − y).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func sigmoid() -> Variable {
        let y = value.sigmoid()
        return record("sigmoid", y) { g, tape in
            let output = tape.output(y)
            return g * output * (1 - output)
        }
    }

    /// `max(x, 0)`, NaN kept (PyTorch's `relu`). Backward: ∂L/∂x = 0 where x ≤ 0, else g — so a NaN
    /// input passes g, as PyTorch's `threshold_backward` (a constant mask: higher derivatives are 0).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func relu() -> Variable {
        let x = value
        return record("relu", x.relu()) { g, tape in g * tape.constant(Elementwise.map(x) { $0 <= 0 ? 0 : 1 }) }
    }

    /// `x` for x > 0, `negativeSlope·x` otherwise. Backward: ∂L/∂x = g·(x > 0 ? 1 : negativeSlope).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func leakyRelu(negativeSlope: Scalar = 0.01) -> Variable {
        Hyperparameter.checkFinite(negativeSlope, name: "negativeSlope", op: "leakyRelu")
        let x = value
        let slope = Double(negativeSlope)
        // The derivative x > 0 ? 1 : slope is piecewise constant: a mask to the next order.
        let a = negativeSlope
        return record("leakyRelu", x.applying(.leakyRelu(slope))) { g, tape in
            g * tape.constant(Elementwise.map(x) { $0 > 0 ? 1 : a })
        }
    }

    /// `x` for x > 0, `α(eˣ − 1)` otherwise.
    ///
    /// Backward: ∂L/∂x = g·D(x) with D(x) = x > 0 ? 1 : α·eˣ; D′(x) = x ≤ 0 ? D(x) : 0. At x = NaN the
    /// gradient is NaN — a deliberate difference: PyTorch's CPU `elu_backward` gives NaN in its
    /// vectorized loop but g in its scalar remainder, so its answer depends on the tensor's size.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func elu(alpha: Scalar = 1) -> Variable {
        Hyperparameter.checkFinite(alpha, name: "alpha", op: "elu")
        let x = saved
        let a = Double(alpha)
        return record("elu", value.applying(.elu(a))) { g, tape in g * tape[x].eluDerivative(alpha: a) }
    }

    /// D(x) = x > 0 ? 1 : α·eˣ, the derivative of ELU. Backward: ∂L/∂x = g·(x ≤ 0)·D(x).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func eluDerivative(alpha: Double) -> Variable {
        let nonPositive = value .<= Tensor(0)
        let a = Scalar(alpha)
        let d = Elementwise.map(value) { $0 > 0 ? 1 : a * Scalar.exp($0) }
        return record("eluDerivative", d) { g, tape in g * tape.constant(nonPositive) * tape.output(d) }
    }

    /// Gaussian error linear unit.
    ///
    /// Exact: `y = x·Φ(x)`, ∂y/∂x = Φ(x) + x·φ(x), ∂²y/∂x² = φ(x)·(2 − x²). Tanh form:
    /// `y = ½x(1 + T)` with `T = tanh(u)`, `u = k(x + cx³)`, k = √(2/π), c = 0.044715:
    /// ∂y/∂x = ½(1 + T) + ½x(1 − T²)u′, ∂²y/∂x² = (1 − T²)(u′ − xTu′² + ½xu″), u′ = k(1 + 3cx²), u″ = 6kcx.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func gelu(approximation: GELUApproximation = .none) -> Variable {
        let x = saved
        switch approximation {
        case .none:
            return record("gelu", value.applying(.geluExact)) { g, tape in g.timesGELUDerivative(at: tape[x], approximation: .none) }
        case .tanh:
            return record("geluTanh", value.applying(.geluTanh)) { g, tape in g.timesGELUDerivative(at: tape[x], approximation: .tanh) }
        }
    }

    /// `g·D(x)`, GELU's backward, as one op (one pass, like PyTorch's `gelu_backward`), where `g`
    /// is `self` and D = ∂GELU/∂x (see `gelu`). Backward: ∂L/∂g = w·D(x) and ∂L/∂x = w·g·D′(x),
    /// each written in `Variable` ops, so every order stays differentiable.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func timesGELUDerivative(at x: Variable, approximation: GELUApproximation) -> Variable {
        let (sg, sx) = (saved, x.saved)
        let value = approximation == .none
            ? Elementwise.multiplying(self.value, byMapOf: x.value, vectorized: .geluDerivative, Variable.exactGELUDerivative)
            : Elementwise.multiplying(self.value, byMapOf: x.value, Variable.tanhGELUDerivative)
        let name = approximation == .none ? "geluBackward" : "geluTanhBackward"
        return Variable.record(name, self, x, value: value) { w, tape in
            let x = tape[sx]
            return [tape.needs(0) ? w * x.geluDerivative(approximation: approximation) : nil,
                    tape.needs(1) ? w * tape[sg] * Variable.geluSecondDerivative(x, approximation: approximation) : nil]
        }
    }

    /// ∂²GELU/∂x² in `Variable` ops (see `gelu` for the formulas).
    static func geluSecondDerivative(_ x: Variable, approximation: GELUApproximation) -> Variable {
        let squares = x.squared()
        switch approximation {
        case .none:
            return (squares * -0.5).exp() * Scalar(1 / (2 * Double.pi).squareRoot()) * (2 - squares)
        case .tanh:
            let (k, c) = (Scalar((2 / Double.pi).squareRoot()), Scalar(0.044715))
            let t = ((x + x * squares * c) * k).tanh()
            let du = (squares * (3 * c) + 1) * k
            return (1 - t.squared()) * (du - x * t * du.squared() + squares * (3 * k * c))
        }
    }

    /// ∂GELU/∂x as an op of its own (see `gelu` for the formulas), so GELU's backward is differentiable:
    /// its value in one elementwise pass (vectorized in C for `Float`'s exact form), its backward the
    /// second derivative written in `Variable` operations.
    func geluDerivative(approximation: GELUApproximation) -> Variable {
        let x = saved
        let d = approximation == .none
            ? Elementwise.map(value, vectorized: .geluDerivative, Variable.exactGELUDerivative)
            : Elementwise.map(value, Variable.tanhGELUDerivative)
        let name = approximation == .none ? "geluDerivative" : "geluTanhDerivative"
        return record(name, d) { g, tape in g * Variable.geluSecondDerivative(tape[x], approximation: approximation) }
    }

    /// ∂GELU/∂x of one scalar, exact: Φ(x) + x·φ(x), Φ(x) = ½(1 + erf(x/√2)), φ(x) = e^(−x²/2)/√(2π)
    /// (the C kernel computes it vectorized for `Float`).
    @inline(__always)
    static func exactGELUDerivative(_ x: Scalar) -> Scalar {
        0.5 * (1 + Scalar.erf(x * (1 / Scalar(2).squareRoot()))) + x * Scalar(1 / (2 * Double.pi).squareRoot()) * Scalar.exp(-0.5 * x * x)
    }

    /// ∂GELU/∂x of one scalar, tanh form: ½(1 + T) + ½x(1 − T²)·k(1 + 3cx²), T = tanh(k(x + cx³)).
    @inline(__always)
    static func tanhGELUDerivative(_ x: Scalar) -> Scalar {
        let k = Scalar((2 / Double.pi).squareRoot())
        let t = Scalar.tanh(k * (x + 0.044715 * x * x * x))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
    }

    /// SiLU (swish) `x·σ(x)`. Backward: ∂L/∂x = g·σ(x)(1 + x(1 − σ(x))); ∂²/∂x² = σ′·(2 + x(1 − 2σ)),
    /// σ′ = σ(1 − σ).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func silu() -> Variable {
        let x = saved
        return record("silu", value.applying(.silu)) { g, tape in g * tape[x].siluDerivative() }
    }

    /// ∂SiLU/∂x as an op of its own (see `silu`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func siluDerivative() -> Variable {
        let x = saved
        // σ(x)(1 + x(1 − σ(x))).
        let d = Elementwise.map(value) { x in
            let s = Elementwise.stableSigmoid(x)
            return s * (1 + x * (1 - s))
        }
        return record("siluDerivative", d) { g, tape in
            let x = tape[x]
            let s = x.sigmoid()
            return g * (s * (1 - s) * (2 + x * (1 - s * 2)))
        }
    }

    /// Softplus `log(1 + e^(βx))/β`, linear (`x`) where `βx > threshold`, as PyTorch.
    ///
    /// Backward: ∂L/∂x = g·σ(βx), or g where `βx > threshold`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func softplus(beta: Scalar = 1, threshold: Scalar = 20) -> Variable {
        // β = 0 divides by zero; a NaN threshold would make every element take the log branch silently.
        guard beta.isFinite && beta != 0 else { usageError("softplus", "beta \(beta) must be finite and not zero") }
        guard !threshold.isNaN else { usageError("softplus", "threshold \(threshold) must not be NaN") }
        let x = saved
        let z = value * beta
        let linear = z .> Tensor(threshold)
        let y = Tensor.select(linear, value, z.applying(.softplus) / beta)
        return record("softplus", y) { g, tape in
            g * Variable.select(linear, tape.constant(Tensor(1)), (tape[x] * beta).sigmoid())
        }
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
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func dropout(probability: Scalar, isTraining: Bool, using generator: inout SeededGenerator) -> Variable {
        Hyperparameter.checkProbability(probability, name: "probability", op: "dropout")
        guard isTraining && probability > 0 else { return self }
        let keep = 1 - Double(probability)
        let scale: Scalar = keep > 0 ? Scalar(1 / keep) : 0
        var mask = Tensor<Scalar>(zeros: shape)
        for i in 0..<mask.count where generator.nextUnit() < keep { mask.scalars[i] = scale }
        return record("dropout", value * mask) { g, tape in g * tape.constant(mask) }
    }
}
