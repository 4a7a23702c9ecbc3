import Foundation

/// What happens to a value that the destination element type cannot hold exactly.
public enum SafeTensorsRounding: Sendable, Equatable {
    /// Every value must convert exactly; otherwise the conversion throws
    /// `SafeTensorsError.inexactValue` naming the tensor, the element and its value.
    case exact
    /// Round to the nearest representable value, ties to even (what PyTorch's `copy_` does between
    /// floating-point dtypes). Values out of the destination's range still throw.
    case toNearestOrEven
}

// MARK: - Decoding

extension SafeTensorsEntry {
    /// Decodes the entry as a tensor of `Scalar`, whatever its dtype.
    ///
    /// Floating-point dtypes no wider than `Scalar` (`F16`, `BF16`, `F8_*` and `F32` into either
    /// type, `F64` into `Double`) and integers that `Scalar` represents exactly (every `I8`, `U8`,
    /// `I16`, `U16`; `I32`, `I64`, … up to 2²⁴ in magnitude for `Float` and 2⁵³ for `Double`, and
    /// beyond where the value happens to be representable) convert exactly. `BOOL` gives 0 and 1.
    ///
    /// - Parameters:
    ///   - type: `Float` or `Double`.
    ///   - name: The tensor's name, for error messages.
    ///   - rounding: `.exact` (default) throws on the first element that would have to be rounded
    ///     (an `F64` value between two floats, an integer above 2²⁴ into `Float`);
    ///     `.toNearestOrEven` rounds it.
    /// - Throws: `SafeTensorsError.inexactValue` (rounding needed under `.exact`),
    ///   `.unrepresentableValue` (a finite `F64` beyond `Float`'s range, a `BOOL` byte other than 0
    ///   or 1).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func tensor<Scalar: TensorScalar>(as type: Scalar.Type = Scalar.self, name: String = "",
                                             rounding: SafeTensorsRounding = .exact) throws(SafeTensorsError) -> Tensor<Scalar> {
        let count = dtype.byteSize == 0 ? 0 : bytes.count / dtype.byteSize
        var failure: SafeTensorsError?
        let scalars = [Scalar](unsafeUninitializedCapacity: count) { out, initialized in
            bytes.withUnsafeBytes { raw in
                failure = SafeTensorsDecoding.decode(raw, dtype: dtype, count: count, into: out.baseAddress!,
                                                     name: name, rounding: rounding)
            }
            // Every element is written, or the first bad one stops the loop and the array is
            // discarded; zero-filling what is left keeps the buffer initialized either way.
            if failure != nil { out.baseAddress!.update(repeating: 0, count: count) }
            initialized = count
        }
        if let failure { throw failure }
        return Tensor(shape: shape, scalars: scalars)
    }
}

