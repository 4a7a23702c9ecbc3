import Backprop

extension Catalog {
    static var indexingCases: [GradCheckCase] {
        let mask = Tensor<Double>(shape: [2, 3], scalars: [1, 0, 1, 0, 0, 1])
        return [
            GradCheckCase("gather[4x3,axis=0,ids=2,0,2]", inputs: Inputs.tensors([[4, 3]])) { $0[0].gathering([2, 0, 2], alongAxis: 0) },
            GradCheckCase("gather[2x5x2,axis=1,ids=4,1]", inputs: Inputs.tensors([[2, 5, 2]])) { $0[0].gathering([4, 1], alongAxis: 1) },
            GradCheckCase("embedding[vocab=5,dim=3,ids=2x3]", inputs: Inputs.tensors([[5, 3]])) { $0[0].embeddingLookup([1, 4, 1, 0, 3, 4], idShape: [2, 3]) },
            GradCheckCase("where[2x3,2x3,3]", inputs: Inputs.tensors([[2, 3], [3]])) { Variable.select(mask, $0[0], $0[1]) },
            GradCheckCase("maskedFill[2x3]", inputs: Inputs.tensors([[2, 3]])) { $0[0].maskedFill(where: mask, with: -1e9).softmax() },
        ]
    }
}
