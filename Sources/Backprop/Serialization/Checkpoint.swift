/// Why a checkpoint could not be saved or loaded.
public enum CheckpointError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The file could not be read or written, is not valid safetensors, or (saving) a tensor cannot
    /// be encoded.
    case safeTensors(SafeTensorsError)
    /// The module's tensors do not match the file's: every missing, unexpected, mis-shaped and
    /// unconvertible name, all in one error.
    case stateDict(StateDictError)
    /// The optimizer state in the file does not fit the optimizer.
    case optimizerState(OptimizerStateError)
    /// The optimizer rejected its state with an error other than `OptimizerStateError`.
    case optimizerFailure(reason: String)
    /// An optimizer was given but the file holds no optimizer state.
    case missingOptimizerState(path: String)
    /// A module tensor's name starts with the reserved prefix `optimizer.`.
    case reservedName(String)
    /// A metadata entry written by `Checkpoint` is missing or malformed, or user metadata uses a reserved key.
    case invalidMetadata(key: String, reason: String)

    /// A sentence naming what is wrong.
    public var description: String {
        switch self {
        case .safeTensors(let error): return "checkpoint: \(error)"
        case .stateDict(let error): return "checkpoint: \(error)"
        case .optimizerState(let error): return "checkpoint: \(error)"
        case .optimizerFailure(let reason): return "checkpoint: the optimizer rejected its state: \(reason)"
        case .missingOptimizerState(let path): return "checkpoint: '\(path)' holds no optimizer state (no 'optimizer.' tensors)"
        case .reservedName(let name): return "checkpoint: module tensor '\(name)' uses the reserved prefix 'optimizer.'"
        case .invalidMetadata(let key, let reason): return "checkpoint: metadata '\(key)': \(reason)"
        }
    }
}

/// What a checkpoint records besides tensors.
public struct CheckpointInfo: Sendable, Equatable {
    /// The training step at which it was saved (the caller's count, for example iterations).
    public var step: Int
    /// The caller's metadata (without the keys `Checkpoint` reserves).
    public var metadata: [String: String]

    /// Creates the record.
    public init(step: Int = 0, metadata: [String: String] = [:]) {
        self.step = step
        self.metadata = metadata
    }
}

/// Saving and resuming training in one safetensors file.
///
/// Layout (one file, readable by Python's `safetensors`):
/// - the module's parameters and buffers under their PyTorch `state_dict` names (`"linear1.weight"`,
///   `"norm.running_mean"`) and dtypes (`I64` for `num_batches_tracked`), so `model.load_state_dict({k: v for k, v in load_file(p).items() if not
///   k.startswith("optimizer.")})` loads them in PyTorch;
/// - the optimizer's `stateTensors()` prefixed `optimizer.` (`"optimizer.step"`,
///   `"optimizer.state.0.exp_avg"`), when an optimizer is saved;
/// - `__metadata__`: `"format": "backprop-checkpoint"`, `"step"` (decimal), and the caller's entries.
///
/// `load` also accepts a plain `state_dict` file without metadata (written by PyTorch's
/// `safetensors.torch.save_file`, say): its step is 0.
///
/// Writes are atomic (temporary file, then rename). Loading decodes and validates every name, shape
/// and dtype (and the optimizer state) before assigning anything, so an error leaves the module and
/// the optimizer exactly as they were.
public enum Checkpoint {
    /// The prefix of optimizer tensors.
    public static let optimizerPrefix = "optimizer."
    /// The metadata keys `Checkpoint` writes itself.
    public static let reservedMetadataKeys: Set<String> = ["format", "step"]

