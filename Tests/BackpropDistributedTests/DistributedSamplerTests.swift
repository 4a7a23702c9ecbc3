import Backprop
import BackpropDistributed
import Testing

@Suite("DistributedSampler")
struct DistributedSamplerTests {
    @Test(arguments: [(10, 3), (12, 3), (7, 2), (5, 4), (3, 5)])
    func shardsAreDisjointWithDropLastAndCoverTheRoundedOrder(count: Int, replicas: Int) {
        for epoch in 0..<2 {
            let shards = (0..<replicas).map {
                DistributedSampler(count: count, replicas: replicas, rank: $0, seed: 11, dropLast: true).indices(forEpoch: epoch)
            }
            let perRank = count / replicas
            #expect(shards.allSatisfy { $0.count == perRank })
            let all = shards.flatMap { $0 }
            #expect(Set(all).count == all.count, "shards overlap")
            // Interleaved, the shards are the first replicas·perRank positions of the shared order.
            let order = RandomSampler(count: count, seed: 11).indices(forEpoch: epoch)
            let interleaved = (0..<perRank).flatMap { j in (0..<replicas).map { shards[$0][j] } }
            #expect(interleaved == Array(order.prefix(perRank * replicas)))
        }
    }

    @Test func paddingRepeatsTheFirstIndicesOfTheOrder() {
        // 10 samples on 3 ranks: 4 each; the order is padded with its first 2 entries.
        let order = Array(0..<10)
        let shards = (0..<3).map { DistributedSampler(count: 10, replicas: 3, rank: $0, shuffle: false).indices(forEpoch: 0) }
        #expect(shards == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]])
        #expect(Set(shards.flatMap { $0 }) == Set(order))
    }

    @Test func paddingWrapsMoreThanOnceForTinyDatasets() {
        let shards = (0..<5).map { DistributedSampler(count: 2, replicas: 5, rank: $0, shuffle: false).indices(forEpoch: 0) }
        #expect(shards == [[0], [1], [0], [1], [0]])
    }

    @Test func eachEpochIsReshuffledTheSameWayOnEveryRank() {
        let a = DistributedSampler(count: 100, replicas: 4, rank: 2, seed: 3)
        #expect(a.indices(forEpoch: 0) != a.indices(forEpoch: 1))
        #expect(a.globalOrder(forEpoch: 5) == DistributedSampler(count: 100, replicas: 4, rank: 0, seed: 3).globalOrder(forEpoch: 5))
        #expect(a.indices(forEpoch: 1) == DistributedSampler(count: 100, replicas: 4, rank: 2, seed: 3).indices(forEpoch: 1))
    }

    /// Batch k of all ranks together is batch k of one process with the world's batch size.
    @Test func ranksTogetherSeeTheSingleProcessBatches() {
        let dataset = TensorDataset(Tensor<Double>(shape: [24, 1], scalars: (0..<24).map(Double.init)))
        let perRank = (0..<3).map { rank in
            MiniBatches(dataset, batchSize: 2, sampler: DistributedSampler(count: 24, replicas: 3, rank: rank, seed: 8), epoch: 1)
        }
        let single = MiniBatches(dataset, batchSize: 6, shuffle: true, seed: 8, epoch: 1)
        #expect(single.count == 4 && perRank.allSatisfy { $0.count == 4 })
        for k in 0..<4 {
            #expect(Set(perRank.flatMap { $0[k].indices }) == Set(single[k].indices))
        }
    }

    @Test func aRankOutsideTheReplicasIsAnError() async {
        await #expect(processExitsWith: .failure) {
            _ = DistributedSampler(count: 10, replicas: 2, rank: 2)
        }
    }
}
