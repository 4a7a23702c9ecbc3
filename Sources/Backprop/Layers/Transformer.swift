/// The nonlinearity between the two linear layers of a `FeedForward` block.
public enum FeedForwardActivation: Sendable, Equatable {
    /// `max(x, 0)` (PyTorch's default for `nn.TransformerEncoderLayer`).
    case relu
    /// The Gaussian error linear unit, exact or tanh-approximated.
    case gelu(GELUApproximation)
}

/// The position-wise feed-forward block of a Transformer: `linear2(dropout(activation(linear1(x))))`.
///
/// Names as in PyTorch's `nn.TransformerEncoderLayer`: `linear1` `[F, E]` (+ `[F]`), `linear2`
/// `[E, F]` (+ `[E]`), both with `Linear`'s default initialization.
public final class FeedForward<Scalar: TensorScalar>: Module {
    /// `E` → `F`.
    public let linear1: Linear<Scalar>
    /// Dropout after the activation.
    public let dropout: Dropout<Scalar>
    /// `F` → `E`.
    public let linear2: Linear<Scalar>
    /// The nonlinearity.
    public let activation: FeedForwardActivation

    /// Creates a block with `Linear`'s default initialization.
    ///
    /// - Parameters:
    ///   - embedDimension: `E`, the size of the input's and output's last axis.
    ///   - hiddenDimension: `F`, the size of the hidden layer (PyTorch's `dim_feedforward`).
    ///   - activation: `.relu` (default) or `.gelu(_)`.
    ///   - dropout: The probability of zeroing a hidden unit in training.
    ///   - generator: The seeded source of the initial values (and of the dropout seed).
    public init(embedDimension: Int, hiddenDimension: Int, activation: FeedForwardActivation = .relu, dropout: Scalar = 0,
                generator: inout SeededGenerator) {
        linear1 = Linear(inputSize: embedDimension, outputSize: hiddenDimension, generator: &generator)
        self.dropout = Dropout(probability: dropout, seed: generator.next())
        linear2 = Linear(inputSize: hiddenDimension, outputSize: embedDimension, generator: &generator)
        self.activation = activation
    }

    /// Creates a block from given layers (`linear1` `E → F`, `linear2` `F → E`), drawing no random values.
    ///
    /// - Parameters:
    ///   - linear1: `[F, E]` (+ `[F]`).
    ///   - linear2: `[E, F]` (+ `[E]`).
    ///   - activation: The nonlinearity.
    ///   - dropout: The probability of zeroing a hidden unit in training.
    ///   - dropoutSeed: The seed of the dropout masks.
    public init(linear1: Linear<Scalar>, linear2: Linear<Scalar>, activation: FeedForwardActivation = .relu, dropout: Scalar = 0,
                dropoutSeed: UInt64 = 0) {
        guard linear1.weight.shape.reversed() == linear2.weight.shape else {
            usageError("FeedForward", "linear1 [F, E] and linear2 [E, F] must agree, got \(linear1.weight.shape) and \(linear2.weight.shape)")
        }
        self.linear1 = linear1
        self.dropout = Dropout(probability: dropout, seed: dropoutSeed)
        self.linear2 = linear2
        self.activation = activation
    }

    /// `linear2(dropout(activation(linear1(x))))` over the last axis.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        var hidden = linear1(x)
        switch activation {
        case .relu: hidden = hidden.relu()
        case .gelu(let approximation): hidden = hidden.gelu(approximation: approximation)
        }
        return linear2(dropout(hidden))
    }
}

/// Where a `TransformerBlock` normalizes.
public enum NormPlacement: Sendable, Equatable {
    /// The original Transformer (PyTorch's `norm_first=False`): normalize after each residual sum,
    /// `O = LayerNorm(X + SelfAttention(X))`, `H = LayerNorm(O + FFN(O))`.
    case postNorm
    /// Normalize each branch's input and leave the residual stream untouched (`norm_first=True`):
    /// `O = X + SelfAttention(LayerNorm(X))`, `H = O + FFN(LayerNorm(O))`.
    case preNorm
}

