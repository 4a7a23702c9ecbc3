import Foundation
import Testing
@testable import Backprop

/// The packed copies `Linear` keeps of its weight for inference (`PackedWeightCache`): products
/// through them equal the ordinary ones bit for bit, at every kernel level and worker count, and a
/// copy is dropped whenever the parameter's value changes, however it changes.
@Suite("Packed weight cache", .serialized)
struct PackedWeightCacheTests {
    func product<Scalar: CGEMMScalar>(_ x: [Scalar], _ w: [Scalar], bias: [Scalar]?, m: Int, n: Int, k: Int,
                                      level: Int, packed: Bool) -> [Scalar] {
        var c = [Scalar](repeating: .nan, count: m * n)
        x.withUnsafeBufferPointer { x in w.withUnsafeBufferPointer { w in
            (bias ?? []).withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    let bias = bias == nil ? nil : b.baseAddress
                    if packed {
                        let weight = PackedWeight(w.baseAddress!, n: n, k: k, level: level)
                        GEMM.multiply(x.baseAddress!, packedWeight: weight, m: m, into: c.baseAddress!, bias: bias)
                    } else {
                        GEMM.multiply(x.baseAddress!, transposeA: false, w.baseAddress!, transposeB: true, m: m, n: n, k: k,
                                      into: c.baseAddress!, accumulate: false, bias: bias, kernelLevel: level)
                    }
                }
            }
        } }
        return c
    }

    func check<Scalar: CGEMMScalar>(_ type: Scalar.Type) {
        // A tile's edges, k across two blocks, several row and column tiles, and a strip-shaped product.
        for (m, n, k) in [(1, 5, 3), (13, 37, 29), (130, 300, 260), (150, 700, 40)] {
            var generator = SeededGenerator(seed: 41)
            let x = Tensor<Scalar>.randomNormal(shape: [m * k], using: &generator).scalars
            let w = Tensor<Scalar>.randomNormal(shape: [n * k], using: &generator).scalars
            let bias = Tensor<Scalar>.randomNormal(shape: [n], using: &generator).scalars
            for level in GEMMKernelLevelTests.levels {
                for b in [nil, bias] {
                    let saved = Parallelism.workerCount
                    defer { Parallelism.workerCount = saved }
                    let reference = product(x, w, bias: b, m: m, n: n, k: k, level: level, packed: false)
                    for workers in [1, 2, 3] {
                        Parallelism.workerCount = workers
                        let packed = product(x, w, bias: b, m: m, n: n, k: k, level: level, packed: true)
                        #expect(packed == reference, "\(Scalar.self) \(m)×\(n)×\(k) level \(level) bias \(b != nil) workers \(workers)")
                    }
                }
            }
        }
    }

    @Test func floatProductsThroughAPackedWeightAreBitIdentical() { check(Float.self) }

    @Test func doubleProductsThroughAPackedWeightAreBitIdentical() { check(Double.self) }

    /// The recorded path's value of `layer(x)` (never through a packed copy).
    func recorded(_ layer: Linear<Double>, _ x: Tensor<Double>) -> Tensor<Double> {
        let tape = Tape<Double>()
        return layer(tape.variable(x)).value
    }

    @Test func linearKeepsACopyForInferenceAndDropsItWhenTheWeightChanges() throws {
        var generator = SeededGenerator(seed: 5)
        let layer = Linear<Double>(inputSize: 24, outputSize: 40, generator: &generator)
        let x = Tensor<Double>.randomNormal(shape: [3, 7, 24], using: &generator)
        func inferred() -> Tensor<Double> { withoutGradients { layer(Variable(x)).value } }
        func hasCopy() -> Bool { layer.weight.packedCopy.withLock { $0 != nil } }

        // Recording never makes a copy.
        _ = recorded(layer, x)
        #expect(!hasCopy())
        #expect(inferred() == recorded(layer, x))
        #expect(hasCopy())
        #expect(inferred() == recorded(layer, x))

        // Every way of changing the value drops the copy, and the next product uses the new value.
        layer.weight.value.scalars[7] += 1
        #expect(!hasCopy())
        #expect(inferred() == recorded(layer, x))
        layer.weight.value.scalars.withUnsafeMutableBufferPointer { $0[0] = -3 }   // as Adam updates in place
        #expect(!hasCopy())
        #expect(inferred() == recorded(layer, x))
        let optimizer = SGD(parameters: layer.parameters, learningRate: 0.5)
        let tape = Tape<Double>()
        layer(tape.variable(x)).sum().backward()
        optimizer.step()
        #expect(!hasCopy())
        #expect(inferred() == recorded(layer, x))
        var state = layer.stateDict()
        state["weight"] = Tensor(shape: [40, 24], scalars: Array(repeating: 0.25, count: 960))
        _ = try layer.loadStateDict(state)
        #expect(!hasCopy())
        let loaded = inferred()
        #expect(loaded == recorded(layer, x))
        #expect(loaded.scalars[0] == 0.25 * x.scalars[0..<24].reduce(0, +) + layer.bias!.value.scalars[0])

        // A frozen layer on a tape needs no gradient either, and uses the copy.
        layer.weight.requiresGradient = false
        layer.bias!.requiresGradient = false
        _ = layer(Tape<Double>().constant(x))
        #expect(hasCopy())
        layer.weight.requiresGradient = true
        layer.bias!.requiresGradient = true

        // Turned off: no copy is used or kept.
        PackedWeightCache.isEnabled = false
        defer { PackedWeightCache.isEnabled = true }
        #expect(inferred() == recorded(layer, x))
        #expect(!hasCopy())
    }

    @Test func attentionProjectionsUseTheirCopies() {
        var generator = SeededGenerator(seed: 9)
        let attention = MultiHeadAttention<Float>(embedDimension: 16, headCount: 4, layout: .separate, generator: &generator)
        let x = Variable(Tensor<Float>.randomNormal(shape: [2, 5, 16], using: &generator))
        let fused = withoutGradients { attention(query: x, key: x, value: x).value }
        for layer in [attention.query!, attention.key!, attention.value!, attention.outProj] {
            #expect(layer.weight.packedCopy.withLock { $0 != nil })
        }
        #expect(withoutGradients { attention(query: x, key: x, value: x).value } == fused)
    }

    /// Threads that run the same layer at once share one packed copy (made under the parameter's
    /// lock) and all get the values of the recorded path.
    @Test func concurrentInferenceSharesOneCopy() {
        final class Shared: @unchecked Sendable {
            let layer: Linear<Float>, x: Tensor<Float>
            let lock = NSLock()
            var results: [Tensor<Float>] = []
            init(layer: Linear<Float>, x: Tensor<Float>) { (self.layer, self.x) = (layer, x) }
        }
        var generator = SeededGenerator(seed: 12)
        let shared = Shared(layer: Linear<Float>(inputSize: 64, outputSize: 96, generator: &generator),
                            x: Tensor<Float>.randomNormal(shape: [40, 64], using: &generator))
        let expected = { let tape = Tape<Float>(); return shared.layer(tape.variable(shared.x)).value }()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            let y = withoutGradients { shared.layer(Variable(shared.x)).value }
            shared.lock.lock()
            shared.results.append(y)
            shared.lock.unlock()
        }
        #expect(shared.results.count == 8 && shared.results.allSatisfy { $0 == expected })
        #expect(shared.layer.weight.packedCopy.withLock { $0 != nil })
    }
}
