import BackpropKernelsC

enum NormalizationKernels {
    /// About how many elements one parallel chunk covers: a chunk is a fixed range of whole sets
    /// chosen from the layout alone, so every per-set value is computed by one chunk in one order
    /// whatever the worker count.
    static let chunkElements = 1 << 15

    /// The chunks of a backward kernel that accumulates per-chunk parameter partials: whole sets per
    /// chunk and the number of chunks. At most 64 chunks, so the partials (zeroed, then summed in
    /// order) stay small next to the data; still fixed by the layout alone.
    static func partialChunks(_ layout: NormalizationLayout) -> (grain: Int, chunks: Int) {
        let grain = Swift.max(setsPerChunk(layout), (layout.sets + 63) / 64)
        return (grain, (layout.sets + grain - 1) / grain)
    }

    /// The number of whole sets per parallel chunk for `layout`.
    static func setsPerChunk(_ layout: NormalizationLayout) -> Int {
        Swift.max(1, chunkElements / Swift.max(1, layout.countPerSet))
    }

    /// Σ (x − μ)² over `count` contiguous elements in `Double`, in eight lanes (see `laneSums`).
    @inline(__always)
    static func centeredSquares<Scalar: TensorScalar>(_ x: UnsafePointer<Scalar>, _ count: Int, mean mu: Double) -> Lanes8 {
        if VectorLoops.applies(to: Scalar.self, count: count) {
            return VectorLoops.lanes { bp_f32_lane_centered_squares(VectorLoops.float(x), count, mu, $0) }
        }
        let m = Lanes8(repeating: mu)
        return laneSums(x, count) { let d = $0 - m; return d * d }
    }

    /// Σ term(x) in four groups of eight `Double` lanes: blocks of 32 elements put elements
    /// 8q..8q+7 into group q, the remaining whole blocks of eight go to groups 0, 1, 2 in turn, the
    /// tail into its own lanes from lane 0; the result is ((g0 + g1) + (g2 + g3)) + tail. Four
    /// independent chains hide the latency of the additions. `bp_f32_lane_centered_squares` is the same sum of squares.
    @inline(__always)
    static func laneSums<Scalar: TensorScalar>(_ x: UnsafePointer<Scalar>, _ count: Int,
                                               _ term: (Lanes8) -> Lanes8) -> Lanes8 {
        var (g0, g1, g2, g3) = (Lanes8(), Lanes8(), Lanes8(), Lanes8())
        var i = 0
        while i + 32 <= count {
            g0 += term(lanes(x + i))
            g1 += term(lanes(x + i + 8))
            g2 += term(lanes(x + i + 16))
            g3 += term(lanes(x + i + 24))
            i += 32
        }
        if i + 8 <= count { g0 += term(lanes(x + i)); i += 8 }
        if i + 8 <= count { g1 += term(lanes(x + i)); i += 8 }
        if i + 8 <= count { g2 += term(lanes(x + i)); i += 8 }
        var tail = Lanes8()
        var lane = 0
        while i < count { tail[lane] = Double(x[i]); i += 1; lane += 1 }
        return ((g0 + g1) + (g2 + g3)) + term(tail).masked(lanes: lane)
    }

    /// Eight consecutive elements widened to `Double`.
    @inline(__always)
    static func lanes<Scalar: TensorScalar>(_ p: UnsafePointer<Scalar>) -> Lanes8 {
        Lanes8(Double(p[0]), Double(p[1]), Double(p[2]), Double(p[3]), Double(p[4]), Double(p[5]), Double(p[6]), Double(p[7]))
    }

