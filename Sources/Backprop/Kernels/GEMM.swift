import BackpropKernelsC

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// General matrix multiply on row-major buffers: `C = op(A) · op(B)` (or `C += …`).
///
/// `op(A)` is `m × k` and `op(B)` is `k × n`. With `transposeA` the buffer `a` holds `Aᵀ` (`k × m`);
/// with `transposeB` the buffer `b` holds `Bᵀ` (`n × k`). All buffers are dense; transposed
/// operands are read in place while packing, never copied whole.
///
/// C is cut into fixed tiles (their size depends only on `m`, `n`), run in parallel; within a tile
/// the k axis is walked in fixed blocks, in order, by a register-blocked micro-kernel on packed
/// panels. Each element of C is therefore computed in the same order whatever the worker count.
/// `Float` and `Double` run the C micro-kernels of BackpropKernelsC for the best instruction set
/// the CPU has (AVX-512, AVX2+FMA or portable); `BACKPROP_GEMM=swift` selects the pure-Swift
/// SIMD kernel instead, for comparison.
enum GEMM {
    /// Which implementation runs `Float` and `Double` products (the C kernels unless measuring the Swift one).
    enum Path: Sendable { case c, swift }

    static let path: Path = {
        if let text = getenv("BACKPROP_GEMM"), String(cString: text) == "swift" { return .swift }
        return .c
    }()

    /// The default instruction-set level of the C micro-kernels: 0 portable, 1 AVX2+FMA,
    /// 2 AVX-512 (the best the CPU has, unless `BACKPROP_SGEMM_ISA` says otherwise).
    static var kernelLevel: Int { Int(bp_sgemm_isa()) }

    /// The best level this CPU supports.
    static var bestKernelLevel: Int { Int(bp_cpu_best_isa()) }

    /// Below this many multiply-adds a product runs on the calling thread.
    static let parallelThreshold = 1 << 18

    /// Products of at most this many rows, with a row-major `op(B)` of at most `unpackedBLimit`
    /// elements (it stays in L2), read B in place instead of packing it: packing would cost about
    /// as much as the product (64³ at one thread: 5.8 → 5.2 µs).
    static let unpackedBRowLimit = 64
    /// The largest `op(B)`, in elements, that `unpackedBRowLimit` applies to.
    static let unpackedBLimit = 1 << 18

    /// Products with several column tiles whose block of op(A) (all rows, one k block) takes at
    /// most this many bytes, so it stays in L2 while every strip sweeps it, run as column strips
    /// of every row, each packing its own columns of op(B) (`runCStrips`); others pack op(B) whole
    /// first (`runCPackedA`). all-MiniLM-L6-v2's products (576 tokens; 384 and 1,536 features)
    /// gained about 5 % (forward+backward 207 → 198 ms, min of five alternating runs); 1024³
    /// (a 1 MB block) measured 3–5 % slower as strips.
    static let stripBlockByteLimit = 512 << 10

    /// Below this many multiply-adds per product, a stack of products is shared out product by
    /// product instead of tile by tile.
    static let batchItemThreshold = 1 << 22

