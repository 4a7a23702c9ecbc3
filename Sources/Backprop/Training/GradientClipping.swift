/// Rescales the gradients of `parameters` so that their global norm is at most `maxNorm`, as PyTorch's
/// `clip_grad_norm_`, and returns the norm before clipping.
///
/// The global norm is the `normType`-norm of all gradient elements together (∞ for the largest
/// absolute value), accumulated in Double. When it exceeds `maxNorm`, every gradient is multiplied
/// by `maxNorm/(norm + 1e-6)` (the 1e-6 guards against division by zero, as in PyTorch); otherwise
/// nothing changes. Parameters without a gradient are ignored. A non-finite norm is returned as is and
/// makes the scaled gradients non-finite, which anomaly detection or the caller can then catch.
///
/// - Parameters:
///   - parameters: The parameters whose `grad` to clip.
///   - maxNorm: The largest allowed norm.
///   - normType: p ≥ 1 of the p-norm, or `.infinity` (default 2).
/// - Returns: The global norm before clipping.
@discardableResult
public func clipGradientNorm<Scalar>(_ parameters: [Parameter<Scalar>], maxNorm: Double, normType: Double = 2) -> Double {
    guard maxNorm >= 0 else { shapeError("clipGradientNorm", "maxNorm \(maxNorm) must be ≥ 0") }
    guard normType >= 1 else { shapeError("clipGradientNorm", "normType \(normType) must be ≥ 1 or infinity") }
    let gradients = parameters.compactMap(\.grad)
    var total = 0.0
    if normType == .infinity {
        for g in gradients { for x in g.scalars { total = Swift.max(total, Swift.abs(Double(x))) } }
    } else if normType == 2 {
        for g in gradients { for x in g.scalars { total += Double(x) * Double(x) } }
        total = total.squareRoot()
    } else {
        for g in gradients { for x in g.scalars { total += Double.pow(Swift.abs(Double(x)), normType) } }
        total = Double.pow(total, 1 / normType)
    }
    let coefficient = maxNorm / (total + 1e-6)
    if !(coefficient >= 1) {   // also scales (to NaN) when the norm is NaN
        for parameter in parameters where parameter.grad != nil {
            parameter.grad! *= Scalar(coefficient)
        }
    }
    return total
}
