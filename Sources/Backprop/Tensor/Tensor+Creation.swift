extension Tensor {
    /// A tensor of the given shape filled with zeros.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public init(zeros shape: [Int]) {
        let count = Self.validate(shape: shape, op: "Tensor(zeros:)")
        self.init(unchecked: shape, scalars: [Scalar](repeating: 0, count: count))
    }

    /// A tensor of the given shape filled with ones.
    public init(ones shape: [Int]) {
        self.init(repeating: 1, shape: shape)
    }

    /// A tensor of the given shape with every element equal to `value`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public init(repeating value: Scalar, shape: [Int]) {
        let count = Self.validate(shape: shape, op: "Tensor(repeating:shape:)")
        self.init(unchecked: shape, scalars: [Scalar](repeating: value, count: count))
    }

    /// A tensor with the same shape as `other`, filled with zeros.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public init(zerosLike other: Tensor) {
        self.init(unchecked: other.shape, scalars: [Scalar](repeating: 0, count: other.count))
    }

    /// The values `start, start + step, …` below `end` (above it for a negative step), as a rank-1 tensor.
    ///
    /// The count is `⌈(end − start)/step⌉` (0 when that is negative), computed in `Double`, as PyTorch.
    ///
    /// - Parameters:
    ///   - start: The first value; finite.
    ///   - end: The bound, excluded; finite.
    ///   - step: The increment; finite and not zero.
    public static func arange(from start: Scalar = 0, to end: Scalar, step: Scalar = 1) -> Tensor {
        guard start.isFinite && end.isFinite else {
            usageError("arange", "start \(start) and end \(end) must be finite")
        }
        guard step != 0 else { usageError("arange", "step must not be zero") }
        guard step.isFinite else { usageError("arange", "step \(step) must be finite") }
        let exact = ((Double(end) - Double(start)) / Double(step)).rounded(.up)
        guard exact < Double(Int.max) else {
            usageError("arange", "from \(start) to \(end) in steps of \(step) makes \(exact) values, more than Int.max = \(Int.max)")
        }
        let n = Swift.max(0, Int(exact))
        validate(shape: [n], op: "arange")
        return Tensor([Scalar]((0..<n).map { start + Scalar($0) * step }))
    }

    /// `count` evenly spaced values from `start` through `end` inclusive, as a rank-1 tensor.
    public static func linspace(from start: Scalar, through end: Scalar, count: Int) -> Tensor {
        guard count >= 0 else { usageError("linspace", "count \(count) must be non-negative") }
        validate(shape: [count], op: "linspace")
        if count == 1 { return Tensor([start]) }
        let step = (end - start) / Scalar(Swift.max(count - 1, 1))
        return Tensor((0..<count).map { i in i == count - 1 ? end : start + Scalar(i) * step })
    }

    /// The `n × n` identity matrix.
    public static func identity(_ n: Int) -> Tensor {
        guard n >= 0 else { usageError("identity", "size \(n) must be non-negative") }
        validate(shape: [n, n], op: "identity")
        var result = Tensor(zeros: [n, n])
        for i in 0..<n { result.scalars[i * n + i] = 1 }
        return result
    }

    /// Uniform random values in `[lowerBound, upperBound)` drawn from a seeded generator.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static func randomUniform(shape: [Int], in range: Range<Scalar> = 0..<1, using generator: inout SeededGenerator) -> Tensor {
        validate(shape: shape, op: "randomUniform")
        guard !range.isEmpty, range.lowerBound.isFinite, range.upperBound.isFinite else {
            usageError("randomUniform", "range \(range) must be non-empty and finite")
        }
        let width = Double(range.upperBound - range.lowerBound)
        let low = Double(range.lowerBound)
        return Tensor(shape: shape, op: "randomUniform", initializingWith: { out in
            for i in out.indices { out.initializeElement(at: i, to: Scalar(low + width * generator.nextUnit())) }
        })
    }

    /// Normally distributed random values drawn from a seeded generator.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static func randomNormal(shape: [Int], mean: Scalar = 0, standardDeviation: Scalar = 1, using generator: inout SeededGenerator) -> Tensor {
        validate(shape: shape, op: "randomNormal")
        guard standardDeviation >= 0 && standardDeviation.isFinite && mean.isFinite else {
            usageError("randomNormal", "standardDeviation \(standardDeviation) must be finite and ≥ 0, and mean \(mean) finite")
        }
        let m = Double(mean), s = Double(standardDeviation)
        return Tensor(shape: shape, op: "randomNormal", initializingWith: { out in
            for i in out.indices { out.initializeElement(at: i, to: Scalar(m + s * generator.nextNormal())) }
        })
    }
}
