// `swift run -c release benchmark [--only NAME,...] [--reps N] [--threads N] [--compare-pytorch [--rounds N]]
//                                 [--stat min|median] [--sweep normalization|gemm|conv] [--roofline]`
//
// Times the workloads of `pytorch_reference.py` on Backprop and prints one JSON object,
// workload name → median (or `--stat min`: fastest) milliseconds. With `--compare-pytorch` it also
// runs the reference on PyTorch in the same invocation and prints a side-by-side table of both
// statistics; `--rounds N` alternates the two N times (the machine may be shared and noisy).
// `--sweep FAMILY` compares one family over a grid of shapes; `--roofline` measures this machine's
// FMA peak and memory bandwidth and prints how close each workload comes to them.
import Backprop
import Foundation

/// The command line, parsed.
struct Options {
    /// The workloads to run; empty runs all.
    var only: Set<String> = []
    /// Timed repetitions per workload (the most per shape in a sweep).
    var reps = 20
    /// Worker threads for both sides; `nil` keeps Backprop's default.
    var threads: Int?
    /// Also time the workloads on PyTorch.
    var comparePyTorch = false
    /// How many times the two sides alternate.
    var rounds = 1
    /// The statistic of the ratio column; `nil` shows both.
    var statistic: Statistic?
    /// The family to sweep over its grid of shapes, instead of the workloads.
    var sweep: SweepFamily?
    /// Measure the machine's limits and print each workload's fraction of them.
    var roofline = false
}

/// The `--help` text, with every workload's summary.
func usage() -> String {
    var text = """
    usage: benchmark [--only NAME,...] [--reps N] [--threads N] [--compare-pytorch] [--rounds N]
                     [--stat min|median] [--sweep normalization|gemm|conv] [--roofline]

      --only NAME,...     run only these workloads
      --reps N            timed repetitions per workload (default 20; mlp_step runs 10×N)
      --threads N         worker threads for Backprop and PyTorch (default: Backprop's worker count)
      --compare-pytorch   also time the same workloads on PyTorch and print both sides' fastest and
                          median times and the two ratios PyTorch ms / Backprop ms
      --rounds N          with --compare-pytorch or --sweep: alternate Backprop and PyTorch N times
                          (default 1); times and ratios are medians over the rounds, with the range
                          of the per-round ratios
      --stat min|median   the statistic of the ratio column (default: both) and of the JSON output
                          (default: median)
      --sweep FAMILY      compare one family over a grid of shapes on both sides, one ratio per shape:
                          normalization (BatchNorm 1d/2d, LayerNorm, RMSNorm, GroupNorm, InstanceNorm,
                          fwd and fwdbwd), gemm (square, non-square, transposed, Double) or conv
                          (3×3 and 1×1, stride 1 and 2); each shape runs as many of --reps as fit in
                          0.25 s (at least 3), on both sides
      --roofline          measure this machine's FMA peak and triad bandwidth on the worker threads,
                          then print for each workload (or swept shape) its minimal flops or bytes,
                          the rate reached and its fraction of that limit (fastest times unless
                          --stat median)

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

/// Prints `message` to standard error and exits with status 2.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(2)
}

/// Parses the command line, failing with a message on anything it does not know.
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
        case "--stat":
            let text = value(argument)
            guard let statistic = Statistic(rawValue: text) else { fail("benchmark: --stat must be min or median, got \(text)") }
            options.statistic = statistic
        case "--sweep":
            let text = value(argument)
            guard let family = SweepFamily(rawValue: text) else {
                fail("benchmark: --sweep must be one of \(SweepFamily.allCases.map(\.rawValue).joined(separator: ", ")), got \(text)")
            }
            options.sweep = family
        case "--roofline":
            options.roofline = true
        case "--help", "-h":
            print(usage())
            exit(0)
        default:
            fail("benchmark: unknown argument \(argument)\n\n\(usage())")
        }
    }
    if options.sweep != nil && !options.only.isEmpty {
        fail("benchmark: --only selects workloads and cannot be combined with --sweep, which runs its whole grid")
    }
    return options
}

/// `{"name": milliseconds, …}` of one statistic, in the workloads' order.
func jsonObject(_ results: [(String, Timing)], statistic: Statistic) -> String {
    let lines = results.map { "  \"\($0.0)\": \((($0.1[statistic] * 1e4).rounded() / 1e4))" }
    return "{\n" + lines.joined(separator: ",\n") + "\n}"
}

/// Times every selected workload once (`reps` runs each after 3 warm-up runs).
func runBackprop(_ selected: [Workload], reps: Int) -> [(String, Timing)] {
    selected.map { workload in
        let run = workload.prepare()
        return (workload.name, measure(reps: reps * workload.repetitionFactor, run))
    }
}

let options = parseOptions()
_ = loadAverageAtStart
if let threads = options.threads { Parallelism.workerCount = threads }
let limits = options.roofline ? MachineLimits.measure(workers: Parallelism.workerCount) : nil
if let limits { print(limits.description) }
if let family = options.sweep {
    runSweep(family, options: options, limits: limits)
    exit(0)
}
let selected = workloads.filter { options.only.isEmpty || options.only.contains($0.name) }
guard options.comparePyTorch else {
    let results = runBackprop(selected, reps: options.reps)
    print(jsonObject(results, statistic: options.statistic ?? .median))
    if let limits {
        printRoofline(selected, ours: Dictionary(uniqueKeysWithValues: results.map { ($0.0, [$0.1]) }), theirs: nil,
                      limits: limits, statistic: options.statistic ?? .min)
    }
    exit(0)
}

// Rounds alternate the two sides, so a slow spell of a shared machine hits both.
var comparison = Comparison()
for round in 0..<options.rounds {
    let results = runBackprop(selected, reps: options.reps)
    if round == 0 { print(jsonObject(results, statistic: options.statistic ?? .median)) }
    guard let reference = runPyTorchReferences(names: results.map(\.0), reps: options.reps, threads: Parallelism.workerCount) else {
        exit(1)
    }
    comparison.add(ours: results, theirs: reference)
}
print("")
print("threads: \(Parallelism.workerCount), reps: \(options.reps), rounds: \(options.rounds)"
      + (loadAverageAtStart.map { ", load average at the start: \($0)" } ?? ""))
comparison.printTable(selected.map(\.name), statistic: options.statistic, rounds: options.rounds)
if let limits {
    printRoofline(selected, ours: comparison.ours, theirs: comparison.theirs, limits: limits, statistic: options.statistic ?? .min)
}
