import Backprop
import Foundation
import Testing

/// Independent tapes on several threads at once give the same results as one after another, bit for
/// bit. Run under the thread sanitizer (`swift test --sanitize=thread`) this also checks that the
/// engine shares no unsynchronized mutable state between tapes.
@Suite("Concurrency")
struct ConcurrencyTests {
    /// What one forward and backward pass produced, as bit patterns.
    struct Outcome: Equatable {
        var loss: UInt64
        var gradients: [[UInt64]]
    }

    /// A model shared read-only by every thread: its parameters are read by all tapes and receive no
    /// gradient (gradients are taken with `tape.gradients(of:withRespectTo:)`).
    final class SharedModel: @unchecked Sendable {
        let model: Sequential<Double>
        init() {
            var generator = SeededGenerator(seed: 11)
            model = Sequential(
                Linear(inputSize: 4, outputSize: 8, generator: &generator),
                LayerNorm<Double>(normalizedShape: [8]),
                GELU<Double>(),
                Linear(inputSize: 8, outputSize: 3, generator: &generator))
        }
    }

    static func data(_ item: Int) -> (x: Tensor<Double>, targets: [Int]) {
        var generator = SeededGenerator(seed: 1000 + UInt64(item))
        return (Tensor.randomNormal(shape: [5, 4], using: &generator), (0..<5).map { ($0 + item) % 3 })
    }

    /// Forward and backward of the shared model on item `item`'s data, on a tape of its own.
    static func sharedModelPass(_ shared: SharedModel, item: Int) -> Outcome {
        let (x, targets) = data(item)
        let tape = Tape<Double>()
        let input = tape.variable(x)
        let leaves = [input] + shared.model.parameters.map { tape.variable(for: $0) }
        let loss = crossEntropy(logits: shared.model(input), targets: targets)
        let gradients = tape.gradients(of: loss, withRespectTo: leaves)
        return Outcome(loss: loss.value.scalars[0].bitPattern, gradients: gradients.map { $0.scalars.map(\.bitPattern) })
    }

    /// A model of the thread's own, with state (BatchNorm running statistics, Dropout's generator)
    /// and an optimizer, trained for a few steps from item `item`'s seed.
    static func ownModelTraining(item: Int) -> Outcome {
        var generator = SeededGenerator(seed: 500 + UInt64(item))
        let model = Sequential<Double>(
            Linear(inputSize: 4, outputSize: 6, generator: &generator),
            BatchNorm<Double>(numFeatures: 6),
            ReLU<Double>(),
            Dropout<Double>(probability: 0.25, seed: UInt64(item)),
            Linear(inputSize: 6, outputSize: 3, generator: &generator))
        let optimizer = Adam(parameters: model.parameters, learningRate: 0.01)
        let (x, targets) = data(item)
        var lastLoss = 0.0
        for _ in 0..<5 {
            let tape = Tape<Double>()
            let loss = crossEntropy(logits: model(tape.constant(x)), targets: targets)
            loss.backward()
            optimizer.step()
            optimizer.zeroGradients()
            lastLoss = loss.value.scalars[0]
        }
        return Outcome(loss: lastLoss.bitPattern, gradients: model.parameters.map { $0.value.scalars.map(\.bitPattern) })
    }

    /// Runs `work(item)` for every item, on `threadCount` threads at once (item `i` on thread
    /// `i % threadCount`), started together.
    static func runConcurrently(items: Int, threadCount: Int, _ work: @escaping @Sendable (Int) -> Outcome) -> [Outcome] {
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var outcomes: [Int: Outcome] = [:]
        }
        let results = Results()
        let start = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        for thread in 0..<threadCount {
            done.enter()
            let worker = Thread {
                start.wait()
                for item in stride(from: thread, to: items, by: threadCount) {
                    let outcome = work(item)
                    results.lock.lock()
                    results.outcomes[item] = outcome
                    results.lock.unlock()
                }
                done.leave()
            }
            worker.stackSize = 8 << 20
            worker.start()
        }
        for _ in 0..<threadCount { start.signal() }
        done.wait()
        return (0..<items).map { results.outcomes[$0]! }
    }

    @Test func tapesOnSeveralThreadsMatchSequentialResultsBitForBit() {
        let shared = SharedModel()
        let items = 16
        let sequential = (0..<items).map { Self.sharedModelPass(shared, item: $0) }
        let concurrent = Self.runConcurrently(items: items, threadCount: 4) { Self.sharedModelPass(shared, item: $0) }
        #expect(concurrent == sequential)
        // The items differ from each other, so equality above is not trivial.
        #expect(Set(sequential.map(\.loss)).count == items)
    }

    @Test func trainingOwnModelsOnSeveralThreadsMatchesSequentialTrainingBitForBit() {
        let items = 8
        let sequential = (0..<items).map { Self.ownModelTraining(item: $0) }
        let concurrent = Self.runConcurrently(items: items, threadCount: 4) { Self.ownModelTraining(item: $0) }
        #expect(concurrent == sequential)
        #expect(Set(sequential.map(\.loss)).count == items)
    }

    @Test func anomalyDetectionAndNoGradScopesStayOnTheirOwnThread() {
        // One thread inside withAnomalyDetection/withoutGradients must not switch the mode of another.
        let outcomes = Self.runConcurrently(items: 8, threadCount: 4) { item in
            let tape = Tape<Double>()
            let x = tape.variable(Tensor([Double(item), 1]))
            let flags: (Bool, Bool) = item % 2 == 0
                ? withAnomalyDetection { withoutGradients { (AnomalyDetection.isEnabled, (x * x).requiresGradient) } }
                : (AnomalyDetection.isEnabled, (x * x).requiresGradient)
            return Outcome(loss: flags.0 ? 1 : 0, gradients: [[flags.1 ? 1 : 0]])
        }
        for (item, outcome) in outcomes.enumerated() {
            let inScopes = item % 2 == 0
            #expect(outcome == Outcome(loss: inScopes ? 1 : 0, gradients: [[inScopes ? 0 : 1]]), "item \(item)")
        }
    }
}