/// The decoding loops, one tight loop per (dtype, scalar type) pair.
enum SafeTensorsDecoding {
    /// Writes `count` elements of `raw` (little-endian `dtype`) into `out`; returns the first error.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func decode<Scalar: TensorScalar>(_ raw: UnsafeRawBufferPointer, dtype: SafeTensorsDType, count: Int,
                                             into out: UnsafeMutablePointer<Scalar>, name: String,
                                             rounding: SafeTensorsRounding) -> SafeTensorsError? {
        guard count > 0, let base = raw.baseAddress else { return nil }
        let target = Scalar.dtypeName
        func inexact(_ index: Int, _ value: String) -> SafeTensorsError {
            .inexactValue(tensor: name, index: index, value: value, dtype: dtype.rawValue, target: target)
        }
        switch dtype {
        case .float64:
            if Scalar.self == Double.self {
                UnsafeMutableRawPointer(out).copyMemory(from: base, byteCount: count * 8)
                return nil
            }
            for i in 0..<count {
                let d = Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
                let f = Float(d)
                if f.isInfinite && d.isFinite {
                    return .unrepresentableValue(tensor: name, index: i, value: "\(d)", target: target,
                                                 reason: "it is beyond the largest finite F32 value \(Float.greatestFiniteMagnitude)")
                }
                if rounding == .exact && Double(f) != d && !d.isNaN { return inexact(i, "\(d)") }
                out[i] = Scalar(f)
            }
        case .float32:
            if Scalar.self == Float.self {
                UnsafeMutableRawPointer(out).copyMemory(from: base, byteCount: count * 4)
                return nil
            }
            for i in 0..<count {
                out[i] = Scalar(Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))))
            }
        case .bfloat16:
            for i in 0..<count {
                let bits = UInt16(littleEndian: base.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
                out[i] = Scalar(Float(bitPattern: UInt32(bits) << 16))
            }
        case .float16:
            for i in 0..<count {
                out[i] = Scalar(floatFromHalf(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))))
            }
        case .float8E4M3, .float8E5M2:
            let table = dtype == .float8E4M3 ? float8E4M3Values : float8E5M2Values
            let bytes = base.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count { out[i] = Scalar(table[Int(bytes[i])]) }
        case .bool:
            let bytes = base.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count {
                guard bytes[i] <= 1 else {
                    return .unrepresentableValue(tensor: name, index: i, value: "byte \(bytes[i])", target: target,
                                                 reason: "a BOOL element must be the byte 0 or 1")
                }
                out[i] = bytes[i] == 1 ? 1 : 0
            }
        case .uint8: return integers(base, UInt8.self, count, out, rounding, inexact)
        case .int8: return integers(base, Int8.self, count, out, rounding, inexact)
        case .int16: return integers(base, Int16.self, count, out, rounding, inexact)
        case .uint16: return integers(base, UInt16.self, count, out, rounding, inexact)
        case .int32: return integers(base, Int32.self, count, out, rounding, inexact)
        case .uint32: return integers(base, UInt32.self, count, out, rounding, inexact)
        case .int64: return integers(base, Int64.self, count, out, rounding, inexact)
        case .uint64: return integers(base, UInt64.self, count, out, rounding, inexact)
        }
        return nil
    }

    /// Integers to `Scalar`: exact below `2^(significandBitCount + 1)` in magnitude, checked above.
    @inline(__always)
    static func integers<Integer: FixedWidthInteger, Scalar: TensorScalar>(
        _ base: UnsafeRawPointer, _ type: Integer.Type, _ count: Int, _ out: UnsafeMutablePointer<Scalar>,
        _ rounding: SafeTensorsRounding, _ inexact: (Int, String) -> SafeTensorsError
    ) -> SafeTensorsError? {
        let exactLimit = Integer.Magnitude(1) << Swift.min(Integer.Magnitude.bitWidth - 1, Scalar.significandBitCount + 1)
        let size = MemoryLayout<Integer>.size
        for i in 0..<count {
            let value = Integer(littleEndian: base.loadUnaligned(fromByteOffset: i * size, as: Integer.self))
            if value.magnitude <= exactLimit {
                out[i] = Scalar(value)
            } else if let exact = Scalar(exactly: value) {
                out[i] = exact
            } else if rounding == .toNearestOrEven {
                out[i] = Scalar(value)
            } else {
                return inexact(i, "\(value)")
            }
        }
        return nil
    }
}

