/// The additive attention mask for scores of shape `[N, H, L, S]`: 1 where a query may not look at a
/// key (a future position under `causal`, a padded key under `keyPaddingMask`), 0 elsewhere, shaped
/// to broadcast against the scores; `nil` when nothing is masked.
///
/// The causal mask is PyTorch's `is_causal` (top-left aligned): query `i` sees keys `j ≤ i`.
func attentionMask<Scalar: TensorScalar>(batchSize: Int, queryLength: Int, keyLength: Int, causal: Bool,
                                         keyPaddingMask: [[Bool]]?, op: String) -> Tensor<Scalar>? {
    var mask: Tensor<Scalar>?
    if causal {
        var scalars = [Scalar](repeating: 0, count: queryLength * keyLength)
        for i in 0..<queryLength { for j in (i + 1)..<Swift.max(i + 1, keyLength) { scalars[i * keyLength + j] = 1 } }
        mask = Tensor(shape: [1, 1, queryLength, keyLength], scalars: scalars)
    }
    if let keyPaddingMask {
        guard keyPaddingMask.count == batchSize, keyPaddingMask.allSatisfy({ $0.count == keyLength }) else {
            shapeError(op, "keyPaddingMask must have shape [N, S] = [\(batchSize), \(keyLength)], got \(keyPaddingMask.count) rows of lengths \(keyPaddingMask.map(\.count))")
        }
        let padding = Tensor<Scalar>(shape: [batchSize, 1, 1, keyLength],
                                     scalars: keyPaddingMask.flatMap { $0.map { $0 ? 1 : 0 } })
        mask = mask.map { (($0 + padding) .!= Tensor(0)) } ?? padding
    }
    return mask
}

/// Scaled dot-product attention `softmax(Q·Kᵀ/√d)·V` over the last two axes (PyTorch's
/// `F.scaled_dot_product_attention`), composed from `matmul`, `maskedFill` and `softmax`, whose
/// backward passes are already verified.
///
/// Masked scores are set to −∞ before the softmax, as PyTorch does, so masked keys get weight exactly
/// 0. A query whose keys are all masked attends to nothing: its output row and the gradients through
/// it are 0, as PyTorch 2.x's `scaled_dot_product_attention` returns (a plain softmax over −∞ only
/// would give NaN); `multiHeadAttention` inherits this, as `nn.MultiheadAttention` with
/// `need_weights=False` (which calls `scaled_dot_product_attention`).
///
/// - Parameters:
///   - query: `[N, H, L, d]`.
///   - key: `[N, H, S, d]`.
///   - value: `[N, H, S, dᵥ]`.
///   - causal: Mask keys after each query's position (query `i` sees keys `0…i`).
///   - keyPaddingMask: `[N, S]`, `true` for keys to ignore (padding).
///   - attentionDropout: Applied to the attention weights (PyTorch's `dropout_p`), or `nil`.
/// - Returns: `[N, H, L, dᵥ]`.
public func scaledDotProductAttention<Scalar: TensorScalar>(
    query: Variable<Scalar>, key: Variable<Scalar>, value: Variable<Scalar>, causal: Bool = false,
    keyPaddingMask: [[Bool]]? = nil, attentionDropout: ((Variable<Scalar>) -> Variable<Scalar>)? = nil
) -> Variable<Scalar> {
    guard query.rank == 4, key.rank == 4, value.rank == 4,
          key.shape[0] == query.shape[0], value.shape[0] == query.shape[0],
          key.shape[1] == query.shape[1], value.shape[1] == query.shape[1],
          key.shape[3] == query.shape[3], value.shape[2] == key.shape[2] else {
        shapeError("scaledDotProductAttention", "query [N, H, L, d], key [N, H, S, d] and value [N, H, S, dᵥ] must agree, got \(query.shape), \(key.shape) and \(value.shape)")
    }
    let (batchSize, queryLength, keyLength, headDimension) = (query.shape[0], query.shape[2], key.shape[2], query.shape[3])
    let scores = query.matmul(key.transposed()) * Scalar(1 / Double(headDimension).squareRoot())
    var weights: Variable<Scalar>
    if let mask: Tensor<Scalar> = attentionMask(batchSize: batchSize, queryLength: queryLength, keyLength: keyLength,
                                                causal: causal, keyPaddingMask: keyPaddingMask, op: "scaledDotProductAttention") {
        // Rows with every key masked keep their scores (so their softmax is finite) and are zeroed below.
        let fullyMasked = mask.sum(alongAxes: [mask.rank - 1], keepDims: true) .== Tensor(Scalar(keyLength))
        weights = scores.maskedFill(where: mask * (1 - fullyMasked), with: -Scalar.infinity).softmax(alongAxis: -1)
            .maskedFill(where: fullyMasked, with: 0)
    } else {
        weights = scores.softmax(alongAxis: -1)
    }
    if let attentionDropout { weights = attentionDropout(weights) }
    return weights.matmul(value)
}

