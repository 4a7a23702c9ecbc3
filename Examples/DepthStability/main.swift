// depth-stability: why normalization is used. Deep MLPs with no normalization, BatchNorm, LayerNorm
// and RMSNorm, with and without residual connections, measured at initialization (per-layer
// activation and gradient norms) and in training (loss curves).
//
//     swift run -c release depth-stability [--depths 8,32,64] [--steps N] [--seed S] [--output DIR]
import Backprop
import ExampleSupport
import Foundation

var flags = Flags(usage: "depth-stability [--depths 8,32,64] [--width W] [--batch B] [--steps N] [--train-depths 8,32] [--seed S] [--output DIR]")
let depths = flags.string("--depths", default: "8,32,64", help: "stack depths measured at initialization").split(separator: ",").compactMap { Int($0) }
let width = flags.int("--width", default: 64, help: "hidden width")
let batchSize = flags.int("--batch", default: 64, help: "batch size")
let steps = flags.int("--steps", default: 150, help: "training steps per configuration")
let trainDepths = flags.string("--train-depths", default: "8,32", help: "depths of the stacks that are trained").split(separator: ",").compactMap { Int($0) }
let seed = UInt64(flags.int("--seed", default: 0, help: "random seed"))
let output = flags.string("--output", default: "examples-output", help: "folder for the SVG charts and the table")
flags.finish()

let inputSize = 32, classes = 10

enum Norm: String, CaseIterable {
    case none, batchNorm = "BatchNorm", layerNorm = "LayerNorm", rmsNorm = "RMSNorm"

    func make() -> (any Module<Float>)? {
        switch self {
        case .none: return nil
        case .batchNorm: return BatchNorm<Float>(numFeatures: width)
        case .layerNorm: return LayerNorm<Float>(normalizedShape: [width])
        case .rmsNorm: return RMSNorm<Float>(normalizedShape: [width])
        }
    }
}

/// One hidden layer. Plain: `h ← relu(norm(W h))`. Residual (pre-norm): `h ← h + W relu(norm(h))`.
final class Block: Module {
    let linear: Linear<Float>
    let norm: (any Module<Float>)?
    let residual: Bool

    init(norm: Norm, residual: Bool, generator: inout SeededGenerator) {
        linear = Linear(inputSize: width, outputSize: width, generator: &generator)
        self.norm = norm.make()
        self.residual = residual
    }

    func callAsFunction(_ x: Variable<Float>) -> Variable<Float> {
        if residual {
            let h = norm.map { $0(x) } ?? x
            return x + linear(h.relu())
        }
        let h = linear(x)
        return (norm.map { $0(h) } ?? h).relu()
    }
}

/// input projection, `depth` blocks, output projection.
final class DeepMLP: Module {
    let input: Linear<Float>
    let blocks: [Block]
    let head: Linear<Float>

    init(depth: Int, norm: Norm, residual: Bool, generator: inout SeededGenerator) {
        input = Linear(inputSize: inputSize, outputSize: width, generator: &generator)
        blocks = (0..<depth).map { _ in Block(norm: norm, residual: residual, generator: &generator) }
        head = Linear(inputSize: width, outputSize: classes, generator: &generator)
    }

    /// The logits, and the output of every block (for the activation norms).
    func forward(_ x: Variable<Float>) -> (logits: Variable<Float>, activations: [Variable<Float>]) {
        var h = input(x)
        var activations: [Variable<Float>] = []
        for block in blocks {
            h = block(h)
            activations.append(h)
        }
        return (head(h), activations)
    }

    func callAsFunction(_ x: Variable<Float>) -> Variable<Float> { forward(x).logits }
}

/// A fixed random teacher network labels Gaussian inputs: a learnable 10-class task.
struct Task {
    let teacher: [Tensor<Float>]

    init(generator: inout SeededGenerator) {
        teacher = [Tensor.randomNormal(shape: [inputSize, 64], standardDeviation: 1 / Float(inputSize).squareRoot(), using: &generator),
                   Tensor.randomNormal(shape: [64, classes], standardDeviation: 1 / 8, using: &generator)]
    }

    func batch(_ generator: inout SeededGenerator) -> (Tensor<Float>, [Int]) {
        let x = Tensor<Float>.randomNormal(shape: [batchSize, inputSize], using: &generator)
        let logits = x.matmul(teacher[0]).tanh().matmul(teacher[1])
        return (x, logits.argmax(alongAxis: 1))
    }
}

