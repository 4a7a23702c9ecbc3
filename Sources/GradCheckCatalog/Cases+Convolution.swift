import Backprop

/// `2` for a square window size, `2x1` otherwise.
private func sizeLabel(_ size: WindowSize) -> String {
    size.height == size.width ? "\(size.height)" : "\(size.height)x\(size.width)"
}

/// A tensor whose elements are distinct multiples of 0.1, shuffled by `seed`, so that max pooling
/// never meets a tie (or a near-tie a finite difference could cross).
private func distinctTensor(_ shape: [Int], seed: UInt64) -> Tensor<Double> {
    var generator = SeededGenerator(seed: seed)
    let count = shape.reduce(1, *)
    let values = (0..<count).map { Double($0 - count / 2) * 0.1 }.shuffled(using: &generator)
    return Tensor(shape: shape, scalars: values)
}

/// `x` `[N, C, H, W]` surrounded by `value`: `top`/`left` rows and columns before, `bottom`/`right` after.
private func padded(_ x: Variable<Double>, top: Int, bottom: Int, left: Int, right: Int, with value: Double) -> Variable<Double> {
    let (n, c, h) = (x.shape[0], x.shape[1], x.shape[2])
    var result = x
    if top + bottom > 0 {
        let parts = [Variable(Tensor(repeating: value, shape: [n, c, top, x.shape[3]])), result,
                     Variable(Tensor(repeating: value, shape: [n, c, bottom, x.shape[3]]))]
        result = Variable.concatenate(parts.filter { $0.shape[2] > 0 }, alongAxis: 2)
    }
    if left + right > 0 {
        let height = h + top + bottom
        let parts = [Variable(Tensor(repeating: value, shape: [n, c, height, left])), result,
                     Variable(Tensor(repeating: value, shape: [n, c, height, right]))]
        result = Variable.concatenate(parts.filter { $0.shape[3] > 0 }, alongAxis: 3)
    }
    return result
}

/// The `[N, C, Ho, Wo]` tap `(i, j)` of every window: `x[n, c, oh·sH + i·dH, ow·sW + j·dW]` of an
/// already padded `x`, by two gathers.
private func tap(_ x: Variable<Double>, _ i: Int, _ j: Int, outputHeight: Int, outputWidth: Int,
                 stride: WindowSize, dilation: WindowSize) -> Variable<Double> {
    let rows = (0..<outputHeight).map { $0 * stride.height + i * dilation.height }
    let columns = (0..<outputWidth).map { $0 * stride.width + j * dilation.width }
    return x.gathering(rows, alongAxis: 2).gathering(columns, alongAxis: 3)
}

/// `conv2d` decomposed into primitive ops: zero padding by concatenation, one gather per kernel tap,
/// and per group a sum over taps of `patch [N, Ho, Wo, C/groups] · W[:, :, i, j]ᵀ`.
func conv2dReference(_ x: Variable<Double>, weight: Variable<Double>, bias: Variable<Double>?, stride: WindowSize,
                     padding: WindowSize, dilation: WindowSize, groups: Int) -> Variable<Double> {
    let (kernelHeight, kernelWidth) = (weight.shape[2], weight.shape[3])
    let channelsPerGroup = weight.shape[1], outputsPerGroup = weight.shape[0] / groups
    let outputHeight = (x.shape[2] + 2 * padding.height - dilation.height * (kernelHeight - 1) - 1) / stride.height + 1
    let outputWidth = (x.shape[3] + 2 * padding.width - dilation.width * (kernelWidth - 1) - 1) / stride.width + 1
    let source = padded(x, top: padding.height, bottom: padding.height, left: padding.width, right: padding.width, with: 0)
    var groupOutputs: [Variable<Double>] = []
    for group in 0..<groups {
        let input = source.slice(alongAxis: 1, range: group * channelsPerGroup..<(group + 1) * channelsPerGroup)
        let kernel = weight.slice(alongAxis: 0, range: group * outputsPerGroup..<(group + 1) * outputsPerGroup)
        var sum: Variable<Double>?
        for i in 0..<kernelHeight {
            for j in 0..<kernelWidth {
                let patch = tap(input, i, j, outputHeight: outputHeight, outputWidth: outputWidth, stride: stride, dilation: dilation)
                    .permuted([0, 2, 3, 1])
                let tapWeight = kernel.slice(alongAxis: 2, range: i..<i + 1).slice(alongAxis: 3, range: j..<j + 1)
                    .reshaped(to: [outputsPerGroup, channelsPerGroup])
                let term = patch.matmul(tapWeight.transposed())
                sum = sum.map { $0 + term } ?? term
            }
        }
        groupOutputs.append(sum!)
    }
    let y = Variable.concatenate(groupOutputs, alongAxis: 3).permuted([0, 3, 1, 2])
    guard let bias else { return y }
    return y + bias.reshaped(to: [1, bias.shape[0], 1, 1])
}

