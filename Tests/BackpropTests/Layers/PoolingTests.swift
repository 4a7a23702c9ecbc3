import Backprop
import Testing

/// 1…16 as `[1, 1, 4, 4]`.
private let oneToSixteen = tensor([1, 1, 4, 4], (1...16).map(Double.init))
/// 1…9 as `[1, 1, 3, 3]`.
private let oneToNine = tensor([1, 1, 3, 3], (1...9).map(Double.init))

@Suite("Pooling")
struct PoolingTests {
    // MARK: - Max pooling

    @Test func maxPoolValuesAndGradient() {
        let tape = Tape<Double>()
        let x = tape.variable(oneToSixteen)
        let y = x.maxPool2d(kernelSize: 2)
        // Each 2×2 block's maximum is its bottom-right element: 6, 8, 14, 16.
        expectClose(y.value, tensor([1, 1, 2, 2], [6, 8, 14, 16]))
        y.backward(seed: tensor([1, 1, 2, 2], [1, 2, 3, 4]))
        var expected = [Double](repeating: 0, count: 16)
        expected[5] = 1; expected[7] = 2; expected[13] = 3; expected[15] = 4
        expectClose(x.grad!, tensor([1, 1, 4, 4], expected))
    }

    /// With a tie the whole gradient goes to the first maximum in row-major order, as PyTorch.
    @Test func maxPoolTieGoesToFirstMaximum() {
        let tape = Tape<Double>()
        let x = tape.variable(tensor([1, 1, 2, 3], [1, 5, 5, 5, 0, 5]))
        let y = x.maxPool2d(kernelSize: [2, 3])
        expectClose(y.value, tensor([1, 1, 1, 1], [5]))
        y.sum().backward()
        expectClose(x.grad!, tensor([1, 1, 2, 3], [0, 1, 0, 0, 0, 0]))
    }

    /// The padding is −∞, not zero: windows over negative inputs keep their negative maximum.
    @Test func maxPoolPaddingIsNegativeInfinity() {
        let x = Variable(tensor([1, 1, 2, 2], [-1, -2, -3, -4]))
        let y = x.maxPool2d(kernelSize: 2, stride: 1, padding: 1)
        // 3×3 windows of the padded input; each corner window holds one real element.
        expectClose(y.value, tensor([1, 1, 3, 3], [-1, -1, -2, -1, -1, -2, -3, -3, -4]))
    }

    /// Dilation 2: window (oh, ow) is {x[oh, ow], x[oh, ow+2], x[oh+2, ow], x[oh+2, ow+2]}.
    @Test func maxPoolDilation() {
        let x = Variable(tensor([1, 1, 4, 4], [3, 0, 7, 1,
                                               9, 2, 4, 8,
                                               5, 6, 1, 0,
                                               2, 11, 3, 4]))
        let y = x.maxPool2d(kernelSize: 2, stride: 1, dilation: 2)
        // (0,0): 3,7,5,1 → 7; (0,1): 0,1,6,0 → 6; (1,0): 9,4,2,3 → 9; (1,1): 2,8,11,4 → 11.
        expectClose(y.value, tensor([1, 1, 2, 2], [7, 6, 9, 11]))
    }

    /// Dilation 2 with padding 1 on a 1×1 input: both taps of the only window fall in the padding,
    /// so the output is −∞ and no gradient flows.
    @Test func maxPoolWindowEntirelyInPadding() {
        let tape = Tape<Double>()
        let x = tape.variable(tensor([1, 1, 1, 1], [3]))
        let y = x.maxPool2d(kernelSize: [2, 1], stride: 1, padding: [1, 0], dilation: [2, 1])
        #expect(y.value.scalars == [-.infinity])
        y.sum().backward()
        #expect(x.grad!.scalars == [0])
    }

    /// ceilMode keeps the partial last window: 3×3 with kernel 2, stride 2 gives 2×2 outputs.
    @Test func maxPoolCeilMode() {
        let y = Variable(oneToNine).maxPool2d(kernelSize: 2, ceilMode: true)
        expectClose(y.value, tensor([1, 1, 2, 2], [5, 6, 8, 9]))
        #expect(Variable(oneToNine).maxPool2d(kernelSize: 2).shape == [1, 1, 1, 1])
    }

    @Test func maxPoolPropagatesNaN() {
        let y = Variable(tensor([1, 1, 2, 2], [1, .nan, 3, 2])).maxPool2d(kernelSize: 2)
        #expect(y.value.scalars[0].isNaN)
    }

    // MARK: - Average pooling

    @Test func avgPoolValuesAndGradient() {
        let tape = Tape<Double>()
        let x = tape.variable(oneToSixteen)
        let y = x.avgPool2d(kernelSize: 2)
        // (1 + 2 + 5 + 6)/4 = 3.5, then 5.5, 11.5, 13.5.
        expectClose(y.value, tensor([1, 1, 2, 2], [3.5, 5.5, 11.5, 13.5]))
        y.sum().backward()
        expectClose(x.grad!, Tensor(repeating: 0.25, shape: [1, 1, 4, 4]))
    }

