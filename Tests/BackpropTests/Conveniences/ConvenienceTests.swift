import Backprop
import Testing

/// The conveniences people reach for: item, std, parameter counts and summaries, rank-checked
/// normalization layers, a module's own parameters, the progress bar, module gradient checks.
@Suite("Conveniences")
struct ConvenienceTests {
    @Test func itemAndStandardDeviation() {
        let tape = Tape<Double>()
        let x = tape.variable(tensor([2, 3], [1, 2, 4, 3, 5, 10]))
        #expect(x.sum().item == 25)
        // Row 0: mean 7/3, Σ(x − μ)² = 14/3 → unbiased std √(7/3); population std √(14/9).
        let std = x.std(alongAxes: [1])
        expectClose(std.value.scalars[0], (7.0 / 3).squareRoot(), relativeTolerance: 1e-14)
        expectClose(x.std(alongAxes: [1], correction: 0).value.scalars[0], (14.0 / 9).squareRoot(), relativeTolerance: 1e-14)
        // ∂σ/∂x = (x − μ)/((n − 1)σ).
        let g = tape.gradients(of: std.sum(), withRespectTo: [x])[0]
        expectClose(g.scalars[0], (1 - 7.0 / 3) / (2 * (7.0 / 3).squareRoot()), relativeTolerance: 1e-13)
        #expect(checkGradients(at: [tensor([2, 3], [1, 2, 4, 3, 5, 10])], order: 2) { $0[0].std(alongAxes: [1]) }.passed)
    }

