extension Variable {
    /// Elementwise sum with broadcasting.
    ///
    /// Backward: ∂L/∂a = sumToShape(g, a.shape), ∂L/∂b = sumToShape(g, b.shape).
    public static func + (a: Variable, b: Variable) -> Variable {
        let (sa, sb) = (a.shape, b.shape)
        return record("add", [a, b], value: a.value + b.value) { g in
            [g.summed(toShape: sa), g.summed(toShape: sb)]
        }
    }

    /// Elementwise difference with broadcasting.
    ///
    /// Backward: ∂L/∂a = sumToShape(g), ∂L/∂b = −sumToShape(g).
    public static func - (a: Variable, b: Variable) -> Variable {
        let (sa, sb) = (a.shape, b.shape)
        return record("subtract", [a, b], value: a.value - b.value) { g in
            [g.summed(toShape: sa), (-g).summed(toShape: sb)]
        }
    }

    /// Elementwise product with broadcasting.
    ///
    /// Backward: ∂L/∂a = sumToShape(g·b), ∂L/∂b = sumToShape(g·a).
    public static func * (a: Variable, b: Variable) -> Variable {
        let (va, vb) = (a.value, b.value)
        let (needA, needB) = (a.requiresGradient, b.requiresGradient)
        return record("multiply", [a, b], value: va * vb) { g in
            [needA ? (g * vb).summed(toShape: va.shape) : nil, needB ? (g * va).summed(toShape: vb.shape) : nil]
        }
    }

    /// Elementwise quotient with broadcasting.
    ///
    /// Backward: ∂L/∂a = sumToShape(g/b), ∂L/∂b = −sumToShape(g·a/b²).
    public static func / (a: Variable, b: Variable) -> Variable {
        let (va, vb) = (a.value, b.value)
        let (needA, needB) = (a.requiresGradient, b.requiresGradient)
        return record("divide", [a, b], value: va / vb) { g in
            let gOverB = g / vb
            return [needA ? gOverB.summed(toShape: va.shape) : nil,
                    needB ? (-(gOverB * va / vb)).summed(toShape: vb.shape) : nil]
        }
    }

    /// Negation. Backward: ∂L/∂x = −g.
    public static prefix func - (x: Variable) -> Variable {
        x.record("negate", -x.value) { -$0 }
    }

    /// Adds a scalar. Backward: ∂L/∂x = g.
    public static func + (x: Variable, c: Scalar) -> Variable { x.record("addScalar", x.value + c) { $0 } }
    /// Adds a scalar. Backward: ∂L/∂x = g.
    public static func + (c: Scalar, x: Variable) -> Variable { x + c }
    /// Subtracts a scalar. Backward: ∂L/∂x = g.
    public static func - (x: Variable, c: Scalar) -> Variable { x.record("subtractScalar", x.value - c) { $0 } }
    /// Subtracts from a scalar. Backward: ∂L/∂x = −g.
    public static func - (c: Scalar, x: Variable) -> Variable { x.record("rsubScalar", c - x.value) { -$0 } }
    /// Multiplies by a scalar. Backward: ∂L/∂x = c·g.
    public static func * (x: Variable, c: Scalar) -> Variable { x.record("multiplyScalar", x.value * c) { $0 * c } }
    /// Multiplies by a scalar. Backward: ∂L/∂x = c·g.
    public static func * (c: Scalar, x: Variable) -> Variable { x * c }
    /// Divides by a scalar. Backward: ∂L/∂x = g/c.
    public static func / (x: Variable, c: Scalar) -> Variable { x.record("divideScalar", x.value / c) { $0 / c } }
    /// Divides a scalar by every element. Backward: ∂L/∂x = −g·c/x².
    public static func / (c: Scalar, x: Variable) -> Variable {
        let v = x.value
        let y = c / v
        return x.record("rdivScalar", y) { g in -(g * y / v) }
    }

    /// Elementwise power with a scalar exponent.
    ///
    /// Backward: ∂L/∂x = g·p·x^(p−1).
    public func pow(_ exponent: Scalar) -> Variable {
        let x = value
        return record("powScalar", x.pow(exponent)) { g in g * x.pow(exponent - 1) * exponent }
    }

    /// Elementwise power with a tensor exponent (broadcasting); the base must be positive where the
    /// exponent's gradient is needed.
    ///
    /// Backward: ∂L/∂x = sumToShape(g·p·x^(p−1)), ∂L/∂p = sumToShape(g·xᵖ·log x).
    public func pow(_ exponent: Variable) -> Variable {
        let (x, p) = (value, exponent.value)
        let y = x.pow(p)
        let needP = exponent.requiresGradient
        return Variable.record("pow", [self, exponent], value: y) { g in
            [(g * p * x.pow(p - 1)).summed(toShape: x.shape),
             needP ? (g * y * x.log()).summed(toShape: p.shape) : nil]
        }
    }
}
