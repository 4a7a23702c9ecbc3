/// How `LayerNorm` turns the centred input into unit scale.
public enum LayerNormVariant: Sendable, Equatable {
    /// PyTorch's `nn.LayerNorm`: `(x − μ)/√(σ²_b + ε)` with the biased variance, ε inside the root.
    case standard
    /// The Annotated Transformer's (and many tutorials'): `(x − μ)/(s + ε)` with the unbiased
    /// standard deviation `s = √(Σ(x − μ)²/(n − 1))` and ε outside the root. Its outputs are smaller
    /// by `√((n − 1)/n)` when σ² ≫ ε, and its gain at small σ reaches `1/ε` instead of `1/√ε`.
    case annotatedTransformer
}

/// Layer normalization over the trailing `normalizedShape` axes of each sample (PyTorch's `nn.LayerNorm`).
///
/// Forward, for each leading index with the n = ∏normalizedShape trailing elements:
/// `μ = Σx/n`, `σ²_b = Σ(x − μ)²/n`, `rstd = 1/√(σ²_b + ε)`, `x̂ = (x − μ)·rstd`, `y = γ⊙x̂ + β`
/// (γ, β of shape `normalizedShape`; ones and zeros initially).
///
/// Backward (one pass per row, centred compact form, derived by differentiating μ and rstd through x):
/// `∂L/∂x = rstd·(γ⊙dy − mean(γ⊙dy) − x̂·mean(γ⊙dy⊙x̂))`, `∂L/∂γ = Σ_rows dy⊙x̂`, `∂L/∂β = Σ_rows dy`.
///
/// With `.annotatedTransformer`, the scale is `1/d` with `d = s + ε` and `s` the unbiased standard
/// deviation; the last term of ∂L/∂x gains the factor `n·d/((n − 1)·s)` (from ∂s/∂x = (x − μ)/((n − 1)·s)) (0 for a constant row).
///
/// The same in training and evaluation; no batch-size requirements.
public final class LayerNorm<Scalar: TensorScalar>: Module {
    /// The trailing axes normalized over.
    public let normalizedShape: [Int]
    /// Added to the variance (inside the root) for stability; outside the root for `.annotatedTransformer`.
    public let eps: Double
    /// The normalization formula.
    public let variant: LayerNormVariant
    /// γ, shape `normalizedShape`; `nil` without `elementwiseAffine`.
    public let weight: Parameter<Scalar>?
    /// β, shape `normalizedShape`; `nil` without `elementwiseAffine` or `bias`.
    public let bias: Parameter<Scalar>?

    /// Creates a layer with PyTorch's defaults.
    ///
    /// - Parameters:
    ///   - normalizedShape: The trailing axes to normalize over (at least one).
    ///   - eps: The stabilizer (PyTorch's 1e-5; the Annotated Transformer uses 1e-6).
    ///   - elementwiseAffine: Learn γ (and β when `bias`).
    ///   - bias: Learn β (only with `elementwiseAffine`).
    ///   - variant: `.standard` (PyTorch) or `.annotatedTransformer`.
    public init(normalizedShape: [Int], eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true,
                variant: LayerNormVariant = .standard) {
        guard !normalizedShape.isEmpty, normalizedShape.allSatisfy({ $0 > 0 }) else {
            usageError("LayerNorm", "normalizedShape \(normalizedShape) must have at least one axis, all positive")
        }
        checkEps(eps, op: "LayerNorm")
        self.normalizedShape = normalizedShape
        self.eps = eps
        self.variant = variant
        weight = elementwiseAffine ? Parameter(Tensor(ones: normalizedShape)) : nil
        self.bias = elementwiseAffine && bias ? Parameter(Tensor(zeros: normalizedShape)) : nil
    }

    /// Normalizes the trailing axes of `x`.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        x.layerNorm(normalizedShape: normalizedShape, weight: lift(weight, for: x), bias: lift(bias, for: x),
                    eps: eps, variant: variant)
    }
}

extension Variable {
    /// Layer normalization over the trailing `normalizedShape` axes (PyTorch's `F.layer_norm`), as one
    /// fused tape record. See `LayerNorm` for the formulas.
    ///
    /// - Parameters:
    ///   - normalizedShape: The trailing axes; must equal the last axes of the input.
    ///   - weight: γ of shape `normalizedShape`, or `nil` for 1.
    ///   - bias: β of shape `normalizedShape`, or `nil` for 0.
    ///   - eps: The stabilizer.
    ///   - variant: `.standard` (PyTorch) or `.annotatedTransformer`.
    public func layerNorm(normalizedShape: [Int], weight: Variable? = nil, bias: Variable? = nil,
                          eps: Double = 1e-5, variant: LayerNormVariant = .standard) -> Variable {
        checkLayerNormArguments("layerNorm", normalizedShape: normalizedShape, weight: weight, bias: bias, eps: eps)
        // Each leading index is a set of the n trailing elements; γ and β follow the trailing index.
        let n = elementCount(normalizedShape)
        let layout = NormalizationLayout(outer: 1, sets: value.count / n, inner: n, affinePeriod: 1, affineStride: 0, innerPerAffine: 1)
        let scale: ScaleFunction = variant == .standard ? .biased(eps: eps) : .unbiasedStandardDeviation(eps: eps)
        let configuration = NormalizationConfiguration(
            name: "layerNorm", terms: [NormalizationTermSpecification(layout: layout, source: .input(centered: true, scale: scale))],
            affineBroadcastShape: normalizedShape, statisticsInOneSweep: variant == .standard)
        return normalized(weight: weight, bias: bias, configuration: configuration).output
    }

    /// Layer normalization composed from primitive tape ops (mean, subtraction, variance, rsqrt,
    /// multiplication), the reference the fused `layerNorm` is checked against.
    public func layerNormReference(normalizedShape: [Int], weight: Variable? = nil, bias: Variable? = nil,
                                   eps: Double = 1e-5, variant: LayerNormVariant = .standard) -> Variable {
        checkLayerNormArguments("layerNormReference", normalizedShape: normalizedShape, weight: weight, bias: bias, eps: eps)
        let axes = Array((rank - normalizedShape.count)..<rank)
        let centered = self - mean(alongAxes: axes, keepDims: true)
        let y: Variable
        switch variant {
        case .standard:
            y = centered * (centered.squared().mean(alongAxes: axes, keepDims: true) + Scalar(eps)).rsqrt()
        case .annotatedTransformer:
            let n = Scalar(elementCount(normalizedShape))
            let unbiasedStd = (centered.squared().sum(alongAxes: axes, keepDims: true) / (n - 1)).sqrt()
            y = centered / (unbiasedStd + Scalar(eps))
        }
        return y.applyingAffine(weight: weight, bias: bias, broadcastShape: normalizedShape)
    }

    private func checkLayerNormArguments(_ op: String, normalizedShape: [Int], weight: Variable?, bias: Variable?, eps: Double) {
        NormalizationArguments.checkTrailing(op, input: shape, normalizedShape: normalizedShape)
        NormalizationArguments.checkAffine(op, weight: weight?.shape, bias: bias?.shape, affineShape: normalizedShape,
                                           rule: "equal to normalizedShape \(normalizedShape)")
        checkEps(eps, op: op)
    }
}
