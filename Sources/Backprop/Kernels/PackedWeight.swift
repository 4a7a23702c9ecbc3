import BackpropKernelsC

/// A weight `W` `[n, k]` packed once as the `op(B) = Wᵀ` of `y = x·Wᵀ`, in the panel layout the C
/// micro-kernels read (`bp_sgemm_pack_b`), so that repeated products with the same weight skip
/// packing it.
///
/// Packing only moves data and the tiling never changes a sum, so a product through a packed
/// weight equals the one through `GEMM.multiply` bit for bit. The layout depends on the kernel
/// level (panel width), which is recorded: a packed weight is used only at its own level.
final class PackedWeight<Scalar: CGEMMScalar>: @unchecked Sendable {
    /// The kernel level the panels were packed for.
    let level: Int
    /// Rows of `W` (columns of the product) and its depth.
    let n: Int, k: Int
    /// The packed panels, 64-byte aligned.
    let panels: UnsafeMutablePointer<Scalar>

    /// Packs `w` (`[n, k]`, row-major) for products at kernel `level`, in parallel panel ranges.
    init(_ w: UnsafePointer<Scalar>, n: Int, k: Int, level: Int) {
        self.level = level
        self.n = n
        self.k = k
        let count = Scalar.gemmPackedBSize(n: n, k: k)
        panels = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(64, count * MemoryLayout<Scalar>.stride), alignment: 64)
            .bindMemory(to: Scalar.self, capacity: count)
        GEMM.packB(w, bRow: 1, bCol: k, n: n, k: k, into: panels, isa: Int32(level), parallel: true)
    }

    deinit { UnsafeMutableRawPointer(panels).deallocate() }
}

extension GEMM {
    /// `C = A·Wᵀ (+ bias on every row)` for a row-major `A` `[m, k]` and a packed weight: the
    /// tiles of `multiply`, without its packing of `Wᵀ`. The same sums as
    /// `multiply(a, transposeA: false, w, transposeB: true, …)` bit for bit.
    static func multiply<Scalar: CGEMMScalar>(_ a: UnsafePointer<Scalar>, packedWeight w: PackedWeight<Scalar>, m: Int,
                                              into c: UnsafeMutablePointer<Scalar>, bias: UnsafePointer<Scalar>?) {
        guard m > 0 && w.n > 0 else { return }
        runTiles(a, packedB: w.panels, c, Layout(transposeA: false, transposeB: true, m: m, n: w.n, k: w.k),
                 accumulate: false, bias: bias, isa: Int32(w.level))
    }
}
