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

    /// Creates a layer with PyTorch's default initialization.
    ///
    /// - Parameters:
    ///   - inputSize: The size of the last axis of the input.
    ///   - outputSize: The size of the last axis of the output.
    ///   - bias: Whether to add a learned bias.
    ///   - generator: The seeded source of the initial values.
    public init(inputSize: Int, outputSize: Int, bias: Bool = true, generator: inout SeededGenerator) {
        guard inputSize > 0 && outputSize > 0 else {
            usageError("Linear", "inputSize \(inputSize) and outputSize \(outputSize) must be positive")
        }
        let bound = Scalar(1 / Double(inputSize).squareRoot())
        weight = Parameter(Tensor.randomUniform(shape: [outputSize, inputSize], in: -bound..<bound, using: &generator))
        self.bias = bias ? Parameter(Tensor.randomUniform(shape: [outputSize], in: -bound..<bound, using: &generator)) : nil
    }

    /// Creates a layer with the given weight `[outputSize, inputSize]` and optional bias `[outputSize]`.
    public init(weight: Tensor<Scalar>, bias: Tensor<Scalar>? = nil) {
        guard weight.rank == 2, bias.map({ $0.shape == [weight.shape[0]] }) ?? true else {
            usageError("Linear", "weight must have shape [outputSize, inputSize] and bias [outputSize], got \(weight.shape) and \(bias?.shape ?? [])")
        }
        self.weight = Parameter(weight)
        self.bias = bias.map { Parameter($0) }
    }

    /// `x·Wᵀ + b` over the last axis.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        let inputSize = weight.shape[1]
        guard x.rank >= 1, x.shape[x.rank - 1] == inputSize else {
            usageError("Linear", "input shape \(x.shape) must end in inputSize \(inputSize)")
        }
        let (w, b) = (lift(weight, for: x)!, lift(bias, for: x))
        return inferenceAffine(x, weight: w, bias: b, parameter: weight) ?? x.affine(weight: w, bias: b)
    }
}

extension Variable {
    /// `y = x·Wᵀ + b` as one recorded op: the product reads W transposed in place (no copy of Wᵀ)
    /// and is accumulated onto the bias rows (`Tensor.affineProduct`).
    ///
    /// Backward: ∂L/∂x = g·W, ∂L/∂W = gᵀ·x, ∂L/∂b = Σ_rows g, each a differentiable op.
    ///
    /// - Parameters:
    ///   - weight: `[out, in]`; `self` is `[…, in]` with a rank of at least 1.
    ///   - bias: `[out]`, or `nil`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func affine(weight: Variable, bias: Variable?) -> Variable {
        let inputShape = shape
        let (outputs, inputs) = (weight.shape[0], weight.shape[1])
        let rows = inputShape.dropLast().reduce(1, *)   // not count / inputs: inputs may be 0
        let y = Tensor.affineProduct(value.scalars, rows: rows, weight: weight.value, bias: bias?.value)
        let outputShape = Array(inputShape.dropLast()) + [outputs]
        let output = Tensor(shape: outputShape, scalars: y.scalars)
        // The backward rule captures saved values (tensors and indices), never a Variable: a Variable
        // holds its tape, and the tape holds the rule, which would be a reference cycle.
        let (sx, sw) = (saved, weight.saved)
        let hasBias = bias != nil
        return Variable.record("linear", bias.map { [self, weight, $0] } ?? [self, weight], value: output) { g, tape in
            let g2 = g.reshaped(to: [rows, outputs])
            var gradients: [Variable?] = [
                tape.needs(0) ? g2.matmul(tape[sw], transposingFirst: false, transposingSecond: false).reshaped(to: inputShape) : nil,
                tape.needs(1) ? g2.matmul(tape[sx].reshaped(to: [rows, inputs]), transposingFirst: true, transposingSecond: false) : nil,
            ]
            if hasBias { gradients.append(tape.needs(2) ? g2.columnSums() : nil) }
            return gradients
        }
    }

    /// The sum over the rows of a matrix `[rows, columns]` → `[columns]`, each column accumulated in
    /// order in `Double` (the bias gradient of `Linear`). Backward: g broadcast over the rows.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func columnSums() -> Variable {
        let (rows, columns) = (shape[0], shape[1])
        let sums = Tensor<Scalar>(shape: [columns], initializingWith: { out in
            value.scalars.withUnsafeBufferPointer { gs in
                Reduction.parallelColumnSums(gs.baseAddress!, reduced: rows, stride: columns, count: columns, into: out.baseAddress!)
            }
        })
        return record("columnSums", sums) { g, _ in g.expanded(to: [rows, columns]) }
    }
}

extension Tensor {
    /// `x·Wᵀ + b` for `x` `[rows, inputs]` (row-major scalars), `weight` `[outputs, inputs]` and
    /// `bias` `[outputs]` (or none): the GEMM micro-kernel adds the bias to its first block of sums
    /// as it stores them, so the bias costs no pass of its own over the output (PyTorch's `addmm`).
    /// Each element is `b + Σ`, the sum in the GEMM's fixed order, whatever the worker count.
    /// Shared by the recorded and the inference paths of `Linear`, which therefore agree bit for bit.
    static func affineProduct(_ x: [Scalar], rows: Int, weight: Tensor, bias: Tensor?) -> Tensor {
        let (outputs, inputs) = (weight.shape[0], weight.shape[1])
        let count = TensorSize.elementCount(of: [rows, outputs], scalar: Scalar.self, op: "Linear")
        return Tensor(shape: [rows, outputs], op: "Linear") { out in
            guard count > 0, let o = out.baseAddress else { return }
            (bias?.scalars ?? []).withUnsafeBufferPointer { b in
                x.withUnsafeBufferPointer { xs in
                    weight.scalars.withUnsafeBufferPointer { ws in
                        // GEMM writes every element: bias + sums, the sums alone, or the bias or
                        // zeros when k = 0 (the dummy pointers are then never read).
                        GEMM.multiply(xs.baseAddress ?? UnsafePointer(o), transposeA: false, ws.baseAddress ?? UnsafePointer(o),
                                      transposeB: true, m: rows, n: outputs, k: inputs, into: o, accumulate: false,
                                      bias: bias == nil ? nil : b.baseAddress)
                    }
                }
            }
        }
    }
}
