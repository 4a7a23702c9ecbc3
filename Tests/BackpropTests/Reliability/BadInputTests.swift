import Backprop
import Testing

/// Bad input is rejected with a message naming the op, the values and the rule.
///
/// Misuse of tensors, ops and layers is a programming error and stops the program (as Swift's own
/// array subscript does), so each case of the table runs in a child process (an exit test) and the
/// test checks the text the child printed to standard error: the whole message, which names the op,
/// the offending values and the rule (`"split: sizes [4, -1] include the negative size -1; sizes must
/// be ≥ 0"`). The table covers tensor creation, broadcasting arithmetic, reductions, matmul, the
/// shape ops, the softmax family, the losses, `Linear`, `Embedding`, `Dropout`, every normalization
/// layer, the optimizers, schedules and clipping.
///
/// Mismatched dtypes cannot happen at run time: `Tensor<Float>` and `Tensor<Double>` (and
/// `Variable`, `Parameter`, modules) are different Swift types, so mixing them is a compile-time
/// error, never a run-time one. The one place a dtype is data is a safetensors file; loading a
/// value the requested type cannot hold exactly throws `SafeTensorsError.inexactValue`, tested in
/// `safetensorsInexactConversionsAreTypedErrors` below. Likewise optimizer state loaded from data
/// throws `OptimizerStateError` (tested below), while a parameter whose gradient or value changed
/// shape under a live optimizer is misuse (in the table).
@Suite("Bad input")
struct BadInputTests {
    @Test(arguments: BadInput.allCases)
    func rejectedWithAMessageNamingOpValuesAndRule(_ badInput: BadInput) async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) { [badInput] in
            badInput.trigger()
        }
        let text = standardError(of: result)
        #expect(text.contains("Fatal error: \(badInput.expectedMessage)\n"), "\(badInput): expected “\(badInput.expectedMessage)” in: \(text)")
    }

    /// A dtype is data only in a file: a value the requested type cannot hold exactly throws.
    @Test func safetensorsInexactConversionsAreTypedErrors() throws {
        let file = try SafeTensorsFile(bytes: SafeTensorsFile(tensors: [
            "f32": SafeTensorsEntry(Tensor<Float>([1, 2])),
            "f64": SafeTensorsEntry(Tensor<Double>([1, 0.1])),
        ]).serialized())
        #expect(try file.tensor(named: "f32", as: Double.self) == Tensor([1, 2]))
        let inexact = SafeTensorsError.inexactValue(tensor: "f64", index: 1, value: "0.1", dtype: "F64", target: "F32")
        #expect(throws: inexact) { _ = try file.tensor(named: "f64", as: Float.self) }
        #expect(throws: inexact) { _ = try file.allTensors(as: Float.self) }
        let weight = Parameter(Tensor<Float>(zeros: [2])), other = Parameter(Tensor<Float>(zeros: [2]))
        #expect(throws: inexact) { try file.load(into: ["f32": other, "f64": weight]) }
        #expect(weight.value.scalars == [0, 0] && other.value.scalars == [0, 0], "nothing is loaded from a rejected file")
        #expect(throws: SafeTensorsError.shapeMismatch(tensor: "f64", expected: [3], found: [2])) {
            try file.load(into: ["f64": Parameter(Tensor<Double>(zeros: [3]))], allowingUnexpected: true)
        }
    }

    /// Optimizer state is data too: a mismatched state dictionary throws and changes nothing.
    @Test func optimizerStateMismatchesAreTypedErrors() throws {
        let p = Parameter(Tensor<Double>(zeros: [3]))
        let adam = Adam(parameters: [p])
        p.grad = Tensor(ones: [3])
        adam.step()
        var state = adam.stateTensors()
        state["state.0.exp_avg"] = Tensor(zeros: [4])
        #expect(throws: OptimizerStateError.shapeMismatch(name: "state.0.exp_avg", expected: [3], found: [4])) {
            try adam.loadState(state)
        }
        #expect(throws: OptimizerStateError.missingTensor(name: "step")) { try adam.loadState([:]) }
        let sgd = SGD(parameters: [p], learningRate: 0.1, momentum: 0.9)
        #expect(throws: OptimizerStateError.unexpectedTensor(name: "state.0.exp_avg")) {
            try sgd.loadState(adam.stateTensors())
        }
        #expect(throws: OptimizerStateError.invalidStepCount(name: "step", value: -1)) {
            try sgd.loadState(["step": Tensor(-1)])
        }
        #expect(adam.stepCount == 1)
    }
}

