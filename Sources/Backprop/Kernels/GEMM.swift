/// General matrix multiply on row-major buffers: `C = op(A) · op(B)` (or `C += …`).
///
/// `op(A)` is `m × k` and `op(B)` is `k × n`. With `transposeA` the buffer `a` holds `Aᵀ` (`k × m`);
/// with `transposeB` the buffer `b` holds `Bᵀ` (`n × k`). All buffers are dense.
enum GEMM {
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func multiply<Scalar: TensorScalar>(
        _ a: UnsafePointer<Scalar>, transposeA: Bool,
        _ b: UnsafePointer<Scalar>, transposeB: Bool,
        m: Int, n: Int, k: Int,
        into c: UnsafeMutablePointer<Scalar>, accumulate: Bool
    ) {
        if !accumulate { c.initialize(repeating: 0, count: m * n) }
        guard m > 0 && n > 0 && k > 0 else { return }
        // Bring A to row-major m × k and B to row-major k × n so the inner loop streams rows of B and C.
        var packedA: [Scalar] = []
        var packedB: [Scalar] = []
        var pa = a, pb = b
        if transposeA {
            packedA = [Scalar](unsafeUninitializedCapacity: m * k) { buf, count in
                for p in 0..<k { for i in 0..<m { buf[i * k + p] = a[p * m + i] } }
                count = m * k
            }
        }
        if transposeB {
            packedB = [Scalar](unsafeUninitializedCapacity: k * n) { buf, count in
                for j in 0..<n { for p in 0..<k { buf[p * n + j] = b[j * k + p] } }
                count = k * n
            }
        }
        packedA.withUnsafeBufferPointer { bufA in
            packedB.withUnsafeBufferPointer { bufB in
                if transposeA { pa = bufA.baseAddress! }
                if transposeB { pb = bufB.baseAddress! }
                let blockK = 256, blockN = 512
                for j0 in stride(from: 0, to: n, by: blockN) {
                    let j1 = Swift.min(j0 + blockN, n)
                    for p0 in stride(from: 0, to: k, by: blockK) {
                        let p1 = Swift.min(p0 + blockK, k)
                        for i in 0..<m {
                            let rowC = c + i * n
                            let rowA = pa + i * k
                            for p in p0..<p1 {
                                let scale = rowA[p]
                                let rowB = pb + p * n
                                for j in j0..<j1 { rowC[j] += scale * rowB[j] }
                            }
                        }
                    }
                }
            }
        }
    }
}
