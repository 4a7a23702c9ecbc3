extension Tensor {
    /// `log Σ exp(x)` over the axes, computed as `m + log Σ exp(x − m)` with `m` the maximum so that
    /// large inputs do not overflow (an all −∞ slice gives −∞). Over an empty axis the sum is empty and
    /// the result is log 0 = −∞, as PyTorch's `logsumexp`.
    public func logSumExp(alongAxes axes: [Int], keepDims: Bool = false) -> Tensor {
        let resolved = Tensor.normalize(axes: axes, rank: rank, op: "logSumExp")
        // The kernel itself: `max(alongAxes:)` refuses empty axes, while an empty slice's maximum is −∞ here.
        let m = Reduction.reduce(self, axes: resolved, kind: .max)
        let shift = Tensor(unchecked: m.shape, scalars: m.scalars.map { $0.isFinite ? $0 : 0 })
        let result = (self - shift).exp().sum(alongAxes: resolved, keepDims: true).log() + shift
        return keepDims ? result : Tensor(unchecked: Tensor.removing(resolved, from: shape), scalars: result.scalars)
    }

    /// `exp(x − max)/Σ exp(x − max)` along an axis, in one fused kernel (per slice: the maximum,
    /// the exponentials and their sum in `Double`, then one scaling pass), parallel over slices.
    public func softmax(alongAxis axis: Int = -1) -> Tensor {
        let a = Tensor.normalize(axis: axis, rank: rank, op: "softmax")
        return SoftmaxKernels.forward(self, axis: a)
    }

    /// `(x − m) − log Σ exp(x − m)` along an axis, `m` the maximum, as PyTorch's `log_softmax`: a slice
    /// holding +∞ (or only −∞, or a NaN) gives NaN throughout, and an empty axis an empty result.
    public func logSoftmax(alongAxis axis: Int = -1) -> Tensor {
        let a = Tensor.normalize(axis: axis, rank: rank, op: "logSoftmax")
        let shifted = self - Reduction.reduce(self, axes: [a], kind: .max)
        return shifted - shifted.exp().sum(alongAxes: [a], keepDims: true).log()
    }
}

extension Variable {
    /// Softmax along an axis.
    ///
    /// Backward: ∂L/∂x = y ⊙ (g − Σ_axis g ⊙ y), the op `softmaxBackward(g, y)`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func softmax(alongAxis axis: Int = -1) -> Variable {
        let a = Tensor<Scalar>.normalize(axis: axis, rank: rank, op: "softmax")
        let y = value.softmax(alongAxis: a)
        return record("softmax", y) { g, tape in Variable.softmaxBackward(g, output: tape.output(y), axis: a) }
    }

    /// `y ⊙ (g − Σ_axis g ⊙ y)`, the backward of softmax, as an op of its own (one fused kernel).
    ///
    /// Backward, for an incoming w: ∂/∂g = y ⊙ (w − Σ w ⊙ y) (the same op);
    /// ∂/∂y = w ⊙ g − w·Σ(g ⊙ y) − g·Σ(w ⊙ y).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func softmaxBackward(_ g: Variable, output y: Variable, axis: Int) -> Variable {
        let (sg, sy) = (g.saved, y.saved)
        let value = SoftmaxKernels.backward(g.value, y: y.value, axis: axis)
        return record("softmaxBackward", g, y, value: value) { w, tape in
            let (g, y) = (tape[sg], tape[sy])
            return [tape.needs(0) ? softmaxBackward(w, output: y, axis: axis) : nil,
                    tape.needs(1) ? w * g - w * (g * y).sum(alongAxes: [axis], keepDims: true)
                        - g * (w * y).sum(alongAxes: [axis], keepDims: true) : nil]
        }
    }

    /// Log-softmax along an axis.
    ///
    /// Backward: ∂L/∂x = g − softmax(x) ⊙ Σ_axis g, with softmax(x) = exp(y).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func logSoftmax(alongAxis axis: Int = -1) -> Variable {
        let a = Tensor<Scalar>.normalize(axis: axis, rank: rank, op: "logSoftmax")
        let y = value.logSoftmax(alongAxis: a)
        return record("logSoftmax", y) { g, tape in g - tape.output(y).exp() * g.sum(alongAxes: [a], keepDims: true) }
    }

    /// `log Σ exp(x)` over the axes, stable for large inputs.
    ///
    /// Backward: ∂L/∂x = g ⊙ exp(x − y) (g and y broadcast over the reduced axes).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func logSumExp(alongAxes axes: [Int], keepDims: Bool = false) -> Variable {
        let resolved = Tensor<Scalar>.normalize(axes: axes, rank: rank, op: "logSumExp")
        let x = saved
        let kept = value.logSumExp(alongAxes: resolved, keepDims: true)
        let y = keepDims ? kept : Tensor(unchecked: Tensor<Scalar>.removing(resolved, from: x.shape), scalars: kept.scalars)
        return record("logSumExp", y) { g, tape in
            g.reshaped(to: kept.shape) * (tape[x] - tape.output(y).reshaped(to: kept.shape)).exp()
        }
    }
}

