// quickstart: an MLP with LayerNorm learns to separate two interleaved spirals.
//
//     swift run -c release quickstart [--steps N] [--seed S] [--output DIR]
//
// Prints the training progress, the test accuracy, and writes the learned decision boundary as SVG.
import Backprop
import ExampleSupport
import Foundation

var flags = Flags(usage: "quickstart [--steps N] [--seed S] [--points N] [--output DIR]")
let steps = flags.int("--steps", default: 800, help: "Adam steps (full batch)")
let seed = UInt64(flags.int("--seed", default: 0, help: "random seed for data and initialization"))
let pointsPerClass = flags.int("--points", default: 300, help: "training points per spiral")
let output = flags.string("--output", default: "examples-output", help: "folder for the SVG")
flags.finish()

/// Two spirals of `count` points each, turning 1.75 times, with a little noise; labels 0 and 1.
func spirals(count: Int, generator: inout SeededGenerator) -> (points: Tensor<Float>, labels: [Int]) {
    var scalars: [Float] = []
    var labels: [Int] = []
    for label in 0..<2 {
        for i in 0..<count {
            let t = Double(i) / Double(count)
            let radius = 0.1 + 0.9 * t
            let angle = 1.75 * 2 * Double.pi * t + Double(label) * Double.pi
            scalars.append(Float(radius * cos(angle) + 0.02 * generator.nextNormal()))
            scalars.append(Float(radius * sin(angle) + 0.02 * generator.nextNormal()))
            labels.append(label)
        }
    }
    return (Tensor(shape: [2 * count, 2], scalars: scalars), labels)
}

var generator = SeededGenerator(seed: seed)
let train = spirals(count: pointsPerClass, generator: &generator)
let test = spirals(count: pointsPerClass, generator: &generator)

let width = 64
let model = Sequential<Float>([
    Linear(inputSize: 2, outputSize: width, generator: &generator), LayerNorm(normalizedShape: [width]), Tanh(),
    Linear(inputSize: width, outputSize: width, generator: &generator), LayerNorm(normalizedShape: [width]), Tanh(),
    Linear(inputSize: width, outputSize: 2, generator: &generator),
])
let optimizer = Adam(parameters: model.parameters, learningRate: 1e-2)
print("quickstart: \(model.parameters.map { $0.value.count }.reduce(0, +)) parameters, \(2 * pointsPerClass) training points, \(steps) steps")

@MainActor func accuracy(_ points: Tensor<Float>, _ labels: [Int]) -> Double {
    model.eval()
    defer { model.train() }
    let logits = withoutGradients { model(Variable(points)).value }
    let predicted = logits.argmax(alongAxis: 1)
    return Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(labels.count)
}

let progress = Progress(total: steps, label: "training", unit: "samples")
var lastLoss = 0.0
for step in 1...steps {
    let tape = Tape<Float>()
    let loss = crossEntropy(logits: model(tape.constant(train.points)), targets: train.labels)
    optimizer.zeroGradients()
    loss.backward()
    optimizer.step()
    lastLoss = Double(loss.value.scalar)
    progress.update(step: step, loss: lastLoss, processed: step * train.labels.count)
}

let trainAccuracy = accuracy(train.points, train.labels)
let testAccuracy = accuracy(test.points, test.labels)

// The decision regions on a grid over the data.
let resolution = 120, extent = 1.2
var gridPoints: [Float] = []
for row in 0..<resolution {
    for column in 0..<resolution {
        let c = DecisionMap.cellCenter(row: row, column: column, resolution: resolution, extent: extent)
        gridPoints += [Float(c.x), Float(c.y)]
    }
}
model.eval()
let gridLogits = withoutGradients { model(Variable(Tensor(shape: [resolution * resolution, 2], scalars: gridPoints))).value }
let map = DecisionMap(
    title: "Two spirals, MLP with LayerNorm: test accuracy \(String(format: "%.1f", 100 * testAccuracy))%",
    extent: extent, resolution: resolution, grid: gridLogits.argmax(alongAxis: 1),
    points: (0..<test.labels.count).map { (Double(test.points[$0, 0]), Double(test.points[$0, 1]), test.labels[$0]) },
    classNames: ["spiral A", "spiral B"])
let path = output + "/quickstart-decision-boundary.svg"
do {
    try map.write(to: path)
} catch {
    print("quickstart: could not write \(path): \(error)")
    exit(1)
}

print("""

summary
  final training loss   \(String(format: "%.4f", lastLoss))
  training accuracy     \(String(format: "%.1f", 100 * trainAccuracy))%
  test accuracy         \(String(format: "%.1f", 100 * testAccuracy))%  (target > 95%)
  time                  \(String(format: "%.1f", progress.elapsed)) s
  decision boundary     \(path)
""")
exit(testAccuracy > 0.95 ? 0 : 1)
