import Testing
@testable import Backprop

/// Runs `body` with `workers` kernel threads, restoring the previous count.
private func withWorkers<Result>(_ workers: Int, _ body: () -> Result) -> Result {
    let saved = Parallelism.workerCount
    Parallelism.workerCount = workers
    defer { Parallelism.workerCount = saved }
    return body()
}

@Suite("Results do not depend on the worker count", .serialized)
struct DeterminismTests {
    /// Values with no exact float sum, so any change in accumulation order would show.
    func awkward(_ shape: [Int], seed: UInt64) -> Tensor<Float> {
        var generator = SeededGenerator(seed: seed)
        return Tensor.randomNormal(shape: shape, using: &generator) * 1.37
    }

    @Test func matmulIsBitIdenticalWithOneAndTwoWorkers() {
        let a = awkward([150, 330], seed: 1), b = awkward([330, 410], seed: 2)
        let one = withWorkers(1) { (a.matmul(b), Tensor.matmul(a, transposingFirst: true, a, transposingSecond: false, op: "t")) }
        let two = withWorkers(2) { (a.matmul(b), Tensor.matmul(a, transposingFirst: true, a, transposingSecond: false, op: "t")) }
        #expect(one.0 == two.0)
        #expect(one.1 == two.1)
        let three = withWorkers(3) { a.matmul(b) }
        #expect(one.0 == three)
    }

    @Test func batchedMatmulMatchesTripleLoopAndIsBitIdentical() {
        // A stack of 6 small products with a broadcast right operand: one product per chunk.
        let a = awkward([6, 20, 30], seed: 5), b = awkward([30, 10], seed: 6)
        let one = withWorkers(1) { a.matmul(b) }, two = withWorkers(2) { a.matmul(b) }
        #expect(one == two)
        #expect(one.shape == [6, 20, 10])
        var worst = 0.0
        for item in 0..<6 { for i in 0..<20 { for j in 0..<10 {
            var sum = 0.0
            for p in 0..<30 { sum += Double(a[item, i, p]) * Double(b[p, j]) }
            worst = Swift.max(worst, Swift.abs(Double(one[item, i, j]) - sum))
        } } }
        #expect(worst < 1e-4)
    }

    @Test func reductionsAndElementwiseAreBitIdenticalWithOneAndTwoWorkers() {
        let x = awkward([64, 300, 40], seed: 3), y = awkward([300, 40], seed: 4)
        func compute() -> [Tensor<Float>] {
            [x.sum(), x.sum(alongAxes: [0]), x.sum(alongAxes: [2]), x.sum(alongAxes: [1]), x.mean(alongAxes: [0, 2]),
             x.max(alongAxes: [1]), x + y, x * y, x.exp(), (x * 2).relu()]
        }
        let one = withWorkers(1, compute), two = withWorkers(2, compute)
        #expect(one == two)
    }

    /// Linear's bias gradient sums columns in parallel ranges, each with the register-blocked C loop
    /// where the CPU has AVX2: the sums of the plain loop (each column from 0, rows in order, in
    /// Double), exactly.
    @Test func parallelColumnSumsEqualTheSerialOnes() {
        for (rows, columns) in [(576, 1536), (300, 1000), (2000, 40), (64, 130), (7, 77), (0, 9)] {
            let x = awkward([rows, columns], seed: UInt64(rows + 1))
            func sums(parallel: Bool) -> [Float] {
                var out = [Float](repeating: .nan, count: columns)
                x.scalars.withUnsafeBufferPointer { p in
                    out.withUnsafeMutableBufferPointer { o in
                        if parallel {
                            Reduction.parallelColumnSums(p.baseAddress!, reduced: rows, stride: columns, count: columns, into: o.baseAddress!)
                        } else {
                            Reduction.columnSums(p.baseAddress!, reduced: rows, stride: columns, count: columns, into: o.baseAddress!)
                        }
                    }
                }
                return out
            }
            var plain = [Double](repeating: 0, count: columns)
            for r in 0..<rows { for j in 0..<columns { plain[j] += Double(x.scalars[r * columns + j]) } }
            let serial = sums(parallel: false)
            #expect(serial == plain.map { Float($0) }, "\(rows)×\(columns)")
            for workers in [1, 2, 3] { #expect(withWorkers(workers) { sums(parallel: true) } == serial, "\(rows)×\(columns), \(workers) workers") }
        }
    }

    /// Second and third derivatives (a LayerNorm and a BatchNorm, big enough to run on both workers,
    /// through Linear and GELU) are bit-identical with one and two workers and across reruns.
    @Test func higherOrderDerivativesAreBitIdenticalWithOneAndTwoWorkers() {
        var generator = SeededGenerator(seed: 9)
        let linear = Linear<Float>(inputSize: 96, outputSize: 96, generator: &generator)
        let x0 = awkward([64, 8, 96], seed: 7), u0 = awkward([64, 8, 96], seed: 8)
        func compute() -> [Tensor<Float>] {
            let tape = Tape<Float>()
            let x = tape.variable(x0)
            let h = linear(x.layerNorm(normalizedShape: [96])).gelu()
            let y = h.permuted([0, 2, 1]).batchNorm()
            let first = tape.gradients(of: y, withRespectTo: [x], seed: tape.constant(u0.permuted([0, 2, 1])), createGraph: true)[0]
            let second = tape.gradients(of: (first * first).sum(), withRespectTo: [x], createGraph: true)[0]
            let third = tape.gradients(of: second.squared().sum(), withRespectTo: [x])[0]
            return [first.value, second.value, third]
        }
        let one = withWorkers(1, compute), two = withWorkers(2, compute), again = withWorkers(2, compute)
        #expect(one == two)
        #expect(two == again)
    }

    @Test func workerCountIsAtLeastOne() {
        withWorkers(0) { #expect(Parallelism.workerCount == 1) }
    }
}
