import Backprop
import Testing

/// The functional transforms against closed forms.
@Suite("Functional transforms")
struct FunctionalTransformTests {
    /// Rosenbrock f(a, b) = (1 − a)² + 100(b − a²)² on a two-element input.
    static func rosenbrock(_ v: Variable<Double>) -> Variable<Double> {
        let a = v.slice(alongAxis: 0, range: 0..<1), b = v.slice(alongAxis: 0, range: 1..<2)
        return ((1 - a).squared() + (b - a.squared()).squared() * 100).sum()
    }

    @Test func gradientAndValueOfTheRosenbrockFunction() {
        let (a, b) = (-1.2, 1.0)
        let (value, g) = valueWithGradient(at: Tensor([a, b]), of: Self.rosenbrock)
        expectClose(value.scalar, (1 - a) * (1 - a) + 100 * (b - a * a) * (b - a * a), relativeTolerance: 1e-14)
        expectClose(g, Tensor([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)]))
        expectClose(gradient(at: Tensor([a, b]), of: Self.rosenbrock), g)
    }

    @Test func hessianOfTheRosenbrockFunction() {
        for (a, b) in [(1.0, 1.0), (-1.2, 1.0), (0.3, -0.7)] {
            let h = hessian(at: Tensor([a, b]), of: Self.rosenbrock)
            expectClose(h, tensor([2, 2], [2 - 400 * b + 1200 * a * a, -400 * a, -400 * a, 200]))
            // H·v without forming H.
            let v = Tensor<Double>([0.7, -1.1])
            expectClose(hessianVectorProduct(at: Tensor([a, b]), direction: v, of: Self.rosenbrock), h.matmul(v))
        }
    }

    @Test func hessianOfSumOfTanhOfAProduct() {
        // f(x) = Σ tanh(Wx): H = Wᵀ·diag(−2t(1 − t²))·W with t = tanh(Wx).
        let w = tensor([3, 2], [0.5, -1, 2, 0.3, -0.7, 1.1])
        let x = Tensor<Double>([0.4, -0.9])
        let t = w.matmul(x).tanh()
        let d = t * (1 - t.squared()) * -2
        var expected = [Double](repeating: 0, count: 4)
        for i in 0..<2 { for j in 0..<2 { for k in 0..<3 { expected[i * 2 + j] += w.scalars[k * 2 + i] * d.scalars[k] * w.scalars[k * 2 + j] } } }
        let h = hessian(at: x) { x in Variable(w).matmul(x).tanh().sum() }
        expectClose(h, tensor([2, 2], expected))
    }

    @Test func hessianOfTheSquaredNormOfALayerNormOutput() {
        // g(x) = |LN(x)|² = n·q/(q + nε), q = |d|², d = x − mean(x): H = 4h″(q)·ddᵀ + 2h′(q)·(I − 11ᵀ/n),
        // h′ = n²ε/(q + nε)², h″ = −2n²ε/(q + nε)³.
        let x0 = Tensor<Double>([0.3, -1.2, 0.8, 2.1])
        let eps = 0.1
        let n = Double(x0.count)
        let d = x0 - x0.mean()
        let q = d.squared().sum().scalar
        let h1 = n * n * eps / ((q + n * eps) * (q + n * eps))
        let h2 = -2 * n * n * eps / ((q + n * eps) * (q + n * eps) * (q + n * eps))
        var expected = [Double](repeating: 0, count: 16)
        for i in 0..<4 {
            for j in 0..<4 {
                expected[i * 4 + j] = 4 * h2 * d.scalars[i] * d.scalars[j] + 2 * h1 * ((i == j ? 1 : 0) - 1 / n)
            }
        }
        let h = hessian(at: x0) { x in x.layerNorm(normalizedShape: [4], eps: eps).squared().sum() }
        expectClose(h, tensor([4, 4], expected), tolerance: 1e-10)
        let reference = hessian(at: x0) { x in x.layerNormReference(normalizedShape: [4], eps: eps).squared().sum() }
        expectClose(h, reference, tolerance: 1e-10)
    }

    @Test func pullbackJacobianAndJVPOfALinearMap() {
        let w = tensor([2, 3], [1, 2, 3, -1, 0.5, 4])
        let x = Tensor<Double>([0.2, -1, 3])
        let f: (Variable<Double>) -> Variable<Double> = { x in Variable(w).matmul(x) }
        expectClose(jacobian(at: x, of: f), w)
        let u = Tensor<Double>([2, -1])
        expectClose(pullback(at: x, of: f)(u), w.transposed().matmul(u))
        let v = Tensor<Double>([1, -2, 0.5])
        expectClose(jvp(at: x, direction: v, of: f), w.matmul(v))
    }

    @Test func jvpAndJacobianOfAnElementwiseCube() {
        let x = Tensor<Double>([1, 2, -0.5])
        let v = Tensor<Double>([1, -1, 4])
        expectClose(jvp(at: x, direction: v) { $0.pow(3) }, x.squared() * v * 3)
        let j = jacobian(at: x) { $0.pow(3) }
        expectClose(j, tensor([3, 3], [3, 0, 0, 0, 12, 0, 0, 0, 0.75]))
        let (y, pb) = valueWithPullback(at: x) { $0.pow(3) }
        expectClose(y, x.pow(3))
        expectClose(pb(Tensor([1, 1, 1])), x.squared() * 3)
    }

    @Test func gradientsOfSeveralInputs() {
        let (a, b) = (Tensor<Double>([1, 2]), Tensor<Double>([3, -4]))
        let g = gradient(at: [a, b]) { v in (v[0] * v[1]).sum() }
        expectClose(g[0], b)
        expectClose(g[1], a)
    }

    @Test func transformsWorkInsideWithoutGradients() {
        let g = withoutGradients { gradient(at: Tensor<Double>([3])) { $0.squared().sum() } }
        expectClose(g, Tensor([6]))
    }
}
