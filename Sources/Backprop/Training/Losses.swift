/// How a loss combines its per-element (or per-sample) values, as PyTorch's `reduction` argument.
public enum LossReduction: String, Sendable, CaseIterable {
    /// The average over the elements that count (for class-index losses: the targets that are not ignored).
    case mean
    /// The sum.
    case sum
    /// No reduction: one loss per element (or per sample).
    case none
}

extension Variable {
    /// Applies a reduction to per-element losses.
    fileprivate func reduced(_ reduction: LossReduction) -> Variable {
        switch reduction {
        case .mean: return mean()
        case .sum: return sum()
        case .none: return self
        }
    }
}

/// Checks that a prediction and a target have the same shape (losses do not broadcast, so that a
/// `[N]` target against `[N, 1]` predictions is caught instead of silently becoming `[N, N]`).
private func checkSameShape<Scalar>(_ op: String, _ predictions: Variable<Scalar>, _ targets: Variable<Scalar>) {
    guard predictions.shape == targets.shape else {
        usageError(op, "predictions of shape \(predictions.shape) and targets of shape \(targets.shape) must have the same shape")
    }
}

/// Mean squared error `(x − y)²`, reduced (PyTorch's `mse_loss`).
///
/// Backward (composed of primitives): ∂L/∂x = 2(x − y)·g/n for the mean.
///
/// - Parameters:
///   - predictions: The model's output.
///   - targets: Values of the same shape (usually a constant; gradients flow to it too if it is not).
///   - reduction: `.mean` (default), `.sum` or `.none`.
public func meanSquaredError<Scalar>(_ predictions: Variable<Scalar>, _ targets: Variable<Scalar>,
                                     reduction: LossReduction = .mean) -> Variable<Scalar> {
    checkSameShape("meanSquaredError", predictions, targets)
    return (predictions - targets).squared().reduced(reduction)
}

/// Mean absolute error `|x − y|`, reduced (PyTorch's `l1_loss`).
///
/// Backward (composed): ∂L/∂x = sign(x − y)·g/n for the mean, 0 where x = y.
///
/// - Parameters:
///   - predictions: The model's output.
///   - targets: Values of the same shape.
///   - reduction: `.mean` (default), `.sum` or `.none`.
public func l1Loss<Scalar>(_ predictions: Variable<Scalar>, _ targets: Variable<Scalar>,
                           reduction: LossReduction = .mean) -> Variable<Scalar> {
    checkSameShape("l1Loss", predictions, targets)
    return (predictions - targets).abs().reduced(reduction)
}

/// The layout of a class-index loss: input `[N, C, d₁, …]` (or `[C]` for one sample) with targets
/// `[N, d₁, …]`, the class axis second as in PyTorch.
private struct ClassLayout {
    /// Samples before the class axis.
    var outer: Int
    /// Number of classes.
    var classes: Int
    /// Positions after the class axis.
    var inner: Int
    /// The shape of the unreduced loss (the input's shape without the class axis).
    var lossShape: [Int]

    init(_ op: String, shape: [Int], targets: [Int], ignoreIndex: Int) {
        guard !shape.isEmpty else { usageError(op, "the input must have rank ≥ 1 ([C], [N, C] or [N, C, d…]), got a scalar") }
        let classAxis = shape.count == 1 ? 0 : 1
        outer = shape[..<classAxis].reduce(1, *)
        classes = shape[classAxis]
        inner = shape[(classAxis + 1)...].reduce(1, *)
        lossShape = Array(shape[..<classAxis]) + Array(shape[(classAxis + 1)...])
        guard targets.count == outer * inner else {
            usageError(op, "input of shape \(shape) needs \(outer * inner) targets (shape \(lossShape)) but \(targets.count) were given")
        }
        for (i, t) in targets.enumerated() where t != ignoreIndex && (t < 0 || t >= classes) {
            usageError(op, "target \(t) at position \(i) is out of range for \(classes) classes (and is not ignoreIndex \(ignoreIndex))")
        }
    }
}

/// The weight of each kept sample's gradient: `1/kept` for the mean, 1 for sum and none. With no
/// kept sample there is no gradient to scale (the mean loss itself is 0/0 = NaN, as in PyTorch).
private func reductionScale<Scalar: TensorScalar>(_ reduction: LossReduction, kept: Int) -> Scalar {
    reduction == .mean ? 1 / Scalar(kept) : 1
}