    @Test func itemOfSeveralElementsIsAnError() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Variable(Tensor<Double>([1, 2])).item
        }
        #expect(standardError(of: result).contains("item: only a one-element variable has an item; this one has shape [2] (2 elements)"))
    }

    final class Tiny: Module {
        var isTraining = true
        let hidden: Linear<Double>
        let norm = BatchNorm1d<Double>(numFeatures: 4)
        let scale = Parameter(Tensor<Double>([2]))
        init(generator: inout SeededGenerator) { hidden = Linear(inputSize: 3, outputSize: 4, generator: &generator) }
        func callAsFunction(_ x: Variable<Double>) -> Variable<Double> {
            norm(hidden(x)).tanh() * scale.variable(on: x)
        }
    }

    @Test func parameterCountsAndSummary() {
        var generator = SeededGenerator(seed: 1)
        let model = Tiny(generator: &generator)
        #expect(model.parameterCount == 12 + 4 + 4 + 4 + 1)
        model.scale.requiresGradient = false
        #expect(model.trainableParameterCount == 24)
        let text = model.summary()
        #expect(text.contains("(model)"), "\(text)")
        #expect(text.contains("  hidden"), "\(text)")
        #expect(text.contains("Linear"), "\(text)")
        #expect(text.contains("weight [4, 3], bias [4]"), "\(text)")
        #expect(text.contains("BatchNorm1d"), "\(text)")
        #expect(text.contains("scale [1] (frozen)"), "\(text)")
        #expect(text.hasSuffix("total 25 parameters (24 trainable, 1 frozen)"), "\(text)")
    }

    @Test func aModuleReadsItsOwnParameterOnTheInputsTapeOrAsAConstant() {
        var generator = SeededGenerator(seed: 2)
        let model = Tiny(generator: &generator)
        let x = Tensor<Double>.randomNormal(shape: [5, 3], using: &generator)
        let tape = Tape<Double>()
        model(tape.constant(x)).sum().backward()
        #expect(model.scale.grad != nil)
        // Inside withoutGradients the input has no tape: the parameter is a constant, nothing crashes.
        model.eval()
        let y = withoutGradients { model(Variable(x)) }
        #expect(y.shape == [5, 4])
        #expect(!y.requiresGradient)
    }

    @Test func checkingAModuleNamesEachParameter() throws {
        var generator = SeededGenerator(seed: 3)
        let model = Tiny(generator: &generator)
        let x = Tensor<Double>.randomNormal(shape: [5, 3], using: &generator)
        let before = model.parameters.map(\.value)
        let result = checkGradients(of: model, at: x)
        #expect(result.passed, "\(result)")
        #expect(result.reports.map(\.name) == ["input", "hidden.weight", "hidden.bias", "norm.weight", "norm.bias", "scale"])
        #expect(result.description.contains("  hidden.weight [4, 3]: ok"), "\(result)")
        #expect(model.parameters.map(\.value) == before, "the parameters are restored")
        let second = checkGradients(of: model, at: x, order: 2, options: GradientCheckOptions(mode: .fast))
        #expect(second.passed, "\(second)")
    }

    @Test func rankCheckedNormalizationLayers() {
        let tape = Tape<Float>()
        #expect(BatchNorm1d<Float>(numFeatures: 4)(tape.constant(Tensor(zeros: [3, 4]))).shape == [3, 4])
        #expect(BatchNorm1d<Float>(numFeatures: 4)(tape.constant(Tensor(zeros: [3, 4, 5]))).shape == [3, 4, 5])
        #expect(BatchNorm2d<Float>(numFeatures: 4)(tape.constant(Tensor(zeros: [2, 4, 3, 3]))).shape == [2, 4, 3, 3])
        #expect(BatchNorm3d<Float>(numFeatures: 4)(tape.constant(Tensor(zeros: [2, 4, 2, 3, 3]))).shape == [2, 4, 2, 3, 3])
        #expect(InstanceNorm1d<Float>(numFeatures: 4)(tape.constant(Tensor.identity(4))).shape == [4, 4])
        let plane = Tensor<Float>(shape: [4, 3, 3], scalars: (0..<36).map { Float($0 % 7) })
        let unbatched = InstanceNorm2d<Float>(numFeatures: 4)(tape.constant(plane))
        let batched = InstanceNorm2d<Float>(numFeatures: 4)(tape.constant(plane.unsqueezed(at: 0)))
        #expect(unbatched.value == batched.value.squeezed(axes: [0]))
        #expect(BatchNorm2d<Float>(numFeatures: 4).namedParameters.map(\.name) == ["weight", "bias"])
        #expect(BatchNorm2d<Float>(numFeatures: 4).namedBuffers.map(\.name) == ["running_mean", "running_var", "num_batches_tracked"])
    }

    @Test func batchNorm2dRejectsAMatrixNamingTheExpectedRank() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = BatchNorm2d<Float>(numFeatures: 64)(Variable(Tensor(zeros: [8, 64])))
        }
        let text = standardError(of: result)
        #expect(text.contains("BatchNorm2d: expected a 4-D input [N, C, H, W], got a 2-D input of shape [8, 64]"), "\(text)")
    }

    @Test func instanceNorm3dRejectsAMatrix() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = InstanceNorm3d<Float>(numFeatures: 2)(Variable(Tensor(zeros: [2, 3])))
        }
        #expect(standardError(of: result).contains("InstanceNorm3d: expected a 4-D or 5-D input [C, D, H, W] (unbatched) or [N, C, D, H, W], got a 2-D input of shape [2, 3]"))
    }

    @Test func progressBarRedrawsInPlaceOnATerminal() {
        var text = ""
        var time = 0.0
        let progress = ProgressBar(total: 4, label: "train", unit: "samples", isTerminal: true,
                                   output: { text += $0 }, clock: { time })
        for step in 1...4 {
            time += 0.5
            progress.update(step: step, loss: 1 / Double(step), processed: step * 10)
        }
        // Every update is 0.5 s after the last, so each redraws the line: carriage return, no newline until the end.
        #expect(text.components(separatedBy: "\r").count == 5, "\(text)")
        #expect(text.components(separatedBy: "\n").count == 2 && text.hasSuffix("\n"), "\(text)")
        #expect(text.contains("train ███████░░░░░░░░░░░░░░░░░░░░░ 1/4  loss 1.0000  20 samples/s  ETA 2s"), "\(text)")
        #expect(text.contains("4/4  loss 0.2500  20 samples/s  ETA 0s\n"), "\(text)")
    }

    @Test func progressBarPrintsPlainLinesWhenNotATerminal() {
        var lines: [String] = []
        var time = 0.0
        let progress = ProgressBar(total: 20, label: "train", isTerminal: false, output: { lines.append($0) }, clock: { time })
        for step in 1...20 {
            time += 1
            progress.update(step: step, loss: 0.5, processed: step)
        }
        #expect(lines.count == 10)
        #expect(lines.allSatisfy { !$0.contains("\r") && $0.hasSuffix("\n") })
        #expect(lines[0] == "train step 2/20  loss 0.5000  1 steps/s  ETA 18s\n")
        #expect(lines.last == "train step 20/20  loss 0.5000  1 steps/s  ETA 0s\n")
    }
}

/// The training mode lives in one place for every module: custom modules declare nothing.
@Suite("Module mode")
struct ModuleModeTests {
    final class Plain: Module {
        let inner = Dropout<Float>(probability: 0.5, seed: 1)
        func callAsFunction(_ x: Variable<Float>) -> Variable<Float> { inner(x) }
    }

    @Test func trainAndEvalReachModulesThatDeclareNoMode() {
        let model = Plain()
        #expect(model.isTraining && model.inner.isTraining)
        model.eval()
        #expect(!model.isTraining && !model.inner.isTraining)
        let x = Tensor<Float>(ones: [4, 8])
        // Dropout is off in evaluation: the identity.
        #expect(withoutGradients { model(Variable(x)) }.value == x)
        model.train()
        #expect(model.isTraining && model.inner.isTraining)
        #expect(withoutGradients { model(Variable(x)) }.value != x)
        // A new module starts in training mode whatever happened to others.
        #expect(Plain().isTraining)
    }
}
