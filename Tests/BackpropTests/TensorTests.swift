import Backprop
import Testing

@Suite("Tensor")
struct TensorTests {
    // MARK: - Creation

    @Test func createsFromShapeAndScalars() {
        let t = tensor([2, 3], [1, 2, 3, 4, 5, 6])
        #expect(t.shape == [2, 3])
        #expect(t.rank == 2)
        #expect(t.count == 6)
        #expect(t.strides == [3, 1])
        #expect(t[0, 0] == 1)
        #expect(t[1, 2] == 6)
        #expect(t[-1, -3] == 4)
        #expect(!t.isScalar)
    }

    @Test func createsRankZeroRankOneAndRows() {
        let s = Tensor<Double>(2.5)
        #expect(s.shape == [])
        #expect(s.rank == 0)
        #expect(s.isScalar)
        #expect(s.scalar == 2.5)

        let v = Tensor<Double>([1, 2, 3])
        #expect(v.shape == [3])
        #expect(v.scalars == [1, 2, 3])

        let m = Tensor<Double>([[1, 2], [3, 4], [5, 6]])
        #expect(m.shape == [3, 2])
        #expect(m.scalars == [1, 2, 3, 4, 5, 6])
        #expect(Tensor<Double>(shape: [1, 1, 1], scalars: [7]).scalar == 7)
    }

    @Test func subscriptWritesInPlace() {
        var t = Tensor<Double>(zeros: [2, 2])
        t[1, 0] = 5
        t[0, -1] = 3
        #expect(t.scalars == [0, 3, 5, 0])
    }

    @Test func createsFilledTensors() {
        #expect(Tensor<Double>(zeros: [2, 3]) == tensor([2, 3], [0, 0, 0, 0, 0, 0]))
        #expect(Tensor<Float>(ones: [3]).scalars == [1, 1, 1])
        #expect(Tensor<Double>(repeating: 7, shape: [2, 1]) == tensor([2, 1], [7, 7]))
        #expect(Tensor<Double>(zerosLike: tensor([1, 2], [4, 5])) == tensor([1, 2], [0, 0]))
        #expect(Tensor<Double>(zeros: [0, 3]).count == 0)
        #expect(Tensor<Double>(zeros: []).shape == [])
        #expect(Tensor<Double>(zeros: []).scalars == [0])
    }

    @Test func arangeCountsUpDownAndByFractions() {
        #expect(Tensor<Double>.arange(to: 5) == Tensor([0, 1, 2, 3, 4]))
        #expect(Tensor<Double>.arange(from: 1, to: 2, step: 0.25) == Tensor([1, 1.25, 1.5, 1.75]))
        #expect(Tensor<Double>.arange(from: 5, to: 0, step: -2) == Tensor([5, 3, 1]))
        // The bound is excluded even when the step lands on it exactly.
        #expect(Tensor<Double>.arange(from: 0, to: 6, step: 2) == Tensor([0, 2, 4]))
        let empty = Tensor<Double>.arange(from: 3, to: 1)
        #expect(empty.shape == [0])
    }

    @Test func linspaceIncludesBothEnds() {
        #expect(Tensor<Double>.linspace(from: 0, through: 1, count: 5) == Tensor([0, 0.25, 0.5, 0.75, 1]))
        #expect(Tensor<Double>.linspace(from: -1, through: 1, count: 3) == Tensor([-1, 0, 1]))
        #expect(Tensor<Double>.linspace(from: 4, through: 9, count: 1) == Tensor([4]))
        #expect(Tensor<Double>.linspace(from: 0, through: 1, count: 0).shape == [0])
        let f = Tensor<Float>.linspace(from: 0, through: 0.7, count: 8)
        #expect(f.scalars.last == 0.7)   // the end is exact, not accumulated
    }