/// One misuse per case; `trigger()` performs it, `expectedFragments` are what the message must say.
enum BadInput: String, CaseIterable, Codable, Sendable {
    // Tensor creation
    case scalarCountMismatch, negativeDimension, negativeZerosShape, raggedRows, negativeLinspaceCount
    case zeroArangeStep, negativeIdentitySize, negativeStandardDeviation, emptyUniformRange
    // Arithmetic and broadcasting
    case addIncompatibleShapes, variableMultiplyIncompatibleShapes, expandedToIncompatibleShape
    case addAssignIncompatibleShapes, selectIncompatibleShapes, powIncompatibleShapes, summedToIncompatibleShape
    // Reductions
    case sumAxisOutOfRange, sumNegativeAxisOutOfRange, sumRepeatedAxes, maxOfEmpty, argmaxOfEmpty
    case argmaxAxisOutOfRange, varianceNegativeCorrection, variableMaxAxisOutOfRange, variableMeanAxisOutOfRange
    // Matrix multiplication
    case matmulInnerSizeMismatch, matmulOfScalar, matmulBatchMismatch
    // Shape ops
    case reshapeCountMismatch, reshapeTwoInferredAxes, reshapeNegativeSize, permuteRepeatedAxis, permuteWrongLength
    case transposedAxisOutOfRange, squeezeNonUnitAxis, unsqueezeAxisOutOfRange, sliceRangeOutOfBounds
    case sliceAxisOutOfRange, concatenateNothing, concatenateMismatchedShapes, concatenateAxisOutOfRange
    case stackMismatchedShapes, stackNothing, splitSizesDoNotAddUp, splitNegativeSize, splitCountDoesNotDivide
    case splitZeroCount, gatherIndexOutOfRange, gatherNegativeIndex, gatherAxisOutOfRange
    case variableReshapeCountMismatch, variableConcatenateMismatchedShapes
    // Softmax family
    case softmaxAxisOutOfRange, variableLogSoftmaxAxisOutOfRange, logSumExpAxisOutOfRange
    // Losses
    case crossEntropyTargetOutOfRange, crossEntropyNegativeTarget, crossEntropyTargetCountMismatch
    case crossEntropyLabelSmoothingOutOfRange, crossEntropyScalarLogits, negativeLogLikelihoodTargetOutOfRange
    case meanSquaredErrorShapeMismatch, l1LossShapeMismatch, binaryCrossEntropyShapeMismatch
    // Layers
    case linearWrongInputSize, linearNonPositiveSizes, linearScalarInput, linearBadWeightShape
    case embeddingIdOutOfRange, embeddingNegativeId, embeddingIdShapeMismatch, embeddingEmptyVocabulary
    case dropoutProbabilityAboveOne, dropoutNegativeProbability
    // Normalization layers
    case batchNormWrongChannelCount, batchNormRankOneInput, batchNormZeroFeatures, batchNormNegativeEps
    case layerNormShapeMismatch, layerNormEmptyNormalizedShape, layerNormInputRankTooLow, layerNormNonPositiveSize
    case groupNormNotDivisible, groupNormZeroGroups, functionalGroupNormZeroGroups, groupNormWrongChannelCount, groupNormRankOneInput
    case instanceNormRankOneInput, instanceNormWrongChannelCount, rmsNormShapeMismatch, rmsNormEmptyNormalizedShape
    case batchLayerNormSampleShapeMismatch, batchLayerNormZeroBatchSize
    // Optimizers, schedules, clipping
    case sgdNegativeLearningRate, adamBetaOutOfRange, adamGradientShapeChanged, sgdGradientShapeChanged
    case adamParameterShapeChangedUnderState, clipNegativeMaxNorm, stepDecayZeroStepSize

