import Backprop

/// A parameter on `tape` (so it receives a gradient), or a constant without a tape.
func read<Scalar: TensorScalar>(_ parameter: Parameter<Scalar>, on tape: Tape<Scalar>?) -> Variable<Scalar> {
    tape.map { $0.variable(for: parameter) } ?? Variable(parameter.value)
}

/// BERT's input embeddings: `LayerNorm((word[ids] + tokenType[types]) + position[0..<L])`, then
/// dropout (Hugging Face's `BertEmbeddings`).
///
/// `state_dict` names as Hugging Face's: `word_embeddings.weight` `[V, E]`,
/// `position_embeddings.weight` `[P, E]`, `token_type_embeddings.weight` `[T, E]`,
/// `LayerNorm.weight`, `LayerNorm.bias` `[E]`.
public final class BERTEmbeddings<Scalar: TensorScalar>: Module {
    /// The token table `[V, E]`.
    public let wordEmbeddings: Embedding<Scalar>
    /// The position table `[P, E]`.
    public let positionEmbeddings: Embedding<Scalar>
    /// The segment table `[T, E]`.
    public let tokenTypeEmbeddings: Embedding<Scalar>
    /// The LayerNorm of the sum (Hugging Face's `LayerNorm`).
    public let layerNorm: LayerNorm<Scalar>
    /// Dropout after the LayerNorm (active in training only).
    public let dropout: Dropout<Scalar>

    /// Creates the embeddings from tables (the LayerNorm starts at γ = 1, β = 0).
    public init(wordEmbeddings: Embedding<Scalar>, positionEmbeddings: Embedding<Scalar>, tokenTypeEmbeddings: Embedding<Scalar>,
                layerNormEps: Double, dropout: Scalar = 0, dropoutSeed: UInt64 = 0) {
        let e = wordEmbeddings.weight.shape[1]
        precondition(positionEmbeddings.weight.shape[1] == e && tokenTypeEmbeddings.weight.shape[1] == e,
                     "BERTEmbeddings: tables \(wordEmbeddings.weight.shape), \(positionEmbeddings.weight.shape) and \(tokenTypeEmbeddings.weight.shape) must share E")
        self.wordEmbeddings = wordEmbeddings
        self.positionEmbeddings = positionEmbeddings
        self.tokenTypeEmbeddings = tokenTypeEmbeddings
        layerNorm = LayerNorm(normalizedShape: [e], eps: layerNormEps)
        self.dropout = Dropout(probability: dropout, seed: dropoutSeed)
    }

    /// Hugging Face's names (`LayerNorm` rather than `layer_norm`).
    public var namedChildren: [(name: String, value: Any)] { reflectedChildren(renaming: ["layer_norm": "LayerNorm"]) }

    /// The embeddings of a batch `[N, L]`, shape `[N, L, E]`; the tables are read on `tape`.
    public func callAsFunction(_ batch: TokenizedBatch, on tape: Tape<Scalar>?) -> Variable<Scalar> {
        let op = "BERTEmbeddings"
        let (vocabulary, positions, types) = (wordEmbeddings.weight.shape[0], positionEmbeddings.weight.shape[0], tokenTypeEmbeddings.weight.shape[0])
        precondition(batch.length <= positions, "\(op): sequence length \(batch.length) exceeds the \(positions) learned positions")
        if let bad = batch.ids.first(where: { !(0..<vocabulary).contains($0) }) {
            preconditionFailure("\(op): token id \(bad) is outside the vocabulary 0..<\(vocabulary)")
        }
        if let bad = batch.tokenTypeIDs.first(where: { !(0..<types).contains($0) }) {
            preconditionFailure("\(op): token type \(bad) is outside 0..<\(types)")
        }
        let shape = [batch.batchSize, batch.length]
        let words = read(wordEmbeddings.weight, on: tape).embeddingLookup(batch.ids, idShape: shape)
        let segments = read(tokenTypeEmbeddings.weight, on: tape).embeddingLookup(batch.tokenTypeIDs, idShape: shape)
        let position = read(positionEmbeddings.weight, on: tape).slice(alongAxis: 0, range: 0..<batch.length)
        return dropout(layerNorm((words + segments) + position))
    }

    /// The embeddings of ids stored as (integral) values of `x` `[N, L]`, token type 0, no padding.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        precondition(x.rank == 2, "BERTEmbeddings: ids must have shape [N, L], got \(x.shape)")
        let ids = x.value.scalars.map { Int($0) }
        let batch = TokenizedBatch(ids: ids, batchSize: x.shape[0], length: x.shape[1],
                                   attentionMask: Array(repeating: Array(repeating: true, count: x.shape[1]), count: x.shape[0]),
                                   tokenTypeIDs: Array(repeating: 0, count: ids.count))
        return self(batch, on: x.tape)
    }
}

