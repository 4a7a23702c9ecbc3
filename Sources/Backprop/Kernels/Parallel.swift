import BackpropKernelsC
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How many threads the compute kernels use.
///
/// Kernels split their work into chunks whose boundaries depend only on the problem size, never on
/// the worker count, and no reduction is split across chunks in a way that changes its order, so
/// every result is bit-for-bit the same with 1 worker or many. The default is the number of active
/// processors, or the `BACKPROP_THREADS` environment variable when set.
public enum Parallelism {
    private static let configuredWorkers = Atomic<Int>(defaultWorkerCount())

    private static func defaultWorkerCount() -> Int {
        if let text = getenv("BACKPROP_THREADS"), let value = Int(String(cString: text)), value > 0 {
            return value
        }
        return Swift.max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// The number of threads kernels run on (at least 1).
    ///
    /// Safe to change at any time; a kernel already running keeps the count it started with.
    public static var workerCount: Int {
        get { configuredWorkers.load(ordering: .relaxed) }
        set { configuredWorkers.store(Swift.max(1, newValue), ordering: .relaxed) }
    }

    /// Whether regions run on the spinning pool of BackpropKernelsC (`BACKPROP_POOL=0` uses Dispatch only).
    static let usesPool: Bool = {
        guard let text = getenv("BACKPROP_POOL") else { return true }
        return String(cString: text) != "0"
    }()

    /// Runs `body(chunk)` for every chunk in `0..<chunks`, spread over the workers.
    ///
    /// Chunks must write disjoint memory. The caller picks `chunks` from the problem size alone.
    static func forEach(chunks: Int, _ body: (Int) -> Void) {
        MemoryPolicy.activate()
        let workers = Swift.min(workerCount, chunks)
        if workers <= 1 {
            for chunk in 0..<chunks { body(chunk) }
            return
        }
        // Workers take the next chunk as they finish one; which worker runs a chunk never changes
        // what the chunk computes. The pool of BackpropKernelsC (helpers that spin between the
        // back-to-back regions of a step) runs the region when it is free; otherwise (another
        // thread's region, or a region nested in a chunk) Dispatch does.
        let ranOnPool = usesPool && withoutActuallyEscaping(body) { body -> Bool in
            var context = body
            return withUnsafeMutablePointer(to: &context) { pointer in
                bp_parallel_run(chunks, Int32(workers), { context, chunk in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(chunk)
                }, pointer) != 0
            }
        }
        if ranOnPool { return }
        let next = ChunkCounter()
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while true {
                    let chunk = next.value.wrappingAdd(1, ordering: .relaxed).oldValue
                    if chunk >= chunks { break }
                    box.value(chunk)
                }
            }
        }
    }

    /// Splits `0..<count` into fixed ranges of `grain` elements (the last may be shorter) and runs
    /// `body(range)` for each, in parallel when there is more than one.
    static func forEach(count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = (count + grain - 1) / grain
        if chunks == 1 { body(0..<count); return }
        forEach(chunks: chunks) { chunk in
            let start = chunk * grain
            body(start..<Swift.min(start + grain, count))
        }
    }
}

/// Hands a non-`Sendable` value to worker threads whose accesses the caller keeps disjoint.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// The shared index of the next chunk to run.
final class ChunkCounter: Sendable {
    let value = Atomic<Int>(0)
}
