extension Tensor {
    /// Adds the entries of `source` into zeros of shape `shape` at `indices` along `axis`
    /// (PyTorch's `index_add`), repeated indices accumulating.
    static func indexAdd(_ source: Tensor, indices: [Int], alongAxis axis: Int, into shape: [Int]) -> Tensor {
        var result = Tensor(zeros: shape)
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        let size = shape[axis]
        result.scalars.withUnsafeMutableBufferPointer { dst in
            source.scalars.withUnsafeBufferPointer { src in
                for o in 0..<outer {
                    for (j, index) in indices.enumerated() {
                        let d = dst.baseAddress! + (o * size + index) * inner
                        let s = src.baseAddress! + (o * indices.count + j) * inner
                        for i in 0..<inner { d[i] += s[i] }
                    }
                }
            }
        }
        return result
    }
}

extension Variable {
    /// Selects entries along an axis by index (`index_select`).
    ///
    /// Backward: g added into zeros of x's shape at the selected indices (repeats accumulate).
    public func gathering(_ indices: [Int], alongAxis axis: Int) -> Variable {
        let a = Tensor<Scalar>.normalize(axis: axis, rank: rank, op: "gather")
        let shape = self.shape
        return record("gather", value.gathering(indices, alongAxis: a)) { g in
            Tensor.indexAdd(g, indices: indices, alongAxis: a, into: shape)
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
    public func embeddingLookup(_ ids: [Int], idShape: [Int]) -> Variable {
        guard rank == 2 else { shapeError("embedding", "the table must have shape [vocabulary, dimension], got \(shape)") }
        guard idShape.reduce(1, *) == ids.count else {
            shapeError("embedding", "idShape \(idShape) holds \(idShape.reduce(1, *)) ids but \(ids.count) were given")
        }
        return gathering(ids, alongAxis: 0).reshaped(to: idShape + [shape[1]])
    }

    /// `condition ? a : b` elementwise with broadcasting; `condition` is a constant mask.
    ///
    /// Backward: ∂L/∂a = sumToShape(g·mask), ∂L/∂b = sumToShape(g·(1 − mask)).
    public static func select(_ condition: Tensor<Scalar>, _ a: Variable, _ b: Variable) -> Variable {
        let mask = condition .!= Tensor(0)
        let (sa, sb) = (a.shape, b.shape)
        return record("where", [a, b], value: Tensor.select(mask, a.value, b.value)) { g in
            [(g * mask).summed(toShape: sa), (g * (1 - mask)).summed(toShape: sb)]
        }
    }

    /// Replaces elements where `mask` is non-zero with `value` (PyTorch's `masked_fill`); the mask
    /// broadcasts to this variable's shape.
    ///
    /// Backward: ∂L/∂x = g where the mask is zero, 0 where it was filled.
    public func maskedFill(where mask: Tensor<Scalar>, with fill: Scalar) -> Variable {
        let m = (mask .!= Tensor(0)).expanded(to: shape)
        let y = Tensor.select(m, Tensor(fill), value)
        return record("maskedFill", y) { g in g * (1 - m) }
    }
}
