import Foundation

/// A training progress display: a bar, the step, the loss, the throughput and the time left.
///
/// On a terminal it redraws one line in place (at most ten times a second, and at the last step);
/// when the output is not a terminal (a log file, CI) it prints a plain line every `linesEvery` steps
/// and at the last one, so logs stay readable.
///
/// ```swift
/// let progress = ProgressBar(total: steps, label: "training", unit: "samples")
/// for step in 1...steps {
///     …
///     progress.update(step: step, loss: loss.item, processed: step * batchSize)
/// }
/// ```
public final class ProgressBar {
    private let total: Int
    private let label: String
    private let unit: String
    private let isTerminal: Bool
    private let linesEvery: Int
    private let write: (String) -> Void
    private let now: () -> Double
    private let start: Double
    private var lastDraw = -Double.infinity

    /// Creates a display for `total` steps.
    ///
    /// - Parameters:
    ///   - total: The number of steps.
    ///   - label: A short name printed first.
    ///   - unit: What the throughput counts ("samples", "tokens").
    ///   - linesEvery: When not on a terminal, print every this many steps (default: ten lines in all).
    ///   - isTerminal: Redraw in place (default: whether standard output is a terminal).
    ///   - output: Where the text goes (default: standard output).
    ///   - clock: Seconds from any origin (default: the wall clock); for tests.
    public init(total: Int, label: String, unit: String = "steps", linesEvery: Int? = nil, isTerminal: Bool? = nil,
                output: ((String) -> Void)? = nil, clock: (() -> Double)? = nil) {
        self.total = Swift.max(total, 1)
        self.label = label
        self.unit = unit
        self.isTerminal = isTerminal ?? (isatty(1) != 0)
        self.linesEvery = Swift.max(linesEvery ?? total / 10, 1)
        self.write = output ?? { text in FileHandle.standardOutput.write(Data(text.utf8)) }
        self.now = clock ?? { Date().timeIntervalSinceReferenceDate }
        start = self.now()
    }

    /// Reports step `step` (1-based) with the current loss and how many units were processed so far.
    public func update(step: Int, loss: Double, processed: Int) {
        let time = now()
        let elapsed = time - start
        let rate = Double(processed) / Swift.max(elapsed, 1e-9)
        let remaining = step > 0 ? elapsed / Double(step) * Double(Swift.max(total - step, 0)) : 0
        let status = "\(step)/\(total)  loss \(Self.format(loss, digits: 4))  \(Self.format(rate, digits: 0)) \(unit)/s  ETA \(Self.duration(remaining))"
        if isTerminal {
            guard step >= total || time - lastDraw >= 0.1 else { return }
            lastDraw = time
            let width = 28
            let filled = Swift.min(width, width * step / total)
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            write("\r\u{1B}[2K\(label) \(bar) \(status)" + (step >= total ? "\n" : ""))
        } else if step % linesEvery == 0 || step >= total {
            write("\(label) step \(status)\n")
        }
    }

    /// Seconds since the display was created.
    public var elapsed: Double { now() - start }

    /// `value` with `digits` decimals.
    static func format(_ value: Double, digits: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        return String(format: "%.\(digits)f", value)
    }

    /// `1h02m`, `3m05s` or `12s`.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" }
        if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s)s"
    }
}
