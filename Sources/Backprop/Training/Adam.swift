import BackpropKernelsC

/// The moment estimates and update shared by `Adam` and `AdamW`, in the order of operations of
/// PyTorch's single-tensor implementation.
///
/// For a parameter θ at its step t (counted per parameter) with gradient g:
/// ```
/// m ← m + (1 − β₁)(g − m)              (lerp)
/// v ← β₂v + (1 − β₂)g²
/// v̂ ← max(v̂, v) if amsgrad
/// θ ← θ − (γ/(1 − β₁ᵗ)) · m / (√(v or v̂)/√(1 − β₂ᵗ) + ε)
/// ```
/// ε is added outside the square root, after the bias correction of the second moment. The moment
/// updates use fused multiply-adds like PyTorch's vectorized CPU kernels (`lerp`, `addcmul`), so Float
/// results agree with `torch.optim` to the last bit or within one ulp.
struct AdamMoments<Scalar: TensorScalar> {
    var step = 0
    var firstMoment: Tensor<Scalar>
    var secondMoment: Tensor<Scalar>
    var maxSecondMoment: Tensor<Scalar>?

    init(shape: [Int], amsgrad: Bool) {
        firstMoment = Tensor(zeros: shape)
        secondMoment = Tensor(zeros: shape)
        maxSecondMoment = amsgrad ? Tensor(zeros: shape) : nil
    }

    /// The Float update in place through `bp_sadam` (the same operations as `update`, with the
    /// shrink and L2 terms of `AdamCore.step` folded in), in parallel over fixed chunks of elements.
    mutating func updateInPlace(_ parameter: Parameter<Scalar>, gradient g: [Scalar], learningRate: Double,
                                betas: (Double, Double), epsilon: Double, l2: Double, decoupled: Double) {
        step += 1
        let biasCorrection1 = 1 - Double.pow(betas.0, Double(step))
        let biasCorrection2 = 1 - Double.pow(betas.1, Double(step))
        let count = g.count
        guard count > 0 else { return }
        func float(_ p: UnsafeMutableBufferPointer<Scalar>) -> UnsafeMutablePointer<Float> {
            UnsafeMutableRawPointer(p.baseAddress!).assumingMemoryBound(to: Float.self)
        }
        func run(_ theta: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
                 _ vMax: UnsafeMutablePointer<Float>?, _ g: UnsafePointer<Float>) {
            Parallelism.forEach(count: count, grain: 1 << 16) { range in
                let offset = range.lowerBound
                bp_sadam(theta + offset, m + offset, v + offset, vMax.map { $0 + offset }, g + offset, range.count,
                         decoupled != 0 ? 1 : 0, Float(1 - learningRate * decoupled), l2 != 0 ? 1 : 0, Float(l2),
                         Float(1 - betas.0), Float(betas.1), Float(1 - betas.1), Float(learningRate / biasCorrection1),
                         Float(biasCorrection2.squareRoot()), Float(epsilon))
            }
        }
        g.withUnsafeBufferPointer { g in
            let gp = UnsafeRawPointer(g.baseAddress!).assumingMemoryBound(to: Float.self)
            parameter.value.scalars.withUnsafeMutableBufferPointer { theta in
                firstMoment.scalars.withUnsafeMutableBufferPointer { m in
                    secondMoment.scalars.withUnsafeMutableBufferPointer { v in
                        if maxSecondMoment != nil {
                            maxSecondMoment!.scalars.withUnsafeMutableBufferPointer { vMax in
                                run(float(theta), float(m), float(v), float(vMax), gp)
                            }
                        } else {
                            run(float(theta), float(m), float(v), nil, gp)
                        }
                    }
                }
            }
        }
    }

    /// Updates the moments with `gradient` and returns the new parameter values.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    mutating func update(_ theta: [Scalar], gradient g: [Scalar], learningRate: Double,
                         betas: (Double, Double), epsilon: Double) -> [Scalar] {
        step += 1
        // Coefficients are formed in Double and rounded once, as PyTorch passes Python floats.
        let (oneMinusBeta1, beta2, oneMinusBeta2) = (Scalar(1 - betas.0), Scalar(betas.1), Scalar(1 - betas.1))
        var m = firstMoment.scalars, v = secondMoment.scalars
        for k in g.indices {
            m[k] = m[k].addingProduct(oneMinusBeta1, g[k] - m[k])
            v[k] = (v[k] * beta2).addingProduct(oneMinusBeta2 * g[k], g[k])
        }
        firstMoment.scalars = m
        secondMoment.scalars = v
        if var vMax = maxSecondMoment?.scalars {
            for k in vMax.indices { vMax[k] = Swift.max(vMax[k], v[k]) }
            maxSecondMoment!.scalars = vMax
            v = vMax
        }
        // Bias corrections in Double, as PyTorch computes them in Python floats.
        let biasCorrection1 = 1 - Double.pow(betas.0, Double(step))
        let biasCorrection2 = 1 - Double.pow(betas.1, Double(step))
        let stepSize = Scalar(learningRate / biasCorrection1)
        let biasCorrection2Sqrt = Scalar(biasCorrection2.squareRoot())
        let eps = Scalar(epsilon)
        var updated = theta
        for k in updated.indices {
            let denominator = v[k].squareRoot() / biasCorrection2Sqrt + eps
            updated[k] -= stepSize * m[k] / denominator   // (γ′·m)/denominator, the order of addcdiv
        }
        return updated
    }
}

