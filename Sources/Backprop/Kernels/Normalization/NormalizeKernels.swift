import BackpropKernelsC

extension NormalizationKernels {
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
                if usesColumns(layout) {
                    columnNormalize(xb, layout: layout, mean: mean, reciprocalStd: reciprocalStd, scaleTable: gt, shiftTable: bt,
                                    into: yb, accumulate: accumulate)
                    return
                }
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
        if usesColumns(layout) {
            return scaleTable.withUnsafeBufferPointer { scaleTable in
                shiftTable.withUnsafeBufferPointer { shiftTable in
                    columnStatistics(xb, layout: layout, centered: centered, eps: eps,
                                     normalizing: (scaleTable.baseAddress!, shiftTable.baseAddress!, yb))
                }
            }
        }
        scaleTable.withUnsafeBufferPointer { scaleTable in
            shiftTable.withUnsafeBufferPointer { shiftTable in
                mean.withUnsafeMutableBufferPointer { meanOut in
                    rstd.withUnsafeMutableBufferPointer { rstdOut in
                        squares.withUnsafeMutableBufferPointer { squaresOut in
                            let (gt, bt) = (scaleTable.baseAddress!, shiftTable.baseAddress!)
                            let (meanOut, rstdOut, squaresOut) = (meanOut.baseAddress!, rstdOut.baseAddress!, squaresOut.baseAddress!)
                            let rowsInC = layout.outer == 1 && layout.innerPerAffine == 1 && layout.affinePeriod == 1
                                && VectorLoops.applies(to: Scalar.self, count: layout.inner)
                            Parallelism.forEach(count: sets, grain: setsPerChunk(layout)) { range in
                                if rowsInC {
                                    // Contiguous rows with a per-position affine (LayerNorm, RMSNorm): the same
                                    // three steps in one C call per chunk, without the per-row overhead.
                                    let (first, inner) = (range.lowerBound, layout.inner)
                                    bp_f32_rows_normalize_with_statistics(
                                        VectorLoops.float(xb + first * inner), VectorLoops.float(yb + first * inner), range.count,
                                        inner, centered ? 1 : 0, eps, VectorLoops.float(gt), VectorLoops.float(bt),
                                        meanOut + first, rstdOut + first, squaresOut + first)
                                    return
                                }
                                // The chunk's moments, then its rstd values, then its normalization (a chunk
                                // is about 2¹⁵ elements, still in cache): the division and square root of
                                // each set then overlap across sets instead of stalling every short row.
                                for s in range { (meanOut[s], squaresOut[s]) = setMoments(xb, set: s, layout: layout, centered: centered) }
                                for s in range { rstdOut[s] = reciprocalStd(squares: squaresOut[s], count: n, eps: eps) }
                                for s in range {
                                    normalizeSet(xb, into: yb, set: s, layout: layout, mean: meanOut[s], reciprocalStd: rstdOut[s],
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
}
