import BackpropKernelsC

/// The inference-only path of multi-head attention: when nothing is being recorded, the heads'
/// `softmax(Q·Kᵀ/√d + M)·V` is computed by one fused kernel (`bp_attention_f32`) that reads the
/// projected `[N, length, E]` tensors in place and writes the merged heads, with no tape records,
/// permutes or score tensors. It computes what `scaledDotProductAttention` computes (the tests
/// compare the two); the float sums of the scores and of the softmax run in a different order.
///
/// - Returns: The merged heads `[N, L, E]` (before the output projection), or `nil` when the
///   fast path does not apply: a gradient is needed, the scalar type is `Double`, or a shape is
///   degenerate.
func inferenceAttention<Scalar: TensorScalar>(query: Variable<Scalar>, key: Variable<Scalar>, value: Variable<Scalar>,
                                              headCount: Int, causal: Bool, keyPaddingMask: [[Bool]]?,
                                              attentionMask: AttentionMask<Scalar>?) -> Variable<Scalar>? {
    guard Scalar.self == Float.self,
          !(GradientMode.isEnabled && (query.requiresGradient || key.requiresGradient || value.requiresGradient)) else { return nil }
    let (batchSize, queryLength, embedDimension) = (query.shape[0], query.shape[1], query.shape[2])
    let keyLength = key.shape[1]
    guard batchSize > 0, queryLength > 0, keyLength > 0, embedDimension > 0 else { return nil }
    let headDimension = embedDimension / headCount
    let op = "scaledDotProductAttention"

    // One additive mask [N|1, H|1, L|1, S] with 0 or −∞ (or the caller's additive values), read
    // through strides; nil when nothing is masked but causality.
    var mask: Tensor<Scalar>?
    if let keyPaddingMask {
        guard keyPaddingMask.count == batchSize, keyPaddingMask.allSatisfy({ $0.count == keyLength }) else {
            usageError(op, "keyPaddingMask must have shape [N, S] = [\(batchSize), \(keyLength)], got \(keyPaddingMask.count) rows of lengths \(keyPaddingMask.map(\.count))")
        }
        mask = Tensor(shape: [batchSize, 1, 1, keyLength], scalars: keyPaddingMask.flatMap { $0.map { $0 ? -Scalar.infinity : 0 } })
    }
    if let attentionMask {
        let additive: Tensor<Scalar>
        switch attentionMask.resolved(batchSize: batchSize, headCount: headCount, queryLength: queryLength, keyLength: keyLength, op: op) {
        case .additive(let values): additive = values
        case .blocking(let blocked): additive = Tensor(shape: blocked.shape, scalars: blocked.scalars.map { $0 != 0 ? -Scalar.infinity : 0 })
        }
        mask = mask.map { $0 + additive } ?? additive
    }
    var maskStrides = [0, 0, 0, 0]
    if let mask {
        let own = Tensor<Scalar>.strides(of: mask.shape)
        for axis in 0..<4 where mask.shape[axis] != 1 { maskStrides[axis] = own[axis] }
    }

    let output = Tensor<Scalar>(shape: [batchSize, queryLength, embedDimension]) { out in
        query.value.scalars.withUnsafeBufferPointer { q in
            key.value.scalars.withUnsafeBufferPointer { k in
                value.value.scalars.withUnsafeBufferPointer { v in
                    (mask?.scalars ?? []).withUnsafeBufferPointer { m in
                        let qp = UnsafeRawPointer(q.baseAddress!).assumingMemoryBound(to: Float.self)
                        let kp = UnsafeRawPointer(k.baseAddress!).assumingMemoryBound(to: Float.self)
                        let vp = UnsafeRawPointer(v.baseAddress!).assumingMemoryBound(to: Float.self)
                        let op = UnsafeMutableRawPointer(out.baseAddress!).assumingMemoryBound(to: Float.self)
                        let mp = mask == nil ? nil : m.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: Float.self) }
                        let tasks = batchSize * headCount
                        // Tasks in fixed chunks (at least ~64k multiply-adds each), one scratch per chunk.
                        let work = Swift.max(1, queryLength * keyLength * headDimension * 2)
                        let perChunk = Swift.max(1, (1 << 16) / work)
                        let scratchCount = Int(bp_attention_scratch_floats(keyLength, headDimension))
                        Parallelism.forEach(count: tasks, grain: perChunk) { range in
                            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
                            defer { scratch.deallocate() }
                            bp_attention_f32(-1, qp, kp, vp, op, headCount, queryLength, keyLength, headDimension,
                                             queryLength * embedDimension, embedDimension, keyLength * embedDimension, embedDimension,
                                             keyLength * embedDimension, embedDimension, queryLength * embedDimension, embedDimension,
                                             Float(1 / Double(headDimension).squareRoot()), mp, maskStrides[0], maskStrides[1],
                                             maskStrides[2], maskStrides[3], causal ? 1 : 0, scratch, range.lowerBound, range.upperBound)
                        }
                    }
                }
            }
        }
    }
    return Variable(value: output, tape: query.tape ?? key.tape ?? value.tape, node: -1)
}
