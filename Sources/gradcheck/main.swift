import Backprop
import GradCheckCatalog
#if canImport(Glibc)
import Glibc
#endif

/// Writes a message to standard error.
func printError(_ message: String) {
    var line = message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

let usage = """
USAGE: gradcheck [--filter SUBSTRING] [--mode full|fast] [--order N] [--json] [--verbose]

Runs the gradient-check catalog: every op and layer's tape gradient against central finite
differences in Double (and, for fused layers, against their reference decomposition).

  --filter SUBSTRING  run only cases whose name contains SUBSTRING (ignoring case)
  --mode full|fast    full Jacobian (default) or random projections
  --order N           the order of the derivative to check (default 1; 2 is PyTorch's gradgradcheck)
  --json              print a JSON array instead of the table
  --verbose           print the verifier's report for failing cases
"""

var filter = ""
var mode = GradientCheckOptions.Mode.full
var order = 1
var json = false
var verbose = false
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--filter":
        guard let value = arguments.popFirst() else { printError("gradcheck: --filter needs a value"); exit(2) }
        filter = value
    case "--mode":
        guard let value = arguments.popFirst(), let m = GradientCheckOptions.Mode(rawValue: value) else {
            printError("gradcheck: --mode must be 'full' or 'fast'"); exit(2)
        }
        mode = m
    case "--order":
        guard let value = arguments.popFirst(), let n = Int(value), n >= 1 else {
            printError("gradcheck: --order needs a positive integer"); exit(2)
        }
        order = n
    case "--json": json = true
    case "--verbose": verbose = true
    case "--help", "-h": print(usage); exit(0)
    default:
        printError("gradcheck: unknown argument '\(argument)'\n\(usage)"); exit(2)
    }
}

let cases = Catalog.cases(matching: filter)
if cases.isEmpty {
    printError("gradcheck: no case matches '\(filter)'")
    exit(2)
}


func scientific(_ x: Double) -> String {
    guard x.isFinite else { return "\(x)" }
    // Values below 1e-300 (subnormal differences) print as zero rather than overflow the mantissa.
    if Swift.abs(x) < 1e-300 { return "0.0e+00" }
    let exponent = Int((Swift.abs(x)).log10Floor)
    let mantissa = x / pow10(exponent)
    let m = (mantissa * 100).rounded() / 100
    return "\(String(format2: m))e\(exponent < 0 ? "-" : "+")\(Swift.abs(exponent) < 10 ? "0" : "")\(Swift.abs(exponent))"
}

func pow10(_ e: Int) -> Double { var r = 1.0; for _ in 0..<Swift.abs(e) { r *= 10 }; return e < 0 ? 1 / r : r }

extension Double {
    var log10Floor: Double {
        var e = 0.0, v = self
        while v >= 10 { v /= 10; e += 1 }
        while v < 1 { v *= 10; e -= 1 }
        return e
    }
}

extension String {
    init(format2 value: Double) {
        let negative = value < 0
        let scaled = Int((Swift.abs(value) * 100).rounded())
        let fraction = scaled % 100
        self = (negative ? "-" : "") + "\(scaled / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)"
    }
}

func jsonString(_ s: String) -> String {
    var out = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default:
            if c.value < 0x20 { out += "\\u00" + (c.value < 16 ? "0" : "") + String(c.value, radix: 16) } else { out.unicodeScalars.append(c) }
        }
    }
    return out + "\""
}

func jsonNumber(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }

var passed = 0, failed = 0
var objects: [String] = []
let nameWidth = min(60, cases.map(\.name.count).max() ?? 20)
if !json {
    print("case".padding(nameWidth) + "  max abs err  max rel err  ref err      time      result")
}
for c in cases {
    let outcome = c.run(mode: mode, order: order)
    if outcome.passed { passed += 1 } else { failed += 1 }
    if json {
        objects.append("""
          {"name": \(jsonString(outcome.name)), "passed": \(outcome.passed), "maxAbsError": \(jsonNumber(outcome.maxAbsoluteError)), \
        "maxRelError": \(jsonNumber(outcome.maxRelativeError)), "referenceError": \(outcome.referenceError.map(jsonNumber) ?? "null"), \
        "seconds": \(jsonNumber(outcome.seconds)), "mode": "\(mode.rawValue)", "order": \(order)\(outcome.passed ? "" : ", \"detail\": \(jsonString(outcome.detail))")}
        """)
    } else {
        let ref = outcome.referenceError.map(scientific) ?? "-"
        print(outcome.name.padding(nameWidth) + "  " + scientific(outcome.maxAbsoluteError).padding(11) + "  "
              + scientific(outcome.maxRelativeError).padding(11) + "  " + ref.padding(11) + "  "
              + (String(format2: outcome.seconds * 1000) + "ms").padding(8) + "  " + (outcome.passed ? "PASS" : "FAIL"))
        if !outcome.passed && verbose { print(outcome.detail.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")) }
    }
}
if json {
    print("[\n" + objects.joined(separator: ",\n") + "\n]")
} else {
    print("\(passed) passed, \(failed) failed")
}
exit(failed == 0 ? 0 : 1)

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