/// The common machinery of `Adam` and `AdamW`: per-parameter moments, state names, validation.
struct AdamCore<Scalar: TensorScalar> {
    let parameters: [Parameter<Scalar>]
    let amsgrad: Bool
    var stepCount = 0
    var moments: [AdamMoments<Scalar>?]

    init(parameters: [Parameter<Scalar>], amsgrad: Bool) {
        self.parameters = parameters
        self.amsgrad = amsgrad
        moments = Array(repeating: nil, count: parameters.count)
    }

    static func validate(_ op: String, learningRate: Double, betas: (Double, Double), epsilon: Double, weightDecay: Double) {
        Hyperparameter.checkLearningRate(learningRate, op: op)
        Hyperparameter.checkBetas(betas, op: op)
        Hyperparameter.checkNonNegative(epsilon, name: "epsilon", op: op)
        Hyperparameter.checkNonNegative(weightDecay, name: "weightDecay", op: op)
    }

    /// One step; `l2` is added to the gradient as λθ, `decoupled` shrinks θ by (1 − γλ) first.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    mutating func step(_ op: String, learningRate: Double, betas: (Double, Double), epsilon: Double, l2: Double, decoupled: Double) {
        stepCount += 1
        for (index, parameter) in parameters.enumerated() {
            guard var g = checkedGradient(of: parameter, index: index, op: op) else { continue }
            if let existing = moments[index] { checkStateShape(existing.firstMoment.shape, of: parameter, index: index, op: op) }
            // Taken out of the array while it is updated, so its buffers are uniquely referenced
            // and change in place.
            var state = moments[index] ?? AdamMoments(shape: parameter.shape, amsgrad: amsgrad)
            moments[index] = nil
            defer { moments[index] = state }
            if Scalar.self == Float.self {
                state.updateInPlace(parameter, gradient: g, learningRate: learningRate, betas: betas, epsilon: epsilon,
                                    l2: l2, decoupled: decoupled)
                continue
            }
            var theta = parameter.value.scalars
            if decoupled != 0 {
                let shrink = Scalar(1 - learningRate * decoupled)
                for k in theta.indices { theta[k] *= shrink }
            }
            if l2 != 0 {
                let lambda = Scalar(l2)
                for k in g.indices { g[k] = g[k].addingProduct(lambda, theta[k]) }
            }
            parameter.value.scalars = state.update(theta, gradient: g, learningRate: learningRate, betas: betas, epsilon: epsilon)
        }
    }

    func stateTensors() -> [String: Tensor<Scalar>] {
        var state: [String: Tensor<Scalar>] = ["step": countTensor(stepCount)]
        for (index, moment) in moments.enumerated() {
            guard let moment else { continue }
            state["state.\(index).step"] = countTensor(moment.step)
            state["state.\(index).exp_avg"] = moment.firstMoment
            state["state.\(index).exp_avg_sq"] = moment.secondMoment
            if let maximum = moment.maxSecondMoment { state["state.\(index).max_exp_avg_sq"] = maximum }
        }
        return state
    }

    mutating func loadState(_ state: [String: Tensor<Scalar>]) throws {
        var reader = OptimizerState(state)
        let steps = try reader.stepCount("step")
        var loaded: [AdamMoments<Scalar>?] = []
        for (index, parameter) in parameters.enumerated() {
            let prefix = "state.\(index)."
            guard state["\(prefix)step"] != nil else {
                loaded.append(nil)
                continue
            }
            var moment = AdamMoments<Scalar>(shape: parameter.shape, amsgrad: amsgrad)
            moment.step = try reader.stepCount("\(prefix)step")
            moment.firstMoment = try reader.buffer("\(prefix)exp_avg", shape: parameter.shape, required: true)!
            moment.secondMoment = try reader.buffer("\(prefix)exp_avg_sq", shape: parameter.shape, required: true)!
            if amsgrad {
                moment.maxSecondMoment = try reader.buffer("\(prefix)max_exp_avg_sq", shape: parameter.shape, required: true)!
            }
            loaded.append(moment)
        }
        try reader.checkAllUsed()
        stepCount = steps
        moments = loaded
    }
}

