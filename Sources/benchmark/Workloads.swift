import Backprop
import Foundation

/// One benchmark workload: the same name, shapes and semantics as in the PyTorch reference.
struct Workload {
    /// The name shared with `pytorch_reference.py`.
    let name: String
    /// What it runs, for `--help`.
    let summary: String
    /// How many timed repetitions per `--reps` unit (the reference times `mlp_step` 10× as often).
    var repetitionFactor = 1
    /// The least work it must do, for `--roofline`; `nil` when no simple count is meaningful.
    var minimalWork: MinimalWork? = nil
    /// Builds the inputs once and returns the closure to time.
    let prepare: () -> () -> Void
}

/// Random tensors from a fixed seed, so every run times the same numbers.
struct Inputs {
    var generator = SeededGenerator(seed: 0)

    /// Standard normal `Float` values of the given shape.
    mutating func normal(_ shape: [Int]) -> Tensor<Float> {
        Tensor.randomNormal(shape: shape, using: &generator)
    }

    /// `count` class indices in `0..<classes`.
    mutating func targets(_ count: Int, classes: Int) -> [Int] {
        (0..<count).map { _ in Int(generator.next() % UInt64(classes)) }
    }
}

/// Every workload of the reference, in its order. Adding one is a single entry here.
var workloads: [Workload] {
    var list = [matmul(512), matmul(1024)]
    let linearFlops = 2.0 * 4096 * 768 * 768
    list += [
    Workload(name: "linear_fwd", summary: "Linear(768 → 768) forward on [4096, 768], no gradients",
             minimalWork: .flops(linearFlops, .float)) {
        var inputs = Inputs()
        let linear = Linear<Float>(inputSize: 768, outputSize: 768, generator: &inputs.generator)
        let x = inputs.normal([4096, 768])
        return {
            withoutGradients {
                let tape = Tape<Float>()
                _ = linear(tape.constant(x))
            }
        }
    },
    Workload(name: "linear_fwdbwd", summary: "Linear(768 → 768) on [4096, 768], backward of a random upstream gradient into x, W, b",
             minimalWork: .flops(3 * linearFlops, .float)) {
        var inputs = Inputs()
        let linear = Linear<Float>(inputSize: 768, outputSize: 768, generator: &inputs.generator)
        let x = inputs.normal([4096, 768])
        let upstream = inputs.normal([4096, 768])
        return {
            linear.weight.zeroGradient()
            linear.bias?.zeroGradient()
            let tape = Tape<Float>()
            let input = tape.variable(x)
            linear(input).backward(seed: upstream)
            precondition(input.grad != nil && linear.weight.grad != nil)
        }
    },
    ]
    list += normalization("layernorm", "LayerNorm(768) on [8192, 768]", shape: [8192, 768]) { LayerNorm(normalizedShape: [768]) }
    list += normalization("rmsnorm", "RMSNorm(768) on [8192, 768]", shape: [8192, 768]) { RMSNorm(normalizedShape: [768]) }
    list += normalization("batchnorm2d", "BatchNorm2d(64), training mode, on [32, 64, 32, 32]", shape: [32, 64, 32, 32]) {
        BatchNorm(numFeatures: 64)
    }
    list += normalization("groupnorm", "GroupNorm(8 groups, 64 channels) on [32, 64, 32, 32]", shape: [32, 64, 32, 32]) {
        GroupNorm(numGroups: 8, numChannels: 64)
    }
    list += normalization("instancenorm2d", "InstanceNorm2d(64, affine) on [32, 64, 32, 32]", shape: [32, 64, 32, 32]) {
        InstanceNorm(numFeatures: 64, affine: true)
    }
    // Forward, ∂W of every layer, ∂x of all but the first (its input is a constant).
    let mlpMultiplyAdds: Int = 32 * (2 * (32 * 64 + 64 * 64 + 64 * 10) + (64 * 64 + 64 * 10))
    let mlpFlops = 2 * Double(mlpMultiplyAdds)
    list.append(Workload(name: "mlp_step", summary: "MLP 32-64-64-10 (ReLU), batch 32, cross-entropy, SGD step", repetitionFactor: 10,
                         minimalWork: .flops(mlpFlops, .float)) {
        var inputs = Inputs()
        let mlp = Sequential<Float>(
            Linear(inputSize: 32, outputSize: 64, generator: &inputs.generator), ReLU(),
            Linear(inputSize: 64, outputSize: 64, generator: &inputs.generator), ReLU(),
            Linear(inputSize: 64, outputSize: 10, generator: &inputs.generator))
        let sgd = SGD(parameters: mlp.parameters, learningRate: 0.01)
        let x = inputs.normal([32, 32])
        let targets = inputs.targets(32, classes: 10)
        return {
            sgd.zeroGradients()
            let tape = Tape<Float>()
            crossEntropy(logits: mlp(tape.constant(x)), targets: targets).backward()
            sgd.step()
        }
    })
    // Three times the forward's products, less ∂x of the input projection (the input is a constant).
    let blockForward = attentionFlops(batch: 8, length: 128, embed: 256, heads: 4) + 2 * 2.0 * 1024 * 256 * 1024
    let blockFlops = 3 * blockForward - 2.0 * 1024 * 256 * 768
    list.append(Workload(name: "block_step", summary: "post-LN Transformer block d=256, 4 heads, FFN 1024 (ReLU), input [8, 128, 256], mean(y²), AdamW step",
                         minimalWork: .flops(blockFlops, .float)) {
        var inputs = Inputs()
        let block = TransformerBlock<Float>(embedDimension: 256, headCount: 4, feedForwardDimension: 1024,
                                            generator: &inputs.generator)
        let adamW = AdamW(parameters: block.parameters, learningRate: 1e-3)
        let x = inputs.normal([8, 128, 256])
        return {
            adamW.zeroGradients()
            let tape = Tape<Float>()
            let y = block(tape.constant(x))
            (y * y).mean().backward()
            adamW.step()
        }
    })
    list += normalization("batchnorm1d", "BatchNorm1d(512), training mode, on [256, 512]", shape: [256, 512]) {
        BatchNorm(numFeatures: 512)
    }
    list += convolution("conv2d", "Conv2d(64 → 128, 3×3, padding 1) on [8, 64, 28, 28]", inputShape: [8, 64, 28, 28],
                        outputChannels: 128, kernelSize: 3, stride: 1)
    list.append(cnnStep)
    list.append(Workload(name: "dgemm1024", summary: "C = A·B, 1024 × 1024 float64", minimalWork: .flops(2 * pow(1024, 3), .double)) {
        var generator = SeededGenerator(seed: 0)
        let a = Tensor<Double>.randomNormal(shape: [1024, 1024], using: &generator)
        let b = Tensor<Double>.randomNormal(shape: [1024, 1024], using: &generator)
        return { _ = a.matmul(b) }
    })
    // The reference has no attention_fwd; the pair's fwdbwd half is its attention_fwdbwd.
    let attention = attentionFlops(batch: 8, length: 128, embed: 256, heads: 4)
    list.append(forwardAndBackward("attention", "MultiHeadAttention(256, 4 heads) self-attention on [8, 128, 256]",
                                   inputShape: [8, 128, 256], work: (.flops(attention, .float), .flops(3 * attention, .float))) { inputs in
        MultiHeadAttention<Float>(embedDimension: 256, headCount: 4, generator: &inputs.generator)
    }[1])
    list += higherOrderWorkloads
    list += miniLMWorkloads()
    return list
}