/// Sums, averages over `kept`, or reshapes per-sample losses.
private func reduce<Scalar: TensorScalar>(_ losses: [Scalar], shape: [Int], reduction: LossReduction, kept: Int) -> Tensor<Scalar> {
    switch reduction {
    case .none: return Tensor(shape: shape, scalars: losses)
    case .sum: return Tensor(losses.reduce(0, +))
    case .mean: return Tensor(losses.reduce(0, +) / Scalar(kept))
    }
}

/// Cross-entropy between logits and class indices (PyTorch's `cross_entropy`), with label
/// smoothing and an ignored index, recorded as one operation.
///
/// With p = softmax(x) along the class axis, C classes, smoothing ε and target y, the loss of a
/// sample is `(1 − ε)·(−log p_y) + (ε/C)·Σ_c (−log p_c)`; samples whose target is `ignoreIndex`
/// contribute 0. `.mean` divides the sum by the number of samples not ignored (NaN when every
/// sample is ignored, as in PyTorch). Log-probabilities are computed as `x − max − log Σ exp(x − max)`,
/// so logits of ±1e4 give exact, finite results.
///
/// Backward: ∂L/∂x_c = g·s·(p_c − (1 − ε)·[c = y] − ε/C), with s = 1/kept for the mean, 1 otherwise,
/// and exactly 0 for ignored samples — even when their logits are NaN or ±∞, a deliberate difference:
/// PyTorch computes log_softmax over every sample first, so such an ignored sample gets NaN there.
///
/// - Parameters:
///   - logits: `[C]`, `[N, C]` or `[N, C, d₁, …]` unnormalized scores.
///   - targets: Class indices in `0..<C` (or `ignoreIndex`), one per sample, row-major in the
///     shape of `logits` without its class axis.
///   - labelSmoothing: ε in `[0, 1]` (default 0).
///   - ignoreIndex: A target value whose samples are skipped (default −100, as PyTorch).
///   - reduction: `.mean` (default), `.sum` or `.none` (one loss per sample).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func crossEntropy<Scalar>(logits: Variable<Scalar>, targets: [Int], labelSmoothing: Scalar = 0,
                                 ignoreIndex: Int = -100, reduction: LossReduction = .mean) -> Variable<Scalar> {
    let op = "crossEntropy"
    Hyperparameter.checkProbability(labelSmoothing, name: "labelSmoothing", op: op)
    let layout = ClassLayout(op, shape: logits.shape, targets: targets, ignoreIndex: ignoreIndex)
    let (outer, classes, inner) = (layout.outer, layout.classes, layout.inner)
    let x = logits.value.scalars
    let epsilon = labelSmoothing
    let uniform = epsilon / Scalar(classes)
    var logSumExps = [Scalar](repeating: 0, count: outer * inner)
    var losses = [Scalar](repeating: 0, count: outer * inner)
    var kept = 0
    for o in 0..<outer {
        for i in 0..<inner {
            let sample = o * inner + i
            let target = targets[sample]
            guard target != ignoreIndex else { continue }
            kept += 1
            let base = o * classes * inner + i
            var maximum = -Scalar.infinity
            for c in 0..<classes { maximum = Swift.max(maximum, x[base + c * inner]) }
            var total: Scalar = 0
            for c in 0..<classes { total += Scalar.exp(x[base + c * inner] - maximum) }
            let lse = maximum + Scalar.log(total)
            logSumExps[sample] = lse
            var loss = (1 - epsilon) * (lse - x[base + target * inner])
            if epsilon > 0 {
                var negativeLogSum: Scalar = 0
                for c in 0..<classes { negativeLogSum += lse - x[base + c * inner] }
                loss += uniform * negativeLogSum
            }
            losses[sample] = loss
        }
    }
    let value = reduce(losses, shape: layout.lossShape, reduction: reduction, kept: kept)
    let backward = CrossEntropyBackward(layout: layout, targets: targets, ignoreIndex: ignoreIndex, labelSmoothing: epsilon,
                                        reduction: reduction, kept: kept, logSumExps: logSumExps)
    let savedLogits = logits.saved
    return Variable.record(op, [logits], value: value) { g, tape in [backward(tape[savedLogits], g)] }
}

/// The backward of `crossEntropy` as an op of its own: `dx_c = w·(p_c − t_c)` per kept sample, with
/// p = softmax(x) over the classes, t the smoothed target distribution and w = g·s (s = 1/kept for
/// the mean), computed in one loop from the saved log-sum-exps.
///
/// Backward, for an incoming v of the logits' shape: ∂/∂x = w·(p ⊙ (v − Σ_c v ⊙ p)) (softmax's
/// backward); ∂/∂g = s·Σ_c v ⊙ (p − t), per sample for `.none`, summed otherwise.
private struct CrossEntropyBackward<Scalar: TensorScalar> {
    var layout: ClassLayout
    var targets: [Int]
    var ignoreIndex: Int
    var labelSmoothing: Scalar
    var reduction: LossReduction
    var kept: Int
    var logSumExps: [Scalar]

