import Backprop
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How `allReduce` combines the ranks' values.
public enum ReductionOperation: String, Sendable, CaseIterable {
    /// The elementwise sum over all ranks.
    case sum
    /// The elementwise sum divided by the world size (computed as the sum, then one division, so every
    /// rank gets the same bits).
    case mean
}

/// The processes of one training job and the collectives between them (PyTorch's
/// `torch.distributed` default group, MLX's `mx.distributed.Group`), on Open MPI.
///
/// `ProcessGroup.world()` is every process started by `mpirun -np N` (ranks `0..<N`). A program that
/// was not started by an MPI launcher gets a group of one process that needs no MPI at all, so the same
/// training script runs on a laptop without MPI and on a cluster.
///
/// ```swift
/// let group = try ProcessGroup.world()
/// var gradient = Tensor<Float>([1, 2, 3])
/// try group.allReduce(&gradient, .mean)     // the average over all ranks, in place
/// ```
///
/// Collectives are matched across ranks by order: every rank must call the same collectives, in the
/// same order, with the same shapes. Each one waits at most `timeout` seconds; when a peer has died or
/// hangs, the call throws `DistributedError.timeout` instead of waiting forever, and the group refuses
/// further collectives. MPI calls are serialized by the group, so it may be used from any thread, one
/// call at a time (MPI is initialized with `MPI_THREAD_SERIALIZED`).
public final class ProcessGroup: @unchecked Sendable {
    /// This process's index, `0..<worldSize`.
    public let rank: Int
    /// The number of processes.
    public let worldSize: Int
    /// The longest any collective may take, in seconds, before it throws `DistributedError.timeout`
    /// (default 300, or the `BACKPROP_DISTRIBUTED_TIMEOUT` environment variable).
    public var timeout: Double {
        get { state.withLock { $0.timeout } }
        set {
            guard newValue > 0, newValue.isFinite else {
                preconditionFailure("ProcessGroup.timeout: \(newValue) must be a positive number of seconds")
            }
            state.withLock { $0.timeout = newValue }
        }
    }
    /// The backend: `"single process"` or the MPI library's version line.
    public let backendDescription: String

    let mpi: MPILibrary?
    let state: Locked<GroupState>

    struct GroupState {
        var timeout: Double
        /// Set by the first failed or timed-out collective.
        var failure: String?
        /// Buffers of requests that timed out: MPI may still write into them, so they are never freed.
        var abandoned: [UnsafeMutableRawPointer] = []
    }

    init(rank: Int, worldSize: Int, mpi: MPILibrary?, backendDescription: String) {
        self.rank = rank
        self.worldSize = worldSize
        self.mpi = mpi
        self.backendDescription = backendDescription
        state = Locked(GroupState(timeout: Self.defaultTimeout))
    }

    static var defaultTimeout: Double {
        if let text = getenv("BACKPROP_DISTRIBUTED_TIMEOUT"), let value = Double(String(cString: text)), value > 0, value.isFinite {
            return value
        }
        return 300
    }

    /// Whether this process was started by an MPI launcher (`mpirun`/`mpiexec`, or a scheduler with PMI
    /// or PMIx), judged from the environment the launcher sets.
    public static var isLaunchedByMPI: Bool {
        let names: [String] = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"]
        return names.contains { getenv($0) != nil }
    }

    private static let worldGroup = Locked<ProcessGroup?>(nil)

    /// The group of all processes of this job, created (and MPI initialized) on first use.
    ///
    /// Started by an MPI launcher, this loads Open MPI at run time and initializes it; MPI is finalized
    /// when the process exits. Otherwise the group is this one process (rank 0 of 1) and no MPI library
    /// is needed.
    ///
    /// - Throws: `DistributedError.libraryUnavailable` when launched by `mpirun` but Open MPI cannot be
    ///   loaded, `.mpi` when initialization fails.
    public static func world() throws(DistributedError) -> ProcessGroup {
        try worldGroup.withLock { (group: inout ProcessGroup?) throws(DistributedError) -> ProcessGroup in
            if let group { return group }
            let created = isLaunchedByMPI ? try makeMPIWorld() : singleProcess()
            group = created
            return created
        }
    }

