import Backprop
import Foundation

/// Command-line flags of the form `--name value` or `--name` (a switch), with usage text.
///
/// ```swift
/// var flags = Flags(usage: "quickstart [--steps N] [--seed S]")
/// let steps = flags.int("--steps", default: 600, help: "training steps")
/// flags.finish()   // rejects unknown flags, prints --help
/// ```
public struct Flags {
    private var arguments: [String]
    private var used: Set<String> = ["--help", "-h"]
    private var helpLines: [String] = []
    private let usage: String

    /// Reads `CommandLine.arguments`.
    public init(usage: String, arguments: [String] = Array(CommandLine.arguments.dropFirst())) {
        self.usage = usage
        self.arguments = arguments
    }

    private mutating func value(_ name: String, help: String, defaultText: String) -> String? {
        used.insert(name)
        helpLines.append("  \(name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(help) (default \(defaultText))")
        guard let i = arguments.firstIndex(of: name) else { return nil }
        guard i + 1 < arguments.count else { fail("\(name) needs a value") }
        return arguments[i + 1]
    }

    /// An integer flag.
    public mutating func int(_ name: String, default value: Int, help: String) -> Int {
        guard let text = self.value(name, help: help, defaultText: "\(value)") else { return value }
        guard let v = Int(text) else { fail("\(name) expects an integer, got '\(text)'") }
        return v
    }

    /// A floating-point flag.
    public mutating func double(_ name: String, default value: Double, help: String) -> Double {
        guard let text = self.value(name, help: help, defaultText: "\(value)") else { return value }
        guard let v = Double(text) else { fail("\(name) expects a number, got '\(text)'") }
        return v
    }

    /// A string flag.
    public mutating func string(_ name: String, default value: String, help: String) -> String {
        self.value(name, help: help, defaultText: value.isEmpty ? "none" : value) ?? value
    }

    /// A switch: true when present.
    public mutating func bool(_ name: String, help: String) -> Bool {
        used.insert(name)
        helpLines.append("  \(name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(help)")
        return arguments.contains(name)
    }

    /// Prints usage for `--help`, and rejects flags that were not declared.
    public func finish() {
        if arguments.contains("--help") || arguments.contains("-h") {
            print("USAGE: \(usage)\n\n" + helpLines.joined(separator: "\n"))
            exit(0)
        }
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a.hasPrefix("-") && !used.contains(a) { fail("unknown flag '\(a)'") }
            i += 1
        }
    }

    private func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("error: \(message)\nUSAGE: \(usage) (see --help)\n".utf8))
        exit(2)
    }
}

/// The examples' progress display: the library's `ProgressBar`.
public typealias Progress = ProgressBar

/// Formats rows as an aligned text table with a header rule.
public func textTable(_ header: [String], _ rows: [[String]]) -> String {
    let widths = header.indices.map { c in ([header[c]] + rows.map { c < $0.count ? $0[c] : "" }).map(\.count).max() ?? 0 }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
    }
    return ([line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line)).joined(separator: "\n")
}
