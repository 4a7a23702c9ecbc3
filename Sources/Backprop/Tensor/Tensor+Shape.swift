extension Tensor {
    /// The same elements with a new shape; one size may be `-1` and is then inferred.
    public func reshaped(to newShape: [Int]) -> Tensor {
        Tensor(unchecked: Tensor.resolve(newShape, count: count, from: shape), scalars: scalars)
    }

    /// Resolves one inferred `-1` size and checks the element count.
    static func resolve(_ newShape: [Int], count: Int, from shape: [Int]) -> [Int] {
        var resolved = newShape
        let inferred = newShape.indices.filter { newShape[$0] == -1 }
        guard inferred.count <= 1 else {
            usageError("reshape", "shape \(newShape) has more than one inferred (-1) size")
        }
        for size in newShape where size < -1 {
            usageError("reshape", "shape \(newShape) has a negative size \(size)")
        }
        // Checked: a product that overflows cannot equal the (representable) count.
        guard let known = TensorSize.product(newShape.filter { $0 != -1 }) else {
            usageError("reshape", "cannot reshape \(shape) (\(count) elements) to \(newShape): its element count \(newShape.reduce(1.0) { $0 * Double($1) }) overflows Int")
        }
        if let axis = inferred.first {
            guard known != 0, count % known == 0 else {
                usageError("reshape", "cannot infer the -1 size in \(newShape) for \(count) elements (input shape \(shape))")
            }
            resolved[axis] = count / known
        }
        guard known == count || inferred.first != nil else {
            usageError("reshape", "cannot reshape \(shape) (\(count) elements) to \(newShape) (\(known) elements)")
        }
        return resolved
    }

    /// Reorders the axes: result axis `i` is input axis `order[i]` (a permutation of `0..<rank`).
    public func permuted(_ order: [Int]) -> Tensor {
        Shape.permute(self, order: Tensor.validatePermutation(order, rank: rank))
    }

    static func validatePermutation(_ order: [Int], rank: Int) -> [Int] {
        let resolved = order.map { $0 < 0 ? $0 + rank : $0 }
        guard resolved.count == rank, resolved.sorted() == Array(0..<rank) else {
            usageError("permute", "order \(order) is not a permutation of the \(rank) axes")
        }
        return resolved
    }

    /// Swaps the last two axes (the matrix transpose; a rank-1 tensor is returned unchanged).
    public func transposed() -> Tensor {
        guard rank >= 2 else { return self }
        var order = Array(0..<rank)
        order.swapAt(rank - 1, rank - 2)
        return Shape.permute(self, order: order)
    }

    /// Swaps two axes.
    public func transposed(_ axis0: Int, _ axis1: Int) -> Tensor {
        let a = Tensor.normalize(axis: axis0, rank: rank, op: "transpose")
        let b = Tensor.normalize(axis: axis1, rank: rank, op: "transpose")
        var order = Array(0..<rank)
        order.swapAt(a, b)
        return Shape.permute(self, order: order)
    }

    /// Repeats size-1 axes (and prepends axes) to reach `target`, following NumPy broadcasting.
    public func expanded(to target: [Int]) -> Tensor {
        Shape.broadcast(self, to: target, op: "expand")
    }

    /// Removes the given size-1 axes, or every size-1 axis when `axes` is empty.
    public func squeezed(axes: [Int] = []) -> Tensor {
        let resolved = Tensor.normalize(axes: axes, rank: rank, op: "squeeze")
        for axis in resolved where shape[axis] != 1 {
            usageError("squeeze", "axis \(axis) of shape \(shape) has size \(shape[axis]), not 1")
        }
        let drop = resolved.isEmpty ? shape.indices.filter { shape[$0] == 1 } : resolved
        return Tensor(unchecked: Tensor.removing(drop, from: shape), scalars: scalars)
    }

    /// Inserts a size-1 axis at `axis` (in `0...rank`; negative counts from the end of the result).
    public func unsqueezed(at axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        guard a >= 0 && a <= rank else {
            usageError("unsqueeze", "axis \(axis) is out of range for inserting into shape \(shape)")
        }
        var newShape = shape
        newShape.insert(1, at: a)
        return Tensor(unchecked: newShape, scalars: scalars)
    }

    /// The elements whose index along `axis` lies in `range` (a view copied out).
    public func slice(alongAxis axis: Int, range: Range<Int>) -> Tensor {
        let a = Tensor.normalize(axis: axis, rank: rank, op: "slice")
        guard range.lowerBound >= 0 && range.upperBound <= shape[a] else {
            usageError("slice", "range \(range) is out of bounds for axis \(axis) of size \(shape[a]) (shape \(shape))")
        }
        let outer = shape[..<a].reduce(1, *)
        let inner = shape[(a + 1)...].reduce(1, *)
        let width = range.count
        var newShape = shape
        newShape[a] = width
        return Tensor(shape: newShape) { out in
            scalars.withUnsafeBufferPointer { s in
                for o in 0..<outer {
                    let src = s.baseAddress! + (o * shape[a] + range.lowerBound) * inner
                    let dst = out.baseAddress! + o * width * inner
                    dst.update(from: src, count: width * inner)
                }
            }
        }
    }

    /// Joins tensors along an existing axis; all other sizes must agree.
    public static func concatenate(_ tensors: [Tensor], alongAxis axis: Int) -> Tensor {
        guard let first = tensors.first else { usageError("concatenate", "needs at least one tensor") }
        let a = normalize(axis: axis, rank: first.rank, op: "concatenate")
        guard first.rank > 0 else { usageError("concatenate", "cannot concatenate rank-0 tensors; use stack") }
        for (i, t) in tensors.enumerated() {
            var expected = first.shape, got = t.shape
            guard got.count == expected.count else {
                usageError("concatenate", "tensor \(i) has shape \(t.shape) but tensor 0 has shape \(first.shape) (ranks must match)")
            }
            expected[a] = 0; got[a] = 0
            guard expected == got else {
                usageError("concatenate", "tensor \(i) has shape \(t.shape) but tensor 0 has shape \(first.shape) (all sizes except axis \(a) must match)")
            }
        }
        let outer = first.shape[..<a].reduce(1, *)
        let inner = first.shape[(a + 1)...].reduce(1, *)
        let total = tensors.reduce(0) { TensorSize.adding($0, $1.shape[a], op: "concatenate", "the total size of axis \(a) of \(tensors.count) tensors") }
        var newShape = first.shape
        newShape[a] = total
        return Tensor(shape: newShape, op: "concatenate") { out in
            var offset = 0
            for t in tensors {
                let width = t.shape[a] * inner
                t.scalars.withUnsafeBufferPointer { s in
                    for o in 0..<outer {
                        (out.baseAddress! + o * total * inner + offset).update(from: s.baseAddress! + o * width, count: width)
                    }
                }
                offset += width
            }
        }
    }

    /// Joins tensors of equal shape along a new axis.
    public static func stack(_ tensors: [Tensor], alongAxis axis: Int = 0) -> Tensor {
        guard let first = tensors.first else { usageError("stack", "needs at least one tensor") }
        for (i, t) in tensors.enumerated() where t.shape != first.shape {
            usageError("stack", "tensor \(i) has shape \(t.shape) but tensor 0 has shape \(first.shape) (all shapes must be equal)")
        }
        return concatenate(tensors.map { $0.unsqueezed(at: axis) }, alongAxis: axis < 0 ? axis : axis)
    }

    /// Splits along an axis into pieces of the given sizes (which must add up to the axis size).
    public func split(sizes: [Int], alongAxis axis: Int) -> [Tensor] {
        let a = Tensor.normalize(axis: axis, rank: rank, op: "split")
        if let negative = sizes.first(where: { $0 < 0 }) {
            usageError("split", "sizes \(sizes) include the negative size \(negative); sizes must be ≥ 0")
        }
        // Checked: sizes near Int.max would overflow an unchecked sum.
        guard TensorSize.sum(sizes) == shape[a] else {
            usageError("split", "sizes \(sizes) do not add up to the size \(shape[a]) of axis \(axis) (shape \(shape))")
        }
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return slice(alongAxis: a, range: start..<(start + size))
        }
    }

    /// Splits along an axis into `count` equal pieces.
    public func split(count: Int, alongAxis axis: Int) -> [Tensor] {
        let a = Tensor.normalize(axis: axis, rank: rank, op: "split")
        guard count > 0, shape[a] % count == 0 else {
            usageError("split", "axis \(axis) of size \(shape[a]) cannot be split into \(count) equal pieces")
        }
        return split(sizes: Array(repeating: shape[a] / count, count: count), alongAxis: a)
    }

    /// Selects entries along an axis by index (`index_select`): the result has `indices.count` entries on `axis`.
    public func gathering(_ indices: [Int], alongAxis axis: Int) -> Tensor {
        let a = Tensor.normalize(axis: axis, rank: rank, op: "gather")
        let size = shape[a]
        for (position, index) in indices.enumerated() where index < 0 || index >= size {
            usageError("gather", "index \(index) at position \(position) is out of range for axis \(axis) of size \(size) (shape \(shape))")
        }
        let outer = shape[..<a].reduce(1, *)
        let inner = shape[(a + 1)...].reduce(1, *)
        var newShape = shape
        newShape[a] = indices.count
        return Tensor(shape: newShape, op: "gather") { out in
            scalars.withUnsafeBufferPointer { s in
                for o in 0..<outer {
                    for (j, index) in indices.enumerated() {
                        (out.baseAddress! + (o * indices.count + j) * inner)
                            .update(from: s.baseAddress! + (o * size + index) * inner, count: inner)
                    }
                }
            }
        }
    }
}
