import Backprop
import BenchmarkRoofline
import Foundation

/// The least work a workload must do, which bounds its time from below on a given machine.
enum MinimalWork {
    /// Floating-point precision of an arithmetic bound.
    enum Precision { case float, double }

    /// Bytes that must move between the cores and memory: each input read once, each output written once.
    case bytes(Double)
    /// Floating-point operations, a multiply-add counting 2.
    case flops(Double, Precision)

    /// `"50.3 MB"` or `"2.15 GFLOP"` (with `" f64"` for `Double`).
    var description: String {
        switch self {
        case .bytes(let bytes): String(format: "%.3g MB", bytes / 1e6)
        case .flops(let flops, let precision):
            (flops >= 1e8 ? String(format: "%.3g GFLOP", flops / 1e9) : String(format: "%.3g MFLOP", flops / 1e6))
                + (precision == .double ? " f64" : "")
        }
    }
}

/// This machine's limits, measured in this invocation on the benchmark's worker count.
struct MachineLimits {
    /// The vector level of the loops (`BENCH_ISA_*`).
    var isa: Int32
    /// The threads the loops ran on.
    var workers: Int
    /// Single-precision FMA peak, GFLOP/s over all workers.
    var floatPeak: Double
    /// Double-precision FMA peak, GFLOP/s over all workers.
    var doublePeak: Double
    /// Triad bandwidth on arrays far larger than the last-level cache, GB/s.
    var memoryBandwidth: Double
    /// Triad bandwidth on arrays that fit the last-level cache but not the per-core caches, GB/s.
    var cacheBandwidth: Double

    /// Bytes per array of the memory triad (256 MiB) and of the cache triad (4 MiB).
    static let memoryArrayBytes = 256 << 20, cacheArrayBytes = 4 << 20

    /// Measures the limits: every worker runs the same loop on its own data (register-resident
    /// FMAs) or its own slice (the triad) and times itself in thread CPU time, so the time another
    /// process held the core does not count; a limit is the sum of the workers' rates, best of
    /// several trials. (Other processes still share the memory bus and the last-level cache.)
    static func measure(workers: Int) -> MachineLimits {
        let isa = bench_best_isa()
        // About 10 ms per trial at ~3 GHz: 12 FMAs per iteration, two per cycle.
        let iterations = 5_000_000
        let floatPeak = bestRate(workers: workers, trials: 20) { _ in bench_fma_f32(isa, iterations) } / 1e9
        let doublePeak = bestRate(workers: workers, trials: 20) { _ in bench_fma_f64(isa, iterations) } / 1e9
        let memory = triadBandwidth(isa: isa, workers: workers, arrayBytes: memoryArrayBytes, sweeps: 1, trials: 7)
        let cache = triadBandwidth(isa: isa, workers: workers, arrayBytes: cacheArrayBytes, sweeps: 20, trials: 20)
        return MachineLimits(isa: isa, workers: workers, floatPeak: floatPeak, doublePeak: doublePeak,
                             memoryBandwidth: memory, cacheBandwidth: cache)
    }

