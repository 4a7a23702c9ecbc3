enum Shape {
    /// Materializes `x` with its axes reordered: result axis `i` is input axis `order[i]`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func permute<Scalar: TensorScalar>(_ x: Tensor<Scalar>, order: [Int]) -> Tensor<Scalar> {
        let rank = x.rank
        let outShape = order.map { x.shape[$0] }
        if order == Array(0..<rank) { return x }
        let inStrides = x.strides
        let strides = order.map { inStrides[$0] }
        let n = x.count
        guard n > 0 else { return Tensor(unchecked: outShape, scalars: []) }
        if rank >= 2 && order[rank - 1] == rank - 2 && order[rank - 2] == rank - 1
            && order[..<(rank - 2)].elementsEqual(0..<(rank - 2)) {
            return transposeLastTwoAxes(x, outShape: outShape)
        }
        let inner = outShape[rank - 1]
        let innerStride = strides[rank - 1]
        let outer = n / inner
        return Tensor(shape: outShape) { out in
            x.scalars.withUnsafeBufferPointer { buffer in
                let s = buffer.baseAddress!
                let o = out.baseAddress!
                Parallelism.forEach(count: outer, grain: Swift.max(1, Elementwise.grain / inner)) { rows in
                // The input offset of the chunk's first output row, then advanced row by row.
                var index = [Int](repeating: 0, count: rank)
                var offset = 0
                var rest = rows.lowerBound
                for axis in stride(from: rank - 2, through: 0, by: -1) {
                    index[axis] = rest % outShape[axis]
                    rest /= outShape[axis]
                    offset += index[axis] * strides[axis]
                }
                for row in rows {
                    let dst = o + row * inner
                    if innerStride == 1 {
                        for i in 0..<inner { dst[i] = s[offset + i] }
                    } else {
                        for i in 0..<inner { dst[i] = s[offset + i * innerStride] }
                    }
                    var axis = rank - 2
                    while axis >= 0 {
                        index[axis] += 1
                        offset += strides[axis]
                        if index[axis] < outShape[axis] { break }
                        offset -= strides[axis] * outShape[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
                }
            }
        }
    }

    /// A stack of matrix transposes, copied in 32 × 32 blocks so both the reads and the writes
    /// stay within a few cache lines; chunks are bands of 32 input rows of one matrix.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func transposeLastTwoAxes<Scalar: TensorScalar>(_ x: Tensor<Scalar>, outShape: [Int]) -> Tensor<Scalar> {
        let rows = x.shape[x.rank - 2], columns = x.shape[x.rank - 1]
        let matrices = x.count / (rows * columns)
        let block = 32
        let bands = (rows + block - 1) / block
        return Tensor(shape: outShape) { out in
            x.scalars.withUnsafeBufferPointer { buffer in
                let s = buffer.baseAddress!, o = out.baseAddress!
                let work = matrices * bands
                let bandsPerChunk = Swift.max(1, Elementwise.grain / Swift.max(1, block * columns))
                Parallelism.forEach(count: work, grain: bandsPerChunk) { chunk in
                    for item in chunk {
                        let matrix = item / bands, i0 = (item % bands) * block
                        let src = s + matrix * rows * columns, dst = o + matrix * rows * columns
                        let i1 = Swift.min(i0 + block, rows)
                        for j0 in stride(from: 0, to: columns, by: block) {
                            let j1 = Swift.min(j0 + block, columns)
                            for i in i0..<i1 {
                                for j in j0..<j1 { dst[j * rows + i] = src[i * columns + j] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Materializes `x` broadcast to `target` (NumPy rules; `x.shape` must broadcast to `target`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func broadcast<Scalar: TensorScalar>(_ x: Tensor<Scalar>, to target: [Int], op: String) -> Tensor<Scalar> {
        if x.shape == target { return x }
        let joint = broadcastShape(x.shape, target, op: op)
        guard joint == target else {
            shapeError(op, "shape \(x.shape) cannot be expanded to \(target) (each size must equal the target size or be 1)")
        }
        return x.broadcastFill(to: target, from: x)
    }
}

extension Tensor {
    /// Copies `source` into a new tensor of shape `target` along broadcast strides.
    fileprivate func broadcastFill(to target: [Int], from source: Tensor) -> Tensor {
        let strides = broadcastStrides(source.shape, to: target)
        let rank = target.count
        let n = target.reduce(1, *)
        guard n > 0 else { return Tensor(unchecked: target, scalars: []) }
        if rank == 0 { return Tensor(unchecked: target, scalars: [source.scalars[0]]) }
        let inner = target[rank - 1]
        let innerStride = strides[rank - 1]
        return Tensor(shape: target) { out in
            source.scalars.withUnsafeBufferPointer { buffer in
                let s = buffer.baseAddress!
                let o = out.baseAddress!
                var index = [Int](repeating: 0, count: rank)
                var offset = 0
                for row in 0..<(n / inner) {
                    for i in 0..<inner { o[row * inner + i] = s[offset + i * innerStride] }
                    var axis = rank - 2
                    while axis >= 0 {
                        index[axis] += 1
                        offset += strides[axis]
                        if index[axis] < target[axis] { break }
                        offset -= strides[axis] * target[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
    }
}
