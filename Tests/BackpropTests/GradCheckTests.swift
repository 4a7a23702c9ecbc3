import Backprop
import GradCheckCatalog
import Testing

/// `x³` with the correct backward `3x²·g`.
private struct Cube: DifferentiableOperation {
    func forward(_ inputs: [Tensor<Double>]) -> (output: Tensor<Double>, saved: Tensor<Double>) {
        (inputs[0] * inputs[0] * inputs[0], inputs[0])
    }
    func backward(_ gradient: Tensor<Double>, saved x: Tensor<Double>, inputsNeedingGradient: [Bool]) -> [Tensor<Double>?] {
        [gradient * x * x * 3]
    }
}

/// `x³` with a deliberately WRONG backward, `2x²·g` instead of `3x²·g`.
private struct WrongCube: DifferentiableOperation {
    func forward(_ inputs: [Tensor<Double>]) -> (output: Tensor<Double>, saved: Tensor<Double>) {
        (inputs[0] * inputs[0] * inputs[0], inputs[0])
    }
    func backward(_ gradient: Tensor<Double>, saved x: Tensor<Double>, inputsNeedingGradient: [Bool]) -> [Tensor<Double>?] {
        [gradient * x * x * 2]
    }
}

/// `a·b` whose gradient for `a` is right and for `b` is wrong (`5a·g` instead of `a·g`).
private struct ProductWrongInSecond: DifferentiableOperation {
    func forward(_ inputs: [Tensor<Double>]) -> (output: Tensor<Double>, saved: [Tensor<Double>]) {
        (inputs[0] * inputs[1], inputs)
    }
    func backward(_ gradient: Tensor<Double>, saved: [Tensor<Double>], inputsNeedingGradient: [Bool]) -> [Tensor<Double>?] {
        [inputsNeedingGradient[0] ? gradient * saved[1] : nil,
         inputsNeedingGradient[1] ? gradient * saved[0] * 5 : nil]
    }
}

@Suite("Gradient checker")
struct GradCheckTests {
    private static let x = Tensor<Double>([0.5, -2, 1])

    @Test(arguments: GradientCheckOptions.Mode.allCases)
    func passesOnCorrectOperations(mode: GradientCheckOptions.Mode) {
        let options = GradientCheckOptions(mode: mode)
        let w = tensor([3, 2], [0.3, -0.2, 0.1, 0.4, -0.5, 0.6])
        let builtIn = checkGradients(at: [tensor([2, 3], [1, 2, -1, 0.5, 0, 1]), w], options: options) { v in
            (v[0].matmul(v[1])).tanh().sum()
        }
        #expect(builtIn.passed, "\(builtIn)")
        #expect(builtIn.reports.count == 2)
        #expect(builtIn.reports.map(\.input) == [0, 1])
        #expect(builtIn.maxAbsoluteError < 1e-8)
        #expect(builtIn.mode == mode)

        let custom = checkGradients(at: [Self.x], options: options) { v in Cube()(v) }
        #expect(custom.passed, "\(custom)")
        #expect(custom.description.hasPrefix("gradient check (\(mode.rawValue)): PASS"))
    }

    @Test func reportsAWrongBackwardInFullModeWithTheWorstElement() throws {
        let result = checkGradients(at: [Self.x], options: GradientCheckOptions(mode: .full)) { v in WrongCube()(v) }
        #expect(!result.passed)
        let report = try #require(result.reports.first)
        #expect(!report.passed)
        // The error x² against tolerance 1e-5 + 1e-3·3x² is worst where |x| is largest: x = −2.
        #expect(report.worstIndex == [1])
        #expect(report.worstOutputIndex == [1])
        #expect(report.analytic == 8)                        // 2·(−2)²
        #expect(Swift.abs(report.numeric - 12) < 1e-6)       // 3·(−2)²
        #expect(Swift.abs(report.maxAbsoluteError - 4) < 1e-6)
        let text = result.description
        #expect(text.hasPrefix("gradient check (full): FAIL"), "\(text)")
        #expect(text.contains("MISMATCH"), "\(text)")
        #expect(text.contains("worst at input index [1], output index [1]: analytic 8.0, numeric 1"), "\(text)")
    }

