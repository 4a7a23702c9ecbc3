/// The Boolean mask of blocked scores `[N, H, L, S]`: 1 where a query may not look at a
/// key (a future position under `causal`, a padded key under `keyPaddingMask`), 0 elsewhere, shaped
/// to broadcast against the scores; `nil` when nothing is masked.
///
/// The causal mask is PyTorch's `is_causal` (top-left aligned): query `i` sees keys `j ≤ i`.
func blockedScores<Scalar: TensorScalar>(batchSize: Int, queryLength: Int, keyLength: Int, causal: Bool,
                                         keyPaddingMask: [[Bool]]?, op: String) -> Tensor<Scalar>? {
    var mask: Tensor<Scalar>?
    if causal {
        var scalars = [Scalar](repeating: 0, count: queryLength * keyLength)
        for i in 0..<queryLength { for j in (i + 1)..<Swift.max(i + 1, keyLength) { scalars[i * keyLength + j] = 1 } }
        mask = Tensor(shape: [1, 1, queryLength, keyLength], scalars: scalars)
    }
    if let keyPaddingMask {
        guard keyPaddingMask.count == batchSize, keyPaddingMask.allSatisfy({ $0.count == keyLength }) else {
            usageError(op, "keyPaddingMask must have shape [N, S] = [\(batchSize), \(keyLength)], got \(keyPaddingMask.count) rows of lengths \(keyPaddingMask.map(\.count))")
        }
        let padding = Tensor<Scalar>(shape: [batchSize, 1, 1, keyLength],
                                     scalars: keyPaddingMask.flatMap { $0.map { $0 ? 1 : 0 } })
        mask = mask.map { (($0 + padding) .!= Tensor(0)) } ?? padding
    }
    return mask
}

/// Scaled dot-product attention `softmax(Q·Kᵀ/√d + M)·V` over the last two axes (PyTorch's
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
///   - attentionMask: An additive or Boolean mask of the scores (see `AttentionMask`).
///   - attentionDropout: Applied to the attention weights (PyTorch's `dropout_p`), or `nil`.
/// - Returns: `[N, H, L, dᵥ]`.
public func scaledDotProductAttention<Scalar: TensorScalar>(
    query: Variable<Scalar>, key: Variable<Scalar>, value: Variable<Scalar>, causal: Bool = false,
    keyPaddingMask: [[Bool]]? = nil, attentionMask: AttentionMask<Scalar>? = nil,
    attentionDropout: ((Variable<Scalar>) -> Variable<Scalar>)? = nil
) -> Variable<Scalar> {
    scaledDotProductAttentionWithWeights(query: query, key: key, value: value, causal: causal, keyPaddingMask: keyPaddingMask,
                                         attentionMask: attentionMask, attentionDropout: attentionDropout).output
}

/// `scaledDotProductAttention` that also returns the attention weights `[N, H, L, S]` (after dropout,
/// as PyTorch returns them).
func scaledDotProductAttentionWithWeights<Scalar: TensorScalar>(
    query: Variable<Scalar>, key: Variable<Scalar>, value: Variable<Scalar>, causal: Bool,
    keyPaddingMask: [[Bool]]?, attentionMask: AttentionMask<Scalar>?,
    attentionDropout: ((Variable<Scalar>) -> Variable<Scalar>)?
) -> (output: Variable<Scalar>, weights: Variable<Scalar>) {
    let op = "scaledDotProductAttention"
    guard query.rank == 4, key.rank == 4, value.rank == 4,
          key.shape[0] == query.shape[0], value.shape[0] == query.shape[0],
          key.shape[1] == query.shape[1], value.shape[1] == query.shape[1],
          key.shape[3] == query.shape[3], value.shape[2] == key.shape[2] else {
        usageError(op, "query [N, H, L, d], key [N, H, S, d] and value [N, H, S, dᵥ] must agree, got \(query.shape), \(key.shape) and \(value.shape)")
    }
    let (batchSize, headCount, queryLength, keyLength, headDimension) = (query.shape[0], query.shape[1], query.shape[2], key.shape[2], query.shape[3])
    var additive: Tensor<Scalar>?
    var blocked: Tensor<Scalar>? = blockedScores(batchSize: batchSize, queryLength: queryLength, keyLength: keyLength,
                                                 causal: causal, keyPaddingMask: keyPaddingMask, op: op)
    if let attentionMask {
        switch attentionMask.resolved(batchSize: batchSize, headCount: headCount, queryLength: queryLength, keyLength: keyLength, op: op) {
        case .additive(let mask):
            // −∞ entries block their keys (a row of them gives 0, as a blocking mask does); the rest add.
            let infinite = mask .== Tensor(-Scalar.infinity)
            additive = Tensor.select(infinite, Tensor(0), mask)
            blocked = blocked.map { (($0 + infinite) .!= Tensor(0)) } ?? infinite
        case .blocking(let mask): blocked = blocked.map { (($0 + mask) .!= Tensor(0)) } ?? mask
        }
    }
    // Q·Kᵀ reads K transposed in place; scaling, masks and softmax are one op.
    let scores = query.matmul(key, transposingFirst: false, transposingSecond: true)
    var weights = scores.attentionWeights(scale: Scalar(1 / Double(headDimension).squareRoot()), additive: additive,
                                          blocked: blocked)
    if let attentionDropout { weights = attentionDropout(weights) }
    return (weights.matmul(value), weights)
}

