import Backprop

/// Gives each rank its own shard of every epoch's sample order (PyTorch's `DistributedSampler`), for
/// `MiniBatches(dataset, batchSize:, sampler:, epoch:)`.
///
/// Every rank computes the same epoch order from the same seed (a `RandomSampler`, reshuffled per
/// epoch, or dataset order without shuffling), makes its length a multiple of the world size, and takes
/// every `worldSize`-th index starting at its rank: rank r gets positions r, r + W, r + 2W, … With the
/// same per-rank batch size B, batch k of all ranks together is exactly positions `k·W·B ..< (k+1)·W·B`
/// of the epoch order — the batch one process with batch size W·B would see.
///
/// When the count is not a multiple of W, `dropLast: false` (PyTorch's default) repeats the first
/// indices of the order to fill the last round, so a few samples are seen twice in that epoch;
/// `dropLast: true` leaves the last `count mod W` positions out, and the shards are then disjoint.
/// Every rank gets the same number of samples either way, so all ranks run the same number of steps.
public struct DistributedSampler: Sampler, Sendable {
    /// The number of samples in the dataset.
    public let count: Int
    /// The number of shards (ranks).
    public let replicas: Int
    /// This rank's shard.
    public let rank: Int
    /// Whether each epoch is reshuffled.
    public let shuffle: Bool
    /// The seed shared by every rank and epoch.
    public let seed: UInt64
    /// Whether the tail that does not fill a round is dropped (else it is padded).
    public let dropLast: Bool

    /// Creates a sampler for one rank.
    ///
    /// - Parameters:
    ///   - count: The number of samples.
    ///   - replicas: The number of ranks, ≥ 1.
    ///   - rank: This rank, `0..<replicas`.
    ///   - shuffle: Reshuffle every epoch from `seed`.
    ///   - seed: The seed, the same on every rank.
    ///   - dropLast: Drop the tail instead of padding it.
    public init(count: Int, replicas: Int, rank: Int, shuffle: Bool = true, seed: UInt64 = 0, dropLast: Bool = false) {
        guard count >= 0 else { usageError("DistributedSampler", "count \(count) must be ≥ 0") }
        guard replicas >= 1 else { usageError("DistributedSampler", "replicas \(replicas) must be ≥ 1") }
        guard (0..<replicas).contains(rank) else {
            usageError("DistributedSampler", "rank \(rank) is out of range for \(replicas) replicas")
        }
        self.count = count
        self.replicas = replicas
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
        self.dropLast = dropLast
    }

    /// Creates the sampler of this process's rank in `group`.
    public init(count: Int, group: ProcessGroup, shuffle: Bool = true, seed: UInt64 = 0, dropLast: Bool = false) {
        self.init(count: count, replicas: group.worldSize, rank: group.rank, shuffle: shuffle, seed: seed, dropLast: dropLast)
    }

    /// The number of samples each rank gets per epoch.
    public var samplesPerReplica: Int {
        // Not (count + replicas − 1)/replicas, which overflows for a replica count near Int.max.
        dropLast ? count / replicas : count / replicas + (count % replicas == 0 ? 0 : 1)
    }

    /// The epoch order shared by all ranks (before sharding).
    public func globalOrder(forEpoch epoch: Int) -> [Int] {
        shuffle ? RandomSampler(count: count, seed: seed).indices(forEpoch: epoch) : SequentialSampler(count: count).indices(forEpoch: epoch)
    }

    /// This rank's indices for `epoch`.
    public func indices(forEpoch epoch: Int) -> [Int] {
        var order = globalOrder(forEpoch: epoch)
        let total = samplesPerReplica * replicas
        if total <= order.count {
            order.removeLast(order.count - total)
        } else if !order.isEmpty {
            var position = 0
            while order.count < total {
                order.append(order[position])
                position += 1
            }
        }
        return Swift.stride(from: rank, to: order.count, by: replicas).map { order[$0] }
    }
}
