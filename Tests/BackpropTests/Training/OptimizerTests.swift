import Foundation
import Testing
import Backprop

/// Optimizer updates against the published pseudo-code of torch.optim, written out per element.
@Suite struct OptimizerTests {
    /// Gradients fed at steps 1, 2, 3.
    static let gradients: [[Double]] = [[0.5, -1.0, 2.0], [0.25, 0.5, -1.5], [-0.75, 0.125, 1.0]]
    static let start: [Double] = [1.0, -2.0, 0.5]

    /// Runs an optimizer for the three gradients and returns the parameter after each step.
    func run(_ make: ([Parameter<Double>]) -> any Optimizer<Double>) -> [[Double]] {
        let parameter = Parameter(Tensor(Self.start))
        let optimizer = make([parameter])
        var trajectory: [[Double]] = []
        for g in Self.gradients {
            optimizer.zeroGradients()
            parameter.grad = Tensor(g)
            optimizer.step()
            trajectory.append(parameter.value.scalars)
        }
        return trajectory
    }

    func expectClose(_ a: [[Double]], _ b: [[Double]], tolerance: Double = 1e-14) {
        for (x, y) in zip(a.joined(), b.joined()) { #expect(abs(x - y) <= tolerance * max(1, abs(y)), "\(x) vs \(y)") }
    }

    /// torch.optim.SGD pseudo-code, one element at a time.
    func referenceSGD(lr: Double, momentum μ: Double, dampening τ: Double, nesterov: Bool, weightDecay λ: Double) -> [[Double]] {
        var θ = Self.start
        var b = [Double](repeating: 0, count: θ.count)
        var out: [[Double]] = []
        for (t, grad) in Self.gradients.enumerated() {
            for i in θ.indices {
                var g = grad[i]
                if λ != 0 { g = g + λ * θ[i] }
                if μ != 0 {
                    b[i] = t == 0 ? g : μ * b[i] + (1 - τ) * g
                    g = nesterov ? g + μ * b[i] : b[i]
                }
                θ[i] = θ[i] - lr * g
            }
            out.append(θ)
        }
        return out
    }

    /// torch.optim.Adam / AdamW pseudo-code: m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ), θ −= γ m̂/(√v̂ + ε).
    func referenceAdam(lr γ: Double, β1: Double, β2: Double, ε: Double, weightDecay λ: Double, decoupled: Bool, amsgrad: Bool) -> [[Double]] {
        var θ = Self.start
        var m = [Double](repeating: 0, count: θ.count), v = m, vMax = m
        var out: [[Double]] = []
        for (index, grad) in Self.gradients.enumerated() {
            let t = Double(index + 1)
            for i in θ.indices {
                var g = grad[i]
                if decoupled { θ[i] *= 1 - γ * λ } else if λ != 0 { g += λ * θ[i] }
                m[i] = β1 * m[i] + (1 - β1) * g
                v[i] = β2 * v[i] + (1 - β2) * g * g
                let mHat = m[i] / (1 - pow(β1, t))
                var vHat = v[i] / (1 - pow(β2, t))
                if amsgrad {
                    vMax[i] = max(vMax[i], v[i])
                    vHat = vMax[i] / (1 - pow(β2, t))
                }
                θ[i] -= γ * mHat / (vHat.squareRoot() + ε)
            }
            out.append(θ)
        }
        return out
    }

    @Test func plainSGDByHand() {
        let trajectory = run { SGD(parameters: $0, learningRate: 0.1) }
        let expected: [Double] = [0.95, -1.9, 0.3]   // θ − 0.1·g
        for i in 0..<3 { #expect(abs(trajectory[0][i] - expected[i]) < 1e-15) }
    }

    @Test func sgdFirstMomentumBufferIsTheGradient() {
        // Step 1: b = g (no dampening); step 2: b = 0.9·g₁ + 0.5·g₂.
        let trajectory = run { SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, dampening: 0.5) }
        #expect(abs(trajectory[0][0] - (1 - 0.1 * 0.5)) < 1e-15)
        #expect(abs(trajectory[1][0] - (0.95 - 0.1 * (0.9 * 0.5 + 0.5 * 0.25))) < 1e-15)
    }

    @Test(arguments: [(0.0, 0.0, false, 0.0), (0.9, 0.0, false, 0.0), (0.9, 0.3, false, 0.01), (0.8, 0.0, true, 0.1)])
    func sgdMatchesPyTorchRule(momentum: Double, dampening: Double, nesterov: Bool, weightDecay: Double) {
        let trajectory = run { SGD(parameters: $0, learningRate: 0.05, momentum: momentum, dampening: dampening, nesterov: nesterov, weightDecay: weightDecay) }
        expectClose(trajectory, referenceSGD(lr: 0.05, momentum: momentum, dampening: dampening, nesterov: nesterov, weightDecay: weightDecay))
    }

    @Test func adamFirstStepMovesByLearningRateTimesSign() {
        // m̂ = g, v̂ = g² at t = 1, so θ₁ = θ₀ − γ·g/(|g| + ε).
        let trajectory = run { Adam(parameters: $0, learningRate: 0.1) }
        for i in 0..<3 {
            let g = Self.gradients[0][i]
            #expect(abs(trajectory[0][i] - (Self.start[i] - 0.1 * g / (abs(g) + 1e-8))) < 1e-15)
        }
    }

    @Test(arguments: [(0.0, false), (0.1, false), (0.0, true), (0.05, true)])
    func adamMatchesPyTorchRule(weightDecay: Double, amsgrad: Bool) {
        let trajectory = run { Adam(parameters: $0, learningRate: 0.01, betas: (0.8, 0.9), epsilon: 1e-6, weightDecay: weightDecay, amsgrad: amsgrad) }
        expectClose(trajectory, referenceAdam(lr: 0.01, β1: 0.8, β2: 0.9, ε: 1e-6, weightDecay: weightDecay, decoupled: false, amsgrad: amsgrad))
    }

    @Test(arguments: [false, true])
    func adamWMatchesPyTorchRule(amsgrad: Bool) {
        let trajectory = run { AdamW(parameters: $0, learningRate: 0.02, weightDecay: 0.1, amsgrad: amsgrad) }
        expectClose(trajectory, referenceAdam(lr: 0.02, β1: 0.9, β2: 0.999, ε: 1e-8, weightDecay: 0.1, decoupled: true, amsgrad: amsgrad))
    }

    @Test func adamWDefaultWeightDecayShrinksBeforeTheUpdate() {
        let parameter = Parameter(Tensor([2.0]))
        let optimizer = AdamW(parameters: [parameter], learningRate: 0.1)
        #expect(optimizer.weightDecay == 1e-2)
        parameter.grad = Tensor([3.0])
        optimizer.step()
        #expect(abs(parameter.value.scalar - (2 * (1 - 0.1 * 0.01) - 0.1 * 3 / (3 + 1e-8))) < 1e-15)
    }

    @Test func parametersWithoutGradientAreSkipped() {
        let a = Parameter(Tensor([1.0, 2])), b = Parameter(Tensor([3.0]))
        let optimizer = Adam(parameters: [a, b], learningRate: 0.1)
        a.grad = Tensor([1, -1])
        optimizer.step()
        #expect(b.value == Tensor([3.0]))
        let state = optimizer.stateTensors()
        #expect(state["state.0.step"] == Tensor(1.0))
        #expect(state["state.1.step"] == nil)
        #expect(state["step"] == Tensor(1.0))
        optimizer.zeroGradients()
        #expect(a.grad == nil)
    }

    @Test func stateRoundTripResumesIdentically() throws {
        func make(_ p: Parameter<Float>) -> Adam<Float> { Adam(parameters: [p], learningRate: 0.05, amsgrad: true) }
        let original = Parameter(Tensor<Float>([1, -1, 0.5]))
        let first = make(original)
        for g: [Float] in [[0.5, 1, -1], [1, -2, 0.25]] {
            original.grad = Tensor(g)
            first.step()
        }
        let resumedParameter = Parameter(original.value)
        let resumed = make(resumedParameter)
        try resumed.loadState(first.stateTensors())
        #expect(resumed.stepCount == 2)
        original.grad = Tensor([0.3, 0.3, -0.3])
        resumedParameter.grad = original.grad
        first.step()
        resumed.step()
        #expect(resumedParameter.value == original.value)
    }

    @Test func loadStateValidatesBeforeChangingAnything() {
        let p = Parameter(Tensor([1.0, 2]))
        let optimizer = SGD(parameters: [p], learningRate: 0.1, momentum: 0.9)
        p.grad = Tensor([1, 1])
        optimizer.step()
        let before = optimizer.stateTensors()
        #expect(throws: OptimizerStateError.shapeMismatch(name: "state.0.momentum_buffer", expected: [2], found: [3])) {
            try optimizer.loadState(["step": Tensor(5.0), "state.0.momentum_buffer": Tensor([1, 2, 3])])
        }
        #expect(throws: OptimizerStateError.missingTensor(name: "step")) { try optimizer.loadState([:]) }
        #expect(throws: OptimizerStateError.unexpectedTensor(name: "state.7.momentum_buffer")) {
            try optimizer.loadState(["step": Tensor(5.0), "state.7.momentum_buffer": Tensor([1.0])])
        }
        #expect(throws: OptimizerStateError.invalidStepCount(name: "step", value: 1.5)) { try optimizer.loadState(["step": Tensor(1.5)]) }
        #expect(optimizer.stateTensors() == before)
        #expect(optimizer.stepCount == 1)
    }

    @Test func adamStateNeedsEveryMoment() {
        let p = Parameter(Tensor([1.0]))
        let optimizer = Adam(parameters: [p])
        #expect(throws: OptimizerStateError.missingTensor(name: "state.0.exp_avg_sq")) {
            try optimizer.loadState(["step": Tensor(1.0), "state.0.step": Tensor(1.0), "state.0.exp_avg": Tensor([0.1])])
        }
        #expect(optimizer.stateTensors() == ["step": Tensor(0.0)])
    }

    /// The Float update (a C loop with FMA instructions, split over chunks of elements) gives
    /// bit-for-bit the per-element Float rule with correctly rounded fused multiply-adds, on a
    /// parameter long enough for several chunks.
    @Test(arguments: [(0.0, false, false), (0.1, false, true), (0.1, true, false), (0.1, true, true)])
    func floatAdamIsTheFloatRuleBitForBit(weightDecay: Double, decoupled: Bool, amsgrad: Bool) {
        let count = 150_001
        var generator = SeededGenerator(seed: 9)
        let start = Tensor<Float>.randomNormal(shape: [count], using: &generator)
        let parameter = Parameter(start)
        let optimizer: any Optimizer<Float> = decoupled
            ? AdamW(parameters: [parameter], learningRate: 0.01, weightDecay: weightDecay, amsgrad: amsgrad)
            : Adam(parameters: [parameter], learningRate: 0.01, weightDecay: weightDecay, amsgrad: amsgrad)
        var theta = start.scalars
        var m = [Float](repeating: 0, count: count), v = m, vMax = m
        let (lr, beta1, beta2, eps) = (0.01, 0.9, 0.999, 1e-8)
        for step in 1...3 {
            let g = Tensor<Float>.randomNormal(shape: [count], using: &generator).scalars
            optimizer.zeroGradients()
            parameter.grad = Tensor(g)
            optimizer.step()
            let c1 = 1 - Double.pow(beta1, Double(step)), c2 = 1 - Double.pow(beta2, Double(step))
            let (stepSize, c2Sqrt) = (Float(lr / c1), Float(c2.squareRoot()))
            for k in 0..<count {
                var gk = g[k]
                if decoupled { theta[k] *= Float(1 - lr * weightDecay) } else if weightDecay != 0 {
                    gk = gk.addingProduct(Float(weightDecay), theta[k])
                }
                m[k] = m[k].addingProduct(Float(1 - beta1), gk - m[k])
                v[k] = (v[k] * Float(beta2)).addingProduct(Float(1 - beta2) * gk, gk)
                var denominatorSquare = v[k]
                if amsgrad { vMax[k] = Swift.max(vMax[k], v[k]); denominatorSquare = vMax[k] }
                theta[k] -= stepSize * m[k] / (denominatorSquare.squareRoot() / c2Sqrt + Float(eps))
            }
            #expect(parameter.value.scalars == theta, "step \(step)")
        }
    }
}
