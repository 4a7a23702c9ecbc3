import Foundation
import Testing
import Backprop

/// A file laid out by hand: the 8-byte little-endian length, the header text, the data.
func rawSafeTensors(header: String, data: [UInt8]) -> [UInt8] {
    let json = Array(header.utf8)
    var bytes = (0..<8).map { UInt8(truncatingIfNeeded: UInt64(json.count) >> (8 * $0)) }
    bytes += json + data
    return bytes
}

/// A fresh empty directory for one test.
func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "backprop-safetensors-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite struct SafeTensorsTests {
    static let fixturePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/pytorch_fixture.safetensors").path

    // MARK: The PyTorch fixture

    @Test func loadsTheFileWrittenByPyTorch() throws {
        let file = try SafeTensorsFile(contentsOfPath: Self.fixturePath)
        #expect(file.metadata == ["format": "pt", "producer": "make_safetensors_fixture.py"])
        #expect(Set(file.tensors.keys) == ["layer.weight", "layer.bias", "norm.running_var", "embedding.table"])

        let weight: Tensor<Float> = try file.tensor(named: "layer.weight")
        #expect(weight.shape == [2, 3])
        for i in 0..<2 { for j in 0..<3 { #expect(weight[i, j] == Float(i * 3 + j) / 4 - 0.5) } }

        let bias: Tensor<Float> = try file.tensor(named: "layer.bias")
        let expectedBias: [Float] = (0..<3).map { j in Float(0.1 * Double(j + 1)) }
        #expect(bias.scalars == expectedBias)

        let variance: Tensor<Double> = try file.tensor(named: "norm.running_var")
        let expectedVariance: [Double] = (0..<4).map { k in 1 / Double(k + 3) }
        #expect(variance.scalars == expectedVariance)

        let table: Tensor<Float> = try file.tensor(named: "embedding.table")
        for i in 0..<3 { for j in 0..<2 {
            let sign: Float = (i + j) % 2 == 0 ? 1 : -1
            #expect(table[i, j] == sign * Float(pow(2.0, Double(i - j))))
        } }
    }

    @Test func fixtureLoadsIntoParametersOnlyWhenEverythingMatches() throws {
        let file = try SafeTensorsFile(contentsOfPath: Self.fixturePath)
        let weight = Parameter(Tensor<Float>(zeros: [2, 3])), bias = Parameter(Tensor<Float>(zeros: [3]))
        let table = Parameter(Tensor<Float>(zeros: [3, 2]))
        // The running variance is F64 in the file and 1/3 is no float: nothing is assigned.
        let variance = Parameter(Tensor<Float>(zeros: [4]))
        let all = ["layer.weight": weight, "layer.bias": bias, "norm.running_var": variance, "embedding.table": table]
        #expect(throws: SafeTensorsError.inexactValue(tensor: "norm.running_var", index: 0, value: "0.3333333333333333",
                                                      dtype: "F64", target: "F32")) {
            try file.load(into: all)
        }
        #expect(weight.value == Tensor(zeros: [2, 3]) && table.value == Tensor(zeros: [3, 2]))
        // Strict loading reports the tensor nobody asked for.
        #expect(throws: SafeTensorsError.unexpectedTensor(name: "norm.running_var")) {
            try file.load(into: ["layer.weight": weight, "layer.bias": bias, "embedding.table": table])
        }
        #expect(weight.value == Tensor(zeros: [2, 3]))
        // Shape mismatch.
        let wrongShape = Parameter(Tensor<Float>(zeros: [3, 2]))
        #expect(throws: SafeTensorsError.shapeMismatch(tensor: "layer.weight", expected: [3, 2], found: [2, 3])) {
            try file.load(into: ["layer.weight": wrongShape, "layer.bias": bias], allowingUnexpected: true)
        }
        #expect(bias.value == Tensor(zeros: [3]))
        #expect(throws: SafeTensorsError.missingTensor(name: "layer.scale")) {
            try file.load(into: ["layer.bias": bias, "layer.scale": Parameter(Tensor<Float>(zeros: [3]))], allowingUnexpected: true)
        }
        // Everything right: all assigned.
        try file.load(into: ["layer.weight": weight, "layer.bias": bias, "embedding.table": table], allowingUnexpected: true)
        #expect(weight.value[1, 2] == 0.75)
        let doubleVariance = Parameter(Tensor<Double>(zeros: [4]))
        try file.load(into: ["norm.running_var": doubleVariance], allowingUnexpected: true)
        #expect(doubleVariance.value.scalars[1] == 0.25)
    }

    // MARK: Writing

    @Test func writesTheReferenceLayout() throws {
        let file = SafeTensorsFile(tensors: [
            "b": SafeTensorsEntry(Tensor<Float>([1, 2, 3])),
            "a": SafeTensorsEntry(Tensor<Float>(shape: [1, 1], scalars: [4])),
            "z.f64": SafeTensorsEntry(Tensor<Double>([0.5])),
        ], metadata: ["k": "v \"quoted\"\n"])
        let bytes = try file.serialized()
        let length = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        #expect(length % 8 == 0)
        let header = String(decoding: bytes[8..<(8 + length)], as: UTF8.self)
        // F64 first (alignment), then F32 by name; header padded with spaces.
        let expected = #"{"__metadata__":{"k":"v \"quoted\"\n"},"z.f64":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"#
            + #""a":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]},"b":{"dtype":"F32","shape":[3],"data_offsets":[12,24]}}"#
        #expect(header.trimmingCharacters(in: .whitespaces) == expected)
        #expect(header.count - expected.count < 8 && header.hasSuffix(String(repeating: " ", count: header.count - expected.count)))
        #expect(Array(bytes[(8 + length)...]) == [0, 0, 0, 0, 0, 0, 0xE0, 0x3F, 0, 0, 0x80, 0x40, 0, 0, 0x80, 0x3F, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40])
        #expect(try SafeTensorsFile(bytes: bytes) == file)
    }

    @Test func roundTripsThroughDiskAtomically() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/model.safetensors"
        var generator = SeededGenerator(seed: 3)
        let tensors: [String: Tensor<Double>] = [
            "w": .randomNormal(shape: [3, 4], using: &generator), "scalar": Tensor(2.5), "empty": Tensor(zeros: [0, 3]),
        ]
        try SafeTensorsFile(tensors, metadata: ["epoch": "3"]).write(toPath: path)
        try SafeTensorsFile(["w": Tensor<Float>([1])]).write(toPath: path)   // replaces it
        try SafeTensorsFile(tensors, metadata: ["epoch": "3"]).write(toPath: path)
        let read = try SafeTensorsFile(contentsOfPath: path)
        #expect(try read.allTensors(as: Double.self) == tensors)
        #expect(read.metadata == ["epoch": "3"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["model.safetensors"])   // no temporary left

        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(tensors).write(toPath: directory + "/missing/dir/x.safetensors") }
        #expect(throws: SafeTensorsError.invalidName("__metadata__")) { try SafeTensorsFile(["__metadata__": Tensor<Float>([1])]).serialized() }
        #expect(throws: SafeTensorsError.unreadableFile(path: directory + "/none", reason: "No such file or directory")) {
            try SafeTensorsFile(contentsOfPath: directory + "/none")
        }
    }

    @Test func optimizerStateSurvivesACheckpoint() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let p = Parameter(Tensor<Float>([1, 2]))
        let adam = Adam(parameters: [p], learningRate: 0.1)
        p.grad = Tensor([0.5, -0.5])
        adam.step()
        try SafeTensorsFile(adam.stateTensors()).write(toPath: directory + "/optimizer.safetensors")
        let restored = Adam(parameters: [Parameter(p.value)], learningRate: 0.1)
        try restored.loadState(SafeTensorsFile(contentsOfPath: directory + "/optimizer.safetensors").allTensors(as: Float.self))
        #expect(restored.stateTensors() == adam.stateTensors())
    }

    @Test(.enabled(if: PythonSafeTensors.isAvailable, "python3 with the safetensors package is not installed"))
    func fileWrittenHereLoadsInPython() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/from_swift.safetensors"
        try SafeTensorsFile(tensors: [
            "encoder.weight": SafeTensorsEntry(Tensor<Float>(shape: [2, 2], scalars: [0.5, -1.25, 3, 1e-3])),
            "bn.running_mean": SafeTensorsEntry(Tensor<Double>([1.0 / 3, -2])),
        ], metadata: ["note": "written by Backprop"]).write(toPath: path)
        let script = """
        import sys
        from safetensors import safe_open
        with safe_open(sys.argv[1], framework="numpy") as f:
            print(f.metadata()["note"])
            for name in sorted(f.keys()):
                t = f.get_tensor(name)
                print(name, t.dtype, list(t.shape), " ".join(repr(float(x)) for x in t.reshape(-1)))
        """
        let output = try PythonSafeTensors.run(script, arguments: [path])
        #expect(output == """
        written by Backprop
        bn.running_mean float64 [2] 0.3333333333333333 -2.0
        encoder.weight float32 [2, 2] 0.5 -1.25 3.0 0.0010000000474974513

        """)
    }

    // MARK: Corrupt files

    static func smallFile() throws -> [UInt8] {
        try SafeTensorsFile(tensors: [
            "a": SafeTensorsEntry(Tensor<Float>([1, 2])), "b": SafeTensorsEntry(Tensor<Double>([3])),
        ], metadata: ["m": "x"]).serialized()
    }

    @Test func everyTruncationThrows() throws {
        let bytes = try Self.smallFile()
        for length in 0..<bytes.count {
            #expect(throws: SafeTensorsError.self, "prefix of \(length) bytes") { try SafeTensorsFile(bytes: Array(bytes.prefix(length))) }
        }
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = FileManager.default.createFile(atPath: directory + "/short", contents: Data(bytes.prefix(5)))
        #expect(throws: SafeTensorsError.truncated(size: 5)) { try SafeTensorsFile(contentsOfPath: directory + "/short") }
    }

    @Test func randomByteFlipsNeverCrash() throws {
        let original = try Self.smallFile()
        var generator = SeededGenerator(seed: 2024)
        var (rejected, accepted) = (0, 0)
        for _ in 0..<3000 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator)
            }
            do {
                let file = try SafeTensorsFile(bytes: bytes)
                accepted += 1
                // Whatever was accepted is self-consistent: every tensor's bytes fit its dtype and shape.
                for entry in file.tensors.values {
                    #expect(entry.bytes.count == entry.shape.reduce(1, *) * entry.dtype.byteSize)
                }
            } catch {
                rejected += 1
                #expect(!error.description.isEmpty)
            }
        }
        #expect(rejected > 0 && accepted > 0)
    }

    @Test func hugeHeaderLengthIsRejectedBeforeAllocating() throws {
        var bytes = try Self.smallFile()
        for b in 0..<8 { bytes[b] = 0xFF }
        #expect(throws: SafeTensorsError.headerTooLarge(length: .max, limit: 100_000_000)) { try SafeTensorsFile(bytes: bytes) }
        bytes.replaceSubrange(0..<8, with: [0x00, 0xE1, 0xF5, 0x05, 0, 0, 0, 0])   // 100_000_000, within the limit but past the end
        #expect(throws: SafeTensorsError.headerExceedsFile(length: 100_000_000, available: bytes.count - 8)) { try SafeTensorsFile(bytes: bytes) }

        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = FileManager.default.createFile(atPath: directory + "/huge", contents: Data(bytes))
        #expect(throws: SafeTensorsError.headerExceedsFile(length: 100_000_000, available: bytes.count - 8)) {
            try SafeTensorsFile(contentsOfPath: directory + "/huge")
        }
    }

    @Test func hugeShapesOverflowCleanly() {
        let huge = rawSafeTensors(header: #"{"t":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
        #expect(throws: SafeTensorsError.shapeOverflow(tensor: "t", shape: [1 << 40, 1 << 40])) { try SafeTensorsFile(bytes: huge) }
        let bytesOverflow = rawSafeTensors(header: #"{"t":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8))
        #expect(throws: SafeTensorsError.shapeOverflow(tensor: "t", shape: [1 << 62])) { try SafeTensorsFile(bytes: bytesOverflow) }
        let tooBigForInt = rawSafeTensors(header: #"{"t":{"dtype":"F64","shape":[99999999999999999999],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8))
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(bytes: tooBigForInt) }
    }

    static let malformed: [(String, [UInt8], SafeTensorsError)] = [
        ("not JSON", rawSafeTensors(header: "{nope}", data: []), .invalidJSON(offset: 1, reason: "expected a string key")),
        ("not an object start", rawSafeTensors(header: "[1, 2]", data: []), .invalidHeaderStart),
        ("duplicate key", rawSafeTensors(header: #"{"a":{},"a":{}}"#, data: []), .invalidJSON(offset: 11, reason: "duplicate key \"a\"")),
        ("missing dtype", rawSafeTensors(header: #"{"t":{"shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), .missingField(tensor: "t", field: "dtype")),
        ("missing offsets", rawSafeTensors(header: #"{"t":{"dtype":"F32","shape":[1]}}"#, data: []), .missingField(tensor: "t", field: "data_offsets")),
        ("unknown dtype", rawSafeTensors(header: #"{"t":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}"#, data: []), .unknownDType(tensor: "t", dtype: "F128")),
        ("negative size", rawSafeTensors(header: #"{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
         .invalidField(tensor: "t", field: "shape", reason: "expected non-negative integers, found integer(-1)")),
        ("shape/offset mismatch", rawSafeTensors(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
         .sizeMismatch(tensor: "t", dtype: "F32", shape: [2], expectedBytes: 8, actualBytes: 4)),
        ("end before begin", rawSafeTensors(header: #"{"t":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}"#, data: [0, 0, 0, 0]), .invalidOffsets(tensor: "t", begin: 4, end: 0)),
        ("out of bounds", rawSafeTensors(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0]), .offsetsOutOfBounds(tensor: "t", end: 8, bufferSize: 4)),
        ("overlap", rawSafeTensors(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
         .overlappingOffsets(tensor: "b", other: "a")),
        ("gap", rawSafeTensors(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: [UInt8](repeating: 0, count: 8)), .gapBeforeTensor(tensor: "a", expectedBegin: 0, begin: 4)),
        ("trailing bytes", rawSafeTensors(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [UInt8](repeating: 0, count: 8)), .trailingBytes(dataEnd: 4, bufferSize: 8)),
        ("metadata not strings", rawSafeTensors(header: #"{"__metadata__":{"a":1}}"#, data: []), .invalidMetadata(reason: "value of 'a' is a number, not a string")),
        ("deep nesting", rawSafeTensors(header: "{\"a\":" + String(repeating: "[", count: 10_000), data: []), .invalidJSON(offset: 68, reason: "nesting deeper than 64 levels")),
    ]

    @Test(arguments: malformed.indices)
    func malformedHeadersThrowTypedErrors(index: Int) {
        let (what, bytes, expected) = Self.malformed[index]
        #expect(throws: expected, "\(what)") { try SafeTensorsFile(bytes: bytes) }
    }

    @Test func conversionsAreExactOrThrowNamingTheElement() throws {
        let file = try SafeTensorsFile(bytes: Self.smallFile())
        #expect(try file.tensor(named: "b", as: Float.self) == Tensor([3]))          // F64 3 is a float
        #expect(try file.tensor(named: "a", as: Double.self) == Tensor([1, 2]))      // F32 widens
        #expect(throws: SafeTensorsError.missingTensor(name: "c")) { try file.tensor(named: "c", as: Float.self) }
        let third = SafeTensorsFile(["x": Tensor<Double>([0.5, 1.0 / 3])])
        #expect(throws: SafeTensorsError.inexactValue(tensor: "x", index: 1, value: "0.3333333333333333", dtype: "F64", target: "F32")) {
            try third.tensor(named: "x", as: Float.self)
        }
        #expect(try third.tensor(named: "x", as: Float.self, rounding: .toNearestOrEven) == Tensor([0.5, Float(1.0 / 3)]))
        let huge = SafeTensorsFile(["x": Tensor<Double>([1e300])])
        #expect(throws: SafeTensorsError.unrepresentableValue(tensor: "x", index: 0, value: "1e+300", target: "F32",
                                                              reason: "it is beyond the largest finite F32 value 3.4028235e+38")) {
            try huge.tensor(named: "x", as: Float.self, rounding: .toNearestOrEven)
        }
    }

    @Test func halfPrecisionWidensToFloat() throws {
        // F16 1.0 = 0x3C00, −2.5 = 0xC100, smallest subnormal 0x0001 = 2⁻²⁴; BF16 1.5 = 0x3FC0.
        let bytes = rawSafeTensors(header: #"{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[6,8]}}"#,
                                   data: [0x00, 0x3C, 0x00, 0xC1, 0x01, 0x00, 0xC0, 0x3F])
        let file = try SafeTensorsFile(bytes: bytes)
        #expect(try file.tensor(named: "h", as: Float.self) == Tensor([1, -2.5, 0x1p-24]))
        #expect(try file.tensor(named: "b", as: Float.self) == Tensor([1.5]))
    }
}

/// Runs Python with the `safetensors` package, if there is one.
enum PythonSafeTensors {
    static let isAvailable: Bool = (try? run("import safetensors, numpy", arguments: [])) != nil

    static func run(_ script: String, arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw SafeTensorsError.unreadableFile(path: "python3", reason: "exit \(process.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }
}
