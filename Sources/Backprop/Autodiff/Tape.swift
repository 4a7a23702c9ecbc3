/// A Wengert list: the record of every differentiable operation applied to `Variable`s, in order.
///
/// Each operation appends one record holding the indices of its inputs and a backward rule that
/// maps the gradient of its output to the gradients of its inputs. `backward()` walks the records
/// once, in reverse. Records refer to each other by index, and backward rules capture only tensors
/// and indices, so a tape and everything it saved is freed as soon as the last `Variable` on it goes
/// away.
///
/// Backward rules are written in `Variable` operations. A sweep with `createGraph: false` (the
/// default) runs them with recording off, so they cost what their tensor kernels cost; with
/// `createGraph: true` they are recorded on the same tape, so a gradient is itself a `Variable` that
/// can enter a loss and be differentiated again, to any order.
///
/// ```swift
/// let tape = Tape<Double>()
/// let x = tape.variable(Tensor([1, 2, 3]))
/// let y = (x * x * x).sum()
/// let dx = tape.gradients(of: y, withRespectTo: [x], createGraph: true)[0]   // 3x² = [3, 12, 27]
/// let ddx = tape.gradients(of: dx.sum(), withRespectTo: [x])[0]              // 6x = [6, 12, 18]
/// ```
///
/// A tape is used from one thread at a time; independent tapes may be used on different threads.
public final class Tape<Scalar: TensorScalar> {
    /// A backward rule: the gradient of a record's output to one gradient per input (`nil` for an
    /// input that needs none).
    typealias Pullback = (Variable<Scalar>, BackwardContext<Scalar>) -> [Variable<Scalar>?]
    /// The backward rule of an operation with several outputs: one gradient per output (`nil` for an
    /// output no gradient reached) to one gradient per input.
    typealias TuplePullback = ([Variable<Scalar>?], BackwardContext<Scalar>) -> [Variable<Scalar>?]

    /// How a record passes gradients back.
    enum Rule {
        /// A leaf: its gradient is a result (`parameter` receives it in `backward()`).
        case leaf(parameter: Parameter<Scalar>?)
        /// An operation with one output.
        case single(Pullback)
        /// An operation with several outputs; each output is a `projection` record that follows it.
        case tuple(TuplePullback, outputCount: Int)
        /// Output `slot` of the multi-output operation recorded at `parent`.
        case projection(parent: Int, slot: Int)
        /// A backward rule freed by `release()`.
        case released
    }

    /// One entry of the list.
    struct Record {
        /// The operation's name, for error messages.
        var name: String
        /// Indices of the input records (`-1` for inputs that need no gradient).
        var inputs: [Int]
        /// How gradients flow back through the record.
        var rule: Rule
        /// The output shape (gradients arriving here must have it); empty for a multi-output parent.
        var shape: [Int]
        /// For anomaly detection (only while it is on): input shapes and call sites.
        var anomalyContext: AnomalyDetection.Context?

        /// Whether the record is a leaf (a variable or a parameter).
        var isLeaf: Bool {
            if case .leaf = rule { return true }
            return false
        }
    }

    var records: [Record] = []
    /// Gradients accumulated into leaves that are not parameters by `backward()`: the value, and the
    /// node of the gradient on this tape when it was recorded (`createGraph`), else −1.
    var leafGradients: [Int: (value: Tensor<Scalar>, node: Int)] = [:]
    /// Leaves already created for parameters, so one parameter is one leaf per tape.
    var parameterLeaves: [ObjectIdentifier: Int] = [:]
    /// Whether `backward()` released the backward rules and the tensors they saved.
    public private(set) var isReleased = false

    /// Called by `backward()` once per parameter that receives a gradient, as soon as the sweep has
    /// finished that gradient (every operation that used the parameter comes later on the tape) and
    /// added it to `parameter.grad` — before the rest of the sweep runs. Data-parallel training uses
    /// it to start reducing a bucket of gradients while the backward pass goes on. It runs on the
    /// sweeping thread, in sweep order; it must not use this tape. Not called by `gradients(of:…)`.
    public var onParameterGradientReady: ((Parameter<Scalar>) -> Void)?

    /// Creates an empty tape.
    public init() { MemoryPolicy.activate() }

