import Backprop

/// The masks a case applies: none, causal, key padding, or both.
private enum MaskOption: CaseIterable {
    case none, causal, keyPadding, causalAndKeyPadding

    var label: String {
        switch self {
        case .none: "no-mask"
        case .causal: "causal"
        case .keyPadding: "key-padding"
        case .causalAndKeyPadding: "causal+key-padding"
        }
    }
    var causal: Bool { self == .causal || self == .causalAndKeyPadding }

    /// `[N, S]` padding for N = 2 (no query row is left without a visible key, even with causal).
    func keyPadding(keyLength: Int) -> [[Bool]]? {
        guard self == .keyPadding || self == .causalAndKeyPadding else { return nil }
        return [(0..<keyLength).map { $0 == keyLength - 1 }, (0..<keyLength).map { $0 == 1 }]
    }
}

/// Multi-head attention computed head by head with slices and explicit loops: an independent
/// decomposition (no reshape/permute into heads, masks built element by element) that the
/// vectorized `multiHeadAttention` must match in values and gradients.
private func headByHeadAttention(query: Variable<Double>, key: Variable<Double>, value: Variable<Double>, headCount: Int,
                                 inProjWeight w: Variable<Double>, inProjBias b: Variable<Double>?,
                                 outProjWeight wo: Variable<Double>, outProjBias bo: Variable<Double>?,
                                 causal: Bool, keyPaddingMask: [[Bool]]?) -> Variable<Double> {
    let e = w.shape[1], d = e / headCount
    let (n, l, s) = (query.shape[0], query.shape[1], key.shape[1])
    func linear(_ x: Variable<Double>, rows: Range<Int>) -> Variable<Double> {
        let y = x.matmul(w.slice(alongAxis: 0, range: rows).transposed())
        return b.map { y + $0.slice(alongAxis: 0, range: rows) } ?? y
    }
    var samples: [Variable<Double>] = []
    for sample in 0..<n {
        let q = linear(query.slice(alongAxis: 0, range: sample..<sample + 1).squeezed(axes: [0]), rows: 0..<e)
        let k = linear(key.slice(alongAxis: 0, range: sample..<sample + 1).squeezed(axes: [0]), rows: e..<2 * e)
        let v = linear(value.slice(alongAxis: 0, range: sample..<sample + 1).squeezed(axes: [0]), rows: 2 * e..<3 * e)
        var mask = [Double](repeating: 0, count: l * s)
        for i in 0..<l {
            for j in 0..<s where (causal && j > i) || (keyPaddingMask?[sample][j] ?? false) { mask[i * s + j] = 1 }
        }
        var heads: [Variable<Double>] = []
        for h in 0..<headCount {
            let columns = (h * d)..<((h + 1) * d)
            let qh = q.slice(alongAxis: 1, range: columns), kh = k.slice(alongAxis: 1, range: columns)
            let scores = qh.matmul(kh.transposed()) / Double(d).squareRoot()
            let weights = scores.maskedFill(where: Tensor(shape: [l, s], scalars: mask), with: -.infinity).softmax(alongAxis: 1)
            heads.append(weights.matmul(v.slice(alongAxis: 1, range: columns)))
        }
        samples.append(Variable.concatenate(heads, alongAxis: 1))
    }
    let y = Variable.stack(samples, alongAxis: 0).matmul(wo.transposed())
    return bo.map { y + $0 } ?? y
}

/// A small block with seeded weights, its 1-D parameters (LayerNorm γ, β and all biases) moved
/// away from their initial ones and zeros so that every term of the formula takes part.
private func catalogTransformerBlock(seed: UInt64, placement: NormPlacement, causal: Bool,
                                     activation: FeedForwardActivation) -> TransformerBlock<Double> {
    var generator = SeededGenerator(seed: seed)
    let block = TransformerBlock<Double>(embedDimension: 4, headCount: 2, feedForwardDimension: 6, placement: placement,
                                         causal: causal, activation: activation, generator: &generator)
    var perturbation = SeededGenerator(seed: seed &+ 50)
    for (_, parameter) in block.namedParameters where parameter.shape.count == 1 {
        parameter.value = parameter.value + Tensor.randomUniform(shape: parameter.shape, in: -0.3..<0.3, using: &perturbation)
    }
    return block
}

/// `x·Wᵀ + b` with a linear layer's weights as constants.
private func constantLinear(_ x: Variable<Double>, _ layer: Linear<Double>) -> Variable<Double> {
    x.matmul(Variable(layer.weight.value).transposed()) + Variable(layer.bias!.value)
}

