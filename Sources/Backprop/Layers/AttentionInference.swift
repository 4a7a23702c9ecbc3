/// The inference-only path of multi-head attention: when nothing is being recorded, the heads'
/// `softmax(Q·Kᵀ/√d + M)·V` is computed by one fused kernel reading the projected `[N, length, E]`
/// tensors in place, with no tape records, permutes or score tensors.
///
/// - Returns: The merged heads `[N, L, E]` (before the output projection), or `nil` when the
///   fast path does not apply (a gradient is needed, or the scalar type or mask is not handled).
func inferenceAttention<Scalar: TensorScalar>(query: Variable<Scalar>, key: Variable<Scalar>, value: Variable<Scalar>,
                                              headCount: Int, causal: Bool, keyPaddingMask: [[Bool]]?,
                                              attentionMask: AttentionMask<Scalar>?) -> Variable<Scalar>? {
    nil
}
