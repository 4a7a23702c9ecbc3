/// An n-dimensional array of `Float` or `Double` values in contiguous row-major order.
///
/// `Tensor` is a value type: copies share storage until one of them is mutated (copy-on-write,
/// inherited from the `Array` that holds the scalars). A rank-0 tensor holds one scalar and has
/// shape `[]`.
///
/// ```swift
/// let a = Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
/// let b = a + 1            // broadcasting with a scalar
/// let s = a.sum(alongAxes: [1], keepDims: true)   // shape [2, 1]
/// ```
public struct Tensor<Scalar: TensorScalar>: Sendable {
    /// The size of each axis, outermost first.
    public private(set) var shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.reduce(1, *)`.
    public internal(set) var scalars: [Scalar]

    /// Creates a tensor with the given shape and row-major scalars.
    ///
    /// - Parameters:
    ///   - shape: The size of each axis; every size must be non-negative.
    ///   - scalars: The elements in row-major order; their count must equal the product of `shape`.
    public init(shape: [Int], scalars: [Scalar]) {
        let count = TensorSize.elementCount(of: shape, scalar: Scalar.self, op: "Tensor.init(shape:scalars:)")
        guard scalars.count == count else {
            usageError("Tensor.init(shape:scalars:)",
                       "shape \(shape) holds \(count) elements but \(scalars.count) scalars were given")
        }
        self.shape = shape
        self.scalars = scalars
    }

    /// Creates a tensor without checking that `scalars` fits `shape` (the caller guarantees it).
    @usableFromInline
    init(unchecked shape: [Int], scalars: [Scalar]) {
        self.shape = shape
        self.scalars = scalars
    }

    /// Creates a rank-0 tensor holding one scalar.
    public init(_ scalar: Scalar) {
        self.init(unchecked: [], scalars: [scalar])
    }

    /// Creates a rank-1 tensor from an array.
    public init(_ scalars: [Scalar]) {
        self.init(unchecked: [scalars.count], scalars: scalars)
    }

    /// Creates a rank-2 tensor from rows of equal length.
    public init(_ rows: [[Scalar]]) {
        let columns = rows.first?.count ?? 0
        for (i, row) in rows.enumerated() where row.count != columns {
            usageError("Tensor.init(rows)", "row \(i) has \(row.count) elements but row 0 has \(columns)")
        }
        self.init(unchecked: [rows.count, columns], scalars: rows.flatMap { $0 })
    }

    /// Creates a tensor of the given shape by filling uninitialized storage.
    ///
    /// `body` must initialize every one of the `shape.reduce(1, *)` elements. The element count is
    /// checked (`TensorSize`); `op` names the operation in the message.
    init(shape: [Int], op: String = "Tensor", initializingWith body: (UnsafeMutableBufferPointer<Scalar>) -> Void) {
        let count = TensorSize.elementCount(of: shape, scalar: Scalar.self, op: op)
        let scalars = [Scalar](unsafeUninitializedCapacity: count) { buffer, initialized in
            body(buffer)
            initialized = count
        }
        self.init(unchecked: shape, scalars: scalars)
    }

    /// The number of axes.
    public var rank: Int { shape.count }

    /// The number of elements.
    public var count: Int { scalars.count }

    /// Whether the tensor holds exactly one element (any rank with all sizes 1).
    public var isScalar: Bool { scalars.count == 1 }

    /// The single element of a one-element tensor.
    public var scalar: Scalar {
        guard scalars.count == 1 else {
            usageError("Tensor.scalar", "tensor of shape \(shape) has \(scalars.count) elements, not 1")
        }
        return scalars[0]
    }

    /// Row-major strides of `shape`, in elements.
    public var strides: [Int] { Self.strides(of: shape) }

    /// Row-major strides of a shape, in elements.
    static func strides(of shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            // Wrapping: the product of all sizes fits `Int` (the element count is checked where a
            // tensor is created), except for an empty tensor, whose strides address nothing.
            running &*= shape[axis]
        }
        return strides
    }

    /// Reads or writes the element at a multi-dimensional index.
    public subscript(index: Int...) -> Scalar {
        get { scalars[flatIndex(index)] }
        set { scalars[flatIndex(index)] = newValue }
    }

    /// The row-major offset of a multi-dimensional index (negative indices count from the end).
    func flatIndex(_ index: [Int]) -> Int {
        guard index.count == rank else {
            usageError("Tensor.subscript", "index \(index) has \(index.count) components for a tensor of rank \(rank) (shape \(shape))")
        }
        var offset = 0
        for axis in 0..<rank {
            var i = index[axis]
            if i < 0 { i += shape[axis] }
            guard i >= 0 && i < shape[axis] else {
                usageError("Tensor.subscript", "index \(index[axis]) is out of range for axis \(axis) of size \(shape[axis]) (shape \(shape))")
            }
            offset = offset * shape[axis] + i
        }
        return offset
    }

    /// Checks that every size in a shape is non-negative and that the element count and its bytes fit
    /// (`TensorSize.elementCount`), returning the count.
    @discardableResult
    static func validate(shape: [Int], op: String) -> Int {
        TensorSize.elementCount(of: shape, scalar: Scalar.self, op: op)
    }

    /// Resolves a possibly negative axis against `rank`, failing with a clear message when out of range.
    static func normalize(axis: Int, rank: Int, op: String) -> Int {
        let resolved = axis < 0 ? axis + rank : axis
        guard resolved >= 0 && resolved < Swift.max(rank, 1) && (rank > 0 || axis == 0 || axis == -1) else {
            usageError(op, "axis \(axis) is out of range for a tensor of rank \(rank)")
        }
        return rank == 0 ? 0 : resolved
    }

    /// Resolves a set of possibly negative axes, rejecting duplicates.
    static func normalize(axes: [Int], rank: Int, op: String) -> [Int] {
        var seen = Set<Int>()
        var resolved: [Int] = []
        for axis in axes {
            let a = axis < 0 ? axis + rank : axis
            guard a >= 0 && a < rank else {
                usageError(op, "axis \(axis) is out of range for a tensor of rank \(rank)")
            }
            guard seen.insert(a).inserted else {
                usageError(op, "axis \(axis) appears more than once in \(axes)")
            }
            resolved.append(a)
        }
        return resolved.sorted()
    }
}

extension Tensor: Equatable {
    /// Two tensors are equal when their shapes and all their elements are equal.
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.shape == rhs.shape && lhs.scalars == rhs.scalars
    }
}

extension Tensor {
    /// Whether two tensors have the same shape and every pair of elements satisfies
    /// `|a − b| ≤ absoluteTolerance + relativeTolerance · |b|` (NaNs compare equal to NaNs).
    ///
    /// - Parameters:
    ///   - other: The expected tensor.
    ///   - absoluteTolerance: The absolute error allowed for every element.
    ///   - relativeTolerance: The error allowed in proportion to `|other|`.
    /// - Returns: `true` when the shapes match and all elements are close.
    public func isApproximatelyEqual(to other: Tensor, absoluteTolerance: Scalar = 1e-6, relativeTolerance: Scalar = 1e-5) -> Bool {
        guard shape == other.shape else { return false }
        for (a, b) in zip(scalars, other.scalars) {
            if a.isNaN && b.isNaN { continue }
            if a == b { continue }
            if !(Swift.abs(a - b) <= absoluteTolerance + relativeTolerance * Swift.abs(b)) { return false }
        }
        return true
    }

    /// The largest elementwise absolute difference to a tensor of the same shape.
    public func maxAbsoluteDifference(to other: Tensor) -> Scalar {
        guard shape == other.shape else {
            usageError("maxAbsoluteDifference", "shapes \(shape) and \(other.shape) differ")
        }
        var worst: Scalar = 0
        for (a, b) in zip(scalars, other.scalars) {
            let d = Swift.abs(a - b)
            if d > worst || d.isNaN { worst = d }
        }
        return worst
    }

    /// Converts the elements to another scalar type.
    public func converted<Other: TensorScalar>(to type: Other.Type = Other.self) -> Tensor<Other> {
        Tensor<Other>(unchecked: shape, scalars: scalars.map { Other($0) })
    }
}
