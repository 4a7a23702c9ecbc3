import Backprop
import Foundation
import Testing

/// Linear(3 → 4), BatchNorm(4) (with running-statistics buffers), Linear(4 → outputs).
private func makeModel<Scalar: TensorScalar>(_ type: Scalar.Type = Double.self, seed: UInt64, outputs: Int = 2) -> Sequential<Scalar> {
    var generator = SeededGenerator(seed: seed)
    return Sequential<Scalar>(Linear(inputSize: 3, outputSize: 4, generator: &generator), BatchNorm(numFeatures: 4),
                              Linear(inputSize: 4, outputSize: outputs, generator: &generator))
}

private enum OptimizerKind: CaseIterable {
    case adam, sgdMomentum
    func make(_ model: Sequential<Double>) -> any Optimizer<Double> {
        switch self {
        case .adam: Adam(parameters: model.parameters, learningRate: 0.05)
        case .sgdMomentum: SGD(parameters: model.parameters, learningRate: 0.05, momentum: 0.9, nesterov: true)
        }
    }
}

/// One training step on a fixed regression batch; returns the loss before the update.
private func trainStep(_ model: Sequential<Double>, _ optimizer: any Optimizer<Double>, step: Int) -> Double {
    var generator = SeededGenerator(seed: 500 + UInt64(step))
    let x = Tensor<Double>.randomNormal(shape: [5, 3], using: &generator)
    let y = Tensor<Double>.randomNormal(shape: [5, 2], using: &generator)
    let tape = Tape<Double>()
    let loss = meanSquaredError(model(tape.constant(x)), tape.constant(y))
    optimizer.zeroGradients()
    loss.backward()
    optimizer.step()
    return loss.value.scalars[0]
}

/// A fresh path in a fresh temporary directory.
private func temporaryPath(_ name: String = "model.safetensors") -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoint-tests-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent(name).path
}

