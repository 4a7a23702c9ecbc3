import BackpropKernelsC

extension NormalizationKernels {
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
        let (grain, chunks) = partialChunks(layout)
        let needParameters = dWeight != nil || dBias != nil
        let (scaleTable, _) = affineTables(count: affineCount, coefficient: coefficient, weight: weight, bias: nil)
        if usesColumns(layout) {
            scaleTable.withUnsafeBufferPointer { scaleTable in
                columnNormalizeBackward(xb, gradient: dyb, layout: layout, mean: mean, reciprocalStd: reciprocalStd,
                                        coupling: coupling, dependence: dependence, coefficient: coefficient,
                                        scaleTable: scaleTable.baseAddress!, inputGradient: dx?.baseAddress,
                                        weightGradient: dWeight, biasGradient: dBias, overwritingInputGradient: overwrite)
            }
            return
        }
        // Per-chunk partial Σ dy·x̂ and Σ dy per affine index, summed over the chunks in order afterwards.
        var partials = [Double](repeating: 0, count: needParameters ? 2 * affineCount * chunks : 0)
        let rowsInC = outer == 1 && per == 1 && layout.affinePeriod == 1 && dependence != .constant
            && VectorLoops.applies(to: Scalar.self, count: inner)
        partials.withUnsafeMutableBufferPointer { partials in
            scaleTable.withUnsafeBufferPointer { scaleTable in
                let gt = scaleTable.baseAddress!
                // An empty array still has a (shared, read-only) base address: use it only when sized.
                let partialBase = needParameters ? partials.baseAddress : nil
                let dxb = dx?.baseAddress
                Parallelism.forEach(chunks: chunks) { chunk in
                    let pw = partialBase.map { $0 + 2 * affineCount * chunk }
                    let pb = pw.map { $0 + affineCount }
                    let chunkSets = (chunk * grain)..<Swift.min(sets, (chunk + 1) * grain)
                    if rowsInC {
                        // Contiguous rows with a per-position affine (LayerNorm, RMSNorm): both sweeps of
                        // every row of the chunk in one C call, without the per-row overhead.
                        let first = chunkSets.lowerBound
                        mean.withUnsafeBufferPointer { mean in
                            reciprocalStd.withUnsafeBufferPointer { rstd in
                                withOptionalValues(coupling) { coupling in
                                    bp_f32_rows_normalize_backward(
                                        VectorLoops.float(xb + first * inner), VectorLoops.float(dyb + first * inner),
                                        VectorLoops.float(gt), dxb.map { VectorLoops.float($0 + first * inner) }, chunkSets.count,
                                        inner, mean.baseAddress! + first, rstd.baseAddress! + first, coupling.map { $0 + first },
                                        dependence == .centered ? 1 : 0, pw, pb, overwrite ? 1 : 0)
                                }
                            }
                        }
                        return
                    }
                    for s in chunkSets {
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
                        let rs = Scalar(r)
                        if dependence == .centered && layout.countPerSet == 1 && coupling == nil && r.isFinite {
                            // A one-element set normalizes to 0 whatever x: its input gradient is exactly 0
                            // (the general formula leaves rounding noise amplified by rstd = 1/√ε).
                            if overwrite {
                                for o in 0..<outer { (dxb + o * setStride + s * inner).update(repeating: 0, count: inner) }
                            }
                            continue
                        }
                        if dependence == .constant {
                            // Given statistics: dx = rstd·g·dy, with no x̂ term at all (a 0·x̂ term would
                            // turn a NaN or infinite x into a NaN gradient where PyTorch gives rstd·g·dy).
                            for o in 0..<outer {
                                let start = o * setStride + s * inner
                                let (dys, dxs) = (dyb + start, dxb + start)
                                // Block b (of `per` elements; one element when per = 1) has affine index affineBase + b.
                                for block in 0..<blocks {
                                    let (gr, offset) = (rs * gt[affineBase + block], block * per)
                                    for k in offset..<(offset + per) {
                                        if overwrite { dxs[k] = gr * dys[k] } else { dxs[k] += gr * dys[k] }
                                    }
                                }
                            }
                            continue
                        }
                        // Sweep 2: dx += rstd·(g·dy − mean(g·dy) − x̂·mean(g·dy·x̂)·coupling), in Scalar.
                        let muHi = Scalar(mu), muLo = Scalar(mu - Double(Scalar(mu)))
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

/// Calls `body` with the array's base address, or `nil`.
private func withOptionalValues<Result>(_ values: [Double]?, _ body: (UnsafePointer<Double>?) -> Result) -> Result {
    guard let values else { return body(nil) }
    return values.withUnsafeBufferPointer { body($0.baseAddress) }
}
