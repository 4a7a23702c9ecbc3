/// Tensors that share their first axis, one sample per row, with optional class labels (PyTorch's
/// `TensorDataset`).
///
/// ```swift
/// let dataset = TensorDataset(Tensor<Float>(shape: [100, 3], scalars: features), labels: classes)
/// for epoch in 0..<10 {
///     for batch in MiniBatches(dataset, batchSize: 32, shuffle: true, seed: 7, epoch: epoch) {
///         let loss = crossEntropy(logits: model(tape.constant(batch.inputs)), targets: batch.labels)
///         …
///     }
/// }
/// ```
public struct TensorDataset<Scalar: TensorScalar>: Sendable {
    /// The tensors, each with `count` rows on axis 0.
    public let tensors: [Tensor<Scalar>]
    /// One class index per sample, or empty when the dataset has none.
    public let labels: [Int]

    /// Creates a dataset from tensors whose first axes have the same size.
    ///
    /// - Parameters:
    ///   - tensors: At least one tensor of rank ≥ 1; row i of each is sample i.
    ///   - labels: One class index per sample, or `nil`.
    public init(tensors: [Tensor<Scalar>], labels: [Int]? = nil) {
        guard let first = tensors.first else {
            usageError("TensorDataset", "needs at least one tensor")
        }
        for (i, tensor) in tensors.enumerated() {
            guard tensor.rank >= 1 else {
                usageError("TensorDataset", "tensor \(i) has shape \(tensor.shape); every tensor needs a sample axis 0")
            }
            guard tensor.shape[0] == first.shape[0] else {
                usageError("TensorDataset", "tensor \(i) has \(tensor.shape[0]) samples on axis 0 (shape \(tensor.shape)) but tensor 0 has \(first.shape[0]) (shape \(first.shape)); all must have the same count")
            }
        }
        if let labels, labels.count != first.shape[0] {
            usageError("TensorDataset", "\(labels.count) labels for \(first.shape[0]) samples; give one label per sample")
        }
        self.tensors = tensors
        self.labels = labels ?? []
    }

    /// Creates a dataset from one or more tensors whose first axes have the same size.
    public init(_ tensors: Tensor<Scalar>..., labels: [Int]? = nil) {
        self.init(tensors: tensors, labels: labels)
    }

    /// The number of samples.
    public var count: Int { tensors[0].shape[0] }

    /// The samples at `indices`, in that order, gathered into one mini-batch.
    ///
    /// - Parameter indices: Sample indices in `0..<count` (repeats allowed).
    /// - Returns: The rows of every tensor and the labels at `indices`.
    public func batch(at indices: [Int]) -> MiniBatch<Scalar> {
        for index in indices where !(0..<count).contains(index) {
            usageError("TensorDataset.batch", "sample index \(index) is out of range for a dataset of \(count) samples")
        }
        return MiniBatch(indices: indices, tensors: tensors.map { $0.gathering(indices, alongAxis: 0) },
                         labels: labels.isEmpty ? [] : indices.map { labels[$0] })
    }
}

/// One mini-batch: the samples' indices in the dataset, their rows of every tensor, and their labels.
public struct MiniBatch<Scalar: TensorScalar>: Sendable {
    /// The samples' indices in the dataset, in batch order.
    public let indices: [Int]
    /// The rows of each of the dataset's tensors, in batch order (axis 0 has `indices.count` entries).
    public let tensors: [Tensor<Scalar>]
    /// The samples' labels, in batch order; empty when the dataset has none.
    public let labels: [Int]

    /// The first tensor: the inputs, by convention.
    public var inputs: Tensor<Scalar> { tensors[0] }
    /// The number of samples.
    public var count: Int { indices.count }
}

/// Chooses the order in which an epoch visits the samples (PyTorch's `Sampler`).
///
/// The order must depend only on the sampler's settings and the epoch, never on hidden state, so a run
/// resumed at epoch e sees what an uninterrupted run saw.
public protocol Sampler {
    /// The sample indices of epoch `epoch`, in visiting order.
    func indices(forEpoch epoch: Int) -> [Int]
}

/// Visits `0..<count` in order, every epoch.
public struct SequentialSampler: Sampler, Sendable {
    /// The number of samples.
    public let count: Int

    /// Creates a sampler over `count` samples.
    public init(count: Int) {
        guard count >= 0 else { usageError("SequentialSampler", "count \(count) must be ≥ 0") }
        self.count = count
    }

    /// `0, 1, …, count − 1`.
    public func indices(forEpoch epoch: Int) -> [Int] { Array(0..<count) }
}

/// Visits `0..<count` in a random order drawn afresh for each epoch from one seed.
///
/// Epoch e's order is a Fisher–Yates shuffle driven by `SeededGenerator(seed: seed ^ SplitMix64(e))`
/// with unbiased bounded draws (rejection sampling), written out here rather than taken from the
/// standard library, whose shuffle algorithm is not specified: the same seed and epoch give the same
/// order on every machine and Swift version.
public struct RandomSampler: Sampler, Sendable {
    /// The number of samples.
    public let count: Int
    /// The seed shared by every epoch.
    public let seed: UInt64

