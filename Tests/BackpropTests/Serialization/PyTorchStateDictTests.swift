import Backprop
import Foundation
import Testing

/// The model of `Fixtures/make_every_layer_fixture.py`, with the same child names: every layer type
/// with parameters or buffers, including BatchNorm and InstanceNorm with running statistics.
private final class EveryLayer: Module {
    var isTraining = true
    let linear: Linear<Float>
    let conv: Conv2d<Float>
    let batchNorm = BatchNorm<Float>(numFeatures: 4)
    let instanceNorm = InstanceNorm<Float>(numFeatures: 4, affine: true, trackRunningStats: true)
    let groupNorm = GroupNorm<Float>(numGroups: 2, numChannels: 4)
    let batchNorm1d = BatchNorm<Float>(numFeatures: 3)
    let layerNorm = LayerNorm<Float>(normalizedShape: [3])
    let rmsNorm = RMSNorm<Float>(normalizedShape: [3])
    let embedding: Embedding<Float>
    let attention: MultiHeadAttention<Float>
    let block: TransformerBlock<Float>
    let head: Sequential<Float>

    init(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        linear = Linear(inputSize: 4, outputSize: 3, generator: &generator)
        conv = Conv2d(inputChannels: 2, outputChannels: 4, kernelSize: 3, padding: 1, generator: &generator)
        embedding = Embedding(vocabularySize: 5, dimension: 3, generator: &generator)
        attention = MultiHeadAttention(embedDimension: 4, headCount: 2, generator: &generator)
        block = TransformerBlock(embedDimension: 4, headCount: 2, feedForwardDimension: 8, generator: &generator)
        head = Sequential(Linear(inputSize: 3, outputSize: 2, generator: &generator), ReLU(), Linear(inputSize: 2, outputSize: 1, generator: &generator))
    }

    func callAsFunction(_ x: Variable<Float>) -> Variable<Float> { linear(x) }

    /// The script's `forward`: the outputs by name.
    func outputs(image: Tensor<Float>, tokens: Tensor<Float>, ids: [Int]) -> [String: Tensor<Float>] {
        let images = groupNorm(instanceNorm(batchNorm(conv(Variable(image)))))
        let embedded = embedding(ids, idShape: [2, 3])
        let normalized = rmsNorm(layerNorm(batchNorm1d(embedded.transposed(1, 2)).transposed(1, 2)))
        let x = Variable(tokens)
        return ["images": images.value, "heads": head(normalized).value, "attended": block(attention(x)).value, "linear": linear(x).value]
    }
}

/// The script's inputs (closed forms in its docstring).
private let image = Tensor<Float>(shape: [2, 2, 3, 3], scalars: (0..<36).map { Float(Foundation.sin(Double(1 + $0))) })
private let tokens = Tensor<Float>(shape: [2, 3, 4], scalars: (0..<24).map { Float(Foundation.cos(Double(1 + $0))) })
private let ids = [0, 3, 1, 4, 2, 2]

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")

/// Runs Python with torch and safetensors, if there are.
enum PythonTorch {
    static let isAvailable: Bool = (try? PythonSafeTensors.run("import torch, safetensors", arguments: [])) != nil

    /// Runs `make_every_layer_fixture.py` with `arguments`; its standard output.
    static func runFixtureScript(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", fixtures.appendingPathComponent("make_every_layer_fixture.py").path] + arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            Issue.record("the script failed: \(String(decoding: errorData, as: UTF8.self))")
            return ""
        }
        return String(decoding: data, as: UTF8.self)
    }
}

@Suite("PyTorch state dicts, both ways")
struct PyTorchStateDictTests {
    /// PyTorch → Backprop: `save_file(model.state_dict())` loads with strict loading (its
    /// `num_batches_tracked` are I64), and the model then computes PyTorch's outputs.
    @Test func aPyTorchStateDictLoadsStrictlyAndComputesTheSameOutputs() throws {
        let file = try SafeTensorsFile(contentsOfPath: fixtures.appendingPathComponent("every_layer_state.safetensors").path)
        #expect(file.tensors["batch_norm.num_batches_tracked"]?.dtype == .int64)
        let model = EveryLayer(seed: 1)
        let result = try model.loadStateDict(file)
        #expect(result == StateDictLoadResult())
        #expect(model.batchNorm.numBatchesTracked!.value.scalars == [3])
        #expect(model.instanceNorm.numBatchesTracked!.value.scalars == [0])   // PyTorch's InstanceNorm never counts
        #expect(Set(file.tensors.keys) == Set(model.stateDict().keys))

        model.eval()
        let outputs = model.outputs(image: image, tokens: tokens, ids: ids)
        let expected = try SafeTensorsFile(contentsOfPath: fixtures.appendingPathComponent("every_layer_outputs.safetensors").path)
        for name in ["images", "heads", "attended", "linear"] {
            let reference: Tensor<Float> = try expected.tensor(named: name)
            let actual = try #require(outputs[name])
            #expect(actual.shape == reference.shape, "\(name)")
            let worst = zip(actual.scalars, reference.scalars).map { Swift.abs($0 - $1) / Swift.max(1, Swift.abs($1)) }.max() ?? 0
            #expect(worst <= 2e-5, "\(name): largest difference \(worst)")
        }
    }

    /// Backprop → PyTorch: a file written from a trained Backprop model loads with
    /// `load_state_dict(strict=True)`; PyTorch sees the same buffers (counters as int64) and parameters.
    @Test(.enabled(if: PythonTorch.isAvailable, "python3 with torch and safetensors is not installed; the Backprop → PyTorch direction is not checked"))
    func aBackpropStateDictLoadsStrictlyInPyTorch() throws {
        let model = EveryLayer(seed: 2)
        for step in 0..<3 { _ = model.outputs(image: image * Float(1 + step), tokens: tokens, ids: ids) }
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/every_layer.safetensors"
        try SafeTensorsFile(stateOf: model).write(toPath: path)
        let output = try PythonTorch.runFixtureScript(["check", path])

        func line(_ name: String, _ buffer: Buffer<Float>, dtype: String = "torch.float32") -> String {
            "\(name) \(dtype) " + buffer.value.scalars.map { String(format: "%.4f", Double($0)) }.joined(separator: " ")
        }
        var expected = ["missing [] unexpected []"]
        let statistics: [(String, Buffer<Float>?, Buffer<Float>?, Buffer<Float>?)] = [
            ("batch_norm", model.batchNorm.runningMean, model.batchNorm.runningVar, model.batchNorm.numBatchesTracked),
            ("instance_norm", model.instanceNorm.runningMean, model.instanceNorm.runningVar, model.instanceNorm.numBatchesTracked),
            ("batch_norm1d", model.batchNorm1d.runningMean, model.batchNorm1d.runningVar, model.batchNorm1d.numBatchesTracked),
        ]
        for (prefix, mean, variance, count) in statistics {
            expected.append(line(prefix + ".running_mean", mean!))
            expected.append(line(prefix + ".running_var", variance!))
            expected.append(line(prefix + ".num_batches_tracked", count!, dtype: "torch.int64"))
        }
        // PyTorch lists buffers in registration order: batch_norm, instance_norm, batch_norm1d.
        let checksum = model.parameters.reduce(0.0) { $0 + $1.value.scalars.reduce(0.0) { $0 + Double($1) } }
        expected.append(String(format: "parameters %.4f", checksum))
        #expect(output == expected.joined(separator: "\n") + "\n")
    }
}
