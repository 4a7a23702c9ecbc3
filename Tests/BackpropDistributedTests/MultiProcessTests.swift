import Backprop
@testable import BackpropDistributed
import Foundation
import Testing

/// The checks that need several processes. They run only under an MPI launcher:
///
///     swift build --build-tests
///     mpirun -np 2 .build/debug/BackpropPackageTests.xctest --testing-library swift-testing --filter MultiProcessTests
///
/// (`--allow-run-as-root --oversubscribe` as root or with more processes than cores; `.ci/run` runs
/// `-np 2` and `-np 3`). Collectives must be called in the same order on every rank, so everything runs
/// in one test, section after section, in a fixed order. Rank 0 prints the agreement figures.
@Suite("Multi-process (run under mpirun)")
struct MultiProcessTests {
    static let launchHint = "needs several processes: swift build --build-tests && mpirun -np 2 .build/debug/BackpropPackageTests.xctest --testing-library swift-testing --filter MultiProcessTests (see .ci/run)"

    @Test(.enabled(if: ProcessGroup.isLaunchedByMPI, Comment(rawValue: launchHint)))
    func everySectionInOrder() throws {
        let group = try ProcessGroup.world()
        group.timeout = 120
        try #require(group.worldSize >= 2, "launched by MPI with one process; use -np 2 or more")
        report(group, "\(group.worldSize) processes, \(group.backendDescription)")
        try collectives(group)
        try syncBatchNormAgreement(group)
        try dataParallelEquivalence(group)
        try gradientCheckAcrossProcesses(group)
        try checkpoints(group)
        try group.barrier()
    }

    /// Every rank's values, concatenated in rank order (through the public tensor all-gather).
    func gathered(_ group: ProcessGroup, _ values: [Double]) throws -> [Double] {
        try group.allGather(Tensor(values)).flatMap(\.scalars)
    }

    func report(_ group: ProcessGroup, _ line: String) {
        if group.rank == 0 { print("[mpi \(group.worldSize)] \(line)") }
    }

    // MARK: Collectives

