import Backprop
import Foundation

/// A family of `--sweep`: one layer or kernel over a grid of shapes, so that a slow layout shows up
/// as its own line instead of hiding in one reference shape.
enum SweepFamily: String, CaseIterable {
    case normalization, gemm, conv

    /// The grid, each shape with its Backprop workload and the same case on PyTorch.
    var cases: [SweepCase] {
        switch self {
        case .normalization: normalizationSweep
        case .gemm: gemmSweep
        case .conv: convolutionSweep
        }
    }
}

/// One shape of a sweep: the Backprop workload and a Python expression (over the helpers of
/// `sweepScriptPrelude`) that builds the same case on PyTorch and returns the function to time.
struct SweepCase {
    /// The Backprop side, named as the table shows it.
    var workload: Workload
    /// The PyTorch side.
    var python: String
}

/// The seconds of timed runs each side gets per shape and round (at least 3 runs, at most `--reps`).
let sweepBudgetSeconds = 0.25

extension Workload {
    /// The same workload under another name.
    func renamed(_ name: String) -> Workload {
        Workload(name: name, summary: summary, repetitionFactor: repetitionFactor, minimalWork: minimalWork, prepare: prepare)
    }
}

/// A normalization layer's fwd and fwdbwd on one shape.
private func normalizationCases(_ label: String, _ shape: [Int], python: String,
                                _ makeModule: @escaping () -> any Module<Float>) -> [SweepCase] {
    let pair = normalization(label, label, shape: shape, makeModule)
    let shapeText = "(" + shape.map(String.init).joined(separator: ", ") + ")"
    return [
        SweepCase(workload: pair[0].renamed("\(label) \(shape) fwd"), python: "norm(\(python), \(shapeText), False)"),
        SweepCase(workload: pair[1].renamed("\(label) \(shape) fwdbwd"), python: "norm(\(python), \(shapeText), True)"),
    ]
}

/// BatchNorm over rank 2, 3 and 4 inputs with 1 to 4,096 values per plane, LayerNorm and RMSNorm
/// rows of 64 to 8,192, GroupNorm with one group, a few, and one per channel, InstanceNorm2d.
var normalizationSweep: [SweepCase] {
    var cases: [SweepCase] = []
    for n in [32, 256, 1024] {
        for c in [64, 512, 4096] {
            cases += normalizationCases("batchnorm1d", [n, c], python: "nn.BatchNorm1d(\(c))") { BatchNorm(numFeatures: c) }
        }
    }
    for shape in [[64, 128, 8], [32, 64, 100], [8, 32, 4096]] {
        cases += normalizationCases("batchnorm1d", shape, python: "nn.BatchNorm1d(\(shape[1]))") { BatchNorm(numFeatures: shape[1]) }
    }
    for shape in [[256, 64, 1, 1], [64, 64, 4, 4], [32, 64, 32, 32], [16, 32, 64, 64]] {
        cases += normalizationCases("batchnorm2d", shape, python: "nn.BatchNorm2d(\(shape[1]))") { BatchNorm(numFeatures: shape[1]) }
    }
    for shape in [[16384, 64], [4096, 768], [512, 8192]] {
        let c = shape[1]
        cases += normalizationCases("layernorm", shape, python: "nn.LayerNorm(\(c))") { LayerNorm(normalizedShape: [c]) }
        cases += normalizationCases("rmsnorm", shape, python: "nn.RMSNorm(\(c))") { RMSNorm(normalizedShape: [c]) }
    }
    for (groups, shape) in [(1, [32, 64, 32, 32]), (8, [32, 64, 32, 32]), (32, [32, 64, 32, 32]), (64, [32, 64, 32, 32]),
                            (32, [64, 256, 7, 7])] {
        let c = shape[1]
        cases += normalizationCases("groupnorm(\(groups))", shape, python: "nn.GroupNorm(\(groups), \(c))") {
            GroupNorm(numGroups: groups, numChannels: c)
        }
    }
    for shape in [[32, 64, 32, 32], [8, 256, 7, 7], [4, 32, 128, 128]] {
        cases += normalizationCases("instancenorm2d", shape, python: "nn.InstanceNorm2d(\(shape[1]), affine=True)") {
            InstanceNorm(numFeatures: shape[1], affine: true)
        }
    }
    return cases
}

