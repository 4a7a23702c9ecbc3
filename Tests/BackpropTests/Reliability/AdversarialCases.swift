@testable import Backprop
import Foundation

/// What an adversarial input must lead to.
enum AdversarialOutcome: Sendable, Equatable {
    /// A stop whose message (after "Fatal error: ") starts with this text, naming the op, the values
    /// and the rule.
    case stops(String)
    /// A typed error thrown (the case checks which one, and its description).
    case throwsTypedError
    /// The right value (the case checks it against a closed form or PyTorch's).
    case rightValue
}

/// The part of the library an adversarial input exercises.
enum AdversarialArea: String, Sendable, CaseIterable {
    case tensors, numerics, settings, indices, autodiff, layers, files
}

/// One bad or edge input. `run` is performed in a child process: for `.stops` it must stop with the
/// message; for the other outcomes it checks the result itself and stops with "wrong value: …" (or
/// "wrong error: …") when it is not the expected one, so the child exits successfully exactly when the
/// outcome is right.
struct AdversarialCase: Sendable {
    var name: String
    var area: AdversarialArea
    var outcome: AdversarialOutcome
    var run: @Sendable () -> Void

    init(_ name: String, _ area: AdversarialArea, _ outcome: AdversarialOutcome, _ run: @escaping @Sendable () -> Void) {
        (self.name, self.area, self.outcome, self.run) = (name, area, outcome, run)
    }

    static let byName: [String: AdversarialCase] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
}

// MARK: - Checks run inside the child process

/// Stops the child with "wrong value: …" unless `condition` holds.
func require(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("wrong value: \(message())") }
}

/// Elementwise equality with NaN equal to NaN (and −0 equal to 0), to 1e-12 relative above 1.
func requireValues(_ actual: Tensor<Double>, _ shape: [Int], _ expected: [Double], _ what: String) {
    require(actual.shape == shape, "\(what): shape \(actual.shape), expected \(shape)")
    for (a, b) in zip(actual.scalars, expected) {
        let same = (a.isNaN && b.isNaN) || a == b || Swift.abs(a - b) <= 1e-12 * Swift.max(1, Swift.abs(b))
        require(same, "\(what): \(actual.scalars), expected \(expected)")
    }
}

/// Runs `body`, which must throw `expected` (compared with `==`), else stops the child.
func requireThrows<E: Error & Equatable>(_ expected: E, _ body: () throws -> Void) {
    do {
        try body()
        fatalError("wrong error: nothing was thrown, expected \(expected)")
    } catch let error as E {
        if error != expected { fatalError("wrong error: \(error), expected \(expected)") }
    } catch {
        fatalError("wrong error: \(error), expected \(expected)")
    }
}

/// A fresh empty directory for file cases.
func scratchDirectory(_ name: String) -> String {
    let path = NSTemporaryDirectory() + "backprop-adversarial-\(name)-\(getpid())"
    try? FileManager.default.removeItem(atPath: path)
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The bytes of a safetensors file with the given header JSON and data bytes.
func safetensorsBytes(header: String, data: [UInt8]) -> [UInt8] {
    var headerBytes = Array(header.utf8)
    headerBytes += [UInt8](repeating: 0x20, count: (8 - headerBytes.count % 8) % 8)
    var bytes = (0..<8).map { UInt8(truncatingIfNeeded: headerBytes.count >> (8 * $0)) }
    bytes += headerBytes + data
    return bytes
}

/// A process id that no process has (a child that has already exited and been reaped).
func deadProcessID() -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/true")
    try! process.run()
    process.waitUntilExit()
    return process.processIdentifier
}

private let m23 = Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
private let memory = "more than this machine's memory of"

extension AdversarialCase {
    static let all: [AdversarialCase] = tensorCases + numericCases + settingCases + indexCases + autodiffCases + layerCases + fileCases

    // MARK: Tensors: sizes, shapes and allocations

    static let tensorCases: [AdversarialCase] = [
        .init("zerosElementCountOverflows", .tensors, .stops("Tensor(zeros:): shape [4611686018427387904, 4] has 1.8446744073709552e+19 elements (7.378697629483821e+19 bytes of Float), more than Int.max = 9223372036854775807: the size calculation overflows")) {
            _ = Tensor<Float>(zeros: [1 << 62, 4])
        },
        .init("shapeScalarsElementCountOverflows", .tensors, .stops("Tensor.init(shape:scalars:): shape [4611686018427387904, 4] has 1.8446744073709552e+19 elements (1.4757395258967641e+20 bytes of Double), more than Int.max")) {
            _ = Tensor<Double>(shape: [1 << 62, 4], scalars: [])
        },
        .init("reshapeElementCountOverflows", .tensors, .stops("reshape: cannot reshape [4] (4 elements) to [4611686018427387904, 4]: its element count 1.8446744073709552e+19 overflows Int")) {
            _ = Tensor<Double>(zeros: [4]).reshaped(to: [1 << 62, 4])
        },
        .init("variableReshapeElementCountOverflows", .tensors, .stops("reshape: cannot reshape [2, 3] (6 elements) to [9223372036854775807, 2, -1]: its element count")) {
            _ = Tape<Double>().variable(m23).reshaped(to: [Int.max, 2, -1])
        },
        .init("zerosOfFourTebibytes", .tensors, .stops("Tensor(zeros:): shape [1099511627776] needs 4398046511104 bytes (4.0 TiB) for 1099511627776 Float elements, \(memory)")) {
            _ = Tensor<Float>(zeros: [1 << 40])
        },
        .init("onesElementCountOverflows", .tensors, .stops("Tensor(repeating:shape:): shape [9223372036854775807, 2] has 1.8446744073709552e+19 elements")) {
            _ = Tensor<Double>(ones: [Int.max, 2])
        },
        .init("repeatingOfEightTebibytes", .tensors, .stops("Tensor(repeating:shape:): shape [1048576, 1048576] needs 8796093022208 bytes (8.0 TiB) for 1099511627776 Double elements, \(memory)")) {
            _ = Tensor<Double>(repeating: 1, shape: [1 << 20, 1 << 20])
        },
        .init("randomNormalTooLarge", .tensors, .stops("randomNormal: shape [1099511627776, 4] needs 17592186044416 bytes (16.0 TiB) for 4398046511104 Float elements, \(memory)")) {
            var generator = SeededGenerator(seed: 0)
            _ = Tensor<Float>.randomNormal(shape: [1 << 40, 4], using: &generator)
        },
        .init("randomUniformElementCountOverflows", .tensors, .stops("randomUniform: shape [4294967296, 4294967296] has 1.8446744073709552e+19 elements")) {
            var generator = SeededGenerator(seed: 0)
            _ = Tensor<Double>.randomUniform(shape: [1 << 32, 1 << 32], using: &generator)
        },
        .init("negativeSizeAmongHugeOnes", .tensors, .stops("Tensor(zeros:): shape [4611686018427387904, -1] has a negative size -1")) {
            _ = Tensor<Double>(zeros: [1 << 62, -1])
        },
        .init("broadcastResultOfEightTebibytes", .tensors, .stops("add: shape [1048576, 1048576] needs 8796093022208 bytes (8.0 TiB) for 1099511627776 Double elements, \(memory)")) {
            _ = Tensor<Double>(zeros: [1 << 20, 1]) + Tensor<Double>(zeros: [1, 1 << 20])
        },
        .init("variableBroadcastTooLarge", .tensors, .stops("multiply: shape [1048576, 1048576] needs 4398046511104 bytes (4.0 TiB) for 1099511627776 Float elements, \(memory)")) {
            let tape = Tape<Float>()
            _ = tape.variable(Tensor(zeros: [1 << 20, 1])) * tape.variable(Tensor(zeros: [1 << 20]))
        },
        .init("expandToEightTebibytes", .tensors, .stops("expand: shape [1048576, 1048576] needs 8796093022208 bytes (8.0 TiB) for 1099511627776 Double elements, \(memory)")) {
            _ = Tensor<Double>(zeros: [1]).expanded(to: [1 << 20, 1 << 20])
        },
        .init("whereBroadcastTooLarge", .tensors, .stops("where: shape [1048576, 1048576] needs")) {
            _ = Tensor.select(Tensor<Double>(ones: [1 << 20, 1]), Tensor(zeros: [1, 1 << 20]), Tensor(zeros: [1]))
        },
        .init("outerProductByMatmulTooLarge", .tensors, .stops("matmul: shape [1048576, 1048576] needs 8796093022208 bytes (8.0 TiB) for 1099511627776 Double elements, \(memory)")) {
            _ = Tensor<Double>(zeros: [1 << 20, 1]).matmul(Tensor(zeros: [1, 1 << 20]))
        },
        .init("concatenatedAxisOverflows", .tensors, .stops("concatenate: the total size of axis 1 of 2 tensors overflows Int (9223372036854775807 + 9223372036854775807 > 9223372036854775807)")) {
            let empty = Tensor<Double>(zeros: [0, Int.max])
            _ = Tensor.concatenate([empty, empty], alongAxis: 1)
        },
        .init("linspaceOfAPebibyte", .tensors, .stops("linspace: shape [1125899906842624] needs 9007199254740992 bytes (8.0 PiB) for 1125899906842624 Double elements, \(memory)")) {
            _ = Tensor<Double>.linspace(from: 0, through: 1, count: 1 << 50)
        },
        .init("arangeToNaN", .tensors, .stops("arange: start 0.0 and end nan must be finite")) {
            _ = Tensor<Double>.arange(to: .nan)
        },
        .init("arangeFromInfinity", .tensors, .stops("arange: start -inf and end 1.0 must be finite")) {
            _ = Tensor<Float>.arange(from: -.infinity, to: 1)
        },
        .init("arangeInfiniteStep", .tensors, .stops("arange: step inf must be finite")) {
            _ = Tensor<Double>.arange(from: 0, to: 1, step: .infinity)
        },
        .init("arangeNaNStep", .tensors, .stops("arange: step nan must be finite")) {
            _ = Tensor<Double>.arange(from: 0, to: 1, step: .nan)
        },
        .init("arangeCountBeyondInt", .tensors, .stops("arange: from 0.0 to 1e+30 in steps of 1.0 makes 1e+30 values, more than Int.max = 9223372036854775807")) {
            _ = Tensor<Double>.arange(to: 1e30)
        },
        .init("arangeOfEightPebibytes", .tensors, .stops("arange: shape [1000000000000000] needs 8000000000000000 bytes (7.1 PiB) for 1000000000000000 Double elements, \(memory)")) {
            _ = Tensor<Double>.arange(to: 1e15)
        },
        .init("arangeEmptyWhenEndBeforeStart", .tensors, .rightValue) {
            let t = Tensor<Double>.arange(from: 5, to: 1)
            require(t.shape == [0], "arange(from: 5, to: 1) has shape \(t.shape), expected [0] as torch.arange")
        },
        .init("identityElementCountOverflows", .tensors, .stops("identity: shape [4294967296, 4294967296] has 1.8446744073709552e+19 elements")) {
            _ = Tensor<Double>.identity(1 << 32)
        },
        .init("gatherResultTooLarge", .tensors, .stops("gather: shape [1048576, 1048576] needs 8796093022208 bytes (8.0 TiB) for 1099511627776 Double elements, \(memory)")) {
            _ = Tensor<Double>(zeros: [1, 1 << 20]).gathering([Int](repeating: 0, count: 1 << 20), alongAxis: 0)
        },
        .init("emptyTensorWithHugeSizesPermutes", .tensors, .rightValue) {
            let t = Tensor<Double>(zeros: [0, Int.max, 2]).permuted([2, 1, 0])
            require(t.shape == [2, Int.max, 0] && t.count == 0, "permuted shape \(t.shape)")
        },
        .init("emptyTensorWithHugeSizesTransposes", .tensors, .rightValue) {
            let t = Tensor<Double>(zeros: [Int.max, 0]).transposed()
            require(t.shape == [0, Int.max], "transposed shape \(t.shape)")
        },
        .init("splitSizesOverflow", .tensors, .stops("split: sizes [9223372036854775807, 1] do not add up to the size 3 of axis 1 (shape [2, 3])")) {
            _ = m23.split(sizes: [Int.max, 1], alongAxis: 1)
        },
        .init("splitOfHugeEmptyAxisOverflows", .tensors, .stops("split: sizes [9223372036854775807, 9223372036854775807] do not add up to the size 9223372036854775807 of axis 1 (shape [0, 9223372036854775807])")) {
            _ = Tensor<Double>(zeros: [0, Int.max]).split(sizes: [Int.max, Int.max], alongAxis: 1)
        },
        .init("variableSplitSizesOverflow", .tensors, .stops("split: sizes [9223372036854775807, 2] do not add up to the size 3 of axis 1 (shape [2, 3])")) {
            _ = Tape<Double>().variable(m23).split(sizes: [Int.max, 2], alongAxis: 1)
        },
        .init("embeddingIdShapeOverflows", .tensors, .stops("embedding: idShape [9223372036854775807, 2] holds more than Int.max ids but 0 were given")) {
            _ = Variable(Tensor<Double>(zeros: [3, 2])).embeddingLookup([], idShape: [Int.max, 2])
        },
        .init("miniBatchesOfHugeBatchSize", .tensors, .rightValue) {
            let batches = MiniBatches(TensorDataset(Tensor<Double>(zeros: [5, 2])), batchSize: Int.max)
            require(batches.count == 1 && batches[0].tensors[0].shape == [5, 2], "\(batches.count) batches")
        },
        .init("stackOfNoVariables", .tensors, .stops("stack: needs at least one variable")) {
            _ = Variable<Double>.stack([])
        },
        .init("concatenateOfNoVariables", .tensors, .stops("concatenate: needs at least one tensor")) {
            _ = Variable<Double>.concatenate([], alongAxis: 0)
        },
        .init("flattenOfAScalar", .tensors, .stops("flatten: axis 1 is out of range for a tensor of rank 0")) {
            _ = Variable(Tensor<Double>(3)).flattened()
        },
        .init("identityOfSizeZero", .tensors, .rightValue) {
            require(Tensor<Double>.identity(0).shape == [0, 0], "identity(0)")
        },
        .init("argmaxAndArgminFindNaN", .tensors, .rightValue) {
            let t = Tensor<Double>([1, .nan, 3, .nan])
            require(t.argmax() == 1 && t.argmin(alongAxis: 0) == [1], "argmax \(t.argmax()) (PyTorch: the first NaN, 1)")
        },
        .init("scalarCountOfEmptyShape", .tensors, .rightValue) {
            let t = Tensor<Double>(shape: [3, 0, Int.max], scalars: [])
            require(t.count == 0 && t.shape == [3, 0, Int.max], "\(t.shape)")
        },
    ]

