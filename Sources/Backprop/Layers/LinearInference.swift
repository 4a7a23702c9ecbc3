/// The inference-only path of `y = x·Wᵀ + b`: when nothing can be recorded (inside
/// `withoutGradients`, or inputs that need no gradient), the product and the bias are computed as
/// tensors, the bias added by the parallel broadcasting kernel instead of the serial row loop of
/// `Variable.affine`. The values are those of `affine`: the same product, then the same additions.
///
/// - Returns: `[…, out]`, or `nil` when something needs a gradient (the caller then records `affine`).
func inferenceAffine<Scalar: TensorScalar>(_ x: Variable<Scalar>, weight: Variable<Scalar>,
                                           bias: Variable<Scalar>?) -> Variable<Scalar>? {
    guard !x.requiresGradient, !weight.requiresGradient, !(bias?.requiresGradient ?? false), x.rank >= 1 else { return nil }
    let (outputs, inputs) = (weight.shape[0], weight.shape[1])
    let rows = x.shape.dropLast().reduce(1, *)   // not count / inputs: inputs may be 0
    let product = Tensor.matmul(Tensor(shape: [rows, inputs], scalars: x.value.scalars), transposingFirst: false,
                                weight.value, transposingSecond: true, op: "Linear")
    let y = bias.map { product + $0.value } ?? product
    return Variable(value: Tensor(shape: Array(x.shape.dropLast()) + [outputs], scalars: y.scalars), tape: x.tape, node: -1)
}
