import Testing
@testable import Backprop

/// `permuted` against a naive gather for every permutation of rank-3 and rank-4 tensors with odd
/// sizes: those keeping the last axis last take the contiguous-row path, the others the generic one.
@Suite("Permutation kernels")
struct PermuteTests {
    /// All orderings of `0..<n`.
    static func permutations(_ n: Int) -> [[Int]] {
        guard n > 0 else { return [[]] }
        return permutations(n - 1).flatMap { p in (0...p.count).map { i in var q = p; q.insert(n - 1, at: i); return q } }
    }

    func check(shape: [Int]) {
        let count = shape.reduce(1, *)
        let x = Tensor<Float>(shape: shape, scalars: (0..<count).map { Float($0) })
        let inStrides = Tensor<Float>.strides(of: shape)
        for order in Self.permutations(shape.count) {
            let outShape = order.map { shape[$0] }
            let outStrides = Tensor<Float>.strides(of: outShape)
            var expected = [Float](repeating: 0, count: count)
            for flat in 0..<count {
                var offset = 0, rest = flat
                for axis in 0..<outShape.count {
                    let index = rest / outStrides[axis]
                    rest %= outStrides[axis]
                    offset += index * inStrides[order[axis]]
                }
                expected[flat] = x.scalars[offset]
            }
            let y = x.permuted(order)
            #expect(y.shape == outShape && y.scalars == expected, "shape \(shape) order \(order)")
        }
    }

    @Test func everyRank3PermutationMatchesTheNaiveGather() { check(shape: [3, 5, 7]) }

    @Test func everyRank4PermutationMatchesTheNaiveGather() { check(shape: [2, 3, 5, 7]) }

    @Test func attentionHeadSplitOfAWideBatchMatches() { check(shape: [5, 37, 3, 33]) }
}