/// Workloads that differentiate a gradient (`createGraph`).
var higherOrderWorkloads: [Workload] {
    [
    Workload(name: "hvp_mlp", summary: "Hessian-vector product of an MLP 64-128-128-10 (tanh) cross-entropy loss, batch 128, w.r.t. every parameter") {
        var inputs = Inputs()
        let mlp = Sequential<Float>(
            Linear(inputSize: 64, outputSize: 128, generator: &inputs.generator), Tanh(),
            Linear(inputSize: 128, outputSize: 128, generator: &inputs.generator), Tanh(),
            Linear(inputSize: 128, outputSize: 10, generator: &inputs.generator))
        let x = inputs.normal([128, 64])
        let targets = inputs.targets(128, classes: 10)
        let directions = mlp.parameters.map { inputs.normal($0.shape) }
        return {
            let tape = Tape<Float>()
            let parameters = mlp.parameters.map { tape.variable(for: $0) }
            let loss = crossEntropy(logits: mlp(tape.constant(x)), targets: targets)
            let gradients = tape.gradients(of: loss, withRespectTo: parameters, createGraph: true)
            var dot = (gradients[0] * tape.constant(directions[0])).sum()
            for k in 1..<gradients.count { dot = dot + (gradients[k] * tape.constant(directions[k])).sum() }
            let hv = tape.gradients(of: dot, withRespectTo: parameters)
            precondition(hv.count == parameters.count)
        }
    },
    Workload(name: "gradient_penalty_step", summary: "WGAN-GP critic step: MLP 2-512-512-512-1 with LayerNorm and ReLU, batch 256, λ = 10, Adam") {
        var inputs = Inputs()
        let critic = Sequential<Float>(
            Linear(inputSize: 2, outputSize: 512, generator: &inputs.generator), LayerNorm(normalizedShape: [512]), ReLU(),
            Linear(inputSize: 512, outputSize: 512, generator: &inputs.generator), LayerNorm(normalizedShape: [512]), ReLU(),
            Linear(inputSize: 512, outputSize: 512, generator: &inputs.generator), LayerNorm(normalizedShape: [512]), ReLU(),
            Linear(inputSize: 512, outputSize: 1, generator: &inputs.generator))
        let adam = Adam(parameters: critic.parameters, learningRate: 1e-4, betas: (0.5, 0.9))
        let real = inputs.normal([256, 2]), fake = inputs.normal([256, 2])
        let alpha = Tensor<Float>.randomUniform(shape: [256, 1], using: &inputs.generator)
        let between = real * alpha + fake * (1 - alpha)
        return {
            adam.zeroGradients()
            let tape = Tape<Float>()
            let x = tape.variable(between)
            let gradient = tape.gradients(of: critic(x).sum(), withRespectTo: [x], createGraph: true)[0]
            let penalty = ((gradient.squared().sum(alongAxes: [1]) + 1e-12).sqrt() - 1).squared().mean()
            let loss = critic(tape.constant(fake)).mean() - critic(tape.constant(real)).mean() + penalty * 10
            loss.backward()
            adam.step()
        }
    },
    Workload(name: "layernorm_double_backward", summary: "LayerNorm(768) on [8192, 768]: forward, ∂⟨dy, y⟩/∂x with createGraph, then the gradient of ⟨w, ∂x⟩ into x, γ, β") {
        var inputs = Inputs()
        let norm = LayerNorm<Float>(normalizedShape: [768])
        let x = inputs.normal([8192, 768]), upstream = inputs.normal([8192, 768]), w = inputs.normal([8192, 768])
        return {
            for parameter in norm.parameters { parameter.zeroGradient() }
            let tape = Tape<Float>()
            let input = tape.variable(x)
            let gradient = tape.gradients(of: norm(input), withRespectTo: [input], seed: tape.constant(upstream), createGraph: true)[0]
            (gradient * tape.constant(w)).sum().backward()
            precondition(input.grad != nil)
        }
    },
    ]
}