/// The fused softmax kernels. A tensor is viewed as `[outer, length, inner]` around the softmax axis;
/// each of the `outer·inner` slices is independent, so the work is split over fixed chunks of slices
/// and the results do not depend on the worker count.
enum SoftmaxKernels {
    /// `(outer, length, inner)` of `shape` around `axis`.
    static func view(_ shape: [Int], axis: Int) -> (outer: Int, length: Int, inner: Int) {
        (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    /// Runs `body(outerIndex, innerIndex)` for every slice, in parallel over fixed chunks of slices.
    @inline(__always)
    static func forEachSlice(outer: Int, length: Int, inner: Int, _ body: (Int, Int) -> Void) {
        let slices = outer * inner
        let grain = Swift.max(1, (1 << 14) / Swift.max(1, length))
        Parallelism.forEach(count: slices, grain: grain) { range in
            for slice in range { body(slice / inner, slice % inner) }
        }
    }

    /// `y = exp(x − m)·(1/Σ exp(x − m))` per slice, `m` its maximum (0 when it is −∞), so that a slice
    /// of only −∞, one holding +∞ (exp(∞ − ∞)) or one holding a NaN gives NaN throughout, as PyTorch.
    ///
    /// `Float` rows along the last axis take the vectorized exp of `VectorMath` over each chunk of
    /// rows at once (attention weights: 36-key rows spent their time in one libm `expf` call per
    /// element); other layouts and `Double` call `Scalar.exp` per element.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func forward<Scalar: TensorScalar>(_ x: Tensor<Scalar>, axis: Int) -> Tensor<Scalar> {
        let (outer, length, inner) = view(x.shape, axis: axis)
        guard x.count > 0 else { return x }
        if Scalar.self == Float.self && inner == 1 {
            return Tensor(shape: x.shape, initializingWith: { y in
                x.scalars.withUnsafeBufferPointer { xs in
                    xs.withMemoryRebound(to: Float.self) { xs in
                        let yb = UnsafeMutableRawPointer(y.baseAddress!).assumingMemoryBound(to: Float.self)
                        forwardRows(xs.baseAddress!, yb, rows: outer, length: length)
                    }
                }
            })
        }
        return Tensor(shape: x.shape, initializingWith: { y in
            x.scalars.withUnsafeBufferPointer { xs in
                let (xb, yb) = (xs.baseAddress!, y.baseAddress!)
                forEachSlice(outer: outer, length: length, inner: inner) { o, i in
                    let base = o * length * inner + i
                    var m = xb[base]
                    for j in 1..<length {
                        let v = xb[base + j * inner]
                        if v > m || v.isNaN { m = v }
                    }
                    if m == -.infinity { m = 0 }
                    var sum = 0.0
                    for j in 0..<length {
                        let e = Scalar.exp(xb[base + j * inner] - m)
                        (yb + base + j * inner).initialize(to: e)
                        sum += Double(e)
                    }
                    let scale = Scalar(1 / sum)
                    for j in 0..<length { yb[base + j * inner] *= scale }
                }
            }
        })
    }

    /// `forward` for `rows` contiguous `Float` rows of `length`: per chunk of rows, `x − m` into
    /// `y` row by row, one vectorized exp over the chunk, then each row's `Double` sum (four
    /// interleaved partial sums, added in a fixed order) and scale. The maximum is taken 8 lanes at a
    /// time; a NaN anywhere makes `m` NaN, so the row is NaN throughout, as on the scalar path.
    static func forwardRows(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, length: Int) {
        let grain = Swift.max(1, (1 << 14) / Swift.max(1, length))
        Parallelism.forEach(count: rows, grain: grain) { range in
            for row in range {
                let (xr, yr) = (x + row * length, y + row * length)
                let raw = UnsafeRawPointer(xr)
                var lanes = SIMD8<Float>(repeating: -.infinity)
                var nan = SIMDMask<SIMD8<Int32>>(repeating: false)
                var j = 0
                while j + 8 <= length {
                    let v = raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
                    lanes.replace(with: v, where: v .> lanes)
                    nan .|= v .!= v
                    j += 8
                }
                var m = lanes.max()
                var sawNaN = any(nan)
                while j < length {
                    if xr[j] > m { m = xr[j] }
                    if xr[j].isNaN { sawNaN = true }
                    j += 1
                }
                if sawNaN { m = .nan } else if m == -.infinity { m = 0 }
                for j in 0..<length { (yr + j).initialize(to: xr[j] - m) }
            }
            let chunk = y + range.lowerBound * length
            VectorMath.apply(.exp, chunk, chunk, range.count * length)
            for row in range {
                let yr = y + row * length
                var (s0, s1, s2, s3) = (0.0, 0.0, 0.0, 0.0)
                var j = 0
                while j + 4 <= length {
                    s0 += Double(yr[j]); s1 += Double(yr[j + 1]); s2 += Double(yr[j + 2]); s3 += Double(yr[j + 3])
                    j += 4
                }
                while j < length { s0 += Double(yr[j]); j += 1 }
                let scale = Float(1 / ((s0 + s1) + (s2 + s3)))
                for j in 0..<length { yr[j] *= scale }
            }
        }
    }

    /// `dx = y ⊙ (g − Σ g ⊙ y)` per slice, the sum in `Double`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func backward<Scalar: TensorScalar>(_ g: Tensor<Scalar>, y: Tensor<Scalar>, axis: Int) -> Tensor<Scalar> {
        let (outer, length, inner) = view(y.shape, axis: axis)
        guard y.count > 0 else { return y }
        return Tensor(shape: y.shape, initializingWith: { dx in
            g.scalars.withUnsafeBufferPointer { gs in
                y.scalars.withUnsafeBufferPointer { ys in
                    let (gb, yb, db) = (gs.baseAddress!, ys.baseAddress!, dx.baseAddress!)
                    forEachSlice(outer: outer, length: length, inner: inner) { o, i in
                        let base = o * length * inner + i
                        var dot = 0.0
                        for j in 0..<length { dot += Double(gb[base + j * inner]) * Double(yb[base + j * inner]) }
                        let d = Scalar(dot)
                        for j in 0..<length {
                            let k = base + j * inner
                            (db + k).initialize(to: yb[k] * (gb[k] - d))
                        }
                    }
                }
            }
        })
    }
}
