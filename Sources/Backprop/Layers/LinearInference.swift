/// The inference-only path of `y = x·Wᵀ + b`: when nothing can be recorded (inside
/// `withoutGradients`, or inputs that need no gradient), the value is computed as a tensor with no
/// record. The values are those of `affine` (both call `Tensor.affineProduct`).
///
/// With `parameter` (the parameter `weight` was read from), the product reads the parameter's
/// packed copy (`PackedWeightCache`), made on first use: the same values, without packing `Wᵀ`.
///
/// - Returns: `[…, out]`, or `nil` when something needs a gradient (the caller then records `affine`).
func inferenceAffine<Scalar: TensorScalar>(_ x: Variable<Scalar>, weight: Variable<Scalar>,
                                           bias: Variable<Scalar>?, parameter: Parameter<Scalar>? = nil) -> Variable<Scalar>? {
    guard !x.requiresGradient, !weight.requiresGradient, !(bias?.requiresGradient ?? false), x.rank >= 1 else { return nil }
    let outputs = weight.shape[0]
    let rows = x.shape.dropLast().reduce(1, *)   // not count / inputs: inputs may be 0
    let y = parameter.flatMap { Tensor.affineProduct(x.value.scalars, rows: rows, packedWeight: $0, bias: bias?.value) }
        ?? Tensor.affineProduct(x.value.scalars, rows: rows, weight: weight.value, bias: bias?.value)
    return Variable(value: Tensor(shape: Array(x.shape.dropLast()) + [outputs], scalars: y.scalars), tape: x.tape, node: -1)
}

extension Tensor {
    /// `Tensor.affineProduct` through the packed copy of `weight` (made on first use), or `nil` when
    /// there is none to use (the cache is off, the scalar type has no C kernels, or the product is
    /// empty). The same values bit for bit.
    static func affineProduct(_ x: [Scalar], rows: Int, packedWeight weight: Parameter<Scalar>, bias: Tensor?) -> Tensor? {
        guard rows > 0 else { return nil }
        if Scalar.self == Float.self { return affineProduct(x, rows: rows, packedWeight: weight, bias: bias, as: Float.self) }
        if Scalar.self == Double.self { return affineProduct(x, rows: rows, packedWeight: weight, bias: bias, as: Double.self) }
        return nil
    }

    private static func affineProduct<S: CGEMMScalar>(_ x: [Scalar], rows: Int, packedWeight weight: Parameter<Scalar>,
                                                      bias: Tensor?, as type: S.Type) -> Tensor? {
        guard let packed = weight.packedWeight(as: S.self) else { return nil }
        let outputs = packed.n
        _ = TensorSize.elementCount(of: [rows, outputs], scalar: Scalar.self, op: "Linear")
        return Tensor(shape: [rows, outputs], op: "Linear") { out in
            out.withMemoryRebound(to: S.self) { o in
                x.withUnsafeBufferPointer { xs in
                    xs.withMemoryRebound(to: S.self) { xs in
                        (bias?.scalars ?? []).withUnsafeBufferPointer { b in
                            b.withMemoryRebound(to: S.self) { b in
                                GEMM.multiply(xs.baseAddress!, packedWeight: packed, m: rows, into: o.baseAddress!,
                                              bias: bias == nil ? nil : b.baseAddress)
                            }
                        }
                    }
                }
            }
        }
    }
}