    @Test func identityHasOnesOnTheDiagonal() {
        #expect(Tensor<Double>.identity(3) == tensor([3, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1]))
        #expect(Tensor<Double>.identity(1) == tensor([1, 1], [1]))
        #expect(Tensor<Double>.identity(0).shape == [0, 0])
    }

    // MARK: - Broadcasting arithmetic

    @Test func addsWithBroadcasting() {
        let m = tensor([2, 3], [1, 2, 3, 4, 5, 6])
        #expect(m + Tensor([10, 20, 30]) == tensor([2, 3], [11, 22, 33, 14, 25, 36]))
        #expect(m + tensor([2, 1], [100, 200]) == tensor([2, 3], [101, 102, 103, 204, 205, 206]))
        #expect(Tensor(1) + m == tensor([2, 3], [2, 3, 4, 5, 6, 7]))
        // Both operands broadcast: [2, 1] with [1, 3] is an outer sum.
        #expect(tensor([2, 1], [1, 2]) + tensor([1, 3], [10, 20, 30]) == tensor([2, 3], [11, 21, 31, 12, 22, 32]))
    }

    @Test func broadcastsAcrossRanks() {
        // [2, 1, 4] with [3, 1] gives [2, 3, 4]: out[i, j, k] = a[i, 0, k] · b[j, 0].
        let a = Tensor<Double>(shape: [2, 1, 4], scalars: (0..<8).map(Double.init))
        let b = tensor([3, 1], [1, 10, 100])
        let product = a * b
        #expect(product.shape == [2, 3, 4])
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 {
            #expect(product[i, j, k] == a[i, 0, k] * b[j, 0])
        } } }
    }

    @Test func subtractsMultipliesAndDivides() {
        let a = tensor([2, 2], [1, 2, 3, 4])
        let b = Tensor<Double>([2, 4])
        #expect(a - b == tensor([2, 2], [-1, -2, 1, 0]))
        #expect(a * b == tensor([2, 2], [2, 8, 6, 16]))
        #expect(a / b == tensor([2, 2], [0.5, 0.5, 1.5, 1]))
        #expect(-a == tensor([2, 2], [-1, -2, -3, -4]))
    }

    @Test func combinesWithScalars() {
        let a = Tensor<Double>([1, 2, 4])
        #expect(a + 1 == Tensor([2, 3, 5]))
        #expect(1 + a == Tensor([2, 3, 5]))
        #expect(a - 1 == Tensor([0, 1, 3]))
        #expect(10 - a == Tensor([9, 8, 6]))
        #expect(a * 3 == Tensor([3, 6, 12]))
        #expect(3 * a == Tensor([3, 6, 12]))
        #expect(a / 2 == Tensor([0.5, 1, 2]))
        #expect(8 / a == Tensor([8, 4, 2]))
    }

    @Test func compoundAssignment() {
        var a = tensor([2, 2], [1, 2, 3, 4])
        a += Tensor([10, 20])
        #expect(a == tensor([2, 2], [11, 22, 13, 24]))
        a -= tensor([2, 2], [1, 1, 1, 1])
        #expect(a == tensor([2, 2], [10, 21, 12, 23]))
        a *= 2
        #expect(a == tensor([2, 2], [20, 42, 24, 46]))
    }

    @Test func powerMaximumAndMinimum() {
        let a = Tensor<Double>([1, 2, 3])
        #expect(a.pow(2) == Tensor([1, 4, 9]))
        expectClose(a.pow(0.5), Tensor([1, 2.0.squareRoot(), 3.0.squareRoot()]))
        #expect(a.pow(Tensor([3, 2, 1])) == Tensor([1, 4, 3]))
        #expect(a.maximum(Tensor([2, 2, 2])) == Tensor([2, 2, 3]))
        #expect(a.minimum(Tensor(2)) == Tensor([1, 2, 2]))
    }

    // MARK: - Comparisons, masks and select

    @Test func comparisonsGiveMasks() {
        let a = Tensor<Double>([1, 2, 3])
        let b = Tensor<Double>([3, 2, 1])
        #expect((a .> b).scalars == [0, 0, 1])
        #expect((a .>= b).scalars == [0, 1, 1])
        #expect((a .< b).scalars == [1, 0, 0])
        #expect((a .<= b).scalars == [1, 1, 0])
        #expect((a .== b).scalars == [0, 1, 0])
        #expect((a .!= b).scalars == [1, 0, 1])
        #expect((a .> 1.5).scalars == [0, 1, 1])
        #expect((a .< 2).scalars == [1, 0, 0])
        #expect((a .>= 2).scalars == [0, 1, 1])
        #expect((a .<= 2).scalars == [1, 1, 0])
        #expect((a .== 3).scalars == [0, 0, 1])
        // Broadcasting: a column against a row.
        #expect((tensor([2, 1], [1, 2]) .< Tensor([1.5, 2.5])) == tensor([2, 2], [1, 1, 0, 1]))
    }

    @Test func selectChoosesElementwiseWithBroadcasting() {
        let condition = tensor([2, 2], [1, 0, 0, 1])
        let chosen = Tensor.select(condition, tensor([2, 2], [1, 2, 3, 4]), Tensor(-1))
        #expect(chosen == tensor([2, 2], [1, -1, -1, 4]))
        // A column mask selects whole rows.
        let rows = Tensor.select(tensor([2, 1], [0, 1]), Tensor([7.0, 8, 9]), tensor([2, 3], [1, 2, 3, 4, 5, 6]))
        #expect(rows == tensor([2, 3], [1, 2, 3, 7, 8, 9]))
        let replaced = Tensor<Double>([1, 2, 3]).replacing(where: Tensor([0, 1, 0]), with: Tensor(0))
        #expect(replaced == Tensor([1, 0, 3]))
    }

    // MARK: - Reductions

    @Test func sumsOverAxesWithAndWithoutKeptDims() {
        let m = tensor([2, 3], [1, 2, 3, 4, 5, 6])
        #expect(m.sum() == Tensor(21))
        #expect(m.sum(alongAxes: [0]) == Tensor([5, 7, 9]))
        #expect(m.sum(alongAxes: [1]) == Tensor([6, 15]))
        #expect(m.sum(alongAxes: [1], keepDims: true) == tensor([2, 1], [6, 15]))
        #expect(m.sum(alongAxes: [-2], keepDims: true) == tensor([1, 3], [5, 7, 9]))
        #expect(m.sum(alongAxes: [0, 1], keepDims: true) == tensor([1, 1], [21]))
    }

    @Test func sumsOverNonAdjacentAxes() {
        let x = Tensor<Double>(shape: [2, 3, 4], scalars: (0..<24).map { Double($0 * $0 % 7) })
        let reduced = x.sum(alongAxes: [0, 2])
        var expected = [Double](repeating: 0, count: 3)
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { expected[j] += x[i, j, k] } } }
        #expect(reduced == Tensor(expected))
        #expect(x.sum(alongAxes: [2, 0], keepDims: true).shape == [1, 3, 1])
    }

    @Test func meanOverAxes() {
        let m = tensor([2, 3], [1, 2, 3, 4, 5, 6])
        #expect(m.mean() == Tensor(3.5))
        #expect(m.mean(alongAxes: [0]) == Tensor([2.5, 3.5, 4.5]))
        #expect(m.mean(alongAxes: [1], keepDims: true) == tensor([2, 1], [2, 5]))
    }

    @Test func varianceWithBothCorrections() {
        // x = 1, 2, 3, 4: μ = 2.5, Σ(x − μ)² = 2.25 + 0.25 + 0.25 + 2.25 = 5.
        let x = Tensor<Double>([1, 2, 3, 4])
        expectClose(x.variance(correction: 0), Tensor(5.0 / 4))
        expectClose(x.variance(correction: 1), Tensor(5.0 / 3))
        expectClose(x.variance(), Tensor(5.0 / 3), "the default correction is 1")
        // Rows [1, 3, 5] (Σ(x − μ)² = 8) and [2, 2, 8] (μ = 4, Σ = 4 + 4 + 16 = 24).
        let m = tensor([2, 3], [1, 3, 5, 2, 2, 8])
        expectClose(m.variance(alongAxes: [1], correction: 0), Tensor([8.0 / 3, 24.0 / 3]))
        expectClose(m.variance(alongAxes: [1], correction: 1, keepDims: true), tensor([2, 1], [4, 12]))
        // Columns: [1, 2], [3, 2], [5, 8] → Σ(x − μ)² = 0.5, 0.5, 4.5.
        expectClose(m.variance(alongAxes: [0], correction: 0), Tensor([0.25, 0.25, 2.25]))
        expectClose(m.variance(alongAxes: [0], correction: 1), Tensor([0.5, 0.5, 4.5]))
    }

    @Test func maximumMinimumAndArgIndices() {
        let m = tensor([2, 3], [3, 9, 9, -1, -5, 2])
        #expect(m.max() == Tensor(9))
        #expect(m.min() == Tensor(-5))
        #expect(m.max(alongAxes: [1]) == Tensor([9, 2]))
        #expect(m.min(alongAxes: [0]) == Tensor([-1, -5, 2]))
        #expect(m.max(alongAxes: [0], keepDims: true) == tensor([1, 3], [3, 9, 9]))
        // Ties resolve to the first index.
        #expect(m.argmax(alongAxis: 1) == [1, 2])
        #expect(m.argmax(alongAxis: 0) == [0, 0, 0])
        #expect(m.argmin(alongAxis: 1) == [0, 1])
        #expect(m.argmin(alongAxis: -2) == [1, 1, 1])
        #expect(m.argmax() == 1)
        let x = Tensor<Double>(shape: [2, 2, 2], scalars: [1, 8, 3, 4, 7, 2, 5, 6])
        #expect(x.argmax(alongAxis: 1) == [1, 0, 0, 1])
    }

    @Test func reductionsPropagateNaN() {
        let x = tensor([2, 3], [1, .nan, 3, 4, 5, 6])
        #expect(x.max().scalar.isNaN)
        #expect(x.min().scalar.isNaN)
        let rows = x.max(alongAxes: [1])
        #expect(rows.scalars[0].isNaN && rows.scalars[1] == 6)
        #expect(x.sum(alongAxes: [0]).scalars.map(\.isNaN) == [false, true, false])
        #expect(Tensor<Double>([1, .nan]).maximum(Tensor([0, 0])).scalars[1].isNaN)
        #expect(Tensor<Double>([.nan, 1]).minimum(Tensor(0)).scalars[0].isNaN)
    }

    @Test func singlePrecisionSumsAccumulateInDouble() {
        // 10⁵ · Float(0.1) = 10000.000149…; a Float running sum drifts by whole units, a Double one
        // rounds to the nearest Float of the exact sum.
        let x = Tensor<Float>(repeating: 0.1, shape: [100_000])
        #expect(Swift.abs(x.sum().scalar - 10_000) < 0.01)
        #expect(Swift.abs(x.mean().scalar - 0.1) < 1e-7)
    }

    @Test func reductionsOverEmptyAxes() {
        let empty = Tensor<Double>(zeros: [2, 0])
        #expect(empty.sum(alongAxes: [1]) == Tensor([0, 0]))
        #expect(empty.mean(alongAxes: [1]).scalars.allSatisfy { $0.isNaN })
        #expect(Tensor<Double>(zeros: [0, 3]).sum(alongAxes: [1]).shape == [0])
    }

    // MARK: - Shape operations

    @Test func reshapeInfersOneSize() {
        let x = Tensor<Double>.arange(to: 12)
        #expect(x.reshaped(to: [3, 4]).shape == [3, 4])
        #expect(x.reshaped(to: [2, -1]).shape == [2, 6])
        #expect(x.reshaped(to: [-1, 2, 3]).shape == [2, 2, 3])
        #expect(x.reshaped(to: [3, -1]).scalars == x.scalars)
        #expect(Tensor<Double>(5).reshaped(to: [1, 1]).shape == [1, 1])
        #expect(tensor([1, 1], [5]).reshaped(to: []).shape == [])
    }

    @Test func permuteAndTranspose() {
        let m = tensor([2, 3], [1, 2, 3, 4, 5, 6])
        #expect(m.transposed() == tensor([3, 2], [1, 4, 2, 5, 3, 6]))
        #expect(m.permuted([1, 0]) == m.transposed())
        #expect(Tensor<Double>([1, 2]).transposed() == Tensor([1, 2]))
        let x = Tensor<Double>(shape: [2, 3, 4], scalars: (0..<24).map(Double.init))
        let p = x.permuted([2, 0, 1])
        #expect(p.shape == [4, 2, 3])
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { #expect(p[k, i, j] == x[i, j, k]) } } }
        let t = x.transposed(0, 2)
        #expect(t.shape == [4, 3, 2])
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { #expect(t[k, j, i] == x[i, j, k]) } } }
        #expect(x.transposed() == x.transposed(-1, -2))
        #expect(x.permuted([-1, 0, 1]) == p)
    }

    @Test func expandRepeatsSizeOneAxes() {
        let column = tensor([2, 1], [1, 2])
        #expect(column.expanded(to: [2, 3]) == tensor([2, 3], [1, 1, 1, 2, 2, 2]))
        #expect(column.expanded(to: [2, 2, 2]) == tensor([2, 2, 2], [1, 1, 2, 2, 1, 1, 2, 2]))
        #expect(Tensor<Double>(4).expanded(to: [3]) == Tensor([4, 4, 4]))
        #expect(column.expanded(to: [2, 1]) == column)
    }

    @Test func squeezeAndUnsqueeze() {
        let x = Tensor<Double>(shape: [1, 2, 1, 3], scalars: [1, 2, 3, 4, 5, 6])
        #expect(x.squeezed().shape == [2, 3])
        #expect(x.squeezed(axes: [0]).shape == [2, 1, 3])
        #expect(x.squeezed(axes: [-2]).shape == [1, 2, 3])
        #expect(x.squeezed().scalars == x.scalars)
        let v = Tensor<Double>([1, 2, 3])
        #expect(v.unsqueezed(at: 0).shape == [1, 3])
        #expect(v.unsqueezed(at: 1).shape == [3, 1])
        #expect(v.unsqueezed(at: -1).shape == [3, 1])
        #expect(v.unsqueezed(at: -2).shape == [1, 3])
    }

    @Test func sliceAlongAnAxis() {
        let x = Tensor<Double>(shape: [2, 4, 2], scalars: (0..<16).map(Double.init))
        let s = x.slice(alongAxis: 1, range: 1..<3)
        #expect(s == tensor([2, 2, 2], [2, 3, 4, 5, 10, 11, 12, 13]))
        #expect(x.slice(alongAxis: 0, range: 1..<2) == tensor([1, 4, 2], (8..<16).map(Double.init)))
        #expect(x.slice(alongAxis: -1, range: 0..<1) == tensor([2, 4, 1], [0, 2, 4, 6, 8, 10, 12, 14]))
        #expect(x.slice(alongAxis: 1, range: 2..<2).shape == [2, 0, 2])
    }

    @Test func concatenateAlongAnyAxis() {
        let a = tensor([2, 2], [1, 2, 3, 4])
        let b = tensor([2, 1], [5, 6])
        #expect(Tensor.concatenate([a, b], alongAxis: 1) == tensor([2, 3], [1, 2, 5, 3, 4, 6]))
        #expect(Tensor.concatenate([a, tensor([1, 2], [7, 8])], alongAxis: 0) == tensor([3, 2], [1, 2, 3, 4, 7, 8]))
        #expect(Tensor.concatenate([a, b, b], alongAxis: -1) == tensor([2, 4], [1, 2, 5, 5, 3, 4, 6, 6]))
        #expect(Tensor.concatenate([Tensor<Double>([1]), Tensor([2, 3])], alongAxis: 0) == Tensor([1, 2, 3]))
    }

    @Test func stackAddsAnAxis() {
        let a = Tensor<Double>([1, 2])
        let b = Tensor<Double>([3, 4])
        let c = Tensor<Double>([5, 6])
        #expect(Tensor.stack([a, b, c]) == tensor([3, 2], [1, 2, 3, 4, 5, 6]))
        #expect(Tensor.stack([a, b, c], alongAxis: 1) == tensor([2, 3], [1, 3, 5, 2, 4, 6]))
        #expect(Tensor.stack([a, b, c], alongAxis: -1) == tensor([2, 3], [1, 3, 5, 2, 4, 6]))
        let m = tensor([2, 2], [1, 2, 3, 4])
        let stacked = Tensor.stack([m, m * 10], alongAxis: 1)
        #expect(stacked == tensor([2, 2, 2], [1, 2, 10, 20, 3, 4, 30, 40]))
    }

    @Test func splitBySizesAndByCount() {
        let x = tensor([2, 5], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        let parts = x.split(sizes: [2, 3], alongAxis: 1)
        #expect(parts.count == 2)
        #expect(parts[0] == tensor([2, 2], [0, 1, 5, 6]))
        #expect(parts[1] == tensor([2, 3], [2, 3, 4, 7, 8, 9]))
        let rows = x.split(count: 2, alongAxis: 0)
        #expect(rows == [tensor([1, 5], [0, 1, 2, 3, 4]), tensor([1, 5], [5, 6, 7, 8, 9])])
        #expect(Tensor.concatenate(parts, alongAxis: 1) == x)
    }

    @Test func gatheringSelectsByIndex() {
        let table = tensor([4, 2], [0, 1, 10, 11, 20, 21, 30, 31])
        #expect(table.gathering([2, 0, 2], alongAxis: 0) == tensor([3, 2], [20, 21, 0, 1, 20, 21]))
        #expect(table.gathering([1], alongAxis: 1) == tensor([4, 1], [1, 11, 21, 31]))
        #expect(table.gathering([], alongAxis: 0).shape == [0, 2])
        let x = Tensor<Double>(shape: [2, 3, 2], scalars: (0..<12).map(Double.init))
        #expect(x.gathering([2, 2, 0], alongAxis: -2) == tensor([2, 3, 2], [4, 5, 4, 5, 0, 1, 10, 11, 10, 11, 6, 7]))
    }

    // MARK: - Text, equality and tolerance

    @Test func descriptionIsReadable() {
        #expect(tensor([2, 3], [1, 2, 3, 4, 5, 6]).description == "[[1., 2., 3.],\n [4., 5., 6.]]")
        #expect(Tensor<Double>([0.5, -1.25, 0.0001]).description == "[0.5, -1.25, 0.0001]")
        #expect(Tensor<Double>(2.5).description == "2.5")
        #expect(Tensor<Double>([.nan, .infinity, -.infinity]).description == "[nan, inf, -inf]")
        #expect(Tensor<Double>(zeros: [0]).description == "[]")
        #expect(Tensor<Float>([1, 2]).debugDescription == "Tensor<Float> [2]\n[1., 2.]")
    }

    @Test func descriptionOfHigherRanksNestsTheRows() {
        let x = Tensor<Double>(shape: [2, 2, 2], scalars: [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(x.description == "[[[1., 2.],\n  [3., 4.]],\n [[5., 6.],\n  [7., 8.]]]")
        let v = Tape<Double>().variable(Tensor([1.5]))
        #expect(v.description == "Variable([1.5], requiresGradient)")
        #expect(Variable(Tensor<Double>([1.5])).description == "Variable([1.5])")
        #expect(Tensor<Double>([1e-7, 2.5e8]).description == "[1e-07, 250000000.]")
    }

    @Test func descriptionOfALargeTensorIsTruncated() {
        let long = Tensor<Double>.arange(to: 100)
        #expect(long.description == "[0., 1., 2., …, 97., 98., 99.]")
        let big = Tensor<Double>.arange(to: 10_000).reshaped(to: [100, 100])
        let text = big.description
        #expect(text.count < 500)
        #expect(text.hasPrefix("[[0., 1., 2., …, 97., 98., 99.],\n [100., 101., 102., …"))
        #expect(text.hasSuffix("[9900., 9901., 9902., …, 9997., 9998., 9999.]]"))
        #expect(text.split(separator: "\n").count == 7)   // three rows, the ellipsis, three rows
    }

    @Test func equalityComparesShapeAndValues() {
        let a = tensor([2, 2], [1, 2, 3, 4])
        #expect(a == tensor([2, 2], [1, 2, 3, 4]))
        #expect(a != tensor([4], [1, 2, 3, 4]))
        #expect(a != tensor([2, 2], [1, 2, 3, 5]))
        #expect(Tensor<Double>(1) != Tensor([1]))
    }

    @Test func approximateEqualityUsesBothTolerances() {
        let expected = Tensor<Double>([1, 1000])
        #expect(Tensor<Double>([1 + 5e-7, 1000]).isApproximatelyEqual(to: expected))
        #expect(!Tensor<Double>([1 + 1e-4, 1000]).isApproximatelyEqual(to: expected))
        // rtol 1e-5 of 1000 is 0.01.
        #expect(Tensor<Double>([1, 1000.005]).isApproximatelyEqual(to: expected))
        #expect(!Tensor<Double>([1, 1000.05]).isApproximatelyEqual(to: expected))
        #expect(Tensor<Double>([1.05, 1000]).isApproximatelyEqual(to: expected, absoluteTolerance: 0.1))
        #expect(Tensor<Double>([1, 1010]).isApproximatelyEqual(to: expected, relativeTolerance: 0.02))
        #expect(!Tensor<Double>([1, 1000]).isApproximatelyEqual(to: tensor([1, 2], [1, 1000])))
        #expect(Tensor<Double>([.nan]).isApproximatelyEqual(to: Tensor([.nan])))
        #expect(!Tensor<Double>([.nan]).isApproximatelyEqual(to: Tensor([1])))
        #expect(Tensor<Double>([1, 4]).maxAbsoluteDifference(to: Tensor([1.5, 2])) == 2)
    }

    @Test func convertsBetweenScalarTypes() {
        let d = Tensor<Double>([0.5, -2, 3])
        let f: Tensor<Float> = d.converted()
        #expect(f.shape == [3])
        #expect(f.scalars == [0.5, -2, 3])
        #expect(f.converted(to: Double.self) == d)
    }

    @Test func elementwiseMath() {
        let x = Tensor<Double>([0.25, 1, 4])
        #expect(x.sqrt() == Tensor([0.5, 1, 2]))
        #expect(x.rsqrt() == Tensor([2, 1, 0.5]))
        #expect(Tensor<Double>([-2, 0, 3]).abs() == Tensor([2, 0, 3]))
        #expect(Tensor<Double>([-2, 0, 3]).sign() == Tensor([-1, 0, 1]))
        #expect(Tensor<Double>([-2, 0, 3]).relu() == Tensor([0, 0, 3]))
        #expect(Tensor<Double>([-3, 0.5, 3]).clamped(to: -1...1) == Tensor([-1, 0.5, 1]))
        #expect(Tensor<Double>([1, .nan]).isFinite == false)
        #expect(Tensor<Double>([1, 2]).isFinite)
    }
}