    /// The message each case must print: `op: values and rule`.
    var expectedMessage: String {
        switch self {
        case .adamBetaOutOfRange: "Adam: betas (0.9, 1.0) must each be in [0, 1)"
        case .adamGradientShapeChanged: "Adam: parameter 0 has shape [3] but its gradient has shape [2]; a gradient must have its parameter's shape"
        case .adamParameterShapeChangedUnderState: "Adam: parameter 0 has shape [5] but its optimizer state has shape [3]; the parameter changed shape after earlier steps — create a new optimizer for it"
        case .addAssignIncompatibleShapes: "add: shapes [2] and [3] cannot be broadcast: axis -1 has sizes 2 and 3 (sizes must be equal or one of them 1)"
        case .addIncompatibleShapes: "add: shapes [2, 3] and [4] cannot be broadcast: axis -1 has sizes 3 and 4 (sizes must be equal or one of them 1)"
        case .argmaxAxisOutOfRange: "argmax: axis 2 is out of range for a tensor of rank 2"
        case .argmaxOfEmpty: "argmax: cannot take argmax of an empty tensor"
        case .batchLayerNormSampleShapeMismatch: "BatchLayerNorm: input shape [2, 3] must be [N] + sampleShape [4]"
        case .batchLayerNormZeroBatchSize: "BatchLayerNorm: batchSize 0 must be positive"
        case .batchNormNegativeEps: "BatchNorm: eps -1.0 must be finite and ≥ 0"
        case .batchNormRankOneInput: "BatchNorm: expected an input of rank 2 to 5 ([N, C], [N, C, L], [N, C, H, W] or [N, C, D, H, W]), got shape [3]"
        case .batchNormWrongChannelCount: "BatchNorm: input shape [2, 4] has 4 channels on axis 1, expected numFeatures 3"
        case .batchNormZeroFeatures: "BatchNorm: numFeatures 0 must be positive"
        case .binaryCrossEntropyShapeMismatch: "binaryCrossEntropy: predictions of shape [2, 3] and targets of shape [6] must have the same shape"
        case .clipNegativeMaxNorm: "clipGradientNorm: maxNorm -1.0 must be ≥ 0"
        case .concatenateAxisOutOfRange: "concatenate: axis 2 is out of range for a tensor of rank 2"
        case .concatenateMismatchedShapes: "concatenate: tensor 1 has shape [2, 2] but tensor 0 has shape [2, 3] (all sizes except axis 0 must match)"
        case .concatenateNothing: "concatenate: needs at least one tensor"
        case .crossEntropyLabelSmoothingOutOfRange: "crossEntropy: labelSmoothing 1.5 must be in [0, 1]"
        case .crossEntropyNegativeTarget: "crossEntropy: target -2 at position 0 is out of range for 3 classes (and is not ignoreIndex -100)"
        case .crossEntropyScalarLogits: "crossEntropy: the input must have rank ≥ 1 ([C], [N, C] or [N, C, d…]), got a scalar"
        case .crossEntropyTargetCountMismatch: "crossEntropy: input of shape [2, 3] needs 2 targets (shape [2]) but 3 were given"
        case .crossEntropyTargetOutOfRange: "crossEntropy: target 3 at position 1 is out of range for 3 classes (and is not ignoreIndex -100)"
        case .dropoutNegativeProbability: "dropout: probability -0.1 must be in [0, 1]"
        case .dropoutProbabilityAboveOne: "Dropout: probability 1.5 must be in [0, 1]"
        case .embeddingEmptyVocabulary: "Embedding: vocabularySize 0 and dimension 2 must be positive"
        case .embeddingIdOutOfRange: "Embedding: id 5 at position 1 is outside 0..<5"
        case .embeddingIdShapeMismatch: "embedding: idShape [2, 2] holds 4 ids but 3 were given"
        case .embeddingNegativeId: "Embedding: id -1 at position 0 is outside 0..<5"
        case .emptyUniformRange: "randomUniform: range 1.0..<1.0 must be non-empty and finite"
        case .expandedToIncompatibleShape: "expand: shapes [2] and [3, 3] cannot be broadcast: axis -1 has sizes 2 and 3 (sizes must be equal or one of them 1)"
        case .functionalGroupNormZeroGroups: "groupNorm: numGroups 0 must be positive"
        case .gatherAxisOutOfRange: "gather: axis 2 is out of range for a tensor of rank 2"
        case .gatherIndexOutOfRange: "gather: index 3 at position 1 is out of range for axis 1 of size 3 (shape [2, 3])"
        case .gatherNegativeIndex: "gather: index -1 at position 0 is out of range for axis 0 of size 2 (shape [2, 3])"
        case .groupNormNotDivisible: "GroupNorm: numChannels 6 must be divisible by numGroups 4"
        case .groupNormRankOneInput: "GroupNorm: input shape [4] must be [N, 4, *] for numChannels 4"
        case .groupNormWrongChannelCount: "GroupNorm: input shape [2, 6, 3] must be [N, 4, *] for numChannels 4"
        case .groupNormZeroGroups: "GroupNorm: numGroups 0 and numChannels 6 must be positive"
        case .instanceNormRankOneInput: "InstanceNorm: expected an input [N, C, *] of rank ≥ 3, or an unbatched [C, L], got shape [3]"
        case .instanceNormWrongChannelCount: "InstanceNorm: input shape [2, 4, 5] has 4 channels on axis 1, expected numFeatures 3"
        case .l1LossShapeMismatch: "l1Loss: predictions of shape [2, 3] and targets of shape [2] must have the same shape"
        case .layerNormEmptyNormalizedShape: "LayerNorm: normalizedShape [] must have at least one axis, all positive"
        case .layerNormInputRankTooLow: "layerNorm: normalizedShape [2, 2, 3] does not match the trailing axes of input shape [2, 3]"
        case .layerNormNonPositiveSize: "LayerNorm: normalizedShape [3, 0] must have at least one axis, all positive"
        case .layerNormShapeMismatch: "layerNorm: normalizedShape [4] does not match the trailing axes of input shape [2, 3]"
        case .linearBadWeightShape: "Linear: weight must have shape [outputSize, inputSize] and bias [outputSize], got [2, 3] and [3]"
        case .linearNonPositiveSizes: "Linear: inputSize 0 and outputSize 2 must be positive"
        case .linearScalarInput: "Linear: input shape [] must end in inputSize 1"
        case .linearWrongInputSize: "Linear: input shape [2, 3] must end in inputSize 4"
        case .logSumExpAxisOutOfRange: "logSumExp: axis 7 is out of range for a tensor of rank 2"
        case .matmulBatchMismatch: "matmul: the batch axes [2] of shape [2, 2, 3] and [3] of shape [3, 3, 4] cannot be broadcast: sizes 2 and 3 differ (batch sizes must be equal or one of them 1)"
        case .matmulInnerSizeMismatch: "matmul: shapes [2, 3] and [2, 3] are not aligned: the inner sizes 3 and 2 differ (A's last axis must equal B's second-to-last)"
        case .matmulOfScalar: "matmul: operands must have rank ≥ 1, got shapes [] and [2, 3]"
        case .maxOfEmpty: "max: cannot reduce over empty axis 0 of shape [0]"
        case .meanSquaredErrorShapeMismatch: "meanSquaredError: predictions of shape [2, 3] and targets of shape [3, 2] must have the same shape"
        case .negativeDimension: "Tensor.init(shape:scalars:): shape [2, -1] has a negative size -1"
        case .negativeIdentitySize: "identity: size -2 must be non-negative"
        case .negativeLinspaceCount: "linspace: count -1 must be non-negative"
        case .negativeLogLikelihoodTargetOutOfRange: "negativeLogLikelihood: target 4 at position 0 is out of range for 3 classes (and is not ignoreIndex -100)"
        case .negativeStandardDeviation: "randomNormal: standardDeviation -1.0 must be finite and ≥ 0, and mean 0.0 finite"
        case .negativeZerosShape: "Tensor(zeros:): shape [-1, 2] has a negative size -1"
        case .permuteRepeatedAxis: "permute: order [0, 0] is not a permutation of the 2 axes"
        case .permuteWrongLength: "permute: order [1, 0, 2] is not a permutation of the 2 axes"
        case .powIncompatibleShapes: "pow: shapes [2, 3] and [2] cannot be broadcast: axis -1 has sizes 3 and 2 (sizes must be equal or one of them 1)"
        case .raggedRows: "Tensor.init(rows): row 1 has 1 elements but row 0 has 2"
        case .reshapeCountMismatch: "reshape: cannot reshape [2, 3] (6 elements) to [4] (4 elements)"
        case .reshapeNegativeSize: "reshape: shape [-2, -3] has a negative size -2"
        case .reshapeTwoInferredAxes: "reshape: shape [-1, -1] has more than one inferred (-1) size"
        case .rmsNormEmptyNormalizedShape: "RMSNorm: normalizedShape [] must have at least one axis, all positive"
        case .rmsNormShapeMismatch: "rmsNorm: normalizedShape [2] does not match the trailing axes of input shape [2, 3]"
        case .scalarCountMismatch: "Tensor.init(shape:scalars:): shape [2, 3] holds 6 elements but 3 scalars were given"
        case .selectIncompatibleShapes: "where: shapes [2] and [2, 3] cannot be broadcast: axis -1 has sizes 2 and 3 (sizes must be equal or one of them 1)"
        case .sgdGradientShapeChanged: "SGD: parameter 0 has shape [3] but its gradient has shape [4]; a gradient must have its parameter's shape"
        case .sgdNegativeLearningRate: "SGD: learningRate -0.1 must be finite and ≥ 0"
        case .sliceAxisOutOfRange: "slice: axis 2 is out of range for a tensor of rank 2"
        case .sliceRangeOutOfBounds: "slice: range 1..<5 is out of bounds for axis 1 of size 3 (shape [2, 3])"
        case .softmaxAxisOutOfRange: "softmax: axis 2 is out of range for a tensor of rank 2"
        case .splitCountDoesNotDivide: "split: axis 1 of size 3 cannot be split into 2 equal pieces"
        case .splitNegativeSize: "split: sizes [4, -1] include the negative size -1; sizes must be ≥ 0"
        case .splitSizesDoNotAddUp: "split: sizes [1, 1] do not add up to the size 3 of axis 1 (shape [2, 3])"
        case .splitZeroCount: "split: axis 1 of size 3 cannot be split into 0 equal pieces"
        case .squeezeNonUnitAxis: "squeeze: axis 0 of shape [2, 3] has size 2, not 1"
        case .stackMismatchedShapes: "stack: tensor 1 has shape [3, 2] but tensor 0 has shape [2, 3] (all shapes must be equal)"
        case .stackNothing: "stack: needs at least one tensor"
        case .stepDecayZeroStepSize: "StepDecay: stepSize 0 must be positive"
        case .sumAxisOutOfRange: "sum: axis 2 is out of range for a tensor of rank 2"
        case .sumNegativeAxisOutOfRange: "sum: axis -3 is out of range for a tensor of rank 2"
        case .sumRepeatedAxes: "sum: axis -1 appears more than once in [1, -1]"
        case .summedToIncompatibleShape: "sumToShape: gradient of shape [2, 3] cannot be reduced to shape [2]"
        case .transposedAxisOutOfRange: "transpose: axis 2 is out of range for a tensor of rank 2"
        case .unsqueezeAxisOutOfRange: "unsqueeze: axis 4 is out of range for inserting into shape [2, 3]"
        case .variableConcatenateMismatchedShapes: "concatenate: tensor 1 has shape [2, 2] but tensor 0 has shape [2, 3] (all sizes except axis 0 must match)"
        case .variableLogSoftmaxAxisOutOfRange: "logSoftmax: axis -3 is out of range for a tensor of rank 2"
        case .variableMaxAxisOutOfRange: "max: axis 5 is out of range for a tensor of rank 2"
        case .variableMeanAxisOutOfRange: "mean: axis 3 is out of range for a tensor of rank 2"
        case .variableMultiplyIncompatibleShapes: "multiply: shapes [2, 3] and [3, 2] cannot be broadcast: axis -2 has sizes 2 and 3 (sizes must be equal or one of them 1)"
        case .variableReshapeCountMismatch: "reshape: cannot reshape [2, 3] (6 elements) to [5] (5 elements)"
        case .varianceNegativeCorrection: "variance: correction -1 must be ≥ 0 (0 for the population variance, 1 for the sample variance)"
        case .zeroArangeStep: "arange: step must not be zero"
        }
    }

