/// A height and a width: the kernel size, stride, padding or dilation of a 2-D window.
///
/// Write one integer for both axes (`stride: 2`) or two for height and width (`padding: [1, 0]`),
/// as PyTorch accepts `2` or `(1, 0)`.
public struct WindowSize: Sendable, Hashable, CustomStringConvertible,
                          ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral {
    /// The size along the height axis.
    public var height: Int
    /// The size along the width axis.
    public var width: Int

    /// The same size along both axes.
    public init(_ both: Int) {
        height = both
        width = both
    }

    /// A height and a width.
    public init(_ height: Int, _ width: Int) {
        self.height = height
        self.width = width
    }

    /// `2` means `[2, 2]`.
    public init(integerLiteral value: Int) {
        self.init(value)
    }

    /// `[height, width]`; exactly two elements.
    public init(arrayLiteral elements: Int...) {
        guard elements.count == 2 else {
            usageError("WindowSize", "needs one integer or two ([height, width]), got \(elements)")
        }
        self.init(elements[0], elements[1])
    }

    /// `[height, width]`.
    public var description: String { "[\(height), \(width)]" }
}

/// The output extent of a sliding window along one axis, PyTorch's rule:
/// `⌊(size + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1`, or with `ceilMode` the ceiling,
/// dropping a last window that would start inside the right padding.
///
/// The callers have checked (with `checkedWindowSpans`) that the padded size and the dilated kernel
/// fit `Int` and that the kernel fits the padded input, so `span ≥ 0`; the rounding is written so that
/// no intermediate overflows for any stride.
func slidingWindowCount(size: Int, kernel: Int, stride: Int, padding: Int, dilation: Int, ceilMode: Bool = false) -> Int {
    let span = size + 2 * padding - dilation * (kernel - 1) - 1
    guard ceilMode else { return span / stride + 1 }
    var count = span / stride + (span % stride == 0 ? 0 : 1) + 1
    let (lastStart, overflow) = (count - 1).multipliedReportingOverflow(by: stride)
    if overflow || lastStart >= size + padding { count -= 1 }
    return count
}

/// The padded input extent `size + 2·padding` and the dilated kernel extent `dilation·(kernel − 1) + 1`
/// along one axis, in checked arithmetic (a huge padding or dilation stops with a message instead of
/// overflowing).
func checkedWindowSpans(_ op: String, axis: String, size: Int, kernel: Int, padding: Int, dilation: Int) -> (padded: Int, effective: Int) {
    let padded = TensorSize.adding(size, TensorSize.multiplying(2, padding, op: op, "2 · padding \(padding) along the \(axis)"),
                                   op: op, "the padded \(axis) \(size) + 2 · \(padding)")
    let effective = TensorSize.adding(TensorSize.multiplying(dilation, kernel - 1, op: op, "the \(axis) span of the kernel, dilation \(dilation) · (\(kernel) − 1)"),
                                      1, op: op, "the \(axis) span of the kernel, dilation \(dilation) · (\(kernel) − 1) + 1")
    return (padded, effective)
}

/// The geometry of one 2-D convolution: every size `conv2d`'s kernels need.
struct ConvolutionGeometry {
    var batch, inputChannels, height, width: Int
    var outputChannels, kernelHeight, kernelWidth: Int
    var stride, padding, dilation: WindowSize
    var groups: Int
    var outputHeight, outputWidth: Int

    var inputChannelsPerGroup: Int { inputChannels / groups }
    var outputChannelsPerGroup: Int { outputChannels / groups }
    /// Rows of one group's column matrix: `C/groups · kH · kW`.
    var patchSize: Int { inputChannelsPerGroup * kernelHeight * kernelWidth }
    /// Columns of the column matrix: one per output position.
    var outputArea: Int { outputHeight * outputWidth }
    var outputShape: [Int] { [batch, outputChannels, outputHeight, outputWidth] }
}

