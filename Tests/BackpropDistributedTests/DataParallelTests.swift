import Backprop
@testable import BackpropDistributed
import Foundation
import Testing

/// `DistributedDataParallel` and its gradient buckets in one process; the multi-process behaviour is in
/// `MultiProcessTests`.
@Suite("DistributedDataParallel: one process")
struct DataParallelTests {
    @Test func aGroupOfOneTrainsExactlyAsThePlainModel() throws {
        let plain: Sequential<Float> = makeEquivalenceModel(convolutional: true, seed: 2)
        let wrapped = try DistributedDataParallel(makeEquivalenceModel(convolutional: true, seed: 2) as Sequential<Float>,
                                                  group: .singleProcess(), bucketCapacity: 64, firstBucketCapacity: 32)
        #expect(wrapped.namedParameters.map(\.name) == plain.namedParameters.map(\.name))
        #expect(wrapped.namedBuffers.map(\.name) == plain.namedBuffers.map(\.name))
        let plainOptimizer = Adam(parameters: plain.parameters, learningRate: 1e-2)
        let wrappedOptimizer = Adam(parameters: wrapped.parameters, learningRate: 1e-2)
        var generator = SeededGenerator(seed: 3)
        for _ in 0..<3 {
            let x = Tensor<Float>.randomNormal(shape: [4, 2, 4, 4], using: &generator)
            let y = (0..<4).map { _ in Int(generator.next() % 3) }
            let tape = Tape<Float>(), wrappedTape = Tape<Float>()
            plainOptimizer.zeroGradients()
            crossEntropy(logits: plain(tape.constant(x)), targets: y).backward()
            clipGradientNorm(plain.parameters, maxNorm: 0.1)
            plainOptimizer.step()
            wrappedOptimizer.zeroGradients()
            try wrapped.backward(crossEntropy(logits: wrapped(wrappedTape.constant(x)), targets: y))
            clipGradientNorm(wrapped.parameters, maxNorm: 0.1)
            wrappedOptimizer.step()
        }
        #expect(wrapped.stateDictionary == plain.stateDictionary)
    }

    /// Reverse parameter order; a first bucket of at most `firstBucketCapacity` bytes, then
    /// `bucketCapacity`; a parameter larger than the capacity alone in its bucket.
    @Test func bucketsFollowTheReverseParameterOrderAndTheCapacities() throws {
        var generator = SeededGenerator(seed: 0)
        // Parameters in order: 3·5 = 15, 5, 5·2 = 10, 2 elements (Float: 60, 20, 40, 8 bytes).
        let model = Sequential<Float>([Linear(inputSize: 3, outputSize: 5, generator: &generator), Linear(inputSize: 5, outputSize: 2, generator: &generator)])
        let parallel = try DistributedDataParallel(model, group: .singleProcess(), bucketCapacity: 64, firstBucketCapacity: 48)
        // Reverse: 8, 40 | 20 | 60 → first bucket 8 + 40 = 48 ≤ 48; then 20 (+ 60 > 64); then 60.
        #expect(parallel.bucketSizes.map(\.elements) == [12, 5, 15])
        #expect(parallel.bucketSizes.map(\.parameters) == [2, 1, 1])
        let whole = try DistributedDataParallel(model, group: .singleProcess())
        #expect(whole.bucketSizes.map(\.elements) == [32])
    }

    @Test func aParameterWithoutGradientKeepsNoGradient() throws {
        var generator = SeededGenerator(seed: 1)
        let used = Linear<Double>(inputSize: 2, outputSize: 2, generator: &generator)
        let unused = Linear<Double>(inputSize: 2, outputSize: 2, generator: &generator)
        let model = Sequential<Double>([used, unused])
        let parallel = try DistributedDataParallel(model, group: .singleProcess())
        let tape = Tape<Double>()
        try parallel.backward(used(tape.constant(Tensor(ones: [1, 2]))).sum())
        #expect(used.weight.grad == Tensor(ones: [2, 2]))
        #expect(unused.weight.grad == nil && unused.bias?.grad == nil)
    }

    @Test func gradientsMarkedReadyEarlyGiveTheSameResult() throws {
        var generator = SeededGenerator(seed: 4)
        let model = Sequential<Double>([Linear(inputSize: 3, outputSize: 4, generator: &generator), Tanh(), Linear(inputSize: 4, outputSize: 1, generator: &generator)])
        let parallel = try DistributedDataParallel(model, group: .singleProcess(), bucketCapacity: 40, firstBucketCapacity: 40)
        let x = Tensor<Double>.randomNormal(shape: [5, 3], using: &generator)
        let tape = Tape<Double>()
        parallel(tape.constant(x)).squared().mean().backward()
        let expected = model.parameters.map { $0.grad! }
        // Declare the last layer's parameters ready first, as a readiness hook would, then finish.
        for parameter in model.parameters.reversed().prefix(2) { try parallel.markGradientReady(parameter) }
        try parallel.synchronizeGradients()
        #expect(model.parameters.map { $0.grad! } == expected)
        #expect(parallel.lastReductionTimings.total >= 0)
    }

