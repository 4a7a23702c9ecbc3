import Backprop
import Testing

/// One convolution configuration for the comparisons with the direct loops below.
struct ConvolutionCase: Sendable, CustomTestStringConvertible {
    var input: [Int]
    var weight: [Int]
    var stride: (Int, Int) = (1, 1)
    var padding: (Int, Int) = (0, 0)
    var dilation: (Int, Int) = (1, 1)
    var groups = 1
    var bias = true

    var testDescription: String {
        "x=\(input) w=\(weight) stride=\(stride) pad=\(padding) dilation=\(dilation) groups=\(groups) bias=\(bias)"
    }
}

/// The textbook definition, one output element at a time:
/// `y[n, o, oh, ow] = b[o] + Σ_{c, i, j} W[o, c, i, j] · x[n, g·C/groups + c, oh·sH − pH + i·dH, ow·sW − pW + j·dW]`.
/// Also returns, for a given output seed `s`, the gradients of `Σ s·y` by the same direct sums:
/// `∂/∂W[o, c, i, j] = Σ_{n, oh, ow} s[n, o, oh, ow] · x[…]`, `∂/∂x[…] += s · W`, `∂/∂b[o] = Σ s[n, o, …]`.
private func directConvolution(_ x: Tensor<Double>, _ w: Tensor<Double>, _ b: Tensor<Double>?, seed s: Tensor<Double>?,
                               _ c: ConvolutionCase) -> (y: Tensor<Double>, dx: [Double], dw: [Double], db: [Double]) {
    let (n, channels, h, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (outputs, perGroup, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let ho = (h + 2 * c.padding.0 - c.dilation.0 * (kh - 1) - 1) / c.stride.0 + 1
    let wo = (width + 2 * c.padding.1 - c.dilation.1 * (kw - 1) - 1) / c.stride.1 + 1
    let outputsPerGroup = outputs / c.groups
    var y = [Double](repeating: 0, count: n * outputs * ho * wo)
    var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: w.count)
    var db = [Double](repeating: 0, count: outputs)
    for sample in 0..<n {
        for o in 0..<outputs {
            let group = o / outputsPerGroup
            for oh in 0..<ho {
                for ow in 0..<wo {
                    let outIndex = ((sample * outputs + o) * ho + oh) * wo + ow
                    let seed = s?.scalars[outIndex] ?? 0
                    var sum = b?.scalars[o] ?? 0
                    db[o] += seed
                    for ci in 0..<perGroup {
                        let channel = group * perGroup + ci
                        for i in 0..<kh {
                            for j in 0..<kw {
                                let ih = oh * c.stride.0 - c.padding.0 + i * c.dilation.0
                                let iw = ow * c.stride.1 - c.padding.1 + j * c.dilation.1
                                guard ih >= 0, ih < h, iw >= 0, iw < width else { continue }
                                let xIndex = ((sample * channels + channel) * h + ih) * width + iw
                                let wIndex = ((o * perGroup + ci) * kh + i) * kw + j
                                sum += w.scalars[wIndex] * x.scalars[xIndex]
                                dw[wIndex] += seed * x.scalars[xIndex]
                                dx[xIndex] += seed * w.scalars[wIndex]
                            }
                        }
                    }
                    y[outIndex] = sum
                }
            }
        }
    }
    return (Tensor(shape: [n, outputs, ho, wo], scalars: y), dx, dw, db)
}

private func random(_ shape: [Int], seed: UInt64) -> Tensor<Double> {
    var generator = SeededGenerator(seed: seed)
    return Tensor.randomUniform(shape: shape, in: -1..<1, using: &generator)
}

@Suite("Convolution")
struct ConvolutionTests {
    /// x = 1…9 as 3×3, W = [[1, 2], [3, 4]], b = 1: every output and gradient worked by hand.
    @Test func handComputedTwoByTwoKernel() {
        let tape = Tape<Double>()
        let x = tape.variable(tensor([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]))
        let w = tape.variable(tensor([1, 1, 2, 2], [1, 2, 3, 4]))
        let b = tape.variable(Tensor([1]))
        let y = conv2d(x, weight: w, bias: b)
        // y00 = 1·1 + 2·2 + 3·4 + 4·5 + 1 = 38; y01 = 2 + 6 + 15 + 24 + 1 = 48; …
        expectClose(y.value, tensor([1, 1, 2, 2], [38, 48, 68, 78]))
        y.sum().backward()
        // ∂/∂W[i, j] is the sum of the four inputs that tap (i, j) meets.
        expectClose(w.grad!, tensor([1, 1, 2, 2], [12, 16, 24, 28]))
        // ∂/∂x counts the kernel entries each input meets.
        expectClose(x.grad!, tensor([1, 1, 3, 3], [1, 3, 2, 4, 10, 6, 3, 7, 4]))
        expectClose(b.grad!, Tensor([4]))
    }

    /// A 3×3 kernel of ones over a 2×2 input padded by 1 sums the whole input at every position.
    @Test func paddingAddsZeros() {
        let x = Variable(tensor([1, 1, 2, 2], [1, 2, 3, 4]))
        let y = conv2d(x, weight: Variable(Tensor(ones: [1, 1, 3, 3])), padding: 1)
        expectClose(y.value, tensor([1, 1, 2, 2], [10, 10, 10, 10]))
    }

    /// Two groups keep their channels apart: output 0 sees only channel 0, output 1 only channel 1.
    @Test func groupsSeparateChannels() {
        let x = Variable(tensor([1, 2, 1, 2], [1, 2, 10, 20]))
        let w = Variable(tensor([2, 1, 1, 1], [3, 5]))
        expectClose(conv2d(x, weight: w, groups: 2).value, tensor([1, 2, 1, 2], [3, 6, 50, 100]))
    }

    static let cases: [ConvolutionCase] = [
        .init(input: [2, 3, 5, 5], weight: [4, 3, 3, 3], padding: (1, 1)),
        .init(input: [1, 2, 7, 6], weight: [3, 2, 3, 2], stride: (2, 1), padding: (1, 0)),
        .init(input: [1, 2, 8, 8], weight: [2, 2, 3, 3], stride: (2, 2), padding: (2, 2), dilation: (2, 2)),
        .init(input: [2, 4, 5, 4], weight: [6, 2, 2, 3], stride: (1, 2), groups: 2),
        .init(input: [1, 3, 4, 5], weight: [3, 1, 3, 3], padding: (1, 1), groups: 3, bias: false),
        .init(input: [2, 3, 3, 3], weight: [5, 3, 1, 1], bias: false),
        // Small images batched several to a product, in chunks (the last one short) whose weight
        // gradients are summed as partials: 8×8 outputs make chunks of 4 images.
        .init(input: [18, 3, 8, 8], weight: [4, 3, 3, 3], padding: (1, 1)),
        .init(input: [40, 4, 8, 8], weight: [6, 2, 3, 3], stride: (2, 2), padding: (1, 1), groups: 2),
        // One image per chunk (17×16 outputs), and 1×1 kernels on the input in place, with groups
        // and with more chunks than partials.
        .init(input: [3, 2, 17, 16], weight: [3, 2, 3, 3], padding: (1, 1)),
        .init(input: [9, 4, 5, 5], weight: [3, 4, 1, 1]),
        .init(input: [9, 4, 3, 3], weight: [6, 2, 1, 1], groups: 2, bias: false),
        .init(input: [5, 3, 7, 7], weight: [2, 3, 1, 1], stride: (2, 2)),
    ]

    /// Values and all three gradients against the direct loops for stride, padding, dilation,
    /// groups, depthwise, 1×1 kernels and non-square shapes.
    @Test(arguments: cases)
    func matchesDirectConvolution(_ c: ConvolutionCase) {
        let xValue = random(c.input, seed: 1), wValue = random(c.weight, seed: 2), bValue = random([c.weight[0]], seed: 3)
        let tape = Tape<Double>()
        let x = tape.variable(xValue), w = tape.variable(wValue), b = tape.variable(bValue)
        let y = conv2d(x, weight: w, bias: c.bias ? b : nil, stride: WindowSize(c.stride.0, c.stride.1),
                       padding: WindowSize(c.padding.0, c.padding.1), dilation: WindowSize(c.dilation.0, c.dilation.1),
                       groups: c.groups)
        let seed = random(y.shape, seed: 4)
        let expected = directConvolution(xValue, wValue, c.bias ? bValue : nil, seed: seed, c)
        expectClose(y.value, expected.y)
        let grads = tape.gradients(of: y, withRespectTo: c.bias ? [x, w, b] : [x, w], seed: seed)
        expectClose(grads[0].scalars, expected.dx)
        expectClose(grads[1].scalars, expected.dw)
        if c.bias { expectClose(grads[2].scalars, expected.db) }
    }

    /// `Float` takes the same path (and the specialized kernels) as `Double`.
    @Test func floatMatchesDouble() {
        let c = ConvolutionCase(input: [1, 2, 5, 4], weight: [2, 2, 3, 3], padding: (1, 1))
        let xValue = random(c.input, seed: 5), wValue = random(c.weight, seed: 6)
        let expected = directConvolution(xValue, wValue, nil, seed: nil, c).y
        let y = conv2d(Variable(Tensor<Float>(shape: c.input, scalars: xValue.scalars.map(Float.init))),
                       weight: Variable(Tensor<Float>(shape: c.weight, scalars: wValue.scalars.map(Float.init))), padding: 1)
        expectClose(y.value.scalars.map(Double.init), expected.scalars, tolerance: 1e-5)
    }

    /// Float's stride-2 rows are copied eight at a time (the even lanes of sixteen, then an
    /// overlapping last eight): rows of 7, 8, 9, 19 and 20 outputs against the direct loops.
    @Test(arguments: [[2, 3, 7, 17], [1, 2, 5, 16], [2, 3, 9, 40]])
    func floatStrideTwoMatchesDouble(_ input: [Int]) {
        let c = ConvolutionCase(input: input, weight: [4, input[1], 3, 3], stride: (2, 2), padding: (1, 1))
        let xValue = random(c.input, seed: 8), wValue = random(c.weight, seed: 9)
        let expected = directConvolution(xValue, wValue, nil, seed: nil, c).y
        let y = conv2d(Variable(Tensor<Float>(shape: c.input, scalars: xValue.scalars.map(Float.init))),
                       weight: Variable(Tensor<Float>(shape: c.weight, scalars: wValue.scalars.map(Float.init))),
                       stride: 2, padding: 1)
        expectClose(y.value.scalars.map(Double.init), expected.scalars, tolerance: 1e-5)
    }

    /// `⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1`, worked out by hand for each configuration.
    @Test(arguments: [
        ([1, 1, 5, 5], [1, 1, 3, 3], WindowSize(1), WindowSize(0), WindowSize(1), [1, 1, 3, 3]),
        ([2, 3, 32, 32], [8, 3, 3, 3], WindowSize(2), WindowSize(1), WindowSize(1), [2, 8, 16, 16]),
        ([1, 1, 7, 9], [4, 1, 3, 3], WindowSize(1), WindowSize(0), WindowSize(2), [1, 4, 3, 5]),
        ([1, 2, 6, 5], [2, 2, 3, 2], WindowSize(2, 1), WindowSize(1, 0), WindowSize(1), [1, 2, 3, 4]),
        ([1, 1, 4, 4], [1, 1, 4, 4], WindowSize(3), WindowSize(0), WindowSize(1), [1, 1, 1, 1]),
    ])
    func outputShape(input: [Int], weight: [Int], stride: WindowSize, padding: WindowSize, dilation: WindowSize, expected: [Int]) {
        let y = conv2d(Variable(Tensor<Double>(zeros: input)), weight: Variable(Tensor(zeros: weight)),
                       stride: stride, padding: padding, dilation: dilation)
        #expect(y.shape == expected)
    }

    @Test func windowSizeLiterals() {
        let square: WindowSize = 3
        let rectangle: WindowSize = [2, 1]
        #expect(square == WindowSize(3, 3))
        #expect(rectangle.height == 2 && rectangle.width == 1)
    }

    // MARK: - Errors

    @Test func channelMismatch() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = conv2d(Variable(Tensor<Double>(zeros: [1, 3, 5, 5])), weight: Variable(Tensor(zeros: [4, 2, 3, 3])))
        }
        let text = standardError(of: result)
        #expect(text.contains("conv2d: input shape [1, 3, 5, 5] has 3 channels but weight shape [4, 2, 3, 3] with groups 1 expects 2 · 1 = 2"), "\(text)")
    }

    @Test func groupsMustDivideChannels() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = conv2d(Variable(Tensor<Double>(zeros: [1, 3, 5, 5])), weight: Variable(Tensor(zeros: [4, 1, 3, 3])), groups: 2)
        }
        let text = standardError(of: result)
        #expect(text.contains("conv2d: groups 2 does not divide the input's 3 channels (input shape [1, 3, 5, 5])"), "\(text)")
    }

    @Test func groupsMustDivideOutputChannels() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = conv2d(Variable(Tensor<Double>(zeros: [1, 4, 5, 5])), weight: Variable(Tensor(zeros: [3, 2, 3, 3])), groups: 2)
        }
        let text = standardError(of: result)
        #expect(text.contains("conv2d: groups 2 does not divide the weight's 3 output channels (weight shape [3, 2, 3, 3])"), "\(text)")
    }

    @Test func kernelLargerThanPaddedInput() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = conv2d(Variable(Tensor<Double>(zeros: [1, 1, 4, 4])), weight: Variable(Tensor(zeros: [1, 1, 3, 3])), dilation: 2)
        }
        let text = standardError(of: result)
        #expect(text.contains("conv2d: kernel 3x3 with dilation [2, 2] spans 5x5, larger than the padded input 4x4"), "\(text)")
    }

    @Test func nonPositiveStride() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = conv2d(Variable(Tensor<Double>(zeros: [1, 1, 4, 4])), weight: Variable(Tensor(zeros: [1, 1, 3, 3])), stride: [1, 0])
        }
        #expect(standardError(of: result).contains("conv2d: stride [1, 0] must be positive"))
    }

    @Test func nonPositiveDilation() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = conv2d(Variable(Tensor<Double>(zeros: [1, 1, 4, 4])), weight: Variable(Tensor(zeros: [1, 1, 3, 3])), dilation: 0)
        }
        #expect(standardError(of: result).contains("conv2d: dilation [0, 0] must be positive"))
    }

    @Test func wrongRankAndBias() async {
        let rank = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = conv2d(Variable(Tensor<Double>(zeros: [3, 5, 5])), weight: Variable(Tensor(zeros: [1, 3, 3, 3])))
        }
        #expect(standardError(of: rank).contains("conv2d: input must have shape [N, C, H, W], got [3, 5, 5]"))
        let bias = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = conv2d(Variable(Tensor<Double>(zeros: [1, 1, 5, 5])), weight: Variable(Tensor(zeros: [2, 1, 3, 3])),
                       bias: Variable(Tensor(zeros: [3])))
        }
        #expect(standardError(of: bias).contains("conv2d: bias shape [3] must be [2] to match weight shape [2, 1, 3, 3]"))
    }

    // MARK: - Module

    @Test func moduleParameterNamesAndShapes() {
        var generator = SeededGenerator(seed: 1)
        let layer = Conv2d<Double>(inputChannels: 4, outputChannels: 6, kernelSize: [3, 2], groups: 2, generator: &generator)
        #expect(layer.namedParameters.map(\.name) == ["weight", "bias"])
        #expect(layer.weight.shape == [6, 2, 3, 2])
        #expect(layer.bias?.shape == [6])
        let noBias = Conv2d<Double>(inputChannels: 1, outputChannels: 2, kernelSize: 1, bias: false, generator: &generator)
        #expect(noBias.namedParameters.map(\.name) == ["weight"])
    }

    /// PyTorch's default: U(−1/√fanIn, 1/√fanIn) with fanIn = C/groups · kH · kW, for weight and bias.
    @Test(arguments: [(8, 16, 3, 1), (6, 6, 3, 3), (3, 32, 1, 1)])
    func moduleInitializationBounds(inputChannels: Int, outputChannels: Int, kernel: Int, groups: Int) {
        var generator = SeededGenerator(seed: 2)
        let layer = Conv2d<Double>(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: WindowSize(kernel),
                                   groups: groups, generator: &generator)
        let bound = 1 / Double(inputChannels / groups * kernel * kernel).squareRoot()
        for parameter in [layer.weight, layer.bias!] {
            let magnitudes = parameter.value.scalars.map(Swift.abs)
            #expect(magnitudes.allSatisfy { $0 < bound })
        }
        // Uniform on the whole interval, not a narrower one: the weights reach close to the bound.
        let largest = layer.weight.value.scalars.map(Swift.abs).max()!
        #expect(largest > 0.8 * bound)
    }

    /// The module applies the functional op with its own parameters, and the gradients reach them.
    @Test func moduleForwardAndParameterGradients() {
        var generator = SeededGenerator(seed: 3)
        let layer = Conv2d<Double>(inputChannels: 2, outputChannels: 3, kernelSize: 3, stride: 2, padding: 1, generator: &generator)
        let xValue = random([1, 2, 5, 4], seed: 9)
        let c = ConvolutionCase(input: [1, 2, 5, 4], weight: [3, 2, 3, 3], stride: (2, 2), padding: (1, 1))
        let tape = Tape<Double>()
        let y = layer(tape.constant(xValue))
        let seed = random(y.shape, seed: 10)
        let expected = directConvolution(xValue, layer.weight.value, layer.bias!.value, seed: seed, c)
        expectClose(y.value, expected.y)
        y.backward(seed: seed)
        expectClose(layer.weight.grad!.scalars, expected.dw)
        expectClose(layer.bias!.grad!.scalars, expected.db)
    }
}
