/// A Wengert list: the record of every differentiable operation applied to `Variable`s, in order.
///
/// Each operation appends one record holding the indices of its inputs and a pullback closure that
/// maps the gradient of its output to the gradients of its inputs. `backward()` walks the records
/// once, in reverse. Records refer to each other by index, and pullbacks capture only tensors, so a
/// tape and everything it saved is freed as soon as the last `Variable` on it goes away.
///
/// ```swift
/// let tape = Tape<Double>()
/// let x = tape.variable(Tensor([1, 2, 3]))
/// let y = (x * x).sum()
/// let dx = tape.gradients(of: y, withRespectTo: [x])[0]   // [2, 4, 6]
/// ```
///
/// A tape is used from one thread at a time; independent tapes may be used on different threads.
public final class Tape<Scalar: TensorScalar> {
    /// One entry of the list.
    struct Record {
        /// The operation's name, for error messages.
        var name: String
        /// Indices of the input records (`-1` for inputs that need no gradient).
        var inputs: [Int]
        /// Maps the output gradient to one gradient per input (`nil` for none); `nil` for leaves.
        var pullback: ((Tensor<Scalar>) -> [Tensor<Scalar>?])?
        /// The output shape (gradients arriving here must have it).
        var shape: [Int]
        /// For a leaf made from a `Parameter`, the parameter whose `grad` receives the gradient.
        var parameter: Parameter<Scalar>?
        /// For anomaly detection (only while it is on): input shapes and call sites.
        var anomalyContext: AnomalyDetection.Context?
    }

    var records: [Record] = []
    /// Gradients of leaves that are not parameters, after `backward()`.
    var leafGradients: [Int: Tensor<Scalar>] = [:]
    /// Leaves already created for parameters, so one parameter is one leaf per tape.
    var parameterLeaves: [ObjectIdentifier: Int] = [:]
    /// Whether `backward()` released the pullbacks and the tensors they saved.
    public private(set) var isReleased = false

    /// Creates an empty tape.
    public init() { MemoryPolicy.activate() }

    /// The number of records (leaves and operations).
    public var count: Int { records.count }

    /// A leaf that requires a gradient.
    ///
    /// - Parameter value: The leaf's value.
    /// - Returns: A variable whose gradient `backward()` accumulates (read it with `grad`).
    public func variable(_ value: Tensor<Scalar>) -> Variable<Scalar> {
        checkNotReleased("variable")
        records.append(Record(name: "leaf", inputs: [], pullback: nil, shape: value.shape, parameter: nil, anomalyContext: nil))
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
        records.append(Record(name: "parameter", inputs: [], pullback: nil, shape: parameter.value.shape, parameter: parameter, anomalyContext: nil))
        parameterLeaves[key] = records.count - 1
        return Variable(value: parameter.value, tape: self, node: records.count - 1)
    }

    func checkNotReleased(_ op: String) {
        if isReleased {
            shapeError(op, "this tape was released by an earlier backward(); record a new tape for each step, or pass retainGraph: true to backward")
        }
    }

