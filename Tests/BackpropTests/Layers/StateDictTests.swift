import Backprop
import Foundation
import Testing

/// `prefix.linear` [3 → 2] and `norm` BatchNorm(2): names `linear.weight`, `linear.bias`,
/// `norm.weight`, `norm.bias`, `norm.running_mean`, `norm.running_var`, `norm.num_batches_tracked`.
private final class Small: Module {
    var isTraining = true
    let linear: Linear<Float>
    let norm = BatchNorm<Float>(numFeatures: 2)

    init(fill: Float) {
        linear = Linear(weight: Tensor(repeating: fill, shape: [2, 3]), bias: Tensor(repeating: fill, shape: [2]))
    }

    func callAsFunction(_ x: Variable<Float>) -> Variable<Float> { norm(linear(x)) }
}

private func values(_ shape: [Int], _ start: Float) -> Tensor<Float> {
    Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { start + Float($0) })
}

/// A complete state for `Small` with distinct values.
private func fullState() -> [String: Tensor<Float>] {
    ["linear.weight": values([2, 3], 1), "linear.bias": values([2], 10), "norm.weight": values([2], 20), "norm.bias": values([2], 30),
     "norm.running_mean": values([2], 40), "norm.running_var": values([2], 50), "norm.num_batches_tracked": Tensor(7)]
}

@Suite("State dicts")
struct StateDictTests {
    @Test func stateDictNamesEveryParameterAndBuffer() {
        let model = Small(fill: 1)
        #expect(model.stateDict().keys.sorted() == fullState().keys.sorted())
        #expect(model.stateDict() == model.stateDictionary)
        #expect(model.stateDict(keyMapping: .addingPrefix("model.")).keys.sorted() == fullState().keys.sorted().map { "model." + $0 })
    }

    @Test func strictLoadAssignsEverything() throws {
        let model = Small(fill: 0)
        let result = try model.loadStateDict(fullState())
        #expect(result == StateDictLoadResult())
        #expect(model.stateDict() == fullState())
    }

