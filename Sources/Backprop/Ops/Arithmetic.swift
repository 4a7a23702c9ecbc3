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
    /// Divides a scalar by every element. Backward: ∂L/∂x = −g·c/x² = −g·y/x.
    public static func / (c: Scalar, x: Variable) -> Variable {
        let sx = x.saved
        let y = c / x.value
        return x.record("rdivScalar", y) { g, tape in -(g * tape.output(y) / tape[sx]) }
    }

    /// Elementwise power with a scalar exponent.
    ///
    /// Backward: ∂L/∂x = g·p·x^(p−1).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func pow(_ exponent: Scalar) -> Variable {
        let x = saved
        return record("powScalar", value.pow(exponent)) { g, tape in g * tape[x].pow(exponent - 1) * exponent }
    }

    /// Elementwise power with a tensor exponent (broadcasting); the base must be positive where the
    /// exponent's gradient is needed.
    ///
    /// Backward: ∂L/∂x = sumToShape(g·p·x^(p−1)), ∂L/∂p = sumToShape(g·xᵖ·log x).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func pow(_ exponent: Variable) -> Variable {
        let (x, p) = (saved, exponent.saved)
        let y = value.pow(exponent.value)
        return Variable.record("pow", self, exponent, value: y) { g, tape in
            let (base, power) = (tape[x], tape[p])
            return [tape.needs(0) ? (g * power * base.pow(power - 1)).summed(toShape: x.shape) : nil,
                    tape.needs(1) ? (g * tape.output(y) * base.log()).summed(toShape: p.shape) : nil]
        }
    }
}