    /// The best over `trials` of the summed rates of `workers` threads each running `work(worker)`,
    /// which returns the amount done, per second of the thread's CPU time.
    static func bestRate(workers: Int, trials: Int, _ work: @escaping @Sendable (Int) -> Double) -> Double {
        (0..<trials).map { _ in
            let rates = RateSum()
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                let start = bench_thread_cpu_seconds()
                let amount = work(worker)
                rates.add(amount / Swift.max(bench_thread_cpu_seconds() - start, 1e-9))
            }
            return rates.total
        }.max()!
    }

    /// `a = b + s·c` over three arrays of `arrayBytes`, `sweeps` times per trial, in GB/s as
    /// STREAM counts it (12 bytes per element): the best of `trials`.
    static func triadBandwidth(isa: Int32, workers: Int, arrayBytes: Int, sweeps: Int, trials: Int) -> Double {
        let count = arrayBytes / MemoryLayout<Float>.size
        let arrays = UncheckedArrays(a: .allocate(capacity: count), b: .allocate(capacity: count), c: .allocate(capacity: count))
        defer { arrays.a.deallocate(); arrays.b.deallocate(); arrays.c.deallocate() }
        let slice = (count + workers - 1) / workers
        @Sendable func range(_ worker: Int) -> (start: Int, length: Int) {
            let start = worker * slice
            return (start, Swift.max(0, Swift.min(slice, count - start)))
        }
        // Each worker first touches its own slice, as the trials will use it.
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let (start, n) = range(worker)
            (arrays.a + start).initialize(repeating: 0, count: n)
            (arrays.b + start).initialize(repeating: 1, count: n)
            (arrays.c + start).initialize(repeating: 2, count: n)
        }
        return bestRate(workers: workers, trials: trials) { worker in
            let (start, n) = range(worker)
            for _ in 0..<sweeps { bench_triad_f32(isa, arrays.a + start, arrays.b + start, arrays.c + start, 0.5, n) }
            return 12 * Double(n) * Double(sweeps)
        } / 1e9
    }

    /// One line per limit, for the top of a roofline table.
    var description: String {
        let level = ["portable (SSE2)", "AVX2 + FMA", "AVX-512F"][Int(isa)]
        return """
        roofline limits, \(workers) thread\(workers == 1 ? "" : "s"), \(level), measured in this invocation (per second of thread CPU time):
          FMA peak      \(String(format: "%7.1f", floatPeak)) GFLOP/s float, \(String(format: "%.1f", doublePeak)) GFLOP/s double (register-resident loop)
          triad memory  \(String(format: "%7.1f", memoryBandwidth)) GB/s (3 × \(Self.memoryArrayBytes >> 20) MiB)
          triad cache   \(String(format: "%7.1f", cacheBandwidth)) GB/s (3 × \(Self.cacheArrayBytes >> 20) MiB)
        """
    }

    /// The rate `work` reaches in `milliseconds` and its fraction of this machine's limit for that
    /// kind of work (the memory triad for bytes; the FMA peak of the precision for flops), with
    /// the cache triad's fraction for bytes.
    func reached(_ work: MinimalWork, milliseconds: Double) -> (rate: String, fraction: Double, cacheFraction: Double?) {
        let seconds = milliseconds / 1e3
        switch work {
        case .bytes(let bytes):
            let rate = bytes / seconds / 1e9
            return (String(format: "%.1f GB/s", rate), rate / memoryBandwidth, rate / cacheBandwidth)
        case .flops(let flops, let precision):
            let rate = flops / seconds / 1e9
            return (String(format: "%.1f GFLOP/s", rate), rate / (precision == .double ? doublePeak : floatPeak), nil)
        }
    }
}

/// The workers' rates of one trial, summed.
private final class RateSum: @unchecked Sendable {
    private let lock = NSLock()
    private var sum = 0.0
    func add(_ rate: Double) { lock.withLock { sum += rate } }
    var total: Double { lock.withLock { sum } }
}

/// The triad's arrays, shared by its workers (each writes only its own slice of `a`).
private struct UncheckedArrays: @unchecked Sendable {
    let a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>
}

/// Prints, per workload with a known minimal work, the rate each side reached and its fraction of
/// the machine's limit, from the `statistic` of its timings (medians over rounds).
func printRoofline(_ selected: [Workload], ours: [String: [Timing]], theirs: [String: [Timing]]?,
                   limits: MachineLimits, statistic: Statistic) {
    func cell(_ text: String, _ width: Int) -> String { String(repeating: " ", count: Swift.max(0, width - text.count)) + text }
    func percent(_ value: Double) -> String { String(format: "%.0f %%", 100 * value) }
    let nameWidth = Swift.max(22, (selected.map(\.name.count).max() ?? 0) + 1)
    print("")
    print("roofline (\(statistic.rawValue) times; memory-bound rows: of the memory triad, and in brackets of the cache triad):")
    var header = "\("workload".padding(toLength: nameWidth, withPad: " ", startingAt: 0)) \(cell("minimal work", 16)) \(cell("Backprop ms", 12)) \(cell("reached", 14)) \(cell("of limit", 16))"
    if theirs != nil { header += " \(cell("PyTorch ms", 12)) \(cell("reached", 14)) \(cell("of limit", 16))" }
    print(header)
    for workload in selected {
        guard let work = workload.minimalWork, let mine = ours[workload.name], !mine.isEmpty else { continue }
        func side(_ timings: [Timing]?) -> String {
            guard let timings, !timings.isEmpty else { return " \(cell("-", 12)) \(cell("-", 14)) \(cell("-", 16))" }
            let ms = median(timings.map { $0[statistic] })
            let (rate, fraction, cacheFraction) = limits.reached(work, milliseconds: ms)
            let share = percent(fraction) + (cacheFraction.map { " (\(percent($0)))" } ?? "")
            return " \(cell(String(format: "%.3f", ms), 12)) \(cell(rate, 14)) \(cell(share, 16))"
        }
        var line = "\(workload.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0)) \(cell(work.description, 16))" + side(mine)
        if let theirs { line += side(theirs[workload.name]) }
        print(line)
    }
}
