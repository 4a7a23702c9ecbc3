#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Checked arithmetic for sizes: element counts, strides, byte counts and offsets.
///
/// A shape is data the caller controls, so the product of its sizes can overflow `Int` (`[1 << 62, 4]`)
/// or name more memory than the machine has (`[1 << 40]` floats are 4 TiB). Unchecked, the first traps
/// with a bare "illegal instruction" and the second dies in the allocator with "failed to allocate …
/// bytes", neither naming the op or the shape. Every size an op derives from its arguments goes through
/// these functions instead, which stop with a message naming the op, the shape and the bytes (PyTorch
/// raises "Storage size calculation overflowed" for the first).
enum TensorSize {
    /// The product of `sizes`, or `nil` when it overflows `Int` (sizes are non-negative).
    static func product(_ sizes: some Sequence<Int>) -> Int? {
        var result = 1
        var sawZero = false
        var overflowed = false
        for size in sizes {
            if size == 0 { sawZero = true; continue }
            let (next, overflow) = result.multipliedReportingOverflow(by: size)
            if overflow { overflowed = true } else { result = next }
        }
        if sawZero { return 0 }
        return overflowed ? nil : result
    }

    /// The sum of `values`, or `nil` when it overflows `Int`.
    static func sum(_ values: some Sequence<Int>) -> Int? {
        var result = 0
        for value in values {
            let (next, overflow) = result.addingReportingOverflow(value)
            if overflow { return nil }
            result = next
        }
        return result
    }

    /// The number of elements of `shape` for a tensor of `Scalar`: every size must be non-negative, the
    /// count must fit `Int`, and its bytes must fit this machine's memory (RAM + swap).
    ///
    /// - Parameters:
    ///   - shape: The shape of the tensor about to be created.
    ///   - op: The operation creating it, for the message.
    /// - Returns: The element count.
    @inline(__always) @discardableResult
    static func elementCount<Scalar: TensorScalar>(of shape: [Int], scalar: Scalar.Type, op: String) -> Int {
        var count = 1
        var overflowed = false
        var sawZero = false
        for size in shape {
            if size <= 0 {
                if size < 0 { usageError(op, "shape \(shape) has a negative size \(size)") }
                sawZero = true
                continue
            }
            let (next, overflow) = count.multipliedReportingOverflow(by: size)
            if overflow { overflowed = true } else { count = next }
        }
        if sawZero { return 0 }
        if overflowed { overflowError(shape: shape, scalar: Scalar.self, op: op) }
        checkAllocation(count: count, shape: shape, scalar: Scalar.self, op: op)
        return count
    }

    /// Stops unless `count` elements of `Scalar` fit in `Int` bytes and in this machine's memory.
    @inline(__always)
    static func checkAllocation<Scalar: TensorScalar>(count: Int, shape: [Int], scalar: Scalar.Type, op: String) {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Scalar>.stride)
        if overflow { overflowError(shape: shape, scalar: Scalar.self, op: op) }
        if bytes > memoryLimit { tooLargeError(count: count, bytes: bytes, shape: shape, scalar: Scalar.self, op: op) }
    }

    /// `a + b` for sizes or offsets, stopping with `describe()` (which names the values) on overflow.
    @inline(__always)
    static func adding(_ a: Int, _ b: Int, op: String, _ describe: @autoclosure () -> String) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        if overflow { usageError(op, "\(describe()) overflows Int (\(a) + \(b) > \(Int.max))") }
        return sum
    }

    /// `a · b` for sizes or offsets, stopping with `describe()` (which names the values) on overflow.
    @inline(__always)
    static func multiplying(_ a: Int, _ b: Int, op: String, _ describe: @autoclosure () -> String) -> Int {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        if overflow { usageError(op, "\(describe()) overflows Int (\(a) · \(b) > \(Int.max))") }
        return product
    }

    /// The bytes this process can ever hold: physical memory plus swap (a larger tensor can never be
    /// filled, whatever the allocator promises under overcommit).
    static let memoryLimit: Int = {
        #if canImport(Glibc)
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, pageSize > 0 else { return Int.max }
        let (ram, overflow) = pages.multipliedReportingOverflow(by: pageSize)
        guard !overflow else { return Int.max }
        let (total, overflow2) = ram.addingReportingOverflow(swapBytes())
        return overflow2 ? Int.max : total
        #else
        return Int.max
        #endif
    }()

    /// `SwapTotal` from `/proc/meminfo`, in bytes (0 when it cannot be read).
    private static func swapBytes() -> Int {
        #if canImport(Glibc)
        guard let file = fopen("/proc/meminfo", "r") else { return 0 }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard text.hasPrefix("SwapTotal:") else { continue }
            let digits = text.dropFirst("SwapTotal:".count).filter { $0.isNumber }
            return (Int(digits) ?? 0).multipliedReportingOverflow(by: 1024).partialValue
        }
        #endif
        return 0
    }

    /// A byte count with its binary unit (`4.0 TiB`).
    static func humanReadable(_ bytes: Double) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
        var value = bytes
        var unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        if unit == 0 { return "\(Int(value)) bytes" }
        return "\((value * 10).rounded() / 10) \(units[unit])"
    }

    private static func overflowError<Scalar>(shape: [Int], scalar: Scalar.Type, op: String) -> Never {
        let elements = shape.reduce(1.0) { $0 * Double($1) }
        let bytes = elements * Double(MemoryLayout<Scalar>.stride)
        usageError(op, "shape \(shape) has \(elements) elements (\(bytes) bytes of \(Scalar.self)), more than Int.max = \(Int.max): the size calculation overflows")
    }

    private static func tooLargeError<Scalar>(count: Int, bytes: Int, shape: [Int], scalar: Scalar.Type, op: String) -> Never {
        usageError(op, "shape \(shape) needs \(bytes) bytes (\(humanReadable(Double(bytes)))) for \(count) \(Scalar.self) elements, more than this machine's memory of \(memoryLimit) bytes (\(humanReadable(Double(memoryLimit))), RAM + swap)")
    }
}