/// One BERT encoder layer: the library's post-norm `TransformerBlock` with separate query, key and
/// value projections, exact GELU and Hugging Face's names.
///
/// `O = LayerNorm(X + Dropout(Attention(X)))`, `H = LayerNorm(O + Dropout(W₂·GELU(W₁·O)))`. Names:
/// `attention.self.{query,key,value}`, `attention.output.dense` (the output projection),
/// `attention.output.LayerNorm`, `intermediate.dense` (`W₁`), `output.dense` (`W₂`),
/// `output.LayerNorm`.
public final class BERTLayer<Scalar: TensorScalar>: Module {
    /// The block that computes the layer.
    public let block: TransformerBlock<Scalar>

    /// Training (dropout active) or evaluation mode, passed on to the block.
    public var isTraining: Bool {
        get { block.isTraining }
        set { block.setTraining(newValue) }
    }

    /// Wraps a post-norm block whose attention has separate projections.
    public init(block: TransformerBlock<Scalar>) {
        precondition(block.placement == .postNorm && block.selfAttention.query != nil,
                     "BERTLayer: the block must be post-norm with separate query, key and value projections")
        self.block = block
    }

    /// Hugging Face's `BertLayer` names.
    public var namedChildren: [(name: String, value: Any)] {
        let attention = block.selfAttention
        return [("attention.self.query", attention.query!), ("attention.self.key", attention.key!),
                ("attention.self.value", attention.value!), ("attention.output.dense", attention.outProj),
                ("attention.output.LayerNorm", block.norm1), ("intermediate.dense", block.feedForward.linear1),
                ("output.dense", block.feedForward.linear2), ("output.LayerNorm", block.norm2)]
    }

    /// The layer applied to `x` `[N, L, E]`; `padding[n][l]` is `true` for keys to ignore.
    public func callAsFunction(_ x: Variable<Scalar>, keyPaddingMask padding: [[Bool]]?) -> Variable<Scalar> {
        block(x, keyPaddingMask: padding)
    }

    /// The layer without padding.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> { block(x) }
}

/// A BERT-family encoder (Hugging Face's `BertModel`): embeddings, `layerCount` post-norm
/// Transformer layers, and optionally the pooler `tanh(W·h[CLS] + b)`.
///
/// Parameter names are Hugging Face's (`embeddings.word_embeddings.weight`,
/// `encoder.layer.0.attention.self.query.weight`, …, `pooler.dense.weight`), so a model folder loads
/// by name: `try BERTModel<Float>(contentsOfDirectory: path)`.
public final class BERTModel<Scalar: TensorScalar>: Module {
    /// The architecture.
    public let configuration: BERTConfiguration
    /// The input embeddings.
    public let embeddings: BERTEmbeddings<Scalar>
    /// The encoder layers (`encoder.layer.N`).
    public let layers: [BERTLayer<Scalar>]
    /// The pooler's dense layer (`pooler.dense`), or `nil` for a checkpoint without one.
    public let pooler: Linear<Scalar>?

    /// Creates a model with all-zero weights, to be loaded (no random values are drawn); the
    /// LayerNorms start at γ = 1, β = 0.
    ///
    /// - Parameters:
    ///   - configuration: The architecture (validated; a bad one stops with its message).
    ///   - includingPooler: Create the pooler.
    public convenience init(configuration: BERTConfiguration, includingPooler: Bool = true) {
        self.init(configuration: configuration, includingPooler: includingPooler, dropoutSeed: 0) { Tensor(zeros: [$0, $1]) }
    }

    /// Creates a model with Hugging Face's initialization: weights from `N(0, 0.02²)`, biases 0,
    /// LayerNorms γ = 1, β = 0.
    ///
    /// - Parameters:
    ///   - configuration: The architecture (validated; a bad one stops with its message).
    ///   - includingPooler: Create the pooler.
    ///   - generator: The seeded source of the initial values and dropout seeds.
    public convenience init(configuration: BERTConfiguration, includingPooler: Bool = true, generator: inout SeededGenerator) {
        self.init(configuration: configuration, includingPooler: includingPooler, dropoutSeed: generator.next()) {
            Tensor.randomNormal(shape: [$0, $1], standardDeviation: 0.02, using: &generator)
        }
    }