/// IEEE 754 binary16 to Float (exact: every half is a float), including subnormals, ∞ and NaN.
func floatFromHalf(_ h: UInt16) -> Float {
    let sign: Float = h & 0x8000 != 0 ? -1 : 1
    let exponent = Int((h >> 10) & 0x1F)
    let fraction = Float(h & 0x3FF)
    switch exponent {
    case 0: return sign * fraction * 0x1p-24
    case 31: return fraction == 0 ? sign * .infinity : .nan
    default: return sign * (1 + fraction / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
    }
}

/// The 256 values of `F8_E4M3` (PyTorch's `float8_e4m3fn`: bias 7, no infinities, NaN only at
/// `S.1111.111`, largest finite 448).
let float8E4M3Values: [Float] = (0..<256).map { byte in
    let sign: Float = byte & 0x80 != 0 ? -1 : 1
    let exponent = (byte >> 3) & 0xF, fraction = Float(byte & 0x7)
    if exponent == 0xF && byte & 0x7 == 0x7 { return .nan }
    if exponent == 0 { return sign * fraction * 0x1p-9 }
    return sign * (1 + fraction / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
}

/// The 256 values of `F8_E5M2` (IEEE-style: bias 15, infinities and NaNs at exponent 31).
let float8E5M2Values: [Float] = (0..<256).map { byte in
    let sign: Float = byte & 0x80 != 0 ? -1 : 1
    let exponent = (byte >> 2) & 0x1F, fraction = Float(byte & 0x3)
    if exponent == 0x1F { return byte & 0x3 == 0 ? sign * .infinity : .nan }
    if exponent == 0 { return sign * fraction * 0x1p-16 }
    return sign * (1 + fraction / 4) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
}

// MARK: - Encoding

extension SafeTensorsEntry {
    /// Encodes a tensor as `F32` (for `Float`) or `F64` (for `Double`).
    public init<Scalar: TensorScalar>(_ tensor: Tensor<Scalar>) {
        let dtype: SafeTensorsDType = Scalar.self == Double.self ? .float64 : .float32
        // A tensor in its own dtype always encodes: the copy is exact.
        self = try! SafeTensorsEntry(tensor, dtype: dtype)
    }

    /// Encodes a tensor as any dtype except the 8-bit floats.
    ///
    /// Integer dtypes and `BOOL` take values that are integers in their range (`BOOL`: 0 and 1);
    /// floating-point dtypes take values they represent exactly, or the nearest one with
    /// `.toNearestOrEven` (a finite value beyond the dtype's range always throws rather than
    /// becoming infinite). PyTorch's counters such as `num_batches_tracked` are `I64`.
    ///
    /// - Parameters:
    ///   - tensor: The values.
    ///   - dtype: The element type to store.
    ///   - name: The tensor's name, for error messages.
    ///   - rounding: `.exact` (default) or `.toNearestOrEven` (floating-point dtypes round to
    ///     nearest, integer dtypes round non-integers to the nearest integer).
    /// - Throws: `SafeTensorsError.inexactValue`, `.unrepresentableValue` (NaN, ∞ or out of range
    ///   for an integer dtype, out of range for a floating-point one), `.unsupportedEncoding` for
    ///   `F8_E4M3` and `F8_E5M2`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public init<Scalar: TensorScalar>(_ tensor: Tensor<Scalar>, dtype: SafeTensorsDType, name: String = "",
                                      rounding: SafeTensorsRounding = .exact) throws(SafeTensorsError) {
        let count = tensor.count
        var failure: SafeTensorsError?
        let bytes = [UInt8](unsafeUninitializedCapacity: count * dtype.byteSize) { out, initialized in
            let raw = UnsafeMutableRawBufferPointer(out)
            tensor.scalars.withUnsafeBufferPointer { source in
                failure = SafeTensorsEncoding.encode(source, dtype: dtype, into: raw, name: name, rounding: rounding)
            }
            if failure != nil { raw.initializeMemory(as: UInt8.self, repeating: 0) }
            initialized = count * dtype.byteSize
        }
        if let failure { throw failure }
        self.init(dtype: dtype, shape: tensor.shape, bytes: bytes)
    }
}

/// The encoding loops.
enum SafeTensorsEncoding {
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func encode<Scalar: TensorScalar>(_ source: UnsafeBufferPointer<Scalar>, dtype: SafeTensorsDType,
                                             into raw: UnsafeMutableRawBufferPointer, name: String,
                                             rounding: SafeTensorsRounding) -> SafeTensorsError? {
        guard let input = source.baseAddress, let out = raw.baseAddress, !source.isEmpty else {
            return dtype == .float8E4M3 || dtype == .float8E5M2 ? .unsupportedEncoding(tensor: name, dtype: dtype.rawValue) : nil
        }
        let count = source.count
        let target = dtype.rawValue
        func inexact(_ i: Int) -> SafeTensorsError {
            .inexactValue(tensor: name, index: i, value: "\(input[i])", dtype: Scalar.dtypeName, target: target)
        }
        func outOfRange(_ i: Int, _ reason: String) -> SafeTensorsError {
            .unrepresentableValue(tensor: name, index: i, value: "\(input[i])", target: target, reason: reason)
        }
        switch dtype {
        case .float64:
            if Scalar.self == Double.self {
                out.copyMemory(from: input, byteCount: count * 8)
                return nil
            }
            for i in 0..<count { out.storeBytes(of: Double(input[i]).bitPattern.littleEndian, toByteOffset: i * 8, as: UInt64.self) }
        case .float32:
            if Scalar.self == Float.self {
                out.copyMemory(from: input, byteCount: count * 4)
                return nil
            }
            for i in 0..<count {
                let d = Double(input[i]), f = Float(d)
                if f.isInfinite && d.isFinite { return outOfRange(i, "it is beyond the largest finite F32 value") }
                if rounding == .exact && Double(f) != d && !d.isNaN { return inexact(i) }
                out.storeBytes(of: f.bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self)
            }
        case .float16, .bfloat16:
            let (exponentBits, fractionBits) = dtype == .float16 ? (5, 10) : (8, 7)
            for i in 0..<count {
                let d = Double(input[i])
                let bits = narrowedBits(d, exponentBits: exponentBits, fractionBits: fractionBits)
                let back = widenedValue(bits, exponentBits: exponentBits, fractionBits: fractionBits)
                if back.isInfinite && d.isFinite { return outOfRange(i, "it is beyond the largest finite \(target) value") }
                if rounding == .exact && back != d && !d.isNaN { return inexact(i) }
                out.storeBytes(of: UInt16(bits).littleEndian, toByteOffset: i * 2, as: UInt16.self)
            }
        case .float8E4M3, .float8E5M2:
            return .unsupportedEncoding(tensor: name, dtype: target)
        case .bool:
            for i in 0..<count {
                guard input[i] == 0 || input[i] == 1 else { return outOfRange(i, "BOOL holds only 0 and 1") }
                out.storeBytes(of: input[i] == 1 ? 1 : 0, toByteOffset: i, as: UInt8.self)
            }
        case .uint8: return integers(input, count, UInt8.self, out, rounding, inexact, outOfRange)
        case .int8: return integers(input, count, Int8.self, out, rounding, inexact, outOfRange)
        case .int16: return integers(input, count, Int16.self, out, rounding, inexact, outOfRange)
        case .uint16: return integers(input, count, UInt16.self, out, rounding, inexact, outOfRange)
        case .int32: return integers(input, count, Int32.self, out, rounding, inexact, outOfRange)
        case .uint32: return integers(input, count, UInt32.self, out, rounding, inexact, outOfRange)
        case .int64: return integers(input, count, Int64.self, out, rounding, inexact, outOfRange)
        case .uint64: return integers(input, count, UInt64.self, out, rounding, inexact, outOfRange)
        }
        return nil
    }

    @inline(__always)
    static func integers<Scalar: TensorScalar, Integer: FixedWidthInteger>(
        _ input: UnsafePointer<Scalar>, _ count: Int, _ type: Integer.Type, _ out: UnsafeMutableRawPointer,
        _ rounding: SafeTensorsRounding, _ inexact: (Int) -> SafeTensorsError, _ outOfRange: (Int, String) -> SafeTensorsError
    ) -> SafeTensorsError? {
        let size = MemoryLayout<Integer>.size
        for i in 0..<count {
            var x = input[i]
            guard x.isFinite else { return outOfRange(i, "an integer dtype holds only finite values") }
            if rounding == .toNearestOrEven { x = x.rounded(.toNearestOrEven) }
            guard x == x.rounded(.towardZero) else { return inexact(i) }
            guard let value = Integer(exactly: x) else {
                return outOfRange(i, "it is outside \(Integer.min)...\(Integer.max)")
            }
            out.storeBytes(of: value.littleEndian, toByteOffset: i * size, as: Integer.self)
        }
        return nil
    }
}

/// The bits of the binary floating-point format with `exponentBits` exponent bits and
/// `fractionBits` stored fraction bits nearest to `x`, ties to even (one rounding: the scaling by a
/// power of two is exact). Beyond the largest finite value the result is infinite; NaN stays NaN.
func narrowedBits(_ x: Double, exponentBits: Int, fractionBits: Int) -> UInt64 {
    let signBit: UInt64 = x.sign == .minus ? 1 << UInt64(exponentBits + fractionBits) : 0
    let allOnes = UInt64((1 << exponentBits) - 1)
    if x.isNaN { return signBit | allOnes << UInt64(fractionBits) | 1 << UInt64(fractionBits - 1) }
    let magnitude = Swift.abs(x)
    if magnitude.isInfinite { return signBit | allOnes << UInt64(fractionBits) }
    if magnitude == 0 { return signBit }
    let bias = (1 << (exponentBits - 1)) - 1
    let exponent = Swift.max(Int(magnitude.exponent), 1 - bias)
    let quantum = Double(sign: .plus, exponent: exponent - fractionBits, significand: 1)
    var significand = UInt64((magnitude / quantum).rounded(.toNearestOrEven))
    var biasedExponent = exponent + bias
    if significand >= 1 << UInt64(fractionBits + 1) {   // rounded up into the next binade
        significand >>= 1
        biasedExponent += 1
    }
    if significand < 1 << UInt64(fractionBits) { return signBit | significand }   // subnormal or zero
    if biasedExponent >= Int(allOnes) { return signBit | allOnes << UInt64(fractionBits) }
    return signBit | UInt64(biasedExponent) << UInt64(fractionBits) | (significand - 1 << UInt64(fractionBits))
}

/// The value of the bits of a binary floating-point format (the inverse of `narrowedBits`).
func widenedValue(_ bits: UInt64, exponentBits: Int, fractionBits: Int) -> Double {
    let sign: Double = bits >> UInt64(exponentBits + fractionBits) & 1 == 1 ? -1 : 1
    let allOnes = (1 << exponentBits) - 1
    let biasedExponent = Int(bits >> UInt64(fractionBits)) & allOnes
    let fraction = Double(bits & ((1 << UInt64(fractionBits)) - 1))
    let bias = (1 << (exponentBits - 1)) - 1
    if biasedExponent == allOnes { return fraction == 0 ? sign * .infinity : .nan }
    if biasedExponent == 0 { return sign * fraction * Double(sign: .plus, exponent: 1 - bias - fractionBits, significand: 1) }
    return sign * (1 + fraction / Double(1 << fractionBits)) * Double(sign: .plus, exponent: biasedExponent - bias, significand: 1)
}
