/// Modules applied one after another (PyTorch's `nn.Sequential`); its children are named `"0"`, `"1"`, ….
public final class Sequential<Scalar: TensorScalar>: Module {
    /// The layers, in order.
    public var layers: [any Module<Scalar>]

    /// Creates a sequence of layers.
    public init(_ layers: [any Module<Scalar>]) {
        self.layers = layers
    }

    /// Creates a sequence of layers.
    public convenience init(_ layers: any Module<Scalar>...) {
        self.init(layers)
    }

    /// The layers named by index, as PyTorch names a `Sequential`'s children.
    public var namedChildren: [(name: String, value: Any)] {
        layers.enumerated().map { (String($0.offset), $0.element as Any) }
    }

    /// Applies every layer in order.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        layers.reduce(x) { $1($0) }
    }
}
