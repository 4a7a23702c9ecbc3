extension Tensor {
    /// Sums a broadcast gradient back to `target`, the shape of the operand before broadcasting:
    /// leading axes that broadcasting added are summed away, and axes where `target` has size 1
    /// are summed with `keepDims`. The one helper every broadcasting backward rule uses.
    public func summed(toShape target: [Int]) -> Tensor {
        if shape == target { return self }
        let extra = rank - target.count
        guard extra >= 0 else {
            usageError("sumToShape", "gradient of shape \(shape) has lower rank than the target shape \(target)")
        }
        var axes = Array(0..<extra)
        for i in 0..<target.count where target[i] == 1 && shape[extra + i] != 1 {
            axes.append(extra + i)
        }
        for i in 0..<target.count where target[i] != 1 && target[i] != shape[extra + i] {
            usageError("sumToShape", "gradient of shape \(shape) cannot be reduced to shape \(target)")
        }
        let reduced = axes.isEmpty ? self : Reduction.reduce(self, axes: axes, kind: .sum)
        return Tensor(unchecked: target, scalars: reduced.scalars)
    }
}

extension Variable {
    /// Sums over the axes that broadcasting to this variable's shape added or stretched, giving
    /// `target` (see `Tensor.summed(toShape:)`); the identity when the shapes agree.
    ///
    /// Backward: ∂L/∂x = g broadcast back to x's shape.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func summed(toShape target: [Int]) -> Variable {
        if shape == target { return self }
        let source = shape
        return record("sumToShape", value.summed(toShape: target)) { g, _ in g.expanded(to: source) }
    }
}
