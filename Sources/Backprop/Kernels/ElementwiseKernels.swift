/// Elementwise operations of one operand, dispatched once per call so each loop is specialized.
@usableFromInline
enum UnaryKernel: Sendable {
    case negate, exp, log, sqrt, rsqrt, abs, square, tanh, sigmoid, relu, sign, reciprocal
    case sin, cos, erf, softplus
    case leakyRelu(Double), elu(Double), clamp(Double, Double)
    case addScalar(Double), multiplyScalar(Double), powScalar(Double), rsubScalar(Double)
    case geluExact, geluTanh, silu
}

/// Elementwise operations of two operands of equal shape or broadcast shapes.
@usableFromInline
enum BinaryKernel: Sendable {
    case add, subtract, multiply, divide, pow, maximum, minimum
    case greater, greaterEqual, less, lessEqual, equal, notEqual
}

enum Elementwise {
    /// Elements per parallel chunk: large enough that a chunk outweighs handing it to a thread
    /// (about 10 µs of streaming), small enough that both cores share mid-sized tensors.
    static let grain = 1 << 15

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func apply<Scalar: TensorScalar>(_ kernel: UnaryKernel, _ x: [Scalar]) -> [Scalar] {
        let n = x.count
        return [Scalar](unsafeUninitializedCapacity: n) { out, initialized in
            x.withUnsafeBufferPointer { src in
                guard n > 0 else { return }
                let s = src.baseAddress!, o = out.baseAddress!
                Parallelism.forEach(count: n, grain: grain) { range in
                    unary(kernel, s + range.lowerBound, o + range.lowerBound, range.count)
                }
            }
            initialized = n
        }
    }