/// Max or average pooling decomposed into primitive ops: padding by concatenation (−∞ or zeros,
/// with extra rows and columns for `ceilMode`'s last window), one gather per window tap, stacked
/// along a new last axis, then `max` or a sum divided by the window's divisor. The divisor is
/// itself counted by pooling a mask of ones, not by the kernel's formula.
func pool2dReference(_ x: Variable<Double>, maximum: Bool, kernel: WindowSize, stride: WindowSize, padding: WindowSize,
                     dilation: WindowSize = 1, countIncludePad: Bool = true, ceilMode: Bool = false) -> Variable<Double> {
    func count(_ size: Int, _ k: Int, _ s: Int, _ p: Int, _ d: Int) -> Int {
        let span = size + 2 * p - d * (k - 1) - 1
        guard ceilMode else { return span / s + 1 }
        var result = (span + s - 1) / s + 1
        if (result - 1) * s >= size + p { result -= 1 }
        return result
    }
    let (height, width) = (x.shape[2], x.shape[3])
    let outputHeight = count(height, kernel.height, stride.height, padding.height, dilation.height)
    let outputWidth = count(width, kernel.width, stride.width, padding.width, dilation.width)
    // Rows and columns past the padded input that ceilMode's last window reaches.
    let extraBottom = Swift.max(0, (outputHeight - 1) * stride.height + dilation.height * (kernel.height - 1) + 1 - (height + 2 * padding.height))
    let extraRight = Swift.max(0, (outputWidth - 1) * stride.width + dilation.width * (kernel.width - 1) + 1 - (width + 2 * padding.width))
    func taps(_ source: Variable<Double>) -> Variable<Double> {
        var parts: [Variable<Double>] = []
        for i in 0..<kernel.height {
            for j in 0..<kernel.width {
                parts.append(tap(source, i, j, outputHeight: outputHeight, outputWidth: outputWidth, stride: stride, dilation: dilation))
            }
        }
        return Variable.stack(parts, alongAxis: 4)
    }
    let fill = maximum ? -Double.infinity : 0
    let source = padded(padded(x, top: padding.height, bottom: padding.height, left: padding.width, right: padding.width, with: fill),
                        top: 0, bottom: extraBottom, left: 0, right: extraRight, with: fill)
    if maximum { return taps(source).max(alongAxis: 4) }
    // Ones over the input (and over the padding when it counts), zeros elsewhere.
    let ones = Variable(Tensor<Double>(ones: [1, 1, height, width]))
    let mask = padded(padded(ones, top: padding.height, bottom: padding.height, left: padding.width, right: padding.width,
                             with: countIncludePad ? 1 : 0),
                      top: 0, bottom: extraBottom, left: 0, right: extraRight, with: 0)
    let divisor = taps(mask).sum(alongAxes: [4])
    return taps(source).sum(alongAxes: [4]) / divisor
}

/// One `conv2d` configuration of the catalog.
private struct ConvolutionConfiguration {
    var input: [Int]
    var weight: [Int]
    var stride: WindowSize = 1
    var padding: WindowSize = 0
    var dilation: WindowSize = 1
    var groups = 1
    var bias = true

    var name: String {
        var label = "conv2d[x=\(shapeName(input)),w=\(shapeName(weight)),stride=\(sizeLabel(stride)),pad=\(sizeLabel(padding))"
        if dilation != 1 { label += ",dilation=\(sizeLabel(dilation))" }
        if groups != 1 { label += ",groups=\(groups)" }
        if groups > 1 && groups == input[1] { label += ",depthwise" }
        if !bias { label += ",no-bias" }
        return label + "]"
    }
}

