import Backprop
import Foundation

/// One case of `Fixtures/differential.bin`, written by `Fixtures/make_differential_fixture.py`:
/// an op with its parameters, its inputs, and PyTorch's float64 output and gradients.
struct DifferentialCase: Sendable, CustomStringConvertible {
    /// The op family (`"arithmetic"`, `"normalization"`, …), for the per-family counts.
    var family: String
    /// The op's name in the fixture (a key of `DifferentialOps.table`).
    var op: String
    /// The op's parameters as `key=value` pairs.
    var parameters: DifferentialParameters
    /// The inputs, and whether the gradient with respect to each is checked.
    var inputs: [(checked: Bool, tensor: Tensor<Double>)]
    /// The gradient of the final quantity with respect to the output (`u` in `Σ u ⊙ y`).
    var upstream: Tensor<Double>
    /// PyTorch's output.
    var output: Tensor<Double>
    /// PyTorch's gradient of `Σ u ⊙ y` per input (`nil` where PyTorch reports none: read as zeros).
    var gradients: [Tensor<Double>?]
    /// The case's position in the file.
    var index: Int

    var description: String {
        "#\(index) \(op)[\(parameters.text)] inputs \(inputs.map { $0.tensor.shape })"
    }
}

/// The parameters of a case, parsed from `key=value;key=value`: integers, doubles (`inf`, `nan`
/// included), comma-separated lists and `|`-separated rows.
struct DifferentialParameters: Sendable {
    var text: String
    var values: [String: String] = [:]

    init(_ text: String) {
        self.text = text
        for pair in text.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            values[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
    }

    func has(_ key: String) -> Bool { values[key] != nil }
    func string(_ key: String) -> String { values[key] ?? "" }
    func int(_ key: String) -> Int { Int(values[key]!)! }
    func double(_ key: String) -> Double { Double(values[key]!)! }
    func bool(_ key: String) -> Bool { values[key] == "1" }
    func ints(_ key: String) -> [Int] { (values[key] ?? "").split(separator: ",").map { Int($0)! } }
    func doubles(_ key: String) -> [Double] { (values[key] ?? "").split(separator: ",").map { Double($0)! } }
    func boolRows(_ key: String) -> [[Bool]]? {
        guard let text = values[key] else { return nil }
        return text.split(separator: "|", omittingEmptySubsequences: false).map { row in row.split(separator: ",").map { $0 == "1" } }
    }
    func window(_ key: String) -> WindowSize {
        let v = ints(key)
        return WindowSize(v[0], v[1])
    }
}

enum DifferentialFixture {
    /// Where the fixture lives.
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/differential.bin").path

    /// Every case of the fixture, in file order.
    static let cases: [DifferentialCase] = {
        guard let data = FileManager.default.contents(atPath: path) else { fatalError("missing fixture \(path)") }
        var reader = Reader(bytes: [UInt8](data))
        guard reader.take(8) == Array("BPDIFF01".utf8) else { fatalError("\(path) is not a differential fixture") }
        let count = Int(reader.u32())
        var cases: [DifferentialCase] = []
        cases.reserveCapacity(count)
        for index in 0..<count {
            let family = reader.string(), op = reader.string(), parameters = reader.string()
            let inputs = (0..<Int(reader.u8())).map { _ in (checked: reader.u8() == 1, tensor: reader.tensor()) }
            let upstream = reader.tensor(), output = reader.tensor()
            let gradients = (0..<Int(reader.u8())).map { _ in reader.u8() == 1 ? reader.tensor() : nil }
            cases.append(DifferentialCase(family: family, op: op, parameters: DifferentialParameters(parameters), inputs: inputs,
                                          upstream: upstream, output: output, gradients: gradients, index: index))
        }
        precondition(reader.offset == reader.bytes.count, "trailing bytes in \(path)")
        return cases
    }()

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func take(_ n: Int) -> [UInt8] {
            defer { offset += n }
            return Array(bytes[offset..<(offset + n)])
        }

        mutating func u8() -> UInt8 {
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func u16() -> Int { Int(u8()) | Int(u8()) << 8 }

        mutating func u32() -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(u8()) << (8 * $1) } }

        mutating func string() -> String { String(decoding: take(u16()), as: UTF8.self) }

        mutating func tensor() -> Tensor<Double> {
            let shape = (0..<Int(u8())).map { _ in Int(u32()) }
            let count = shape.reduce(1, *)
            var scalars = [Double](repeating: 0, count: count)
            for i in 0..<count {
                var bits: UInt64 = 0
                for b in 0..<8 { bits |= UInt64(bytes[offset + b]) << (8 * b) }
                offset += 8
                scalars[i] = Double(bitPattern: bits)
            }
            return Tensor(shape: shape, scalars: scalars)
        }
    }
}
