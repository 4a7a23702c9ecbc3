import Backprop

/// One benchmark workload: the same name, shapes and semantics as in the PyTorch reference.
struct Workload {
    /// The name shared with `pytorch_reference.py`.
    let name: String
    /// What it runs, for `--help`.
    let summary: String
    /// How many timed repetitions per `--reps` unit (the reference times `mlp_step` 10× as often).
    var repetitionFactor = 1
    /// Builds the inputs once and returns the closure to time; `nil` while the layers it needs are
    /// not part of Backprop yet.
    let prepare: (() -> () -> Void)?
}

/// Random float32 tensors from a fixed seed, so every run times the same numbers.
struct Inputs {
    var generator = SeededGenerator(seed: 0)

    mutating func normal(_ shape: [Int]) -> Tensor<Float> {
        Tensor.randomNormal(shape: shape, using: &generator)
    }

    /// PyTorch's `nn.Linear` initialization: uniform in ±1/√fanIn.
    mutating func linearParameters(inFeatures: Int, outFeatures: Int) -> (weight: Parameter<Float>, bias: Parameter<Float>) {
        let bound = 1 / Float(inFeatures).squareRoot()
        let weight = Tensor<Float>.randomUniform(shape: [outFeatures, inFeatures], in: -bound..<bound, using: &generator)
        let bias = Tensor<Float>.randomUniform(shape: [outFeatures], in: -bound..<bound, using: &generator)
        return (Parameter(weight), Parameter(bias))
    }
}

/// `y = x·Wᵀ + b`, written with the differentiable primitives (the `Linear` layer is not in this phase).
func linear(_ x: Variable<Float>, weight: Variable<Float>, bias: Variable<Float>) -> Variable<Float> {
    x.matmul(weight.transposed()) + bias
}

/// Every workload of the reference, in its order. Adding one is a single entry here.
var workloads: [Workload] { [
    matmul(512),
    matmul(1024),
    Workload(name: "linear_fwd", summary: "Linear(768 → 768) forward on [4096, 768], no gradients") {
        var inputs = Inputs()
        let (weight, bias) = inputs.linearParameters(inFeatures: 768, outFeatures: 768)
        let x = inputs.normal([4096, 768])
        return {
            withoutGradients {
                let tape = Tape<Float>()
                _ = linear(tape.constant(x), weight: tape.variable(for: weight), bias: tape.variable(for: bias))
            }
        }
    },
    Workload(name: "linear_fwdbwd", summary: "Linear(768 → 768) on [4096, 768], backward of a random upstream gradient into x, W, b") {
        var inputs = Inputs()
        let (weight, bias) = inputs.linearParameters(inFeatures: 768, outFeatures: 768)
        let x = inputs.normal([4096, 768])
        let upstream = inputs.normal([4096, 768])
        return {
            weight.zeroGradient()
            bias.zeroGradient()
            let tape = Tape<Float>()
            let input = tape.variable(x)
            let y = linear(input, weight: tape.variable(for: weight), bias: tape.variable(for: bias))
            y.backward(seed: upstream)
            precondition(input.grad != nil && weight.grad != nil)
        }
    },
    pending("layernorm_fwd", "LayerNorm(768) on [8192, 768]"),
    pending("layernorm_fwdbwd", "LayerNorm(768) on [8192, 768], forward and backward"),
    pending("rmsnorm_fwd", "RMSNorm(768) on [8192, 768]"),
    pending("rmsnorm_fwdbwd", "RMSNorm(768) on [8192, 768], forward and backward"),
    pending("batchnorm2d_fwd", "BatchNorm2d(64), training mode, on [32, 64, 32, 32]"),
    pending("batchnorm2d_fwdbwd", "BatchNorm2d(64), training mode, on [32, 64, 32, 32], forward and backward"),
    pending("groupnorm_fwd", "GroupNorm(8 groups, 64 channels) on [32, 64, 32, 32]"),
    pending("groupnorm_fwdbwd", "GroupNorm(8 groups, 64 channels) on [32, 64, 32, 32], forward and backward"),
    pending("instancenorm2d_fwd", "InstanceNorm2d(64, affine) on [32, 64, 32, 32]"),
    pending("instancenorm2d_fwdbwd", "InstanceNorm2d(64, affine) on [32, 64, 32, 32], forward and backward"),
    Workload(name: "mlp_step", summary: "MLP 32-64-64-10 (ReLU), batch 32, cross-entropy, SGD step", repetitionFactor: 10, prepare: nil),
    pending("block_step", "post-LN Transformer block d=256, 4 heads, FFN 1024, input [8, 128, 256], mean(y²), AdamW step"),
] }

/// `C = A·B` on square float32 matrices.
func matmul(_ n: Int) -> Workload {
    Workload(name: "matmul\(n)", summary: "C = A·B, \(n) × \(n) float32") {
        var inputs = Inputs()
        let a = inputs.normal([n, n]), b = inputs.normal([n, n])
        return { _ = a.matmul(b) }
    }
}

/// A workload whose layers arrive in a later phase: listed, not run.
func pending(_ name: String, _ summary: String) -> Workload {
    Workload(name: name, summary: summary, prepare: nil)
}
