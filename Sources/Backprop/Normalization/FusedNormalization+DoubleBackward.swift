/// The double backward of the fused normalization (the backward of `normalizationBackward`).
///
/// Per set of n elements, with d = x − μ (d = x for RMSNorm), q = Σd², ρ = ρ(q) the reciprocal
/// standard deviation and x̂ = ρ·d, the Jacobian of x̂ is symmetric:
///
///     F(u) = ∂x̂/∂x·u = ρ·(u − ū) + 2ρ′·d·Σ(d·u)        (ū = mean(u); 0 for RMSNorm)
///
/// (ρ′ = dρ/dq: −ρ³/(2n) for 1/√(q/n + ε)). The first backward is ∂L/∂x = Σ_t F_t(v_t) with
/// v_t = c_t·γ⊙g, ∂L/∂γ = Σ_sets g⊙Σ_t c_t·x̂_t, ∂L/∂β = Σ_sets g. For incoming second-order gradients
/// w (for ∂L/∂x), w_γ and w_β, differentiating ⟨w, F(v)⟩ = ρ·Σ(w − w̄)(v − v̄) + 2ρ′·A·B through d
/// and ρ(q) (A = Σd·v, B = Σd·w, P = Σ(w − w̄)(v − v̄)) gives, per term:
///
///     ∂/∂x = (2ρ′·P + 4ρ″·A·B)·d + 2ρ′·B·(v − v̄) + 2ρ′·A·(w − w̄) + F(c·g⊙w_γ)
///     ∂/∂g = c·γ⊙F(w) + c·w_γ⊙x̂            (+ w_β once)
///     ∂/∂γ = Σ_sets c·g⊙F(w)
///
/// (the last term of ∂/∂x is the x-dependence of ∂L/∂γ = Σ g⊙x̂). Given statistics (evaluation) have
/// ρ′ = ρ″ = 0 and ū = 0.
///
/// It is written in `Variable` operations. When no graph is being created, the statistics are the
/// forward pass's (constants) and the operations run unrecorded. When a graph is being created (third
/// order and beyond), μ and q are recomputed from x by recorded operations, so their dependence on x
/// is part of the graph — the step whose omission makes PyTorch's third derivative of LayerNorm wrong.
extension Variable {
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func normalizationDoubleBackward(_ x: Variable, weight: Variable?, gradient g: Variable, terms: [NormalizationTerm],
                                            configuration: NormalizationConfiguration,
                                            incoming: (input: Variable?, weight: Variable?, bias: Variable?),
                                            needs: (input: Bool, weight: Bool, gradient: Bool)) -> (Variable?, Variable?, Variable?) {
        if !GradientMode.isEnabled {
            return fusedDoubleBackward(x, weight: weight, gradient: g, terms: terms, configuration: configuration,
                                       incoming: incoming, needs: needs)
        }
        let xShape = x.shape
        let broadcast = configuration.affineBroadcastShape
        let gammaB = weight?.reshaped(to: broadcast)
        let incomingWeightB = incoming.weight?.reshaped(to: broadcast)
        var gx: Variable?, gWeight: Variable?, gg: Variable?
        func add(_ sum: inout Variable?, _ term: Variable) { sum = sum.map { $0 + term } ?? term }

        for term in terms {
            let c = Scalar(term.coefficient)
            let set = NormalizationSet(x, term: term, recording: GradientMode.isEnabled)
            // v = c·γ⊙g, the argument of F in the first backward.
            let v = set.view((gammaB.map { g * $0 } ?? g) * c)
            if let w = incoming.input.map(set.view) {
                let fw = set.jacobianProduct(w)
                if needs.input, let derivatives = set.derivatives {
                    let (vc, wc) = (set.centered(v), set.centered(w))
                    let a = set.sum(set.d * v), b = set.sum(set.d * w), p = set.sum(wc * vc)
                    let dTerm = (derivatives.first * p + derivatives.second * a * b) * set.d
                    add(&gx, set.unview(dTerm + derivatives.first * b * vc + derivatives.first * a * wc))
                }
                if needs.gradient { add(&gg, (gammaB.map { set.unview(fw) * $0 } ?? set.unview(fw)) * c) }
                if needs.weight, weight != nil {
                    add(&gWeight, (g * set.unview(fw) * c).summed(toShape: broadcast).reshaped(to: weight!.shape))
                }
            }
            if let incomingWeightB {
                if needs.input { add(&gx, set.unview(set.jacobianProduct(set.view(g * incomingWeightB * c)))) }
                if needs.gradient { add(&gg, incomingWeightB * set.unview(set.normalized) * c) }
            }
        }
        if needs.gradient, let incomingBias = incoming.bias {
            add(&gg, incomingBias.reshaped(to: broadcast).expanded(to: xShape))
        }
        return (gx, gWeight, gg)
    }
}

