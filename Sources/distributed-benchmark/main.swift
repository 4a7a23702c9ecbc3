// distributed-benchmark: throughput of data-parallel training for 1 and N processes, the overlap of
// gradient reductions with the backward sweep, and the fault drills CI runs. Launch with mpirun for
// N > 1 (one thread per process is the fair setting on a shared machine):
//
//     swift build -c release --product distributed-benchmark
//     BACKPROP_THREADS=1 .build/release/distributed-benchmark throughput
//     BACKPROP_THREADS=1 mpirun -np 2 .build/release/distributed-benchmark throughput
//     BACKPROP_THREADS=1 mpirun -np 2 .build/release/distributed-benchmark overlap
//     mpirun -np 2 .build/release/distributed-benchmark fault --kind exit|hang --checkpoint PATH
//     .build/release/distributed-benchmark verify-checkpoint --checkpoint PATH
import Backprop
import BackpropDistributed
import ExampleSupport
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
let command = arguments.first ?? "throughput"
var flags = Flags(usage: "distributed-benchmark throughput|overlap|fault|verify-checkpoint [flags]", arguments: Array(arguments.dropFirst()))

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}

let group: ProcessGroup
do { group = try ProcessGroup.world() } catch {
    print("distributed-benchmark: \(error)")
    exit(1)
}
func report(_ line: String) { if group.rank == 0 { print(line) } }
func fail(_ error: any Error) -> Never {
    print("distributed-benchmark (rank \(group.rank)): \(error)")
    group.abort(errorCode: 2)
}

// MARK: - Throughput

/// Images per second of DDP training: the digits CNN of small-batch-vision (SyncBatchNorm) and an MLP
/// with 1.8 M parameters, global batch fixed (strong scaling) and per-process batch fixed (weak).
@MainActor func throughput() {
    let steps = flags.int("--steps", default: 30, help: "measured steps per workload")
    let globalBatch = flags.int("--global-batch", default: 64, help: "global batch of the strong-scaling runs")
    flags.finish()
    struct Workload { var name: String; var inputShape: [Int]; var make: (inout SeededGenerator) -> Sequential<Float> }
    let workloads = [
        Workload(name: "cnn-syncbn", inputShape: [1, 8, 8]) { g in
            Sequential<Float>([
                Conv2d(inputChannels: 1, outputChannels: 16, kernelSize: 3, padding: 1, bias: false, generator: &g), BatchNorm<Float>(numFeatures: 16), ReLU(),
                MaxPool2d(kernelSize: 2),
                Conv2d(inputChannels: 16, outputChannels: 32, kernelSize: 3, padding: 1, bias: false, generator: &g), BatchNorm<Float>(numFeatures: 32), ReLU(),
                MaxPool2d(kernelSize: 2),
                Conv2d(inputChannels: 32, outputChannels: 64, kernelSize: 3, padding: 1, bias: false, generator: &g), BatchNorm<Float>(numFeatures: 64), ReLU(),
                GlobalAveragePool(), Linear(inputSize: 64, outputSize: 10, generator: &g),
            ])
        },
        Workload(name: "mlp-1.8M", inputShape: [784]) { g in
            Sequential<Float>([Linear(inputSize: 784, outputSize: 1024, generator: &g), ReLU(),
                               Linear(inputSize: 1024, outputSize: 1024, generator: &g), ReLU(),
                               Linear(inputSize: 1024, outputSize: 10, generator: &g)])
        },
    ]
    report("throughput: \(group.worldSize) process(es), \(Parallelism.workerCount) thread(s) each, \(steps) steps, \(group.backendDescription)")
    report("| workload | scaling | batch per process | global batch | step ms (median) | images/s | reduction ms | gradient MB per step |")
    report("|---|---|---:|---:|---:|---:|---:|---:|")
    for workload in workloads {
        for (scaling, perProcess) in [("strong", globalBatch / group.worldSize), ("weak", globalBatch)] {
            var generator = SeededGenerator(seed: 1)
            let model = workload.make(&generator)
            do { try convertToSyncBatchNorm(model, group: group) } catch { fail(error) }
            let parallel: DistributedDataParallel<Sequential<Float>>
            do { parallel = try DistributedDataParallel(model, group: group) } catch { fail(error) }
            let optimizer = SGD(parameters: parallel.parameters, learningRate: 0.01, momentum: 0.9)
            var data = SeededGenerator(seed: UInt64(10 + group.rank))
            let x = Tensor<Float>.randomNormal(shape: [perProcess] + workload.inputShape, using: &data)
            let y = (0..<perProcess).map { _ in Int(data.next() % 10) }
            var times: [Double] = [], reductions: [Double] = []
            for step in 0..<(steps + 3) {
                do { try group.barrier() } catch { fail(error) }
                let started = now()
                let tape = Tape<Float>()
                let loss = crossEntropy(logits: parallel(tape.constant(x)), targets: y)
                optimizer.zeroGradients()
                do { try parallel.backward(loss) } catch { fail(error) }
                optimizer.step()
                if step >= 3 {
                    times.append(now() - started)
                    reductions.append(parallel.lastReductionTimings.total)
                }
            }
            let stepTime = median(times)
            let gradientBytes = parallel.parameters.reduce(0) { $0 + $1.value.count } * 4
            report(String(format: "| %@ | %@ | %d | %d | %.2f | %.0f | %.2f | %.2f |", workload.name, scaling, perProcess, perProcess * group.worldSize,
                          stepTime * 1e3, Double(perProcess * group.worldSize) / stepTime, median(reductions) * 1e3, Double(gradientBytes) / 1e6))
        }
    }
}

