/// The argument checks shared by the normalization ops and layers, with messages that name the op,
/// the shapes or values, and the rule broken.
enum NormalizationArguments {
    /// Stops unless `eps` is finite and non-negative.
    static func checkEps(_ eps: Double, op: String) {
        Hyperparameter.checkNonNegative(eps, name: "eps", op: op)
    }

    /// Stops unless γ and β (when given) have `affineShape`; `rule` says where that shape comes from.
    static func checkAffine(_ op: String, weight: [Int]?, bias: [Int]?, affineShape: [Int], rule: String) {
        if let weight, weight != affineShape { usageError(op, "weight shape \(weight) must be \(affineShape), \(rule)") }
        if let bias, bias != affineShape { usageError(op, "bias shape \(bias) must be \(affineShape), \(rule)") }
    }

    /// Checks a LayerNorm/RMSNorm input: `normalizedShape` is non-empty and ends the input's shape.
    static func checkTrailing(_ op: String, input shape: [Int], normalizedShape: [Int]) {
        guard !normalizedShape.isEmpty else { usageError(op, "normalizedShape must have at least one axis") }
        guard shape.count >= normalizedShape.count, Array(shape.suffix(normalizedShape.count)) == normalizedShape else {
            usageError(op, "normalizedShape \(normalizedShape) does not match the trailing axes of input shape \(shape)")
        }
    }

    /// Checks a `[N, C, *]` input (rank ≥ 2) and returns C.
    static func channels(_ op: String, input shape: [Int]) -> Int {
        guard shape.count >= 2 else { usageError(op, "input shape \(shape) must have at least 2 axes [N, C, *]") }
        return shape[1]
    }

    /// The shape `[C, 1, …]` that per-channel γ and β take to broadcast against `[N, C, *]`.
    static func channelBroadcastShape(_ shape: [Int]) -> [Int] {
        [shape[1]] + Array(repeating: 1, count: shape.count - 2)
    }
}

/// The product of the trailing axes of `shape` from `axis` on.
func elementCount(_ shape: [Int], from axis: Int = 0) -> Int {
    shape[axis...].reduce(1, *)
}

/// Stops unless `eps` is finite and non-negative.
func checkEps(_ eps: Double, op: String) {
    NormalizationArguments.checkEps(eps, op: op)
}

extension Variable {
    /// `y·γ + β` with γ and β (each optional) reshaped to `broadcastShape`: the affine step of the
    /// reference decompositions.
    func applyingAffine(weight: Variable?, bias: Variable?, broadcastShape: [Int]) -> Variable {
        var result = self
        if let weight { result = result * weight.reshaped(to: broadcastShape) }
        if let bias { result = result + bias.reshaped(to: broadcastShape) }
        return result
    }
}
