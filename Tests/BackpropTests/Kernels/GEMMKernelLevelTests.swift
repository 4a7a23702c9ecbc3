import Testing
@testable import Backprop

/// Every instruction-set level of the C GEMM kernels (portable, AVX2+FMA, AVX-512: those this CPU
/// has), checked against the textbook triple loop on odd shapes, and for independence of the
/// worker count. A CPU with AVX-512 thereby also tests the AVX2 path CI machines without it run.
@Suite("GEMM kernel levels")
struct GEMMKernelLevelTests {
    /// Sizes below, at and past every register tile (4, 6, 12 rows; 4 to 32 columns) and panel.
    static let sizes = [1, 3, 13, 17, 33, 130]
    static let levels = Array(0...GEMM.bestKernelLevel)

    /// Halves of small integers: every product and every sum below is exact in Float and in Double,
    /// whatever the summation order, so each level must give the triple loop's value exactly.
    static func entry(_ index: Int, seed: Int) -> Double {
        Double(((index &* 7919 &+ seed &* 104_729) % 23) - 11) / 2
    }

    /// The logical operands and `A·B` of every shape, by the triple loop, computed once for all tests.
    static let cases: [(m: Int, n: Int, k: Int, a: [Double], b: [Double], product: [Double])] = {
        var cases: [(m: Int, n: Int, k: Int, a: [Double], b: [Double], product: [Double])] = []
        for m in sizes { for n in sizes { for k in sizes {
            let a = (0..<(m * k)).map { entry($0, seed: 1) }, b = (0..<(k * n)).map { entry($0, seed: 2) }
            var product = [Double](repeating: 0, count: m * n)
            a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in
                product.withUnsafeMutableBufferPointer { c in
                    for i in 0..<m { for p in 0..<k {
                        let x = a[i * k + p]
                        for j in 0..<n { c[i * n + j] += x * b[p * n + j] }
                    } }
                }
            } }
            cases.append((m, n, k, a, b, product))
        } } }
        return cases
    }()

    /// `rows × columns` row-major values, stored transposed when `transposed`.
    static func layout<Scalar: TensorScalar>(_ values: [Double], rows: Int, columns: Int, transposed: Bool) -> [Scalar] {
        guard transposed else { return values.map { Scalar($0) } }
        var out = [Scalar](repeating: 0, count: values.count)
        for r in 0..<rows { for c in 0..<columns { out[c * rows + r] = Scalar(values[r * columns + c]) } }
        return out
    }

    func check<Scalar: TensorScalar>(_ type: Scalar.Type, level: Int) {
        var failures = 0
        for shape in Self.cases {
            let (m, n, k) = (shape.m, shape.n, shape.k)
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a: [Scalar] = Self.layout(shape.a, rows: m, columns: k, transposed: ta)
                let b: [Scalar] = Self.layout(shape.b, rows: k, columns: n, transposed: tb)
                for accumulate in [false, true] {
                    let initial = (0..<(m * n)).map { Double($0 % 7) - 3 }
                    var c = accumulate ? initial.map { Scalar($0) } : [Scalar](repeating: .nan, count: m * n)
                    a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            GEMM.multiply(pa.baseAddress!, transposeA: ta, pb.baseAddress!, transposeB: tb, m: m, n: n, k: k,
                                          into: pc.baseAddress!, accumulate: accumulate, kernelLevel: level)
                        }
                    } }
                    let expected = accumulate ? zip(initial, shape.product).map { $0 + $1 } : shape.product
                    if !zip(c, expected).allSatisfy({ Double($0) == $1 }) {
                        failures += 1
                        if failures <= 5 {
                            Issue.record("\(Scalar.self) level \(level): m \(m) n \(n) k \(k) transposeA \(ta) transposeB \(tb) accumulate \(accumulate) differs from the triple loop")
                        }
                    }
                }
            }
        }
        #expect(failures == 0)
    }

    @Test(arguments: levels) func floatMatchesTripleLoopOnOddShapes(level: Int) { check(Float.self, level: level) }

    @Test(arguments: levels) func doubleMatchesTripleLoopOnOddShapes(level: Int) { check(Double.self, level: level) }
}

