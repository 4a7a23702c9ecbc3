import Backprop

extension Catalog {
    static var linearAlgebraCases: [GradCheckCase] {
        let pairs: [([Int], [Int])] = [
            ([4], [4]), ([2, 3], [3, 4]), ([3], [3, 2]), ([2, 3], [3]), ([1, 5], [5, 1]),
            ([2, 2, 3], [2, 3, 4]), ([2, 2, 3], [3, 2]), ([3, 2], [2, 2, 4]), ([2, 1, 2, 3], [3, 3, 2]), ([5, 3], [3, 7]),
        ]
        return pairs.map { a, b in
            GradCheckCase("matmul[\(shapeName(a))@\(shapeName(b))]", inputs: Inputs.tensors([a, b], seed: 9)) { $0[0].matmul($0[1]) }
        }
    }
}