    @Test func reportsAWrongBackwardInFastMode() throws {
        let result = checkGradients(at: [Self.x], options: GradientCheckOptions(mode: .fast, projections: 3, seed: 4)) { v in
            WrongCube()(v).sum()
        }
        #expect(!result.passed)
        let report = try #require(result.reports.first)
        #expect(!report.passed)
        #expect(report.worstIndex.count == 1 && (0..<3).contains(report.worstIndex[0]))
        #expect(Swift.abs(report.analytic - report.numeric) > 1e-3)
        #expect(result.description.contains("MISMATCH"))
        #expect(result.description.contains("projection \(report.worstIndex[0])"))
    }

    @Test func skipsInputsThatAreNotDifferentiated() {
        let inputs = [Tensor<Double>([1, 2]), Tensor<Double>([3, -1])]
        for mode in GradientCheckOptions.Mode.allCases {
            let options = GradientCheckOptions(mode: mode)
            let onlyFirst = checkGradients(at: inputs, differentiating: [0], options: options) { v in ProductWrongInSecond()(v) }
            #expect(onlyFirst.passed, "\(onlyFirst)")
            #expect(onlyFirst.reports.map(\.input) == [0])

            let both = checkGradients(at: inputs, options: options) { v in ProductWrongInSecond()(v) }
            #expect(!both.passed)
            #expect(both.reports.map(\.passed) == [true, false])
            #expect(both.reports.map(\.input) == [0, 1])
        }
    }

    @Test func reportsANonFiniteFunction() {
        let result = checkGradients(at: [Tensor([-1, 2])]) { v in v[0].log() }
        #expect(!result.passed)
        #expect(result.failure?.contains("not finite") == true)
    }

    @Test func toleranceDecidesBorderlineCases() {
        // A backward off by 0.5% passes at rtol 1e-2 and fails at the default 1e-3.
        struct SlightlyOff: DifferentiableOperation {
            func forward(_ inputs: [Tensor<Double>]) -> (output: Tensor<Double>, saved: Tensor<Double>) { (inputs[0] * 2, inputs[0]) }
            func backward(_ gradient: Tensor<Double>, saved: Tensor<Double>, inputsNeedingGradient: [Bool]) -> [Tensor<Double>?] {
                [gradient * 2.01]
            }
        }
        #expect(!checkGradients(at: [Self.x]) { v in SlightlyOff()(v) }.passed)
        #expect(checkGradients(at: [Self.x], options: GradientCheckOptions(relativeTolerance: 1e-2)) { v in SlightlyOff()(v) }.passed)
    }

    // MARK: - The catalog

    @Test func catalogNamesAreUnique() {
        let names = Catalog.all.map(\.name)
        #expect(!names.isEmpty)
        #expect(Set(names).count == names.count, "duplicates: \(Dictionary(grouping: names) { $0 }.filter { $0.value.count > 1 }.keys.sorted())")
        #expect(Catalog.cases(matching: "matmul[").allSatisfy { $0.name.contains("matmul[") })
        #expect(Catalog.cases(matching: "LAYERNORM[").count == Catalog.cases(matching: "layerNorm[").count)
        #expect(!Catalog.cases(matching: "layernorm[").isEmpty)
    }

    /// Every catalog case in full mode (the same list `swift run gradcheck` runs), at orders 1 and 2
    /// (`gradcheck --order 2`: the gradient of the gradient, and for fused layers the double backward
    /// against that of their reference decomposition).
    @Test(arguments: Catalog.all.map(\.name), [1, 2])
    func catalogCasePasses(name: String, order: Int) throws {
        let gradCheckCase = try #require(Catalog.all.first { $0.name == name })
        let outcome = gradCheckCase.run(mode: .full, order: order)
        #expect(outcome.passed, "\(outcome.detail)")
        #expect(outcome.order == order)
        if let referenceError = outcome.referenceError {
            #expect(referenceError <= referenceTolerance)
        }
    }
}