    func trigger() {
        let m23 = Tensor<Double>(zeros: [2, 3])
        var generator = SeededGenerator(seed: 1)
        let tape = Tape<Double>()
        switch self {
        case .scalarCountMismatch: _ = Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3])
        case .negativeDimension: _ = Tensor<Double>(shape: [2, -1], scalars: [])
        case .negativeZerosShape: _ = Tensor<Double>(zeros: [-1, 2])
        case .raggedRows: _ = Tensor<Double>([[1, 2], [3]])
        case .negativeLinspaceCount: _ = Tensor<Double>.linspace(from: 0, through: 1, count: -1)
        case .zeroArangeStep: _ = Tensor<Double>.arange(from: 0, to: 1, step: 0)
        case .negativeIdentitySize: _ = Tensor<Double>.identity(-2)
        case .negativeStandardDeviation: _ = Tensor<Double>.randomNormal(shape: [2], standardDeviation: -1, using: &generator)
        case .emptyUniformRange: _ = Tensor<Double>.randomUniform(shape: [2], in: 1..<1, using: &generator)

        case .addIncompatibleShapes: _ = m23 + Tensor(zeros: [4])
        case .variableMultiplyIncompatibleShapes: _ = tape.variable(m23) * tape.variable(Tensor(zeros: [3, 2]))
        case .expandedToIncompatibleShape: _ = Tensor<Double>(zeros: [2]).expanded(to: [3, 3])
        case .addAssignIncompatibleShapes:
            var t = Tensor<Double>(zeros: [2])
            t += Tensor(zeros: [3])
        case .selectIncompatibleShapes: _ = Tensor.select(Tensor<Double>(zeros: [2]), m23, Tensor(zeros: [4, 3]))
        case .powIncompatibleShapes: _ = m23.pow(Tensor(zeros: [2]))
        case .summedToIncompatibleShape: _ = m23.summed(toShape: [2])

