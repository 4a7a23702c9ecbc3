import Backprop

/// Data-parallel training of any `Module` across the processes of a `ProcessGroup` (PyTorch's
/// `DistributedDataParallel`): every rank holds a full replica, runs its own share of the batch, and
/// the gradients are averaged across ranks before the optimizer steps, so every replica takes the same
/// step — the step one process would take on the union of the ranks' batches.
///
/// ```swift
/// let group = try ProcessGroup.world()
/// let model = try DistributedDataParallel(makeModel(), group: group)   // rank 0's parameters everywhere
/// let optimizer = AdamW(parameters: model.parameters, learningRate: 1e-3)
/// let sampler = DistributedSampler(count: dataset.count, group: group, seed: 7)
/// for epoch in 0..<epochs {
///     for batch in MiniBatches(dataset, batchSize: 32, sampler: sampler, epoch: epoch) {
///         let tape = Tape<Float>()
///         let loss = crossEntropy(logits: model(tape.constant(batch.inputs)), targets: batch.labels)
///         optimizer.zeroGradients()
///         try model.backward(loss)                      // backward, then the averaged gradients
///         clipGradientNorm(model.parameters, maxNorm: 1) // after the reduction: the global norm
///         optimizer.step()
///     }
/// }
/// try model.saveCheckpoint(optimizer: optimizer, toPath: "run.safetensors")   // rank 0 writes
/// ```
///
/// - **Start:** the ranks check that their models have the same parameter and buffer names and shapes,
///   then rank 0's parameters and buffers are broadcast to all.
/// - **Gradients:** averaged in buckets (`GradientBuckets`: reverse parameter order, a 1 MiB first
///   bucket, then `bucketCapacity`), one non-blocking all-reduce each; `grad` becomes
///   `Σ_ranks grad / worldSize`, with the same bits on every rank. A parameter no rank used keeps
///   `grad == nil`. Because the average is the gradient of the mean loss, every optimizer, schedule and
///   `clipGradientNorm` (called after the reduction, so it clips the global gradient's norm) behaves as
///   in one process with the whole batch.
/// - **Buffers:** in training, rank 0's buffers (such as a plain `BatchNorm`'s running statistics) are
///   broadcast before each forward pass, as PyTorch does (`broadcastBuffers`); `SyncBatchNorm`'s are
///   left out, being identical on every rank already. Evaluate on a single rank with `model.module(x)`.
/// - **Checkpoints:** `saveCheckpoint` writes on rank 0 only (atomically) and returns on every rank once
///   the file is complete; `loadCheckpoint` loads on every rank (the path must be readable on every host)
///   and checks that all ranks now hold identical state.
///
/// The wrapper is itself a `Module` whose parameters and buffers carry the wrapped model's names
/// (without PyTorch's `module.` prefix), so `Checkpoint.save` on either gives the same file.
public final class DistributedDataParallel<Model: Module>: Module {
    /// The scalar type of the wrapped model.
    public typealias Scalar = Model.Scalar

    /// The wrapped model (the local replica).
    public let module: Model
    /// The processes that train together.
    public let group: ProcessGroup
    /// Whether rank 0's buffers are broadcast before each training forward pass.
    public let broadcastsBuffers: Bool
    let buckets: GradientBuckets<Scalar>

