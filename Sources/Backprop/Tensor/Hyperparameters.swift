/// One check per kind of setting, shared by every place a setting can be given: initializers,
/// property setters and functional forms call the same function, so a value rejected at construction
/// is rejected when assigned later too (a learning rate set by a schedule, a functional `rmsNorm(eps:)`).
///
/// Non-finite values are rejected wherever PyTorch would go on to produce garbage (a NaN learning rate
/// makes every parameter NaN; an infinite ε divides everything to 0). Each message names the op, the
/// setting, its value and the rule.
enum Hyperparameter {
    /// A learning rate: finite and ≥ 0 (PyTorch rejects negative and NaN rates; an infinite rate turns
    /// every parameter into ±∞ or NaN at the first step).
    static func checkLearningRate<Value: BinaryFloatingPoint>(_ value: Value, name: String = "learningRate", op: String) {
        guard value.isFinite && value >= 0 else { usageError(op, "\(name) \(value) must be finite and ≥ 0") }
    }

    /// A setting that must be finite and ≥ 0 (momentum, weight decay, ε, a clipping norm's bound).
    static func checkNonNegative<Value: BinaryFloatingPoint>(_ value: Value, name: String, op: String) {
        guard value.isFinite && value >= 0 else { usageError(op, "\(name) \(value) must be finite and ≥ 0") }
    }

    /// A setting that may take any finite value (dampening, an activation's slope).
    static func checkFinite<Value: BinaryFloatingPoint>(_ value: Value, name: String, op: String) {
        guard value.isFinite else { usageError(op, "\(name) \(value) must be finite") }
    }

    /// A probability in [0, 1] (dropout, label smoothing).
    static func checkProbability<Value: BinaryFloatingPoint>(_ value: Value, name: String, op: String) {
        guard value >= 0 && value <= 1 else { usageError(op, "\(name) \(value) must be in [0, 1]") }
    }

    /// Adam's (β₁, β₂): each in [0, 1), as PyTorch.
    static func checkBetas(_ betas: (Double, Double), op: String) {
        guard (0..<1).contains(betas.0), (0..<1).contains(betas.1) else {
            usageError(op, "betas (\(betas.0), \(betas.1)) must each be in [0, 1)")
        }
    }

    /// The running-average factor of a normalization layer: `nil` (a cumulative average) or in [0, 1].
    /// PyTorch accepts any value; 2 makes the running statistics oscillate and NaN makes them NaN for good.
    static func checkNormalizationMomentum(_ value: Double?, op: String) {
        guard let value else { return }
        guard value >= 0 && value <= 1 else { usageError(op, "momentum \(value) must be in [0, 1] (or nil for a cumulative average)") }
    }

    /// A count that must be positive (a schedule's step size or period).
    static func checkPositive(_ value: Int, name: String, op: String) {
        guard value > 0 else { usageError(op, "\(name) \(value) must be positive") }
    }
}
