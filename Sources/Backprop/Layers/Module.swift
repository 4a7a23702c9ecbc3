/// A non-trainable tensor owned by a module and saved with it, such as BatchNorm's running mean
/// (PyTorch's registered buffers).
public final class Buffer<Scalar: TensorScalar>: @unchecked Sendable {
    /// The current value.
    public var value: Tensor<Scalar>
    /// The dtype the buffer is written as in a state dict file, or `nil` for `Scalar`'s (`F32` or
    /// `F64`). PyTorch's integer buffers, such as a step counter, are `.int64`; buffers named
    /// `num_batches_tracked` are written as `I64` even when this is `nil`, as PyTorch registers them.
    public var savedDType: SafeTensorsDType?

    /// Creates a buffer with an initial value.
    ///
    /// - Parameters:
    ///   - value: The initial value.
    ///   - savedDType: The dtype to write it as, or `nil` for `Scalar`'s.
    public init(_ value: Tensor<Scalar>, savedDType: SafeTensorsDType? = nil) {
        self.value = value
        self.savedDType = savedDType
    }
}

/// Anything with parameters that maps a variable to a variable: layers, blocks, whole models.
///
/// Conforming classes store their parameters (`Parameter`), buffers (`Buffer`), submodules and
/// arrays of submodules as ordinary properties; `namedParameters` and `namedBuffers` discover them
/// by reflection, with the names PyTorch's `state_dict` gives the same structure (property names in
/// snake case joined by dots, array elements by index: `"blocks.0.norm1.weight"`). Nothing is listed
/// twice by hand.
///
/// ```swift
/// final class Block: Module {
///     let norm1 = LayerNorm<Float>(normalizedShape: [8])
///     let linear = Linear<Float>(inputSize: 8, outputSize: 8, generator: &generator)
///     func callAsFunction(_ x: Variable<Float>) -> Variable<Float> { x + linear(norm1(x)).relu() }
/// }
/// ```
public protocol Module<Scalar>: AnyObject {
    /// The scalar type of the parameters and of the data.
    associatedtype Scalar: TensorScalar

    /// Whether the module is in training mode (true) or evaluation mode; set it for the whole tree
    /// with `train()` and `eval()`. Every module has it (see the default implementation); a type may
    /// still store its own.
    var isTraining: Bool { get set }

    /// Applies the module to `x`, recording on `x.tape` (parameters become constants when `x` has no tape).
    func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar>

    /// The direct children, each with its name: parameters, buffers, submodules and arrays of
    /// submodules. The default reflects over the stored properties; `Sequential` overrides it to name
    /// its layers `"0"`, `"1"`, ….
    var namedChildren: [(name: String, value: Any)] { get }
}

extension Module {
    /// The stored properties of this object and its superclasses, names in snake case.
    public var namedChildren: [(name: String, value: Any)] { reflectedChildren }

    /// The stored properties with some names replaced, for a `namedChildren` that follows a foreign
    /// layout: `reflectedChildren(renaming: ["layer_norm": "LayerNorm"])` names a property
    /// `layerNorm` `LayerNorm`, as Hugging Face does. Keys are the snake-case names.
    ///
    /// ```swift
    /// var namedChildren: [(name: String, value: Any)] { reflectedChildren(renaming: ["layer_norm": "LayerNorm"]) }
    /// ```
    public func reflectedChildren(renaming names: [String: String]) -> [(name: String, value: Any)] {
        reflectedChildren.map { (names[$0.name] ?? $0.name, $0.value) }
    }

    /// The stored properties of this object and its superclasses, names in snake case, found by
    /// reflection (what the default `namedChildren` returns).
    public var reflectedChildren: [(name: String, value: Any)] {
        var result: [(name: String, value: Any)] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        var levels: [[(name: String, value: Any)]] = []
        while let current = mirror {
            levels.append(current.children.compactMap { child in
                guard let label = child.label else { return nil }
                return (snakeCased(label), child.value)
            })
            mirror = current.superclassMirror
        }
        for level in levels.reversed() { result += level }
        return result
    }

    /// Every parameter of this module and its submodules with its dotted `state_dict` name, in
    /// declaration order.
    public var namedParameters: [(name: String, parameter: Parameter<Scalar>)] {
        var result: [(name: String, parameter: Parameter<Scalar>)] = []
        visit(prefix: "") { name, value in
            if let parameter = value as? Parameter<Scalar> { result.append((name, parameter)) }
        }
        return result
    }

