import BackpropKernelsC
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The AVX2 and AVX-512 forms of the float normalization loops (`BackpropKernelsC/normalization.c`),
/// used when the CPU has AVX2 and a contiguous segment is long enough to repay the call (the column
/// loops of `ColumnKernels.swift` whenever the CPU has AVX2).
///
/// Each C loop performs the Swift loop's operations in the same order and sums into the same eight
/// `Double` lanes (one accumulator per column for the column loops), so both give bit-identical
/// results: the choice changes speed only. A library built for the x86-64 baseline vectorizes the
/// Swift loops with 128-bit SSE at best and widens `Float` to `Double` one element at a time; the C
/// loops use 256-bit or 512-bit vectors, picked at run time (`BACKPROP_NORM_ISA=1` caps them at AVX2).
/// `BACKPROP_NORM_KERNELS=swift` forces the Swift loops (to measure one against the other).
enum VectorLoops {
    /// Whether this CPU can run the C loops and the environment does not forbid them.
    static let available: Bool = {
        if let text = getenv("BACKPROP_NORM_KERNELS"), String(cString: text) == "swift" { return false }
        return bp_norm_kernels_available() != 0
    }()

    private static let switchedOff = Atomic<Bool>(false)

    /// Whether the C loops run for `Float` segments (tests switch them off to compare both forms).
    static var enabled: Bool {
        get { available && !switchedOff.load(ordering: .relaxed) }
        set { switchedOff.store(!newValue, ordering: .relaxed) }
    }

    /// The shortest contiguous segment handed to C.
    static let minimumCount = 32

    /// Whether a segment of `count` elements of `Scalar` goes to the C loops.
    @inline(__always)
    static func applies<Scalar: TensorScalar>(to _: Scalar.Type, count: Int) -> Bool {
        Scalar.self == Float.self && count >= minimumCount && enabled
    }

    /// `p` as a float pointer (only called when `Scalar` is `Float`).
    @inline(__always)
    static func float<Scalar>(_ p: UnsafePointer<Scalar>) -> UnsafePointer<Float> {
        UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
    }

    /// `p` as a mutable float pointer (only called when `Scalar` is `Float`).
    @inline(__always)
    static func float<Scalar>(_ p: UnsafeMutablePointer<Scalar>) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
    }

    /// Calls `body` with eight writable doubles and returns them as lanes.
    @inline(__always)
    static func lanes(_ body: (UnsafeMutablePointer<Double>) -> Void) -> Lanes8 {
        var out: Lanes8Tuple = (0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &out) { body($0.baseAddress!.assumingMemoryBound(to: Double.self)) }
        return Lanes8(out)
    }

    /// Calls `body` with `a` then `b` as sixteen writable doubles, and stores them back.
    @inline(__always)
    static func withLanes(_ a: inout Lanes8, _ b: inout Lanes8, _ body: (UnsafeMutablePointer<Double>) -> Void) {
        var buffer: (Lanes8Tuple, Lanes8Tuple) = (a.tuple, b.tuple)
        withUnsafeMutableBytes(of: &buffer) { body($0.baseAddress!.assumingMemoryBound(to: Double.self)) }
        (a, b) = (Lanes8(buffer.0), Lanes8(buffer.1))
    }
}

/// Eight doubles in a homogeneous tuple (laid out contiguously, unlike a struct's fields by contract).
typealias Lanes8Tuple = (Double, Double, Double, Double, Double, Double, Double, Double)

extension Lanes8 {
    /// The lanes as a tuple.
    @inline(__always)
    var tuple: Lanes8Tuple { (v0, v1, v2, v3, v4, v5, v6, v7) }

    /// Lanes from a tuple.
    @inline(__always)
    init(_ t: Lanes8Tuple) { self.init(t.0, t.1, t.2, t.3, t.4, t.5, t.6, t.7) }
}