    /// `C (+)= op(A) · op(B)`, or `C = bias + op(A) · op(B)` with a `bias` of `n` entries (added
    /// to every row, without `accumulate`: PyTorch's `addmm`, no pass of its own over C);
    /// `parallel: false` keeps the product on the calling thread, and `kernelLevel` overrides the
    /// instruction-set level of the C kernels (for tests).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func multiply<Scalar: TensorScalar>(
        _ a: UnsafePointer<Scalar>, transposeA: Bool,
        _ b: UnsafePointer<Scalar>, transposeB: Bool,
        m: Int, n: Int, k: Int,
        into c: UnsafeMutablePointer<Scalar>, accumulate: Bool, bias: UnsafePointer<Scalar>? = nil,
        parallel: Bool = true, kernelLevel level: Int? = nil
    ) {
        guard m > 0 && n > 0 else { return }
        let bias = accumulate ? nil : bias
        // C's rows set to the bias: where the C kernels do not add it, the sums start from it.
        func fillBiasRows(_ bias: UnsafePointer<Scalar>) { for i in 0..<m { (c + i * n).update(from: bias, count: n) } }
        if k == 0 {
            if let bias {
                fillBiasRows(bias)
            } else if !accumulate {
                c.update(repeating: 0, count: m * n)
            }
            return
        }
        var layout = Layout(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k)
        layout.parallel = parallel
        let level = level ?? kernelLevel
        if path == .c && (Scalar.self == Float.self || Scalar.self == Double.self) {
            if Scalar.self == Float.self {
                a.withMemoryRebound(to: Float.self, capacity: m * k) { a in
                    b.withMemoryRebound(to: Float.self, capacity: k * n) { b in
                        c.withMemoryRebound(to: Float.self, capacity: m * n) { c in
                            let bias = bias.map { UnsafeRawPointer($0).assumingMemoryBound(to: Float.self) }
                            runC(a, b, c, layout, accumulate: accumulate, bias: bias, level: level)
                        }
                    }
                }
            } else {
                a.withMemoryRebound(to: Double.self, capacity: m * k) { a in
                    b.withMemoryRebound(to: Double.self, capacity: k * n) { b in
                        c.withMemoryRebound(to: Double.self, capacity: m * n) { c in
                            let bias = bias.map { UnsafeRawPointer($0).assumingMemoryBound(to: Double.self) }
                            runC(a, b, c, layout, accumulate: accumulate, bias: bias, level: level)
                        }
                    }
                }
            }
            return
        }
        // The other paths start C as the bias rows and accumulate: the same value, bias + sums.
        var accumulate = accumulate
        if let bias {
            fillBiasRows(bias)
            accumulate = true
        }
        if Scalar.self == Float.self {
            a.withMemoryRebound(to: Float.self, capacity: m * k) { a in
                b.withMemoryRebound(to: Float.self, capacity: k * n) { b in
                    c.withMemoryRebound(to: Float.self, capacity: m * n) { c in
                        SwiftGEMM<SIMD8<Float>>.run(a, b, c, layout, accumulate: accumulate)
                    }
                }
            }
        } else if Scalar.self == Double.self {
            a.withMemoryRebound(to: Double.self, capacity: m * k) { a in
                b.withMemoryRebound(to: Double.self, capacity: k * n) { b in
                    c.withMemoryRebound(to: Double.self, capacity: m * n) { c in
                        SwiftGEMM<SIMD4<Double>>.run(a, b, c, layout, accumulate: accumulate)
                    }
                }
            }
        } else {
            naive(a, b, c, layout, accumulate: accumulate)
        }
    }

    /// Sizes, element strides of `op(A)` and `op(B)`, and the fixed tiling of C.
    struct Layout {
        var m: Int, n: Int, k: Int
        var aRow: Int, aCol: Int, bRow: Int, bCol: Int
        var tileRows: Int, tileColumns: Int
        var rowTiles: Int, columnTiles: Int
        /// Whether tiles may run on several workers (off when the caller already runs products in parallel).
        var parallel = true

        init(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int) {
            self.m = m; self.n = n; self.k = k
            (aRow, aCol) = transposeA ? (1, m) : (k, 1)
            (bRow, bCol) = transposeB ? (1, k) : (n, 1)
            // Tiles are about 128 rows (a packed A block of ≈ 130 KB stays in L2) by up to 1024
            // columns, so A is packed once or twice per product; short, wide products are cut
            // into narrower column tiles so there are still several tiles to share out. Sizes are
            // balanced and rounded to whole register tiles of every micro-kernel (rows of 12, 6, 4;
            // columns of 32, 16, 8). They depend on m, n and the worker count only, never on k, and
            // no tiling changes a sum (each element's k order is fixed), so results do not depend
            // on the worker count.
            rowTiles = (m + 127) / 128
            columnTiles = rowTiles >= 4 || (rowTiles == 3 && n <= 1024) ? (n + 1023) / 1024 : (n + 255) / 256
            if columnTiles == 1 && rowTiles >= 3 && rowTiles < 8 {
                // A few hundred rows (576: 5 tiles of 128; 384: 3) and at most 1024 columns: one
                // tile of at most 320 rows per worker, all columns, so each worker reads the packed
                // B once per k block instead of once per narrow tile (5 × 2 tiles of 120 × 192 read
                // it five times). MiniLM's 576 × 1536 → 384 product: 2.58 → 2.45 ms, 576 × 384 → 384:
                // 0.608 → 0.579 (two workers, min of 300, three alternations); its weight gradients
                // 384 × 576 → 384 (3 rows of tiles, which went to column strips): 0.621 → 0.586.
                let workers = Swift.max(1, Parallelism.workerCount)
                rowTiles = ((m + 319) / 320 + workers - 1) / workers * workers
            } else if rowTiles * columnTiles < 8 {
                // A product of a few row tiles would leave a worker idle at the end: cut columns
                // until there are at least 8 tiles, none narrower than 128 columns.
                columnTiles = Swift.max(columnTiles, Swift.min((8 + rowTiles - 1) / rowTiles, n / 128))
            }
            tileRows = ((m + rowTiles - 1) / rowTiles + 11) / 12 * 12
            tileColumns = ((n + columnTiles - 1) / columnTiles + 31) / 32 * 32
            rowTiles = (m + tileRows - 1) / tileRows
            columnTiles = (n + tileColumns - 1) / tileColumns
        }

        /// The tile's origin and size.
        func tile(_ index: Int) -> (i0: Int, j0: Int, rows: Int, columns: Int) {
            let i0 = (index / columnTiles) * tileRows, j0 = (index % columnTiles) * tileColumns
            return (i0, j0, Swift.min(tileRows, m - i0), Swift.min(tileColumns, n - j0))
        }

        /// Runs `body` on every tile, in parallel when the product is large enough.
        func forEachTile(_ body: (_ i0: Int, _ j0: Int, _ rows: Int, _ columns: Int) -> Void) {
            let tiles = rowTiles * columnTiles
            if !parallel || m * n * k < GEMM.parallelThreshold || tiles == 1 {
                for index in 0..<tiles { let t = tile(index); body(t.i0, t.j0, t.rows, t.columns) }
            } else {
                Parallelism.forEach(chunks: tiles) { index in
                    let t = tile(index)
                    body(t.i0, t.j0, t.rows, t.columns)
                }
            }
        }
    }

    /// Runs the product on the C kernels of `Scalar`'s precision.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func runC<Scalar: CGEMMScalar>(_ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>,
                                          _ c: UnsafeMutablePointer<Scalar>, _ l: Layout, accumulate: Bool,
                                          bias: UnsafePointer<Scalar>? = nil, level: Int) {
        // op(B) is packed once, in parallel panel ranges, and shared by every tile; each tile packs
        // only its own rows of A.
        let isa = Int32(level)
        let scratchA = Scalar.gemmScratchA(rows: l.tileRows, depth: l.k)
        if l.bCol == 1 && l.m <= unpackedBRowLimit && l.n * l.k <= unpackedBLimit {
            l.forEachTile { i0, j0, rows, columns in
                PackingScratch.withSmallOrPooled(Scalar.self, count: scratchA) { scratch in
                    Scalar.gemmTileUnpackedB(isa, a + i0 * l.aRow, l.aRow, l.aCol, b + j0, l.bRow,
                                             c + i0 * l.n + j0, l.n, rows, columns, l.k, accumulate ? 1 : 0, scratch,
                                             bias.map { $0 + j0 })
                }
            }
            return
        }
        if l.columnTiles > 1 && l.parallel && l.m * l.n * l.k >= GEMM.parallelThreshold
            && l.m * Scalar.gemmKBlock(l.k) * MemoryLayout<Scalar>.stride <= stripBlockByteLimit {
            runCStrips(a, b, c, l, accumulate: accumulate, bias: bias, isa: isa)
            return
        }
        if l.columnTiles > 1 {
            runCPackedA(a, b, c, l, accumulate: accumulate, bias: bias, isa: isa)
            return
        }
        PackingScratch.withSmallOrPooled(Scalar.self, count: Scalar.gemmPackedBSize(n: l.n, k: l.k)) { packedB in
            packB(b, bRow: l.bRow, bCol: l.bCol, n: l.n, k: l.k, into: packedB, isa: isa,
                  parallel: l.parallel && l.m * l.n * l.k >= GEMM.parallelThreshold)
            runTiles(a, packedB: packedB, c, l, accumulate: accumulate, bias: bias, isa: isa)
        }
    }

    /// Packs all of `op(B)` (`n` columns, depth `k`, element (p, j) at `b[p·bRow + j·bCol]`) into
    /// `packed`, in parallel chunks of about 64 K elements when `parallel`.
    static func packB<Scalar: CGEMMScalar>(_ b: UnsafePointer<Scalar>, bRow: Int, bCol: Int, n: Int, k: Int,
                                           into packed: UnsafeMutablePointer<Scalar>, isa: Int32, parallel: Bool) {
        let nr = Scalar.gemmColumnsPerPanel(isa)
        let panels = (n + nr - 1) / nr
        guard parallel else {
            Scalar.gemmPackB(isa, b, bRow, bCol, n, k, 0, panels, packed)
            return
        }
        let destination = UncheckedSendable(packed)
        Parallelism.forEach(count: panels, grain: Swift.max(1, (1 << 16) / Swift.max(1, k * nr))) { range in
            Scalar.gemmPackB(isa, b, bRow, bCol, n, k, range.lowerBound, range.upperBound, destination.value)
        }
    }

    /// The tiles of C from `op(B)` packed whole (`packB`), each packing its own rows of `op(A)`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func runTiles<Scalar: CGEMMScalar>(_ a: UnsafePointer<Scalar>, packedB: UnsafePointer<Scalar>,
                                              _ c: UnsafeMutablePointer<Scalar>, _ l: Layout, accumulate: Bool,
                                              bias: UnsafePointer<Scalar>?, isa: Int32) {
        let scratchA = Scalar.gemmScratchA(rows: l.tileRows, depth: l.k)
        l.forEachTile { i0, j0, rows, columns in
            PackingScratch.withSmallOrPooled(Scalar.self, count: scratchA) { packedA in
                Scalar.gemmTile(isa, a + i0 * l.aRow, l.aRow, l.aCol, packedB, l.n, j0,
                                c + i0 * l.n + j0, l.n, rows, columns, l.k, accumulate ? 1 : 0, packedA,
                                bias.map { $0 + j0 })
            }
        }
    }

    /// `runC` for a product cut into several column tiles: op(A) is packed once, like op(B), in the
    /// same parallel region, instead of once per column tile (a convolution's weight was packed
    /// again for every tile of output pixels). Packing only moves data, so the sums are those of
    /// `runC`'s other path bit for bit.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func runCPackedA<Scalar: CGEMMScalar>(_ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>,
                                                 _ c: UnsafeMutablePointer<Scalar>, _ l: Layout, accumulate: Bool,
                                                 bias: UnsafePointer<Scalar>? = nil, isa: Int32) {
        let nr = Scalar.gemmColumnsPerPanel(isa), mr = Scalar.gemmRowsPerPanel(isa)
        let sizeB = Scalar.gemmPackedBSize(n: l.n, k: l.k)
        PackingScratch.withSmallOrPooled(Scalar.self, count: sizeB + Scalar.gemmPackedASize(m: l.m, k: l.k)) { packedB in
            let packedA = packedB + sizeB
            let panelsB = (l.n + nr - 1) / nr, panelsA = (l.m + mr - 1) / mr
            // Chunks of about 64 K elements of B, then of A, all in one region.
            let grainB = Swift.max(1, (1 << 16) / Swift.max(1, l.k * nr))
            let grainA = Swift.max(1, (1 << 16) / Swift.max(1, l.k * mr))
            let chunksB = (panelsB + grainB - 1) / grainB, chunksA = (panelsA + grainA - 1) / grainA
            let pack = { (chunk: Int) in
                if chunk < chunksB {
                    let begin = chunk * grainB
                    Scalar.gemmPackB(isa, b, l.bRow, l.bCol, l.n, l.k, begin, Swift.min(begin + grainB, panelsB), packedB)
                } else {
                    let begin = (chunk - chunksB) * grainA
                    Scalar.gemmPackA(isa, a, l.aRow, l.aCol, l.m, l.k, begin, Swift.min(begin + grainA, panelsA), packedA)
                }
            }
            if !l.parallel || l.m * l.n * l.k < GEMM.parallelThreshold {
                for chunk in 0..<(chunksB + chunksA) { pack(chunk) }
            } else {
                Parallelism.forEach(chunks: chunksB + chunksA, pack)
            }
            l.forEachTile { i0, j0, rows, columns in
                Scalar.gemmTilePacked(isa, packedA, l.m, i0, packedB, l.n, j0, c + i0 * l.n + j0, l.n,
                                      rows, columns, l.k, accumulate ? 1 : 0, bias.map { $0 + j0 })
            }
        }
    }

    /// `runC` for a product of a few hundred rows and several column tiles: op(A) is packed once
    /// (in parallel panel ranges), then C is cut into column strips of every row, run in parallel,
    /// each packing its own columns of op(B) block by block as it goes, so no worker waits for a
    /// packing phase of B and each multiplies panels it packed itself, still hot in its cache.
    /// Packing only moves data, so the sums are those of the other paths bit for bit.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func runCStrips<Scalar: CGEMMScalar>(_ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>,
                                                _ c: UnsafeMutablePointer<Scalar>, _ l: Layout, accumulate: Bool,
                                                bias: UnsafePointer<Scalar>? = nil, isa: Int32) {
        let mr = Scalar.gemmRowsPerPanel(isa)
        // Strips are whole multiples of 32 columns (a multiple of every level's panel width): two
        // per worker when that leaves at most 256 columns each, else 256 columns each.
        let workers = Swift.max(1, Parallelism.workerCount)
        let units = (l.n + 31) / 32
        let unitsPerStrip = Swift.min(8, Swift.max(1, (units + 2 * workers - 1) / (2 * workers)))
        let stripWidth = unitsPerStrip * 32
        let strips = (l.n + stripWidth - 1) / stripWidth
        PackingScratch.withSmallOrPooled(Scalar.self, count: Scalar.gemmPackedASize(m: l.m, k: l.k)) { packedA in
            let panelsA = (l.m + mr - 1) / mr
            let grainA = Swift.max(1, (1 << 16) / Swift.max(1, l.k * mr))
            Parallelism.forEach(count: panelsA, grain: grainA) { range in
                Scalar.gemmPackA(isa, a, l.aRow, l.aCol, l.m, l.k, range.lowerBound, range.upperBound, packedA)
            }
            let scratchCount = Scalar.gemmScratchB(columns: stripWidth, depth: l.k)
            Parallelism.forEach(chunks: strips) { strip in
                let j0 = strip * stripWidth, columns = Swift.min(stripWidth, l.n - j0)
                PackingScratch.withSmallOrPooled(Scalar.self, count: scratchCount) { scratch in
                    Scalar.gemmTilePackedA(isa, packedA, l.m, 0, b + j0 * l.bCol, l.bRow, l.bCol, c + j0, l.n,
                                           l.m, columns, l.k, accumulate ? 1 : 0, scratch, bias.map { $0 + j0 })
                }
            }
        }
    }

    /// The textbook triple loop; only for scalar types other than `Float` and `Double`.
    static func naive<Scalar: TensorScalar>(_ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>,
                                            _ c: UnsafeMutablePointer<Scalar>, _ l: Layout, accumulate: Bool) {
        for i in 0..<l.m {
            for j in 0..<l.n {
                var sum: Scalar = accumulate ? c[i * l.n + j] : 0
                for p in 0..<l.k { sum += a[i * l.aRow + p * l.aCol] * b[p * l.bRow + j * l.bCol] }
                c[i * l.n + j] = sum
            }
        }
    }
}