// MARK: - Overlap

/// The reduction of finished buckets overlapped with the rest of a backward sweep. The tape has no
/// readiness hook yet, so the sweep is run piecewise (one tape per layer) and each layer's parameters
/// are declared ready as soon as its piece is done — exactly what the hook would do. Compared with the
/// same piecewise sweep followed by one reduction of everything, and with each part alone.
@MainActor func overlap() {
    let layers = flags.int("--layers", default: 6, help: "Linear 1024×1024 layers")
    let batch = flags.int("--batch", default: 64, help: "batch per process")
    let steps = flags.int("--steps", default: 15, help: "measured steps per mode")
    flags.finish()
    var generator = SeededGenerator(seed: 2)
    let model = Sequential<Float>((0..<layers).map { _ in Linear<Float>(inputSize: 1024, outputSize: 1024, generator: &generator) as any Module<Float> })
    let stages = model.layers.map { $0 as! Linear<Float> }
    let parallel: DistributedDataParallel<Sequential<Float>>
    // One bucket per layer (weight + the next layer's bias), after a small first bucket.
    do { parallel = try DistributedDataParallel(model, group: group, bucketCapacity: 5 << 20) } catch { fail(error) }
    var data = SeededGenerator(seed: UInt64(20 + group.rank))
    let x = Tensor<Float>.randomNormal(shape: [batch, 1024], using: &data)

    /// Forward layer by layer on separate tapes, then backward from the last; `afterLayer(i)` runs when
    /// layer i's parameters have their final gradients.
    func piecewiseStep(afterLayer: (Int) throws -> Void) rethrows {
        var inputs: [Variable<Float>] = [], outputs: [Variable<Float>] = []
        var h = x
        for (i, layer) in stages.enumerated() {
            let tape = Tape<Float>()
            let input = i == 0 ? tape.constant(h) : tape.variable(h)
            let output = layer(input).tanh()
            inputs.append(input)
            outputs.append(output)
            h = output.value
        }
        for layer in stages { layer.zeroGradients() }
        var seed: Tensor<Float>? = nil
        for i in stride(from: stages.count - 1, through: 0, by: -1) {
            if let seed {
                outputs[i].backward(seed: seed)
            } else {
                outputs[i].squared().mean().backward()
            }
            try afterLayer(i)
            seed = inputs[i].grad
        }
    }

    enum Mode: String, CaseIterable { case computeOnly = "backward only", reduceOnly = "reduction only", after = "backward, then reduction", overlapped = "backward with overlapped reduction" }
    var results: [Mode: (step: Double, poll: Double, start: Double, finish: Double)] = [:]
    for mode in Mode.allCases {
        var times: [Double] = [], polls: [Double] = [], starts: [Double] = [], finishes: [Double] = []
        for step in 0..<(steps + 2) {
            if mode == .reduceOnly { piecewiseStep { _ in } }
            do { try group.barrier() } catch { fail(error) }
            let started = now()
            do {
                switch mode {
                case .computeOnly: piecewiseStep { _ in }
                case .reduceOnly: try parallel.synchronizeGradients()
                case .after:
                    piecewiseStep { _ in }
                    try parallel.synchronizeGradients()
                case .overlapped:
                    try piecewiseStep { i in
                        try parallel.markGradientReady(stages[i].weight)
                        if let bias = stages[i].bias { try parallel.markGradientReady(bias) }
                    }
                    try parallel.synchronizeGradients()
                }
            } catch { fail(error) }
            if step >= 2 {
                times.append(now() - started)
                let t = parallel.lastReductionTimings
                polls.append(t.polling)
                starts.append(t.starting)
                finishes.append(t.finishing)
            }
        }
        results[mode] = (median(times), median(polls), median(starts), median(finishes))
    }
    let megabytes = Double(parallel.parameters.reduce(0) { $0 + $1.value.count } * 4) / 1e6
    report("overlap: \(group.worldSize) process(es), \(Parallelism.workerCount) thread(s) each, \(layers) × Linear(1024, 1024) + tanh, batch \(batch) per process, \(String(format: "%.1f", megabytes)) MB of gradients in \(parallel.bucketSizes.count) buckets, median of \(steps) steps")
    report("| mode | step ms | starting ms | polling ms | waiting after the sweep ms |")
    report("|---|---:|---:|---:|---:|")
    for mode in Mode.allCases {
        let r = results[mode]!
        let reduction = mode == .computeOnly
        report(String(format: "| %@ | %.2f | %@ | %@ | %@ |", mode.rawValue, r.step * 1e3,
                      reduction ? "-" : String(format: "%.2f", r.start * 1e3), reduction ? "-" : String(format: "%.2f", r.poll * 1e3),
                      reduction ? "-" : String(format: "%.2f", r.finish * 1e3)))
    }
    let hidden = results[.after]!.step - results[.overlapped]!.step
    report(String(format: "overlap saved %.2f ms per step (%.0f%% of the reduction-only time)", hidden * 1e3, 100 * hidden / results[.reduceOnly]!.step))
}

