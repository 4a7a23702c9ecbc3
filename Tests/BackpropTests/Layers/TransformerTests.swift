import Backprop
import Foundation
import Testing

private func block(_ placement: NormPlacement, causal: Bool = false, dropout: Double = 0, seed: UInt64 = 7) -> TransformerBlock<Double> {
    var generator = SeededGenerator(seed: seed)
    return TransformerBlock<Double>(embedDimension: 4, headCount: 2, feedForwardDimension: 6, placement: placement,
                                    causal: causal, dropout: dropout, generator: &generator)
}

private func input(seed: UInt64 = 11) -> Tensor<Double> {
    var generator = SeededGenerator(seed: seed)
    return Tensor.randomNormal(shape: [2, 3, 4], mean: 0.5, standardDeviation: 2, using: &generator)
}

/// Zeroes the output projections of attention and the feed-forward block, so both branches return 0.
private func silenceBranches(_ layer: TransformerBlock<Double>) {
    for parameter in [layer.selfAttention.outProj.weight, layer.selfAttention.outProj.bias!,
                      layer.feedForward.linear2.weight, layer.feedForward.linear2.bias!] {
        parameter.value = Tensor(zeros: parameter.shape)
    }
}

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

/// x[n, l, e] = sin(1 + n·12 + l·4 + e), the input of `Fixtures/make_transformer_fixture.py`.
private let fixtureInput: Tensor<Double> = {
    var scalars: [Double] = []
    for index in 0..<24 { scalars.append(Foundation.sin(Double(1 + index))) }
    return Tensor(shape: [2, 3, 4], scalars: scalars)
}()

@Suite("Transformer blocks and embeddings")
struct TransformerTests {
    // MARK: Against PyTorch

    /// `[placement, causal, PyTorch's output]`, printed by `Fixtures/make_transformer_fixture.py`
    /// (torch 2.15.0, rounded to 14 decimals) for the state_dicts committed beside it.
    static let pytorchOutputs: [(NormPlacement, Bool, [Double])] = [
        (.postNorm, false, [-0.30040063239689, 1.36735356007465, -0.70579071040293, -0.86646855399702, -1.15224368720758, -0.4989997086895,
                            0.25853421453055, 2.27171257162167, -0.14117411375366, -0.34815687464904, -1.40353803666685, 2.14039504755382,
                            -0.85997699063675, 1.2194729979069, 0.50707102661127, -1.04703211363626, -1.02262536441587, -0.58374657791573,
                            0.0387353322469, 2.41316728915823, 0.09965516759675, 0.3003385338329, -1.79691616682172, 1.22132650442026]),
        (.postNorm, true, [-0.68727969483851, 1.42413269953044, -0.20088010011275, -0.82670571858652, -1.1874987647258, -0.48953662405918,
                           0.35770944591903, 2.20631029535016, -0.14117411375366, -0.34815687464904, -1.40353803666685, 2.14039504755382,
                           -1.09072807585259, 1.14174207892282, 0.65336995021862, -0.6791151177612, -1.04206923788899, -0.59422270048365,
                           0.10514595116803, 2.38592424002979, 0.09965516759675, 0.3003385338329, -1.79691616682172, 1.22132650442026]),
        (.preNorm, false, [0.23283955529166, 0.66338213708973, -0.43969189016911, 0.19807328586749, -1.76573337309403, -0.05531624554568,
                           0.60477685249754, 2.06716415515741, -0.22917590330452, -0.72075451010984, -1.65536574049767, 0.47952248845941,
                           -0.02149384433464, 0.56837854478275, 0.01538543210063, 0.61760071305638, -1.77803594523186, -0.36011762586809,
                           0.19361152469016, 1.98229763879956, 0.43758504453746, -0.35105129207401, -1.45631277321099, -0.05144750059645]),
        (.preNorm, true, [0.01746478989757, 1.79634305760543, 0.22994182166899, 0.21535247063273, -1.77085914526913, 0.10274493314753,
                          0.84089797599436, 1.99954480172702, -0.22917590330452, -0.72075451010984, -1.65536574049767, 0.47952248845941,
                          -0.25044946301162, 2.04239294051133, 1.09591330179089, 0.58091532259647, -1.86252743069365, -0.18712527656665,
                          0.42802416192395, 1.9444180036523, 0.43758504453746, -0.35105129207401, -1.45631277321099, -0.05144750059645]),
    ]