    /// Creates the model with every weight matrix from `table(rows, columns)`.
    init(configuration: BERTConfiguration, includingPooler: Bool, dropoutSeed: UInt64, table: (Int, Int) -> Tensor<Scalar>) {
        do { try configuration.validate(path: "(in memory)") } catch { preconditionFailure("\(error)") }
        let c = configuration
        func linear(_ input: Int, _ output: Int) -> Linear<Scalar> { Linear(weight: table(output, input), bias: Tensor(zeros: [output])) }
        var seeds = SeededGenerator(seed: dropoutSeed)
        embeddings = BERTEmbeddings(wordEmbeddings: Embedding(weight: table(c.vocabularySize, c.hiddenSize)),
                                    positionEmbeddings: Embedding(weight: table(c.maximumPositions, c.hiddenSize)),
                                    tokenTypeEmbeddings: Embedding(weight: table(c.tokenTypeCount, c.hiddenSize)),
                                    layerNormEps: c.layerNormEps, dropout: Scalar(c.hiddenDropout), dropoutSeed: seeds.next())
        let activation: FeedForwardActivation = switch c.activation! {
        case .geluExact: .gelu(.none)
        case .geluTanh: .gelu(.tanh)
        case .relu: .relu
        }
        layers = (0..<c.layerCount).map { _ in
            let attention = MultiHeadAttention(
                projections: .separate(query: linear(c.hiddenSize, c.hiddenSize), key: linear(c.hiddenSize, c.hiddenSize),
                                       value: linear(c.hiddenSize, c.hiddenSize)),
                outProj: linear(c.hiddenSize, c.hiddenSize), headCount: c.headCount, dropout: Scalar(c.attentionDropout),
                dropoutSeed: seeds.next())
            let feedForward = FeedForward(linear1: linear(c.hiddenSize, c.intermediateSize), linear2: linear(c.intermediateSize, c.hiddenSize),
                                          activation: activation)
            return BERTLayer(block: TransformerBlock(selfAttention: attention, feedForward: feedForward,
                                                     norm1: LayerNorm(normalizedShape: [c.hiddenSize], eps: c.layerNormEps),
                                                     norm2: LayerNorm(normalizedShape: [c.hiddenSize], eps: c.layerNormEps),
                                                     dropout: Scalar(c.hiddenDropout), dropoutSeed: seeds.next()))
        }
        pooler = includingPooler ? linear(c.hiddenSize, c.hiddenSize) : nil
        self.configuration = configuration
    }

    /// Loads a Hugging Face model folder: `config.json` and `model.safetensors` (or a sharded
    /// `model.safetensors.index.json`).
    ///
    /// Names may carry a `bert.` prefix (checkpoints of `BertFor…` models); the non-persistent
    /// `embeddings.position_ids` buffer is ignored, and legacy `LayerNorm.gamma`/`beta` names are
    /// read as `weight`/`bias`. Any other name is matched strictly unless `strict` is false (a
    /// task head such as `cls.predictions…` is then reported in the result and ignored). The
    /// pooler is created when the checkpoint has one.
    ///
    /// - Parameters:
    ///   - path: The folder.
    ///   - strict: Require every checkpoint tensor to be used.
    /// - Throws: `BERTError`.
    public convenience init(contentsOfDirectory path: String, strict: Bool = true) throws(BERTError) {
        let directory = path.hasSuffix("/") ? path : path + "/"
        let configuration = try BERTConfiguration(contentsOfPath: directory + "config.json")
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(checkpointAt: directory) } catch { throw .checkpoint(error) }
        let mapping = Self.huggingFaceKeyMapping
        let hasPooler = file.tensors.keys.contains { mapping($0) == "pooler.dense.weight" }
        self.init(configuration: configuration, includingPooler: hasPooler)
        do { try loadStateDict(file, strict: strict, keyMapping: mapping) } catch { throw .stateDict(error) }
    }

    /// The names of Hugging Face BERT checkpoints mapped to this model's: `bert.` stripped,
    /// `embeddings.position_ids` dropped, `gamma`/`beta` read as `weight`/`bias`.
    public static var huggingFaceKeyMapping: StateDictKeyMapping {
        StateDictKeyMapping.strippingPrefix("bert.")
            .followed(by: StateDictKeyMapping { $0 == "embeddings.position_ids" ? nil : $0 })
            .followed(by: .renaming(["LayerNorm.gamma": "LayerNorm.weight", "LayerNorm.beta": "LayerNorm.bias"]))
    }

    /// Hugging Face's `BertModel` names.
    public var namedChildren: [(name: String, value: Any)] {
        var children: [(name: String, value: Any)] = [("embeddings", embeddings), ("encoder.layer", layers)]
        if let pooler { children.append(("pooler.dense", pooler)) }
        return children
    }

    /// The last hidden state `[N, L, E]` of a batch, recorded on `tape` (constants when `nil`).
    public func callAsFunction(_ batch: TokenizedBatch, on tape: Tape<Scalar>? = nil) -> Variable<Scalar> {
        let padding = batch.attentionMask.allSatisfy { $0.allSatisfy { $0 } } ? nil : batch.attentionMask.map { $0.map { !$0 } }
        var hidden = embeddings(batch, on: tape)
        for layer in layers { hidden = layer(hidden, keyPaddingMask: padding) }
        return hidden
    }

    /// The pooler's output `tanh(W·h[:, 0] + b)` `[N, E]` of a last hidden state `[N, L, E]`.
    public func pooledOutput(_ hidden: Variable<Scalar>) -> Variable<Scalar> {
        guard let pooler else { preconditionFailure("BERTModel.pooledOutput: this model has no pooler (its checkpoint had none)") }
        return pooler(hidden.slice(alongAxis: 1, range: 0..<1).reshaped(to: [hidden.shape[0], hidden.shape[2]])).tanh()
    }

    /// The last hidden state for ids stored as (integral) values of `x` `[N, L]`, with no padding.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        var hidden = embeddings(x)
        for layer in layers { hidden = layer(hidden) }
        return hidden
    }
}