    /// The number of records (leaves, operations and the outputs of multi-output operations).
    public var count: Int { records.count }

    /// A leaf that requires a gradient.
    ///
    /// - Parameter value: The leaf's value.
    /// - Returns: A variable whose gradient `backward()` accumulates (read it with `grad`).
    public func variable(_ value: Tensor<Scalar>) -> Variable<Scalar> {
        checkNotReleased("variable")
        records.append(Record(name: "leaf", inputs: [], rule: .leaf(parameter: nil), shape: value.shape, anomalyContext: nil))
        return Variable(value: value, tape: self, node: records.count - 1)
    }

    /// A value on this tape that needs no gradient (data, targets, masks).
    public func constant(_ value: Tensor<Scalar>) -> Variable<Scalar> {
        Variable(value: value, tape: self, node: -1)
    }

    /// The leaf for a parameter on this tape; `backward()` adds its gradient to `parameter.grad`.
    ///
    /// Asking twice for the same parameter returns the same leaf. A parameter with
    /// `requiresGradient == false`, or any parameter inside a no-grad scope, becomes a constant.
    public func variable(for parameter: Parameter<Scalar>) -> Variable<Scalar> {
        guard parameter.requiresGradient && GradientMode.isEnabled else { return constant(parameter.value) }
        checkNotReleased("variable(for:)")
        let key = ObjectIdentifier(parameter)
        if let node = parameterLeaves[key] {
            return Variable(value: parameter.value, tape: self, node: node)
        }
        records.append(Record(name: "parameter", inputs: [], rule: .leaf(parameter: parameter), shape: parameter.value.shape,
                              anomalyContext: nil))
        parameterLeaves[key] = records.count - 1
        return Variable(value: parameter.value, tape: self, node: records.count - 1)
    }

    func checkNotReleased(_ op: String) {
        if isReleased {
            usageError(op, "this tape was released by an earlier backward(); record a new tape for each step, or pass retainGraph: true to backward")
        }
    }