    /// Every parameter, in the order of `namedParameters`.
    public var parameters: [Parameter<Scalar>] { namedParameters.map(\.parameter) }

    /// Every buffer (running statistics) of this module and its submodules with its dotted name.
    public var namedBuffers: [(name: String, buffer: Buffer<Scalar>)] {
        var result: [(name: String, buffer: Buffer<Scalar>)] = []
        visit(prefix: "") { name, value in
            if let buffer = value as? Buffer<Scalar> { result.append((name, buffer)) }
        }
        return result
    }

    /// Parameters and buffers by name, as PyTorch's `state_dict()`.
    public var stateDictionary: [String: Tensor<Scalar>] {
        var result: [String: Tensor<Scalar>] = [:]
        for (name, parameter) in namedParameters { result[name] = parameter.value }
        for (name, buffer) in namedBuffers { result[name] = buffer.value }
        return result
    }

    /// This module and every submodule, depth first, with dotted names (`""` for this one).
    public var namedModules: [(name: String, module: any Module<Scalar>)] {
        var result: [(name: String, module: any Module<Scalar>)] = [("", self)]
        visit(prefix: "") { name, value in
            if let module = value as? any Module<Scalar> { result.append((name, module)) }
        }
        return result
    }

    /// Puts this module and every submodule in training mode.
    public func train() { setTraining(true) }

    /// Puts this module and every submodule in evaluation mode (running statistics, no dropout).
    public func eval() { setTraining(false) }

    /// Sets `isTraining` on this module and every submodule.
    public func setTraining(_ training: Bool) {
        for (_, module) in namedModules { module.isTraining = training }
    }

    /// Clears the accumulated gradient of every parameter.
    public func zeroGradients() {
        for parameter in parameters { parameter.zeroGradient() }
    }

    /// Calls `body` for every descendant value (parameter, buffer or module) with its dotted name.
    func visit(prefix: String, _ body: (String, Any) -> Void) {
        for (name, value) in namedChildren {
            let fullName = prefix.isEmpty ? name : prefix + "." + name
            if let module = value as? any Module<Scalar> {
                body(fullName, module)
                module.visit(prefix: fullName, body)
            } else if value is Parameter<Scalar> || value is Buffer<Scalar> {
                body(fullName, value)
            } else if let elements = moduleElements(of: value) {
                for (index, element) in elements.enumerated() {
                    let elementName = fullName + "." + String(index)
                    body(elementName, element)
                    element.visit(prefix: elementName, body)
                }
            }
        }
    }

    /// The elements of an array (or other collection) of modules, or `nil` for anything else.
    private func moduleElements(of value: Any) -> [any Module<Scalar>]? {
        let mirror = Mirror(reflecting: value)
        guard mirror.displayStyle == .collection else { return nil }
        let elements = mirror.children.compactMap { $0.value as? any Module<Scalar> }
        return elements.count == mirror.children.count && !elements.isEmpty ? elements : nil
    }

    /// The parameter's leaf on `x`'s tape, or a constant when `x` has no tape.
    func lift(_ parameter: Parameter<Scalar>?, for x: Variable<Scalar>) -> Variable<Scalar>? {
        guard let parameter else { return nil }
        if let tape = x.tape { return tape.variable(for: parameter) }
        return Variable(parameter.value)
    }
}

/// Swift property names to PyTorch's: `runningMean` → `running_mean`, `norm1` → `norm1`,
/// `qkvProjection` → `qkv_projection`, `inputQKV` → `input_qkv`, `QKVLinear` → `qkv_linear`.
func snakeCased(_ name: String) -> String {
    let characters = Array(name)
    var result = ""
    for (i, character) in characters.enumerated() {
        if character.isUppercase && i > 0 {
            let previous = characters[i - 1]
            let nextIsLowercase = i + 1 < characters.count && characters[i + 1].isLowercase
            // A word starts at an uppercase letter after a lowercase letter or digit, or at the last
            // capital of an acronym that a lowercase word follows.
            if previous.isLowercase || previous.isNumber || (previous.isUppercase && nextIsLowercase) {
                result.append("_")
            }
        }
        result += character.lowercased()
    }
    return result
}