/// One Transformer encoder layer: self-attention and a feed-forward block, each with a residual
/// connection and a LayerNorm placed by `placement` (PyTorch's `nn.TransformerEncoderLayer` with
/// `batch_first=True`).
///
/// Post-norm: `O = LayerNorm₁(X + Dropout₁(SelfAttention(X)))`, `H = LayerNorm₂(O + Dropout₂(FFN(O)))`.
/// Pre-norm: `O = X + Dropout₁(SelfAttention(LayerNorm₁(X)))`, `H = O + Dropout₂(FFN(LayerNorm₂(O)))`.
/// (Without dropout, or in evaluation, these are exactly the formulas of `NormPlacement`.)
///
/// `state_dict` names are PyTorch's: `self_attn.in_proj_weight`, `self_attn.in_proj_bias`,
/// `self_attn.out_proj.weight`, `self_attn.out_proj.bias`, `linear1.weight`, `linear1.bias`,
/// `linear2.weight`, `linear2.bias`, `norm1.weight`, `norm1.bias`, `norm2.weight`, `norm2.bias`.
/// To get them, `namedChildren` lists the feed-forward block's children (`linear1`, `dropout`,
/// `linear2`) directly instead of under a `feed_forward` prefix.
public final class TransformerBlock<Scalar: TensorScalar>: Module {
    /// Multi-head self-attention.
    public let selfAttention: MultiHeadAttention<Scalar>
    /// The position-wise feed-forward block (its children appear as `linear1`, `dropout`, `linear2`).
    public let feedForward: FeedForward<Scalar>
    /// The LayerNorm of the attention sublayer.
    public let norm1: LayerNorm<Scalar>
    /// The LayerNorm of the feed-forward sublayer.
    public let norm2: LayerNorm<Scalar>
    /// Dropout on the attention branch before the residual sum.
    public let dropout1: Dropout<Scalar>
    /// Dropout on the feed-forward branch before the residual sum.
    public let dropout2: Dropout<Scalar>
    /// Post-norm or pre-norm.
    public let placement: NormPlacement
    /// Whether self-attention is causal (position `i` sees positions `0…i`), as in a language model.
    public let isCausal: Bool

    /// Creates a block with PyTorch's initialization of each part.
    ///
    /// - Parameters:
    ///   - embedDimension: `E`.
    ///   - headCount: The number of attention heads; must divide `E`.
    ///   - feedForwardDimension: The hidden size of the feed-forward block (PyTorch's `dim_feedforward`).
    ///   - placement: `.postNorm` (PyTorch's default) or `.preNorm`.
    ///   - causal: Mask future positions in self-attention.
    ///   - activation: The feed-forward nonlinearity.
    ///   - dropout: The dropout probability used everywhere (PyTorch's default is 0.1; ours is 0).
    ///   - layerNormEps: ε of both LayerNorms.
    ///   - generator: The seeded source of the initial values.
    public init(embedDimension: Int, headCount: Int, feedForwardDimension: Int, placement: NormPlacement = .postNorm,
                causal: Bool = false, activation: FeedForwardActivation = .relu, dropout: Scalar = 0,
                layerNormEps: Double = 1e-5, generator: inout SeededGenerator) {
        selfAttention = MultiHeadAttention(embedDimension: embedDimension, headCount: headCount, dropout: dropout, generator: &generator)
        feedForward = FeedForward(embedDimension: embedDimension, hiddenDimension: feedForwardDimension, activation: activation,
                                  dropout: dropout, generator: &generator)
        norm1 = LayerNorm(normalizedShape: [embedDimension], eps: layerNormEps)
        norm2 = LayerNorm(normalizedShape: [embedDimension], eps: layerNormEps)
        dropout1 = Dropout(probability: dropout, seed: generator.next())
        dropout2 = Dropout(probability: dropout, seed: generator.next())
        self.placement = placement
        isCausal = causal
    }