    /// A group of one process that needs no MPI: every collective leaves its data as it is (a sum or
    /// mean over one rank, a broadcast from oneself).
    public static func singleProcess() -> ProcessGroup {
        ProcessGroup(rank: 0, worldSize: 1, mpi: nil, backendDescription: "single process")
    }

    private static func makeMPIWorld() throws(DistributedError) -> ProcessGroup {
        let mpi = try MPILibrary()
        var flag: Int32 = 0
        try check(mpi.initialized(&flag), "MPI_Initialized", mpi)
        if flag == 0 {
            var provided: Int32 = 0
            try check(mpi.initThread(nil, nil, MPILibrary.threadSerialized, &provided), "MPI_Init_thread", mpi)
            guard provided >= MPILibrary.threadSerialized else {
                throw .invalidArgument(call: "MPI_Init_thread", reason: "the MPI library provides thread level \(provided), below MPI_THREAD_SERIALIZED (2) that the process group needs")
            }
            finalizingLibrary.withLock { $0 = mpi }
            atexit { ProcessGroup.finalizeAtExit() }
        }
        try check(mpi.commSetErrhandler(mpi.commWorld, mpi.errorsReturn), "MPI_Comm_set_errhandler", mpi)
        var rank: Int32 = 0, size: Int32 = 0
        try check(mpi.commRank(mpi.commWorld, &rank), "MPI_Comm_rank", mpi)
        try check(mpi.commSize(mpi.commWorld, &size), "MPI_Comm_size", mpi)
        return ProcessGroup(rank: Int(rank), worldSize: Int(size), mpi: mpi, backendDescription: mpi.versionDescription)
    }

    /// The library to finalize at exit, set when this process initialized MPI.
    private static let finalizingLibrary = Locked<MPILibrary?>(nil)

    private static func finalizeAtExit() {
        // A group whose collective failed or timed out may still have requests in flight: leave MPI
        // as it is, and the launcher ends the job.
        if let failure = worldGroup.withLock({ $0?.state.withLock { $0.failure } }) {
            print("BackpropDistributed: not finalizing MPI after a failed collective (\(failure))")
            return
        }
        guard let mpi = finalizingLibrary.withLock({ $0 }) else { return }
        var finalized: Int32 = 0
        _ = mpi.finalized(&finalized)
        if finalized == 0 { _ = mpi.finalize() }
    }

    static func check(_ code: Int32, _ call: String, _ mpi: MPILibrary) throws(DistributedError) {
        guard code == MPILibrary.success else { throw .mpi(call: call, code: code, message: mpi.message(for: code)) }
    }

    /// Ends every process of the job at once (`MPI_Abort`); in a single-process group, exits.
    ///
    /// Use it after a `DistributedError`, when the ranks can no longer agree on what comes next.
    public func abort(errorCode: Int32 = 1) -> Never {
        if let mpi { _ = mpi.abort(mpi.commWorld, errorCode) }
        exit(errorCode)
    }
}

// MARK: - Tensor collectives

extension ProcessGroup {
    /// Combines `tensor` across all ranks in place: afterwards every rank holds the elementwise sum (or
    /// mean) of every rank's tensor, the same bits on every rank.
    ///
    /// The ranks' shapes are compared first (one all-gather of a few numbers), so a mismatch throws the
    /// same `.shapeMismatch` on every rank instead of reducing misaligned data.
    ///
    /// - Parameters:
    ///   - tensor: The local values, replaced by the result; every rank must pass the same shape.
    ///   - operation: `.sum` or `.mean`.
    /// - Throws: `DistributedError` naming `allReduce` or `MPI_Iallreduce`.
    public func allReduce<Scalar: TensorScalar>(_ tensor: inout Tensor<Scalar>, _ operation: ReductionOperation = .sum) throws(DistributedError) {
        try checkSameShape(tensor.shape, call: "allReduce")
        let shape = tensor.shape
        var scalars = tensor.scalars
        // Drop the tensor's reference so `scalars` is uniquely owned and is reduced without a copy.
        tensor = Tensor(shape: [0], scalars: [])
        defer { tensor = Tensor(shape: shape, scalars: scalars) }
        try scalars.withUnsafeMutableBufferPointer { (buffer) throws(DistributedError) in
            try allReduce(buffer, operation)
        }
    }