/// A mask of the attention scores `[N, H, L, S]` given as data: additive (Hugging Face's extended
/// attention mask, PyTorch's float `attn_mask`) or Boolean (PyTorch's `nn.MultiheadAttention` Boolean
/// `attn_mask`, where `true` means *may not attend*).
///
/// Accepted shapes, as PyTorch's: `[L, S]` (the same for every sample and head), `[N·H, L, S]`
/// (one per sample and head), or any shape that broadcasts against `[N, H, L, S]`, such as
/// Hugging Face's `[N, 1, 1, S]`.
public struct AttentionMask<Scalar: TensorScalar>: Sendable {
    enum Kind: Sendable {
        case additive(Tensor<Scalar>)
        case blocking(Tensor<Scalar>)
    }

    let kind: Kind

    /// Added to the scores before the softmax: 0 keeps a position, −∞ (or a large negative
    /// number such as Hugging Face's `finfo.min`) removes it.
    public static func additive(_ mask: Tensor<Scalar>) -> AttentionMask { AttentionMask(kind: .additive(mask)) }

    /// Removes the positions where `blocked` is non-zero (their scores become −∞).
    public static func blocking(_ blocked: Tensor<Scalar>) -> AttentionMask { AttentionMask(kind: .blocking(blocked)) }

    /// Removes the positions where `blocked[i][j]` is `true`: query `i` may not attend to key `j`
    /// (`[L, S]`, the same for every sample and head).
    public static func blocking(_ blocked: [[Bool]]) -> AttentionMask {
        let columns = blocked.first?.count ?? 0
        for (i, row) in blocked.enumerated() where row.count != columns {
            usageError("AttentionMask", "row \(i) has \(row.count) entries but row 0 has \(columns)")
        }
        return AttentionMask(kind: .blocking(Tensor(shape: [blocked.count, columns], scalars: blocked.flatMap { $0.map { $0 ? 1 : 0 } })))
    }

    /// The mask reshaped to broadcast against `[N, H, L, S]`, checked.
    func resolved(batchSize: Int, headCount: Int, queryLength: Int, keyLength: Int, op: String) -> Kind {
        let target = [batchSize, headCount, queryLength, keyLength]
        func fit(_ mask: Tensor<Scalar>) -> Tensor<Scalar> {
            var shaped = mask
            if mask.rank == 3 && mask.shape[0] == batchSize * headCount && mask.shape[0] != 1 {
                shaped = mask.reshaped(to: target)
            }
            let aligned = shaped.rank <= 4 && zip(shaped.shape.reversed(), target.reversed()).allSatisfy { $0 == $1 || $0 == 1 }
            guard aligned, shaped.shape.suffix(2).last == keyLength || shaped.shape.last == 1 else {
                usageError(op, "attentionMask of shape \(mask.shape) does not broadcast against the scores [N, H, L, S] = \(target) (use [L, S], [N·H, L, S] or a shape that broadcasts)")
            }
            return Tensor(unchecked: Array(repeating: 1, count: 4 - shaped.rank) + shaped.shape, scalars: shaped.scalars)
        }
        switch kind {
        case .additive(let mask): return .additive(fit(mask))
        case .blocking(let mask): return .blocking(fit(mask) .!= Tensor(0))
        }
    }
}

