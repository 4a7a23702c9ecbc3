/// Why a safetensors file could not be read, written or loaded, naming the tensor and the values.
///
/// Reading never traps: every malformed input ends in one of these cases.
public enum SafeTensorsError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The file could not be opened or read.
    case unreadableFile(path: String, reason: String)
    /// The file could not be written or moved into place.
    case unwritableFile(path: String, reason: String)
    /// Fewer than the 8 bytes of the header length.
    case truncated(size: Int)
    /// The header length is above the limit (100 MB, as the reference implementation).
    case headerTooLarge(length: UInt64, limit: Int)
    /// The header length runs past the end of the file.
    case headerExceedsFile(length: UInt64, available: Int)
    /// The header is not UTF-8 or does not start with `{`.
    case invalidHeaderStart
    /// The header is not valid JSON.
    case invalidJSON(offset: Int, reason: String)
    /// The header's top level is not an object.
    case headerNotAnObject(found: String)
    /// `__metadata__` is not an object of strings.
    case invalidMetadata(reason: String)
    /// A tensor's entry lacks `dtype`, `shape` or `data_offsets`.
    case missingField(tensor: String, field: String)
    /// A tensor's entry has a field of the wrong kind or value.
    case invalidField(tensor: String, field: String, reason: String)
    /// The dtype is not one of the safetensors dtypes.
    case unknownDType(tensor: String, dtype: String)
    /// The element count or byte size of the shape overflows.
    case shapeOverflow(tensor: String, shape: [Int])
    /// The byte range does not hold exactly the shape's elements.
    case sizeMismatch(tensor: String, dtype: String, shape: [Int], expectedBytes: Int, actualBytes: Int)
    /// `data_offsets` has its end before its beginning.
    case invalidOffsets(tensor: String, begin: Int, end: Int)
    /// The byte range ends past the data buffer.
    case offsetsOutOfBounds(tensor: String, end: Int, bufferSize: Int)
    /// Two tensors' byte ranges overlap.
    case overlappingOffsets(tensor: String, other: String)
    /// Bytes between two tensors (or before the first) belong to no tensor.
    case gapBeforeTensor(tensor: String, expectedBegin: Int, begin: Int)
    /// Bytes after the last tensor belong to no tensor.
    case trailingBytes(dataEnd: Int, bufferSize: Int)
    /// Element `index` of the tensor (`value`, stored as `dtype`) would have to be rounded to
    /// become a `target` value, and exact conversion was asked for.
    case inexactValue(tensor: String, index: Int, value: String, dtype: String, target: String)
    /// Element `index` of the tensor (`value`) cannot become a `target` value at all, for `reason`
    /// (out of range, not finite for an integer dtype, a `BOOL` byte other than 0 or 1).
    case unrepresentableValue(tensor: String, index: Int, value: String, target: String, reason: String)
    /// Writing this dtype is not supported (the 8-bit floats are read only).
    case unsupportedEncoding(tensor: String, dtype: String)
    /// A tensor to load is not in the file.
    case missingTensor(name: String)
    /// The file holds a tensor nobody asked for (strict loading).
    case unexpectedTensor(name: String)
    /// The tensor's shape differs from its destination's.
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    /// A name that cannot be written (empty or `__metadata__`).
    case invalidName(String)
    /// A sharded checkpoint's index is malformed or disagrees with its shards.
    case invalidShardIndex(path: String, reason: String)
    /// The bytes are another format altogether (recognized by their first bytes), not safetensors.
    case notSafeTensors(format: String, advice: String)

    /// A sentence naming what is wrong, with the values involved.
    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason): return "safetensors: cannot read '\(path)': \(reason)"
        case .unwritableFile(let path, let reason): return "safetensors: cannot write '\(path)': \(reason)"
        case .truncated(let size): return "safetensors: file of \(size) bytes is truncated (it needs at least the 8-byte header length)"
        case .headerTooLarge(let length, let limit): return "safetensors: header length \(length) exceeds the limit of \(limit) bytes"
        case .notSafeTensors(let format, let advice): return "safetensors: this is not a safetensors file but \(format); \(advice)"
        case .headerExceedsFile(let length, let available):
            return "safetensors: header length \(length) exceeds the \(available) bytes that follow it (truncated or corrupt file)"
        case .invalidHeaderStart: return "safetensors: the header is not UTF-8 JSON starting with '{'"
        case .invalidJSON(let offset, let reason): return "safetensors: invalid JSON header at byte \(offset): \(reason)"
        case .headerNotAnObject(let found): return "safetensors: the header must be a JSON object, found \(found)"
        case .invalidMetadata(let reason): return "safetensors: invalid __metadata__: \(reason)"
        case .missingField(let tensor, let field): return "safetensors: tensor '\(tensor)' has no '\(field)' field"
        case .invalidField(let tensor, let field, let reason): return "safetensors: tensor '\(tensor)' has an invalid '\(field)': \(reason)"
        case .unknownDType(let tensor, let dtype): return "safetensors: tensor '\(tensor)' has unknown dtype '\(dtype)'"
        case .shapeOverflow(let tensor, let shape): return "safetensors: tensor '\(tensor)' has shape \(shape) whose size overflows"
        case .sizeMismatch(let tensor, let dtype, let shape, let expected, let actual):
            return "safetensors: tensor '\(tensor)' of dtype \(dtype) and shape \(shape) needs \(expected) bytes but its data_offsets span \(actual)"
        case .invalidOffsets(let tensor, let begin, let end):
            return "safetensors: tensor '\(tensor)' has data_offsets [\(begin), \(end)] with end before begin"
        case .offsetsOutOfBounds(let tensor, let end, let size):
            return "safetensors: tensor '\(tensor)' ends at byte \(end) past the \(size)-byte data buffer"
        case .overlappingOffsets(let tensor, let other): return "safetensors: tensors '\(other)' and '\(tensor)' overlap"
        case .gapBeforeTensor(let tensor, let expected, let begin):
            return "safetensors: tensor '\(tensor)' begins at byte \(begin) but the previous data ends at \(expected) (unused bytes)"
        case .trailingBytes(let end, let size): return "safetensors: tensors end at byte \(end) but the data buffer has \(size) bytes"
        case .inexactValue(let tensor, let index, let value, let dtype, let target):
            return "safetensors: tensor '\(tensor)' element \(index) = \(value) (\(dtype)) is not exactly representable as \(target); convert with rounding: .toNearestOrEven to round it"
        case .unrepresentableValue(let tensor, let index, let value, let target, let reason):
            return "safetensors: tensor '\(tensor)' element \(index) = \(value) cannot be stored as \(target): \(reason)"
        case .unsupportedEncoding(let tensor, let dtype):
            return "safetensors: tensor '\(tensor)' cannot be written as \(dtype) (8-bit floats are read only)"
        case .missingTensor(let name): return "safetensors: tensor '\(name)' is missing from the file"
        case .unexpectedTensor(let name): return "safetensors: unexpected tensor '\(name)' in the file"
        case .shapeMismatch(let tensor, let expected, let found):
            return "safetensors: tensor '\(tensor)' has shape \(found) but its destination has shape \(expected)"
        case .invalidName(let name): return "safetensors: '\(name)' cannot be used as a tensor name"
        case .invalidShardIndex(let path, let reason): return "safetensors: sharded checkpoint index '\(path)': \(reason)"
        }
    }
}
