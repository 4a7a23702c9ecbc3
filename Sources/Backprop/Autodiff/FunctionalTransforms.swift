// Functional transforms, named as Swift's differentiable programming and Swift for TensorFlow name
// them. Each records the function on a tape of its own (recording on, even inside
// `withoutGradients`) and returns tensors. A derivative with respect to an input the function does
// not use is zero here (as JAX's transforms and `torch.autograd.functional` give it), so the sweeps
// pass `allowUnused`.

/// The gradient of a scalar-valued function at `x`.
///
/// ```swift
/// // f(x) = Σ x³  ⇒  ∇f = 3x²
/// gradient(at: Tensor<Double>([1, 2])) { x in x.pow(3).sum() }     // [3, 12]
/// ```
///
/// - Parameters:
///   - x: The point.
///   - f: A function whose output has one element.
/// - Returns: ∇f(x), with `x`'s shape.
public func gradient<Scalar: TensorScalar>(at x: Tensor<Scalar>, of f: (Variable<Scalar>) -> Variable<Scalar>) -> Tensor<Scalar> {
    valueWithGradient(at: x, of: f).gradient
}

/// The gradients of a scalar-valued function of several tensors.
///
/// ```swift
/// // f(a, b) = Σ a·b  ⇒  (∂f/∂a, ∂f/∂b) = (b, a)
/// gradient(at: [a, b]) { v in (v[0] * v[1]).sum() }
/// ```
public func gradient<Scalar: TensorScalar>(at inputs: [Tensor<Scalar>], of f: ([Variable<Scalar>]) -> Variable<Scalar>) -> [Tensor<Scalar>] {
    valueWithGradient(at: inputs, of: f).gradients
}

/// The value and the gradient of a scalar-valued function at `x`.
///
/// ```swift
/// // f(x) = Σ x²  at [1, 2]  ⇒  value 5, gradient [2, 4]
/// let (value, grad) = valueWithGradient(at: Tensor<Double>([1, 2])) { x in x.squared().sum() }
/// ```
public func valueWithGradient<Scalar: TensorScalar>(at x: Tensor<Scalar>, of f: (Variable<Scalar>) -> Variable<Scalar>)
    -> (value: Tensor<Scalar>, gradient: Tensor<Scalar>) {
    let (value, gradients) = valueWithGradient(at: [x]) { f($0[0]) }
    return (value, gradients[0])
}

/// The value and the gradients of a scalar-valued function of several tensors.
public func valueWithGradient<Scalar: TensorScalar>(at inputs: [Tensor<Scalar>], of f: ([Variable<Scalar>]) -> Variable<Scalar>)
    -> (value: Tensor<Scalar>, gradients: [Tensor<Scalar>]) {
    withGradients {
        let tape = Tape<Scalar>()
        let variables = inputs.map { tape.variable($0) }
        let y = f(variables)
        guard y.value.count == 1 else {
            usageError("gradient(at:of:)", "the function's output has shape \(y.shape) (\(y.value.count) elements); a gradient needs a one-element output — use pullback(at:of:) or jacobian(at:of:) for others")
        }
        guard y.tape == nil || y.tape === tape else {
            usageError("gradient(at:of:)", "the function returned a variable of another tape")
        }
        guard y.tape != nil else { return (y.value, inputs.map { Tensor(zerosLike: $0) }) }
        return (y.value, tape.gradients(of: y, withRespectTo: variables, allowUnused: true))
    }
}

/// The value of `f` at `x` and its pullback: the function `u ↦ uᵀ·J`, a vector-Jacobian product with
/// the Jacobian J of f at x (as many times as needed).
///
/// ```swift
/// // f(x) = x²  ⇒  pullback(u) = 2x·u
/// let (y, pb) = valueWithPullback(at: Tensor<Double>([1, 3])) { x in x.squared() }
/// pb(Tensor([1, 1]))      // [2, 6]
/// ```
public func valueWithPullback<Scalar: TensorScalar>(at x: Tensor<Scalar>, of f: (Variable<Scalar>) -> Variable<Scalar>)
    -> (value: Tensor<Scalar>, pullback: (Tensor<Scalar>) -> Tensor<Scalar>) {
    withGradients {
        let tape = Tape<Scalar>()
        let input = tape.variable(x)
        let y = f(input)
        return (y.value, { seed in
            guard seed.shape == y.shape else {
                usageError("pullback(at:of:)", "the vector of shape \(seed.shape) must have the output's shape \(y.shape)")
            }
            guard y.requiresGradient else { return Tensor(zerosLike: x) }
            return withGradients { tape.gradients(of: y, withRespectTo: [input], seed: seed, retainGraph: true, allowUnused: true)[0] }
        })
    }
}

/// The pullback of `f` at `x`: `u ↦ uᵀ·J` (see `valueWithPullback(at:of:)`).
public func pullback<Scalar: TensorScalar>(at x: Tensor<Scalar>, of f: (Variable<Scalar>) -> Variable<Scalar>)
    -> (Tensor<Scalar>) -> Tensor<Scalar> {
    valueWithPullback(at: x, of: f).pullback
}

