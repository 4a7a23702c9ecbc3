/// How a term's reciprocal standard deviation follows from the sum of squares q = Σd² of its set
/// (d = x − μ, or x for RMSNorm) over n elements.
enum ScaleFunction: Sendable, Equatable {
    /// ρ = 1/√(q/n + ε): PyTorch's layers (biased variance, ε inside the root).
    case biased(eps: Double)
    /// ρ = 1/(s + ε) with s = √(q/(n − 1)): the Annotated Transformer's LayerNorm.
    case unbiasedStandardDeviation(eps: Double)
    /// ρ given (running statistics): a constant.
    case given
}

/// What a layer asks of one term of the fused op: how to split the input into sets, where the
/// statistics come from, and the term's weight in the sum.
struct NormalizationTermSpecification {
    /// The sets.
    var layout: NormalizationLayout
    /// Statistics of the input (mean-centred or not), or given per-set means and variances.
    var source: Source
    /// The term's factor c_t (1 for every layer but Batch Layer Normalization).
    var coefficient: Double = 1

    /// Where the statistics come from.
    enum Source {
        /// From the input, differentiated through: `centered` subtracts the mean (all but RMSNorm).
        case input(centered: Bool, scale: ScaleFunction)
        /// Given per-set means and variances (running statistics), constants for the gradient.
        case given(mean: [Double], variance: [Double], eps: Double)
    }
}

/// One normalization term as the forward pass computed it: its layout, statistics, how they depend
/// on the input, and its coefficient.
struct NormalizationTerm: Sendable {
    var layout: NormalizationLayout
    var statistics: NormalizationStatistics
    var dependence: StatisticsDependence
    var coefficient: Double
    var scale: ScaleFunction

    /// The term's statistics for `x`.
    static func make<Scalar: TensorScalar>(_ specification: NormalizationTermSpecification, x: Tensor<Scalar>) -> NormalizationTerm {
        let layout = specification.layout
        switch specification.source {
        case .given(let mean, let variance, let eps):
            let statistics = NormalizationStatistics(mean: mean, reciprocalStd: variance.map { 1 / ($0 + eps).squareRoot() },
                                                     sumOfSquares: [])
            return NormalizationTerm(layout: layout, statistics: statistics, dependence: .constant,
                                     coefficient: specification.coefficient, scale: .given)
        case .input(let centered, let scale):
            let eps: Double
            switch scale {
            case .biased(let e), .unbiasedStandardDeviation(let e): eps = e
            case .given: eps = 0
            }
            var statistics = NormalizationKernels.statistics(of: x, layout: layout, centered: centered, eps: eps)
            if case .unbiasedStandardDeviation = scale {
                let n = Double(layout.countPerSet)
                let unbiasedStd = statistics.sumOfSquares.map { ($0 / (n - 1)).squareRoot() }
                statistics.reciprocalStd = unbiasedStd.map { 1 / ($0 + eps) }
                // ∂s/∂x = (x − μ)/((n − 1)·s) gives the x̂·mean(g·dy·x̂) term the factor n·d/((n − 1)·s),
                // d = s + ε; a constant set (s = 0) has no such term.
                statistics.coupling = unbiasedStd.map { s in s == 0 ? 0 : n * (s + eps) / ((n - 1) * s) }
            }
            return NormalizationTerm(layout: layout, statistics: statistics, dependence: centered ? .centered : .uncentered,
                                     coefficient: specification.coefficient, scale: scale)
        }
    }
}

/// A fused normalization as its layer configures it: `y = γ ⊙ Σ_t c_t·x̂_t + β`, one term for every
/// layer but Batch Layer Normalization (two).
struct NormalizationConfiguration {
    /// The op's name in errors and on the tape.
    var name: String
    /// The terms.
    var terms: [NormalizationTermSpecification]
    /// The shape γ and β take to broadcast against the input (for example `[C, 1, 1]` for a channel
    /// layer on `[N, C, H, W]`, or `normalizedShape` for LayerNorm).
    var affineBroadcastShape: [Int]
    /// Compute a single term's statistics and normalize each set in one sweep while it is in cache.
    var statisticsInOneSweep = false
}