    /// Replaces `tensor` on every rank by `root`'s.
    ///
    /// The ranks' shapes are compared first, as in `allReduce`.
    ///
    /// - Parameters:
    ///   - tensor: On `root`, the value to send; elsewhere a tensor of the same shape to overwrite.
    ///   - root: The rank whose value is sent.
    /// - Throws: `DistributedError` naming `broadcast` or `MPI_Ibcast`.
    public func broadcast<Scalar: TensorScalar>(_ tensor: inout Tensor<Scalar>, from root: Int = 0) throws(DistributedError) {
        guard (0..<worldSize).contains(root) else {
            throw .invalidArgument(call: "broadcast", reason: "root \(root) is not a rank of this group of \(worldSize) processes")
        }
        try checkSameShape(tensor.shape, call: "broadcast")
        let shape = tensor.shape
        var scalars = tensor.scalars
        tensor = Tensor(shape: [0], scalars: [])
        defer { tensor = Tensor(shape: shape, scalars: scalars) }
        try scalars.withUnsafeMutableBufferPointer { (buffer) throws(DistributedError) in
            try broadcast(buffer, from: root)
        }
    }

    /// Every rank's tensor, by rank.
    ///
    /// The shapes are compared first (one small all-gather), so ranks that pass different shapes all
    /// throw the same `.shapeMismatch` listing every rank's shape instead of corrupting memory.
    ///
    /// - Parameter tensor: This rank's tensor.
    /// - Returns: `worldSize` tensors; element `r` is rank r's.
    /// - Throws: `DistributedError` naming `MPI_Iallgather`.
    public func allGather<Scalar: TensorScalar>(_ tensor: Tensor<Scalar>) throws(DistributedError) -> [Tensor<Scalar>] {
        guard worldSize > 1 else { return [tensor] }
        try checkSameShape(tensor.shape, call: "allGather")
        let gathered = try allGather(tensor.scalars, call: "allGather")
        let count = tensor.count
        return (0..<worldSize).map { r in Tensor(shape: tensor.shape, scalars: Array(gathered[(r * count)..<((r + 1) * count)])) }
    }

    /// Throws the same `.shapeMismatch` on every rank unless all ranks passed `shape` (one all-gather of
    /// 9 numbers per rank: the rank of the shape and up to 8 sizes).
    func checkSameShape(_ shape: [Int], call: String) throws(DistributedError) {
        guard worldSize > 1 else { return }
        let maxRank = 8
        // Every rank takes part in the all-gather even with an unsupported rank, so none is left waiting.
        let supported = shape.count <= maxRank
        var descriptor = [Double](repeating: 0, count: maxRank + 1)
        descriptor[0] = supported ? Double(shape.count) : -1
        if supported { for (axis, size) in shape.enumerated() { descriptor[1 + axis] = Double(size) } }
        let descriptors = try allGather(descriptor, call: "\(call) (shapes)")
        guard supported else {
            throw .invalidArgument(call: call, reason: "tensor shape \(shape) has rank \(shape.count); at most \(maxRank) axes are supported")
        }
        let shapes = (0..<worldSize).map { r -> [Int] in
            let row = descriptors[(r * (maxRank + 1))..<((r + 1) * (maxRank + 1))]
            return row.first! < 0 ? [-1] : row.dropFirst().prefix(Int(row.first!)).map { Int($0) }
        }
        guard shapes.allSatisfy({ $0 == shape }) else { throw .shapeMismatch(call: call, shapes: shapes) }
    }

    /// Waits until every rank has reached this call.
    ///
    /// - Throws: `DistributedError` naming `MPI_Ibarrier`.
    public func barrier() throws(DistributedError) {
        guard let mpi else { return }
        let operation = try start("MPI_Ibarrier") { request in mpi.ibarrier(mpi.commWorld, request) }
        try operation.wait()
    }
}

// MARK: - Buffers

extension ProcessGroup {
    /// The largest element count of one MPI call (`int` counts); longer buffers go in pieces.
    static let maximumCount = Int(Int32.max / 2)