        case .sumAxisOutOfRange: _ = m23.sum(alongAxes: [2])
        case .sumNegativeAxisOutOfRange: _ = m23.sum(alongAxes: [-3])
        case .sumRepeatedAxes: _ = m23.sum(alongAxes: [1, -1])
        case .maxOfEmpty: _ = Tensor<Double>(zeros: [0]).max()
        case .argmaxOfEmpty: _ = Tensor<Double>(zeros: [0]).argmax()
        case .argmaxAxisOutOfRange: _ = m23.argmax(alongAxis: 2)
        case .varianceNegativeCorrection: _ = m23.variance(alongAxes: [1], correction: -1)
        case .variableMaxAxisOutOfRange: _ = tape.variable(m23).max(alongAxis: 5)
        case .variableMeanAxisOutOfRange: _ = tape.variable(m23).mean(alongAxes: [3])

        case .matmulInnerSizeMismatch: _ = m23.matmul(m23)
        case .matmulOfScalar: _ = Tensor<Double>(2).matmul(m23)
        case .matmulBatchMismatch: _ = Tensor<Double>(zeros: [2, 2, 3]).matmul(Tensor(zeros: [3, 3, 4]))

        case .reshapeCountMismatch: _ = m23.reshaped(to: [4])
        case .reshapeTwoInferredAxes: _ = m23.reshaped(to: [-1, -1])
        case .reshapeNegativeSize: _ = m23.reshaped(to: [-2, -3])
        case .permuteRepeatedAxis: _ = m23.permuted([0, 0])
        case .permuteWrongLength: _ = m23.permuted([1, 0, 2])
        case .transposedAxisOutOfRange: _ = m23.transposed(0, 2)
        case .squeezeNonUnitAxis: _ = m23.squeezed(axes: [0])
        case .unsqueezeAxisOutOfRange: _ = m23.unsqueezed(at: 4)
        case .sliceRangeOutOfBounds: _ = m23.slice(alongAxis: 1, range: 1..<5)
        case .sliceAxisOutOfRange: _ = m23.slice(alongAxis: 2, range: 0..<1)
        case .concatenateNothing: _ = Tensor<Double>.concatenate([], alongAxis: 0)
        case .concatenateMismatchedShapes: _ = Tensor.concatenate([m23, Tensor(zeros: [2, 2]), Tensor(zeros: [3, 3])], alongAxis: 0)
        case .concatenateAxisOutOfRange: _ = Tensor.concatenate([m23, m23], alongAxis: 2)
        case .stackMismatchedShapes: _ = Tensor.stack([m23, Tensor(zeros: [3, 2])])
        case .stackNothing: _ = Tensor<Double>.stack([])
        case .splitSizesDoNotAddUp: _ = m23.split(sizes: [1, 1], alongAxis: 1)
        case .splitNegativeSize: _ = m23.split(sizes: [4, -1], alongAxis: 1)
        case .splitCountDoesNotDivide: _ = m23.split(count: 2, alongAxis: 1)
        case .splitZeroCount: _ = m23.split(count: 0, alongAxis: 1)
        case .gatherIndexOutOfRange: _ = m23.gathering([0, 3], alongAxis: 1)
        case .gatherNegativeIndex: _ = m23.gathering([-1], alongAxis: 0)
        case .gatherAxisOutOfRange: _ = m23.gathering([0], alongAxis: 2)
        case .variableReshapeCountMismatch: _ = tape.variable(m23).reshaped(to: [5])
        case .variableConcatenateMismatchedShapes:
            _ = Variable.concatenate([tape.variable(m23), tape.variable(Tensor(zeros: [2, 2]))], alongAxis: 0)