/// Splits `[N, length, E]` into heads `[N, H, length, E/H]`.
func splitHeads<Scalar: TensorScalar>(_ x: Variable<Scalar>, headCount: Int) -> Variable<Scalar> {
    x.reshaped(to: [x.shape[0], x.shape[1], headCount, x.shape[2] / headCount]).permuted([0, 2, 1, 3])
}

/// Joins heads `[N, H, length, d]` back into `[N, length, H·d]`.
func mergeHeads<Scalar: TensorScalar>(_ x: Variable<Scalar>) -> Variable<Scalar> {
    x.permuted([0, 2, 1, 3]).reshaped(to: [x.shape[0], x.shape[2], x.shape[1] * x.shape[3]])
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
///   - attentionMask: An additive or Boolean mask of the scores, or `nil`.
///   - attentionDropout: Applied to the attention weights, or `nil`.
/// - Returns: `[N, L, E]`.
public func multiHeadAttention<Scalar: TensorScalar>(
    query: Variable<Scalar>, key: Variable<Scalar>, value: Variable<Scalar>, headCount: Int,
    inProjWeight: Variable<Scalar>, inProjBias: Variable<Scalar>?, outProjWeight: Variable<Scalar>, outProjBias: Variable<Scalar>?,
    causal: Bool = false, keyPaddingMask: [[Bool]]? = nil, attentionMask: AttentionMask<Scalar>? = nil,
    attentionDropout: ((Variable<Scalar>) -> Variable<Scalar>)? = nil
) -> Variable<Scalar> {
    let op = "multiHeadAttention"
    let embedDimension = inProjWeight.rank == 2 ? inProjWeight.shape[1] : -1
    guard embedDimension > 0, inProjWeight.shape[0] == 3 * embedDimension else {
        usageError(op, "inProjWeight must have shape [3E, E], got \(inProjWeight.shape)")
    }
    if let inProjBias, inProjBias.shape != [3 * embedDimension] {
        usageError(op, "inProjBias must have shape [\(3 * embedDimension)], got \(inProjBias.shape)")
    }
    checkAttentionShapes(op, query: query, key: key, value: value, embedDimension: embedDimension, headCount: headCount,
                         outProjWeight: outProjWeight, outProjBias: outProjBias)
    func project(_ x: Variable<Scalar>, part: Int) -> Variable<Scalar> {
        let rows = (part * embedDimension)..<((part + 1) * embedDimension)
        return x.affine(weight: inProjWeight.slice(alongAxis: 0, range: rows), bias: inProjBias?.slice(alongAxis: 0, range: rows))
    }
    return attentionOfProjections(query: project(query, part: 0), key: project(key, part: 1), value: project(value, part: 2),
                                  headCount: headCount, outProjWeight: outProjWeight, outProjBias: outProjBias, causal: causal,
                                  keyPaddingMask: keyPaddingMask, attentionMask: attentionMask,
                                  attentionDropout: attentionDropout, weights: nil).output
}

/// Checks the shapes shared by both projection layouts.
func checkAttentionShapes<Scalar: TensorScalar>(_ op: String, query: Variable<Scalar>, key: Variable<Scalar>, value: Variable<Scalar>,
                                                embedDimension: Int, headCount: Int,
                                                outProjWeight: Variable<Scalar>, outProjBias: Variable<Scalar>?) {
    guard headCount > 0, embedDimension % headCount == 0 else {
        usageError(op, "headCount \(headCount) must be positive and divide embedDimension \(embedDimension)")
    }
    guard outProjWeight.shape == [embedDimension, embedDimension], outProjBias.map({ $0.shape == [embedDimension] }) ?? true else {
        usageError(op, "outProjWeight must have shape [\(embedDimension), \(embedDimension)] and outProjBias [\(embedDimension)], got \(outProjWeight.shape) and \(outProjBias?.shape ?? [])")
    }
    for (name, input) in [("query", query), ("key", key), ("value", value)] where input.rank != 3 || input.shape[2] != embedDimension {
        usageError(op, "\(name) must have shape [N, length, \(embedDimension)], got \(input.shape)")
    }
    guard key.shape[0] == query.shape[0], value.shape[0] == query.shape[0], value.shape[1] == key.shape[1] else {
        usageError(op, "query [N, L, E], key [N, S, E] and value [N, S, E] must agree, got \(query.shape), \(key.shape) and \(value.shape)")
    }
}

/// Which attention weights to return.
enum AttentionWeightsRequest {
    /// Averaged over the heads, `[N, L, S]` (PyTorch's default `average_attn_weights=True`).
    case averaged
    /// One set per head, `[N, H, L, S]`.
    case perHead
}

/// Attention from projected queries, keys and values `[N, length, E]`: heads, scaled dot-product
/// attention, heads merged, output projection; optionally the attention weights. `outProjParameter`,
/// the parameter `outProjWeight` was read from, lets the inference path use its packed copy.
func attentionOfProjections<Scalar: TensorScalar>(
    query: Variable<Scalar>, key: Variable<Scalar>, value: Variable<Scalar>, headCount: Int,
    outProjWeight: Variable<Scalar>, outProjBias: Variable<Scalar>?, causal: Bool, keyPaddingMask: [[Bool]]?,
    attentionMask: AttentionMask<Scalar>?, attentionDropout: ((Variable<Scalar>) -> Variable<Scalar>)?,
    weights request: AttentionWeightsRequest?, outProjParameter: Parameter<Scalar>? = nil
) -> (output: Variable<Scalar>, weights: Variable<Scalar>?) {
    if request == nil, attentionDropout == nil,
       let fast = inferenceAttention(query: query, key: key, value: value, headCount: headCount, causal: causal,
                                     keyPaddingMask: keyPaddingMask, attentionMask: attentionMask) {
        return (inferenceAffine(fast, weight: outProjWeight, bias: outProjBias, parameter: outProjParameter) ?? fast.affine(weight: outProjWeight, bias: outProjBias), nil)
    }
    let (heads, weights) = scaledDotProductAttentionWithWeights(
        query: splitHeads(query, headCount: headCount), key: splitHeads(key, headCount: headCount),
        value: splitHeads(value, headCount: headCount), causal: causal, keyPaddingMask: keyPaddingMask,
        attentionMask: attentionMask, attentionDropout: attentionDropout)
    let output = mergeHeads(heads).affine(weight: outProjWeight, bias: outProjBias)
    switch request {
    case nil: return (output, nil)
    case .perHead: return (output, weights)
    case .averaged: return (output, weights.mean(alongAxes: [1]))
    }
}

/// Multi-head attention (PyTorch's `nn.MultiheadAttention` with `batch_first=True`), with its
/// query, key and value projections either stacked (PyTorch's layout) or separate (Hugging Face
/// BERT's layout).
///
/// Stacked, `state_dict` names as PyTorch's: `in_proj_weight` `[3E, E]` (the query, key and value
/// projections stacked), `in_proj_bias` `[3E]`, `out_proj.weight` `[E, E]`, `out_proj.bias` `[E]`.
/// Separate: `query.weight`/`query.bias`, `key.…`, `value.…` (each `[E, E]` and `[E]`, as Hugging
/// Face's `BertSelfAttention`), and `out_proj.…`. Initialization as PyTorch's: Xavier-uniform
/// projection weights (`U(−a, a)`, `a = √(6/(E + 3E))`, drawn as one `[3E, E]` matrix in both
/// layouts, so one seed gives the same weights), zero projection biases, `out_proj` with `Linear`'s
/// default initialization and then a zero bias.
///
/// The formulas are those of `multiHeadAttention(query:key:value:headCount:…)`; dropout (active only
/// in training) is applied to the attention weights, as PyTorch does.
public final class MultiHeadAttention<Scalar: TensorScalar>: Module {
    /// How the query, key and value projections are stored.
    public enum Projections {
        /// PyTorch's `in_proj_weight` `[3E, E]` (query, key, value rows in that order) and `in_proj_bias` `[3E]`.
        case stacked(weight: Parameter<Scalar>, bias: Parameter<Scalar>?)
        /// Three `[E, E]` layers, as Hugging Face's BERT.
        case separate(query: Linear<Scalar>, key: Linear<Scalar>, value: Linear<Scalar>)
    }

    /// Which layout a new layer's projections use.
    public enum Layout: Sendable, Equatable {
        /// PyTorch's stacked `in_proj_weight`.
        case stacked
        /// Separate `query`, `key` and `value` layers.
        case separate
    }

    /// The query, key and value projections.
    public let projections: Projections
    /// The output projection `[E, E]` (+ `[E]`).
    public let outProj: Linear<Scalar>
    /// Dropout on the attention weights (no parameters, so not in the `state_dict`).
    public let dropout: Dropout<Scalar>
    /// The number of heads `H`.
    public let headCount: Int

    /// `[3E, E]`: the stacked query, key and value projection weights (stacked layout only; reading
    /// it on a layer with separate projections stops with a message).
    public var inProjWeight: Parameter<Scalar> {
        guard case .stacked(let weight, _) = projections else {
            usageError("MultiHeadAttention.inProjWeight", "this layer has separate query, key and value projections; use query, key and value")
        }
        return weight
    }

    /// `[3E]`, or `nil` without bias (stacked layout only, like `inProjWeight`).
    public var inProjBias: Parameter<Scalar>? {
        guard case .stacked(_, let bias) = projections else {
            usageError("MultiHeadAttention.inProjBias", "this layer has separate query, key and value projections; use query, key and value")
        }
        return bias
    }

    /// The query projection (separate layout), or `nil`.
    public var query: Linear<Scalar>? { if case .separate(let q, _, _) = projections { q } else { nil } }
    /// The key projection (separate layout), or `nil`.
    public var key: Linear<Scalar>? { if case .separate(_, let k, _) = projections { k } else { nil } }
    /// The value projection (separate layout), or `nil`.
    public var value: Linear<Scalar>? { if case .separate(_, _, let v) = projections { v } else { nil } }

    /// The embedding dimension `E`.
    public var embedDimension: Int {
        switch projections {
        case .stacked(let weight, _): weight.shape[1]
        case .separate(let query, _, _): query.weight.shape[1]
        }
    }

    /// Creates a layer with PyTorch's initialization.
    ///
    /// - Parameters:
    ///   - embedDimension: `E`, the size of the last axis of the inputs and the output.
    ///   - headCount: `H`, which must divide `E`; each head has dimension `E/H`.
    ///   - layout: `.stacked` (PyTorch) or `.separate` (Hugging Face BERT).
    ///   - bias: Learn the input and output projection biases.
    ///   - dropout: The probability of zeroing an attention weight in training.
    ///   - generator: The seeded source of the initial values (and of the dropout seed).
    public init(embedDimension: Int, headCount: Int, layout: Layout = .stacked, bias: Bool = true, dropout: Scalar = 0,
                generator: inout SeededGenerator) {
        guard embedDimension > 0, headCount > 0, embedDimension % headCount == 0 else {
            usageError("MultiHeadAttention", "headCount \(headCount) must be positive and divide embedDimension \(embedDimension) (> 0)")
        }
        Tensor<Scalar>.validate(shape: [3, embedDimension, embedDimension], op: "MultiHeadAttention")   // before 3E, 4E are formed
        let bound = Scalar((6 / Double(4 * embedDimension)).squareRoot())
        let weight = Tensor<Scalar>.randomUniform(shape: [3 * embedDimension, embedDimension], in: -bound..<bound, using: &generator)
        switch layout {
        case .stacked:
            projections = .stacked(weight: Parameter(weight), bias: bias ? Parameter(Tensor(zeros: [3 * embedDimension])) : nil)
        case .separate:
            func part(_ index: Int) -> Linear<Scalar> {
                Linear(weight: weight.slice(alongAxis: 0, range: (index * embedDimension)..<((index + 1) * embedDimension)),
                       bias: bias ? Tensor(zeros: [embedDimension]) : nil)
            }
            projections = .separate(query: part(0), key: part(1), value: part(2))
        }
        outProj = Linear(inputSize: embedDimension, outputSize: embedDimension, bias: bias, generator: &generator)
        outProj.bias?.value = Tensor(zeros: [embedDimension])
        self.dropout = Dropout(probability: dropout, seed: generator.next())
        self.headCount = headCount
    }

    /// Creates a layer from given projections, drawing no random values.
    ///
    /// - Parameters:
    ///   - projections: Stacked or separate query, key and value projections (`[3E, E]` or three `[E, E]`).
    ///   - outProj: The output projection `[E, E]`.
    ///   - headCount: `H`, which must divide `E`.
    ///   - dropout: The probability of zeroing an attention weight in training.
    ///   - dropoutSeed: The seed of the dropout masks.
    public init(projections: Projections, outProj: Linear<Scalar>, headCount: Int, dropout: Scalar = 0, dropoutSeed: UInt64 = 0) {
        let op = "MultiHeadAttention"
        let embedDimension: Int
        switch projections {
        case .stacked(let weight, let bias):
            embedDimension = weight.shape.count == 2 ? weight.shape[1] : -1
            guard embedDimension > 0, weight.shape == [3 * embedDimension, embedDimension], bias.map({ $0.shape == [3 * embedDimension] }) ?? true else {
                usageError(op, "in_proj_weight must be [3E, E] and in_proj_bias [3E], got \(weight.shape) and \(bias?.shape ?? [])")
            }
        case .separate(let query, let key, let value):
            embedDimension = query.weight.shape[1]
            for (name, layer) in [("query", query), ("key", key), ("value", value)] where layer.weight.shape != [embedDimension, embedDimension] {
                usageError(op, "\(name) weight must be [E, E] = [\(embedDimension), \(embedDimension)], got \(layer.weight.shape)")
            }
        }
        guard outProj.weight.shape == [embedDimension, embedDimension] else {
            usageError(op, "out_proj weight must be [E, E] = [\(embedDimension), \(embedDimension)], got \(outProj.weight.shape)")
        }
        guard headCount > 0, embedDimension % headCount == 0 else {
            usageError(op, "headCount \(headCount) must be positive and divide embedDimension \(embedDimension)")
        }
        self.projections = projections
        self.outProj = outProj
        self.dropout = Dropout(probability: dropout, seed: dropoutSeed)
        self.headCount = headCount
    }

    /// The children under PyTorch's names (`in_proj_weight`, `in_proj_bias`, `out_proj`) or, with
    /// separate projections, `query`, `key`, `value`, `out_proj`.
    public var namedChildren: [(name: String, value: Any)] {
        var children: [(name: String, value: Any)]
        switch projections {
        case .stacked(let weight, let bias):
            children = [("in_proj_weight", weight)]
            if let bias { children.append(("in_proj_bias", bias)) }
        case .separate(let query, let key, let value):
            children = [("query", query), ("key", key), ("value", value)]
        }
        return children + [("out_proj", outProj), ("dropout", dropout)]
    }

    /// The query, key and value projections of `[N, length, E]` inputs, on the anchor's tape.
    private func project(query: Variable<Scalar>, key: Variable<Scalar>, value: Variable<Scalar>, anchor: Variable<Scalar>)
        -> (Variable<Scalar>, Variable<Scalar>, Variable<Scalar>) {
        switch projections {
        case .stacked(let weight, let bias):
            let e = embedDimension
            let w = lift(weight, for: anchor)!, b = lift(bias, for: anchor)
            func part(_ x: Variable<Scalar>, _ index: Int) -> Variable<Scalar> {
                let rows = (index * e)..<((index + 1) * e)
                return x.affine(weight: w.slice(alongAxis: 0, range: rows), bias: b?.slice(alongAxis: 0, range: rows))
            }
            return (part(query, 0), part(key, 1), part(value, 2))
        case .separate(let q, let k, let v):
            func apply(_ layer: Linear<Scalar>, _ x: Variable<Scalar>) -> Variable<Scalar> {
                let (w, b) = (lift(layer.weight, for: anchor)!, lift(layer.bias, for: anchor))
                return inferenceAffine(x, weight: w, bias: b, parameter: layer.weight) ?? x.affine(weight: w, bias: b)
            }
            return (apply(q, query), apply(k, key), apply(v, value))
        }
    }

    private func attend(query: Variable<Scalar>, key: Variable<Scalar>, value: Variable<Scalar>, causal: Bool,
                        keyPaddingMask: [[Bool]]?, attentionMask: AttentionMask<Scalar>?,
                        weights: AttentionWeightsRequest?) -> (output: Variable<Scalar>, weights: Variable<Scalar>?) {
        let anchor = query.tape != nil ? query : key.tape != nil ? key : value
        let outWeight = lift(outProj.weight, for: anchor)!, outBias = lift(outProj.bias, for: anchor)
        checkAttentionShapes("multiHeadAttention", query: query, key: key, value: value, embedDimension: embedDimension,
                             headCount: headCount, outProjWeight: outWeight, outProjBias: outBias)
        let (q, k, v) = project(query: query, key: key, value: value, anchor: anchor)
        return attentionOfProjections(query: q, key: k, value: v, headCount: headCount, outProjWeight: outWeight, outProjBias: outBias,
                                      causal: causal, keyPaddingMask: keyPaddingMask, attentionMask: attentionMask,
                                      attentionDropout: dropout.probability > 0 && isTraining ? { self.dropout($0) } : nil,
                                      weights: weights, outProjParameter: outProj.weight)
    }

    /// Attention of `query` `[N, L, E]` over `key` and `value` `[N, S, E]`; returns `[N, L, E]`.
    ///
    /// - Parameters:
    ///   - query: `[N, L, E]`.
    ///   - key: `[N, S, E]`.
    ///   - value: `[N, S, E]`.
    ///   - causal: Query `i` attends only to keys `0…i`.
    ///   - keyPaddingMask: `[N, S]`, `true` for keys to ignore (their scores become −∞).
    ///   - attentionMask: An additive or Boolean mask of the scores (PyTorch's `attn_mask`).
    public func callAsFunction(query: Variable<Scalar>, key: Variable<Scalar>, value: Variable<Scalar>,
                               causal: Bool = false, keyPaddingMask: [[Bool]]? = nil,
                               attentionMask: AttentionMask<Scalar>? = nil) -> Variable<Scalar> {
        attend(query: query, key: key, value: value, causal: causal, keyPaddingMask: keyPaddingMask,
               attentionMask: attentionMask, weights: nil).output
    }

    /// The output and the attention weights, as PyTorch's `need_weights=True`: averaged over the
    /// heads, `[N, L, S]`, or per head, `[N, H, L, S]`, after dropout.
    ///
    /// - Parameters:
    ///   - query: `[N, L, E]`.
    ///   - key: `[N, S, E]`.
    ///   - value: `[N, S, E]`.
    ///   - causal: Query `i` attends only to keys `0…i`.
    ///   - keyPaddingMask: `[N, S]`, `true` for keys to ignore.
    ///   - attentionMask: An additive or Boolean mask of the scores.
    ///   - averagingHeads: Average the weights over the heads (PyTorch's `average_attn_weights`).
    public func outputAndWeights(query: Variable<Scalar>, key: Variable<Scalar>, value: Variable<Scalar>,
                                 causal: Bool = false, keyPaddingMask: [[Bool]]? = nil, attentionMask: AttentionMask<Scalar>? = nil,
                                 averagingHeads: Bool = true) -> (output: Variable<Scalar>, weights: Variable<Scalar>) {
        let result = attend(query: query, key: key, value: value, causal: causal, keyPaddingMask: keyPaddingMask,
                            attentionMask: attentionMask, weights: averagingHeads ? .averaged : .perHead)
        return (result.output, result.weights!)
    }

    /// Self-attention: `x` `[N, L, E]` as query, key and value.
    public func callAsFunction(_ x: Variable<Scalar>, causal: Bool, keyPaddingMask: [[Bool]]? = nil,
                               attentionMask: AttentionMask<Scalar>? = nil) -> Variable<Scalar> {
        self(query: x, key: x, value: x, causal: causal, keyPaddingMask: keyPaddingMask, attentionMask: attentionMask)
    }

    /// Self-attention without masks.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        self(query: x, key: x, value: x)
    }
}

