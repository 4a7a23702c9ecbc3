import Backprop

/// Averages parameter gradients across ranks in buckets, each bucket one non-blocking all-reduce
/// (PyTorch DDP's `Reducer`).
///
/// Parameters are assigned to buckets in **reverse** order of `Module.parameters`, because the reverse
/// sweep finishes the last layers' gradients first; the first bucket is small (`firstCapacity`) so that
/// communication starts early, the others hold up to `capacity` bytes. A bucket is a flat buffer with
/// every gradient of its parameters followed by one **presence** slot per parameter (1 if this rank has a
/// gradient, else 0): after the sum, a parameter that no rank touched keeps `grad == nil` (so optimizers
/// skip it, as in a single process), and a parameter that only some ranks touched is averaged with zeros
/// for the others, which is the gradient of the mean loss.
///
/// The reduction of a step runs in three phases:
/// 1. `markReady(_:)` as each parameter's gradient becomes final: when a bucket is complete it is packed
///    and its all-reduce starts at once, and outstanding reductions are polled (`MPI_Test`) so MPI makes
///    progress while the sweep goes on. Buckets start strictly in bucket order, which is the same on every
///    rank, so the ranks' collectives always match even if readiness order differed.
/// 2. `finish()`: every parameter not yet marked is marked (this is all of them while the tape has no
///    readiness hook, see `DistributedDataParallel.backward(_:)`), the remaining buckets start, and the
///    reductions are awaited in order.
/// 3. each bucket is unpacked: `grad = Σ_ranks grad / worldSize`, one division, the same bits on every rank.
final class GradientBuckets<Scalar: TensorScalar> {
    struct Bucket {
        /// Indices into `parameters`.
        var members: [Int]
        /// The offset of each member's gradient in `storage`; presence slots follow the gradients.
        var offsets: [Int]
        /// Gradient elements (presence slots start here).
        var gradientCount: Int
        /// Owned flat buffer: gradients, then one presence slot per member.
        var storage: UnsafeMutableBufferPointer<Scalar>
        /// Members still waiting to be marked ready in this step.
        var waiting: Int
        /// The reduction in flight.
        var pending: PendingCollective?
    }

    let group: ProcessGroup
    let parameters: [Parameter<Scalar>]
    private(set) var buckets: [Bucket] = []
    private var location: [ObjectIdentifier: (bucket: Int, member: Int)] = [:]
    private var isMarked: [Bool]
    /// The next bucket to start; buckets start strictly in order.
    private var nextToStart = 0
    /// Whether a step's reduction has begun (some parameter was marked).
    private(set) var isActive = false

    /// Seconds spent inside the reduction calls of the last step, for measurement: starting (packing
    /// and `MPI_Iallreduce`), polling during the sweep, and waiting/unpacking in `finish()`. Reset when
    /// the next step's first parameter is marked.
    private(set) var lastTimings = (start: 0.0, poll: 0.0, finish: 0.0)

    /// Lays out the buckets.
    ///
    /// - Parameters:
    ///   - parameters: The trainable parameters, in `Module.parameters` order.
    ///   - capacity: The largest bucket, in bytes (a parameter larger than it gets a bucket of its own).
    ///   - firstCapacity: The largest first bucket, in bytes.
    init(parameters: [Parameter<Scalar>], group: ProcessGroup, capacity: Int, firstCapacity: Int) {
        self.group = group
        self.parameters = parameters
        isMarked = Array(repeating: false, count: parameters.count)
        let scalarSize = MemoryLayout<Scalar>.stride
        var current: [Int] = []
        var currentBytes = 0
        func close() {
            guard !current.isEmpty else { return }
            var offsets: [Int] = []
            var total = 0
            for index in current {
                offsets.append(total)
                total += parameters[index].value.count
            }
            let storage = UnsafeMutableBufferPointer<Scalar>.allocate(capacity: total + current.count)
            storage.initialize(repeating: 0)
            for (member, index) in current.enumerated() {
                location[ObjectIdentifier(parameters[index])] = (buckets.count, member)
            }
            buckets.append(Bucket(members: current, offsets: offsets, gradientCount: total, storage: storage,
                                  waiting: current.count, pending: nil))
            current = []
            currentBytes = 0
        }
        for index in parameters.indices.reversed() {
            let bytes = parameters[index].value.count * scalarSize
            let limit = buckets.isEmpty ? firstCapacity : capacity
            if !current.isEmpty && currentBytes + bytes > limit { close() }
            current.append(index)
            currentBytes += bytes
        }
        close()
    }