/// How a GEMM case lays out its operands.
private enum GEMMLayout: String {
    /// `A·B`, both row-major.
    case plain = "A·B"
    /// `Aᵀ·B` with A stored `[K, M]`: `a.transposed().matmul(b)`, the transpose copied first.
    case transposedA = "Aᵀ·B"
    /// `A·Bᵀ` with B stored `[N, K]`: `a.matmul(b.transposed())`, the transpose copied first.
    case transposedB = "A·Bᵀ"
    /// `A·Bᵀ` as `Linear` without bias and without gradients, which reads B transposed in place.
    case linear = "Linear x·Wᵀ"
    /// `Linear` with bias, forward and backward of a random upstream gradient into x, W and b: the
    /// products `x·Wᵀ`, `g·W` and `gᵀ·x` (M×K input, N outputs) and the bias's column sums.
    case linearTraining = "Linear fwd+bwd"
}

/// One product `[M, K]·[K, N]` in `Scalar` (`Float` or `Double`).
private func gemmCase<Scalar: TensorScalar>(_ type: Scalar.Type, _ layout: GEMMLayout, m: Int, k: Int, n: Int) -> SweepCase {
    let double = Scalar.self == Double.self
    let name = "\(double ? "f64" : "f32") \(layout.rawValue) \(m)×\(k)×\(n)"
    let code: String
    switch layout {
    case .plain: code = "nn"
    case .transposedA: code = "tn"
    case .transposedB: code = "nt"
    case .linear: code = "linear"
    case .linearTraining: code = "linear_train"
    }
    let python = "gemm(\(m), \(k), \(n), torch.\(double ? "float64" : "float32"), \"\(code)\")"
    let products = layout == .linearTraining ? 3.0 : 1.0
    let workload = Workload(name: name, summary: name,
                            minimalWork: .flops(products * 2 * Double(m) * Double(k) * Double(n), double ? .double : .float)) {
        var generator = SeededGenerator(seed: 0)
        let a = Tensor<Scalar>.randomNormal(shape: layout == .transposedA ? [k, m] : [m, k], using: &generator)
        let b = Tensor<Scalar>.randomNormal(shape: [.transposedB, .linear, .linearTraining].contains(layout) ? [n, k] : [k, n],
                                            using: &generator)
        switch layout {
        case .plain: return { _ = a.matmul(b) }
        case .transposedA: return { _ = a.transposed().matmul(b) }
        case .transposedB: return { _ = a.matmul(b.transposed()) }
        case .linear:
            let linear = Linear(weight: b)
            return { withoutGradients { _ = linear(Tape<Scalar>().constant(a)) } }
        case .linearTraining:
            let linear = Linear<Scalar>(weight: b, bias: Tensor(zeros: [n]))
            let upstream = Tensor<Scalar>.randomNormal(shape: [m, n], using: &generator)
            return {
                linear.weight.zeroGradient()
                linear.bias?.zeroGradient()
                let tape = Tape<Scalar>()
                let input = tape.variable(a)
                linear(input).backward(seed: upstream)
                precondition(input.grad != nil && linear.weight.grad != nil)
            }
        }
    }
    return SweepCase(workload: workload, python: python)
}

