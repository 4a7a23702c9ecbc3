import BackpropKernelsC

/// The shared statistics and normalization kernels behind every normalization layer.
///
/// Every layer views its input as `[outer, sets, inner]` (row-major) and normalizes each of the
/// `sets` slices over its `outer·inner` elements:
///
/// | layer | outer | sets | inner |
/// |---|---|---|---|
/// | BatchNorm | N | C | ∏spatial |
/// | InstanceNorm | 1 | N·C | ∏spatial |
/// | GroupNorm | 1 | N·G | (C/G)·∏spatial |
/// | LayerNorm, RMSNorm | 1 | ∏leading | ∏normalizedShape |
/// | BatchLayerNorm (batch term) | N | ∏rest | 1 |
///
/// The per-element affine index (into γ and β) is `(set mod affinePeriod)·affineStride + k / innerPerAffine`
/// for the element at inner offset `k`. Statistics are accumulated in `Double` for `Float` and
/// `Double` inputs alike (two passes: the mean, then the centred sum of squares), so an input such as
/// `1e4 + N(0, 1)` in `Float` keeps its variance.
struct NormalizationLayout: Sendable, Equatable {
    /// Elements before the set axis that each set reduces over.
    var outer: Int
    /// The number of independent normalization sets.
    var sets: Int
    /// Contiguous elements after the set axis that each set reduces over.
    var inner: Int
    /// The period of the set index in the affine index (`C` for channel-wise layers, 1 for LayerNorm).
    var affinePeriod: Int
    /// The multiplier of `set mod affinePeriod` in the affine index.
    var affineStride: Int
    /// How many consecutive inner elements share one affine index.
    var innerPerAffine: Int

    /// The number of elements in one normalization set, `outer·inner`.
    var countPerSet: Int { outer * inner }
    /// The total number of elements.
    var count: Int { outer * sets * inner }
}

/// How the output depends on the statistics, which decides the backward formula.
enum StatisticsDependence: Sendable {
    /// `x̂ = (x − μ)·rstd` with μ and rstd computed from x: dx = rstd·(g·dy − mean(g·dy) − x̂·mean(g·dy·x̂)).
    case centered
    /// `x̂ = x·rstd`, rstd = 1/√(mean(x²) + ε) computed from x (RMSNorm): dx = rstd·(g·dy − x̂·mean(g·dy·x̂)).
    case uncentered
    /// μ and rstd are constants (evaluation with running statistics): dx = rstd·g·dy.
    case constant
}

/// Per-set statistics kept for backward: the mean and the reciprocal standard deviation, in `Double`.
struct NormalizationStatistics: Sendable {
    /// μ per set (zeros for RMSNorm).
    var mean: [Double]
    /// 1/√(σ² + ε) per set (1/√(mean(x²) + ε) for RMSNorm).
    var reciprocalStd: [Double]
    /// The sum of squared deviations Σ(x − μ)² per set, for the unbiased running-variance update.
    var sumOfSquares: [Double]
    /// A per-set factor on the `x̂·mean(g·dy·x̂)` term of dx when the scale is not `1/√(σ²_b + ε)`
    /// (the Annotated-Transformer LayerNorm); `nil` means 1.
    var coupling: [Double]? = nil
}

/// Eight `Double` accumulator lanes with a fixed summation order, kept as plain stored values
/// (8-byte aligned, unlike `SIMD8<Double>`, which closure contexts and dispatch stacks need not
/// align to 64 bytes); the optimizer turns the lane-wise operations into vector instructions.
struct Lanes8 {
    var v0 = 0.0, v1 = 0.0, v2 = 0.0, v3 = 0.0, v4 = 0.0, v5 = 0.0, v6 = 0.0, v7 = 0.0

    init() {}

    @inline(__always)
    init(_ a0: Double, _ a1: Double, _ a2: Double, _ a3: Double, _ a4: Double, _ a5: Double, _ a6: Double, _ a7: Double) {
        (v0, v1, v2, v3, v4, v5, v6, v7) = (a0, a1, a2, a3, a4, a5, a6, a7)
    }

    @inline(__always)
    init(repeating value: Double) { self.init(value, value, value, value, value, value, value, value) }

