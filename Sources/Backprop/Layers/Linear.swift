/// A fully connected layer `y = x·Wᵀ + b` (PyTorch's `nn.Linear`).
///
/// The weight has shape `[outputSize, inputSize]` and the bias `[outputSize]`, with PyTorch's
/// default initialization: Kaiming-uniform with `a = √5`, which is `U(−1/√inputSize, 1/√inputSize)`
/// for both. The input may have any leading axes: `[…, inputSize]` → `[…, outputSize]`.
public final class Linear<Scalar: TensorScalar>: Module {
    /// `[outputSize, inputSize]`.
    public let weight: Parameter<Scalar>
    /// `[outputSize]`, or `nil` without bias.
    public let bias: Parameter<Scalar>?
    /// Training or evaluation mode (no effect on this layer).
    public var isTraining = true

    /// Creates a layer with PyTorch's default initialization.
    ///
    /// - Parameters:
    ///   - inputSize: The size of the last axis of the input.
    ///   - outputSize: The size of the last axis of the output.
    ///   - bias: Whether to add a learned bias.
    ///   - generator: The seeded source of the initial values.
    public init(inputSize: Int, outputSize: Int, bias: Bool = true, generator: inout SeededGenerator) {
        guard inputSize > 0 && outputSize > 0 else {
            shapeError("Linear", "inputSize \(inputSize) and outputSize \(outputSize) must be positive")
        }
        let bound = Scalar(1 / Double(inputSize).squareRoot())
        weight = Parameter(Tensor.randomUniform(shape: [outputSize, inputSize], in: -bound..<bound, using: &generator))
        self.bias = bias ? Parameter(Tensor.randomUniform(shape: [outputSize], in: -bound..<bound, using: &generator)) : nil
    }

    /// Creates a layer with the given weight `[outputSize, inputSize]` and optional bias `[outputSize]`.
    public init(weight: Tensor<Scalar>, bias: Tensor<Scalar>? = nil) {
        guard weight.rank == 2, bias.map({ $0.shape == [weight.shape[0]] }) ?? true else {
            shapeError("Linear", "weight must have shape [outputSize, inputSize] and bias [outputSize], got \(weight.shape) and \(bias?.shape ?? [])")
        }
        self.weight = Parameter(weight)
        self.bias = bias.map { Parameter($0) }
    }

    /// `x·Wᵀ + b` over the last axis.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        let inputSize = weight.shape[1]
        guard x.rank >= 1, x.shape[x.rank - 1] == inputSize else {
            shapeError("Linear", "input shape \(x.shape) must end in inputSize \(inputSize)")
        }
        let (w, b) = (lift(weight, for: x)!, lift(bias, for: x))
        return inferenceAffine(x, weight: w, bias: b) ?? x.affine(weight: w, bias: b)
    }
}

extension Variable {
    /// `y = x·Wᵀ + b` as one recorded op: the product reads W transposed in place (no copy of Wᵀ),
    /// the bias is added to the product rows, and the backward forms `g·W`, `gᵀ·x` and the column
    /// sums of `g` directly.
    ///
    /// - Parameters:
    ///   - weight: `[out, in]`; `self` is `[…, in]` with a rank of at least 1.
    ///   - bias: `[out]`, or `nil`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func affine(weight: Variable, bias: Variable?) -> Variable {
        let inputShape = shape
        let (outputs, inputs) = (weight.shape[0], weight.shape[1])
        let rows = value.count / inputs
        let x2 = Tensor(shape: [rows, inputs], scalars: value.scalars)
        let w = weight.value
        var y = Tensor.matmul(x2, transposingFirst: false, w, transposingSecond: true, op: "Linear")
        if let b = bias?.value {
            y.scalars.withUnsafeMutableBufferPointer { ys in
                b.scalars.withUnsafeBufferPointer { bs in
                    let (yp, bp) = (ys.baseAddress!, bs.baseAddress!)
                    for r in 0..<rows {
                        let row = yp + r * outputs
                        for j in 0..<outputs { row[j] += bp[j] }
                    }
                }
            }
        }
        let outputShape = Array(inputShape.dropLast()) + [outputs]
        let output = Tensor(shape: outputShape, scalars: y.scalars)
        let needX = requiresGradient, needW = weight.requiresGradient, needB = bias?.requiresGradient ?? false
        // The pullback must capture tensors and flags only: a captured Variable holds its tape, and
        // the tape holds the pullback, which would be a reference cycle that leaks the whole tape.
        let hasBias = bias != nil
        let recordedInputs = bias.map { [self, weight, $0] } ?? [self, weight]
        return Variable.record("linear", recordedInputs, value: output) { g in
            let g2 = Tensor(shape: [rows, outputs], scalars: g.scalars)
            var gradients: [Tensor<Scalar>?] = [
                needX ? Tensor(shape: inputShape, scalars: Tensor.matmul(g2, transposingFirst: false, w, transposingSecond: false,
                                                                         op: "Linear backward").scalars) : nil,
                needW ? Tensor.matmul(g2, transposingFirst: true, x2, transposingSecond: false, op: "Linear backward") : nil,
            ]
            if hasBias {
                gradients.append(needB ? Tensor(shape: [outputs], initializingWith: { out in
                    g2.scalars.withUnsafeBufferPointer { gs in
                        Reduction.columnSums(gs.baseAddress!, reduced: rows, stride: outputs, count: outputs,
                                                    into: out.baseAddress!)
                    }
                }) : nil)
            }
            return gradients
        }
    }
}
