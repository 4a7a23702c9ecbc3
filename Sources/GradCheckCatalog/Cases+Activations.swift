import Backprop

extension Catalog {
    static var activationCases: [GradCheckCase] {
        var cases: [GradCheckCase] = []
        for shape in [[6], [2, 3, 2]] {
            let s = shapeName(shape)
            cases.append(GradCheckCase("tanh[\(s)]", inputs: Inputs.tensors([shape])) { $0[0].tanh() })
            cases.append(GradCheckCase("sigmoid[\(s)]", inputs: Inputs.tensors([shape])) { $0[0].sigmoid() })
            cases.append(GradCheckCase("relu[\(s)]", inputs: Inputs.tensors([shape], domain: .awayFromZero)) { $0[0].relu() })
            cases.append(GradCheckCase("leakyRelu[\(s)]", inputs: Inputs.tensors([shape], domain: .awayFromZero)) { $0[0].leakyRelu(negativeSlope: 0.1) })
            cases.append(GradCheckCase("elu[\(s)]", inputs: Inputs.tensors([shape], domain: .awayFromZero)) { $0[0].elu(alpha: 1.3) })
            cases.append(GradCheckCase("gelu[\(s)]", inputs: Inputs.tensors([shape])) { $0[0].gelu() })
            cases.append(GradCheckCase("geluTanh[\(s)]", inputs: Inputs.tensors([shape])) { $0[0].gelu(approximation: .tanh) })
            cases.append(GradCheckCase("silu[\(s)]", inputs: Inputs.tensors([shape])) { $0[0].silu() })
            cases.append(GradCheckCase("softplus[\(s)]", inputs: Inputs.tensors([shape])) { $0[0].softplus() })
        }
        cases.append(GradCheckCase("softplus[beta=2,threshold=1,6]", inputs: [Tensor([-3, -0.7, 0.1, 0.3, 1.2, 4])]) { $0[0].softplus(beta: 2, threshold: 1) })
        cases.append(GradCheckCase("sigmoid[large]", inputs: [Tensor([-40, -12, 0.5, 12, 40])]) { $0[0].sigmoid() })
        cases.append(GradCheckCase("dropout[4x5,p=0.3,training]", inputs: Inputs.tensors([[4, 5]])) { v in
            var generator = SeededGenerator(seed: 11)   // the same mask on every evaluation
            return v[0].dropout(probability: 0.3, isTraining: true, using: &generator)
        })
        cases.append(GradCheckCase("dropout[4x5,eval]", inputs: Inputs.tensors([[4, 5]])) { v in
            var generator = SeededGenerator(seed: 11)
            return v[0].dropout(probability: 0.3, isTraining: false, using: &generator)
        })
        return cases
    }
}