    @inline(__always)
    subscript(lane: Int) -> Double {
        get {
            switch lane {
            case 0: v0
            case 1: v1
            case 2: v2
            case 3: v3
            case 4: v4
            case 5: v5
            case 6: v6
            default: v7
            }
        }
        set {
            switch lane {
            case 0: v0 = newValue
            case 1: v1 = newValue
            case 2: v2 = newValue
            case 3: v3 = newValue
            case 4: v4 = newValue
            case 5: v5 = newValue
            case 6: v6 = newValue
            default: v7 = newValue
            }
        }
    }

    /// The lanes below `count` kept, the others set to zero.
    @inline(__always)
    func masked(lanes count: Int) -> Lanes8 {
        var result = Lanes8()
        for lane in 0..<count { result[lane] = self[lane] }
        return result
    }

    /// ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7)).
    @inline(__always)
    func sum() -> Double { ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7)) }

    @inline(__always)
    static func + (a: Lanes8, b: Lanes8) -> Lanes8 {
        Lanes8(a.v0 + b.v0, a.v1 + b.v1, a.v2 + b.v2, a.v3 + b.v3, a.v4 + b.v4, a.v5 + b.v5, a.v6 + b.v6, a.v7 + b.v7)
    }

    @inline(__always)
    static func - (a: Lanes8, b: Lanes8) -> Lanes8 {
        Lanes8(a.v0 - b.v0, a.v1 - b.v1, a.v2 - b.v2, a.v3 - b.v3, a.v4 - b.v4, a.v5 - b.v5, a.v6 - b.v6, a.v7 - b.v7)
    }

    @inline(__always)
    static func * (a: Lanes8, b: Lanes8) -> Lanes8 {
        Lanes8(a.v0 * b.v0, a.v1 * b.v1, a.v2 * b.v2, a.v3 * b.v3, a.v4 * b.v4, a.v5 * b.v5, a.v6 * b.v6, a.v7 * b.v7)
    }

    @inline(__always)
    static func += (a: inout Lanes8, b: Lanes8) { a = a + b }
}

enum NormalizationKernels {
    /// About how many elements one parallel chunk covers: a chunk is a fixed range of whole sets
    /// chosen from the layout alone, so every per-set value is computed by one chunk in one order
    /// whatever the worker count.
    static let chunkElements = 1 << 15

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
            return (shift + s1 / n, Swift.max(0, s2 - s1 * (s1 / n)))
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

