import BackpropKernelsC

/// The kernels for channels-strided layouts (`outer > 1` with short contiguous runs: BatchNorm on
/// `[N, C]`, `[N, C, L]` with small L, `[N, C, H, W]` with small H·W, the batch term of Batch Layer
/// Normalization). The input is seen as a `[outer, sets·inner]` matrix whose column `j` belongs to set
/// `j / inner`; a run of `inner` elements per row is too short to vectorize over, so the loops run
/// along rows instead, vectorized across columns, with one `Double` accumulator per column summed over
/// the rows in row order. A set's statistics are then its `inner` column sums added in column order.
/// Chunks are fixed ranges of whole sets (chosen from the layout alone), so every value is computed
/// in one order whatever the worker count, and the C loops (`bp_f32_column_…`) are bit-identical to
/// the Swift loops here, whatever vector width they use.
extension NormalizationKernels {
    /// The longest run per row (`inner`) that takes the column kernels.
    static let columnRunLimit = 64

    /// Whether `layout` takes the column kernels: several rows of short runs, one affine index per set.
    static func usesColumns(_ layout: NormalizationLayout) -> Bool {
        layout.outer > 1 && layout.inner < columnRunLimit && layout.innerPerAffine == layout.inner && layout.count > 0
    }

    /// Whole sets per parallel chunk of the column kernels: at least 256 columns (a wide enough row
    /// segment to vectorize over), and about `chunkElements` elements.
    static func columnSetsPerChunk(_ layout: NormalizationLayout) -> Int {
        Swift.max((256 + layout.inner - 1) / layout.inner, chunkElements / Swift.max(1, layout.countPerSet), 1)
    }

    /// Whether the C column loops run for `Scalar`.
    @inline(__always)
    static func columnLoopsInC<Scalar: TensorScalar>(_: Scalar.Type) -> Bool {
        Scalar.self == Float.self && VectorLoops.enabled
    }

