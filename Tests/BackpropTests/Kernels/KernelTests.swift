import Testing
@testable import Backprop

@Suite("Elementwise, reduction and shape kernels")
struct KernelTests {
    @Test func transposeOfKnownMatrix() {
        let x = Tensor<Float>([[1, 2, 3], [4, 5, 6]])
        #expect(x.transposed() == Tensor([[1, 4], [2, 5], [3, 6]]))
    }

    @Test func batchedTransposeAcrossBlockEdges() {
        // 2 × 40 × 33: not multiples of the 32 × 32 block; element (b, i, j) holds b·10000 + i·100 + j.
        let (batch, rows, columns) = (2, 40, 33)
        let values: [Double] = (0..<(batch * rows * columns)).map { (flat: Int) -> Double in
            let b = flat / (rows * columns), i = flat / columns % rows, j = flat % columns
            return Double(b * 10000 + i * 100 + j)
        }
        let x = Tensor<Double>(shape: [batch, rows, columns], scalars: values)
        let t = x.transposed()
        #expect(t.shape == [batch, columns, rows])
        for b in [0, 1] { for j in [0, 31, 32] { for i in [0, 31, 32, 39] {
            #expect(t[b, j, i] == Double(b * 10000 + i * 100 + j))
        } } }
    }

    @Test func generalPermutation() {
        // Element (a, b, c) of a 2 × 3 × 4 tensor holds 100a + 10b + c; order [2, 0, 1] moves c first.
        let values: [Float] = (0..<24).map { (flat: Int) -> Float in
            let a = flat / 12, b = flat / 4 % 3, c = flat % 4
            return Float(100 * a + 10 * b + c)
        }
        let x = Tensor<Float>(shape: [2, 3, 4], scalars: values)
        let p = x.permuted([2, 0, 1])
        #expect(p.shape == [4, 2, 3])
        #expect(p[3, 1, 2] == 123)
        #expect(p[0, 1, 0] == 100)
        #expect(p[2, 0, 1] == 12)
    }

    @Test func longSumMatchesClosedForm() {
        // 1 + 2 + … + n = n(n + 1)/2, exact in Double; n spans several blocks and parallel chunks.
        let n = 100_003
        let x = Tensor<Double>((1...n).map(Double.init))
        #expect(x.sum().scalar == Double(n * (n + 1) / 2))
        let f = Tensor<Float>(repeating: 0.5, shape: [n])
        #expect(f.sum().scalar == Float(n) / 2)
    }

    @Test func columnAndRowSumsMatchClosedForm() {
        // x[i, j] = j, shape 5000 × 70: column sums are 5000·j, row sums 0 + … + 69 = 2415.
        let x = Tensor<Float>(shape: [5000, 70], scalars: (0..<(5000 * 70)).map { Float($0 % 70) })
        #expect(x.sum(alongAxes: [0]) == Tensor((0..<70).map { Float(5000 * $0) }))
        #expect(x.sum(alongAxes: [1]) == Tensor([Float](repeating: 2415, count: 5000)))
    }

    @Test func largeElementwiseOperations() {
        let n = 70_001
        let a = Tensor<Float>((0..<n).map(Float.init))
        let sum = a + a
        #expect(sum.scalars.enumerated().allSatisfy { $0.element == Float(2 * $0.offset) })
        let shifted = a + Tensor<Float>(1)
        #expect(shifted.scalars.last == Float(n))
        var accumulated = a
        accumulated += a
        accumulated *= 0.5
        #expect(accumulated == a)
        // Row broadcast: [1000, 70] + [70].
        let m = Tensor<Float>(zeros: [1000, 70]) + Tensor<Float>((0..<70).map(Float.init))
        #expect(m[999, 69] == 69 && m[0, 3] == 3)
    }

    @Test func rowExtremaAndNaN() {
        // Row r of a 3 × 11 tensor holds (j − 5)² + r; its max is 25 + r at j = 0, its min r at j = 5.
        var values: [Float] = []
        for r in 0..<3 { for j in 0..<11 { values.append(Float((j - 5) * (j - 5) + r)) } }
        values[2 * 11 + 9] = .nan
        let x = Tensor<Float>(shape: [3, 11], scalars: values)
        let maxima = x.max(alongAxes: [1]), minima = x.min(alongAxes: [1])
        #expect(Array(maxima.scalars[0..<2]) == [25, 26])
        #expect(Array(minima.scalars[0..<2]) == [0, 1])
        #expect(maxima.scalars[2].isNaN && minima.scalars[2].isNaN)
        // Down the columns (inner axis of 11): rows differ by +1, so column j peaks in row 2 except the NaN.
        let columnMaxima = x.max(alongAxes: [0])
        #expect(columnMaxima.scalars[0] == 27 && columnMaxima.scalars[5] == 2 && columnMaxima.scalars[9].isNaN)
    }

    @Test func selectPicksByCondition() {
        // Condition [1, 0, 2] broadcast over rows picks a, b, a.
        let condition = Tensor<Float>([1, 0, 2])
        let a = Tensor<Float>([[1, 2, 3], [4, 5, 6]]), b = Tensor<Float>(-1)
        #expect(Tensor.select(condition, a, b) == Tensor([[1, -1, 3], [4, -1, 6]]))
    }

    @Test func perChannelBroadcastOverInnerAxes() {
        // [2, 3, 2, 2] with x[n, c, h, w] = 100n + 10c + 2h + w, minus and divided by a [1, 3, 1, 1]
        // tensor holding c + 1: every inner row sees one broadcast scalar.
        let values: [Float] = (0..<24).map { (flat: Int) -> Float in
            let n = flat / 12, c = flat / 4 % 3, h = flat / 2 % 2, w = flat % 2
            return Float(100 * n + 10 * c + 2 * h + w)
        }
        let x = Tensor<Float>(shape: [2, 3, 2, 2], scalars: values)
        let perChannel = Tensor<Float>(shape: [1, 3, 1, 1], scalars: [1, 2, 3])
        let difference = x - perChannel, quotient = perChannel / Tensor<Float>(shape: [1, 3, 1, 1], scalars: [2, 4, 8]) + x
        #expect(difference[1, 2, 1, 0] == 100 + 20 + 2 - 3)
        #expect(difference[0, 0, 0, 1] == 1 - 1)
        #expect(quotient[1, 1, 0, 1] == 0.5 + 111)
        let reversed = perChannel - x
        #expect(reversed[0, 1, 1, 1] == 2 - 13)
    }
}