extension Catalog {
    /// Convolution, pooling and flattening: the ops against finite differences and against their
    /// decompositions into gathers, matmuls and reductions; then the modules end to end.
    static var convolutionCases: [GradCheckCase] {
        conv2dCases + poolingCases + convolutionLayerCases
    }

    static var conv2dCases: [GradCheckCase] {
        let configurations: [ConvolutionConfiguration] = [
            .init(input: [1, 2, 5, 5], weight: [3, 2, 3, 3], padding: 1),
            .init(input: [2, 1, 5, 5], weight: [2, 1, 3, 3], stride: 2),
            .init(input: [1, 2, 6, 5], weight: [2, 2, 3, 2], stride: [2, 1], padding: [1, 0]),
            .init(input: [1, 1, 6, 6], weight: [2, 1, 2, 2], padding: 1, dilation: 2),
            .init(input: [1, 1, 7, 7], weight: [1, 1, 3, 3], stride: 2, padding: 2, dilation: 2),
            .init(input: [1, 4, 4, 4], weight: [4, 2, 3, 3], padding: 1, groups: 2),
            .init(input: [1, 3, 4, 4], weight: [3, 1, 3, 3], padding: 1, groups: 3),
            .init(input: [1, 2, 4, 3], weight: [4, 1, 2, 2], groups: 2),
            .init(input: [1, 2, 4, 4], weight: [2, 2, 2, 2], bias: false),
            .init(input: [2, 3, 3, 4], weight: [2, 3, 1, 1]),
            .init(input: [1, 2, 3, 5], weight: [2, 2, 1, 1], stride: 2, padding: 1, bias: false),
        ]
        return configurations.enumerated().map { index, c in
            let seed = 1100 + UInt64(index) * 5
            var inputs = [Inputs.tensor(c.input, seed: seed), Inputs.tensor(c.weight, seed: seed + 1)]
            if c.bias { inputs.append(Inputs.tensor([c.weight[0]], seed: seed + 2)) }
            return GradCheckCase(c.name, inputs: inputs,
                                 reference: { v in
                                     conv2dReference(v[0], weight: v[1], bias: c.bias ? v[2] : nil, stride: c.stride,
                                                     padding: c.padding, dilation: c.dilation, groups: c.groups)
                                 }) { v in
                conv2d(v[0], weight: v[1], bias: c.bias ? v[2] : nil, stride: c.stride, padding: c.padding,
                       dilation: c.dilation, groups: c.groups)
            }
        }
    }

