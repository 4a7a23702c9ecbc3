import Testing
@testable import Backprop

/// `C = op(A)·op(B)` by the textbook triple loop in Double, from buffers laid out as GEMM reads them.
private func referenceProduct<Scalar: TensorScalar>(_ a: [Scalar], transposeA: Bool, _ b: [Scalar], transposeB: Bool,
                                                    m: Int, n: Int, k: Int) -> [Double] {
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0
            for p in 0..<k {
                let x = transposeA ? a[p * m + i] : a[i * k + p]
                let y = transposeB ? b[j * k + p] : b[p * n + j]
                sum += Double(x) * Double(y)
            }
            c[i * n + j] = sum
        }
    }
    return c
}

/// Deterministic operands with small integer-and-half values, so products are exact in Float for short k.
private func operand<Scalar: TensorScalar>(_ count: Int, seed: Int) -> [Scalar] {
    (0..<count).map { Scalar(((($0 &* 7919 &+ seed &* 104_729) % 23) - 11)) / 2 }
}

private func runGEMM<Scalar: TensorScalar>(_ a: [Scalar], transposeA: Bool, _ b: [Scalar], transposeB: Bool,
                                           m: Int, n: Int, k: Int, initial: [Scalar]? = nil, level: Int? = nil) -> [Scalar] {
    var c = initial ?? [Scalar](repeating: .nan, count: m * n)
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                GEMM.multiply(pa.baseAddress!, transposeA: transposeA, pb.baseAddress!, transposeB: transposeB,
                              m: m, n: n, k: k, into: pc.baseAddress!, accumulate: initial != nil,
                              kernelLevel: level)
            }
        }
    }
    return c
}

/// Sizes that hit every edge: single rows and columns, k = 1, odd sizes, k across a 256 block,
/// and products large enough to be cut into several parallel tiles.
let gemmSizes: [(m: Int, n: Int, k: Int)] = [
    (1, 1, 1), (1, 37, 5), (29, 1, 7), (13, 17, 1), (33, 45, 29), (7, 70, 300), (130, 400, 20), (97, 385, 3),
]
let transposeCases: [(Bool, Bool)] = [(false, false), (true, false), (false, true), (true, true)]

@Suite("GEMM")
struct GEMMTests {
    func check<Scalar: TensorScalar>(_ type: Scalar.Type, tolerance: Double, level: Int? = nil) {
        for (m, n, k) in gemmSizes {
            for (ta, tb) in transposeCases {
                let a: [Scalar] = operand(m * k, seed: 1), b: [Scalar] = operand(k * n, seed: 2)
                let expected = referenceProduct(a, transposeA: ta, b, transposeB: tb, m: m, n: n, k: k)
                let c = runGEMM(a, transposeA: ta, b, transposeB: tb, m: m, n: n, k: k, level: level)
                let worst = zip(c, expected).map { Swift.abs(Double($0) - $1) / Swift.max(1, Swift.abs($1)) }.max() ?? 0
                #expect(worst <= tolerance, "m \(m) n \(n) k \(k) transposeA \(ta) transposeB \(tb): error \(worst)")
            }
        }
    }

    @Test func floatMatchesTripleLoopOnEveryKernelLevel() {
        for level in 0...GEMM.bestKernelLevel {
            check(Float.self, tolerance: 1e-6, level: level)
        }
    }

    @Test func doubleMatchesTripleLoop() {
        check(Double.self, tolerance: 1e-12)
    }

    @Test func swiftFloatPathMatchesTripleLoop() {
        let (m, n, k) = (37, 53, 300)
        let a: [Float] = operand(m * k, seed: 3), b: [Float] = operand(k * n, seed: 4)
        var c = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    SwiftGEMM<SIMD8<Float>>.run(pa.baseAddress!, pb.baseAddress!, pc.baseAddress!,
                                         GEMM.Layout(transposeA: false, transposeB: false, m: m, n: n, k: k), accumulate: false)
                }
            }
        }
        let expected = referenceProduct(a, transposeA: false, b, transposeB: false, m: m, n: n, k: k)
        #expect(zip(c, expected).allSatisfy { Double($0) == $1 })
    }

    @Test func accumulateAddsToExistingValues() {
        let (m, n, k) = (5, 19, 3)
        let a: [Float] = operand(m * k, seed: 5), b: [Float] = operand(k * n, seed: 6)
        let initial = (0..<(m * n)).map { Float($0) }
        let c = runGEMM(a, transposeA: true, b, transposeB: false, m: m, n: n, k: k, initial: initial)
        let product = referenceProduct(a, transposeA: true, b, transposeB: false, m: m, n: n, k: k)
        #expect(c == zip(initial, product).map { Float(Double($0) + $1) })
    }

    @Test func zeroDepthGivesZerosOrKeepsC() {
        let empty: [Float] = [0]
        #expect(runGEMM(empty, transposeA: false, empty, transposeB: false, m: 2, n: 3, k: 0) == [Float](repeating: 0, count: 6))
        let kept = runGEMM(empty, transposeA: false, empty, transposeB: false, m: 1, n: 2, k: 0, initial: [4, 5])
        #expect(kept == [4, 5])
    }

    @Test func matmulOfKnownMatrices() {
        // [[1, 2], [3, 4]] · [[5, 6], [7, 8]] = [[19, 22], [43, 50]]
        let a = Tensor<Float>([[1, 2], [3, 4]]), b = Tensor<Float>([[5, 6], [7, 8]])
        #expect(a.matmul(b) == Tensor([[19, 22], [43, 50]]))
        #expect(Tensor<Double>([[1, 2], [3, 4]]).matmul(Tensor([[5, 6], [7, 8]])) == Tensor([[19, 22], [43, 50]]))
    }
}