        case .softmaxAxisOutOfRange: _ = m23.softmax(alongAxis: 2)
        case .variableLogSoftmaxAxisOutOfRange: _ = tape.variable(m23).logSoftmax(alongAxis: -3)
        case .logSumExpAxisOutOfRange: _ = m23.logSumExp(alongAxes: [7])

        case .crossEntropyTargetOutOfRange: _ = crossEntropy(logits: tape.variable(m23), targets: [0, 3])
        case .crossEntropyNegativeTarget: _ = crossEntropy(logits: tape.variable(m23), targets: [-2, 0])
        case .crossEntropyTargetCountMismatch: _ = crossEntropy(logits: tape.variable(m23), targets: [0, 1, 2])
        case .crossEntropyLabelSmoothingOutOfRange: _ = crossEntropy(logits: tape.variable(m23), targets: [0, 1], labelSmoothing: 1.5)
        case .crossEntropyScalarLogits: _ = crossEntropy(logits: tape.variable(Tensor(2)), targets: [0])
        case .negativeLogLikelihoodTargetOutOfRange:
            _ = negativeLogLikelihood(logProbabilities: tape.variable(m23), targets: [4, 0])
        case .meanSquaredErrorShapeMismatch: _ = meanSquaredError(tape.variable(m23), tape.constant(Tensor(zeros: [3, 2])))
        case .l1LossShapeMismatch: _ = l1Loss(tape.variable(m23), tape.constant(Tensor(zeros: [2])))
        case .binaryCrossEntropyShapeMismatch: _ = binaryCrossEntropy(logits: tape.variable(m23), targets: tape.constant(Tensor(zeros: [6])))

