import Foundation

/// The element types of the safetensors format.
///
/// Every dtype decodes into `Tensor<Float>` and `Tensor<Double>` (exactly, or with a typed error
/// naming the element that would need rounding: see `SafeTensorsEntry.tensor(as:name:rounding:)`),
/// and every dtype but the 8-bit floats can be written (`SafeTensorsEntry.init(_:dtype:name:rounding:)`).
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    /// `BOOL`: one byte, 0 or 1.
    case bool = "BOOL"
    /// `U8`: unsigned 8-bit integers.
    case uint8 = "U8"
    /// `I8`: signed 8-bit integers.
    case int8 = "I8"
    /// `F8_E4M3`: 8-bit floats, 4 exponent and 3 mantissa bits (read only).
    case float8E4M3 = "F8_E4M3"
    /// `F8_E5M2`: 8-bit floats, 5 exponent and 2 mantissa bits (read only).
    case float8E5M2 = "F8_E5M2"
    /// `I16`: signed 16-bit integers.
    case int16 = "I16"
    /// `U16`: unsigned 16-bit integers.
    case uint16 = "U16"
    /// `F16`: IEEE half-precision floats.
    case float16 = "F16"
    /// `BF16`: bfloat16 (the upper half of a `Float`).
    case bfloat16 = "BF16"
    /// `I32`: signed 32-bit integers.
    case int32 = "I32"
    /// `U32`: unsigned 32-bit integers.
    case uint32 = "U32"
    /// `F32`: `Float`.
    case float32 = "F32"
    /// `I64`: signed 64-bit integers (PyTorch's `num_batches_tracked`).
    case int64 = "I64"
    /// `U64`: unsigned 64-bit integers.
    case uint64 = "U64"
    /// `F64`: `Double`.
    case float64 = "F64"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .bool, .uint8, .int8, .float8E4M3, .float8E5M2: return 1
        case .int16, .uint16, .float16, .bfloat16: return 2
        case .int32, .uint32, .float32: return 4
        case .int64, .uint64, .float64: return 8
        }
    }
}

/// One tensor of a safetensors file: dtype, shape and little-endian bytes.
public struct SafeTensorsEntry: Sendable, Equatable {
    /// The element type.
    public let dtype: SafeTensorsDType
    /// The shape.
    public let shape: [Int]
    /// The elements, little-endian, row-major.
    public let bytes: [UInt8]

    init(dtype: SafeTensorsDType, shape: [Int], bytes: [UInt8]) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }
}

/// The contents of a safetensors file: named tensors and an optional string-to-string metadata map.
///
/// The layout (as Hugging Face's reference implementation): an 8-byte little-endian header length N,
/// N bytes of JSON `{"__metadata__": {…}, "name": {"dtype": "F32", "shape": [2, 3],
/// "data_offsets": [begin, end]}, …}` padded with spaces to a multiple of 8, then the data buffer.
/// Writing orders tensors by decreasing element size, then by name, so every tensor is aligned to its
/// element size; reading accepts any order but requires the byte ranges to tile the buffer exactly.
///
/// ```swift
/// try SafeTensorsFile(tensors: ["layer.weight": SafeTensorsEntry(w)]).write(toPath: "model.safetensors")
/// let file = try SafeTensorsFile(contentsOfPath: "model.safetensors")
/// let w: Tensor<Float> = try file.tensor(named: "layer.weight")
/// ```
public struct SafeTensorsFile: Sendable, Equatable {
    /// The largest header accepted, as the reference implementation (100 MB).
    public static let maximumHeaderLength = 100_000_000

    /// The tensors by name.
    public var tensors: [String: SafeTensorsEntry]
    /// Free-form string metadata (`__metadata__`).
    public var metadata: [String: String]
    /// Tensors whose names are canonically equivalent to a key of `tensors` but other byte strings
    /// (names are compared as bytes; see `tensorNames`), by their UTF-8 bytes.
    var canonicallyEquivalentTensors: [[UInt8]: NamedEntry] = [:]

