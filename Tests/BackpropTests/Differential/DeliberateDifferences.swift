import Backprop

/// Where Backprop deliberately differs from PyTorch 2.15, each with its reason (also in the op's doc
/// comment and in the README). A case a difference applies to is not excused: it is compared, to the
/// same 1e-12, against `expected`, PyTorch's numbers with the documented difference applied, so the
/// difference is exactly the documented one and nothing else.
struct DeliberateDifference: Sendable {
    /// The op.
    var op: String
    /// Why Backprop differs.
    var reason: String
    /// Whether the case shows the difference.
    var applies: @Sendable (DifferentialCase) -> Bool
    /// PyTorch's output and gradients with the difference applied: what Backprop must give.
    var expected: @Sendable (DifferentialCase) -> (output: Tensor<Double>, gradients: [Tensor<Double>?])

    static let all: [DeliberateDifference] = [ignoredSamplesWithNonFiniteLogits, eluAtNaN, maxPoolWindowsInThePadding,
                                              reciprocalOverflow]

    /// c / x: a true division, and the gradient −c/x² without an intermediate 1/x² that overflows.
    static let reciprocalOverflow = DeliberateDifference(
        op: "rdivScalar",
        reason: "c / x is a true division and its derivative −c/x² is computed as −(g·y)/x with y = c/x. PyTorch computes c / x as reciprocal(x)·c: 1/x overflows to ∞ for subnormal x, so its output is NaN for c = 0 (0·∞), and its backward −g·c·(1/x)² overflows (or underflows) for |x| below 1e-154 or above 1e154, giving NaN where the derivative is 0 (c = 0) or ±∞ (c = ±∞).",
        applies: { c in affectedPositions(c).contains { k in c.output.scalars[k].isNaN || c.gradients[0]!.scalars[k].isNaN } },
        expected: { c in
            let constant = c.parameters.double("c")
            var output = c.output.scalars, gradient = c.gradients[0]!.scalars
            for k in affectedPositions(c) {
                let x = c.inputs[0].tensor.scalars[k]
                output[k] = constant / x
                gradient[k] = -(c.upstream.scalars[k] * output[k]) / x
            }
            let shape = c.inputs[0].tensor.shape
            return (Tensor(shape: shape, scalars: output), [Tensor(shape: shape, scalars: gradient)])
        })

    /// The positions of an rdivScalar case where 1/x or 1/x² overflows or underflows (|x| < 1e-154 or
    /// |x| > 1e154, x not NaN) and PyTorch's output or gradient is NaN.
    static func affectedPositions(_ c: DifferentialCase) -> [Int] {
        guard let g = c.gradients[0] else { return [] }
        return c.inputs[0].tensor.scalars.indices.filter { k in
            let x = c.inputs[0].tensor.scalars[k]
            return !x.isNaN && x != 0 && x.isFinite && (Swift.abs(x) < 1e-154 || Swift.abs(x) > 1e154)
                && (c.output.scalars[k].isNaN || g.scalars[k].isNaN) && !c.parameters.double("c").isNaN
        }
    }

    /// crossEntropy: the gradient of an ignored sample's logits is exactly 0.
    static let ignoredSamplesWithNonFiniteLogits = DeliberateDifference(
        op: "crossEntropy",
        reason: "An ignored sample (target = ignoreIndex) contributes nothing, so the gradient of its logits is exactly 0. PyTorch computes log_softmax over every sample before nll_loss skips the ignored ones, so a NaN or ±∞ logit in an ignored sample makes that sample's gradient NaN (0·NaN in log_softmax's backward).",
        applies: { c in
            c.gradients[0].map { g in ignoredPositions(c).contains { g.scalars[$0] != 0 } } ?? false
        },
        expected: { c in
            var gradient = c.gradients[0]!.scalars
            for position in ignoredPositions(c) { gradient[position] = 0 }
            return (c.output, [Tensor(shape: c.inputs[0].tensor.shape, scalars: gradient)])
        })