    /// s per sample, 0 for ignored samples, shape `[outer, 1, inner]`.
    var sampleScales: Tensor<Scalar> {
        let scale: Scalar = reductionScale(reduction, kept: kept)
        return Tensor(shape: [layout.outer, 1, layout.inner], scalars: targets.map { $0 == ignoreIndex ? 0 : scale })
    }

    /// The smoothed target distribution, shape `[outer, classes, inner]` (zero rows for ignored samples).
    var targetDistribution: Tensor<Scalar> {
        let (outer, classes, inner) = (layout.outer, layout.classes, layout.inner)
        let uniform = labelSmoothing / Scalar(classes)
        var t = [Scalar](repeating: 0, count: outer * classes * inner)
        for o in 0..<outer {
            for i in 0..<inner {
                let target = targets[o * inner + i]
                guard target != ignoreIndex else { continue }
                for c in 0..<classes { t[(o * classes + c) * inner + i] = uniform + (c == target ? 1 - labelSmoothing : 0) }
            }
        }
        return Tensor(shape: [outer, classes, inner], scalars: t)
    }

    func callAsFunction(_ logits: Variable<Scalar>, _ g: Variable<Scalar>) -> Variable<Scalar> {
        let (outer, classes, inner) = (layout.outer, layout.classes, layout.inner)
        let x = logits.value.scalars
        let scale: Scalar = reductionScale(reduction, kept: kept)
        let epsilon = labelSmoothing
        let uniform = epsilon / Scalar(classes)
        var dx = [Scalar](repeating: 0, count: x.count)
        for o in 0..<outer {
            for i in 0..<inner {
                let sample = o * inner + i
                let target = targets[sample]
                guard target != ignoreIndex else { continue }
                let weight = (reduction == .none ? g.value.scalars[sample] : g.value.scalars[0]) * scale
                let base = o * classes * inner + i
                let lse = logSumExps[sample]
                for c in 0..<classes {
                    let p = Scalar.exp(x[base + c * inner] - lse)
                    dx[base + c * inner] = weight * (p - uniform - (c == target ? 1 - epsilon : 0))
                }
            }
        }
        let (sx, sg) = (logits.saved, g.saved)
        let shape = logits.shape
        return Variable.record("crossEntropyBackward", logits, g, value: Tensor(shape: shape, scalars: dx)) { v, tape in
            let view = [outer, classes, inner]
            let p = tape[sx].reshaped(to: view).softmax(alongAxis: 1)
            let v3 = v.reshaped(to: view)
            var gradients: [Variable<Scalar>?] = [nil, nil]
            let scales = tape.constant(sampleScales)
            if tape.needs(0) {
                let g = tape[sg]
                let weights = (reduction == .none ? g.reshaped(to: [outer, 1, inner]) : g.reshaped(to: [1, 1, 1])) * scales
                gradients[0] = (Variable.softmaxBackward(v3, output: p, axis: 1) * weights).reshaped(to: shape)
            }
            if tape.needs(1) {
                let perSample = (v3 * (p - tape.constant(targetDistribution))).sum(alongAxes: [1], keepDims: true) * scales
                gradients[1] = reduction == .none ? perSample.reshaped(to: sg.shape) : perSample.sum().reshaped(to: sg.shape)
            }
            return gradients
        }
    }
}

