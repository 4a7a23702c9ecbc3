/// Packed copies of `Linear` weights, kept between inference calls.
///
/// A product `x·Wᵀ` first packs `Wᵀ` into the panels its micro-kernel reads; for all-MiniLM-L6-v2
/// that packing is about 5 % of an inference. When a `Linear` layer (or a separate query, key,
/// value or output projection of `MultiHeadAttention`) runs with nothing to record (inside
/// `withoutGradients`, or with its parameters frozen), it packs its weight once and keeps the
/// packed copy with the parameter, as ONNX Runtime prepacks constant weights. The copy takes
/// about as much memory as the weight. It is dropped as soon as the parameter's value is set or
/// mutated (an optimizer step, `loadStateDict`), so it is never stale, and it is never made while
/// gradients are recorded. The results are the same bit for bit with or without it.
///
/// Turn it off to save the memory:
///
/// ```swift
/// PackedWeightCache.isEnabled = false
/// ```
public enum PackedWeightCache {
    private static let enabled = PThreadLocked(true)

    /// Whether inference-time `Linear` products keep packed copies of their weights (default `true`).
    /// Turning it off stops new copies and their use; existing ones are dropped when next met.
    public static var isEnabled: Bool {
        get { enabled.withLock { $0 } }
        set { enabled.withLock { $0 = newValue } }
    }
}

extension Parameter {
    /// The packed copy of this weight `[n, k]` at the current kernel level, made on first use; `nil`
    /// when the cache is off, or for a scalar type or shape the C kernels do not take.
    func packedWeight<S: CGEMMScalar>(as type: S.Type) -> PackedWeight<S>? {
        guard Scalar.self == S.self, value.rank == 2, value.shape[0] > 0, value.shape[1] > 1, GEMM.path == .c else { return nil }
        guard PackedWeightCache.isEnabled else {
            packedCopy.withLock { $0 = nil }
            return nil
        }
        let level = GEMM.kernelLevel
        return packedCopy.withLock { copy -> PackedWeight<S>? in
            if let packed = copy as? PackedWeight<S>, packed.level == level { return packed }
            let (n, k) = (value.shape[0], value.shape[1])
            let packed = value.scalars.withUnsafeBufferPointer { w in
                w.withMemoryRebound(to: S.self) { PackedWeight(UnsafePointer($0.baseAddress!), n: n, k: k, level: level) }
            }
            copy = packed
            return packed
        }
    }
}
