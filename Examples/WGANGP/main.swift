// wgan-gp: a Wasserstein GAN with gradient penalty (Gulrajani et al. 2017) on the 8-Gaussians toy
// distribution. The penalty λ·E[(‖∇ₓD(x̂)‖ − 1)²] at points x̂ between real and generated samples needs
// the critic's gradient with respect to its input inside the loss, so every critic step
// differentiates a gradient (createGraph). The critic uses LayerNorm, as the paper recommends:
// BatchNorm would couple the samples of a batch and break the per-sample penalty.
//
//     swift run -c release wgan-gp [--iterations N] [--width W] [--batch B] [--seed S] [--output DIR]
import Backprop
import ExampleSupport
import Foundation

var flags = Flags(usage: "wgan-gp [--iterations N] [--critic-steps K] [--width W] [--batch B] [--lambda L] [--learning-rate LR] [--seed S] [--output DIR]")
let iterations = flags.int("--iterations", default: 1000, help: "generator updates")
let criticSteps = flags.int("--critic-steps", default: 5, help: "critic updates per generator update")
let width = flags.int("--width", default: 128, help: "hidden width of both networks")
let batchSize = flags.int("--batch", default: 256, help: "samples per batch")
let lambda = flags.double("--lambda", default: 10, help: "gradient-penalty weight λ")
let learningRate = flags.double("--learning-rate", default: 1e-3, help: "Adam learning rate of both networks (β = 0.5, 0.9)")
let seed = UInt64(flags.int("--seed", default: 0, help: "random seed"))
let output = flags.string("--output", default: "examples-output", help: "folder for the SVG figures")
flags.finish()

/// The eight modes on a circle of radius 2, then scaled by 1/1.414 with the samples, as in the
/// paper's toy code: modes at radius √2, standard deviation 0.02/1.414 per coordinate.
let scale = 1.414
let modes: [(x: Double, y: Double)] = (0..<8).map { k in
    let angle = Double(k) * Double.pi / 4
    return (2 * cos(angle) / scale, 2 * sin(angle) / scale)
}
let modeDeviation = 0.02 / scale

@MainActor func realBatch(_ count: Int, _ generator: inout SeededGenerator) -> Tensor<Float> {
    var scalars: [Float] = []
    for _ in 0..<count {
        let mode = modes[Int(generator.next() % 8)]
        scalars += [Float(mode.x + modeDeviation * generator.nextNormal()), Float(mode.y + modeDeviation * generator.nextNormal())]
    }
    return Tensor(shape: [count, 2], scalars: scalars)
}

/// The generator: noise in R² → three ReLU layers → a point in R².
final class Generator: Module {
    let layers: [Linear<Float>]
    init(width: Int, generator: inout SeededGenerator) {
        layers = [Linear(inputSize: 2, outputSize: width, generator: &generator),
                  Linear(inputSize: width, outputSize: width, generator: &generator),
                  Linear(inputSize: width, outputSize: width, generator: &generator),
                  Linear(inputSize: width, outputSize: 2, generator: &generator)]
    }
    func callAsFunction(_ z: Variable<Float>) -> Variable<Float> {
        var h = z
        for layer in layers.dropLast() { h = layer(h).relu() }
        return layers[layers.count - 1](h)
    }
}

/// The critic: three Linear–LayerNorm–ReLU layers and a linear score.
final class Critic: Module {
    let layers: [Linear<Float>]
    let norms: [LayerNorm<Float>]
    let score: Linear<Float>
    init(width: Int, generator: inout SeededGenerator) {
        layers = [Linear(inputSize: 2, outputSize: width, generator: &generator),
                  Linear(inputSize: width, outputSize: width, generator: &generator),
                  Linear(inputSize: width, outputSize: width, generator: &generator)]
        norms = (0..<3).map { _ in LayerNorm(normalizedShape: [width]) }
        score = Linear(inputSize: width, outputSize: 1, generator: &generator)
    }
    func callAsFunction(_ x: Variable<Float>) -> Variable<Float> {
        var h = x
        for (layer, norm) in zip(layers, norms) { h = norm(layer(h)).relu() }
        return score(h)
    }
}

var random = SeededGenerator(seed: seed)
let generatorNetwork = Generator(width: width, generator: &random)
let critic = Critic(width: width, generator: &random)
let generatorOptimizer = Adam(parameters: generatorNetwork.parameters, learningRate: learningRate, betas: (0.5, 0.9))
let criticOptimizer = Adam(parameters: critic.parameters, learningRate: learningRate, betas: (0.5, 0.9))

@MainActor func noise(_ count: Int) -> Tensor<Float> { Tensor.randomNormal(shape: [count, 2], using: &random) }

@MainActor func samples(_ count: Int) -> [(x: Double, y: Double)] {
    let points = withoutGradients { generatorNetwork(Variable(noise(count))) }.value.scalars
    return (0..<count).map { (Double(points[2 * $0]), Double(points[2 * $0 + 1])) }
}