    /// `target[i] += source[i]` for equal-length buffers, in place.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func addInPlace<Scalar: TensorScalar>(_ target: inout [Scalar], _ source: [Scalar]) {
        let n = target.count
        target.withUnsafeMutableBufferPointer { t in
            source.withUnsafeBufferPointer { s in
                guard n > 0 else { return }
                let tp = t.baseAddress!, sp = s.baseAddress!
                Parallelism.forEach(count: n, grain: grain) { r in
                    for i in r { tp[i] += sp[i] }
                }
            }
        }
    }

    /// `condition[i] != 0 ? a[i] : b[i]` for equal-length buffers.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func select<Scalar: TensorScalar>(_ condition: [Scalar], _ a: [Scalar], _ b: [Scalar]) -> [Scalar] {
        let n = condition.count
        return [Scalar](unsafeUninitializedCapacity: n) { out, initialized in
            condition.withUnsafeBufferPointer { c in
                a.withUnsafeBufferPointer { x in
                    b.withUnsafeBufferPointer { y in
                        guard n > 0 else { return }
                        let cp = c.baseAddress!, xp = x.baseAddress!, yp = y.baseAddress!, o = out.baseAddress!
                        Parallelism.forEach(count: n, grain: grain) { r in
                            for i in r { o[i] = cp[i] != 0 ? xp[i] : yp[i] }
                        }
                    }
                }
            }
            initialized = n
        }
    }

    /// `target[i] *= factor`, in place.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func scaleInPlace<Scalar: TensorScalar>(_ target: inout [Scalar], by factor: Scalar) {
        let n = target.count
        target.withUnsafeMutableBufferPointer { t in
            guard n > 0 else { return }
            let tp = t.baseAddress!
            Parallelism.forEach(count: n, grain: grain) { r in
                for i in r { tp[i] *= factor }
            }
        }
    }

    /// `y[i] = f(x[i])` for equal-length buffers, in parallel over fixed chunks: the loop of an
    /// elementwise function written beside its op (an activation's derivative). For `Float`, a
    /// `vectorized` function of `bp_vmath_f32` replaces `f`.
    @inline(__always)
    static func map<Scalar: TensorScalar>(_ x: Tensor<Scalar>, vectorized: VectorMath.Function? = nil,
                                          _ f: (Scalar) -> Scalar) -> Tensor<Scalar> {
        Tensor(shape: x.shape) { out in
            x.scalars.withUnsafeBufferPointer { src in
                guard let s = src.baseAddress, let o = out.baseAddress else { return }
                Parallelism.forEach(count: src.count, grain: grain) { range in
                    if Scalar.self == Float.self, let vectorized {
                        (s + range.lowerBound).withMemoryRebound(to: Float.self, capacity: range.count) { x in
                            (o + range.lowerBound).withMemoryRebound(to: Float.self, capacity: range.count) { y in
                                VectorMath.apply(vectorized, x, y, range.count)
                            }
                        }
                        return
                    }
                    for i in range { (o + i).initialize(to: f(s[i])) }
                }
            }
        }
    }

    /// `g[i]·f(x[i])` for equal-shaped tensors in one pass, in parallel over fixed chunks: a
    /// backward that multiplies the upstream gradient by an elementwise derivative without
    /// materializing the derivative. For `Float`, a `vectorized` function of `bp_vmath_f32` runs with
    /// the multiply in one C pass (`bp_vmath_f32_times`): f(x) rounded to `Float`, then `g·f(x)`
    /// rounded once more, exactly as `g * map(x, f)` would give.
    @inline(__always)
    static func multiplying<Scalar: TensorScalar>(_ g: Tensor<Scalar>, byMapOf x: Tensor<Scalar>,
                                                  vectorized: VectorMath.Function? = nil,
                                                  _ f: (Scalar) -> Scalar) -> Tensor<Scalar> {
        precondition(g.shape == x.shape, "multiplying(_:byMapOf:): shapes \(g.shape) and \(x.shape) differ")
        return Tensor(shape: x.shape) { out in
            x.scalars.withUnsafeBufferPointer { src in
                g.scalars.withUnsafeBufferPointer { upstream in
                    guard let s = src.baseAddress, let u = upstream.baseAddress, let o = out.baseAddress else { return }
                    Parallelism.forEach(count: src.count, grain: grain) { range in
                        if Scalar.self == Float.self, let vectorized {
                            // f(x) rounded to Float, then times g, in one C pass: the same two roundings.
                            let count = range.count
                            (s + range.lowerBound).withMemoryRebound(to: Float.self, capacity: count) { x in
                                (u + range.lowerBound).withMemoryRebound(to: Float.self, capacity: count) { g in
                                    (o + range.lowerBound).withMemoryRebound(to: Float.self, capacity: count) { y in
                                        VectorMath.apply(vectorized, x, timing: g, y, count)
                                    }
                                }
                            }
                            return
                        }
                        for i in range { (o + i).initialize(to: u[i] * f(s[i])) }
                    }
                }
            }
        }
    }

    /// Applies a unary kernel to `n` contiguous elements; each case is its own tight loop.
    ///
    /// For `Float`, `exp`, `tanh`, exact GELU and its derivative run vectorized in C
    /// (`bp_vmath_f32`: AVX-512, AVX2 or portable, bit-identical; at most 0.98, 1.33, 6.3 and 5.4 ulp from
    /// the correctly rounded values, the derivative's in ulps of its larger term, see
    /// `VectorMathTests`); other cases and `Double` use the C
    /// library per element.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func unary<Scalar: TensorScalar>(_ kernel: UnaryKernel, _ s: UnsafePointer<Scalar>,
                                            _ o: UnsafeMutablePointer<Scalar>, _ n: Int) {
        if Scalar.self == Float.self, let function = VectorMath.function(for: kernel) {
            s.withMemoryRebound(to: Float.self, capacity: n) { x in
                o.withMemoryRebound(to: Float.self, capacity: n) { y in VectorMath.apply(function, x, y, n) }
            }
            return
        }
        switch kernel {
        case .negate: for i in 0..<n { o[i] = -s[i] }
        case .exp: for i in 0..<n { o[i] = Scalar.exp(s[i]) }
        case .log: for i in 0..<n { o[i] = Scalar.log(s[i]) }
        case .sqrt: for i in 0..<n { o[i] = s[i].squareRoot() }
        case .rsqrt: for i in 0..<n { o[i] = 1 / s[i].squareRoot() }
        case .abs: for i in 0..<n { o[i] = Swift.abs(s[i]) }
        case .square: for i in 0..<n { o[i] = s[i] * s[i] }
        case .tanh: for i in 0..<n { o[i] = Scalar.tanh(s[i]) }
        case .sigmoid:
            for i in 0..<n { o[i] = stableSigmoid(s[i]) }
        // max(x, 0) with NaN propagated (and −0 kept), as PyTorch's clamp_min.
        case .relu: for i in 0..<n { o[i] = s[i] < 0 ? 0 : s[i] }
        case .sign: for i in 0..<n { o[i] = s[i] > 0 ? 1 : (s[i] < 0 ? -1 : 0) }
        case .reciprocal: for i in 0..<n { o[i] = 1 / s[i] }
        case .sin: for i in 0..<n { o[i] = Scalar.sin(s[i]) }
        case .cos: for i in 0..<n { o[i] = Scalar.cos(s[i]) }
        case .erf: for i in 0..<n { o[i] = Scalar.erf(s[i]) }
        case .softplus:
            // log(1 + eˣ) = max(x, 0) + log1p(e^(−|x|)), finite for any x.
            for i in 0..<n { o[i] = Swift.max(s[i], 0) + Scalar.log1p(Scalar.exp(-Swift.abs(s[i]))) }
        case .leakyRelu(let slope):
            let a = Scalar(slope)
            for i in 0..<n { o[i] = s[i] > 0 ? s[i] : a * s[i] }
        case .elu(let alpha):
            let a = Scalar(alpha)
            for i in 0..<n { o[i] = s[i] > 0 ? s[i] : a * Scalar.expm1(s[i]) }
        case .clamp(let low, let high):
            let lo = Scalar(low), hi = Scalar(high)
            for i in 0..<n { o[i] = Swift.min(Swift.max(s[i], lo), hi) }
        case .addScalar(let c):
            let c = Scalar(c)
            for i in 0..<n { o[i] = s[i] + c }
        case .multiplyScalar(let c):
            let c = Scalar(c)
            for i in 0..<n { o[i] = s[i] * c }
        case .rsubScalar(let c):
            let c = Scalar(c)
            for i in 0..<n { o[i] = c - s[i] }
        case .powScalar(let p):
            // PyTorch's special exponents (pow_tensor_scalar_optimized_kernel), so results agree to the
            // bit, including the sign of ∞ at x = −0 (rsqrt(−0) = −∞ where pow(−0, −0.5) = +∞).
            let e = Scalar(p)
            switch p {
            case 2: for i in 0..<n { o[i] = s[i] * s[i] }
            case 1: for i in 0..<n { o[i] = s[i] }
            case 3: for i in 0..<n { o[i] = s[i] * s[i] * s[i] }
            case 0.5: for i in 0..<n { o[i] = s[i].squareRoot() }
            case -0.5: for i in 0..<n { o[i] = 1 / s[i].squareRoot() }
            case -1: for i in 0..<n { o[i] = 1 / s[i] }
            case -2: for i in 0..<n { o[i] = 1 / (s[i] * s[i]) }
            default: for i in 0..<n { o[i] = Scalar.pow(s[i], e) }
            }
        case .geluExact:
            let r: Scalar = 1 / Scalar(2).squareRoot()
            for i in 0..<n { o[i] = 0.5 * s[i] * (1 + Scalar.erf(s[i] * r)) }
        case .geluTanh:
            let c = Scalar((2 / Double.pi).squareRoot())
            for i in 0..<n {
                let x = s[i]
                o[i] = 0.5 * x * (1 + Scalar.tanh(c * (x + 0.044715 * x * x * x)))
            }
        case .silu: for i in 0..<n { o[i] = s[i] * stableSigmoid(s[i]) }
        }
    }

    @inline(__always)
    static func stableSigmoid<Scalar: TensorScalar>(_ x: Scalar) -> Scalar {
        if x >= 0 {
            return 1 / (1 + Scalar.exp(-x))
        }
        let e = Scalar.exp(x)
        return e / (1 + e)
    }

    @inline(__always)
    static func binary<Scalar: TensorScalar>(_ kernel: BinaryKernel, _ a: Scalar, _ b: Scalar) -> Scalar {
        switch kernel {
        case .add: return a + b
        case .subtract: return a - b
        case .multiply: return a * b
        case .divide: return a / b
        case .pow: return Scalar.pow(a, b)
        case .maximum: return a.isNaN || b.isNaN ? .nan : Swift.max(a, b)
        case .minimum: return a.isNaN || b.isNaN ? .nan : Swift.min(a, b)
        case .greater: return a > b ? 1 : 0
        case .greaterEqual: return a >= b ? 1 : 0
        case .less: return a < b ? 1 : 0
        case .lessEqual: return a <= b ? 1 : 0
        case .equal: return a == b ? 1 : 0
        case .notEqual: return a != b ? 1 : 0
        }
    }

    /// Applies `kernel` to contiguous operands with given strides (0 for a broadcast scalar).
    @inline(__always)
    static func loop<Scalar: TensorScalar>(
        _ kernel: BinaryKernel, _ a: UnsafePointer<Scalar>, _ sa: Int, _ b: UnsafePointer<Scalar>, _ sb: Int,
        _ o: UnsafeMutablePointer<Scalar>, _ n: Int
    ) {
        // Contiguous and scalar-broadcast operands get their own loops so they vectorize.
        switch kernel {
        case .add:
            if sa == 1 && sb == 1 { for i in 0..<n { o[i] = a[i] + b[i] } }
            else if sa == 1 && sb == 0 { let c = b[0]; for i in 0..<n { o[i] = a[i] + c } }
            else if sa == 0 && sb == 1 { let c = a[0]; for i in 0..<n { o[i] = c + b[i] } }
            else { for i in 0..<n { o[i] = a[i * sa] + b[i * sb] } }
        case .subtract:
            if sa == 1 && sb == 1 { for i in 0..<n { o[i] = a[i] - b[i] } }
            else if sa == 1 && sb == 0 { let c = b[0]; for i in 0..<n { o[i] = a[i] - c } }
            else if sa == 0 && sb == 1 { let c = a[0]; for i in 0..<n { o[i] = c - b[i] } }
            else { for i in 0..<n { o[i] = a[i * sa] - b[i * sb] } }
        case .multiply:
            if sa == 1 && sb == 1 { for i in 0..<n { o[i] = a[i] * b[i] } }
            else if sa == 1 && sb == 0 { let c = b[0]; for i in 0..<n { o[i] = a[i] * c } }
            else if sa == 0 && sb == 1 { let c = a[0]; for i in 0..<n { o[i] = c * b[i] } }
            else { for i in 0..<n { o[i] = a[i * sa] * b[i * sb] } }
        case .divide:
            if sa == 1 && sb == 1 { for i in 0..<n { o[i] = a[i] / b[i] } }
            else if sa == 1 && sb == 0 { let c = b[0]; for i in 0..<n { o[i] = a[i] / c } }
            else if sa == 0 && sb == 1 { let c = a[0]; for i in 0..<n { o[i] = c / b[i] } }
            else { for i in 0..<n { o[i] = a[i * sa] / b[i * sb] } }
        default:
            for i in 0..<n { o[i] = binary(kernel, a[i * sa], b[i * sb]) }
        }
    }

    /// Applies a binary kernel with NumPy broadcasting; `op` names the caller in error messages.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func apply<Scalar: TensorScalar>(_ kernel: BinaryKernel, _ a: Tensor<Scalar>, _ b: Tensor<Scalar>, op: String) -> Tensor<Scalar> {
        let outShape = broadcastShape(a.shape, b.shape, op: op)
        let n = TensorSize.elementCount(of: outShape, scalar: Scalar.self, op: op)
        let scalars = [Scalar](unsafeUninitializedCapacity: n) { out, initialized in
            a.scalars.withUnsafeBufferPointer { ab in
                b.scalars.withUnsafeBufferPointer { bb in
                    guard n > 0 else { return }
                    let o = out.baseAddress!
                    let pa = ab.baseAddress!, pb = bb.baseAddress!
                    if a.shape == b.shape || a.count == 1 || b.count == 1 {
                        let sa = a.count == 1 && n > 1 ? 0 : 1, sb = b.count == 1 && n > 1 ? 0 : 1
                        Parallelism.forEach(count: n, grain: grain) { r in
                            loop(kernel, pa + r.lowerBound * sa, sa, pb + r.lowerBound * sb, sb, o + r.lowerBound, r.count)
                        }
                    } else {
                        let rank = outShape.count
                        let sa = broadcastStrides(a.shape, to: outShape)
                        let sb = broadcastStrides(b.shape, to: outShape)
                        let inner = outShape[rank - 1]
                        let outer = n / inner
                        Parallelism.forEach(count: outer, grain: Swift.max(1, grain / Swift.max(inner, 1))) { rows in
                            // The multi-index of the chunk's first row, then advanced row by row.
                            var index = [Int](repeating: 0, count: rank)
                            var offA = 0, offB = 0
                            var rest = rows.lowerBound
                            for axis in stride(from: rank - 2, through: 0, by: -1) {
                                index[axis] = rest % outShape[axis]
                                rest /= outShape[axis]
                                offA += index[axis] * sa[axis]
                                offB += index[axis] * sb[axis]
                            }
                            for row in rows {
                                loop(kernel, pa + offA, sa[rank - 1], pb + offB, sb[rank - 1], o + row * inner, inner)
                                // advance the multi-index over the outer axes
                                var axis = rank - 2
                                while axis >= 0 {
                                    index[axis] += 1
                                    offA += sa[axis]
                                    offB += sb[axis]
                                    if index[axis] < outShape[axis] { break }
                                    offA -= sa[axis] * outShape[axis]
                                    offB -= sb[axis] * outShape[axis]
                                    index[axis] = 0
                                    axis -= 1
                                }
                            }
                        }
                    }
                }
            }
            initialized = n
        }
        return Tensor(unchecked: outShape, scalars: scalars)
    }
}

/// The NumPy broadcast of two shapes: right-aligned, each pair of sizes equal or one of them 1.
func broadcastShape(_ a: [Int], _ b: [Int], op: String) -> [Int] {
    if a == b { return a }
    let rank = max(a.count, b.count)
    var result = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        if da == db || db == 1 {
            result[i] = da
        } else if da == 1 {
            result[i] = db
        } else {
            usageError(op, "shapes \(a) and \(b) cannot be broadcast: axis \(i - rank) has sizes \(da) and \(db) (sizes must be equal or one of them 1)")
        }
    }
    if TensorSize.product(result) == nil {
        usageError(op, "shapes \(a) and \(b) broadcast to \(result), whose element count \(result.reduce(1.0) { $0 * Double($1) }) overflows Int")
    }
    return result
}

/// Strides that read a tensor of `shape` as if broadcast to `target` (0 on broadcast axes).
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let own = Tensor<Double>.strides(of: shape)
    let offset = target.count - shape.count
    return (0..<target.count).map { i in
        i < offset ? 0 : (shape[i - offset] == 1 && target[i] != 1 ? 0 : own[i - offset])
    }
}