extension Catalog {
    /// Attention, Transformer blocks and embeddings, at E = 4, 2 heads, L = 3.
    static var attentionCases: [GradCheckCase] {
        scaledDotProductAttentionCases + multiHeadAttentionCases + transformerBlockCases + embeddingCases
    }

    /// `softmax(Q·Kᵀ/√d)·V` with respect to Q, K and V, with every mask.
    static var scaledDotProductAttentionCases: [GradCheckCase] {
        var cases = MaskOption.allCases.enumerated().map { index, mask in
            let seed = 1100 + UInt64(index) * 3
            return GradCheckCase("attention[sdpa,q=2x2x3x2,kv=2x2x3x2,\(mask.label)]",
                                 inputs: Inputs.tensors([[2, 2, 3, 2], [2, 2, 3, 2], [2, 2, 3, 2]], seed: seed)) { v in
                scaledDotProductAttention(query: v[0], key: v[1], value: v[2], causal: mask.causal,
                                          keyPaddingMask: mask.keyPadding(keyLength: 3))
            }
        }
        // An additive float mask [L, S]: finite offsets, one −∞ entry (a blocked key) and a row of
        // −∞ only (a query that sees nothing: weight and gradient 0), through the fused weights op.
        let additive = Tensor<Double>(shape: [3, 3], scalars: [0, -.infinity, 0.5, -.infinity, -.infinity, -.infinity, 0.3, 0, -1])
        cases.append(GradCheckCase("attention[sdpa,q=2x2x3x2,kv=2x2x3x2,additive-mask]",
                                   inputs: Inputs.tensors([[2, 2, 3, 2], [2, 2, 3, 2], [2, 2, 3, 2]], seed: 1115)) { v in
            scaledDotProductAttention(query: v[0], key: v[1], value: v[2], attentionMask: .additive(additive))
        })
        return cases
    }

    /// `multiHeadAttention` with its input and every weight as inputs, against the head-by-head decomposition.
    static var multiHeadAttentionCases: [GradCheckCase] {
        var cases: [GradCheckCase] = []
        for (index, mask) in MaskOption.allCases.enumerated() {
            let seed = 1200 + UInt64(index) * 7
            // [x, in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias]
            let inputs = Inputs.tensors([[2, 3, 4], [12, 4], [12], [4, 4], [4]], seed: seed).enumerated().map { $0.offset == 0 ? $0.element : $0.element * 0.5 }
            let padding = mask.keyPadding(keyLength: 3)
            cases.append(GradCheckCase("attention[mha,self,x=2x3x4,heads=2,\(mask.label)]", inputs: inputs,
                                       reference: { v in
                                           headByHeadAttention(query: v[0], key: v[0], value: v[0], headCount: 2, inProjWeight: v[1], inProjBias: v[2],
                                                               outProjWeight: v[3], outProjBias: v[4], causal: mask.causal, keyPaddingMask: padding)
                                       }) { v in
                multiHeadAttention(query: v[0], key: v[0], value: v[0], headCount: 2, inProjWeight: v[1], inProjBias: v[2],
                                   outProjWeight: v[3], outProjBias: v[4], causal: mask.causal, keyPaddingMask: padding)
            })
        }
        // Cross-attention (L = 3 queries, S = 2 keys), no biases, one head and two.
        for heads in [1, 2] {
            let inputs = Inputs.tensors([[2, 3, 4], [2, 2, 4], [2, 2, 4], [12, 4], [4, 4]], seed: 1250 + UInt64(heads))
                .enumerated().map { $0.offset < 3 ? $0.element : $0.element * 0.5 }
            let padding: [[Bool]] = [[false, true], [false, false]]
            cases.append(GradCheckCase("attention[mha,cross,q=2x3x4,kv=2x2x4,heads=\(heads),no-bias,key-padding]", inputs: inputs,
                                       reference: { v in
                                           headByHeadAttention(query: v[0], key: v[1], value: v[2], headCount: heads, inProjWeight: v[3], inProjBias: nil,
                                                               outProjWeight: v[4], outProjBias: nil, causal: false, keyPaddingMask: padding)
                                       }) { v in
                multiHeadAttention(query: v[0], key: v[1], value: v[2], headCount: heads, inProjWeight: v[3], inProjBias: nil,
                                   outProjWeight: v[4], outProjBias: nil, keyPaddingMask: padding)
            })
        }
        return cases
    }