    @Test(arguments: 0..<4) func loadsAPyTorchEncoderLayerAndReproducesItsOutput(caseIndex: Int) throws {
        let (placement, causal, expected) = Self.pytorchOutputs[caseIndex]
        let layer = block(placement, causal: causal)
        let name = placement == .postNorm ? "transformer_post_norm_fixture.safetensors" : "transformer_pre_norm_fixture.safetensors"
        let info = try Checkpoint.load(into: layer, fromPath: fixtures.appendingPathComponent(name).path)
        #expect(info == CheckpointInfo(step: 0, metadata: [:]))
        layer.eval()
        expectClose(layer(Variable(fixtureInput)).value, Tensor(shape: [2, 3, 4], scalars: expected), tolerance: 1e-13)
    }

    @Test func stateDictionaryNamesAreTransformerEncoderLayers() {
        // PyTorch: {k: tuple(v.shape) for k, v in nn.TransformerEncoderLayer(4, 2, 6).state_dict().items()}
        let expected = ["self_attn.in_proj_weight[12, 4]", "self_attn.in_proj_bias[12]", "self_attn.out_proj.weight[4, 4]",
                        "self_attn.out_proj.bias[4]", "linear1.weight[6, 4]", "linear1.bias[6]", "linear2.weight[4, 6]",
                        "linear2.bias[4]", "norm1.weight[4]", "norm1.bias[4]", "norm2.weight[4]", "norm2.bias[4]"]
        #expect(block(.preNorm).namedParameters.map { "\($0.name)\($0.parameter.shape)" } == expected)
        #expect(block(.postNorm).namedBuffers.isEmpty)
    }

    // MARK: Placement

    @Test func postNormRowsHaveMeanZeroAndVarianceOne() {
        let y = block(.postNorm)(Variable(input())).value
        for row in 0..<6 {
            let values = Array(y.scalars[(row * 4)..<(row * 4 + 4)])
            let mean = values.reduce(0, +) / 4
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 4
            #expect(Swift.abs(mean) < 1e-12)
            // LayerNorm last with γ = 1, β = 0: σ²_b/(σ²_b + ε), within 1e-4 of 1 for these rows.
            #expect(Swift.abs(variance - 1) < 1e-4)
        }
    }

    @Test func preNormOutputsAreNotNormalized() {
        let y = block(.preNorm)(Variable(input())).value
        let means = (0..<6).map { row in y.scalars[(row * 4)..<(row * 4 + 4)].reduce(0, +) / 4 }
        #expect(means.contains { Swift.abs($0) > 0.1 })
    }

    @Test func preNormWithSilentBranchesIsTheIdentity() {
        // Both branches return 0: H = O = X exactly (the residual stream).
        let layer = block(.preNorm)
        silenceBranches(layer)
        let x = input()
        #expect(layer(Variable(x)).value == x)
    }

    @Test func postNormWithSilentBranchesNormalizesTwice() {
        let layer = block(.postNorm)
        silenceBranches(layer)
        let x = input()
        // By hand: each row (x − μ)/√(σ²_b + ε), applied twice.
        func normalizeRows(_ t: Tensor<Double>) -> Tensor<Double> {
            var out: [Double] = []
            for row in 0..<(t.count / 4) {
                let values = Array(t.scalars[(row * 4)..<(row * 4 + 4)])
                let mean = values.reduce(0, +) / 4
                let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 4
                out += values.map { ($0 - mean) / (variance + 1e-5).squareRoot() }
            }
            return Tensor(shape: t.shape, scalars: out)
        }
        expectClose(layer(Variable(x)).value, normalizeRows(normalizeRows(x)), tolerance: 1e-12)
    }

    @Test(arguments: [NormPlacement.postNorm, .preNorm]) func causalBlockIgnoresFuturePositions(placement: NormPlacement) {
        let layer = block(placement, causal: true)
        let x = input()
        var perturbed = x.scalars
        for e in 0..<4 { perturbed[8 + e] += 5 }   // sample 0, position 2
        let before = layer(Variable(x)).value, after = layer(Variable(Tensor(shape: x.shape, scalars: perturbed))).value
        #expect(Array(before.scalars[0..<8]) == Array(after.scalars[0..<8]))
        #expect(before.scalars[8..<12] != after.scalars[8..<12])
        #expect(Array(before.scalars[12...]) == Array(after.scalars[12...]))
    }