    /// Moments per set of a column layout: μ and M2 = Σ(x − μ)² from shifted sums about the set's
    /// first element (as `setMoments`), or (0, Σx²) when not `centered`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func columnMoments<Scalar: TensorScalar>(_ x: UnsafePointer<Scalar>, layout: NormalizationLayout,
                                                    centered: Bool) -> (mean: [Double], sumOfSquares: [Double]) {
        let statistics = columnStatistics(x, layout: layout, centered: centered, eps: 0, normalizing: nil)
        return (statistics.mean, statistics.sumOfSquares)
    }

    /// The statistics of a column layout and, when `normalizing` is given, `y = γ[a]·(x − μ)·rstd + β[a]`
    /// for each chunk of sets right after its statistics, while the chunk is still in cache. The results
    /// are those of `columnMoments` followed by `columnNormalize`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func columnStatistics<Scalar: TensorScalar>(
        _ x: UnsafePointer<Scalar>, layout: NormalizationLayout, centered: Bool, eps: Double,
        normalizing: (scaleTable: UnsafePointer<Scalar>, shiftTable: UnsafePointer<Scalar>, y: UnsafeMutablePointer<Scalar>)?
    ) -> NormalizationStatistics {
        let (rows, sets, inner) = (layout.outer, layout.sets, layout.inner)
        let columns = sets * inner
        let n = Double(layout.countPerSet)
        var mean = [Double](repeating: 0, count: sets)
        var rstd = [Double](repeating: 0, count: sets)
        var squares = [Double](repeating: 0, count: sets)
        // Per column: the shift and the two sums (Double); μ_hi, μ_lo, scale, shift (Scalar) to normalize.
        var work = [Double](repeating: 0, count: 3 * columns)
        var tables = [Scalar](repeating: 0, count: normalizing == nil ? 0 : 4 * columns)
        if centered { for j in 0..<columns { work[j] = Double(x[(j / inner) * inner]) } }
        work.withUnsafeMutableBufferPointer { work in
            tables.withUnsafeMutableBufferPointer { tables in
                mean.withUnsafeMutableBufferPointer { meanOut in
                    rstd.withUnsafeMutableBufferPointer { rstdOut in
                        squares.withUnsafeMutableBufferPointer { squaresOut in
                            let (k, s1, s2) = (work.baseAddress!, work.baseAddress! + columns, work.baseAddress! + 2 * columns)
                            let (meanOut, rstdOut, squaresOut) = (meanOut.baseAddress!, rstdOut.baseAddress!, squaresOut.baseAddress!)
                            let tableBase = tables.baseAddress
                            Parallelism.forEach(count: sets, grain: columnSetsPerChunk(layout)) { range in
                                let (first, count) = (range.lowerBound * inner, range.count * inner)
                                if columnLoopsInC(Scalar.self) {
                                    bp_f32_column_moments(VectorLoops.float(x + first), rows, columns, count,
                                                          k + first, s1 + first, s2 + first)
                                } else {
                                    for j in first..<(first + count) { s1[j] = 0; s2[j] = 0 }
                                    for r in 0..<rows {
                                        let row = x + r * columns
                                        for j in first..<(first + count) {
                                            let d = Double(row[j]) - k[j]
                                            s1[j] += d
                                            s2[j] += d * d
                                        }
                                    }
                                }
                                for s in range {
                                    var (sum, sumOfSquares) = (0.0, 0.0)
                                    for j in (s * inner)..<((s + 1) * inner) { sum += s1[j]; sumOfSquares += s2[j] }
                                    if centered {
                                        // As in `setMoments`: clamp a rounding-negative M2 to 0, let a NaN through.
                                        let m2 = sumOfSquares - sum * (sum / n)
                                        (meanOut[s], squaresOut[s]) = (k[s * inner] + sum / n, m2 < 0 ? 0 : m2)
                                    } else {
                                        (meanOut[s], squaresOut[s]) = (0, sumOfSquares)
                                    }
                                    rstdOut[s] = reciprocalStd(squares: squaresOut[s], count: n, eps: eps)
                                }
                                guard let normalizing, let tableBase else { return }
                                fillNormalizeTables(tableBase, columns: columns, layout: layout, sets: range, mean: meanOut,
                                                    reciprocalStd: rstdOut, scaleTable: normalizing.scaleTable,
                                                    shiftTable: normalizing.shiftTable)
                                columnNormalizeChunk(x, into: normalizing.y, rows: rows, columns: columns, first: first, count: count,
                                                     tables: tableBase, accumulate: false)
                            }
                        }
                    }
                }
            }
        }
        return NormalizationStatistics(mean: mean, reciprocalStd: rstd, sumOfSquares: squares)
    }

    /// Per column of the sets in `range`: μ_hi, μ_lo, rstd·γ-table[a] and β-table[a] (four tables of
    /// `columns` entries at `tables`).
    @inline(__always)
    static func fillNormalizeTables<Scalar: TensorScalar>(_ tables: UnsafeMutablePointer<Scalar>, columns: Int,
                                                          layout: NormalizationLayout, sets range: Range<Int>,
                                                          mean: UnsafePointer<Double>, reciprocalStd: UnsafePointer<Double>,
                                                          scaleTable gt: UnsafePointer<Scalar>, shiftTable bt: UnsafePointer<Scalar>) {
        let inner = layout.inner
        for s in range {
            let a = (s % layout.affinePeriod) * layout.affineStride
            let muHi = Scalar(mean[s])
            let muLo = Scalar(mean[s] - Double(muHi))
            let scale = Scalar(reciprocalStd[s]) * gt[a]
            for j in (s * inner)..<((s + 1) * inner) {
                (tables[j], tables[columns + j], tables[2 * columns + j], tables[3 * columns + j]) = (muHi, muLo, scale, bt[a])
            }
        }
    }

    /// `y (+)= ((x − μ_hi) − μ_lo)·scale + shift` over columns `first..<first + count` of every row,
    /// with the four per-column tables at `tables` (see `fillNormalizeTables`).
    @inline(__always)
    static func columnNormalizeChunk<Scalar: TensorScalar>(_ x: UnsafePointer<Scalar>, into y: UnsafeMutablePointer<Scalar>,
                                                           rows: Int, columns: Int, first: Int, count: Int,
                                                           tables: UnsafePointer<Scalar>, accumulate: Bool) {
        let muHi = tables, muLo = muHi + columns, scale = muLo + columns, shift = scale + columns
        if columnLoopsInC(Scalar.self) {
            bp_f32_column_normalize(VectorLoops.float(x + first), VectorLoops.float(y + first), rows, columns, count,
                                    VectorLoops.float(muHi + first), VectorLoops.float(muLo + first),
                                    VectorLoops.float(scale + first), VectorLoops.float(shift + first), accumulate ? 1 : 0)
            return
        }
        for r in 0..<rows {
            let (xr, yr) = (x + r * columns, y + r * columns)
            for j in first..<(first + count) {
                let value = ((xr[j] - muHi[j]) - muLo[j]) * scale[j] + shift[j]
                if accumulate { yr[j] += value } else { yr[j] = value }
            }
        }
    }

    /// `y (+)= ((x − μ_hi) − μ_lo)·(rstd·γ-table[a]) + β-table[a]` for a column layout (see `normalize`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func columnNormalize<Scalar: TensorScalar>(_ x: UnsafePointer<Scalar>, layout: NormalizationLayout,
                                                      mean: [Double], reciprocalStd: [Double],
                                                      scaleTable gt: UnsafePointer<Scalar>, shiftTable bt: UnsafePointer<Scalar>,
                                                      into y: UnsafeMutablePointer<Scalar>, accumulate: Bool) {
        let (rows, sets, inner) = (layout.outer, layout.sets, layout.inner)
        let columns = sets * inner
        var tables = [Scalar](repeating: 0, count: 4 * columns)
        tables.withUnsafeMutableBufferPointer { tables in
            mean.withUnsafeBufferPointer { mean in
                reciprocalStd.withUnsafeBufferPointer { reciprocalStd in
                    let (tables, mean, reciprocalStd) = (tables.baseAddress!, mean.baseAddress!, reciprocalStd.baseAddress!)
                    Parallelism.forEach(count: sets, grain: columnSetsPerChunk(layout)) { range in
                        fillNormalizeTables(tables, columns: columns, layout: layout, sets: range, mean: mean,
                                            reciprocalStd: reciprocalStd, scaleTable: gt, shiftTable: bt)
                        columnNormalizeChunk(x, into: y, rows: rows, columns: columns, first: range.lowerBound * inner,
                                             count: range.count * inner, tables: tables, accumulate: accumulate)
                    }
                }
            }
        }
    }

    /// The backward of `normalizeBackward` for a column layout: per chunk of sets, the column sums
    /// Σ dy and Σ dy·x̂, each set's sums (its columns in order), then dx for the chunk's columns.
    /// Per-set sums go to the parameter gradients afterwards, set by set in order.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func columnNormalizeBackward<Scalar: TensorScalar>(
        _ x: UnsafePointer<Scalar>, gradient dy: UnsafePointer<Scalar>, layout: NormalizationLayout,
        mean: [Double], reciprocalStd: [Double], coupling: [Double]?, dependence: StatisticsDependence, coefficient: Double,
        scaleTable gt: UnsafePointer<Scalar>, inputGradient dx: UnsafeMutablePointer<Scalar>?,
        weightGradient dWeight: UnsafeMutableBufferPointer<Double>?, biasGradient dBias: UnsafeMutableBufferPointer<Double>?,
        overwritingInputGradient overwrite: Bool
    ) {
        let (rows, sets, inner) = (layout.outer, layout.sets, layout.inner)
        let columns = sets * inner
        let n = Double(layout.countPerSet)
        // Per column: μ and rstd (Double) for the sums; μ_hi, μ_lo, rstd·g, shift, slope (Scalar) for dx.
        var statistics = [Double](repeating: 0, count: 4 * columns)
        var coefficients = [Scalar](repeating: 0, count: 5 * columns)
        var setSums = [Double](repeating: 0, count: 2 * sets)
        for s in 0..<sets {
            for j in (s * inner)..<((s + 1) * inner) { (statistics[j], statistics[columns + j]) = (mean[s], reciprocalStd[s]) }
        }
        statistics.withUnsafeMutableBufferPointer { statistics in
            coefficients.withUnsafeMutableBufferPointer { coefficients in
                setSums.withUnsafeMutableBufferPointer { setSums in
                    let (mu, rstd) = (statistics.baseAddress!, statistics.baseAddress! + columns)
                    let (sumDy, sumDyXhat) = (rstd + columns, rstd + 2 * columns)
                    let muHi = coefficients.baseAddress!, muLo = muHi + columns, scale = muLo + columns
                    let shift = scale + columns, slope = shift + columns
                    let (setDy, setDyXhat) = (setSums.baseAddress!, setSums.baseAddress! + sets)
                    Parallelism.forEach(count: sets, grain: columnSetsPerChunk(layout)) { range in
                        let (first, count) = (range.lowerBound * inner, range.count * inner)
                        if columnLoopsInC(Scalar.self) {
                            bp_f32_column_backward_sums(VectorLoops.float(x + first), VectorLoops.float(dy + first), rows, columns,
                                                        count, mu + first, rstd + first, sumDy + first, sumDyXhat + first)
                        } else {
                            for j in first..<(first + count) { sumDy[j] = 0; sumDyXhat[j] = 0 }
                            for r in 0..<rows {
                                let (xr, dyr) = (x + r * columns, dy + r * columns)
                                for j in first..<(first + count) {
                                    let d = Double(dyr[j])
                                    sumDy[j] += d
                                    sumDyXhat[j] += d * ((Double(xr[j]) - mu[j]) * rstd[j])
                                }
                            }
                        }
                        for s in range {
                            var (blockDy, blockDyXhat) = (0.0, 0.0)
                            for j in (s * inner)..<((s + 1) * inner) { blockDy += sumDy[j]; blockDyXhat += sumDyXhat[j] }
                            (setDy[s], setDyXhat[s]) = (blockDy, blockDyXhat)
                            guard dx != nil else { continue }
                            let a = (s % layout.affinePeriod) * layout.affineStride
                            let g = Double(gt[a])
                            let r = reciprocalStd[s]
                            let meanGDy: Double
                            let meanGDyXhat: Double
                            switch dependence {
                            case .centered: (meanGDy, meanGDyXhat) = (g * blockDy / n, g * blockDyXhat / n)
                            case .uncentered: (meanGDy, meanGDyXhat) = (0, g * blockDyXhat / n)
                            case .constant: (meanGDy, meanGDyXhat) = (0, 0)
                            }
                            let hi = Scalar(mean[s])
                            let values = (hi, Scalar(mean[s] - Double(hi)), Scalar(r) * gt[a], Scalar(r * meanGDy),
                                          Scalar(r * r * meanGDyXhat * (coupling?[s] ?? 1)))
                            for j in (s * inner)..<((s + 1) * inner) {
                                (muHi[j], muLo[j], scale[j], shift[j], slope[j]) = values
                            }
                        }
                        guard let dx else { return }
                        let constant = dependence == .constant
                        if columnLoopsInC(Scalar.self) {
                            bp_f32_column_backward_dx(VectorLoops.float(x + first), VectorLoops.float(dy + first),
                                                      VectorLoops.float(dx + first), rows, columns, count,
                                                      VectorLoops.float(muHi + first), VectorLoops.float(muLo + first),
                                                      VectorLoops.float(scale + first), VectorLoops.float(shift + first),
                                                      constant ? nil : VectorLoops.float(UnsafePointer(slope + first)), overwrite ? 1 : 0)
                            return
                        }
                        for r in 0..<rows {
                            let (xr, dyr, dxr) = (x + r * columns, dy + r * columns, dx + r * columns)
                            for j in first..<(first + count) {
                                // Given statistics: no x̂ term (a 0·x̂ term would turn a non-finite x into NaN).
                                let value = constant ? scale[j] * dyr[j]
                                    : scale[j] * dyr[j] - shift[j] - ((xr[j] - muHi[j]) - muLo[j]) * slope[j]
                                if overwrite { dxr[j] = value } else { dxr[j] += value }
                            }
                        }
                    }
                    for s in 0..<sets {
                        let a = (s % layout.affinePeriod) * layout.affineStride
                        dWeight?[a] += coefficient * setDyXhat[s]
                        dBias?[a] += setDy[s]
                    }
                }
            }
        }
    }
}
