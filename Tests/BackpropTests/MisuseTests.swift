import Backprop
import Testing

/// Misuse stops the program with a message naming the op, the values and the rule. Each test runs
/// the misuse in a child process (an exit test) and checks the text it printed to standard error.
@Suite("Misuse")
struct MisuseTests {
    @Test func backwardTwiceThroughAReleasedTape() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, 2]))
            let y = (x * x).sum()
            y.backward()
            y.backward()
        }
        let text = standardError(of: result)
        #expect(text.contains("backward: this tape was released by an earlier backward()"), "\(text)")
        #expect(text.contains("retainGraph: true"), "the message names the way out: \(text)")
    }

    @Test func recordingOnAReleasedTape() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, 2]))
            (x * x).sum().backward()
            _ = x * x
        }
        #expect(standardError(of: result).contains("multiply: this tape was released by an earlier backward()"))
    }

    @Test func backwardFromANonScalarWithoutASeed() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor(zeros: [2, 3]))
            (x * 2).backward()
        }
        let text = standardError(of: result)
        #expect(text.contains("backward: the output has shape [2, 3] (6 elements); backward without a seed needs a one-element output"), "\(text)")
    }

    @Test func seedOfTheWrongShape() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor(zeros: [2, 3]))
            (x * 2).backward(seed: Tensor(zeros: [3, 2]))
        }
        #expect(standardError(of: result).contains("backward: seed of shape [3, 2] does not match the output shape [2, 3]"))
    }

    @Test func mixingVariablesFromTwoTapes() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let a = Tape<Double>().variable(Tensor([1]))
            let b = Tape<Double>().variable(Tensor([2]))
            _ = a + b
        }
        #expect(standardError(of: result).contains("add: mixes variables from two different tapes"))
    }

    @Test func gradientsWithRespectToAVariableOfAnotherTape() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1]))
            let other = Tape<Double>().variable(Tensor([2]))
            _ = tape.gradients(of: (x * x).sum(), withRespectTo: [x, other])
        }
        #expect(standardError(of: result).contains("gradients: input 1 belongs to a different tape than the output"))
    }

    @Test func matmulWithMisalignedShapesNamesBothShapes() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor<Double>(zeros: [2, 3]).matmul(Tensor(zeros: [4, 5]))
        }
        let text = standardError(of: result)
        #expect(text.contains("matmul: shapes [2, 3] and [4, 5] are not aligned: the inner sizes 3 and 4 differ"), "\(text)")
    }

    @Test func matmulOfVariablesWithMisalignedShapes() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let tape = Tape<Double>()
            _ = tape.variable(Tensor(zeros: [2, 2, 3])).matmul(tape.variable(Tensor(zeros: [2])))
        }
        let text = standardError(of: result)
        #expect(text.contains("matmul: shapes [2, 2, 3] and [2, 1] are not aligned"), "\(text)")
    }

    @Test func broadcastingIncompatibleShapes() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor<Double>(zeros: [2, 3]) + Tensor(zeros: [4])
        }
        let text = standardError(of: result)
        #expect(text.contains("add: shapes [2, 3] and [4] cannot be broadcast: axis -1 has sizes 3 and 4"), "\(text)")
    }

    @Test func broadcastingIncompatibleVariables() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let tape = Tape<Double>()
            _ = tape.variable(Tensor(zeros: [3, 2])) * tape.variable(Tensor(zeros: [3, 1, 3]))
        }
        let text = standardError(of: result)
        #expect(text.contains("multiply: shapes [3, 2] and [3, 1, 3] cannot be broadcast: axis -1 has sizes 2 and 3"), "\(text)")
    }

    @Test func reshapeToTheWrongCount() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor<Double>(zeros: [2, 3]).reshaped(to: [4, 2])
        }
        #expect(standardError(of: result).contains("reshape: cannot reshape [2, 3] (6 elements) to [4, 2] (8 elements)"))
    }

    @Test func reshapeWithAnUninferableSize() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let tape = Tape<Double>()
            _ = tape.variable(Tensor(zeros: [7])).reshaped(to: [2, -1])
        }
        #expect(standardError(of: result).contains("reshape: cannot infer the -1 size in [2, -1] for 7 elements (input shape [7])"))
    }

    @Test func reductionOverABadAxis() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor<Double>(zeros: [2, 3]).sum(alongAxes: [2])
        }
        #expect(standardError(of: result).contains("sum: axis 2 is out of range for a tensor of rank 2"))
    }

    @Test func softmaxOverABadNegativeAxis() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tape<Double>().variable(Tensor(zeros: [2, 3])).softmax(alongAxis: -3)
        }
        #expect(standardError(of: result).contains("softmax: axis -3 is out of range for a tensor of rank 2"))
    }

    @Test func repeatedAxis() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor<Double>(zeros: [2, 3]).mean(alongAxes: [1, -1])
        }
        #expect(standardError(of: result).contains("mean: axis -1 appears more than once in [1, -1]"))
    }

    @Test func scalarsThatDoNotFitTheShape() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor<Double>(shape: [2, 2], scalars: [1, 2, 3])
        }
        #expect(standardError(of: result).contains("Tensor.init(shape:scalars:): shape [2, 2] holds 4 elements but 3 scalars were given"))
    }

    @Test func concatenateWithMismatchedSizes() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.concatenate([Tensor<Double>(zeros: [2, 3]), Tensor(zeros: [2, 4])], alongAxis: 0)
        }
        let text = standardError(of: result)
        #expect(text.contains("concatenate: tensor 1 has shape [2, 4] but tensor 0 has shape [2, 3] (all sizes except axis 0 must match)"), "\(text)")
    }

    @Test func gatherIndexOutOfRange() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tape<Double>().variable(Tensor(zeros: [4, 2])).gathering([1, 4], alongAxis: 0)
        }
        #expect(standardError(of: result).contains("gather: index 4 at position 1 is out of range for axis 0 of size 4 (shape [4, 2])"))
    }

    @Test func sliceOutOfBounds() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor<Double>(zeros: [2, 3]).slice(alongAxis: 1, range: 1..<5)
        }
        #expect(standardError(of: result).contains("slice: range 1..<5 is out of bounds for axis 1 of size 3 (shape [2, 3])"))
    }

    @Test func expandToAnIncompatibleShape() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor<Double>(zeros: [2, 3]).expanded(to: [3, 3])
        }
        #expect(standardError(of: result).contains("expand: shapes [2, 3] and [3, 3] cannot be broadcast"))
    }

    @Test func permutationThatIsNotOne() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor<Double>(zeros: [2, 3, 4]).permuted([0, 0, 1])
        }
        #expect(standardError(of: result).contains("permute: order [0, 0, 1] is not a permutation of the 3 axes"))
    }

    @Test func dropoutProbabilityOutsideTheUnitInterval() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var generator = SeededGenerator(seed: 0)
            _ = Tape<Double>().variable(Tensor(zeros: [3])).dropout(probability: 1.5, isTraining: true, using: &generator)
        }
        #expect(standardError(of: result).contains("dropout: probability 1.5 must be in [0, 1]"))
    }

    @Test func backwardFromAConstantWithNoTape() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            Variable(Tensor<Double>(1)).backward()
        }
        #expect(standardError(of: result).contains("backward: this variable is a constant with no tape"))
    }

    // MARK: - Anomaly detection

    @Test func anomalyDetectionNamesTheForwardOperation() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([1, -1]))
            withAnomalyDetection {
                _ = (x * 2).log()
            }
        }
        let text = standardError(of: result)
        #expect(text.contains("anomaly detected: log (tape record 2)"), "\(text)")
        #expect(text.contains("MisuseTests.swift"), "the call site is named: \(text)")
        #expect(text.contains("produced nan at flat index 1 of its output of shape [2]"), "\(text)")
    }

    @Test func anomalyDetectionNamesTheBackwardRule() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([4, 0]))
            withAnomalyDetection {
                x.sqrt().sum().backward()
            }
        }
        let text = standardError(of: result)
        #expect(text.contains("anomaly detected: backward of sqrt (tape record 1)"), "\(text)")
        #expect(text.contains("produced inf at flat index 1 of the gradient for input 0, of shape [2]"), "\(text)")
    }

    @Test func withoutAnomalyDetectionNonFiniteValuesFlowThrough() {
        let tape = Tape<Double>()
        let x = tape.variable(Tensor([4, 0]))
        #expect(!AnomalyDetection.isEnabled)
        let g = tape.gradients(of: x.sqrt().sum(), withRespectTo: [x])[0]
        #expect(g.scalars[0] == 0.25)
        #expect(g.scalars[1] == .infinity)
    }
}