    /// Creates a block from given parts, drawing no random values.
    ///
    /// - Parameters:
    ///   - selfAttention: The attention layer (either projection layout).
    ///   - feedForward: The feed-forward block.
    ///   - norm1: The attention sublayer's LayerNorm.
    ///   - norm2: The feed-forward sublayer's LayerNorm.
    ///   - placement: `.postNorm` or `.preNorm`.
    ///   - causal: Mask future positions in self-attention.
    ///   - dropout: The residual-branch dropout probability.
    ///   - dropoutSeed: The seed of the residual-branch dropout masks.
    public init(selfAttention: MultiHeadAttention<Scalar>, feedForward: FeedForward<Scalar>, norm1: LayerNorm<Scalar>,
                norm2: LayerNorm<Scalar>, placement: NormPlacement = .postNorm, causal: Bool = false, dropout: Scalar = 0,
                dropoutSeed: UInt64 = 0) {
        let e = selfAttention.embedDimension
        guard feedForward.linear1.weight.shape[1] == e, norm1.normalizedShape == [e], norm2.normalizedShape == [e] else {
            usageError("TransformerBlock", "parts must share E = \(e): feed-forward input \(feedForward.linear1.weight.shape[1]), norms \(norm1.normalizedShape) and \(norm2.normalizedShape)")
        }
        self.selfAttention = selfAttention
        self.feedForward = feedForward
        self.norm1 = norm1
        self.norm2 = norm2
        var seeds = SeededGenerator(seed: dropoutSeed)
        dropout1 = Dropout(probability: dropout, seed: seeds.next())
        dropout2 = Dropout(probability: dropout, seed: seeds.next())
        self.placement = placement
        isCausal = causal
    }

    /// PyTorch's `nn.TransformerEncoderLayer` children: `self_attn`, `linear1`, `dropout`, `linear2`,
    /// `norm1`, `norm2`, `dropout1`, `dropout2`.
    public var namedChildren: [(name: String, value: Any)] {
        [("self_attn", selfAttention)] + feedForward.namedChildren.filter { $0.value is any Module<Scalar> }
            + [("norm1", norm1), ("norm2", norm2), ("dropout1", dropout1), ("dropout2", dropout2)]
    }

    /// The block applied to `x` `[N, L, E]`, with optional key padding `[N, L]` (`true` = ignore).
    public func callAsFunction(_ x: Variable<Scalar>, keyPaddingMask: [[Bool]]?) -> Variable<Scalar> {
        func attention(_ input: Variable<Scalar>) -> Variable<Scalar> {
            dropout1(selfAttention(input, causal: isCausal, keyPaddingMask: keyPaddingMask))
        }
        switch placement {
        case .postNorm:
            let o = norm1(x + attention(x))
            return norm2(o + dropout2(feedForward(o)))
        case .preNorm:
            let o = x + attention(norm1(x))
            return o + dropout2(feedForward(norm2(o)))
        }
    }

    /// The block applied to `x` `[N, L, E]`.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        self(x, keyPaddingMask: nil)
    }
}

/// Token embeddings plus learned absolute position embeddings (as in GPT-2):
/// `y[n, l] = tokenEmbedding[ids[n, l]] + positionEmbedding[l]`.
///
/// `state_dict` names: `token_embedding.weight` `[vocabularySize, E]` and
/// `position_embedding.weight` `[maximumLength, E]`, both initialized from `N(0, 1)` as
/// `nn.Embedding`.
public final class TokenAndPositionEmbedding<Scalar: TensorScalar>: Module {
    /// The token table.
    public let tokenEmbedding: Embedding<Scalar>
    /// The position table, one row per position `0..<maximumLength`.
    public let positionEmbedding: Embedding<Scalar>

