/// A learning rate as a function of the step, counted from 0 (the value for the first `step()`).
///
/// ```swift
/// let schedule = WarmupCosine(peak: 3e-4, warmupSteps: 100, totalSteps: 2_000)
/// for step in 0..<2_000 {
///     optimizer.learningRate = schedule.learningRate(atStep: step)
///     …
///     optimizer.step()
/// }
/// ```
public protocol LearningRateSchedule: Sendable {
    /// The learning rate for step `step` (0-based).
    func learningRate(atStep step: Int) -> Double
}

/// Multiplies the rate by γ every `stepSize` steps (PyTorch's `StepLR`): `γ₀·γ^⌊t/stepSize⌋`.
public struct StepDecay: LearningRateSchedule {
    /// The rate γ₀ at step 0 (finite, ≥ 0).
    public var initial: Double { didSet { Hyperparameter.checkLearningRate(initial, name: "initial", op: "StepDecay") } }
    /// How many steps between decays (positive).
    public var stepSize: Int { didSet { Hyperparameter.checkPositive(stepSize, name: "stepSize", op: "StepDecay") } }
    /// The factor γ applied at each decay (default 0.1; finite, ≥ 0).
    public var gamma: Double { didSet { Hyperparameter.checkNonNegative(gamma, name: "gamma", op: "StepDecay") } }

    /// Creates a step-decay schedule; `stepSize` must be positive, the rates finite and ≥ 0. The same
    /// checks run when a property is set later.
    public init(initial: Double, stepSize: Int, gamma: Double = 0.1) {
        Hyperparameter.checkPositive(stepSize, name: "stepSize", op: "StepDecay")
        Hyperparameter.checkLearningRate(initial, name: "initial", op: "StepDecay")
        Hyperparameter.checkNonNegative(gamma, name: "gamma", op: "StepDecay")
        self.initial = initial
        self.stepSize = stepSize
        self.gamma = gamma
    }

    /// `γ₀·γ^⌊t/stepSize⌋`.
    public func learningRate(atStep step: Int) -> Double {
        initial * Double.pow(gamma, Double(step / stepSize))
    }
}

/// Cosine annealing from `initial` to `minimum` over `period` steps, PyTorch `CosineAnnealingLR`'s
/// closed form: `η_min + (η₀ − η_min)(1 + cos(π·t/T))/2`.
///
/// Past `period` the closed form continues the cosine (it rises again, as in PyTorch); schedules that
/// should stay at the minimum should not be stepped past `period`.
public struct CosineAnnealing: LearningRateSchedule {
    /// The rate η₀ at step 0 (finite, ≥ 0).
    public var initial: Double { didSet { Hyperparameter.checkLearningRate(initial, name: "initial", op: "CosineAnnealing") } }
    /// The number of steps T from η₀ down to η_min (positive).
    public var period: Int { didSet { Hyperparameter.checkPositive(period, name: "period", op: "CosineAnnealing") } }
    /// The rate η_min at step T (default 0; finite, ≥ 0).
    public var minimum: Double { didSet { Hyperparameter.checkNonNegative(minimum, name: "minimum", op: "CosineAnnealing") } }

    /// Creates a cosine schedule; `period` must be positive, the rates finite and ≥ 0. The same checks
    /// run when a property is set later.
    public init(initial: Double, period: Int, minimum: Double = 0) {
        Hyperparameter.checkPositive(period, name: "period", op: "CosineAnnealing")
        Hyperparameter.checkLearningRate(initial, name: "initial", op: "CosineAnnealing")
        Hyperparameter.checkNonNegative(minimum, name: "minimum", op: "CosineAnnealing")
        self.initial = initial
        self.period = period
        self.minimum = minimum
    }

    /// `η_min + (η₀ − η_min)(1 + cos(π·t/T))/2`.
    public func learningRate(atStep step: Int) -> Double {
        minimum + (initial - minimum) * (1 + Double.cos(Double.pi * Double(step) / Double(period))) / 2
    }
}