        case .linearWrongInputSize: _ = Linear<Double>(inputSize: 4, outputSize: 2, generator: &generator)(tape.variable(m23))
        case .linearNonPositiveSizes: _ = Linear<Double>(inputSize: 0, outputSize: 2, generator: &generator)
        case .linearScalarInput: _ = Linear<Double>(inputSize: 1, outputSize: 2, generator: &generator)(tape.variable(Tensor(3)))
        case .linearBadWeightShape: _ = Linear<Double>(weight: Tensor(zeros: [2, 3]), bias: Tensor(zeros: [3]))
        case .embeddingIdOutOfRange: _ = Embedding<Double>(vocabularySize: 5, dimension: 2, generator: &generator)([1, 5], idShape: [2])
        case .embeddingNegativeId: _ = Embedding<Double>(vocabularySize: 5, dimension: 2, generator: &generator)([-1], idShape: [1])
        case .embeddingIdShapeMismatch: _ = Embedding<Double>(vocabularySize: 5, dimension: 2, generator: &generator)([1, 2, 3], idShape: [2, 2])
        case .embeddingEmptyVocabulary: _ = Embedding<Double>(vocabularySize: 0, dimension: 2, generator: &generator)
        case .dropoutProbabilityAboveOne: _ = Dropout<Double>(probability: 1.5)
        case .dropoutNegativeProbability: _ = tape.variable(m23).dropout(probability: -0.1, isTraining: true, using: &generator)

