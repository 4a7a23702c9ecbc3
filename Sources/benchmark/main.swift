// `swift run -c release benchmark [--only NAME,...] [--reps N] [--threads N] [--compare-pytorch]`
//
// Times the workloads of `pytorch_reference.py` on Backprop and prints one JSON object,
// workload name → median milliseconds. With `--compare-pytorch` it also runs the reference on
// PyTorch in the same invocation and prints a side-by-side table; `--rounds N` alternates the two
// N times and reports medians over the rounds (the machine may be shared and noisy).
import Backprop
import Foundation

struct Options {
    var only: Set<String> = []
    var reps = 20
    var threads: Int?
    var comparePyTorch = false
    var rounds = 1
}

func usage() -> String {
    var text = """
    usage: benchmark [--only NAME,...] [--reps N] [--threads N] [--compare-pytorch [--rounds N]]

      --only NAME,...     run only these workloads
      --reps N            timed repetitions per workload (default 20; mlp_step runs 10×N)
      --threads N         worker threads for Backprop and PyTorch (default: Backprop's worker count)
      --compare-pytorch   also time the same workloads on PyTorch and print a ratio table
      --rounds N          with --compare-pytorch: alternate Backprop and PyTorch N times (default 1)
                          and report the median time of each side and the median and range of the
                          per-round ratios

    Environment: BACKPROP_THREADS sets the worker count; BACKPROP_GEMM=swift times the pure-Swift
    float GEMM; BACKPROP_SGEMM_ISA=0|1|2 forces the portable, AVX2 or AVX-512 C micro-kernel.

    workloads:

    """
    let width = workloads.map(\.name.count).max() ?? 0
    for workload in workloads {
        let padded = workload.name.padding(toLength: width, withPad: " ", startingAt: 0)
        text += "  \(padded)  \(workload.summary)\n"
    }
    return text
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(2)
}

func parseOptions() -> Options {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst()
    func value(_ flag: String) -> String {
        guard let next = arguments.popFirst() else { fail("benchmark: \(flag) needs a value\n\n\(usage())") }
        return next
    }
    while let argument = arguments.popFirst() {
        switch argument {
        case "--only":
            options.only = Set(value(argument).split(separator: ",").map(String.init))
            let known = Set(workloads.map(\.name))
            for name in options.only where !known.contains(name) {
                fail("benchmark: unknown workload \(name); known: \(workloads.map(\.name).joined(separator: ", "))")
            }
        case "--reps":
            guard let reps = Int(value(argument)), reps > 0 else { fail("benchmark: --reps needs a positive integer") }
            options.reps = reps
        case "--threads":
            guard let threads = Int(value(argument)), threads > 0 else { fail("benchmark: --threads needs a positive integer") }
            options.threads = threads
        case "--compare-pytorch":
            options.comparePyTorch = true
        case "--rounds":
            guard let rounds = Int(value(argument)), rounds > 0 else { fail("benchmark: --rounds needs a positive integer") }
            options.rounds = rounds
        case "--help", "-h":
            print(usage())
            exit(0)
        default:
            fail("benchmark: unknown argument \(argument)\n\n\(usage())")
        }
    }
    return options
}

/// The median wall time of `reps` runs after 3 warm-up runs, in milliseconds.
func medianMilliseconds(reps: Int, _ run: () -> Void) -> Double {
    for _ in 0..<3 { run() }
    var times: [Double] = []
    times.reserveCapacity(reps)
    let clock = ContinuousClock()
    for _ in 0..<reps {
        let elapsed = clock.measure(run)
        times.append(Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) * 1e-15)
    }
    times.sort()
    return times[times.count / 2]
}

func jsonObject(_ results: [(String, Double)]) -> String {
    let lines = results.map { "  \"\($0.0)\": \((($0.1 * 1e4).rounded() / 1e4))" }
    return "{\n" + lines.joined(separator: ",\n") + "\n}"
}

