import Backprop
import Testing

/// Anomaly detection stops at the first NaN or infinity with a report naming the op, the direction,
/// the tape record, the input shapes, the bad element and the call sites. Each provoking test runs in
/// a child process (an exit test) and reads the report from standard error.
///
/// The models are small `Sequential`s of `Linear`, `LayerNorm` and `ReLU` with hand-set weights, so
/// the bad value appears at a known place (worked out in `model(tail:)`), deep inside the model.
@Suite("Anomaly detection")
struct AnomalyDetectionTests {
    /// `log(x)`, elementwise: a user-written layer, so the call site is in this file.
    final class Logarithm: Module {
        typealias Scalar = Double
        var isTraining = true
        static let callLine = #line + 1
        func callAsFunction(_ x: Variable<Double>) -> Variable<Double> { x.log() }
    }

    /// `x / Σx` along the last axis: a row of zeros gives 0/0.
    final class SumNormalize: Module {
        typealias Scalar = Double
        var isTraining = true
        static let callLine = #line + 1
        func callAsFunction(_ x: Variable<Double>) -> Variable<Double> { x / x.sum(alongAxes: [1], keepDims: true) }
    }

    /// `√(mean(x²))` along the last axis: finite at a zero row, but its derivative there is 1/(2·0).
    final class RootMeanSquare: Module {
        typealias Scalar = Double
        var isTraining = true
        func callAsFunction(_ x: Variable<Double>) -> Variable<Double> { x.squared().mean(alongAxes: [1]).sqrt() }
    }

    /// `Linear(2→3) → LayerNorm([3]) → ReLU → Linear(3→3) → ReLU → tail`, on `input`.
    ///
    /// Sample 0, `[1, 2]`: the first linear gives `[1.5, 1.5, 3]`; LayerNorm (mean 2) gives
    /// `[−c, −c, 2c]` with `c > 0`; ReLU `[0, 0, 2c]`; the second linear (rows `[1,0,0]`, `[0,0,0]`,
    /// `[0,1,0]`) reads only the first two columns, so the tail sees `[0, 0, 0]`.
    /// Sample 1, `[3, −1]`: `[3.5, −1.5, 2]`, mean 4/3, ReLU keeps columns 0 and 2, so the tail sees
    /// `[a, 0, 0]` with `a > 0`.
    static func model(tail: any Module<Double>) -> Sequential<Double> {
        Sequential(
            Linear(weight: tensor([3, 2], [1, 0, 0, 1, 1, 1]), bias: Tensor([0.5, -0.5, 0])),
            LayerNorm<Double>(normalizedShape: [3]),
            ReLU<Double>(),
            Linear(weight: tensor([3, 3], [1, 0, 0, 0, 0, 0, 0, 1, 0]), bias: Tensor([0, 0, 0])),
            ReLU<Double>(),
            tail)
    }

    static let input = tensor([2, 2], [1, 2, 3, -1])

