/// Per-set statistics of one term for the double backward: the mean (0 when not centred), ρ, and the
/// derivatives of ρ with respect to the set's sum of squares q, as 2ρ′ and 4ρ″ (0 for given statistics).
struct DoubleBackwardStatistics {
    var mean: [Double]
    var reciprocalStd: [Double]
    var firstDerivative: [Double]
    var secondDerivative: [Double]
    var centered: Bool
}

extension NormalizationKernels {
    /// The fused double backward of one normalization term `y = coefficient·γ[a]·x̂ + β[a]`, in two
    /// sweeps per set (the sums in `Double` lanes, then the elements while the set is in cache),
    /// parallel over fixed chunks of sets.
    ///
    /// With d = x − μ (or x), v = coefficient·γ[a]·g, w the incoming gradient for ∂L/∂x, u =
    /// coefficient·g·w_γ[a] (w_γ the incoming gradient for ∂L/∂γ), and per set A = Σd·v, B = Σd·w,
    /// P = Σ(w − w̄)(v − v̄), F(z) = ρ(z − z̄) + 2ρ′·d·Σ(d·z):
    ///
    ///     ∂/∂x += (2ρ′P + 4ρ″AB)·d + 2ρ′B·(v − v̄) + 2ρ′A·(w − w̄) + F(u)
    ///     ∂/∂g += coefficient·γ[a]·F(w) + coefficient·w_γ[a]·ρ·d
    ///     ∂/∂γ[a] += coefficient·Σ g·F(w)
    ///
    /// (the means z̄ are 0 for an uncentred term). `inputGradient` and `upstreamGradient` are added to;
    /// `weightGradient` receives per-affine-index sums (callers pass zeros).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func normalizeDoubleBackward<Scalar: TensorScalar>(
        _ x: UnsafeBufferPointer<Scalar>, upstream g: UnsafeBufferPointer<Scalar>,
        incomingInput w: UnsafeBufferPointer<Scalar>?, incomingWeight wWeight: UnsafeBufferPointer<Scalar>?,
        layout: NormalizationLayout, statistics: DoubleBackwardStatistics, coefficient: Double,
        weight: UnsafeBufferPointer<Scalar>?,
        inputGradient gx: UnsafeMutablePointer<Scalar>?, upstreamGradient gg: UnsafeMutablePointer<Scalar>?,
        weightGradient dWeight: UnsafeMutableBufferPointer<Double>?
    ) {
        let (outer, sets, inner, per) = (layout.outer, layout.sets, layout.inner, layout.innerPerAffine)
        guard let xb = x.baseAddress, let gb = g.baseAddress, layout.count > 0 else { return }
        let wb = w?.baseAddress
        let blocks = inner / per
        let setStride = sets * inner
        let n = Double(layout.countPerSet)
        let affineCount = affineCount(layout)
        let (grain, chunks) = partialChunks(layout)
        let needWeight = dWeight != nil && wb != nil
        var partials = [Double](repeating: 0, count: needWeight ? affineCount * chunks : 0)
        let (scaleTable, _) = affineTables(count: affineCount, coefficient: coefficient, weight: weight, bias: nil)
        // u's scale per affine index: coefficient·w_γ[a].
        let uTable = wWeight.map { wWeight in (0..<affineCount).map { Scalar(coefficient * Double(wWeight[$0])) } } ?? []
        let centered = statistics.centered
        partials.withUnsafeMutableBufferPointer { partials in
            scaleTable.withUnsafeBufferPointer { scaleTable in
                uTable.withUnsafeBufferPointer { uTable in
                    // An empty array still has a (shared) base address: use it only when sized.
                    let gt = scaleTable.baseAddress!, ut = wWeight != nil ? uTable.baseAddress : nil
                    let partialBase = needWeight ? partials.baseAddress : nil
                    Parallelism.forEach(chunks: chunks) { chunk in
                        let pw = partialBase.map { $0 + affineCount * chunk }
                        for s in (chunk * grain)..<Swift.min(sets, (chunk + 1) * grain) {
                            let mu = statistics.mean[s], r = statistics.reciprocalStd[s]
                            let r1 = statistics.firstDerivative[s], r2 = statistics.secondDerivative[s]
                            let affineBase = (s % layout.affinePeriod) * layout.affineStride
                            /// Runs `body(start, count, affine, stride)` over the set's contiguous runs:
                            /// `affine[j·stride]` is the affine entry of element `start + j`.
                            @inline(__always)
                            func forEachRun(_ body: (Int, Int, Int, Int) -> Void) {
                                for o in 0..<outer {
                                    let start = o * setStride + s * inner
                                    if per == 1 {
                                        body(start, inner, affineBase, 1)
                                    } else {
                                        for block in 0..<blocks { body(start + block * per, per, affineBase + block, 0) }
                                    }
                                }
                            }
                            // Sweep 1: the per-set sums, in eight Double lanes each.
                            var sums = DoubleBackwardSums()
                            if let wb {
                                forEachRun { start, count, a, stride in
                                    sums.addInputTerms(xb + start, gb + start, wb + start, gt + a, stride, count, mean: mu)
                                }
                            }
                            if let ut {
                                forEachRun { start, count, a, stride in
                                    sums.addWeightTerms(xb + start, gb + start, ut + a, stride, count, mean: mu)
                                }
                            }
                            let (sumV, sumDV, sumW, sumDW, sumWV) = (sums.v.sum(), sums.dv.sum(), sums.w.sum(), sums.dw.sum(), sums.wv.sum())
                            let (sumU, sumDU) = (sums.u.sum(), sums.du.sum())
                            let meanV = centered ? sumV / n : 0, meanW = centered ? sumW / n : 0, meanU = centered ? sumU / n : 0
                            let alpha = r1 * (sumWV - n * meanW * meanV) + r2 * sumDV * sumDW
                            // Sweep 2: the elements, with per-set coefficients in Scalar:
                            // ∂x += α·d + 2ρ′B·v + 2ρ′A·w − (2ρ′B·v̄ + 2ρ′A·w̄), ∂g += scale·(ρ·w + 2ρ′B·d − ρ·w̄).
                            // d = (x − μ_hi) − μ_lo keeps an input far from zero precise in Scalar.
                            let muHi = Scalar(mu), muLo = Scalar(mu - Double(Scalar(mu)))
                            if let wb {
                                let (cd, cv, cw) = (Scalar(alpha), Scalar(r1 * sumDW), Scalar(r1 * sumDV))
                                let c0 = Scalar(-(r1 * sumDW * meanV + r1 * sumDV * meanW))
                                let (fr, fd, f0) = (Scalar(r), Scalar(r1 * sumDW), Scalar(-r * meanW))
                                forEachRun { start, count, a, stride in
                                    let (xs, gs, ws) = (xb + start, gb + start, wb + start)
                                    let scale = gt + a
                                    if let gx {
                                        let out = gx + start
                                        for k in 0..<count {
                                            let d = (xs[k] - muHi) - muLo
                                            out[k] += cd * d + cv * (scale[k * stride] * gs[k]) + cw * ws[k] + c0
                                        }
                                    }
                                    if gg != nil || pw != nil {
                                        var weightSum = 0.0
                                        for k in 0..<count {
                                            let fw = fr * ws[k] + fd * ((xs[k] - muHi) - muLo) + f0
                                            gg?[start + k] += scale[k * stride] * fw
                                            if stride == 1 { pw?[a + k] += coefficient * Double(gs[k] * fw) } else { weightSum += Double(gs[k] * fw) }
                                        }
                                        if stride == 0 { pw?[a] += coefficient * weightSum }
                                    }
                                }
                            }
                            if let ut {
                                let (ur, ud, u0) = (Scalar(r), Scalar(r1 * sumDU), Scalar(-r * meanU))
                                forEachRun { start, count, a, stride in
                                    let (xs, gs) = (xb + start, gb + start)
                                    let uScale = ut + a
                                    for k in 0..<count {
                                        let d = (xs[k] - muHi) - muLo
                                        gx?[start + k] += ur * (uScale[k * stride] * gs[k]) + ud * d + u0
                                        gg?[start + k] += uScale[k * stride] * ur * d
                                    }
                                }
                            }
                        }
                    }
                    guard let partialBase, let dWeight else { return }
                    for chunk in 0..<chunks {
                        let pw = partialBase + affineCount * chunk
                        for a in 0..<affineCount { dWeight[a] += pw[a] }
                    }
                }
            }
        }
    }
}

