/// `BatchNorm` for `[N, C]` or `[N, C, L]` inputs (PyTorch's `nn.BatchNorm1d`): the same layer,
/// parameters, buffers and `state_dict` names, with PyTorch's input-rank check.
public final class BatchNorm1d<Scalar: TensorScalar>: BatchNorm<Scalar> {
    /// Normalizes `x` of shape `[N, C]` or `[N, C, L]`; any other rank is an error naming the expected ranks.
    public override func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        checkInputRank("BatchNorm1d", x.shape, expected: [2, 3], layouts: "[N, C] or [N, C, L]")
        return super.callAsFunction(x)
    }
}

/// `BatchNorm` for `[N, C, H, W]` inputs (PyTorch's `nn.BatchNorm2d`).
public final class BatchNorm2d<Scalar: TensorScalar>: BatchNorm<Scalar> {
    /// Normalizes `x` of shape `[N, C, H, W]`; any other rank is an error naming the expected rank.
    public override func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        checkInputRank("BatchNorm2d", x.shape, expected: [4], layouts: "[N, C, H, W]")
        return super.callAsFunction(x)
    }
}

/// `BatchNorm` for `[N, C, D, H, W]` inputs (PyTorch's `nn.BatchNorm3d`).
public final class BatchNorm3d<Scalar: TensorScalar>: BatchNorm<Scalar> {
    /// Normalizes `x` of shape `[N, C, D, H, W]`; any other rank is an error naming the expected rank.
    public override func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        checkInputRank("BatchNorm3d", x.shape, expected: [5], layouts: "[N, C, D, H, W]")
        return super.callAsFunction(x)
    }
}

/// `InstanceNorm` for `[N, C, L]` inputs or one unbatched `[C, L]` (PyTorch's `nn.InstanceNorm1d`).
public final class InstanceNorm1d<Scalar: TensorScalar>: InstanceNorm<Scalar> {
    /// Normalizes `x` of shape `[N, C, L]` or `[C, L]`; any other rank is an error naming the expected ranks.
    public override func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        checkInputRank("InstanceNorm1d", x.shape, expected: [2, 3], layouts: "[C, L] (unbatched) or [N, C, L]")
        return super.callAsFunction(x)
    }
}

/// `InstanceNorm` for `[N, C, H, W]` inputs or one unbatched `[C, H, W]` (PyTorch's `nn.InstanceNorm2d`).
public final class InstanceNorm2d<Scalar: TensorScalar>: InstanceNorm<Scalar> {
    /// Normalizes `x` of shape `[N, C, H, W]` or `[C, H, W]`; any other rank is an error naming the expected ranks.
    public override func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        checkInputRank("InstanceNorm2d", x.shape, expected: [3, 4], layouts: "[C, H, W] (unbatched) or [N, C, H, W]")
        return super.callAsFunction(x.rank == 3 ? x.unsqueezed(at: 0) : x).squeezedIfUnbatched(x.rank == 3)
    }
}

/// `InstanceNorm` for `[N, C, D, H, W]` inputs or one unbatched `[C, D, H, W]` (PyTorch's `nn.InstanceNorm3d`).
public final class InstanceNorm3d<Scalar: TensorScalar>: InstanceNorm<Scalar> {
    /// Normalizes `x` of shape `[N, C, D, H, W]` or `[C, D, H, W]`; any other rank is an error naming the expected ranks.
    public override func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        checkInputRank("InstanceNorm3d", x.shape, expected: [4, 5], layouts: "[C, D, H, W] (unbatched) or [N, C, D, H, W]")
        return super.callAsFunction(x.rank == 4 ? x.unsqueezed(at: 0) : x).squeezedIfUnbatched(x.rank == 4)
    }
}

/// Stops unless `shape` has one of the `expected` ranks, as PyTorch's `_check_input_dim`.
private func checkInputRank(_ layer: String, _ shape: [Int], expected: [Int], layouts: String) {
    guard expected.contains(shape.count) else {
        let ranks = expected.map { "\($0)-D" }.joined(separator: " or ")
        usageError(layer, "expected a \(ranks) input \(layouts), got a \(shape.count)-D input of shape \(shape)")
    }
}

extension Variable {
    /// Drops the batch axis added to an unbatched input.
    fileprivate func squeezedIfUnbatched(_ unbatched: Bool) -> Variable { unbatched ? squeezed(axes: [0]) : self }
}