/// Mean distance to the nearest mode, the fraction of samples within 0.1 of a mode, and how many modes
/// hold at least 2% of the samples within that distance.
@MainActor func quality(_ points: [(x: Double, y: Double)]) -> (meanDistance: Double, nearFraction: Double, modesCovered: Int) {
    var total = 0.0, near = 0
    var counts = [Int](repeating: 0, count: modes.count)
    for p in points {
        let distances = modes.map { ((p.x - $0.x) * (p.x - $0.x) + (p.y - $0.y) * (p.y - $0.y)).squareRoot() }
        let d = distances.min()!
        total += d
        if d < 0.1 { near += 1; counts[distances.firstIndex(of: d)!] += 1 }
    }
    let covered = counts.filter { Double($0) >= 0.02 * Double(points.count) }.count
    return (total / Double(points.count), Double(near) / Double(points.count), covered)
}

print("wgan-gp: 8 Gaussians (radius √2, σ = \(String(format: "%.4f", modeDeviation))), generator and LayerNorm critic of width \(width),")
print("         batch \(batchSize), \(criticSteps) critic steps per generator step, λ = \(lambda), Adam \(learningRate) (β = 0.5, 0.9)")
let data = realBatch(1000, &random)
let reference = (0..<1000).map { (Double(data.scalars[2 * $0]), Double(data.scalars[2 * $0 + 1])) }
let snapshotsAt = Set([0, iterations / 4, iterations / 2, iterations])
var snapshots: [(Int, [(x: Double, y: Double)])] = [(0, samples(1000))]
var wassersteinEstimates: [(x: Double, y: Double)] = []
var penalties: [(x: Double, y: Double)] = []
let progress = Progress(total: iterations, label: "wgan-gp", unit: "iterations")
for iteration in 1...iterations {
    var estimate = 0.0, penaltyValue = 0.0
    for _ in 0..<criticSteps {
        let real = realBatch(batchSize, &random)
        let fake = withoutGradients { generatorNetwork(Variable(noise(batchSize))) }.value
        let alpha = Tensor<Float>.randomUniform(shape: [batchSize, 1], using: &random)
        let between = real * alpha + fake * (1 - alpha)
        let tape = Tape<Float>()
        let x = tape.variable(between)
        // ∇ₓD(x̂), recorded so that the penalty on its norm can be differentiated into the critic.
        let gradient = tape.gradients(of: critic(x).sum(), withRespectTo: [x], createGraph: true)[0]
        let norms = (gradient.squared().sum(alongAxes: [1]) + 1e-12).sqrt()
        let penalty = (norms - 1).squared().mean()
        let realScore = critic(tape.constant(real)).mean(), fakeScore = critic(tape.constant(fake)).mean()
        let loss = fakeScore - realScore + penalty * Float(lambda)
        criticOptimizer.zeroGradients()
        loss.backward()
        criticOptimizer.step()
        estimate = Double(realScore.value.scalar - fakeScore.value.scalar)
        penaltyValue = Double(penalty.value.scalar)
    }
    let tape = Tape<Float>()
    let generatorLoss = -critic(generatorNetwork(tape.constant(noise(batchSize)))).mean()
    generatorOptimizer.zeroGradients()
    generatorLoss.backward()
    generatorOptimizer.step()
    critic.parameters.forEach { $0.zeroGradient() }
    wassersteinEstimates.append((Double(iteration), estimate))
    penalties.append((Double(iteration), penaltyValue))
    if snapshotsAt.contains(iteration) { snapshots.append((iteration, samples(1000))) }
    progress.update(step: iteration, loss: estimate, processed: iteration)
}

var figure = Panels(title: "WGAN-GP on 8 Gaussians: generated samples (red) over the data (blue)", xRange: -2.2...2.2, yRange: -2.2...2.2)
var rows: [[String]] = []
for (iteration, points) in snapshots {
    let q = quality(points)
    figure.addScatter(title: "after \(iteration) generator steps", points: points, references: reference)
    rows.append(["\(iteration)", String(format: "%.3f", q.meanDistance), String(format: "%.1f%%", 100 * q.nearFraction), "\(q.modesCovered)/8"])
}
let figurePath = output + "/wgan-gp-samples.svg"
try figure.write(to: figurePath)
var chart = LineChart(title: "Critic: Wasserstein estimate E[D(real)] − E[D(fake)] and gradient penalty", xLabel: "generator step", yLabel: "value")
chart.add(Series(name: "W estimate", points: wassersteinEstimates))
chart.add(Series(name: "penalty", points: penalties))
let chartPath = output + "/wgan-gp-critic.svg"
try chart.write(to: chartPath)

print("""

\(textTable(["generator steps", "mean distance to nearest mode", "within 0.1 of a mode", "modes holding ≥ 2%"], rows))

time \(String(format: "%.1f", progress.elapsed)) s
figures: \(figurePath), \(chartPath)
""")