/// Multi-head attention with PyTorch's `nn.MultiheadAttention` layout, as a function of its weights.
///
/// With `E = embedDimension`, `H` heads of size `d = E/H`, `W = inProjWeight` split into three `[E, E]`
/// blocks `W_q, W_k, W_v` (and `b = inProjBias` into `b_q, b_k, b_v`):
/// `Q = query·W_qᵀ + b_q`, `K = key·W_kᵀ + b_k`, `V = value·W_vᵀ + b_v`, each split into heads
/// (`[N, L, E]` → `[N, H, L, d]`), `A = softmax(Q·Kᵀ/√d)·V` per head, heads concatenated back to
/// `[N, L, E]`, then `A·W_oᵀ + b_o`. `MultiHeadAttention` calls this with its parameters; the
/// gradient-check catalog calls it with its weights as inputs.
///
/// - Parameters:
///   - query: `[N, L, E]` (batch first).
///   - key: `[N, S, E]`.
///   - value: `[N, S, E]`.
///   - headCount: `H`, which must divide `E`.
///   - inProjWeight: `[3E, E]`.
///   - inProjBias: `[3E]`, or `nil`.
///   - outProjWeight: `[E, E]`.
///   - outProjBias: `[E]`, or `nil`.
///   - causal: Query `i` attends only to keys `0…i`.
///   - keyPaddingMask: `[N, S]`, `true` for keys to ignore.
///   - attentionDropout: Applied to the attention weights, or `nil`.
/// - Returns: `[N, L, E]`.
public func multiHeadAttention<Scalar: TensorScalar>(
    query: Variable<Scalar>, key: Variable<Scalar>, value: Variable<Scalar>, headCount: Int,
    inProjWeight: Variable<Scalar>, inProjBias: Variable<Scalar>?, outProjWeight: Variable<Scalar>, outProjBias: Variable<Scalar>?,
    causal: Bool = false, keyPaddingMask: [[Bool]]? = nil,
    attentionDropout: ((Variable<Scalar>) -> Variable<Scalar>)? = nil
) -> Variable<Scalar> {
    let op = "multiHeadAttention"
    let embedDimension = inProjWeight.rank == 2 ? inProjWeight.shape[1] : -1
    guard embedDimension > 0, inProjWeight.shape[0] == 3 * embedDimension else {
        shapeError(op, "inProjWeight must have shape [3E, E], got \(inProjWeight.shape)")
    }
    guard headCount > 0, embedDimension % headCount == 0 else {
        shapeError(op, "headCount \(headCount) must be positive and divide embedDimension \(embedDimension)")
    }
    if let inProjBias, inProjBias.shape != [3 * embedDimension] {
        shapeError(op, "inProjBias must have shape [\(3 * embedDimension)], got \(inProjBias.shape)")
    }
    guard outProjWeight.shape == [embedDimension, embedDimension], outProjBias.map({ $0.shape == [embedDimension] }) ?? true else {
        shapeError(op, "outProjWeight must have shape [\(embedDimension), \(embedDimension)] and outProjBias [\(embedDimension)], got \(outProjWeight.shape) and \(outProjBias?.shape ?? [])")
    }
    for (name, input) in [("query", query), ("key", key), ("value", value)] where input.rank != 3 || input.shape[2] != embedDimension {
        shapeError(op, "\(name) must have shape [N, length, \(embedDimension)], got \(input.shape)")
    }
    guard key.shape[0] == query.shape[0], value.shape[0] == query.shape[0], value.shape[1] == key.shape[1] else {
        shapeError(op, "query [N, L, E], key [N, S, E] and value [N, S, E] must agree, got \(query.shape), \(key.shape) and \(value.shape)")
    }
    let headDimension = embedDimension / headCount

    /// `x·W[part]ᵀ + b[part]`, split into heads: `[N, length, E]` → `[N, H, length, d]`.
    func project(_ x: Variable<Scalar>, part: Int) -> Variable<Scalar> {
        let rows = (part * embedDimension)..<((part + 1) * embedDimension)
        let y = x.affine(weight: inProjWeight.slice(alongAxis: 0, range: rows),
                         bias: inProjBias?.slice(alongAxis: 0, range: rows))
        return y.reshaped(to: [x.shape[0], x.shape[1], headCount, headDimension]).permuted([0, 2, 1, 3])
    }
    let heads = scaledDotProductAttention(query: project(query, part: 0), key: project(key, part: 1),
                                          value: project(value, part: 2), causal: causal,
                                          keyPaddingMask: keyPaddingMask, attentionDropout: attentionDropout)
    let concatenated = heads.permuted([0, 2, 1, 3]).reshaped(to: [query.shape[0], query.shape[1], embedDimension])
    return concatenated.affine(weight: outProjWeight, bias: outProjBias)
}

