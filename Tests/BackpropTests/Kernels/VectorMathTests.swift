@testable import Backprop
import BackpropKernelsC
import Foundation
import Testing

/// The vectorized `Float` exp, tanh, exact GELU and GELU derivative (`vmath.c`) against values
/// computed in `Double` with the C library, in ulps of the correctly rounded result, on a sample
/// of every float range; and bit-identical across the three instruction-set levels.
///
/// An exhaustive sweep (a C harness, run once, 2026-12-06: every float with 10⁻⁶ ≤ |x| ≤ 88 for
/// exp, ≤ 10 for tanh, 10⁻⁷ ≤ |x| ≤ 15 for GELU and its derivative) found at most 0.98 ulp for
/// exp, 1.33 for tanh, 6.30 for GELU with a normal result (at x = −3.0126; 1.6 for |x| ≤ 0.5) and
/// 5.36 for the derivative (in ulps of its larger term, since it crosses zero near x = −0.75). An
/// earlier sweep of every 13th float had missed GELU's worst case (5.76); the bounds below are the
/// exhaustive ones, rounded up.
@Suite("Vectorized float math")
struct VectorMathTests {
    /// Every 65,521st float bit pattern, plus a dense grid on [−16, 16] where the functions bend.
    static let samples: [Float] = {
        var values: [Float] = []
        var bits: UInt64 = 0
        while bits < 1 << 32 {
            values.append(Float(bitPattern: UInt32(bits)))
            bits += 65_521
        }
        for i in -16_000...16_000 { values.append(Float(i) / 1000) }
        values += [0, -0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 88.72, 88.73, -103.9, -104.1, 9.01, 0.625]
        return values
    }()

    /// The ulp of the float nearest `r` (2⁻¹⁴⁹ below the normal range).
    static func ulp(_ r: Double) -> Double {
        let a = Swift.abs(Float(r))
        return a < Float.leastNormalMagnitude ? 0x1p-149 : Double(a.ulp)
    }

    static func phi(_ x: Double) -> Double { 0.5 * Foundation.erfc(-x / 2.0.squareRoot()) }
    static func density(_ x: Double) -> Double { Foundation.exp(-0.5 * x * x) / (2 * Double.pi).squareRoot() }

    /// The largest error of `function` over the samples, in ulps of `scale(x, reference)`;
    /// results the reference puts below `floor` are skipped.
    static func worstError(_ function: VectorMath.Function, reference: (Double) -> Double, scale: (Double, Double) -> Double = { $1 },
                           floor: Double = 0) -> (ulps: Double, at: Float) {
        let values = VectorMath.apply(function, level: -1, to: samples)
        var worst = (ulps: 0.0, at: Float(0))
        for (x, y) in zip(samples, values) {
            let r = reference(Double(x))
            if x.isNaN {
                #expect(y.isNaN, "NaN must stay NaN")
                continue
            }
            guard r.isFinite, Float(r).isFinite, Swift.abs(r) >= floor else {
                if r.isInfinite || Float(r).isInfinite { #expect(y == Float(r), "x = \(x): overflow gives \(y), expected \(Float(r))") }
                continue
            }
            let error = Swift.abs(Double(y) - r) / ulp(scale(Double(x), r))
            if error > worst.ulps { worst = (error, x) }
        }
        return worst
    }

    @Test func expIsWithinOneUlp() {
        let worst = Self.worstError(.exp, reference: Foundation.exp)
        #expect(worst.ulps <= 1, "\(worst.ulps) ulp at x = \(worst.at)")
    }

    @Test func tanhIsWithinOneAndAHalfUlps() {
        let worst = Self.worstError(.tanh, reference: Foundation.tanh)
        #expect(worst.ulps <= 1.5, "\(worst.ulps) ulp at x = \(worst.at)")
    }

    @Test func geluIsWithinSixAndAHalfUlps() {
        // Results below the normal range lose the relative accuracy subnormals cannot hold.
        let worst = Self.worstError(.gelu, reference: { $0 * Self.phi($0) }, floor: Double(Float.leastNormalMagnitude))
        #expect(worst.ulps <= 6.5, "\(worst.ulps) ulp at x = \(worst.at)")
        // Far out in the negative tail, where 1 + erf(x/√2) cancels completely in float, the
        // value keeps its relative accuracy: gelu(−10) = −10·Φ(−10) ≈ −7.62e-23.
        let tail = VectorMath.apply(.gelu, level: -1, to: [-10, -5])
        #expect(Swift.abs(Double(tail[0]) / (-10 * Self.phi(-10)) - 1) < 3e-7)
        #expect(Swift.abs(Double(tail[1]) / (-5 * Self.phi(-5)) - 1) < 3e-7)
    }

    @Test func geluDerivativeIsWithinSixUlpsOfItsLargerTerm() {
        let worst = Self.worstError(.geluDerivative, reference: { Self.phi($0) + $0 * Self.density($0) },
                                    scale: { x, _ in Swift.max(Self.phi(x), Swift.abs(x) * Self.density(x)) })
        #expect(worst.ulps <= 6, "\(worst.ulps) ulp at x = \(worst.at)")
    }

    @Test(arguments: VectorMath.Function.allCases)
    func everyInstructionSetGivesTheSameBits(function: VectorMath.Function) {
        let portable = VectorMath.apply(function, level: 0, to: Self.samples)
        for level: Int32 in [1, 2] {
            let other = VectorMath.apply(function, level: level, to: Self.samples)
            #expect(zip(portable, other).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }, "level \(level)")
        }
    }

    @Test func elementwiseOpsUseTheVectorizedFunctions() {
        let x = Tensor<Float>((0..<100).map { Float($0) / 10 - 5 })
        #expect(x.exp().scalars == VectorMath.apply(.exp, level: -1, to: x.scalars))
        #expect(Variable(x).gelu().value.scalars == VectorMath.apply(.gelu, level: -1, to: x.scalars))
    }

    /// The fused `g·f(x)` pass gives `f(x)` (as `bp_vmath_f32` computes it) times `g`, bit for bit, at
    /// every level, tails included.
    @Test func timesPassEqualsTheFunctionThenAMultiply() {
        var generator = SeededGenerator(seed: 21)
        let x = (Tensor<Float>.randomNormal(shape: [1000], using: &generator) * 3).scalars + [0, -0, .nan, .infinity, -20]
        let g = Tensor<Float>.randomNormal(shape: [x.count], using: &generator).scalars
        for function in [VectorMath.Function.exp, .tanh, .gelu, .geluDerivative] {
            for level: Int32 in [0, 1, 2] {
                let f = VectorMath.apply(function, level: level, to: x)
                var fused = [Float](repeating: 0, count: x.count)
                x.withUnsafeBufferPointer { xs in g.withUnsafeBufferPointer { gs in fused.withUnsafeMutableBufferPointer { ys in
                    bp_vmath_f32_times(function.rawValue, level, xs.baseAddress, gs.baseAddress, ys.baseAddress, x.count)
                } } }
                let expected = zip(f, g).map { $0 * $1 }
                #expect(zip(fused, expected).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(function) level \(level)")
            }
        }
    }
}
