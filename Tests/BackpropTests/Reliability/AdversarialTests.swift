import Backprop
import Testing

/// The adversarial suite: bad and edge inputs across tensors, numerics, settings, indices, autodiff,
/// layers and files (`AdversarialCase.all`), each run in its own process, each with one exact expected
/// outcome: a stop whose message names the op, the values and the rule; a typed error; or the right
/// value. A child that returns a wrong number stops with "wrong value: …", so a silent wrong number, a
/// crash without a message or a vague message all fail here.
@Suite("Adversarial inputs")
struct AdversarialTests {
    @Test(arguments: AdversarialCase.all.map(\.name))
    func outcomeIsExactlyTheExpectedOne(_ name: String) async throws {
        let adversarial = try #require(AdversarialCase.byName[name])
        switch adversarial.outcome {
        case .stops(let message):
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) { [name] in
                AdversarialCase.byName[name]!.run()
            }
            let text = standardError(of: result)
            #expect(text.contains("Fatal error: \(message)"), "\(name): expected “\(message)” in: \(text)")
        case .throwsTypedError, .rightValue:
            let result = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) { [name] in
                AdversarialCase.byName[name]!.run()
            }
            if result == nil {
                // Run it again to report what the child printed (its wrong value or error).
                let failed = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) { [name] in
                    AdversarialCase.byName[name]!.run()
                }
                Issue.record("\(name): \(standardError(of: failed))")
            }
        }
    }

    /// The examples of issue 15, each with the cases that show it fixed; every one of these fails on the
    /// code before the fix (a bare trap, a wrong number, zeros, or a vague message).
    static let issueExamples: [(example: String, cases: [String])] = [
        ("an element count that overflows: Tensor(zeros:), Tensor(shape:scalars:), reshaped(to:)",
         ["zerosElementCountOverflows", "shapeScalarsElementCountOverflows", "reshapeElementCountOverflows"]),
        ("pow's gradients at x = 0", ["powZeroExponentGradientAtZero", "powTensorZeroExponentGradientAtZero", "powExponentGradientAtZeroBase"]),
        ("gradients with respect to a constant", ["gradientWithRespectToAConstant"]),
        ("embedding ids given as floating point: 1.7, −0.5, NaN", ["embeddingFractionalId", "embeddingNegativeFractionalId", "embeddingNaNId"]),
        ("a learning rate set after construction: NaN, −1", ["sgdLearningRateSetToNaN", "adamLearningRateSetNegative"]),
        ("the functional rmsNorm(eps:)", ["functionalRMSNormEpsNaN", "functionalRMSNormEpsNegative"]),
        ("BatchNorm momentum NaN or 2", ["batchNormMomentumNaN", "batchNormMomentumTwo"]),
        ("one NaN in a BatchNorm channel: running_var", ["batchNormRunningVarianceSeesNaN"]),
        ("scaledDotProductAttention with every key masked", ["attentionWithEveryKeyMaskedIsZero"]),
        ("a 4 TB allocation", ["zerosOfFourTebibytes"]),
        ("arange(to: .nan)", ["arangeToNaN"]),
        ("logSoftmax on a [2, 0] tensor", ["logSoftmaxOverAnEmptyAxis"]),
        ("the temporary file of a killed save", ["killedSaveIsCleanedUpByTheNextSave", "staleTemporaryFileRemovedBySave"]),
        ("canonically equivalent Unicode names", ["canonicallyEquivalentNamesAreDistinct"]),
        ("a path ending in /", ["writingToAPathEndingInSlash"]),
    ]

    @Test func everyExampleOfTheIssueHasItsCases() {
        for (example, cases) in Self.issueExamples {
            for name in cases { #expect(AdversarialCase.byName[name] != nil, "\(example): no case \(name)") }
        }
    }

    /// The suite's size and make-up: at least 150 cases, each with a unique name, in every area.
    @Test func suiteCoversEveryArea() {
        let all = AdversarialCase.all
        #expect(all.count >= 150, "\(all.count) cases")
        #expect(Set(all.map(\.name)).count == all.count, "names are unique")
        for area in AdversarialArea.allCases {
            #expect(all.contains { $0.area == area }, "no case for \(area)")
        }
        var perOutcome: [String: Int] = [:]
        for adversarial in all {
            switch adversarial.outcome {
            case .stops: perOutcome["clear stop", default: 0] += 1
            case .throwsTypedError: perOutcome["typed error", default: 0] += 1
            case .rightValue: perOutcome["right value", default: 0] += 1
            }
        }
        let perArea = Dictionary(grouping: all, by: \.area.rawValue).mapValues(\.count)
        print("adversarial cases: \(all.count); per outcome \(perOutcome.sorted { $0.key < $1.key }); per area \(perArea.sorted { $0.key < $1.key })")
    }
}
