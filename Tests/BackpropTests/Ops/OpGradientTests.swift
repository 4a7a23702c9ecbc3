import Backprop
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Op gradients")
struct OpGradientTests {
    @Test func sumOfSquaresHasGradientTwoX() {
        let x0 = Tensor<Double>([-1.5, 0, 2, 3])
        let expected = Tensor<Double>([-3, 0, 4, 6])
        for form in ["x*x", "squared", "pow(2)"] {
            let tape = Tape<Double>()
            let x = tape.variable(x0)
            let square: Variable<Double>
            switch form {
            case "x*x": square = x * x
            case "squared": square = x.squared()
            default: square = x.pow(2)
            }
            expectClose(tape.gradients(of: square.sum(), withRespectTo: [x])[0], expected, "\(form)")
        }
    }

    @Test func broadcastBiasGradientIsTheColumnSums() {
        let tape = Tape<Double>()
        let x = tape.variable(tensor([2, 3], [1, 2, 3, 4, 5, 6]))
        let bias = tape.variable(Tensor([0.1, 0.2, 0.3]))
        let upstream = tensor([2, 3], [1, 2, 3, 10, 20, 30])
        let gradients = tape.gradients(of: x + bias, withRespectTo: [x, bias], seed: upstream)
        #expect(gradients[0] == upstream)
        #expect(gradients[1] == Tensor([11, 22, 33]))
    }

    @Test func broadcastColumnAndScalarOperandsSumTheirAxes() {
        let tape = Tape<Double>()
        let column = tape.variable(tensor([2, 1], [1, 2]))
        let scale = tape.variable(Tensor(3))
        let row = tape.variable(tensor([1, 3], [1, 2, 3]))
        // y = column · row · scale is [2, 3]; the gradient of Σy is, per operand, the sum of the
        // other two factors' product over the axes that operand was broadcast along.
        let y = column * row * scale
        let g = tape.gradients(of: y.sum(), withRespectTo: [column, scale, row])
        #expect(g[0] == tensor([2, 1], [18, 18]))       // 3 · (1 + 2 + 3)
        #expect(g[1] == Tensor(18))                      // (1 + 2) · (1 + 2 + 3)
        #expect(g[2] == tensor([1, 3], [9, 9, 9]))       // 3 · (1 + 2)
    }

    @Test func fanOutAccumulates() {
        // y = x·x + x: dy/dx = 2x + 1.
        let tape = Tape<Double>()
        let x = tape.variable(Tensor([-2, 0.5, 3]))
        let gradient = tape.gradients(of: (x * x + x).sum(), withRespectTo: [x])[0]
        #expect(gradient == Tensor([-3, 2, 7]))
    }

    @Test func deepFanOutThroughSharedIntermediate() {
        // h = 2x; y = h·h + h·3 → dy/dx = (2h + 3)·2 = 8x + 6.
        let tape = Tape<Double>()
        let x = tape.variable(Tensor([1, -1]))
        let h = x * 2
        let y = (h * h + h * 3).sum()
        #expect(tape.gradients(of: y, withRespectTo: [x])[0] == Tensor([14, -2]))
    }

    @Test func matmulGradientsByHand() {
        // A = [1 2 3; 4 5 6], B = [1 0; 0 1; 1 1], upstream G = [1 2; 3 4].
        // ∂L/∂A = G·Bᵀ = [1 2 3; 3 4 7]; ∂L/∂B = Aᵀ·G = [13 18; 17 24; 21 30].
        let tape = Tape<Double>()
        let a = tape.variable(tensor([2, 3], [1, 2, 3, 4, 5, 6]))
        let b = tape.variable(tensor([3, 2], [1, 0, 0, 1, 1, 1]))
        let g = tape.gradients(of: a.matmul(b), withRespectTo: [a, b], seed: tensor([2, 2], [1, 2, 3, 4]))
        #expect(g[0] == tensor([2, 3], [1, 2, 3, 3, 4, 7]))
        #expect(g[1] == tensor([3, 2], [13, 18, 17, 24, 21, 30]))
    }

    @Test func matmulGradientsForVectors() {
        let tape = Tape<Double>()
        let u = tape.variable(Tensor([1, 2, 3]))
        let v = tape.variable(Tensor([4, 5, 6]))
        let g = tape.gradients(of: u.matmul(v), withRespectTo: [u, v])
        #expect(g[0] == Tensor([4, 5, 6]))
        #expect(g[1] == Tensor([1, 2, 3]))
        // Matrix · vector: y_i = Σ_j M_ij v_j, so ∂Σy/∂M_ij = v_j and ∂Σy/∂v_j = Σ_i M_ij.
        let tape2 = Tape<Double>()
        let m = tape2.variable(tensor([2, 3], [1, 2, 3, 4, 5, 6]))
        let w = tape2.variable(Tensor([1, 0, -1]))
        let h = tape2.gradients(of: m.matmul(w).sum(), withRespectTo: [m, w])
        #expect(h[0] == tensor([2, 3], [1, 0, -1, 1, 0, -1]))
        #expect(h[1] == Tensor([5, 7, 9]))
    }

