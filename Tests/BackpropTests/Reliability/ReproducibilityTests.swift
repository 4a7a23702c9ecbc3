import Foundation
import Testing
@testable import Backprop

/// A small model whose layers cover the parallel kernels: GEMM, elementwise, LayerNorm, BatchNorm.
private func makeModel(seed: UInt64) -> Sequential<Float> {
    var generator = SeededGenerator(seed: seed)
    return Sequential<Float>([
        Linear(inputSize: 96, outputSize: 256, generator: &generator), LayerNorm(normalizedShape: [256]), GELU(),
        Linear(inputSize: 256, outputSize: 256, generator: &generator), BatchNorm(numFeatures: 256), ReLU(),
        Linear(inputSize: 256, outputSize: 10, generator: &generator),
    ])
}

/// The batch for a step depends only on the step, so a resumed run sees the same data.
private func batch(step: Int) -> (Tensor<Float>, [Int]) {
    var generator = SeededGenerator(seed: 1000 + UInt64(step))
    let x = Tensor<Float>.randomNormal(shape: [160, 96], using: &generator)
    return (x, (0..<160).map { _ in Int(generator.next() % 10) })
}

/// Trains `model` with AdamW for the given steps and returns the loss of each step.
private func train(_ model: Sequential<Float>, _ optimizer: AdamW<Float>, steps: Range<Int>) -> [Float] {
    steps.map { step in
        let (x, y) = batch(step: step)
        let tape = Tape<Float>()
        let loss = crossEntropy(logits: model(tape.constant(x)), targets: y)
        optimizer.zeroGradients()
        loss.backward()
        optimizer.step()
        return loss.value.scalar
    }
}

@Suite("Reproducibility", .serialized)
struct ReproducibilityTests {
    @Test("Training is bit-identical with 1 and 2 worker threads")
    func workerCountDoesNotChangeResults() {
        func run(workers: Int) -> (losses: [Float], parameters: [[Float]]) {
            let saved = Parallelism.workerCount
            Parallelism.workerCount = workers
            defer { Parallelism.workerCount = saved }
            let model = makeModel(seed: 5)
            let losses = train(model, AdamW(parameters: model.parameters, learningRate: 1e-3), steps: 0..<3)
            return (losses, model.parameters.map(\.value.scalars) + model.namedBuffers.map(\.buffer.value.scalars))
        }
        let one = run(workers: 1)
        let two = run(workers: 2)
        #expect(one.losses.map(\.bitPattern) == two.losses.map(\.bitPattern))
        let identical = one.parameters.map { $0.map(\.bitPattern) } == two.parameters.map { $0.map(\.bitPattern) }
        #expect(identical, "parameters and buffers after 3 steps differ between 1 and 2 workers")
    }

    @Test("Two runs with the same seed give the same numbers")
    func sameSeedSameNumbers() {
        let a = makeModel(seed: 9), b = makeModel(seed: 9)
        let la = train(a, AdamW(parameters: a.parameters), steps: 0..<2)
        let lb = train(b, AdamW(parameters: b.parameters), steps: 0..<2)
        #expect(la.map(\.bitPattern) == lb.map(\.bitPattern))
    }

    /// A child process trains, checkpoints after step 4, trains on and is killed with SIGKILL at
    /// step 6 (no cleanup, no flush). Resuming from the checkpoint must continue the loss
    /// trajectory of an uninterrupted run bit for bit.
    @Test("Checkpoint, kill, resume continues the same trajectory bit for bit")
    func killAndResume() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("backprop-kill-resume-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        setenv("BACKPROP_KILL_RESUME_PATH", path, 1)

        await #expect(processExitsWith: .signal(SIGKILL)) {
            let path = String(cString: getenv("BACKPROP_KILL_RESUME_PATH"))
            let model = makeModel(seed: 11)
            let optimizer = AdamW(parameters: model.parameters, learningRate: 1e-3)
            _ = train(model, optimizer, steps: 0..<4)
            try? Checkpoint.save(model, optimizer: optimizer, info: CheckpointInfo(step: 4), toPath: path)
            _ = train(model, optimizer, steps: 4..<6)
            kill(getpid(), SIGKILL)
        }

        let uninterruptedModel = makeModel(seed: 11)
        let uninterrupted = train(uninterruptedModel, AdamW(parameters: uninterruptedModel.parameters, learningRate: 1e-3), steps: 0..<8)

        let resumedModel = makeModel(seed: 99)   // different initial weights: everything must come from the file
        let resumedOptimizer = AdamW(parameters: resumedModel.parameters, learningRate: 1e-3)
        let info = try Checkpoint.load(into: resumedModel, optimizer: resumedOptimizer, fromPath: path)
        #expect(info.step == 4)
        let resumed = train(resumedModel, resumedOptimizer, steps: info.step..<8)
        #expect(resumed.map(\.bitPattern) == uninterrupted[4...].map(\.bitPattern))
        let identical = resumedModel.parameters.map { $0.value.scalars.map(\.bitPattern) }
            == uninterruptedModel.parameters.map { $0.value.scalars.map(\.bitPattern) }
        #expect(identical, "parameters after the resumed run differ from the uninterrupted run")
    }
}