/// The small CNN's SGD step of the reference: two convolutions, batch and group normalization,
/// global average pooling and a linear classifier on CIFAR-sized images.
var cnnStep: Workload {
    // The products: forward and ∂W of every layer, ∂x of all but the first (the images are constants).
    let conv1 = convolutionFlops(inputShape: [32, 3, 32, 32], outputChannels: 32, kernelSize: 3, stride: 1)
    let conv2 = convolutionFlops(inputShape: [32, 32, 32, 32], outputChannels: 64, kernelSize: 3, stride: 2)
    let classifier = 2.0 * 32 * 64 * 10
    return Workload(name: "cnn_step", summary: "Conv2d(3→32, 3×3, pad 1), BatchNorm2d, ReLU, Conv2d(32→64, 3×3, stride 2, pad 1), GroupNorm(8, 64), ReLU, global average pool, Linear(64→10); [32, 3, 32, 32], cross-entropy, SGD momentum 0.9",
                    minimalWork: .flops(2 * conv1 + 3 * conv2 + 3 * classifier, .float)) {
        var inputs = Inputs()
        let cnn = Sequential<Float>(
            Conv2d(inputChannels: 3, outputChannels: 32, kernelSize: 3, padding: 1, generator: &inputs.generator),
            BatchNorm(numFeatures: 32), ReLU(),
            Conv2d(inputChannels: 32, outputChannels: 64, kernelSize: 3, stride: 2, padding: 1, generator: &inputs.generator),
            GroupNorm(numGroups: 8, numChannels: 64), ReLU(),
            GlobalAveragePool(),
            Linear(inputSize: 64, outputSize: 10, generator: &inputs.generator))
        let sgd = SGD(parameters: cnn.parameters, learningRate: 0.01, momentum: 0.9)
        let x = inputs.normal([32, 3, 32, 32])
        let targets = inputs.targets(32, classes: 10)
        return {
            sgd.zeroGradients()
            let tape = Tape<Float>()
            crossEntropy(logits: cnn(tape.constant(x)), targets: targets).backward()
            sgd.step()
        }
    }
}

/// Floating-point operations of a batch-first self-attention forward: the stacked input
/// projection, the scores `Q·Kᵀ`, the weighted values and the output projection.
func attentionFlops(batch: Int, length: Int, embed: Int, heads: Int) -> Double {
    let tokens = Double(batch * length), e = Double(embed)
    let projections = 2 * tokens * e * 3 * e + 2 * tokens * e * e
    let scoresAndValues = 2 * 2 * Double(batch * heads) * Double(length * length) * Double(embed / heads)
    return projections + scoresAndValues
}

