/// A lookup table of learned vectors (PyTorch's `nn.Embedding`), initialized from `N(0, 1)`.
public final class Embedding<Scalar: TensorScalar>: Module {
    /// `[vocabularySize, dimension]`.
    public let weight: Parameter<Scalar>

    /// Creates a table with entries drawn from `N(0, 1)` as PyTorch does.
    public init(vocabularySize: Int, dimension: Int, generator: inout SeededGenerator) {
        guard vocabularySize > 0 && dimension > 0 else {
            usageError("Embedding", "vocabularySize \(vocabularySize) and dimension \(dimension) must be positive")
        }
        weight = Parameter(Tensor.randomNormal(shape: [vocabularySize, dimension], using: &generator))
    }

    /// Creates a table with the given rows `[vocabularySize, dimension]`, drawing no random values.
    public init(weight: Tensor<Scalar>) {
        guard weight.rank == 2, weight.shape[0] > 0, weight.shape[1] > 0 else {
            usageError("Embedding", "weight must have shape [vocabularySize, dimension] with both sizes positive, got \(weight.shape)")
        }
        self.weight = Parameter(weight)
    }

    /// The rows for `ids` (any shape `idShape`), shape `idShape + [dimension]`.
    ///
    /// Backward: each row's gradient is the sum of the output gradients at the positions that chose it.
    public func callAsFunction(_ ids: [Int], idShape: [Int]) -> Variable<Scalar> {
        IndexValidation.checkRange(ids, size: weight.shape[0], name: "id", op: "Embedding")
        return Variable(weight.value).embeddingLookup(ids, idShape: idShape)
    }

    /// The rows for `ids`, reading the table on `tape` so that it receives gradients.
    public func callAsFunction(_ ids: [Int], idShape: [Int], on tape: Tape<Scalar>) -> Variable<Scalar> {
        IndexValidation.checkRange(ids, size: weight.shape[0], name: "id", op: "Embedding")
        return tape.variable(for: weight).embeddingLookup(ids, idShape: idShape)
    }

    /// The rows for ids stored as values of `x`, on `x`'s tape. Each value must be a whole number in
    /// `0..<vocabularySize`: 1.7, −0.5, NaN or ±∞ stop with a message naming the id and its position
    /// (nothing is truncated).
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        let ids = IndexValidation.integers(x.value, size: weight.shape[0], name: "id", op: "Embedding")
        guard let tape = x.tape else { return self(ids, idShape: x.shape) }
        return self(ids, idShape: x.shape, on: tape)
    }
}
