import Backprop

/// Deterministic test points for catalog cases.
public enum Inputs {
    /// Where the values of a generated input lie.
    public enum Domain: Sendable {
        /// Uniform in [−2, 2].
        case any
        /// Uniform in [0.5, 2.5] (for log, sqrt, pow, division).
        case positive
        /// Uniform in ±[0.2, 2.2], away from kinks at zero (relu, abs, clamp).
        case awayFromZero
    }

    /// A tensor of the given shape from a seed.
    public static func tensor(_ shape: [Int], seed: UInt64, domain: Domain = .any) -> Tensor<Double> {
        var generator = SeededGenerator(seed: seed &* 7919 &+ 17)
        let u = Tensor<Double>.randomUniform(shape: shape, in: -1..<1, using: &generator)
        switch domain {
        case .any: return u * 2
        case .positive: return u + 1.5
        case .awayFromZero: return Tensor(shape: shape, scalars: u.scalars.map { ($0 < 0 ? -1 : 1) * (0.2 + 2 * Swift.abs($0)) })
        }
    }

    /// One tensor per shape, seeded by position.
    public static func tensors(_ shapes: [[Int]], seed: UInt64 = 1, domain: Domain = .any) -> [Tensor<Double>] {
        shapes.enumerated().map { tensor($0.element, seed: seed &+ UInt64($0.offset) &* 101, domain: domain) }
    }
}

/// `2x3x4` for `[2, 3, 4]`, `scalar` for `[]`.
public func shapeName(_ shape: [Int]) -> String {
    shape.isEmpty ? "scalar" : shape.map(String.init).joined(separator: "x")
}
