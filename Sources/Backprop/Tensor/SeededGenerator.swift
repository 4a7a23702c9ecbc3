/// A seedable pseudo-random generator that yields the same numbers for the same seed on every
/// machine (xoshiro256** seeded through SplitMix64).
///
/// ```swift
/// var rng = SeededGenerator(seed: 42)
/// let w = Tensor<Float>.randomNormal(shape: [3, 3], using: &rng)
/// ```
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    /// Creates a generator whose sequence is fully determined by `seed`.
    public init(seed: UInt64) {
        var splitMix = seed
        func next() -> UInt64 {
            splitMix &+= 0x9E37_79B9_7F4A_7C15
            var z = splitMix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (next(), next(), next(), next())
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = rotateLeft(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotateLeft(state.3, 45)
        return result
    }

    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// A uniform `Double` in `[0, 1)` built from the top 53 bits (exact, platform independent).
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A standard normal `Double` (Marsaglia's polar method; uses only `sqrt` and `log`).
    public mutating func nextNormal() -> Double {
        if let cached = spare {
            spare = nil
            return cached
        }
        while true {
            let u = 2 * nextUnit() - 1
            let v = 2 * nextUnit() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 {
                let factor = (-2 * Double.log(s) / s).squareRoot()
                spare = v * factor
                return u * factor
            }
        }
    }

    private var spare: Double?

    /// An independent generator derived from this one (advances this generator once).
    public mutating func split() -> SeededGenerator {
        SeededGenerator(seed: next())
    }
}