/// Runs the shipped reference script on PyTorch; `nil` with a message on stderr when it cannot.
func runPyTorch(names: [String], reps: Int, threads: Int) -> [String: Double]? {
    func python(_ arguments: [String], input: String?) -> (status: Int32, output: Data, error: Data)? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let stdout = Pipe(), stderr = Pipe(), stdin = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = stdin
        do { try process.run() } catch { return nil }
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try? stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let error = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, output, error)
    }
    guard let probe = python(["-c", "import torch"], input: nil), probe.status == 0 else {
        FileHandle.standardError.write(Data("""
        benchmark: --compare-pytorch needs python3 with PyTorch, but `python3 -c "import torch"` failed; \
        install torch (e.g. `pip install torch`) or run without --compare-pytorch.\n
        """.utf8))
        return nil
    }
    let arguments = ["-", "--only", names.joined(separator: ","), "--reps", String(reps), "--threads", String(threads)]
    let run = python(arguments, input: pytorchReferenceScript)
    guard let run, run.status == 0,
          let object = try? JSONSerialization.jsonObject(with: run.output) as? [String: Any] else {
        FileHandle.standardError.write(Data("benchmark: the PyTorch reference failed:\n".utf8))
        if let run { FileHandle.standardError.write(run.error) }
        return nil
    }
    return object.compactMapValues { ($0 as? NSNumber)?.doubleValue }
}

/// The median of a non-empty list.
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// Times every selected workload once (median of `reps` runs each).
func runBackprop(_ selected: [Workload], reps: Int) -> [(String, Double)] {
    selected.map { workload in
        let run = workload.prepare()
        return (workload.name, medianMilliseconds(reps: reps * workload.repetitionFactor, run))
    }
}

let options = parseOptions()
if let threads = options.threads { Parallelism.workerCount = threads }
let selected = workloads.filter { options.only.isEmpty || options.only.contains($0.name) }
guard options.comparePyTorch else {
    print(jsonObject(runBackprop(selected, reps: options.reps)))
    exit(0)
}

// Rounds alternate the two sides, so a slow spell of a shared machine hits both.
var ours: [String: [Double]] = [:]
var theirs: [String: [Double]] = [:]
var ratios: [String: [Double]] = [:]
for round in 0..<options.rounds {
    let results = runBackprop(selected, reps: options.reps)
    if round == 0 { print(jsonObject(results)) }
    guard let reference = runPyTorchReferences(names: results.map(\.0), reps: options.reps, threads: Parallelism.workerCount) else {
        exit(1)
    }
    for (name, milliseconds) in results {
        ours[name, default: []].append(milliseconds)
        if let torch = reference[name] {
            theirs[name, default: []].append(torch)
            ratios[name, default: []].append(torch / milliseconds)
        }
    }
}
func cell(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: Swift.max(0, width - text.count)) + text
}
func format(_ value: Double) -> String { String(format: "%.3f", value) }
print("")
print("threads: \(Parallelism.workerCount), reps: \(options.reps), rounds: \(options.rounds)"
      + (options.rounds > 1 ? " (medians over rounds; range = lowest–highest per-round ratio)" : ""))
var header = "\("workload".padding(toLength: 22, withPad: " ", startingAt: 0)) \(cell("PyTorch ms", 12)) \(cell("Backprop ms", 12)) \(cell("ratio", 8))"
if options.rounds > 1 { header += " \(cell("range", 14))" }
print(header)
for workload in selected {
    let name = workload.name
    let mine = median(ours[name] ?? [])
    let torch = theirs[name].map(median)
    let ratio = ratios[name].map { format(median($0)) } ?? "-"
    var line = "\(name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(cell(torch.map(format) ?? "-", 12)) \(cell(format(mine), 12)) \(cell(ratio, 8))"
    if options.rounds > 1 {
        let range = ratios[name].map { String(format: "%.2f–%.2f", $0.min()!, $0.max()!) } ?? "-"
        line += " \(cell(range, 14))"
    }
    print(line)
}