    /// `TransformerBlock` modules (fixed weights) with respect to their input, against the block's
    /// formula written out with `layerNormReference`, the head-by-head attention and explicit linear layers.
    static var transformerBlockCases: [GradCheckCase] {
        var cases: [GradCheckCase] = []
        let configurations: [(NormPlacement, Bool, FeedForwardActivation, String)] = [
            (.postNorm, false, .relu, "post-norm,relu"), (.preNorm, false, .relu, "pre-norm,relu"),
            (.postNorm, true, .gelu(.none), "post-norm,causal,gelu"), (.preNorm, true, .gelu(.tanh), "pre-norm,causal,gelu-tanh"),
        ]
        for (index, (placement, causal, activation, label)) in configurations.enumerated() {
            let weightSeed = 1300 + UInt64(index)
            @Sendable func makeBlock() -> TransformerBlock<Double> {
                catalogTransformerBlock(seed: weightSeed, placement: placement, causal: causal, activation: activation)
            }
            cases.append(GradCheckCase("transformer[block,x=2x3x4,heads=2,ffn=6,\(label)]", inputs: [Inputs.tensor([2, 3, 4], seed: 1310 + UInt64(index))],
                                       reference: { v in
                                           let block = makeBlock()
                                           let attention = block.selfAttention
                                           func selfAttention(_ x: Variable<Double>) -> Variable<Double> {
                                               headByHeadAttention(query: x, key: x, value: x, headCount: 2,
                                                                   inProjWeight: Variable(attention.inProjWeight.value),
                                                                   inProjBias: Variable(attention.inProjBias!.value),
                                                                   outProjWeight: Variable(attention.outProj.weight.value),
                                                                   outProjBias: Variable(attention.outProj.bias!.value),
                                                                   causal: causal, keyPaddingMask: nil)
                                           }
                                           func feedForward(_ x: Variable<Double>) -> Variable<Double> {
                                               let hidden = constantLinear(x, block.feedForward.linear1)
                                               switch activation {
                                               case .relu: return constantLinear(hidden.relu(), block.feedForward.linear2)
                                               case .gelu(let approximation): return constantLinear(hidden.gelu(approximation: approximation), block.feedForward.linear2)
                                               }
                                           }
                                           func norm(_ x: Variable<Double>, _ layer: LayerNorm<Double>) -> Variable<Double> {
                                               x.layerNormReference(normalizedShape: [4], weight: Variable(layer.weight!.value), bias: Variable(layer.bias!.value))
                                           }
                                           let x = v[0]
                                           switch placement {
                                           case .postNorm:
                                               let o = norm(x + selfAttention(x), block.norm1)
                                               return norm(o + feedForward(o), block.norm2)
                                           case .preNorm:
                                               let o = x + selfAttention(norm(x, block.norm1))
                                               return o + feedForward(norm(o, block.norm2))
                                           }
                                       }) { v in
                makeBlock()(v[0])
            })
        }
        // A key-padding mask through the module.
        cases.append(GradCheckCase("transformer[block,x=2x3x4,heads=2,ffn=6,pre-norm,key-padding]", inputs: [Inputs.tensor([2, 3, 4], seed: 1320)]) { v in
            var generator = SeededGenerator(seed: 1321)
            let block = TransformerBlock<Double>(embedDimension: 4, headCount: 2, feedForwardDimension: 6, placement: .preNorm, generator: &generator)
            return block(v[0], keyPaddingMask: [[false, false, true], [true, false, false]])
        })
        return cases
    }

    /// Token plus position embeddings with respect to both tables, against a one-hot matrix product.
    static var embeddingCases: [GradCheckCase] {
        let ids = [2, 0, 2, 4, 1, 2]  // [N, L] = [2, 3]; repeated ids accumulate
        return [
            GradCheckCase("embedding[token+position,ids=2x3,vocab=5,max-length=4,E=4]", inputs: Inputs.tensors([[5, 4], [4, 4]], seed: 1400),
                          reference: { v in
                              var oneHotScalars = [Double](repeating: 0, count: 6 * 5)
                              for (row, id) in ids.enumerated() { oneHotScalars[row * 5 + id] = 1 }
                              let oneHot = Tensor(shape: [6, 5], scalars: oneHotScalars)
                              let tokens = Variable(oneHot).matmul(v[0]).reshaped(to: [2, 3, 4])
                              return tokens + v[1].slice(alongAxis: 0, range: 0..<3).unsqueezed(at: 0)
                          }) { v in
                tokenAndPositionEmbedding(ids, shape: [2, 3], tokenTable: v[0], positionTable: v[1])
            },
        ]
    }
}