    /// Creates a sampler over `count` samples.
    public init(count: Int, seed: UInt64) {
        guard count >= 0 else { usageError("RandomSampler", "count \(count) must be ≥ 0") }
        self.count = count
        self.seed = seed
    }

    /// A permutation of `0..<count` determined by the seed and `epoch`.
    public func indices(forEpoch epoch: Int) -> [Int] {
        var generator = SeededGenerator(seed: seed ^ splitMix64(UInt64(bitPattern: Int64(epoch))))
        var order = Array(0..<count)
        var i = count - 1
        while i > 0 {
            order.swapAt(i, uniformIndex(upTo: i, using: &generator))
            i -= 1
        }
        return order
    }
}

/// One SplitMix64 step of `x`: a bijective mix that spreads nearby epochs far apart.
func splitMix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// A uniform integer in `0...upperBound`, by rejection: draws whose remainder would favour small values
/// are thrown away.
func uniformIndex(upTo upperBound: Int, using generator: inout SeededGenerator) -> Int {
    let range = UInt64(upperBound) + 1
    let limit = UInt64.max - UInt64.max % range   // the largest multiple of range, exclusive of the bias
    while true {
        let draw = generator.next()
        if draw < limit { return Int(draw % range) }
    }
}

/// The mini-batches of one epoch over a `TensorDataset` (PyTorch's `DataLoader` over a
/// `TensorDataset`): consecutive runs of `batchSize` samples in the sampler's order, the last one
/// shorter unless `dropLast` discards it.
///
/// It is a random-access collection of batches, so a resumed run can start at batch k of epoch e
/// (`batches[k...]`), and with the same seed and epoch it yields the same batches on every run.
///
/// ```swift
/// for epoch in 0..<epochs {
///     for batch in MiniBatches(dataset, batchSize: 64, shuffle: true, seed: 1, epoch: epoch, dropLast: true) {
///         train(batch.inputs, batch.labels)
///     }
/// }
/// ```
public struct MiniBatches<Scalar: TensorScalar>: RandomAccessCollection {
    /// The dataset the batches are drawn from.
    public let dataset: TensorDataset<Scalar>
    /// The samples per batch (the last batch may have fewer unless `dropLast`).
    public let batchSize: Int
    /// Whether an incomplete last batch is left out.
    public let dropLast: Bool
    /// The sample indices of this epoch, in visiting order (before batching).
    public let order: [Int]

    /// Batches in the order a sampler chooses for `epoch`.
    ///
    /// - Parameters:
    ///   - dataset: The samples.
    ///   - batchSize: Samples per batch, ≥ 1.
    ///   - sampler: The visiting order (for example a `RandomSampler`, or a distributed sampler that
    ///     gives each process its own shard).
    ///   - epoch: The epoch whose order to use.
    ///   - dropLast: Leave out an incomplete last batch.
    public init(_ dataset: TensorDataset<Scalar>, batchSize: Int, sampler: some Sampler, epoch: Int = 0, dropLast: Bool = false) {
        guard batchSize >= 1 else { usageError("MiniBatches", "batchSize \(batchSize) must be ≥ 1") }
        let order = sampler.indices(forEpoch: epoch)
        for index in order where !(0..<dataset.count).contains(index) {
            usageError("MiniBatches", "the sampler returned sample index \(index), out of range for a dataset of \(dataset.count) samples")
        }
        self.dataset = dataset
        self.batchSize = batchSize
        self.dropLast = dropLast
        self.order = order
    }

    /// Batches in dataset order, or shuffled afresh for each epoch from `seed`.
    ///
    /// - Parameters:
    ///   - dataset: The samples.
    ///   - batchSize: Samples per batch, ≥ 1.
    ///   - shuffle: Visit the samples in a random order (a `RandomSampler` with `seed`).
    ///   - seed: The shuffling seed, shared by all epochs.
    ///   - epoch: The epoch, which selects the order.
    ///   - dropLast: Leave out an incomplete last batch.
    public init(_ dataset: TensorDataset<Scalar>, batchSize: Int, shuffle: Bool = false, seed: UInt64 = 0,
                epoch: Int = 0, dropLast: Bool = false) {
        if shuffle {
            self.init(dataset, batchSize: batchSize, sampler: RandomSampler(count: dataset.count, seed: seed), epoch: epoch, dropLast: dropLast)
        } else {
            self.init(dataset, batchSize: batchSize, sampler: SequentialSampler(count: dataset.count), epoch: epoch, dropLast: dropLast)
        }
    }

    /// The first batch's position, 0.
    public var startIndex: Int { 0 }

    /// The number of batches: `⌈order.count / batchSize⌉`, or `⌊…⌋` with `dropLast`.
    public var endIndex: Int {
        // Not (count + batchSize − 1)/batchSize, which overflows for a batchSize near Int.max.
        dropLast ? order.count / batchSize : order.count / batchSize + (order.count % batchSize == 0 ? 0 : 1)
    }

    /// The batch at `position`, gathered from the dataset when accessed.
    public subscript(position: Int) -> MiniBatch<Scalar> {
        guard indices.contains(position) else {
            usageError("MiniBatches", "batch \(position) is out of range for \(count) batches")
        }
        let start = position * batchSize
        return dataset.batch(at: Array(order[start..<Swift.min(start + batchSize, order.count)]))
    }
}