    deinit {
        // A bucket whose reduction timed out may still be written by MPI: the group keeps it alive.
        let failed = group.state.withLock { $0.failure != nil }
        if !failed {
            for bucket in buckets { bucket.storage.deallocate() }
        }
    }

    /// Marks one parameter's gradient as final for this step; starts its bucket's reduction when the
    /// bucket is complete (and every earlier bucket has started), and polls reductions in flight.
    func markReady(_ parameter: Parameter<Scalar>) throws(DistributedError) {
        // One process: the average is the gradient itself, nothing to pack or send.
        guard group.worldSize > 1 else { return }
        guard let (bucket, member) = location[ObjectIdentifier(parameter)] else { return }
        let index = buckets[bucket].members[member]
        guard !isMarked[index] else { return }
        if !isActive {
            lastTimings = (0, 0, 0)
            isActive = true
        }
        isMarked[index] = true
        buckets[bucket].waiting -= 1
        try startCompleteBuckets()
        let started = monotonicSeconds()
        for b in 0..<nextToStart { try buckets[b].pending?.test() }
        lastTimings.poll += monotonicSeconds() - started
    }

    /// Starts, in order, every complete bucket that has not started.
    private func startCompleteBuckets() throws(DistributedError) {
        while nextToStart < buckets.count && buckets[nextToStart].waiting == 0 {
            let started = monotonicSeconds()
            pack(nextToStart)
            buckets[nextToStart].pending = try group.startAllReduceSum(buckets[nextToStart].storage)
            lastTimings.start += monotonicSeconds() - started
            nextToStart += 1
        }
    }

    /// Copies the members' gradients (zeros where there is none) and presence flags into the bucket.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func pack(_ b: Int) {
        let bucket = buckets[b]
        for (member, index) in bucket.members.enumerated() {
            let destination = bucket.storage.baseAddress! + bucket.offsets[member]
            let count = parameters[index].value.count
            if let gradient = parameters[index].grad {
                gradient.scalars.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: count) }
                bucket.storage[bucket.gradientCount + member] = 1
            } else {
                destination.update(repeating: 0, count: count)
                bucket.storage[bucket.gradientCount + member] = 0
            }
        }
    }

    /// Completes the step: marks every remaining parameter, starts the remaining buckets, waits for all
    /// reductions in order and writes the averaged gradients back.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func finish() throws(DistributedError) {
        guard group.worldSize > 1 else {
            lastTimings = (0, 0, 0)
            return
        }
        for index in parameters.indices where !isMarked[index] {
            try markReady(parameters[index])
        }
        let started = monotonicSeconds()
        let divisor = Scalar(group.worldSize)
        for b in buckets.indices {
            try buckets[b].pending?.wait()
            buckets[b].pending = nil
            let bucket = buckets[b]
            for (member, index) in bucket.members.enumerated() {
                guard bucket.storage[bucket.gradientCount + member] > 0 else {
                    parameters[index].grad = nil
                    continue
                }
                let source = bucket.storage.baseAddress! + bucket.offsets[member]
                let shape = parameters[index].value.shape
                let count = parameters[index].value.count
                let averaged = [Scalar](unsafeUninitializedCapacity: count) { values, initialized in
                    for i in 0..<count { values[i] = source[i] / divisor }
                    initialized = count
                }
                parameters[index].grad = Tensor(shape: shape, scalars: averaged)
            }
            buckets[b].waiting = bucket.members.count
        }
        lastTimings.finish = monotonicSeconds() - started
        reset()
    }

    /// Clears the per-step state (timings of the finished step stay readable until the next step starts).
    private func reset() {
        for i in isMarked.indices { isMarked[i] = false }
        nextToStart = 0
        isActive = false
    }
}