    // MARK: Numerics: PyTorch's conventions at boundaries

    static let numericCases: [AdversarialCase] = [
        .init("powZeroExponentGradientAtZero", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([0, -0.0, 2]))
            requireValues(tape.gradients(of: x.pow(0).sum(), withRespectTo: [x])[0], [3], [0, 0, 0], "∂x⁰/∂x")
        },
        .init("powTensorZeroExponentGradientAtZero", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let (x, p) = (tape.variable(Tensor([0, 0, 3])), tape.variable(Tensor([0, 2, 0])))
            let g = tape.gradients(of: x.pow(p).sum(), withRespectTo: [x, p])
            requireValues(g[0], [3], [0, 0, 0], "∂xᵖ/∂x at p = 0 and at x = 0, p = 2")
            requireValues(g[1], [3], [0, 0, Foundation.log(3)], "∂xᵖ/∂p")
        },
        .init("powExponentGradientAtZeroBase", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let (x, p) = (tape.constant(Tensor([0, 0, 0])), tape.variable(Tensor([0, 1.5, -1])))
            let g = tape.gradients(of: x.pow(p).sum(), withRespectTo: [p])[0]
            // 0ᵖ is constant in p ≥ 0 (0 gradient, PyTorch's convention); at p < 0 it is ∞ (∞·log 0 = −∞).
            requireValues(g, [3], [0, 0, -.infinity], "∂0ᵖ/∂p")
        },
        .init("powScalarSpecialExponentAtNegativeZero", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([-0.0]))
            requireValues(tape.gradients(of: x.pow(0.5).sum(), withRespectTo: [x])[0], [1], [-.infinity], "∂√x at −0 (PyTorch: rsqrt(−0) = −∞)")
        },
        .init("logSoftmaxOverAnEmptyAxis", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor(zeros: [2, 0]))
            let y = x.logSoftmax(alongAxis: 1)
            require(y.shape == [2, 0], "logSoftmax of [2, 0] has shape \(y.shape)")
            require(tape.gradients(of: y.sum(), withRespectTo: [x])[0].shape == [2, 0], "gradient shape")
        },
        .init("softmaxOverAnEmptyAxis", .numerics, .rightValue) {
            require(Tensor<Double>(zeros: [0, 3]).softmax(alongAxis: 0).shape == [0, 3], "softmax of [0, 3]")
        },
        .init("logSumExpOverAnEmptyAxis", .numerics, .rightValue) {
            requireValues(Tensor<Double>(zeros: [2, 0]).logSumExp(alongAxes: [1]), [2], [-.infinity, -.infinity], "logsumexp of nothing")
        },
        .init("softmaxOfARowHoldingInfinity", .numerics, .rightValue) {
            requireValues(Tensor<Double>([.infinity, 0, 1]).softmax(), [3], [.nan, .nan, .nan], "softmax([∞, 0, 1])")
        },
        .init("logSoftmaxOfARowHoldingInfinity", .numerics, .rightValue) {
            requireValues(Tensor<Double>([.infinity, 0]).logSoftmax(), [2], [.nan, .nan], "logSoftmax([∞, 0])")
        },
        .init("softmaxOfMinusInfinityRow", .numerics, .rightValue) {
            requireValues(Tensor<Double>([-.infinity, -.infinity]).softmax(), [2], [.nan, .nan], "softmax([−∞, −∞])")
        },
        .init("softmaxOfHugeSpread", .numerics, .rightValue) {
            requireValues(Tensor<Double>([1e300, -1e300, 0]).softmax(), [3], [1, 0, 0], "softmax([1e300, −1e300, 0])")
        },
        .init("meanOverAnEmptyAxisIsNaN", .numerics, .rightValue) {
            requireValues(Tensor<Double>(zeros: [2, 0]).mean(alongAxes: [1]), [2], [.nan, .nan], "mean of nothing")
        },
        .init("sumOverAnEmptyAxisIsZero", .numerics, .rightValue) {
            requireValues(Tensor<Double>(zeros: [0, 2]).sum(alongAxes: [0]), [2], [0, 0], "sum of nothing")
        },
        .init("varianceOfOneSampleIsNaN", .numerics, .rightValue) {
            requireValues(Tensor<Double>([3]).variance(alongAxes: [0]), [], [.nan], "unbiased variance of one value")
        },
        .init("maxOverAnEmptyAxisOfAVariable", .numerics, .stops("max: cannot reduce over an empty axis of shape [2, 0]")) {
            _ = Tape<Double>().variable(Tensor(zeros: [2, 0])).max(alongAxis: 1)
        },
        .init("reluOfNaNIsNaN", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([.nan, -1, 2, -0.0]))
            let y = x.relu()
            requireValues(y.value, [4], [.nan, 0, 2, 0], "relu")
            requireValues(tape.gradients(of: y, withRespectTo: [x], seed: Tensor([5, 5, 5, 5]))[0], [4], [5, 0, 5, 0], "relu's gradient (PyTorch: passes at NaN)")
        },
        .init("clampGradientOnTheBounds", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([-1, -0.5, 1, 2]))
            requireValues(tape.gradients(of: x.clamped(to: -1...1).sum(), withRespectTo: [x])[0], [4], [0, 1, 0, 0], "clamp's gradient")
        },
        .init("eluGradientAtNaN", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([.nan, 0, -1]))
            requireValues(tape.gradients(of: x.elu(alpha: 2).sum(), withRespectTo: [x])[0], [3], [.nan, 2, 2 * Foundation.exp(-1)], "elu's gradient")
        },
        .init("leakyReluGradientAtZeroAndNaN", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([0, -0.0, .nan, 3]))
            requireValues(tape.gradients(of: x.leakyRelu(negativeSlope: 0.25).sum(), withRespectTo: [x])[0], [4], [0.25, 0.25, 0.25, 1], "leakyRelu's gradient")
        },
        .init("absGradientAtZeroAndNaN", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([0, -0.0, .nan]))
            requireValues(tape.gradients(of: x.abs().sum(), withRespectTo: [x])[0], [3], [0, 0, 0], "abs's gradient")
        },
        .init("sqrtGradientAtZeroIsInfinite", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([0]))
            requireValues(tape.gradients(of: x.sqrt().sum(), withRespectTo: [x])[0], [1], [.infinity], "∂√x at 0")
        },
        .init("logOfZeroAndNegative", .numerics, .rightValue) {
            requireValues(Tensor<Double>([0, -1, .infinity]).log(), [3], [-.infinity, .nan, .infinity], "log")
        },
        .init("softplusAboveThresholdIsLinear", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([30, 1e300, -1e300]))
            let y = x.softplus()
            requireValues(y.value, [3], [30, 1e300, 0], "softplus")
            requireValues(tape.gradients(of: y.sum(), withRespectTo: [x])[0], [3], [1, 1, 0], "softplus's gradient")
        },
        .init("sigmoidAtInfinities", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([.infinity, -.infinity]))
            let y = x.sigmoid()
            requireValues(y.value, [2], [1, 0], "sigmoid")
            requireValues(tape.gradients(of: y.sum(), withRespectTo: [x])[0], [2], [0, 0], "sigmoid's gradient")
        },
        .init("scalarDividedBySubnormal", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([Double.leastNonzeroMagnitude, 1e-300]))
            let y = 0 / x
            requireValues(y.value, [2], [0, 0], "0 / x")
            requireValues(tape.gradients(of: y.sum(), withRespectTo: [x])[0], [2], [0, 0], "∂(0/x)/∂x")
        },
        .init("varianceGradientWithCorrectionAboveCount", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([3]))
            requireValues(tape.gradients(of: x.variance(alongAxes: [0], correction: 2), withRespectTo: [x])[0], [1], [0], "var_backward with n − correction = −1")
        },
        .init("binaryCrossEntropyTargetGradientAtMinusInfinity", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let (x, y) = (tape.constant(Tensor([-.infinity])), tape.variable(Tensor([0.5])))
            requireValues(tape.gradients(of: binaryCrossEntropy(logits: x, targets: y), withRespectTo: [y])[0], [1], [.infinity], "∂ℓ/∂y = −x")
        },
        .init("binaryCrossEntropyOfExtremeLogits", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let loss = binaryCrossEntropy(logits: tape.variable(Tensor([1e4, -1e4])), targets: tape.constant(Tensor([1, 0])), reduction: .none)
            requireValues(loss.value, [2], [0, 0], "BCE of confident right logits")
        },
        .init("crossEntropyWithEveryTargetIgnored", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor(zeros: [2, 3]))
            let loss = crossEntropy(logits: x, targets: [-100, -100])
            requireValues(loss.value, [], [.nan], "mean over no sample (PyTorch: NaN)")
            requireValues(tape.gradients(of: loss, withRespectTo: [x])[0], [2, 3], [0, 0, 0, 0, 0, 0], "gradient")
        },
        .init("crossEntropyOfHugeLogits", .numerics, .rightValue) {
            let loss = crossEntropy(logits: Variable(Tensor<Double>([[1e4, -1e4]])), targets: [0])
            requireValues(loss.value, [], [0], "cross-entropy of logits ±1e4")
        },
        .init("batchNormRunningVarianceSeesNaN", .numerics, .rightValue) {
            let layer = BatchNorm<Double>(numFeatures: 2)
            _ = layer(Tape<Double>().variable(Tensor(shape: [3, 2], scalars: [1, 1, .nan, 2, 3, 3])))
            require(layer.runningMean!.value.scalars[0].isNaN, "running_mean \(layer.runningMean!.value)")
            require(layer.runningVar!.value.scalars[0].isNaN, "running_var \(layer.runningVar!.value) (max(0, NaN) is 0)")
            requireValues(layer.runningMean!.value, [2], [.nan, 0.2], "running_mean")
            requireValues(layer.runningVar!.value, [2], [.nan, 0.9 + 0.1], "running_var")
        },
        .init("batchNormOfAnEmptyBatch", .numerics, .rightValue) {
            let layer = BatchNorm<Double>(numFeatures: 3)
            let y = layer(Tape<Double>().variable(Tensor(zeros: [0, 3, 2])))
            require(y.shape == [0, 3, 2], "output shape \(y.shape)")
            requireValues(layer.runningMean!.value, [3], [0, 0, 0], "running_mean unchanged (PyTorch)")
            requireValues(layer.runningVar!.value, [3], [1, 1, 1], "running_var unchanged (PyTorch)")
            requireValues(layer.numBatchesTracked!.value, [], [1], "num_batches_tracked counts the batch (PyTorch)")
        },
        .init("groupNormOfAnEmptyBatch", .numerics, .rightValue) {
            require(Tape<Double>().variable(Tensor(zeros: [0, 4, 3])).groupNorm(numGroups: 2).shape == [0, 4, 3], "output")
        },
        .init("instanceNormWithoutSpatialElements", .numerics, .rightValue) {
            require(Tape<Double>().variable(Tensor(zeros: [2, 3, 0])).instanceNorm().shape == [2, 3, 0], "output")
        },
        .init("batchNormEvaluationGradientWithNaNInput", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor(shape: [2, 1], scalars: [.nan, 1]))
            let y = x.batchNorm(runningMean: Tensor([0]), runningVariance: Tensor([3]), eps: 1)
            requireValues(tape.gradients(of: y.sum(), withRespectTo: [x])[0], [2, 1], [0.5, 0.5], "∂y/∂x = 1/√(var + ε)")
        },
        .init("layerNormOfOneElementHasZeroGradient", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor(shape: [3, 1], scalars: [1, 1e6, -7]))
            let y = x.layerNorm(normalizedShape: [1])
            requireValues(y.value, [3, 1], [0, 0, 0], "LayerNorm over one element")
            requireValues(tape.gradients(of: y, withRespectTo: [x], seed: Tensor(shape: [3, 1], scalars: [1, 2, 3]))[0], [3, 1], [0, 0, 0], "gradient")
        },
        .init("attentionWithEveryKeyMaskedIsZero", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let q = tape.variable(Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4]))
            let k = tape.variable(Tensor(shape: [1, 1, 2, 2], scalars: [0.5, -1, 2, 0]))
            let v = tape.variable(Tensor(shape: [1, 1, 2, 2], scalars: [1, 0, 0, 1]))
            let y = scaledDotProductAttention(query: q, key: k, value: v, keyPaddingMask: [[true, true]])
            requireValues(y.value, [1, 1, 2, 2], [0, 0, 0, 0], "attention over no key (PyTorch 2.15: 0)")
            let g = tape.gradients(of: y.sum(), withRespectTo: [q, k, v])
            for (i, gradient) in g.enumerated() { requireValues(gradient, [1, 1, 2, 2], [0, 0, 0, 0], "gradient \(i)") }
        },
        .init("attentionWithOneQueryFullyMasked", .numerics, .rightValue) {
            let tape = Tape<Double>()
            let q = tape.variable(Tensor(shape: [1, 1, 2, 1], scalars: [1, 2]))
            let k = tape.variable(Tensor(shape: [1, 1, 2, 1], scalars: [1, 1]))
            let v = tape.variable(Tensor(shape: [1, 1, 2, 1], scalars: [3, 5]))
            // Causal and the first key padded: query 0 sees nothing, query 1 sees key 1 only.
            let y = scaledDotProductAttention(query: q, key: k, value: v, causal: true, keyPaddingMask: [[true, false]])
            requireValues(y.value, [1, 1, 2, 1], [0, 5], "rows")
        },
        .init("multiHeadAttentionWithEveryKeyMaskedGivesTheBias", .numerics, .rightValue) {
            let x = Variable(Tensor<Double>(shape: [1, 2, 2], scalars: [1, 2, 3, 4]))
            let y = multiHeadAttention(query: x, key: x, value: x, headCount: 1,
                                       inProjWeight: Variable(Tensor(ones: [6, 2])), inProjBias: nil,
                                       outProjWeight: Variable(Tensor(ones: [2, 2])), outProjBias: Variable(Tensor([0.5, -0.5])),
                                       keyPaddingMask: [[true, true]])
            requireValues(y.value, [1, 2, 2], [0.5, -0.5, 0.5, -0.5], "out_proj bias (nn.MultiheadAttention with need_weights=False)")
        },
        .init("matmulPropagatesNaN", .numerics, .rightValue) {
            requireValues(Tensor<Double>([[.nan, 1]]).matmul(Tensor([[0], [1]])), [1, 1], [.nan], "NaN·0 + 1·1")
        },
        .init("sumOfOppositeInfinities", .numerics, .rightValue) {
            requireValues(Tensor<Double>([.infinity, -.infinity]).sum(), [], [.nan], "∞ − ∞")
        },
        .init("embeddingIdNegativeZeroReadsRowZero", .numerics, .rightValue) {
            var generator = SeededGenerator(seed: 0)
            let table = Embedding<Double>(vocabularySize: 3, dimension: 2, generator: &generator)
            let rows = table(Variable(Tensor([-0.0, 2])))
            let w = table.weight.value.scalars
            require(rows.value.scalars == [w[0], w[1], w[4], w[5]], "rows \(rows.value)")
        },
    ]

    // MARK: Settings: one check wherever a setting can be given

    static let settingCases: [AdversarialCase] = [
        .init("sgdLearningRateSetToNaN", .settings, .stops("SGD: learningRate nan must be finite and ≥ 0")) {
            let optimizer = SGD<Double>(parameters: [Parameter(Tensor([1]))], learningRate: 0.1)
            optimizer.learningRate = .nan
        },
        .init("sgdLearningRateSetNegative", .settings, .stops("SGD: learningRate -1.0 must be finite and ≥ 0")) {
            SGD<Double>(parameters: [], learningRate: 0.1).learningRate = -1
        },
        .init("adamLearningRateSetNegative", .settings, .stops("Adam: learningRate -1.0 must be finite and ≥ 0")) {
            Adam<Double>(parameters: []).learningRate = -1
        },
        .init("adamLearningRateSetToNaNThroughTheProtocol", .settings, .stops("Adam: learningRate nan must be finite and ≥ 0")) {
            let optimizer: any Optimizer<Double> = Adam<Double>(parameters: [])
            optimizer.learningRate = .nan
        },
        .init("adamWLearningRateSetToInfinity", .settings, .stops("AdamW: learningRate inf must be finite and ≥ 0")) {
            AdamW<Float>(parameters: []).learningRate = .infinity
        },
        .init("scheduleProducingNaNLearningRate", .settings, .stops("SGD: learningRate nan must be finite and ≥ 0")) {
            let optimizer = SGD<Double>(parameters: [], learningRate: 0.1)
            var schedule = StepDecay(initial: 0.1, stepSize: 1)
            schedule.gamma = 1
            optimizer.learningRate = schedule.learningRate(atStep: 0) * .nan
        },
        .init("sgdInfiniteLearningRate", .settings, .stops("SGD: learningRate inf must be finite and ≥ 0")) {
            _ = SGD<Double>(parameters: [], learningRate: .infinity)
        },
        .init("sgdMomentumNaN", .settings, .stops("SGD: momentum nan must be finite and ≥ 0")) {
            _ = SGD<Double>(parameters: [], learningRate: 0.1, momentum: .nan)
        },
        .init("sgdDampeningNaN", .settings, .stops("SGD: dampening nan must be finite")) {
            _ = SGD<Double>(parameters: [], learningRate: 0.1, momentum: 0.9, dampening: .nan)
        },
        .init("sgdWeightDecayInfinite", .settings, .stops("SGD: weightDecay inf must be finite and ≥ 0")) {
            _ = SGD<Double>(parameters: [], learningRate: 0.1, weightDecay: .infinity)
        },
        .init("sgdNesterovWithDampening", .settings, .stops("SGD: Nesterov momentum requires momentum > 0 and zero dampening (got momentum 0.9, dampening 0.1)")) {
            _ = SGD<Double>(parameters: [], learningRate: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true)
        },
        .init("adamBetaNaN", .settings, .stops("Adam: betas (nan, 0.999) must each be in [0, 1)")) {
            _ = Adam<Double>(parameters: [], betas: (.nan, 0.999))
        },
        .init("adamBetaNegative", .settings, .stops("Adam: betas (0.9, -0.1) must each be in [0, 1)")) {
            _ = Adam<Double>(parameters: [], betas: (0.9, -0.1))
        },
        .init("adamEpsilonNaN", .settings, .stops("Adam: epsilon nan must be finite and ≥ 0")) {
            _ = Adam<Double>(parameters: [], epsilon: .nan)
        },
        .init("adamWeightDecayNegative", .settings, .stops("Adam: weightDecay -0.01 must be finite and ≥ 0")) {
            _ = Adam<Double>(parameters: [], weightDecay: -0.01)
        },
        .init("adamWEpsilonInfinite", .settings, .stops("AdamW: epsilon inf must be finite and ≥ 0")) {
            _ = AdamW<Double>(parameters: [], epsilon: .infinity)
        },
        .init("adamWWeightDecayNaN", .settings, .stops("AdamW: weightDecay nan must be finite and ≥ 0")) {
            _ = AdamW<Double>(parameters: [], weightDecay: .nan)
        },
        .init("batchNormMomentumNaN", .settings, .stops("BatchNorm: momentum nan must be in [0, 1] (or nil for a cumulative average)")) {
            _ = BatchNorm<Double>(numFeatures: 2, momentum: .nan)
        },
        .init("batchNormMomentumTwo", .settings, .stops("BatchNorm: momentum 2.0 must be in [0, 1] (or nil for a cumulative average)")) {
            _ = BatchNorm<Double>(numFeatures: 2, momentum: 2)
        },
        .init("instanceNormMomentumNegative", .settings, .stops("InstanceNorm: momentum -0.1 must be in [0, 1] (or nil for a cumulative average)")) {
            _ = InstanceNorm<Double>(numFeatures: 2, momentum: -0.1, trackRunningStats: true)
        },
        .init("batchNormMomentumNilIsCumulative", .settings, .rightValue) {
            let layer = BatchNorm<Double>(numFeatures: 1, momentum: nil)
            _ = layer(Tape<Double>().variable(Tensor(shape: [2, 1], scalars: [1, 3])))
            _ = layer(Tape<Double>().variable(Tensor(shape: [2, 1], scalars: [5, 7])))
            requireValues(layer.runningMean!.value, [1], [4], "cumulative average of the batch means 2 and 6")
        },
        .init("batchNormEpsNaN", .settings, .stops("BatchNorm: eps nan must be finite and ≥ 0")) {
            _ = BatchNorm<Double>(numFeatures: 2, eps: .nan)
        },
        .init("layerNormEpsInfinite", .settings, .stops("LayerNorm: eps inf must be finite and ≥ 0")) {
            _ = LayerNorm<Double>(normalizedShape: [2], eps: .infinity)
        },
        .init("functionalLayerNormEpsNegative", .settings, .stops("layerNorm: eps -1.0 must be finite and ≥ 0")) {
            _ = Tape<Double>().variable(m23).layerNorm(normalizedShape: [3], eps: -1)
        },
        .init("functionalRMSNormEpsNaN", .settings, .stops("rmsNorm: eps nan must be finite and ≥ 0")) {
            _ = Tape<Double>().variable(m23).rmsNorm(normalizedShape: [3], eps: .nan)
        },
        .init("functionalRMSNormEpsNegative", .settings, .stops("rmsNorm: eps -1e-06 must be finite and ≥ 0")) {
            _ = Tape<Double>().variable(m23).rmsNorm(normalizedShape: [3], eps: -1e-6)
        },
        .init("rmsNormReferenceEpsInfinite", .settings, .stops("rmsNormReference: eps inf must be finite and ≥ 0")) {
            _ = Tape<Double>().variable(m23).rmsNormReference(normalizedShape: [3], eps: .infinity)
        },
        .init("rmsNormModuleEpsNaN", .settings, .stops("RMSNorm: eps nan must be finite and ≥ 0")) {
            _ = RMSNorm<Double>(normalizedShape: [3], eps: .nan)
        },
        .init("functionalBatchNormEpsNaN", .settings, .stops("batchNorm: eps nan must be finite and ≥ 0")) {
            _ = Tape<Double>().variable(m23).batchNorm(eps: .nan)
        },
        .init("functionalGroupNormEpsInfinite", .settings, .stops("groupNorm: eps inf must be finite and ≥ 0")) {
            _ = Tape<Double>().variable(Tensor(zeros: [2, 2, 3])).groupNorm(numGroups: 1, eps: .infinity)
        },
        .init("functionalInstanceNormEpsNegative", .settings, .stops("instanceNorm: eps -1.0 must be finite and ≥ 0")) {
            _ = Tape<Double>().variable(Tensor(zeros: [2, 2, 3])).instanceNorm(eps: -1)
        },
        .init("batchLayerNormEpsNaN", .settings, .stops("BatchLayerNorm: eps nan must be finite and ≥ 0")) {
            _ = BatchLayerNorm<Double>(sampleShape: [3], eps: .nan)
        },
        .init("functionalDropoutProbabilityNaN", .settings, .stops("dropout: probability nan must be in [0, 1]")) {
            var generator = SeededGenerator(seed: 0)
            _ = Tape<Double>().variable(m23).dropout(probability: .nan, isTraining: true, using: &generator)
        },
        .init("dropoutModuleProbabilityNaN", .settings, .stops("Dropout: probability nan must be in [0, 1]")) {
            _ = Dropout<Float>(probability: .nan)
        },
        .init("attentionDropoutAboveOne", .settings, .stops("Dropout: probability 2.0 must be in [0, 1]")) {
            var generator = SeededGenerator(seed: 0)
            _ = MultiHeadAttention<Double>(embedDimension: 2, headCount: 1, dropout: 2, generator: &generator)
        },
        .init("dropoutProbabilityOneZeroesEverything", .settings, .rightValue) {
            var generator = SeededGenerator(seed: 0)
            let y = Variable(m23).dropout(probability: 1, isTraining: true, using: &generator)
            requireValues(y.value, [2, 3], [0, 0, 0, 0, 0, 0], "dropout with p = 1 (PyTorch: zeros)")
        },
        .init("labelSmoothingNaN", .settings, .stops("crossEntropy: labelSmoothing nan must be in [0, 1]")) {
            _ = crossEntropy(logits: Tape<Double>().variable(m23), targets: [0, 1], labelSmoothing: .nan)
        },
        .init("clipMaxNormNaN", .settings, .stops("clipGradientNorm: maxNorm nan must be ≥ 0")) {
            _ = clipGradientNorm([Parameter(Tensor<Double>([1]))], maxNorm: .nan)
        },
        .init("clipNormTypeNaN", .settings, .stops("clipGradientNorm: normType nan must be ≥ 1 or infinity")) {
            _ = clipGradientNorm([Parameter(Tensor<Double>([1]))], maxNorm: 1, normType: .nan)
        },
        .init("clipInfiniteMaxNormLeavesGradients", .settings, .rightValue) {
            let p = Parameter(Tensor<Double>([1]))
            p.grad = Tensor([3e300])
            let norm = clipGradientNorm([p], maxNorm: .infinity)
            require(norm == 3e300 && p.grad == Tensor([3e300]), "norm \(norm), gradient \(p.grad!)")
        },
        .init("clipHugeGradientsToUnitNorm", .settings, .rightValue) {
            let p = Parameter(Tensor<Double>([1, 1]))
            p.grad = Tensor([3e300, 4e300])
            let norm = clipGradientNorm([p], maxNorm: 1)
            require(Swift.abs(norm / 5e300 - 1) < 1e-15, "norm \(norm) of [3e300, 4e300]")
            requireValues(p.grad!, [2], [0.6, 0.8], "clipped gradient")
        },
        .init("stepDecayStepSizeSetToZero", .settings, .stops("StepDecay: stepSize 0 must be positive")) {
            var schedule = StepDecay(initial: 0.1, stepSize: 10)
            schedule.stepSize = 0
        },
        .init("stepDecayInitialNaN", .settings, .stops("StepDecay: initial nan must be finite and ≥ 0")) {
            _ = StepDecay(initial: .nan, stepSize: 10)
        },
        .init("stepDecayGammaSetNegative", .settings, .stops("StepDecay: gamma -0.5 must be finite and ≥ 0")) {
            var schedule = StepDecay(initial: 0.1, stepSize: 10)
            schedule.gamma = -0.5
        },
        .init("cosinePeriodSetToZero", .settings, .stops("CosineAnnealing: period 0 must be positive")) {
            var schedule = CosineAnnealing(initial: 0.1, period: 10)
            schedule.period = 0
        },
        .init("cosineMinimumInfinite", .settings, .stops("CosineAnnealing: minimum inf must be finite and ≥ 0")) {
            _ = CosineAnnealing(initial: 0.1, period: 10, minimum: .infinity)
        },
        .init("warmupStepsSetToZero", .settings, .stops("LinearWarmup: warmupSteps 0 must be positive")) {
            var schedule = LinearWarmup(peak: 0.1, warmupSteps: 5)
            schedule.warmupSteps = 0
        },
        .init("warmupStartFactorAboveOne", .settings, .stops("LinearWarmup: startFactor 1.5 must be in [0, 1]")) {
            _ = LinearWarmup(peak: 0.1, warmupSteps: 5, startFactor: 1.5)
        },
        .init("warmupPeakSetToNaN", .settings, .stops("LinearWarmup: peak nan must be finite and ≥ 0")) {
            var schedule = LinearWarmup(peak: 0.1, warmupSteps: 5)
            schedule.peak = .nan
        },
        .init("warmupCosineTotalStepsSetBelowWarmup", .settings, .stops("WarmupCosine: totalSteps 3 must exceed warmupSteps 5")) {
            var schedule = WarmupCosine(peak: 0.1, warmupSteps: 5, totalSteps: 10)
            schedule.totalSteps = 3
        },
        .init("leakyReluSlopeNaN", .settings, .stops("leakyRelu: negativeSlope nan must be finite")) {
            _ = LeakyReLU<Double>(negativeSlope: .nan)(Variable(m23))
        },
        .init("eluAlphaInfinite", .settings, .stops("elu: alpha inf must be finite")) {
            _ = Variable(m23).elu(alpha: .infinity)
        },
        .init("softplusBetaZero", .settings, .stops("softplus: beta 0.0 must be finite and not zero")) {
            _ = Softplus<Double>(beta: 0)(Variable(m23))
        },
        .init("softplusThresholdNaN", .settings, .stops("softplus: threshold nan must not be NaN")) {
            _ = Variable(m23).softplus(threshold: .nan)
        },
        .init("checkpointNegativeStep", .settings, .throwsTypedError) {
            let path = scratchDirectory("negative-step") + "/run.safetensors"
            requireThrows(CheckpointError.invalidMetadata(key: "step", reason: "step -1 must be ≥ 0")) {
                try Checkpoint.save(Linear<Double>(weight: Tensor(ones: [1, 1])), info: CheckpointInfo(step: -1), toPath: path)
            }
            require(!FileManager.default.fileExists(atPath: path), "an unloadable checkpoint was written")
        },
        .init("gradientCheckEpsZero", .settings, .stops("checkGradients: eps 0.0 must be finite and > 0")) {
            _ = checkGradients(at: [Tensor([1.0])], options: GradientCheckOptions(eps: 0)) { $0[0].sum() }
        },
        .init("gradientCheckToleranceNaN", .settings, .stops("checkGradients: absoluteTolerance nan must be finite and ≥ 0")) {
            _ = checkGradients(at: [Tensor([1.0])], options: GradientCheckOptions(absoluteTolerance: .nan)) { $0[0].sum() }
        },
    ]

    // MARK: Indices: whole, finite, in range, with their position

    static let indexCases: [AdversarialCase] = [
        .init("embeddingFractionalId", .indices, .stops("Embedding: id 1.7 at position 1 is not a whole number; ids must be whole numbers in 0..<5 (they are not rounded)")) {
            var generator = SeededGenerator(seed: 0)
            _ = Embedding<Double>(vocabularySize: 5, dimension: 2, generator: &generator)(Tape<Double>().constant(Tensor([0, 1.7])))
        },
        .init("embeddingNegativeFractionalId", .indices, .stops("Embedding: id -0.5 at position 0 is not a whole number")) {
            var generator = SeededGenerator(seed: 0)
            _ = Embedding<Double>(vocabularySize: 5, dimension: 2, generator: &generator)(Variable(Tensor([-0.5])))
        },
        .init("embeddingNaNId", .indices, .stops("Embedding: id nan at position 2 is not finite; ids must be whole numbers in 0..<5")) {
            var generator = SeededGenerator(seed: 0)
            _ = Embedding<Float>(vocabularySize: 5, dimension: 2, generator: &generator)(Variable(Tensor([0, 1, .nan])))
        },
        .init("embeddingInfiniteId", .indices, .stops("Embedding: id -inf at position 0 is not finite")) {
            var generator = SeededGenerator(seed: 0)
            _ = Embedding<Double>(vocabularySize: 5, dimension: 2, generator: &generator)(Variable(Tensor([-.infinity])))
        },
        .init("embeddingIdBeyondInt", .indices, .stops("Embedding: id 1e+30 at position 0 is outside 0..<5")) {
            var generator = SeededGenerator(seed: 0)
            _ = Embedding<Double>(vocabularySize: 5, dimension: 2, generator: &generator)(Variable(Tensor([1e30])))
        },
        .init("embeddingIdValueOutOfRange", .indices, .stops("Embedding: id 5.0 at position 3 is outside 0..<5")) {
            var generator = SeededGenerator(seed: 0)
            _ = Embedding<Double>(vocabularySize: 5, dimension: 2, generator: &generator)(Variable(Tensor(shape: [2, 2], scalars: [0, 1, 2, 5])))
        },
        .init("embeddingNegativeIntegerIdValue", .indices, .stops("Embedding: id -1.0 at position 0 is outside 0..<5")) {
            var generator = SeededGenerator(seed: 0)
            _ = Embedding<Double>(vocabularySize: 5, dimension: 2, generator: &generator)(Variable(Tensor([-1])))
        },
        .init("embeddingIntegerIdOutOfRangeWithPosition", .indices, .stops("Embedding: id 9 at position 2 is outside 0..<5")) {
            var generator = SeededGenerator(seed: 0)
            _ = Embedding<Double>(vocabularySize: 5, dimension: 2, generator: &generator)([0, 1, 9], idShape: [3])
        },
        .init("embeddingSubnormalId", .indices, .stops("Embedding: id 5e-324 at position 0 is not a whole number")) {
            var generator = SeededGenerator(seed: 0)
            _ = Embedding<Double>(vocabularySize: 5, dimension: 2, generator: &generator)(Variable(Tensor([Double.leastNonzeroMagnitude])))
        },
        .init("embeddingFloatIdsThatAreWhole", .indices, .rightValue) {
            var generator = SeededGenerator(seed: 0)
            let table = Embedding<Float>(vocabularySize: 3, dimension: 1, generator: &generator)
            let rows = table(Variable(Tensor<Float>([2, 0, 2])))
            require(rows.value.scalars == [table.weight.value.scalars[2], table.weight.value.scalars[0], table.weight.value.scalars[2]], "rows")
        },
        .init("tokenAndPositionFractionalId", .indices, .stops("TokenAndPositionEmbedding: id 0.25 at position 1 is not a whole number")) {
            var generator = SeededGenerator(seed: 0)
            let layer = TokenAndPositionEmbedding<Double>(vocabularySize: 4, maximumLength: 3, embedDimension: 2, generator: &generator)
            _ = layer(Variable(Tensor(shape: [1, 2], scalars: [1, 0.25])))
        },
        .init("tokenAndPositionIdOutOfRange", .indices, .stops("TokenAndPositionEmbedding: id 4 at position 1 is outside 0..<4")) {
            var generator = SeededGenerator(seed: 0)
            let layer = TokenAndPositionEmbedding<Double>(vocabularySize: 4, maximumLength: 3, embedDimension: 2, generator: &generator)
            _ = layer([0, 4], shape: [1, 2])
        },
        .init("gatherIndexNamesItsPosition", .indices, .stops("gather: index 7 at position 2 is out of range for axis 1 of size 3 (shape [2, 3])")) {
            _ = m23.gathering([0, 1, 7], alongAxis: 1)
        },
        .init("variableGatherNegativeIndex", .indices, .stops("gather: index -3 at position 0 is out of range for axis 0 of size 2 (shape [2, 3])")) {
            _ = Tape<Double>().variable(m23).gathering([-3], alongAxis: 0)
        },
        .init("embeddingLookupIndexOutOfRange", .indices, .stops("gather: index 3 at position 1 is out of range for axis 0 of size 3 (shape [3, 2])")) {
            _ = Tape<Double>().variable(Tensor(zeros: [3, 2])).embeddingLookup([0, 3], idShape: [2])
        },
        .init("crossEntropyTargetOutOfRange", .indices, .stops("crossEntropy: target 5 at position 1 is out of range for 3 classes (and is not ignoreIndex -100)")) {
            _ = crossEntropy(logits: Tape<Double>().variable(m23), targets: [0, 5])
        },
        .init("negativeLogLikelihoodNegativeTarget", .indices, .stops("negativeLogLikelihood: target -1 at position 0 is out of range for 3 classes (and is not ignoreIndex -100)")) {
            _ = negativeLogLikelihood(logProbabilities: Tape<Double>().variable(m23), targets: [-1, 0])
        },
        .init("crossEntropyIgnoreIndexInsideTheClasses", .indices, .rightValue) {
            let loss = crossEntropy(logits: Variable(Tensor<Double>([[0, 0], [0, 0]])), targets: [1, 0], ignoreIndex: 1)
            requireValues(loss.value, [], [Foundation.log(2)], "mean over the one sample not ignored")
        },
        .init("subscriptOutOfRange", .indices, .stops("Tensor.subscript: index 5 is out of range for axis 0 of size 2 (shape [2, 3])")) {
            _ = m23[5, 0]
        },
        .init("subscriptNegativeCountsFromTheEnd", .indices, .rightValue) {
            require(m23[-1, -1] == 6 && m23[-2, 0] == 1, "m23[-1, -1] = \(m23[-1, -1])")
        },
        .init("subscriptNegativeOutOfRange", .indices, .stops("Tensor.subscript: index -4 is out of range for axis 1 of size 3 (shape [2, 3])")) {
            _ = m23[0, -4]
        },
        .init("subscriptWrongComponentCount", .indices, .stops("Tensor.subscript: index [1] has 1 components for a tensor of rank 2 (shape [2, 3])")) {
            _ = m23[1]
        },
        .init("sliceNegativeStart", .indices, .stops("slice: range -1..<2 is out of bounds for axis 0 of size 2 (shape [2, 3])")) {
            _ = m23.slice(alongAxis: 0, range: -1..<2)
        },
        .init("keyPaddingMaskOfTheWrongShape", .indices, .stops("scaledDotProductAttention: keyPaddingMask must have shape [N, S] = [1, 2], got 1 rows of lengths [3]")) {
            let x = Variable(Tensor<Double>(zeros: [1, 1, 2, 2]))
            _ = scaledDotProductAttention(query: x, key: x, value: x, keyPaddingMask: [[true, false, true]])
        },
        .init("miniBatchSamplerIndexOutOfRange", .indices, .stops("TensorDataset.batch: sample index 4 is out of range for a dataset of 3 samples")) {
            _ = TensorDataset(Tensor<Double>(zeros: [3, 2])).batch(at: [0, 4])
        },
    ]

    // MARK: Autodiff misuse: an error, not zeros

    static let autodiffCases: [AdversarialCase] = [
        .init("gradientWithRespectToAConstant", .autodiff, .stops("gradients: input 1 (shape [2]) does not require a gradient: it is a constant")) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, 2]))
            let c = tape.constant(Tensor([3, 4]))
            _ = tape.gradients(of: (x * c).sum(), withRespectTo: [x, c])
        },
        .init("gradientWithRespectToADetachedValue", .autodiff, .stops("gradients: input 0 (shape [2]) does not require a gradient")) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, 2]))
            _ = tape.gradients(of: (x * x).sum(), withRespectTo: [x.detached()])
        },
        .init("gradientWithRespectToAValueComputedWithoutGradients", .autodiff, .stops("gradients: input 0 (shape [2]) does not require a gradient")) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, 2]))
            let h = withoutGradients { x * 2 }
            _ = tape.gradients(of: (h * x).sum(), withRespectTo: [h])
        },
        .init("gradientWithRespectToATapelessConstant", .autodiff, .stops("gradients: input 1 (shape []) does not require a gradient")) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, 2]))
            _ = tape.gradients(of: x.sum(), withRespectTo: [x, Variable(Tensor(3))])
        },
        .init("gradientOfAConstantOutput", .autodiff, .stops("gradients: the output (shape []) does not require a gradient: it was computed from constants only, or inside withoutGradients")) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, 2]))
            _ = tape.gradients(of: tape.constant(Tensor(5)), withRespectTo: [x])
        },
        .init("gradientOfAnOutputComputedWithoutGradients", .autodiff, .stops("gradients: the output (shape []) does not require a gradient")) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, 2]))
            let y = withoutGradients { (x * x).sum() }
            _ = tape.gradients(of: y, withRespectTo: [x])
        },
        .init("gradientWithRespectToAnUnusedVariable", .autodiff, .stops("gradients: input 1 (shape [3]) was not used to compute the output; pass allowUnused: true to get zeros for it")) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, 2]))
            let unused = tape.variable(Tensor([1, 2, 3]))
            _ = tape.gradients(of: (x * x).sum(), withRespectTo: [x, unused])
        },
        .init("gradientWithRespectToALaterVariable", .autodiff, .stops("gradients: input 0 (shape [2]) was not used to compute the output")) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, 2]))
            let y = (x * x).sum()
            let later = x * 3
            _ = tape.gradients(of: y, withRespectTo: [later])
        },
        .init("createGraphGradientWithRespectToAnUnusedVariable", .autodiff, .stops("gradients: input 1 (shape [1]) was not used to compute the output")) {
            let tape = Tape<Double>()
            let (x, w) = (tape.variable(Tensor([2])), tape.variable(Tensor([5])))
            _ = tape.gradients(of: (x * x).sum(), withRespectTo: [x, w], createGraph: true)
        },
        .init("secondDerivativeOfALinearFunctionIsAnError", .autodiff, .stops("gradients: the output (shape []) does not require a gradient")) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([2]))
            let dx = tape.gradients(of: (x * 3).sum(), withRespectTo: [x], createGraph: true)[0]
            _ = tape.gradients(of: dx.sum(), withRespectTo: [x])
        },
        .init("backwardFromAConstantOutput", .autodiff, .stops("backward: the output (shape []) does not require a gradient")) {
            let tape = Tape<Double>()
            _ = tape.variable(Tensor([1]))
            tape.constant(Tensor([2, 3])).sum().backward()
        },
        .init("allowUnusedGivesZeros", .autodiff, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, 2]))
            let (c, unused) = (tape.constant(Tensor([3, 4])), tape.variable(Tensor([9])))
            let g = tape.gradients(of: (x * c).sum(), withRespectTo: [x, c, unused], allowUnused: true)
            require(g == [Tensor([3, 4]), Tensor([0, 0]), Tensor([0])], "\(g)")
        },
        .init("allowUnusedForAConstantOutput", .autodiff, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, 2]))
            require(tape.gradients(of: tape.constant(Tensor(1)), withRespectTo: [x], allowUnused: true) == [Tensor([0, 0])], "zeros")
        },
        .init("secondDerivativeOfALinearFunctionWithAllowUnused", .autodiff, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([2]))
            let dx = tape.gradients(of: (x * 3).sum(), withRespectTo: [x], createGraph: true)[0]
            requireValues(dx.value, [1], [3], "first derivative")
            requireValues(tape.gradients(of: dx.sum(), withRespectTo: [x], allowUnused: true)[0], [1], [0], "second derivative")
        },
        .init("usedThroughAZeroDerivativeIsZerosNotAnError", .autodiff, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([-1, -2]))
            requireValues(tape.gradients(of: x.relu().sum(), withRespectTo: [x])[0], [2], [0, 0], "relu in its flat part")
        },
        .init("usedThroughAConstantMaskIsZerosNotAnError", .autodiff, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, 2]))
            requireValues(tape.gradients(of: (x * 0).sum(), withRespectTo: [x])[0], [2], [0, 0], "∂(0·x)/∂x")
        },
        .init("gradientWithRespectToTheOutputItself", .autodiff, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, 2]))
            let y = (x * x).sum()
            requireValues(tape.gradients(of: y, withRespectTo: [y, x])[0], [], [1], "∂y/∂y")
        },
        .init("gradientWithRespectToAnIntermediate", .autodiff, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, 2]))
            let h = x * 3
            requireValues(tape.gradients(of: (h * h).sum(), withRespectTo: [h])[0], [2], [6, 12], "∂Σh²/∂h")
        },
        .init("hessianOfALinearFunctionIsZero", .autodiff, .rightValue) {
            requireValues(hessian(at: Tensor<Double>([1, 2])) { ($0 * 3).sum() }, [2, 2], [0, 0, 0, 0], "H of a linear function")
        },
        .init("gradientOfAFunctionIgnoringItsInput", .autodiff, .rightValue) {
            requireValues(gradient(at: Tensor<Double>([1, 2])) { _ in Variable(Tensor(5)) }, [2], [0, 0], "∇ of a constant function")
        },
        .init("jvpOfAConstantFunction", .autodiff, .rightValue) {
            requireValues(jvp(at: Tensor<Double>([1, 2]), direction: Tensor([1, 1])) { _ in Variable(Tensor([7])) }, [1], [0], "J·v")
        },
        .init("inputOfAnotherTape", .autodiff, .stops("gradients: input 0 belongs to a different tape than the output")) {
            let tape = Tape<Double>()
            let other = Tape<Double>().variable(Tensor([1]))
            _ = tape.gradients(of: tape.variable(Tensor([1])).sum(), withRespectTo: [other])
        },
        .init("seedOfTheWrongShapeForGradients", .autodiff, .stops("backward: seed of shape [3] does not match the output shape [2]")) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, 2]))
            _ = tape.gradients(of: x * 2, withRespectTo: [x], seed: Tensor([1, 1, 1]))
        },
        .init("parameterThatDoesNotRequireAGradient", .autodiff, .stops("gradients: input 0 (shape [1]) does not require a gradient")) {
            let tape = Tape<Double>()
            let p = Parameter(Tensor<Double>([1]))
            p.requiresGradient = false
            let w = tape.variable(for: p)
            _ = tape.gradients(of: (w * tape.variable(Tensor([2]))).sum(), withRespectTo: [w])
        },
    ]

    // MARK: Layers

    static let layerCases: [AdversarialCase] = [
        .init("linearWithNoInputFeatures", .layers, .rightValue) {
            let layer = Linear<Double>(weight: Tensor(zeros: [2, 0]), bias: Tensor([1, -1]))
            requireValues(layer(Variable(Tensor(zeros: [3, 0]))).value, [3, 2], [1, -1, 1, -1, 1, -1], "x·Wᵀ + b with no input features (PyTorch: the bias)")
        },
        .init("linearWithNoRows", .layers, .rightValue) {
            let layer = Linear<Double>(weight: Tensor(ones: [2, 3]))
            require(layer(Variable(Tensor(zeros: [0, 3]))).shape == [0, 2], "shape")
        },
        .init("conv2dPaddingOverflows", .layers, .stops("conv2d: 2 · padding 4611686018427387904 along the height overflows Int (2 · 4611686018427387904 > 9223372036854775807)")) {
            _ = conv2d(Variable(Tensor<Double>(zeros: [1, 1, 2, 2])), weight: Variable(Tensor(zeros: [1, 1, 1, 1])), padding: WindowSize(1 << 62, 0))
        },
        .init("conv2dDilationOverflows", .layers, .stops("conv2d: the width span of the kernel, dilation 9223372036854775807 · (2 − 1) + 1 overflows")) {
            _ = conv2d(Variable(Tensor<Double>(zeros: [1, 1, 2, 2])), weight: Variable(Tensor(zeros: [1, 1, 1, 2])), dilation: WindowSize(1, Int.max))
        },
        .init("conv2dOutputTooLarge", .layers, .stops("conv2d: shape [1, 1, 2097153, 2097153] needs 35184405643272 bytes (32.0 TiB) for 4398050705409 Double elements, \(memory)")) {
            _ = conv2d(Variable(Tensor<Double>(zeros: [1, 1, 1, 1])), weight: Variable(Tensor(zeros: [1, 1, 1, 1])), padding: WindowSize(1 << 20))
        },
        .init("conv2dIm2colBufferTooLarge", .layers, .stops("conv2d (im2col buffer): shape [1, 1, 1, 2097153, 2097153] needs 35184405643272 bytes (32.0 TiB) for 4398050705409 Double elements, \(memory)")) {
            _ = conv2d(Variable(Tensor<Double>(zeros: [0, 1, 1, 1])), weight: Variable(Tensor(zeros: [1, 1, 1, 1])), padding: WindowSize(1 << 20))
        },
        .init("conv2dHugeGroups", .layers, .stops("conv2d: input shape [1, 0, 1, 1] has 0 channels but weight shape [0, 5, 1, 1] with groups 9223372036854775807 expects 5 · 9223372036854775807 = more than Int.max")) {
            _ = conv2d(Variable(Tensor<Double>(zeros: [1, 0, 1, 1])), weight: Variable(Tensor(zeros: [0, 5, 1, 1])), groups: Int.max)
        },
        .init("conv2dModuleWeightTooLarge", .layers, .stops("Conv2d: shape [1, 1073741824, 1073741824, 1073741824] has 1.2379400392853803e+27 elements")) {
            var generator = SeededGenerator(seed: 0)
            _ = Conv2d<Double>(inputChannels: 1 << 30, outputChannels: 1, kernelSize: WindowSize(1 << 30, 1 << 30), generator: &generator)
        },
        .init("linearModuleTooLarge", .layers, .stops("randomUniform: shape [1048576, 1048576] needs 4398046511104 bytes (4.0 TiB) for 1099511627776 Float elements, \(memory)")) {
            var generator = SeededGenerator(seed: 0)
            _ = Linear<Float>(inputSize: 1 << 20, outputSize: 1 << 20, generator: &generator)
        },
        .init("embeddingModuleTooLarge", .layers, .stops("randomNormal: shape [4294967296, 4294967296] has 1.8446744073709552e+19 elements")) {
            var generator = SeededGenerator(seed: 0)
            _ = Embedding<Double>(vocabularySize: 1 << 32, dimension: 1 << 32, generator: &generator)
        },
        .init("maxPoolKernelSpanOverflows", .layers, .stops("maxPool2d: the height span of the kernel, dilation 2 · (9223372036854775807 − 1) overflows")) {
            _ = Variable(Tensor<Double>(zeros: [1, 1, 2, 2])).maxPool2d(kernelSize: WindowSize(Int.max, 1), dilation: WindowSize(2, 1))
        },
        .init("avgPoolPaddingOverflows", .layers, .stops("avgPool2d: the padded height 2 + 2 · 4611686018427387903 overflows Int")) {
            _ = Variable(Tensor<Double>(zeros: [1, 1, 2, 2])).avgPool2d(kernelSize: WindowSize(Int.max, 1), padding: WindowSize(Int.max / 2, 0))
        },
        .init("maxPoolWindowEntirelyInThePaddingHasNoGradient", .layers, .rightValue) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor(shape: [1, 1, 1, 1], scalars: [3]))
            let y = x.maxPool2d(kernelSize: WindowSize(1, 2), stride: WindowSize(1, 3), padding: WindowSize(0, 1), dilation: WindowSize(1, 2))
            requireValues(y.value, [1, 1, 1, 1], [-.infinity], "a window with no input element")
            requireValues(tape.gradients(of: y, withRespectTo: [x], seed: Tensor(shape: [1, 1, 1, 1], scalars: [1]))[0], [1, 1, 1, 1], [0], "gradient")
        },
        .init("multiHeadAttentionZeroHeads", .layers, .stops("multiHeadAttention: headCount 0 must be positive and divide embedDimension 2")) {
            let x = Variable(Tensor<Double>(zeros: [1, 1, 2]))
            _ = multiHeadAttention(query: x, key: x, value: x, headCount: 0, inProjWeight: Variable(Tensor(zeros: [6, 2])), inProjBias: nil,
                                   outProjWeight: Variable(Tensor(zeros: [2, 2])), outProjBias: nil)
        },
        .init("attentionShapesDisagree", .layers, .stops("scaledDotProductAttention: query [N, H, L, d], key [N, H, S, d] and value [N, H, S, dᵥ] must agree, got [1, 1, 2, 3], [1, 1, 2, 4] and [1, 1, 2, 4]")) {
            _ = scaledDotProductAttention(query: Variable(Tensor<Double>(zeros: [1, 1, 2, 3])), key: Variable(Tensor(zeros: [1, 1, 2, 4])),
                                          value: Variable(Tensor(zeros: [1, 1, 2, 4])))
        },
        .init("batchNormOneValuePerChannel", .layers, .stops("batchNorm: expected more than 1 value per channel when training, got input shape [1, 3]")) {
            _ = BatchNorm<Double>(numFeatures: 3)(Tape<Double>().variable(Tensor(zeros: [1, 3])))
        },
        .init("groupNormOneValuePerGroup", .layers, .stops("groupNorm: expected more than 1 value per channel group, got input shape [1, 2, 1] with numGroups 2")) {
            _ = Tape<Double>().variable(Tensor(zeros: [1, 2, 1])).groupNorm(numGroups: 2)
        },
        .init("batchNormRunningStatisticsOfTheWrongShape", .layers, .stops("batchNorm: runningMean [3] and runningVariance [2] must have shape [2] for input shape [2, 2]")) {
            _ = Variable(Tensor<Double>(zeros: [2, 2])).batchNorm(runningMean: Tensor(zeros: [3]), runningVariance: Tensor(ones: [2]))
        },
        .init("layerNormWeightOfTheWrongShape", .layers, .stops("layerNorm: weight shape [2] must be [3], equal to normalizedShape [3]")) {
            _ = Variable(m23).layerNorm(normalizedShape: [3], weight: Variable(Tensor(ones: [2])))
        },
        .init("transformerBlockOfAnEmptySequence", .layers, .rightValue) {
            var generator = SeededGenerator(seed: 0)
            let block = TransformerBlock<Double>(embedDimension: 2, headCount: 1, feedForwardDimension: 3, generator: &generator)
            require(block(Variable(Tensor(zeros: [1, 0, 2]))).shape == [1, 0, 2], "shape")
        },
        .init("multiHeadAttentionOfHugeEmbedding", .layers, .stops("MultiHeadAttention: shape [3, 4611686018427387904, 4611686018427387904] has")) {
            var generator = SeededGenerator(seed: 0)
            _ = MultiHeadAttention<Float>(embedDimension: 1 << 62, headCount: 1, generator: &generator)
        },
        .init("transformerHeadsNotDividingTheEmbedding", .layers, .stops("MultiHeadAttention: headCount 3 must be positive and divide embedDimension 4 (> 0)")) {
            var generator = SeededGenerator(seed: 0)
            _ = TransformerBlock<Double>(embedDimension: 4, headCount: 3, feedForwardDimension: 2, generator: &generator)
        },
        .init("layerNormModuleOfHugeShape", .layers, .stops("Tensor(repeating:shape:): shape [1099511627776, 1099511627776] has 1.2089258196146292e+24 elements")) {
            _ = LayerNorm<Double>(normalizedShape: [1 << 40, 1 << 40])
        },
        .init("averagePoolStrideZero", .layers, .stops("avgPool2d: stride [0, 1] must be positive")) {
            _ = Variable(Tensor<Double>(zeros: [1, 1, 2, 2])).avgPool2d(kernelSize: 2, stride: WindowSize(0, 1))
        },
        .init("crossEntropyOverZeroClasses", .layers, .stops("crossEntropy: target 0 at position 0 is out of range for 0 classes (and is not ignoreIndex -100)")) {
            _ = crossEntropy(logits: Variable(Tensor<Double>(zeros: [2, 0])), targets: [0, 0])
        },
        .init("flattenedStartAfterEnd", .layers, .stops("flatten: startAxis 2 comes after endAxis 1 for shape [1, 2, 3]")) {
            _ = Variable(Tensor<Double>(zeros: [1, 2, 3])).flattened(startAxis: 2, endAxis: 1)
        },
    ]

    // MARK: Files

    static let fileCases: [AdversarialCase] = [
        .init("canonicallyEquivalentNamesAreDistinct", .files, .rightValue) {
            let composed = "caf\u{e9}", decomposed = "cafe\u{301}"
            let header = #"{"\#(composed)":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"\#(decomposed)":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}}"#
            let data = Double(1).bitPattern.littleEndianBytes + Double(2).bitPattern.littleEndianBytes
            let file = try! SafeTensorsFile(bytes: safetensorsBytes(header: header, data: data))
            require(try! file.tensor(named: composed, as: Double.self) == Tensor([1]), "é as one scalar")
            require(try! file.tensor(named: decomposed, as: Double.self) == Tensor([2]), "e + U+0301")
            require(Set(file.tensorNames.map { Array($0.utf8) }) == [Array(composed.utf8), Array(decomposed.utf8)], "names \(file.tensorNames)")
        },
        .init("canonicallyEquivalentNamesRoundTrip", .files, .rightValue) {
            let composed = "\u{e9}", decomposed = "e\u{301}"
            let header = #"{"\#(decomposed)":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"\#(composed)":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}"#
            let data = Float(3).bitPattern.littleEndianBytes + Float(4).bitPattern.littleEndianBytes
            let file = try! SafeTensorsFile(bytes: safetensorsBytes(header: header, data: data))
            let again = try! SafeTensorsFile(bytes: try! file.serialized())
            require(try! again.tensor(named: decomposed, as: Float.self) == Tensor(Float(3)), "decomposed after a round trip")
            require(try! again.tensor(named: composed, as: Float.self) == Tensor(Float(4)), "composed after a round trip")
        },
        .init("exactlyDuplicateNamesAreRejected", .files, .throwsTypedError) {
            let header = #"{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}"#
            requireThrows(SafeTensorsError.invalidJSON(offset: 56, reason: "duplicate key \"a\"")) {
                _ = try SafeTensorsFile(bytes: safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 8)))
            }
        },
        .init("canonicallyEquivalentMetadataKeys", .files, .throwsTypedError) {
            let header = #"{"__metadata__":{"\#u{e9}":"1","e\#u{301}":"2"}}"#
            requireThrows(SafeTensorsError.invalidMetadata(reason: "keys 'é' (UTF-8 [195, 169]) and 'é' (UTF-8 [101, 204, 129]) are canonically equivalent Unicode; a [String: String] cannot hold both")) {
                _ = try SafeTensorsFile(bytes: safetensorsBytes(header: header, data: []))
            }
        },
        .init("writingToAPathEndingInSlash", .files, .throwsTypedError) {
            let directory = scratchDirectory("slash")
            let path = directory + "/model.safetensors/"
            requireThrows(SafeTensorsError.unwritableFile(path: path, reason: "the path ends in '/', so it names a directory, not a file")) {
                try SafeTensorsFile(["w": Tensor<Float>([1])]).write(toPath: path)
            }
            require(!FileManager.default.fileExists(atPath: directory + "/model.safetensors"), "a file was written")
        },
        .init("writingToADirectory", .files, .throwsTypedError) {
            let directory = scratchDirectory("directory")
            requireThrows(SafeTensorsError.unwritableFile(path: directory, reason: "it is a directory, not a file")) {
                try SafeTensorsFile(["w": Tensor<Float>([1])]).write(toPath: directory)
            }
        },
        .init("readingADirectory", .files, .throwsTypedError) {
            let directory = scratchDirectory("read-directory")
            requireThrows(SafeTensorsError.unreadableFile(path: directory, reason: "it is a directory, not a file")) {
                _ = try SafeTensorsFile(contentsOfPath: directory)
            }
        },
        .init("checkpointToAPathEndingInSlash", .files, .throwsTypedError) {
            let path = scratchDirectory("checkpoint-slash") + "/run/"
            requireThrows(CheckpointError.safeTensors(.unwritableFile(path: path, reason: "the path ends in '/', so it names a directory, not a file"))) {
                try Checkpoint.save(Linear<Double>(weight: Tensor(ones: [1, 1])), toPath: path)
            }
        },
        .init("staleTemporaryFileRemovedBySave", .files, .rightValue) {
            let directory = scratchDirectory("stale-save")
            let path = directory + "/model.safetensors"
            let stale = directory + "/.model.safetensors.tmp-\(SafeTensorsFiles.host)-\(deadProcessID())-42"
            _ = FileManager.default.createFile(atPath: stale, contents: Data(repeating: 7, count: 1000))
            try! SafeTensorsFile(["w": Tensor<Float>([1])]).write(toPath: path)
            require(!FileManager.default.fileExists(atPath: stale), "the temporary file of a killed save is still there")
            require((try? FileManager.default.contentsOfDirectory(atPath: directory)) == ["model.safetensors"], "directory holds \(String(describing: try? FileManager.default.contentsOfDirectory(atPath: directory)))")
        },
        .init("staleTemporaryFileRemovedByLoad", .files, .rightValue) {
            let directory = scratchDirectory("stale-load")
            let path = directory + "/model.safetensors"
            try! SafeTensorsFile(["w": Tensor<Float>([1])]).write(toPath: path)
            let stale = directory + "/.model.safetensors.tmp-\(SafeTensorsFiles.host)-\(deadProcessID())-7"
            _ = FileManager.default.createFile(atPath: stale, contents: Data([1, 2, 3]))
            _ = try! SafeTensorsFile(contentsOfPath: path)
            require(!FileManager.default.fileExists(atPath: stale), "the temporary file of a killed save is still there after a load")
        },
        .init("temporaryFileOfALiveWriterIsKept", .files, .rightValue) {
            let directory = scratchDirectory("live")
            let path = directory + "/model.safetensors"
            let live = directory + "/.model.safetensors.tmp-\(SafeTensorsFiles.host)-\(getppid())-9"
            _ = FileManager.default.createFile(atPath: live, contents: Data([1]))
            try! SafeTensorsFile(["w": Tensor<Float>([1])]).write(toPath: path)
            require(FileManager.default.fileExists(atPath: live), "a running process's temporary file was removed")
        },
        .init("temporaryFileOfAnotherHostIsKept", .files, .rightValue) {
            let directory = scratchDirectory("other-host")
            let path = directory + "/model.safetensors"
            let other = directory + "/.model.safetensors.tmp-elsewhere_example-\(deadProcessID())-9"
            _ = FileManager.default.createFile(atPath: other, contents: Data([1]))
            try! SafeTensorsFile(["w": Tensor<Float>([1])]).write(toPath: path)
            require(FileManager.default.fileExists(atPath: other), "another host's temporary file was removed")
        },
        .init("killedSaveIsCleanedUpByTheNextSave", .files, .rightValue) {
            // A writer killed between writing its temporary file and renaming it.
            let directory = scratchDirectory("killed")
            let path = directory + "/model.safetensors"
            try! SafeTensorsFile(["w": Tensor<Float>([1])]).write(toPath: path)
            let child = Process()
            child.executableURL = URL(fileURLWithPath: "/bin/sh")
            child.arguments = ["-c", "printf partial > \"$1/.model.safetensors.tmp-$2-$$-5\"; kill -9 $$", "sh", directory, SafeTensorsFiles.host]
            try! child.run()
            child.waitUntilExit()
            require(child.terminationReason == .uncaughtSignal, "the writer was not killed")
            let leftovers = (try! FileManager.default.contentsOfDirectory(atPath: directory)).filter { $0.hasPrefix(".model") }
            require(leftovers.count == 1, "the killed writer left \(leftovers)")
            try! SafeTensorsFile(["w": Tensor<Float>([2])]).write(toPath: path)
            require((try! FileManager.default.contentsOfDirectory(atPath: directory)) == ["model.safetensors"], "leftovers after the next save")
            require(try! SafeTensorsFile(contentsOfPath: path).tensor(named: "w", as: Float.self) == Tensor([2]), "the new file")
        },
        .init("truncatedFile", .files, .throwsTypedError) {
            requireThrows(SafeTensorsError.truncated(size: 3)) { _ = try SafeTensorsFile(bytes: [1, 2, 3]) }
        },
        .init("headerLongerThanTheFile", .files, .throwsTypedError) {
            requireThrows(SafeTensorsError.headerExceedsFile(length: 1000, available: 2)) {
                _ = try SafeTensorsFile(bytes: [0xE8, 0x03, 0, 0, 0, 0, 0, 0, 0x7B, 0x7D])
            }
        },
        .init("shapeOverflowInAHeader", .files, .throwsTypedError) {
            let header = #"{"t":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}"#
            requireThrows(SafeTensorsError.shapeOverflow(tensor: "t", shape: [1 << 62, 4])) {
                _ = try SafeTensorsFile(bytes: safetensorsBytes(header: header, data: []))
            }
        },
        .init("byteCountOverflowInAHeader", .files, .throwsTypedError) {
            let header = #"{"t":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}}"#
            requireThrows(SafeTensorsError.shapeOverflow(tensor: "t", shape: [1 << 61])) {
                _ = try SafeTensorsFile(bytes: safetensorsBytes(header: header, data: []))
            }
        },
        .init("offsetsPastTheBuffer", .files, .throwsTypedError) {
            let header = #"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
            requireThrows(SafeTensorsError.offsetsOutOfBounds(tensor: "t", end: 4, bufferSize: 2)) {
                _ = try SafeTensorsFile(bytes: safetensorsBytes(header: header, data: [0, 0]))
            }
        },
        .init("missingFile", .files, .throwsTypedError) {
            let path = scratchDirectory("missing") + "/absent.safetensors"
            requireThrows(SafeTensorsError.unreadableFile(path: path, reason: "No such file or directory")) {
                _ = try SafeTensorsFile(contentsOfPath: path)
            }
        },
        .init("emptyTensorName", .files, .throwsTypedError) {
            requireThrows(SafeTensorsError.invalidName("")) { _ = try SafeTensorsFile(["": Tensor<Float>([1])]).serialized() }
        },
    ]
}

extension UInt64 {
    /// The eight bytes, least significant first.
    var littleEndianBytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: self >> (8 * $0)) } }
}

extension UInt32 {
    /// The four bytes, least significant first.
    var littleEndianBytes: [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: self >> (8 * $0)) } }
}