    /// `coefficient·γ` (or `coefficient`) and β (or 0) per affine index, in `Scalar`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func affineTables<Scalar: TensorScalar>(count: Int, coefficient: Double, weight: UnsafeBufferPointer<Scalar>?,
                                                   bias: UnsafeBufferPointer<Scalar>?) -> (scale: [Scalar], shift: [Scalar]) {
        let scale = (0..<count).map { a in Scalar(weight.map { coefficient * Double($0[a]) } ?? coefficient) }
        let shift = (0..<count).map { a in bias.map { $0[a] } ?? 0 }
        return (scale, shift)
    }

    /// The number of affine indices a layout addresses.
    static func affineCount(_ layout: NormalizationLayout) -> Int {
        let blocks = layout.inner / layout.innerPerAffine
        return (layout.affinePeriod - 1) * layout.affineStride + blocks
    }

    /// `y (+)= coefficient·γ[a]·(x − μ)·rstd + β[a]` for every element, parallel over fixed chunks of sets.
    ///
    /// The centring `x − μ` is done in `Scalar` against μ split into a rounded head and a tail
    /// (`(x − μ_hi) − μ_lo`), so an input far from zero keeps its precision without a `Double` pass.
    ///
    /// - Parameters:
    ///   - accumulate: Add to `y` instead of overwriting it.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func normalize<Scalar: TensorScalar>(_ x: UnsafeBufferPointer<Scalar>, layout: NormalizationLayout,
                                                mean: [Double], reciprocalStd: [Double], coefficient: Double,
                                                weight: UnsafeBufferPointer<Scalar>?, bias: UnsafeBufferPointer<Scalar>?,
                                                into y: UnsafeMutableBufferPointer<Scalar>, accumulate: Bool) {
        guard let xb = x.baseAddress, let yb = y.baseAddress, layout.count > 0 else { return }
        let sets = layout.sets
        let (scaleTable, shiftTable) = affineTables(count: affineCount(layout), coefficient: coefficient, weight: weight, bias: bias)
        scaleTable.withUnsafeBufferPointer { scaleTable in
            shiftTable.withUnsafeBufferPointer { shiftTable in
                let (gt, bt) = (scaleTable.baseAddress!, shiftTable.baseAddress!)
                Parallelism.forEach(count: sets, grain: setsPerChunk(layout)) { range in
                    for s in range {
                        normalizeSet(xb, into: yb, set: s, layout: layout, mean: mean[s], reciprocalStd: reciprocalStd[s],
                                     scaleTable: gt, shiftTable: bt, accumulate: accumulate)
                    }
                }
            }
        }
    }

    /// The statistics of every set and `y = γ[a]·(x − μ)·rstd + β[a]` in one parallel sweep: each
    /// set's moments, then its normalization while the set is still in cache. The results are those
    /// of `statistics(of:layout:centered:eps:)` followed by `normalize` (same per-set code).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func normalizeWithStatistics<Scalar: TensorScalar>(_ x: UnsafeBufferPointer<Scalar>, layout: NormalizationLayout,
                                                              centered: Bool, eps: Double,
                                                              weight: UnsafeBufferPointer<Scalar>?, bias: UnsafeBufferPointer<Scalar>?,
                                                              into y: UnsafeMutableBufferPointer<Scalar>) -> NormalizationStatistics {
        let sets = layout.sets
        var mean = [Double](repeating: 0, count: sets)
        var rstd = [Double](repeating: 0, count: sets)
        var squares = [Double](repeating: 0, count: sets)
        guard let xb = x.baseAddress, let yb = y.baseAddress, layout.count > 0 else {
            return NormalizationStatistics(mean: mean, reciprocalStd: rstd, sumOfSquares: squares)
        }
        let n = Double(layout.countPerSet)
        let (scaleTable, shiftTable) = affineTables(count: affineCount(layout), coefficient: 1, weight: weight, bias: bias)
        scaleTable.withUnsafeBufferPointer { scaleTable in
            shiftTable.withUnsafeBufferPointer { shiftTable in
                mean.withUnsafeMutableBufferPointer { meanOut in
                    rstd.withUnsafeMutableBufferPointer { rstdOut in
                        squares.withUnsafeMutableBufferPointer { squaresOut in
                            let (gt, bt) = (scaleTable.baseAddress!, shiftTable.baseAddress!)
                            let (meanOut, rstdOut, squaresOut) = (meanOut.baseAddress!, rstdOut.baseAddress!, squaresOut.baseAddress!)
                            Parallelism.forEach(count: sets, grain: setsPerChunk(layout)) { range in
                                for s in range {
                                    let (mu, m2) = setMoments(xb, set: s, layout: layout, centered: centered)
                                    let r = reciprocalStd(squares: m2, count: n, eps: eps)
                                    (meanOut[s], rstdOut[s], squaresOut[s]) = (mu, r, m2)
                                    normalizeSet(xb, into: yb, set: s, layout: layout, mean: mu, reciprocalStd: r,
                                                 scaleTable: gt, shiftTable: bt, accumulate: false)
                                }
                            }
                        }
                    }
                }
            }
        }
        return NormalizationStatistics(mean: mean, reciprocalStd: rstd, sumOfSquares: squares)
    }

    /// `y (+)= γ-table·(x − μ)·rstd + β-table` for the elements of one set (see `normalize`).
    @inline(__always)
    static func normalizeSet<Scalar: TensorScalar>(_ xb: UnsafePointer<Scalar>, into yb: UnsafeMutablePointer<Scalar>,
                                                   set s: Int, layout: NormalizationLayout, mean: Double, reciprocalStd: Double,
                                                   scaleTable gt: UnsafePointer<Scalar>, shiftTable bt: UnsafePointer<Scalar>,
                                                   accumulate: Bool) {
        let (outer, inner, per) = (layout.outer, layout.inner, layout.innerPerAffine)
        let blocks = inner / per
        let setStride = layout.sets * inner
        let muHi = Scalar(mean)
        let muLo = Scalar(mean - Double(muHi))
        let r = Scalar(reciprocalStd)
        let affineBase = (s % layout.affinePeriod) * layout.affineStride
        for o in 0..<outer {
            let start = o * setStride + s * inner
            let (xs, ys) = (xb + start, yb + start)
            if per == 1 {
                // The affine index is the inner index: a vectorizable loop over γ and β.
                let (g, b) = (gt + affineBase, bt + affineBase)
                if VectorLoops.applies(to: Scalar.self, count: inner) {
                    bp_f32_normalize_affine(VectorLoops.float(xs), VectorLoops.float(ys), inner,
                                            Float(muHi), Float(muLo), Float(r), VectorLoops.float(g), VectorLoops.float(b),
                                            accumulate ? 1 : 0)
                } else if accumulate {
                    for k in 0..<inner { ys[k] += ((xs[k] - muHi) - muLo) * r * g[k] + b[k] }
                } else {
                    for k in 0..<inner { ys[k] = ((xs[k] - muHi) - muLo) * r * g[k] + b[k] }
                }
            } else {
                for block in 0..<blocks {
                    let a = affineBase + block
                    let scale = r * gt[a], shift = bt[a]
                    let (xp, yp) = (xs + block * per, ys + block * per)
                    if VectorLoops.applies(to: Scalar.self, count: per) {
                        bp_f32_normalize_scaled(VectorLoops.float(xp), VectorLoops.float(yp), per,
                                                Float(muHi), Float(muLo), Float(scale), Float(shift), accumulate ? 1 : 0)
                    } else if accumulate {
                        for k in 0..<per { yp[k] += ((xp[k] - muHi) - muLo) * scale + shift }
                    } else {
                        for k in 0..<per { yp[k] = ((xp[k] - muHi) - muLo) * scale + shift }
                    }
                }
            }
        }
    }

    /// The analytic backward of `y = coefficient·γ[a]·x̂ + β[a]`: per set, one fused sweep for both
    /// reductions and the parameter gradients, then one sweep writing dx; parallel over fixed chunks
    /// of sets.
    ///
    /// With `g = coefficient·γ[a]` and n elements per set (centred compact form):
    /// `dx = rstd·(g·dy − (1/n)Σ g·dy − x̂·(1/n)Σ g·dy·x̂)` (the middle term is dropped for
    /// `.uncentered`, both sums for `.constant`); `dγ[a] += coefficient·Σ dy·x̂`; `dβ[a] += Σ dy`.
    /// Sums are accumulated in `Double`; the parameter gradients per chunk, then the chunks in order.
    /// The parameter gradients are accumulated into (callers pass zeros); dx is overwritten when
    /// `overwritingInputGradient` (which needs every element to belong to a set), else added to.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func normalizeBackward<Scalar: TensorScalar>(
        _ x: UnsafeBufferPointer<Scalar>, gradient dy: UnsafeBufferPointer<Scalar>, layout: NormalizationLayout,
        mean: [Double], reciprocalStd: [Double], coupling: [Double]?, dependence: StatisticsDependence, coefficient: Double,
        weight: UnsafeBufferPointer<Scalar>?,
        inputGradient dx: UnsafeMutableBufferPointer<Scalar>?,
        weightGradient dWeight: UnsafeMutableBufferPointer<Double>?,
        biasGradient dBias: UnsafeMutableBufferPointer<Double>?,
        overwritingInputGradient overwrite: Bool = false
    ) {
        let (outer, sets, inner, per) = (layout.outer, layout.sets, layout.inner, layout.innerPerAffine)
        guard let xb = x.baseAddress, let dyb = dy.baseAddress, layout.count > 0 else { return }
        let blocks = inner / per
        let setStride = sets * inner
        let n = Double(layout.countPerSet)
        let affineCount = affineCount(layout)
        // At most 64 chunks, so the per-chunk parameter partials (zeroed, then summed in order)
        // stay small next to the data; still fixed by the layout alone.
        let grain = Swift.max(setsPerChunk(layout), (sets + 63) / 64)
        let chunks = (sets + grain - 1) / grain
        let needParameters = dWeight != nil || dBias != nil
        // Per-chunk partial Σ dy·x̂ and Σ dy per affine index, summed over the chunks in order afterwards.
        var partials = [Double](repeating: 0, count: needParameters ? 2 * affineCount * chunks : 0)
        let (scaleTable, _) = affineTables(count: affineCount, coefficient: coefficient, weight: weight, bias: nil)
        partials.withUnsafeMutableBufferPointer { partials in
            scaleTable.withUnsafeBufferPointer { scaleTable in
                let gt = scaleTable.baseAddress!
                // An empty array still has a (shared, read-only) base address: use it only when sized.
                let partialBase = needParameters ? partials.baseAddress : nil
                let dxb = dx?.baseAddress
                Parallelism.forEach(chunks: chunks) { chunk in
                    let pw = partialBase.map { $0 + 2 * affineCount * chunk }
                    let pb = pw.map { $0 + affineCount }
                    for s in (chunk * grain)..<Swift.min(sets, (chunk + 1) * grain) {
                        let mu = mean[s]
                        let r = reciprocalStd[s]
                        let affineBase = (s % layout.affinePeriod) * layout.affineStride
                        // Sweep 1: Σ g·dy and Σ g·dy·x̂ for dx, and Σ dy·x̂, Σ dy for the parameters.
                        var sumGDy = Lanes8()
                        var sumGDyXhat = Lanes8()
                        let mv = Lanes8(repeating: mu), rv = Lanes8(repeating: r)
                        for o in 0..<outer {
                            let start = o * setStride + s * inner
                            let (xs, dys) = (xb + start, dyb + start)
                            if per == 1 && VectorLoops.applies(to: Scalar.self, count: inner) {
                                VectorLoops.withLanes(&sumGDy, &sumGDyXhat) { sums in
                                    bp_f32_backward_sums_affine(VectorLoops.float(xs), VectorLoops.float(dys),
                                                                VectorLoops.float(gt + affineBase), inner, mu, r,
                                                                pw.map { $0 + affineBase }, pb.map { $0 + affineBase }, sums)
                                }
                            } else if per == 1 {
                                let g = gt + affineBase
                                var k = 0
                                if let pw, let pb {
                                    let (w, b) = (pw + affineBase, pb + affineBase)
                                    while k + 8 <= inner {
                                        let d = lanes(dys + k), xhat = (lanes(xs + k) - mv) * rv, gv = lanes(g + k)
                                        let dXhat = d * xhat
                                        sumGDy += gv * d
                                        sumGDyXhat += gv * dXhat
                                        for lane in 0..<8 { w[k + lane] += dXhat[lane]; b[k + lane] += d[lane] }
                                        k += 8
                                    }
                                    while k < inner {
                                        let d = Double(dys[k]), xhat = (Double(xs[k]) - mu) * r, gk = Double(g[k])
                                        sumGDy[0] += gk * d
                                        sumGDyXhat[0] += gk * d * xhat
                                        w[k] += d * xhat
                                        b[k] += d
                                        k += 1
                                    }
                                } else {
                                    while k + 8 <= inner {
                                        let d = lanes(dys + k), xhat = (lanes(xs + k) - mv) * rv, gv = lanes(g + k)
                                        sumGDy += gv * d
                                        sumGDyXhat += gv * d * xhat
                                        k += 8
                                    }
                                    while k < inner {
                                        let d = Double(dys[k]), xhat = (Double(xs[k]) - mu) * r, gk = Double(g[k])
                                        sumGDy[0] += gk * d
                                        sumGDyXhat[0] += gk * d * xhat
                                        k += 1
                                    }
                                }
                            } else {
                                for block in 0..<blocks {
                                    let a = affineBase + block
                                    let (xp, dyp) = (xs + block * per, dys + block * per)
                                    var sumDy = Lanes8(), sumDyXhat = Lanes8()
                                    var k = 0
                                    if VectorLoops.applies(to: Scalar.self, count: per) {
                                        let block = VectorLoops.lanes { out in
                                            bp_f32_backward_block_sums(VectorLoops.float(xp), VectorLoops.float(dyp), per, mu, r, out)
                                        }
                                        (sumDy[0], sumDyXhat[0], k) = (block[0], block[1], per)
                                    }
                                    while k + 8 <= per {
                                        let d = lanes(dyp + k)
                                        sumDy += d
                                        sumDyXhat += d * ((lanes(xp + k) - mv) * rv)
                                        k += 8
                                    }
                                    while k < per {
                                        let d = Double(dyp[k])
                                        sumDy[0] += d
                                        sumDyXhat[0] += d * ((Double(xp[k]) - mu) * r)
                                        k += 1
                                    }
                                    let (blockDy, blockDyXhat) = (sumDy.sum(), sumDyXhat.sum())
                                    let g = Double(gt[a])
                                    sumGDy[0] += g * blockDy
                                    sumGDyXhat[0] += g * blockDyXhat
                                    pw?[a] += blockDyXhat
                                    pb?[a] += blockDy
                                }
                            }
                        }
                        guard let dxb else { continue }
                        let meanGDy: Double
                        let meanGDyXhat: Double
                        switch dependence {
                        case .centered: (meanGDy, meanGDyXhat) = (sumGDy.sum() / n, sumGDyXhat.sum() / n)
                        case .uncentered: (meanGDy, meanGDyXhat) = (0, sumGDyXhat.sum() / n)
                        case .constant: (meanGDy, meanGDyXhat) = (0, 0)
                        }
                        // Sweep 2: dx += rstd·(g·dy − mean(g·dy) − x̂·mean(g·dy·x̂)·coupling), in Scalar.
                        let muHi = Scalar(mu), muLo = Scalar(mu - Double(Scalar(mu)))
                        let rs = Scalar(r)
                        let shift = Scalar(r * meanGDy)
                        let slope = Scalar(r * r * meanGDyXhat * (coupling?[s] ?? 1))
                        for o in 0..<outer {
                            let start = o * setStride + s * inner
                            let (xs, dys, dxs) = (xb + start, dyb + start, dxb + start)
                            if VectorLoops.applies(to: Scalar.self, count: per == 1 ? inner : per) {
                                if per == 1 {
                                    bp_f32_backward_dx_affine(VectorLoops.float(xs), VectorLoops.float(dys),
                                                              VectorLoops.float(gt + affineBase), VectorLoops.float(dxs), inner,
                                                              Float(muHi), Float(muLo), Float(rs), Float(shift), Float(slope),
                                                              overwrite ? 1 : 0)
                                } else {
                                    for block in 0..<blocks {
                                        let gr = rs * gt[affineBase + block]
                                        let offset = block * per
                                        bp_f32_backward_dx_scaled(VectorLoops.float(xs + offset), VectorLoops.float(dys + offset),
                                                                  VectorLoops.float(dxs + offset), per, Float(muHi), Float(muLo),
                                                                  Float(gr), Float(shift), Float(slope), overwrite ? 1 : 0)
                                    }
                                }
                            } else if per == 1 {
                                let g = gt + affineBase
                                if overwrite {
                                    for k in 0..<inner { dxs[k] = rs * g[k] * dys[k] - shift - ((xs[k] - muHi) - muLo) * slope }
                                } else {
                                    for k in 0..<inner { dxs[k] += rs * g[k] * dys[k] - shift - ((xs[k] - muHi) - muLo) * slope }
                                }
                            } else {
                                for block in 0..<blocks {
                                    let gr = rs * gt[affineBase + block]
                                    let (xp, dyp, dxp) = (xs + block * per, dys + block * per, dxs + block * per)
                                    if overwrite {
                                        for k in 0..<per { dxp[k] = gr * dyp[k] - shift - ((xp[k] - muHi) - muLo) * slope }
                                    } else {
                                        for k in 0..<per { dxp[k] += gr * dyp[k] - shift - ((xp[k] - muHi) - muLo) * slope }
                                    }
                                }
                            }
                        }
                    }
                }
                guard let partialBase else { return }
                for chunk in 0..<chunks {
                    let pw = partialBase + 2 * affineCount * chunk, pb = pw + affineCount
                    if let dWeight { for a in 0..<affineCount { dWeight[a] += coefficient * pw[a] } }
                    if let dBias { for a in 0..<affineCount { dBias[a] += pb[a] } }
                }
            }
        }
    }
}

