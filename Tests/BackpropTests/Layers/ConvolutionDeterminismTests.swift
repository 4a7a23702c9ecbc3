import Testing
@testable import Backprop

@Suite("Convolution results do not depend on the worker count", .serialized)
struct ConvolutionDeterminismTests {
    /// Runs `body` with `workers` kernel threads, restoring the previous count.
    private func withWorkers<Result>(_ workers: Int, _ body: () -> Result) -> Result {
        let saved = Parallelism.workerCount
        Parallelism.workerCount = workers
        defer { Parallelism.workerCount = saved }
        return body()
    }

    private func random(_ shape: [Int], seed: UInt64) -> Tensor<Float> {
        var generator = SeededGenerator(seed: seed)
        return Tensor.randomNormal(shape: shape, using: &generator) * 1.37
    }

    /// y, ∂x, ∂W and ∂b, bit for bit, with 1, 2 and 3 workers: chunks side by side on 2, one after
    /// another with parallel products on 3 (5 or 7 chunks do not share out evenly), all in order on 1.
    @Test(arguments: [
        ([10, 8, 16, 16], [16, 8, 3, 3], 1, 1),   // one image per chunk, 10 chunks in 8 partials
        ([37, 16, 7, 7], [8, 16, 3, 3], 1, 1),    // 6 images per chunk, 7 chunks
        ([5, 12, 9, 9], [12, 12, 3, 3], 2, 1),    // stride 2: 5×5 outputs, 11 images per chunk, one chunk
        ([5, 32, 10, 10], [16, 32, 1, 1], 1, 0),  // 1×1 on the input in place, 5 chunks
    ])
    func bitIdenticalAcrossWorkerCounts(input: [Int], weight: [Int], stride: Int, padding: Int) {
        let x = random(input, seed: 1), w = random(weight, seed: 2), b = random([weight[0]], seed: 3)
        func compute() -> [Tensor<Float>] {
            let tape = Tape<Float>()
            let xv = tape.variable(x), wv = tape.variable(w), bv = tape.variable(b)
            let y = conv2d(xv, weight: wv, bias: bv, stride: WindowSize(stride), padding: WindowSize(padding))
            let seed = random(y.shape, seed: 4)
            return [y.value] + tape.gradients(of: y, withRespectTo: [xv, wv, bv], seed: seed)
        }
        let one = withWorkers(1, compute)
        #expect(withWorkers(2, compute) == one)
        #expect(withWorkers(3, compute) == one)
    }

    /// The weight gradient from the column matrices the forward kept equals, bit for bit, the one
    /// that packs them again (as the higher-order ops do).
    @Test func keptColumnsGiveTheRecomputedWeightGradient() {
        let x = random([9, 3, 8, 8], seed: 5), w = random([4, 3, 3, 3], seed: 6)
        let tape = Tape<Float>()
        let xv = tape.variable(x), wv = tape.variable(w)
        let y = conv2d(xv, weight: wv, padding: 1)
        let seed = random(y.shape, seed: 7)
        let kept = tape.gradients(of: y, withRespectTo: [wv], seed: seed)[0]
        let g = convolutionGeometry(input: x.shape, weight: w.shape, bias: nil, stride: 1, padding: 1, dilation: 1, groups: 1)
        let recomputed = ConvolutionKernels.weightGradient(x, seed, g, columns: nil)
        #expect(kept == recomputed)
    }
}
