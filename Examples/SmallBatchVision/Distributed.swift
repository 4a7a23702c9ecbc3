// small-batch-vision --distributed: the same CNN trained data-parallel across the processes of
// mpirun, with `batchPerProcess` images per process. BatchNorm normalizes with each process's own few
// images; SyncBatchNorm with all processes' images together, as one process with the global batch would.
import Backprop
import BackpropDistributed
import ExampleSupport
import Foundation

@MainActor func runDistributed() {
    let group: ProcessGroup
    do { group = try ProcessGroup.world() } catch {
        print("small-batch-vision: \(error)")
        exit(1)
    }
    func stop(_ error: any Error) -> Never {
        print("small-batch-vision (rank \(group.rank)): \(error)")
        group.abort(errorCode: 1)
    }
    let isMain = group.rank == 0
    let globalBatch = batchPerProcess * group.worldSize
    let learningRate = 0.1 * Double(globalBatch) / 32
    if isMain {
        print("small-batch-vision --distributed: \(group.worldSize) process(es) (\(group.backendDescription)), \(batchPerProcess) images per process, global batch \(globalBatch), \(epochs) epochs, SGD momentum 0.9, lr 0.1·\(globalBatch)/32")
        if group.worldSize == 1 { print("  (one process: start it with mpirun -np 4 to see the difference)") }
    }
    let trainSet = TensorDataset(Tensor<Float>(shape: [trainIndices.count, 1, 8, 8], scalars: trainIndices.flatMap { digits.images[$0] }),
                                 labels: trainIndices.map { digits.labels[$0] })
    let sampler = DistributedSampler(count: trainSet.count, group: group, seed: seed &+ 2, dropLast: true)

    struct Result { var name: String; var accuracies: [Double]; var seconds: Double }
    var results: [Result] = []
    for synchronized in [false, true] {
        let name = synchronized ? "SyncBatchNorm" : "BatchNorm"
        var generator = SeededGenerator(seed: seed &+ 1)
        let model = makeModel(.batchNorm, generator: &generator)
        let parallel: DistributedDataParallel<Sequential<Float>>
        do {
            if synchronized { try convertToSyncBatchNorm(model, group: group) }
            parallel = try DistributedDataParallel(model, group: group)
        } catch { stop(error) }
        let optimizer = SGD(parameters: parallel.parameters, learningRate: learningRate, momentum: 0.9, weightDecay: 1e-4)
        let stepsPerEpoch = sampler.samplesPerReplica / batchPerProcess
        let progress = isMain ? Progress(total: epochs * stepsPerEpoch, label: name, unit: "images") : nil
        var accuracies: [Double] = []
        var recent: [Double] = []
        let started = Date()
        for epoch in 0..<epochs {
            for (step, batch) in MiniBatches(trainSet, batchSize: batchPerProcess, sampler: sampler, epoch: epoch, dropLast: true).enumerated() {
                let tape = Tape<Float>()
                let loss = crossEntropy(logits: parallel(tape.constant(batch.inputs)), targets: batch.labels)
                optimizer.zeroGradients()
                do { try parallel.backward(loss) } catch { stop(error) }
                optimizer.step()
                recent.append(Double(loss.value.scalar))
                if recent.count > 50 { recent.removeFirst() }
                progress?.update(step: epoch * stepsPerEpoch + step + 1, loss: recent.reduce(0, +) / Double(recent.count),
                                 processed: (epoch * stepsPerEpoch + step + 1) * globalBatch)
            }
            // Evaluation uses the running statistics only (no collectives), so rank 0 does it alone.
            if isMain { accuracies.append(testAccuracy(parallel.module)) }
        }
        // Plain BatchNorm's running statistics differ between ranks until the next forward's broadcast.
        do { try parallel.checkReplicasAgree(includingBuffers: synchronized) } catch { stop(error) }
        results.append(Result(name: name, accuracies: accuracies, seconds: Date().timeIntervalSince(started)))
    }
    guard isMain else { return }

    func percent(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }
    var chart = LineChart(title: "Test accuracy, \(group.worldSize) processes × \(batchPerProcess) images", xLabel: "epoch", yLabel: "test accuracy")
    for (result, color) in zip(results, ["#d62728", "#1f77b4"]) { chart.add(Series(name: result.name, values: result.accuracies, color: color)) }
    let chartPath = output + "/small-batch-vision-distributed.svg"
    do { try chart.write(to: chartPath) } catch { print("small-batch-vision: could not write \(chartPath): \(error)"); exit(1) }
    print("""

    \(textTable(["normalization", "statistics over", "test accuracy by epoch", "time"], results.map { result in
        [result.name, result.name == "BatchNorm" ? "\(batchPerProcess) images (one process)" : "\(globalBatch) images (all processes)",
         result.accuracies.map(percent).joined(separator: " → "), String(format: "%.1f s", result.seconds)]
    }))

    summary
      With \(batchPerProcess) images per process, BatchNorm's training statistics come from \(batchPerProcess) images while
      its running averages (used for testing) average over many batches; the two disagree and test accuracy
      suffers. SyncBatchNorm computes the statistics of all \(globalBatch) images across the \(group.worldSize) processes — what
      one process would compute at batch \(globalBatch) — so the model trains as with batch \(globalBatch).
      chart: \(chartPath)
    """)
}