/// 64-byte-aligned memory for packed panels, kept between products.
///
/// A fresh allocation of a few hundred kilobytes or more is mapped from the kernel on each call,
/// and the first write to every page faults: 11–14 % of the samples of a 1024 × 1024 product went
/// to page faults in packing B and in the first writes to C. Buffers go back to a small pool after
/// use and are handed out again; the pool keeps at most `retainedCount` buffers of at most
/// `retainedByteLimit` bytes each.
enum PackingScratch {
    private static let pool = PThreadLocked<[UncheckedSendable<UnsafeMutableRawBufferPointer>]>([])
    /// Buffers kept at most (a few per worker: one packed B and one packed A block each).
    private static let retainedCount = 8
    /// Larger buffers are freed instead of kept.
    private static let retainedByteLimit = 32 << 20

    /// Buffers up to this many bytes live on the caller's stack.
    static let stackByteLimit = 64 << 10

    /// Runs `body` with 64-byte-aligned scratch of at least `count` elements: on the stack when it
    /// is small, else from the pool. The batched products of attention (36 × 32 matrices, hundreds
    /// per call) spent their time taking the pool's lock twice per product, on both threads at once.
    static func withSmallOrPooled<Element, Result>(_ type: Element.Type, count: Int,
                                                   _ body: (UnsafeMutablePointer<Element>) -> Result) -> Result {
        let byteCount = Swift.max(64, count * MemoryLayout<Element>.stride)
        if byteCount <= stackByteLimit {
            return withUnsafeTemporaryAllocation(byteCount: byteCount, alignment: 64) { buffer in
                body(buffer.baseAddress!.bindMemory(to: Element.self, capacity: count))
            }
        }
        // The smallest pooled buffer that fits, so large ones stay free for large products.
        let pooled = pool.withLock { buffers -> UncheckedSendable<UnsafeMutableRawBufferPointer>? in
            var best: Int?
            for index in buffers.indices where buffers[index].value.count >= byteCount {
                if let current = best, buffers[current].value.count <= buffers[index].value.count { continue }
                best = index
            }
            return best.map { buffers.remove(at: $0) }
        }
        let buffer = pooled?.value ?? UnsafeMutableRawBufferPointer.allocate(byteCount: byteCount, alignment: 64)
        defer { release(buffer) }
        return body(buffer.baseAddress!.bindMemory(to: Element.self, capacity: count))
    }

