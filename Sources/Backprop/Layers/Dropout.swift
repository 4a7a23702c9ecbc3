/// Randomly zeroes elements with probability `probability` in training and scales the rest by
/// `1/(1 − p)`; the identity in evaluation (PyTorch's `nn.Dropout`).
///
/// The module owns its seeded generator, so a run is reproducible from the seed.
public final class Dropout<Scalar: TensorScalar>: Module {
    /// The chance of zeroing each element.
    public let probability: Scalar
    /// The source of the masks.
    public var generator: SeededGenerator

    /// Creates a dropout layer.
    ///
    /// - Parameters:
    ///   - probability: The chance of zeroing each element, in `[0, 1]` (PyTorch's default 0.5).
    ///   - seed: The seed of the module's mask generator.
    public init(probability: Scalar = 0.5, seed: UInt64 = 0) {
        Hyperparameter.checkProbability(probability, name: "probability", op: "Dropout")
        self.probability = probability
        generator = SeededGenerator(seed: seed)
    }

    /// Applies dropout in training, the identity in evaluation.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        x.dropout(probability: probability, isTraining: isTraining, using: &generator)
    }
}
