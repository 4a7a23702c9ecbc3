extension Tensor {
    /// The sum of all elements (accumulated in `Double`).
    public func sum() -> Tensor { sum(alongAxes: Array(0..<rank)) }

    /// The sum over the given axes.
    ///
    /// - Parameters:
    ///   - axes: The axes to reduce; negative values count from the end.
    ///   - keepDims: Whether reduced axes stay in the result with size 1.
    public func sum(alongAxes axes: [Int], keepDims: Bool = false) -> Tensor {
        reduced(axes, keepDims: keepDims, kind: .sum, op: "sum")
    }

    /// The mean of all elements.
    public func mean() -> Tensor { mean(alongAxes: Array(0..<rank)) }

    /// The mean over the given axes (NaN over an empty axis).
    public func mean(alongAxes axes: [Int], keepDims: Bool = false) -> Tensor {
        let resolved = Tensor.normalize(axes: axes, rank: rank, op: "mean")
        let n = resolved.reduce(1) { $0 * shape[$1] }
        return sum(alongAxes: resolved, keepDims: keepDims) * (1 / Scalar(n))
    }

    /// The variance over the given axes, `Σ(x − μ)² / (n − correction)`, computed in two passes.
    ///
    /// - Parameters:
    ///   - axes: The axes to reduce.
    ///   - correction: Subtracted from the element count: 0 for the biased (population) variance,
    ///     1 for the unbiased (sample) variance, as in PyTorch's `var(correction:)`.
    ///   - keepDims: Whether reduced axes stay with size 1.
    public func variance(alongAxes axes: [Int], correction: Int = 1, keepDims: Bool = false) -> Tensor {
        let resolved = Tensor.normalize(axes: axes, rank: rank, op: "variance")
        guard correction >= 0 else { usageError("variance", "correction \(correction) must be ≥ 0 (0 for the population variance, 1 for the sample variance)") }
        let n = resolved.reduce(1) { $0 * shape[$1] }
        let centered = self - mean(alongAxes: resolved, keepDims: true)
        let squares = centered.squared().sum(alongAxes: resolved, keepDims: keepDims)
        return squares * (1 / Scalar(Swift.max(n - correction, 0)))
    }

    /// The variance of all elements.
    public func variance(correction: Int = 1) -> Tensor { variance(alongAxes: Array(0..<rank), correction: correction) }

    /// The maximum over the given axes (NaN if any element is NaN).
    public func max(alongAxes axes: [Int], keepDims: Bool = false) -> Tensor {
        reduced(axes, keepDims: keepDims, kind: .max, op: "max")
    }

    /// The maximum of all elements.
    public func max() -> Tensor { max(alongAxes: Array(0..<rank)) }

    /// The minimum over the given axes (NaN if any element is NaN).
    public func min(alongAxes axes: [Int], keepDims: Bool = false) -> Tensor {
        reduced(axes, keepDims: keepDims, kind: .min, op: "min")
    }

    /// The minimum of all elements.
    public func min() -> Tensor { min(alongAxes: Array(0..<rank)) }

    /// The index of the first maximum along an axis, as integers.
    ///
    /// - Returns: The indices in row-major order of the result shape (the input shape without `axis`).
    public func argmax(alongAxis axis: Int) -> [Int] {
        let a = Tensor.normalize(axis: axis, rank: rank, op: "argmax")
        guard rank > 0, shape[a] > 0 else { usageError("argmax", "cannot take argmax over an empty axis of shape \(shape)") }
        return Reduction.argExtremum(self, axis: a, maximum: true).indices
    }

    /// The index of the first minimum along an axis, as integers.
    public func argmin(alongAxis axis: Int) -> [Int] {
        let a = Tensor.normalize(axis: axis, rank: rank, op: "argmin")
        guard rank > 0, shape[a] > 0 else { usageError("argmin", "cannot take argmin over an empty axis of shape \(shape)") }
        return Reduction.argExtremum(self, axis: a, maximum: false).indices
    }

    /// The flat index of the first maximum of all elements.
    public func argmax() -> Int {
        guard count > 0 else { usageError("argmax", "cannot take argmax of an empty tensor") }
        return Reduction.argExtremum(reshaped(to: [count]), axis: 0, maximum: true).indices[0]
    }

    func reduced(_ axes: [Int], keepDims: Bool, kind: ReductionKind, op: String) -> Tensor {
        let resolved = Tensor.normalize(axes: axes, rank: rank, op: op)
        if kind != .sum {
            for axis in resolved where shape[axis] == 0 {
                usageError(op, "cannot reduce over empty axis \(axis) of shape \(shape)")
            }
        }
        let result = Reduction.reduce(self, axes: resolved, kind: kind)
        if keepDims { return result }
        return Tensor(unchecked: Tensor.removing(resolved, from: shape), scalars: result.scalars)
    }

    /// `shape` without the given (sorted) axes.
    static func removing(_ axes: [Int], from shape: [Int]) -> [Int] {
        shape.enumerated().filter { !axes.contains($0.offset) }.map { $0.element }
    }
}