    /// Kernel 3, stride 2, padding 1 on 1…9: each window covers four input elements; the divisor is
    /// 9 when the padding counts and 4 when it does not.
    @Test func avgPoolPaddingDivisor() {
        let sums: [Double] = [1 + 2 + 4 + 5, 2 + 3 + 5 + 6, 4 + 5 + 7 + 8, 5 + 6 + 8 + 9]
        let included = Variable(oneToNine).avgPool2d(kernelSize: 3, stride: 2, padding: 1)
        expectClose(included.value, tensor([1, 1, 2, 2], sums.map { $0 / 9 }))
        let excluded = Variable(oneToNine).avgPool2d(kernelSize: 3, stride: 2, padding: 1, countIncludePad: false)
        expectClose(excluded.value, tensor([1, 1, 2, 2], sums.map { $0 / 4 }))

        let tape = Tape<Double>()
        let x = tape.variable(oneToNine)
        x.avgPool2d(kernelSize: 3, stride: 2, padding: 1, countIncludePad: false).sum().backward()
        // Corners are in one window, edge centres in two, the centre in all four; each share is 1/4.
        expectClose(x.grad!, tensor([1, 1, 3, 3], [0.25, 0.5, 0.25, 0.5, 1, 0.5, 0.25, 0.5, 0.25]))
    }

    /// ceilMode's partial windows divide by the part inside the (padded) input: 4, 2, 2 and 1.
    @Test func avgPoolCeilMode() {
        let y = Variable(oneToNine).avgPool2d(kernelSize: 2, ceilMode: true)
        expectClose(y.value, tensor([1, 1, 2, 2], [(1 + 2 + 4 + 5) / 4, (3 + 6) / 2, (7 + 8) / 2, 9]))
    }

    // MARK: - Global pooling and flattening

    @Test func globalAveragePool() {
        let tape = Tape<Double>()
        let x = tape.variable(tensor([1, 2, 2, 2], [1, 2, 3, 4, 10, 20, 30, 40]))
        let y = x.globalAveragePool()
        expectClose(y.value, tensor([1, 2], [2.5, 25]))
        y.backward(seed: tensor([1, 2], [4, 8]))
        expectClose(x.grad!, tensor([1, 2, 2, 2], [1, 1, 1, 1, 2, 2, 2, 2]))
    }

    @Test(arguments: [
        (1, -1, [2, 60]), (0, 1, [6, 4, 5]), (1, -2, [2, 12, 5]), (2, 3, [2, 3, 20]), (0, -1, [120]),
    ])
    func flattenedShape(start: Int, end: Int, expected: [Int]) {
        let x = Variable(Tensor<Double>(shape: [2, 3, 4, 5], scalars: (0..<120).map(Double.init)))
        let y = x.flattened(startAxis: start, endAxis: end)
        #expect(y.shape == expected)
        #expect(y.value.scalars == x.value.scalars)
    }

    // MARK: - Errors

    @Test func paddingMoreThanHalfTheKernel() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Variable(Tensor<Double>(zeros: [1, 1, 4, 4])).maxPool2d(kernelSize: 2, padding: 2)
        }
        let text = standardError(of: result)
        #expect(text.contains("maxPool2d: padding [2, 2] must be non-negative and at most half of kernelSize [2, 2]"), "\(text)")
    }

    @Test func nonPositiveStride() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Variable(Tensor<Double>(zeros: [1, 1, 4, 4])).avgPool2d(kernelSize: 2, stride: 0)
        }
        #expect(standardError(of: result).contains("avgPool2d: stride [0, 0] must be positive"))
    }

    @Test func windowLargerThanInput() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Variable(Tensor<Double>(zeros: [1, 1, 2, 5])).maxPool2d(kernelSize: 3)
        }
        let text = standardError(of: result)
        #expect(text.contains("maxPool2d: kernelSize [3, 3] with dilation [1, 1] spans 3x3, larger than the padded input 2x5"), "\(text)")
    }

    @Test func poolingNeedsRankFour() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Variable(Tensor<Double>(zeros: [2, 3, 4])).globalAveragePool()
        }
        #expect(standardError(of: result).contains("globalAveragePool: input must have shape [N, C, H, W], got [2, 3, 4]"))
    }

    @Test func flattenStartAfterEnd() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Variable(Tensor<Double>(zeros: [2, 3, 4])).flattened(startAxis: 2, endAxis: 1)
        }
        #expect(standardError(of: result).contains("flatten: startAxis 2 comes after endAxis 1 for shape [2, 3, 4]"))
    }

    // MARK: - Modules

    @Test func modulesHaveNoParametersAndApplyTheirOps() {
        let x = Variable(oneToSixteen)
        let maxPool = MaxPool2d<Double>(kernelSize: 2)
        #expect(maxPool.stride == WindowSize(2))
        #expect(maxPool.namedParameters.isEmpty)
        expectClose(maxPool(x).value, tensor([1, 1, 2, 2], [6, 8, 14, 16]))
        let avgPool = AvgPool2d<Double>(kernelSize: 2, stride: 2)
        expectClose(avgPool(x).value, tensor([1, 1, 2, 2], [3.5, 5.5, 11.5, 13.5]))
        expectClose(GlobalAveragePool<Double>()(x).value, tensor([1, 1], [8.5]))
        #expect(Flatten<Double>()(x).shape == [1, 16])
        #expect(AvgPool2d<Double>(kernelSize: 2).namedParameters.isEmpty)
    }

    /// A small CNN built from the modules names its parameters as PyTorch's `state_dict` would.
    @Test func smallNetworkStateDictionaryNames() {
        var generator = SeededGenerator(seed: 1)
        let model = Sequential<Double>(
            Conv2d(inputChannels: 1, outputChannels: 4, kernelSize: 3, padding: 1, generator: &generator), ReLU(),
            MaxPool2d(kernelSize: 2), Flatten(), Linear(inputSize: 16, outputSize: 10, generator: &generator))
        #expect(model.namedParameters.map(\.name) == ["0.weight", "0.bias", "4.weight", "4.bias"])
        #expect(model(Variable(Tensor(zeros: [2, 1, 4, 4]))).shape == [2, 10])
    }
}
