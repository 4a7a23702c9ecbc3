extension Variable {
    /// `eˣ`. Backward: ∂L/∂x = g·eˣ (reuses the output).
    public func exp() -> Variable {
        let y = value.exp()
        return record("exp", y) { $0 * y }
    }

    /// Natural logarithm. Backward: ∂L/∂x = g/x.
    public func log() -> Variable {
        let x = value
        return record("log", x.log()) { $0 / x }
    }

    /// Square root. Backward: ∂L/∂x = g/(2√x).
    public func sqrt() -> Variable {
        let y = value.sqrt()
        return record("sqrt", y) { $0 / (y * 2) }
    }

    /// `1/√x`. Backward: ∂L/∂x = −g·y³/2 with y = 1/√x.
    public func rsqrt() -> Variable {
        let y = value.rsqrt()
        return record("rsqrt", y) { $0 * (y * y * y) * -0.5 }
    }

    /// Absolute value. Backward: ∂L/∂x = g·sign(x) (0 at x = 0, as PyTorch).
    public func abs() -> Variable {
        let x = value
        return record("abs", x.abs()) { $0 * x.sign() }
    }

    /// `x²`. Backward: ∂L/∂x = 2g·x.
    public func squared() -> Variable {
        let x = value
        return record("square", x.squared()) { $0 * x * 2 }
    }

    /// Clamps into `[lowerBound, upperBound]`.
    ///
    /// Backward: ∂L/∂x = g where lowerBound ≤ x ≤ upperBound, 0 outside (PyTorch's convention).
    public func clamped(to range: ClosedRange<Scalar>) -> Variable {
        let x = value
        return record("clamp", x.clamped(to: range)) { g in
            g * (x .>= Tensor(range.lowerBound)) * (x .<= Tensor(range.upperBound))
        }
    }
}
