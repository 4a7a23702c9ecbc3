import Backprop
import Testing

/// The product of row-major `m × k` and `k × n` matrices by the textbook triple loop, independent of
/// the library's GEMM kernel.
private func naiveProduct(_ a: [Double], _ b: [Double], m: Int, k: Int, n: Int) -> [Double] {
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0
            for p in 0..<k { sum += a[i * k + p] * b[p * n + j] }
            c[i * n + j] = sum
        }
    }
    return c
}

/// Deterministic, irregular test values (no generator from the library involved).
private func values(_ count: Int, salt: Int) -> [Double] {
    (0..<count).map { i in Double((i * 37 + salt * 11) % 23) / 7 - 1.5 }
}

@Suite("Matmul")
struct MatmulTests {
    @Test func dotProductOfTwoVectors() {
        let product = Tensor<Double>([1, 2, 3]).matmul(Tensor([4, -5, 6]))
        #expect(product.shape == [])
        let expected: Double = 4 - 10 + 18   // 1·4 + 2·(−5) + 3·6
        #expect(product.scalar == expected)
    }

    @Test func squareMatricesByHand() {
        // [1 2; 3 4] · [5 6; 7 8] = [19 22; 43 50].
        let product = tensor([2, 2], [1, 2, 3, 4]).matmul(tensor([2, 2], [5, 6, 7, 8]))
        #expect(product == tensor([2, 2], [19, 22, 43, 50]))
    }

    @Test func nonSquareMatricesByHand() {
        // [2×3] · [3×2]: rows (1, 2, 3), (4, 5, 6); columns (7, 9, 11), (8, 10, 12).
        let a = tensor([2, 3], [1, 2, 3, 4, 5, 6])
        let b = tensor([3, 2], [7, 8, 9, 10, 11, 12])
        #expect(a.matmul(b) == tensor([2, 2], [58, 64, 139, 154]))
        // And the other way round: [3×2] · [2×3].
        #expect(b.matmul(a) == tensor([3, 3], [39, 54, 69, 49, 68, 87, 59, 82, 105]))
    }

    @Test func vectorOnTheLeftIsARow() {
        // [1, 2] · [[1, 2, 3], [4, 5, 6]] = [9, 12, 15], and the added axis is removed.
        let product = Tensor<Double>([1, 2]).matmul(tensor([2, 3], [1, 2, 3, 4, 5, 6]))
        #expect(product == Tensor([9, 12, 15]))
    }

    @Test func vectorOnTheRightIsAColumn() {
        let product = tensor([2, 3], [1, 2, 3, 4, 5, 6]).matmul(Tensor([1, 0, -1]))
        #expect(product == Tensor([-2, -2]))
    }

    @Test func vectorAgainstABatchOfMatrices() {
        let batch = Tensor<Double>(shape: [2, 2, 3], scalars: (1...12).map(Double.init))
        let product = batch.matmul(Tensor([1, 1, 1]))
        #expect(product == tensor([2, 2], [6, 15, 24, 33]))
        let left = Tensor<Double>([1, -1]).matmul(batch)
        #expect(left == tensor([2, 3], [-3, -3, -3, -3, -3, -3]))
    }

    @Test func matchesTheTripleLoopOnIrregularSizes() {
        for (m, k, n) in [(1, 1, 1), (3, 5, 2), (7, 3, 9), (1, 8, 1), (5, 1, 4)] {
            let a = values(m * k, salt: m), b = values(k * n, salt: n)
            let product = tensor([m, k], a).matmul(tensor([k, n], b))
            expectClose(product, tensor([m, n], naiveProduct(a, b, m: m, k: k, n: n)), "\(m)×\(k) · \(k)×\(n)")
        }
    }

    @Test func matchesTheTripleLoopAcrossKernelBlocks() {
        // The kernel blocks k by 256 and n by 512; cross both boundaries.
        let (m, k, n) = (2, 300, 520)
        let a = values(m * k, salt: 1), b = values(k * n, salt: 2)
        expectClose(tensor([m, k], a).matmul(tensor([k, n], b)), tensor([m, n], naiveProduct(a, b, m: m, k: k, n: n)), tolerance: 1e-12)
    }

    @Test func batchedWithEqualBatchAxes() {
        let a = values(2 * 2 * 3, salt: 3), b = values(2 * 3 * 4, salt: 4)
        let product = tensor([2, 2, 3], a).matmul(tensor([2, 3, 4], b))
        #expect(product.shape == [2, 2, 4])
        var expected: [Double] = []
        for item in 0..<2 {
            expected += naiveProduct(Array(a[(item * 6)..<(item * 6 + 6)]), Array(b[(item * 12)..<(item * 12 + 12)]), m: 2, k: 3, n: 4)
        }
        expectClose(product, tensor([2, 2, 4], expected))
    }

    @Test func batchAxesBroadcast() {
        // [2, 1, 2, 3] · [3, 3, 2] → batch [2, 1] with [3] broadcasts to [2, 3]; result [2, 3, 2, 2].
        let a = values(2 * 1 * 2 * 3, salt: 5), b = values(3 * 3 * 2, salt: 6)
        let product = tensor([2, 1, 2, 3], a).matmul(tensor([3, 3, 2], b))
        #expect(product.shape == [2, 3, 2, 2])
        var expected: [Double] = []
        for i in 0..<2 {
            for j in 0..<3 {
                expected += naiveProduct(Array(a[(i * 6)..<(i * 6 + 6)]), Array(b[(j * 6)..<(j * 6 + 6)]), m: 2, k: 3, n: 2)
            }
        }
        expectClose(product, tensor([2, 3, 2, 2], expected))
    }

    @Test func matrixAgainstABatchBroadcastsTheMatrix() {
        let a = values(3 * 2, salt: 7), b = values(2 * 2 * 4, salt: 8)
        let product = tensor([3, 2], a).matmul(tensor([2, 2, 4], b))
        #expect(product.shape == [2, 3, 4])
        let expected = naiveProduct(a, Array(b[0..<8]), m: 3, k: 2, n: 4) + naiveProduct(a, Array(b[8..<16]), m: 3, k: 2, n: 4)
        expectClose(product, tensor([2, 3, 4], expected))
    }

    @Test func emptyInnerAxisGivesZeros() {
        let product = Tensor<Double>(zeros: [2, 0]).matmul(Tensor(zeros: [0, 3]))
        #expect(product == Tensor(zeros: [2, 3]))
    }

    @Test func singlePrecisionAgreesWithDouble() {
        let a = values(4 * 6, salt: 9), b = values(6 * 5, salt: 10)
        let single = Tensor<Float>(shape: [4, 6], scalars: a.map(Float.init)).matmul(Tensor(shape: [6, 5], scalars: b.map(Float.init)))
        expectClose(single.converted(to: Double.self), tensor([4, 5], naiveProduct(a, b, m: 4, k: 6, n: 5)), tolerance: 1e-5)
    }

    @Test func identityLeavesAMatrixUnchanged() {
        let m = tensor([3, 3], values(9, salt: 11))
        #expect(Tensor.identity(3).matmul(m) == m)
        #expect(m.matmul(Tensor.identity(3)) == m)
    }
}
