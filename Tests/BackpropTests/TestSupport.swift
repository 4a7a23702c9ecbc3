import Backprop
import Testing

/// Expects `actual` to have `expected`'s shape and every element within
/// `tolerance · max(1, |expected|)` of it; reports the first element that is not.
///
/// Written here rather than using `Tensor.isApproximatelyEqual`, so that the comparison used by
/// the tests does not depend on the code under test.
func expectClose(_ actual: Tensor<Double>, _ expected: Tensor<Double>, tolerance: Double = 1e-12,
                 _ comment: Comment? = nil, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    guard actual.shape == expected.shape else {
        Issue.record("shape \(actual.shape) differs from the expected \(expected.shape)\(comment.map { " (\($0))" } ?? "")",
                     sourceLocation: sourceLocation)
        return
    }
    for (i, (a, e)) in zip(actual.scalars, expected.scalars).enumerated() {
        let close = a == e || (a.isNaN && e.isNaN) || Swift.abs(a - e) <= tolerance * Swift.max(1, Swift.abs(e))
        if !close {
            Issue.record("element \(i): got \(a), expected \(e) (tolerance \(tolerance))\(comment.map { " (\($0))" } ?? "")",
                         sourceLocation: sourceLocation)
            return
        }
    }
}

/// `expectClose` for plain arrays of values (compared as a rank-1 tensor).
func expectClose(_ actual: [Double], _ expected: [Double], tolerance: Double = 1e-12,
                 _ comment: Comment? = nil, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    expectClose(Tensor(actual), Tensor(expected), tolerance: tolerance, comment, sourceLocation: sourceLocation)
}

/// Expects two numbers to agree to a relative tolerance.
func expectClose(_ actual: Double, _ expected: Double, relativeTolerance: Double,
                 sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    #expect(Swift.abs(actual - expected) <= relativeTolerance * Swift.abs(expected),
            "got \(actual), expected \(expected)", sourceLocation: sourceLocation)
}

/// Shorthand for a `Double` tensor of a shape and row-major values.
func tensor(_ shape: [Int], _ scalars: [Double]) -> Tensor<Double> {
    Tensor(shape: shape, scalars: scalars)
}

/// The standard error text captured by an exit test, as a string.
func standardError(of result: ExitTest.Result?) -> String {
    guard let result else { return "" }
    return String(decoding: result.standardErrorContent, as: UTF8.self)
}