/// The error `body` throws, or `nil` (recording an issue) when it does not throw.
private func checkpointError(_ body: () throws(CheckpointError) -> Void, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> CheckpointError? {
    do {
        try body()
        Issue.record("expected a CheckpointError", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

@Suite("Checkpoints")
struct CheckpointTests {
    // MARK: Round trips

    @Test func roundTripRestoresEveryParameterAndBuffer() throws {
        let model = makeModel(seed: 1)
        var generator = SeededGenerator(seed: 99)
        _ = model(Variable(Tensor<Double>.randomNormal(shape: [6, 3], using: &generator)))   // move the running statistics
        let saved = model.stateDictionary
        #expect(saved.keys.sorted() == ["0.bias", "0.weight", "1.bias", "1.num_batches_tracked", "1.running_mean", "1.running_var",
                                        "1.weight", "2.bias", "2.weight"])
        let path = temporaryPath()
        try Checkpoint.save(model, info: CheckpointInfo(step: 42, metadata: ["run": "a"]), toPath: path)

        let other = makeModel(seed: 2)
        #expect(other.stateDictionary != saved)
        let info = try Checkpoint.load(into: other, fromPath: path)
        #expect(info == CheckpointInfo(step: 42, metadata: ["run": "a"]))
        #expect(other.stateDictionary == saved)

        // The file is a plain safetensors state_dict with the PyTorch names and our metadata.
        let file = try SafeTensorsFile(contentsOfPath: path)
        #expect(Set(file.tensors.keys) == Set(saved.keys))
        #expect(file.metadata == ["format": "backprop-checkpoint", "step": "42", "run": "a"])
        #expect(try file.tensor(named: "1.running_mean", as: Double.self) == saved["1.running_mean"])
    }

    @Test(arguments: OptimizerKind.allCases) private func resumingContinuesTheSameLossTrajectoryBitForBit(kind: OptimizerKind) throws {
        let model = makeModel(seed: 3)
        let optimizer = kind.make(model)
        for step in 0..<3 { _ = trainStep(model, optimizer, step: step) }
        let path = temporaryPath()
        try Checkpoint.save(model, optimizer: optimizer, info: CheckpointInfo(step: 3), toPath: path)
        let uninterrupted = (3..<7).map { trainStep(model, optimizer, step: $0) }

        let resumed = makeModel(seed: 4)
        let resumedOptimizer = kind.make(resumed)
        let info = try Checkpoint.load(into: resumed, optimizer: resumedOptimizer, fromPath: path)
        #expect(info.step == 3)
        #expect(resumedOptimizer.stepCount == 3)
        let continued = (info.step..<7).map { trainStep(resumed, resumedOptimizer, step: $0) }
        #expect(continued == uninterrupted)
        #expect(resumed.stateDictionary == model.stateDictionary)

        // Without the optimizer state (fresh moments), the trajectory differs: the state matters.
        let weightsOnly = makeModel(seed: 4)
        let freshOptimizer = kind.make(weightsOnly)
        try Checkpoint.load(into: weightsOnly, fromPath: path)
        #expect((3..<7).map { trainStep(weightsOnly, freshOptimizer, step: $0) } != uninterrupted)
    }

    @Test func optimizerTensorsArePrefixed() throws {
        let model = makeModel(seed: 5)
        let optimizer = Adam(parameters: model.parameters)
        _ = trainStep(model, optimizer, step: 0)
        let path = temporaryPath()
        try Checkpoint.save(model, optimizer: optimizer, toPath: path)
        let names = try SafeTensorsFile(contentsOfPath: path).tensors.keys.filter { $0.hasPrefix("optimizer.") }
        #expect(Set(names) == Set(optimizer.stateTensors().keys.map { "optimizer." + $0 }))
        #expect(names.contains("optimizer.state.0.exp_avg"))
    }

    @Test func savingReplacesTheFileAtomicallyAndLeavesNoTemporaryFiles() throws {
        let path = temporaryPath()
        try Checkpoint.save(makeModel(seed: 6), toPath: path)
        try Checkpoint.save(makeModel(seed: 7), info: CheckpointInfo(step: 1), toPath: path)
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["model.safetensors"])
        let loaded = makeModel(seed: 8)
        try Checkpoint.load(into: loaded, fromPath: path)
        #expect(loaded.stateDictionary == makeModel(seed: 7).stateDictionary)
    }

    // MARK: Bad files leave the model untouched

    @Test(arguments: [8, 100, 300])
    func truncatedFileThrowsAndLeavesTheModelUntouched(keptBytes: Int) throws {
        let path = temporaryPath()
        try Checkpoint.save(makeModel(seed: 9), toPath: path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(bytes.count > keptBytes)
        try bytes.prefix(keptBytes).write(to: URL(fileURLWithPath: path))

        let model = makeModel(seed: 10)
        let before = model.stateDictionary
        let error = checkpointError { () throws(CheckpointError) in try Checkpoint.load(into: model, fromPath: path) }
        guard case .safeTensors = error else { Issue.record("unexpected \(String(describing: error))"); return }
        #expect(model.stateDictionary == before)
    }

    @Test func corruptHeaderThrows() throws {
        let path = temporaryPath()
        try Checkpoint.save(makeModel(seed: 9), toPath: path)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[8] = UInt8(ascii: "[")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let model = makeModel(seed: 10)
        let before = model.stateDictionary
        let error = checkpointError { () throws(CheckpointError) in try Checkpoint.load(into: model, fromPath: path) }
        #expect(error == .safeTensors(.invalidHeaderStart))
        #expect(error?.description == "checkpoint: safetensors: the header is not UTF-8 JSON starting with '{'")
        #expect(model.stateDictionary == before)
    }

    @Test func mismatchedShapeThrowsNamingTheTensor() throws {
        let path = temporaryPath()
        try Checkpoint.save(makeModel(seed: 11, outputs: 3), toPath: path)
        let model = makeModel(seed: 12)
        let before = model.stateDictionary
        let error = checkpointError { () throws(CheckpointError) in try Checkpoint.load(into: model, fromPath: path) }
        #expect(error == .stateDict(StateDictError(shapeMismatches: [
            .init(name: "2.weight", expected: [2, 4], found: [3, 4]), .init(name: "2.bias", expected: [2], found: [3]),
        ])))
        #expect(model.stateDictionary == before)
    }

    @Test func floatCheckpointWidensIntoADoubleModelExactly() throws {
        let path = temporaryPath()
        let source = makeModel(Float.self, seed: 13)
        try Checkpoint.save(source, toPath: path)
        let model = makeModel(seed: 14)
        try Checkpoint.load(into: model, fromPath: path)
        #expect(model.stateDictionary == source.stateDictionary.mapValues { $0.converted(to: Double.self) })
    }

    @Test func doubleCheckpointIntoAFloatModelReportsEveryInexactTensor() throws {
        let path = temporaryPath()
        try Checkpoint.save(makeModel(seed: 13), toPath: path)
        let model = makeModel(Float.self, seed: 14)
        let before = model.stateDictionary
        let error = checkpointError { () throws(CheckpointError) in try Checkpoint.load(into: model, fromPath: path) }
        guard case .stateDict(let problems) = error, problems.conversionErrors.count > 1,
              problems.conversionErrors.allSatisfy({ if case .inexactValue(_, _, _, dtype: "F64", target: "F32") = $0 { true } else { false } })
        else {
            Issue.record("unexpected \(String(describing: error))"); return
        }
        #expect(model.stateDictionary == before)
    }

    @Test func batchCounterIsWrittenAsInt64AsPyTorchDoes() throws {
        let path = temporaryPath()
        let model = makeModel(seed: 21)
        var generator = SeededGenerator(seed: 3)
        for _ in 0..<3 { _ = model(Variable(Tensor<Double>.randomNormal(shape: [4, 3], using: &generator))) }
        try Checkpoint.save(model, toPath: path)
        let file = try SafeTensorsFile(contentsOfPath: path)
        let counter = try #require(file.tensors["1.num_batches_tracked"])
        #expect(counter.dtype == .int64 && counter.shape == [])
        #expect(counter.bytes == [3, 0, 0, 0, 0, 0, 0, 0])
        #expect(file.tensors["1.running_mean"]?.dtype == .float64)
        let restored = makeModel(seed: 22)
        try Checkpoint.load(into: restored, fromPath: path)
        #expect(restored.stateDictionary == model.stateDictionary)
    }

    @Test func missingAndUnexpectedTensorsThrow() throws {
        let saved = makeModel(seed: 15).stateDictionary
        let path = temporaryPath()
        var missing = saved
        missing["1.running_var"] = nil
        try SafeTensorsFile(missing).write(toPath: path)
        let model = makeModel(seed: 16)
        let before = model.stateDictionary
        #expect(checkpointError { () throws(CheckpointError) in try Checkpoint.load(into: model, fromPath: path) }
                == .stateDict(StateDictError(missingKeys: ["1.running_var"])))
        var extra = saved
        extra["3.weight"] = Tensor(zeros: [1])
        try SafeTensorsFile(extra).write(toPath: path)
        #expect(checkpointError { () throws(CheckpointError) in try Checkpoint.load(into: model, fromPath: path) }
                == .stateDict(StateDictError(unexpectedKeys: ["3.weight"])))
        #expect(model.stateDictionary == before)
    }

    @Test func everyMissingUnexpectedAndMisshapedNameIsReportedInOneError() throws {
        var state = makeModel(seed: 15, outputs: 3).stateDictionary
        state["1.running_var"] = nil
        state["1.running_mean"] = nil
        state["3.weight"] = Tensor(zeros: [1])
        let path = temporaryPath()
        try SafeTensorsFile(state).write(toPath: path)
        let model = makeModel(seed: 16)
        let before = model.stateDictionary
        let error = checkpointError { () throws(CheckpointError) in try Checkpoint.load(into: model, fromPath: path) }
        #expect(error == .stateDict(StateDictError(
            missingKeys: ["1.running_mean", "1.running_var"], unexpectedKeys: ["3.weight"],
            shapeMismatches: [.init(name: "2.weight", expected: [2, 4], found: [3, 4]),
                              .init(name: "2.bias", expected: [2], found: [3])])))
        let message = error.map(String.init(describing:)) ?? ""
        for name in ["1.running_mean", "1.running_var", "3.weight", "2.weight", "2.bias"] { #expect(message.contains(name)) }
        #expect(model.stateDictionary == before)
    }

    @Test func mismatchedOptimizerStateLeavesModelAndOptimizerUntouched() throws {
        let source = makeModel(seed: 17)
        let sgd = SGD(parameters: source.parameters, learningRate: 0.1, momentum: 0.9)
        _ = trainStep(source, sgd, step: 0)
        let path = temporaryPath()
        try Checkpoint.save(source, optimizer: sgd, toPath: path)

        let model = makeModel(seed: 18)
        let adam = Adam(parameters: model.parameters)
        _ = trainStep(model, adam, step: 0)
        let (modelBefore, adamBefore) = (model.stateDictionary, adam.stateTensors())
        let error = checkpointError { () throws(CheckpointError) in try Checkpoint.load(into: model, optimizer: adam, fromPath: path) }
        guard case .optimizerState = error else { Issue.record("unexpected \(String(describing: error))"); return }
        #expect(model.stateDictionary == modelBefore)
        #expect(adam.stateTensors() == adamBefore)
    }

    @Test func askingForOptimizerStateThatIsNotThereThrows() throws {
        let path = temporaryPath()
        try Checkpoint.save(makeModel(seed: 19), toPath: path)
        let model = makeModel(seed: 20)
        let before = model.stateDictionary
        let error = checkpointError { () throws(CheckpointError) in
            try Checkpoint.load(into: model, optimizer: Adam(parameters: model.parameters), fromPath: path)
        }
        #expect(error == .missingOptimizerState(path: path))
        #expect(model.stateDictionary == before)
    }

    @Test func malformedStepAndReservedMetadataThrow() throws {
        let path = temporaryPath()
        try SafeTensorsFile(makeModel(seed: 21).stateDictionary, metadata: ["step": "-3"]).write(toPath: path)
        let model = makeModel(seed: 22)
        let error = checkpointError { () throws(CheckpointError) in try Checkpoint.load(into: model, fromPath: path) }
        #expect(error == .invalidMetadata(key: "step", reason: "expected a non-negative integer, found '-3'"))
        let saveError = checkpointError { () throws(CheckpointError) in
            try Checkpoint.save(model, info: CheckpointInfo(metadata: ["format": "mine"]), toPath: path)
        }
        guard case .invalidMetadata(key: "format", _) = saveError else { Issue.record("unexpected \(String(describing: saveError))"); return }
    }

    @Test func unwritableDestinationThrows() {
        let error = checkpointError { () throws(CheckpointError) in
            try Checkpoint.save(makeModel(seed: 23), toPath: "/nonexistent-directory-\(UUID().uuidString)/model.safetensors")
        }
        guard case .safeTensors(.unwritableFile) = error else { Issue.record("unexpected \(String(describing: error))"); return }
    }
}
