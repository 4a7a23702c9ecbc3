import Backprop

extension Catalog {
    static var arithmeticCases: [GradCheckCase] {
        var cases: [GradCheckCase] = []
        let shapePairs: [([Int], [Int])] = [([3], [3]), ([2, 3], [2, 3]), ([2, 3], [3]), ([2, 1, 4], [3, 1]), ([1], [2, 3]), ([], [2, 2]), ([4, 1], [1, 5])]
        for (a, b) in shapePairs {
            let tag = "\(shapeName(a))+\(shapeName(b))"
            cases.append(GradCheckCase("add[\(tag)]", inputs: Inputs.tensors([a, b], seed: 1)) { $0[0] + $0[1] })
            cases.append(GradCheckCase("subtract[\(tag)]", inputs: Inputs.tensors([a, b], seed: 2)) { $0[0] - $0[1] })
            cases.append(GradCheckCase("multiply[\(tag)]", inputs: Inputs.tensors([a, b], seed: 3)) { $0[0] * $0[1] })
            cases.append(GradCheckCase("divide[\(tag)]", inputs: [Inputs.tensor(a, seed: 4), Inputs.tensor(b, seed: 5, domain: .positive)]) { $0[0] / $0[1] })
        }
        cases.append(GradCheckCase("negate[2x3]", inputs: Inputs.tensors([[2, 3]])) { -$0[0] })
        cases.append(GradCheckCase("scalarArithmetic[2x3]", inputs: Inputs.tensors([[2, 3]], domain: .positive)) { v in
            ((v[0] + 1.5) * 2 - 0.5) / 3 + (2 - v[0]) + 1 / v[0]
        })
        cases.append(GradCheckCase("powScalar[2x3,p=3]", inputs: Inputs.tensors([[2, 3]])) { $0[0].pow(3) })
        cases.append(GradCheckCase("powScalar[4,p=-1.5]", inputs: Inputs.tensors([[4]], domain: .positive)) { $0[0].pow(-1.5) })
        cases.append(GradCheckCase("pow[2x3^2x3]", inputs: Inputs.tensors([[2, 3], [2, 3]], domain: .positive)) { $0[0].pow($0[1]) })
        cases.append(GradCheckCase("pow[2x3^3]", inputs: Inputs.tensors([[2, 3], [3]], domain: .positive)) { $0[0].pow($0[1]) })
        cases.append(GradCheckCase("fanout[3]", inputs: Inputs.tensors([[3]])) { v in v[0] * v[0] + v[0] * 3 - v[0] })
        return cases
    }
}