/// Linear warmup to `peak` over `warmupSteps` steps, then constant (PyTorch's `LinearLR` with
/// `end_factor = 1`): `peak·(s + (1 − s)·min(t, W)/W)` with start factor s.
public struct LinearWarmup: LearningRateSchedule {
    /// The rate reached at step W and kept afterwards (finite, ≥ 0).
    public var peak: Double { didSet { Hyperparameter.checkLearningRate(peak, name: "peak", op: "LinearWarmup") } }
    /// The number of warmup steps W (positive).
    public var warmupSteps: Int { didSet { Hyperparameter.checkPositive(warmupSteps, name: "warmupSteps", op: "LinearWarmup") } }
    /// The fraction s of `peak` at step 0 (default 0; in [0, 1]).
    public var startFactor: Double { didSet { Hyperparameter.checkProbability(startFactor, name: "startFactor", op: "LinearWarmup") } }

    /// Creates a warmup schedule; `warmupSteps` must be positive, `peak` finite and ≥ 0, `startFactor`
    /// in [0, 1]. The same checks run when a property is set later.
    public init(peak: Double, warmupSteps: Int, startFactor: Double = 0) {
        Hyperparameter.checkPositive(warmupSteps, name: "warmupSteps", op: "LinearWarmup")
        Hyperparameter.checkLearningRate(peak, name: "peak", op: "LinearWarmup")
        Hyperparameter.checkProbability(startFactor, name: "startFactor", op: "LinearWarmup")
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.startFactor = startFactor
    }

    /// `peak·(s + (1 − s)·min(t, W)/W)`.
    public func learningRate(atStep step: Int) -> Double {
        peak * (startFactor + (1 - startFactor) * Double(Swift.min(step, warmupSteps)) / Double(warmupSteps))
    }
}

/// Linear warmup over `warmupSteps`, then cosine annealing to `minimum` at `totalSteps` (PyTorch's
/// `SequentialLR` of `LinearLR` and `CosineAnnealingLR`), constant at `minimum` afterwards.
public struct WarmupCosine: LearningRateSchedule {
    /// The warmup phase.
    public var warmup: LinearWarmup { didSet { Self.check(totalSteps: totalSteps, warmupSteps: warmup.warmupSteps) } }
    /// The total number of steps, warmup included (more than `warmup.warmupSteps`).
    public var totalSteps: Int { didSet { Self.check(totalSteps: totalSteps, warmupSteps: warmup.warmupSteps) } }
    /// The rate at `totalSteps` (finite, ≥ 0).
    public var minimum: Double { didSet { Hyperparameter.checkNonNegative(minimum, name: "minimum", op: "WarmupCosine") } }

    private static func check(totalSteps: Int, warmupSteps: Int) {
        guard totalSteps > warmupSteps else {
            usageError("WarmupCosine", "totalSteps \(totalSteps) must exceed warmupSteps \(warmupSteps)")
        }
    }

    /// Creates the schedule; needs `0 < warmupSteps < totalSteps` and finite rates ≥ 0. The same checks
    /// run when a property is set later.
    public init(peak: Double, warmupSteps: Int, totalSteps: Int, minimum: Double = 0, startFactor: Double = 0) {
        Self.check(totalSteps: totalSteps, warmupSteps: warmupSteps)
        Hyperparameter.checkNonNegative(minimum, name: "minimum", op: "WarmupCosine")
        warmup = LinearWarmup(peak: peak, warmupSteps: warmupSteps, startFactor: startFactor)
        self.totalSteps = totalSteps
        self.minimum = minimum
    }

    /// The warmup rate for t < W, then `CosineAnnealing(peak, T − W, minimum)` at t − W.
    public func learningRate(atStep step: Int) -> Double {
        if step < warmup.warmupSteps { return warmup.learningRate(atStep: step) }
        let cosine = CosineAnnealing(initial: warmup.peak, period: totalSteps - warmup.warmupSteps, minimum: minimum)
        return cosine.learningRate(atStep: Swift.min(step, totalSteps) - warmup.warmupSteps)
    }
}
