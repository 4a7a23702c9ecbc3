import Testing
import Backprop
import GradCheckCatalog

/// Every op, layer and loss in the catalog frees its tape once the variables are gone: a pullback
/// that captured a `Variable` (which holds its tape) would form a reference cycle and leak the tape
/// with everything it saved.
@Suite("Tape release")
struct TapeReleaseTests {
    @Test("Every catalog case frees its tape, at every order", arguments: Catalog.all.map(\.name))
    func catalogCaseFreesItsTape(name: String) throws {
        let testCase = try #require(Catalog.all.first { $0.name == name })
        weak var weakTape: Tape<Double>?
        do {
            let tape = Tape<Double>()
            weakTape = tape
            let inputs = testCase.inputs.map { tape.variable($0) }
            let output = testCase.function(inputs)
            if output.requiresGradient {
                _ = tape.gradients(of: output, withRespectTo: inputs, seed: Tensor(ones: output.shape), retainGraph: true, allowUnused: true)
                // Second and third order: the recorded backward rules must not capture the tape either.
                let first = tape.gradients(of: output, withRespectTo: inputs, seed: Variable(Tensor(ones: output.shape)), createGraph: true, allowUnused: true)
                var firstSum: Variable<Double>?
                for gradient in first where gradient.requiresGradient {
                    firstSum = firstSum.map { $0 + gradient.sum() } ?? gradient.sum()
                }
                if let firstSum {
                    let second = tape.gradients(of: firstSum, withRespectTo: inputs, createGraph: true, allowUnused: true)
                    if let secondSum = second.first(where: \.requiresGradient)?.sum() {
                        _ = tape.gradients(of: secondSum, withRespectTo: inputs, allowUnused: true)
                    }
                }
            }
        }
        #expect(weakTape == nil, "the tape of \(name) is still alive: a backward rule captures a Variable or the tape")
    }
}
