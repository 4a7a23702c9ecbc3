extension Variable {
    /// Matrix product with NumPy `matmul` semantics (see `Tensor.matmul`).
    ///
    /// Backward for `C = A·B`: ∂L/∂A = sumToShape(g·Bᵀ), ∂L/∂B = sumToShape(Aᵀ·g), summing over
    /// broadcast batch axes. 1-D operands are promoted to matrices and the added axis removed.
    public func matmul(_ other: Variable) -> Variable {
        let a = rank == 1 ? reshaped(to: [1, shape[0]]) : self
        let b = other.rank == 1 ? other.reshaped(to: [other.shape[0], 1]) : other
        guard rank >= 1 && other.rank >= 1 else {
            shapeError("matmul", "operands must have rank ≥ 1, got shapes \(shape) and \(other.shape)")
        }
        let (va, vb) = (a.value, b.value)
        let (needA, needB) = (a.requiresGradient, b.requiresGradient)
        let product = Variable.record("matmul", [a, b], value: va.matmul(vb)) { g in
            [needA ? Tensor.matmul(g, transposingFirst: false, vb, transposingSecond: true, op: "matmul backward").summed(toShape: va.shape) : nil,
             needB ? Tensor.matmul(va, transposingFirst: true, g, transposingSecond: false, op: "matmul backward").summed(toShape: vb.shape) : nil]
        }
        var outShape = product.shape
        if rank == 1 { outShape.remove(at: outShape.count - 2) }
        if other.rank == 1 { outShape.removeLast() }
        return outShape == product.shape ? product : product.reshaped(to: outShape)
    }
}