    private static func release(_ buffer: UnsafeMutableRawBufferPointer) {
        guard buffer.count <= retainedByteLimit else { buffer.deallocate(); return }
        let evicted = pool.withLock { buffers -> UncheckedSendable<UnsafeMutableRawBufferPointer>? in
            buffers.append(UncheckedSendable(buffer))
            guard buffers.count > retainedCount,
                  let smallest = buffers.indices.min(by: { buffers[$0].value.count < buffers[$1].value.count }) else { return nil }
            return buffers.remove(at: smallest)
        }
        evicted?.value.deallocate()
    }
}

/// A precision with C GEMM kernels: thin forwards to `bp_sgemm_…` (Float) and `bp_dgemm_…` (Double),
/// so one generic driver runs both.
protocol CGEMMScalar: TensorScalar {
    /// The k block of the C kernels for depth k (`k_block` in gemm_body.h).
    static func gemmKBlock(_ k: Int) -> Int
    /// Columns of the register tile at `isa`.
    static func gemmColumnsPerPanel(_ isa: Int32) -> Int
    /// Elements of scratch one tile of at most `rows` rows and depth `depth` needs for its packed A.
    static func gemmScratchA(rows: Int, depth: Int) -> Int
    /// Elements needed to hold all of `op(B)` packed.
    static func gemmPackedBSize(n: Int, k: Int) -> Int
    /// Packs the panels `panelBegin..<panelEnd` of `op(B)`.
    static func gemmPackB(_ isa: Int32, _ b: UnsafePointer<Self>, _ bRow: Int, _ bCol: Int, _ n: Int, _ k: Int,
                          _ panelBegin: Int, _ panelEnd: Int, _ packed: UnsafeMutablePointer<Self>)
    /// Multiplies one tile of C on the calling thread, reading a row-major `op(B)` in place.
    static func gemmTileUnpackedB(_ isa: Int32, _ a: UnsafePointer<Self>, _ aRow: Int, _ aCol: Int,
                                  _ b: UnsafePointer<Self>, _ bRow: Int, _ c: UnsafeMutablePointer<Self>, _ ldc: Int,
                                  _ m: Int, _ n: Int, _ k: Int, _ accumulate: Int32, _ scratch: UnsafeMutablePointer<Self>,
                                  _ bias: UnsafePointer<Self>?)
    /// Rows of the register tile at `isa`.
    static func gemmRowsPerPanel(_ isa: Int32) -> Int
    /// Elements needed to hold all of `op(A)` packed.
    static func gemmPackedASize(m: Int, k: Int) -> Int
    /// Packs the row panels `panelBegin..<panelEnd` of `op(A)`.
    static func gemmPackA(_ isa: Int32, _ a: UnsafePointer<Self>, _ aRow: Int, _ aCol: Int, _ m: Int, _ k: Int,
                          _ panelBegin: Int, _ panelEnd: Int, _ packed: UnsafeMutablePointer<Self>)
    /// Multiplies one tile of C on the calling thread from `op(A)` and `op(B)` both packed whole.
    static func gemmTilePacked(_ isa: Int32, _ packedA: UnsafePointer<Self>, _ mTotal: Int, _ i0: Int,
                               _ packedB: UnsafePointer<Self>, _ nTotal: Int, _ j0: Int,
                               _ c: UnsafeMutablePointer<Self>, _ ldc: Int, _ m: Int, _ n: Int, _ k: Int,
                               _ accumulate: Int32, _ bias: UnsafePointer<Self>?)
    /// Elements of scratch `gemmTilePackedA` needs for `columns` columns of depth `depth`.
    static func gemmScratchB(columns: Int, depth: Int) -> Int
    /// Multiplies one tile of C on the calling thread from `op(A)` packed whole, packing the
    /// tile's columns of `op(B)` into `scratch` as it goes.
    static func gemmTilePackedA(_ isa: Int32, _ packedA: UnsafePointer<Self>, _ mTotal: Int, _ i0: Int,
                                _ b: UnsafePointer<Self>, _ bRow: Int, _ bCol: Int,
                                _ c: UnsafeMutablePointer<Self>, _ ldc: Int, _ m: Int, _ n: Int, _ k: Int,
                                _ accumulate: Int32, _ scratch: UnsafeMutablePointer<Self>, _ bias: UnsafePointer<Self>?)
    /// Multiplies one tile of C on the calling thread.
    static func gemmTile(_ isa: Int32, _ a: UnsafePointer<Self>, _ aRow: Int, _ aCol: Int,
                         _ packedB: UnsafePointer<Self>, _ nTotal: Int, _ j0: Int,
                         _ c: UnsafeMutablePointer<Self>, _ ldc: Int, _ m: Int, _ n: Int, _ k: Int,
                         _ accumulate: Int32, _ scratchA: UnsafeMutablePointer<Self>, _ bias: UnsafePointer<Self>?)
}