extension Variable {
    /// The attention weights from raw scores `x` `[N, H, L, S]`: `y = softmax(s·x + a)` along the
    /// last axis, where entries blocked by `blocked` (nonzero) count as −∞ (weight 0) and a row whose
    /// every entry is blocked is all 0 (no weight, no gradient), as PyTorch's
    /// `scaled_dot_product_attention`. `a` and `blocked` broadcast against `[N, H, L, S]`.
    ///
    /// One op (one pass for `s·x + a` and the masks, one for the softmax) where composing `·s`,
    /// `+ a`, `maskedFill`, `softmax` and `maskedFill` took five records and passes.
    ///
    /// Backward: ∂L/∂x = s·y ⊙ (g − Σ_S g ⊙ y), the op `softmaxBackward` scaled; blocked entries and
    /// blocked rows have y = 0 and so get 0.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func attentionWeights(scale: Scalar, additive: Tensor<Scalar>?, blocked: Tensor<Scalar>?) -> Variable {
        let (logits, fullyBlocked) = AttentionLogits.compute(value, scale: scale, additive: additive, blocked: blocked)
        var y = logits.softmax(alongAxis: -1)
        if !fullyBlocked.isEmpty {
            let length = shape[rank - 1]
            y.scalars.withUnsafeMutableBufferPointer { out in
                for row in fullyBlocked { for j in 0..<length { out[row * length + j] = 0 } }
            }
        }
        return record("attentionWeights", y) { g, tape in
            Variable.softmaxBackward(g, output: tape.output(y), axis: 3) * scale
        }
    }
}