    /// The MPI datatype of a scalar type.
    func datatype<Scalar>(_ type: Scalar.Type, call: String) throws(DistributedError) -> MPILibrary.Handle {
        guard let mpi else { throw .invalidArgument(call: call, reason: "no MPI library in a single-process group") }
        if Scalar.self == Float.self { return mpi.float }
        if Scalar.self == Double.self { return mpi.double }
        throw .invalidArgument(call: call, reason: "scalar type \(Scalar.self) has no MPI datatype; use Float or Double")
    }

    /// Sums (or averages) a buffer across ranks in place.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func allReduce<Scalar: TensorScalar>(_ buffer: UnsafeMutableBufferPointer<Scalar>, _ operation: ReductionOperation) throws(DistributedError) {
        guard worldSize > 1, buffer.count > 0 else { return }
        var start = 0
        while start < buffer.count {
            let piece = UnsafeMutableBufferPointer(rebasing: buffer[start..<Swift.min(start + Self.maximumCount, buffer.count)])
            try startAllReduceSum(piece).wait()
            start += piece.count
        }
        if operation == .mean {
            let divisor = Scalar(worldSize)
            for i in buffer.indices { buffer[i] /= divisor }
        }
    }

    /// Starts summing `buffer` across ranks in place; the buffer must stay alive and untouched until the
    /// returned operation completes. At most `maximumCount` elements.
    func startAllReduceSum<Scalar: TensorScalar>(_ buffer: UnsafeMutableBufferPointer<Scalar>) throws(DistributedError) -> PendingCollective {
        guard let mpi, worldSize > 1 else { return PendingCollective.completed(group: self, call: "MPI_Iallreduce") }
        precondition(buffer.count <= Self.maximumCount, "MPI_Iallreduce: \(buffer.count) elements exceed the \(Self.maximumCount) of one call")
        let type = try datatype(Scalar.self, call: "MPI_Iallreduce")
        return try start("MPI_Iallreduce", buffer: UnsafeMutableRawPointer(buffer.baseAddress)) { request in
            mpi.iallreduce(mpi.inPlace, buffer.baseAddress, Int32(buffer.count), type, mpi.sum, mpi.commWorld, request)
        }
    }

    /// Broadcasts a buffer from `root` in place.
    func broadcast<Scalar: TensorScalar>(_ buffer: UnsafeMutableBufferPointer<Scalar>, from root: Int) throws(DistributedError) {
        guard (0..<worldSize).contains(root) else {
            throw .invalidArgument(call: "broadcast", reason: "root \(root) is not a rank of this group of \(worldSize) processes")
        }
        guard let mpi, worldSize > 1, buffer.count > 0 else { return }
        let type = try datatype(Scalar.self, call: "MPI_Ibcast")
        var start = 0
        while start < buffer.count {
            let piece = UnsafeMutableBufferPointer(rebasing: buffer[start..<Swift.min(start + Self.maximumCount, buffer.count)])
            try self.start("MPI_Ibcast", buffer: UnsafeMutableRawPointer(piece.baseAddress)) { request in
                mpi.ibcast(piece.baseAddress, Int32(piece.count), type, Int32(root), mpi.commWorld, request)
            }.wait()
            start += piece.count
        }
    }

    /// Every rank's `values` concatenated in rank order; every rank must pass the same count.
    func allGather<Scalar: TensorScalar>(_ values: [Scalar], call: String) throws(DistributedError) -> [Scalar] {
        guard let mpi, worldSize > 1 else { return values }
        guard values.count <= Self.maximumCount / worldSize else {
            throw .invalidArgument(call: call, reason: "\(values.count) elements per rank exceed the \(Self.maximumCount / worldSize) one all-gather can carry")
        }
        let type = try datatype(Scalar.self, call: "MPI_Iallgather")
        let received = UnsafeMutableBufferPointer<Scalar>.allocate(capacity: values.count * worldSize)
        var owned = true
        defer { if owned { received.deallocate() } }
        try values.withUnsafeBufferPointer { (send) throws(DistributedError) in
            do throws(DistributedError) {
                try start("MPI_Iallgather", buffer: UnsafeMutableRawPointer(received.baseAddress)) { request in
                    mpi.iallgather(send.baseAddress, Int32(values.count), type, received.baseAddress, Int32(values.count), type, mpi.commWorld, request)
                }.wait()
            } catch {
                if case .timeout = error { owned = false }   // MPI may still write into it
                throw error
            }
        }
        return Array(received)
    }
}