extension Float: CGEMMScalar {
    static func gemmKBlock(_ k: Int) -> Int { bp_sgemm_k_block(k) }
    static func gemmScratchB(columns: Int, depth: Int) -> Int { bp_sgemm_scratch_b(columns, depth) }
    static func gemmTilePackedA(_ isa: Int32, _ packedA: UnsafePointer<Float>, _ mTotal: Int, _ i0: Int,
                                _ b: UnsafePointer<Float>, _ bRow: Int, _ bCol: Int,
                                _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ m: Int, _ n: Int, _ k: Int,
                                _ accumulate: Int32, _ scratch: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>?) {
        bp_sgemm_tile_packed_a(isa, packedA, mTotal, i0, b, bRow, bCol, c, ldc, m, n, k, accumulate, scratch, bias)
    }
    static func gemmRowsPerPanel(_ isa: Int32) -> Int { Int(bp_sgemm_mr(isa)) }
    static func gemmPackedASize(m: Int, k: Int) -> Int { bp_sgemm_packed_a_size(m, k) }
    static func gemmPackA(_ isa: Int32, _ a: UnsafePointer<Float>, _ aRow: Int, _ aCol: Int, _ m: Int, _ k: Int,
                          _ panelBegin: Int, _ panelEnd: Int, _ packed: UnsafeMutablePointer<Float>) {
        bp_sgemm_pack_a(isa, a, aRow, aCol, m, k, panelBegin, panelEnd, packed)
    }
    static func gemmTilePacked(_ isa: Int32, _ packedA: UnsafePointer<Float>, _ mTotal: Int, _ i0: Int,
                               _ packedB: UnsafePointer<Float>, _ nTotal: Int, _ j0: Int,
                               _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ m: Int, _ n: Int, _ k: Int,
                               _ accumulate: Int32, _ bias: UnsafePointer<Float>?) {
        bp_sgemm_tile_packed(isa, packedA, mTotal, i0, packedB, nTotal, j0, c, ldc, m, n, k, accumulate, bias)
    }
    static func gemmColumnsPerPanel(_ isa: Int32) -> Int { Int(bp_sgemm_nr(isa)) }
    static func gemmScratchA(rows: Int, depth: Int) -> Int { bp_sgemm_scratch_a(rows, depth) }
    static func gemmPackedBSize(n: Int, k: Int) -> Int { bp_sgemm_packed_b_size(n, k) }
    static func gemmPackB(_ isa: Int32, _ b: UnsafePointer<Float>, _ bRow: Int, _ bCol: Int, _ n: Int, _ k: Int,
                          _ panelBegin: Int, _ panelEnd: Int, _ packed: UnsafeMutablePointer<Float>) {
        bp_sgemm_pack_b(isa, b, bRow, bCol, n, k, panelBegin, panelEnd, packed)
    }
    static func gemmTileUnpackedB(_ isa: Int32, _ a: UnsafePointer<Float>, _ aRow: Int, _ aCol: Int,
                                  _ b: UnsafePointer<Float>, _ bRow: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
                                  _ m: Int, _ n: Int, _ k: Int, _ accumulate: Int32, _ scratch: UnsafeMutablePointer<Float>,
                                  _ bias: UnsafePointer<Float>?) {
        bp_sgemm_tile_unpacked_b(isa, a, aRow, aCol, b, bRow, c, ldc, m, n, k, accumulate, scratch, bias)
    }
    static func gemmTile(_ isa: Int32, _ a: UnsafePointer<Float>, _ aRow: Int, _ aCol: Int,
                         _ packedB: UnsafePointer<Float>, _ nTotal: Int, _ j0: Int,
                         _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ m: Int, _ n: Int, _ k: Int,
                         _ accumulate: Int32, _ scratchA: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>?) {
        bp_sgemm_tile(isa, a, aRow, aCol, packedB, nTotal, j0, c, ldc, m, n, k, accumulate, scratchA, bias)
    }
}

