import Backprop

/// The gradient-check catalog: every differentiable op and layer, each at several shapes.
///
/// The `gradcheck` executable and the test suite run the same list. Each family lives in its own
/// `Cases+Family.swift` file; adding an op means adding its cases there.
public enum Catalog {
    /// Every case, in a stable order.
    public static var all: [GradCheckCase] {
        arithmeticCases + mathCases + activationCases + softmaxCases + reductionCases
            + linearAlgebraCases + shapeCases + indexingCases + compositeCases + lossCases
            + normalizationCases + layerCases + convolutionCases + attentionCases
    }

    /// The cases whose name contains `filter`, ignoring case (all when it is empty).
    public static func cases(matching filter: String) -> [GradCheckCase] {
        let needle = filter.lowercased()
        return needle.isEmpty ? all : all.filter { $0.name.lowercased().contains(needle) }
    }
}