/// Negative log-likelihood of class indices given log-probabilities (PyTorch's `nll_loss`):
/// `−x_y` per sample, 0 for ignored samples, `.mean` over the samples not ignored (NaN if none).
///
/// Backward: ∂L/∂x_c = −g·s·[c = y], s = 1/kept for the mean, 1 otherwise.
///
/// - Parameters:
///   - logProbabilities: `[C]`, `[N, C]` or `[N, C, d₁, …]`, usually from `logSoftmax(alongAxis: 1)`.
///   - targets: Class indices in `0..<C` (or `ignoreIndex`), one per sample.
///   - ignoreIndex: A target value whose samples are skipped (default −100).
///   - reduction: `.mean` (default), `.sum` or `.none`.
public func negativeLogLikelihood<Scalar>(logProbabilities: Variable<Scalar>, targets: [Int],
                                          ignoreIndex: Int = -100, reduction: LossReduction = .mean) -> Variable<Scalar> {
    let op = "negativeLogLikelihood"
    let layout = ClassLayout(op, shape: logProbabilities.shape, targets: targets, ignoreIndex: ignoreIndex)
    let (classes, inner) = (layout.classes, layout.inner)
    let x = logProbabilities.value.scalars
    func position(_ sample: Int) -> Int {
        (sample / inner) * classes * inner + targets[sample] * inner + sample % inner
    }
    var losses = [Scalar](repeating: 0, count: targets.count)
    var kept = 0
    for sample in targets.indices where targets[sample] != ignoreIndex {
        kept += 1
        losses[sample] = -x[position(sample)]
    }
    let value = reduce(losses, shape: layout.lossShape, reduction: reduction, kept: kept)
    let shape = logProbabilities.shape
    let scale: Scalar = reductionScale(reduction, kept: kept)
    let positions = targets.indices.map { targets[$0] == ignoreIndex ? -1 : position($0) }
    /// dx = −g·s at each kept sample's target position, an op linear in g whose backward reads the
    /// incoming gradient back at the same positions.
    func backward(_ g: Variable<Scalar>) -> Variable<Scalar> {
        var dx = [Scalar](repeating: 0, count: x.count)
        for sample in targets.indices where targets[sample] != ignoreIndex {
            dx[position(sample)] = -(reduction == .none ? g.value.scalars[sample] : g.value.scalars[0]) * scale
        }
        let gradientShape = g.shape
        return g.record("negativeLogLikelihoodBackward", Tensor(shape: shape, scalars: dx)) { v, _ in
            let picked = v.gathering(flatPositions: positions, shape: [positions.count]) * -scale
            return reduction == .none ? picked.reshaped(to: gradientShape) : picked.sum().reshaped(to: gradientShape)
        }
    }
    return Variable.record(op, [logProbabilities], value: value) { g, _ in [backward(g)] }
}

/// Binary cross-entropy on logits (PyTorch's `binary_cross_entropy_with_logits`), recorded as one
/// operation and stable for any logit.
///
/// Per element, with w = 1 + (posWeight − 1)·y (w = 1 without a positive weight):
/// `ℓ = (1 − y)·x + w·(log1p(e^{−|x|}) + max(−x, 0))`, which without posWeight is
/// `max(x, 0) − x·y + log1p(e^{−|x|})`; no exponential of a large positive number is ever taken.
///
/// Backward: ∂ℓ/∂x = (1 − y) − w·σ(−x) (σ(x) − y without posWeight);
/// ∂ℓ/∂y = −x + (posWeight − 1)·softplus(−x).
///
/// - Parameters:
///   - logits: Scores of any shape.
///   - targets: Probabilities in [0, 1] of the same shape (a constant, or a variable to differentiate).
///   - positiveWeight: Weights of positive examples, broadcast against the logits (for example one per
///     class on the last axis); `nil` for none.
///   - reduction: `.mean` over all elements (default), `.sum` or `.none`.
public func binaryCrossEntropy<Scalar>(logits: Variable<Scalar>, targets: Variable<Scalar>,
                                       positiveWeight: Tensor<Scalar>? = nil,
                                       reduction: LossReduction = .mean) -> Variable<Scalar> {
    let op = "binaryCrossEntropy"
    checkSameShape(op, logits, targets)
    let x = logits.value.scalars
    let y = targets.value.scalars
    let shape = logits.shape
    let weights: [Scalar]? = positiveWeight.map { w in
        guard broadcastShape(w.shape, shape, op: op) == shape else {
            usageError(op, "positiveWeight of shape \(w.shape) does not broadcast to the logits' shape \(shape)")
        }
        return w.expanded(to: shape).scalars
    }
    // softplus(−x) = log(1 + e^{−x}) = log1p(e^{−|x|}) + max(−x, 0), finite for every x.
    let softplusNegative = x.map { Scalar.log1p(Scalar.exp(-Swift.abs($0))) + Swift.max(-$0, 0) }
    var losses = [Scalar](repeating: 0, count: x.count)
    for k in x.indices {
        let w = weights.map { 1 + ($0[k] - 1) * y[k] } ?? 1
        losses[k] = (1 - y[k]) * x[k] + w * softplusNegative[k]
    }
    let value = reduce(losses, shape: shape, reduction: reduction, kept: x.count)
    let (sx, sy) = (logits.saved, targets.saved)
    return Variable.record(op, [logits, targets], value: value) { g, tape in
        binaryCrossEntropyBackward(tape[sx], tape[sy], g, weights: weights, softplusNegative: softplusNegative,
                                   reduction: reduction)
    }
}