extension Double: CGEMMScalar {
    static func gemmKBlock(_ k: Int) -> Int { bp_dgemm_k_block(k) }
    static func gemmScratchB(columns: Int, depth: Int) -> Int { bp_dgemm_scratch_b(columns, depth) }
    static func gemmTilePackedA(_ isa: Int32, _ packedA: UnsafePointer<Double>, _ mTotal: Int, _ i0: Int,
                                _ b: UnsafePointer<Double>, _ bRow: Int, _ bCol: Int,
                                _ c: UnsafeMutablePointer<Double>, _ ldc: Int, _ m: Int, _ n: Int, _ k: Int,
                                _ accumulate: Int32, _ scratch: UnsafeMutablePointer<Double>, _ bias: UnsafePointer<Double>?) {
        bp_dgemm_tile_packed_a(isa, packedA, mTotal, i0, b, bRow, bCol, c, ldc, m, n, k, accumulate, scratch, bias)
    }
    static func gemmRowsPerPanel(_ isa: Int32) -> Int { Int(bp_dgemm_mr(isa)) }
    static func gemmPackedASize(m: Int, k: Int) -> Int { bp_dgemm_packed_a_size(m, k) }
    static func gemmPackA(_ isa: Int32, _ a: UnsafePointer<Double>, _ aRow: Int, _ aCol: Int, _ m: Int, _ k: Int,
                          _ panelBegin: Int, _ panelEnd: Int, _ packed: UnsafeMutablePointer<Double>) {
        bp_dgemm_pack_a(isa, a, aRow, aCol, m, k, panelBegin, panelEnd, packed)
    }
    static func gemmTilePacked(_ isa: Int32, _ packedA: UnsafePointer<Double>, _ mTotal: Int, _ i0: Int,
                               _ packedB: UnsafePointer<Double>, _ nTotal: Int, _ j0: Int,
                               _ c: UnsafeMutablePointer<Double>, _ ldc: Int, _ m: Int, _ n: Int, _ k: Int,
                               _ accumulate: Int32, _ bias: UnsafePointer<Double>?) {
        bp_dgemm_tile_packed(isa, packedA, mTotal, i0, packedB, nTotal, j0, c, ldc, m, n, k, accumulate, bias)
    }
    static func gemmColumnsPerPanel(_ isa: Int32) -> Int { Int(bp_dgemm_nr(isa)) }
    static func gemmScratchA(rows: Int, depth: Int) -> Int { bp_dgemm_scratch_a(rows, depth) }
    static func gemmPackedBSize(n: Int, k: Int) -> Int { bp_dgemm_packed_b_size(n, k) }
    static func gemmPackB(_ isa: Int32, _ b: UnsafePointer<Double>, _ bRow: Int, _ bCol: Int, _ n: Int, _ k: Int,
                          _ panelBegin: Int, _ panelEnd: Int, _ packed: UnsafeMutablePointer<Double>) {
        bp_dgemm_pack_b(isa, b, bRow, bCol, n, k, panelBegin, panelEnd, packed)
    }
    static func gemmTileUnpackedB(_ isa: Int32, _ a: UnsafePointer<Double>, _ aRow: Int, _ aCol: Int,
                                  _ b: UnsafePointer<Double>, _ bRow: Int, _ c: UnsafeMutablePointer<Double>, _ ldc: Int,
                                  _ m: Int, _ n: Int, _ k: Int, _ accumulate: Int32, _ scratch: UnsafeMutablePointer<Double>,
                                  _ bias: UnsafePointer<Double>?) {
        bp_dgemm_tile_unpacked_b(isa, a, aRow, aCol, b, bRow, c, ldc, m, n, k, accumulate, scratch, bias)
    }
    static func gemmTile(_ isa: Int32, _ a: UnsafePointer<Double>, _ aRow: Int, _ aCol: Int,
                         _ packedB: UnsafePointer<Double>, _ nTotal: Int, _ j0: Int,
                         _ c: UnsafeMutablePointer<Double>, _ ldc: Int, _ m: Int, _ n: Int, _ k: Int,
                         _ accumulate: Int32, _ scratchA: UnsafeMutablePointer<Double>, _ bias: UnsafePointer<Double>?) {
        bp_dgemm_tile(isa, a, aRow, aCol, packedB, nTotal, j0, c, ldc, m, n, k, accumulate, scratchA, bias)
    }
}