extension Variable {
    /// The double backward when no graph is being created: the same formulas as
    /// `normalizationDoubleBackward`, in one fused kernel per term from the forward pass's statistics.
    static func fusedDoubleBackward(_ x: Variable, weight: Variable?, gradient g: Variable, terms: [NormalizationTerm],
                                    configuration: NormalizationConfiguration,
                                    incoming: (input: Variable?, weight: Variable?, bias: Variable?),
                                    needs: (input: Bool, weight: Bool, gradient: Bool)) -> (Variable?, Variable?, Variable?) {
        let count = x.value.count
        let affineCount = NormalizationKernels.affineCount(terms[0].layout)
        var gx = [Scalar](repeating: 0, count: needs.input ? count : 0)
        var gg = [Scalar](repeating: 0, count: needs.gradient ? count : 0)
        var gWeight = [Double](repeating: 0, count: needs.weight && weight != nil && incoming.input != nil ? affineCount : 0)
        x.value.scalars.withUnsafeBufferPointer { xs in
            g.value.scalars.withUnsafeBufferPointer { gs in
                withOptionalBuffer(incoming.input?.value) { ws in
                    withOptionalBuffer(incoming.weight?.value) { wWeights in
                        withOptionalBuffer(weight?.value) { weights in
                            gx.withUnsafeMutableBufferPointer { gxs in
                                gg.withUnsafeMutableBufferPointer { ggs in
                                    gWeight.withUnsafeMutableBufferPointer { gWeights in
                                        for term in terms {
                                            let (first, second) = term.scaleDerivatives()
                                            let statistics = DoubleBackwardStatistics(
                                                mean: term.dependence == .uncentered ? [Double](repeating: 0, count: term.layout.sets) : term.statistics.mean,
                                                reciprocalStd: term.statistics.reciprocalStd, firstDerivative: first, secondDerivative: second,
                                                centered: term.dependence == .centered)
                                            NormalizationKernels.normalizeDoubleBackward(
                                                xs, upstream: gs, incomingInput: ws, incomingWeight: wWeights, layout: term.layout,
                                                statistics: statistics, coefficient: term.coefficient, weight: weights,
                                                inputGradient: needs.input ? gxs.baseAddress : nil,
                                                upstreamGradient: needs.gradient ? ggs.baseAddress : nil,
                                                weightGradient: gWeights.isEmpty ? nil : gWeights)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if needs.gradient, let incomingBias = incoming.bias {
            gg.withUnsafeMutableBufferPointer { out in
                let broadcast = incomingBias.value.reshaped(to: configuration.affineBroadcastShape).expanded(to: x.shape)
                for i in 0..<count { out[i] += broadcast.scalars[i] }
            }
        }
        let tape = x.tape
        return (needs.input ? Variable(value: Tensor(shape: x.shape, scalars: gx), tape: tape, node: -1) : nil,
                gWeight.isEmpty ? nil : Variable(value: Tensor(shape: weight!.shape, scalars: gWeight.map { Scalar($0) }), tape: tape, node: -1),
                needs.gradient ? Variable(value: Tensor(shape: x.shape, scalars: gg), tape: tape, node: -1) : nil)
    }
}

extension NormalizationTerm {
    /// 2ρ′ and 4ρ″ per set (derivatives of ρ with respect to the sum of squares q), from the forward
    /// pass's statistics; 0 for given statistics and for a constant set of the unbiased variant.
    func scaleDerivatives() -> (first: [Double], second: [Double]) {
        let n = Double(layout.countPerSet)
        var first = [Double](), second = [Double]()
        first.reserveCapacity(layout.sets)
        second.reserveCapacity(layout.sets)
        for (s, r) in statistics.reciprocalStd.enumerated() {
            switch scale {
            case .biased:
                first.append(-r * r * r / n)
                second.append(3 * r * r * r * r * r / (n * n))
            case .unbiasedStandardDeviation:
                let q = statistics.sumOfSquares[s]
                let sd = (q / (n - 1)).squareRoot()
                // A constant set (s = 0) has no x-dependence through s, as in the first backward.
                guard sd > 0 else { first.append(0); second.append(0); continue }
                let ds = 1 / (2 * (n - 1) * sd)
                first.append(-2 * r * r * ds)
                second.append(4 * r * r * ds * ds * (2 * r + 1 / sd))
            case .given:
                first.append(0)
                second.append(0)
            }
        }
        return (first, second)
    }
}

/// One term's sets as variables: the input viewed as `[outer, sets, inner]`, its deviations d, and
/// ρ, 2ρ′, 4ρ″ per set (shape `[1, sets, 1]`), either from the forward pass's statistics (constants)
/// or recomputed from x by recorded operations.
private struct NormalizationSet<Scalar: TensorScalar> {
    let viewShape: [Int]
    let inputShape: [Int]
    let centered: Bool
    /// d = x − μ (or x), in the view.
    let d: Variable<Scalar>
    /// ρ per set.
    let reciprocalStd: Variable<Scalar>
    /// (2ρ′, 4ρ″) per set; `nil` for given statistics.
    let derivatives: (first: Variable<Scalar>, second: Variable<Scalar>)?

    init(_ x: Variable<Scalar>, term: NormalizationTerm, recording: Bool) {
        let layout = term.layout
        viewShape = [layout.outer, layout.sets, layout.inner]
        inputShape = x.shape
        let xv = x.reshaped(to: viewShape)
        let n = Double(layout.countPerSet)
        let statisticsShape = [1, layout.sets, 1]
        func constant(_ values: [Double]) -> Variable<Scalar> {
            Variable(value: Tensor(shape: statisticsShape, scalars: values.map { Scalar($0) }), tape: x.tape, node: -1)
        }
        switch term.dependence {
        case .constant:
            centered = false
            d = xv - constant(term.statistics.mean)
            reciprocalStd = constant(term.statistics.reciprocalStd)
            derivatives = nil
            return
        case .centered, .uncentered:
            centered = term.dependence == .centered
        }
        if recording {
            let setSum = { (u: Variable<Scalar>) -> Variable<Scalar> in
                let inner = u.sum(alongAxes: [2], keepDims: true)
                return layout.outer == 1 ? inner : inner.sum(alongAxes: [0], keepDims: true)
            }
            let deviations = centered ? xv - setSum(xv) / Scalar(n) : xv
            let q = setSum(deviations * deviations)
            d = deviations
            switch term.scale {
            case .biased(let eps):
                let r = (q / Scalar(n) + Scalar(eps)).rsqrt()
                let r3 = r * r * r
                reciprocalStd = r
                derivatives = (r3 * Scalar(-1 / n), r3 * r * r * Scalar(3 / (n * n)))
            case .unbiasedStandardDeviation(let eps):
                let s = (q / Scalar(n - 1)).sqrt()
                let r = 1 / (s + Scalar(eps))
                let ds = 1 / (s * Scalar(2 * (n - 1)))          // s′(q)
                reciprocalStd = r
                derivatives = (-(r * r * ds) * 2, r * r * ds * ds * (r * 2 + 1 / s) * 4)
            case .given:
                usageError("normalizationBackward", "a term with given statistics must have constant dependence")
            }
            return
        }
        d = centered ? xv - constant(term.statistics.mean) : xv
        reciprocalStd = constant(term.statistics.reciprocalStd)
        let (first, second) = term.scaleDerivatives()
        derivatives = (constant(first), constant(second))
    }

    /// An input-shaped variable in the view.
    func view(_ u: Variable<Scalar>) -> Variable<Scalar> { u.reshaped(to: viewShape) }
    /// A view-shaped variable in the input's shape.
    func unview(_ u: Variable<Scalar>) -> Variable<Scalar> { u.reshaped(to: inputShape) }
    /// Σ over each set, shape `[1, sets, 1]`: over the inner axis, then (when there is one) the outer
    /// axis, each a contiguous reduction (a reduction over both at once would first permute a copy).
    func sum(_ u: Variable<Scalar>) -> Variable<Scalar> {
        let inner = u.sum(alongAxes: [2], keepDims: true)
        return viewShape[0] == 1 ? inner : inner.sum(alongAxes: [0], keepDims: true)
    }
    /// u − mean(u) per set (u itself for RMSNorm and given statistics).
    func centered(_ u: Variable<Scalar>) -> Variable<Scalar> {
        centered ? u - sum(u) / Scalar(viewShape[0] * viewShape[2]) : u
    }
    /// x̂ = ρ·d.
    var normalized: Variable<Scalar> { d * reciprocalStd }
    /// F(u) = ρ·(u − ū) + 2ρ′·d·Σ(d·u), the (symmetric) Jacobian of x̂ applied to u.
    func jacobianProduct(_ u: Variable<Scalar>) -> Variable<Scalar> {
        let scaled = centered(u) * reciprocalStd
        guard let derivatives else { return scaled }
        return scaled + d * (derivatives.first * sum(d * u))
    }
}