    @Test func evalTurnsOffEveryDropout() {
        let layer = block(.preNorm, dropout: 0.5)
        let droppers = layer.namedModules.filter { $0.module is Dropout<Double> }.map(\.name)
        #expect(droppers.sorted() == ["dropout", "dropout1", "dropout2", "self_attn.dropout"])
        let x = Variable(input())
        #expect(layer(x).value != layer(x).value)
        layer.eval()
        #expect(layer.namedModules.allSatisfy { !$0.module.isTraining })
        #expect(layer(x).value == layer(x).value)
    }

    @Test func everyParameterReceivesAGradient() {
        let layer = block(.postNorm, causal: true)
        let tape = Tape<Double>()
        (layer(tape.constant(input())) * tape.constant(input(seed: 12))).sum().backward()
        for (name, parameter) in layer.namedParameters {
            #expect(parameter.grad?.shape == parameter.shape, "\(name)")
        }
    }

    // MARK: Feed-forward

    @Test(arguments: [(FeedForwardActivation.relu, [1.0, 0]), (.gelu(.none), [0.8413447460685429, -0.04550026389635842])])
    func feedForwardAppliesLinearActivationLinear(activation: FeedForwardActivation, hidden: [Double]) {
        var generator = SeededGenerator(seed: 0)
        let block = FeedForward<Double>(embedDimension: 2, hiddenDimension: 2, activation: activation, generator: &generator)
        block.linear1.weight.value = tensor([2, 2], [1, 0, 0, 1])
        block.linear1.bias!.value = tensor([2], [0, 0])
        block.linear2.weight.value = tensor([2, 2], [2, 3, -1, 1])
        block.linear2.bias!.value = tensor([2], [0.5, -0.5])
        // hidden = act([1, −2]); GELU values Φ(1)·1 and Φ(−2)·(−2) from the normal CDF.
        let y = block(Variable(tensor([1, 2], [1, -2])))
        expectClose(y.value, tensor([1, 2], [2 * hidden[0] + 3 * hidden[1] + 0.5, -hidden[0] + hidden[1] - 0.5]), tolerance: 1e-15)
    }

    // MARK: Embeddings

    @Test func tokenAndPositionEmbeddingAddsTheRows() {
        var generator = SeededGenerator(seed: 1)
        let embedding = TokenAndPositionEmbedding<Double>(vocabularySize: 3, maximumLength: 4, embedDimension: 2, generator: &generator)
        #expect(embedding.namedParameters.map { "\($0.name)\($0.parameter.shape)" } == ["token_embedding.weight[3, 2]", "position_embedding.weight[4, 2]"])
        embedding.tokenEmbedding.weight.value = tensor([3, 2], [1, 2, 10, 20, 100, 200])
        embedding.positionEmbedding.weight.value = tensor([4, 2], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
        let tape = Tape<Double>()
        let y = embedding([2, 0, 0, 1, 2, 2], shape: [2, 3], on: tape)
        expectClose(y.value, tensor([2, 3, 2], [100.1, 200.2, 1.3, 2.4, 1.5, 2.6, 10.1, 20.2, 100.3, 200.4, 100.5, 200.6]), tolerance: 1e-15)
        (y * tape.constant(tensor([2, 3, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]))).sum().backward()
        // Token rows: id 0 at (0,1),(0,2); id 1 at (1,0); id 2 at (0,0),(1,1),(1,2). Positions: sum over the batch.
        #expect(embedding.tokenEmbedding.weight.grad == tensor([3, 2], [3 + 5, 4 + 6, 7, 8, 1 + 9 + 11, 2 + 10 + 12]))
        #expect(embedding.positionEmbedding.weight.grad == tensor([4, 2], [1 + 7, 2 + 8, 3 + 9, 4 + 10, 5 + 11, 6 + 12, 0, 0]))
    }

    @Test func sequencesLongerThanTheMaximumLengthStop() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var generator = SeededGenerator(seed: 1)
            let embedding = TokenAndPositionEmbedding<Double>(vocabularySize: 3, maximumLength: 2, embedDimension: 2, generator: &generator)
            _ = embedding([0, 1, 2], shape: [1, 3])
        }
        #expect(standardError(of: result).contains("TokenAndPositionEmbedding: sequence length 3 exceeds maximumLength 2"))
    }
}
