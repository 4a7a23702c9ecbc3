import Foundation

/// Runs `python3 ARGUMENTS` with `input` on its standard input; `nil` when python3 cannot be started.
func runPython(_ arguments: [String], input: Data? = nil) -> (status: Int32, output: Data, error: Data)? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3"] + arguments
    let stdout = Pipe(), stderr = Pipe(), stdin = Pipe()
    (process.standardOutput, process.standardError, process.standardInput) = (stdout, stderr, stdin)
    do { try process.run() } catch { return nil }
    // Standard error is drained on another thread, so a chatty child never blocks on a full pipe.
    let errorData = ErrorCollector()
    let drained = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        errorData.set(stderr.fileHandleForReading.readDataToEndOfFile())
        drained.signal()
    }
    if let input { stdin.fileHandleForWriting.write(input) }
    try? stdin.fileHandleForWriting.close()
    let output = stdout.fileHandleForReading.readDataToEndOfFile()
    drained.wait()
    process.waitUntilExit()
    return (process.terminationStatus, output, errorData.get())
}

/// Standard error of a child process, written by the thread that drains it.
private final class ErrorCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ value: Data) { lock.withLock { data = value } }
    func get() -> Data { lock.withLock { data } }
}

/// Whether `python3 -c "import torch"` works; says how to fix it on standard error when not.
let pythonHasTorch: Bool = {
    guard let probe = runPython(["-c", "import torch"]), probe.status == 0 else {
        FileHandle.standardError.write(Data("""
        benchmark: comparing with PyTorch needs python3 with PyTorch, but `python3 -c "import torch"` failed; \
        install torch (e.g. `pip install torch`) or run without --compare-pytorch / --sweep.\n
        """.utf8))
        return false
    }
    return true
}()

/// Parses the JSON object a reference prints: name → {"min": ms, "median": ms}, or name → ms (one
/// statistic, used as both).
func parseTimings(_ data: Data) -> [String: Timing]? {
    guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
    var timings: [String: Timing] = [:]
    for (name, value) in object {
        if let both = value as? [String: Any], let min = (both["min"] as? NSNumber)?.doubleValue,
           let median = (both["median"] as? NSNumber)?.doubleValue {
            timings[name] = Timing(min: min, median: median)
        } else if let single = (value as? NSNumber)?.doubleValue {
            timings[name] = Timing(min: single, median: single)
        }
    }
    return timings
}

/// Runs a Python program (`script`, given on standard input with `arguments`) that prints timings;
/// `nil` with its standard error shown when it fails.
func runTimingScript(_ script: String, arguments: [String], what: String) -> [String: Timing]? {
    guard pythonHasTorch else { return nil }
    let run = runPython(["-"] + arguments, input: Data(script.utf8))
    guard let run, run.status == 0, let timings = parseTimings(run.output) else {
        FileHandle.standardError.write(Data("benchmark: \(what) failed:\n".utf8))
        if let run { FileHandle.standardError.write(run.error) }
        return nil
    }
    return timings
}

/// Runs the embedded reference script on the named workloads, both statistics per workload.
func runPyTorch(names: [String], reps: Int, threads: Int) -> [String: Timing]? {
    runTimingScript(pytorchReferenceScript,
                    arguments: ["--only", names.joined(separator: ","), "--reps", String(reps),
                                "--threads", String(threads), "--stat", "both"],
                    what: "the PyTorch reference")
}
