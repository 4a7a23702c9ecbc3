extension Variable {
    /// Matrix product with NumPy `matmul` semantics (see `Tensor.matmul`).
    ///
    /// Backward for `C = A·B`: ∂L/∂A = sumToShape(g·Bᵀ), ∂L/∂B = sumToShape(Aᵀ·g), summing over
    /// broadcast batch axes. 1-D operands are promoted to matrices and the added axis removed.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func matmul(_ other: Variable) -> Variable {
        guard rank >= 1 && other.rank >= 1 else {
            usageError("matmul", "operands must have rank ≥ 1, got shapes \(shape) and \(other.shape)")
        }
        let a = rank == 1 ? reshaped(to: [1, shape[0]]) : self
        let b = other.rank == 1 ? other.reshaped(to: [other.shape[0], 1]) : other
        let product = a.matmul(b, transposingFirst: false, transposingSecond: false)
        var outShape = product.shape
        if rank == 1 { outShape.remove(at: outShape.count - 2) }
        if other.rank == 1 { outShape.removeLast() }
        return outShape == product.shape ? product : product.reshaped(to: outShape)
    }

    /// `op(A)·op(B)` for matrices or batches of matrices (rank ≥ 2, batch axes broadcast), where
    /// `op` transposes the last two axes when asked, without copying the transpose.
    ///
    /// Backward, with `A′ = op(A)`, `B′ = op(B)`: ∂L/∂A′ = g·B′ᵀ and ∂L/∂B′ = A′ᵀ·g, transposed back
    /// where the operand was transposed, each itself a product of this kind (so every order is
    /// differentiable), summed over broadcast batch axes.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func matmul(_ other: Variable, transposingFirst ta: Bool, transposingSecond tb: Bool) -> Variable {
        let (sa, sb) = (saved, other.saved)
        let value = Tensor.matmul(self.value, transposingFirst: ta, other.value, transposingSecond: tb, op: "matmul")
        return Variable.record("matmul", self, other, value: value) { g, tape in
            let (a, b) = (tape[sa], tape[sb])
            var gradients: [Variable?] = [nil, nil]
            if tape.needs(0) {
                let da = ta ? b.matmul(g, transposingFirst: tb, transposingSecond: true)
                            : g.matmul(b, transposingFirst: false, transposingSecond: !tb)
                gradients[0] = da.summed(toShape: sa.shape)
            }
            if tape.needs(1) {
                let db = tb ? g.matmul(a, transposingFirst: true, transposingSecond: ta)
                            : a.matmul(g, transposingFirst: !ta, transposingSecond: false)
                gradients[1] = db.summed(toShape: sb.shape)
            }
            return gradients
        }
    }
}
