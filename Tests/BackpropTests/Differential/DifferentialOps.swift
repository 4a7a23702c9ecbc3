@testable import Backprop

/// How a fixture op runs in Backprop.
enum DifferentialOp: Sendable {
    /// A function of the inputs as variables (leaves for the checked inputs, constants for the others).
    case function(@Sendable (DifferentialParameters, [Variable<Double>]) -> Variable<Double>)
    /// A layer built from the inputs: `parameters[i]` is the layer's parameter holding input i (`nil`
    /// for data inputs), whose leaf is `tape.variable(for:)`, so the gradient is the layer's own;
    /// `call` receives the data inputs' variables in order.
    case layer(@Sendable (DifferentialParameters, [Tensor<Double>]) -> (parameters: [Parameter<Double>?], call: ([Variable<Double>]) -> Variable<Double>))
}

private func reduction(_ p: DifferentialParameters) -> LossReduction { LossReduction(rawValue: p.string("reduction"))! }

/// Every op of the fixture, by name: the Backprop call that corresponds to the PyTorch call of
/// `make_differential_fixture.py`.
enum DifferentialOps {
    static let table: [String: DifferentialOp] = {
        var ops: [String: DifferentialOp] = [:]
        func f(_ name: String, _ body: @escaping @Sendable (DifferentialParameters, [Variable<Double>]) -> Variable<Double>) {
            ops[name] = .function(body)
        }

        // Arithmetic
        f("add") { _, v in v[0] + v[1] }
        f("subtract") { _, v in v[0] - v[1] }
        f("multiply") { _, v in v[0] * v[1] }
        f("divide") { _, v in v[0] / v[1] }
        f("negate") { _, v in -v[0] }
        f("addScalar") { p, v in v[0] + p.double("c") }
        f("subtractScalar") { p, v in v[0] - p.double("c") }
        f("rsubScalar") { p, v in p.double("c") - v[0] }
        f("multiplyScalar") { p, v in v[0] * p.double("c") }
        f("divideScalar") { p, v in v[0] / p.double("c") }
        f("rdivScalar") { p, v in p.double("c") / v[0] }
        f("powScalar") { p, v in v[0].pow(p.double("p")) }
        f("pow") { _, v in v[0].pow(v[1]) }

        // Math
        f("exp") { _, v in v[0].exp() }
        f("log") { _, v in v[0].log() }
        f("sqrt") { _, v in v[0].sqrt() }
        f("rsqrt") { _, v in v[0].rsqrt() }
        f("abs") { _, v in v[0].abs() }
        f("square") { _, v in v[0].squared() }
        f("clamp") { p, v in v[0].clamped(to: p.double("lo")...p.double("hi")) }

        // Activations
        f("tanh") { _, v in v[0].tanh() }
        f("sigmoid") { _, v in v[0].sigmoid() }
        f("relu") { _, v in v[0].relu() }
        f("leakyRelu") { p, v in v[0].leakyRelu(negativeSlope: p.double("slope")) }
        f("elu") { p, v in v[0].elu(alpha: p.double("alpha")) }
        f("gelu") { _, v in v[0].gelu() }
        f("geluTanh") { _, v in v[0].gelu(approximation: .tanh) }
        f("silu") { _, v in v[0].silu() }
        f("softplus") { p, v in v[0].softplus(beta: p.double("beta"), threshold: p.double("threshold")) }
        f("dropout") { p, v in
            var generator = SeededGenerator(seed: 1)
            return v[0].dropout(probability: p.double("p"), isTraining: p.bool("training"), using: &generator)
        }

        // Softmax family
        f("softmax") { p, v in v[0].softmax(alongAxis: p.int("axis")) }
        f("logSoftmax") { p, v in v[0].logSoftmax(alongAxis: p.int("axis")) }
        f("logSumExp") { p, v in v[0].logSumExp(alongAxes: p.ints("axes"), keepDims: p.bool("keep")) }

        // Reductions
        f("sumAll") { _, v in v[0].sum() }
        f("meanAll") { _, v in v[0].mean() }
        f("sum") { p, v in v[0].sum(alongAxes: p.ints("axes"), keepDims: p.bool("keep")) }
        f("mean") { p, v in v[0].mean(alongAxes: p.ints("axes"), keepDims: p.bool("keep")) }
        f("variance") { p, v in v[0].variance(alongAxes: p.ints("axes"), correction: p.int("correction"), keepDims: p.bool("keep")) }
        f("max") { p, v in v[0].max(alongAxis: p.int("axis"), keepDims: p.bool("keep")) }
        f("min") { p, v in v[0].min(alongAxis: p.int("axis"), keepDims: p.bool("keep")) }

        // Linear algebra
        f("matmul") { _, v in v[0].matmul(v[1]) }

        // Shape
        f("reshape") { p, v in v[0].reshaped(to: p.ints("shape")) }
        f("permute") { p, v in v[0].permuted(p.ints("order")) }
        f("transpose") { _, v in v[0].transposed() }
        f("transposeAxes") { p, v in v[0].transposed(p.int("a"), p.int("b")) }
        f("expand") { p, v in v[0].expanded(to: p.ints("shape")) }
        f("squeeze") { p, v in v[0].squeezed(axes: p.ints("axes")) }
        f("unsqueeze") { p, v in v[0].unsqueezed(at: p.int("axis")) }
        f("slice") { p, v in v[0].slice(alongAxis: p.int("axis"), range: p.int("lo")..<p.int("hi")) }
        f("concatenate") { p, v in Variable.concatenate(v, alongAxis: p.int("axis")) }
        f("stack") { p, v in Variable.stack(v, alongAxis: p.int("axis")) }
        f("split") { p, v in
            Variable.concatenate(v[0].split(sizes: p.ints("sizes"), alongAxis: p.int("axis")).map { $0.reshaped(to: [-1]) }, alongAxis: 0)
        }
        f("sumToShape") { p, v in v[0].summed(toShape: p.ints("shape")) }
        f("flatten") { p, v in v[0].flattened(startAxis: p.int("start"), endAxis: p.int("end")) }

        // Indexing
        f("gather") { p, v in v[0].gathering(p.ints("indices"), alongAxis: p.int("axis")) }
        f("embedding") { p, v in v[0].embeddingLookup(p.ints("ids"), idShape: p.ints("idShape")) }
        f("where") { p, v in
            Variable.select(Tensor(shape: p.ints("conditionShape"), scalars: p.ints("condition").map(Double.init)), v[0], v[1])
        }
        f("maskedFill") { p, v in
            v[0].maskedFill(where: Tensor(shape: p.ints("maskShape"), scalars: p.ints("mask").map(Double.init)), with: p.double("fill"))
        }

        // Convolution and pooling
        f("conv2d") { p, v in
            conv2d(v[0], weight: v[1], bias: v.count > 2 ? v[2] : nil, stride: p.window("stride"), padding: p.window("padding"),
                   dilation: p.window("dilation"), groups: p.int("groups"))
        }
        f("maxPool2d") { p, v in
            v[0].maxPool2d(kernelSize: p.window("kernel"), stride: p.window("stride"), padding: p.window("padding"),
                           dilation: p.window("dilation"), ceilMode: p.bool("ceil"))
        }
        f("avgPool2d") { p, v in
            v[0].avgPool2d(kernelSize: p.window("kernel"), stride: p.window("stride"), padding: p.window("padding"),
                           countIncludePad: p.bool("countIncludePad"), ceilMode: p.bool("ceil"))
        }
        f("globalAveragePool") { _, v in v[0].globalAveragePool() }

        // Normalization
        f("batchNorm") { p, v in
            v[0].batchNorm(weight: v.count > 1 ? v[1] : nil, bias: v.count > 2 ? v[2] : nil, eps: p.double("eps"))
        }
        f("batchNormEval") { p, v in
            v[0].batchNorm(runningMean: Tensor(p.doubles("mean")), runningVariance: Tensor(p.doubles("var")),
                           weight: v.count > 1 ? v[1] : nil, bias: v.count > 2 ? v[2] : nil, eps: p.double("eps"))
        }
        f("layerNorm") { p, v in
            v[0].layerNorm(normalizedShape: p.ints("normalized"), weight: v.count > 1 ? v[1] : nil, bias: v.count > 2 ? v[2] : nil,
                           eps: p.double("eps"))
        }
        f("groupNorm") { p, v in
            v[0].groupNorm(numGroups: p.int("groups"), weight: v.count > 1 ? v[1] : nil, bias: v.count > 2 ? v[2] : nil, eps: p.double("eps"))
        }
        f("instanceNorm") { p, v in
            v[0].instanceNorm(weight: v.count > 1 ? v[1] : nil, bias: v.count > 2 ? v[2] : nil, eps: p.double("eps"))
        }
        f("rmsNorm") { p, v in
            v[0].rmsNorm(normalizedShape: p.ints("normalized"), weight: v.count > 1 ? v[1] : nil, eps: p.has("eps") ? p.double("eps") : nil)
        }

        f("batchLayerNorm") { p, v in
            v[0].batchLayerNorm(weight: v.count > 1 ? v[1] : nil, bias: v.count > 2 ? v[2] : nil, eps: p.double("eps"),
                                batchSize: p.has("batchSize") ? p.int("batchSize") : nil)
        }
        f("layerNormAnnotated") { p, v in
            v[0].layerNorm(normalizedShape: [v[0].shape.last!], weight: v.count > 1 ? v[1] : nil, bias: v.count > 2 ? v[2] : nil,
                           eps: p.double("eps"), variant: .annotatedTransformer)
        }

        // Losses
        f("meanSquaredError") { p, v in meanSquaredError(v[0], v[1], reduction: reduction(p)) }
        f("l1Loss") { p, v in l1Loss(v[0], v[1], reduction: reduction(p)) }
        f("crossEntropy") { p, v in
            crossEntropy(logits: v[0], targets: p.ints("targets"), labelSmoothing: p.double("smoothing"), ignoreIndex: p.int("ignore"),
                         reduction: reduction(p))
        }
        f("negativeLogLikelihood") { p, v in
            negativeLogLikelihood(logProbabilities: v[0], targets: p.ints("targets"), ignoreIndex: p.int("ignore"), reduction: reduction(p))
        }
        f("binaryCrossEntropy") { p, v in
            binaryCrossEntropy(logits: v[0], targets: v[1], positiveWeight: p.has("posWeight") ? Tensor(p.doubles("posWeight")) : nil,
                               reduction: reduction(p))
        }

        // Layers
        ops["linear"] = .layer { _, t in
            let layer = Linear<Double>(weight: t[1], bias: t.count > 2 ? t[2] : nil)
            return ([nil, layer.weight] + (layer.bias.map { [$0] } ?? []), { v in layer(v[0]) })
        }
        f("tokenAndPositionEmbedding") { p, v in
            tokenAndPositionEmbedding(p.ints("ids"), shape: p.ints("shape"), tokenTable: v[0], positionTable: v[1])
        }
        f("scaledDotProductAttention") { p, v in
            scaledDotProductAttention(query: v[0], key: v[1], value: v[2], causal: p.bool("causal"), keyPaddingMask: p.boolRows("keyPadding"))
        }
        f("multiHeadAttention") { p, v in
            let keyValue = p.bool("self") ? v[0] : v[1]
            let bias = p.bool("bias")
            return multiHeadAttention(query: v[0], key: keyValue, value: keyValue, headCount: p.int("heads"),
                                      inProjWeight: v[2], inProjBias: bias ? v[4] : nil, outProjWeight: v[3], outProjBias: bias ? v[5] : nil,
                                      causal: p.bool("causal"), keyPaddingMask: p.boolRows("keyPadding"))
        }
        ops["feedForward"] = .layer { p, t in
            var generator = SeededGenerator(seed: 0)
            let activation: FeedForwardActivation = switch p.string("activation") {
            case "relu": .relu
            case "gelu": .gelu(.none)
            default: .gelu(.tanh)
            }
            let block = FeedForward<Double>(embedDimension: t[0].shape[2], hiddenDimension: t[1].shape[0], activation: activation,
                                            generator: &generator)
            let parameters = [block.linear1.weight, block.linear1.bias!, block.linear2.weight, block.linear2.bias!]
            for (parameter, value) in zip(parameters, t[1...]) { parameter.value = value }
            return ([nil] + parameters, { v in block(v[0]) })
        }
        ops["transformerBlock"] = .layer { p, t in
            var generator = SeededGenerator(seed: 0)
            let block = TransformerBlock<Double>(
                embedDimension: t[0].shape[2], headCount: p.int("heads"), feedForwardDimension: p.int("feedForward"),
                placement: p.string("placement") == "preNorm" ? .preNorm : .postNorm, causal: p.bool("causal"),
                activation: p.string("activation") == "relu" ? .relu : .gelu(.none), generator: &generator)
            let named = Dictionary(uniqueKeysWithValues: block.namedParameters.map { ($0.name, $0.parameter) })
            let names = ["self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
                         "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
                         "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"]
            let parameters = names.map { named[$0]! }
            for (parameter, value) in zip(parameters, t[1...]) { parameter.value = value }
            return ([nil] + parameters, { v in block(v[0]) })
        }
        return ops
    }()
}
