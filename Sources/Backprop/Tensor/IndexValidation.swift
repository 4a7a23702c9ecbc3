/// Indices validated as indices: whole, finite, in range, with the op and the offending position in
/// the message.
///
/// Ids that arrive as tensor values (an `Embedding` called on a `Variable`) are floating-point numbers;
/// converting them with `Int(_:)` would truncate 1.7 to row 1 and −0.5 to row 0 (both silently wrong)
/// and trap without a message on NaN or ±∞. PyTorch refuses floating-point indices outright; Backprop
/// accepts values that are exactly whole numbers (as ids stored in a `Tensor<Float>` are) and stops on
/// anything else.
enum IndexValidation {
    /// The ids held as values of `values`, each checked to be finite, whole and in `0..<size`.
    ///
    /// - Parameters:
    ///   - values: The ids, row-major.
    ///   - size: The number of rows they index.
    ///   - name: What an id is called in the message (`"id"`).
    ///   - op: The op, for the message.
    static func integers<Scalar: TensorScalar>(_ values: Tensor<Scalar>, size: Int, name: String, op: String) -> [Int] {
        var result = [Int]()
        result.reserveCapacity(values.count)
        for (position, value) in values.scalars.enumerated() {
            guard value.isFinite else {
                usageError(op, "\(name) \(value) at position \(position) is not finite; \(name)s must be whole numbers in 0..<\(size)")
            }
            guard value.rounded(.towardZero) == value else {
                usageError(op, "\(name) \(value) at position \(position) is not a whole number; \(name)s must be whole numbers in 0..<\(size) (they are not rounded)")
            }
            guard value >= 0 && Double(value) < Double(size) else {
                usageError(op, "\(name) \(value) at position \(position) is outside 0..<\(size)")
            }
            result.append(Int(value))
        }
        return result
    }

    /// Stops unless every index is in `0..<size`, naming the first one that is not and its position.
    static func checkRange(_ indices: [Int], size: Int, name: String, op: String) {
        for (position, index) in indices.enumerated() where index < 0 || index >= size {
            usageError(op, "\(name) \(index) at position \(position) is outside 0..<\(size)")
        }
    }
}