/// One normalization term of a fused op: its layout, statistics, dependence and coefficient.
struct NormalizationTerm: Sendable {
    var layout: NormalizationLayout
    var statistics: NormalizationStatistics
    var dependence: StatisticsDependence
    var coefficient: Double

    /// A mean-centred term: statistics of `x` (differentiated through) when `given` is `nil`, else
    /// the given per-set mean and variance as constants.
    static func centered<Scalar: TensorScalar>(_ x: Tensor<Scalar>, layout: NormalizationLayout, eps: Double,
                                               given: (mean: [Double], variance: [Double])? = nil,
                                               coefficient: Double = 1) -> NormalizationTerm {
        guard let given else {
            let statistics = NormalizationKernels.statistics(of: x, layout: layout, centered: true, eps: eps)
            return NormalizationTerm(layout: layout, statistics: statistics, dependence: .centered, coefficient: coefficient)
        }
        let statistics = NormalizationStatistics(mean: given.mean, reciprocalStd: given.variance.map { 1 / ($0 + eps).squareRoot() },
                                                 sumOfSquares: [])
        return NormalizationTerm(layout: layout, statistics: statistics, dependence: .constant, coefficient: coefficient)
    }
}

/// The forward and backward shared by every fused normalization op: a sum of normalization terms
/// `y = Σ_t c_t·γ·x̂_t + β` (one term for every layer except BatchLayerNorm, which has two).
enum FusedNormalization {
    /// `y = Σ_t c_t·γ[a]·x̂_t + β[a]`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func forward<Scalar: TensorScalar>(_ x: Tensor<Scalar>, terms: [NormalizationTerm],
                                              weight: Tensor<Scalar>?, bias: Tensor<Scalar>?) -> Tensor<Scalar> {
        let scalars = [Scalar](unsafeUninitializedCapacity: x.count) { y, initialized in
            x.scalars.withUnsafeBufferPointer { xs in
                withOptionalBuffer(weight) { w in
                    withOptionalBuffer(bias) { b in
                        for (t, term) in terms.enumerated() {
                            NormalizationKernels.normalize(xs, layout: term.layout, mean: term.statistics.mean,
                                                           reciprocalStd: term.statistics.reciprocalStd,
                                                           coefficient: term.coefficient, weight: w,
                                                           bias: t == terms.count - 1 ? b : nil,
                                                           into: y, accumulate: t > 0)
                        }
                    }
                }
            }
            initialized = x.count
        }
        return Tensor(shape: x.shape, scalars: scalars)
    }

    /// The statistics of `x` (centred, or uncentred for RMSNorm) and `y = γ[a]·x̂ + β[a]` from them,
    /// in one sweep over the data (`NormalizationKernels.normalizeWithStatistics`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func forwardWithStatistics<Scalar: TensorScalar>(_ x: Tensor<Scalar>, layout: NormalizationLayout, centered: Bool,
                                                            eps: Double, weight: Tensor<Scalar>?, bias: Tensor<Scalar>?)
        -> (output: Tensor<Scalar>, statistics: NormalizationStatistics) {
        var statistics: NormalizationStatistics?
        let scalars = [Scalar](unsafeUninitializedCapacity: x.count) { y, initialized in
            x.scalars.withUnsafeBufferPointer { xs in
                withOptionalBuffer(weight) { w in
                    withOptionalBuffer(bias) { b in
                        statistics = NormalizationKernels.normalizeWithStatistics(xs, layout: layout, centered: centered, eps: eps,
                                                                                  weight: w, bias: b, into: y)
                    }
                }
            }
            initialized = x.count
        }
        return (Tensor(shape: x.shape, scalars: scalars), statistics!)
    }

    /// Gradients for `[x, weight?, bias?]` (in that order, `nil` where not needed) from the centred
    /// compact formulas of every term.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func backward<Scalar: TensorScalar>(_ gradient: Tensor<Scalar>, x: Tensor<Scalar>, terms: [NormalizationTerm],
                                               weight: Tensor<Scalar>?, biasShape: [Int]?,
                                               inputsNeedingGradient needs: [Bool]) -> [Tensor<Scalar>?] {
        let hasBias = biasShape != nil
        let affineCount = weight?.count ?? biasShape?.reduce(1, *) ?? 0
        let needX = needs[0]
        let needWeight = weight != nil && needs[1]
        let needBias = hasBias && needs[weight != nil ? 2 : 1]
        // The first term writes every element of dx, so it starts uninitialized (no zero-fill pass).
        var dx = needX ? [Scalar](unsafeUninitializedCapacity: x.count) { _, initialized in initialized = x.count } : []
        var dWeight = [Double](repeating: 0, count: needWeight ? affineCount : 0)
        var dBias = [Double](repeating: 0, count: needBias ? affineCount : 0)
        x.scalars.withUnsafeBufferPointer { xs in
            gradient.scalars.withUnsafeBufferPointer { dys in
                withOptionalBuffer(weight) { w in
                    dx.withUnsafeMutableBufferPointer { dxs in
                        dWeight.withUnsafeMutableBufferPointer { dws in
                            dBias.withUnsafeMutableBufferPointer { dbs in
                                for (t, term) in terms.enumerated() {
                                    NormalizationKernels.normalizeBackward(
                                        xs, gradient: dys, layout: term.layout, mean: term.statistics.mean,
                                        reciprocalStd: term.statistics.reciprocalStd,
                                        coupling: term.statistics.coupling, dependence: term.dependence,
                                        coefficient: term.coefficient, weight: w,
                                        inputGradient: needX ? dxs : nil,
                                        weightGradient: needWeight ? dws : nil,
                                        biasGradient: needBias && t == 0 ? dbs : nil,
                                        overwritingInputGradient: t == 0)
                                }
                            }
                        }
                    }
                }
            }
        }
        var result: [Tensor<Scalar>?] = [needX ? Tensor(shape: x.shape, scalars: dx) : nil]
        if let weight { result.append(needWeight ? Tensor(shape: weight.shape, scalars: dWeight.map { Scalar($0) }) : nil) }
        if let biasShape {
            result.append(needBias ? Tensor(shape: biasShape, scalars: dBias.map { Scalar($0) }) : nil)
        }
        return result
    }
}

