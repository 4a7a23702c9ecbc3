#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The scalar types a `Tensor` can hold: `Float` and `Double`.
///
/// The elementary functions are requirements so that generic kernels call the C library's
/// single- or double-precision routine directly (`expf` for `Float`, `exp` for `Double`).
public protocol TensorScalar: BinaryFloatingPoint, Sendable, Hashable, Codable, CustomStringConvertible, LosslessStringConvertible
where RawSignificand: FixedWidthInteger {
    /// The safetensors dtype name of this scalar type (`"F32"` or `"F64"`).
    static var dtypeName: String { get }
    /// Natural exponential `eˣ`.
    static func exp(_ x: Self) -> Self
    /// `eˣ − 1`, accurate for small `x`.
    static func expm1(_ x: Self) -> Self
    /// Natural logarithm.
    static func log(_ x: Self) -> Self
    /// `log(1 + x)`, accurate for small `x`.
    static func log1p(_ x: Self) -> Self
    /// Hyperbolic tangent.
    static func tanh(_ x: Self) -> Self
    /// The error function `erf(x) = 2/√π ∫₀ˣ e^(−t²) dt`.
    static func erf(_ x: Self) -> Self
    /// `xʸ`.
    static func pow(_ x: Self, _ y: Self) -> Self
    /// Sine.
    static func sin(_ x: Self) -> Self
    /// Cosine.
    static func cos(_ x: Self) -> Self
}

extension Float: TensorScalar {
    /// `"F32"`.
    public static var dtypeName: String { "F32" }
    /// Natural exponential.
    @inlinable public static func exp(_ x: Float) -> Float { expf(x) }
    /// `eˣ − 1`.
    @inlinable public static func expm1(_ x: Float) -> Float { expm1f(x) }
    /// Natural logarithm.
    @inlinable public static func log(_ x: Float) -> Float { logf(x) }
    /// `log(1 + x)`.
    @inlinable public static func log1p(_ x: Float) -> Float { log1pf(x) }
    /// Hyperbolic tangent.
    @inlinable public static func tanh(_ x: Float) -> Float { tanhf(x) }
    /// Error function.
    @inlinable public static func erf(_ x: Float) -> Float { erff(x) }
    /// Power.
    @inlinable public static func pow(_ x: Float, _ y: Float) -> Float { powf(x, y) }
    /// Sine.
    @inlinable public static func sin(_ x: Float) -> Float { sinf(x) }
    /// Cosine.
    @inlinable public static func cos(_ x: Float) -> Float { cosf(x) }
}

extension Double: TensorScalar {
    /// `"F64"`.
    public static var dtypeName: String { "F64" }
    /// Natural exponential.
    @inlinable public static func exp(_ x: Double) -> Double { Glibc.exp(x) }
    /// `eˣ − 1`.
    @inlinable public static func expm1(_ x: Double) -> Double { Glibc.expm1(x) }
    /// Natural logarithm.
    @inlinable public static func log(_ x: Double) -> Double { Glibc.log(x) }
    /// `log(1 + x)`.
    @inlinable public static func log1p(_ x: Double) -> Double { Glibc.log1p(x) }
    /// Hyperbolic tangent.
    @inlinable public static func tanh(_ x: Double) -> Double { Glibc.tanh(x) }
    /// Error function.
    @inlinable public static func erf(_ x: Double) -> Double { Glibc.erf(x) }
    /// Power.
    @inlinable public static func pow(_ x: Double, _ y: Double) -> Double { Glibc.pow(x, y) }
    /// Sine.
    @inlinable public static func sin(_ x: Double) -> Double { Glibc.sin(x) }
    /// Cosine.
    @inlinable public static func cos(_ x: Double) -> Double { Glibc.cos(x) }
}
