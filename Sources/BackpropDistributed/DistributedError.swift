/// Why a distributed operation failed. Every case names the call that failed.
///
/// After `.mpi`, `.timeout` or `.groupUnusable` the process group cannot be used for further
/// collectives (the ranks may no longer agree on which collective comes next): stop the program, for
/// example with `ProcessGroup.abort(errorCode:)`, which makes `mpirun` end every rank.
public enum DistributedError: Error, Equatable, CustomStringConvertible, Sendable {
    /// Open MPI could not be loaded (not installed, wrong library, missing symbol).
    case libraryUnavailable(reason: String)
    /// An MPI call returned an error code; `message` is MPI's text for it.
    case mpi(call: String, code: Int32, message: String)
    /// A collective did not complete within the group's timeout (a peer died, hangs, or called a
    /// different collective).
    case timeout(call: String, seconds: Double, rank: Int)
    /// The ranks passed tensors of different shapes to a collective that needs equal ones; `shapes`
    /// holds every rank's shape, by rank.
    case shapeMismatch(call: String, shapes: [[Int]])
    /// An argument is invalid on this rank (a root out of range, a non-finite timeout, …).
    case invalidArgument(call: String, reason: String)
    /// A collective was attempted after an earlier one failed or timed out.
    case groupUnusable(call: String, cause: String)
    /// The call failed on other ranks (`ranks`); this rank's part succeeded.
    case remoteFailure(call: String, ranks: [Int], detail: String)
    /// Replicas that must be identical differ (parameters after a broadcast, a checkpoint that loaded
    /// differently on some ranks).
    case replicasDiverged(call: String, detail: String)

    /// A sentence naming the call, the values and the rule broken.
    public var description: String {
        switch self {
        case .libraryUnavailable(let reason):
            return "MPI unavailable: \(reason)"
        case .mpi(let call, let code, let message):
            return "\(call) failed with MPI error \(code): \(message)"
        case .timeout(let call, let seconds, let rank):
            return "\(call) on rank \(rank) did not complete within \(seconds) s: a peer process has died, hangs, or called a different collective; the process group is no longer usable"
        case .shapeMismatch(let call, let shapes):
            let list = shapes.enumerated().map { "rank \($0.offset): \($0.element)" }.joined(separator: ", ")
            return "\(call): every rank must pass a tensor of the same shape, got \(list)"
        case .invalidArgument(let call, let reason):
            return "\(call): \(reason)"
        case .groupUnusable(let call, let cause):
            return "\(call): the process group is unusable after an earlier failure (\(cause))"
        case .remoteFailure(let call, let ranks, let detail):
            return "\(call) failed on rank\(ranks.count == 1 ? "" : "s") \(ranks.map(String.init).joined(separator: ", ")): \(detail)"
        case .replicasDiverged(let call, let detail):
            return "\(call): replicas differ across ranks: \(detail)"
        }
    }
}