/// Calls `body` with the tensor's buffer, or `nil`.
func withOptionalBuffer<Scalar: TensorScalar, Result>(_ tensor: Tensor<Scalar>?,
                                                      _ body: (UnsafeBufferPointer<Scalar>?) -> Result) -> Result {
    guard let tensor else { return body(nil) }
    return tensor.scalars.withUnsafeBufferPointer { body($0) }
}

extension DifferentiableOperation {
    /// Runs the forward pass, records one entry on the inputs' tape, and also returns what was saved
    /// (the normalization layers read their batch statistics from it for the running averages).
    func applyKeepingSaved(_ inputs: [Variable<Scalar>]) -> (output: Variable<Scalar>, saved: Saved) {
        let (output, saved) = forward(inputs.map(\.value))
        let needs = inputs.map(\.requiresGradient)
        let variable = Variable.record(name, inputs, value: output) { gradient in
            self.backward(gradient, saved: saved, inputsNeedingGradient: needs)
        }
        return (variable, saved)
    }
}

/// What a fused normalization op keeps for backward: the input, the per-set statistics of each term
/// (mean and reciprocal std, not a graph of primitive ops), and the weight.
struct NormalizationSaved<Scalar: TensorScalar> {
    var x: Tensor<Scalar>
    var terms: [NormalizationTerm]
    var weight: Tensor<Scalar>?
    var biasShape: [Int]?
}

