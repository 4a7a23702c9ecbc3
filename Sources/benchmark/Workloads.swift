import Backprop

/// One benchmark workload: the same name, shapes and semantics as in the PyTorch reference.
struct Workload {
    /// The name shared with `pytorch_reference.py`.
    let name: String
    /// What it runs, for `--help`.
    let summary: String
    /// How many timed repetitions per `--reps` unit (the reference times `mlp_step` 10× as often).
    var repetitionFactor = 1
    /// Builds the inputs once and returns the closure to time.
    let prepare: () -> () -> Void
}

/// Random float32 tensors from a fixed seed, so every run times the same numbers.
struct Inputs {
    var generator = SeededGenerator(seed: 0)

    mutating func normal(_ shape: [Int]) -> Tensor<Float> {
        Tensor.randomNormal(shape: shape, using: &generator)
    }
}

/// Every workload of the reference, in its order. Adding one is a single entry here.
var workloads: [Workload] {
    var list = [matmul(512), matmul(1024)]
    list += [
    Workload(name: "linear_fwd", summary: "Linear(768 → 768) forward on [4096, 768], no gradients") {
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
    Workload(name: "linear_fwdbwd", summary: "Linear(768 → 768) on [4096, 768], backward of a random upstream gradient into x, W, b") {
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
    list.append(Workload(name: "mlp_step", summary: "MLP 32-64-64-10 (ReLU), batch 32, cross-entropy, SGD step", repetitionFactor: 10) {
        var inputs = Inputs()
        let mlp = Sequential<Float>(
            Linear(inputSize: 32, outputSize: 64, generator: &inputs.generator), ReLU(),
            Linear(inputSize: 64, outputSize: 64, generator: &inputs.generator), ReLU(),
            Linear(inputSize: 64, outputSize: 10, generator: &inputs.generator))
        let sgd = SGD(parameters: mlp.parameters, learningRate: 0.01)
        let x = inputs.normal([32, 32])
        let targets = (0..<32).map { _ in Int(inputs.generator.next() % 10) }
        return {
            sgd.zeroGradients()
            let tape = Tape<Float>()
            crossEntropy(logits: mlp(tape.constant(x)), targets: targets).backward()
            sgd.step()
        }
    })
    list.append(Workload(name: "block_step", summary: "post-LN Transformer block d=256, 4 heads, FFN 1024 (ReLU), input [8, 128, 256], mean(y²), AdamW step") {
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
        let targets = (0..<128).map { _ in Int(inputs.generator.next() % 10) }
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

/// `C = A·B` on square float32 matrices.
func matmul(_ n: Int) -> Workload {
    Workload(name: "matmul\(n)", summary: "C = A·B, \(n) × \(n) float32") {
        var inputs = Inputs()
        let a = inputs.normal([n, n]), b = inputs.normal([n, n])
        return { _ = a.matmul(b) }
    }
}

/// The `NAME_fwd` and `NAME_fwdbwd` workloads of a normalization module on a random input: the
/// forward alone without gradients, and the forward then the backward of a random upstream
/// gradient into the input and every parameter.
func normalization(_ name: String, _ summary: String, shape: [Int],
                   _ makeModule: @escaping () -> any Module<Float>) -> [Workload] {
    [
        Workload(name: name + "_fwd", summary: summary + ", no gradients") {
            var inputs = Inputs()
            let module = makeModule()
            let x = inputs.normal(shape)
            return {
                withoutGradients {
                    let tape = Tape<Float>()
                    _ = module(tape.constant(x))
                }
            }
        },
        Workload(name: name + "_fwdbwd", summary: summary + ", backward of a random upstream gradient into x and the parameters") {
            var inputs = Inputs()
            let module = makeModule()
            let x = inputs.normal(shape)
            let upstream = inputs.normal(shape)
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