/// Square `Float` products 64 to 2,048, the non-square shapes of a Transformer's layers, a skinny
/// product and a rank-64 update, transposed operands, and square `Double` products.
var gemmSweep: [SweepCase] {
    var cases = [64, 128, 256, 512, 1024, 2048].map { gemmCase(Float.self, .plain, m: $0, k: $0, n: $0) }
    cases += [(4096, 768, 768), (4096, 768, 3072), (32, 4096, 1024), (1024, 64, 1024)].map {
        gemmCase(Float.self, .plain, m: $0.0, k: $0.1, n: $0.2)
    }
    cases += [
        gemmCase(Float.self, .transposedA, m: 1024, k: 1024, n: 1024),
        gemmCase(Float.self, .transposedB, m: 1024, k: 1024, n: 1024),
        gemmCase(Float.self, .transposedA, m: 768, k: 4096, n: 768),
        gemmCase(Float.self, .transposedB, m: 4096, k: 768, n: 768),
        gemmCase(Float.self, .linear, m: 4096, k: 768, n: 768),
    ]
    // The layers of all-MiniLM-L6-v2 on 16 sentences of 36 tokens (attention projections, FFN).
    cases += [(576, 384, 384), (576, 384, 1536), (576, 1536, 384)].map {
        gemmCase(Float.self, .linearTraining, m: $0.0, k: $0.1, n: $0.2)
    }
    cases += [256, 512, 1024].map { gemmCase(Double.self, .plain, m: $0, k: $0, n: $0) }
    return cases
}

/// Twelve convolutions (batch 1 to 64, 16 to 256 channels, 7×7 to 64×64 images, 3×3 and 1×1
/// kernels, stride 1 and 2), each fwd and fwdbwd.
var convolutionSweep: [SweepCase] {
    // (batch, input channels, output channels, image size, kernel size, stride)
    let shapes = [
        (1, 64, 64, 56, 3, 1), (32, 16, 16, 32, 3, 1), (8, 64, 64, 56, 3, 1), (8, 64, 128, 28, 3, 1),
        (16, 128, 128, 14, 3, 1), (64, 256, 256, 7, 3, 1), (4, 16, 32, 64, 3, 1), (8, 64, 128, 56, 3, 2),
        (16, 128, 256, 28, 3, 2), (8, 64, 256, 56, 1, 1), (32, 256, 64, 14, 1, 1), (8, 128, 256, 28, 1, 2),
    ]
    return shapes.flatMap { n, ci, co, size, k, stride -> [SweepCase] in
        let label = "conv \(k)×\(k) s\(stride) [\(n), \(ci), \(size), \(size)]→\(co)"
        let pair = convolution(label, label, inputShape: [n, ci, size, size], outputChannels: co, kernelSize: k, stride: stride)
        let arguments = "\(n), \(ci), \(co), \(size), \(k), \(stride)"
        return [
            SweepCase(workload: pair[0].renamed(label + " fwd"), python: "conv(\(arguments), False)"),
            SweepCase(workload: pair[1].renamed(label + " fwdbwd"), python: "conv(\(arguments), True)"),
        ]
    }
}

/// The helpers the sweeps' Python expressions use, and the same time budget rule as
/// `measure(reps:budgetSeconds:)`. Run as `python3 - REPS THREADS BUDGET`; prints
/// name → {"min": ms, "median": ms}.
let sweepScriptPrelude = #"""
import json, sys, time
import torch, torch.nn as nn, torch.nn.functional as F

REPS, THREADS, BUDGET = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
torch.set_num_threads(THREADS)
torch.manual_seed(0)