    func collectives(_ group: ProcessGroup) throws {
        let (rank, world) = (group.rank, group.worldSize)
        // Σ_r (r + 1)·(i + 1) = (i + 1)·W(W + 1)/2, exact in both types.
        var doubles = Tensor<Double>(shape: [2, 3], scalars: (0..<6).map { Double((rank + 1) * ($0 + 1)) })
        try group.allReduce(&doubles, .sum)
        #expect(doubles == Tensor(shape: [2, 3], scalars: (0..<6).map { Double(($0 + 1) * world * (world + 1) / 2) }))
        var floats = Tensor<Float>((0..<5).map { Float(rank * 10 + $0) })
        try group.allReduce(&floats, .mean)
        #expect(floats == Tensor((0..<5).map { (Float(10 * world * (world - 1) / 2) + Float(world * $0)) / Float(world) }))

        // A large buffer, and the same bits on every rank for sums that round.
        var generator = SeededGenerator(seed: UInt64(100 + rank))
        var large = Tensor<Float>.randomNormal(shape: [1 << 18], using: &generator)
        let mine = large
        try group.allReduce(&large, .sum)
        let everyone = try group.allGather(mine)
        var expectedLarge = everyone[0].scalars.map(Double.init)
        for other in everyone.dropFirst() { for i in expectedLarge.indices { expectedLarge[i] += Double(other.scalars[i]) } }
        #expect(zip(large.scalars, expectedLarge).allSatisfy { abs(Double($0) - $1) <= 1e-5 * max(1, abs($1)) })
        let results = try group.allGather(large)
        #expect(results.allSatisfy { $0 == results[0] }, "all-reduce gave different bits on different ranks")

        var broadcast = Tensor<Double>(repeating: Double(rank), shape: [3, 2])
        try group.broadcast(&broadcast, from: world - 1)
        #expect(broadcast == Tensor(repeating: Double(world - 1), shape: [3, 2]))

        let gathered = try group.allGather(Tensor<Float>(shape: [1, 2], scalars: [Float(rank), -Float(rank)]))
        #expect(gathered == (0..<world).map { Tensor<Float>(shape: [1, 2], scalars: [Float($0), -Float($0)]) })

        let expectedShapes = (0..<world).map { [$0 + 1] }
        #expect(throws: DistributedError.shapeMismatch(call: "allGather", shapes: expectedShapes)) {
            _ = try group.allGather(Tensor<Double>(zeros: [rank + 1]))
        }
        #expect(throws: DistributedError.shapeMismatch(call: "allReduce", shapes: expectedShapes)) {
            var t = Tensor<Float>(zeros: [rank + 1])
            try group.allReduce(&t, .sum)
        }
        #expect(throws: DistributedError.shapeMismatch(call: "broadcast", shapes: expectedShapes)) {
            var t = Tensor<Double>(zeros: [rank + 1])
            try group.broadcast(&t, from: 0)
        }
        #expect(throws: DistributedError.invalidArgument(call: "broadcast", reason: "root \(world) is not a rank of this group of \(world) processes")) {
            var t = Tensor<Double>([1])
            try group.broadcast(&t, from: world)
        }
        try group.barrier()
        report(group, "collectives: ok")
    }

    // MARK: SyncBatchNorm

    func syncBatchNormAgreement(_ group: ProcessGroup) throws {
        let world = group.worldSize
        // Equal shares, uneven shares, and (from 3 ranks) a rank with no samples at all.
        var splits = [Array(repeating: 2, count: world), (0..<world).map { $0 + 1 }]
        if world >= 3 { splits.append((0..<world).map { $0 == 1 ? 0 : 2 }) }
        var worst = (double: NormAgreement(), float: NormAgreement())
        for configuration in NormConfiguration.all {
            for sizes in splits {
                let double = try compareSyncBatchNorm(configuration, group: group, batchSizes: sizes, as: Double.self)
                let float = try compareSyncBatchNorm(configuration, group: group, batchSizes: sizes, as: Float.self)
                #expect(double.worst <= 1e-12, "Double, \(configuration), batch sizes \(sizes): \(double)")
                #expect(float.worst <= 2e-6, "Float, \(configuration), batch sizes \(sizes): \(float)")
                let worstDouble = try gathered(group, [double.worst])
                let worstFloat = try gathered(group, [float.worst])
                report(group, String(format: "SyncBatchNorm vs BatchNorm, %@, batch sizes %@: max relative difference Double %.1e, Float %.1e",
                                     configuration.description, sizes.description, worstDouble.max()!, worstFloat.max()!))
                worst.double.merge(double)
                worst.float.merge(float)
            }
        }
        report(group, "SyncBatchNorm worst on rank 0, Double: \(worst.double)")
        report(group, "SyncBatchNorm worst on rank 0, Float: \(worst.float)")
    }

    // MARK: Data parallel

    func dataParallelEquivalence(_ group: ProcessGroup) throws {
        for convolutional in [false, true] {
            for kind in OptimizerKind.allCases {
                let clipping = kind != .adam
                let double = try BackpropDistributedTests.dataParallelEquivalence(
                    group: group, perRankBatch: 3, steps: 4, optimizer: kind, convolutional: convolutional, clipping: clipping, as: Double.self)
                let float = try BackpropDistributedTests.dataParallelEquivalence(
                    group: group, perRankBatch: 3, steps: 4, optimizer: kind, convolutional: convolutional, clipping: clipping, as: Float.self)
                let name = "\(convolutional ? "conv" : "MLP") + SyncBatchNorm, \(kind.rawValue)\(clipping ? ", clipped" : "")"
                #expect(double.worstRelativeDifference <= 1e-12, "Double, \(name): \(double.worstRelativeDifference)")
                #expect(float.worstRelativeDifference <= 1e-5, "Float, \(name): \(float.worstRelativeDifference)")
                if clipping { #expect(double.clippingWasActive, "\(name): the clipping limit never bound") }
                let worstDouble = try gathered(group, [double.worstRelativeDifference]).max()!
                let worstFloat = try gathered(group, [float.worstRelativeDifference]).max()!
                report(group, String(format: "DDP %d×3 vs 1×%d, %@, 4 steps: max relative difference Double %.1e, Float %.1e",
                                     group.worldSize, 3 * group.worldSize, name, worstDouble, worstFloat))
            }
        }
        // Not asserted, reported: a bias before a BatchNorm has a zero gradient made of rounding noise,
        // which Adam turns into ±learning-rate steps (see makeEquivalenceModel).
        let noisy = try BackpropDistributedTests.dataParallelEquivalence(
            group: group, perRankBatch: 3, steps: 4, optimizer: .adam, convolutional: false, clipping: false, biasBeforeNorm: true, as: Double.self)
        report(group, String(format: "DDP with biases before BatchNorm, Adam (not asserted): max relative difference Double %.1e on rank 0", noisy.worstRelativeDifference))
        // Buckets started early (as the tape's readiness hook will) give the same bits as buckets
        // started after the sweep; small buckets so that several are in flight at once.
        var generator = SeededGenerator(seed: UInt64(40 + group.rank))
        let x = Tensor<Double>.randomNormal(shape: [4, 6], using: &generator)
        var gradients: [[Tensor<Double>]] = []
        for early in [false, true] {
            let model: Sequential<Double> = makeEquivalenceModel(convolutional: false, seed: 9)
            let parallel = try DistributedDataParallel(model, group: group, bucketCapacity: 80, firstBucketCapacity: 40)
            let tape = Tape<Double>()
            parallel(tape.constant(x)).squared().mean().backward()
            if early { for parameter in model.parameters.reversed() { try parallel.markGradientReady(parameter) } }
            try parallel.synchronizeGradients()
            gradients.append(model.parameters.map { $0.grad! })
            #expect(parallel.bucketSizes.count > 3)
        }
        #expect(gradients[0] == gradients[1], "early bucket starts changed the averaged gradients")
        // Plain BatchNorm under DDP: before each training forward rank 0's running statistics replace
        // every rank's, then each rank updates them from its own batch: running = ½·rank 0's + ½·local mean.
        let plain = Sequential<Double>([BatchNorm<Double>(numFeatures: 2, momentum: 0.5)])
        let plainParallel = try DistributedDataParallel(plain, group: group)
        let norm = plain.layers[0] as! BatchNorm<Double>
        for step in 0..<2 {
            let before = try group.allGather(norm.runningMean!.value)[0]
            let x = Tensor<Double>(shape: [2, 2], scalars: [1, 2, 3, 4].map { $0 * Double(group.rank + 1) + Double(step) })
            _ = plainParallel(Tape<Double>().variable(x))
            let localMean = [(x.scalars[0] + x.scalars[2]) / 2, (x.scalars[1] + x.scalars[3]) / 2]
            #expect(norm.runningMean!.value.scalars == zip(before.scalars, localMean).map { 0.5 * $0 + 0.5 * $1 })
        }
        try plainParallel.checkReplicasAgree(includingBuffers: false)
        #expect(throws: DistributedError.replicasDiverged(call: "checkReplicasAgree", detail: "the parameters or buffers on rank 1 differ from rank 0's")) {
            try plainParallel.checkReplicasAgree()
        }
        // Reruns with the same seed and world size are bit-identical.
        let first = try BackpropDistributedTests.dataParallelEquivalence(
            group: group, perRankBatch: 2, steps: 3, optimizer: .adamW, convolutional: true, clipping: true, as: Float.self)
        let second = try BackpropDistributedTests.dataParallelEquivalence(
            group: group, perRankBatch: 2, steps: 3, optimizer: .adamW, convolutional: true, clipping: true, as: Float.self)
        #expect(first.finalState == second.finalState, "a rerun with the same seed gave different bits")
        report(group, "DDP rerun bit-identical: \(first.finalState == second.finalState)")
    }

    // MARK: Gradient check

    func gradientCheckAcrossProcesses(_ group: ProcessGroup) throws {
        var generator = SeededGenerator(seed: UInt64(7 + group.rank))
        let x = Tensor<Double>.randomNormal(shape: [2, 2, 3], mean: 1, standardDeviation: 2, using: &generator)
        var shared = SeededGenerator(seed: 8)
        let gamma = Tensor<Double>.randomNormal(shape: [2], using: &shared)
        let beta = Tensor<Double>.randomNormal(shape: [2], using: &shared)
        let weights = Tensor<Double>.randomNormal(shape: [2, 2, 3], using: &generator)
        func check() throws -> GradientCheckResult {
            try checkGradientsAcrossProcesses(at: [x, gamma, beta], group: group) { v in
                (v[0].syncBatchNorm(weight: v[1], bias: v[2], group: group) * Variable(weights)).sum()
            }
        }
        let correct = try check()
        #expect(correct.passed, "\(correct)")
        SyncBatchNormFault.active = .localBackwardSums
        defer { SyncBatchNormFault.active = .none }
        let faulty = try check()
        #expect(!faulty.passed, "a backward without the all-reduce of Σdy, Σdy·x̂ passed the check")
        #expect(!faulty.reports[0].passed && faulty.reports[1].passed && faulty.reports[2].passed,
                "only ∂/∂x should be wrong:\n\(faulty)")
        let passed = try gathered(group, [correct.passed ? 1.0 : 0, faulty.passed ? 1.0 : 0])
        report(group, "gradient check across processes: correct reduction \(correct.passed ? "PASS" : "FAIL") (max rel \(String(format: "%.1e", correct.maxRelativeError))) on every rank: \(passed.chunks(of: 2).allSatisfy { $0.first == 1 }); deliberately wrong reduction caught on every rank: \(passed.chunks(of: 2).allSatisfy { $0.last == 0 })")
    }

    // MARK: Checkpoints

    func checkpoints(_ group: ProcessGroup) throws {
        var tag = Tensor<Double>([Double(UInt32.random(in: 0..<UInt32.max))])
        try group.broadcast(&tag, from: 0)
        let path = NSTemporaryDirectory() + "/backprop-ddp-\(Int(tag.scalar)).safetensors"
        defer { if group.rank == 0 { try? FileManager.default.removeItem(atPath: path) } }
        var generator = SeededGenerator(seed: 31)
        let batches = (0..<4).map { _ in
            (Tensor<Float>.randomNormal(shape: [3, 2, 4, 4], using: &generator), (0..<3).map { _ in Int(generator.next() % 3) })
        }
        func train(_ model: DistributedDataParallel<Sequential<Float>>, _ optimizer: any Optimizer<Float>, _ steps: Range<Int>) throws {
            for step in steps {
                let (x, y) = batches[step]
                let tape = Tape<Float>()
                // Each rank sees its own variation of the batch.
                let loss = crossEntropy(logits: model(tape.constant(x + Float(group.rank))), targets: y)
                optimizer.zeroGradients()
                try model.backward(loss)
                optimizer.step()
            }
        }
        func makeModel() throws -> DistributedDataParallel<Sequential<Float>> {
            try DistributedDataParallel(try convertToSyncBatchNorm(makeEquivalenceModel(convolutional: true, seed: 4), group: group), group: group)
        }
        let uninterrupted = try makeModel()
        let uninterruptedOptimizer = Adam(parameters: uninterrupted.parameters, learningRate: 1e-2)
        try train(uninterrupted, uninterruptedOptimizer, 0..<2)
        try uninterrupted.saveCheckpoint(optimizer: uninterruptedOptimizer, info: CheckpointInfo(step: 2), toPath: path)
        #expect(FileManager.default.fileExists(atPath: path))
        try train(uninterrupted, uninterruptedOptimizer, 2..<4)

        let resumed = try makeModel()
        let resumedOptimizer = Adam(parameters: resumed.parameters, learningRate: 1e-2)
        let info = try resumed.loadCheckpoint(optimizer: resumedOptimizer, fromPath: path)
        #expect(info.step == 2)
        try train(resumed, resumedOptimizer, 2..<4)
        #expect(resumed.stateDictionary == uninterrupted.stateDictionary, "resuming from the checkpoint changed the trajectory")
        try resumed.checkReplicasAgree()

        // A write that fails on rank 0 fails on every rank.
        let unwritable = "/nonexistent-directory-\(Int(tag.scalar))/checkpoint.safetensors"
        if group.rank == 0 {
            #expect(throws: CheckpointError.self) { try resumed.saveCheckpoint(toPath: unwritable) }
        } else {
            #expect(throws: DistributedError.remoteFailure(call: "saveCheckpoint", ranks: [0], detail: "rank 0 could not write \(unwritable)")) {
                try resumed.saveCheckpoint(toPath: unwritable)
            }
        }
        report(group, "checkpoint: rank 0 wrote, all ranks resumed, trajectory bit-identical: \(resumed.stateDictionary == uninterrupted.stateDictionary)")
    }
}
