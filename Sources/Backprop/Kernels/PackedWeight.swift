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
    private let byteCount: Int

    /// Packs `w` (`[n, k]`, row-major) for products at kernel `level`, in parallel panel ranges.
    init(_ w: UnsafePointer<Scalar>, n: Int, k: Int, level: Int) {
        self.level = level
        self.n = n
        self.k = k
        let count = Scalar.gemmPackedBSize(n: n, k: k)
        byteCount = Swift.max(64, count * MemoryLayout<Scalar>.stride)
        panels = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
            .bindMemory(to: Scalar.self, capacity: count)
        let isa = Int32(level), nr = Scalar.gemmColumnsPerPanel(isa)
        let panelCount = (n + nr - 1) / nr
        let grain = Swift.max(1, (1 << 16) / Swift.max(1, k * nr))
        let panels = UncheckedSendable(panels)
        Parallelism.forEach(count: panelCount, grain: grain) { range in
            Scalar.gemmPackB(isa, w, 1, k, n, k, range.lowerBound, range.upperBound, panels.value)
        }
    }

    deinit { UnsafeMutableRawPointer(panels).deallocate() }

    /// The bytes the panels take.
    var size: Int { byteCount }
}

extension GEMM {
    /// `C = A·Wᵀ (+ bias on every row)` for a row-major `A` `[m, k]` and a packed weight: the
    /// tiles of `multiply`, without its packing of `Wᵀ`. The same sums as
    /// `multiply(a, transposeA: false, w, transposeB: true, …)` bit for bit.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func multiply<Scalar: CGEMMScalar>(_ a: UnsafePointer<Scalar>, packedWeight w: PackedWeight<Scalar>, m: Int,
                                              into c: UnsafeMutablePointer<Scalar>, bias: UnsafePointer<Scalar>?) {
        guard m > 0 && w.n > 0 else { return }
        let l = Layout(transposeA: false, transposeB: true, m: m, n: w.n, k: w.k)
        let isa = Int32(w.level)
        let scratchA = Scalar.gemmScratchA(rows: l.tileRows, depth: l.k)
        l.forEachTile { i0, j0, rows, columns in
            PackingScratch.withSmallOrPooled(Scalar.self, count: scratchA) { packedA in
                Scalar.gemmTile(isa, a + i0 * l.aRow, l.aRow, l.aCol, w.panels, l.n, j0, c + i0 * l.n + j0, l.n,
                                rows, columns, l.k, 0, packedA, bias.map { $0 + j0 })
            }
        }
    }
}