/// Each level gives bit-identical products with 1 and 2 workers: tiles depend on the shape only and
/// k is never split across workers.
@Suite("GEMM results do not depend on the worker count", .serialized)
struct GEMMWorkerCountTests {
    func product<Scalar: TensorScalar>(_ a: [Scalar], _ b: [Scalar], m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool,
                                       level: Int, workers: Int) -> [Scalar] {
        let saved = Parallelism.workerCount
        Parallelism.workerCount = workers
        defer { Parallelism.workerCount = saved }
        var c = [Scalar](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                GEMM.multiply(pa.baseAddress!, transposeA: transposeA, pb.baseAddress!, transposeB: transposeB, m: m, n: n, k: k,
                              into: pc.baseAddress!, accumulate: false, kernelLevel: level)
            }
        } }
        return c
    }

    func check<Scalar: TensorScalar>(_ type: Scalar.Type) {
        // Several row and column tiles, and k across two blocks of 256; values with inexact sums.
        // Then a few hundred rows and at most 1024 columns, whose row tiles follow the worker
        // count (one per worker: 2 tiles with one or two workers, 3 with three), from 257 rows up.
        for (m, n, k) in [(300, 530, 600), (530, 200, 300), (330, 250, 70)] {
            var generator = SeededGenerator(seed: 13)
            let a = Tensor<Scalar>.randomNormal(shape: [m * k], using: &generator).scalars
            let b = Tensor<Scalar>.randomNormal(shape: [k * n], using: &generator).scalars
            for level in GEMMKernelLevelTests.levels {
                for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                    let one = product(a, b, m: m, n: n, k: k, transposeA: ta, transposeB: tb, level: level, workers: 1)
                    for workers in m == 300 ? [2] : [2, 3] {
                        let other = product(a, b, m: m, n: n, k: k, transposeA: ta, transposeB: tb, level: level, workers: workers)
                        #expect(one == other, "\(Scalar.self) \(m)×\(n)×\(k) level \(level) transposeA \(ta) transposeB \(tb) workers \(workers)")
                    }
                }
            }
        }
    }

    /// The AVX2 and AVX-512 kernels make the same fused multiply-adds in the same order, so on a
    /// CPU with AVX-512 they must agree bit for bit (the portable level, without FMA, need not).
    func checkVectorLevelsAgree<Scalar: TensorScalar>(_ type: Scalar.Type) {
        guard GEMM.bestKernelLevel >= 2 else { return }
        let (m, n, k) = (77, 301, 530)
        var generator = SeededGenerator(seed: 17)
        let a = Tensor<Scalar>.randomNormal(shape: [m * k], using: &generator).scalars
        let b = Tensor<Scalar>.randomNormal(shape: [k * n], using: &generator).scalars
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let avx2 = product(a, b, m: m, n: n, k: k, transposeA: ta, transposeB: tb, level: 1, workers: 2)
            let avx512 = product(a, b, m: m, n: n, k: k, transposeA: ta, transposeB: tb, level: 2, workers: 2)
            #expect(avx2 == avx512, "\(Scalar.self) transposeA \(ta) transposeB \(tb)")
        }
    }

    @Test func avx2AndAVX512LevelsAgreeBitForBit() {
        checkVectorLevelsAgree(Float.self)
        checkVectorLevelsAgree(Double.self)
    }

    @Test func floatIsBitIdenticalWithOneAndTwoWorkers() { check(Float.self) }

    @Test func doubleIsBitIdenticalWithOneAndTwoWorkers() { check(Double.self) }
}

/// A product cut into several column tiles packs op(A) once for all of them; each column of C must
/// still be the sum it is when its strip of B is multiplied alone (one column tile, A packed per
/// tile), bit for bit: packing moves data and never changes a summation order.
@Suite("GEMM with op(A) packed once per product")
struct GEMMPackedATests {
    func check<Scalar: TensorScalar>(_ type: Scalar.Type) {
        // 300 × 530 makes 3 × 3 tiles; strips of 96 columns make one column tile each.
        let (m, n, k, strip) = (300, 530, 600, 96)
        var generator = SeededGenerator(seed: 29)
        let a = Tensor<Scalar>.randomNormal(shape: [m * k], using: &generator).scalars
        let b = Tensor<Scalar>.randomNormal(shape: [k * n], using: &generator).scalars
        for level in GEMMKernelLevelTests.levels {
            for transposeA in [false, true] {
                var whole = [Scalar](repeating: 0, count: m * n)
                GEMM.multiply(a, transposeA: transposeA, b, transposeB: false, m: m, n: n, k: k,
                              into: &whole, accumulate: false, kernelLevel: level)
                var mismatches = 0
                for j0 in stride(from: 0, to: n, by: strip) {
                    let width = Swift.min(strip, n - j0)
                    var bStrip = [Scalar](repeating: 0, count: k * width)
                    for p in 0..<k { for j in 0..<width { bStrip[p * width + j] = b[p * n + j0 + j] } }
                    var part = [Scalar](repeating: 0, count: m * width)
                    GEMM.multiply(a, transposeA: transposeA, bStrip, transposeB: false, m: m, n: width, k: k,
                                  into: &part, accumulate: false, kernelLevel: level)
                    for i in 0..<m { for j in 0..<width where part[i * width + j] != whole[i * n + j0 + j] { mismatches += 1 } }
                }
                #expect(mismatches == 0, "\(Scalar.self) level \(level) transposeA \(transposeA)")
            }
        }
    }

