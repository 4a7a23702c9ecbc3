/// The inference-only path of `y = x·Wᵀ + b`: when nothing can be recorded (inside
/// `withoutGradients`, or inputs that need no gradient), the value is computed as a tensor with no
/// record. The values are those of `affine` (both call `Tensor.affineProduct`).
///
/// - Returns: `[…, out]`, or `nil` when something needs a gradient (the caller then records `affine`).
func inferenceAffine<Scalar: TensorScalar>(_ x: Variable<Scalar>, weight: Variable<Scalar>,
                                           bias: Variable<Scalar>?) -> Variable<Scalar>? {
    guard !x.requiresGradient, !weight.requiresGradient, !(bias?.requiresGradient ?? false), x.rank >= 1 else { return nil }
    let outputs = weight.shape[0]
    let rows = x.shape.dropLast().reduce(1, *)   // not count / inputs: inputs may be 0
    let y = Tensor.affineProduct(x.value.scalars, rows: rows, weight: weight.value, bias: bias?.value)
    return Variable(value: Tensor(shape: Array(x.shape.dropLast()) + [outputs], scalars: y.scalars), tape: x.tape, node: -1)
}
