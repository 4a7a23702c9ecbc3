/// A description of misuse: the operation, the values involved and the rule that was broken.
///
/// Operations on tensors and variables stop the program with this message (as Swift's own
/// array subscript does), because a wrong shape is a programming error, never a recoverable
/// condition; it is never thrown. Loading files, which depends on data, throws typed errors instead
/// (`SafeTensorsError`, `CheckpointError`).
package struct BackpropError: CustomStringConvertible, Sendable {
    /// The operation that rejected its input, for example `"matmul"`.
    package var operation: String
    /// What was wrong, naming the values and the rule.
    package var message: String

    /// Creates an error for an operation.
    package init(operation: String, message: String) {
        self.operation = operation
        self.message = message
    }

    /// `"operation: message"`.
    package var description: String { "\(operation): \(message)" }
}

/// Stops the program for a misuse of the API — a shape that does not broadcast, an axis out of range,
/// a setting out of its domain, backward through a released tape — with a message naming the
/// operation, the values and the broken rule (as Swift's own array subscript stops for an index out
/// of range: a programming error, not a recoverable condition).
@usableFromInline
func usageError(_ operation: String, _ message: String) -> Never {
    fatalError(BackpropError(operation: operation, message: message).description)
}
