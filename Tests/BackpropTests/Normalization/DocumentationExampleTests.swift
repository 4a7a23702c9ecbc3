import Testing
import Backprop

/// The examples of `docs/normalization.md`, compiled and run.
@Suite("Normalization: documentation examples")
struct DocumentationExampleTests {
    @Test func readmeExamplesRun() {
        var generator = SeededGenerator(seed: 0)
        let tape = Tape<Float>()

        // BatchNorm on images [N, C, H, W]: batch statistics in training, running statistics in evaluation.
        let batchNorm = BatchNorm<Float>(numFeatures: 16)
        let images = tape.constant(Tensor.randomNormal(shape: [8, 16, 4, 4], using: &generator))
        let normalizedImages = batchNorm(images)           // updates running_mean / running_var
        batchNorm.eval()                                   // now uses the running statistics

        // LayerNorm over the model dimension of [batch, sequence, 64].
        let layerNorm = LayerNorm<Float>(normalizedShape: [64])
        let tokens = layerNorm(tape.constant(Tensor.randomNormal(shape: [2, 10, 64], using: &generator)))

        // RMSNorm with LLaMA's eps.
        let rmsNorm = RMSNorm<Float>(normalizedShape: [64], eps: 1e-6)
        let rmsTokens = rmsNorm(tokens)

        // GroupNorm: 32 channels in 8 groups.
        let groupNorm = GroupNorm<Float>(numGroups: 8, numChannels: 32)
        let features = groupNorm(tape.constant(Tensor.randomNormal(shape: [2, 32, 8, 8], using: &generator)))

        // InstanceNorm (no affine, no running statistics by default).
        let instanceNorm = InstanceNorm<Float>(numFeatures: 3)
        let stylized = instanceNorm(tape.constant(Tensor.randomNormal(shape: [1, 3, 16, 16], using: &generator)))

        // Batch Layer Normalization for [batch, sequence, features].
        let batchLayerNorm = BatchLayerNorm<Float>(sampleShape: [10, 64])
        let mixed = batchLayerNorm(tape.constant(Tensor.randomNormal(shape: [4, 10, 64], using: &generator)))

        // Functional forms take weight and bias variables (for example from your own parameters).
        let gamma = Parameter(Tensor<Float>(ones: [64]))
        let y = tokens.layerNorm(normalizedShape: [64], weight: tape.variable(for: gamma))
        #expect(normalizedImages.shape == [8, 16, 4, 4] && rmsTokens.shape == [2, 10, 64] && features.shape == [2, 32, 8, 8])
        #expect(stylized.shape == [1, 3, 16, 16] && mixed.shape == [4, 10, 64] && y.shape == [2, 10, 64])
        #expect(!batchNorm.isTraining)
    }
}
