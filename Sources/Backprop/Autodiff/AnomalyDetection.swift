/// An opt-in mode in which every operation checks its output, and every backward rule the gradients
/// it returns, for NaN and infinity, and stops with a report naming the operation and its position
/// on the tape. Off by default; when off it costs one flag test per operation.
public enum AnomalyDetection {
    @TaskLocal static var enabled = false
    @TaskLocal static var location: SourceLocation?

    /// Whether detection is on for the current task or thread.
    public static var isEnabled: Bool { enabled }

    static var currentLocation: SourceLocation? { enabled ? location : nil }

    static func firstNonFinite<Scalar: TensorScalar>(_ t: Tensor<Scalar>) -> Int? {
        t.scalars.firstIndex { !$0.isFinite }
    }

    static func checkForward<Scalar: TensorScalar>(_ op: String, value: Tensor<Scalar>, node: Int, location: SourceLocation?) {
        guard let bad = firstNonFinite(value) else { return }
        let site = location.map { " (called at \($0))" } ?? ""
        fatalError("anomaly detected: \(op) (tape record \(node))\(site) produced \(value.scalars[bad]) at flat index \(bad) of its output of shape \(value.shape)")
    }

    static func checkBackward<Scalar: TensorScalar>(_ op: String, gradient: Tensor<Scalar>, input: Int, node: Int, location: SourceLocation?) {
        guard let bad = firstNonFinite(gradient) else { return }
        let site = location.map { " (called at \($0))" } ?? ""
        fatalError("anomaly detected: backward of \(op) (tape record \(node))\(site) produced \(gradient.scalars[bad]) at flat index \(bad) of the gradient for input \(input), of shape \(gradient.shape)")
    }
}

/// Runs `body` with anomaly detection on: the first NaN or infinity produced by any operation or
/// backward rule stops the program with a report naming the operation, its tape record and the call
/// site passed here.
public func withAnomalyDetection<Result>(file: String = #fileID, line: Int = #line, _ body: () throws -> Result) rethrows -> Result {
    try AnomalyDetection.$enabled.withValue(true) {
        try AnomalyDetection.$location.withValue(SourceLocation(file: file, line: line)) { try body() }
    }
}