    /// Moments per set: μ = Σx/n, then M2 = Σ(x − μ)² (or Σx² when not `centered`), accumulated in
    /// `Double` (two sweeps over a set while it is in cache), parallel over fixed chunks of sets.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func moments<Scalar: TensorScalar>(_ x: UnsafeBufferPointer<Scalar>, layout: NormalizationLayout,
                                              centered: Bool) -> (mean: [Double], sumOfSquares: [Double]) {
        let sets = layout.sets
        var mean = [Double](repeating: 0, count: sets)
        var squares = [Double](repeating: 0, count: sets)
        guard let base = x.baseAddress else { return (mean, squares) }
        if usesColumns(layout) { return columnMoments(base, layout: layout, centered: centered) }
        mean.withUnsafeMutableBufferPointer { meanOut in
            squares.withUnsafeMutableBufferPointer { squaresOut in
                let (meanOut, squaresOut) = (meanOut.baseAddress!, squaresOut.baseAddress!)
                Parallelism.forEach(count: sets, grain: setsPerChunk(layout)) { range in
                    for s in range {
                        (meanOut[s], squaresOut[s]) = setMoments(base, set: s, layout: layout, centered: centered)
                    }
                }
            }
        }
        return (mean, squares)
    }

    /// μ = Σx/n, then M2 = Σ(x − μ)² (or Σx² when not `centered`) of one set, in `Double` lanes.
    @inline(__always)
    static func setMoments<Scalar: TensorScalar>(_ base: UnsafePointer<Scalar>, set s: Int, layout: NormalizationLayout,
                                                 centered: Bool) -> (mean: Double, squares: Double) {
        let (outer, inner) = (layout.outer, layout.inner)
        let setStride = layout.sets * inner
        guard layout.countPerSet > 0 else { return (0, 0) }
        if centered {
            // One sweep of Σ(x − K) and Σ(x − K)² with K the set's first element. Every element lies
            // within √(n − 1)·σ of the mean (Samuelson), so (μ − K)² ≤ (n − 1)·σ² and cancellation
            // in M2 = Σ(x − K)² − (Σ(x − K))²/n costs at most about n·ε_Double relative.
            let shift = Double(base[s * inner])
            var sums = Lanes8(), squares = Lanes8()
            for o in 0..<outer {
                shiftedMoments(base + o * setStride + s * inner, inner, shift: shift, sums: &sums, squares: &squares)
            }
            let n = Double(layout.countPerSet)
            let (s1, s2) = (sums.sum(), squares.sum())
            // Rounding can make M2 slightly negative; clamp that to 0 but let a NaN through (Swift.max(0,
            // NaN) is 0, which would hide a NaN input from the variance and the running statistics).
            let m2 = s2 - s1 * (s1 / n)
            return (shift + s1 / n, m2 < 0 ? 0 : m2)
        }
        var acc = Lanes8()
        for o in 0..<outer { acc += centeredSquares(base + o * setStride + s * inner, inner, mean: 0) }
        return (0, acc.sum())
    }

    /// Adds Σ (x − shift) to `sums` and Σ (x − shift)² to `squares` over `count` contiguous elements,
    /// in two groups of eight `Double` lanes (blocks of 16 put elements 0–7 in group 0 and 8–15 in
    /// group 1, a remaining block of eight goes to group 0, the tail to its own lanes; each result
    /// is (g0 + g1) + tail). `bp_f32_lane_shifted_moments` is the same computation.
    @inline(__always)
    static func shiftedMoments<Scalar: TensorScalar>(_ x: UnsafePointer<Scalar>, _ count: Int, shift: Double,
                                                     sums: inout Lanes8, squares: inout Lanes8) {
        if VectorLoops.applies(to: Scalar.self, count: count) {
            VectorLoops.withLanes(&sums, &squares) { both in
                bp_f32_lane_shifted_moments(VectorLoops.float(x), count, shift, both, both + 8)
            }
            return
        }
        let k = Lanes8(repeating: shift)
        var (s0, s1, q0, q1) = (Lanes8(), Lanes8(), Lanes8(), Lanes8())
        var i = 0
        while i + 16 <= count {
            let a = lanes(x + i) - k, b = lanes(x + i + 8) - k
            s0 += a
            s1 += b
            q0 += a * a
            q1 += b * b
            i += 16
        }
        if i + 8 <= count {
            let a = lanes(x + i) - k
            s0 += a
            q0 += a * a
            i += 8
        }
        var (ts, tq) = (Lanes8(), Lanes8())
        var lane = 0
        while i < count {
            let d = Double(x[i]) - shift
            ts[lane] = d
            tq[lane] = d * d
            i += 1
            lane += 1
        }
        sums += (s0 + s1) + ts
        squares += (q0 + q1) + tq
    }

    /// 1/√(M2/n + ε).
    @inline(__always)
    static func reciprocalStd(squares: Double, count n: Double, eps: Double) -> Double {
        1 / ((squares / n) + eps).squareRoot()
    }

    /// Statistics from the input: mean and rstd = 1/√(M2/n + ε).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func statistics<Scalar: TensorScalar>(of x: Tensor<Scalar>, layout: NormalizationLayout,
                                                 centered: Bool, eps: Double) -> NormalizationStatistics {
        let (mean, squares) = x.scalars.withUnsafeBufferPointer { moments($0, layout: layout, centered: centered) }
        let n = Double(layout.countPerSet)
        let rstd = squares.map { reciprocalStd(squares: $0, count: n, eps: eps) }
        return NormalizationStatistics(mean: mean, reciprocalStd: rstd, sumOfSquares: squares)
    }
}
