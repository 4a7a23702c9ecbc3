extension Variable {
    /// The sum of all elements. Backward: ∂L/∂x = g broadcast to x's shape.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func sum() -> Variable { sum(alongAxes: Array(0..<rank)) }

    /// The sum over axes.
    ///
    /// Backward: ∂L/∂x = g (with the reduced axes restored as size 1) broadcast to x's shape.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func sum(alongAxes axes: [Int], keepDims: Bool = false) -> Variable {
        let resolved = Tensor<Scalar>.normalize(axes: axes, rank: rank, op: "sum")
        let shape = self.shape
        var kept = shape
        for a in resolved { kept[a] = 1 }
        return record("sum", value.sum(alongAxes: resolved, keepDims: keepDims)) { g, _ in
            g.reshaped(to: kept).expanded(to: shape)
        }
    }

    /// The mean of all elements. Backward: ∂L/∂x = g/n.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func mean() -> Variable { mean(alongAxes: Array(0..<rank)) }

    /// The mean over axes. Backward: ∂L/∂x = g/n broadcast to x's shape, n the reduced count.
    public func mean(alongAxes axes: [Int], keepDims: Bool = false) -> Variable {
        let resolved = Tensor<Scalar>.normalize(axes: axes, rank: rank, op: "mean")
        let shape = self.shape
        var kept = shape
        for a in resolved { kept[a] = 1 }
        let n = Scalar(resolved.reduce(1) { $0 * shape[$1] })
        return record("mean", value.mean(alongAxes: resolved, keepDims: keepDims)) { g, _ in
            g.reshaped(to: kept).expanded(to: shape) / n
        }
    }

    /// The variance over axes, `Σ(x − μ)²/(n − correction)` (NaN when n ≤ correction, as PyTorch).
    ///
    /// Backward: ∂L/∂x = g·2(x − μ)/(n − correction), with the signed n − correction as PyTorch's
    /// `var_backward` (so n < correction gives a finite gradient, and n = correction 0·∞ = NaN).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func variance(alongAxes axes: [Int], correction: Int = 1, keepDims: Bool = false) -> Variable {
        let resolved = Tensor<Scalar>.normalize(axes: axes, rank: rank, op: "variance")
        let x = saved
        var kept = x.shape
        for a in resolved { kept[a] = 1 }
        let n = resolved.reduce(1) { $0 * x.shape[$1] }
        let y = value.variance(alongAxes: resolved, correction: correction, keepDims: keepDims)
        let scale = 2 / Scalar(n - correction)
        return record("variance", y) { g, tape in
            let x = tape[x]
            let centered = x - x.mean(alongAxes: resolved, keepDims: true)
            return g.reshaped(to: kept) * centered * scale
        }
    }

    /// The standard deviation over axes, `√(Σ(x − μ)²/(n − correction))` (PyTorch's `std`, whose default
    /// correction is 1: the unbiased estimate).
    ///
    /// Backward (that of `sqrt` after `variance`): ∂L/∂x = g·(x − μ)/((n − correction)·σ); NaN where
    /// σ = 0, as PyTorch.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func std(alongAxes axes: [Int], correction: Int = 1, keepDims: Bool = false) -> Variable {
        variance(alongAxes: axes, correction: correction, keepDims: keepDims).sqrt()
    }

    /// The standard deviation of all elements (correction 1 by default).
    public func std(correction: Int = 1) -> Variable { std(alongAxes: Array(0..<rank), correction: correction) }

    /// The maximum along one axis.
    ///
    /// Backward: g flows to the first maximal element of each slice (the index `argmax` returns, as
    /// PyTorch's `max(dim)`); other elements get zero.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func max(alongAxis axis: Int, keepDims: Bool = false) -> Variable {
        extremum(alongAxis: axis, keepDims: keepDims, maximum: true)
    }

    /// The minimum along one axis. Backward: g flows to the first minimal element of each slice.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func min(alongAxis axis: Int, keepDims: Bool = false) -> Variable {
        extremum(alongAxis: axis, keepDims: keepDims, maximum: false)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func extremum(alongAxis axis: Int, keepDims: Bool, maximum: Bool) -> Variable {
        let op = maximum ? "max" : "min"
        let a = Tensor<Scalar>.normalize(axis: axis, rank: rank, op: op)
        guard rank > 0, shape[a] > 0 else { usageError(op, "cannot reduce over an empty axis of shape \(shape)") }
        let (kept, indices) = Reduction.argExtremum(value, axis: a, maximum: maximum)
        let (outer, size, inner) = (shape[..<a].reduce(1, *), shape[a], shape[(a + 1)...].reduce(1, *))
        var positions = [Int](repeating: 0, count: indices.count)
        for o in 0..<outer { for i in 0..<inner { positions[o * inner + i] = (o * size + indices[o * inner + i]) * inner + i } }
        let outShape = keepDims ? kept : Tensor<Scalar>.removing([a], from: shape)
        return gathering(flatPositions: positions, shape: outShape, name: op, uniquePositions: true)
    }
}