    /// Wraps a model and makes every rank's replica equal to rank 0's. Every rank must call it.
    ///
    /// - Parameters:
    ///   - module: The local replica (built the same way on every rank).
    ///   - group: The processes that train together.
    ///   - bucketCapacity: The largest gradient bucket in bytes (PyTorch's default, 25 MiB).
    ///   - firstBucketCapacity: The largest first bucket in bytes (1 MiB, so the first reduction starts
    ///     early).
    ///   - broadcastBuffers: Broadcast rank 0's buffers before each training forward pass.
    /// - Throws: `DistributedError.replicasDiverged` when the ranks' models differ in their parameter or
    ///   buffer names or shapes; any error of the broadcast.
    public init(_ module: Model, group: ProcessGroup, bucketCapacity: Int = 25 << 20, firstBucketCapacity: Int = 1 << 20,
                broadcastBuffers: Bool = true) throws(DistributedError) {
        guard bucketCapacity > 0, firstBucketCapacity > 0 else {
            throw .invalidArgument(call: "DistributedDataParallel", reason: "bucket capacities \(firstBucketCapacity) and \(bucketCapacity) bytes must be positive")
        }
        self.module = module
        self.group = group
        broadcastsBuffers = broadcastBuffers
        buckets = GradientBuckets(parameters: module.parameters.filter(\.requiresGradient), group: group,
                                  capacity: bucketCapacity, firstCapacity: firstBucketCapacity)

        if let largest = buckets.buckets.map({ $0.gradientCount + $0.members.count }).max(), largest > ProcessGroup.maximumCount {
            throw .invalidArgument(call: "DistributedDataParallel", reason: "a gradient bucket of \(largest) elements exceeds the \(ProcessGroup.maximumCount) one all-reduce can carry; split the parameter")
        }
        var structure = FNV1a()
        for (name, parameter) in module.namedParameters { structure.add("p \(name) \(parameter.shape) \(parameter.requiresGradient);") }
        for (name, buffer) in module.namedBuffers { structure.add("b \(name) \(buffer.value.shape);") }
        let all = try group.allGather(structure.halves, call: "DistributedDataParallel (model structure)")
        if let rank = (0..<group.worldSize).first(where: { all[2 * $0] != all[0] || all[2 * $0 + 1] != all[1] }) {
            throw .replicasDiverged(call: "DistributedDataParallel", detail: "the model on rank \(rank) has different parameter or buffer names, shapes or requiresGradient flags than on rank 0; build the same model on every rank")
        }
        try broadcastState(parameters: module.parameters, buffers: module.namedBuffers.map(\.buffer), call: "DistributedDataParallel (initial broadcast)")
    }

    /// Training or evaluation mode of the wrapped model.
    public var isTraining: Bool {
        get { module.isTraining }
        set { module.isTraining = newValue }
    }

    /// The wrapped model's children, so names are the wrapped model's own.
    public var namedChildren: [(name: String, value: Any)] { module.namedChildren }

