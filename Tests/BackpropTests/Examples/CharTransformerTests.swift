import Backprop
import Foundation
import Testing

/// A miniature of the char-transformer example's model (vocabulary 5, context 6, E = 8, 2 heads,
/// 2 causal blocks, final LayerNorm for pre-norm, linear head), with the same module layout: an
/// embedding, an array of blocks, an optional final norm and a head.
private final class TinyLanguageModel: Module {
    let embedding: TokenAndPositionEmbedding<Float>
    let blocks: [TransformerBlock<Float>]
    let finalNorm: LayerNorm<Float>?
    let head: Linear<Float>
    var isTraining = true

    init(placement: NormPlacement, seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        embedding = TokenAndPositionEmbedding(vocabularySize: 5, maximumLength: 6, embedDimension: 8, generator: &generator)
        blocks = (0..<2).map { _ in
            TransformerBlock(embedDimension: 8, headCount: 2, feedForwardDimension: 16, placement: placement, causal: true,
                             generator: &generator)
        }
        finalNorm = placement == .preNorm ? LayerNorm(normalizedShape: [8]) : nil
        head = Linear(inputSize: 8, outputSize: 5, generator: &generator)
    }

    var namedChildren: [(name: String, value: Any)] {
        [("embedding", embedding), ("blocks", blocks)] + (finalNorm.map { [("final_norm", $0)] } ?? []) + [("head", head)]
    }

    func callAsFunction(_ x: Variable<Float>) -> Variable<Float> {
        var h = embedding(x)
        for block in blocks { h = block(h) }
        if let finalNorm { h = finalNorm(h) }
        return head(h)
    }
}

/// One step of next-token training on a batch drawn from (step) alone, with the learning rate of a
/// linear warmup set before the update, as the example does; returns the loss before the update.
private func trainStep(_ model: TinyLanguageModel, _ optimizer: Adam<Float>, step: Int) -> Float {
    var generator = SeededGenerator(seed: 900 + UInt64(step))
    let tokens = (0..<(3 * 7)).map { _ in Int(generator.next() % 5) }
    let inputs = (0..<3).flatMap { row in tokens[(row * 7)..<(row * 7 + 6)].map(Float.init) }
    let targets = (0..<3).flatMap { row in tokens[(row * 7 + 1)..<(row * 7 + 7)] }
    let tape = Tape<Float>()
    let logits = model(tape.constant(Tensor(shape: [3, 6], scalars: inputs)))
    let loss = crossEntropy(logits: logits.reshaped(to: [18, 5]), targets: targets)
    optimizer.zeroGradients()
    loss.backward()
    optimizer.learningRate = LinearWarmup(peak: 0.01, warmupSteps: 4).learningRate(atStep: step)
    optimizer.step()
    return loss.value.scalar
}

@Suite struct CharTransformerTests {
    @Test(arguments: [NormPlacement.postNorm, .preNorm])
    func resumingFromACheckpointReproducesTheUninterruptedLossesBitForBit(placement: NormPlacement) throws {
        let model = TinyLanguageModel(placement: placement, seed: 1)
        let optimizer = Adam(parameters: model.parameters, learningRate: 0.01)
        let before = (0..<3).map { trainStep(model, optimizer, step: $0) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("char-transformer-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("lm.safetensors").path
        try Checkpoint.save(model, optimizer: optimizer, info: CheckpointInfo(step: 3), toPath: path)
        let uninterrupted = (3..<7).map { trainStep(model, optimizer, step: $0) }

        // A model built from another seed, so every value has to come from the file.
        let resumed = TinyLanguageModel(placement: placement, seed: 2)
        let resumedOptimizer = Adam(parameters: resumed.parameters, learningRate: 0.01)
        let info = try Checkpoint.load(into: resumed, optimizer: resumedOptimizer, fromPath: path)
        #expect(info.step == 3)
        let continued = (info.step..<7).map { trainStep(resumed, resumedOptimizer, step: $0) }
        #expect(continued == uninterrupted)
        #expect(resumed.stateDictionary == model.stateDictionary)
        // Weights alone (fresh Adam moments and step count) give another trajectory: the state matters.
        let weightsOnly = TinyLanguageModel(placement: placement, seed: 2)
        let freshOptimizer = Adam(parameters: weightsOnly.parameters, learningRate: 0.01)
        try Checkpoint.load(into: weightsOnly, fromPath: path)
        #expect((3..<7).map { trainStep(weightsOnly, freshOptimizer, step: $0) } != uninterrupted)
        #expect(before.count == 3 && before.allSatisfy { $0.isFinite })
        let names = Set(resumed.namedParameters.map(\.name))
        #expect(names.contains("blocks.1.self_attn.in_proj_weight"))
        #expect(names.contains("final_norm.weight") == (placement == .preNorm))
    }
}