/// Multi-head attention (PyTorch's `nn.MultiheadAttention` with `batch_first=True`).
///
/// Parameters and their `state_dict` names as PyTorch's: `in_proj_weight` `[3E, E]` (the query, key
/// and value projections stacked), `in_proj_bias` `[3E]`, `out_proj.weight` `[E, E]`,
/// `out_proj.bias` `[E]`. Initialization as PyTorch's: Xavier-uniform `in_proj_weight`
/// (`U(−a, a)`, `a = √(6/(E + 3E))`), zero `in_proj_bias`, `out_proj` with `Linear`'s default
/// initialization and then a zero bias.
///
/// The formulas are those of `multiHeadAttention(query:key:value:headCount:…)`; dropout (active only
/// in training) is applied to the attention weights, as PyTorch does.
public final class MultiHeadAttention<Scalar: TensorScalar>: Module {
    /// `[3E, E]`: the query, key and value projection weights, stacked in that order.
    public let inProjWeight: Parameter<Scalar>
    /// `[3E]`, or `nil` without bias.
    public let inProjBias: Parameter<Scalar>?
    /// The output projection `[E, E]` (+ `[E]`).
    public let outProj: Linear<Scalar>
    /// Dropout on the attention weights (no parameters, so not in the `state_dict`).
    public let dropout: Dropout<Scalar>
    /// The number of heads `H`.
    public let headCount: Int
    /// Training (dropout active) or evaluation mode.
    public var isTraining = true

    /// The embedding dimension `E`.
    public var embedDimension: Int { inProjWeight.shape[1] }

    /// Creates a layer with PyTorch's initialization.
    ///
    /// - Parameters:
    ///   - embedDimension: `E`, the size of the last axis of the inputs and the output.
    ///   - headCount: `H`, which must divide `E`; each head has dimension `E/H`.
    ///   - bias: Learn the input and output projection biases.
    ///   - dropout: The probability of zeroing an attention weight in training.
    ///   - generator: The seeded source of the initial values (and of the dropout seed).
    public init(embedDimension: Int, headCount: Int, bias: Bool = true, dropout: Scalar = 0, generator: inout SeededGenerator) {
        guard embedDimension > 0, headCount > 0, embedDimension % headCount == 0 else {
            shapeError("MultiHeadAttention", "headCount \(headCount) must be positive and divide embedDimension \(embedDimension) (> 0)")
        }
        Tensor<Scalar>.validate(shape: [3, embedDimension, embedDimension], op: "MultiHeadAttention")   // before 3E, 4E are formed
        let bound = Scalar((6 / Double(4 * embedDimension)).squareRoot())
        inProjWeight = Parameter(Tensor.randomUniform(shape: [3 * embedDimension, embedDimension], in: -bound..<bound, using: &generator))
        inProjBias = bias ? Parameter(Tensor(zeros: [3 * embedDimension])) : nil
        outProj = Linear(inputSize: embedDimension, outputSize: embedDimension, bias: bias, generator: &generator)
        outProj.bias?.value = Tensor(zeros: [embedDimension])
        self.dropout = Dropout(probability: dropout, seed: generator.next())
        self.headCount = headCount
    }

    /// Attention of `query` `[N, L, E]` over `key` and `value` `[N, S, E]`; returns `[N, L, E]`.
    ///
    /// - Parameters:
    ///   - query: `[N, L, E]`.
    ///   - key: `[N, S, E]`.
    ///   - value: `[N, S, E]`.
    ///   - causal: Query `i` attends only to keys `0…i`.
    ///   - keyPaddingMask: `[N, S]`, `true` for keys to ignore (their scores become −∞).
    public func callAsFunction(query: Variable<Scalar>, key: Variable<Scalar>, value: Variable<Scalar>,
                               causal: Bool = false, keyPaddingMask: [[Bool]]? = nil) -> Variable<Scalar> {
        let anchor = query.tape != nil ? query : key.tape != nil ? key : value
        return multiHeadAttention(query: query, key: key, value: value, headCount: headCount,
                                  inProjWeight: lift(inProjWeight, for: anchor)!, inProjBias: lift(inProjBias, for: anchor),
                                  outProjWeight: lift(outProj.weight, for: anchor)!, outProjBias: lift(outProj.bias, for: anchor),
                                  causal: causal, keyPaddingMask: keyPaddingMask,
                                  attentionDropout: dropout.probability > 0 && isTraining ? { self.dropout($0) } : nil)
    }

    /// Self-attention: `x` `[N, L, E]` as query, key and value.
    public func callAsFunction(_ x: Variable<Scalar>, causal: Bool, keyPaddingMask: [[Bool]]? = nil) -> Variable<Scalar> {
        self(query: x, key: x, value: x, causal: causal, keyPaddingMask: keyPaddingMask)
    }

    /// Self-attention without masks.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        self(query: x, key: x, value: x)
    }
}