/// The pure-Swift packed GEMM: a register tile of 4 rows × one `Vector` of columns (`SIMD8<Float>`,
/// `SIMD4<Double>`: eight SSE registers of accumulators either way). Without compiler flags an
/// x86-64 build targets SSE2, so each k step is eight 4-wide (Float) or 2-wide (Double) multiplies
/// and adds, with no fused multiply-add.
enum SwiftGEMM<Vector: SIMD> where Vector.Scalar: BinaryFloatingPoint {
    typealias Scalar = Vector.Scalar
    static var mr: Int { 4 }
    static var nr: Int { Vector.scalarCount }
    static var kc: Int { 256 }

    @_specialize(where Vector == SIMD8<Float>)
    @_specialize(where Vector == SIMD4<Double>)
    static func run(_ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>, _ c: UnsafeMutablePointer<Scalar>,
                    _ l: GEMM.Layout, accumulate: Bool) {
        let sizeA = (l.tileRows + mr) * kc, sizeB = (l.tileColumns + nr) * kc
        l.forEachTile { i0, j0, rows, columns in
            let buffer = UnsafeMutablePointer<Scalar>.allocate(capacity: sizeA + sizeB)
            defer { buffer.deallocate() }
            tile(a + i0 * l.aRow, l.aRow, l.aCol, b + j0 * l.bCol, l.bRow, l.bCol, c + i0 * l.n + j0, l.n,
                 rows, columns, l.k, accumulate, buffer, buffer + sizeA)
        }
    }