    @Test func floatColumnTilesMatchStripsBitForBit() { check(Float.self) }

    @Test func doubleColumnTilesMatchStripsBitForBit() { check(Double.self) }
}

/// The two drivers of a product cut into column tiles, column strips that pack their own op(B)
/// (`runCStrips`) and tiles over op(A) and op(B) both packed whole (`runCPackedA`), give the same
/// sums bit for bit, for every level, transpose and accumulation.
@Suite("GEMM column strips and packed tiles agree")
struct GEMMStripTests {
    func check<Scalar: CGEMMScalar>(_ type: Scalar.Type) {
        // Several column tiles; k over two blocks; a last strip narrower than the others.
        let (m, n, k) = (150, 700, 300)
        var generator = SeededGenerator(seed: 31)
        let a = Tensor<Scalar>.randomNormal(shape: [m * k], using: &generator).scalars
        let b = Tensor<Scalar>.randomNormal(shape: [k * n], using: &generator).scalars
        let initial = Tensor<Scalar>.randomNormal(shape: [m * n], using: &generator).scalars
        for level in GEMMKernelLevelTests.levels {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                for accumulate in [false, true] {
                    let layout = GEMM.Layout(transposeA: ta, transposeB: tb, m: m, n: n, k: k)
                    #expect(layout.columnTiles > 1)
                    var strips = initial, tiles = initial
                    a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
                        strips.withUnsafeMutableBufferPointer { c in
                            GEMM.runCStrips(pa.baseAddress!, pb.baseAddress!, c.baseAddress!, layout, accumulate: accumulate,
                                            isa: Int32(level))
                        }
                        tiles.withUnsafeMutableBufferPointer { c in
                            GEMM.runCPackedA(pa.baseAddress!, pb.baseAddress!, c.baseAddress!, layout, accumulate: accumulate,
                                             isa: Int32(level))
                        }
                    } }
                    #expect(strips == tiles, "\(Scalar.self) level \(level) transposeA \(ta) transposeB \(tb) accumulate \(accumulate)")
                }
            }
        }
    }

    @Test func floatStripsMatchPackedTilesBitForBit() { check(Float.self) }

    @Test func doubleStripsMatchPackedTilesBitForBit() { check(Double.self) }
}

/// A bias given to the GEMM (added by the micro-kernel to its first block of sums) gives exactly
/// the value of filling C with the bias rows and accumulating, on every path: B read in place
/// (few rows), one column tile with B packed whole, column strips, and tiles over both operands
/// packed whole (more rows than strips take).
@Suite("GEMM with a bias")
struct GEMMBiasTests {
    func check<Scalar: TensorScalar>(_ type: Scalar.Type) {
        let shapes = [(13, 40, 17), (300, 200, 100), (150, 700, 300), (2100, 1100, 8), (5, 3, 0)]
        var generator = SeededGenerator(seed: 37)
        for (m, n, k) in shapes {
            let a = Tensor<Scalar>.randomNormal(shape: [m * k], using: &generator).scalars
            let b = Tensor<Scalar>.randomNormal(shape: [k * n], using: &generator).scalars
            let bias = Tensor<Scalar>.randomNormal(shape: [n], using: &generator).scalars
            for level in GEMMKernelLevelTests.levels {
                for (ta, tb) in [(false, false), (false, true), (true, false)] {
                    var fused = [Scalar](repeating: .nan, count: m * n)
                    var filled = (0..<m).flatMap { _ in bias }
                    bias.withUnsafeBufferPointer { pbias in
                        GEMM.multiply(a, transposeA: ta, b, transposeB: tb, m: m, n: n, k: k, into: &fused,
                                      accumulate: false, bias: pbias.baseAddress, kernelLevel: level)
                    }
                    GEMM.multiply(a, transposeA: ta, b, transposeB: tb, m: m, n: n, k: k, into: &filled,
                                  accumulate: true, kernelLevel: level)
                    #expect(fused == filled, "\(Scalar.self) level \(level) m \(m) n \(n) k \(k) transposeA \(ta) transposeB \(tb)")
                }
            }
        }
    }

    @Test func floatBiasMatchesFillAndAccumulate() { check(Float.self) }

    @Test func doubleBiasMatchesFillAndAccumulate() { check(Double.self) }
}
