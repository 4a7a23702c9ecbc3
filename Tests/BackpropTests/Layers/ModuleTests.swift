import Testing
@testable import Backprop

/// A small Transformer-like structure to check PyTorch `state_dict` naming.
final class Block: Module {
    var isTraining = true
    let norm1 = LayerNorm<Double>(normalizedShape: [4])
    let feedForward: Sequential<Double>
    let dropout = Dropout<Double>(probability: 0.5, seed: 1)

    init(generator: inout SeededGenerator) {
        feedForward = Sequential(Linear(inputSize: 4, outputSize: 8, generator: &generator), GELU(),
                                 Linear(inputSize: 8, outputSize: 4, generator: &generator))
    }

    func callAsFunction(_ x: Variable<Double>) -> Variable<Double> { x + dropout(feedForward(norm1(x))) }
}

final class Model: Module {
    var isTraining = true
    let blocks: [Block]
    let finalNorm = BatchNorm<Double>(numFeatures: 4)

    init(generator: inout SeededGenerator) {
        blocks = [Block(generator: &generator), Block(generator: &generator)]
    }

    func callAsFunction(_ x: Variable<Double>) -> Variable<Double> { finalNorm(blocks.reduce(x) { $1($0) }) }
}

@Suite("Modules")
struct ModuleTests {
    @Test func parameterNamesFollowPyTorchStateDict() {
        var generator = SeededGenerator(seed: 1)
        let model = Model(generator: &generator)
        let names = model.namedParameters.map(\.name)
        #expect(names == [
            "blocks.0.norm1.weight", "blocks.0.norm1.bias",
            "blocks.0.feed_forward.0.weight", "blocks.0.feed_forward.0.bias",
            "blocks.0.feed_forward.2.weight", "blocks.0.feed_forward.2.bias",
            "blocks.1.norm1.weight", "blocks.1.norm1.bias",
            "blocks.1.feed_forward.0.weight", "blocks.1.feed_forward.0.bias",
            "blocks.1.feed_forward.2.weight", "blocks.1.feed_forward.2.bias",
            "final_norm.weight", "final_norm.bias",
        ])
        #expect(model.namedBuffers.map(\.name) == ["final_norm.running_mean", "final_norm.running_var", "final_norm.num_batches_tracked"])
        #expect(model.stateDictionary.count == 17)
    }

    @Test func normalizationLayersHavePyTorchsParametersAndBuffers() {
        func names<M: Module>(_ m: M) -> [String] { m.namedParameters.map(\.name) + m.namedBuffers.map(\.name) }
        #expect(names(BatchNorm<Float>(numFeatures: 3)) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"])
        #expect(names(InstanceNorm<Float>(numFeatures: 3, trackRunningStats: true)) == ["running_mean", "running_var", "num_batches_tracked"])
        #expect(names(InstanceNorm<Float>(numFeatures: 3)) == [])
        #expect(names(LayerNorm<Float>(normalizedShape: [3])) == ["weight", "bias"])
        #expect(names(LayerNorm<Float>(normalizedShape: [3], bias: false)) == ["weight"])
        #expect(names(GroupNorm<Float>(numGroups: 1, numChannels: 3)) == ["weight", "bias"])
        #expect(names(RMSNorm<Float>(normalizedShape: [3])) == ["weight"])
        #expect(names(BatchNorm<Float>(numFeatures: 3, affine: false, trackRunningStats: false)) == [])
    }

    @Test func trainAndEvalReachEverySubmodule() {
        var generator = SeededGenerator(seed: 2)
        let model = Model(generator: &generator)
        model.eval()
        #expect(model.namedModules.allSatisfy { !$0.module.isTraining })
        #expect(!model.blocks[1].dropout.isTraining && !model.finalNorm.isTraining)
        model.train()
        #expect(model.namedModules.allSatisfy { $0.module.isTraining })
    }

    @Test func gradientsReachEveryParameterAndZeroGradientsClearsThem() {
        var generator = SeededGenerator(seed: 3)
        let model = Model(generator: &generator)
        let tape = Tape<Double>()
        let x = tape.constant(Tensor.randomNormal(shape: [3, 4], using: &generator))
        model(x).squared().sum().backward()
        #expect(model.parameters.allSatisfy { $0.grad != nil })
        model.zeroGradients()
        #expect(model.parameters.allSatisfy { $0.grad == nil })
    }

    @Test func withoutATapeParametersAreConstants() {
        var generator = SeededGenerator(seed: 4)
        let layer = Linear<Double>(inputSize: 2, outputSize: 3, generator: &generator)
        let y = layer(Variable(Tensor([[1, 2]])))
        #expect(y.tape == nil && !y.requiresGradient)
        // y = x·Wᵀ + b, by hand.
        let w = layer.weight.value.scalars
        let b = layer.bias!.value.scalars
        for j in 0..<3 {
            #expect(abs(y.value.scalars[j] - (w[2 * j] + 2 * w[2 * j + 1] + b[j])) < 1e-14)
        }
    }

    @Test func linearDefaultInitializationIsBoundedByOneOverSqrtFanIn() {
        var generator = SeededGenerator(seed: 5)
        let layer = Linear<Double>(inputSize: 16, outputSize: 32, generator: &generator)
        let bound = 0.25
        #expect(layer.weight.shape == [32, 16] && layer.bias!.shape == [32])
        #expect(layer.weight.value.scalars.allSatisfy { abs($0) <= bound })
        #expect(layer.bias!.value.scalars.allSatisfy { abs($0) <= bound })
        // Uniform on [−¼, ¼] has variance 1/48; 512 draws land well within 30% of it.
        let variance = layer.weight.value.scalars.map { $0 * $0 }.reduce(0, +) / 512
        #expect(abs(variance - 1.0 / 48) < 0.3 / 48)
        #expect(Linear<Double>(inputSize: 2, outputSize: 2, bias: false, generator: &generator).bias == nil)
    }

    @Test func dropoutIsSeededAndIdentityInEvaluation() {
        let x = Variable(Tensor<Double>(ones: [1000]))
        let a = Dropout<Double>(probability: 0.25, seed: 9)(x).value
        let b = Dropout<Double>(probability: 0.25, seed: 9)(x).value
        #expect(a == b)
        #expect(a.scalars.allSatisfy { $0 == 0 || abs($0 - 4.0 / 3) < 1e-15 })
        let kept = a.scalars.filter { $0 != 0 }.count
        #expect(kept > 650 && kept < 850)
        let layer = Dropout<Double>(probability: 0.25)
        layer.eval()
        #expect(layer(x).value == x.value)
    }

    @Test func embeddingLooksUpRowsAndAccumulatesGradients() {
        var generator = SeededGenerator(seed: 6)
        let embedding = Embedding<Double>(vocabularySize: 5, dimension: 3, generator: &generator)
        let tape = Tape<Double>()
        let y = embedding([1, 4, 1], idShape: [3], on: tape)
        #expect(y.shape == [3, 3])
        #expect(Array(y.value.scalars[0..<3]) == Array(embedding.weight.value.scalars[3..<6]))
        y.sum().backward()
        #expect(embedding.weight.grad!.scalars == [0, 0, 0, 2, 2, 2, 0, 0, 0, 0, 0, 0, 1, 1, 1])
        #expect(embedding.namedParameters.map(\.name) == ["weight"])
    }

    @Test func activationModulesMatchTheirOps() {
        let x = Variable(Tensor<Double>([-2, -0.5, 0.5, 2]))
        #expect(ReLU<Double>()(x).value.scalars == [0, 0, 0.5, 2])
        #expect(LeakyReLU<Double>(negativeSlope: 0.1)(x).value.scalars == [-0.2, -0.05, 0.5, 2])
        #expect(Tanh<Double>()(x).value == x.tanh().value)
        #expect(Sigmoid<Double>()(x).value == x.sigmoid().value)
        #expect(SiLU<Double>()(x).value == x.silu().value)
        #expect(GELU<Double>(approximation: .tanh)(x).value == x.gelu(approximation: .tanh).value)
        #expect(ELU<Double>()(x).value == x.elu().value)
        #expect(Softplus<Double>()(x).value == x.softplus().value)
    }

    @Test func sequentialNamesChildrenByIndex() {
        var generator = SeededGenerator(seed: 7)
        let model = Sequential<Double>(Linear(inputSize: 2, outputSize: 2, generator: &generator), ReLU(), BatchNorm(numFeatures: 2))
        #expect(model.namedParameters.map(\.name) == ["0.weight", "0.bias", "2.weight", "2.bias"])
        #expect(model.namedBuffers.map(\.name) == ["2.running_mean", "2.running_var", "2.num_batches_tracked"])
    }
}