/// A fused normalization op: inputs `[x, weight?, bias?]`, saving `NormalizationSaved`, with the
/// shared analytic backward of `FusedNormalization`.
protocol FusedNormalizationOperation: DifferentiableOperation where Saved == NormalizationSaved<Scalar> {}

extension FusedNormalizationOperation {
    /// The gradients of x, weight and bias from the saved statistics (centred compact forms).
    func backward(_ gradient: Tensor<Scalar>, saved: NormalizationSaved<Scalar>, inputsNeedingGradient: [Bool]) -> [Tensor<Scalar>?] {
        FusedNormalization.backward(gradient, x: saved.x, terms: saved.terms, weight: saved.weight,
                                    biasShape: saved.biasShape, inputsNeedingGradient: inputsNeedingGradient)
    }
}

/// Splits the inputs `[x, weight?, bias?]` of a fused normalization op.
func splitNormalizationInputs<Scalar: TensorScalar>(_ inputs: [Tensor<Scalar>], hasWeight: Bool, hasBias: Bool)
    -> (x: Tensor<Scalar>, weight: Tensor<Scalar>?, bias: Tensor<Scalar>?) {
    let weight = hasWeight ? inputs[1] : nil
    let bias = hasBias ? inputs[hasWeight ? 2 : 1] : nil
    return (inputs[0], weight, bias)
}

/// `[x, weight?, bias?]` as the input list of a fused op.
func normalizationInputs<Scalar: TensorScalar>(_ x: Variable<Scalar>, _ weight: Variable<Scalar>?,
                                               _ bias: Variable<Scalar>?) -> [Variable<Scalar>] {
    [x] + (weight.map { [$0] } ?? []) + (bias.map { [$0] } ?? [])
}

/// The product of the trailing axes of `shape` from `axis` on.
func elementCount(_ shape: [Int], from axis: Int = 0) -> Int {
    shape[axis...].reduce(1, *)
}

/// Stops unless `eps` is finite and non-negative.
func checkEps(_ eps: Double, op: String) {
    guard eps >= 0 && eps.isFinite else { shapeError(op, "eps \(eps) must be finite and ≥ 0") }
}
