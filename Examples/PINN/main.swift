// pinn: a physics-informed neural network. A tanh MLP u(x, y) learns the solution of the Poisson
// equation −Δu = f on the unit square with u = 0 on the boundary, for the manufactured solution
// u*(x, y) = sin(πx)·sin(πy) (so f = 2π²·sin(πx)·sin(πy)). The loss contains Δu = ∂²u/∂x² + ∂²u/∂y²,
// computed by differentiating the network twice with respect to its input (createGraph), and the
// optimizer differentiates that loss once more with respect to the weights: third derivatives of
// the network, all exact.
//
//     swift run -c release pinn [--steps N] [--width W] [--points N] [--seed S] [--output DIR]
import Backprop
import ExampleSupport
import Foundation

var flags = Flags(usage: "pinn [--steps N] [--width W] [--points N] [--learning-rate LR] [--boundary-weight W] [--seed S] [--output DIR]")
let steps = flags.int("--steps", default: 3000, help: "Adam steps")
let width = flags.int("--width", default: 32, help: "hidden width of the three tanh layers")
let pointCount = flags.int("--points", default: 512, help: "interior collocation points")
let learningRate = flags.double("--learning-rate", default: 3e-3, help: "peak Adam learning rate (cosine decay)")
let boundaryWeight = flags.double("--boundary-weight", default: 100, help: "weight of the boundary term in the loss")
let seed = UInt64(flags.int("--seed", default: 0, help: "random seed"))
let output = flags.string("--output", default: "examples-output", help: "folder for the SVG figures")
flags.finish()

/// u(x, y): three tanh layers and a linear output, in Double (the loss needs its second derivatives).
final class Network: Module {
    let layers: [Linear<Double>]

    init(width: Int, generator: inout SeededGenerator) {
        layers = [Linear(inputSize: 2, outputSize: width, generator: &generator),
                  Linear(inputSize: width, outputSize: width, generator: &generator),
                  Linear(inputSize: width, outputSize: width, generator: &generator),
                  Linear(inputSize: width, outputSize: 1, generator: &generator)]
    }

    func callAsFunction(_ x: Variable<Double>) -> Variable<Double> {
        var h = x
        for layer in layers.dropLast() { h = layer(h).tanh() }
        return layers[layers.count - 1](h)
    }
}

func exact(_ x: Double, _ y: Double) -> Double { sin(Double.pi * x) * sin(Double.pi * y) }

var generator = SeededGenerator(seed: seed)
let model = Network(width: width, generator: &generator)

// Collocation points: random inside the square, evenly spaced on its four sides.
let interior = Tensor<Double>.randomUniform(shape: [pointCount, 2], in: 0..<1, using: &generator)
let source = Tensor<Double>(shape: [pointCount, 1], scalars: (0..<pointCount).map { i in
    2 * Double.pi * Double.pi * exact(interior.scalars[2 * i], interior.scalars[2 * i + 1])
})
let side = 64
var boundaryPoints: [Double] = []
for k in 0..<side {
    let t = Double(k) / Double(side)
    boundaryPoints += [t, 0, 1, t, 1 - t, 1, 0, 1 - t]
}
let boundary = Tensor<Double>(shape: [4 * side, 2], scalars: boundaryPoints)

/// The PDE residual Δu + f at the interior points and the boundary values, on `tape`.
@MainActor func residuals(on tape: Tape<Double>) -> (pde: Variable<Double>, boundary: Variable<Double>) {
    let points = tape.variable(interior)
    let u = model(points)
    // ∇u at every point (the points are independent rows, so the gradient of Σu is per point).
    let du = tape.gradients(of: u.sum(), withRespectTo: [points], createGraph: true)[0]
    let uxx = tape.gradients(of: du.slice(alongAxis: 1, range: 0..<1).sum(), withRespectTo: [points], createGraph: true)[0]
        .slice(alongAxis: 1, range: 0..<1)
    let uyy = tape.gradients(of: du.slice(alongAxis: 1, range: 1..<2).sum(), withRespectTo: [points], createGraph: true)[0]
        .slice(alongAxis: 1, range: 1..<2)
    return (uxx + uyy + tape.constant(source), model(tape.constant(boundary)))
}

let optimizer = Adam(parameters: model.parameters, learningRate: learningRate)
let schedule = CosineAnnealing(initial: learningRate, period: steps, minimum: learningRate / 100)
print("pinn: −Δu = 2π² sin(πx) sin(πy) on [0, 1]², u = 0 on the boundary; tanh MLP 2-\(width)-\(width)-\(width)-1 (Double), \(model.parameters.reduce(0) { $0 + $1.value.count }) parameters")
print("      \(pointCount) interior points, \(4 * side) boundary points, Adam \(steps) steps")
let progress = Progress(total: steps, label: "pinn", unit: "steps")
var losses: [(x: Double, y: Double)] = []
for step in 1...steps {
    let tape = Tape<Double>()
    let (pde, edge) = residuals(on: tape)
    let loss = pde.squared().mean() + edge.squared().mean() * boundaryWeight
    optimizer.zeroGradients()
    loss.backward()
    optimizer.learningRate = schedule.learningRate(atStep: step - 1)
    optimizer.step()
    if step % 10 == 0 || step == 1 { losses.append((Double(step), loss.value.scalar)) }
    progress.update(step: step, loss: loss.value.scalar, processed: step)
}

// The relative L2 error on a 51 × 51 grid over the closed square.
let resolution = 51
var grid: [Double] = []
for row in 0..<resolution {
    for column in 0..<resolution {
        grid += [Double(column) / Double(resolution - 1), 1 - Double(row) / Double(resolution - 1)]
    }
}
let predicted = withoutGradients { model(Variable(Tensor(shape: [resolution * resolution, 2], scalars: grid))) }.value.scalars
let expected = (0..<(resolution * resolution)).map { exact(grid[2 * $0], grid[2 * $0 + 1]) }
let errors = zip(predicted, expected).map { $0 - $1 }
let relativeError = (errors.map { $0 * $0 }.reduce(0, +) / expected.map { $0 * $0 }.reduce(0, +)).squareRoot()

var figure = Panels(title: "Poisson −Δu = f on [0, 1]²: network, exact solution and error", xRange: 0...1, yRange: 0...1)
figure.addHeatMap(title: "network u", values: predicted, resolution: resolution, range: 0...1)
figure.addHeatMap(title: "exact sin(πx)sin(πy)", values: expected, resolution: resolution, range: 0...1)
figure.addHeatMap(title: "error", values: errors, resolution: resolution)
let figurePath = output + "/pinn-solution.svg"
try figure.write(to: figurePath)
var chart = LineChart(title: "PINN loss: mean (Δu + f)² + \(Int(boundaryWeight))·mean u² on the boundary", xLabel: "step", yLabel: "loss", logarithmicY: true)
chart.add(Series(name: "loss", points: losses))
let chartPath = output + "/pinn-loss.svg"
try chart.write(to: chartPath)

print("""

relative L2 error against the exact solution on a \(resolution)×\(resolution) grid: \(String(format: "%.2e", relativeError)) (target < 1e-2)
max |u − u*|: \(String(format: "%.2e", errors.map { abs($0) }.max() ?? 0))
time \(String(format: "%.1f", progress.elapsed)) s
figures: \(figurePath), \(chartPath)
""")