/// The forward and the first backward shared by every fused normalization op, on tensors: a sum of
/// normalization terms `y = Σ_t c_t·γ·x̂_t + β`.
enum FusedNormalization {
    /// The terms' statistics and `y = Σ_t c_t·γ[a]·x̂_t + β[a]`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func forward<Scalar: TensorScalar>(_ x: Tensor<Scalar>, configuration: NormalizationConfiguration,
                                              weight: Tensor<Scalar>?, bias: Tensor<Scalar>?) -> (Tensor<Scalar>, [NormalizationTerm]) {
        if configuration.statisticsInOneSweep, configuration.terms.count == 1,
           case .input(let centered, .biased(let eps)) = configuration.terms[0].source {
            let specification = configuration.terms[0]
            var statistics: NormalizationStatistics?
            let y = Tensor<Scalar>(shape: x.shape) { y in
                x.scalars.withUnsafeBufferPointer { xs in
                    withOptionalBuffer(weight) { w in
                        withOptionalBuffer(bias) { b in
                            statistics = NormalizationKernels.normalizeWithStatistics(xs, layout: specification.layout, centered: centered,
                                                                                      eps: eps, weight: w, bias: b, into: y)
                        }
                    }
                }
            }
            let term = NormalizationTerm(layout: specification.layout, statistics: statistics!,
                                         dependence: centered ? .centered : .uncentered,
                                         coefficient: specification.coefficient, scale: .biased(eps: eps))
            return (y, [term])
        }
        let terms = configuration.terms.map { NormalizationTerm.make($0, x: x) }
        return (forward(x, terms: terms, weight: weight, bias: bias), terms)
    }

    /// `y = Σ_t c_t·γ[a]·x̂_t + β[a]` from the terms' statistics.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func forward<Scalar: TensorScalar>(_ x: Tensor<Scalar>, terms: [NormalizationTerm],
                                              weight: Tensor<Scalar>?, bias: Tensor<Scalar>?) -> Tensor<Scalar> {
        Tensor(shape: x.shape) { y in
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
        }
    }

    /// Gradients for x, the weight and the bias (`nil` where not asked for) from the centred compact
    /// formulas of every term, in one fused sweep per set.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func backward<Scalar: TensorScalar>(_ gradient: Tensor<Scalar>, x: Tensor<Scalar>, terms: [NormalizationTerm],
                                               weight: Tensor<Scalar>?, affineCount: Int,
                                               needInput: Bool, needWeight: Bool, needBias: Bool)
        -> (input: Tensor<Scalar>?, weight: [Double]?, bias: [Double]?) {
        let needWeight = needWeight && weight != nil
        // The first term writes every element of dx, so it starts uninitialized (no zero-fill pass).
        var dx = needInput ? [Scalar](unsafeUninitializedCapacity: x.count) { _, initialized in initialized = x.count } : []
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
                                        inputGradient: needInput ? dxs : nil,
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
        return (needInput ? Tensor(shape: x.shape, scalars: dx) : nil, needWeight ? dWeight : nil, needBias ? dBias : nil)
    }
}

/// Calls `body` with the tensor's buffer, or `nil`.
func withOptionalBuffer<Scalar: TensorScalar, Result>(_ tensor: Tensor<Scalar>?,
                                                      _ body: (UnsafeBufferPointer<Scalar>?) -> Result) -> Result {
    guard let tensor else { return body(nil) }
    return tensor.scalars.withUnsafeBufferPointer { body($0) }
}

