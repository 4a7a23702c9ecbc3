import Backprop
import Foundation
import Testing

/// A deterministic mutation fuzzer for the safetensors reader, run inside `swift test`.
///
/// From a fixed seed it derives tens of thousands of inputs from valid files (the PyTorch fixture and
/// files written here): bit flips, byte overwrites with boundary values, truncations, insertions,
/// deletions, splices of two files, rewritten header lengths, and textual edits of the JSON header
/// (huge, negative and fractional numbers, swapped dtypes, broken structure). Every input must end
/// in a valid file or a typed `SafeTensorsError` — never a trap — and every valid result must be
/// self-consistent (byte counts match shapes, floating-point tensors decode, a serialize/parse round
/// trip gives the same file). The loop finishing is the no-hang check.
///
/// The libFuzzer target in `Tests/Fuzz/` runs the same checks, coverage-guided and under
/// AddressSanitizer; see `Tests/Fuzz/README.md`.
@Suite("Safetensors fuzzing")
struct SafeTensorsFuzzTests {
    static let fixturePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/pytorch_fixture.safetensors").path

    /// Valid files to mutate.
    static func seeds() throws -> [[UInt8]] {
        var generator = SeededGenerator(seed: 7)
        let fixture = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixturePath)))
        let mixed = try SafeTensorsFile(tensors: [
            "layer.weight": SafeTensorsEntry(Tensor<Float>.randomNormal(shape: [3, 2], using: &generator)),
            "layer.bias": SafeTensorsEntry(Tensor<Double>([0.5, -1.5, 2])),
            "scalar": SafeTensorsEntry(Tensor<Double>(3)),
            "empty": SafeTensorsEntry(Tensor<Float>(zeros: [0, 4])),
        ], metadata: ["format": "pt", "note": "fuzz seed"]).serialized()
        let empty = try SafeTensorsFile().serialized()
        return [fixture, mixed, empty]
    }

    /// Checks one input: a valid, self-consistent file or a typed error. Returns whether it was valid.
    @discardableResult
    static func check(_ bytes: [UInt8]) -> Bool {
        let file: SafeTensorsFile
        do {
            file = try SafeTensorsFile(bytes: bytes)
        } catch {
            #expect(!error.description.isEmpty)
            return false
        }
        for (name, entry) in file.tensors {
            let elements = entry.shape.reduce(1, *)
            #expect(entry.bytes.count == elements * entry.dtype.byteSize, "\(name)")
            // Every dtype decodes into both scalar types, or throws a typed error naming the element.
            for rounding in [SafeTensorsRounding.exact, .toNearestOrEven] {
                do {
                    #expect(try entry.tensor(as: Float.self, name: name, rounding: rounding).shape == entry.shape, "\(name)")
                } catch {
                    #expect(!error.description.isEmpty)
                }
                do {
                    #expect(try entry.tensor(as: Double.self, name: name, rounding: rounding).shape == entry.shape, "\(name)")
                } catch {
                    #expect(!error.description.isEmpty)
                }
            }
        }
        do {
            #expect(try SafeTensorsFile(bytes: file.serialized()) == file)
        } catch {
            // The writer refuses names the reader accepts ("" and "__metadata__" cannot reach here,
            // but an empty name can); any other error on re-reading is a bug.
            #expect(error == .invalidName(""), "\(error)")
        }
        return true
    }

    static let interestingBytes: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "["),
                                            UInt8(ascii: "\""), UInt8(ascii: ","), UInt8(ascii: ":"), UInt8(ascii: "-"),
                                            UInt8(ascii: "9"), UInt8(ascii: "\\"), UInt8(ascii: "e"), 0x20]
    static let interestingTexts = ["99999999999999999999", "-1", "9223372036854775807", "4611686018427387904", "1.5",
                                   "1e400", "\"F64\"", "\"U8\"", "\"X9\"", "null", "[]", "{}", "[1,2,3]", "\"\\ud800\"",
                                   "[[[[[[[[", "\"__metadata__\"", "0", "\"\""]

    /// One mutation of `bytes` (with `other` for splices).
    static func mutate(_ input: [UInt8], other: [UInt8], using generator: inout SeededGenerator) -> [UInt8] {
        var bytes = input
        func position(_ count: Int) -> Int { count == 0 ? 0 : Int.random(in: 0..<count, using: &generator) }
        switch Int.random(in: 0..<9, using: &generator) {
        case 0 where !bytes.isEmpty:   // flip bits
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                bytes[position(bytes.count)] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &generator)
            }
        case 1 where !bytes.isEmpty:   // overwrite with a boundary or structural byte
            bytes[position(bytes.count)] = interestingBytes.randomElement(using: &generator)!
        case 2:                        // truncate
            bytes = Array(bytes.prefix(position(bytes.count + 1)))
        case 3:                        // insert random bytes
            let inserted = (0..<Int.random(in: 1...16, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            bytes.insert(contentsOf: inserted, at: position(bytes.count + 1))
        case 4 where !bytes.isEmpty:   // delete a run
            let start = position(bytes.count)
            bytes.removeSubrange(start..<Swift.min(bytes.count, start + Int.random(in: 1...32, using: &generator)))
        case 5:                        // splice: a prefix of one file, a suffix of the other
            bytes = Array(bytes.prefix(position(bytes.count + 1))) + Array(other.suffix(position(other.count + 1)))
        case 6 where bytes.count >= 8: // rewrite the header length
            let lengths: [UInt64] = [0, 1, 7, UInt64(bytes.count - 8), UInt64(bytes.count - 7), 100_000_000, 100_000_001,
                                     UInt64(Int.max), UInt64.max, UInt64.random(in: 0...UInt64.max, using: &generator)]
            let length = lengths.randomElement(using: &generator)!
            for b in 0..<8 { bytes[b] = UInt8(truncatingIfNeeded: length >> (8 * b)) }
        case 7:                        // replace a token of the JSON header with an interesting text,
            // keeping the declared header length consistent so the parser sees the edit
            guard bytes.count >= 8 else { break }
            var length = 0
            for b in 0..<8 { length |= Int(bytes[b]) << (8 * b) }
            guard length > 2, length <= bytes.count - 8 else { break }
            var header = Array(bytes[8..<(8 + length)])
            let start = position(header.count)
            let end = Swift.min(header.count, start + Int.random(in: 0...6, using: &generator))
            header.replaceSubrange(start..<end, with: Array(interestingTexts.randomElement(using: &generator)!.utf8))
            var rebuilt = [UInt8](repeating: 0, count: 8)
            for b in 0..<8 { rebuilt[b] = UInt8(truncatingIfNeeded: header.count >> (8 * b)) }
            bytes = rebuilt + header + bytes[(8 + length)...]
        default:                       // append trailing garbage
            bytes += (0..<Int.random(in: 1...8, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        }
        return bytes
    }

    @Test func mutatedTruncatedAndSplicedFilesEndInValidFilesOrTypedErrors() throws {
        let seeds = try Self.seeds()
        for seed in seeds { #expect(Self.check(seed), "the seeds are valid") }
        var generator = SeededGenerator(seed: 20_261_123)
        var corpus = seeds
        var (inputs, valid) = (0, 0)
        for _ in 0..<50_000 {
            var bytes = corpus.randomElement(using: &generator)!
            // Stack a few mutations, so damage compounds as in a real fuzzer.
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                bytes = Self.mutate(bytes, other: seeds.randomElement(using: &generator)!, using: &generator)
            }
            inputs += 1
            if Self.check(bytes) {
                valid += 1
                // Valid mutants become parents: they reach states the seeds alone do not.
                if corpus.count < 64 { corpus.append(bytes) }
            }
        }
        print("safetensors mutation fuzzing: \(inputs) inputs, \(valid) valid files, corpus \(corpus.count)")
        #expect(inputs == 50_000)
        // Not an assertion on the reader: a check that the mutator does not only produce garbage.
        #expect(valid > 0, "\(valid) of \(inputs) mutants were valid files")
    }

    /// Declared sizes far beyond the input are rejected from the numbers alone, before anything of
    /// that size is allocated (the reader only ever slices bytes it was given).
    @Test func hugeDeclaredSizesAreRejectedBeforeAllocation() throws {
        func file(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
            let headerBytes = Array(header.utf8)
            let length = declaredLength ?? UInt64(headerBytes.count)
            return (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) } + headerBytes + data
        }
        #expect(throws: SafeTensorsError.headerTooLarge(length: .max, limit: 100_000_000)) {
            _ = try SafeTensorsFile(bytes: file(header: "{}", declaredLength: .max))
        }
        #expect(throws: SafeTensorsError.headerExceedsFile(length: 99_999_999, available: 2)) {
            _ = try SafeTensorsFile(bytes: file(header: "{}", declaredLength: 99_999_999))
        }
        #expect(throws: SafeTensorsError.offsetsOutOfBounds(tensor: "t", end: 4_611_686_018_427_387_904, bufferSize: 0)) {
            _ = try SafeTensorsFile(bytes: file(header: #"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4611686018427387904]}}"#))
        }
        #expect(throws: SafeTensorsError.shapeOverflow(tensor: "t", shape: [4_294_967_296, 4_294_967_296])) {
            _ = try SafeTensorsFile(bytes: file(header: #"{"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        }
        #expect(throws: SafeTensorsError.sizeMismatch(tensor: "t", dtype: "F64", shape: [1_000_000_000], expectedBytes: 8_000_000_000, actualBytes: 8)) {
            _ = try SafeTensorsFile(bytes: file(header: #"{"t":{"dtype":"F64","shape":[1000000000],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)))
        }
        // Numbers too large for Int are not integers to the reader.
        #expect(throws: SafeTensorsError.self) {
            _ = try SafeTensorsFile(bytes: file(header: #"{"t":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        }
    }

    /// A file on disk whose header length points past its end is rejected from the 8-byte prefix and
    /// the file size, before the header is read.
    @Test func truncatedFileOnDiskIsRejectedFromItsSize() throws {
        let path = NSTemporaryDirectory() + "fuzz-truncated-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bytes: [UInt8] = [0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, UInt8(ascii: "{")]
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(throws: SafeTensorsError.headerTooLarge(length: 0x4000_0000, limit: 100_000_000)) {
            _ = try SafeTensorsFile(contentsOfPath: path)
        }
    }
}
