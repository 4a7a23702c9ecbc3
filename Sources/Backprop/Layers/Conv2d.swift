/// A 2-D convolution layer over `[N, C, H, W]` (PyTorch's `nn.Conv2d`), applying `conv2d`.
///
/// The weight has shape `[outputChannels, inputChannels/groups, kH, kW]` and the bias
/// `[outputChannels]`, with PyTorch's default initialization: Kaiming-uniform with `a = √5`, which
/// is `U(−1/√fanIn, 1/√fanIn)` with `fanIn = inputChannels/groups · kH · kW`, and the same bound for
/// the bias.
///
/// ```swift
/// var generator = SeededGenerator(seed: 0)
/// let conv = Conv2d<Float>(inputChannels: 1, outputChannels: 8, kernelSize: 3, padding: 1, generator: &generator)
/// let y = conv(tape.constant(images))   // [N, 1, 28, 28] → [N, 8, 28, 28]
/// ```
public final class Conv2d<Scalar: TensorScalar>: Module {
    /// `[outputChannels, inputChannels/groups, kH, kW]`.
    public let weight: Parameter<Scalar>
    /// `[outputChannels]`, or `nil` without bias.
    public let bias: Parameter<Scalar>?
    /// The step between windows.
    public let stride: WindowSize
    /// Zeros added on both sides of each spatial axis.
    public let padding: WindowSize
    /// The spacing between kernel taps.
    public let dilation: WindowSize
    /// The number of independent channel groups.
    public let groups: Int

    /// Creates a layer with PyTorch's default initialization.
    ///
    /// - Parameters:
    ///   - inputChannels: `C` of the input `[N, C, H, W]`.
    ///   - outputChannels: `O` of the output `[N, O, Ho, Wo]`.
    ///   - kernelSize: The kernel's height and width.
    ///   - stride: The step between windows.
    ///   - padding: Zeros added on both sides of each spatial axis.
    ///   - dilation: The spacing between kernel taps.
    ///   - groups: Must divide both channel counts; `groups = inputChannels` is depthwise.
    ///   - bias: Whether to add a learned bias.
    ///   - generator: The seeded source of the initial values.
    public init(inputChannels: Int, outputChannels: Int, kernelSize: WindowSize, stride: WindowSize = 1,
                padding: WindowSize = 0, dilation: WindowSize = 1, groups: Int = 1, bias: Bool = true,
                generator: inout SeededGenerator) {
        guard inputChannels > 0 && outputChannels > 0 && kernelSize.height > 0 && kernelSize.width > 0 else {
            usageError("Conv2d", "inputChannels \(inputChannels), outputChannels \(outputChannels) and kernelSize \(kernelSize) must be positive")
        }
        guard groups > 0, inputChannels % groups == 0, outputChannels % groups == 0 else {
            usageError("Conv2d", "groups \(groups) must be positive and divide inputChannels \(inputChannels) and outputChannels \(outputChannels)")
        }
        let weightShape = [outputChannels, inputChannels / groups, kernelSize.height, kernelSize.width]
        // Checked first: with outputChannels ≥ 1, a weight that fits makes the fan-in product fit too.
        Tensor<Scalar>.validate(shape: weightShape, op: "Conv2d")
        let fanIn = inputChannels / groups * kernelSize.height * kernelSize.width
        let bound = Scalar(1 / Double(fanIn).squareRoot())
        weight = Parameter(Tensor.randomUniform(shape: weightShape, in: -bound..<bound, using: &generator))
        self.bias = bias ? Parameter(Tensor.randomUniform(shape: [outputChannels], in: -bound..<bound, using: &generator)) : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    /// Creates a layer with the given weight `[O, C/groups, kH, kW]` and optional bias `[O]`.
    public init(weight: Tensor<Scalar>, bias: Tensor<Scalar>? = nil, stride: WindowSize = 1, padding: WindowSize = 0,
                dilation: WindowSize = 1, groups: Int = 1) {
        guard weight.rank == 4, bias.map({ $0.shape == [weight.shape[0]] }) ?? true else {
            usageError("Conv2d", "weight must have shape [outputChannels, inputChannels/groups, kH, kW] and bias [outputChannels], got \(weight.shape) and \(bias?.shape ?? [])")
        }
        self.weight = Parameter(weight)
        self.bias = bias.map { Parameter($0) }
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    /// `conv2d(x, weight, bias)` with this layer's stride, padding, dilation and groups.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        conv2d(x, weight: lift(weight, for: x)!, bias: lift(bias, for: x), stride: stride, padding: padding,
               dilation: dilation, groups: groups)
    }
}