    /// Creates both tables.
    ///
    /// - Parameters:
    ///   - vocabularySize: The number of token ids.
    ///   - maximumLength: The longest sequence (the number of positions).
    ///   - embedDimension: `E`.
    ///   - generator: The seeded source of the initial values.
    public init(vocabularySize: Int, maximumLength: Int, embedDimension: Int, generator: inout SeededGenerator) {
        tokenEmbedding = Embedding(vocabularySize: vocabularySize, dimension: embedDimension, generator: &generator)
        positionEmbedding = Embedding(vocabularySize: maximumLength, dimension: embedDimension, generator: &generator)
    }

    /// Creates the embedding from given tables `[vocabularySize, E]` and `[maximumLength, E]`.
    public init(tokenEmbedding: Embedding<Scalar>, positionEmbedding: Embedding<Scalar>) {
        guard tokenEmbedding.weight.shape[1] == positionEmbedding.weight.shape[1] else {
            usageError("TokenAndPositionEmbedding", "tables must share E, got \(tokenEmbedding.weight.shape) and \(positionEmbedding.weight.shape)")
        }
        self.tokenEmbedding = tokenEmbedding
        self.positionEmbedding = positionEmbedding
    }

    /// The embeddings of `ids` with shape `[N, L]` (row-major), shape `[N, L, E]`; the tables are
    /// read on `tape` (so they receive gradients) or as constants when `tape` is `nil`.
    public func callAsFunction(_ ids: [Int], shape: [Int], on tape: Tape<Scalar>? = nil) -> Variable<Scalar> {
        func table(_ parameter: Parameter<Scalar>) -> Variable<Scalar> {
            tape.map { $0.variable(for: parameter) } ?? Variable(parameter.value)
        }
        return tokenAndPositionEmbedding(ids, shape: shape, tokenTable: table(tokenEmbedding.weight),
                                         positionTable: table(positionEmbedding.weight))
    }

    /// The embeddings of ids stored as values of `x` `[N, L]`, on `x`'s tape; each must be a whole
    /// number in `0..<vocabularySize` (nothing is truncated).
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        self(IndexValidation.integers(x.value, size: tokenEmbedding.weight.shape[0], name: "id", op: "TokenAndPositionEmbedding"),
             shape: x.shape, on: x.tape)
    }
}

/// `tokenTable[ids[n, l]] + positionTable[l]` for ids of shape `[N, L]`, shape `[N, L, E]`: the
/// function `TokenAndPositionEmbedding` computes, with its tables as explicit variables.
///
/// Backward: each token row receives the sum of the output gradients at the positions holding its id;
/// position row `l` receives `Σₙ g[n, l]`.
public func tokenAndPositionEmbedding<Scalar: TensorScalar>(_ ids: [Int], shape: [Int], tokenTable: Variable<Scalar>,
                                                            positionTable: Variable<Scalar>) -> Variable<Scalar> {
    let op = "TokenAndPositionEmbedding"
    guard shape.count == 2, TensorSize.product(shape) == ids.count else {
        usageError(op, "ids must have shape [N, L] with N·L = \(ids.count) ids, got shape \(shape)")
    }
    guard tokenTable.rank == 2, positionTable.rank == 2, tokenTable.shape[1] == positionTable.shape[1] else {
        usageError(op, "tables must be [vocabularySize, E] and [maximumLength, E], got \(tokenTable.shape) and \(positionTable.shape)")
    }
    guard shape[1] <= positionTable.shape[0] else {
        usageError(op, "sequence length \(shape[1]) exceeds maximumLength \(positionTable.shape[0])")
    }
    IndexValidation.checkRange(ids, size: tokenTable.shape[0], name: "id", op: op)
    return tokenTable.embeddingLookup(ids, idShape: shape) + positionTable.slice(alongAxis: 0, range: 0..<shape[1])
}