    @Test func checkpointsRoundTripThroughTheWrapper() throws {
        let path = NSTemporaryDirectory() + "/backprop-ddp-test-\(UInt32.random(in: 0..<UInt32.max)).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let original = try DistributedDataParallel(makeEquivalenceModel(convolutional: false, seed: 6) as Sequential<Double>, group: .singleProcess())
        let optimizer = SGD(parameters: original.parameters, learningRate: 0.1, momentum: 0.9)
        let tape = Tape<Double>()
        try original.backward(crossEntropy(logits: original(tape.constant(Tensor(ones: [3, 6]) * 0.5 + Tensor(shape: [3, 1], scalars: [0, 1, 2]))), targets: [0, 1, 2]))
        optimizer.step()
        try original.saveCheckpoint(optimizer: optimizer, info: CheckpointInfo(step: 1), toPath: path)
        let restored = try DistributedDataParallel(makeEquivalenceModel(convolutional: false, seed: 7) as Sequential<Double>, group: .singleProcess())
        let restoredOptimizer = SGD(parameters: restored.parameters, learningRate: 0.1, momentum: 0.9)
        #expect(try restored.loadCheckpoint(optimizer: restoredOptimizer, fromPath: path).step == 1)
        #expect(restored.stateDictionary == original.stateDictionary)
        #expect(restoredOptimizer.stateTensors() == optimizer.stateTensors())
        // The file is a plain Backprop checkpoint of the wrapped model.
        let plain: Sequential<Double> = makeEquivalenceModel(convolutional: false, seed: 8)
        try Checkpoint.load(into: plain, fromPath: path)
        #expect(plain.stateDictionary == original.stateDictionary)
    }

    @Test func nonPositiveBucketCapacitiesAreRejected() {
        #expect(throws: DistributedError.invalidArgument(call: "DistributedDataParallel", reason: "bucket capacities 1048576 and 0 bytes must be positive")) {
            _ = try DistributedDataParallel(Sequential<Float>([]), group: .singleProcess(), bucketCapacity: 0)
        }
    }
}

@Suite("ProcessGroup: one process")
struct ProcessGroupTests {
    @Test func collectivesOfOneProcessLeaveTheDataAsItIs() throws {
        let group = ProcessGroup.singleProcess()
        #expect(group.rank == 0 && group.worldSize == 1 && group.backendDescription == "single process")
        var t = Tensor<Double>([1.5, -2])
        try group.allReduce(&t, .sum)
        try group.allReduce(&t, .mean)
        try group.broadcast(&t, from: 0)
        #expect(t == Tensor([1.5, -2]))
        #expect(try group.allGather(t) == [t])
        try group.barrier()
    }

    @Test func aRootOutsideTheGroupIsRejected() {
        var t = Tensor<Float>([1])
        #expect(throws: DistributedError.invalidArgument(call: "broadcast", reason: "root 1 is not a rank of this group of 1 processes")) {
            try ProcessGroup.singleProcess().broadcast(&t, from: 1)
        }
    }

    @Test func withoutALauncherTheWorldIsOneProcess() throws {
        guard !ProcessGroup.isLaunchedByMPI else { return }
        let world = try ProcessGroup.world()
        #expect(world.worldSize == 1 && world.rank == 0)
        #expect(try ProcessGroup.world() === world)
    }

    @Test func aMissingMPILibraryIsATypedErrorSayingHowToInstallIt() async {
        await #expect(processExitsWith: .success) {
            setenv("BACKPROP_MPI_LIBRARY", "/nonexistent/libmpi.so", 1)
            let result = Result { () throws(DistributedError) in try MPILibrary() }
            guard case .failure(.libraryUnavailable(let reason)) = result, reason.contains("/nonexistent/libmpi.so"),
                  reason.contains("apt-get install -y libopenmpi-dev openmpi-bin") else { exit(1) }
            exit(0)
        }
    }

    @Test func errorsNameTheCallAndTheValues() {
        #expect(DistributedError.mpi(call: "MPI_Iallreduce", code: 5, message: "MPI_ERR_COUNT: invalid count argument").description
                == "MPI_Iallreduce failed with MPI error 5: MPI_ERR_COUNT: invalid count argument")
        #expect(DistributedError.timeout(call: "MPI_Ibarrier", seconds: 30, rank: 2).description.hasPrefix("MPI_Ibarrier on rank 2 did not complete within 30.0 s"))
        #expect(DistributedError.shapeMismatch(call: "allGather", shapes: [[2], [3]]).description
                == "allGather: every rank must pass a tensor of the same shape, got rank 0: [2], rank 1: [3]")
        #expect(DistributedError.remoteFailure(call: "loadCheckpoint", ranks: [1, 2], detail: "could not load a").description
                == "loadCheckpoint failed on ranks 1, 2: could not load a")
    }
}
