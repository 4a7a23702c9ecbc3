extension Tensor {
    /// Elementwise sum with NumPy broadcasting.
    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { Elementwise.apply(.add, lhs, rhs, op: "add") }
    /// Elementwise difference with NumPy broadcasting.
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { Elementwise.apply(.subtract, lhs, rhs, op: "subtract") }
    /// Elementwise product with NumPy broadcasting.
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { Elementwise.apply(.multiply, lhs, rhs, op: "multiply") }
    /// Elementwise quotient with NumPy broadcasting.
    public static func / (lhs: Tensor, rhs: Tensor) -> Tensor { Elementwise.apply(.divide, lhs, rhs, op: "divide") }

    /// Adds a scalar to every element.
    public static func + (lhs: Tensor, rhs: Scalar) -> Tensor { lhs.applying(.addScalar(Double(rhs))) }
    /// Adds a scalar to every element.
    public static func + (lhs: Scalar, rhs: Tensor) -> Tensor { rhs.applying(.addScalar(Double(lhs))) }
    /// Subtracts a scalar from every element.
    public static func - (lhs: Tensor, rhs: Scalar) -> Tensor { lhs.applying(.addScalar(-Double(rhs))) }
    /// Subtracts every element from a scalar.
    public static func - (lhs: Scalar, rhs: Tensor) -> Tensor { rhs.applying(.rsubScalar(Double(lhs))) }
    /// Multiplies every element by a scalar.
    public static func * (lhs: Tensor, rhs: Scalar) -> Tensor { lhs.applying(.multiplyScalar(Double(rhs))) }
    /// Multiplies every element by a scalar.
    public static func * (lhs: Scalar, rhs: Tensor) -> Tensor { rhs.applying(.multiplyScalar(Double(lhs))) }
    /// Divides every element by a scalar.
    public static func / (lhs: Tensor, rhs: Scalar) -> Tensor { lhs * (1 / rhs) }
    /// Divides a scalar by every element (a true division, one rounding: c·(1/x) would overflow 1/x for
    /// subnormal x and give 0·∞ = NaN for c = 0).
    public static func / (lhs: Scalar, rhs: Tensor) -> Tensor { Tensor(lhs) / rhs }
    /// Negates every element.
    public static prefix func - (x: Tensor) -> Tensor { x.applying(.negate) }

    /// In-place elementwise sum; `rhs` must broadcast to `lhs.shape`.
    public static func += (lhs: inout Tensor, rhs: Tensor) {
        if lhs.shape == rhs.shape {
            Elementwise.addInPlace(&lhs.scalars, rhs.scalars)
        } else {
            let sum = lhs + rhs
            guard sum.shape == lhs.shape else {
                usageError("+=", "shape \(rhs.shape) cannot be added in place to shape \(lhs.shape) (the result would have shape \(sum.shape))")
            }
            lhs = sum
        }
    }
    /// In-place elementwise difference.
    public static func -= (lhs: inout Tensor, rhs: Tensor) { lhs += -rhs }
    /// In-place multiplication by a scalar.
    public static func *= (lhs: inout Tensor, rhs: Scalar) {
        Elementwise.scaleInPlace(&lhs.scalars, by: rhs)
    }

    /// Elementwise power with a tensor exponent (broadcasting).
    public func pow(_ exponent: Tensor) -> Tensor { Elementwise.apply(.pow, self, exponent, op: "pow") }
    /// Elementwise power with a scalar exponent.
    public func pow(_ exponent: Scalar) -> Tensor { applying(.powScalar(Double(exponent))) }
    /// Elementwise maximum with broadcasting (NaN if either is NaN).
    public func maximum(_ other: Tensor) -> Tensor { Elementwise.apply(.maximum, self, other, op: "maximum") }
    /// Elementwise minimum with broadcasting (NaN if either is NaN).
    public func minimum(_ other: Tensor) -> Tensor { Elementwise.apply(.minimum, self, other, op: "minimum") }

    /// Applies a unary kernel.
    func applying(_ kernel: UnaryKernel) -> Tensor {
        Tensor(unchecked: shape, scalars: Elementwise.apply(kernel, scalars))
    }
}

// MARK: - Comparisons and masks

extension Tensor {
    /// A mask (1 where true, 0 where false) of `lhs > rhs`, with broadcasting.
    public static func .> (lhs: Tensor, rhs: Tensor) -> Tensor { Elementwise.apply(.greater, lhs, rhs, op: ".>") }
    /// A mask of `lhs >= rhs`, with broadcasting.
    public static func .>= (lhs: Tensor, rhs: Tensor) -> Tensor { Elementwise.apply(.greaterEqual, lhs, rhs, op: ".>=") }
    /// A mask of `lhs < rhs`, with broadcasting.
    public static func .< (lhs: Tensor, rhs: Tensor) -> Tensor { Elementwise.apply(.less, lhs, rhs, op: ".<") }
    /// A mask of `lhs <= rhs`, with broadcasting.
    public static func .<= (lhs: Tensor, rhs: Tensor) -> Tensor { Elementwise.apply(.lessEqual, lhs, rhs, op: ".<=") }
    /// A mask of `lhs == rhs`, with broadcasting.
    public static func .== (lhs: Tensor, rhs: Tensor) -> Tensor { Elementwise.apply(.equal, lhs, rhs, op: ".==") }
    /// A mask of `lhs != rhs`, with broadcasting.
    public static func .!= (lhs: Tensor, rhs: Tensor) -> Tensor { Elementwise.apply(.notEqual, lhs, rhs, op: ".!=") }
    /// A mask of `lhs > rhs` against a scalar.
    public static func .> (lhs: Tensor, rhs: Scalar) -> Tensor { lhs .> Tensor(rhs) }
    /// A mask of `lhs < rhs` against a scalar.
    public static func .< (lhs: Tensor, rhs: Scalar) -> Tensor { lhs .< Tensor(rhs) }
    /// A mask of `lhs >= rhs` against a scalar.
    public static func .>= (lhs: Tensor, rhs: Scalar) -> Tensor { lhs .>= Tensor(rhs) }
    /// A mask of `lhs <= rhs` against a scalar.
    public static func .<= (lhs: Tensor, rhs: Scalar) -> Tensor { lhs .<= Tensor(rhs) }
    /// A mask of `lhs == rhs` against a scalar.
    public static func .== (lhs: Tensor, rhs: Scalar) -> Tensor { lhs .== Tensor(rhs) }

    /// This tensor with the elements where `mask` is non-zero replaced by `other`'s (all three broadcast):
    /// `mask ? other : self` elementwise.
    ///
    /// - Parameters:
    ///   - mask: Non-zero where an element is replaced.
    ///   - other: The values used where `mask` is non-zero.
    public func replacing(where mask: Tensor, with other: Tensor) -> Tensor {
        Tensor.select(mask, other, self)
    }

    /// `condition ? a : b` elementwise, with broadcasting of all three operands.
    public static func select(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let shape = broadcastShape(broadcastShape(condition.shape, a.shape, op: "where"), b.shape, op: "where")
        let c = Shape.broadcast(condition, to: shape, op: "where")
        let x = Shape.broadcast(a, to: shape, op: "where")
        let y = Shape.broadcast(b, to: shape, op: "where")
        return Tensor(unchecked: shape, scalars: Elementwise.select(c.scalars, x.scalars, y.scalars))
    }
}