    @Test func logOfZeroInTheForwardPassNamesLog() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let model = Self.model(tail: Logarithm())
            let tape = Tape<Double>()
            withAnomalyDetection {
                _ = model(tape.variable(Self.input))
            }
        }
        let text = standardError(of: result)
        // Records: 0 input leaf, 1–2 weight and bias, 3 linear (one fused op), 4–5 γ β, 6 layerNorm,
        // 7 relu, 8–9 second weight and bias, 10 linear, 11 relu, 12 log.
        #expect(text.contains("anomaly detected: log (tape record 12) in the forward pass produced -inf at flat index 0 of its output of shape [2, 3] (element [0, 0])"), "\(text)")
        #expect(text.contains("input shapes: [2, 3]"), "\(text)")
        #expect(text.contains("operation called at: Reliability/AnomalyDetectionTests.swift:\(Logarithm.callLine) (through Variable.log())"), "\(text)")
        #expect(text.contains("detection scope opened at: BackpropTests/AnomalyDetectionTests.swift:"), "\(text)")
    }

    @Test func zeroOverZeroInTheForwardPassNamesDivide() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let model = Self.model(tail: SumNormalize())
            let tape = Tape<Double>()
            withAnomalyDetection {
                _ = model(tape.variable(Self.input))
            }
        }
        let text = standardError(of: result)
        #expect(text.contains("anomaly detected: divide ("), "\(text)")
        #expect(text.contains("in the forward pass produced nan"), "\(text)")
        // Sample 0 is [0, 0, 0] and its sum 0, so its first element is the first 0/0.
        #expect(text.contains("of its output of shape [2, 3] (element [0, 0])"), "\(text)")
        #expect(text.contains("input shapes: [2, 3], [2, 1]"), "\(text)")
        #expect(text.contains("operation called at: Reliability/AnomalyDetectionTests.swift:\(SumNormalize.callLine)"), "\(text)")
    }

    @Test func zeroOverZeroInsideALibraryLayerNamesTheLayersOp() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            // Both outputs of the linear layer equal x₀, so LayerNorm without eps divides 0 by √0.
            let model = Sequential<Double>(
                Linear(weight: tensor([2, 2], [1, 0, 1, 0]), bias: Tensor([0, 0])),
                LayerNorm<Double>(normalizedShape: [2], eps: 0),
                Linear(weight: tensor([1, 2], [1, 1])))
            let tape = Tape<Double>()
            withAnomalyDetection {
                _ = model(tape.variable(Self.input))
            }
        }
        let text = standardError(of: result)
        // Records: 0 input, 1–2 weight and bias, 3 linear (one fused op), 4–5 γ β, 6 layerNorm.
        #expect(text.contains("anomaly detected: layerNorm (tape record 6) in the forward pass produced nan at flat index 0 of its output of shape [2, 2] (element [0, 0])"), "\(text)")
        #expect(text.contains("input shapes: [2, 2], [2], [2]"), "input, γ and β: \(text)")
        #expect(text.contains("(through Sequential.callAsFunction(_:))"), "the library layer the test called: \(text)")
    }

    @Test func derivativeOfSquareRootAtZeroInTheBackwardPassNamesSqrt() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let model = Self.model(tail: RootMeanSquare())
            let tape = Tape<Double>()
            withAnomalyDetection {
                let output = model(tape.variable(Self.input))
                output.sum().backward()
            }
        }
        let text = standardError(of: result)
        #expect(text.contains("anomaly detected: backward of sqrt ("), "\(text)")
        // Sample 0's root mean square is √0, whose derivative 1/(2·0) is +∞.
        #expect(text.contains("produced inf at flat index 0 of the gradient for input 0, of shape [2] (element [0])"), "\(text)")
        #expect(text.contains("input shapes: [2]"), "\(text)")
        #expect(!text.contains("in the forward pass"), "the forward pass is finite: \(text)")
    }

    @Test func theInnermostScopeIsReported() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, 0]))
            withAnomalyDetection {
                let y = x * 2
                withAnomalyDetection(file: "Training/Step.swift", line: 7) {
                    _ = y.log()
                }
            }
        }
        let text = standardError(of: result)
        #expect(text.contains("anomaly detected: log (tape record 2) in the forward pass produced -inf"), "\(text)")
        #expect(text.contains("detection scope opened at: Training/Step.swift:7"), "\(text)")
    }

    @Test func offByDefaultNonFiniteValuesFlowThroughTheModel() {
        #expect(!AnomalyDetection.isEnabled)
        let model = Self.model(tail: Logarithm())
        let tape = Tape<Double>()
        let x = tape.variable(Self.input)
        let y = model(x)
        // The tail sees [[0, 0, 0], [a, 0, 0]], so log gives −∞ everywhere but element [1, 0].
        #expect(y.value.scalars.enumerated().allSatisfy { $0.offset == 3 ? $0.element.isFinite : $0.element == -.infinity })
        #expect(withAnomalyDetection { AnomalyDetection.isEnabled })
        #expect(!AnomalyDetection.isEnabled)
    }
}
