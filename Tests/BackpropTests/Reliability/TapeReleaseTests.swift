import Testing
import Backprop
import GradCheckCatalog

/// Every op, layer and loss in the catalog frees its tape once the variables are gone: a pullback
/// that captured a `Variable` (which holds its tape) would form a reference cycle and leak the tape
/// with everything it saved.
@Suite("Tape release")
struct TapeReleaseTests {
    @Test("Every catalog case frees its tape", arguments: Catalog.all.map(\.name))
    func catalogCaseFreesItsTape(name: String) throws {
        let testCase = try #require(Catalog.all.first { $0.name == name })
        weak var weakTape: Tape<Double>?
        do {
            let tape = Tape<Double>()
            weakTape = tape
            let inputs = testCase.inputs.map { tape.variable($0) }
            let output = testCase.function(inputs)
            if output.requiresGradient {
                _ = tape.gradients(of: output, withRespectTo: inputs, seed: Tensor(ones: output.shape), retainGraph: true)
            }
        }
        #expect(weakTape == nil, "the tape of \(name) is still alive: a pullback captures a Variable or the tape")
    }
}
