import Backprop

extension Catalog {
    static var shapeCases: [GradCheckCase] {
        let x = Inputs.tensors([[2, 3, 4]])
        return [
            GradCheckCase("reshape[2x3x4->6x-1]", inputs: x) { $0[0].reshaped(to: [6, -1]) * Inputs.tensor([6, 4], seed: 5).constantOn($0[0]) },
            GradCheckCase("permute[2x3x4,2,0,1]", inputs: x) { $0[0].permuted([2, 0, 1]) * Inputs.tensor([4, 2, 3], seed: 6).constantOn($0[0]) },
            GradCheckCase("transpose[3x5]", inputs: Inputs.tensors([[3, 5]])) { $0[0].transposed() },
            GradCheckCase("transpose[2x3x4,0,2]", inputs: x) { $0[0].transposed(0, 2) },
            GradCheckCase("expand[3x1->2x3x4]", inputs: Inputs.tensors([[3, 1]])) { $0[0].expanded(to: [2, 3, 4]) },
            GradCheckCase("expand[1->5]", inputs: Inputs.tensors([[1]])) { $0[0].expanded(to: [5]) },
            GradCheckCase("squeeze[2x1x3]", inputs: Inputs.tensors([[2, 1, 3]])) { $0[0].squeezed() },
            GradCheckCase("unsqueeze[2x3,at=1]", inputs: Inputs.tensors([[2, 3]])) { $0[0].unsqueezed(at: 1) },
            GradCheckCase("slice[2x5x3,axis=1,1..<4]", inputs: Inputs.tensors([[2, 5, 3]])) { $0[0].slice(alongAxis: 1, range: 1..<4) },
            GradCheckCase("slice[4,axis=0,0..<1]", inputs: Inputs.tensors([[4]])) { $0[0].slice(alongAxis: 0, range: 0..<1) },
            GradCheckCase("concatenate[2x3+2x1+2x2,axis=1]", inputs: Inputs.tensors([[2, 3], [2, 1], [2, 2]])) { Variable.concatenate($0, alongAxis: 1) },
            GradCheckCase("concatenate[1x3+2x3,axis=0]", inputs: Inputs.tensors([[1, 3], [2, 3]])) { Variable.concatenate($0, alongAxis: 0) },
            GradCheckCase("stack[3x2,3x2,axis=1]", inputs: Inputs.tensors([[3, 2], [3, 2]])) { Variable.stack($0, alongAxis: 1) },
            GradCheckCase("split[2x5,sizes=2,3]", inputs: Inputs.tensors([[2, 5]])) { v in
                let parts = v[0].split(sizes: [2, 3], alongAxis: 1)
                return parts[0].sum(alongAxes: [1]) * parts[1].max(alongAxis: 1)
            },
        ]
    }
}

extension Tensor where Scalar == Double {
    /// This tensor as a constant on the same tape as `variable` (a fixed random weighting in catalog cases).
    func constantOn(_ variable: Variable<Double>) -> Variable<Double> {
        variable.tape?.constant(self) ?? Variable(self)
    }
}