    @Test func batchedMatmulGradientSumsOverTheBroadcastBatch() {
        // A [2, 2, 3] · B [3, 2], L = ΣC: ∂L/∂B[p, j] = Σ_{b, i} A[b, i, p]; ∂L/∂A[b, i, p] = Σ_j B[p, j].
        let aValues = Tensor<Double>(shape: [2, 2, 3], scalars: (1...12).map(Double.init))
        let bValues = tensor([3, 2], [1, -1, 2, 0.5, 0, 3])
        let tape = Tape<Double>()
        let a = tape.variable(aValues)
        let b = tape.variable(bValues)
        let g = tape.gradients(of: a.matmul(b).sum(), withRespectTo: [a, b])
        var expectedB = [Double](repeating: 0, count: 6)
        for batch in 0..<2 { for i in 0..<2 { for p in 0..<3 { for j in 0..<2 { expectedB[p * 2 + j] += aValues[batch, i, p] } } } }
        #expect(g[1] == tensor([3, 2], expectedB))
        let rowSums = [0.0, 2.5, 3]
        #expect(g[0] == Tensor(shape: [2, 2, 3], scalars: (0..<12).map { rowSums[$0 % 3] }))
    }

    @Test func meanAndVarianceGradients() {
        let tape = Tape<Double>()
        let x = tape.variable(Tensor([1, 2, 3, 6]))
        #expect(tape.gradients(of: x.mean(), withRespectTo: [x], retainGraph: true)[0] == Tensor([0.25, 0.25, 0.25, 0.25]))
        // μ = 3; ∂var/∂x = 2(x − μ)/(n − correction).
        expectClose(tape.gradients(of: x.variance(alongAxes: [0], correction: 1), withRespectTo: [x], retainGraph: true)[0],
                    Tensor([-4.0 / 3, -2.0 / 3, 0, 2]))
        expectClose(tape.gradients(of: x.variance(alongAxes: [0], correction: 0), withRespectTo: [x])[0],
                    Tensor([-1, -0.5, 0, 1.5]))
    }

    @Test func maxGradientGoesToTheFirstMaximum() {
        let tape = Tape<Double>()
        let x = tape.variable(tensor([2, 3], [5, 1, 5, 0, 7, 2]))
        let g = tape.gradients(of: x.max(alongAxis: 1), withRespectTo: [x], seed: Tensor([10, 20]), retainGraph: true)[0]
        #expect(g == tensor([2, 3], [10, 0, 0, 0, 20, 0]))
        let h = tape.gradients(of: x.min(alongAxis: 0).sum(), withRespectTo: [x])[0]
        #expect(h == tensor([2, 3], [0, 1, 0, 1, 0, 1]))
    }

    @Test func divisionGradient() {
        // y = a/b: ∂y/∂a = 1/b, ∂y/∂b = −a/b².
        let tape = Tape<Double>()
        let a = tape.variable(Tensor([3, -4]))
        let b = tape.variable(Tensor([2, 4]))
        let g = tape.gradients(of: (a / b).sum(), withRespectTo: [a, b])
        #expect(g[0] == Tensor([0.5, 0.25]))
        #expect(g[1] == Tensor([-0.75, 0.25]))
    }

    @Test func gatherGradientAccumulatesRepeatedIndices() {
        let tape = Tape<Double>()
        let table = tape.variable(Tensor(zeros: [4, 2]))
        let rows = table.gathering([2, 0, 2, 2], alongAxis: 0)
        let g = tape.gradients(of: rows, withRespectTo: [table], seed: tensor([4, 2], [1, 2, 3, 4, 5, 6, 7, 8]))[0]
        #expect(g == tensor([4, 2], [3, 4, 0, 0, 13, 16, 0, 0]))
    }

    @Test func softmaxRowsSumToOneSoTheirSumHasZeroGradient() {
        let tape = Tape<Double>()
        let x = tape.variable(tensor([2, 3], [0.3, -1, 2, 5, 5, 1]))
        let g = tape.gradients(of: x.softmax().sum(), withRespectTo: [x])[0]
        #expect(g.scalars.allSatisfy { Swift.abs($0) < 1e-15 })
    }

    @Test func logSumExpGradientIsSoftmax() {
        let tape = Tape<Double>()
        let x = tape.variable(Tensor([1000, 1001, 1002]))
        let g = tape.gradients(of: x.logSumExp(alongAxes: [0]), withRespectTo: [x])[0]
        #expect(g.isFinite)
        expectClose(g.scalars.reduce(0, +), 1, relativeTolerance: 1e-12)
        expectClose(g.scalars[2] / g.scalars[1], Glibc.exp(1), relativeTolerance: 1e-12)
    }

    @Test func reluAndClampPassGradientOnlyInside() {
        let tape = Tape<Double>()
        let x = tape.variable(Tensor([-2, -0.5, 0.5, 2]))
        #expect(tape.gradients(of: x.relu().sum(), withRespectTo: [x], retainGraph: true)[0] == Tensor([0, 0, 1, 1]))
        #expect(tape.gradients(of: x.clamped(to: -1...1).sum(), withRespectTo: [x])[0] == Tensor([0, 1, 1, 0]))
    }

    @Test func tanhGradientIsOneMinusYSquared() {
        let tape = Tape<Double>()
        let x = tape.variable(Tensor([0, 0.5]))
        let g = tape.gradients(of: x.tanh().sum(), withRespectTo: [x])[0]
        let t = Glibc.tanh(0.5)
        expectClose(g, Tensor([1, 1 - t * t]), tolerance: 1e-15)
    }
}