    /// The flat positions of the logits of the ignored samples of a crossEntropy case.
    static func ignoredPositions(_ c: DifferentialCase) -> [Int] {
        let shape = c.inputs[0].tensor.shape
        let targets = c.parameters.ints("targets"), ignore = c.parameters.int("ignore")
        let classAxis = shape.count == 1 ? 0 : 1
        let classes = shape[classAxis]
        let inner = shape[(classAxis + 1)...].reduce(1, *)
        var positions: [Int] = []
        for (sample, target) in targets.enumerated() where target == ignore {
            let (o, i) = (sample / inner, sample % inner)
            for k in 0..<classes { positions.append((o * classes + k) * inner + i) }
        }
        return positions
    }

    /// elu: a NaN input has a NaN gradient.
    static let eluAtNaN = DeliberateDifference(
        op: "elu",
        reason: "At x = NaN the gradient is NaN. PyTorch's CPU elu_backward gives NaN in its vectorized loop but g (the x > 0 branch) in its scalar remainder, so its answer depends on the tensor's size and the element's position.",
        applies: { c in
            c.gradients[0].map { g in zip(c.inputs[0].tensor.scalars, g.scalars).contains { $0.isNaN && !$1.isNaN } } ?? false
        },
        expected: { c in
            var gradient = c.gradients[0]!.scalars
            for (k, x) in c.inputs[0].tensor.scalars.enumerated() where x.isNaN { gradient[k] = .nan }
            return (c.output, [Tensor(shape: c.inputs[0].tensor.shape, scalars: gradient)])
        })

    /// maxPool2d: a window with no input element (entirely in the padding) passes no gradient.
    static let maxPoolWindowsInThePadding = DeliberateDifference(
        op: "maxPool2d",
        reason: "A dilated window can lie entirely in the padding: its output is −∞ and it holds no input element, so Backprop passes its gradient nowhere. PyTorch's CPU kernel adds it to the element at the window's clipped start, which is outside the window (in the next row or the next plane, or past the end of the tensor, where it is dropped).",
        applies: { c in emptyWindowTargets(c).contains { $0.target < c.inputs[0].tensor.count } },
        expected: { c in
            var gradient = c.gradients[0]!.scalars
            for (output, target) in emptyWindowTargets(c) where target < gradient.count {
                gradient[target] -= c.upstream.scalars[output]
            }
            return (c.output, [Tensor(shape: c.inputs[0].tensor.shape, scalars: gradient)])
        })

    /// For each output of a maxPool2d case whose window holds no input element, the output's flat index
    /// and the flat input index PyTorch's CPU kernel sends its gradient to (its `maxindex`, initialized
    /// to the window's start moved into the input by dilation steps).
    static func emptyWindowTargets(_ c: DifferentialCase) -> [(output: Int, target: Int)] {
        let p = c.parameters
        let (kernel, stride, padding, dilation) = (p.ints("kernel"), p.ints("stride"), p.ints("padding"), p.ints("dilation"))
        let input = c.inputs[0].tensor.shape, output = c.output.shape
        let (height, width) = (input[2], input[3])
        var targets: [(Int, Int)] = []
        for plane in 0..<(input[0] * input[1]) {
            for oh in 0..<output[2] {
                for ow in 0..<output[3] {
                    var (ih, iw) = (oh * stride[0] - padding[0], ow * stride[1] - padding[1])
                    let hEnd = Swift.min(ih + (kernel[0] - 1) * dilation[0] + 1, height)
                    let wEnd = Swift.min(iw + (kernel[1] - 1) * dilation[1] + 1, width)
                    while ih < 0 { ih += dilation[0] }
                    while iw < 0 { iw += dilation[1] }
                    guard ih >= hEnd || iw >= wEnd else { continue }
                    targets.append(((plane * output[2] + oh) * output[3] + ow, plane * height * width + ih * width + iw))
                }
            }
        }
        return targets
    }
}