def measure(fn):
    fn()
    t = time.perf_counter(); fn(); first = time.perf_counter() - t
    count = max(3, min(REPS, int(BUDGET / max(first, 1e-6))))
    ts = []
    for _ in range(count):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    ts.sort()
    return {"min": round(1e3 * ts[0], 4), "median": round(1e3 * ts[len(ts) // 2], 4)}

def forward_or_backward(mod, x, backward):
    if not backward:
        def run():
            with torch.no_grad():
                mod(x)
        return run
    with torch.no_grad():
        dy = torch.randn(mod(x).shape)
    def run():
        x.grad = None
        for p in mod.parameters():
            p.grad = None
        mod(x).backward(dy)
    return run

def norm(mod, shape, backward):
    return forward_or_backward(mod, torch.randn(*shape, requires_grad=backward), backward)

def conv(n, ci, co, size, k, stride, backward):
    mod = nn.Conv2d(ci, co, k, stride=stride, padding=k // 2)
    return forward_or_backward(mod, torch.randn(n, ci, size, size, requires_grad=backward), backward)

def gemm(m, k, n, dtype, layout):
    a = torch.randn(k, m, dtype=dtype) if layout == "tn" else torch.randn(m, k, dtype=dtype)
    b = torch.randn(n, k, dtype=dtype) if layout in ("nt", "linear", "linear_train") else torch.randn(k, n, dtype=dtype)
    if layout == "linear_train":
        lin = nn.Linear(k, n).to(dtype)
        with torch.no_grad():
            lin.weight.copy_(b)
        x = a.clone().requires_grad_(True)
        g = torch.randn(m, n, dtype=dtype)
        def train():
            lin.zero_grad(set_to_none=True)
            x.grad = None
            lin(x).backward(g)
        return train
    if layout == "tn":
        return lambda: a.t() @ b
    if layout == "nt":
        return lambda: a @ b.t()
    if layout == "linear":
        def run():
            with torch.no_grad():
                F.linear(a, b)
        return run
    return lambda: a @ b

"""#

/// The whole PyTorch program of a sweep: the prelude, the cases, and the loop that times them.
func sweepScript(_ cases: [SweepCase]) -> String {
    var script = sweepScriptPrelude + "CASES = [\n"
    for sweepCase in cases {
        script += "    (\(pythonStringLiteral(sweepCase.workload.name)), lambda: \(sweepCase.python)),\n"
    }
    script += """
    ]
    out = {}
    for name, make in CASES:
        out[name] = measure(make())
    print(json.dumps(out))

    """
    return script
}

/// A Python string literal of `text` (a JSON string is one).
private func pythonStringLiteral(_ text: String) -> String {
    let data = try! JSONSerialization.data(withJSONObject: [text])
    return String(decoding: data, as: UTF8.self).dropFirst().dropLast().description
}

/// Runs a sweep: Backprop then PyTorch, `--rounds` times, then the ratio table and, with
/// `--roofline`, each shape's fraction of the machine's limit.
func runSweep(_ family: SweepFamily, options: Options, limits: MachineLimits?) {
    let cases = family.cases
    let script = sweepScript(cases)
    var comparison = Comparison()
    for round in 0..<options.rounds {
        FileHandle.standardError.write(Data("benchmark: sweep \(family.rawValue), round \(round + 1) of \(options.rounds): Backprop, \(cases.count) cases\n".utf8))
        let results = cases.map { sweepCase in
            let run = sweepCase.workload.prepare()
            return (sweepCase.workload.name, measure(reps: options.reps, budgetSeconds: sweepBudgetSeconds, run))
        }
        FileHandle.standardError.write(Data("benchmark: sweep \(family.rawValue), round \(round + 1) of \(options.rounds): PyTorch\n".utf8))
        guard let reference = runTimingScript(script, arguments: [String(options.reps), String(Parallelism.workerCount),
                                                                  String(sweepBudgetSeconds)],
                                              what: "the PyTorch side of the \(family.rawValue) sweep") else {
            exit(1)
        }
        comparison.add(ours: results, theirs: reference)
    }
    print("sweep \(family.rawValue): threads \(Parallelism.workerCount), up to \(options.reps) reps within \(sweepBudgetSeconds) s per shape and side, rounds \(options.rounds)"
          + (loadAverageAtStart.map { ", load average at the start: \($0)" } ?? "") + (family == .gemm ? "; sizes M×K×N" : ""))
    comparison.printTable(cases.map(\.workload.name), statistic: options.statistic, rounds: options.rounds)
    if let limits {
        printRoofline(cases.map(\.workload), ours: comparison.ours, theirs: comparison.theirs, limits: limits,
                      statistic: options.statistic ?? .min)
    }
}