    /// Appends an operation record and returns the variable for its output.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func append(_ name: String, value: Tensor<Scalar>, inputs: [Int],
                anomalyContext: AnomalyDetection.Context?, pullback: @escaping (Tensor<Scalar>) -> [Tensor<Scalar>?]) -> Variable<Scalar> {
        checkNotReleased(name)
        records.append(Record(name: name, inputs: inputs, pullback: pullback, shape: value.shape, parameter: nil, anomalyContext: anomalyContext))
        let node = records.count - 1
        if anomalyContext != nil { AnomalyDetection.checkForward(name, value: value, node: node, context: anomalyContext) }
        return Variable(value: value, tape: self, node: node)
    }

    /// Runs the reverse sweep from `output` seeded with `seed`, returning the gradient of every record
    /// that needs one (indexed like `records`), or only of `wanted` when given.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func reverseSweep(from output: Variable<Scalar>, seed: Tensor<Scalar>?, wanted: Set<Int>?) -> [Int: Tensor<Scalar>] {
        checkNotReleased("backward")
        guard output.tape === self else {
            shapeError("backward", "the output variable belongs to a different tape")
        }
        let seedTensor: Tensor<Scalar>
        if let seed {
            guard seed.shape == output.shape else {
                shapeError("backward", "seed of shape \(seed.shape) does not match the output shape \(output.shape)")
            }
            seedTensor = seed
        } else {
            guard output.value.count == 1 else {
                shapeError("backward", "the output has shape \(output.shape) (\(output.value.count) elements); backward without a seed needs a one-element output — pass seed: with the output's shape")
            }
            seedTensor = Tensor(repeating: 1, shape: output.shape)
        }
        var result: [Int: Tensor<Scalar>] = [:]
        guard output.node >= 0 else { return result }
        var gradients = [Tensor<Scalar>?](repeating: nil, count: output.node + 1)
        gradients[output.node] = seedTensor
        let lowest = wanted?.min() ?? 0
        var index = output.node
        let checkingAnomalies = AnomalyDetection.isEnabled
        while index >= lowest {
            defer { index -= 1 }
            guard let gradient = gradients[index] else { continue }
            gradients[index] = nil
            // Read the record's fields in place rather than copying the whole record: this loop
            // runs once per operation and copies cost a retain and release per field.
            guard let pullback = records[index].pullback else {
                if wanted == nil || wanted!.contains(index) { result[index] = gradient }
                continue
            }
            if wanted?.contains(index) == true { result[index] = gradient }
            let inputGradients = pullback(gradient)
            let inputCount = records[index].inputs.count
            for position in 0..<inputCount {
                let input = records[index].inputs[position]
                guard input >= 0, position < inputGradients.count, let g = inputGradients[position] else { continue }
                guard g.shape == records[input].shape else {
                    shapeError(records[index].name, "backward rule returned a gradient of shape \(g.shape) for input \(position), whose shape is \(records[input].shape)")
                }
                if checkingAnomalies {
                    AnomalyDetection.checkBackward(records[index].name, gradient: g, input: position, node: index, context: records[index].anomalyContext)
                }
                if var sum = gradients[input] {
                    // Take the tensor out first so `+=` finds its storage uniquely referenced and
                    // adds in place instead of copying it.
                    gradients[input] = nil
                    sum += g
                    gradients[input] = sum
                } else {
                    gradients[input] = g
                }
            }
        }
        return result
    }

    /// Frees every pullback and the tensors it saved; later use of the tape is an error.
    func release() {
        for i in records.indices { records[i].pullback = nil }
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
    /// - Returns: One gradient per input, with the input's shape; zeros where `output` does not depend on it.
    public func gradients(of output: Variable<Scalar>, withRespectTo inputs: [Variable<Scalar>],
                          seed: Tensor<Scalar>? = nil, retainGraph: Bool = false) -> [Tensor<Scalar>] {
        for (i, input) in inputs.enumerated() where input.tape !== self && input.node >= 0 {
            shapeError("gradients", "input \(i) belongs to a different tape than the output")
        }
        let wanted = Set(inputs.map { $0.node }.filter { $0 >= 0 })
        let found = reverseSweep(from: output, seed: seed, wanted: wanted)
        if !retainGraph { release() }
        return inputs.map { found[$0.node] ?? Tensor(zerosLike: $0.value) }
    }

    /// Sweeps back from `output`, accumulating gradients into every leaf: `parameter.grad` for
    /// parameters, `grad` for other leaves. Releases the tape unless `retainGraph` is true.
    public func backward(from output: Variable<Scalar>, seed: Tensor<Scalar>? = nil, retainGraph: Bool = false) {
        let found = reverseSweep(from: output, seed: seed, wanted: nil)
        for (node, gradient) in found {
            let record = records[node]
            guard record.pullback == nil, record.name == "leaf" || record.name == "parameter" else { continue }
            if let parameter = record.parameter {
                parameter.accumulate(gradient)
            } else if var sum = leafGradients.removeValue(forKey: node) {
                sum += gradient
                leafGradients[node] = sum
            } else {
                leafGradients[node] = gradient
            }
        }
        if !retainGraph { release() }
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
