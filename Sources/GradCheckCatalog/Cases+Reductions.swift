import Backprop

extension Catalog {
    static var reductionCases: [GradCheckCase] {
        var cases: [GradCheckCase] = []
        let configurations: [([Int], [Int], Bool)] = [([5], [0], false), ([2, 3], [1], true), ([2, 3, 4], [0, 2], false), ([2, 3, 4], [1], true), ([3, 1, 2], [1], false)]
        for (shape, axes, keep) in configurations {
            let s = "\(shapeName(shape)),axes=\(axes.map(String.init).joined(separator: ","))\(keep ? ",keepDims" : "")"
            cases.append(GradCheckCase("sum[\(s)]", inputs: Inputs.tensors([shape])) { $0[0].sum(alongAxes: axes, keepDims: keep) })
            cases.append(GradCheckCase("mean[\(s)]", inputs: Inputs.tensors([shape])) { $0[0].mean(alongAxes: axes, keepDims: keep) })
            if axes.reduce(1, { $0 * shape[$1] }) > 1 {
                cases.append(GradCheckCase("variance[\(s),correction=1]", inputs: Inputs.tensors([shape])) { $0[0].variance(alongAxes: axes, correction: 1, keepDims: keep) })
                cases.append(GradCheckCase("variance[\(s),correction=0]", inputs: Inputs.tensors([shape])) { $0[0].variance(alongAxes: axes, correction: 0, keepDims: keep) })
            }
        }
        cases.append(GradCheckCase("sum[2x3,all]", inputs: Inputs.tensors([[2, 3]])) { $0[0].sum() })
        cases.append(GradCheckCase("mean[2x3,all]", inputs: Inputs.tensors([[2, 3]])) { $0[0].mean() })
        for (shape, axis) in [([6], 0), ([3, 4], 1), ([3, 4], 0), ([2, 3, 4], -1)] {
            let s = "\(shapeName(shape)),axis=\(axis)"
            cases.append(GradCheckCase("max[\(s)]", inputs: Inputs.tensors([shape])) { $0[0].max(alongAxis: axis) })
            cases.append(GradCheckCase("min[\(s),keepDims]", inputs: Inputs.tensors([shape])) { $0[0].min(alongAxis: axis, keepDims: true) })
        }
        return cases
    }
}