/// The Jacobian-vector product `J·v` of `f` at `x` (a directional derivative), by reverse mode twice:
/// `J·v = ∂/∂u ⟨uᵀ·J, v⟩`, the gradient of a vector-Jacobian product with respect to its seed u.
///
/// ```swift
/// // f(x) = x³  ⇒  J·v = 3x²·v
/// jvp(at: Tensor<Double>([1, 2]), direction: Tensor([1, -1])) { x in x.pow(3) }   // [3, -12]
/// ```
///
/// - Returns: `J·v`, with the shape of `f(x)`.
public func jvp<Scalar: TensorScalar>(at x: Tensor<Scalar>, direction v: Tensor<Scalar>,
                                      of f: (Variable<Scalar>) -> Variable<Scalar>) -> Tensor<Scalar> {
    guard v.shape == x.shape else { usageError("jvp(at:direction:of:)", "direction of shape \(v.shape) must have the input's shape \(x.shape)") }
    return withGradients {
        let tape = Tape<Scalar>()
        let input = tape.variable(x)
        let y = f(input)
        guard y.requiresGradient else { return Tensor(zeros: y.shape) }
        let seed = tape.variable(Tensor(zeros: y.shape))
        let vjp = tape.gradients(of: y, withRespectTo: [input], seed: seed, createGraph: true, allowUnused: true)[0]
        return tape.gradients(of: (vjp * tape.constant(v)).sum(), withRespectTo: [seed], allowUnused: true)[0]
    }
}

/// The Jacobian of `f` at `x`: `∂f(x)[i…]/∂x[j…]`, of shape `f(x).shape + x.shape` (one pullback per
/// output element).
///
/// ```swift
/// // f(x) = W·x  ⇒  J = W
/// jacobian(at: x) { x in w.matmul(x) }
/// ```
public func jacobian<Scalar: TensorScalar>(at x: Tensor<Scalar>, of f: (Variable<Scalar>) -> Variable<Scalar>) -> Tensor<Scalar> {
    let (y, pullback) = valueWithPullback(at: x, of: f)
    var rows: [Scalar] = []
    rows.reserveCapacity(y.count * x.count)
    for k in 0..<y.count {
        var seed = Tensor<Scalar>(zeros: y.shape)
        seed.scalars[k] = 1
        rows += pullback(seed).scalars
    }
    return Tensor(shape: y.shape + x.shape, scalars: rows)
}

/// The Hessian of a scalar-valued `f` at `x`: `∂²f/∂x[i…]∂x[j…]`, of shape `x.shape + x.shape`,
/// one Hessian-vector product per element of x.
///
/// ```swift
/// // Rosenbrock f(a, b) = (1 − a)² + 100(b − a²)²  ⇒  H = [[2 − 400b + 1200a², −400a], [−400a, 200]]
/// hessian(at: Tensor<Double>([1, 1])) { v in … }   // [[802, −400], [−400, 200]]
/// ```
public func hessian<Scalar: TensorScalar>(at x: Tensor<Scalar>, of f: (Variable<Scalar>) -> Variable<Scalar>) -> Tensor<Scalar> {
    withGradients {
        let tape = Tape<Scalar>()
        let input = tape.variable(x)
        let y = scalarOutput(f(input), "hessian(at:of:)")
        var rows: [Scalar] = []
        rows.reserveCapacity(x.count * x.count)
        guard y.requiresGradient else { return Tensor(zeros: x.shape + x.shape) }
        let g = tape.gradients(of: y, withRespectTo: [input], createGraph: true, allowUnused: true)[0].reshaped(to: [x.count])
        for i in 0..<x.count {
            guard g.requiresGradient else { rows += [Scalar](repeating: 0, count: x.count); continue }
            var seed = Tensor<Scalar>(zeros: [x.count])
            seed.scalars[i] = 1
            rows += tape.gradients(of: g, withRespectTo: [input], seed: seed, retainGraph: true, allowUnused: true)[0].scalars
        }
        return Tensor(shape: x.shape + x.shape, scalars: rows)
    }
}

/// The Hessian-vector product `H·v` of a scalar-valued `f` at `x`, without forming H: the gradient of
/// `⟨∇f(x), v⟩` (two reverse sweeps; the second differentiates the first).
///
/// ```swift
/// // f(x) = Σ x⁴/12  ⇒  H·v = x²⊙v
/// hessianVectorProduct(at: x, direction: v) { x in x.pow(4).sum() / 12 }
/// ```
public func hessianVectorProduct<Scalar: TensorScalar>(at x: Tensor<Scalar>, direction v: Tensor<Scalar>,
                                                       of f: (Variable<Scalar>) -> Variable<Scalar>) -> Tensor<Scalar> {
    guard v.shape == x.shape else {
        usageError("hessianVectorProduct(at:direction:of:)", "direction of shape \(v.shape) must have the input's shape \(x.shape)")
    }
    return withGradients {
        let tape = Tape<Scalar>()
        let input = tape.variable(x)
        let y = scalarOutput(f(input), "hessianVectorProduct(at:direction:of:)")
        guard y.requiresGradient else { return Tensor(zerosLike: x) }
        let g = tape.gradients(of: y, withRespectTo: [input], createGraph: true, allowUnused: true)[0]
        let directional = (g * tape.constant(v)).sum()
        guard directional.requiresGradient else { return Tensor(zerosLike: x) }
        return tape.gradients(of: directional, withRespectTo: [input], allowUnused: true)[0]
    }
}

/// Stops unless `y` has one element.
private func scalarOutput<Scalar>(_ y: Variable<Scalar>, _ op: String) -> Variable<Scalar> {
    guard y.value.count == 1 else {
        usageError(op, "the function's output has shape \(y.shape) (\(y.value.count) elements); it must have one element")
    }
    return y
}