    /// Runs the replica; in training (with recording on), first broadcasts rank 0's buffers when
    /// `broadcastsBuffers`. Every rank must call it together in training.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        if broadcastsBuffers && isTraining && GradientMode.isEnabled && group.worldSize > 1 {
            // SyncBatchNorm's statistics are already identical on every rank: leave them out.
            let synchronized = Set(module.namedModules.compactMap { $0.module as? SyncBatchNorm<Scalar> }.flatMap { layer in
                [layer.runningMean, layer.runningVar, layer.numBatchesTracked].compactMap { $0.map(ObjectIdentifier.init) }
            })
            let buffers = module.namedBuffers.map(\.buffer).filter { !synchronized.contains(ObjectIdentifier($0)) }
            if !buffers.isEmpty {
                do {
                    try broadcastState(parameters: [], buffers: buffers, call: "DistributedDataParallel (buffer broadcast)")
                } catch {
                    usageError("DistributedDataParallel", error.description)
                }
            }
        }
        return module(x)
    }

    /// Runs `loss.backward()` and averages the gradients across ranks (`synchronizeGradients()`).
    ///
    /// It registers `markGradientReady` as the tape's `onParameterGradientReady` hook for the sweep, so
    /// each bucket's all-reduce starts as soon as its last gradient is final, overlapping the rest of
    /// the backward sweep; `synchronizeGradients()` then completes the buckets still in flight.
    ///
    /// - Parameters:
    ///   - loss: This rank's loss (a one-element variable).
    ///   - retainGraph: Keep the tape for another sweep.
    /// - Throws: `DistributedError` from the reduction.
    public func backward(_ loss: Variable<Scalar>, retainGraph: Bool = false) throws(DistributedError) {
        var firstError: DistributedError?
        let tape = loss.tape
        tape?.onParameterGradientReady = { [buckets] parameter in
            guard firstError == nil else { return }
            do throws(DistributedError) { try buckets.markReady(parameter) } catch { firstError = error }
        }
        defer { tape?.onParameterGradientReady = nil }
        loss.backward(retainGraph: retainGraph)
        if let firstError { throw firstError }
        try synchronizeGradients()
    }

    /// Declares that `parameter`'s gradient is final for this step, so its bucket's all-reduce may start
    /// (when the bucket is complete) while the backward sweep continues. Optional: parameters not
    /// declared are handled by `synchronizeGradients()`. Every rank must declare the same parameters.
    ///
    /// This is the entry point for the tape's readiness hook; it can also be called by hand when the
    /// backward pass is run piecewise (one tape per stage).
    public func markGradientReady(_ parameter: Parameter<Scalar>) throws(DistributedError) {
        try buckets.markReady(parameter)
    }

    /// Averages every trainable parameter's gradient across ranks, in buckets; returns when all
    /// gradients are averaged. Call it after `backward()` and before clipping and `optimizer.step()`;
    /// every rank must call it. Gradients accumulated over several backward passes are averaged together,
    /// so gradient accumulation is: several `loss.backward()`, then one `synchronizeGradients()`.
    public func synchronizeGradients() throws(DistributedError) {
        try buckets.finish()
    }

    /// Time spent in the last step's gradient reduction, in seconds.
    public var lastReductionTimings: ReductionTimings {
        let t = buckets.lastTimings
        return ReductionTimings(starting: t.start, polling: t.poll, finishing: t.finish)
    }

    /// How the bucket layout looks: one entry per bucket, the number of parameters and gradient elements.
    public var bucketSizes: [(parameters: Int, elements: Int)] {
        buckets.buckets.map { ($0.members.count, $0.gradientCount) }
    }

    /// Checks that every rank holds bit-identical parameters (and buffers), with one small all-gather of
    /// a hash.
    ///
    /// Buffers of layers that update them from local data, such as a plain `BatchNorm`'s running
    /// statistics, legitimately differ between forward passes (rank 0's are broadcast at the next one);
    /// `SyncBatchNorm`'s never differ.
    ///
    /// - Parameter includingBuffers: Compare the buffers too.
    /// - Throws: `DistributedError.replicasDiverged` naming the first rank that differs from rank 0.
    public func checkReplicasAgree(includingBuffers: Bool = true) throws(DistributedError) {
        try checkAgreement(of: stateHash(optimizer: nil, includingBuffers: includingBuffers), call: "checkReplicasAgree",
                           what: includingBuffers ? "parameters or buffers" : "parameters")
    }

    // MARK: Checkpoints

    /// Writes the model (and optimizer) with `Checkpoint.save` on rank 0 only; returns on every rank
    /// once the file is complete. Every rank must call it.
    ///
    /// The write is atomic (a temporary file, then a rename): if any process dies during it, the
    /// previous checkpoint at `path` is intact.
    ///
    /// - Throws: on rank 0 the `CheckpointError`; on the other ranks `DistributedError.remoteFailure`
    ///   when rank 0 failed to write.
    public func saveCheckpoint(optimizer: (any Optimizer<Scalar>)? = nil, info: CheckpointInfo = CheckpointInfo(),
                               toPath path: String) throws {
        var failure: (any Error)?
        var status = Tensor<Scalar>([0])
        if group.rank == 0 {
            do { try Checkpoint.save(module, optimizer: optimizer, info: info, toPath: path) } catch {
                failure = error
                status = Tensor([1])
            }
        }
        try group.broadcast(&status, from: 0)
        if let failure { throw failure }
        if status.scalars[0] != 0 {
            throw DistributedError.remoteFailure(call: "saveCheckpoint", ranks: [0], detail: "rank 0 could not write \(path)")
        }
    }

    /// Loads a checkpoint written by `saveCheckpoint` into every rank's replica (and optimizer), then
    /// checks that every rank holds the same state. Every rank must call it, with a path each can read.
    ///
    /// - Returns: The step and metadata saved with the checkpoint.
    /// - Throws: this rank's `CheckpointError`; `DistributedError.remoteFailure` when another rank failed
    ///   to load; `.replicasDiverged` when the ranks loaded different files.
    @discardableResult
    public func loadCheckpoint(optimizer: (any Optimizer<Scalar>)? = nil, fromPath path: String) throws -> CheckpointInfo {
        var failure: (any Error)?
        var info = CheckpointInfo()
        do { info = try Checkpoint.load(into: module, optimizer: optimizer, fromPath: path) } catch { failure = error }
        let summary = [failure == nil ? 0 : 1] + stateHash(optimizer: optimizer).halves + [Double(info.step)]
        let all = try group.allGather(summary, call: "loadCheckpoint")
        if let failure { throw failure }
        let failed = (0..<group.worldSize).filter { all[4 * $0] != 0 }
        if !failed.isEmpty {
            throw DistributedError.remoteFailure(call: "loadCheckpoint", ranks: failed, detail: "could not load \(path)")
        }
        if let rank = (0..<group.worldSize).first(where: { Array(all[(4 * $0 + 1)..<(4 * $0 + 4)]) != Array(all[1..<4]) }) {
            throw DistributedError.replicasDiverged(call: "loadCheckpoint", detail: "rank \(rank) loaded a different state from \(path) than rank 0")
        }
        return info
    }

    // MARK: Internals

    /// Broadcasts rank 0's values of `parameters` and `buffers` to every rank, in one flat message.
    private func broadcastState(parameters: [Parameter<Scalar>], buffers: [Buffer<Scalar>], call: String) throws(DistributedError) {
        guard group.worldSize > 1 else { return }
        var values: [Scalar] = []
        for parameter in parameters { values += parameter.value.scalars }
        for buffer in buffers { values += buffer.value.scalars }
        guard !values.isEmpty else { return }
        try values.withUnsafeMutableBufferPointer { (buffer) throws(DistributedError) in
            try group.broadcast(buffer, from: 0)
        }
        var offset = 0
        func next(_ shape: [Int]) -> Tensor<Scalar> {
            let count = shape.reduce(1, *)
            defer { offset += count }
            return Tensor(shape: shape, scalars: Array(values[offset..<(offset + count)]))
        }
        for parameter in parameters { parameter.value = next(parameter.shape) }
        for buffer in buffers { buffer.value = next(buffer.value.shape) }
    }

    /// A hash of every parameter's and buffer's bits, and of the optimizer state when given.
    private func stateHash(optimizer: (any Optimizer<Scalar>)?, includingBuffers: Bool = true) -> FNV1a {
        var hash = FNV1a()
        var state = module.stateDictionary
        if !includingBuffers { for (name, _) in module.namedBuffers { state[name] = nil } }
        for name in state.keys.sorted() { hash.add(name, state[name]!) }
        if let optimizer {
            let tensors = optimizer.stateTensors()
            for name in tensors.keys.sorted() { hash.add("optimizer." + name, tensors[name]!) }
        }
        return hash
    }

    private func checkAgreement(of hash: FNV1a, call: String, what: String) throws(DistributedError) {
        let all = try group.allGather(hash.halves, call: call)
        if let rank = (0..<group.worldSize).first(where: { all[2 * $0] != all[0] || all[2 * $0 + 1] != all[1] }) {
            throw .replicasDiverged(call: call, detail: "the \(what) on rank \(rank) differ from rank 0's")
        }
    }
}

/// Where the last step's gradient reduction spent its time (seconds, on this rank).
public struct ReductionTimings: Sendable, Equatable {
    /// Packing buckets and starting their all-reduces.
    public var starting: Double
    /// Polling reductions in flight (`MPI_Test`) while the backward sweep went on.
    public var polling: Double
    /// Waiting for the reductions after the sweep, and writing the averaged gradients back.
    public var finishing: Double
    /// The whole time spent in reduction calls.
    public var total: Double { starting + polling + finishing }
}

/// 64-bit FNV-1a, for comparing replicas across ranks.
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            value ^= UInt64(byte)
            value = value &* 0x100_0000_01b3
        }
    }

    mutating func add(_ text: String) {
        var text = text
        text.withUTF8 { add(bytes: UnsafeRawBufferPointer($0)) }
    }

    mutating func add<Scalar: TensorScalar>(_ name: String, _ tensor: Tensor<Scalar>) {
        add(name + " \(tensor.shape)")
        tensor.scalars.withUnsafeBytes { add(bytes: $0) }
    }

    /// The hash as two exactly representable `Double`s (high and low 32 bits), for an all-gather.
    var halves: [Double] { [Double(value >> 32), Double(value & 0xffff_ffff)] }
}
