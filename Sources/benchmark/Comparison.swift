import Foundation

/// Both sides' timings of each case, one per round, and the table that compares them.
struct Comparison {
    /// Backprop's timings by case name, one per round.
    var ours: [String: [Timing]] = [:]
    /// PyTorch's timings by case name, one per round.
    var theirs: [String: [Timing]] = [:]

    /// Records one round.
    mutating func add(ours results: [(String, Timing)], theirs reference: [String: Timing]) {
        for (name, timing) in results {
            ours[name, default: []].append(timing)
            if let torch = reference[name] { theirs[name, default: []].append(torch) }
        }
    }

    /// The per-round ratios PyTorch / Backprop of `statistic` (rounds where both sides ran).
    func ratios(_ name: String, _ statistic: Statistic) -> [Double] {
        zip(theirs[name] ?? [], ours[name] ?? []).map { $0[statistic] / $1[statistic] }
    }

    /// Prints one line per case: for each statistic shown (`nil`: both), PyTorch ms, Backprop ms
    /// and the ratio, each the median over the rounds, and with several rounds the range of the
    /// per-round ratios.
    func printTable(_ names: [String], statistic: Statistic?, rounds: Int) {
        let statistics = statistic.map { [$0] } ?? [.min, .median]
        func cell(_ text: String, _ width: Int) -> String { String(repeating: " ", count: Swift.max(0, width - text.count)) + text }
        func format(_ value: Double) -> String { String(format: "%.3f", value) }
        let nameWidth = Swift.max(22, (names.map(\.count).max() ?? 0) + 1)
        print("ratio = PyTorch ms / Backprop ms (above 1: Backprop is faster); min = fastest run, median = median run"
              + (rounds > 1 ? "; medians over the rounds, range = lowest–highest per-round ratio" : ""))
        var header = "workload".padding(toLength: nameWidth, withPad: " ", startingAt: 0)
        for statistic in statistics {
            let suffix = statistic.rawValue
            header += " \(cell("PyTorch \(suffix)", 15)) \(cell("Backprop \(suffix)", 15)) \(cell("ratio \(suffix)", 12))"
            if rounds > 1 { header += " \(cell("range", 13))" }
        }
        print(header)
        for name in names {
            var line = name.padding(toLength: nameWidth, withPad: " ", startingAt: 0)
            for statistic in statistics {
                let mine = ours[name].map { format(median($0.map { $0[statistic] })) } ?? "-"
                let torch = theirs[name].map { format(median($0.map { $0[statistic] })) } ?? "-"
                let perRound = ratios(name, statistic)
                line += " \(cell(torch, 15)) \(cell(mine, 15)) \(cell(perRound.isEmpty ? "-" : format(median(perRound)), 12))"
                if rounds > 1 {
                    line += " \(cell(perRound.isEmpty ? "-" : String(format: "%.2f–%.2f", perRound.min()!, perRound.max()!), 13))"
                }
            }
            print(line)
        }
    }
}

/// The one-minute load average from `/proc/loadavg` (`nil` elsewhere), printed with a table so a
/// reader can tell a quiet machine's numbers from a busy one's.
let loadAverageAtStart: String? = {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
    return text.split(separator: " ").first.map(String.init)
}()
