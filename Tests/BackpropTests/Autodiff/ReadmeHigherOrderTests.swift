import Backprop
import Testing

/// The higher-order examples of `README.md`, compiled and run, with their printed values checked.
@Suite("Higher order: README examples")
struct ReadmeHigherOrderTests {
    /// f(a, b) = (1 − a)² + 100(b − a²)², minimum at (1, 1).
    static func rosenbrock(_ v: Variable<Double>) -> Variable<Double> {
        let a = v.slice(alongAxis: 0, range: 0..<1), b = v.slice(alongAxis: 0, range: 1..<2)
        return ((1 - a).squared() + 100 * (b - a.squared()).squared()).sum()
    }

    @Test func newtonsMethodOnTheRosenbrockFunction() {
        var x = Tensor<Double>([-1.2, 1])
        for _ in 0..<8 {
            let g = gradient(at: x, of: Self.rosenbrock)    // ∇f
            let h = hessian(at: x, of: Self.rosenbrock)     // [[2 − 400b + 1200a², −400a], [−400a, 200]]
            // Newton step: solve H·δ = ∇f (2×2, Cramer's rule).
            let (p, q, r, s) = (h[0, 0], h[0, 1], h[1, 0], h[1, 1])
            let det = p * s - q * r
            x = x - Tensor([(s * g[0] - q * g[1]) / det, (p * g[1] - r * g[0]) / det])
        }
        expectClose(x, Tensor([1, 1]), tolerance: 1e-12)
        // The Hessian at the minimum against its closed form.
        expectClose(hessian(at: Tensor([1, 1]), of: Self.rosenbrock), tensor([2, 2], [802, -400, -400, 200]))
    }

    @Test func hessianVectorProductOfALogisticRegressionLoss() {
        // L(w) = mean(softplus(x·w) − y·(x·w)): H = Xᵀ·diag(p(1 − p))·X / n with p = σ(X·w).
        let x = tensor([4, 3], [1, 0.5, -1, 0.2, 1, 2, -1.5, 0.3, 0.7, 0.4, -0.8, 1.1])
        let y = Tensor<Double>([1, 0, 1, 0])
        let w = Tensor<Double>([0.3, -0.2, 0.5])
        let v = Tensor<Double>([1, 2, -1])
        let hv = hessianVectorProduct(at: w, direction: v) { w in
            let logits = Variable(x).matmul(w)
            return (logits.softplus() - logits * Variable(y)).mean()
        }
        let p = x.matmul(w).sigmoid()
        let expected = x.transposed().matmul(p * (1 - p) * x.matmul(v)) / 4
        expectClose(hv, expected)
    }

    @Test func secondDerivativeAndGradientPenalty() {
        let tape = Tape<Double>()
        let x = tape.variable(Tensor([0.5, 2]))
        let dy = tape.gradients(of: x.pow(3).sum(), withRespectTo: [x], createGraph: true)[0]   // 3x²
        let d2y = tape.gradients(of: dy.sum(), withRespectTo: [x])[0]                           // 6x
        expectClose(dy.value, Tensor([0.75, 12]))
        expectClose(d2y, Tensor([3, 12]))

        // A gradient penalty: the input gradient of a critic enters the loss; backward reaches the weights.
        var generator = SeededGenerator(seed: 0)
        let critic = Linear<Double>(inputSize: 2, outputSize: 1, generator: &generator)
        let penaltyTape = Tape<Double>()
        let points = penaltyTape.variable(Tensor.randomNormal(shape: [4, 2], using: &generator))
        let gradient = penaltyTape.gradients(of: critic(points).tanh().sum(), withRespectTo: [points], createGraph: true)[0]
        let penalty = ((gradient.squared().sum(alongAxes: [1]) + 1e-12).sqrt() - 1).squared().mean()
        penalty.backward()
        #expect(critic.weight.grad != nil)
        // The penalty as a function of the weights, checked at first and second order: it differentiates
        // on the weights' tape (or, for the finite differences, on a tape of its own).
        let check = checkGradients(at: [critic.weight.value], order: 2) { w in
            let tape = w[0].tape ?? Tape<Double>()
            let p = tape.variable(points.value)
            let g = tape.gradients(of: p.matmul(w[0].transposed()).tanh().sum(), withRespectTo: [p], createGraph: true)[0]
            return ((g.squared().sum(alongAxes: [1]) + 1e-12).sqrt() - 1).squared().mean()
        }
        #expect(check.passed, "\(check)")
    }
}
