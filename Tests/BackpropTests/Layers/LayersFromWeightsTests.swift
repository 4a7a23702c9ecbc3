import Backprop
import Testing

/// Every layer that draws random values by default can instead be built from given tensors, and a
/// module can name its children in a foreign layout.
@Suite("Layers from weights")
struct LayersFromWeightsTests {
    @Test func embeddingFromATable() {
        let table = Tensor<Double>(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6])
        let embedding = Embedding(weight: table)
        #expect(embedding(Variable(Tensor([2, 0]))).value == Tensor(shape: [2, 2], scalars: [5, 6, 1, 2]))
    }

    @Test func transformerBlockFromPartsComputesWhatTheRandomlyBuiltOneDoes() {
        var generator = SeededGenerator(seed: 11)
        let original = TransformerBlock<Double>(embedDimension: 4, headCount: 2, feedForwardDimension: 6, activation: .gelu(.none),
                                                generator: &generator)
        let state = original.stateDict()
        func linear(_ name: String) -> Linear<Double> { Linear(weight: state[name + ".weight"]!, bias: state[name + ".bias"]) }
        let attention = MultiHeadAttention<Double>(
            projections: .stacked(weight: Parameter(state["self_attn.in_proj_weight"]!), bias: Parameter(state["self_attn.in_proj_bias"]!)),
            outProj: linear("self_attn.out_proj"), headCount: 2)
        let rebuilt = TransformerBlock(selfAttention: attention,
                                       feedForward: FeedForward(linear1: linear("linear1"), linear2: linear("linear2"), activation: .gelu(.none)),
                                       norm1: LayerNorm(normalizedShape: [4]), norm2: LayerNorm(normalizedShape: [4]))
        #expect(rebuilt.stateDict() == state)
        let x = Variable(Tensor<Double>(shape: [1, 3, 4], scalars: (0..<12).map { Double($0) / 6 - 1 }))
        #expect(rebuilt(x).value == original(x).value)
    }

    @Test func tokenAndPositionEmbeddingFromTables() {
        let tokens = Embedding(weight: Tensor<Float>(shape: [4, 2], scalars: [0, 0, 1, 1, 2, 2, 3, 3]))
        let positions = Embedding(weight: Tensor<Float>(shape: [3, 2], scalars: [10, 20, 30, 40, 50, 60]))
        let layer = TokenAndPositionEmbedding(tokenEmbedding: tokens, positionEmbedding: positions)
        #expect(layer([3, 1], shape: [1, 2]).value.scalars == [13, 23, 31, 41])
        #expect(layer.stateDict().keys.sorted() == ["position_embedding.weight", "token_embedding.weight"])
    }

    @Test func childrenCanFollowAForeignLayout() {
        final class SelfOutput: Module {
            var isTraining = true
            let dense = Linear(weight: Tensor<Float>(ones: [2, 2]))
            let layerNorm = LayerNorm<Float>(normalizedShape: [2])
            var namedChildren: [(name: String, value: Any)] { reflectedChildren(renaming: ["layer_norm": "LayerNorm"]) }
            func callAsFunction(_ x: Variable<Float>) -> Variable<Float> { layerNorm(dense(x)) }
        }
        #expect(SelfOutput().stateDict().keys.sorted() == ["LayerNorm.bias", "LayerNorm.weight", "dense.weight"])
    }
}
