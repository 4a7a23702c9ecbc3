/// The geometry of a 2-D pooling window over `[N, C, H, W]`.
struct PoolingGeometry {
    var planes, height, width: Int
    var kernel, stride, padding, dilation: WindowSize
    var outputHeight, outputWidth: Int
}

/// Checks a pooling op's arguments (PyTorch's rules) and computes its geometry.
private func poolingGeometry(_ op: String, input: [Int], kernel: WindowSize, stride: WindowSize?, padding: WindowSize,
                             dilation: WindowSize, ceilMode: Bool) -> PoolingGeometry {
    guard input.count == 4 else { usageError(op, "input must have shape [N, C, H, W], got \(input)") }
    guard kernel.height > 0 && kernel.width > 0 else { usageError(op, "kernelSize \(kernel) must be positive") }
    let stride = stride ?? kernel
    guard stride.height > 0 && stride.width > 0 else { usageError(op, "stride \(stride) must be positive") }
    guard dilation.height > 0 && dilation.width > 0 else { usageError(op, "dilation \(dilation) must be positive") }
    // Padding up to half the kernel guarantees every window holds at least one real element.
    guard padding.height >= 0 && padding.width >= 0,
          padding.height <= kernel.height / 2 && padding.width <= kernel.width / 2 else {
        usageError(op, "padding \(padding) must be non-negative and at most half of kernelSize \(kernel)")
    }
    let (paddedHeight, effectiveHeight) = checkedWindowSpans(op, axis: "height", size: input[2], kernel: kernel.height,
                                                             padding: padding.height, dilation: dilation.height)
    let (paddedWidth, effectiveWidth) = checkedWindowSpans(op, axis: "width", size: input[3], kernel: kernel.width,
                                                           padding: padding.width, dilation: dilation.width)
    guard effectiveHeight <= paddedHeight && effectiveWidth <= paddedWidth else {
        usageError(op, "kernelSize \(kernel) with dilation \(dilation) spans \(effectiveHeight)x\(effectiveWidth), larger than the padded input \(paddedHeight)x\(paddedWidth) (input shape \(input), padding \(padding))")
    }
    return PoolingGeometry(
        planes: input[0] * input[1], height: input[2], width: input[3],
        kernel: kernel, stride: stride, padding: padding, dilation: dilation,
        outputHeight: slidingWindowCount(size: input[2], kernel: kernel.height, stride: stride.height,
                                         padding: padding.height, dilation: dilation.height, ceilMode: ceilMode),
        outputWidth: slidingWindowCount(size: input[3], kernel: kernel.width, stride: stride.width,
                                        padding: padding.width, dilation: dilation.width, ceilMode: ceilMode))
}

