/// Group normalization (PyTorch's `nn.GroupNorm`): for input `[N, C, *]`, the C channels are split
/// into `numGroups` groups of `C/G` consecutive channels, and each (sample, group) is normalized over
/// its channels and all spatial positions; γ and β are per channel.
///
/// Forward, per (n, g) with `m = (C/G)·∏spatial` elements: `μ = Σx/m`, `σ²_b = Σ(x − μ)²/m`,
/// `rstd = 1/√(σ²_b + ε)`, `x̂ = (x − μ)·rstd`, `y = γ_c·x̂ + β_c`.
///
/// Backward (centred compact form per group, with per-channel `γ_c`):
/// `∂L/∂x = rstd·(γ_c·dy − mean_g(γ·dy) − x̂·mean_g(γ·dy·x̂))`, `∂L/∂γ_c = Σ_{n,spatial} dy·x̂`,
/// `∂L/∂β_c = Σ_{n,spatial} dy`. G = 1 is LayerNorm over `[C, *]` with per-channel affine; G = C is
/// InstanceNorm.
///
/// As PyTorch, a group with a single element (N = 1, C = G, no spatial axes) is rejected, in training
/// and evaluation alike.
public final class GroupNorm<Scalar: TensorScalar>: Module {
    /// The number of groups G (divides `numChannels`).
    public let numGroups: Int
    /// The number of channels C.
    public let numChannels: Int
    /// Added to the variance for stability.
    public let eps: Double
    /// γ, shape `[C]`; `nil` without `affine`.
    public let weight: Parameter<Scalar>?
    /// β, shape `[C]`; `nil` without `affine` or `bias`.
    public let bias: Parameter<Scalar>?

    /// Creates a layer with PyTorch's defaults.
    ///
    /// - Parameters:
    ///   - numGroups: G; must divide `numChannels`.
    ///   - numChannels: C.
    ///   - eps: The stabilizer.
    ///   - affine: Learn per-channel γ (and β when `bias`).
    ///   - bias: Learn β (only with `affine`).
    public init(numGroups: Int, numChannels: Int, eps: Double = 1e-5, affine: Bool = true, bias: Bool = true) {
        guard numGroups > 0, numChannels > 0 else {
            usageError("GroupNorm", "numGroups \(numGroups) and numChannels \(numChannels) must be positive")
        }
        guard numChannels % numGroups == 0 else {
            usageError("GroupNorm", "numChannels \(numChannels) must be divisible by numGroups \(numGroups)")
        }
        checkEps(eps, op: "GroupNorm")
        self.numGroups = numGroups
        self.numChannels = numChannels
        self.eps = eps
        weight = affine ? Parameter(Tensor(ones: [numChannels])) : nil
        self.bias = affine && bias ? Parameter(Tensor(zeros: [numChannels])) : nil
    }

    /// Normalizes `x` of shape `[N, C, *]`.
    public func callAsFunction(_ x: Variable<Scalar>) -> Variable<Scalar> {
        guard x.rank >= 2, x.shape[1] == numChannels else {
            usageError("GroupNorm", "input shape \(x.shape) must be [N, \(numChannels), *] for numChannels \(numChannels)")
        }
        return x.groupNorm(numGroups: numGroups, weight: lift(weight, for: x), bias: lift(bias, for: x), eps: eps)
    }
}

extension Variable {
    /// Group normalization of `[N, C, *]` (PyTorch's `F.group_norm`), as one fused tape record. See
    /// `GroupNorm` for the formulas.
    ///
    /// - Parameters:
    ///   - numGroups: G; must divide C.
    ///   - weight: Per-channel γ of shape `[C]`, or `nil` for 1.
    ///   - bias: Per-channel β of shape `[C]`, or `nil` for 0.
    ///   - eps: The stabilizer.
    public func groupNorm(numGroups: Int, weight: Variable? = nil, bias: Variable? = nil, eps: Double = 1e-5) -> Variable {
        checkGroupNormArguments("groupNorm", numGroups: numGroups, weight: weight, bias: bias, eps: eps)
        // Each (sample, group) is a set of C/G consecutive channel planes; γ, β follow the channel.
        let (batch, channels) = (shape[0], shape[1])
        let spatial = elementCount(shape, from: 2)
        let channelsPerGroup = channels / numGroups
        let layout = NormalizationLayout(outer: 1, sets: batch * numGroups, inner: channelsPerGroup * spatial,
                                         affinePeriod: numGroups, affineStride: channelsPerGroup, innerPerAffine: spatial)
        let configuration = NormalizationConfiguration(
            name: "groupNorm", terms: [NormalizationTermSpecification(layout: layout, source: .input(centered: true, scale: .biased(eps: eps)))],
            affineBroadcastShape: NormalizationArguments.channelBroadcastShape(shape), statisticsInOneSweep: true)
        return normalized(weight: weight, bias: bias, configuration: configuration).output
    }

    /// Group normalization composed from primitive tape ops (reshape, mean, variance, rsqrt,
    /// multiplication), the reference the fused `groupNorm` is checked against.
    public func groupNormReference(numGroups: Int, weight: Variable? = nil, bias: Variable? = nil, eps: Double = 1e-5) -> Variable {
        checkGroupNormArguments("groupNormReference", numGroups: numGroups, weight: weight, bias: bias, eps: eps)
        let grouped = reshaped(to: [shape[0], numGroups, value.count / (shape[0] * numGroups)])
        let centered = grouped - grouped.mean(alongAxes: [2], keepDims: true)
        let variance = grouped.variance(alongAxes: [2], correction: 0, keepDims: true)
        let y = (centered * (variance + Scalar(eps)).rsqrt()).reshaped(to: shape)
        return y.applyingAffine(weight: weight, bias: bias, broadcastShape: NormalizationArguments.channelBroadcastShape(shape))
    }

    private func checkGroupNormArguments(_ op: String, numGroups: Int, weight: Variable?, bias: Variable?, eps: Double) {
        let channels = NormalizationArguments.channels(op, input: shape)
        guard numGroups > 0 else { usageError(op, "numGroups \(numGroups) must be positive") }
        guard channels % numGroups == 0 else {
            usageError(op, "the number of channels \(channels) in input shape \(shape) must be divisible by numGroups \(numGroups)")
        }
        // PyTorch's check, run in training and evaluation: N·(C/G)·∏spatial must not be 1 (0, an empty
        // batch, gives an empty output).
        guard shape[0] * (channels / numGroups) * elementCount(shape, from: 2) != 1 else {
            usageError(op, "expected more than 1 value per channel group, got input shape \(shape) with numGroups \(numGroups) (N·(C/G)·∏spatial = 1)")
        }
        NormalizationArguments.checkAffine(op, weight: weight?.shape, bias: bias?.shape, affineShape: [channels],
                                           rule: "one per channel")
        checkEps(eps, op: op)
    }
}
