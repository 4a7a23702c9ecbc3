extension Tensor {
    /// `log Σ exp(x)` over the axes, computed as `m + log Σ exp(x − m)` with `m` the maximum so that
    /// large inputs do not overflow (an all −∞ slice gives −∞).
    public func logSumExp(alongAxes axes: [Int], keepDims: Bool = false) -> Tensor {
        let resolved = Tensor.normalize(axes: axes, rank: rank, op: "logSumExp")
        let m = max(alongAxes: resolved, keepDims: true)
        let shift = Tensor(unchecked: m.shape, scalars: m.scalars.map { $0.isFinite ? $0 : 0 })
        let result = (self - shift).exp().sum(alongAxes: resolved, keepDims: true).log() + shift
        return keepDims ? result : Tensor(unchecked: Tensor.removing(resolved, from: shape), scalars: result.scalars)
    }

    /// `exp(x − max)/Σ exp(x − max)` along an axis.
    public func softmax(alongAxis axis: Int = -1) -> Tensor {
        let a = Tensor.normalize(axis: axis, rank: rank, op: "softmax")
        let e = (self - logSumExp(alongAxes: [a], keepDims: true)).exp()
        return e
    }

    /// `x − logSumExp(x)` along an axis.
    public func logSoftmax(alongAxis axis: Int = -1) -> Tensor {
        let a = Tensor.normalize(axis: axis, rank: rank, op: "logSoftmax")
        return self - logSumExp(alongAxes: [a], keepDims: true)
    }
}

extension Variable {
    /// Softmax along an axis.
    ///
    /// Backward: ∂L/∂x = y ⊙ (g − Σ_axis g ⊙ y).
    public func softmax(alongAxis axis: Int = -1) -> Variable {
        let a = Tensor<Scalar>.normalize(axis: axis, rank: rank, op: "softmax")
        let y = value.softmax(alongAxis: a)
        return record("softmax", y) { g in y * (g - (g * y).sum(alongAxes: [a], keepDims: true)) }
    }

    /// Log-softmax along an axis.
    ///
    /// Backward: ∂L/∂x = g − softmax(x) ⊙ Σ_axis g.
    public func logSoftmax(alongAxis axis: Int = -1) -> Variable {
        let a = Tensor<Scalar>.normalize(axis: axis, rank: rank, op: "logSoftmax")
        let y = value.logSoftmax(alongAxis: a)
        return record("logSoftmax", y) { g in g - y.exp() * g.sum(alongAxes: [a], keepDims: true) }
    }

    /// `log Σ exp(x)` over the axes, stable for large inputs.
    ///
    /// Backward: ∂L/∂x = g ⊙ exp(x − y) (g and y broadcast over the reduced axes).
    public func logSumExp(alongAxes axes: [Int], keepDims: Bool = false) -> Variable {
        let resolved = Tensor<Scalar>.normalize(axes: axes, rank: rank, op: "logSumExp")
        let x = value
        let kept = x.logSumExp(alongAxes: resolved, keepDims: true)
        let y = keepDims ? kept : Tensor(unchecked: Tensor<Scalar>.removing(resolved, from: x.shape), scalars: kept.scalars)
        return record("logSumExp", y) { g in
            Tensor(unchecked: kept.shape, scalars: g.scalars) * (x - kept).exp()
        }
    }
}