    @inline(__always)
    static func tile(_ a: UnsafePointer<Scalar>, _ aRow: Int, _ aCol: Int,
                     _ b: UnsafePointer<Scalar>, _ bRow: Int, _ bCol: Int,
                     _ c: UnsafeMutablePointer<Scalar>, _ ldc: Int,
                     _ m: Int, _ n: Int, _ k: Int, _ accumulate: Bool,
                     _ packedA: UnsafeMutablePointer<Scalar>, _ packedB: UnsafeMutablePointer<Scalar>) {
        for p0 in stride(from: 0, to: k, by: kc) {
            let depth = Swift.min(kc, k - p0)
            let add = accumulate || p0 > 0
            // Pack B into nr-column panels and A into 4-row panels, zero-padded at the edges.
            for j0 in stride(from: 0, to: n, by: nr) {
                let panel = packedB + (j0 / nr) * nr * depth
                let cols = Swift.min(nr, n - j0)
                for p in 0..<depth {
                    let src = b + (p0 + p) * bRow + j0 * bCol
                    for j in 0..<nr { panel[p * nr + j] = j < cols ? src[j * bCol] : 0 }
                }
            }
            for i0 in stride(from: 0, to: m, by: 4) {
                let panel = packedA + (i0 / 4) * 4 * depth
                let rowsHere = Swift.min(4, m - i0)
                for p in 0..<depth {
                    let src = a + i0 * aRow + (p0 + p) * aCol
                    for r in 0..<4 { panel[p * 4 + r] = r < rowsHere ? src[r * aRow] : 0 }
                }
            }
            for j0 in stride(from: 0, to: n, by: nr) {
                let pb = UnsafePointer(packedB + (j0 / nr) * nr * depth)
                let cols = Swift.min(nr, n - j0)
                for i0 in stride(from: 0, to: m, by: 4) {
                    let pa = UnsafePointer(packedA + (i0 / 4) * 4 * depth)
                    let rowsHere = Swift.min(4, m - i0)
                    let (r0, r1, r2, r3) = microKernel(pa, pb, depth)
                    let ct = c + i0 * ldc + j0
                    store(r0, into: ct, columns: cols, add: add)
                    if rowsHere > 1 { store(r1, into: ct + ldc, columns: cols, add: add) }
                    if rowsHere > 2 { store(r2, into: ct + 2 * ldc, columns: cols, add: add) }
                    if rowsHere > 3 { store(r3, into: ct + 3 * ldc, columns: cols, add: add) }
                }
            }
        }
    }

    /// Writes (or adds) the first `columns` lanes of one accumulator row into C.
    @inline(__always)
    static func store(_ row: Vector, into c: UnsafeMutablePointer<Scalar>, columns: Int, add: Bool) {
        if columns == nr {
            let raw = UnsafeMutableRawPointer(c)
            let old = add ? raw.loadUnaligned(as: Vector.self) : .zero
            raw.storeBytes(of: old + row, as: Vector.self)
        } else {
            for j in 0..<columns { c[j] = add ? c[j] + row[j] : row[j] }
        }
    }

    @inline(__always)
    static func microKernel(_ pa: UnsafePointer<Scalar>, _ pb: UnsafePointer<Scalar>, _ depth: Int)
        -> (Vector, Vector, Vector, Vector) {
        var c0 = Vector.zero, c1 = Vector.zero, c2 = Vector.zero, c3 = Vector.zero
        let rawB = UnsafeRawPointer(pb)
        for p in 0..<depth {
            let bv = rawB.loadUnaligned(fromByteOffset: p * MemoryLayout<Vector>.stride, as: Vector.self)
            let ap = pa + p * 4
            c0 += bv * ap[0]
            c1 += bv * ap[1]
            c2 += bv * ap[2]
            c3 += bv * ap[3]
        }
        return (c0, c1, c2, c3)
    }
}

/// A value guarded by a `pthread_mutex_t`. Used instead of `Synchronization.Mutex`, whose Linux
/// implementation waits on futexes directly, which ThreadSanitizer cannot see: every pooled access
/// was reported as a race although each one held the lock.
final class PThreadLocked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value.
    func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&value)
    }
}
