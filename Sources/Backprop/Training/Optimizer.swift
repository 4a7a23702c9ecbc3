/// Updates parameters from their gradients, keeping whatever state the update rule needs.
///
/// An optimizer holds its parameters by reference. `step()` updates every parameter whose `grad`
/// is not `nil` (others are skipped, and their state is untouched), and `zeroGradients()` clears the
/// gradients before the next backward pass. The state can be saved as named tensors and restored.
public protocol Optimizer<Scalar>: AnyObject {
    /// The scalar type of the parameters.
    associatedtype Scalar: TensorScalar

    /// The parameters this optimizer updates, in a fixed order (state names refer to positions in it).
    var parameters: [Parameter<Scalar>] { get }
    /// The learning rate used by the next `step()` (set it from a schedule before each step).
    var learningRate: Double { get set }
    /// The number of `step()` calls so far.
    var stepCount: Int { get }

    /// Applies one update to every parameter that has a gradient.
    func step()

    /// The state as named tensors: `"step"` (the step count, rank 0) and per-parameter buffers named
    /// `"state.<index>.<buffer>"` after PyTorch's `state_dict` (`momentum_buffer`, `exp_avg`, `exp_avg_sq`,
    /// `max_exp_avg_sq`, and `step` for Adam's per-parameter count).
    func stateTensors() -> [String: Tensor<Scalar>]

    /// Restores state saved by `stateTensors()`, validating every tensor before changing anything.
    ///
    /// - Throws: `OptimizerStateError` naming the first missing, unexpected or mis-shaped tensor.
    func loadState(_ state: [String: Tensor<Scalar>]) throws
}

extension Optimizer {
    /// Clears the gradient of every parameter (PyTorch's `zero_grad(set_to_none=True)`).
    public func zeroGradients() {
        for parameter in parameters { parameter.zeroGradient() }
    }
}

/// Why optimizer state could not be restored.
public enum OptimizerStateError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A tensor the optimizer needs is not in the state.
    case missingTensor(name: String)
    /// The state has a tensor this optimizer does not know.
    case unexpectedTensor(name: String)
    /// A buffer's shape differs from its parameter's.
    case shapeMismatch(name: String, expected: [Int], found: [Int])
    /// A step count is not a non-negative whole number.
    case invalidStepCount(name: String, value: Double)

    /// A sentence naming the tensor and what is wrong with it.
    public var description: String {
        switch self {
        case .missingTensor(let name):
            return "optimizer state: tensor '\(name)' is missing"
        case .unexpectedTensor(let name):
            return "optimizer state: unexpected tensor '\(name)' (saved by a different optimizer or parameter list?)"
        case .shapeMismatch(let name, let expected, let found):
            return "optimizer state: tensor '\(name)' has shape \(found) but its parameter has shape \(expected)"
        case .invalidStepCount(let name, let value):
            return "optimizer state: '\(name)' holds \(value), which is not a non-negative whole step count"
        }
    }
}

/// The gradient of the parameter at `index`, checked to have the parameter's shape (a gradient set by
/// hand, or a value reassigned with another shape, would otherwise be read out of bounds).
func checkedGradient<Scalar>(of parameter: Parameter<Scalar>, index: Int, op: String) -> [Scalar]? {
    guard let gradient = parameter.grad else { return nil }
    guard gradient.shape == parameter.shape else {
        usageError(op, "parameter \(index) has shape \(parameter.shape) but its gradient has shape \(gradient.shape); a gradient must have its parameter's shape")
    }
    return gradient.scalars
}

/// Stops when per-parameter optimizer state was built for another shape than the parameter's now.
func checkStateShape<Scalar>(_ stateShape: [Int], of parameter: Parameter<Scalar>, index: Int, op: String) {
    guard stateShape == parameter.shape else {
        usageError(op, "parameter \(index) has shape \(parameter.shape) but its optimizer state has shape \(stateShape); the parameter changed shape after earlier steps — create a new optimizer for it")
    }
}

/// Validation and conversion shared by the optimizers' `loadState`.
struct OptimizerState<Scalar: TensorScalar> {
    let state: [String: Tensor<Scalar>]
    var used: Set<String> = []

    init(_ state: [String: Tensor<Scalar>]) { self.state = state }

    /// A step count stored as a rank-0 (or one-element) tensor.
    mutating func stepCount(_ name: String) throws -> Int {
        guard let t = state[name] else { throw OptimizerStateError.missingTensor(name: name) }
        guard t.count == 1 else { throw OptimizerStateError.shapeMismatch(name: name, expected: [], found: t.shape) }
        let value = Double(t.scalars[0])
        guard value >= 0, value.rounded() == value, value < 1e15 else {
            throw OptimizerStateError.invalidStepCount(name: name, value: value)
        }
        used.insert(name)
        return Int(value)
    }

    /// A buffer with its parameter's shape, or `nil` when absent and `required` is false.
    mutating func buffer(_ name: String, shape: [Int], required: Bool) throws -> Tensor<Scalar>? {
        guard let t = state[name] else {
            if required { throw OptimizerStateError.missingTensor(name: name) }
            return nil
        }
        guard t.shape == shape else { throw OptimizerStateError.shapeMismatch(name: name, expected: shape, found: t.shape) }
        used.insert(name)
        return t
    }

    /// Throws for the first (alphabetically) tensor that was not read.
    func checkAllUsed() throws {
        if let extra = state.keys.sorted().first(where: { !used.contains($0) }) {
            throw OptimizerStateError.unexpectedTensor(name: extra)
        }
    }
}

/// A rank-0 tensor holding a count.
func countTensor<Scalar: TensorScalar>(_ count: Int) -> Tensor<Scalar> { Tensor(Scalar(count)) }
