/// Rescales the gradients of `parameters` so that their global norm is at most `maxNorm`, as PyTorch's
/// `clip_grad_norm_`, and returns the norm before clipping.
///
/// The global norm is the `normType`-norm of all gradient elements together (∞ for the largest
/// absolute value), accumulated in Double. When it exceeds `maxNorm`, every gradient is multiplied
/// by `maxNorm/(norm + 1e-6)` (the 1e-6 guards against division by zero, as in PyTorch); otherwise
/// nothing changes. Parameters without a gradient are ignored. A non-finite norm (a gradient that is
/// ±∞ or NaN) is returned as is and makes the scaled gradients non-finite, which anomaly detection or
/// the caller can then catch. The norm of finite gradients is computed without overflow (rescaled by a
/// power of two when Σ|g|ᵖ overflows), where PyTorch's overflows to ∞ for gradients near 1e154 and
/// above and then scales every gradient to NaN.
///
/// - Parameters:
///   - parameters: The parameters whose `grad` to clip.
///   - maxNorm: The largest allowed norm.
///   - normType: p ≥ 1 of the p-norm, or `.infinity` (default 2).
/// - Returns: The global norm before clipping.
@discardableResult
public func clipGradientNorm<Scalar>(_ parameters: [Parameter<Scalar>], maxNorm: Double, normType: Double = 2) -> Double {
    guard maxNorm >= 0 else { usageError("clipGradientNorm", "maxNorm \(maxNorm) must be ≥ 0") }
    guard normType >= 1 else { usageError("clipGradientNorm", "normType \(normType) must be ≥ 1 or infinity") }
    let gradients = parameters.compactMap(\.grad)
    var largest = 0.0   // the largest |g| (NaN if any g is NaN)
    for g in gradients { for x in g.scalars where Swift.abs(Double(x)) > largest || x.isNaN { largest = Swift.abs(Double(x)) } }
    /// The p-norm of all elements multiplied by `scale` (a power of two, so the scaling is exact).
    func norm(scale: Double) -> Double {
        var total = 0.0
        if normType == 2 {
            for g in gradients { for x in g.scalars { let y = Double(x) * scale; total += y * y } }
            return total.squareRoot()
        }
        for g in gradients { for x in g.scalars { total += Double.pow(Swift.abs(Double(x) * scale), normType) } }
        return Double.pow(total, 1 / normType)
    }
    var total = normType == .infinity ? largest : norm(scale: 1)
    if largest.isFinite && largest > 0 && (total.isInfinite || total == 0) {
        // Σ|g|ᵖ overflowed (or underflowed) although every gradient is finite: compute the norm of g/2ᵉ,
        // 2ᵉ ≈ the largest |g|, and scale it back, so a gradient of 1e300 has the norm 1e300, not ∞.
        let exponent = largest.exponent
        total = norm(scale: Double(sign: .plus, exponent: -exponent, significand: 1))
            * Double(sign: .plus, exponent: exponent, significand: 1)
    }
    let coefficient = maxNorm / (total + 1e-6)
    if !(coefficient >= 1) {   // also scales (to NaN) when the norm is NaN
        for parameter in parameters where parameter.grad != nil {
            parameter.grad! *= Scalar(coefficient)
        }
    }
    return total
}
