extension Tensor {
    /// Matrix product with NumPy `matmul` semantics.
    ///
    /// - 1-D · 1-D: the dot product (rank 0).
    /// - 2-D · 2-D: the matrix product.
    /// - A 1-D operand is promoted to a matrix (a row on the left, a column on the right) and the
    ///   added axis is removed from the result.
    /// - Higher ranks: a stack of matrices; the batch axes (all but the last two) broadcast.
    public func matmul(_ other: Tensor) -> Tensor {
        Tensor.matmul(self, transposingFirst: false, other, transposingSecond: false, op: "matmul")
    }

    /// `op(a) · op(b)` with optional transposes of the last two axes, without materializing them twice.
    static func matmul(_ a: Tensor, transposingFirst ta: Bool, _ b: Tensor, transposingSecond tb: Bool, op: String) -> Tensor {
        guard a.rank >= 1 && b.rank >= 1 else {
            usageError(op, "operands must have rank ≥ 1, got shapes \(a.shape) and \(b.shape)")
        }
        let aShape = a.rank == 1 ? [1, a.shape[0]] : a.shape
        let bShape = b.rank == 1 ? [b.shape[0], 1] : b.shape
        let m = ta ? aShape[aShape.count - 1] : aShape[aShape.count - 2]
        let k = ta ? aShape[aShape.count - 2] : aShape[aShape.count - 1]
        let kb = tb ? bShape[bShape.count - 1] : bShape[bShape.count - 2]
        let n = tb ? bShape[bShape.count - 2] : bShape[bShape.count - 1]
        guard k == kb else {
            usageError(op, "shapes \(a.shape) and \(b.shape) are not aligned: the inner sizes \(k) and \(kb) differ (A's last axis must equal B's second-to-last)")
        }
        let aBatch = Array(aShape.dropLast(2)), bBatch = Array(bShape.dropLast(2))
        for (x, y) in zip(aBatch.reversed(), bBatch.reversed()) where x != y && x != 1 && y != 1 {
            usageError(op, "the batch axes \(aBatch) of shape \(a.shape) and \(bBatch) of shape \(b.shape) cannot be broadcast: sizes \(x) and \(y) differ (batch sizes must be equal or one of them 1)")
        }
        let batch = broadcastShape(aBatch, bBatch, op: op)
        let batchCount = batch.reduce(1, *)
        let aStrides = broadcastStrides(aBatch, to: batch), bStrides = broadcastStrides(bBatch, to: batch)
        let aMatrix = aShape[aShape.count - 2] * aShape[aShape.count - 1]
        let bMatrix = bShape[bShape.count - 2] * bShape[bShape.count - 1]
        var outShape = batch + [m, n]
        TensorSize.elementCount(of: outShape, scalar: Scalar.self, op: op)
        // A stack of small products runs one product per chunk, each on one thread; a large
        // product is spread over the workers by GEMM itself. Either way each output element is
        // computed the same way, whatever the worker count. (The work m·n·k is compared in Double:
        // it can exceed Int when the output is large.) A stack too small to pay for waking a worker
        // runs on the calling thread: the gradient-check catalog's attention cases (hundreds of
        // 3 × 4 products per case) spent 90 % of their time at 2 threads in parallel regions.
        let work = Double(m) * Double(n) * Double(k)
        let batchParallel = batchCount > 1 && work < Double(GEMM.batchItemThreshold)
            && work * Double(batchCount) >= Double(GEMM.parallelThreshold)
        let result = Tensor(shape: outShape, op: op) { out in
            a.scalars.withUnsafeBufferPointer { pa in
                b.scalars.withUnsafeBufferPointer { pb in
                    let baseA = pa.baseAddress!, baseB = pb.baseAddress!, baseC = out.baseAddress!
                    func product(_ item: Int, parallel: Bool) {
                        var offA = 0, offB = 0
                        var rest = item
                        for axis in stride(from: batch.count - 1, through: 0, by: -1) {
                            let index = rest % batch[axis]
                            rest /= batch[axis]
                            offA += index * aStrides[axis]
                            offB += index * bStrides[axis]
                        }
                        GEMM.multiply(baseA + offA * aMatrix, transposeA: ta, baseB + offB * bMatrix, transposeB: tb,
                                      m: m, n: n, k: k, into: baseC + item * m * n, accumulate: false, parallel: parallel)
                    }
                    if batchParallel {
                        Parallelism.forEach(chunks: batchCount) { product($0, parallel: false) }
                    } else {
                        for item in 0..<batchCount { product(item, parallel: true) }
                    }
                }
            }
        }
        if a.rank == 1 { outShape.remove(at: outShape.count - 2) }
        if b.rank == 1 { outShape.removeLast() }
        return Tensor(unchecked: outShape, scalars: result.scalars)
    }
}