extension Variable {
    /// 2-D max pooling over `[N, C, H, W]` (PyTorch's `max_pool2d`); the padding counts as −∞.
    ///
    /// `y[n, c, oh, ow] = max_{i, j} x[n, c, oh·sH − pH + i·dH, ow·sW − pW + j·dW]`.
    ///
    /// Backward: each output's gradient flows to the first maximal element of its window in
    /// row-major order (PyTorch's choice); a NaN counts as the maximum (the window's last NaN, as
    /// PyTorch's CPU kernel), so it propagates. The backward is a scatter whose own backward is the
    /// gather of the same elements, so higher derivatives follow the same selection. A dilated window
    /// that lies entirely in the padding has output −∞ and passes its gradient nowhere — a deliberate
    /// difference: PyTorch's CPU kernel adds it to the element at the window's clipped start, which is
    /// not in the window (the next row or plane).
    ///
    /// - Parameters:
    ///   - kernelSize: The window's height and width.
    ///   - stride: The step between windows; `nil` (the default) means `kernelSize`.
    ///   - padding: −∞ added on both sides, at most half the kernel size.
    ///   - dilation: The spacing between window taps.
    ///   - ceilMode: Round the output size up, keeping a last partial window that starts inside the input.
    /// - Returns: `[N, C, Ho, Wo]` with `Ho = ⌊(H + 2pH − dH(kH − 1) − 1)/sH⌋ + 1`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func maxPool2d(kernelSize: WindowSize, stride: WindowSize? = nil, padding: WindowSize = 0,
                          dilation: WindowSize = 1, ceilMode: Bool = false) -> Variable {
        let g = poolingGeometry("maxPool2d", input: shape, kernel: kernelSize, stride: stride, padding: padding,
                                dilation: dilation, ceilMode: ceilMode)
        TensorSize.elementCount(of: [shape[0], shape[1], g.outputHeight, g.outputWidth], scalar: Scalar.self, op: "maxPool2d")
        let outputArea = g.outputHeight &* g.outputWidth   // wrapping: only used when the output is not empty
        // The flat index in its plane of each output's selected element.
        var selected = [Int](repeating: 0, count: g.planes * outputArea)
        let x = value
        let y = Tensor<Scalar>(shape: [shape[0], shape[1], g.outputHeight, g.outputWidth]) { out in
            x.scalars.withUnsafeBufferPointer { xs in
                for plane in 0..<g.planes {
                    let source = xs.baseAddress! + plane * g.height * g.width
                    for oh in 0..<g.outputHeight {
                        for ow in 0..<g.outputWidth {
                            var best = -Scalar.infinity, bestIndex = -1
                            for i in 0..<g.kernel.height {
                                let ih = oh * g.stride.height - g.padding.height + i * g.dilation.height
                                guard ih >= 0 && ih < g.height else { continue }
                                for j in 0..<g.kernel.width {
                                    let iw = ow * g.stride.width - g.padding.width + j * g.dilation.width
                                    guard iw >= 0 && iw < g.width else { continue }
                                    let v = source[ih * g.width + iw]
                                    if bestIndex < 0 || v > best || v.isNaN {
                                        best = v
                                        bestIndex = ih * g.width + iw
                                    }
                                }
                            }
                            let o = (plane * g.outputHeight + oh) * g.outputWidth + ow
                            out[o] = best
                            selected[o] = bestIndex
                        }
                    }
                }
            }
        }
        // The selected element's flat index in the whole input (−1 for a window with no source:
        // a dilated window entirely in the padding, whose −∞ output has no gradient).
        let planeSize = g.height * g.width
        let positions = selected.enumerated().map { o, index in index >= 0 ? (o / outputArea) * planeSize + index : -1 }
        let inputShape = shape
        return record("maxPool2d", y) { dy, _ in
            dy.scattering(flatPositions: positions, into: inputShape, name: "maxPool2dBackward")
        }
    }

    /// 2-D average pooling over `[N, C, H, W]` (PyTorch's `avg_pool2d`); the padding counts as zeros.
    ///
    /// `y[n, c, oh, ow] = (1/D) · Σ_{window} x`, where the sum runs over the window's elements inside
    /// the input and the divisor `D` is the window's area clipped to the padded input
    /// (`countIncludePad`, the default) or the number of input elements it covers.
    ///
    /// Backward: each output's gradient divided by its `D` is added to every input element of its window
    /// (`Aᵀ·g` for the linear pooling map `A`; the backward of `Aᵀ` is `A`).
    ///
    /// - Parameters:
    ///   - kernelSize: The window's height and width.
    ///   - stride: The step between windows; `nil` (the default) means `kernelSize`.
    ///   - padding: Zeros added on both sides, at most half the kernel size.
    ///   - countIncludePad: Whether padded zeros count in the divisor.
    ///   - ceilMode: Round the output size up, keeping a last partial window that starts inside the input.
    /// - Returns: `[N, C, Ho, Wo]` with `Ho = ⌊(H + 2pH − kH)/sH⌋ + 1`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func avgPool2d(kernelSize: WindowSize, stride: WindowSize? = nil, padding: WindowSize = 0,
                          countIncludePad: Bool = true, ceilMode: Bool = false) -> Variable {
        let g = poolingGeometry("avgPool2d", input: shape, kernel: kernelSize, stride: stride, padding: padding,
                                dilation: 1, ceilMode: ceilMode)
        TensorSize.elementCount(of: [shape[0], shape[1], g.outputHeight, g.outputWidth], scalar: Scalar.self, op: "avgPool2d")
        let outputArea = g.outputHeight &* g.outputWidth   // wrapping: only used when the output is not empty
        /// The input rows, columns and divisor of output position `(oh, ow)`, PyTorch's rule.
        func window(_ oh: Int, _ ow: Int) -> (rows: Range<Int>, columns: Range<Int>, divisor: Scalar) {
            let top = oh * g.stride.height - g.padding.height, left = ow * g.stride.width - g.padding.width
            let bottom = Swift.min(top + g.kernel.height, g.height + g.padding.height)
            let right = Swift.min(left + g.kernel.width, g.width + g.padding.width)
            let rows = Swift.max(top, 0)..<Swift.min(bottom, g.height)
            let columns = Swift.max(left, 0)..<Swift.min(right, g.width)
            let area = countIncludePad ? (bottom - top) * (right - left) : rows.count * columns.count
            return (rows, columns, Scalar(area))
        }
        let inputShape = shape
        let outputShape = [shape[0], shape[1], g.outputHeight, g.outputWidth]
        /// `y = A·x`: the window sums divided by their divisors.
        func pool(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
            Tensor<Scalar>(shape: outputShape) { out in
                for plane in 0..<g.planes {
                    let base = plane * g.height * g.width
                    for oh in 0..<g.outputHeight {
                        for ow in 0..<g.outputWidth {
                            let (rows, columns, divisor) = window(oh, ow)
                            var sum: Scalar = 0
                            for ih in rows { for iw in columns { sum += x.scalars[base + ih * g.width + iw] } }
                            out[(plane * g.outputHeight + oh) * g.outputWidth + ow] = sum / divisor
                        }
                    }
                }
            }
        }
        /// `dx = Aᵀ·dy`: each output's gradient over its divisor, added to its window.
        func spread(_ dy: Tensor<Scalar>) -> Tensor<Scalar> {
            var dx = Tensor<Scalar>(zeros: inputShape)
            dx.scalars.withUnsafeMutableBufferPointer { dxs in
                for plane in 0..<g.planes {
                    let base = plane * g.height * g.width
                    for oh in 0..<g.outputHeight {
                        for ow in 0..<g.outputWidth {
                            let (rows, columns, divisor) = window(oh, ow)
                            let share = dy.scalars[plane * outputArea + oh * g.outputWidth + ow] / divisor
                            for ih in rows { for iw in columns { dxs[base + ih * g.width + iw] += share } }
                        }
                    }
                }
            }
            return dx
        }
        // Pooling is linear, A and Aᵀ are each other's backward, so every order is differentiable.
        func pooled(_ x: Variable) -> Variable {
            x.record("avgPool2d", pool(x.value)) { dy, _ in spreadBack(dy) }
        }
        func spreadBack(_ dy: Variable) -> Variable {
            dy.record("avgPool2dBackward", spread(dy.value)) { v, _ in pooled(v) }
        }
        return pooled(self)
    }

    /// The mean over the spatial axes: `[N, C, H, W]` → `[N, C]` (PyTorch's
    /// `adaptive_avg_pool2d(x, 1)` then flatten).
    ///
    /// Backward (that of `mean`): each input element receives `g[n, c] / (H·W)`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func globalAveragePool() -> Variable {
        guard rank == 4 else { usageError("globalAveragePool", "input must have shape [N, C, H, W], got \(shape)") }
        return mean(alongAxes: [2, 3])
    }

    /// Merges the axes `startAxis...endAxis` into one (PyTorch's `flatten(start_dim, end_dim)`);
    /// `[N, C, H, W]` → `[N, C·H·W]` by default.
    ///
    /// Backward (that of `reshaped`): g reshaped back to the input's shape.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func flattened(startAxis: Int = 1, endAxis: Int = -1) -> Variable {
        let start = Tensor<Scalar>.normalize(axis: startAxis, rank: rank, op: "flatten")
        let end = Tensor<Scalar>.normalize(axis: endAxis, rank: rank, op: "flatten")
        guard start <= end else {
            usageError("flatten", "startAxis \(startAxis) comes after endAxis \(endAxis) for shape \(shape)")
        }
        let merged = shape[start...end].reduce(1, *)
        return reshaped(to: Array(shape[..<start]) + [merged] + Array(shape[(end + 1)...]))
    }
}