// MARK: - Faults

/// A rank that dies (`exit`) or hangs (`hang`) mid-training: the others must stop with a clear error in
/// bounded time, and the checkpoint written before the fault must survive intact.
@MainActor func fault() {
    let kind = flags.string("--kind", default: "exit", help: "exit (rank 1 is killed at step 3) or hang (rank 1 stops calling collectives at step 3)")
    let path = flags.string("--checkpoint", default: NSTemporaryDirectory() + "/backprop-fault.safetensors", help: "checkpoint written at step 2")
    let timeout = flags.double("--timeout", default: 10, help: "collective timeout, seconds")
    flags.finish()
    group.timeout = timeout
    var generator = SeededGenerator(seed: 3)
    let model = Sequential<Float>([Linear(inputSize: 4, outputSize: 8, generator: &generator), ReLU(), Linear(inputSize: 8, outputSize: 2, generator: &generator)])
    let parallel: DistributedDataParallel<Sequential<Float>>
    do { parallel = try DistributedDataParallel(model, group: group) } catch { fail(error) }
    let optimizer = Adam(parameters: parallel.parameters, learningRate: 1e-2)
    for step in 1...5 {
        if step == 3 && group.rank == 1 {
            if kind == "exit" {
                print("rank 1: killed at step 3 (fault drill: SIGKILL, no clean-up)")
                fflush(nil)
                kill(getpid(), SIGKILL)
            }
            print("rank 1: hanging at step 3 (fault drill)")
            while true { sleep(1000) }
        }
        let tape = Tape<Float>()
        let x = Tensor<Float>(repeating: Float(step + group.rank), shape: [2, 4])
        let loss = parallel(tape.constant(x)).squared().mean()
        optimizer.zeroGradients()
        do { try parallel.backward(loss) } catch {
            print("rank \(group.rank): stopped at step \(step): \(error)")
            group.abort(errorCode: 4)
        }
        optimizer.step()
        if step == 2 {
            do { try parallel.saveCheckpoint(optimizer: optimizer, info: CheckpointInfo(step: 2), toPath: path) } catch { fail(error) }
            report("checkpoint of step 2 written to \(path)")
        }
    }
    report("fault drill: no fault happened")
}

/// Loads a checkpoint left by a fault drill into a fresh model, in one process.
@MainActor func verifyCheckpoint() {
    let path = flags.string("--checkpoint", default: NSTemporaryDirectory() + "/backprop-fault.safetensors", help: "the checkpoint to load")
    flags.finish()
    var generator = SeededGenerator(seed: 99)
    let model = Sequential<Float>([Linear(inputSize: 4, outputSize: 8, generator: &generator), ReLU(), Linear(inputSize: 8, outputSize: 2, generator: &generator)])
    let optimizer = Adam(parameters: model.parameters, learningRate: 1e-2)
    do {
        let info = try Checkpoint.load(into: model, optimizer: optimizer, fromPath: path)
        print("checkpoint \(path) loads: step \(info.step), optimizer step count \(optimizer.stepCount)")
    } catch {
        print("checkpoint \(path) does not load: \(error)")
        exit(1)
    }
}

switch command {
case "throughput": throughput()
case "overlap": overlap()
case "fault": fault()
case "verify-checkpoint": verifyCheckpoint()
default:
    print("distributed-benchmark: unknown command '\(command)'; use throughput, overlap, fault or verify-checkpoint")
    exit(1)
}
