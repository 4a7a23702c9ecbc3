import BackpropKernelsC
/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay,
/// following PyTorch's `torch.optim.SGD` exactly.
///
/// For each parameter θ with gradient g, with learning rate γ, momentum μ, dampening τ and weight
/// decay λ:
/// ```
/// g ← g + λθ                              (if λ ≠ 0)
/// b ← g on the first step, else μb + (1 − τ)g   (if μ ≠ 0)
/// g ← g + μb if nesterov, else b          (if μ ≠ 0)
/// θ ← θ − γg
/// ```
/// The momentum buffer starts as a copy of the first gradient, undamped, as in PyTorch.
public final class SGD<Scalar: TensorScalar>: Optimizer {
    /// The parameters updated by `step()`.
    public let parameters: [Parameter<Scalar>]
    /// The learning rate γ: finite and ≥ 0, checked whenever it is set.
    public var learningRate: Double {
        didSet { Hyperparameter.checkLearningRate(learningRate, op: "SGD") }
    }
    /// The momentum factor μ (0 for plain SGD).
    public let momentum: Double
    /// The dampening τ of the momentum.
    public let dampening: Double
    /// Whether to use Nesterov momentum.
    public let nesterov: Bool
    /// The L2 penalty λ added to the gradient.
    public let weightDecay: Double
    /// The number of `step()` calls so far.
    public private(set) var stepCount = 0
    /// The momentum buffer of each parameter (`nil` until its first update with momentum).
    private var momentumBuffers: [Tensor<Scalar>?]

    /// Creates an SGD optimizer.
    ///
    /// - Parameters:
    ///   - parameters: The parameters to update.
    ///   - learningRate: γ, finite and ≥ 0.
    ///   - momentum: μ, finite and ≥ 0 (default 0).
    ///   - dampening: τ, finite (default 0).
    ///   - nesterov: Use Nesterov momentum; needs μ > 0 and τ = 0.
    ///   - weightDecay: λ, finite and ≥ 0 (default 0).
    public init(parameters: [Parameter<Scalar>], learningRate: Double, momentum: Double = 0, dampening: Double = 0,
                nesterov: Bool = false, weightDecay: Double = 0) {
        Hyperparameter.checkLearningRate(learningRate, op: "SGD")
        Hyperparameter.checkNonNegative(momentum, name: "momentum", op: "SGD")
        Hyperparameter.checkFinite(dampening, name: "dampening", op: "SGD")
        Hyperparameter.checkNonNegative(weightDecay, name: "weightDecay", op: "SGD")
        guard !nesterov || (momentum > 0 && dampening == 0) else {
            usageError("SGD", "Nesterov momentum requires momentum > 0 and zero dampening (got momentum \(momentum), dampening \(dampening))")
        }
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.momentumBuffers = Array(repeating: nil, count: parameters.count)
    }

    /// Applies one update to every parameter with a gradient.
    ///
    /// The `a + αb` terms use fused multiply-adds, as PyTorch's vectorized CPU kernels do, so that
    /// Float results agree with `torch.optim.SGD` bit for bit.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func step() {
        stepCount += 1
        let (lr, mu, oneMinusTau, lambda) = (Scalar(learningRate), Scalar(momentum), Scalar(1 - dampening), Scalar(weightDecay))
        for (index, parameter) in parameters.enumerated() {
            guard var g = checkedGradient(of: parameter, index: index, op: "SGD") else { continue }
            if let existing = momentumBuffers[index] { checkStateShape(existing.shape, of: parameter, index: index, op: "SGD") }
            let theta = parameter.value.scalars
            if weightDecay != 0 {
                for k in g.indices { g[k] = g[k].addingProduct(lambda, theta[k]) }
            }
            if momentum != 0 {
                var buffer: [Scalar]
                if let existing = momentumBuffers[index]?.scalars {
                    buffer = existing
                    for k in buffer.indices { buffer[k] = (mu * buffer[k]).addingProduct(oneMinusTau, g[k]) }
                } else {
                    buffer = g
                }
                momentumBuffers[index] = Tensor(shape: parameter.shape, scalars: buffer)
                if nesterov {
                    for k in g.indices { g[k] = g[k].addingProduct(mu, buffer[k]) }
                } else {
                    g = buffer
                }
            }
            var updated = theta
            fusedMultiplyAdd(&updated, -lr, g)
            parameter.value.scalars = updated
        }
    }

    /// `"step"` and `"state.<i>.momentum_buffer"` for each parameter that has a buffer.
    public func stateTensors() -> [String: Tensor<Scalar>] {
        var state: [String: Tensor<Scalar>] = ["step": countTensor(stepCount)]
        for (index, buffer) in momentumBuffers.enumerated() {
            if let buffer { state["state.\(index).momentum_buffer"] = buffer }
        }
        return state
    }

    /// Restores state from `stateTensors()`; nothing changes if any tensor is wrong.
    public func loadState(_ state: [String: Tensor<Scalar>]) throws {
        var reader = OptimizerState(state)
        let steps = try reader.stepCount("step")
        var buffers: [Tensor<Scalar>?] = []
        for (index, parameter) in parameters.enumerated() {
            buffers.append(try reader.buffer("state.\(index).momentum_buffer", shape: parameter.shape, required: false))
        }
        try reader.checkAllUsed()
        stepCount = steps
        momentumBuffers = buffers
    }
}

/// `y[k] = y[k].addingProduct(a, x[k])` for every k, through the C kernel's FMA instructions
/// (bit-identical to `addingProduct`, which calls the C library's `fmaf` without them).
func fusedMultiplyAdd<Scalar: TensorScalar>(_ y: inout [Scalar], _ a: Scalar, _ x: [Scalar]) {
    precondition(y.count == x.count)
    y.withUnsafeMutableBufferPointer { y in
        x.withUnsafeBufferPointer { x in
            guard let yp = y.baseAddress, let xp = x.baseAddress else { return }
            if Scalar.self == Float.self {
                bp_saxpy(UnsafeMutableRawPointer(yp).assumingMemoryBound(to: Float.self), a as! Float,
                         UnsafeRawPointer(xp).assumingMemoryBound(to: Float.self), y.count)
            } else if Scalar.self == Double.self {
                bp_daxpy(UnsafeMutableRawPointer(yp).assumingMemoryBound(to: Double.self), a as! Double,
                         UnsafeRawPointer(xp).assumingMemoryBound(to: Double.self), y.count)
            } else {
                for k in 0..<y.count { yp[k] = yp[k].addingProduct(a, xp[k]) }
            }
        }
    }
}