    /// Creates a file's contents in memory.
    public init(tensors: [String: SafeTensorsEntry] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Creates a file's contents from tensors of one scalar type.
    public init<Scalar: TensorScalar>(_ tensors: [String: Tensor<Scalar>], metadata: [String: String] = [:]) {
        self.init(tensors: tensors.mapValues { SafeTensorsEntry($0) }, metadata: metadata)
    }

    /// The tensor named `name`, decoded as `Scalar` (see `SafeTensorsEntry.tensor(as:name:rounding:)`).
    ///
    /// - Throws: `.missingTensor`, or a conversion error naming the element.
    public func tensor<Scalar: TensorScalar>(named name: String, as type: Scalar.Type = Scalar.self,
                                             rounding: SafeTensorsRounding = .exact) throws(SafeTensorsError) -> Tensor<Scalar> {
        guard let entry = entry(named: name) else { throw .missingTensor(name: name) }
        return try entry.tensor(as: Scalar.self, name: name, rounding: rounding)
    }

    /// Every tensor, decoded as `Scalar` (throws at the first that does not convert).
    public func allTensors<Scalar: TensorScalar>(as type: Scalar.Type = Scalar.self,
                                                 rounding: SafeTensorsRounding = .exact) throws(SafeTensorsError) -> [String: Tensor<Scalar>] {
        var result: [String: Tensor<Scalar>] = [:]
        for name in tensors.keys.sorted() { result[name] = try tensor(named: name, as: Scalar.self, rounding: rounding) }
        return result
    }

    /// Decodes the tensors for `expectedShapes`, checking that every name is present with that shape
    /// and converts to `Scalar`, and (unless `allowingUnexpected`) that the file holds no other tensor.
    ///
    /// Nothing is returned unless everything checks out, so callers can assign all or nothing.
    public func tensors<Scalar: TensorScalar>(matching expectedShapes: [String: [Int]], as type: Scalar.Type = Scalar.self,
                                              allowingUnexpected: Bool = false,
                                              rounding: SafeTensorsRounding = .exact) throws(SafeTensorsError) -> [String: Tensor<Scalar>] {
        var result: [String: Tensor<Scalar>] = [:]
        for name in expectedShapes.keys.sorted() {
            guard let entry = entry(named: name) else { throw .missingTensor(name: name) }
            guard entry.shape == expectedShapes[name]! else {
                throw .shapeMismatch(tensor: name, expected: expectedShapes[name]!, found: entry.shape)
            }
            result[name] = try entry.tensor(as: Scalar.self, name: name, rounding: rounding)
        }
        if !allowingUnexpected, let extra = tensorNames.sorted().first(where: { expectedShapes[$0] == nil }) {
            throw .unexpectedTensor(name: extra)
        }
        return result
    }

    /// Loads named parameters (and buffers held as parameters) all at once: every tensor is validated
    /// (presence, shape, conversion, and no unexpected names unless `allowingUnexpected`) before any
    /// parameter changes, so a bad file never half-loads a model.
    public func load<Scalar: TensorScalar>(into parameters: [String: Parameter<Scalar>], allowingUnexpected: Bool = false,
                                           rounding: SafeTensorsRounding = .exact) throws(SafeTensorsError) {
        let values = try tensors(matching: parameters.mapValues(\.shape), as: Scalar.self, allowingUnexpected: allowingUnexpected,
                                 rounding: rounding)
        for (name, parameter) in parameters { parameter.value = values[name]! }
    }

    // MARK: Encoding

    /// The file's bytes.
    public func serialized() throws(SafeTensorsError) -> [UInt8] {
        for name in tensorNames where name.isEmpty || name == "__metadata__" { throw .invalidName(name) }
        let ordered = allEntries.sorted { a, b in
            if a.value.dtype.byteSize != b.value.dtype.byteSize { return a.value.dtype.byteSize > b.value.dtype.byteSize }
            // Canonically equivalent names are equal as Strings: order those by their bytes.
            return a.key != b.key ? a.key < b.key : a.key.utf8.lexicographicallyPrecedes(b.key.utf8)
        }
        var members: [(key: String, value: JSONValue)] = []
        if !metadata.isEmpty {
            members.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        var offset = 0
        for (name, entry) in ordered {
            members.append((name, .object([
                ("dtype", .string(entry.dtype.rawValue)),
                ("shape", .array(entry.shape.map { .integer($0) })),
                ("data_offsets", .array([.integer(offset), .integer(offset + entry.bytes.count)])),
            ])))
            offset += entry.bytes.count
        }
        var header = Array(JSONPrinter.print(.object(members)).utf8)
        header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
        var out = [UInt8]()
        out.reserveCapacity(8 + header.count + offset)
        let length = UInt64(header.count)
        for b in 0..<8 { out.append(UInt8(truncatingIfNeeded: length >> (8 * b))) }
        out += header
        for (_, entry) in ordered { out += entry.bytes }
        return out
    }

    /// Writes the file atomically: to a temporary file in the same directory, flushed to disk, then
    /// renamed over `path`, so readers see the old file or the new one, never a partial one. Temporary
    /// files of `path` left by killed processes are removed first; a path that ends in `/` or names a
    /// directory is an error.
    public func write(toPath path: String) throws(SafeTensorsError) {
        if let problem = SafeTensorsFiles.directoryProblem(path) { throw .unwritableFile(path: path, reason: problem) }
        let bytes = try serialized()
        let url = URL(fileURLWithPath: path)
        SafeTensorsFiles.removeStaleTemporaryFiles(for: url)
        let temporary = SafeTensorsFiles.temporaryFile(for: url)
        do {
            try Data(bytes).write(to: temporary)
            let handle = try FileHandle(forUpdating: temporary)
            try handle.synchronize()
            try handle.close()
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw .unwritableFile(path: path, reason: "\(error)")
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw .unwritableFile(path: path, reason: "rename failed: \(reason)")
        }
    }

    // MARK: Decoding

    /// Reads and validates a file.
    ///
    /// The header length is checked against the file's size before anything is allocated for it;
    /// the file is then read whole into one buffer with `read(2)` and each tensor's bytes copied out
    /// of it once. Temporary files of `path` left by killed writers are removed.
    public init(contentsOfPath path: String) throws(SafeTensorsError) {
        if let problem = SafeTensorsFiles.directoryProblem(path) { throw .unreadableFile(path: path, reason: problem) }
        SafeTensorsFiles.removeStaleTemporaryFiles(for: URL(fileURLWithPath: path))
        try self.init(bytes: readWholeFile(path) { prefix, size throws(SafeTensorsError) in
            _ = try Self.headerLength(prefix, totalSize: size)
        })
    }

    /// Checks the 8-byte header length against the limit and the bytes available.
    private static func headerLength(_ prefix: [UInt8], totalSize: Int) throws(SafeTensorsError) -> Int {
        guard prefix.count >= 8, totalSize >= 8 else {
            if let (format, advice) = otherFormat(prefix) { throw .notSafeTensors(format: format, advice: advice) }
            throw .truncated(size: totalSize)
        }
        var length: UInt64 = 0
        for b in 0..<8 { length |= UInt64(prefix[b]) << (8 * b) }
        // A length that cannot be right is most often a file of another format: say which.
        if length > UInt64(maximumHeaderLength) || length > UInt64(totalSize - 8), let (format, advice) = otherFormat(prefix) {
            throw .notSafeTensors(format: format, advice: advice)
        }
        guard length <= UInt64(maximumHeaderLength) else { throw .headerTooLarge(length: length, limit: maximumHeaderLength) }
        guard length <= UInt64(totalSize - 8) else { throw .headerExceedsFile(length: length, available: totalSize - 8) }
        return Int(length)
    }

    /// The format of files people mistake for safetensors, recognized by their first bytes, and what
    /// to do with it. Consulted only once the bytes fail as safetensors (an impossible header length,
    /// or no `{` after it), since a header length could begin with the same bytes.
    static func otherFormat(_ prefix: [UInt8]) -> (format: String, advice: String)? {
        let torch = "load it in Python with torch.load and save it with safetensors.torch.save_file(model.state_dict(), path)"
        if prefix.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            return ("a zip archive (PyTorch's torch.save format, .pt/.pth/.bin)", torch)
        }
        if prefix.count >= 2, prefix[0] == 0x80, (2...5).contains(prefix[1]) {
            return ("a Python pickle (PyTorch's legacy torch.save format)", torch)
        }
        if prefix.starts(with: [0x93] + Array("NUMPY".utf8)) {
            return ("a NumPy .npy array", "save it with safetensors.numpy.save_file({\"name\": array}, path)")
        }
        if prefix.starts(with: Array("GGUF".utf8)) { return ("a GGUF model file", "convert it to safetensors in Python") }
        if prefix.starts(with: [0x89] + Array("HDF".utf8)) { return ("an HDF5 file (Keras .h5)", "convert it to safetensors in Python") }
        return nil
    }

    /// Parses and validates a file's bytes.
    public init(bytes: [UInt8]) throws(SafeTensorsError) {
        let headerLength = try Self.headerLength(Array(bytes.prefix(8)), totalSize: bytes.count)
        let headerBytes = Array(bytes[8..<(8 + headerLength)])
        guard headerBytes.first == UInt8(ascii: "{") else {
            if let (format, advice) = Self.otherFormat(Array(bytes.prefix(8))) { throw .notSafeTensors(format: format, advice: advice) }
            throw .invalidHeaderStart
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(headerBytes)
        } catch {
            throw .invalidJSON(offset: error.offset, reason: error.reason)
        }
        guard case .object(let members) = json else { throw .headerNotAnObject(found: json.kind) }

        let dataStart = 8 + headerLength
        let bufferSize = bytes.count - dataStart
        var metadata: [String: String] = [:]
        var layout: [(name: String, dtype: SafeTensorsDType, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in members {
            if name == "__metadata__" {
                guard case .object(let pairs) = value else { throw .invalidMetadata(reason: "expected an object, found \(value.kind)") }
                for (key, item) in pairs {
                    guard case .string(let text) = item else { throw .invalidMetadata(reason: "value of '\(key)' is \(item.kind), not a string") }
                    if let index = metadata.index(forKey: key) {
                        // Different byte strings (the JSON parser compares bytes) that Swift's String equates.
                        throw .invalidMetadata(reason: "keys '\(metadata[index].key)' (UTF-8 \(Array(metadata[index].key.utf8))) and '\(key)' (UTF-8 \(Array(key.utf8))) are canonically equivalent Unicode; a [String: String] cannot hold both")
                    }
                    metadata[key] = text
                }
                continue
            }
            guard case .object(let fields) = value else {
                throw .invalidField(tensor: name, field: "(entry)", reason: "expected an object, found \(value.kind)")
            }
            func field(_ key: String) throws(SafeTensorsError) -> JSONValue {
                guard let found = fields.first(where: { $0.key == key }) else { throw .missingField(tensor: name, field: key) }
                return found.value
            }
            func integers(_ key: String) throws(SafeTensorsError) -> [Int] {
                guard case .array(let items) = try field(key) else {
                    throw .invalidField(tensor: name, field: key, reason: "expected an array of non-negative integers")
                }
                var result: [Int] = []
                for item in items {
                    guard case .integer(let n) = item, n >= 0 else {
                        throw .invalidField(tensor: name, field: key, reason: "expected non-negative integers, found \(item)")
                    }
                    result.append(n)
                }
                return result
            }
            guard case .string(let dtypeName) = try field("dtype") else {
                throw .invalidField(tensor: name, field: "dtype", reason: "expected a string")
            }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else { throw .unknownDType(tensor: name, dtype: dtypeName) }
            let shape = try integers("shape")
            let offsets = try integers("data_offsets")
            guard offsets.count == 2 else {
                throw .invalidField(tensor: name, field: "data_offsets", reason: "expected [begin, end], found \(offsets.count) numbers")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard end >= begin else { throw .invalidOffsets(tensor: name, begin: begin, end: end) }
            guard end <= bufferSize else { throw .offsetsOutOfBounds(tensor: name, end: end, bufferSize: bufferSize) }
            var elements = 1
            for size in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: size)
                guard !overflow else { throw .shapeOverflow(tensor: name, shape: shape) }
                elements = product
            }
            let (byteCount, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
            guard !overflow else { throw .shapeOverflow(tensor: name, shape: shape) }
            guard byteCount == end - begin else {
                throw .sizeMismatch(tensor: name, dtype: dtype.rawValue, shape: shape, expectedBytes: byteCount, actualBytes: end - begin)
            }
            layout.append((name, dtype, shape, begin, end))
        }

        layout.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var cursor = 0
        var previous = ""
        for item in layout {
            if item.begin < cursor { throw .overlappingOffsets(tensor: item.name, other: previous) }
            if item.begin > cursor { throw .gapBeforeTensor(tensor: item.name, expectedBegin: cursor, begin: item.begin) }
            cursor = item.end
            previous = item.name
        }
        guard cursor == bufferSize else { throw .trailingBytes(dataEnd: cursor, bufferSize: bufferSize) }

        var file = SafeTensorsFile(metadata: metadata)
        for item in layout {
            let bytes = Array(bytes[(dataStart + item.begin)..<(dataStart + item.end)])
            file.insert(SafeTensorsEntry(dtype: item.dtype, shape: item.shape, bytes: bytes), named: item.name)
        }
        self = file
    }
}