// MARK: - Requests

extension ProcessGroup {
    /// Starts a non-blocking MPI call, or throws if the group already failed.
    func start(_ call: String, buffer: UnsafeMutableRawPointer? = nil,
               _ body: (UnsafeMutablePointer<MPILibrary.Request>) -> Int32) throws(DistributedError) -> PendingCollective {
        guard let mpi else { return .completed(group: self, call: call) }
        let pending = PendingCollective(group: self, call: call, buffer: buffer)
        let code: Int32 = try state.withLock { (state: inout GroupState) throws(DistributedError) -> Int32 in
            if let failure = state.failure { throw .groupUnusable(call: call, cause: failure) }
            return body(&pending.request)
        }
        if code != MPILibrary.success {
            let error = DistributedError.mpi(call: call, code: code, message: mpi.message(for: code))
            markFailed(error)
            throw error
        }
        return pending
    }

    func markFailed(_ error: DistributedError) {
        state.withLock { if $0.failure == nil { $0.failure = error.description } }
    }
}

/// A started non-blocking collective (an `MPI_Request`) and the buffer it works on.
final class PendingCollective {
    let group: ProcessGroup
    let call: String
    /// The buffer MPI reads or writes until completion; kept alive if the call times out.
    let buffer: UnsafeMutableRawPointer?
    var request: MPILibrary.Request = nil
    private(set) var isComplete: Bool

    init(group: ProcessGroup, call: String, buffer: UnsafeMutableRawPointer?) {
        self.group = group
        self.call = call
        self.buffer = buffer
        isComplete = false
    }

    static func completed(group: ProcessGroup, call: String) -> PendingCollective {
        let operation = PendingCollective(group: group, call: call, buffer: nil)
        operation.isComplete = true
        return operation
    }

    /// Lets MPI make progress on the operation (`MPI_Test`) and reports whether it has completed.
    @discardableResult
    func test() throws(DistributedError) -> Bool {
        if isComplete { return true }
        guard let mpi = group.mpi else { isComplete = true; return true }
        var flag: Int32 = 0
        let code = group.state.withLock { _ in
            withUnsafeTemporaryAllocation(byteCount: MPILibrary.statusSize, alignment: 8) { status in
                mpi.test(&request, &flag, status.baseAddress)
            }
        }
        if code != MPILibrary.success {
            let error = DistributedError.mpi(call: call, code: code, message: mpi.message(for: code))
            group.markFailed(error)
            throw error
        }
        if flag != 0 { isComplete = true }
        return isComplete
    }

    /// Waits for completion, polling with `MPI_Test`, for at most the group's timeout.
    ///
    /// MPI makes progress only inside MPI calls here (shared memory and TCP have no progress thread), so
    /// every sleep between polls delays every round of the collective: the first 250 ms spin, yielding the
    /// processor to any other runnable thread; then the poll backs off to sleeps of up to 1 ms, so a rank
    /// that waits long for a slow or dead peer does not take a core from the others.
    func wait() throws(DistributedError) {
        if isComplete { return }
        let timeout = group.timeout
        let started = monotonicSeconds()
        var polls = 0
        while try !test() {
            polls += 1
            let elapsed = monotonicSeconds() - started
            if elapsed > timeout {
                let error = DistributedError.timeout(call: call, seconds: timeout, rank: group.rank)
                group.state.withLock { state in
                    if state.failure == nil { state.failure = error.description }
                    if let buffer { state.abandoned.append(buffer) }
                }
                throw error
            }
            if elapsed < 0.25 {
                sched_yield()
            } else {
                usleep(UInt32(Swift.min(1000, 10 + polls / 64)))
            }
        }
    }
}

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

/// A value guarded by a `pthread_mutex_t` (which ThreadSanitizer understands).
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private var mutex = pthread_mutex_t()

    init(_ value: Value) {
        self.value = value
        pthread_mutex_init(&mutex, nil)
    }

    deinit { pthread_mutex_destroy(&mutex) }

    func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body(&value)
    }
}
