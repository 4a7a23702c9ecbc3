import Testing
import Backprop
import GradCheckCatalog

/// The gradient-check catalog's normalization and module cases, run inside `swift test`: fused
/// gradients against finite differences and against each layer's reference decomposition.
@Suite("Normalization: gradient-check catalog")
struct CatalogTests {
    static let normalizationCases = Catalog.all.filter { name in
        NormalizationKind.allCases.contains { name.name.hasPrefix($0.catalogPrefix) }
    }

    @Test(arguments: NormalizationKind.allCases)
    func everyLayerHasCatalogCases(kind: NormalizationKind) {
        let cases = Catalog.all.filter { $0.name.hasPrefix(kind.catalogPrefix) }
        #expect(cases.count >= 4, "\(kind) needs catalog cases named \(kind.catalogPrefix)…")
        #expect(cases.allSatisfy { $0.reference != nil }, "every \(kind) case must check its reference decomposition")
    }

    @Test(arguments: normalizationCases.map(\.name))
    func catalogCasePasses(name: String) {
        let testCase = Catalog.all.first { $0.name == name }!
        let outcome = testCase.run(mode: .full)
        #expect(outcome.passed, "\(name)\n\(outcome.detail)")
        #expect((outcome.referenceError ?? .infinity) <= 1e-10)
    }
}