    @Test func everyProblemIsReportedAndNothingIsAssigned() {
        let model = Small(fill: 0)
        let before = model.stateDict()
        var state = fullState()
        state["norm.running_mean"] = nil
        state["norm.bias"] = nil
        state["head.weight"] = Tensor(zeros: [1])
        state["linear.weight"] = values([3, 2], 0)
        #expect(throws: StateDictError(missingKeys: ["norm.bias", "norm.running_mean"], unexpectedKeys: ["head.weight"],
                                       shapeMismatches: [.init(name: "linear.weight", expected: [2, 3], found: [3, 2])])) {
            try model.loadStateDict(state)
        }
        #expect(model.stateDict() == before)
        let message = StateDictError(missingKeys: ["norm.bias", "norm.running_mean"], unexpectedKeys: ["head.weight"],
                                     shapeMismatches: [.init(name: "linear.weight", expected: [2, 3], found: [3, 2])]).description
        #expect(message == "loadStateDict: nothing was loaded: 2 missing keys: 'norm.bias', 'norm.running_mean'; 1 unexpected key: 'head.weight'; size mismatch for 'linear.weight': shape [3, 2] in the state dict, [2, 3] in the module")
    }

    @Test func nonStrictLoadReturnsTheLeftoversButStillRejectsShapes() throws {
        let model = Small(fill: 0)
        var state = fullState()
        state["norm.running_var"] = nil
        state["extra"] = Tensor(1)
        let result = try model.loadStateDict(state, strict: false)
        #expect(result == StateDictLoadResult(missingKeys: ["norm.running_var"], unexpectedKeys: ["extra"]))
        #expect(model.linear.weight.value == values([2, 3], 1))
        #expect(model.norm.runningVar!.value == Tensor(ones: [2]))   // untouched
        state["linear.bias"] = values([3], 0)
        #expect(throws: StateDictError(shapeMismatches: [.init(name: "linear.bias", expected: [2], found: [3])])) {
            try model.loadStateDict(state, strict: false)
        }
    }

    @Test func keyMappingsStripAddRenameAndDrop() throws {
        #expect(StateDictKeyMapping.strippingPrefix("bert.")("bert.encoder.x") == "encoder.x")
        #expect(StateDictKeyMapping.strippingPrefix("bert.")("cls.x") == "cls.x")
        #expect(StateDictKeyMapping.addingPrefix("m.")("a") == "m.a")
        let rename = StateDictKeyMapping.renaming(["LayerNorm": "norm", "attention.self": "attention", "gamma": "weight"])
        #expect(rename("encoder.layer.0.attention.self.query.weight") == "encoder.layer.0.attention.query.weight")
        #expect(rename("encoder.layer.0.output.LayerNorm.gamma") == "encoder.layer.0.output.norm.weight")
        #expect(rename("MyLayerNorm.bias") == "MyLayerNorm.bias")
        let table = StateDictKeyMapping.table(["a": "b"], droppingOthers: true)
        #expect(table("a") == "b" && table("c") == nil)
        let chain = StateDictKeyMapping.strippingPrefix("bert.").followed(by: .renaming(["LayerNorm": "norm"]))
        #expect(chain("bert.embeddings.LayerNorm.weight") == "embeddings.norm.weight")

        let model = Small(fill: 0)
        let foreign = Dictionary(uniqueKeysWithValues: fullState().map { ("bert." + $0.key.replacingOccurrences(of: "norm.", with: "LayerNorm."), $0.value) })
        try model.loadStateDict(foreign, keyMapping: .strippingPrefix("bert.").followed(by: .renaming(["LayerNorm": "norm"])))
        #expect(model.stateDict() == fullState())
        // A closure can drop entries (nil) such as a checkpoint's extra heads.
        var withHead = fullState()
        withHead["cls.weight"] = Tensor(1)
        try model.loadStateDict(withHead, keyMapping: StateDictKeyMapping { $0.hasPrefix("cls.") ? nil : $0 })
    }

    @Test func twoEntriesMappingToOneNameAreAnError() {
        let model = Small(fill: 0)
        var state = fullState()
        state["bert.linear.bias"] = values([2], 5)
        #expect(throws: StateDictError(duplicateKeys: ["linear.bias": ["bert.linear.bias", "linear.bias"]])) {
            try model.loadStateDict(state, keyMapping: .strippingPrefix("bert."))
        }
    }

    @Test func loadingAFileConvertsEveryDTypeAndReportsConversionFailures() throws {
        var entries = try fullState().mapValues { try SafeTensorsEntry($0, dtype: .float16) }
        entries["norm.num_batches_tracked"] = try SafeTensorsEntry(Tensor<Float>(7), dtype: .int64)
        let model = Small(fill: 0)
        try model.loadStateDict(SafeTensorsFile(tensors: entries))
        #expect(model.stateDict() == fullState())

        entries["linear.bias"] = SafeTensorsEntry(Tensor<Double>([0.1, 2]))
        entries["norm.bias"] = SafeTensorsEntry(Tensor<Double>([1, 1e300]))
        entries["surplus"] = SafeTensorsEntry(Tensor<Float>([1]))
        let fresh = Small(fill: 0)
        let before = fresh.stateDict()
        #expect(throws: StateDictError(unexpectedKeys: ["surplus"], conversionErrors: [
            .inexactValue(tensor: "linear.bias", index: 0, value: "0.1", dtype: "F64", target: "F32"),
            .unrepresentableValue(tensor: "norm.bias", index: 1, value: "1e+300", target: "F32",
                                  reason: "it is beyond the largest finite F32 value 3.4028235e+38"),
        ])) {
            try fresh.loadStateDict(SafeTensorsFile(tensors: entries))
        }
        #expect(fresh.stateDict() == before)
    }

    @Test func filesWrittenFromAModuleUsePyTorchDTypes() throws {
        let model = Small(fill: 2)
        try model.loadStateDict(fullState())
        let file = try SafeTensorsFile(stateOf: model, keyMapping: .addingPrefix("model."))
        #expect(file.tensors["model.norm.num_batches_tracked"]?.dtype == .int64)
        #expect(file.tensors["model.linear.weight"]?.dtype == .float32)
        let buffer = Buffer(Tensor<Float>([1, 2]), savedDType: .int32)
        #expect(buffer.savedDType == .int32)
    }

    // MARK: Sharded checkpoints

    /// Writes `fullState()` as two shards and an index in a fresh folder; returns the folder.
    private func writeShards(index: String? = nil) throws -> String {
        let directory = temporaryDirectory()
        let state = fullState()
        let first = state.filter { $0.key.hasPrefix("linear.") }, second = state.filter { !$0.key.hasPrefix("linear.") }
        try SafeTensorsFile(first).write(toPath: directory + "/model-00001-of-00002.safetensors")
        try SafeTensorsFile(second).write(toPath: directory + "/model-00002-of-00002.safetensors")
        var map: [String] = []
        for name in first.keys.sorted() { map.append("\"\(name)\": \"model-00001-of-00002.safetensors\"") }
        for name in second.keys.sorted() { map.append("\"\(name)\": \"model-00002-of-00002.safetensors\"") }
        let text = index ?? "{\"metadata\": {\"total_size\": 96}, \"weight_map\": {\(map.joined(separator: ", "))}}"
        try text.write(toFile: directory + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
        return directory
    }

    @Test func shardedCheckpointsLoadFromTheFolderOrTheIndex() throws {
        let directory = try writeShards()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for path in [directory, directory + "/model.safetensors.index.json"] {
            let file = try SafeTensorsFile(checkpointAt: path)
            #expect(file.metadata == ["total_size": "96"])
            let model = Small(fill: 0)
            try model.loadStateDict(file)
            #expect(model.stateDict() == fullState())
        }
    }

    @Test func inconsistentShardIndexesAreTypedErrors() throws {
        let directory = try writeShards()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let index = directory + "/model.safetensors.index.json"
        func expectInvalid(_ text: String, _ reason: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
            try text.write(toFile: index, atomically: true, encoding: .utf8)
            #expect(throws: SafeTensorsError.invalidShardIndex(path: index, reason: reason), sourceLocation: sourceLocation) {
                try SafeTensorsFile(checkpointAt: directory)
            }
        }
        try expectInvalid("[]", "the top level must be an object, found an array")
        try expectInvalid("{}", "no 'weight_map'")
        try expectInvalid(#"{"weight_map": {"a": 1}}"#, "the shard of 'a' must be a string, found a number")
        try expectInvalid(#"{"weight_map": {"a": "../x.safetensors"}}"#, "shard '../x.safetensors' of 'a' is not a file name in the index's folder")
        try expectInvalid(#"{"weight_map": {"linear.weight": "model-00001-of-00002.safetensors"}}"#,
                          "shard 'model-00001-of-00002.safetensors' holds 'linear.bias', which the weight_map does not list")
        try expectInvalid(#"{"weight_map": {"linear.weight": "model-00001-of-00002.safetensors", "linear.bias": "model-00001-of-00002.safetensors", "x": "model-00001-of-00002.safetensors"}}"#,
                          "'x' is mapped to shard 'model-00001-of-00002.safetensors', which does not hold it")
        try "{\"weight_map\": {\"a\": \"none.safetensors\"}}".write(toFile: index, atomically: true, encoding: .utf8)
        #expect(throws: SafeTensorsError.unreadableFile(path: directory + "/none.safetensors", reason: "No such file or directory")) {
            _ = try SafeTensorsFile(checkpointAt: directory)
        }
        #expect(throws: SafeTensorsError.unreadableFile(path: directory + "/empty",
                                                        reason: "the folder holds neither model.safetensors nor model.safetensors.index.json")) {
            try FileManager.default.createDirectory(atPath: directory + "/empty", withIntermediateDirectories: false)
            _ = try SafeTensorsFile(checkpointAt: directory + "/empty")
        }
    }
}
