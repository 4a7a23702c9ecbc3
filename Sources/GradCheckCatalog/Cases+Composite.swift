import Backprop

extension Catalog {
    /// Small compositions, checked end to end (chain rule, fan-out, broadcasting together).
    static var compositeCases: [GradCheckCase] {
        [
            GradCheckCase("mlp[x=4x3,w1=3x5,b1=5,w2=5x2]", inputs: Inputs.tensors([[4, 3], [3, 5], [5], [5, 2]], seed: 21)) { v in
                (v[0].matmul(v[1]) + v[2]).tanh().matmul(v[3]).logSoftmax().mean()
            },
            GradCheckCase("attentionScores[2x3x4]", inputs: Inputs.tensors([[2, 3, 4], [2, 3, 4]], seed: 22)) { v in
                (v[0].matmul(v[1].transposed()) / 2).softmax().matmul(v[1])
            },
            GradCheckCase("normalizeByHand[3x4]", inputs: Inputs.tensors([[3, 4]], seed: 23)) { v in
                let centered = v[0] - v[0].mean(alongAxes: [1], keepDims: true)
                return centered * (v[0].variance(alongAxes: [1], correction: 0, keepDims: true) + 1e-5).rsqrt()
            },
        ]
    }
}