    /// Appends an operation record and returns the variable for its output.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func append(_ name: String, value: Tensor<Scalar>, inputs: [Int],
                anomalyContext: AnomalyDetection.Context?, pullback: @escaping Pullback) -> Variable<Scalar> {
        checkNotReleased(name)
        records.append(Record(name: name, inputs: inputs, rule: .single(pullback), shape: value.shape, anomalyContext: anomalyContext))
        let node = records.count - 1
        if anomalyContext != nil { AnomalyDetection.checkForward(name, value: value, node: node, context: anomalyContext) }
        return Variable(value: value, tape: self, node: node)
    }

    /// Appends a multi-output operation: its record, then one projection record per output.
    func append(_ name: String, values: [Tensor<Scalar>], inputs: [Int],
                anomalyContext: AnomalyDetection.Context?, pullback: @escaping TuplePullback) -> [Variable<Scalar>] {
        checkNotReleased(name)
        records.append(Record(name: name, inputs: inputs, rule: .tuple(pullback, outputCount: values.count), shape: [],
                              anomalyContext: anomalyContext))
        let parent = records.count - 1
        return values.enumerated().map { slot, value in
            records.append(Record(name: "\(name)[\(slot)]", inputs: [parent], rule: .projection(parent: parent, slot: slot),
                                  shape: value.shape, anomalyContext: nil))
            if anomalyContext != nil { AnomalyDetection.checkForward(name, value: value, node: records.count - 1, context: anomalyContext) }
            return Variable(value: value, tape: self, node: records.count - 1)
        }
    }

    /// The seed of a sweep from `output`: the given one, or ones for a one-element output.
    func seedVariable(for output: Variable<Scalar>, _ seed: Variable<Scalar>?) -> Variable<Scalar> {
        if let seed {
            guard seed.shape == output.shape else {
                usageError("backward", "seed of shape \(seed.shape) does not match the output shape \(output.shape)")
            }
            if let seedTape = seed.tape, seedTape !== self {
                usageError("backward", "the seed variable belongs to a different tape than the output")
            }
            return seed.tape == nil ? Variable(value: seed.value, tape: self, node: -1) : seed
        }
        guard output.value.count == 1 else {
            usageError("backward", "the output has shape \(output.shape) (\(output.value.count) elements); backward without a seed needs a one-element output — pass seed: with the output's shape")
        }
        return Variable(value: Tensor(repeating: 1, shape: output.shape), tape: self, node: -1)
    }

    /// Runs the reverse sweep from `output`, returning the gradient of every leaf (or, when `wanted`
    /// is given, of every record in it), indexed like `records`.
    ///
    /// With `createGraph` the backward rules are recorded on this tape; otherwise they run with
    /// recording off. Only records on a path to a wanted record (to a leaf when `wanted` is `nil`)
    /// are visited, and each rule is told which of its inputs lie on such a path.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func reverseSweep(from output: Variable<Scalar>, seed: Variable<Scalar>?, wanted: Set<Int>?, createGraph: Bool,
                      leafReady: ((Int, Variable<Scalar>) -> Void)? = nil) -> [Int: Variable<Scalar>] {
        checkNotReleased("backward")
        guard output.tape === self else {
            usageError("backward", "the output variable belongs to a different tape")
        }
        let seedVariable = seedVariable(for: output, seed)
        guard output.node >= 0 else { return [:] }
        if createGraph {
            return sweep(from: output.node, seed: seedVariable, wanted: wanted, createGraph: true, leafReady: leafReady)
        }
        return GradientMode.$disabled.withValue(true) {
            sweep(from: output.node, seed: seedVariable, wanted: wanted, createGraph: false, leafReady: leafReady)
        }
    }

    /// Which records lie on a path from a wanted record (a leaf when `wanted` is `nil`) to `top`:
    /// a record's gradient is needed when it is wanted or one of its inputs' gradients is.
    private func neededRecords(upTo top: Int, wanted: Set<Int>?) -> (needed: [Bool], lowest: Int) {
        let lowest = wanted?.min() ?? 0
        var needed = [Bool](repeating: false, count: top + 1)
        guard lowest <= top else { return (needed, lowest) }
        for index in lowest...top {
            if let wanted {
                if wanted.contains(index) { needed[index] = true; continue }
            } else if records[index].isLeaf {
                needed[index] = true
                continue
            }
            for input in records[index].inputs where input >= lowest && needed[input] {
                needed[index] = true
                break
            }
        }
        return (needed, lowest)
    }

    /// The sweep itself (see `reverseSweep`). A leaf's gradient is final when the sweep reaches the
    /// leaf's index; `leafReady` receives it then (and the result omits it), else the result holds it.
    private func sweep(from top: Int, seed: Variable<Scalar>, wanted: Set<Int>?, createGraph: Bool,
                       leafReady: ((Int, Variable<Scalar>) -> Void)?) -> [Int: Variable<Scalar>] {
        var result: [Int: Variable<Scalar>] = [:]
        let (needed, lowest) = neededRecords(upTo: top, wanted: wanted)
        guard needed[top] else { return result }
        var gradients = [Variable<Scalar>?](repeating: nil, count: top + 1)
        // The output gradients of multi-output operations, gathered from their projection records.
        var tupleGradients: [Int: [Variable<Scalar>?]] = [:]
        gradients[top] = seed
        let checkingAnomalies = AnomalyDetection.isEnabled
        var index = top
        while index >= lowest {
            defer { index -= 1 }
            guard let gradient = gradients[index] else { continue }
            gradients[index] = nil
            let rule = records[index].rule
            switch rule {
            case .leaf:
                if let leafReady { leafReady(index, gradient) } else { result[index] = gradient }
                continue
            case .projection(let parent, let slot):
                if wanted?.contains(index) == true { result[index] = gradient }
                guard case .tuple(_, let outputCount) = records[parent].rule else { continue }
                var slots = tupleGradients.removeValue(forKey: parent) ?? [Variable<Scalar>?](repeating: nil, count: outputCount)
                slots[slot] = slots[slot].map { accumulate($0, gradient, createGraph: createGraph) } ?? gradient
                tupleGradients[parent] = slots
                // Mark the parent as reached; its rule reads `tupleGradients`.
                if gradients[parent] == nil { gradients[parent] = gradient }
                continue
            case .released:
                checkNotReleased("backward")
                continue
            case .single, .tuple:
                break
            }
            if wanted?.contains(index) == true { result[index] = gradient }
            let inputs = records[index].inputs
            let context = BackwardContext(tape: self, outputNode: index, inputNodes: inputs, neededRecords: needed, lowest: lowest)
            let inputGradients: [Variable<Scalar>?]
            var outputGradients: [Variable<Scalar>?] = []
            if case .tuple = rule { outputGradients = tupleGradients.removeValue(forKey: index) ?? [] }
            func runRule() -> [Variable<Scalar>?] {
                switch rule {
                case .single(let pullback): pullback(gradient, context)
                case .tuple(let pullback, _): pullback(outputGradients, context)
                default: []
                }
            }
            // With anomaly detection on, the sweep checks each rule's results below; the operations a
            // rule runs internally are not forward operations of the user's program.
            inputGradients = checkingAnomalies ? AnomalyDetection.$enabled.withValue(false) { runRule() } : runRule()
            guard inputGradients.count == inputs.count else {
                BackwardDiagnostics.report(records[index].name, "backward rule returned \(inputGradients.count) gradients for \(inputs.count) inputs")
                continue
            }
            for position in 0..<inputs.count {
                let input = inputs[position]
                guard input >= 0 else { continue }
                // A built-in rule returns nil for a gradient that is zero (custom operations are checked
                // for missing gradients where they are recorded).
                guard let g = inputGradients[position] else { continue }
                guard g.shape == records[input].shape else {
                    BackwardDiagnostics.report(records[index].name, "backward rule returned a gradient of shape \(g.shape) for input \(position), whose shape is \(records[input].shape)")
                    continue
                }
                guard input >= lowest && needed[input] else { continue }
                if checkingAnomalies {
                    AnomalyDetection.checkBackward(records[index].name, gradient: g.value, input: position, node: index, context: records[index].anomalyContext)
                }
                if let existing = gradients[input] {
                    gradients[input] = nil
                    gradients[input] = accumulate(existing, g, createGraph: createGraph)
                } else {
                    gradients[input] = g
                }
            }
        }
        return result
    }

    /// `existing + g`: recorded when a graph is being created and either needs a gradient, else added
    /// as tensors into a new buffer. Adding in place would copy `existing` first, on one thread,
    /// whenever its storage is shared, and it often is: an addition's backward hands the same
    /// gradient to both inputs (every residual connection), a copy's hands its own on.
    private func accumulate(_ existing: Variable<Scalar>, _ g: Variable<Scalar>, createGraph: Bool) -> Variable<Scalar> {
        if createGraph && (existing.requiresGradient || g.requiresGradient) { return existing + g }
        return Variable(value: existing.value + g.value, tape: self, node: -1)
    }

    /// Frees every backward rule and the tensors it saved; later use of the tape is an error.
    func release() {
        for i in records.indices {
            switch records[i].rule {
            case .single, .tuple, .projection: records[i].rule = .released
            case .leaf, .released: break
            }
        }
        isReleased = true
    }

    /// The gradients of `output` with respect to each of `inputs`, without touching `grad` of parameters.
    ///
    /// - Parameters:
    ///   - output: A variable on this tape; it must hold one element unless `seed` is given.
    ///   - inputs: Variables on this tape (leaves or intermediate results).
    ///   - seed: The gradient of the final quantity with respect to `output` (defaults to ones for a
    ///     one-element output).
    ///   - retainGraph: Keep the records so the tape can be swept again (as in PyTorch).
    ///   - allowUnused: Return zeros for an input that does not require a gradient or that `output` does
    ///     not depend on, and for every input when `output` itself does not require a gradient, instead
    ///     of stopping (PyTorch's `allow_unused=True` with `materialize_grads=True`).
    /// - Returns: One gradient per input, with the input's shape. An input that `output` depends on
    ///   only through operations with a zero derivative (a `relu` in its flat part) gets zeros.
    ///
    /// Asking for the gradient with respect to something that does not require one (a constant, a
    /// `detached()` value, a result computed inside `withoutGradients`), of an output that does not
    /// require one, or with respect to a variable the output was not computed from, is an error that
    /// names the input (PyTorch raises "does not require grad" and "appears to not have been used in the
    /// graph"), unless `allowUnused` is true.
    public func gradients(of output: Variable<Scalar>, withRespectTo inputs: [Variable<Scalar>],
                          seed: Tensor<Scalar>? = nil, retainGraph: Bool = false, allowUnused: Bool = false) -> [Tensor<Scalar>] {
        gradients(of: output, withRespectTo: inputs, seed: seed.map { Variable($0) }, retainGraph: retainGraph,
                  createGraph: false, allowUnused: allowUnused).map(\.value)
    }

    /// The gradients of `output` with respect to each of `inputs`, as variables on this tape (PyTorch's
    /// `torch.autograd.grad`). With `createGraph` they are recorded, so they can enter a loss and be
    /// differentiated again (gradient penalties, Hessian-vector products, physics-informed losses).
    ///
    /// ```swift
    /// let x = tape.variable(Tensor([2.0]))
    /// let dy = tape.gradients(of: x.pow(3).sum(), withRespectTo: [x], createGraph: true)[0]   // 3x² = 12
    /// let d2y = tape.gradients(of: dy.sum(), withRespectTo: [x])[0]                            // 6x = 12
    /// ```
    ///
    /// - Parameters:
    ///   - output: A variable on this tape; it must hold one element unless `seed` is given.
    ///   - inputs: Variables on this tape (leaves or intermediate results).
    ///   - seed: The gradient of the final quantity with respect to `output`, with its shape (defaults to
    ///     ones for a one-element output). It may itself be a variable on this tape (for example a
    ///     leaf, to differentiate the result with respect to the seed: a Jacobian-vector product).
    ///   - retainGraph: Keep the records for another sweep; defaults to `createGraph`.
    ///   - createGraph: Record the backward rules so the gradients are differentiable.
    ///   - allowUnused: Return zeros (constants) for an input that does not require a gradient or that
    ///     `output` does not depend on, and for every input when `output` does not require a gradient,
    ///     instead of stopping (PyTorch's `allow_unused=True` with `materialize_grads=True`). Loops over
    ///     derivatives of several orders need it: the derivative of a linear function is a constant.
    /// - Returns: One gradient per input, with the input's shape (zeros where `output` depends on the
    ///   input only through operations with a zero derivative).
    ///
    /// Without `allowUnused`, a gradient with respect to something that does not require one (a
    /// constant, a `detached()` value, a result computed inside `withoutGradients`), of an output that
    /// does not require one, or with respect to a variable the output was not computed from, stops with
    /// a message naming the input, as PyTorch raises "does not require grad" and "appears to not have
    /// been used in the graph".
    public func gradients(of output: Variable<Scalar>, withRespectTo inputs: [Variable<Scalar>],
                          seed: Variable<Scalar>? = nil, retainGraph: Bool? = nil, createGraph: Bool,
                          allowUnused: Bool = false) -> [Variable<Scalar>] {
        for (i, input) in inputs.enumerated() where input.tape !== self && input.node >= 0 {
            usageError("gradients", "input \(i) belongs to a different tape than the output")
        }
        if !allowUnused {
            for (i, input) in inputs.enumerated() where input.node < 0 {
                usageError("gradients", "input \(i) (shape \(input.shape)) does not require a gradient: it is a constant (tape.constant, Variable(_:), detached(), or computed inside withoutGradients or from constants only); differentiate with respect to tape.variable(_:) leaves or results computed from them, or pass allowUnused: true to get zeros for it")
            }
            if output.node < 0 {
                usageError("gradients", "the output (shape \(output.shape)) does not require a gradient: it was computed from constants only, or inside withoutGradients; pass allowUnused: true to get zeros")
            }
        }
        let wanted = Set(inputs.map { $0.node }.filter { $0 >= 0 })
        let found = reverseSweep(from: output, seed: seed, wanted: wanted, createGraph: createGraph)
        if !allowUnused {
            for (i, input) in inputs.enumerated() where found[input.node] == nil && !lies(input.node, onAPathInto: output.node) {
                usageError("gradients", "input \(i) (shape \(input.shape)) was not used to compute the output; pass allowUnused: true to get zeros for it")
            }
        }
        if !(retainGraph ?? createGraph) { release() }
        return inputs.map { found[$0.node] ?? Variable(value: Tensor(zerosLike: $0.value), tape: self, node: -1) }
    }

    /// Whether record `target` is `top` or an input, directly or through other records, of `top`.
    private func lies(_ target: Int, onAPathInto top: Int) -> Bool {
        guard target >= 0, top >= target else { return false }
        var reached = [Bool](repeating: false, count: top - target + 1)
        reached[top - target] = true
        for index in stride(from: top, to: target, by: -1) where reached[index - target] {
            for input in records[index].inputs where input >= target { reached[input - target] = true }
        }
        return reached[0]
    }

    /// Sweeps back from `output`, accumulating gradients into every leaf: `parameter.grad` for
    /// parameters, `grad` for other leaves. Releases the tape unless `retainGraph` is true. An output
    /// that does not require a gradient (computed from constants only) is an error, as in PyTorch.
    ///
    /// - Parameters:
    ///   - output: A variable on this tape; it must hold one element unless `seed` is given.
    ///   - seed: The gradient with respect to `output`.
    ///   - retainGraph: Keep the tape for another sweep; defaults to `createGraph`.
    ///   - createGraph: Record the backward rules, so each leaf's accumulated gradient is a
    ///     differentiable variable on this tape (read it with `accumulatedGradient(for:)`).
    public func backward(from output: Variable<Scalar>, seed: Tensor<Scalar>? = nil, retainGraph: Bool? = nil,
                         createGraph: Bool = false) {
        if output.node < 0 && output.tape === self {
            usageError("backward", "the output (shape \(output.shape)) does not require a gradient: it was computed from constants only, or inside withoutGradients, so no leaf can receive one (PyTorch: \"element 0 of tensors does not require grad\")")
        }
        let hook = onParameterGradientReady
        _ = reverseSweep(from: output, seed: seed.map { Variable($0) }, wanted: nil, createGraph: createGraph) { node, gradient in
            guard case .leaf(let parameter) = self.records[node].rule else { return }
            if let parameter {
                parameter.accumulate(gradient.value)
                hook?(parameter)
            }
            // A parameter's gradient lives in `parameter.grad`; the tape keeps it only as a variable.
            guard parameter == nil || createGraph else { return }
            if let existing = self.leafGradients.removeValue(forKey: node) {
                let previous = Variable(value: existing.value, tape: self, node: existing.node)
                let sum = createGraph ? previous + gradient : Variable(value: existing.value + gradient.value, tape: self, node: -1)
                self.leafGradients[node] = (sum.value, sum.node)
            } else {
                self.leafGradients[node] = (gradient.value, gradient.node)
            }
        }
        if !(retainGraph ?? createGraph) { release() }
    }

    /// The gradient that `backward()` accumulated into a leaf of this tape, as a variable on it:
    /// differentiable when the sweeps that produced it ran with `createGraph: true`.
    ///
    /// - Parameter leaf: A leaf created with `variable(_:)` on this tape.
    /// - Returns: The gradient, or `nil` before any `backward()` reached the leaf.
    public func accumulatedGradient(for leaf: Variable<Scalar>) -> Variable<Scalar>? {
        guard leaf.tape === self, leaf.node >= 0, let gradient = leafGradients[leaf.node] else { return nil }
        return Variable(value: gradient.value, tape: self, node: gradient.node)
    }

    /// The gradient that `backward()` on this tape accumulated for a parameter, as a variable on the
    /// tape: differentiable when the sweeps ran with `createGraph: true` (PyTorch's `p.grad` after
    /// `loss.backward(create_graph=True)`). `parameter.grad` holds the same values (summed over tapes).
    ///
    /// - Parameter parameter: A parameter read on this tape with `variable(for:)`.
    /// - Returns: The gradient, or `nil` when no `backward()` on this tape reached the parameter.
    public func accumulatedGradient(for parameter: Parameter<Scalar>) -> Variable<Scalar>? {
        guard let node = parameterLeaves[ObjectIdentifier(parameter)], let gradient = leafGradients[node] else { return nil }
        return Variable(value: gradient.value, tape: self, node: gradient.node)
    }
}

/// A call site, recorded with each operation while anomaly detection is on.
public struct SourceLocation: Sendable, CustomStringConvertible {
    /// The file, as `#fileID` gives it.
    public var file: String
    /// The line.
    public var line: Int
    /// `"file:line"`.
    public var description: String { "\(file):\(line)" }
}
