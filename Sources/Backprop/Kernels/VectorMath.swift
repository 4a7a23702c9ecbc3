import BackpropKernelsC

/// The vectorized `Float` functions of `BackpropKernelsC` (`vmath.c`) behind some unary kernels.
package enum VectorMath {
    /// The functions of `bp_vmath_f32`.
    package enum Function: Int32, CaseIterable, Sendable {
        case exp = 0, tanh = 1, gelu = 2, geluDerivative = 3
    }

    /// The vectorized function computing `kernel`, or `nil` when it has none.
    static func function(for kernel: UnaryKernel) -> Function? {
        switch kernel {
        case .exp: .exp
        case .tanh: .tanh
        case .geluExact: .gelu
        default: nil
        }
    }

    /// `y[i] = f(x[i])` for `n` elements at the best instruction-set level.
    static func apply(_ function: Function, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        bp_vmath_f32(function.rawValue, -1, x, y, n)
    }

    /// `y[i] = f(x[i])·g[i]` for `i < n`, f rounded to `Float` first (the values of `apply` then a
    /// multiply, in one pass).
    static func apply(_ function: Function, _ x: UnsafePointer<Float>, timing g: UnsafePointer<Float>,
                      _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        bp_vmath_f32_times(function.rawValue, -1, x, g, y, n)
    }

    /// `f(x)` for every element at instruction-set level `level` (0 portable, 1 AVX2, 2 AVX-512,
    /// clamped to the CPU; −1 the best), for tests that compare the levels.
    package static func apply(_ function: Function, level: Int32 = -1, to x: [Float]) -> [Float] {
        [Float](unsafeUninitializedCapacity: x.count) { out, initialized in
            x.withUnsafeBufferPointer { bp_vmath_f32(function.rawValue, level, $0.baseAddress, out.baseAddress, x.count) }
            initialized = x.count
        }
    }
}
