import Backprop

/// Why `convertToSyncBatchNorm` could not convert a model.
public enum SyncBatchNormConversionError: Error, Equatable, CustomStringConvertible, Sendable {
    /// These `BatchNorm` layers (by `state_dict` path) are held in stored properties (or are the model
    /// itself), which cannot be replaced from outside; nothing was converted.
    case unreachableLayers([String])

    /// A sentence naming the layers and what to do.
    public var description: String {
        switch self {
        case .unreachableLayers(let names):
            return "convertToSyncBatchNorm: the BatchNorm layers \(names) are stored properties of their parent module and cannot be replaced from outside it; nothing was converted. Build those layers as SyncBatchNorm (SyncBatchNorm(numFeatures:group:) takes the same arguments, SyncBatchNorm(replacing:group:) wraps an existing layer), or hold them in a Sequential"
        }
    }
}

/// Turns every `BatchNorm` in `module` into a `SyncBatchNorm` over `group`, in place (PyTorch's
/// `SyncBatchNorm.convert_sync_batchnorm`), keeping the very same `Parameter` and `Buffer` objects, so
/// names, values, checkpoints and optimizers built beforehand all carry over.
///
/// `BatchNorm` layers are replaced where a module can be swapped from outside: the layers of every
/// `Sequential`, at any depth (`Sequential.layers` is mutable). A `BatchNorm` held in a stored property
/// of another module (or `module` itself being a `BatchNorm`: use `SyncBatchNorm(replacing:group:)`)
/// cannot be; if there is one, nothing is changed and the error lists them all, so a model is never
/// left half-converted.
///
/// ```swift
/// let model = try convertToSyncBatchNorm(makeModel(), group: group)
/// let parallel = try DistributedDataParallel(model, group: group)
/// ```
///
/// - Parameters:
///   - module: The model; its `Sequential`s are converted in place.
///   - group: The processes to synchronize over.
/// - Returns: `module`, converted.
/// - Throws: `SyncBatchNormConversionError.unreachableLayers` naming the layers that cannot be replaced.
@discardableResult
public func convertToSyncBatchNorm<Model: Module>(_ module: Model, group: ProcessGroup) throws(SyncBatchNormConversionError) -> Model {
    typealias Scalar = Model.Scalar
    if module is BatchNorm<Scalar> { throw .unreachableLayers(["(the model itself)"]) }
    // First find every BatchNorm and whether its parent is a Sequential; change nothing until all are.
    var unreachable: [String] = []
    func scan(_ module: any Module<Scalar>, path: String) {
        let isSequential = module is Sequential<Scalar>
        for (name, value) in module.namedChildren {
            let childPath = path.isEmpty ? name : path + "." + name
            let children: [(String, any Module<Scalar>)]
            if let child = value as? any Module<Scalar> {
                children = [(childPath, child)]
            } else if let array = value as? [any Module<Scalar>] {
                children = array.enumerated().map { (childPath + "." + String($0.offset), $0.element) }
            } else if let array = value as? [BatchNorm<Scalar>] {
                children = array.enumerated().map { (childPath + "." + String($0.offset), $0.element) }
            } else {
                children = []
            }
            for (childPath, child) in children {
                if child is BatchNorm<Scalar> {
                    if !isSequential { unreachable.append(childPath) }
                } else {
                    scan(child, path: childPath)
                }
            }
        }
    }
    scan(module, path: "")
    guard unreachable.isEmpty else { throw .unreachableLayers(unreachable) }
    func convert(_ module: any Module<Scalar>) {
        if let sequential = module as? Sequential<Scalar> {
            for i in sequential.layers.indices {
                if let batchNorm = sequential.layers[i] as? BatchNorm<Scalar> {
                    sequential.layers[i] = SyncBatchNorm(replacing: batchNorm, group: group)
                }
            }
        }
        for (_, value) in module.namedChildren {
            if let child = value as? any Module<Scalar> { convert(child) }
            else if let array = value as? [any Module<Scalar>] { array.forEach(convert) }
        }
    }
    convert(module)
    return module
}
