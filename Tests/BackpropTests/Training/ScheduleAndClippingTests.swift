import Foundation
import Testing
import Backprop

@Suite struct ScheduleTests {
    func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-15 }

    @Test func stepDecay() {
        let schedule = StepDecay(initial: 0.1, stepSize: 3, gamma: 0.5)
        #expect([0, 1, 2].allSatisfy { schedule.learningRate(atStep: $0) == 0.1 })
        #expect(close(schedule.learningRate(atStep: 3), 0.05))
        #expect(close(schedule.learningRate(atStep: 7), 0.025))
    }

    @Test func cosineAnnealingClosedForm() {
        let schedule = CosineAnnealing(initial: 1, period: 4, minimum: 0.2)
        #expect(schedule.learningRate(atStep: 0) == 1)
        #expect(close(schedule.learningRate(atStep: 1), 0.2 + 0.8 * (1 + 0.5.squareRoot()) / 2))
        #expect(close(schedule.learningRate(atStep: 2), 0.6))
        #expect(close(schedule.learningRate(atStep: 4), 0.2))
    }

    @Test func linearWarmup() {
        let schedule = LinearWarmup(peak: 2, warmupSteps: 4)
        #expect(schedule.learningRate(atStep: 0) == 0)
        #expect(schedule.learningRate(atStep: 1) == 0.5)
        #expect(schedule.learningRate(atStep: 4) == 2)
        #expect(schedule.learningRate(atStep: 100) == 2)
        #expect(LinearWarmup(peak: 1, warmupSteps: 2, startFactor: 0.5).learningRate(atStep: 1) == 0.75)
    }

    @Test func warmupThenCosine() {
        let schedule = WarmupCosine(peak: 1, warmupSteps: 2, totalSteps: 6, minimum: 0.1)
        #expect(schedule.learningRate(atStep: 0) == 0)
        #expect(schedule.learningRate(atStep: 1) == 0.5)
        #expect(schedule.learningRate(atStep: 2) == 1)
        #expect(close(schedule.learningRate(atStep: 4), 0.55))   // halfway down the cosine
        #expect(close(schedule.learningRate(atStep: 6), 0.1))
        #expect(close(schedule.learningRate(atStep: 50), 0.1))
    }
}

@Suite struct GradientClippingTests {
    func parameters() -> [Parameter<Double>] {
        let a = Parameter(Tensor([0.0, 0])), b = Parameter(Tensor([0.0])), c = Parameter(Tensor([5.0]))
        a.grad = Tensor([3, -4])
        b.grad = Tensor([12])
        return [a, b, c]   // c has no gradient and is ignored
    }

    @Test func clipsToMaxNormAndReturnsTheNorm() {
        let ps = parameters()
        let norm = clipGradientNorm(ps, maxNorm: 6.5)
        #expect(norm == 13)
        let scale = 6.5 / (13 + 1e-6)
        #expect(ps[0].grad! == Tensor([3 * scale, -4 * scale]))
        #expect(ps[1].grad! == Tensor([12 * scale]))
        #expect(ps[2].grad == nil)
    }

    @Test func leavesSmallGradientsAlone() {
        let ps = parameters()
        #expect(clipGradientNorm(ps, maxNorm: 20) == 13)
        #expect(ps[0].grad! == Tensor([3, -4]))
    }

    @Test func otherNorms() {
        #expect(clipGradientNorm(parameters(), maxNorm: 100, normType: .infinity) == 12)
        #expect(clipGradientNorm(parameters(), maxNorm: 100, normType: 1) == 19)
        let ps = parameters()
        clipGradientNorm(ps, maxNorm: 6, normType: .infinity)
        #expect(ps[1].grad!.scalar == 12 * 6 / (12 + 1e-6))
    }
}
