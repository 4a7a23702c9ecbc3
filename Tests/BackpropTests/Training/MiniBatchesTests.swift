import Testing
@testable import Backprop

/// `TensorDataset`, the samplers and `MiniBatches` (the DataLoader): batching, drop-last, and orders
/// that are a fixed function of the seed and epoch.
@Suite("Training: mini-batches")
struct MiniBatchesTests {
    /// 10 samples: features row i = [i, 10 + i], a second tensor [i], label i % 3.
    static let dataset = TensorDataset(
        Tensor<Double>(shape: [10, 2], scalars: (0..<10).flatMap { [Double($0), Double(10 + $0)] }),
        Tensor<Double>(shape: [10, 1], scalars: (0..<10).map(Double.init)),
        labels: (0..<10).map { $0 % 3 })

    @Test func sequentialBatchesKeepTheShortLastBatch() {
        let batches = MiniBatches(Self.dataset, batchSize: 4)
        #expect(batches.count == 3)
        #expect(batches.map(\.indices) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
        let last = batches[2]
        #expect(last.inputs == Tensor(shape: [2, 2], scalars: [8, 18, 9, 19]))
        #expect(last.tensors[1] == Tensor(shape: [2, 1], scalars: [8, 9]))
        #expect(last.labels == [2, 0])
    }

    @Test func dropLastDiscardsTheIncompleteBatch() {
        #expect(MiniBatches(Self.dataset, batchSize: 4, dropLast: true).map(\.indices) == [[0, 1, 2, 3], [4, 5, 6, 7]])
        #expect(MiniBatches(Self.dataset, batchSize: 5, dropLast: true).count == 2)
        #expect(MiniBatches(Self.dataset, batchSize: 11, dropLast: true).isEmpty)
        #expect(MiniBatches(Self.dataset, batchSize: 11).count == 1)
    }

    @Test func shuffledBatchesVisitEverySampleOncePerEpoch() {
        for epoch in 0..<3 {
            let batches = MiniBatches(Self.dataset, batchSize: 3, shuffle: true, seed: 5, epoch: epoch)
            let visited = batches.flatMap(\.indices)
            #expect(visited.sorted() == Array(0..<10))
            for batch in batches {
                // Rows follow their indices: row k of the batch is sample indices[k].
                #expect(batch.inputs.scalars == batch.indices.flatMap { [Double($0), Double(10 + $0)] })
                #expect(batch.labels == batch.indices.map { $0 % 3 })
            }
        }
    }

    @Test func theOrderIsAFunctionOfSeedAndEpochOnly() {
        let sampler = RandomSampler(count: 1000, seed: 42)
        #expect(sampler.indices(forEpoch: 3) == RandomSampler(count: 1000, seed: 42).indices(forEpoch: 3))
        #expect(sampler.indices(forEpoch: 3) != sampler.indices(forEpoch: 4))
        #expect(sampler.indices(forEpoch: 0) != RandomSampler(count: 1000, seed: 43).indices(forEpoch: 0))
        #expect(sampler.indices(forEpoch: 0) != Array(0..<1000))
    }

    /// The documented algorithm written out independently: Fisher–Yates from the top, each draw
    /// uniform in 0...i by rejecting draws at or above the largest multiple of i + 1, with
    /// `SeededGenerator(seed: seed ^ SplitMix64(epoch))`. Equality here is what makes orders the same on
    /// every machine and Swift version.
    @Test(arguments: [(UInt64(0), 0), (7, 1), (123_456_789, 41)])
    func theOrderFollowsTheDocumentedAlgorithm(seed: UInt64, epoch: Int) {
        var mixed = UInt64(epoch) &+ 0x9E37_79B9_7F4A_7C15
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        mixed ^= mixed >> 31
        var generator = SeededGenerator(seed: seed ^ mixed)
        var expected = Array(0..<50)
        for i in stride(from: 49, to: 0, by: -1) {
            let range = UInt64(i + 1)
            var draw = generator.next()
            while draw >= UInt64.max - UInt64.max % range { draw = generator.next() }
            expected.swapAt(i, Int(draw % range))
        }
        #expect(RandomSampler(count: 50, seed: seed).indices(forEpoch: epoch) == expected)
    }

    @Test func uniformDrawsAreUnbiased() {
        // 60,000 draws in 0...5: each count is within 5 standard deviations (σ ≈ 91) of 10,000.
        var generator = SeededGenerator(seed: 9)
        var counts = [Int](repeating: 0, count: 6)
        for _ in 0..<60_000 { counts[uniformIndex(upTo: 5, using: &generator)] += 1 }
        #expect(counts.allSatisfy { abs($0 - 10_000) < 460 }, "\(counts)")
    }

    struct Reversed: Sampler {
        func indices(forEpoch epoch: Int) -> [Int] { Array((0..<10).reversed()) }
    }

    @Test func aCustomSamplerSetsTheOrder() {
        #expect(MiniBatches(Self.dataset, batchSize: 6, sampler: Reversed()).map(\.indices) == [[9, 8, 7, 6, 5, 4], [3, 2, 1, 0]])
    }

    @Test func resumingAtABatchGivesTheSameBatches() {
        let full = MiniBatches(Self.dataset, batchSize: 3, shuffle: true, seed: 1, epoch: 2)
        let again = MiniBatches(Self.dataset, batchSize: 3, shuffle: true, seed: 1, epoch: 2)
        #expect(Array(full[2...]).map(\.indices) == Array(again[2...]).map(\.indices))
    }

    @Test func mismatchedSampleCountsAreAnError() async {
        await #expect(processExitsWith: .failure) {
            _ = TensorDataset(Tensor<Double>(zeros: [3, 2]), Tensor<Double>(zeros: [4]))
        }
        await #expect(processExitsWith: .failure) {
            _ = TensorDataset(Tensor<Double>(zeros: [3, 2]), labels: [0, 1])
        }
        await #expect(processExitsWith: .failure) {
            _ = MiniBatches(TensorDataset(Tensor<Double>(zeros: [3, 2])), batchSize: 0)
        }
    }
}
