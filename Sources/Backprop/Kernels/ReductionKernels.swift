/// The reductions a kernel pass can compute.
enum ReductionKind: Sendable {
    case sum, max, min
}

enum Reduction {
    /// Describes a reduction of `shape` over `axes` as `[outer, reduced, inner]` when the axes are one
    /// contiguous block, or `nil` when the input must first be permuted.
    static func blockLayout(shape: [Int], axes: [Int]) -> (outer: Int, reduced: Int, inner: Int)? {
        guard let first = axes.first, let last = axes.last else { return (shape.reduce(1, *), 1, 1) }
        guard last - first + 1 == axes.count else { return nil }
        let outer = shape[..<first].reduce(1, *)
        let reduced = shape[first...last].reduce(1, *)
        let inner = shape[(last + 1)...].reduce(1, *)
        return (outer, reduced, inner)
    }

    /// Reduces `x` over sorted, distinct `axes`, returning the result with the reduced axes kept as size 1.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func reduce<Scalar: TensorScalar>(_ x: Tensor<Scalar>, axes: [Int], kind: ReductionKind) -> Tensor<Scalar> {
        var keptShape = x.shape
        for axis in axes { keptShape[axis] = 1 }
        var source = x
        var layout = blockLayout(shape: x.shape, axes: axes)
        if layout == nil {
            // Move the reduced axes to the end so they form one contiguous block.
            let kept = (0..<x.rank).filter { !axes.contains($0) }
            source = Shape.permute(x, order: kept + axes)
            let outer = kept.reduce(1) { $0 * x.shape[$1] }
            layout = (outer, x.count / Swift.max(outer, 1), 1)
        }
        let (outer, reduced, inner) = layout!
        if x.count == 0 || reduced == 0 {
            let fill: Scalar = kind == .sum ? 0 : (kind == .max ? -.infinity : .infinity)
            return Tensor(repeating: fill, shape: keptShape)
        }
        let n = outer * inner
        let result = [Scalar](unsafeUninitializedCapacity: n) { out, initialized in
            source.scalars.withUnsafeBufferPointer { buffer in
                let s = buffer.baseAddress!
                let o = out.baseAddress!
                switch kind {
                case .sum:
                    // Accumulate in Double so Float sums over long axes keep their precision.
                    if inner == 1 {
                        for row in 0..<outer {
                            let p = s + row * reduced
                            var acc = 0.0
                            for r in 0..<reduced { acc += Double(p[r]) }
                            o[row] = Scalar(acc)
                        }
                    } else {
                        var acc = [Double](repeating: 0, count: inner)
                        for row in 0..<outer {
                            for i in 0..<inner { acc[i] = 0 }
                            for r in 0..<reduced {
                                let p = s + (row * reduced + r) * inner
                                for i in 0..<inner { acc[i] += Double(p[i]) }
                            }
                            for i in 0..<inner { o[row * inner + i] = Scalar(acc[i]) }
                        }
                    }
                case .max, .min:
                    let isMax = kind == .max
                    for row in 0..<outer {
                        for i in 0..<inner {
                            var best = s[row * reduced * inner + i]
                            if !best.isNaN {
                                for r in 1..<Swift.max(reduced, 1) {
                                    let v = s[(row * reduced + r) * inner + i]
                                    if v.isNaN { best = v; break }
                                    if isMax ? v > best : v < best { best = v }
                                }
                            }
                            o[row * inner + i] = best
                        }
                    }
                }
            }
            initialized = n
        }
        return Tensor(unchecked: keptShape, scalars: result)
    }

    /// The index of the first maximum (or minimum) along one axis; the axis is kept with size 1.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func argExtremum<Scalar: TensorScalar>(_ x: Tensor<Scalar>, axis: Int, maximum: Bool) -> (shape: [Int], indices: [Int]) {
        let (outer, reduced, inner) = blockLayout(shape: x.shape, axes: [axis])!
        var keptShape = x.shape
        keptShape[axis] = 1
        var indices = [Int](repeating: 0, count: outer * inner)
        x.scalars.withUnsafeBufferPointer { buffer in
            let s = buffer.baseAddress!
            for row in 0..<outer {
                for i in 0..<inner {
                    var bestIndex = 0
                    var best = s[row * reduced * inner + i]
                    if !best.isNaN {
                        for r in 1..<Swift.max(reduced, 1) {
                            let v = s[(row * reduced + r) * inner + i]
                            if v.isNaN { bestIndex = r; break }
                            if maximum ? v > best : v < best { best = v; bestIndex = r }
                        }
                    }
                    indices[row * inner + i] = bestIndex
                }
            }
        }
        return (keptShape, indices)
    }
}