    /// Writes `module`'s parameters and buffers, and `optimizer`'s state if given, to `path` atomically.
    ///
    /// - Parameters:
    ///   - module: The model.
    ///   - optimizer: Its optimizer, to resume training exactly; `nil` for weights only.
    ///   - info: The step and any metadata (keys other than `format` and `step`).
    ///   - path: The destination, replaced atomically.
    /// - Throws: `CheckpointError`.
    public static func save<M: Module>(_ module: M, optimizer: (any Optimizer<M.Scalar>)? = nil,
                                       info: CheckpointInfo = CheckpointInfo(), toPath path: String) throws(CheckpointError) {
        if let key = info.metadata.keys.sorted().first(where: { reservedMetadataKeys.contains($0) }) {
            throw .invalidMetadata(key: key, reason: "reserved by Checkpoint; use CheckpointInfo.step")
        }
        // `load` accepts only a non-negative step, so a negative one would make an unloadable file.
        guard info.step >= 0 else { throw .invalidMetadata(key: "step", reason: "step \(info.step) must be ≥ 0") }
        var entries: [String: SafeTensorsEntry]
        do { entries = try module.stateDictEntries() } catch { throw .safeTensors(error) }
        if let name = entries.keys.sorted().first(where: { $0.hasPrefix(optimizerPrefix) }) { throw .reservedName(name) }
        if let optimizer {
            for (name, tensor) in optimizer.stateTensors() { entries[optimizerPrefix + name] = SafeTensorsEntry(tensor) }
        }
        var metadata = info.metadata
        metadata["format"] = "backprop-checkpoint"
        metadata["step"] = String(info.step)
        do {
            try SafeTensorsFile(tensors: entries, metadata: metadata).write(toPath: path)
        } catch {
            throw .safeTensors(error)
        }
    }

    /// Loads a checkpoint into `module` (and `optimizer`), all or nothing.
    ///
    /// The file must hold exactly the module's parameter and buffer names (plus optimizer tensors),
    /// each with the same shape and a dtype that converts exactly to `Scalar` (an `I64` counter, say). Optimizer tensors in the file are ignored when
    /// `optimizer` is `nil`.
    ///
    /// - Parameters:
    ///   - module: The model to fill.
    ///   - optimizer: The optimizer to restore, or `nil`.
    ///   - path: The file.
    /// - Returns: The step and caller metadata saved with it.
    /// - Throws: `CheckpointError`; nothing has changed when it throws.
    @discardableResult
    public static func load<M: Module>(into module: M, optimizer: (any Optimizer<M.Scalar>)? = nil,
                                       fromPath path: String) throws(CheckpointError) -> CheckpointInfo {
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(contentsOfPath: path) } catch { throw .safeTensors(error) }

        let info = try checkpointInfo(file.metadata)
        // Every missing, unexpected, mis-shaped and unconvertible module tensor is reported in one
        // error, as PyTorch's `load_state_dict` does, before anything changes.
        let moduleNames = file.tensors.keys.filter { !$0.hasPrefix(optimizerPrefix) }
        var plan = StateDictPlan(module: module, names: Array(moduleNames), shapes: { file.tensors[$0]!.shape },
                                 strict: true, keyMapping: .identity)
        var values: [Tensor<M.Scalar>] = []
        values.reserveCapacity(plan.assignments.count)
        for (source, _) in plan.assignments {
            do { values.append(try file.tensors[source]!.tensor(as: M.Scalar.self, name: source)) }
            catch { plan.error.conversionErrors.append(error) }
        }
        if !plan.error.isEmpty { throw .stateDict(plan.error) }

        if let optimizer {
            var state: [String: Tensor<M.Scalar>] = [:]
            for (name, entry) in file.tensors where name.hasPrefix(optimizerPrefix) {
                do { state[String(name.dropFirst(optimizerPrefix.count))] = try entry.tensor(as: M.Scalar.self, name: name) }
                catch { throw .safeTensors(error) }
            }
            guard !state.isEmpty else { throw .missingOptimizerState(path: path) }
            // `loadState` validates everything before changing the optimizer, and it is the last step
            // that can fail: the module is assigned only after it succeeds.
            do { try optimizer.loadState(state) } catch let error as OptimizerStateError {
                throw .optimizerState(error)
            } catch {
                throw .optimizerFailure(reason: "\(error)")
            }
        }
        for (assignment, value) in zip(plan.assignments, values) { assignment.assign(value) }
        return info
    }

    /// The step and caller metadata. A file without `step` (a plain `state_dict`, for example one
    /// written by PyTorch's `save_file`) has step 0; a malformed `step` is an error.
    private static func checkpointInfo(_ metadata: [String: String]) throws(CheckpointError) -> CheckpointInfo {
        var step = 0
        if let text = metadata["step"] {
            guard let value = Int(text), value >= 0 else {
                throw .invalidMetadata(key: "step", reason: "expected a non-negative integer, found '\(text)'")
            }
            step = value
        }
        return CheckpointInfo(step: step, metadata: metadata.filter { !reservedMetadataKeys.contains($0.key) })
    }
}