/// Floating-point operations of a convolution forward with padding `kernelSize / 2`: 2 per
/// multiply-add of every output element over its `C·k·k` window.
func convolutionFlops(inputShape: [Int], outputChannels: Int, kernelSize: Int, stride: Int) -> Double {
    let outputSize = { (size: Int) in (size + 2 * (kernelSize / 2) - kernelSize) / stride + 1 }
    let outputs = Double(inputShape[0] * outputChannels * outputSize(inputShape[2]) * outputSize(inputShape[3]))
    return 2 * outputs * Double(inputShape[1] * kernelSize * kernelSize)
}

/// The `NAME_fwd` and `NAME_fwdbwd` workloads of `Conv2d` with padding `kernelSize / 2` and a bias:
/// the forward alone without gradients, and the forward then the backward of a random upstream
/// gradient into the input, the weight and the bias.
func convolution(_ name: String, _ summary: String, inputShape: [Int], outputChannels: Int,
                 kernelSize: Int, stride: Int) -> [Workload] {
    let flops = convolutionFlops(inputShape: inputShape, outputChannels: outputChannels, kernelSize: kernelSize, stride: stride)
    return forwardAndBackward(name, summary, inputShape: inputShape, work: (.flops(flops, .float), .flops(3 * flops, .float))) { inputs in
        Conv2d(inputChannels: inputShape[1], outputChannels: outputChannels, kernelSize: WindowSize(kernelSize),
               stride: WindowSize(stride), padding: WindowSize(kernelSize / 2), generator: &inputs.generator)
    }
}

/// `C = A·B` on square float32 matrices.
func matmul(_ n: Int) -> Workload {
    Workload(name: "matmul\(n)", summary: "C = A·B, \(n) × \(n) float32", minimalWork: .flops(2 * pow(Double(n), 3), .float)) {
        var inputs = Inputs()
        let a = inputs.normal([n, n]), b = inputs.normal([n, n])
        return { _ = a.matmul(b) }
    }
}

/// The `NAME_fwd` and `NAME_fwdbwd` workloads of a normalization module on a random input
/// (`forwardAndBackward`). Their least memory traffic: x read and y written (forward); and dy read
/// and ∂x written (backward).
func normalization(_ name: String, _ summary: String, shape: [Int],
                   _ makeModule: @escaping () -> any Module<Float>) -> [Workload] {
    let tensorBytes = Double(shape.reduce(1, *) * MemoryLayout<Float>.size)
    return forwardAndBackward(name, summary, inputShape: shape, work: (.bytes(2 * tensorBytes), .bytes(4 * tensorBytes))) { _ in
        makeModule()
    }
}

/// The `NAME_fwd` and `NAME_fwdbwd` workloads of a module on a random input: the forward alone
/// without gradients, and the forward then the backward of a random upstream gradient into the
/// input and every parameter.
///
/// - Parameters:
///   - inputShape: The shape of the random input.
///   - work: The least work of the forward and of the forward with backward, for `--roofline`.
///   - makeModule: Builds the module, drawing any initial values from the inputs' generator.
func forwardAndBackward(_ name: String, _ summary: String, inputShape: [Int], work: (forward: MinimalWork, both: MinimalWork),
                        _ makeModule: @escaping (inout Inputs) -> any Module<Float>) -> [Workload] {
    [
        Workload(name: name + "_fwd", summary: summary + ", no gradients", minimalWork: work.forward) {
            var inputs = Inputs()
            let module = makeModule(&inputs)
            let x = inputs.normal(inputShape)
            return {
                withoutGradients {
                    let tape = Tape<Float>()
                    _ = module(tape.constant(x))
                }
            }
        },
        Workload(name: name + "_fwdbwd", summary: summary + ", backward of a random upstream gradient into x and the parameters",
                 minimalWork: work.both) {
            var inputs = Inputs()
            let module = makeModule(&inputs)
            let x = inputs.normal(inputShape)
            let outputShape = withoutGradients { module(Tape<Float>().constant(x)).shape }
            let upstream = inputs.normal(outputShape)
            let parameters = module.parameters
            return {
                for parameter in parameters { parameter.zeroGradient() }
                let tape = Tape<Float>()
                let input = tape.variable(x)
                module(input).backward(seed: upstream)
                precondition(input.grad != nil && parameters.allSatisfy { $0.grad != nil })
            }
        },
    ]
}
