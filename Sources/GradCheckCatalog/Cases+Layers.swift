import Backprop

extension Catalog {
    /// Modules end to end: gradients with respect to the input through layers with fixed parameters.
    static var layerCases: [GradCheckCase] {
        [
            GradCheckCase("linear[module,x=2x3,in=3,out=4]", inputs: [Inputs.tensor([2, 3], seed: 901)],
                          reference: { v in
                              var generator = SeededGenerator(seed: 1)
                              let layer = Linear<Double>(inputSize: 3, outputSize: 4, generator: &generator)
                              return v[0].matmul(Variable(layer.weight.value).transposed()) + Variable(layer.bias!.value)
                          }) { v in
                var generator = SeededGenerator(seed: 1)
                return Linear<Double>(inputSize: 3, outputSize: 4, generator: &generator)(v[0])
            },
            GradCheckCase("sequential[module,x=2x2x3,linear-layernorm-gelu-linear]", inputs: [Inputs.tensor([2, 2, 3], seed: 902)]) { v in
                var generator = SeededGenerator(seed: 2)
                let model = Sequential<Double>(
                    Linear(inputSize: 3, outputSize: 4, generator: &generator), LayerNorm(normalizedShape: [4]),
                    GELU(), Linear(inputSize: 4, outputSize: 2, generator: &generator))
                return model(v[0])
            },
            GradCheckCase("sequential[module,x=3x4,linear-batchnorm-tanh,train]", inputs: [Inputs.tensor([3, 4], seed: 903)]) { v in
                var generator = SeededGenerator(seed: 3)
                let model = Sequential<Double>(Linear(inputSize: 4, outputSize: 2, generator: &generator), BatchNorm(numFeatures: 2), Tanh())
                return model(v[0])
            },
        ]
    }
}