/// Adam (Kingma & Ba, 2015) with PyTorch's exact update rule, optional L2 weight decay added to the
/// gradient, and the AMSGrad variant.
///
/// With g ← g + λθ when λ ≠ 0, then at the parameter's step t:
/// `m ← β₁m + (1 − β₁)g`, `v ← β₂v + (1 − β₂)g²`, `v̂ ← max(v̂, v)` (AMSGrad),
/// `θ ← θ − γ·(m/(1 − β₁ᵗ)) / (√v/√(1 − β₂ᵗ) + ε)` (with v̂ in place of v for AMSGrad).
public final class Adam<Scalar: TensorScalar>: Optimizer {
    private var core: AdamCore<Scalar>
    /// The parameters updated by `step()`.
    public var parameters: [Parameter<Scalar>] { core.parameters }
    /// The learning rate γ: finite and ≥ 0, checked whenever it is set.
    public var learningRate: Double {
        didSet { Hyperparameter.checkLearningRate(learningRate, op: "Adam") }
    }
    /// The decay rates (β₁, β₂) of the first and second moment estimates.
    public let betas: (Double, Double)
    /// ε, added to the denominator outside the square root.
    public let epsilon: Double
    /// The L2 penalty λ added to the gradient (coupled weight decay; see `AdamW` for decoupled).
    public let weightDecay: Double
    /// Whether to use the AMSGrad maximum of second moments.
    public var amsgrad: Bool { core.amsgrad }
    /// The number of `step()` calls so far.
    public var stepCount: Int { core.stepCount }

    /// Creates an Adam optimizer with PyTorch's defaults.
    ///
    /// - Parameters:
    ///   - parameters: The parameters to update.
    ///   - learningRate: γ (default 1e-3).
    ///   - betas: (β₁, β₂), each in [0, 1) (default (0.9, 0.999)).
    ///   - epsilon: ε (default 1e-8).
    ///   - weightDecay: λ (default 0).
    ///   - amsgrad: Use AMSGrad (default false).
    public init(parameters: [Parameter<Scalar>], learningRate: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                epsilon: Double = 1e-8, weightDecay: Double = 0, amsgrad: Bool = false) {
        AdamCore<Scalar>.validate("Adam", learningRate: learningRate, betas: betas, epsilon: epsilon, weightDecay: weightDecay)
        core = AdamCore(parameters: parameters, amsgrad: amsgrad)
        self.learningRate = learningRate
        self.betas = betas
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    /// Applies one update to every parameter with a gradient.
    public func step() {
        core.step("Adam", learningRate: learningRate, betas: betas, epsilon: epsilon, l2: weightDecay, decoupled: 0)
    }

    /// `"step"` and, per parameter updated at least once, `"state.<i>.step"`, `"state.<i>.exp_avg"`,
    /// `"state.<i>.exp_avg_sq"` (and `"state.<i>.max_exp_avg_sq"` with AMSGrad).
    public func stateTensors() -> [String: Tensor<Scalar>] { core.stateTensors() }

    /// Restores state from `stateTensors()`; nothing changes if any tensor is wrong.
    public func loadState(_ state: [String: Tensor<Scalar>]) throws { try core.loadState(state) }
}

/// AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay, PyTorch's exact rule.
///
/// Each step first shrinks the parameter, `θ ← θ(1 − γλ)`, then applies the Adam update with the
/// raw gradient (no λθ term in the moments). The default λ is 1e-2.
public final class AdamW<Scalar: TensorScalar>: Optimizer {
    private var core: AdamCore<Scalar>
    /// The parameters updated by `step()`.
    public var parameters: [Parameter<Scalar>] { core.parameters }
    /// The learning rate γ: finite and ≥ 0, checked whenever it is set.
    public var learningRate: Double {
        didSet { Hyperparameter.checkLearningRate(learningRate, op: "AdamW") }
    }
    /// The decay rates (β₁, β₂).
    public let betas: (Double, Double)
    /// ε, added to the denominator outside the square root.
    public let epsilon: Double
    /// The decoupled weight decay λ.
    public let weightDecay: Double
    /// Whether to use the AMSGrad maximum of second moments.
    public var amsgrad: Bool { core.amsgrad }
    /// The number of `step()` calls so far.
    public var stepCount: Int { core.stepCount }

    /// Creates an AdamW optimizer with PyTorch's defaults.
    ///
    /// - Parameters:
    ///   - parameters: The parameters to update.
    ///   - learningRate: γ (default 1e-3).
    ///   - betas: (β₁, β₂) (default (0.9, 0.999)).
    ///   - epsilon: ε (default 1e-8).
    ///   - weightDecay: λ (default 1e-2).
    ///   - amsgrad: Use AMSGrad (default false).
    public init(parameters: [Parameter<Scalar>], learningRate: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                epsilon: Double = 1e-8, weightDecay: Double = 1e-2, amsgrad: Bool = false) {
        AdamCore<Scalar>.validate("AdamW", learningRate: learningRate, betas: betas, epsilon: epsilon, weightDecay: weightDecay)
        core = AdamCore(parameters: parameters, amsgrad: amsgrad)
        self.learningRate = learningRate
        self.betas = betas
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    /// Applies one update to every parameter with a gradient.
    public func step() {
        core.step("AdamW", learningRate: learningRate, betas: betas, epsilon: epsilon, l2: 0, decoupled: weightDecay)
    }

    /// The same names as `Adam.stateTensors()`.
    public func stateTensors() -> [String: Tensor<Scalar>] { core.stateTensors() }

    /// Restores state from `stateTensors()`; nothing changes if any tensor is wrong.
    public func loadState(_ state: [String: Tensor<Scalar>]) throws { try core.loadState(state) }
}
