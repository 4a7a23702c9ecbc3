import Backprop

/// Checks, against central finite differences, the gradient of a function computed jointly by all
/// ranks — for example a loss through `SyncBatchNorm`, whose every output depends on every rank's input.
///
/// The checked function is `F(x₀, …, x_{W−1}) = Σ_r f_r`, where `f_r = function(inputs of rank r)` is
/// computed on rank r (and may use collectives such as `SyncBatchNorm`); the ranks' `f_r` are summed by
/// an all-reduce whose backward is the identity (each rank's copy of `∂L/∂F` flows into its own `f_r`).
/// The ranks take turns: in turn q, every rank runs the public `checkGradients` in lockstep, rank q
/// with its own inputs perturbed and every other rank holding its inputs fixed (through
/// `v − detached(v) + x`, exact in value and transparent to gradients), so rank q's finite differences
/// are partial derivatives with respect to its own inputs only. Each rank's result is its own turn's.
///
/// Every rank must call this together, with inputs of the same shapes (the finite differences run in
/// lockstep, one function evaluation per element in `.full` mode) and a function making the same
/// collectives on every rank.
///
/// - Parameters:
///   - inputs: This rank's inputs.
///   - group: The processes.
///   - options: Mode and tolerances, as for `checkGradients`.
///   - function: This rank's part `f_r` of the checked function; its output must have the same shape on
///     every rank.
/// - Returns: This rank's check of `∂F/∂x_rank`.
/// - Throws: `DistributedError.shapeMismatch` when the ranks' inputs differ in shape; any error of the
///   collectives.
public func checkGradientsAcrossProcesses(
    at inputs: [Tensor<Double>],
    group: ProcessGroup,
    options: GradientCheckOptions = GradientCheckOptions(),
    of function: ([Variable<Double>]) -> Variable<Double>
) throws(DistributedError) -> GradientCheckResult {
    // Compare the ranks' input shapes (both all-gathers give every rank the same data, so every rank
    // reaches the same verdict and none is left waiting in a collective).
    let descriptor = inputs.flatMap { [Double($0.rank)] + $0.shape.map(Double.init) }
    let lengths = try group.allGather([Double(descriptor.count)], call: "checkGradientsAcrossProcesses (shapes)")
    var sameShapes = lengths.allSatisfy { $0 == lengths[0] }
    if sameShapes {
        let all = try group.allGather(descriptor, call: "checkGradientsAcrossProcesses (shapes)")
        sameShapes = Set(all.chunks(of: descriptor.count)).count <= 1
    }
    guard sameShapes else {
        throw .invalidArgument(call: "checkGradientsAcrossProcesses", reason: "every rank must check inputs of the same shapes; this rank's are \(inputs.map(\.shape))")
    }
    var own: GradientCheckResult?
    for turn in 0..<group.worldSize {
        let result = checkGradients(at: inputs, options: options) { variables in
            let local = group.rank == turn ? variables : zip(variables, inputs).map { v, x in v - v.detached() + Variable(x) }
            return AllReduceSumOperation(group: group).callAsFunction([function(local)])
        }
        if turn == group.rank { own = result }
    }
    return own!
}

/// `Σ_ranks x`, whose backward passes the gradient through unchanged: every rank holds the sum and
/// seeds its own copy, so the identity is the gradient of each rank's share.
struct AllReduceSumOperation: DifferentiableOperation {
    var group: ProcessGroup
    var name: String { "allReduceSum" }

    func forward(_ inputs: [Tensor<Double>]) -> (output: Tensor<Double>, saved: Void) {
        var sum = inputs[0]
        do { try group.allReduce(&sum, .sum) } catch { usageError("allReduceSum", error.description) }
        return (sum, ())
    }

    func backward(_ gradient: Tensor<Double>, saved: Void, inputsNeedingGradient: [Bool]) -> [Tensor<Double>?] {
        [gradient]
    }
}

extension Array {
    /// Consecutive slices of `size` elements (the last may be shorter); `[]` when `size` is 0.
    func chunks(of size: Int) -> [ArraySlice<Element>] {
        guard size > 0 else { return [] }
        return Swift.stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
