import Backprop

extension Catalog {
    static var softmaxCases: [GradCheckCase] {
        var cases: [GradCheckCase] = []
        for (shape, axis) in [([5], -1), ([3, 4], -1), ([3, 4], 0), ([2, 3, 4], 1), ([2, 1], -1)] {
            let s = "\(shapeName(shape)),axis=\(axis)"
            cases.append(GradCheckCase("softmax[\(s)]", inputs: Inputs.tensors([shape])) { $0[0].softmax(alongAxis: axis) })
            cases.append(GradCheckCase("logSoftmax[\(s)]", inputs: Inputs.tensors([shape])) { $0[0].logSoftmax(alongAxis: axis) })
            cases.append(GradCheckCase("logSumExp[\(s)]", inputs: Inputs.tensors([shape])) { $0[0].logSumExp(alongAxes: [axis]) })
        }
        cases.append(GradCheckCase("logSumExp[2x3x4,axes=0,2,keepDims]", inputs: Inputs.tensors([[2, 3, 4]])) { $0[0].logSumExp(alongAxes: [0, 2], keepDims: true) })
        cases.append(GradCheckCase("logSumExp[large=1000]", inputs: [Inputs.tensor([2, 4], seed: 3) + 1000]) { $0[0].logSumExp(alongAxes: [1]) })
        cases.append(GradCheckCase("logSoftmax[large=-800]", inputs: [Inputs.tensor([2, 4], seed: 4) - 800]) { $0[0].logSoftmax() })
        return cases
    }
}