/// The backward of `binaryCrossEntropy` as one two-output op: with U = g·s (s = 1/n for the mean) and
/// w = 1 + (posWeight − 1)·y,
/// `dx = U·((1 − y) − w·σ(−x))`, `dy = U·(−x + (posWeight − 1)·softplus(−x))`, in one loop.
///
/// Backward, for incoming (vx, vy): with σ₋ = σ(−x),
/// ∂/∂x = vx·U·w·σ₋(1 − σ₋) − vy·U·(1 + (posWeight − 1)·σ₋), ∂/∂y = −vx·U·(1 + (posWeight − 1)·σ₋),
/// ∂/∂g = s·Σ(vx·dx/U + vy·dy/U) reduced to g's shape.
private func binaryCrossEntropyBackward<Scalar: TensorScalar>(
    _ logits: Variable<Scalar>, _ targets: Variable<Scalar>, _ g: Variable<Scalar>, weights: [Scalar]?,
    softplusNegative: [Scalar], reduction: LossReduction
) -> [Variable<Scalar>?] {
    let x = logits.value.scalars
    let y = targets.value.scalars
    let shape = logits.shape
    let scale: Scalar = reductionScale(reduction, kept: x.count)
    var dx = [Scalar](repeating: 0, count: x.count)
    var dy = [Scalar](repeating: 0, count: x.count)
    for k in x.indices {
        let upstream = (reduction == .none ? g.value.scalars[k] : g.value.scalars[0]) * scale
        // σ(−x) = e^{−softplus(x)}, evaluated without overflow for either sign.
        let sigmoidNegative = x[k] >= 0 ? Scalar.exp(-x[k]) / (1 + Scalar.exp(-x[k])) : 1 / (1 + Scalar.exp(x[k]))
        let w = weights.map { 1 + ($0[k] - 1) * y[k] } ?? 1
        dx[k] = upstream * ((1 - y[k]) - w * sigmoidNegative)
        // The softplus term exists only with a positive weight (0·softplus(−x) would be NaN at x = −∞).
        dy[k] = upstream * (weights.map { -x[k] + ($0[k] - 1) * softplusNegative[k] } ?? -x[k])
    }
    let (sx, sy, sg) = (logits.saved, targets.saved, g.saved)
    let positiveExtra = weights.map { w in Tensor(shape: shape, scalars: w.map { $0 - 1 }) }
    return Variable.record("binaryCrossEntropyBackward", [logits, targets, g],
                           values: [Tensor(shape: shape, scalars: dx), Tensor(shape: shape, scalars: dy)]) { incoming, tape in
        let (x, y, g) = (tape[sx], tape[sy], tape[sg])
        let u = (reduction == .none ? g : g.expanded(to: shape)) * scale
        let extra = positiveExtra.map { tape.constant($0) }
        let sigmoidNegative = (-x).sigmoid()
        // 1 + (posWeight − 1)·σ(−x), and w = 1 + (posWeight − 1)·y.
        let coupling = extra.map { 1 + $0 * sigmoidNegative } ?? tape.constant(Tensor(repeating: 1, shape: shape))
        let w = extra.map { 1 + $0 * y } ?? tape.constant(Tensor(repeating: 1, shape: shape))
        var gx: Variable<Scalar>?, gy: Variable<Scalar>?, gu: Variable<Scalar>?
        func add(_ sum: inout Variable<Scalar>?, _ term: Variable<Scalar>) { sum = sum.map { $0 + term } ?? term }
        if let vx = incoming[0] {
            if tape.needs(0) { add(&gx, vx * u * w * sigmoidNegative * (1 - sigmoidNegative)) }
            if tape.needs(1) { add(&gy, -(vx * u * coupling)) }
            if tape.needs(2) { add(&gu, vx * ((1 - y) - w * sigmoidNegative)) }
        }
        if let vy = incoming[1] {
            if tape.needs(0) { add(&gx, -(vy * u * coupling)) }
            if tape.needs(2) {
                let softplus = (-x).softplus()
                add(&gu, vy * (extra.map { $0 * softplus - x } ?? -x))
            }
        }
        let gg = gu.map { term -> Variable<Scalar> in
            let scaled = term * scale
            return reduction == .none ? scaled : scaled.sum().reshaped(to: sg.shape)
        }
        return [gx, gy, gg]
    }
}
