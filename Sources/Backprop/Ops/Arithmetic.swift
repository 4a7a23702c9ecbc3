extension Variable {
    /// Elementwise sum with broadcasting.
    ///
    /// Backward: ∂L/∂a = sumToShape(g, a.shape), ∂L/∂b = sumToShape(g, b.shape).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static func + (a: Variable, b: Variable) -> Variable {
        let (sa, sb) = (a.shape, b.shape)
        return record("add", a, b, value: a.value + b.value) { g, _ in
            [g.summed(toShape: sa), g.summed(toShape: sb)]
        }
    }

    /// Elementwise difference with broadcasting.
    ///
    /// Backward: ∂L/∂a = sumToShape(g), ∂L/∂b = −sumToShape(g).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static func - (a: Variable, b: Variable) -> Variable {
        let (sa, sb) = (a.shape, b.shape)
        return record("subtract", a, b, value: a.value - b.value) { g, _ in
            [g.summed(toShape: sa), (-g).summed(toShape: sb)]
        }
    }

    /// Elementwise product with broadcasting.
    ///
    /// Backward: ∂L/∂a = sumToShape(g·b), ∂L/∂b = sumToShape(g·a).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static func * (a: Variable, b: Variable) -> Variable {
        let (sa, sb) = (a.saved, b.saved)
        return record("multiply", a, b, value: a.value * b.value) { g, tape in
            [tape.needs(0) ? (g * tape[sb]).summed(toShape: sa.shape) : nil,
             tape.needs(1) ? (g * tape[sa]).summed(toShape: sb.shape) : nil]
        }
    }

    /// Elementwise quotient with broadcasting.
    ///
    /// Backward: ∂L/∂a = sumToShape(g/b), ∂L/∂b = −sumToShape(g·a/b²).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static func / (a: Variable, b: Variable) -> Variable {
        let (sa, sb) = (a.saved, b.saved)
        return record("divide", a, b, value: a.value / b.value) { g, tape in
            let gOverB = g / tape[sb]
            return [tape.needs(0) ? gOverB.summed(toShape: sa.shape) : nil,
                    tape.needs(1) ? (-(gOverB * tape[sa] / tape[sb])).summed(toShape: sb.shape) : nil]
        }
    }

    /// Negation. Backward: ∂L/∂x = −g.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static prefix func - (x: Variable) -> Variable {
        x.record("negate", -x.value) { g, _ in -g }
    }

    /// Adds a scalar. Backward: ∂L/∂x = g.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static func + (x: Variable, c: Scalar) -> Variable { x.record("addScalar", x.value + c) { g, _ in g } }
    /// Adds a scalar. Backward: ∂L/∂x = g.
    public static func + (c: Scalar, x: Variable) -> Variable { x + c }
    /// Subtracts a scalar. Backward: ∂L/∂x = g.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static func - (x: Variable, c: Scalar) -> Variable { x.record("subtractScalar", x.value - c) { g, _ in g } }
    /// Subtracts from a scalar. Backward: ∂L/∂x = −g.
    public static func - (c: Scalar, x: Variable) -> Variable { x.record("rsubScalar", c - x.value) { g, _ in -g } }
    /// Multiplies by a scalar. Backward: ∂L/∂x = c·g.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static func * (x: Variable, c: Scalar) -> Variable { x.record("multiplyScalar", x.value * c) { g, _ in g * c } }
    /// Multiplies by a scalar. Backward: ∂L/∂x = c·g.
    public static func * (c: Scalar, x: Variable) -> Variable { x * c }
    /// Divides by a scalar. Backward: ∂L/∂x = g/c.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static func / (x: Variable, c: Scalar) -> Variable { x.record("divideScalar", x.value / c) { g, _ in g / c } }
    /// Divides a scalar by every element (a true division).
    ///
    /// Backward: ∂L/∂x = −g·c/x², computed as −(g·y)/x with y = c/x, which never forms 1/x²: it is 0
    /// for c = 0 and ±∞ for c = ±∞ at any x ≠ 0. (PyTorch computes c/x as reciprocal(x)·c, whose
    /// output is NaN for c = 0 at subnormal x and whose gradient is NaN wherever 1/x² overflows.)
    public static func / (c: Scalar, x: Variable) -> Variable {
        let sx = x.saved
        let y = c / x.value
        return x.record("rdivScalar", y) { g, tape in -(g * tape.output(y) / tape[sx]) }
    }

    /// Elementwise power with a scalar exponent.
    ///
    /// Backward: ∂L/∂x = g·p·x^(p−1), and 0 (zeros, whatever g) when p = 0: xᵖ is then the constant 1,
    /// while the formula would give 0·x⁻¹ = NaN at x = 0 (PyTorch's `pow_backward` convention).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func pow(_ exponent: Scalar) -> Variable {
        let x = saved
        return record("powScalar", value.pow(exponent)) { g, tape in
            exponent == 0 ? tape.constant(Tensor(zeros: x.shape)) : g * tape[x].pow(exponent - 1) * exponent
        }
    }

    /// Elementwise power with a tensor exponent (broadcasting).
    ///
    /// Backward, PyTorch's conventions where the formula has a removable 0·∞:
    /// ∂L/∂x = sumToShape(where(p = 0, 0, g·p·x^(p−1))),
    /// ∂L/∂p = sumToShape(g·where(x = 0 and p ≥ 0, 0, xᵖ·log x)): at x = 0 with p ≥ 0 the true
    /// contribution of the exponent is 0 (0ᵖ does not change with p > 0), while xᵖ·log x would give
    /// 0·(−∞) = NaN (or −∞ at p = 0). Where the formula is genuinely infinite or undefined (x = 0 with
    /// p < 1, p ≠ 0, for ∂x; x < 0 for ∂p) its ±∞ or NaN is kept, as in PyTorch. Each branch is written
    /// in `Variable` ops, so every order stays differentiable.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func pow(_ exponent: Variable) -> Variable {
        let (x, p) = (saved, exponent.saved)
        let y = value.pow(exponent.value)
        return Variable.record("pow", self, exponent, value: y) { g, tape in
            let (base, power) = (tape[x], tape[p])
            let zero = tape.constant(Tensor(0))
            var gradients: [Variable?] = [nil, nil]
            if tape.needs(0) {
                let exponentIsZero = power.value .== Tensor(0)
                let dx = Variable.select(exponentIsZero, zero, g * power * base.pow(power - 1))
                gradients[0] = dx.summed(toShape: x.shape)
            }
            if tape.needs(1) {
                let constantBase = (base.value .== Tensor(0)) * (power.value .>= Tensor(0))
                let dp = g * Variable.select(constantBase, zero, tape.output(y) * base.log())
                gradients[1] = dp.summed(toShape: p.shape)
            }
            return gradients
        }
    }
}
