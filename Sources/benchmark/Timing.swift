import Foundation

/// The fastest and the median wall time of a workload's timed runs, in milliseconds.
struct Timing {
    /// The fastest run: the least disturbed by other work on a shared machine.
    var min: Double
    /// The median run: what a typical run costs.
    var median: Double

    /// The value of `statistic`.
    subscript(_ statistic: Statistic) -> Double {
        statistic == .min ? min : median
    }
}

/// Which summary of the timed runs a number or a ratio uses.
enum Statistic: String, CaseIterable {
    case min, median
}

/// Wall time of one call of `run`, in milliseconds.
func milliseconds(_ run: () -> Void) -> Double {
    let elapsed = ContinuousClock().measure(run)
    return Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) * 1e-15
}

/// The fastest and the median of `reps` runs after 3 warm-up runs, as the reference script times them.
func measure(reps: Int, _ run: () -> Void) -> Timing {
    for _ in 0..<3 { run() }
    let times = (0..<reps).map { _ in milliseconds(run) }
    return summary(of: times)
}

/// Like `measure`, with a time budget: after two warm-up runs, as many runs as fit in
/// `budgetSeconds` (by the second warm-up's time), at least 3 and at most `reps`. The sweeps' Python
/// side applies the same rule, so a large shape costs a few runs and a small one gets `reps`.
func measure(reps: Int, budgetSeconds: Double, _ run: () -> Void) -> Timing {
    run()
    let first = milliseconds(run)
    let count = Swift.max(3, Swift.min(reps, Int(budgetSeconds * 1e3 / Swift.max(first, 1e-3))))
    return summary(of: (0..<count).map { _ in milliseconds(run) })
}

/// The fastest and the median (the upper middle of an even count, as the reference script) of a non-empty list.
func summary(of times: [Double]) -> Timing {
    let sorted = times.sorted()
    return Timing(min: sorted[0], median: sorted[sorted.count / 2])
}

/// The median of a non-empty list (the mean of the two middle values of an even count).
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
