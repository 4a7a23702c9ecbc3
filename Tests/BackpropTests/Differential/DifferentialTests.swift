@testable import Backprop
import Testing

/// Every differentiable op and layer against PyTorch: the cases of `Fixtures/differential.bin`
/// (written once by `Fixtures/make_differential_fixture.py` with PyTorch 2.15, float64) are replayed
/// here, and Backprop's output and the gradients of `Σ u ⊙ y` with respect to every checked input must
/// agree with PyTorch's to `|a − b| ≤ 1e-12 · max(1, |b|)`, with NaN where PyTorch has NaN and the same
/// infinity where it has one. No PyTorch is needed to run it.
@Suite("Differential test against PyTorch")
struct DifferentialTests {
    /// `a` agrees with PyTorch's `b`: NaN for NaN, the same infinity, else within 1e-12 (relative above 1).
    static func agree(_ a: Double, _ b: Double) -> Bool {
        if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
        if a.isInfinite || b.isInfinite { return a == b }
        return Swift.abs(a - b) <= 1e-12 * Swift.max(1, Swift.abs(b))
    }

    /// The first disagreement between Backprop's tensor and PyTorch's, described, or `nil`.
    static func difference(_ actual: Tensor<Double>, _ expected: Tensor<Double>, _ what: String) -> String? {
        guard actual.shape == expected.shape else {
            return "\(what): shape \(actual.shape), PyTorch \(expected.shape)"
        }
        for (i, (a, b)) in zip(actual.scalars, expected.scalars).enumerated() where !agree(a, b) {
            return "\(what) at flat index \(i): \(a), PyTorch \(b)"
        }
        return nil
    }

    /// Runs one case and returns every disagreement with `expected` (PyTorch's numbers, or those of a
    /// documented deliberate difference).
    static func replay(_ testCase: DifferentialCase,
                       expected: (output: Tensor<Double>, gradients: [Tensor<Double>?])? = nil) -> [String] {
        let expected = expected ?? (testCase.output, testCase.gradients)
        guard let op = DifferentialOps.table[testCase.op] else { return ["no Backprop op for '\(testCase.op)'"] }
        let tape = Tape<Double>()
        let tensors = testCase.inputs.map(\.tensor)
        var variables: [Variable<Double>] = []
        let output: Variable<Double>
        switch op {
        case .function(let body):
            variables = testCase.inputs.map { $0.checked ? tape.variable($0.tensor) : tape.constant($0.tensor) }
            output = body(testCase.parameters, variables)
        case .layer(let build):
            let (parameters, call) = build(testCase.parameters, tensors)
            var data: [Variable<Double>] = []
            for (i, input) in testCase.inputs.enumerated() {
                if let parameter = parameters[i] {
                    parameter.requiresGradient = input.checked
                    variables.append(tape.variable(for: parameter))
                } else {
                    let variable = input.checked ? tape.variable(input.tensor) : tape.constant(input.tensor)
                    variables.append(variable)
                    data.append(variable)
                }
            }
            output = call(data)
        }
        var problems: [String] = []
        if let problem = difference(output.value, expected.output, "output") { problems.append(problem) }
        let checked = testCase.inputs.indices.filter { testCase.inputs[$0].checked }
        guard !checked.isEmpty, output.value.shape == testCase.upstream.shape else { return problems }
        let gradients = tape.gradients(of: output, withRespectTo: checked.map { variables[$0] }, seed: testCase.upstream, allowUnused: true)
        for (k, i) in checked.enumerated() {
            let gradient = expected.gradients[i] ?? Tensor(zerosLike: tensors[i])
            if let problem = difference(gradients[k], gradient, "gradient of input \(i)") { problems.append(problem) }
        }
        return problems
    }

    @Test func everyCaseAgreesWithPyTorch() {
        let cases = DifferentialFixture.cases
        #expect(cases.count >= 2000)
        var failures: [String] = []
        var failuresPerOp: [String: Int] = [:]
        var perFamily: [String: Int] = [:]
        var perDifference: [String: Int] = [:]
        for testCase in cases {
            perFamily[testCase.family, default: 0] += 1
            let difference = DeliberateDifference.all.first { $0.op == testCase.op && $0.applies(testCase) }
            if let difference { perDifference[difference.op, default: 0] += 1 }
            let problems = Self.replay(testCase, expected: difference?.expected(testCase))
            guard !problems.isEmpty else { continue }
            failuresPerOp[testCase.op, default: 0] += 1
            if failures.count < 60 { failures.append("\(testCase): \(problems.joined(separator: "; "))") }
        }
        #expect(failuresPerOp.isEmpty, "disagreements per op: \(failuresPerOp.sorted { $0.key < $1.key })\n\(failures.joined(separator: "\n"))")
        print("differential cases per family: \(perFamily.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); total \(cases.count)")
        print("cases showing a deliberate difference: \(perDifference.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
    }

    /// Every op of Backprop's differentiable API has cases, and every deliberate difference is shown by
    /// at least one case (so none is listed without being exercised).
    @Test func coverage() {
        let ops = Set(DifferentialFixture.cases.map(\.op))
        #expect(ops == Set(DifferentialOps.table.keys), "ops without cases: \(Set(DifferentialOps.table.keys).subtracting(ops).sorted())")
        for difference in DeliberateDifference.all {
            #expect(DifferentialFixture.cases.contains { $0.op == difference.op && difference.applies($0) },
                    "no case shows the documented difference of \(difference.op)")
        }
    }

    /// The documented differences are real: without them, PyTorch's numbers and Backprop's disagree.
    @Test func deliberateDifferencesAreDifferences() {
        for testCase in DifferentialFixture.cases {
            guard let difference = DeliberateDifference.all.first(where: { $0.op == testCase.op && $0.applies(testCase) }) else { continue }
            #expect(!Self.replay(testCase).isEmpty, "\(testCase) agrees with PyTorch although \(difference.op)'s difference applies")
        }
    }
}
