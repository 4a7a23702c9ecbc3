extension Variable {
    /// `eˣ`. Backward: ∂L/∂x = g·eˣ (reuses the output).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func exp() -> Variable {
        let y = value.exp()
        return record("exp", y) { g, tape in g * tape.output(y) }
    }

    /// Natural logarithm. Backward: ∂L/∂x = g/x.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func log() -> Variable {
        let x = saved
        return record("log", value.log()) { g, tape in g / tape[x] }
    }

    /// Square root. Backward: ∂L/∂x = g/(2√x).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func sqrt() -> Variable {
        let y = value.sqrt()
        return record("sqrt", y) { g, tape in g / (tape.output(y) * 2) }
    }

    /// `1/√x`. Backward: ∂L/∂x = −g·y³/2 with y = 1/√x.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func rsqrt() -> Variable {
        let y = value.rsqrt()
        return record("rsqrt", y) { g, tape in
            let output = tape.output(y)
            return g * (output * output * output) * -0.5
        }
    }

    /// Absolute value. Backward: ∂L/∂x = g·sign(x) (0 at x = 0, as PyTorch); sign(x) is piecewise
    /// constant, so every higher derivative is 0.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func abs() -> Variable {
        let x = value
        return record("abs", x.abs()) { g, tape in g * tape.constant(x.sign()) }
    }

    /// `x²`. Backward: ∂L/∂x = 2g·x.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func squared() -> Variable {
        let x = saved
        return record("square", value.squared()) { g, tape in g * tape[x] * 2 }
    }

    /// Clamps into `[lowerBound, upperBound]`.
    ///
    /// Backward: ∂L/∂x = g where lowerBound < x < upperBound, 0 elsewhere, on the bounds themselves
    /// included (PyTorch 2.15's convention: an element sitting exactly on a bound gets no gradient).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func clamped(to range: ClosedRange<Scalar>) -> Variable {
        let x = value
        return record("clamp", x.clamped(to: range)) { g, tape in
            g * tape.constant((x .> Tensor(range.lowerBound)) * (x .< Tensor(range.upperBound)))
        }
    }
}