func norm2(_ t: Tensor<Float>) -> Double { t.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
func rms(_ t: Tensor<Float>) -> Double { norm2(t) / Double(max(t.count, 1)).squareRoot() }

let normColors: [Norm: String] = [.none: "#1f77b4", .batchNorm: "#d62728", .layerNorm: "#2ca02c", .rmsNorm: "#ff7f0e"]

var generator = SeededGenerator(seed: seed)
let task = Task(generator: &generator)
var probeGenerator = SeededGenerator(seed: seed &+ 1)
let probe = task.batch(&probeGenerator)

struct InitMeasurement {
    var depth: Int, norm: Norm, residual: Bool
    var activationRMS: [Double]   // per block output
    var gradientNorms: [Double]   // ‖∂L/∂W‖ per block
}

// 1. At initialization: one forward and backward on a fixed batch.
var measurements: [InitMeasurement] = []
let configurations = depths.flatMap { d in [false, true].flatMap { r in Norm.allCases.map { (d, $0, r) } } }
print("depth-stability: measuring \(configurations.count) configurations at initialization (width \(width), batch \(batchSize))")
for (depth, norm, residual) in configurations {
    var modelGenerator = SeededGenerator(seed: seed &+ 100)
    let model = DeepMLP(depth: depth, norm: norm, residual: residual, generator: &modelGenerator)
    let tape = Tape<Float>()
    let (logits, activations) = model.forward(tape.constant(probe.0))
    crossEntropy(logits: logits, targets: probe.1).backward()
    measurements.append(InitMeasurement(depth: depth, norm: norm, residual: residual,
                                        activationRMS: activations.map { rms($0.value) },
                                        gradientNorms: model.blocks.map { $0.linear.weight.grad.map(norm2) ?? 0 }))
}

// 2. Training: the same task, Adam, for every normalization at each training depth, plain and residual.
var curves: [(depth: Int, name: String, losses: [Double], norm: Norm, residual: Bool)] = []
let progress = Progress(total: 8 * steps * trainDepths.count, label: "training", unit: "samples")
var done = 0
for depth in trainDepths {
    for residual in [false, true] {
        for norm in Norm.allCases {
            var modelGenerator = SeededGenerator(seed: seed &+ 100)
            let model = DeepMLP(depth: depth, norm: norm, residual: residual, generator: &modelGenerator)
            let optimizer = Adam(parameters: model.parameters, learningRate: 1e-3)
            var dataGenerator = SeededGenerator(seed: seed &+ 2)
            var losses: [Double] = []
            for _ in 0..<steps {
                let (x, y) = task.batch(&dataGenerator)
                let tape = Tape<Float>()
                let loss = crossEntropy(logits: model(tape.constant(x)), targets: y)
                optimizer.zeroGradients()
                loss.backward()
                optimizer.step()
                let value = Double(loss.value.scalar)
                losses.append(value.isFinite ? value : .nan)
                done += 1
                progress.update(step: done, loss: value, processed: done * batchSize)
            }
            curves.append((depth, "\(norm.rawValue)\(residual ? " + residual" : "")", losses, norm, residual))
        }
    }
}

// 3. Report.
func sci(_ x: Double) -> String { x.isFinite ? String(format: "%.2e", x) : "\(x)" }
func span(_ values: [Double]) -> Double {
    let positive = values.filter { $0 > 0 && $0.isFinite }
    guard let lo = positive.min(), let hi = positive.max(), positive.count == values.count else { return .infinity }
    return log10(hi / lo)
}
var rows: [[String]] = []
for m in measurements {
    let curve = curves.first { $0.depth == m.depth && $0.norm == m.norm && $0.residual == m.residual }
    let finalLoss = curve.map { c in c.losses.suffix(10).reduce(0, +) / Double(min(10, c.losses.count)) }
    rows.append(["\(m.depth)", m.norm.rawValue, m.residual ? "yes" : "no",
                 sci(m.activationRMS.first ?? 0), sci(m.activationRMS.last ?? 0),
                 sci(m.gradientNorms.first ?? 0), sci(m.gradientNorms.last ?? 0),
                 String(format: "%.1f", span(m.gradientNorms)),
                 finalLoss.map { String(format: "%.3f", $0) } ?? "-"])
}
let table = textTable(["depth", "norm", "residual", "act RMS first", "act RMS last", "‖∂L/∂W‖ first", "‖∂L/∂W‖ last",
                       "grad span (decades)", "loss after \(steps) steps"], rows)

var charts: [String] = []
let deepest = depths.max() ?? 64
for residual in [false, true] {
    var gradients = LineChart(title: "Gradient norm per layer at initialization, depth \(deepest)\(residual ? ", residual" : "")",
                              xLabel: "layer", yLabel: "‖∂L/∂W‖ (log scale)", logarithmicY: true)
    var activations = LineChart(title: "Activation RMS per layer at initialization, depth \(deepest)\(residual ? ", residual" : "")",
                                xLabel: "layer", yLabel: "RMS of block output (log scale)", logarithmicY: true)
    for m in measurements where m.depth == deepest && m.residual == residual {
        gradients.add(Series(name: m.norm.rawValue, values: m.gradientNorms, color: normColors[m.norm]))
        activations.add(Series(name: m.norm.rawValue, values: m.activationRMS, color: normColors[m.norm]))
    }
    let suffix = residual ? "-residual" : ""
    charts.append(output + "/depth-stability-gradients\(suffix).svg")
    try gradients.write(to: charts.last!)
    charts.append(output + "/depth-stability-activations\(suffix).svg")
    try activations.write(to: charts.last!)
}
/// Mean of the last `window` values at each step: the curves are per-batch losses.
func smoothed(_ values: [Double], window: Int = 10) -> [Double] {
    values.indices.map { i in
        let slice = values[max(0, i - window + 1)...i]
        return slice.reduce(0, +) / Double(slice.count)
    }
}
for depth in trainDepths {
    var lossChart = LineChart(title: "Training loss, depth \(depth), Adam lr 1e-3 (10-step moving average)", xLabel: "step", yLabel: "cross-entropy")
    for c in curves where c.depth == depth {
        lossChart.add(Series(name: c.name, values: smoothed(c.losses), color: normColors[c.norm], dashed: c.residual))
    }
    charts.append(output + "/depth-stability-loss-depth\(depth).svg")
    try lossChart.write(to: charts.last!)
}
let tablePath = output + "/depth-stability-table.txt"
try writeAtomically(table + "\n", to: tablePath)

@MainActor func spans(residual: Bool) -> String {
    measurements.filter { $0.depth == deepest && $0.residual == residual }
        .map { "\($0.norm.rawValue) \(String(format: "%.1f", span($0.gradientNorms)))" }.joined(separator: ", ")
}
@MainActor func finalLoss(depth: Int, _ norm: Norm, residual: Bool) -> String {
    guard let c = curves.first(where: { $0.depth == depth && $0.norm == norm && $0.residual == residual }) else { return "-" }
    return String(format: "%.2f", c.losses.suffix(10).reduce(0, +) / Double(min(10, c.losses.count)))
}
let lossLines = trainDepths.flatMap { d in [false, true].map { r in
    "    depth \(d) \(r ? "residual" : "plain   ")  " + Norm.allCases.map { "\($0.rawValue) \(finalLoss(depth: d, $0, residual: r))" }.joined(separator: ", ")
} }.joined(separator: "\n")
print("""

\(table)

summary
  Spread of the per-layer gradient norms ‖∂L/∂W‖ at initialization, depth \(deepest), in decades (log10 max/min):
    plain stacks      \(spans(residual: false))
    residual stacks   \(spans(residual: true))
  Without normalization the plain stack's gradients vanish toward the input, spanning many orders of
  magnitude; LayerNorm and RMSNorm keep every layer's gradient within about one order. BatchNorm in a
  plain stack keeps the forward signal at unit scale but its backward gradient grows layer by layer
  toward the input (the gradient explosion of batch-normalized deep networks at initialization,
  Yang et al., ICLR 2019); with residual connections every normalized stack stays within one order.
  Loss after \(steps) steps (chance level ln 10 = 2.30):
\(lossLines)
  Deep plain stacks train slowly with or without normalization; residual connections with
  normalization train at every depth.
  time \(String(format: "%.1f", progress.elapsed)) s
  charts: \(charts.joined(separator: "\n          "))
  table:  \(tablePath)
""")
