extension Tensor {
    /// Adds the entries of `source` into zeros of shape `shape` at `indices` along `axis`
    /// (PyTorch's `index_add`), repeated indices accumulating.
    static func indexAdd(_ source: Tensor, indices: [Int], alongAxis axis: Int, into shape: [Int]) -> Tensor {
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        let size = shape[axis]
        // The zeros are written in parallel (an embedding table's gradient is 47 MB, most of it
        // zero), then the selected rows are added in order.
        return Tensor(shape: shape, op: "indexAdd") { dst in
            guard let d0 = dst.baseAddress else { return }
            Parallelism.forEach(count: dst.count, grain: 1 << 18) { range in
                (d0 + range.lowerBound).initialize(repeating: 0, count: range.count)
            }
            source.scalars.withUnsafeBufferPointer { src in
                for o in 0..<outer {
                    for (j, index) in indices.enumerated() {
                        let d = d0 + (o * size + index) * inner
                        let s = src.baseAddress! + (o * indices.count + j) * inner
                        for i in 0..<inner { d[i] += s[i] }
                    }
                }
            }
        }
    }
}

extension Variable {
    /// Selects entries along an axis by index (`index_select`).
    ///
    /// Backward: g added into zeros of x's shape at the selected indices (repeats accumulate), the
    /// op `indexAdd`, whose own backward is this selection again.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func gathering(_ indices: [Int], alongAxis axis: Int) -> Variable {
        let a = Tensor<Scalar>.normalize(axis: axis, rank: rank, op: "gather")
        let shape = self.shape
        return record("gather", value.gathering(indices, alongAxis: a)) { g, _ in
            g.indexAdd(indices, alongAxis: a, into: shape)
        }
    }

    /// Adds this variable's entries into zeros of `shape` at `indices` along `axis` (PyTorch's
    /// `index_add` into zeros). Backward: ∂L/∂x = g gathered at the indices.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func indexAdd(_ indices: [Int], alongAxis axis: Int, into shape: [Int]) -> Variable {
        record("indexAdd", Tensor.indexAdd(value, indices: indices, alongAxis: axis, into: shape)) { g, _ in
            g.gathering(indices, alongAxis: axis)
        }
    }

    /// The elements at flat (row-major) `positions`, as a tensor of `shape`; a position of −1 reads
    /// a zero (with no gradient). Backward: g scattered back to the positions (`scattering`).
    ///
    /// - Parameters:
    ///   - uniquePositions: No position repeats, so the backward may write instead of add.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func gathering(flatPositions positions: [Int], shape: [Int], name: String = "gatherFlat",
                   uniquePositions: Bool = false) -> Variable {
        let source = self.shape
        let x = value.scalars
        let y = Tensor<Scalar>(shape: shape) { out in
            for (k, p) in positions.enumerated() { out[k] = p >= 0 ? x[p] : 0 }
        }
        return record(name, y) { g, _ in
            g.scattering(flatPositions: positions, into: source, uniquePositions: uniquePositions)
        }
    }

    /// Zeros of `shape` with this variable's elements added at flat `positions` (−1: dropped).
    /// Backward: ∂L/∂x = g read at the positions (`gathering(flatPositions:)`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func scattering(flatPositions positions: [Int], into shape: [Int], name: String = "scatterFlat",
                    uniquePositions: Bool = false) -> Variable {
        let source = self.shape
        let g = value.scalars
        var result = Tensor<Scalar>(zeros: shape)
        result.scalars.withUnsafeMutableBufferPointer { out in
            if uniquePositions {
                for (k, p) in positions.enumerated() where p >= 0 { out[p] = g[k] }
            } else {
                for (k, p) in positions.enumerated() where p >= 0 { out[p] += g[k] }
            }
        }
        return record(name, result) { w, _ in
            w.gathering(flatPositions: positions, shape: source, uniquePositions: uniquePositions)
        }
    }

    /// Embedding lookup: rows of this `[vocabulary, dimension]` table for integer ids.
    ///
    /// Backward: the rows of g are added into zeros of the table's shape at their ids.
    ///
    /// - Parameters:
    ///   - ids: Row indices, in `0..<vocabulary`, in row-major order of `idShape`.
    ///   - idShape: The shape of the ids (for example `[batch, sequence]`); the result has shape
    ///     `idShape + [dimension]`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func embeddingLookup(_ ids: [Int], idShape: [Int]) -> Variable {
        guard rank == 2 else { usageError("embedding", "the table must have shape [vocabulary, dimension], got \(shape)") }
        guard TensorSize.product(idShape) == ids.count, idShape.allSatisfy({ $0 >= 0 }) else {
            usageError("embedding", "idShape \(idShape) holds \(TensorSize.product(idShape).map { "\($0)" } ?? "more than Int.max") ids but \(ids.count) were given")
        }
        return gathering(ids, alongAxis: 0).reshaped(to: idShape + [shape[1]])
    }

    /// `condition ? a : b` elementwise with broadcasting; `condition` is a constant mask.
    ///
    /// Backward: ∂L/∂a = sumToShape(g·mask), ∂L/∂b = sumToShape(g·(1 − mask)).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static func select(_ condition: Tensor<Scalar>, _ a: Variable, _ b: Variable) -> Variable {
        let mask = condition .!= Tensor(0)
        let (sa, sb) = (a.shape, b.shape)
        return record("where", a, b, value: Tensor.select(mask, a.value, b.value)) { g, tape in
            [tape.needs(0) ? (g * tape.constant(mask)).summed(toShape: sa) : nil,
             tape.needs(1) ? (g * tape.constant(1 - mask)).summed(toShape: sb) : nil]
        }
    }

    /// Replaces elements where `mask` is non-zero with `value` (PyTorch's `masked_fill`); the mask
    /// broadcasts to this variable's shape.
    ///
    /// Backward: ∂L/∂x = g where the mask is zero, 0 where it was filled.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func maskedFill(where mask: Tensor<Scalar>, with fill: Scalar) -> Variable {
        let m = (mask .!= Tensor(0)).expanded(to: shape)
        let y = Tensor.select(m, Tensor(fill), value)
        return record("maskedFill", y) { g, tape in g * tape.constant(1 - m) }
    }
}
