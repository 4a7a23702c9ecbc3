import BackpropKernelsC
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
                case .sum where inner == 1:
                    if outer == 1 {
                        o[0] = Scalar(parallelRowSum(s, reduced))
                    } else {
                        Parallelism.forEach(count: outer, grain: Swift.max(1, Elementwise.grain / reduced)) { rows in
                            for row in rows { o[row] = Scalar(rowSum(s + row * reduced, reduced)) }
                        }
                    }
                case .sum:
                    // Each output element accumulates its column in order; chunks are column ranges
                    // of one row, or groups of whole rows, fixed by the shape alone.
                    let columns = Swift.min(inner, Swift.max(64, Elementwise.grain / reduced))
                    let columnChunks = (inner + columns - 1) / columns
                    if columnChunks > 1 {
                        Parallelism.forEach(chunks: outer * columnChunks) { chunk in
                            let row = chunk / columnChunks, i0 = (chunk % columnChunks) * columns
                            columnSums(s + row * reduced * inner + i0, reduced: reduced, stride: inner,
                                       count: Swift.min(columns, inner - i0), into: o + row * inner + i0)
                        }
                    } else {
                        Parallelism.forEach(count: outer, grain: Swift.max(1, Elementwise.grain / (reduced * inner))) { rows in
                            for row in rows {
                                columnSums(s + row * reduced * inner, reduced: reduced, stride: inner, count: inner,
                                           into: o + row * inner)
                            }
                        }
                    }
                case .max where inner == 1, .min where inner == 1:
                    let isMax = kind == .max
                    Parallelism.forEach(count: outer, grain: Swift.max(1, Elementwise.grain / reduced)) { rows in
                        for row in rows { o[row] = extremum(s + row * reduced, reduced, isMax: isMax) }
                    }
                case .max, .min:
                    let isMax = kind == .max
                    Parallelism.forEach(count: outer, grain: Swift.max(1, Elementwise.grain / (reduced * inner))) { rows in
                        for row in rows {
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
            }
            initialized = n
        }
        return Tensor(unchecked: keptShape, scalars: result)
    }

    /// The maximum (or minimum) of `count ≥ 1` contiguous elements, NaN if any is NaN: four
    /// independent running extrema and a NaN flag, so the loop has no early exit and pipelines.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func extremum<Scalar: TensorScalar>(_ p: UnsafePointer<Scalar>, _ count: Int, isMax: Bool) -> Scalar {
        var b0 = p[0], b1 = p[0], b2 = p[0], b3 = p[0]
        var sawNaN = false
        var i = 1
        if isMax {
            while i + 4 <= count {
                let v0 = p[i], v1 = p[i + 1], v2 = p[i + 2], v3 = p[i + 3]
                sawNaN = sawNaN || v0.isNaN || v1.isNaN || v2.isNaN || v3.isNaN
                b0 = v0 > b0 ? v0 : b0; b1 = v1 > b1 ? v1 : b1; b2 = v2 > b2 ? v2 : b2; b3 = v3 > b3 ? v3 : b3
                i += 4
            }
            while i < count { let v = p[i]; sawNaN = sawNaN || v.isNaN; b0 = v > b0 ? v : b0; i += 1 }
            b0 = Swift.max(Swift.max(b0, b1), Swift.max(b2, b3))
        } else {
            while i + 4 <= count {
                let v0 = p[i], v1 = p[i + 1], v2 = p[i + 2], v3 = p[i + 3]
                sawNaN = sawNaN || v0.isNaN || v1.isNaN || v2.isNaN || v3.isNaN
                b0 = v0 < b0 ? v0 : b0; b1 = v1 < b1 ? v1 : b1; b2 = v2 < b2 ? v2 : b2; b3 = v3 < b3 ? v3 : b3
                i += 4
            }
            while i < count { let v = p[i]; sawNaN = sawNaN || v.isNaN; b0 = v < b0 ? v : b0; i += 1 }
            b0 = Swift.min(Swift.min(b0, b1), Swift.min(b2, b3))
        }
        return sawNaN || p[0].isNaN ? .nan : b0
    }

    /// Elements per block of a long sum: the sum of a row is the in-order sum of its block sums,
    /// whether the blocks run on one thread or several.
    static let sumBlock = 1 << 14

    /// The sum of `count` contiguous elements, accumulated in Double: eight interleaved partial
    /// sums per block (so the adds pipeline and vectorize), blocks added in order.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func rowSum<Scalar: TensorScalar>(_ p: UnsafePointer<Scalar>, _ count: Int) -> Double {
        var total = 0.0
        for start in stride(from: 0, to: count, by: sumBlock) {
            total += blockSum(p + start, Swift.min(sumBlock, count - start))
        }
        return total
    }

    /// `rowSum` with its blocks spread over the workers; the same value, bit for bit.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func parallelRowSum<Scalar: TensorScalar>(_ p: UnsafePointer<Scalar>, _ count: Int) -> Double {
        let blocks = (count + sumBlock - 1) / sumBlock
        if blocks <= 1 { return rowSum(p, count) }
        var partials = [Double](repeating: 0, count: blocks)
        partials.withUnsafeMutableBufferPointer { partials in
            let out = partials.baseAddress!
            Parallelism.forEach(chunks: blocks) { block in
                let start = block * sumBlock
                out[block] = blockSum(p + start, Swift.min(sumBlock, count - start))
            }
        }
        var total = 0.0
        for partial in partials { total += partial }
        return total
    }

    @inline(__always)
    static func blockSum<Scalar: TensorScalar>(_ p: UnsafePointer<Scalar>, _ count: Int) -> Double {
        var a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0, a4 = 0.0, a5 = 0.0, a6 = 0.0, a7 = 0.0
        var i = 0
        while i + 8 <= count {
            a0 += Double(p[i]); a1 += Double(p[i + 1]); a2 += Double(p[i + 2]); a3 += Double(p[i + 3])
            a4 += Double(p[i + 4]); a5 += Double(p[i + 5]); a6 += Double(p[i + 6]); a7 += Double(p[i + 7])
            i += 8
        }
        while i < count { a0 += Double(p[i]); i += 1 }
        return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
    }

    /// `columnSums` shared out over ranges of 64 columns when the matrix is large (a Linear
    /// layer's bias gradient over 576 × 1536 took 1 % of a MiniLM training step on one thread).
    /// Each column is still summed alone, in row order: the same sums whatever the worker count.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func parallelColumnSums<Scalar: TensorScalar>(_ p: UnsafePointer<Scalar>, reduced: Int, stride: Int, count: Int,
                                                         into out: UnsafeMutablePointer<Scalar>) {
        let units = (count + 63) / 64
        guard reduced * count >= 1 << 16, units >= 2 else {
            columnSums(p, reduced: reduced, stride: stride, count: count, into: out)
            return
        }
        let (input, output) = (UncheckedSendable(p), UncheckedSendable(out))
        Parallelism.forEach(count: units, grain: Swift.max(1, units / (2 * Parallelism.workerCount))) { range in
            let first = range.lowerBound * 64
            columnSums(input.value + first, reduced: reduced, stride: stride,
                       count: Swift.min(count, range.upperBound * 64) - first, into: output.value + first)
        }
    }

    /// `out[i] = Σ_r p[r · stride + i]` for `i < count`, each column accumulated in order in Double.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func columnSums<Scalar: TensorScalar>(_ p: UnsafePointer<Scalar>, reduced: Int, stride: Int, count: Int,
                                                 into out: UnsafeMutablePointer<Scalar>) {
        withUnsafeTemporaryAllocation(of: Double.self, capacity: count) { acc in
            let a = acc.baseAddress!
            if Scalar.self == Float.self && reduced > 0 && bp_norm_kernels_available() != 0 {
                // The same sums (each column from 0, rows in order, in Double), with blocks of
                // columns held in registers down the rows: 576 × 1536 took 0.21 ms here.
                p.withMemoryRebound(to: Float.self, capacity: (reduced - 1) * stride + count) { p in
                    bp_f32_column_sums(p, reduced, stride, count, a)
                }
                for i in 0..<count { out[i] = Scalar(a[i]) }
                return
            }
            a.initialize(repeating: 0, count: count)
            for r in 0..<reduced {
                let row = p + r * stride
                for i in 0..<count { a[i] += Double(row[i]) }
            }
            for i in 0..<count { out[i] = Scalar(a[i]) }
        }
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