        case .batchNormWrongChannelCount: _ = BatchNorm<Double>(numFeatures: 3)(tape.variable(Tensor(zeros: [2, 4])))
        case .batchNormRankOneInput: _ = BatchNorm<Double>(numFeatures: 3)(tape.variable(Tensor(zeros: [3])))
        case .batchNormZeroFeatures: _ = BatchNorm<Double>(numFeatures: 0)
        case .batchNormNegativeEps: _ = BatchNorm<Double>(numFeatures: 2, eps: -1)
        case .layerNormShapeMismatch: _ = LayerNorm<Double>(normalizedShape: [4])(tape.variable(m23))
        case .layerNormEmptyNormalizedShape: _ = LayerNorm<Double>(normalizedShape: [])
        case .layerNormInputRankTooLow: _ = LayerNorm<Double>(normalizedShape: [2, 2, 3])(tape.variable(m23))
        case .layerNormNonPositiveSize: _ = LayerNorm<Double>(normalizedShape: [3, 0])
        case .groupNormNotDivisible: _ = GroupNorm<Double>(numGroups: 4, numChannels: 6)
        case .groupNormZeroGroups: _ = GroupNorm<Double>(numGroups: 0, numChannels: 6)
        case .functionalGroupNormZeroGroups: _ = tape.variable(Tensor(zeros: [2, 4, 3])).groupNorm(numGroups: 0)
        case .groupNormWrongChannelCount: _ = GroupNorm<Double>(numGroups: 2, numChannels: 4)(tape.variable(Tensor(zeros: [2, 6, 3])))
        case .groupNormRankOneInput: _ = GroupNorm<Double>(numGroups: 2, numChannels: 4)(tape.variable(Tensor(zeros: [4])))
        case .instanceNormRankOneInput: _ = InstanceNorm<Double>(numFeatures: 3)(tape.variable(Tensor(zeros: [3])))
        case .instanceNormWrongChannelCount: _ = InstanceNorm<Double>(numFeatures: 3, affine: true)(tape.variable(Tensor(zeros: [2, 4, 5])))
        case .rmsNormShapeMismatch: _ = RMSNorm<Double>(normalizedShape: [2])(tape.variable(m23))
        case .rmsNormEmptyNormalizedShape: _ = RMSNorm<Double>(normalizedShape: [])
        case .batchLayerNormSampleShapeMismatch: _ = BatchLayerNorm<Double>(sampleShape: [4])(tape.variable(m23))
        case .batchLayerNormZeroBatchSize: _ = BatchLayerNorm<Double>(sampleShape: [3], batchSize: 0)

        case .sgdNegativeLearningRate: _ = SGD<Double>(parameters: [], learningRate: -0.1)
        case .adamBetaOutOfRange: _ = Adam<Double>(parameters: [], betas: (0.9, 1))
        case .adamGradientShapeChanged:
            let p = Parameter(Tensor<Double>(zeros: [3]))
            p.grad = Tensor(zeros: [2])
            Adam(parameters: [p]).step()
        case .sgdGradientShapeChanged:
            let p = Parameter(Tensor<Double>(zeros: [3]))
            p.grad = Tensor(zeros: [4])
            SGD(parameters: [p], learningRate: 0.1, momentum: 0.9).step()
        case .adamParameterShapeChangedUnderState:
            let p = Parameter(Tensor<Double>(zeros: [3]))
            let adam = Adam(parameters: [p])
            p.grad = Tensor(ones: [3])
            adam.step()
            p.value = Tensor(zeros: [5])
            p.grad = Tensor(ones: [5])
            adam.step()
        case .clipNegativeMaxNorm: _ = clipGradientNorm([Parameter(Tensor<Double>(zeros: [1]))], maxNorm: -1)
        case .stepDecayZeroStepSize: _ = StepDecay(initial: 0.1, stepSize: 0)
        }
    }
}