/// The seven per-set sums of the double backward, each in eight `Double` lanes (a fixed order).
private struct DoubleBackwardSums {
    var v = Lanes8(), dv = Lanes8(), w = Lanes8(), dw = Lanes8(), wv = Lanes8(), u = Lanes8(), du = Lanes8()

    /// Σv, Σd·v, Σw, Σd·w, Σw·v over `count` elements, v = scale·g (`scale[k·stride]`).
    @inline(__always)
    mutating func addInputTerms<Scalar: TensorScalar>(_ x: UnsafePointer<Scalar>, _ g: UnsafePointer<Scalar>, _ w: UnsafePointer<Scalar>,
                                                      _ scale: UnsafePointer<Scalar>, _ stride: Int, _ count: Int, mean: Double) {
        let m = Lanes8(repeating: mean)
        var k = 0
        while k + 8 <= count {
            let d = NormalizationKernels.lanes(x + k) - m
            let gv = NormalizationKernels.lanes(g + k)
            let sv = stride == 1 ? NormalizationKernels.lanes(scale + k) : Lanes8(repeating: Double(scale[0]))
            let vv = sv * gv, wl = NormalizationKernels.lanes(w + k)
            v += vv; dv += d * vv; self.w += wl; dw += d * wl; wv += wl * vv
            k += 8
        }
        while k < count {
            let d = Double(x[k]) - mean
            let vk = Double(scale[k * stride]) * Double(g[k]), wk = Double(w[k])
            v[0] += vk; dv[0] += d * vk; self.w[0] += wk; dw[0] += d * wk; wv[0] += wk * vk
            k += 1
        }
    }

    /// Σu, Σd·u over `count` elements, u = uScale·g.
    @inline(__always)
    mutating func addWeightTerms<Scalar: TensorScalar>(_ x: UnsafePointer<Scalar>, _ g: UnsafePointer<Scalar>,
                                                       _ uScale: UnsafePointer<Scalar>, _ stride: Int, _ count: Int, mean: Double) {
        for k in 0..<count {
            let d = Double(x[k]) - mean
            let uk = Double(uScale[k * stride]) * Double(g[k])
            u[k & 7] += uk
            du[k & 7] += d * uk
        }
    }
}
