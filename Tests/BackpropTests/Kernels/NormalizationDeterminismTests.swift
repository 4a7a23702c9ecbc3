import Testing
@testable import Backprop

/// Runs `body` with `workers` kernel threads, restoring the previous count.
private func withWorkers<Result>(_ workers: Int, _ body: () -> Result) -> Result {
    let saved = Parallelism.workerCount
    Parallelism.workerCount = workers
    defer { Parallelism.workerCount = saved }
    return body()
}

@Suite("Normalization kernels do not depend on the worker count", .serialized)
struct NormalizationDeterminismTests {
    /// The output and the gradients of x and every parameter of `module` on `x` with upstream `dy`.
    func run(_ module: any Module<Float>, _ x: Tensor<Float>, _ dy: Tensor<Float>) -> [Tensor<Float>] {
        for parameter in module.parameters { parameter.zeroGradient() }
        let tape = Tape<Float>()
        let input = tape.variable(x)
        let y = module(input)
        y.backward(seed: dy)
        return [y.value, input.grad!] + module.parameters.map { $0.grad! }
    }

    /// Random values off zero, so a change in accumulation order would change the last bits.
    func tensor(_ shape: [Int], seed: UInt64) -> Tensor<Float> {
        var generator = SeededGenerator(seed: seed)
        return Tensor.randomNormal(shape: shape, using: &generator) * 1.37 + 0.21
    }

    @Test(arguments: ["layer", "rms", "batch", "batch1d", "batch1dLength", "batchLayer", "group", "instance"])
    func normalizationIsBitIdenticalWithOneAndTwoWorkers(kind: String) {
        // Shapes large enough for several parallel chunks (each chunk covers 2¹⁵ elements; the column
        // kernels of [N, C] and [N, C, L] take at least 256 columns per chunk).
        let shape = switch kind {
        case "layer", "rms": [300, 500]
        case "batch1d", "batchLayer": [300, 1000]
        case "batch1dLength": [40, 300, 3]
        default: [6, 8, 50, 60]
        }
        let x = tensor(shape, seed: 1), dy = tensor(shape, seed: 2)
        func make() -> any Module<Float> {
            switch kind {
            case "layer": LayerNorm(normalizedShape: [500])
            case "rms": RMSNorm(normalizedShape: [500])
            case "batch": BatchNorm(numFeatures: 8)
            case "batch1d": BatchNorm(numFeatures: 1000)
            case "batch1dLength": BatchNorm(numFeatures: 300)
            case "batchLayer": BatchLayerNorm(sampleShape: [1000])
            case "group": GroupNorm(numGroups: 4, numChannels: 8)
            default: InstanceNorm(numFeatures: 8, affine: true)
            }
        }
        let one = withWorkers(1) { run(make(), x, dy) }
        let two = withWorkers(2) { run(make(), x, dy) }
        #expect(one.count == two.count)
        for (a, b) in zip(one, two) { #expect(a == b) }
    }

    /// The AVX2 loops in C and the Swift loops they replace must agree to the last bit, tails
    /// (lengths not a multiple of eight) included. Passes trivially on a CPU without AVX2.
    @Test(arguments: ["layer", "layerAnnotated", "rms", "batch", "batch1d", "batch1dLength", "group", "instance", "batchLayer"])
    func vectorLoopsMatchTheSwiftLoopsBitForBit(kind: String) {
        let shape = switch kind {
        case "layer", "layerAnnotated", "rms": [37, 109]
        case "batch1d": [37, 109]
        case "batch1dLength": [13, 21, 5]
        default: [6, 8, 7, 9]
        }
        let x = tensor(shape, seed: 3), dy = tensor(shape, seed: 4)
        func make() -> any Module<Float> {
            switch kind {
            case "layer": LayerNorm(normalizedShape: [109])
            case "layerAnnotated": LayerNorm(normalizedShape: [109], variant: .annotatedTransformer)
            case "rms": RMSNorm(normalizedShape: [109])
            case "batch": BatchNorm(numFeatures: 8)
            case "batch1d": BatchNorm(numFeatures: 109)
            case "batch1dLength": BatchNorm(numFeatures: 21)
            case "group": GroupNorm(numGroups: 4, numChannels: 8)
            case "instance": InstanceNorm(numFeatures: 8, affine: true)
            default: BatchLayerNorm(sampleShape: [8, 7, 9])
            }
        }
        let saved = VectorLoops.enabled
        defer { VectorLoops.enabled = saved }
        VectorLoops.enabled = true
        let vector = run(make(), x, dy)
        VectorLoops.enabled = false
        let scalar = run(make(), x, dy)
        #expect(vector.count == scalar.count)
        for (a, b) in zip(vector, scalar) { #expect(a == b) }
    }
}
