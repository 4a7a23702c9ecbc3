#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
/// Forward: `Y_g = W_g · col_g` with `col_g` the `[C/groups·kH·kW, b·Ho·Wo]` im2col matrix of a chunk
/// of `b` images (small images are batched so that each product is at least 256 columns wide), one
/// `GEMM` per chunk and group; chunks run side by side on the workers, each packing its own columns.
/// A 1×1 stride-1 kernel needs no im2col: each image's `[C, H·W]` plane is multiplied in place.
///
/// Backward: ∂L/∂x = col2im(W_gᵀ · dY_g) (`conv2dInputGradient`), ∂L/∂W_g = Σₙ dY_g · col_gᵀ
/// (`conv2dWeightGradient`), ∂L/∂b = Σ_{n, oh, ow} dY. The convolution is bilinear in x and W, so the
/// backward of each gradient op is made of the other two ops and the convolution itself, to any order.
/// When the weight needs a gradient, the forward keeps its column matrices for ∂L/∂W (about 9× the input
/// for a 3×3 stride-1 kernel) if they take at most `Convolution.keptColumnsByteLimit` bytes (256 MiB); past that,
/// and in the higher-order ops, each chunk's columns are packed again right before its product.
/// Results are bit-for-bit the same for any worker count (see `ConvolutionPlan`).
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
    // [C/groups, kH, kW, Ho, Wo] so that no product is formed before it is known to fit; then that
    // of one chunk of images and all groups, [C·kH·kW, b·Ho·Wo] (see `ConvolutionPlan`).
    TensorSize.elementCount(of: [g.inputChannelsPerGroup, g.kernelHeight, g.kernelWidth, g.outputHeight, g.outputWidth],
                            scalar: Scalar.self, op: "conv2d (im2col buffer)")
    TensorSize.elementCount(of: [g.inputChannels, g.kernelHeight, g.kernelWidth, ConvolutionPlan(g).imagesPerChunk,
                                 g.outputHeight, g.outputWidth],
                            scalar: Scalar.self, op: "conv2d (im2col buffer)")
    return Convolution.forward(input, weight: weight, bias: bias, geometry: g)
}

/// The convolution and its two gradient ops, on a fixed geometry.
enum Convolution {
    /// The largest column matrices (in bytes, over the whole batch) a recorded forward keeps for the
    /// weight gradient: 256 MiB, or `BACKPROP_CONV_KEPT_COLUMNS_MB` megabytes from the environment.
    static let keptColumnsByteLimit: Double = {
        if let text = getenv("BACKPROP_CONV_KEPT_COLUMNS_MB"), let megabytes = Double(String(cString: text)) {
            return megabytes * 1_048_576
        }
        return 256 * 1_048_576
    }()

    /// `y = conv(x, W) + b` (see `conv2d`).
    static func forward<Scalar>(_ input: Variable<Scalar>, weight: Variable<Scalar>, bias: Variable<Scalar>?,
                                geometry g: ConvolutionGeometry) -> Variable<Scalar> {
        let (sx, sw) = (input.saved, weight.saved)
        // Only ∂L/∂W reads the columns; a 1×1 stride-1 kernel has none beyond the input itself.
        let keepsColumns = Variable.isRecorded([weight]) && !g.isPointwise
            && ConvolutionColumns<Scalar>.byteCount(g) <= keptColumnsByteLimit
        let columns = keepsColumns ? ConvolutionColumns<Scalar>(ConvolutionPlan(g)) : nil
        let y = ConvolutionKernels.forward(input.value, weight.value, bias: bias?.value, g, keep: columns)
        let hasBias = bias != nil
        return Variable.record("conv2d", [input, weight] + (bias.map { [$0] } ?? []), value: y) { dy, tape in
            var gradients: [Variable<Scalar>?] = [
                tape.needs(0) ? inputGradient(dy, weight: tape[sw], geometry: g) : nil,
                tape.needs(1) ? weightGradient(tape[sx], dy, geometry: g, columns: columns) : nil,
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
        let dx = ConvolutionKernels.inputGradient(dy.value, weight.value, g)
        return Variable.record("conv2dInputGradient", dy, weight, value: dx) { v, tape in
            [tape.needs(0) ? forward(v, weight: tape[sw], bias: nil, geometry: g) : nil,
             tape.needs(1) ? weightGradient(v, tape[sdy], geometry: g) : nil]
        }
    }

    /// ∂L/∂W_g = Σₙ dY_g·col_gᵀ, linear in x and in dY; `columns`, when given, are x's column
    /// matrices as the forward packed them.
    ///
    /// Backward, for an incoming v of W's shape: ∂/∂x = `inputGradient(dY, v)`; ∂/∂dY = conv(x, v).
    static func weightGradient<Scalar>(_ x: Variable<Scalar>, _ dy: Variable<Scalar>, geometry g: ConvolutionGeometry,
                                       columns: ConvolutionColumns<Scalar>? = nil) -> Variable<Scalar> {
        let (sx, sdy) = (x.saved, dy.saved)
        let dw = ConvolutionKernels.weightGradient(x.value, dy.value, g, columns: columns)
        return Variable.record("conv2dWeightGradient", x, dy, value: dw) { v, tape in
            [tape.needs(0) ? inputGradient(tape[sdy], weight: v, geometry: g) : nil,
             tape.needs(1) ? forward(tape[sx], weight: v, bias: nil, geometry: g) : nil]
        }
    }
}
