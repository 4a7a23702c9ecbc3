/// 2-D max pooling as a module (PyTorch's `nn.MaxPool2d`); see `Variable.maxPool2d`.
public final class MaxPool2d<Scalar: TensorScalar>: Module {
    /// The window's height and width.
    public let kernelSize: WindowSize
    /// The step between windows (the kernel size by default).
    public let stride: WindowSize
    /// −∞ added on both sides, at most half the kernel size.
    public let padding: WindowSize
    /// The spacing between window taps.
    public let dilation: WindowSize
    /// Whether the output size is rounded up.
    public let ceilMode: Bool

    /// Creates the layer; `stride` defaults to `kernelSize`.
    public init(kernelSize: WindowSize, stride: WindowSize? = nil, padding: WindowSize = 0, dilation: WindowSize = 1,
                ceilMode: Bool = false) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.dilation = dilation
        self.ceilMode = ceilMode
    }

    /// Applies `maxPool2d`.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        x.maxPool2d(kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    }
}

/// 2-D average pooling as a module (PyTorch's `nn.AvgPool2d`); see `Variable.avgPool2d`.
public final class AvgPool2d<Scalar: TensorScalar>: Module {
    /// The window's height and width.
    public let kernelSize: WindowSize
    /// The step between windows (the kernel size by default).
    public let stride: WindowSize
    /// Zeros added on both sides, at most half the kernel size.
    public let padding: WindowSize
    /// Whether padded zeros count in the divisor.
    public let countIncludePad: Bool
    /// Whether the output size is rounded up.
    public let ceilMode: Bool

    /// Creates the layer; `stride` defaults to `kernelSize`.
    public init(kernelSize: WindowSize, stride: WindowSize? = nil, padding: WindowSize = 0, countIncludePad: Bool = true,
                ceilMode: Bool = false) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.countIncludePad = countIncludePad
        self.ceilMode = ceilMode
    }

    /// Applies `avgPool2d`.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        x.avgPool2d(kernelSize: kernelSize, stride: stride, padding: padding, countIncludePad: countIncludePad,
                    ceilMode: ceilMode)
    }
}

/// The mean over the spatial axes, `[N, C, H, W]` → `[N, C]`, as a module; see `Variable.globalAveragePool`.
public final class GlobalAveragePool<Scalar: TensorScalar>: Module {
    /// Creates the layer.
    public init() {}
    /// Applies `globalAveragePool()`.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> { x.globalAveragePool() }
}

/// Merges a range of axes into one (PyTorch's `nn.Flatten`, from axis 1 to the last by default).
public final class Flatten<Scalar: TensorScalar>: Module {
    /// The first merged axis.
    public let startAxis: Int
    /// The last merged axis (negative counts from the end).
    public let endAxis: Int
    /// Creates the layer.
    public init(startAxis: Int = 1, endAxis: Int = -1) {
        self.startAxis = startAxis
        self.endAxis = endAxis
    }
    /// Applies `flattened(startAxis:endAxis:)`.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> { x.flattened(startAxis: startAxis, endAxis: endAxis) }
}