/// im2col and its adjoint col2im on one sample's group of channels.
enum Im2Col {
    /// Writes the `[C/groups·kH·kW, Ho·Wo]` column matrix of the channels starting at `input`:
    /// row `(c·kH + i)·kW + j`, column `oh·Wo + ow` holds `x[c, oh·sH − pH + i·dH, ow·sW − pW + j·dW]`,
    /// zero where that falls in the padding.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func pack<Scalar: TensorScalar>(_ input: UnsafePointer<Scalar>, _ g: ConvolutionGeometry,
                                           into columns: UnsafeMutablePointer<Scalar>) {
        let (h, w, ho, wo) = (g.height, g.width, g.outputHeight, g.outputWidth)
        var row = 0
        for c in 0..<g.inputChannelsPerGroup {
            let plane = input + c * h * w
            for i in 0..<g.kernelHeight {
                for j in 0..<g.kernelWidth {
                    let destination = columns + row * ho * wo
                    for oh in 0..<ho {
                        let ih = oh * g.stride.height - g.padding.height + i * g.dilation.height
                        let line = destination + oh * wo
                        guard ih >= 0 && ih < h else {
                            line.update(repeating: 0, count: wo)
                            continue
                        }
                        let source = plane + ih * w
                        for ow in 0..<wo {
                            let iw = ow * g.stride.width - g.padding.width + j * g.dilation.width
                            line[ow] = iw >= 0 && iw < w ? source[iw] : 0
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// The adjoint of `pack`: adds each column-matrix entry back into the input element it was
    /// copied from (entries from the padding are dropped).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func accumulate<Scalar: TensorScalar>(_ columns: UnsafePointer<Scalar>, _ g: ConvolutionGeometry,
                                                 into input: UnsafeMutablePointer<Scalar>) {
        let (h, w, ho, wo) = (g.height, g.width, g.outputHeight, g.outputWidth)
        var row = 0
        for c in 0..<g.inputChannelsPerGroup {
            let plane = input + c * h * w
            for i in 0..<g.kernelHeight {
                for j in 0..<g.kernelWidth {
                    let source = columns + row * ho * wo
                    for oh in 0..<ho {
                        let ih = oh * g.stride.height - g.padding.height + i * g.dilation.height
                        guard ih >= 0 && ih < h else { continue }
                        let destination = plane + ih * w
                        let line = source + oh * wo
                        for ow in 0..<wo {
                            let iw = ow * g.stride.width - g.padding.width + j * g.dilation.width
                            if iw >= 0 && iw < w { destination[iw] += line[ow] }
                        }
                    }
                    row += 1
                }
            }
        }
    }
}

/// Checks `conv2d`'s arguments and computes its geometry, stopping with a message that names the
/// shapes and the rule that failed.
func convolutionGeometry(input: [Int], weight: [Int], bias: [Int]?, stride: WindowSize, padding: WindowSize,
                         dilation: WindowSize, groups: Int) -> ConvolutionGeometry {
    let op = "conv2d"
    guard input.count == 4 else { usageError(op, "input must have shape [N, C, H, W], got \(input)") }
    guard weight.count == 4 else { usageError(op, "weight must have shape [outChannels, inChannels/groups, kH, kW], got \(weight)") }
    guard stride.height > 0 && stride.width > 0 else { usageError(op, "stride \(stride) must be positive") }
    guard dilation.height > 0 && dilation.width > 0 else { usageError(op, "dilation \(dilation) must be positive") }
    guard padding.height >= 0 && padding.width >= 0 else { usageError(op, "padding \(padding) must be non-negative") }
    guard groups > 0 else { usageError(op, "groups \(groups) must be positive") }
    let (channels, outChannels) = (input[1], weight[0])
    guard channels % groups == 0 else {
        usageError(op, "groups \(groups) does not divide the input's \(channels) channels (input shape \(input))")
    }
    guard outChannels % groups == 0 else {
        usageError(op, "groups \(groups) does not divide the weight's \(outChannels) output channels (weight shape \(weight))")
    }
    guard channels / groups == weight[1] else {
        let expected = weight[1].multipliedReportingOverflow(by: groups)
        usageError(op, "input shape \(input) has \(channels) channels but weight shape \(weight) with groups \(groups) expects \(weight[1]) · \(groups) = \(expected.overflow ? "more than Int.max" : "\(expected.partialValue)")")
    }
    guard weight[2] > 0 && weight[3] > 0 else { usageError(op, "weight shape \(weight) has an empty kernel") }
    if let bias, bias != [outChannels] {
        usageError(op, "bias shape \(bias) must be [\(outChannels)] to match weight shape \(weight)")
    }
    let (paddedHeight, effectiveHeight) = checkedWindowSpans(op, axis: "height", size: input[2], kernel: weight[2],
                                                             padding: padding.height, dilation: dilation.height)
    let (paddedWidth, effectiveWidth) = checkedWindowSpans(op, axis: "width", size: input[3], kernel: weight[3],
                                                           padding: padding.width, dilation: dilation.width)
    guard effectiveHeight <= paddedHeight && effectiveWidth <= paddedWidth else {
        usageError(op, "kernel \(weight[2])x\(weight[3]) with dilation \(dilation) spans \(effectiveHeight)x\(effectiveWidth), larger than the padded input \(paddedHeight)x\(paddedWidth) (input shape \(input), padding \(padding))")
    }
    return ConvolutionGeometry(
        batch: input[0], inputChannels: channels, height: input[2], width: input[3],
        outputChannels: outChannels, kernelHeight: weight[2], kernelWidth: weight[3],
        stride: stride, padding: padding, dilation: dilation, groups: groups,
        outputHeight: slidingWindowCount(size: input[2], kernel: weight[2], stride: stride.height, padding: padding.height, dilation: dilation.height),
        outputWidth: slidingWindowCount(size: input[3], kernel: weight[3], stride: stride.width, padding: padding.width, dilation: dilation.width))
}

/// 2-D cross-correlation with PyTorch's `conv2d` semantics, recorded as one tape entry.
///
/// `y[n, o, oh, ow] = b[o] + Σ_{c, i, j} W[o, c, i, j] · x[n, g·C/groups + c, oh·sH − pH + i·dH, ow·sW − pW + j·dW]`
/// where `g` is the group of output channel `o` and `x` is zero outside the input. The output has
/// shape `[N, O, Ho, Wo]` with `Ho = ⌊(H + 2pH − dH(kH − 1) − 1)/sH⌋ + 1` (and likewise `Wo`).
///
/// Forward per sample and group: `Y_g = W_g · col_g`, with `col_g` the `[C/groups·kH·kW, Ho·Wo]`
/// im2col matrix and `W_g` the group's weight rows, through `GEMM`.
///
/// Backward: ∂L/∂x = col2im(W_gᵀ · dY_g) (`conv2dInputGradient`), ∂L/∂W_g = Σₙ dY_g · col_gᵀ
/// (`conv2dWeightGradient`), ∂L/∂b = Σ_{n, oh, ow} dY. The convolution is bilinear in x and W, so the
/// backward of each gradient op is made of the other two ops and the convolution itself, to any order.
/// The column matrix is rebuilt in the backward rather than kept, trading a cheap copy for memory.
///
/// - Parameters:
///   - input: `[N, C, H, W]`.
///   - weight: `[O, C/groups, kH, kW]`.
///   - bias: `[O]`, or `nil`.
///   - stride: The step between windows (positive).
///   - padding: Zeros added on both sides of each spatial axis (non-negative).
///   - dilation: The spacing between kernel taps (positive).
///   - groups: Splits the channels into this many independent convolutions; it must divide both `C`
///     and `O` (`groups = C` with `O = C` is a depthwise convolution).
/// - Returns: `[N, O, Ho, Wo]`.
public func conv2d<Scalar>(_ input: Variable<Scalar>, weight: Variable<Scalar>, bias: Variable<Scalar>? = nil,
                           stride: WindowSize = 1, padding: WindowSize = 0, dilation: WindowSize = 1,
                           groups: Int = 1) -> Variable<Scalar> {
    let g = convolutionGeometry(input: input.shape, weight: weight.shape, bias: bias?.shape, stride: stride,
                                padding: padding, dilation: dilation, groups: groups)
    TensorSize.elementCount(of: g.outputShape, scalar: Scalar.self, op: "conv2d")
    // The im2col buffer of one sample's group, [C/groups·kH·kW, Ho·Wo], checked as the shape
    // [C/groups, kH, kW, Ho, Wo] so that no product is formed before it is known to fit.
    TensorSize.elementCount(of: [g.inputChannelsPerGroup, g.kernelHeight, g.kernelWidth, g.outputHeight, g.outputWidth],
                            scalar: Scalar.self, op: "conv2d (im2col buffer)")
    return Convolution.forward(input, weight: weight, bias: bias, geometry: g)
}

/// The convolution and its two gradient ops, on a fixed geometry.
enum Convolution {
    /// `y = conv(x, W) + b` (see `conv2d`).
    static func forward<Scalar>(_ input: Variable<Scalar>, weight: Variable<Scalar>, bias: Variable<Scalar>?,
                                geometry g: ConvolutionGeometry) -> Variable<Scalar> {
        let (sx, sw) = (input.saved, weight.saved)
        let y = forwardKernel(input.value, weight.value, bias: bias?.value, g)
        let hasBias = bias != nil
        return Variable.record("conv2d", [input, weight] + (bias.map { [$0] } ?? []), value: y) { dy, tape in
            var gradients: [Variable<Scalar>?] = [
                tape.needs(0) ? inputGradient(dy, weight: tape[sw], geometry: g) : nil,
                tape.needs(1) ? weightGradient(tape[sx], dy, geometry: g) : nil,
            ]
            if hasBias { gradients.append(tape.needs(2) ? dy.sum(alongAxes: [0, 2, 3]) : nil) }
            return gradients
        }
    }

    /// ∂L/∂x = col2im(W_gᵀ·dY_g), linear in dY and in W.
    ///
    /// Backward, for an incoming v of x's shape: ∂/∂dY = conv(v, W); ∂/∂W = `weightGradient(v, dY)`.
    static func inputGradient<Scalar>(_ dy: Variable<Scalar>, weight: Variable<Scalar>, geometry g: ConvolutionGeometry) -> Variable<Scalar> {
        let (sdy, sw) = (dy.saved, weight.saved)
        let dx = inputGradientKernel(dy.value, weight.value, g)
        return Variable.record("conv2dInputGradient", dy, weight, value: dx) { v, tape in
            [tape.needs(0) ? forward(v, weight: tape[sw], bias: nil, geometry: g) : nil,
             tape.needs(1) ? weightGradient(v, tape[sdy], geometry: g) : nil]
        }
    }

    /// ∂L/∂W_g = Σₙ dY_g·col_gᵀ, linear in x and in dY.
    ///
    /// Backward, for an incoming v of W's shape: ∂/∂x = `inputGradient(dY, v)`; ∂/∂dY = conv(x, v).
    static func weightGradient<Scalar>(_ x: Variable<Scalar>, _ dy: Variable<Scalar>, geometry g: ConvolutionGeometry) -> Variable<Scalar> {
        let (sx, sdy) = (x.saved, dy.saved)
        let dw = weightGradientKernel(x.value, dy.value, g)
        return Variable.record("conv2dWeightGradient", x, dy, value: dw) { v, tape in
            [tape.needs(0) ? inputGradient(tape[sdy], weight: v, geometry: g) : nil,
             tape.needs(1) ? forward(tape[sx], weight: v, bias: nil, geometry: g) : nil]
        }
    }

    /// `Y_g = W_g·col_g (+ b)` per sample and group.
    static func forwardKernel<Scalar: TensorScalar>(_ x: Tensor<Scalar>, _ w: Tensor<Scalar>, bias b: Tensor<Scalar>?,
                                                    _ g: ConvolutionGeometry) -> Tensor<Scalar> {
        Tensor<Scalar>(shape: g.outputShape) { out in
            let output = out.baseAddress!
            var columns = [Scalar](repeating: 0, count: g.patchSize * g.outputArea)
            x.scalars.withUnsafeBufferPointer { xs in
                w.scalars.withUnsafeBufferPointer { ws in
                    columns.withUnsafeMutableBufferPointer { col in
                        for n in 0..<g.batch {
                            for group in 0..<g.groups {
                                Im2Col.pack(xs.baseAddress! + (n * g.inputChannels + group * g.inputChannelsPerGroup) * g.height * g.width,
                                            g, into: col.baseAddress!)
                                GEMM.multiply(ws.baseAddress! + group * g.outputChannelsPerGroup * g.patchSize, transposeA: false,
                                              UnsafePointer(col.baseAddress!), transposeB: false,
                                              m: g.outputChannelsPerGroup, n: g.outputArea, k: g.patchSize,
                                              into: output + (n * g.outputChannels + group * g.outputChannelsPerGroup) * g.outputArea,
                                              accumulate: false)
                            }
                        }
                    }
                }
            }
            if let b {
                for n in 0..<g.batch {
                    for o in 0..<g.outputChannels {
                        let plane = output + (n * g.outputChannels + o) * g.outputArea
                        for p in 0..<g.outputArea { plane[p] += b.scalars[o] }
                    }
                }
            }
        }
    }

    /// dx = col2im(W_gᵀ·dY_g) per sample and group.
    static func inputGradientKernel<Scalar: TensorScalar>(_ dy: Tensor<Scalar>, _ w: Tensor<Scalar>,
                                                          _ g: ConvolutionGeometry) -> Tensor<Scalar> {
        var dx = Tensor<Scalar>(zeros: [g.batch, g.inputChannels, g.height, g.width])
        var columns = [Scalar](repeating: 0, count: g.patchSize * g.outputArea)
        dy.scalars.withUnsafeBufferPointer { dys in
            w.scalars.withUnsafeBufferPointer { ws in
                columns.withUnsafeMutableBufferPointer { col in
                    dx.scalars.withUnsafeMutableBufferPointer { dxs in
                        for n in 0..<g.batch {
                            for group in 0..<g.groups {
                                let inputOffset = (n * g.inputChannels + group * g.inputChannelsPerGroup) * g.height * g.width
                                let dyGroup = dys.baseAddress! + (n * g.outputChannels + group * g.outputChannelsPerGroup) * g.outputArea
                                // dcol_g = W_gᵀ [patch, O/groups] · dY_g [O/groups, Ho·Wo], then col2im.
                                GEMM.multiply(ws.baseAddress! + group * g.outputChannelsPerGroup * g.patchSize, transposeA: true,
                                              dyGroup, transposeB: false,
                                              m: g.patchSize, n: g.outputArea, k: g.outputChannelsPerGroup,
                                              into: col.baseAddress!, accumulate: false)
                                Im2Col.accumulate(UnsafePointer(col.baseAddress!), g, into: dxs.baseAddress! + inputOffset)
                            }
                        }
                    }
                }
            }
        }
        return dx
    }

    /// dW_g = Σₙ dY_g·col_gᵀ, accumulated over the samples in order.
    static func weightGradientKernel<Scalar: TensorScalar>(_ x: Tensor<Scalar>, _ dy: Tensor<Scalar>,
                                                           _ g: ConvolutionGeometry) -> Tensor<Scalar> {
        var dw = Tensor<Scalar>(zeros: [g.outputChannels, g.inputChannelsPerGroup, g.kernelHeight, g.kernelWidth])
        var columns = [Scalar](repeating: 0, count: g.patchSize * g.outputArea)
        dy.scalars.withUnsafeBufferPointer { dys in
            x.scalars.withUnsafeBufferPointer { xs in
                columns.withUnsafeMutableBufferPointer { col in
                    dw.scalars.withUnsafeMutableBufferPointer { dws in
                        for n in 0..<g.batch {
                            for group in 0..<g.groups {
                                let inputOffset = (n * g.inputChannels + group * g.inputChannelsPerGroup) * g.height * g.width
                                let dyGroup = dys.baseAddress! + (n * g.outputChannels + group * g.outputChannelsPerGroup) * g.outputArea
                                Im2Col.pack(xs.baseAddress! + inputOffset, g, into: col.baseAddress!)
                                // dW_g += dY_g [O/groups, Ho·Wo] · col_gᵀ [Ho·Wo, patch]
                                GEMM.multiply(dyGroup, transposeA: false, UnsafePointer(col.baseAddress!), transposeB: true,
                                              m: g.outputChannelsPerGroup, n: g.patchSize, k: g.outputArea,
                                              into: dws.baseAddress! + group * g.outputChannelsPerGroup * g.patchSize, accumulate: true)
                            }
                        }
                    }
                }
            }
        }
        return dw
    }
}
