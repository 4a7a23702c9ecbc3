/// Root-mean-square normalization over the trailing `normalizedShape` axes (PyTorch's `nn.RMSNorm`).
///
/// Forward, for each leading index with the n = ∏normalizedShape trailing elements:
/// `r = 1/√(mean(x²) + ε)`, `x̂ = x·r`, `y = γ⊙x̂`. No mean subtraction and no β.
/// The default ε (`nil`) is the machine epsilon of the scalar type, as PyTorch uses for its compute
/// type (`Float.ulpOfOne` ≈ 1.19e-7, `Double.ulpOfOne` ≈ 2.22e-16).
///
/// Backward (one pass per row; r depends on x through mean(x²)):
/// `∂L/∂x = r·(γ⊙dy − x̂·mean(γ⊙dy⊙x̂))` (equivalently `r·γ⊙dy − x·r³/n·Σ γ⊙dy⊙x`),
/// `∂L/∂γ = Σ_rows dy⊙x̂`.
public final class RMSNorm<Scalar: TensorScalar>: Module {
    /// The trailing axes normalized over.
    public let normalizedShape: [Int]
    /// The stabilizer added to mean(x²); `nil` means the scalar type's machine epsilon.
    public let eps: Double?
    /// γ, shape `normalizedShape` (ones initially); `nil` without `elementwiseAffine`.
    public let weight: Parameter<Scalar>?

    /// Creates a layer with PyTorch's defaults.
    ///
    /// - Parameters:
    ///   - normalizedShape: The trailing axes to normalize over.
    ///   - eps: The stabilizer, or `nil` for the machine epsilon of `Scalar`.
    ///   - elementwiseAffine: Learn γ.
    public init(normalizedShape: [Int], eps: Double? = nil, elementwiseAffine: Bool = true) {
        guard !normalizedShape.isEmpty, normalizedShape.allSatisfy({ $0 > 0 }) else {
            usageError("RMSNorm", "normalizedShape \(normalizedShape) must have at least one axis, all positive")
        }
        if let eps { checkEps(eps, op: "RMSNorm") }
        self.normalizedShape = normalizedShape
        self.eps = eps
        weight = elementwiseAffine ? Parameter(Tensor(ones: normalizedShape)) : nil
    }

    /// Normalizes the trailing axes of `x`.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        x.rmsNorm(normalizedShape: normalizedShape, weight: lift(weight, for: x), eps: eps)
    }
}

extension Variable {
    /// The default RMSNorm ε: the machine epsilon of the scalar type.
    static var defaultRMSNormEps: Double { Double(Scalar.ulpOfOne) }

    /// RMS normalization over the trailing `normalizedShape` axes (PyTorch's `F.rms_norm`), as one
    /// fused tape record. See `RMSNorm` for the formulas.
    ///
    /// - Parameters:
    ///   - normalizedShape: The trailing axes; must equal the last axes of the input.
    ///   - weight: γ of shape `normalizedShape`, or `nil` for 1.
    ///   - eps: The stabilizer, or `nil` for the machine epsilon of `Scalar`.
    public func rmsNorm(normalizedShape: [Int], weight: Variable? = nil, eps: Double? = nil) -> Variable {
        checkRMSNormArguments("rmsNorm", normalizedShape: normalizedShape, weight: weight, eps: eps)
        // Each leading index is a set of the n trailing elements, normalized without centring.
        let n = elementCount(normalizedShape)
        let layout = NormalizationLayout(outer: 1, sets: value.count / n, inner: n, affinePeriod: 1, affineStride: 0, innerPerAffine: 1)
        let scale = ScaleFunction.biased(eps: eps ?? Self.defaultRMSNormEps)
        let configuration = NormalizationConfiguration(
            name: "rmsNorm", terms: [NormalizationTermSpecification(layout: layout, source: .input(centered: false, scale: scale))],
            affineBroadcastShape: normalizedShape, statisticsInOneSweep: true)
        return normalized(weight: weight, bias: nil, configuration: configuration).output
    }

    /// RMS normalization composed from primitive tape ops (squared, mean, rsqrt, multiplication), the
    /// reference the fused `rmsNorm` is checked against.
    public func rmsNormReference(normalizedShape: [Int], weight: Variable? = nil, eps: Double? = nil) -> Variable {
        checkRMSNormArguments("rmsNormReference", normalizedShape: normalizedShape, weight: weight, eps: eps)
        let axes = Array((rank - normalizedShape.count)..<rank)
        let y = self * (squared().mean(alongAxes: axes, keepDims: true) + Scalar(eps ?? Self.defaultRMSNormEps)).rsqrt()
        return y.applyingAffine(weight: weight, bias: nil, broadcastShape: normalizedShape)
    }

    private func checkRMSNormArguments(_ op: String, normalizedShape: [Int], weight: Variable?, eps: Double?) {
        if let eps { checkEps(eps, op: op) }
        NormalizationArguments.checkTrailing(op, input: shape, normalizedShape: normalizedShape)
        NormalizationArguments.checkAffine(op, weight: weight?.shape, bias: nil, affineShape: normalizedShape,
                                           rule: "equal to normalizedShape \(normalizedShape)")
    }
}