/// The masked, scaled logits of `Variable.attentionWeights`.
enum AttentionLogits {
    /// `s·x + a` (rounded after each operation, as `x * s + a` would be) with −∞ at the blocked
    /// entries of rows not blocked entirely, and the indices of the rows `[N·H·L]` that are.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func compute<Scalar: TensorScalar>(_ x: Tensor<Scalar>, scale: Scalar, additive: Tensor<Scalar>?,
                                              blocked: Tensor<Scalar>?) -> (Tensor<Scalar>, [Int]) {
        let shape = x.shape
        let (heads, queries, keys) = (shape[1], shape[2], shape[3])
        let rows = shape[0] * heads * queries
        let additiveStrides = additive.map { broadcastStrides($0.shape, to: shape) } ?? [0, 0, 0, 0]
        let blockedStrides = blocked.map { broadcastStrides($0.shape, to: shape) } ?? [0, 0, 0, 0]
        let additiveScalars = additive?.scalars ?? [], blockedScalars = blocked?.scalars ?? []
        let hasAdditive = additive != nil, hasBlocked = blocked != nil
        var rowBlocked = [Bool](repeating: false, count: hasBlocked ? rows : 0)
        let logits = Tensor<Scalar>(shape: shape) { out in
            x.scalars.withUnsafeBufferPointer { xs in
                additiveScalars.withUnsafeBufferPointer { a in
                    blockedScalars.withUnsafeBufferPointer { b in
                        rowBlocked.withUnsafeMutableBufferPointer { rowBlocked in
                            guard let o = out.baseAddress, let x = xs.baseAddress else { return }
                            let flags = rowBlocked.baseAddress
                            Parallelism.forEach(count: rows, grain: Swift.max(1, 8192 / Swift.max(1, keys))) { range in
                                var listedOffset = -1, blockedKeys: [Int] = []
                                for row in range {
                                    let (n, h, l) = (row / (heads * queries), (row / queries) % heads, row % queries)
                                    let base = row * keys
                                    // Row pointers, so the loops below carry no index arithmetic and vectorize.
                                    let (xr, orow) = (x + base, o + base)
                                    if hasAdditive {
                                        let offset = n * additiveStrides[0] + h * additiveStrides[1] + l * additiveStrides[2]
                                        let step = additiveStrides[3]
                                        if step == 1 {
                                            // A mask row stored along the keys (a padding mask): the same
                                            // operations as below, in a loop the compiler vectorizes.
                                            let mask = a.baseAddress! + offset
                                            for j in 0..<keys { (orow + j).initialize(to: xr[j] * scale + mask[j]) }
                                        } else {
                                            for j in 0..<keys { (orow + j).initialize(to: xr[j] * scale + a[offset + j * step]) }
                                        }
                                    } else {
                                        for j in 0..<keys { (orow + j).initialize(to: xr[j] * scale) }
                                    }
                                    guard hasBlocked else { continue }
                                    let offset = n * blockedStrides[0] + h * blockedStrides[1] + l * blockedStrides[2]
                                    let step = blockedStrides[3]
                                    if step == 1 {
                                        // A mask row stored along the keys, shared by many rows (a padding
                                        // mask: every head and query of a sequence): its blocked keys are
                                        // listed once per run of rows, then set; the same results as below.
                                        if offset != listedOffset {
                                            listedOffset = offset
                                            blockedKeys.removeAll(keepingCapacity: true)
                                            for j in 0..<keys where b[offset + j] != 0 { blockedKeys.append(j) }
                                        }
                                        if blockedKeys.count == keys && keys > 0 {
                                            flags![row] = true
                                        } else {
                                            for j in blockedKeys { orow[j] = -Scalar.infinity }
                                        }
                                        continue
                                    }
                                    var count = 0
                                    for j in 0..<keys where b[offset + j * step] != 0 { count += 1 }
                                    if count == keys && keys > 0 {
                                        flags![row] = true
                                    } else if count > 0 {
                                        for j in 0..<keys where b[offset + j * step] != 0 { o[base + j] = -Scalar.infinity }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (logits, rowBlocked.indices.filter { rowBlocked[$0] })
    }
}
