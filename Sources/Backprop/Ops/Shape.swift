extension Variable {
    /// The same elements with a new shape (one size may be −1). Backward: g reshaped back.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func reshaped(to newShape: [Int]) -> Variable {
        let shape = self.shape
        if newShape == shape { return self }
        return record("reshape", value.reshaped(to: newShape)) { g, _ in g.reshaped(to: shape) }
    }

    /// Reorders axes. Backward: g permuted by the inverse permutation.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func permuted(_ order: [Int]) -> Variable {
        let resolved = Tensor<Scalar>.validatePermutation(order, rank: rank)
        var inverse = [Int](repeating: 0, count: resolved.count)
        for (i, axis) in resolved.enumerated() { inverse[axis] = i }
        return record("permute", value.permuted(resolved)) { g, _ in g.permuted(inverse) }
    }

    /// Swaps the last two axes. Backward: g with its last two axes swapped.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func transposed() -> Variable {
        guard rank >= 2 else { return self }
        return transposed(rank - 2, rank - 1)
    }

    /// Swaps two axes. Backward: the same swap applied to g.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func transposed(_ axis0: Int, _ axis1: Int) -> Variable {
        let a = Tensor<Scalar>.normalize(axis: axis0, rank: rank, op: "transpose")
        let b = Tensor<Scalar>.normalize(axis: axis1, rank: rank, op: "transpose")
        var order = Array(0..<rank)
        order.swapAt(a, b)
        return permuted(order)
    }

    /// Broadcasts to a larger shape. Backward: ∂L/∂x = sumToShape(g, x.shape).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func expanded(to target: [Int]) -> Variable {
        let shape = self.shape
        return record("expand", value.expanded(to: target)) { g, _ in g.summed(toShape: shape) }
    }

    /// Removes size-1 axes (all of them when `axes` is empty). Backward: g reshaped back.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func squeezed(axes: [Int] = []) -> Variable {
        reshaped(to: value.squeezed(axes: axes).shape)
    }

    /// Inserts a size-1 axis. Backward: g reshaped back.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func unsqueezed(at axis: Int) -> Variable {
        reshaped(to: value.unsqueezed(at: axis).shape)
    }

    /// The entries with index in `range` along `axis`.
    ///
    /// Backward: g placed into zeros of x's shape at the same positions (a concatenation with
    /// zero blocks, whose own backward is this slice again).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func slice(alongAxis axis: Int, range: Range<Int>) -> Variable {
        let a = Tensor<Scalar>.normalize(axis: axis, rank: rank, op: "slice")
        let shape = self.shape
        return record("slice", value.slice(alongAxis: a, range: range)) { g, tape in
            var parts: [Variable] = []
            var before = shape, after = shape
            before[a] = range.lowerBound
            after[a] = shape[a] - range.upperBound
            if before[a] > 0 { parts.append(tape.constant(Tensor(zeros: before))) }
            parts.append(g)
            if after[a] > 0 { parts.append(tape.constant(Tensor(zeros: after))) }
            return parts.count == 1 ? g : Variable.concatenate(parts, alongAxis: a)
        }
    }

    /// Joins variables along an existing axis. Backward: g split back into the pieces.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static func concatenate(_ parts: [Variable], alongAxis axis: Int) -> Variable {
        let value = Tensor.concatenate(parts.map(\.value), alongAxis: axis)
        let a = Tensor<Scalar>.normalize(axis: axis, rank: value.rank, op: "concatenate")
        let sizes = parts.map { $0.shape[a] }
        return record("concatenate", parts, value: value) { g, tape in
            var start = 0
            return sizes.enumerated().map { position, size in
                defer { start += size }
                return tape.needs(position) ? g.slice(alongAxis: a, range: start..<(start + size)) : nil
            }
        }
    }

    /// Joins variables of equal shape along a new axis. Backward: g split and squeezed.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static func stack(_ parts: [Variable], alongAxis axis: Int = 0) -> Variable {
        guard let first = parts.first else { usageError("stack", "needs at least one variable") }
        for (i, p) in parts.enumerated() where p.shape != first.shape {
            usageError("stack", "variable \(i) has shape \(p.shape) but variable 0 has shape \(first.shape) (all shapes must be equal)")
        }
        return concatenate(parts.map { $0.unsqueezed(at: axis) }, alongAxis: axis)
    }

    /// Splits into pieces of the given sizes along an axis; each piece is a slice.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func split(sizes: [Int], alongAxis axis: Int) -> [Variable] {
        let a = Tensor<Scalar>.normalize(axis: axis, rank: rank, op: "split")
        guard sizes.allSatisfy({ $0 >= 0 }),
              TensorSize.sum(sizes) == shape[a] else {
            usageError("split", "sizes \(sizes) do not add up to the size \(shape[a]) of axis \(axis) (shape \(shape))")
        }
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return slice(alongAxis: a, range: start..<(start + size))
        }
    }
}