    static var poolingCases: [GradCheckCase] {
        var cases: [GradCheckCase] = []
        // (input shape, kernel, stride, padding, dilation, ceilMode)
        let maxConfigurations: [([Int], WindowSize, WindowSize, WindowSize, WindowSize, Bool)] = [
            ([1, 2, 4, 4], 2, 2, 0, 1, false),
            ([1, 1, 5, 5], 3, 2, 1, 1, false),
            ([2, 1, 5, 6], [2, 3], [1, 2], 0, 1, false),
            ([1, 1, 7, 7], 2, 2, 0, 2, false),
            ([1, 1, 5, 5], 2, 2, 0, 1, true),
            ([1, 1, 6, 5], 3, 2, 1, 1, true),
        ]
        for (index, (shape, kernel, stride, padding, dilation, ceilMode)) in maxConfigurations.enumerated() {
            var name = "maxPool2d[x=\(shapeName(shape)),k=\(sizeLabel(kernel)),stride=\(sizeLabel(stride)),pad=\(sizeLabel(padding))"
            if dilation != 1 { name += ",dilation=\(sizeLabel(dilation))" }
            if ceilMode { name += ",ceil" }
            cases.append(GradCheckCase(name + "]", inputs: [distinctTensor(shape, seed: 1200 + UInt64(index))],
                                       reference: { v in
                                           pool2dReference(v[0], maximum: true, kernel: kernel, stride: stride, padding: padding,
                                                           dilation: dilation, ceilMode: ceilMode)
                                       }) { v in
                v[0].maxPool2d(kernelSize: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
            })
        }
        // (input shape, kernel, stride, padding, ceilMode), each with and without counting the padding.
        let averageConfigurations: [([Int], WindowSize, WindowSize, WindowSize, Bool)] = [
            ([1, 2, 4, 4], 2, 2, 0, false),
            ([1, 1, 5, 5], 3, 2, 1, false),
            ([2, 1, 4, 5], [2, 3], [2, 1], [1, 1], false),
            ([1, 1, 5, 5], 2, 2, 0, true),
            ([1, 1, 6, 5], 3, 2, 1, true),
        ]
        for (index, (shape, kernel, stride, padding, ceilMode)) in averageConfigurations.enumerated() {
            for countIncludePad in [true, false] where countIncludePad || padding != 0 || ceilMode {
                var name = "avgPool2d[x=\(shapeName(shape)),k=\(sizeLabel(kernel)),stride=\(sizeLabel(stride)),pad=\(sizeLabel(padding))"
                if !countIncludePad { name += ",exclude-pad" }
                if ceilMode { name += ",ceil" }
                cases.append(GradCheckCase(name + "]", inputs: [Inputs.tensor(shape, seed: 1300 + UInt64(index))],
                                           reference: { v in
                                               pool2dReference(v[0], maximum: false, kernel: kernel, stride: stride, padding: padding,
                                                               countIncludePad: countIncludePad, ceilMode: ceilMode)
                                           }) { v in
                    v[0].avgPool2d(kernelSize: kernel, stride: stride, padding: padding, countIncludePad: countIncludePad,
                                   ceilMode: ceilMode)
                })
            }
        }
        cases += [
            GradCheckCase("globalAveragePool[x=2x3x2x3]", inputs: [Inputs.tensor([2, 3, 2, 3], seed: 1350)],
                          reference: { v in v[0].sum(alongAxes: [3]).sum(alongAxes: [2]) / 6 }) { v in v[0].globalAveragePool() },
            GradCheckCase("flatten[x=2x3x2x2,start=1]", inputs: [Inputs.tensor([2, 3, 2, 2], seed: 1351)]) { v in
                v[0].flattened()
            },
            GradCheckCase("flatten[x=2x3x2x2,start=0,end=1]", inputs: [Inputs.tensor([2, 3, 2, 2], seed: 1352)]) { v in
                v[0].flattened(startAxis: 0, endAxis: 1)
            },
        ]
        return cases
    }

    /// The modules end to end with fixed parameters: gradients with respect to the input.
    static var convolutionLayerCases: [GradCheckCase] {
        [
            GradCheckCase("conv2d[module,x=1x2x4x4,in=2,out=3,k=3,stride=1,pad=1]", inputs: [Inputs.tensor([1, 2, 4, 4], seed: 1400)],
                          reference: { v in
                              var generator = SeededGenerator(seed: 4)
                              let layer = Conv2d<Double>(inputChannels: 2, outputChannels: 3, kernelSize: 3, padding: 1, generator: &generator)
                              return conv2dReference(v[0], weight: Variable(layer.weight.value), bias: Variable(layer.bias!.value),
                                                     stride: 1, padding: 1, dilation: 1, groups: 1)
                          }) { v in
                var generator = SeededGenerator(seed: 4)
                return Conv2d<Double>(inputChannels: 2, outputChannels: 3, kernelSize: 3, padding: 1, generator: &generator)(v[0])
            },
            GradCheckCase("sequential[module,x=2x1x6x6,conv-tanh-maxpool-conv-globalavgpool-linear]",
                          inputs: [Inputs.tensor([2, 1, 6, 6], seed: 1401)]) { v in
                var generator = SeededGenerator(seed: 5)
                let model = Sequential<Double>(
                    Conv2d(inputChannels: 1, outputChannels: 2, kernelSize: 3, padding: 1, generator: &generator), Tanh(),
                    MaxPool2d(kernelSize: 2), Conv2d(inputChannels: 2, outputChannels: 4, kernelSize: 2, groups: 2, generator: &generator),
                    GlobalAveragePool(), Linear(inputSize: 4, outputSize: 2, generator: &generator))
                return model(v[0])
            },
            GradCheckCase("sequential[module,x=2x2x4x4,conv-avgpool-flatten-linear]", inputs: [Inputs.tensor([2, 2, 4, 4], seed: 1402)]) { v in
                var generator = SeededGenerator(seed: 6)
                let model = Sequential<Double>(
                    Conv2d(inputChannels: 2, outputChannels: 2, kernelSize: 3, stride: 2, padding: 1, bias: false, generator: &generator),
                    AvgPool2d(kernelSize: 2), Flatten(), Linear(inputSize: 2, outputSize: 3, generator: &generator))
                return model(v[0])
            },
        ]
    }
}