extension Variable {
    /// The fused normalization `y = γ ⊙ Σ_t c_t·x̂_t + β` as one tape record, with the statistics of its
    /// terms (the layers read their batch statistics from them for the running averages).
    ///
    /// Backward: one op (`normalizationBackward`) computing ∂L/∂x, ∂L/∂γ and ∂L/∂β together in one
    /// fused sweep per set, whose own backward is the analytic double backward.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func normalized(weight: Variable?, bias: Variable?,
                    configuration: NormalizationConfiguration) -> (output: Variable, terms: [NormalizationTerm]) {
        let (y, terms) = FusedNormalization.forward(value, configuration: configuration, weight: weight?.value, bias: bias?.value)
        let (sx, sw) = (saved, weight?.saved)
        let biasShape = bias?.shape
        let output = Variable.record(configuration.name, [self] + [weight, bias].compactMap { $0 }, value: y) { g, tape in
            // Every input that requires a gradient gets one, needed or not: the fused kernel's sums for
            // ∂L/∂x are accumulated alongside the parameters' (same results whatever was asked for).
            let needs = (input: tape.requiresGradient(0), weight: sw != nil && tape.requiresGradient(1),
                         bias: biasShape != nil && tape.requiresGradient(sw == nil ? 1 : 2))
            let (dx, dWeight, dBias) = Variable.normalizationBackward(tape[sx], weight: sw.map { tape[$0] }, biasShape: biasShape,
                                                                     gradient: g, terms: terms, configuration: configuration,
                                                                     needs: needs)
            return [dx] + (sw == nil ? [] : [dWeight]) + (biasShape == nil ? [] : [dBias])
        }
        return (output, terms)
    }

    /// ∂L/∂x, ∂L/∂γ and ∂L/∂β of the fused normalization for the upstream gradient `g`, computed
    /// together by one fused kernel and recorded as one op with up to three outputs:
    ///
    /// `∂L/∂x = Σ_t F_t(c_t·γ⊙g)`, `∂L/∂γ = Σ_sets g⊙Σ_t c_t·x̂_t`, `∂L/∂β = Σ_sets g`, where
    /// `F(v) = ρ·(v − v̄) + 2ρ′·d·Σ(d·v)` is the Jacobian of x̂ = ρ·d (see `normalizationDoubleBackward`).
    ///
    /// Backward: `normalizationDoubleBackward`, from the three incoming second-order gradients.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func normalizationBackward(_ x: Variable, weight: Variable?, biasShape: [Int]?, gradient g: Variable,
                                      terms: [NormalizationTerm], configuration: NormalizationConfiguration,
                                      needs: (input: Bool, weight: Bool, bias: Bool)) -> (Variable?, Variable?, Variable?) {
        let affineCount = NormalizationKernels.affineCount(terms[0].layout)
        let (dx, dWeight, dBias) = FusedNormalization.backward(g.value, x: x.value, terms: terms, weight: weight?.value,
                                                               affineCount: affineCount, needInput: needs.input,
                                                               needWeight: needs.weight, needBias: needs.bias)
        var values: [Tensor<Scalar>] = []
        var slots: [Int] = []
        if let dx { values.append(dx); slots.append(0) }
        if let dWeight, let weight { values.append(Tensor(shape: weight.shape, scalars: dWeight.map { Scalar($0) })); slots.append(1) }
        if let dBias, let biasShape { values.append(Tensor(shape: biasShape, scalars: dBias.map { Scalar($0) })); slots.append(2) }
        let (sx, sw, sg) = (x.saved, weight?.saved, g.saved)
        let inputs = [x] + (weight.map { [$0] } ?? []) + [g]
        let outputs = Variable.record(configuration.name + "Backward", inputs, values: values) { incoming, tape in
            var second: [Variable?] = [nil, nil, nil]
            for (k, slot) in slots.enumerated() { second[slot] = incoming[k] }
            let (gx, gWeight, gg) = normalizationDoubleBackward(
                tape[sx], weight: sw.map { tape[$0] }, gradient: tape[sg], terms: terms, configuration: configuration,
                incoming: (second[0], second[1], second[2]),
                needs: (tape.needs(0), sw != nil && tape.needs(1), tape.needs(sw == nil ? 1 : 2)))
            return [gx] + (sw == nil ? [] : [gWeight]) + [gg]
        }
        var result: [Variable?] = [nil, nil, nil]
        for (k, slot) in slots.enumerated() { result[slot] = outputs[k] }
        return (result[0], result[1], result[2])
    }
}
